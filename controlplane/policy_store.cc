#include "controlplane/policy_store.h"

#include <algorithm>

#include "google/protobuf/util/time_util.h"

namespace bulkhead {

using google::protobuf::util::TimeUtil;

bulkhead::v1::Protocol ProtocolToProto(std::uint8_t proto) {
  return static_cast<bulkhead::v1::Protocol>(proto);
}

std::uint8_t ProtocolFromProto(bulkhead::v1::Protocol proto) {
  return static_cast<std::uint8_t>(proto);
}

SegmentKey KeyOf(const bulkhead::v1::Segment& segment) {
  return SegmentKey{.from = segment.from_workload(),
                    .to = segment.to_workload(),
                    .proto = ProtocolFromProto(segment.protocol()),
                    .port = static_cast<std::uint16_t>(segment.port())};
}

bool PolicyStore::Learn(const SegmentKey& key, absl::Time now) {
  auto stamp = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  auto [it, inserted] = segments_.try_emplace(key);
  bulkhead::v1::Segment& segment = it->second;
  if (inserted) {
    segment.set_id(next_id_++);
    segment.set_from_workload(key.from);
    segment.set_to_workload(key.to);
    segment.set_protocol(ProtocolToProto(key.proto));
    segment.set_port(key.port);
    segment.set_origin(bulkhead::v1::LEARNED);
    *segment.mutable_first_seen() = stamp;
    by_id_[segment.id()] = &segment;
  }
  *segment.mutable_last_seen() = stamp;
  segment.set_flows(segment.flows() + 1);
  return inserted;
}

void PolicyStore::RecordFlow(std::uint32_t id, absl::Time now) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  *it->second->mutable_last_seen() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
  it->second->set_flows(it->second->flows() + 1);
}

bulkhead::v1::Policy PolicyStore::Snapshot() const {
  bulkhead::v1::Policy policy;
  for (const auto& [key, segment] : segments_) *policy.add_segments() = segment;
  return policy;
}

void PolicyStore::Restore(const bulkhead::v1::Policy& policy) {
  segments_.clear();
  by_id_.clear();
  next_id_ = 1;
  for (bulkhead::v1::Segment segment : policy.segments()) {
    // State from before segments carried the ICMP type stored echo as 0.
    if (segment.protocol() == bulkhead::v1::ICMP && segment.port() == 0) segment.set_port(8);
    bulkhead::v1::Segment& stored = segments_[KeyOf(segment)];
    stored = segment;
    by_id_[stored.id()] = &stored;
    next_id_ = std::max(next_id_, segment.id() + 1);
  }
}

}  // namespace bulkhead
