// The allow-list: every segment with where it came from and what was seen on
// it. Segments are kept by peer name, never by identity or address, so a
// policy survives restarts and address reuse.
//
// Port collapse: once learning has given more than `collapse_after`
// distinct server ports to one (from, to, protocol) of TCP, UDP or SCTP
// between two workloads (never towards world, private, host or a network set),
// they become one range segment, first to last port seen; a range wider
// than kMaxCollapsedRange ports becomes "any port". A later port outside the
// range widens it at once (the same rule). The range keeps the earliest
// first_seen, the sum of flows, and how many ports it replaced. Only learned
// segments collapse: a reviewed one stays as the person wrote it.
//
// Not thread-safe; lives on the agent's event loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controlplane/segment.h"
#include "proto/policy.pb.h"

namespace bulkhead {

class PolicyStore {
 public:
  // 0: never collapse.
  explicit PolicyStore(std::size_t collapse_after = kDefaultCollapseAfter)
      : collapse_after_(collapse_after) {}
  static constexpr std::size_t kDefaultCollapseAfter = 20;
  static constexpr std::uint32_t kMaxCollapsedRange = 1024;
  PolicyStore(const PolicyStore&) = delete;  // by_id_ points into segments_
  PolicyStore& operator=(const PolicyStore&) = delete;

  // Records a learned flow on `key` (one port). Returns true if the policy
  // changed: a new segment, or a range made or widened.
  bool Learn(const SegmentKey& key, absl::Time now);

  // Counts a flow the datapath forwarded by segment `id` (flows, lastSeen).
  // Unknown ids (a segment removed meanwhile) are ignored.
  void RecordFlow(std::uint32_t id, absl::Time now);

  // The segment with id `id`, or null (removed, or never this store's).
  const bulkhead::v1::Segment* SegmentById(std::uint32_t id) const {
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
  }

  // Takes a learned segment out (held back after all); nullopt if there is
  // none, or a person reviewed it (then it stays).
  std::optional<bulkhead::v1::Segment> RemoveLearned(const SegmentKey& key);

  // Whether a segment admits `key`'s port (its own, or a range's).
  bool Contains(const SegmentKey& key) const;

  // All segments, sorted by (from, to, protocol, port).
  bulkhead::v1::Policy Snapshot() const;
  std::size_t size() const { return segments_.size(); }

  // Replaces the store's contents, e.g. with a persisted snapshot.
  void Restore(const bulkhead::v1::Policy& policy);

  // The policy an applied file makes (api/policy_document.h): `desired`
  // where `decides` says the file decides, the store's segments elsewhere.
  // A segment the store has already keeps its id and what was seen on it
  // (first and last seen, flows) and takes the file's origin; a new one
  // gets an id no segment of this store had. Changes nothing: Replace()
  // installs the plan once the maps hold it.
  bulkhead::v1::Policy Plan(const std::vector<bulkhead::v1::Segment>& desired,
                            const std::function<bool(const SegmentKey&)>& decides) const;
  void Replace(const bulkhead::v1::Policy& plan);

 private:
  // The segment admitting `key`'s port: its own, else a range's.
  std::map<SegmentKey, bulkhead::v1::Segment>::iterator Find(const SegmentKey& key);
  std::map<SegmentKey, bulkhead::v1::Segment>::const_iterator Find(const SegmentKey& key) const;
  // The learned segments of (from, to, proto), in key order.
  std::vector<std::map<SegmentKey, bulkhead::v1::Segment>::iterator> LearnedTriple(
      const SegmentKey& key);
  void Collapse(const SegmentKey& key, absl::Time now);

  std::size_t collapse_after_;
  std::map<SegmentKey, bulkhead::v1::Segment> segments_;
  std::map<std::uint32_t, bulkhead::v1::Segment*> by_id_;  // into segments_
  std::uint32_t next_id_ = 1;
};

// Protocol number <-> the proto enum (unknown numbers keep their value).
bulkhead::v1::Protocol ProtocolToProto(std::uint8_t proto);
std::uint8_t ProtocolFromProto(bulkhead::v1::Protocol proto);

// absl::Time <-> the protobuf Timestamp the state file and the API carry.
google::protobuf::Timestamp ToTimestamp(absl::Time time);
absl::Time FromTimestamp(const google::protobuf::Timestamp& timestamp);

SegmentKey KeyOf(const bulkhead::v1::Segment& segment);

}  // namespace bulkhead
