#include "controlplane/flow_history.h"

#include <algorithm>

namespace bulkhead {

void FlowHistory::Add(bulkhead::v1::Flow flow) {
  bool forwarded = flow.verdict() == bulkhead::v1::FORWARDED;
  std::deque<Entry>& kind = forwarded ? forwarded_ : alerts_;
  kind.emplace_back(++seen_, std::move(flow));
  while (kind.size() > capacity_) kind.pop_front();
}

std::vector<const bulkhead::v1::Flow*> FlowHistory::Last(std::size_t last) const {
  std::vector<const bulkhead::v1::Flow*> flows;
  std::size_t total = forwarded_.size() + alerts_.size();
  std::size_t wanted = last == 0 || last > total ? total : last;
  flows.reserve(wanted);
  // Walk both from the newest, taking the later of the two each time.
  auto f = forwarded_.rbegin();
  auto a = alerts_.rbegin();
  while (flows.size() < wanted) {
    bool take_forwarded = a == alerts_.rend() || (f != forwarded_.rend() && f->first > a->first);
    flows.push_back(take_forwarded ? &(f++)->second : &(a++)->second);
  }
  return {flows.rbegin(), flows.rend()};
}

std::vector<const bulkhead::v1::Flow*> FlowHistory::After(std::uint64_t cursor,
                                                          std::uint64_t* missed) const {
  std::vector<const bulkhead::v1::Flow*> flows;
  auto newer = [&](const std::deque<Entry>& kind) {
    return std::upper_bound(kind.begin(), kind.end(), cursor,
                            [](std::uint64_t c, const Entry& e) { return c < e.first; });
  };
  auto f = newer(forwarded_);
  auto a = newer(alerts_);
  while (f != forwarded_.end() || a != alerts_.end()) {
    bool take_forwarded = a == alerts_.end() || (f != forwarded_.end() && f->first < a->first);
    flows.push_back(take_forwarded ? &(f++)->second : &(a++)->second);
  }
  *missed = cursor >= seen_ ? 0 : seen_ - cursor - flows.size();
  return flows;
}

}  // namespace bulkhead
