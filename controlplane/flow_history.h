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

  std::uint64_t seen() const { return seen_; }
  std::size_t size() const { return forwarded_.size() + alerts_.size(); }

 private:
  using Entry = std::pair<std::uint64_t, bulkhead::v1::Flow>;  // arrival number, flow

  std::size_t capacity_;
  std::uint64_t seen_ = 0;
  std::deque<Entry> forwarded_;
  std::deque<Entry> alerts_;  // dropped and audited
};

}  // namespace bulkhead
