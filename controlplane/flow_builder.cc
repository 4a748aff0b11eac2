#include "controlplane/flow_builder.h"

#include <arpa/inet.h>
#include <time.h>

#include "controlplane/policy_store.h"
#include "google/protobuf/util/time_util.h"

namespace bulkhead {
namespace {

std::int64_t ClockNanos(clockid_t clock) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void FillEndpoint(bulkhead::v1::Endpoint* endpoint, std::uint32_t identity, const bh_addr& addr,
                  std::uint16_t port_be, const IdentityTable& identities) {
  endpoint->set_identity(identity);
  endpoint->set_workload(identities.NameOf(identity));
  if (const Workload* w = identities.WorkloadOf(identity)) {
    endpoint->set_namespace_(w->ns);
    endpoint->mutable_labels()->insert(w->labels.begin(), w->labels.end());
  }
  endpoint->set_ip(FormatAddress(addr));
  endpoint->set_port(ntohs(port_be));
}

}  // namespace

bulkhead::v1::Verdict VerdictToProto(std::uint8_t verdict) {
  switch (verdict) {
    case BH_VERDICT_FORWARDED:
      return bulkhead::v1::FORWARDED;
    case BH_VERDICT_AUDIT:
      return bulkhead::v1::AUDIT;
    case BH_VERDICT_DROPPED:
      return bulkhead::v1::DROPPED;
    default:
      return bulkhead::v1::VERDICT_UNSPECIFIED;
  }
}

MonotonicClockOffset::MonotonicClockOffset()
    : offset_ns_(ClockNanos(CLOCK_REALTIME) - ClockNanos(CLOCK_MONOTONIC)) {}

bulkhead::v1::Flow FlowFromEvent(const bh_flow_event& event, const IdentityTable& identities,
                                 const std::string& interface, const MonotonicClockOffset& clock) {
  bulkhead::v1::Flow flow;
  *flow.mutable_time() = google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      clock.ToUnixNanos(event.timestamp_ns));
  const bool icmp = event.proto == IPPROTO_ICMP || event.proto == IPPROTO_ICMPV6;
  FillEndpoint(flow.mutable_source(), event.src_identity, event.saddr, event.sport_be, identities);
  // ICMP has no destination port: the event carries the type there.
  FillEndpoint(flow.mutable_destination(), event.dst_identity, event.daddr,
               icmp ? 0 : event.dport_be, identities);
  flow.set_protocol(ProtocolToProto(event.proto));
  flow.set_verdict(VerdictToProto(event.verdict));
  // bh_mode and the proto Mode share their numbers (0 = unmanaged/unspecified).
  flow.set_mode(static_cast<bulkhead::v1::Mode>(event.mode));
  switch (event.hook) {
    case BH_HOOK_FROM_ENDPOINT:
      flow.set_hook(bulkhead::v1::FROM_ENDPOINT);
      flow.set_direction(bulkhead::v1::EGRESS);
      break;
    case BH_HOOK_TO_ENDPOINT:
      flow.set_hook(bulkhead::v1::TO_ENDPOINT);
      flow.set_direction(bulkhead::v1::INGRESS);
      break;
    default:
      flow.set_hook(bulkhead::v1::FROM_UPLINK);
      flow.set_direction(bulkhead::v1::INGRESS);
      break;
  }
  // bh_reason and the proto Reason share their numbers.
  if (event.verdict != BH_VERDICT_FORWARDED)
    flow.set_reason(static_cast<bulkhead::v1::Reason>(event.reason));
  flow.set_ipv6(event.flags & BH_FLOW_IPV6);
  flow.set_fragment(event.flags & BH_FLOW_FRAGMENT);
  if (icmp) {
    flow.set_icmp_type(event.icmp_type);
    flow.set_icmp_code(event.icmp_code);
  }
  flow.set_interface(interface);
  flow.set_segment_id(event.segment_id);
  flow.set_tcp_syn(event.flags & BH_FLOW_TCP_SYN);
  flow.set_mid_stream(event.flags & BH_FLOW_MID_STREAM);
  if (event.flags & BH_FLOW_SERVICE) {
    const std::uint16_t port = ntohs(event.dport_be);
    flow.set_service_port(port);
    if (auto target = identities.ServiceAt(event.daddr, event.proto, port)) {
      flow.set_service(target->service->id());
      flow.mutable_destination()->set_port(target->target_port);
    }
  }
  return flow;
}

}  // namespace bulkhead
