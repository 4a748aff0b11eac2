// The service map: which nodes and edges, and how DOT and Mermaid write them.
#include "api/service_graph.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

bulkhead::v1::ExportPolicyResponse Shop() {
  bulkhead::v1::ExportPolicyResponse e;
  for (const char* w : {"shop/frontend", "shop/api", "shop/db", "shop/idle"})
    e.add_workloads()->set_workload(w);
  auto* s = e.mutable_policy()->add_segments();
  s->set_from_workload("shop/frontend");
  s->set_to_workload("shop/api");
  s->set_protocol(bulkhead::v1::TCP);
  s->set_port(8000);
  s->set_port_end(8100);
  return e;
}

bulkhead::v1::Flow Refused(const char* from, const char* to, std::uint32_t port,
                           bulkhead::v1::Verdict verdict) {
  bulkhead::v1::Flow f;
  f.mutable_source()->set_workload(from);
  f.mutable_destination()->set_workload(to);
  f.mutable_destination()->set_port(port);
  f.set_protocol(bulkhead::v1::TCP);
  f.set_verdict(verdict);
  f.set_reason(bulkhead::v1::POLICY);
  return f;
}

TEST(ServiceGraphTest, SegmentsAndRefusedFlowsAreEdges) {
  std::vector<bulkhead::v1::Flow> flows = {
      Refused("shop/db", "shop/api", 8080, bulkhead::v1::DROPPED),
      Refused("shop/db", "shop/api", 8080, bulkhead::v1::DROPPED),
      Refused("shop/api", "world", 443, bulkhead::v1::AUDIT),
      // audited while learning, admitted by the range since: no edge of its own
      Refused("shop/frontend", "shop/api", 8050, bulkhead::v1::AUDIT),
  };
  ServiceGraph graph = BuildServiceGraph(Shop(), flows);
  EXPECT_EQ(graph.nodes.size(), 5u) << "four workloads (one idle) and world";
  EXPECT_EQ(graph.nodes.at("world"), "");
  ASSERT_EQ(graph.edges.size(), 3u);
  EXPECT_EQ(graph.edges[0].label, "tcp/8000-8100");
  EXPECT_EQ(graph.edges[1].kind, ServiceGraph::EdgeKind::kDropped);
  EXPECT_EQ(graph.edges[1].flows, 2u);
  EXPECT_EQ(graph.edges[2].kind, ServiceGraph::EdgeKind::kAudit);

  const std::string dot = GraphToDot(graph);
  EXPECT_THAT(dot, HasSubstr("subgraph cluster_0 {\n    label=\"shop\";"));
  EXPECT_THAT(dot, HasSubstr("\"shop/idle\" [label=\"idle\"]"));
  EXPECT_THAT(dot, HasSubstr("\"world\" [label=\"world\", shape=ellipse"));
  EXPECT_THAT(dot, HasSubstr("\"shop/db\" -> \"shop/api\" [label=\"tcp/8080 dropped x2\", "
                             "color=\"#c0392b\""));
  EXPECT_THAT(dot, Not(HasSubstr("8050")));
  const std::string mermaid = GraphToMermaid(graph);
  EXPECT_THAT(mermaid, HasSubstr("flowchart LR\n  n4([\"world\"])\n  subgraph ns0[\"shop\"]\n"));
  EXPECT_THAT(mermaid, HasSubstr("linkStyle 1 stroke:#c0392b"));
  EXPECT_THAT(mermaid, HasSubstr("linkStyle 2 stroke:#d68910"));
}

TEST(ServiceGraphTest, NamesAreQuotedNotTrusted) {
  bulkhead::v1::ExportPolicyResponse e;
  e.add_workloads()->set_workload("a\"b/c\\d");
  ServiceGraph graph = BuildServiceGraph(e, {});
  EXPECT_THAT(GraphToDot(graph), HasSubstr("\"a\\\"b/c\\\\d\" [label=\"c\\\\d\"]"));
  EXPECT_THAT(GraphToMermaid(graph), HasSubstr("[\"a#quot;b\"]"));
}

}  // namespace
}  // namespace bulkhead
