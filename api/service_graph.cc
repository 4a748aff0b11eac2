#include "api/service_graph.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "api/enum_names.h"

namespace bulkhead {
namespace {

using EdgeKind = ServiceGraph::EdgeKind;

std::string NamespaceOf(const std::string& node) {
  std::size_t slash = node.find('/');
  return slash == std::string::npos ? "" : node.substr(0, slash);
}

std::string PortLabel(bulkhead::v1::Protocol protocol, std::uint32_t port, std::uint32_t end) {
  std::string name = ProtocolName(protocol);
  if (protocol == bulkhead::v1::ICMP || protocol == bulkhead::v1::ICMPV6)
    return absl::StrCat(name, " type ", port);
  if (end == 0) return absl::StrCat(name, "/", port);
  if (port == 0 && end == 65535) return absl::StrCat(name, "/any");
  return absl::StrCat(name, "/", port, "-", end);
}

// A DOT string literal.
std::string Quote(const std::string& text) {
  return absl::StrCat("\"", absl::StrReplaceAll(text, {{"\\", "\\\\"}, {"\"", "\\\""}}), "\"");
}

// Text inside a Mermaid label (between quotes).
std::string MermaidText(const std::string& text) {
  return absl::StrReplaceAll(text, {{"\"", "#quot;"}, {"<", "#lt;"}, {">", "#gt;"}});
}

std::string EdgeText(const ServiceGraph::Edge& e) {
  if (e.kind == EdgeKind::kSegment) return e.label;
  return absl::StrCat(e.label, e.kind == EdgeKind::kDropped ? " dropped" : " audit", " x", e.flows);
}

// Walks the nodes namespace by namespace (the peers outside any first):
// `open` and `close` around each namespace's nodes, `node` for every node
// with its label (its name within the namespace).
void WalkClusters(const ServiceGraph& graph,
                  const std::function<void(const std::string& ns, int index)>& open,
                  const std::function<void(const std::string& name, const std::string& label,
                                           bool clustered)>& node,
                  const std::function<void()>& close) {
  std::map<std::string, std::vector<std::string>> by_namespace;
  for (const auto& [name, ns] : graph.nodes) by_namespace[ns].push_back(name);
  int index = 0;
  for (const auto& [ns, names] : by_namespace) {
    if (!ns.empty()) open(ns, index++);
    for (const std::string& name : names)
      node(name, ns.empty() ? name : name.substr(ns.size() + 1), !ns.empty());
    if (!ns.empty()) close();
  }
}

}  // namespace

ServiceGraph BuildServiceGraph(const bulkhead::v1::ExportPolicyResponse& exported,
                               const std::vector<bulkhead::v1::Flow>& flows) {
  ServiceGraph graph;
  auto node = [&](const std::string& name) { graph.nodes.emplace(name, NamespaceOf(name)); };
  for (const auto& w : exported.workloads()) node(w.workload());
  for (const auto& s : exported.policy().segments()) {
    node(s.from_workload());
    node(s.to_workload());
    graph.edges.push_back({s.from_workload(), s.to_workload(), EdgeKind::kSegment,
                           PortLabel(s.protocol(), s.port(), s.port_end()), s.flows()});
  }
  // Whether a segment admits the flow now (an audited flow learned since).
  auto admitted = [&](const bulkhead::v1::Flow& f) {
    const std::uint32_t port =
        f.protocol() == bulkhead::v1::ICMP || f.protocol() == bulkhead::v1::ICMPV6
            ? f.icmp_type()
            : f.destination().port();
    return std::any_of(exported.policy().segments().begin(), exported.policy().segments().end(),
                       [&](const bulkhead::v1::Segment& s) {
                         return s.from_workload() == f.source().workload() &&
                                s.to_workload() == f.destination().workload() &&
                                s.protocol() == f.protocol() && port >= s.port() &&
                                port <= std::max(s.port(), s.port_end());
                       });
  };
  // Refused flows, one edge per (kind, from, to, label); audited flows a
  // segment admits now (learned since) are that segment's edge.
  std::map<std::tuple<EdgeKind, std::string, std::string, std::string>, std::uint64_t> refused;
  for (const bulkhead::v1::Flow& f : flows) {
    if (f.verdict() != bulkhead::v1::DROPPED && f.verdict() != bulkhead::v1::AUDIT) continue;
    if (f.verdict() == bulkhead::v1::AUDIT && admitted(f)) continue;
    const bool icmp = f.protocol() == bulkhead::v1::ICMP || f.protocol() == bulkhead::v1::ICMPV6;
    const std::string label = f.reason() == bulkhead::v1::GUARDRAIL
                                  ? absl::StrCat("guardrail ", f.guardrail())
                              : icmp ? PortLabel(f.protocol(), f.icmp_type(), 0)
                                     : PortLabel(f.protocol(), f.destination().port(), 0);
    node(f.source().workload());
    node(f.destination().workload());
    ++refused[{f.verdict() == bulkhead::v1::DROPPED ? EdgeKind::kDropped : EdgeKind::kAudit,
               f.source().workload(), f.destination().workload(), label}];
  }
  for (const auto& [key, count] : refused) {
    const auto& [kind, from, to, label] = key;
    graph.edges.push_back({from, to, kind, label, count});
  }
  std::stable_sort(graph.edges.begin(), graph.edges.end(), [](const auto& a, const auto& b) {
    return std::tie(a.kind, a.from, a.to, a.label) < std::tie(b.kind, b.from, b.to, b.label);
  });
  return graph;
}

std::string GraphToDot(const ServiceGraph& graph) {
  std::string out =
      "digraph bulkhead {\n"
      "  rankdir=LR;\n"
      "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#eef3fb\", "
      "fontname=\"Helvetica\"];\n"
      "  edge [fontname=\"Helvetica\", fontsize=10];\n";
  WalkClusters(
      graph,
      [&](const std::string& ns, int index) {
        absl::StrAppend(&out, "  subgraph cluster_", index, " {\n    label=", Quote(ns),
                        ";\n    style=\"rounded,dashed\";\n    color=\"#8a94a6\";\n");
      },
      [&](const std::string& name, const std::string& label, bool clustered) {
        absl::StrAppend(&out, clustered ? "    " : "  ", Quote(name), " [label=", Quote(label),
                        clustered ? "" : ", shape=ellipse, fillcolor=\"#f4f4f4\"", "];\n");
      },
      [&] { absl::StrAppend(&out, "  }\n"); });
  for (const ServiceGraph::Edge& e : graph.edges) {
    const char* style = e.kind == EdgeKind::kSegment ? "color=\"#2f6f3e\""
                        : e.kind == EdgeKind::kDropped
                            ? "color=\"#c0392b\", fontcolor=\"#c0392b\", style=dashed, penwidth=2"
                            : "color=\"#d68910\", fontcolor=\"#d68910\", style=dashed";
    absl::StrAppend(&out, "  ", Quote(e.from), " -> ", Quote(e.to), " [label=", Quote(EdgeText(e)),
                    ", ", style, "];\n");
  }
  absl::StrAppend(&out, "}\n");
  return out;
}

std::string GraphToMermaid(const ServiceGraph& graph) {
  std::string out = "flowchart LR\n";
  std::map<std::string, std::string> ids;  // node -> n0, n1, ...
  for (const auto& [name, ns] : graph.nodes) ids.emplace(name, absl::StrCat("n", ids.size()));
  WalkClusters(
      graph,
      [&](const std::string& ns, int index) {
        absl::StrAppend(&out, "  subgraph ns", index, "[\"", MermaidText(ns), "\"]\n");
      },
      [&](const std::string& name, const std::string& label, bool clustered) {
        absl::StrAppend(&out, clustered ? "    " : "  ", ids.at(name), clustered ? "[\"" : "([\"",
                        MermaidText(label), clustered ? "\"]\n" : "\"])\n");
      },
      [&] { absl::StrAppend(&out, "  end\n"); });
  int index = 0;
  std::string dropped_links, audit_links;
  for (const ServiceGraph::Edge& e : graph.edges) {
    const char* arrow = e.kind == EdgeKind::kSegment ? "-->" : "-.->";
    absl::StrAppend(&out, "  ", ids.at(e.from), " ", arrow, "|\"", MermaidText(EdgeText(e)), "\"| ",
                    ids.at(e.to), "\n");
    std::string& links = e.kind == EdgeKind::kDropped ? dropped_links : audit_links;
    if (e.kind != EdgeKind::kSegment) absl::StrAppend(&links, links.empty() ? "" : ",", index);
    ++index;
  }
  if (!dropped_links.empty())
    absl::StrAppend(&out, "  linkStyle ", dropped_links, " stroke:#c0392b,color:#c0392b\n");
  if (!audit_links.empty())
    absl::StrAppend(&out, "  linkStyle ", audit_links, " stroke:#d68910,color:#d68910\n");
  return out;
}

}  // namespace bulkhead
