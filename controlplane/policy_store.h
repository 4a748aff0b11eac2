// The allow-list: every segment with where it came from and what was seen on
// it. Segments are kept by workload name, never by identity or address, so a
// policy survives restarts and address reuse.
//
// Not thread-safe; lives on the agent's event loop.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/segment.h"
#include "proto/policy.pb.h"

namespace bulkhead {

class PolicyStore {
 public:
  PolicyStore() = default;
  PolicyStore(const PolicyStore&) = delete;  // by_id_ points into segments_
  PolicyStore& operator=(const PolicyStore&) = delete;

  // Records a learned flow on `key`. Returns true if the segment is new.
  bool Learn(const SegmentKey& key, absl::Time now);

  // Counts a flow the datapath forwarded by segment `id` (flows, lastSeen).
  // Unknown ids (a segment removed meanwhile) are ignored.
  void RecordFlow(std::uint32_t id, absl::Time now);

  bool Contains(const SegmentKey& key) const { return segments_.contains(key); }

  // All segments, sorted by (from, to, protocol, port).
  bulkhead::v1::Policy Snapshot() const;
  std::size_t size() const { return segments_.size(); }

  // Replaces the store's contents, e.g. with a persisted snapshot.
  void Restore(const bulkhead::v1::Policy& policy);

 private:
  std::map<SegmentKey, bulkhead::v1::Segment> segments_;
  std::map<std::uint32_t, bulkhead::v1::Segment*> by_id_;  // into segments_
  std::uint32_t next_id_ = 1;
};

// Protocol number <-> the proto enum (unknown numbers keep their value).
bulkhead::v1::Protocol ProtocolToProto(std::uint8_t proto);
std::uint8_t ProtocolFromProto(bulkhead::v1::Protocol proto);

SegmentKey KeyOf(const bulkhead::v1::Segment& segment);

}  // namespace bulkhead
