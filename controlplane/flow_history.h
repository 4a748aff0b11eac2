// The flows `bulkhead flows` shows. Forwarded flows are kept apart from
// dropped and audited ones, each kind up to its own capacity, so a flood of
// one kind (a pod opening thousands of allowed connections, or a scan of
// denied ports) cannot wash the other out of the history. Memory is bounded
// by the two capacities.
//
// Not thread-safe; lives on the agent's event loop.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "proto/flow.pb.h"

namespace bulkhead {

class FlowHistory {
 public:
  // Keeps up to `capacity` forwarded flows and as many dropped or audited.
  explicit FlowHistory(std::size_t capacity) : capacity_(capacity) {}

  void Add(bulkhead::v1::Flow flow);

  // The last `last` flows of both kinds (0: all kept), oldest first.
  std::vector<const bulkhead::v1::Flow*> Last(std::size_t last) const;

  // Flows are numbered as they arrive, from 1; cursor() is the newest's
  // number (0 before the first).
  std::uint64_t cursor() const { return seen_; }
  // The flows kept that arrived after `cursor`, oldest first; `missed`: how
  // many arrived after it but are no longer kept.
  std::vector<const bulkhead::v1::Flow*> After(std::uint64_t cursor, std::uint64_t* missed) const;

  std::uint64_t seen() const { return seen_; }
  std::size_t size() const { return forwarded_.size() + alerts_.size(); }

 private:
  using Entry = std::pair<std::uint64_t, bulkhead::v1::Flow>;  // arrival number (from 1), flow

  std::size_t capacity_;
  std::uint64_t seen_ = 0;
  std::deque<Entry> forwarded_;
  std::deque<Entry> alerts_;  // dropped and audited
};

}  // namespace bulkhead
