// Learned segments wait here until the flow that taught them was answered.
//
// A SYN to a closed port, a UDP datagram nobody replies to, a ping to a
// dead address: probes like these (a port scan while learning) must never
// become segments. A candidate is learned once its flow's conntrack entry
// is confirmed, which the datapath does on the server's answer (UDP, ICMP
// echo) or on the client's first packet after it (TCP: the handshake
// completed; a RST from a closed port never confirms). Candidates not
// answered within `give_up_after` are dropped and counted. TCP seen
// mid-stream needs no wait: its connection is in the workload's socket
// table.
//
// Bounded: at most `capacity` candidates wait, at most `per_source` of them
// from one source workload (one scanning pod cannot crowd out the others'),
// and one per segment (the first to be answered teaches it); more are
// dropped and counted.
// Not thread-safe; lives on the agent's event loop.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <vector>

#include "absl/time/time.h"
#include "controlplane/segment.h"
#include "datapath/abi.h"
#include "datapath/typed_map.h"

namespace bulkhead {

struct AnsweredCounters {
  std::uint64_t unanswered = 0;  // candidates dropped: no answer in time
  std::uint64_t overflow = 0;    // candidates dropped: too many waiting (in all, or one source's)
};

class AnsweredFilter {
 public:
  AnsweredFilter(const TypedMap<bh_ct_key, bh_ct_entry>& confirmed, std::size_t capacity,
                 std::size_t per_source, absl::Duration give_up_after)
      : confirmed_(confirmed),
        capacity_(capacity),
        per_source_(per_source),
        give_up_after_(give_up_after) {}

  struct Answered {
    SegmentKey key;
    std::uint32_t src_identity;
    std::uint32_t dst_identity;
  };

  // Whether the event's flow must be answered before it teaches a segment.
  static bool NeedsAnswer(const bh_flow_event& event);

  void Add(const SegmentKey& key, const bh_flow_event& event, absl::Time now);
  // The candidates answered by now, oldest first; drops those waited out.
  std::vector<Answered> TakeAnswered(absl::Time now);

  std::size_t waiting() const { return waiting_.size(); }
  const AnsweredCounters& counters() const { return counters_; }

 private:
  struct Candidate {
    Answered segment;
    bh_ct_key flow;
    absl::Time since;
  };
  void Forget(const Candidate& c);

  const TypedMap<bh_ct_key, bh_ct_entry>& confirmed_;
  std::size_t capacity_;
  std::size_t per_source_;
  absl::Duration give_up_after_;
  std::deque<Candidate> waiting_;
  std::map<SegmentKey, int> waiting_keys_;
  std::map<std::uint32_t, std::size_t> per_source_waiting_;
  AnsweredCounters counters_;
};

}  // namespace bulkhead
