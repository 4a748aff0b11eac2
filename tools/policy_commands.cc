#include "tools/policy_commands.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "api/enum_names.h"
#include "api/flow_filter.h"
#include "api/kubernetes_policy.h"
#include "api/policy_document.h"
#include "api/policy_review.h"
#include "api/policy_yaml.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "tools/output.h"

namespace bulkhead {
namespace {

// diff and simulate could not tell (exit 2, as diff(1)).
int Unsure(const absl::Status& status) {
  PrintFailure(status);
  return 2;
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

// "30d", or what absl::ParseDuration reads ("12h", "90m").
absl::StatusOr<absl::Duration> ParseAge(const std::string& text) {
  absl::Duration d;
  int days = 0;
  if (!text.empty() && text.back() == 'd' &&
      absl::SimpleAtoi(absl::string_view(text).substr(0, text.size() - 1), &days) && days >= 0)
    return absl::Hours(24) * days;
  if (absl::ParseDuration(text, &d) && d >= absl::ZeroDuration()) return d;
  return absl::InvalidArgumentError(
      absl::StrCat("\"", text, "\" is not a duration (30d, 12h, 90m)"));
}

// The file, read and checked as the agent would (against its workloads, if
// there is an agent); its problems go to stderr.
std::optional<ParsedPolicy> ReadPolicyFile(const std::string& path, const PeerCatalog* catalog) {
  absl::StatusOr<std::string> content = ReadInput(path);
  if (!content.ok()) {
    PrintFailure(content.status());
    return std::nullopt;
  }
  ParsedPolicy parsed = ParsePolicyDocument(*content, catalog);
  std::vector<std::string> warnings;
  if (catalog)
    CheckPolicyDocument(parsed.document, {.catalog = catalog}, &parsed.problems, &warnings);
  if (parsed.problems.empty()) return parsed;
  const std::string name = path == "-" ? "stdin" : path;
  for (const PolicyProblem& p : parsed.problems)
    std::cerr << name << ":" << (p.line > 0 ? absl::StrCat(p.line, ":") : "") << " " << p.message
              << "\n";
  std::cerr << name << ": " << parsed.problems.size()
            << (parsed.problems.size() == 1 ? " problem" : " problems") << "\n";
  return std::nullopt;
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(google::protobuf::util::TimeUtil::TimestampToNanoseconds(t));
}

std::string Age(absl::Duration d) {
  if (d >= absl::Hours(48)) return absl::StrCat(absl::ToInt64Hours(d) / 24, "d");
  if (d >= absl::Hours(2)) return absl::StrCat(absl::ToInt64Hours(d), "h");
  return absl::StrCat(absl::ToInt64Minutes(d), "m");
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

  diff_ = policy_->add_subcommand(
      "diff",
      "what is in force now against a reviewed file: segments learned since, segments of the\n"
      "file not in force or unused, modes, guardrails and held-back candidates that differ.\n"
      "Exit 0: the same; 1: different; 2: could not tell");
  diff_->add_option("file", file_, "the reviewed policy file; - for stdin")->required();
  diff_
      ->add_option("--unused-for", unused_for_,
                   "list segments of both with no flow for this long (30d, 12h, 90m)")
      ->capture_default_str();

  simulate_ = policy_->add_subcommand(
      "simulate",
      "replay recorded flows against a candidate file, as the datapath would judge them, and\n"
      "list those it would drop, by segment. Exit 0: nothing would be dropped; 1: some\n"
      "flows would; 2: could not tell");
  simulate_->add_option("file", file_, "the candidate policy file; - for stdin")->required();
  simulate_->add_option("--flows", flows_file_,
                        "saved `bulkhead flows -o json` output to replay, offline (default: the\n"
                        "agent's flow history, and what it has in force outside the file)");
  simulate_
      ->add_option("--modes", simulate_modes_,
                   "enforce: as if every workload enforced (can I enforce now?); file: each in\n"
                   "the mode the file gives it, else the one it has now")
      ->check(CLI::IsMember({"enforce", "file"}))
      ->capture_default_str();
}

int PolicyCommands::Run(const CallAgent& call) {
  if (export_->parsed()) return Export(call);
  if (apply_->parsed()) return Apply(call);
  if (diff_->parsed()) return Diff(call);
  if (simulate_->parsed()) return Simulate(call);
  return 1;
}

int PolicyCommands::Export(const CallAgent& call) {
  PeerSelector scope;
  if (!namespace_.empty()) {
    if (namespace_.find('/') != std::string::npos)
      return PrintFailure(absl::InvalidArgumentError(
          absl::StrCat("--namespace \"", namespace_, "\": a namespace has no '/'")));
    scope = {PeerSelector::Kind::kNamespace, namespace_};
  } else if (!workload_.empty()) {
    scope = {PeerSelector::Kind::kWorkload, workload_};
  }
  bulkhead::v1::Request request;
  request.mutable_export_policy();
  auto response = call(request);
  if (!response.ok()) return PrintFailure(response.status());
  const bulkhead::v1::ExportPolicyResponse& exported = response->export_policy();
  if (scope.kind != PeerSelector::Kind::kAny &&
      std::none_of(exported.workloads().begin(), exported.workloads().end(),
                   [&](const auto& w) { return scope.Selects(w.workload()); }))
    return PrintFailure(
        absl::NotFoundError(absl::StrCat("no workload in ", scope.ToString(), " (the agent knows ",
                                         exported.workloads_size(), " workloads)")));
  std::string text;
  if (format_ == "kubernetes") {
    absl::StatusOr<KubernetesExport> k8s = KubernetesPolicies(exported, scope);
    if (!k8s.ok()) return PrintFailure(k8s.status());
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
  if (absl::Status status = WriteOutputFile(output_file_, text); !status.ok())
    return PrintFailure(status);
  return 0;
}

int PolicyCommands::Apply(const CallAgent& call) {
  absl::StatusOr<std::string> content = ReadInput(file_);
  if (!content.ok()) return PrintFailure(content.status());
  const std::string name = file_ == "-" ? "stdin" : file_;
  bulkhead::v1::Request request;
  request.mutable_apply_policy()->set_content(*std::move(content));
  request.mutable_apply_policy()->set_source(name);
  request.mutable_apply_policy()->set_dry_run(dry_run_);
  auto response = call(request);
  if (!response.ok()) return PrintFailure(response.status());
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

int PolicyCommands::Diff(const CallAgent& call) {
  absl::StatusOr<absl::Duration> unused_for = ParseAge(unused_for_);
  if (!unused_for.ok()) return Unsure(unused_for.status());
  bulkhead::v1::Request request;
  request.mutable_export_policy();
  auto response = call(request);
  if (!response.ok()) return Unsure(response.status());
  const bulkhead::v1::ExportPolicyResponse& in_force = response->export_policy();
  PeerCatalog catalog = CatalogOf(in_force);
  std::optional<ParsedPolicy> parsed = ReadPolicyFile(file_, &catalog);
  if (!parsed) return 2;
  absl::Time now = absl::Now();
  PolicyDiff diff = DiffPolicy(in_force, parsed->document, now, *unused_for);
  auto flows = [](const bulkhead::v1::Segment& s) {
    return absl::StrCat(s.flows(), s.flows() == 1 ? " flow" : " flows");
  };
  for (const auto& s : diff.only_in_force)
    std::cout << "+ " << DescribeSegment(s) << "    in force, not in the file ("
              << (s.origin() == bulkhead::v1::LEARNED ? "learned" : "reviewed") << ", " << flows(s)
              << ")\n";
  for (const auto& s : diff.only_in_file)
    std::cout << "- " << DescribeSegment(s) << "    in the file, not in force\n";
  for (const auto& m : diff.modes)
    std::cout << "~ " << m.workload << "    mode " << ModeName(m.in_force) << ", the file says "
              << ModeName(m.in_file) << "\n";
  for (const auto& g : diff.guardrails)
    std::cout << g.substr(0, 2) << "guardrail " << g.substr(2)
              << (g[0] == '+'   ? "    in force, not in the file"
                  : g[0] == '-' ? "    in the file, not in force"
                                : "    differs from the file's")
              << "\n";
  for (const auto& s : diff.newly_held)
    std::cout << "? " << DescribeSegment(s) << "    held back for review since the file\n";
  for (const auto& s : diff.unused) {
    std::cout << "! " << DescribeSegment(s) << "    in both, no flow for "
              << (s.has_last_seen() ? Age(now - TimeOf(s.last_seen())) : std::string("ever"))
              << "\n";
  }
  if (!diff.Differs()) {
    std::cerr << "policy diff: what is in force is the file"
              << (diff.unused.empty() ? "" : " (some segments unused)") << "\n";
    return 0;
  }
  return 1;
}

int PolicyCommands::Simulate(const CallAgent& call) {
  std::vector<bulkhead::v1::Flow> flows;
  std::optional<bulkhead::v1::ExportPolicyResponse> in_force;
  if (!flows_file_.empty()) {
    absl::StatusOr<std::vector<bulkhead::v1::Flow>> read = ReadFlowsFile(flows_file_);
    if (!read.ok()) return Unsure(read.status());
    flows = *std::move(read);
  } else {
    bulkhead::v1::Request request;
    request.mutable_export_policy();
    auto exported = call(request);
    if (!exported.ok()) return Unsure(exported.status());
    in_force = exported->export_policy();
    request.mutable_flows()->set_last(0);
    auto history = call(request);
    if (!history.ok()) return Unsure(history.status());
    flows.assign(history->flows().flows().begin(), history->flows().flows().end());
  }
  PeerCatalog catalog;
  if (in_force) catalog = CatalogOf(*in_force);
  std::optional<ParsedPolicy> parsed = ReadPolicyFile(file_, in_force ? &catalog : nullptr);
  if (!parsed) return 2;
  Simulation result = bulkhead::Simulate(
      flows, parsed->document,
      {.in_force = in_force ? &*in_force : nullptr, .modes_from_file = simulate_modes_ == "file"});
  for (const Simulation::Group& g : result.dropped) {
    bulkhead::v1::Segment s;
    s.set_from_workload(g.from);
    s.set_to_workload(g.to);
    s.set_protocol(g.protocol);
    s.set_port(g.port);
    std::cout << DescribeSegment(s) << "    " << g.flows << (g.flows == 1 ? " flow" : " flows")
              << " would be dropped (" << g.why << "), last "
              << absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", g.last, absl::UTCTimeZone()) << "\n";
  }
  std::cerr << "policy simulate: " << result.judged << " flows replayed, " << result.would_drop
            << " would be dropped";
  if (result.skipped > 0)
    std::cerr << " (" << result.skipped
              << " not judged: dropped whatever the policy, or naming an unknown peer)";
  std::cerr << "\n";
  return result.would_drop > 0 ? 1 : 0;
}

}  // namespace bulkhead
