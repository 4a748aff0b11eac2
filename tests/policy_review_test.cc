// policy diff and policy simulate (api/policy_review.h), rule by rule.
#include "api/policy_review.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "google/protobuf/util/time_util.h"

namespace bulkhead {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kNow = absl::FromUnixSeconds(1795000000);

bulkhead::v1::Segment MakeSegment(std::string from, std::string to, bulkhead::v1::Protocol proto,
                                  std::uint32_t port, std::uint32_t port_end = 0) {
  bulkhead::v1::Segment s;
  s.set_from_workload(std::move(from));
  s.set_to_workload(std::move(to));
  s.set_protocol(proto);
  s.set_port(port);
  s.set_port_end(port_end);
  s.set_origin(bulkhead::v1::LEARNED);
  return s;
}

bulkhead::v1::ExportPolicyResponse InForce() {
  bulkhead::v1::ExportPolicyResponse e;
  auto add = [&](bulkhead::v1::Segment s, absl::Duration ago) {
    *s.mutable_last_seen() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow - ago));
    *e.mutable_policy()->add_segments() = s;
  };
  add(MakeSegment("shop/frontend", "shop/api", bulkhead::v1::TCP, 8080), absl::Minutes(1));
  add(MakeSegment("shop/api", "shop/db", bulkhead::v1::TCP, 5432), absl::Hours(24 * 40));
  add(MakeSegment("shop/api", "shop/cache", bulkhead::v1::TCP, 7000, 7100), absl::Minutes(1));
  add(MakeSegment("bank/web", "bank/ledger", bulkhead::v1::TCP, 443), absl::Minutes(1));
  for (const char* w :
       {"shop/frontend", "shop/api", "shop/db", "shop/cache", "bank/web", "bank/ledger"}) {
    auto* info = e.add_workloads();
    info->set_workload(w);
    info->set_mode(bulkhead::v1::LEARN);
  }
  auto* g = e.add_guardrails();
  g->set_name("no-bank");
  g->mutable_from_selector()->set_namespace_("shop");
  g->mutable_to_selector()->set_namespace_("bank");
  g->set_source("/etc/bulkhead/guardrails.yaml");
  e.set_host_reaches_workloads(true);
  return e;
}

PolicyDocument File(std::vector<bulkhead::v1::Segment> segments) {
  PolicyDocument d;
  int line = 4;
  for (auto& s : segments) d.segments.push_back({std::move(s), line++});
  return d;
}

bulkhead::v1::Flow MakeFlow(std::string from, std::string to, bulkhead::v1::Protocol proto,
                            std::uint32_t port,
                            bulkhead::v1::Verdict verdict = bulkhead::v1::FORWARDED,
                            bulkhead::v1::Reason reason = bulkhead::v1::REASON_UNSPECIFIED) {
  bulkhead::v1::Flow f;
  f.mutable_source()->set_workload(std::move(from));
  f.mutable_destination()->set_workload(std::move(to));
  f.mutable_destination()->set_port(port);
  f.set_protocol(proto);
  f.set_verdict(verdict);
  f.set_reason(reason);
  *f.mutable_time() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow));
  return f;
}

TEST(PolicyDiffTest, WhatIsInForceAgainstTheFile) {
  PolicyDocument file = File({MakeSegment("shop/frontend", "shop/api", bulkhead::v1::TCP, 8080),
                              MakeSegment("shop/api", "shop/db", bulkhead::v1::TCP, 5432),
                              MakeSegment("shop/api", "shop/db", bulkhead::v1::UDP, 53),
                              MakeSegment("bank/web", "bank/ledger", bulkhead::v1::TCP, 443)});
  file.modes["shop/api"] = {bulkhead::v1::ENFORCE, 20};
  file.modes["shop/db"] = {bulkhead::v1::LEARN, 21};
  file.guardrails.push_back({Guardrail{.name = "no-bank",
                                       .from = {PeerSelector::Kind::kNamespace, "shop"},
                                       .to = {PeerSelector::Kind::kNamespace, "bank"}},
                             30});
  PolicyDiff diff = DiffPolicy(InForce(), file, kNow, absl::Hours(24 * 30));
  ASSERT_EQ(diff.only_in_force.size(), 1u);
  EXPECT_EQ(DescribeSegment(diff.only_in_force[0]), "shop/api -> shop/cache : tcp/7000-7100");
  ASSERT_EQ(diff.only_in_file.size(), 1u);
  EXPECT_EQ(DescribeSegment(diff.only_in_file[0]), "shop/api -> shop/db : udp/53");
  ASSERT_EQ(diff.unused.size(), 1u);  // last seen 40 days ago
  EXPECT_EQ(DescribeSegment(diff.unused[0]), "shop/api -> shop/db : tcp/5432");
  ASSERT_EQ(diff.modes.size(), 1u);
  EXPECT_EQ(diff.modes[0].workload, "shop/api");
  EXPECT_THAT(diff.guardrails, IsEmpty());
  EXPECT_TRUE(diff.Differs());

  // The same file with the range and without the UDP segment: only the
  // mode differs; unused segments alone are no difference.
  file.segments.erase(file.segments.begin() + 2);
  file.segments.push_back(
      {MakeSegment("shop/api", "shop/cache", bulkhead::v1::TCP, 7000, 7100), 9});
  file.modes.erase("shop/api");
  diff = DiffPolicy(InForce(), file, kNow, absl::Hours(24 * 30));
  EXPECT_FALSE(diff.Differs());
  EXPECT_EQ(diff.unused.size(), 1u);
}

TEST(PolicyDiffTest, AScopedFileSpeaksForItsScopeOnly) {
  PolicyDocument file = File({MakeSegment("bank/web", "bank/ledger", bulkhead::v1::TCP, 443)});
  file.scope = {PeerSelector::Kind::kNamespace, "bank"};
  PolicyDiff diff = DiffPolicy(InForce(), file, kNow, absl::Hours(1));
  EXPECT_FALSE(diff.Differs()) << "the shop's segments are not the bank file's business";
  file.guardrails.clear();
  file.scope = {};
  diff = DiffPolicy(InForce(), file, kNow, absl::Hours(1));
  EXPECT_EQ(diff.only_in_force.size(), 3u);
  EXPECT_THAT(diff.guardrails, ElementsAre("+ no-bank"));
}

TEST(SimulateTest, FlowsNoSegmentAdmitsWouldBeDroppedGroupedBySegment) {
  PolicyDocument file =
      File({MakeSegment("shop/frontend", "shop/api", bulkhead::v1::TCP, 8080),
            MakeSegment("shop/api", "shop/cache", bulkhead::v1::TCP, 7000, 7100)});
  std::vector<bulkhead::v1::Flow> flows = {
      MakeFlow("shop/frontend", "shop/api", bulkhead::v1::TCP, 8080),
      MakeFlow("shop/api", "shop/cache", bulkhead::v1::TCP, 7050),  // in the range
      MakeFlow("shop/api", "shop/cache", bulkhead::v1::TCP, 7101),  // past it
      MakeFlow("shop/api", "shop/db", bulkhead::v1::TCP, 5432),
      MakeFlow("shop/api", "shop/db", bulkhead::v1::TCP, 5432),
      MakeFlow("host", "shop/api", bulkhead::v1::TCP, 8081),  // the node's probes pass
      MakeFlow("shop/api", "world", bulkhead::v1::UDP, 53),
      MakeFlow("shop/api", "shop/db", bulkhead::v1::TCP, 5432, bulkhead::v1::DROPPED,
               bulkhead::v1::SPOOFED),  // dropped anyway
  };
  Simulation sim = Simulate(flows, file, {});
  EXPECT_EQ(sim.judged, 7u);
  EXPECT_EQ(sim.skipped, 1u);
  EXPECT_EQ(sim.would_drop, 4u);
  ASSERT_EQ(sim.dropped.size(), 3u);
  EXPECT_EQ(sim.dropped[0].to, "shop/db");  // most flows first
  EXPECT_EQ(sim.dropped[0].flows, 2u);
  EXPECT_EQ(sim.dropped[0].why, "no segment");

  // With the agent: its segments outside a scoped file count, its
  // guardrails drop in every mode, its modes count with --modes file.
  bulkhead::v1::ExportPolicyResponse in_force = InForce();
  file.scope = {PeerSelector::Kind::kWorkload, "shop/frontend"};
  file.segments.pop_back();  // the scoped file is about frontend only
  flows = {MakeFlow("shop/api", "shop/db", bulkhead::v1::TCP, 5432),       // agent's segment
           MakeFlow("shop/api", "bank/web", bulkhead::v1::TCP, 443),       // guardrail no-bank
           MakeFlow("shop/frontend", "shop/db", bulkhead::v1::TCP, 5432),  // no segment
           MakeFlow("shop/ghost", "shop/db", bulkhead::v1::TCP, 1)};       // unknown: skipped
  sim = Simulate(flows, file, {.in_force = &in_force});
  EXPECT_EQ(sim.skipped, 1u);
  ASSERT_EQ(sim.dropped.size(), 2u);
  std::set<std::string> why = {sim.dropped[0].why, sim.dropped[1].why};
  EXPECT_THAT(why, ElementsAre("guardrail no-bank", "no segment"));
  sim = Simulate(flows, file, {.in_force = &in_force, .modes_from_file = true});
  ASSERT_EQ(sim.dropped.size(), 1u) << "in learn mode only the guardrail drops";
  EXPECT_EQ(sim.dropped[0].why, "guardrail no-bank");
}

}  // namespace
}  // namespace bulkhead
