// `bulkhead policy ...`: the review loop from the command line.
//
//   bulkhead policy export [--format bulkhead|kubernetes] [-o yaml|json]
//                          [--namespace NS | --workload NS/NAME] [--output FILE]
//   bulkhead policy apply FILE [--dry-run]
//   bulkhead policy diff FILE [--unused-for 30d]
//   bulkhead policy simulate FILE [--flows FLOWS.json] [--modes enforce|file]
#pragma once

#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "proto/api.pb.h"

namespace bulkhead {

// Sends one request to the agent.
using CallAgent =
    std::function<absl::StatusOr<bulkhead::v1::Response>(const bulkhead::v1::Request&)>;

class PolicyCommands {
 public:
  // Adds `policy` and its subcommands to `app`.
  explicit PolicyCommands(CLI::App& app);
  // Whether `policy` was given; then Run() does it.
  bool Parsed() const { return policy_->parsed(); }
  // The exit code. export, apply: 0 done, 1 refused or failed. diff: 0 the
  // same, 1 different. simulate: 0 nothing would be dropped, 1 something
  // would. diff and simulate: 2 when they could not tell (as diff(1)).
  // Messages about failures are on stderr.
  int Run(const CallAgent& call);

 private:
  int Export(const CallAgent& call);
  int Apply(const CallAgent& call);
  int Diff(const CallAgent& call);
  int Simulate(const CallAgent& call);

  CLI::App* policy_ = nullptr;
  CLI::App* export_ = nullptr;
  CLI::App* apply_ = nullptr;
  CLI::App* diff_ = nullptr;
  CLI::App* simulate_ = nullptr;
  std::string output_file_;
  std::string format_ = "bulkhead";
  std::string encoding_ = "yaml";
  std::string namespace_;
  std::string workload_;
  std::string file_;
  bool dry_run_ = false;
  std::string unused_for_ = "30d";
  std::string flows_file_;
  std::string simulate_modes_ = "enforce";
};

}  // namespace bulkhead
