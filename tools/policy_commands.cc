#include "tools/policy_commands.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/kubernetes_policy.h"
#include "api/policy_document.h"
#include "api/policy_yaml.h"
#include "tools/output.h"

namespace bulkhead {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "bulkhead: " << status.message() << "\n";
  return 1;
}

// A file's contents, or stdin's for "-"; refused past the agent's limit
// before it is all read.
absl::StatusOr<std::string> ReadInput(const std::string& path) {
  std::ifstream file;
  std::istream* in = &std::cin;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
    in = &file;
  }
  std::string content;
  char chunk[1 << 16];
  while (in->read(chunk, sizeof chunk) || in->gcount() > 0) {
    content.append(chunk, static_cast<std::size_t>(in->gcount()));
    if (content.size() > kMaxPolicyFileBytes)
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": over the limit of ", kMaxPolicyFileBytes,
                       " bytes (16 MiB) for a policy file; nothing was sent"));
  }
  if (in->bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return content;
}

// What of an export `scope` covers: segments with an end there, its
// workloads; guardrails only for the whole node (as the YAML has it).
bulkhead::v1::ExportPolicyResponse Narrowed(const bulkhead::v1::ExportPolicyResponse& exported,
                                            const PeerSelector& scope) {
  if (scope.kind == PeerSelector::Kind::kAny) return exported;
  bulkhead::v1::ExportPolicyResponse out = exported;
  auto covered = [&](const bulkhead::v1::Segment& s) {
    return scope.Selects(s.from_workload()) || scope.Selects(s.to_workload());
  };
  for (auto* policy : {out.mutable_policy(), out.mutable_held_back()}) {
    auto* segments = policy->mutable_segments();
    segments->erase(std::remove_if(segments->begin(), segments->end(),
                                   [&](const auto& s) { return !covered(s); }),
                    segments->end());
  }
  out.clear_guardrails();
  auto* workloads = out.mutable_workloads();
  workloads->erase(std::remove_if(workloads->begin(), workloads->end(),
                                  [&](const auto& w) { return !scope.Selects(w.workload()); }),
                   workloads->end());
  return out;
}

}  // namespace

PolicyCommands::PolicyCommands(CLI::App& app) {
  policy_ = app.add_subcommand("policy", "the allow-list: export it, review it, apply it");
  policy_->require_subcommand(1);

  export_ = policy_->add_subcommand(
      "export",
      "write the policy for review: segments, held-back candidates, guardrails, modes\n"
      "(the file `policy apply` takes back)");
  export_->add_option("--output,-f", output_file_, "file to write (default: stdout)");
  export_
      ->add_option("--format", format_,
                   "bulkhead: Bulkhead's own file, which `policy apply` takes back;\n"
                   "kubernetes: one networking.k8s.io/v1 NetworkPolicy per workload, for a\n"
                   "cluster without Bulkhead (what NetworkPolicy cannot say is left out with a\n"
                   "warning on stderr)")
      ->check(CLI::IsMember({"bulkhead", "kubernetes"}))
      ->capture_default_str();
  export_
      ->add_option("-o", encoding_,
                   "yaml, or json (bulkhead: the agent's export as protobuf JSON;\n"
                   "kubernetes: a v1 List of the policies)")
      ->check(CLI::IsMember({"yaml", "json"}))
      ->capture_default_str();
  auto* ns = export_->add_option("--namespace", namespace_,
                                 "only segments with an end in this namespace, and its modes");
  export_
      ->add_option("--workload", workload_,
                   "only segments with an end at this workload (namespace/name), and its mode")
      ->excludes(ns);

  apply_ = policy_->add_subcommand(
      "apply",
      "make a reviewed file the policy: every problem is listed with its line, and a file\n"
      "with any problem changes nothing");
  apply_->add_option("file", file_, "the policy file; - for stdin")->required();
  apply_->add_flag("--dry-run", dry_run_,
                   "check the file and say what would change; change nothing");
}

int PolicyCommands::Run(const CallAgent& call) {
  if (export_->parsed()) return Export(call);
  if (apply_->parsed()) return Apply(call);
  return 1;
}

int PolicyCommands::Export(const CallAgent& call) {
  PeerSelector scope;
  if (!namespace_.empty()) {
    if (namespace_.find('/') != std::string::npos)
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("--namespace \"", namespace_, "\": a namespace has no '/'")));
    scope = {PeerSelector::Kind::kNamespace, namespace_};
  } else if (!workload_.empty()) {
    scope = {PeerSelector::Kind::kWorkload, workload_};
  }
  bulkhead::v1::Request request;
  request.mutable_export_policy();
  auto response = call(request);
  if (!response.ok()) return Fail(response.status());
  const bulkhead::v1::ExportPolicyResponse& exported = response->export_policy();
  if (scope.kind != PeerSelector::Kind::kAny &&
      std::none_of(exported.workloads().begin(), exported.workloads().end(),
                   [&](const auto& w) { return scope.Selects(w.workload()); }))
    return Fail(
        absl::NotFoundError(absl::StrCat("no workload in ", scope.ToString(), " (the agent knows ",
                                         exported.workloads_size(), " workloads)")));
  std::string text;
  if (format_ == "kubernetes") {
    absl::StatusOr<KubernetesExport> k8s = KubernetesPolicies(exported, scope);
    if (!k8s.ok()) return Fail(k8s.status());
    for (const std::string& warning : k8s->warnings) std::cerr << "warning: " << warning << "\n";
    text = encoding_ == "json" ? k8s->json : k8s->yaml;
  } else if (encoding_ == "json") {
    text = ToJsonLine(Narrowed(exported, scope)) + "\n";
  } else {
    text = PolicyToYaml(exported, scope);
  }
  if (output_file_.empty()) {
    std::cout << text;
    return 0;
  }
  if (absl::Status status = WriteOutputFile(output_file_, text); !status.ok()) return Fail(status);
  return 0;
}

int PolicyCommands::Apply(const CallAgent& call) {
  absl::StatusOr<std::string> content = ReadInput(file_);
  if (!content.ok()) return Fail(content.status());
  const std::string name = file_ == "-" ? "stdin" : file_;
  bulkhead::v1::Request request;
  request.mutable_apply_policy()->set_content(*std::move(content));
  request.mutable_apply_policy()->set_source(name);
  request.mutable_apply_policy()->set_dry_run(dry_run_);
  auto response = call(request);
  if (!response.ok()) return Fail(response.status());
  const bulkhead::v1::ApplyPolicyResponse& applied = response->apply_policy();
  for (const std::string& warning : applied.warnings())
    std::cerr << name << ": warning: " << warning << "\n";
  if (applied.problems_size() > 0) {
    for (const auto& p : applied.problems())
      std::cerr << name << ":" << (p.line() > 0 ? absl::StrCat(p.line(), ":") : "") << " "
                << p.message() << "\n";
    std::cerr << name << ": refused (" << applied.problems_size()
              << (applied.problems_size() == 1 ? " problem" : " problems")
              << "); nothing was changed\n";
    return 1;
  }
  std::cout << name << ": " << (dry_run_ ? "would apply" : "applied") << ": "
            << applied.segments_added() << " segments added, " << applied.segments_removed()
            << " removed, " << applied.segments_kept() << " kept; " << applied.guardrails()
            << " guardrails";
  if (applied.modes_changed_size() > 0)
    std::cout << "; modes: " << absl::StrJoin(applied.modes_changed(), ", ");
  std::cout << "\n";
  return 0;
}

}  // namespace bulkhead
