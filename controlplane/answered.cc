#include "controlplane/answered.h"

#include <netinet/in.h>

namespace bulkhead {

bool AnsweredFilter::NeedsAnswer(const bh_flow_event& event) {
  return !(event.proto == IPPROTO_TCP && (event.flags & BH_FLOW_MID_STREAM));
}

void AnsweredFilter::Add(const SegmentKey& key, const bh_flow_event& event, absl::Time now) {
  if (waiting_keys_.contains(key)) return;  // the first to be answered teaches it
  std::size_t& from_source = per_source_waiting_[event.src_identity];
  if (waiting_.size() >= capacity_ || from_source >= per_source_) {
    if (from_source == 0) per_source_waiting_.erase(event.src_identity);
    ++counters_.overflow;
    return;
  }
  bool icmp = event.proto == IPPROTO_ICMP || event.proto == IPPROTO_ICMPV6;
  // ICMP echo: the event's destination port is the type; conntrack keys
  // the identifier against 0.
  bh_ct_key flow =
      CtKey(event.saddr, event.daddr, event.sport_be, icmp ? 0 : event.dport_be, event.proto);
  ++from_source;
  ++waiting_keys_[key];
  waiting_.push_back({{key, event.src_identity, event.dst_identity}, flow, now});
}

void AnsweredFilter::Forget(const Candidate& c) {
  if (--waiting_keys_[c.segment.key] == 0) waiting_keys_.erase(c.segment.key);
  auto source = per_source_waiting_.find(c.segment.src_identity);
  if (source != per_source_waiting_.end() && --source->second == 0)
    per_source_waiting_.erase(source);
}

std::vector<AnsweredFilter::Answered> AnsweredFilter::TakeAnswered(absl::Time now) {
  std::vector<Answered> answered;
  std::deque<Candidate> still;
  for (Candidate& c : waiting_) {
    auto entry = confirmed_.Lookup(c.flow);
    if (entry.ok() && entry->has_value()) {
      Forget(c);
      answered.push_back(std::move(c.segment));
    } else if (now - c.since >= give_up_after_) {
      Forget(c);
      ++counters_.unanswered;
    } else {
      still.push_back(std::move(c));
    }
  }
  waiting_ = std::move(still);
  return answered;
}

}  // namespace bulkhead
