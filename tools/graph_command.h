// `bulkhead graph`: the service map (api/service_graph.h) of the agent's
// segments and its refused flows, as Graphviz DOT, Mermaid, or a picture
// rendered by Graphviz's `dot` (svg, png) when it is installed.
#pragma once

#include <cstdint>
#include <string>

#include "CLI/CLI.hpp"

namespace bulkhead {

class GraphCommand {
 public:
  explicit GraphCommand(CLI::App& app);
  bool Parsed() const { return static_cast<bool>(*command_); }
  // Returns the exit code. `socket`: the agent's API.
  int Run(const std::string& socket);

 private:
  CLI::App* command_ = nullptr;
  std::string format_ = "dot";
  std::string file_;
  std::string input_;
  std::string namespace_;
};

}  // namespace bulkhead
