// The service map `bulkhead graph` draws: workloads and peers as nodes
// (each namespace a cluster), the allow-list's segments as solid edges, and
// the flows it refused or would refuse as red (DROPPED) and orange (AUDIT)
// dashed edges, each with its protocol and port and how many flows. One
// picture instead of a list of rules.
//
//   ServiceGraph graph = BuildServiceGraph(exported, flows);
//   std::string dot = GraphToDot(graph);          // Graphviz
//   std::string mermaid = GraphToMermaid(graph);  // Mermaid (flowchart)
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "proto/api.pb.h"
#include "proto/flow.pb.h"

namespace bulkhead {

struct ServiceGraph {
  enum class EdgeKind { kSegment, kDropped, kAudit };
  struct Edge {
    std::string from, to;
    EdgeKind kind;
    std::string label;  // "tcp/8080", "udp/any", "tcp/8000-8100"
    std::uint64_t flows = 0;
  };
  // Node name ("namespace/name", or a peer) -> its namespace ("" for peers
  // outside the workloads: world, host, private, network sets).
  std::map<std::string, std::string> nodes;
  std::vector<Edge> edges;  // sorted: segments, then dropped, then audit; by ends
};

// The segments of `exported`, and the DROPPED and AUDIT flows of `flows`
// (forwarded flows are the segments' own; so are audited flows a segment
// admits now, learned since), aggregated per (from, to, protocol, port).
// Workloads without any edge are drawn too.
ServiceGraph BuildServiceGraph(const bulkhead::v1::ExportPolicyResponse& exported,
                               const std::vector<bulkhead::v1::Flow>& flows);

std::string GraphToDot(const ServiceGraph& graph);
std::string GraphToMermaid(const ServiceGraph& graph);

}  // namespace bulkhead
