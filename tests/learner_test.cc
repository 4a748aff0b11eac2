// What the learner turns into segments, and what it refuses to.
#include "controlplane/learner.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <map>

#include "controlplane/policy_store.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

class LearnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto table = IdentityTable::Build(Inventory{
        .workloads = {{.ns = "shop", .name = "frontend", .addresses = {"10.244.1.10"}},
                      {.ns = "shop", .name = "api", .addresses = {"10.244.1.20"}},
                      {.ns = "shop", .name = "db", .addresses = {"10.244.1.30"}}},
        .networks = {{.name = "payments-api", .cidrs = {"203.0.113.0/24"}}},
        .services = {
            {.ns = "shop",
             .name = "api",
             .workload = "shop/api",
             .cluster_ips = {"10.96.0.10"},
             .ports = {
                 {.proto = IPPROTO_TCP, .port = 80, .target_port = 8080, .node_port = 30080}}}}});
    ASSERT_TRUE(table.ok()) << table.status();
    identities_ = std::make_unique<IdentityTable>(*std::move(table));
    frontend_ = *identities_->IdentityOf("shop/frontend");
    api_ = *identities_->IdentityOf("shop/api");
    db_ = *identities_->IdentityOf("shop/db");
    payments_ = *identities_->IdentityOf("payments-api");
    for (auto id : {frontend_, api_, db_}) modes_[id] = BH_MODE_LEARN;
    learner_ = std::make_unique<Learner>(*identities_, [this](std::uint32_t id) {
      auto it = modes_.find(id);
      return it == modes_.end() ? BH_MODE_UNMANAGED : it->second;
    });
  }

  // A SYN from `src`:sport to `dst`:dport, passed without a segment.
  bh_flow_event TcpSyn(std::uint32_t src, std::uint16_t sport, std::uint32_t dst,
                       std::uint16_t dport) {
    bh_flow_event e{};
    e.src_identity = src;
    e.dst_identity = dst;
    e.sport_be = htons(sport);
    e.dport_be = htons(dport);
    e.proto = IPPROTO_TCP;
    e.verdict = BH_VERDICT_AUDIT;
    e.reason = BH_REASON_POLICY;
    e.mode = BH_MODE_LEARN;
    e.flags = BH_FLOW_TCP_SYN;
    return e;
  }

  std::unique_ptr<IdentityTable> identities_;
  std::map<std::uint32_t, bh_mode> modes_;
  std::unique_ptr<Learner> learner_;
  std::uint32_t frontend_, api_, db_, payments_;
};

TEST_F(LearnerTest, LearnsServerPortNotEphemeralPort) {
  auto segment = learner_->Observe(TcpSyn(frontend_, 43512, api_, 8080));
  ASSERT_TRUE(segment.has_value());
  EXPECT_EQ(*segment, (SegmentKey{"shop/frontend", "shop/api", IPPROTO_TCP, 8080}));
}

// The datapath judged a flow to a Service as the flow to its backend; the
// segment names the backend's target port, never the Service's.
TEST_F(LearnerTest, AFlowToAServiceIsLearnedAsTheBackendsTargetPort) {
  bh_flow_event e = TcpSyn(frontend_, 43512, api_, 80);
  e.daddr = *ParseAddress("10.96.0.10");
  e.flags |= BH_FLOW_SERVICE;
  auto segment = learner_->Observe(e);
  ASSERT_TRUE(segment.has_value());
  EXPECT_EQ(ToString(*segment), "shop/frontend -> shop/api : tcp/8080");
  // By NodePort, on any node address.
  e.daddr = *ParseAddress("10.244.0.1");
  e.dport_be = htons(30080);
  segment = learner_->Observe(e);
  ASSERT_TRUE(segment.has_value());
  EXPECT_EQ(ToString(*segment), "shop/frontend -> shop/api : tcp/8080");
  // A Service the agent no longer knows teaches nothing.
  e.daddr = *ParseAddress("10.96.0.11");
  e.dport_be = htons(80);
  EXPECT_FALSE(learner_->Observe(e).has_value());
  // Nor one that leads elsewhere now (the inventory changed between the
  // datapath's verdict and this event).
  e.daddr = *ParseAddress("10.96.0.10");
  e.dst_identity = db_;
  EXPECT_FALSE(learner_->Observe(e).has_value());
}

// SCTP and UDP-Lite are judged by destination port like UDP (bpf/lib/parse.h):
// learned with it, or enforce would drop what was learned.
TEST_F(LearnerTest, SctpAndUdpLiteLearnTheirServerPort) {
  for (std::uint8_t proto : {std::uint8_t{IPPROTO_SCTP}, std::uint8_t{IPPROTO_UDPLITE}}) {
    bh_flow_event e = TcpSyn(frontend_, 43512, api_, 3868);
    e.proto = proto;
    e.flags = 0;
    auto segment = learner_->Observe(e);
    ASSERT_TRUE(segment.has_value()) << static_cast<int>(proto);
    EXPECT_EQ(segment->port, 3868) << static_cast<int>(proto);
    // Answer-shaped (from a low port to an ephemeral one): not an opener.
    e.sport_be = htons(3868);
    e.dport_be = htons(43512);
    EXPECT_FALSE(learner_->Observe(e).has_value()) << static_cast<int>(proto);
  }
}

TEST_F(LearnerTest, ManyClientPortsAreOneSegment) {
  PolicyStore store;
  int new_segments = 0;
  for (std::uint16_t port = 40000; port < 40100; ++port) {
    auto segment = learner_->Observe(TcpSyn(frontend_, port, api_, 8080));
    ASSERT_TRUE(segment.has_value());
    new_segments += store.Learn(*segment, absl::Now());
  }
  EXPECT_EQ(new_segments, 1);
  ASSERT_EQ(store.Snapshot().segments_size(), 1);
  EXPECT_EQ(store.Snapshot().segments(0).flows(), 100u);
}

TEST_F(LearnerTest, TcpWithoutSynIsNotLearned) {
  // First seen mid-stream: this could be api's answer to a client on 8080,
  // and its destination port the client's ephemeral port.
  bh_flow_event e = TcpSyn(api_, 8080, frontend_, 43512);
  e.flags = 0;
  EXPECT_FALSE(learner_->Observe(e).has_value());
  EXPECT_EQ(learner_->counters().untrusted_port, 1u);
}

TEST_F(LearnerTest, UdpLearnsDestinationPort) {
  bh_flow_event e = TcpSyn(api_, 53124, db_, 53);
  e.proto = IPPROTO_UDP;
  e.flags = 0;
  auto segment = learner_->Observe(e);
  ASSERT_TRUE(segment.has_value());
  EXPECT_EQ(segment->port, 53);
  EXPECT_EQ(segment->proto, IPPROTO_UDP);
}

TEST_F(LearnerTest, UdpAnswerShapedFirstDatagramIsNotLearned) {
  // db's DNS answer seen before api's question (agent started mid-flow):
  // learning it would open db -> api on api's ephemeral port.
  bh_flow_event e = TcpSyn(db_, 53, api_, 53124);
  e.proto = IPPROTO_UDP;
  e.flags = 0;
  EXPECT_FALSE(learner_->Observe(e).has_value());
  // On a node whose client ports start lower: a privileged source port to
  // an unprivileged destination is an answer too.
  e.dport_be = htons(20000);
  EXPECT_FALSE(learner_->Observe(e).has_value());
  EXPECT_EQ(learner_->counters().untrusted_port, 2u);
  // Both ports high (a high server port): learned, by destination.
  e.sport_be = htons(40000);
  e.dport_be = htons(35000);
  auto segment = learner_->Observe(e);
  ASSERT_TRUE(segment.has_value());
  EXPECT_EQ(segment->port, 35000);
}

TEST_F(LearnerTest, OnlyIcmpEchoRequestsAreLearned) {
  bh_flow_event request = TcpSyn(frontend_, 0, api_, 0);
  request.proto = IPPROTO_ICMP;
  request.sport_be = htons(77);  // echo identifier
  request.flags = BH_FLOW_ICMP_ECHO;
  request.icmp_type = 8;
  auto segment = learner_->Observe(request);
  ASSERT_TRUE(segment.has_value());
  EXPECT_EQ(segment->port, 8) << "the segment names the type: echo, not every ICMP";

  // A port-unreachable error from api: an answer, not a path to learn.
  bh_flow_event error = request;
  error.src_identity = api_;
  error.dst_identity = frontend_;
  error.sport_be = 0;
  error.flags = 0;
  EXPECT_FALSE(learner_->Observe(error).has_value());
  EXPECT_EQ(learner_->counters().untrusted_port, 1u);
}

TEST_F(LearnerTest, ForwardedAndDroppedFlowsTeachNothing) {
  bh_flow_event forwarded = TcpSyn(frontend_, 40000, api_, 8080);
  forwarded.verdict = BH_VERDICT_FORWARDED;
  bh_flow_event dropped = TcpSyn(frontend_, 40001, db_, 5432);
  dropped.verdict = BH_VERDICT_DROPPED;
  EXPECT_FALSE(learner_->Observe(forwarded).has_value());
  EXPECT_FALSE(learner_->Observe(dropped).has_value());
}

TEST_F(LearnerTest, PeerNotLearningOpensNoPath) {
  // frontend still learns, db already enforces: frontend's traffic must not
  // teach a segment into db.
  modes_[db_] = BH_MODE_ENFORCE;
  EXPECT_FALSE(learner_->Observe(TcpSyn(frontend_, 40000, db_, 5432)).has_value());
  modes_[db_] = BH_MODE_MONITOR;
  EXPECT_FALSE(learner_->Observe(TcpSyn(frontend_, 40000, db_, 5432)).has_value());
  EXPECT_EQ(learner_->counters().not_learning, 2u);
}

TEST_F(LearnerTest, IcmpV6EchoRequestIsLearnedWithItsType) {
  bh_flow_event request = TcpSyn(frontend_, 0, api_, 0);
  request.proto = IPPROTO_ICMPV6;
  request.flags = BH_FLOW_ICMP_ECHO | BH_FLOW_IPV6;
  request.icmp_type = 128;
  auto segment = learner_->Observe(request);
  ASSERT_TRUE(segment.has_value());
  EXPECT_EQ(segment->proto, IPPROTO_ICMPV6);
  EXPECT_EQ(segment->port, 128);
}

TEST_F(LearnerTest, TheNodeIsAPeerLikeAWorkload) {
  // A pod calling a node-local agent, and the node probing a pod.
  auto to_host = learner_->Observe(TcpSyn(api_, 40000, BH_IDENTITY_HOST, 9100));
  ASSERT_TRUE(to_host.has_value());
  EXPECT_EQ(to_host->to, "host");
  auto from_host = learner_->Observe(TcpSyn(BH_IDENTITY_HOST, 40000, api_, 8080));
  ASSERT_TRUE(from_host.has_value());
  EXPECT_EQ(from_host->from, "host");
}

TEST_F(LearnerTest, FramesPassedForOtherReasonsTeachNothing) {
  bh_flow_event fragment = TcpSyn(frontend_, 40000, api_, 8080);
  fragment.reason = BH_REASON_FRAGMENT;  // an orphan fragment in learn mode
  EXPECT_FALSE(learner_->Observe(fragment).has_value());
  bh_flow_event unparseable = TcpSyn(frontend_, 40000, api_, 8080);
  unparseable.reason = BH_REASON_UNPARSEABLE;
  EXPECT_FALSE(learner_->Observe(unparseable).has_value());
}

TEST_F(LearnerTest, PeersOutsideTheWorkloadsAreLearnedByName) {
  // A workload calling an external API (a network set), the internet, a
  // private address nobody declared; a node's health check; world calling in.
  EXPECT_EQ(learner_->Observe(TcpSyn(api_, 40000, payments_, 443)),
            (SegmentKey{"shop/api", "payments-api", IPPROTO_TCP, 443}));
  EXPECT_EQ(learner_->Observe(TcpSyn(api_, 40001, BH_IDENTITY_WORLD, 443)),
            (SegmentKey{"shop/api", "world", IPPROTO_TCP, 443}));
  EXPECT_EQ(learner_->Observe(TcpSyn(api_, 40002, BH_IDENTITY_PRIVATE, 5432)),
            (SegmentKey{"shop/api", "private", IPPROTO_TCP, 5432}));
  EXPECT_EQ(learner_->Observe(TcpSyn(BH_IDENTITY_WORLD, 40003, frontend_, 80)),
            (SegmentKey{"world", "shop/frontend", IPPROTO_TCP, 80}));
  EXPECT_EQ(learner_->counters().learned, 4u);
}

TEST_F(LearnerTest, UnknownPeersAndFlowsWithoutAWorkloadAreNotLearned) {
  // 9999: a removed workload's number; 0x01000099: no such network set.
  EXPECT_FALSE(learner_->Observe(TcpSyn(api_, 40000, 9999, 443)).has_value());
  EXPECT_FALSE(learner_->Observe(TcpSyn(api_, 40000, 0x01000099, 443)).has_value());
  // Neither end a workload: not this node's workloads' business.
  EXPECT_FALSE(learner_->Observe(TcpSyn(BH_IDENTITY_HOST, 40000, BH_IDENTITY_WORLD, 443)));
  EXPECT_FALSE(learner_->Observe(TcpSyn(payments_, 40000, BH_IDENTITY_HOST, 22)));
  EXPECT_EQ(learner_->counters().unknown_peer, 4u);
}

TEST_F(LearnerTest, AWorkloadEndThatIsNotLearningStopsAnExternalPeer) {
  modes_[api_] = BH_MODE_ENFORCE;
  EXPECT_FALSE(learner_->Observe(TcpSyn(BH_IDENTITY_WORLD, 40000, api_, 443)).has_value());
  EXPECT_FALSE(learner_->Observe(TcpSyn(api_, 40000, payments_, 443)).has_value());
  EXPECT_EQ(learner_->counters().not_learning, 2u);
}

}  // namespace
}  // namespace bulkhead
