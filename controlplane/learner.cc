#include "controlplane/learner.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "absl/strings/str_cat.h"
#include "datapath/abi.h"

namespace bulkhead {

std::string ToString(const SegmentKey& key) {
  return absl::StrCat(key.from, " -> ", key.to, " : ", ProtocolName(key.proto), "/", key.port);
}

std::optional<SegmentKey> Learner::Observe(const bh_flow_event& event) {
  if (event.verdict != BH_VERDICT_AUDIT) {
    ++counters_.not_learning;
    return std::nullopt;
  }
  const Workload* from = identities_.WorkloadOf(event.src_identity);
  const Workload* to = identities_.WorkloadOf(event.dst_identity);
  if (!from || !to) {
    ++counters_.external_peer;
    return std::nullopt;
  }
  if (mode_of_(event.src_identity) != BH_MODE_LEARN ||
      mode_of_(event.dst_identity) != BH_MODE_LEARN) {
    ++counters_.not_learning;
    return std::nullopt;
  }

  SegmentKey key{.from = from->id(), .to = to->id(), .proto = event.proto};
  switch (event.proto) {
    case IPPROTO_TCP:
      if (!(event.flags & BH_FLOW_TCP_SYN)) {
        ++counters_.untrusted_port;
        return std::nullopt;
      }
      key.port = ntohs(event.dport_be);
      break;
    case IPPROTO_UDP: {
      std::uint16_t sport = ntohs(event.sport_be);
      std::uint16_t dport = ntohs(event.dport_be);
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
      if (!(event.flags & BH_FLOW_ICMP_ECHO)) {
        ++counters_.untrusted_port;
        return std::nullopt;
      }
      break;
    default:
      break;  // no ports: port 0
  }
  ++counters_.learned;
  return key;
}

}  // namespace bulkhead
