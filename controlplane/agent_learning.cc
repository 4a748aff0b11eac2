// Learning in the agent: flow events in, segments learned or held back,
// candidates waiting for their answer, and promotion from one mode to the
// next (learner.h, answered.h, learning_guard.h have the rules).
#include <arpa/inet.h>

#include <ctime>
#include <set>

#include "absl/strings/str_cat.h"
#include "api/policy_document.h"
#include "controlplane/agent.h"
#include "controlplane/log.h"

namespace bulkhead {

void Agent::OnFlowEvent(const bh_flow_event& event) {
  bulkhead::v1::Flow flow = FlowFromEvent(
      event, identities_, datapath_->InterfaceName(static_cast<int>(event.ifindex)), clock_);
  if (event.reason == BH_REASON_GUARDRAIL) {
    // The event carries the guardrail's id where a segment's would be.
    flow.set_guardrail(guardrails_.RecordDrop(event.segment_id));
    flow.set_segment_id(0);
  } else if (event.segment_id == BH_SEGMENT_HOST_TO_WORKLOAD) {
    flow.set_segment("host -> any workload (bulkheadd --allow-host-to-workloads)");
  } else if (const bulkhead::v1::Segment* s = store_.SegmentById(event.segment_id)) {
    flow.set_segment(DescribeSegment(*s));
  }
  flow.set_node(node_name_);
  absl::Time now = absl::Now();
  if (event.verdict == BH_VERDICT_AUDIT && event.mode == BH_MODE_MONITOR) {
    // The workload whose hook decided: it saw a flow outside its policy.
    std::uint32_t decided =
        event.hook == BH_HOOK_FROM_ENDPOINT ? event.src_identity : event.dst_identity;
    stability_.Audited(identities_.NameOf(decided), now);
  }
  std::optional<SegmentKey> learned = learner_.Observe(event);
  if (learned && scan_.Tripped(learned->from, now)) flow.set_held_back(true);
  if (flow_log_) flow_log_->Write(flow);
  CountRefused(flow, now);
  history_.Add(std::move(flow));
  if (api_) api_->NotifyFlows();
  CountFlow(event);

  if (event.verdict == BH_VERDICT_FORWARDED) store_.RecordFlow(event.segment_id, now);
  if (!learned) return;
  // A new segment only from a flow the server answered (answered.h).
  if (!store_.Contains(*learned) && AnsweredFilter::NeedsAnswer(event)) {
    answered_->Add(*learned, event, absl::Now());
    ScheduleAnswerCheck();
    return;
  }
  Learn(*learned);
}

void Agent::Learn(const SegmentKey& key) {
  if (!store_.Contains(key) && store_.size() >= options_.map_sizes.policy) {
    if (policy_full_++ % 1000 == 0)
      LogWarning(absl::StrCat("not learning ", ToString(key), ": the policy map is full (",
                              options_.map_sizes.policy, " segments; --policy-max)"));
    return;
  }
  absl::Time now = absl::Now();
  if (store_.Contains(key)) {
    store_.Learn(key, now);  // a flow seen on a segment it has: never a change
    return;
  }
  LearnOrHold(key, now);
}

void Agent::LearnOrHold(const SegmentKey& key, absl::Time now) {
  ScanGuard::Verdict verdict = scan_.Check(key, now);
  if (!verdict.hold) {
    if (store_.Learn(key, now)) {
      LogInfo(absl::StrCat("learned segment ", ToString(key)));
      stability_.SegmentLearned(key, now);
      policy_dirty_ = true;
      ScheduleCompile();
    }
    return;
  }
  // The source explores: what it taught in this window waits for review.
  for (const SegmentKey& earlier : verdict.take_back) {
    std::optional<bulkhead::v1::Segment> removed = store_.RemoveLearned(earlier);
    if (!removed) continue;  // collapsed into a range, or reviewed, meanwhile: stays
    scan_.Hold(earlier, FromTimestamp(removed->first_seen()), now, removed->flows());
    policy_dirty_ = true;
  }
  scan_.Hold(key, now, now);
  if (!verdict.take_back.empty() || policy_dirty_) ScheduleCompile();
  if (!verdict.take_back.empty())
    LogWarning(absl::StrCat(
        "holding back what ", key.from, " teaches: it reached more than ",
        options_.scan_limits.max_new_peers, " new peers or ", options_.scan_limits.max_new_segments,
        " new segments within ", absl::FormatDuration(options_.scan_limits.window), " (a scan?); ",
        verdict.take_back.size() + 1,
        " candidates so far, for review in `bulkhead policy export` (heldBack)"));
}

void Agent::SchedulePromotionCheck() {
  promotion_timer_.expires_after(std::chrono::seconds(1));
  promotion_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    PromoteDue();
    SchedulePromotionCheck();
  });
}

// Monitoring workloads with a flow alive in conntrack that no segment
// admits: enforcing now would break it, so they are audited now. An audit
// event is sent once per flow, so a pooled connection outside the policy
// that keeps going would otherwise look clean. The flow is judged as the
// hooks would judge its opener: identities from the ipcache (exact, then
// prefixes), then an exact or range segment, or the node's allowance.
void Agent::NoteLiveAudits(absl::Time now) {
  timespec mono{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &mono);  // the programs' clock
  const std::uint64_t now_ns =
      static_cast<std::uint64_t>(mono.tv_sec) * 1000000000ull + mono.tv_nsec;
  auto identity_of = [&](const bh_addr& addr) -> std::uint32_t {
    auto exact = maps_->installed().ipcache->find(addr);
    if (exact != maps_->installed().ipcache->end()) return exact->second;
    auto prefix =
        datapath_->ipcache_prefixes().Lookup(IpcachePrefix(addr, IsIpv4(addr) ? 32 : 128));
    return prefix.ok() && prefix->has_value() ? (*prefix)->identity : BH_IDENTITY_WORLD;
  };
  auto admitted = [&](std::uint32_t src, std::uint32_t dst, std::uint8_t proto,
                      std::uint16_t port_be) {
    if (maps_->installed().policy->contains(PolicyKey(src, dst, proto, ntohs(port_be))))
      return true;
    bh_policy_lpm_key range = PortRangeKeys(src, dst, proto, ntohs(port_be), ntohs(port_be))[0];
    auto in_range = datapath_->policy_ranges().Lookup(range);
    if (in_range.ok() && in_range->has_value()) return true;
    return src == BH_IDENTITY_HOST && bh_is_workload_identity(dst) &&
           options_.datapath_config.allow_host_to_workloads;
  };
  std::set<std::uint32_t> audited;
  auto note = [&](const bh_ct_key& key, const bh_ct_entry& entry) {
    if (entry.expires_ns <= now_ns) return;
    int opener = (entry.flags & BH_CT_OPENER_IS_1) ? 1 : 0;
    std::uint32_t src = identity_of(key.addr[opener]);
    std::uint32_t dst = identity_of(key.addr[1 - opener]);
    if (admitted(src, dst, key.proto, entry.policy_port_be)) return;
    for (std::uint32_t identity : {src, dst})
      if (bh_is_workload_identity(identity) && ModeOf(identity) == BH_MODE_MONITOR)
        audited.insert(identity);
  };
  for (auto* table : {&datapath_->conntrack(), &datapath_->conntrack_new()})
    if (absl::Status s = table->ForEach(note); !s.ok()) LogWarning(s.message());
  for (std::uint32_t identity : audited) stability_.Audited(identities_.NameOf(identity), now);
}

void Agent::PromoteDue() {
  absl::Time now = absl::Now();
  // Events still queued may hold an audit verdict: read them first.
  if (absl::Status drained = events_->Drain().status(); !drained.ok())
    LogWarning(drained.message());
  bool live_audits_checked = false;
  for (const auto& [identity, workload] : identities_.workloads()) {
    bh_mode mode = ModeOf(identity);
    std::optional<bh_mode> next = stability_.Promotion(workload.id(), mode, now);
    if (next == BH_MODE_ENFORCE && !live_audits_checked) {
      NoteLiveAudits(now);
      live_audits_checked = true;
      next = stability_.Promotion(workload.id(), mode, now);
    }
    if (!next) continue;
    bulkhead::v1::SetModeRequest request;
    request.set_workload(workload.id());
    request.set_mode(static_cast<bulkhead::v1::Mode>(*next));
    auto changed = SetModes(request, events_->Drain().status());
    if (!changed.ok()) {
      LogError(absl::StrCat("promotion of ", workload.id(), " to ", ModeName(*next),
                            " failed: ", changed.status().message()));
      stability_.ModeChanged(workload.id(), now);  // try again after a full period
      continue;
    }
    LogInfo(absl::StrCat(
        "promoted ", workload.id(), " from ", ModeName(mode), " to ", ModeName(*next),
        *next == BH_MODE_MONITOR
            ? absl::StrCat(": no new segment for ",
                           absl::FormatDuration(options_.promotion.stable_after))
            : absl::StrCat(": no audit verdict for ",
                           absl::FormatDuration(options_.promotion.to_enforce_after))));
  }
}

void Agent::LearnAnswered() {
  for (const AnsweredFilter::Answered& a : answered_->TakeAnswered(absl::Now()))
    if (learner_.BothLearning(a.src_identity, a.dst_identity)) Learn(a.key);
}

// While candidates wait, conntrack is read for their answers every 100 ms.
void Agent::ScheduleAnswerCheck() {
  if (answer_check_scheduled_) return;
  answer_check_scheduled_ = true;
  answer_timer_.expires_after(std::chrono::milliseconds(100));
  answer_timer_.async_wait([this](const boost::system::error_code& ec) {
    answer_check_scheduled_ = false;
    if (ec) return;
    LearnAnswered();
    if (answered_->waiting() > 0) ScheduleAnswerCheck();
  });
}

}  // namespace bulkhead
