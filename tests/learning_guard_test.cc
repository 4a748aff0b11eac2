// The scan guard and stability/promotion rules, on a clock the test moves.
#include "controlplane/learning_guard.h"

#include <netinet/in.h>

#include "gtest/gtest.h"

namespace bulkhead {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

SegmentKey Seg(const std::string& from, const std::string& to, std::uint16_t port) {
  return {from, to, IPPROTO_TCP, port};
}

TEST(ScanGuardTest, ASourceReachingTooManyNewPeersIsHeldBackWithWhatItLearnedInTheWindow) {
  ScanGuard guard({.window = absl::Seconds(60), .max_new_peers = 3, .max_new_segments = 100});
  for (int i = 0; i < 3; ++i) {
    auto verdict = guard.Check(Seg("shop/probe", "shop/w" + std::to_string(i), 80), kStart);
    EXPECT_FALSE(verdict.hold) << i;
  }
  // A 4th new peer within the minute: held, and the three before it too.
  auto verdict = guard.Check(Seg("shop/probe", "shop/w3", 80), kStart + absl::Seconds(10));
  EXPECT_TRUE(verdict.hold);
  EXPECT_EQ(verdict.take_back.size(), 3u);
  EXPECT_TRUE(guard.Tripped("shop/probe", kStart + absl::Seconds(10)));
  // Still exploring: held, whatever the count; others are not affected.
  EXPECT_TRUE(guard.Check(Seg("shop/probe", "shop/w0", 443), kStart + absl::Seconds(30)).hold);
  EXPECT_FALSE(guard.Check(Seg("shop/api", "shop/db", 5432), kStart + absl::Seconds(30)).hold);
  EXPECT_EQ(guard.trips(), 1u);
  // A full window without a candidate: it learns again.
  EXPECT_FALSE(guard.Tripped("shop/probe", kStart + absl::Seconds(91)));
  EXPECT_FALSE(guard.Check(Seg("shop/probe", "shop/w9", 80), kStart + absl::Seconds(91)).hold);
}

TEST(ScanGuardTest, ManyPortsOnOnePeerCountAsSegmentsAndOldOnesLeaveTheWindow) {
  ScanGuard guard({.window = absl::Seconds(60), .max_new_peers = 100, .max_new_segments = 5});
  for (std::uint16_t port = 1; port <= 5; ++port)  // at 0, 10, ..., 40 s
    EXPECT_FALSE(
        guard.Check(Seg("a/x", "a/y", port), kStart + absl::Seconds((port - 1) * 10)).hold);
  // Port 1 was learned more than 60 s ago: 4 in the window, a 5th fits...
  EXPECT_FALSE(guard.Check(Seg("a/x", "a/y", 6), kStart + absl::Seconds(61)).hold);
  // ... a 6th does not.
  EXPECT_TRUE(guard.Check(Seg("a/x", "a/y", 7), kStart + absl::Seconds(62)).hold);
}

TEST(ScanGuardTest, AHeldCandidateStaysHeldWhenItsFlowComesBackLater) {
  ScanGuard guard({.window = absl::Seconds(60), .max_new_peers = 1, .max_new_segments = 100});
  EXPECT_FALSE(guard.Check(Seg("a/x", "a/y", 80), kStart).hold);
  auto verdict = guard.Check(Seg("a/x", "a/z", 80), kStart);
  ASSERT_TRUE(verdict.hold);
  guard.Hold(Seg("a/x", "a/z", 80), kStart, kStart);
  // An hour later the source is quiet, but that candidate is still held
  // (a restart restores held candidates the same way, through Hold).
  EXPECT_FALSE(guard.Tripped("a/x", kStart + absl::Hours(1)));
  EXPECT_TRUE(guard.Check(Seg("a/x", "a/z", 80), kStart + absl::Hours(1)).hold);
}

TEST(ScanGuardTest, ManyPortsOfOnePeerFastAreAScanNotARange) {
  ScanGuard guard({.window = absl::Seconds(60),
                   .max_new_peers = 100,
                   .max_new_segments = 100,
                   .max_new_ports_per_peer = 3});
  for (std::uint16_t port = 1; port <= 3; ++port)
    EXPECT_FALSE(guard.Check(Seg("a/x", "a/y", port), kStart).hold);
  EXPECT_TRUE(guard.Check(Seg("a/x", "a/y", 4), kStart).hold);
}

TEST(ScanGuardTest, HeldCandidatesAreBounded) {
  ScanGuard guard({});
  for (std::size_t i = 0; i < ScanGuard::kMaxHeld; ++i)
    ASSERT_TRUE(guard.Hold(Seg("a/x", "w/" + std::to_string(i), 80), kStart, kStart));
  EXPECT_FALSE(guard.Hold(Seg("a/x", "a/one-more", 80), kStart, kStart));
  EXPECT_TRUE(guard.Hold(Seg("a/x", "w/0", 80), kStart, kStart));  // a known one still counts
  EXPECT_EQ(guard.dropped(), 1u);
  EXPECT_EQ(guard.held().size(), ScanGuard::kMaxHeld);
}

TEST(ScanGuardTest, HeldCandidatesAreCountedPerSourceAndKeepTheirFlows) {
  ScanGuard guard({});
  guard.Hold(Seg("a/x", "a/y", 80), kStart, kStart, 3);
  guard.Hold(Seg("a/x", "a/y", 80), kStart + absl::Seconds(1), kStart + absl::Seconds(5));
  guard.Hold(Seg("a/x", "a/z", 80), kStart, kStart);
  EXPECT_EQ(guard.HeldFrom("a/x"), 2u);
  EXPECT_EQ(guard.HeldFrom("a/y"), 0u);
  const HeldCandidate& held = guard.held().at(Seg("a/x", "a/y", 80));
  EXPECT_EQ(held.flows, 4u);
  EXPECT_EQ(held.first_seen, kStart);
  EXPECT_EQ(held.last_seen, kStart + absl::Seconds(5));
}

TEST(StabilityTest, StableAfterAQuietWindowThenPromotedStepByStep) {
  Stability stability({.stable_after = absl::Minutes(10),
                       .to_monitor = true,
                       .to_enforce_after = absl::Minutes(30)});
  stability.Track("shop/api", kStart);
  stability.Track("shop/db", kStart);
  EXPECT_FALSE(stability.Stable("shop/api", BH_MODE_LEARN, kStart + absl::Minutes(9)));
  // A new segment (either end) restarts the quiet window of both workloads.
  stability.SegmentLearned({"shop/api", "shop/db", IPPROTO_TCP, 5432}, kStart + absl::Minutes(5));
  EXPECT_FALSE(stability.Stable("shop/db", BH_MODE_LEARN, kStart + absl::Minutes(14)));
  EXPECT_TRUE(stability.Stable("shop/db", BH_MODE_LEARN, kStart + absl::Minutes(15)));
  EXPECT_EQ(stability.Promotion("shop/api", BH_MODE_LEARN, kStart + absl::Minutes(15)),
            BH_MODE_MONITOR);
  // Peers outside the workloads have no timeline; nothing breaks.
  stability.SegmentLearned({"shop/api", "world", IPPROTO_TCP, 443}, kStart + absl::Minutes(15));

  absl::Time monitor = kStart + absl::Minutes(16);
  stability.ModeChanged("shop/api", monitor);
  EXPECT_FALSE(stability.Stable("shop/api", BH_MODE_MONITOR, monitor + absl::Hours(1)));
  EXPECT_EQ(stability.Promotion("shop/api", BH_MODE_MONITOR, monitor + absl::Minutes(29)),
            std::nullopt);
  // An audit verdict restarts the clean period.
  stability.Audited("shop/api", monitor + absl::Minutes(20));
  EXPECT_EQ(stability.Promotion("shop/api", BH_MODE_MONITOR, monitor + absl::Minutes(49)),
            std::nullopt);
  EXPECT_EQ(stability.Promotion("shop/api", BH_MODE_MONITOR, monitor + absl::Minutes(50)),
            BH_MODE_ENFORCE);
  EXPECT_EQ(stability.Promotion("shop/api", BH_MODE_ENFORCE, monitor + absl::Hours(9)),
            std::nullopt);
}

TEST(StabilityTest, NoPromotionUnlessAskedFor) {
  Stability stability({.stable_after = absl::Minutes(1)});
  stability.Track("a/x", kStart);
  EXPECT_TRUE(stability.Stable("a/x", BH_MODE_LEARN, kStart + absl::Hours(1)));
  EXPECT_EQ(stability.Promotion("a/x", BH_MODE_LEARN, kStart + absl::Hours(1)), std::nullopt);
  EXPECT_EQ(stability.Promotion("a/x", BH_MODE_MONITOR, kStart + absl::Hours(1)), std::nullopt);
}

}  // namespace
}  // namespace bulkhead
