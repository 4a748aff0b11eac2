#include "controlplane/learning_guard.h"

#include <algorithm>
#include <set>

#include "controlplane/policy_store.h"

namespace bulkhead {

ScanGuard::Verdict ScanGuard::Check(const SegmentKey& key, absl::Time now) {
  Window& w = sources_[key.from];
  while (!w.learned.empty() && now - w.learned.front().first > limits_.window) {
    auto peer = w.peers.find(w.learned.front().second.to);
    if (--peer->second == 0) w.peers.erase(peer);
    w.learned.pop_front();
  }
  Verdict verdict;
  if (held_.contains(key)) {  // held before: stays held until reviewed
    verdict.hold = true;
    return verdict;
  }
  if (now < w.tripped_until) {
    w.tripped_until = now + limits_.window;  // still exploring: held on
    verdict.hold = true;
    return verdict;
  }
  auto same_peer = w.peers.find(key.to);
  std::size_t peers = w.peers.size() + (same_peer == w.peers.end() ? 1 : 0);
  std::size_t ports = (same_peer == w.peers.end() ? 0 : same_peer->second) + 1;
  if (peers <= limits_.max_new_peers && ports <= limits_.max_new_ports_per_peer &&
      w.learned.size() + 1 <= limits_.max_new_segments) {
    w.learned.emplace_back(now, key);
    ++w.peers[key.to];
    return verdict;
  }
  ++trips_;
  w.tripped_until = now + limits_.window;
  verdict.hold = true;
  for (auto& [when, learned] : w.learned) verdict.take_back.push_back(std::move(learned));
  w.learned.clear();
  w.peers.clear();
  return verdict;
}

bool ScanGuard::Hold(const SegmentKey& key, absl::Time first_seen, absl::Time now,
                     std::uint64_t flows) {
  if (held_.size() >= kMaxHeld && !held_.contains(key)) {
    ++dropped_;
    return false;
  }
  auto [it, inserted] = held_.try_emplace(key, HeldCandidate{first_seen, now, 0});
  it->second.first_seen = std::min(it->second.first_seen, first_seen);
  it->second.last_seen = std::max(it->second.last_seen, now);
  it->second.flows += flows;
  return true;
}

bool ScanGuard::Tripped(const std::string& source, absl::Time now) const {
  auto it = sources_.find(source);
  return it != sources_.end() && now < it->second.tripped_until;
}

std::size_t ScanGuard::HeldFrom(const std::string& source) const {
  return std::count_if(held_.begin(), held_.end(),
                       [&](const auto& entry) { return entry.first.from == source; });
}

void Stability::Track(const std::string& workload, absl::Time now) {
  timelines_.try_emplace(workload, Timeline{.mode_since = now});
}

void Stability::ModeChanged(const std::string& workload, absl::Time now) {
  Track(workload, now);
  timelines_[workload].mode_since = now;
}

void Stability::SegmentLearned(const SegmentKey& key, absl::Time now) {
  for (const std::string& end : {key.from, key.to}) {
    auto it = timelines_.find(end);  // peers outside the workloads have none
    if (it != timelines_.end()) it->second.last_new_segment = now;
  }
}

void Stability::Audited(const std::string& workload, absl::Time now) {
  auto it = timelines_.find(workload);
  if (it != timelines_.end()) it->second.last_audit = now;
}

bool Stability::Stable(const std::string& workload, bh_mode mode, absl::Time now) const {
  const Timeline* t = Of(workload);
  if (!t || mode != BH_MODE_LEARN) return false;
  return now - std::max(t->mode_since, t->last_new_segment) >= options_.stable_after;
}

std::optional<bh_mode> Stability::Promotion(const std::string& workload, bh_mode mode,
                                            absl::Time now) const {
  const Timeline* t = Of(workload);
  if (!t) return std::nullopt;
  if (mode == BH_MODE_LEARN && options_.to_monitor && Stable(workload, mode, now))
    return BH_MODE_MONITOR;
  if (mode == BH_MODE_MONITOR && options_.to_enforce_after > absl::ZeroDuration() &&
      now - std::max(t->mode_since, t->last_audit) >= options_.to_enforce_after)
    return BH_MODE_ENFORCE;
  return std::nullopt;
}

const Timeline* Stability::Of(const std::string& workload) const {
  auto it = timelines_.find(workload);
  return it == timelines_.end() ? nullptr : &it->second;
}

bulkhead::v1::Policy HeldBackPolicy(const ScanGuard& scan) {
  bulkhead::v1::Policy policy;
  for (const auto& [key, held] : scan.held()) {
    bulkhead::v1::Segment* s = policy.add_segments();
    s->set_from_workload(key.from);
    s->set_to_workload(key.to);
    s->set_protocol(static_cast<bulkhead::v1::Protocol>(key.proto));
    s->set_port(key.port);
    s->set_port_end(key.port_end);
    s->set_origin(bulkhead::v1::LEARNED);
    *s->mutable_first_seen() = ToTimestamp(held.first_seen);
    *s->mutable_last_seen() = ToTimestamp(held.last_seen);
    s->set_flows(held.flows);
  }
  return policy;
}

}  // namespace bulkhead
