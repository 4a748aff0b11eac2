// `bulkhead policy ...`: the review loop from the command line.
//
//   bulkhead policy export [--format bulkhead|kubernetes] [-o yaml|json]
//                          [--namespace NS | --workload NS/NAME] [--output FILE]
//   bulkhead policy apply FILE [--dry-run]
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
  // The exit code: 0 done (apply: applied, or would apply); 1 refused or
  // failed (the messages are on stderr).
  int Run(const CallAgent& call);

 private:
  int Export(const CallAgent& call);
  int Apply(const CallAgent& call);

  CLI::App* policy_ = nullptr;
  CLI::App* export_ = nullptr;
  CLI::App* apply_ = nullptr;
  std::string output_file_;
  std::string format_ = "bulkhead";
  std::string encoding_ = "yaml";
  std::string namespace_;
  std::string workload_;
  std::string file_;
  bool dry_run_ = false;
};

}  // namespace bulkhead
