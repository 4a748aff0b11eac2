// What keeps learning honest once flows are answered, and when a workload
// may move on from learning.
//
// ScanGuard: a source that, while learning, adds segments to more than
// `max_new_peers` distinct peers, more than `max_new_ports_per_peer` ports of
// one peer, or more than `max_new_segments` segments, within `window` (a
// scan, a compromised pod exploring) does not widen the allow-list: the
// candidate that crosses the line and every segment the source learned
// earlier in that window are held back for review, and so is every new
// candidate of that source until a whole window passes without one. A held
// candidate stays held when its flow comes back, later or after a restart:
// only a person's review takes it out. Held-back candidates are exported for
// review (heldBack) and counted in `bulkhead status`; they never reach the
// maps. At most kMaxHeld are kept; past that they are counted, not kept.
//
// Stability: per workload, when its mode last changed, when it last gained
// a new segment (as either end), and when it was last audited while
// monitoring. A learning workload is stable once no new segment appeared
// for `stable_after`. Optional promotion: learn -> monitor once stable;
// monitor -> enforce after `to_enforce_after` without an audit verdict.
//
// Pure: time comes in as arguments. Not thread-safe; lives on the agent's
// event loop.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controlplane/segment.h"
#include "datapath/abi.h"
#include "proto/policy.pb.h"

namespace bulkhead {

struct ScanLimits {
  absl::Duration window = absl::Seconds(60);
  std::size_t max_new_peers = 20;
  std::size_t max_new_segments = 50;
  // Ports faster than this on one peer are a scan, not a port range to
  // collapse (PolicyStore collapses ports learned at a slower pace).
  std::size_t max_new_ports_per_peer = 20;
};

struct HeldCandidate {
  absl::Time first_seen;
  absl::Time last_seen;
  std::uint64_t flows = 0;
};

class ScanGuard {
 public:
  explicit ScanGuard(ScanLimits limits) : limits_(limits) {}

  struct Verdict {
    bool hold = false;
    // Segments the source learned earlier in the window: to be taken back
    // from the policy and held (set when this candidate tripped the guard).
    std::vector<SegmentKey> take_back;
  };
  // A candidate segment new to the policy, from key.from, at `now`.
  Verdict Check(const SegmentKey& key, absl::Time now);

  static constexpr std::size_t kMaxHeld = 16384;

  // Records a held-back candidate (a flow seen on it). False when it is new
  // and kMaxHeld are kept already (counted in dropped()).
  bool Hold(const SegmentKey& key, absl::Time first_seen, absl::Time now, std::uint64_t flows = 1);
  std::uint64_t dropped() const { return dropped_; }
  // A person reviewed it (took it into the policy, or out for good).
  void Release(const SegmentKey& key) { held_.erase(key); }
  // Whether `source` is held back now (tripped within the last window).
  bool Tripped(const std::string& source, absl::Time now) const;

  const std::map<SegmentKey, HeldCandidate>& held() const { return held_; }
  std::size_t HeldFrom(const std::string& source) const;
  std::uint64_t trips() const { return trips_; }

 private:
  struct Window {
    std::deque<std::pair<absl::Time, SegmentKey>> learned;  // oldest first
    std::map<std::string, std::size_t> peers;               // of `learned`: peer -> segments
    absl::Time tripped_until = absl::InfinitePast();
  };
  ScanLimits limits_;
  std::map<std::string, Window> sources_;
  std::map<SegmentKey, HeldCandidate> held_;
  std::uint64_t trips_ = 0;
  std::uint64_t dropped_ = 0;
};

// The held-back candidates as segments (id 0: not in force), for the export
// and the state file.
bulkhead::v1::Policy HeldBackPolicy(const ScanGuard& scan);

struct PromotionOptions {
  absl::Duration stable_after = absl::Hours(1);
  bool to_monitor = false;                                 // learn -> monitor once stable
  absl::Duration to_enforce_after = absl::ZeroDuration();  // 0: never monitor -> enforce
};

struct Timeline {
  absl::Time mode_since;
  absl::Time last_new_segment = absl::InfinitePast();
  absl::Time last_audit = absl::InfinitePast();
};

class Stability {
 public:
  explicit Stability(PromotionOptions options) : options_(options) {}

  // Starts a workload's timeline (its mode since `now`) unless it has one.
  void Track(const std::string& workload, absl::Time now);
  void ModeChanged(const std::string& workload, absl::Time now);
  // A new segment: both ends (the workloads among them) are not stable.
  void SegmentLearned(const SegmentKey& key, absl::Time now);
  // An audit verdict decided for this workload while it monitors.
  void Audited(const std::string& workload, absl::Time now);

  bool Stable(const std::string& workload, bh_mode mode, absl::Time now) const;
  // The mode the workload should be promoted to now, if any.
  std::optional<bh_mode> Promotion(const std::string& workload, bh_mode mode, absl::Time now) const;

  const Timeline* Of(const std::string& workload) const;
  const std::map<std::string, Timeline>& timelines() const { return timelines_; }
  void Restore(const std::string& workload, const Timeline& timeline) {
    timelines_[workload] = timeline;
  }

 private:
  PromotionOptions options_;
  std::map<std::string, Timeline> timelines_;
};

}  // namespace bulkhead
