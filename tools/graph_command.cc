#include "tools/graph_command.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "api/flow_filter.h"
#include "api/service_graph.h"
#include "tools/api_client.h"
#include "tools/output.h"

extern char** environ;

namespace bulkhead {
namespace {

// Renders DOT with Graphviz: `dot -T<format>` into `file` (empty: stdout).
absl::Status Render(const std::string& dot, const std::string& format, const std::string& file) {
  char source[] = "/tmp/bulkhead-graph.XXXXXX";
  int fd = mkstemp(source);
  if (fd < 0) return absl::InternalError("cannot make a temporary file for the graph");
  absl::Cleanup remove = [&] { unlink(source); };
  std::size_t written = 0;
  while (written < dot.size()) {
    ssize_t n = write(fd, dot.data() + written, dot.size() - written);
    if (n <= 0) {
      close(fd);
      return absl::InternalError("cannot write the graph's temporary file");
    }
    written += static_cast<std::size_t>(n);
  }
  close(fd);
  std::string type = absl::StrCat("-T", format);
  std::vector<std::string> args = {"dot", type, source};
  if (!file.empty()) args.insert(args.end() - 1, {"-o", file});
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int err = posix_spawnp(&pid, "dot", nullptr, nullptr, argv.data(), environ);
  if (err == ENOENT)
    return absl::FailedPreconditionError(
        absl::StrCat("-o ", format,
                     " needs Graphviz's dot, which is not installed (Debian: graphviz); "
                     "-o dot writes the graph's source"));
  if (err != 0) return absl::InternalError(absl::StrCat("cannot run dot: ", strerror(err)));
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return absl::InternalError("dot failed to render the graph (its message is above)");
  return absl::OkStatus();
}

}  // namespace

GraphCommand::GraphCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "graph",
      "the service map: workloads (namespaces as clusters), the allow-list's segments, and\n"
      "the flows dropped (red) or audited (orange), from the agent's history");
  command_
      ->add_option("-o,--output", format_,
                   "dot (Graphviz source), mermaid, or svg / png (rendered by Graphviz's dot)")
      ->check(CLI::IsMember({"dot", "mermaid", "svg", "png"}))
      ->capture_default_str();
  command_->add_option("--file", file_, "write here instead of stdout");
  command_->add_option("--input", input_,
                       "refused flows from a file saved by `bulkhead flows -o json` instead of\n"
                       "the agent's history (the segments still come from the agent)");
  command_->add_option("--namespace", namespace_, "only what has an end in this namespace");
}

int GraphCommand::Run(const std::string& socket) {
  absl::StatusOr<std::unique_ptr<ApiClient>> client = ApiClient::Connect(socket);
  if (!client.ok()) return PrintFailure(client.status());
  bulkhead::v1::Request request;
  request.mutable_export_policy();
  absl::StatusOr<bulkhead::v1::Response> exported = (*client)->Call(request);
  if (!exported.ok()) return PrintFailure(exported.status());

  std::vector<bulkhead::v1::Flow> flows;
  if (!input_.empty()) {
    absl::StatusOr<std::vector<bulkhead::v1::Flow>> read = ReadFlowsFile(input_);
    if (!read.ok()) return PrintFailure(read.status());
    flows = *std::move(read);
  } else {
    request.mutable_flows()->set_last(0);
    absl::StatusOr<bulkhead::v1::Response> history = (*client)->Call(request);
    if (!history.ok()) return PrintFailure(history.status());
    flows.assign(history->flows().flows().begin(), history->flows().flows().end());
  }

  bulkhead::v1::ExportPolicyResponse& policy = *exported->mutable_export_policy();
  if (!namespace_.empty()) {
    FlowFilter in_namespace;
    (void)in_namespace.Add(FlowFilter::Field::kNamespace, namespace_, false);
    std::erase_if(flows, [&](const auto& f) { return !in_namespace.Matches(f); });
    auto* segments = policy.mutable_policy()->mutable_segments();
    const std::string prefix = namespace_ + "/";
    segments->erase(std::remove_if(segments->begin(), segments->end(),
                                   [&](const bulkhead::v1::Segment& s) {
                                     return !s.from_workload().starts_with(prefix) &&
                                            !s.to_workload().starts_with(prefix);
                                   }),
                    segments->end());
    auto* workloads = policy.mutable_workloads();
    workloads->erase(
        std::remove_if(workloads->begin(), workloads->end(),
                       [&](const auto& w) { return !w.workload().starts_with(prefix); }),
        workloads->end());
  }
  ServiceGraph graph = BuildServiceGraph(policy, flows);
  if (format_ == "svg" || format_ == "png") {
    absl::Status rendered = Render(GraphToDot(graph), format_, file_);
    return rendered.ok() ? 0 : PrintFailure(rendered);
  }
  const std::string text = format_ == "mermaid" ? GraphToMermaid(graph) : GraphToDot(graph);
  if (file_.empty()) {
    std::cout << text;
    return 0;
  }
  absl::Status written = WriteOutputFile(file_, text);
  return written.ok() ? 0 : PrintFailure(written);
}

}  // namespace bulkhead
