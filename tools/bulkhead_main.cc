// bulkhead: the command line for a Bulkhead agent.
//
//   bulkhead status
//   bulkhead flows [--last N] [-f] [filters] [-o table|compact|json] [--input FILE]
//   bulkhead top [--limit N] [-o table|json]
//   bulkhead graph [-o dot|mermaid|svg|png] [--file FILE] [--namespace NS]
//   bulkhead mode set <namespace/name>... <learn|monitor|enforce>
//   bulkhead mode set --all <learn|monitor|enforce>
//   bulkhead policy export [--namespace NS | --workload NS/NAME] [--output FILE]
//   bulkhead policy apply FILE [--dry-run]
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "api/enum_names.h"
#include "tools/api_client.h"
#include "tools/flows_command.h"
#include "tools/graph_command.h"
#include "tools/output.h"
#include "tools/policy_commands.h"

namespace {

constexpr char kDefaultSocket[] = "/run/bulkhead/bulkhead.sock";

absl::StatusOr<bulkhead::v1::Response> Call(const std::string& socket,
                                            const bulkhead::v1::Request& request) {
  auto client = bulkhead::ApiClient::Connect(socket);
  if (!client.ok()) return client.status();
  return (*client)->Call(request);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bulkhead: see and steer the Bulkhead agent on this node."};
  app.require_subcommand(1);
  std::string socket = kDefaultSocket;
  app.add_option("--socket", socket, "the agent's API socket")
      ->envname("BULKHEAD_SOCKET")
      ->capture_default_str();
  app.set_version_flag("--version", BULKHEAD_VERSION);

  std::string output = "table";
  auto* status_cmd = app.add_subcommand("status", "agent, workloads with their modes, counters");
  status_cmd->add_option("-o,--output", output, "table or json (one object a line, per agent)")
      ->check(CLI::IsMember({"table", "json"}));
  std::vector<std::string> status_agents;
  status_cmd->add_option("--agent", status_agents,
                         "an agent's API socket; once per node for several (default: --socket)");

  auto* top_cmd = app.add_subcommand(
      "top", "the busiest segments and the most dropped or audited pairs since the agent started");
  std::uint32_t limit = 10;
  top_cmd->add_option("--limit", limit, "rows of each list")->capture_default_str();
  top_cmd->add_option("-o,--output", output, "table or json")
      ->check(CLI::IsMember({"table", "json"}));

  bulkhead::FlowsCommand flows(app);
  bulkhead::GraphCommand graph(app);

  auto* mode_cmd = app.add_subcommand("mode", "change how workloads are treated");
  mode_cmd->require_subcommand(1);
  auto* mode_set = mode_cmd->add_subcommand(
      "set",
      "set the mode of workloads: learn (allow, learn segments), monitor (allow, report flows\n"
      "outside the allow-list), enforce (drop flows outside the allow-list)");
  bool all = false;
  std::vector<std::string> mode_args;
  mode_set->add_flag("--all", all, "every workload in the inventory");
  mode_set->add_option("args", mode_args, "<namespace/name>... <mode>, or --all <mode>")
      ->required();

  bulkhead::PolicyCommands policy(app);

  CLI11_PARSE(app, argc, argv);

  bulkhead::v1::Request request;
  if (*status_cmd) {
    request.mutable_status();
    const bool several = status_agents.size() > 1;
    for (const std::string& agent :
         status_agents.empty() ? std::vector<std::string>{socket} : status_agents) {
      auto response = Call(agent, request);
      if (!response.ok()) return bulkhead::PrintFailure(response.status());
      if (output == "json") {
        std::cout << bulkhead::ToJsonLine(response->status()) << "\n";
      } else {
        if (several) std::cout << "== " << agent << "\n";
        std::cout << bulkhead::StatusText(response->status()) << (several ? "\n" : "");
      }
    }
    return 0;
  }

  if (*top_cmd) {
    request.mutable_top()->set_limit(limit);
    auto response = Call(socket, request);
    if (!response.ok()) return bulkhead::PrintFailure(response.status());
    std::cout << (output == "json" ? bulkhead::ToJsonLine(response->top()) + "\n"
                                   : bulkhead::TopText(response->top()));
    return 0;
  }
  if (flows.Parsed()) return flows.Run(socket);
  if (graph.Parsed()) return graph.Run(socket);

  if (*mode_set) {
    if (all ? mode_args.size() != 1 : mode_args.size() < 2)
      return bulkhead::PrintFailure(absl::InvalidArgumentError(
          "usage: bulkhead mode set <namespace/name>... <mode> | --all <mode>"));
    auto mode = bulkhead::ModeFromName(mode_args.back());
    if (!mode.ok()) return bulkhead::PrintFailure(mode.status());
    mode_args.pop_back();
    std::vector<std::string> targets = all ? std::vector<std::string>{""} : mode_args;
    for (const std::string& target : targets) {
      auto* set = request.mutable_set_mode();
      set->set_all(all);
      set->set_workload(target);
      set->set_mode(*mode);
      auto response = Call(socket, request);
      if (!response.ok()) return bulkhead::PrintFailure(response.status());
      for (const auto& changed : response->set_mode().changed())
        std::cout << changed << ": " << bulkhead::ModeName(*mode) << "\n";
    }
    return 0;
  }

  if (policy.Parsed())
    return policy.Run([&](const bulkhead::v1::Request& r) { return Call(socket, r); });
  return 0;
}
