#include "controlplane/answered.h"

#include <netinet/in.h>

namespace bulkhead {

bool AnsweredFilter::NeedsAnswer(const bh_flow_event& event) {
  return !(event.proto == IPPROTO_TCP && (event.flags & BH_FLOW_MID_STREAM));
}

void AnsweredFilter::Add(const SegmentKey& key, const bh_flow_event& event, absl::Time now) {
  if (waiting_.size() >= capacity_) {
    ++counters_.overflow;
    return;
  }
  bool icmp = event.proto == IPPROTO_ICMP || event.proto == IPPROTO_ICMPV6;
  // ICMP echo: the event's destination port is the type; conntrack keys
  // the identifier against 0.
  bh_ct_key flow =
      CtKey(event.saddr, event.daddr, event.sport_be, icmp ? 0 : event.dport_be, event.proto);
  waiting_.push_back({key, flow, now});
}

std::vector<SegmentKey> AnsweredFilter::TakeAnswered(absl::Time now) {
  std::vector<SegmentKey> answered;
  std::deque<Candidate> still;
  for (Candidate& c : waiting_) {
    auto entry = confirmed_.Lookup(c.flow);
    if (entry.ok() && entry->has_value())
      answered.push_back(std::move(c.key));
    else if (now - c.since >= give_up_after_)
      ++counters_.unanswered;
    else
      still.push_back(std::move(c));
  }
  waiting_ = std::move(still);
  return answered;
}

}  // namespace bulkhead
