#include "controlplane/learner.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "absl/strings/str_cat.h"
#include "datapath/abi.h"

namespace bulkhead {

std::string ToString(const SegmentKey& key) {
  std::string ports = absl::StrCat(key.port);
  if (key.is_range())
    ports =
        key.port == 0 && key.port_end == 65535 ? "any" : absl::StrCat(key.port, "-", key.port_end);
  return absl::StrCat(key.from, " -> ", key.to, " : ", ProtocolName(key.proto), "/", ports);
}

std::optional<SegmentKey> Learner::Observe(const bh_flow_event& event) {
  if (event.verdict != BH_VERDICT_AUDIT || event.reason != BH_REASON_POLICY) {
    ++counters_.not_learning;
    return std::nullopt;
  }
  // One end a workload; the other a workload or a peer the agent can name.
  bool workload_end =
      bh_is_workload_identity(event.src_identity) || bh_is_workload_identity(event.dst_identity);
  if (!workload_end || !identities_.Knows(event.src_identity) ||
      !identities_.Knows(event.dst_identity)) {
    ++counters_.unknown_peer;
    return std::nullopt;
  }
  if (!BothLearning(event.src_identity, event.dst_identity)) {
    ++counters_.not_learning;
    return std::nullopt;
  }

  SegmentKey key{.from = identities_.NameOf(event.src_identity),
                 .to = identities_.NameOf(event.dst_identity),
                 .proto = event.proto};
  // A flow to a Service was judged as the flow to its backend (the event's
  // dst_identity): the server port is the backend's target port.
  std::uint16_t dport = ntohs(event.dport_be);
  if (event.flags & BH_FLOW_SERVICE) {
    std::optional<ServiceTarget> target = identities_.ServiceAt(event.daddr, event.proto, dport);
    if (!target || target->identity != event.dst_identity) {  // the inventory changed since
      ++counters_.unknown_peer;
      return std::nullopt;
    }
    dport = target->target_port;
  }
  switch (event.proto) {
    case IPPROTO_TCP:
      // The server's port: from a SYN, or from the workload's own
      // listening socket for a connection seen mid-stream.
      if (!(event.flags & (BH_FLOW_TCP_SYN | BH_FLOW_MID_STREAM))) {
        ++counters_.untrusted_port;
        return std::nullopt;
      }
      key.port = dport;
      break;
    case IPPROTO_UDP:
    case IPPROTO_UDPLITE:
    case IPPROTO_SCTP: {
      // The datapath judges these by destination port, as UDP (parse.h): a
      // segment learned without it would never admit the flow in enforce.
      std::uint16_t sport = ntohs(event.sport_be);
      bool answer_shaped = (sport < kEphemeralPortStart && dport >= kEphemeralPortStart) ||
                           (sport < 1024 && dport >= 1024);
      if (answer_shaped) {
        ++counters_.untrusted_port;
        return std::nullopt;
      }
      key.port = dport;
      break;
    }
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6:
      // Echo requests only: replies and errors are answers, not openers.
      if (!(event.flags & BH_FLOW_ICMP_ECHO)) {
        ++counters_.untrusted_port;
        return std::nullopt;
      }
      key.port = event.icmp_type;  // the segment admits echo, not every type
      break;
    default:
      break;  // no ports: port 0
  }
  ++counters_.learned;
  return key;
}

bool Learner::BothLearning(std::uint32_t src_identity, std::uint32_t dst_identity) const {
  auto learning = [&](std::uint32_t identity) {
    return !bh_is_workload_identity(identity) || mode_of_(identity) == BH_MODE_LEARN;
  };
  return learning(src_identity) && learning(dst_identity);
}

}  // namespace bulkhead
