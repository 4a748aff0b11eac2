// Turns flow events into segments while workloads are in learn mode.
//
// A flow teaches a segment only when all of these hold:
//   - the datapath passed it without a segment (verdict AUDIT, reason
//     POLICY: not an unparseable frame or an orphan fragment);
//   - at least one end is a workload, and the other is a workload or a peer
//     outside them that the inventory names: the node (`host`), a network
//     set, `private` or `world` (an identity the agent does not know, from
//     a removed workload, is not learned);
//   - every workload end is in learn mode, so a peer that is still learning
//     never opens a path into a workload that monitors or enforces (peers
//     outside the workloads have no mode);
//   - its server port is trustworthy: the destination port of a TCP SYN,
//     or of a TCP connection seen mid-stream whose server side the datapath
//     found in the workload's own socket table (a listening socket on the
//     port; the event is then oriented client -> server). A mid-stream flow
//     whose server side could not be found (no socket for it, the
//     workload's namespace not known) is never learned: its destination
//     could be the client's ephemeral port. The
//     destination port of the first UDP datagram, unless that datagram goes
//     from a port below kEphemeralPortStart to one at or above it, or from a
//     port below 1024 to one at or above it (it looks like a server's answer
//     to a client seen first, whatever the node's port range); the type for
//     ICMP and ICMPv6 echo requests (8, 128), the only ICMP learned (errors
//     and replies never are), so such a segment admits echo and nothing else.
// Flows that fail a check are counted by reason.
//
// Not thread-safe; lives on the agent's event loop.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "controlplane/identity_table.h"
#include "controlplane/segment.h"
#include "datapath/abi.h"

namespace bulkhead {

struct LearnerCounters {
  std::uint64_t learned = 0;         // events that taught a segment (new or seen)
  std::uint64_t not_learning = 0;    // forwarded, or an end not in learn mode
  std::uint64_t unknown_peer = 0;    // an end unknown, or neither end a workload
  std::uint64_t untrusted_port = 0;  // TCP without SYN, ICMP other than echo request
};

// Linux's default ip_local_port_range starts here: client ports are above.
inline constexpr std::uint16_t kEphemeralPortStart = 32768;

class Learner {
 public:
  using ModeOf = std::function<bh_mode(std::uint32_t identity)>;

  Learner(const IdentityTable& identities, ModeOf mode_of)
      : identities_(identities), mode_of_(std::move(mode_of)) {}

  // The segment this flow teaches, if any.
  std::optional<SegmentKey> Observe(const bh_flow_event& event);

  const LearnerCounters& counters() const { return counters_; }

  // Whether a flow between these two may still teach a segment (every
  // workload end learning): checked again for a segment that waited for its
  // answer, in case a mode changed meanwhile.
  bool BothLearning(std::uint32_t src_identity, std::uint32_t dst_identity) const;

 private:
  const IdentityTable& identities_;
  ModeOf mode_of_;
  LearnerCounters counters_;
};

}  // namespace bulkhead
