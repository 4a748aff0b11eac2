// The agent's parts that need no kernel: the state file (checked strictly,
// written durably), the flow history (kinds kept apart) and the log's rate
// limit.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "controlplane/flow_history.h"
#include "controlplane/log.h"
#include "controlplane/state_file.h"
#include "datapath/abi.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

using ::testing::HasSubstr;

bulkhead::v1::AgentState GoodState() {
  bulkhead::v1::AgentState state;
  auto* s = state.mutable_policy()->add_segments();
  s->set_id(1);
  s->set_from_workload("shop/frontend");
  s->set_to_workload("shop/api");
  s->set_protocol(bulkhead::v1::TCP);
  s->set_port(8080);
  (*state.mutable_modes())["shop/api"] = bulkhead::v1::ENFORCE;
  (*state.mutable_identities())["shop/api"] = 256;
  (*state.mutable_identities())["shop/frontend"] = 257;
  return state;
}

std::string Error(const bulkhead::v1::AgentState& state) {
  return std::string(ParseAgentState(state.SerializeAsString()).status().message());
}

TEST(StateFileTest, AGoodStateRoundTrips) {
  auto parsed = ParseAgentState(GoodState().SerializeAsString());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*parsed, GoodState()));
}

TEST(StateFileTest, ImpossibleValuesAreRefusedNamingTheField) {
  EXPECT_THAT(std::string(ParseAgentState("\xff\xff garbage").status().message()),
              HasSubstr("not a bulkhead state file"));

  auto state = GoodState();
  (*state.mutable_modes())["shop/api"] = static_cast<bulkhead::v1::Mode>(7);
  EXPECT_THAT(Error(state), HasSubstr("modes[\"shop/api\"]: 7 is not learn, monitor or enforce"));

  state = GoodState();
  state.mutable_policy()->mutable_segments(0)->set_port(70000);
  EXPECT_THAT(Error(state), HasSubstr("policy.segments[0].port: 70000 is above 65535"));

  state = GoodState();
  state.mutable_policy()->mutable_segments(0)->set_from_workload("shop/front\nend");
  EXPECT_THAT(Error(state),
              HasSubstr("policy.segments[0].from_workload: contains a control character"));

  state = GoodState();
  (*state.mutable_identities())["shop/db"] = 256;
  EXPECT_THAT(Error(state), HasSubstr("out of its range or given twice"));

  state = GoodState();
  (*state.mutable_identities())["shop/db"] = 1;  // host
  EXPECT_THAT(Error(state), HasSubstr("identities[\"shop/db\"]: 1 is reserved"));

  // A workload's number in the network sets' range, and the reverse; a
  // reserved peer with a number; a mode for something that is not a workload.
  state = GoodState();
  (*state.mutable_identities())["shop/db"] = BH_IDENTITY_FIRST_NETWORK;
  EXPECT_THAT(Error(state), HasSubstr("identities[\"shop/db\"]: 16777216 is reserved, out of"));
  state = GoodState();
  (*state.mutable_identities())["payments-api"] = 300;
  EXPECT_THAT(Error(state), HasSubstr("identities[\"payments-api\"]: 300 is reserved, out of"));
  state = GoodState();
  (*state.mutable_identities())["world"] = BH_IDENTITY_FIRST_NETWORK + 5;
  EXPECT_THAT(Error(state), HasSubstr("identities[\"world\"]"));
  state = GoodState();
  (*state.mutable_modes())["payments-api"] = bulkhead::v1::ENFORCE;
  EXPECT_THAT(Error(state),
              HasSubstr("modes[\"payments-api\"]: \"payments-api\" is not namespace/name"));

  // Held-back candidates are checked like segments (no ids); timelines are
  // workloads' with valid times.
  state = GoodState();
  *state.mutable_held_back()->add_segments() = state.policy().segments(0);
  state.mutable_held_back()->mutable_segments(0)->set_id(0);
  EXPECT_TRUE(ParseAgentState(state.SerializeAsString()).ok()) << Error(state);
  state.mutable_held_back()->mutable_segments(0)->set_port(70000);
  EXPECT_THAT(Error(state), HasSubstr("held_back.segments[0].port: 70000 is above 65535"));
  state = GoodState();
  (*state.mutable_timelines())["world"].mutable_mode_since()->set_seconds(1);
  EXPECT_THAT(Error(state), HasSubstr("timelines[\"world\"]: \"world\" is not namespace/name"));
  state = GoodState();
  (*state.mutable_timelines())["shop/api"].mutable_last_audit()->set_nanos(-1);
  EXPECT_THAT(Error(state), HasSubstr("timelines[\"shop/api\"]: holds an invalid timestamp"));

  // Named peers are fine in segments and identities.
  state = GoodState();
  state.mutable_policy()->mutable_segments(0)->set_to_workload("payments-api");
  (*state.mutable_identities())["payments-api"] = BH_IDENTITY_FIRST_NETWORK;
  EXPECT_TRUE(ParseAgentState(state.SerializeAsString()).ok()) << Error(state);
}

class StateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bulkhead-state-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(StateDirTest, SavedStateLoadsBackAndNoTemporaryFileIsLeft) {
  ASSERT_TRUE(SaveAgentState(dir_ + "/sub", GoodState()).ok());
  auto loaded = LoadAgentState(dir_ + "/sub");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(**loaded, GoodState()));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/sub/state.pb.tmp"));
}

TEST_F(StateDirTest, NoStateFileIsAFreshStartACorruptOneIsAnError) {
  auto none = LoadAgentState(dir_);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  std::ofstream(dir_ + "/state.pb") << "this is not protobuf \xff\xff\xff";
  auto corrupt = LoadAgentState(dir_);
  ASSERT_FALSE(corrupt.ok());
  EXPECT_THAT(std::string(corrupt.status().message()),
              HasSubstr(dir_ + "/state.pb: state file: not a bulkhead state file"));
  EXPECT_THAT(std::string(corrupt.status().message()), HasSubstr("move it aside"));
}

bulkhead::v1::Flow FlowOf(bulkhead::v1::Verdict verdict, int port) {
  bulkhead::v1::Flow flow;
  flow.set_verdict(verdict);
  flow.mutable_destination()->set_port(port);
  return flow;
}

TEST(FlowHistoryTest, AFloodOfForwardedFlowsDoesNotWashOutTheDroppedOnes) {
  FlowHistory history(100);
  history.Add(FlowOf(bulkhead::v1::DROPPED, 1));
  history.Add(FlowOf(bulkhead::v1::AUDIT, 2));
  for (int i = 0; i < 10000; ++i) history.Add(FlowOf(bulkhead::v1::FORWARDED, 1000 + i));
  EXPECT_EQ(history.seen(), 10002u);
  EXPECT_EQ(history.size(), 102u);

  auto all = history.Last(0);
  ASSERT_EQ(all.size(), 102u);
  // Oldest first: the two alerts, then the last 100 forwarded.
  EXPECT_EQ(all[0]->destination().port(), 1u);
  EXPECT_EQ(all[1]->destination().port(), 2u);
  EXPECT_EQ(all[2]->destination().port(), 1000u + 9900u);
  EXPECT_EQ(all.back()->destination().port(), 1000u + 9999u);

  auto last = history.Last(3);
  ASSERT_EQ(last.size(), 3u);
  EXPECT_EQ(last[0]->destination().port(), 1000u + 9997u);
}

TEST(FlowHistoryTest, AFollowerGetsWhatCameAfterItsCursorAndHearsOfWhatItMissed) {
  FlowHistory history(3);
  EXPECT_EQ(history.cursor(), 0u);
  std::uint64_t missed = 99;
  EXPECT_TRUE(history.After(0, &missed).empty());
  EXPECT_EQ(missed, 0u);
  history.Add(FlowOf(bulkhead::v1::FORWARDED, 1));
  history.Add(FlowOf(bulkhead::v1::DROPPED, 2));
  history.Add(FlowOf(bulkhead::v1::FORWARDED, 3));
  const std::uint64_t cursor = history.cursor();
  EXPECT_EQ(cursor, 3u);
  auto after = history.After(1, &missed);
  ASSERT_EQ(after.size(), 2u) << "the flows numbered 2 and 3, in arrival order";
  EXPECT_EQ(after[0]->destination().port(), 2u);
  EXPECT_EQ(after[1]->destination().port(), 3u);
  EXPECT_EQ(missed, 0u);
  EXPECT_TRUE(history.After(cursor, &missed).empty());
  EXPECT_TRUE(history.After(UINT64_MAX, &missed).empty()) << "a cursor from the future";
  EXPECT_EQ(missed, 0u);
  // Four more forwarded flows: the history keeps 3 of that kind, so the
  // follower at `cursor` missed one of them.
  for (int port = 4; port <= 7; ++port) history.Add(FlowOf(bulkhead::v1::FORWARDED, port));
  after = history.After(cursor, &missed);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0]->destination().port(), 5u);
  EXPECT_EQ(missed, 1u);
}

TEST(LogTest, AFloodOfLinesIsHeldBackAndCounted) {
  // Into /dev/null; stderr is restored after.
  int saved = dup(2);
  FILE* sink = std::fopen("/dev/null", "w");
  ASSERT_NE(sink, nullptr);
  dup2(fileno(sink), 2);
  std::uint64_t before = LogLinesSuppressed();
  for (int i = 0; i < 10000; ++i) LogWarning("accept: Too many open files");
  std::uint64_t held = LogLinesSuppressed() - before;
  dup2(saved, 2);
  close(saved);
  std::fclose(sink);
  // At most the burst plus what a second refills got through.
  EXPECT_GE(held, 10000u - kLogBurst - kLogPerSecond);
}

}  // namespace
}  // namespace bulkhead
