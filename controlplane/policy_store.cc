#include "controlplane/policy_store.h"

#include <netinet/in.h>

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

google::protobuf::Timestamp ToTimestamp(absl::Time time) {
  return TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(time));
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& timestamp) {
  return absl::FromUnixNanos(TimeUtil::TimestampToNanoseconds(timestamp));
}

SegmentKey KeyOf(const bulkhead::v1::Segment& segment) {
  return SegmentKey{.from = segment.from_workload(),
                    .to = segment.to_workload(),
                    .proto = ProtocolFromProto(segment.protocol()),
                    .port = static_cast<std::uint16_t>(segment.port()),
                    .port_end = static_cast<std::uint16_t>(segment.port_end())};
}

namespace {

bool HasPorts(std::uint8_t proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

}  // namespace

std::vector<std::map<SegmentKey, bulkhead::v1::Segment>::iterator> PolicyStore::LearnedTriple(
    const SegmentKey& key) {
  std::vector<std::map<SegmentKey, bulkhead::v1::Segment>::iterator> out;
  SegmentKey first{.from = key.from, .to = key.to, .proto = key.proto};
  for (auto it = segments_.lower_bound(first); it != segments_.end(); ++it) {
    if (it->first.from != key.from || it->first.to != key.to || it->first.proto != key.proto) break;
    if (it->second.origin() == bulkhead::v1::LEARNED) out.push_back(it);
  }
  return out;
}

namespace {

// One walk for both: the exact key, or the range of its triple covering its
// port. Keys sort by port, so nothing past the port can cover it.
template <typename Map>
auto FindIn(Map& segments, const SegmentKey& key) -> decltype(segments.end()) {
  SegmentKey first{.from = key.from, .to = key.to, .proto = key.proto};
  for (auto it = segments.lower_bound(first); it != segments.end(); ++it) {
    if (it->first.from != key.from || it->first.to != key.to || it->first.proto != key.proto) break;
    if (it->first == key) return it;
    if (it->first.port > key.port) break;
    if (!key.is_range() && it->first.Covers(key.port)) return it;
  }
  return segments.end();
}

}  // namespace

std::map<SegmentKey, bulkhead::v1::Segment>::iterator PolicyStore::Find(const SegmentKey& key) {
  return FindIn(segments_, key);
}

std::map<SegmentKey, bulkhead::v1::Segment>::const_iterator PolicyStore::Find(
    const SegmentKey& key) const {
  return FindIn(segments_, key);
}

bool PolicyStore::Contains(const SegmentKey& key) const { return Find(key) != segments_.end(); }

// Replaces the learned segments of key's (from, to, proto) with one range;
// a reviewed segment is a person's decision and stays as written.
void PolicyStore::Collapse(const SegmentKey& key, absl::Time now) {
  auto members = LearnedTriple(key);
  std::uint32_t lo = 65535, hi = 0, collapsed = 0, id = 0;
  std::uint64_t flows = 0;
  google::protobuf::Timestamp first_seen = members.front()->second.first_seen();
  for (auto it : members) {
    const bulkhead::v1::Segment& s = it->second;
    lo = std::min<std::uint32_t>(lo, s.port());
    hi = std::max<std::uint32_t>(hi, it->first.is_range() ? s.port_end() : s.port());
    collapsed += it->first.is_range() ? s.collapsed_ports() : 1;
    flows += s.flows();
    if (FromTimestamp(s.first_seen()) < FromTimestamp(first_seen)) first_seen = s.first_seen();
    if (it->first.is_range()) id = s.id();  // a widened range keeps its id
  }
  if (hi - lo + 1 > kMaxCollapsedRange) lo = 0, hi = 65535;
  for (auto it : members) {
    by_id_.erase(it->second.id());
    segments_.erase(it);
  }
  SegmentKey range{.from = key.from,
                   .to = key.to,
                   .proto = key.proto,
                   .port = static_cast<std::uint16_t>(lo),
                   .port_end = static_cast<std::uint16_t>(hi)};
  bulkhead::v1::Segment& segment = segments_[range];
  segment.set_id(id != 0 ? id : next_id_++);
  segment.set_from_workload(key.from);
  segment.set_to_workload(key.to);
  segment.set_protocol(ProtocolToProto(key.proto));
  segment.set_port(lo);
  segment.set_port_end(hi);
  segment.set_collapsed_ports(collapsed);
  segment.set_origin(bulkhead::v1::LEARNED);
  *segment.mutable_first_seen() = first_seen;
  *segment.mutable_last_seen() = ToTimestamp(now);
  segment.set_flows(flows);
  by_id_[segment.id()] = &segment;
}

bool PolicyStore::Learn(const SegmentKey& key, absl::Time now) {
  auto stamp = ToTimestamp(now);
  // A segment that admits the port already: a flow seen on it.
  if (auto found = Find(key); found != segments_.end()) {
    *found->second.mutable_last_seen() = stamp;
    found->second.set_flows(found->second.flows() + 1);
    return false;
  }
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
  // Only between two workloads ("namespace/name"): towards world, private,
  // the node or a network set, every port stays a segment of its own.
  bool workloads = key.from.find('/') != std::string::npos && key.to.find('/') != std::string::npos;
  if (inserted && collapse_after_ > 0 && HasPorts(key.proto) && workloads) {
    auto members = LearnedTriple(key);
    bool has_range = std::any_of(members.begin(), members.end(),
                                 [](const auto& it) { return it->first.is_range(); });
    if (has_range || members.size() > collapse_after_) Collapse(key, now);
  }
  return inserted;
}

std::optional<bulkhead::v1::Segment> PolicyStore::RemoveLearned(const SegmentKey& key) {
  auto it = segments_.find(key);
  if (it == segments_.end() || it->second.origin() != bulkhead::v1::LEARNED) return std::nullopt;
  bulkhead::v1::Segment segment = std::move(it->second);
  by_id_.erase(segment.id());
  segments_.erase(it);
  return segment;
}

void PolicyStore::RecordFlow(std::uint32_t id, absl::Time now) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return;
  *it->second->mutable_last_seen() = ToTimestamp(now);
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

bulkhead::v1::Policy PolicyStore::Plan(
    const std::vector<bulkhead::v1::Segment>& desired,
    const std::function<bool(const SegmentKey&)>& decides) const {
  bulkhead::v1::Policy plan;
  for (const auto& [key, segment] : segments_)
    if (!decides(key)) *plan.add_segments() = segment;
  std::uint32_t next_id = next_id_;
  for (const bulkhead::v1::Segment& wanted : desired) {
    bulkhead::v1::Segment* s = plan.add_segments();
    *s = wanted;
    auto existing = segments_.find(KeyOf(wanted));
    if (existing == segments_.end()) {
      s->set_id(next_id++);
      continue;
    }
    const bulkhead::v1::Segment& seen = existing->second;
    s->set_id(seen.id());
    if (seen.has_first_seen()) *s->mutable_first_seen() = seen.first_seen();
    if (seen.has_last_seen()) *s->mutable_last_seen() = seen.last_seen();
    s->set_flows(seen.flows());
  }
  return plan;
}

void PolicyStore::Replace(const bulkhead::v1::Policy& plan) {
  std::uint32_t next_id = next_id_;
  Restore(plan);
  next_id_ = std::max(next_id_, next_id);
}

}  // namespace bulkhead
