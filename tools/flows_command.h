// `bulkhead flows`: the flows an agent saw (or a saved file holds), filtered
// as hubble observe filters them (api/flow_filter.h), as a table, compact
// lines or JSON lines; --follow keeps printing new ones as they come.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "api/flow_filter.h"

namespace bulkhead {

class FlowsCommand {
 public:
  explicit FlowsCommand(CLI::App& app);
  bool Parsed() const { return static_cast<bool>(*command_); }
  // Prints the flows; returns the exit code. `socket`: the agent's API.
  int Run(const std::string& socket);

 private:
  // The filter the flags make, in the order given (--not applies to the
  // flag right after it).
  absl::StatusOr<FlowFilter> BuildFilter() const;

  CLI::App* command_ = nullptr;
  CLI::Option* last_option_ = nullptr;
  CLI::Option* not_option_ = nullptr;
  std::map<const CLI::Option*, FlowFilter::Field> filter_options_;
  std::map<FlowFilter::Field, std::vector<std::string>> values_;
  std::uint32_t last_ = 100;
  bool follow_ = false;
  int nots_ = 0;  // how many --not were given (their places come from the parse order)
  std::string since_, until_;
  std::string output_ = "table";
  std::string input_;
  std::vector<std::string> agents_;
};

}  // namespace bulkhead
