// The datapath programs, packet by packet, through BPF_PROG_TEST_RUN: the
// real verifier, real maps, real ring buffer. Needs root (label "root").
//
// First a table (katran style): one row per kind of frame, for both address
// families where the case has both, each with the verdict, the counter that
// must move and the event the frame must raise. Then the behaviours that
// need a sequence of steps or a change between packets.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "datapath/datapath.h"
#include "datapath/event_reader.h"
#include "gtest/gtest.h"
#include "tests/packets.h"

namespace bulkhead {
namespace {

using namespace bulkhead::testing;  // NOLINT: the frame builder reads as a table

constexpr std::uint32_t kFrontend = 256;
constexpr std::uint32_t kApi = 257;
constexpr std::uint32_t kDb = 258;

// One family's addresses. frontend and api have addresses of both families.
struct Family {
  const char* name;
  const char* frontend;
  const char* api;
  const char* db;
  const char* node;   // the node itself: `host`
  const char* world;  // in no ipcache entry
};
const Family kV4{"ipv4", "10.244.1.10", "10.244.1.20", "10.244.1.30", "10.244.0.1", "10.244.9.9"};
const Family kV6{"ipv6",         "fd00:244::10", "fd00:244::20",
                 "fd00:244::30", "fd00:244::1",  "fd00:244::99"};

// Small maps: a fresh datapath per test.
MapSizes TestSizes() {
  return {.conntrack = 4096,
          .conntrack_new = 1024,
          .ipcache = 1024,
          .ipcache_prefixes = 1024,
          .policy = 1024,
          .identities = 1024,
          .endpoints = 1024,
          .fragments = 1024,
          .drop_reports = 4096,
          .event_bytes = 1u << 20};
}

enum Hook { kFrom, kTo, kUplink };
enum Interface { kFrontendIf, kApiIf, kUnboundIf };

struct Step {
  Hook hook;
  Interface iface;
  Frame frame;
};

// What a frame must do. `event`: the DROPPED/AUDIT event it must raise, with
// its reason; nullopt: it raises none (forwarded events are not checked).
struct Expected {
  int verdict;  // TC_ACT_OK / TC_ACT_SHOT, or XDP_PASS / XDP_DROP
  bh_stat counter;
  std::optional<std::pair<bh_verdict, bh_reason>> event;
};

struct Case {
  std::string name;
  std::vector<Step> before;  // run first; their verdicts are not checked here
  Step packet;
  Expected expected;
  bh_mode frontend_mode = BH_MODE_ENFORCE;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

Step From(Frame f, Interface i = kFrontendIf) { return {kFrom, i, std::move(f)}; }
Step To(Frame f, Interface i = kApiIf) { return {kTo, i, std::move(f)}; }

Expected Pass(bh_stat counter) { return {TC_ACT_OK, counter, std::nullopt}; }
Expected Drop(bh_reason reason, bh_stat counter) {
  return {TC_ACT_SHOT, counter, std::pair{BH_VERDICT_DROPPED, reason}};
}
Expected Audit(bh_reason reason) {
  return {TC_ACT_OK, BH_STAT_AUDIT, std::pair{BH_VERDICT_AUDIT, reason}};
}

std::string CaseName(const Family& f, const std::string& name) {
  return std::string(f.name) + "_" + name;
}

// Rows that read the same in both families.
void AddFamilyCases(const Family& f, std::vector<Case>& cases) {
  auto add = [&](const std::string& name, std::vector<Step> before, Step packet, Expected expected,
                 bh_mode frontend_mode = BH_MODE_ENFORCE) {
    cases.push_back(
        {CaseName(f, name), std::move(before), std::move(packet), expected, frontend_mode});
  };
  const Frame syn = Tcp(f.frontend, f.api, 40000, 8080, kSyn);
  const Frame syn_ack = Tcp(f.api, f.frontend, 8080, 40000, kSynAck);
  const Frame denied_syn = Tcp(f.frontend, f.api, 40000, 9999, kSyn);
  const Frame udp = Udp(f.frontend, f.api, 40001, 5353).Payload(Frame(64, 0xab));
  const Frame big_udp = Udp(f.frontend, f.api, 40001, 5353).Payload(Frame(2000, 0xab));
  const Frame big_denied_udp = Udp(f.frontend, f.api, 40001, 5354).Payload(Frame(2000, 0xab));
  const std::vector<Frame> pieces = Fragments(big_udp, 1232);
  const std::vector<Frame> denied_pieces = Fragments(big_denied_udp, 1232);
  const Frame echo = EchoRequest(f.frontend, f.api, 77);

  // Segments: frontend -> api tcp/8080, udp/5353, echo (icmp/8, icmpv6/128).
  add("segment_admits_syn_leaving_source", {}, From(syn), Pass(BH_STAT_FORWARDED));
  add("segment_admits_syn_entering_destination", {From(syn)}, To(syn), Pass(BH_STAT_FORWARDED));
  add("no_segment_drops_at_source", {}, From(denied_syn),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("no_segment_drops_at_destination", {}, To(denied_syn),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("no_segment_into_unbound_enforcing_workload", {},
      To(Tcp(f.frontend, f.db, 40000, 5432, kSyn), kUnboundIf),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("no_segment_passes_while_learning", {}, From(denied_syn), Audit(BH_REASON_POLICY),
      BH_MODE_LEARN);
  add("no_segment_passes_while_monitoring", {}, From(denied_syn), Audit(BH_REASON_POLICY),
      BH_MODE_MONITOR);
  add("established_packet_passes",
      {From(syn), To(syn), From(syn_ack, kApiIf), To(syn_ack, kFrontendIf)},
      From(Tcp(f.frontend, f.api, 40000, 8080, kAck)), Pass(BH_STAT_FORWARDED));
  add("reply_leaves_server", {From(syn), To(syn)}, From(syn_ack, kApiIf), Pass(BH_STAT_REPLY));
  add("reply_enters_client", {From(syn), To(syn), From(syn_ack, kApiIf)}, To(syn_ack, kFrontendIf),
      Pass(BH_STAT_REPLY));
  add("answer_without_request_is_a_new_flow", {}, From(syn_ack, kApiIf),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("answer_to_a_denied_request_is_a_new_flow", {From(denied_syn)},
      To(Tcp(f.api, f.frontend, 9999, 40000, kSynAck), kFrontendIf),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("reply_on_another_interface_is_not_a_reply", {From(syn), To(syn)}, To(syn_ack, kApiIf),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("spoofed_source_dropped_in_enforce", {}, From(Tcp(f.api, f.db, 40000, 5432, kSyn)),
      Drop(BH_REASON_SPOOFED, BH_STAT_DROPPED_SPOOFED));
  add("spoofed_source_dropped_while_learning", {}, From(Tcp(f.api, f.db, 40000, 5432, kSyn)),
      Drop(BH_REASON_SPOOFED, BH_STAT_DROPPED_SPOOFED), BH_MODE_LEARN);
  add("spoofed_answer_of_a_live_flow_dropped", {From(syn), To(syn)}, From(syn_ack),
      Drop(BH_REASON_SPOOFED, BH_STAT_DROPPED_SPOOFED));
  add("node_may_probe_workloads", {}, To(Tcp(f.node, f.api, 50000, 8080, kSyn)),
      Pass(BH_STAT_FORWARDED));
  add("node_probe_reply_leaves_workload", {To(Tcp(f.node, f.api, 50000, 8080, kSyn))},
      From(Tcp(f.api, f.node, 8080, 50000, kSynAck), kApiIf), Pass(BH_STAT_REPLY));
  add("workload_to_node_needs_a_segment", {}, From(Tcp(f.frontend, f.node, 40000, 9100, kSyn)),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("world_into_enforcing_workload_dropped", {}, To(Tcp(f.world, f.api, 40000, 8080, kSyn)),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("unmanaged_world_to_world_passes", {}, To(Tcp(f.world, f.world, 1, 2, kSyn), kUnboundIf),
      Audit(BH_REASON_POLICY));
  add("echo_request_with_segment", {}, From(echo), Pass(BH_STAT_FORWARDED));
  add("echo_reply_of_let_through_request", {From(echo)},
      To(EchoReply(f.api, f.frontend, 77), kFrontendIf), Pass(BH_STAT_REPLY));
  add("echo_reply_without_request", {}, To(EchoReply(f.api, f.frontend, 78), kFrontendIf),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("echo_segment_admits_no_other_icmp_type", {},
      From(IcmpMessage(f.frontend, f.api, f.name == std::string("ipv4") ? 13 : 139, 0)),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("echo_to_workload_without_segment", {}, From(EchoRequest(f.frontend, f.db, 5)),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("error_from_peer_about_live_flow_is_related", {From(syn), To(syn)},
      From(IcmpError(kDestUnreachable, 3, syn), kApiIf), Pass(BH_STAT_RELATED));
  add("packet_too_big_from_node_is_related", {From(udp)},
      To(PacketTooBig(1280, udp).Src(f.node), kFrontendIf), Pass(BH_STAT_RELATED));
  add("error_about_unknown_flow_is_judged", {}, From(IcmpError(kDestUnreachable, 3, syn), kApiIf),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("error_from_third_workload_is_not_related", {From(syn)},
      To(IcmpError(kDestUnreachable, 3, syn).Src(f.db), kFrontendIf),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("udp_with_segment", {}, From(udp), Pass(BH_STAT_FORWARDED));
  add("udp_reply", {From(udp)}, To(Udp(f.api, f.frontend, 5353, 40001), kFrontendIf),
      Pass(BH_STAT_REPLY));
  add("first_fragment_judged_as_datagram", {}, From(pieces[0]), Pass(BH_STAT_FORWARDED));
  add("later_fragment_follows_first", {From(pieces[0])}, From(pieces[1]),
      Pass(BH_STAT_FRAGMENT_FOLLOWED));
  add("later_fragment_follows_at_destination", {From(pieces[0]), To(pieces[0])}, To(pieces[1]),
      Pass(BH_STAT_FRAGMENT_FOLLOWED));
  add("orphan_fragment_dropped_in_enforce", {}, From(pieces[1]),
      Drop(BH_REASON_FRAGMENT, BH_STAT_DROPPED_FRAGMENT));
  add("orphan_fragment_passes_while_learning", {}, From(pieces[1]), Audit(BH_REASON_FRAGMENT),
      BH_MODE_LEARN);
  add("first_fragment_to_denied_port", {}, From(denied_pieces[0]),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("later_fragment_of_denied_datagram", {From(denied_pieces[0])}, From(denied_pieces[1]),
      Drop(BH_REASON_FRAGMENT, BH_STAT_DROPPED_FRAGMENT));
  add("tcp_header_cut_short", {}, From(Tcp(f.frontend, f.api, 40000, 8080, kSyn).TruncateL4(10)),
      Drop(BH_REASON_MALFORMED, BH_STAT_DROPPED_MALFORMED));
  add("udp_header_cut_short", {}, From(Udp(f.frontend, f.api, 40001, 5353).TruncateL4(6)),
      Drop(BH_REASON_MALFORMED, BH_STAT_DROPPED_MALFORMED));
  add("ip_length_beyond_frame", {}, From(Truncate(syn, L4Offset(syn) + 20 - 4)),
      Drop(BH_REASON_MALFORMED, BH_STAT_DROPPED_MALFORMED));
  add("tcp_data_offset_below_header", {},
      From(Tcp(f.frontend, f.api, 40000, 8080, kSyn).TcpDataOffset(3)),
      Drop(BH_REASON_MALFORMED, BH_STAT_DROPPED_MALFORMED));
  add("malformed_dropped_while_learning", {},
      From(Tcp(f.frontend, f.api, 40000, 8080, kSyn).TruncateL4(10)),
      Drop(BH_REASON_MALFORMED, BH_STAT_DROPPED_MALFORMED), BH_MODE_LEARN);
  add("one_vlan_tag_parsed_through", {},
      From(Tcp(f.frontend, f.api, 40000, 9999, kSyn).Vlan({kTpid8021Q, 0})),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("two_vlan_tags_parsed_through", {},
      From(Tcp(f.frontend, f.api, 40000, 9999, kSyn).Vlan({kTpid8021ad, 0}).Vlan({kTpid8021Q, 0})),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("two_vlan_tags_cannot_hide_a_spoofed_source", {},
      From(Tcp(f.api, f.db, 40000, 5432, kSyn).Vlan({kTpid8021Q, 0}).Vlan({kTpid8021Q, 0})),
      Drop(BH_REASON_SPOOFED, BH_STAT_DROPPED_SPOOFED));
  add("two_vlan_tags_allowed_flow", {},
      From(Tcp(f.frontend, f.api, 40000, 8080, kSyn).Vlan({kTpid8021Q, 5}).Vlan({kTpid8021Q, 6})),
      Pass(BH_STAT_FORWARDED));
  add("three_vlan_tags_dropped_in_enforce", {},
      From(Tcp(f.frontend, f.api, 40000, 8080, kSyn)
               .Vlan({kTpid8021Q, 0})
               .Vlan({kTpid8021Q, 0})
               .Vlan({kTpid8021Q, 0})),
      Drop(BH_REASON_UNPARSEABLE, BH_STAT_DROPPED_UNPARSEABLE));
  // Leaving a bound interface, a frame that cannot be parsed cannot be
  // checked for spoofing either: dropped in every mode.
  add("three_vlan_tags_leaving_dropped_while_learning", {},
      From(Tcp(f.api, f.db, 40000, 5432, kSyn)
               .Vlan({kTpid8021Q, 0})
               .Vlan({kTpid8021Q, 0})
               .Vlan({kTpid8021Q, 0})),
      Drop(BH_REASON_UNPARSEABLE, BH_STAT_DROPPED_UNPARSEABLE), BH_MODE_LEARN);
  add("three_vlan_tags_entering_learning_workload_pass", {},
      To(Tcp(f.api, f.frontend, 40000, 8080, kSyn)
             .Vlan({kTpid8021Q, 0})
             .Vlan({kTpid8021Q, 0})
             .Vlan({kTpid8021Q, 0}),
         kFrontendIf),
      Audit(BH_REASON_UNPARSEABLE), BH_MODE_LEARN);
  add("echo_with_id_0_opens_no_other_icmp_type", {From(EchoRequest(f.frontend, f.api, 0))},
      From(IcmpMessage(f.frontend, f.api, f.name == std::string("ipv4") ? 13 : 139, 0)),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("error_about_another_pair_is_not_related_to_echo_id_0",
      {From(EchoRequest(f.frontend, f.api, 0)), To(EchoRequest(f.frontend, f.api, 0))},
      From(IcmpError(kDestUnreachable, 3, Tcp(f.api, f.db, 40000, 5432, kSyn)).Src(f.frontend)),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("packet_too_big_from_router_about_first_fragment_is_related", {From(pieces[0])},
      To(PacketTooBig(1280, pieces[0]).Src(f.world), kFrontendIf), Pass(BH_STAT_RELATED));
}

std::vector<Case> AllCases() {
  std::vector<Case> cases;
  AddFamilyCases(kV4, cases);
  AddFamilyCases(kV6, cases);
  const Family& v4 = kV4;
  const Family& v6 = kV6;
  auto add = [&](std::string name, std::vector<Step> before, Step packet, Expected expected,
                 bh_mode frontend_mode = BH_MODE_ENFORCE) {
    cases.push_back(
        {std::move(name), std::move(before), std::move(packet), expected, frontend_mode});
  };
  add("arp_passes_unjudged", {}, From(ArpRequest(v4.frontend, v4.node)), Pass(BH_STAT_PASSED_LINK));
  add("vlan_tagged_arp_passes_unjudged", {},
      From(ArpRequest(v4.frontend, v4.node).Vlan({kTpid8021Q, 0})), Pass(BH_STAT_PASSED_LINK));
  add("lldp_dropped_in_enforce", {}, From(EtherTypeFrame(kEtherTypeLldp, Frame(46, 0))),
      Drop(BH_REASON_UNPARSEABLE, BH_STAT_DROPPED_UNPARSEABLE));
  add("mpls_dropped_in_enforce", {}, From(EtherTypeFrame(kEtherTypeMpls, Frame(46, 0))),
      Drop(BH_REASON_UNPARSEABLE, BH_STAT_DROPPED_UNPARSEABLE));
  // (A frame cut inside its IP header cannot be sent: BPF_PROG_TEST_RUN
  // refuses it, as the kernel's own receive path would.)
  add("ipv4_total_length_below_header", {},
      From(Tcp(v4.frontend, v4.api, 40000, 8080, kSyn).Ipv4TotalLength(12)),
      Drop(BH_REASON_MALFORMED, BH_STAT_DROPPED_MALFORMED));
  add("ipv4_ihl_below_five", {}, From(Tcp(v4.frontend, v4.api, 40000, 8080, kSyn).Ipv4Ihl(3)),
      Drop(BH_REASON_MALFORMED, BH_STAT_DROPPED_MALFORMED));
  add("ipv4_tcp_fragment_at_offset_8_rfc1858", {},
      From(Tcp(v4.frontend, v4.api, 40000, 22, kSyn).FragmentOffset(1)),
      Drop(BH_REASON_MALFORMED, BH_STAT_DROPPED_MALFORMED));
  add("ipv4_options_walked_allowed", {},
      From(Tcp(v4.frontend, v4.api, 40000, 8080, kSyn).Ipv4Options({0x94, 0x04, 0, 0})),
      Pass(BH_STAT_FORWARDED));
  add("ipv4_options_walked_denied", {},
      From(Tcp(v4.frontend, v4.api, 40000, 9999, kSyn).Ipv4Options({0x94, 0x04, 0, 0})),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("ipv6_neighbour_solicitation_passes", {}, From(NeighborSolicitation(v6.frontend, v6.node)),
      Pass(BH_STAT_PASSED_LINK));
  add("ipv6_neighbour_advertisement_passes", {},
      From(NeighborAdvertisement(v6.frontend, v6.node, v6.frontend)), Pass(BH_STAT_PASSED_LINK));
  add("ipv6_dad_from_unspecified_passes", {}, From(NeighborSolicitation("::", v6.frontend)),
      Pass(BH_STAT_PASSED_LINK));
  add("ipv6_router_solicitation_passes", {}, From(RouterSolicitation(v6.frontend)),
      Pass(BH_STAT_PASSED_LINK));
  add("ipv6_unicast_nd_to_the_node_passes", {},
      From(NeighborSolicitation(v6.frontend, v6.node).Dst(v6.node)), Pass(BH_STAT_PASSED_LINK));
  add("ipv6_unicast_nd_to_another_workload_is_judged", {},
      From(NeighborSolicitation(v6.frontend, v6.api).Dst(v6.api)),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("ipv6_unicast_nd_cannot_carry_a_spoofed_source", {},
      From(NeighborSolicitation(v6.db, v6.api).Dst(v6.api)),
      Drop(BH_REASON_SPOOFED, BH_STAT_DROPPED_SPOOFED));
  add("ipv6_nd_with_routable_hop_limit_is_judged", {},
      From(NeighborSolicitation(v6.frontend, v6.api).Ttl(64)),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("ipv6_extension_headers_walked_allowed", {},
      From(Tcp(v6.frontend, v6.api, 40000, 8080, kSyn).Ipv6Ext({kHopByHop, kRouting, kDestOpts})),
      Pass(BH_STAT_FORWARDED));
  add("ipv6_extension_headers_cannot_hide_a_port", {},
      From(Tcp(v6.frontend, v6.api, 40000, 9999, kSyn).Ipv6Ext({kHopByHop, kRouting, kDestOpts})),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("ipv6_auth_header_walked", {},
      From(Tcp(v6.frontend, v6.api, 40000, 9999, kSyn).Ipv6Ext({kAuth})),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("ipv6_experimental_header_walked", {},
      From(Tcp(v6.frontend, v6.api, 40000, 9999, kSyn).Ipv6Ext({Ipv6ExtHeader::Sized(253, 1)})),
      Drop(BH_REASON_POLICY, BH_STAT_DROPPED_POLICY));
  add("ipv6_atomic_fragment_is_a_whole_datagram", {},
      From(Tcp(v6.frontend, v6.api, 40000, 8080, kSyn)
               .Ipv6Ext({Ipv6ExtHeader::Fragment(0, false, 9)})),
      Pass(BH_STAT_FORWARDED));
  add("ipv6_too_many_extension_headers", {},
      From(Tcp(v6.frontend, v6.api, 40000, 8080, kSyn)
               .Ipv6Ext({kDestOpts, kDestOpts, kDestOpts, kDestOpts, kDestOpts, kDestOpts,
                         kDestOpts, kDestOpts, kDestOpts, kDestOpts})),
      Drop(BH_REASON_UNPARSEABLE, BH_STAT_DROPPED_UNPARSEABLE));
  add("ipv6_payload_length_beyond_frame", {},
      From(Tcp(v6.frontend, v6.api, 40000, 8080, kSyn).Ipv6PayloadLength(400)),
      Drop(BH_REASON_MALFORMED, BH_STAT_DROPPED_MALFORMED));
  return cases;
}

// A veth pair in a network namespace private to this process, gone when it
// exits; its ifindex stands for a workload's interface.
int MakeInterface(const char* name, const char* peer) {
  std::string cmd = std::string("ip link add ") + name + " type veth peer name " + peer +
                    " && ip link set " + name + " up";
  if (std::system(cmd.c_str()) != 0) return 0;
  return static_cast<int>(if_nametoindex(name));
}

class DatapathFixture {
 public:
  static void SetUpNetns() {
    static bool done = false;
    if (done) return;
    done = true;
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) (root?)";
    frontend_if_ = MakeInterface("bh-fe", "bh-fe-peer");
    api_if_ = MakeInterface("bh-api", "bh-api-peer");
    unbound_if_ = MakeInterface("bh-unb", "bh-unb-peer");
    ASSERT_GT(frontend_if_, 0);
    ASSERT_GT(api_if_, 0);
    ASSERT_GT(unbound_if_, 0);
  }

  void Load(bh_config config = DefaultDatapathConfig(), MapSizes sizes = TestSizes()) {
    auto dp = Datapath::Load({.sizes = sizes, .config = config});
    ASSERT_TRUE(dp.ok()) << dp.status();
    dp_ = std::move(*dp);
    for (const Family* f : {&kV4, &kV6}) {
      for (auto [ip, id] : {std::pair{f->frontend, kFrontend},
                            {f->api, kApi},
                            {f->db, kDb},
                            {f->node, static_cast<std::uint32_t>(BH_IDENTITY_HOST)}})
        ASSERT_TRUE(dp_->ipcache().Update(*ParseAddress(ip), {.identity = id}).ok());
    }
    for (std::uint32_t id : {kFrontend, kApi, kDb}) SetMode(id, BH_MODE_ENFORCE);
    Allow(kFrontend, kApi, IPPROTO_TCP, 8080, 1);
    Allow(kFrontend, kApi, IPPROTO_UDP, 5353, 2);
    Allow(kFrontend, kApi, IPPROTO_ICMP, 8, 3);
    Allow(kFrontend, kApi, IPPROTO_ICMPV6, 128, 4);
    Allow(kApi, kDb, IPPROTO_TCP, 5432, 5);
    ASSERT_TRUE(dp_->endpoints().Update(frontend_if_, {.identity = kFrontend}).ok());
    ASSERT_TRUE(dp_->endpoints().Update(api_if_, {.identity = kApi}).ok());
    ASSERT_TRUE(dp_->BumpEpoch().ok());
    auto reader = EventReader::Create(
        io_, dp_->events_fd(), [this](const bh_flow_event& e) { events_.push_back(e); },
        dp_->drop_events_fd());
    ASSERT_TRUE(reader.ok()) << reader.status();
    reader_ = std::move(*reader);
  }

  void SetMode(std::uint32_t identity, bh_mode mode) {
    ASSERT_TRUE(dp_->modes().Update(identity, {.mode = static_cast<__u32>(mode)}).ok());
    ASSERT_TRUE(dp_->BumpEpoch().ok());
  }
  void Allow(std::uint32_t src, std::uint32_t dst, std::uint8_t proto, std::uint16_t port,
             std::uint32_t segment_id) {
    ASSERT_TRUE(
        dp_->policy().Update(PolicyKey(src, dst, proto, port), {.segment_id = segment_id}).ok());
  }
  void Revoke(std::uint32_t src, std::uint32_t dst, std::uint8_t proto, std::uint16_t port) {
    ASSERT_TRUE(dp_->policy().Delete(PolicyKey(src, dst, proto, port)).ok());
    ASSERT_TRUE(dp_->BumpEpoch().ok());
  }

  static int IfindexOf(Interface i) {
    return i == kFrontendIf ? frontend_if_ : i == kApiIf ? api_if_ : unbound_if_;
  }

  // Runs one frame through a program; returns its verdict.
  int Send(const Step& step) {
    Frame frame = step.frame;  // not padded: a frame cut short must stay short
    int prog = step.hook == kFrom ? dp_->from_endpoint_fd()
               : step.hook == kTo ? dp_->to_endpoint_fd()
                                  : dp_->from_uplink_fd();
    if (step.hook == kUplink) {
      xdp_md ctx{};
      ctx.data_end = frame.size();
      ctx.ingress_ifindex = IfindexOf(step.iface);
      LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                  .data_size_in = static_cast<__u32>(frame.size()), .ctx_in = &ctx,
                  .ctx_size_in = sizeof(ctx), .repeat = 1);
      EXPECT_EQ(bpf_prog_test_run_opts(prog, &opts), 0) << "BPF_PROG_TEST_RUN: " << errno;
      return static_cast<int>(opts.retval);
    }
    __sk_buff ctx{};
    ctx.ifindex = IfindexOf(step.iface);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                .data_size_in = static_cast<__u32>(frame.size()), .ctx_in = &ctx,
                .ctx_size_in = sizeof(ctx), .repeat = 1);
    EXPECT_EQ(bpf_prog_test_run_opts(prog, &opts), 0) << "BPF_PROG_TEST_RUN: " << errno;
    return static_cast<int>(opts.retval);
  }

  std::vector<bh_flow_event> DrainEvents() {
    events_.clear();
    EXPECT_TRUE(reader_->Drain().ok());
    return events_;
  }
  std::uint64_t Stat(bh_stat stat) { return (*dp_->ReadStats())[stat]; }
  std::size_t Entries(TypedMap<bh_ct_key, bh_ct_entry>& map) {
    std::size_t n = 0;
    EXPECT_TRUE(map.ForEach([&](const bh_ct_key&, const bh_ct_entry&) { ++n; }).ok());
    return n;
  }

  static inline int frontend_if_ = 0;
  static inline int api_if_ = 0;
  static inline int unbound_if_ = 0;

  boost::asio::io_context io_;
  std::unique_ptr<Datapath> dp_;
  std::unique_ptr<EventReader> reader_;
  std::vector<bh_flow_event> events_;
};

class FrameTableTest : public ::testing::TestWithParam<Case>, public DatapathFixture {
 protected:
  static void SetUpTestSuite() { SetUpNetns(); }
  void SetUp() override { Load(); }
};

TEST_P(FrameTableTest, VerdictCounterAndEvent) {
  const Case& c = GetParam();
  SetMode(kFrontend, c.frontend_mode);
  for (const Step& step : c.before) Send(step);
  DrainEvents();
  std::uint64_t before = Stat(c.expected.counter);

  EXPECT_EQ(Send(c.packet), c.expected.verdict);
  EXPECT_EQ(Stat(c.expected.counter), before + 1) << "counter " << StatName(c.expected.counter);
  std::vector<bh_flow_event> reported;
  for (const bh_flow_event& e : DrainEvents())
    if (e.verdict != BH_VERDICT_FORWARDED) reported.push_back(e);
  if (!c.expected.event) {
    EXPECT_TRUE(reported.empty()) << "unexpected event, reason "
                                  << ReasonName(reported.empty() ? 0 : reported[0].reason);
    return;
  }
  ASSERT_EQ(reported.size(), 1u) << "one event for the frame";
  EXPECT_EQ(reported[0].verdict, c.expected.event->first);
  EXPECT_EQ(reported[0].reason, c.expected.event->second)
      << "reason " << ReasonName(reported[0].reason);
}

INSTANTIATE_TEST_SUITE_P(Frames, FrameTableTest, ::testing::ValuesIn(AllCases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

class DatapathBehaviourTest : public ::testing::Test, public DatapathFixture {
 protected:
  static void SetUpTestSuite() { SetUpNetns(); }
  void SetUp() override { Load(); }
};

TEST_F(DatapathBehaviourTest, RevokedSegmentBitesOnNextPacketAndTakesItsReplies) {
  const Frame syn = Tcp(kV4.frontend, kV4.api, 40000, 8080, kSyn);
  const Frame ack = Tcp(kV4.frontend, kV4.api, 40000, 8080, kAck);
  const Frame answer = Tcp(kV4.api, kV4.frontend, 8080, 40000, kAck);
  ASSERT_EQ(Send(From(syn)), TC_ACT_OK);
  ASSERT_EQ(Send(To(syn)), TC_ACT_OK);
  ASSERT_EQ(Send(From(answer, kApiIf)), TC_ACT_OK);
  Revoke(kFrontend, kApi, IPPROTO_TCP, 8080);
  EXPECT_EQ(Send(From(answer, kApiIf)), TC_ACT_SHOT)
      << "the server's reply: its request is revoked";
  EXPECT_EQ(Send(From(ack)), TC_ACT_SHOT) << "the client's next packet";
  Allow(kFrontend, kApi, IPPROTO_TCP, 8080, 9);
  ASSERT_TRUE(dp_->BumpEpoch().ok());
  EXPECT_EQ(Send(From(ack)), TC_ACT_OK) << "allowed again";
}

TEST_F(DatapathBehaviourTest, DroppedPacketsMakeNoConntrackEntries) {
  for (int port = 1; port <= 500; ++port)
    ASSERT_EQ(Send(From(Tcp(kV4.frontend, kV4.db, 10000 + port, 5432, kSyn))), TC_ACT_SHOT);
  EXPECT_EQ(Entries(dp_->conntrack()) + Entries(dp_->conntrack_new()), 0u);
}

TEST_F(DatapathBehaviourTest, SynFloodToAllowedPortCannotEvictAnEstablishedFlow) {
  // api -> db tcp/5432, established both ways, then idle.
  const Frame syn = Tcp(kV4.api, kV4.db, 45000, 5432, kSyn);
  ASSERT_EQ(Send(From(syn, kApiIf)), TC_ACT_OK);
  ASSERT_EQ(Send(To(Tcp(kV4.db, kV4.api, 5432, 45000, kSynAck), kApiIf)), TC_ACT_OK);
  ASSERT_EQ(Send(From(Tcp(kV4.api, kV4.db, 45000, 5432, kAck), kApiIf)), TC_ACT_OK);
  ASSERT_EQ(Entries(dp_->conntrack()), 1u) << "confirmed by the opener's ACK";
  // frontend floods api:8080 (allowed) with SYNs from new ports, 4x the
  // unconfirmed table.
  for (int i = 0; i < 4096; ++i)
    Send(From(Tcp(kV4.frontend, kV4.api, static_cast<std::uint16_t>(1024 + i), 8080, kSyn)));
  EXPECT_EQ(Entries(dp_->conntrack()), 1u);
  // The server pushes after the flood: still a reply.
  EXPECT_EQ(Send(To(Tcp(kV4.db, kV4.api, 5432, 45000, kAck), kApiIf)), TC_ACT_OK);
}

TEST_F(DatapathBehaviourTest, ReplyToAFlowThatEndedIsANewFlow) {
  bh_config config = DefaultDatapathConfig();
  config.ct_close_lifetime_ns = 1'000'000;  // 1 ms
  config.ct_other_lifetime_ns = 1'000'000;
  Load(config);
  const Frame syn = Tcp(kV4.frontend, kV4.api, 40000, 8080, kSyn);
  ASSERT_EQ(Send(From(syn)), TC_ACT_OK);
  ASSERT_EQ(Send(To(Tcp(kV4.api, kV4.frontend, 8080, 40000, kSynAck), kFrontendIf)), TC_ACT_OK);
  ASSERT_EQ(Send(From(Tcp(kV4.frontend, kV4.api, 40000, 8080, kRst))), TC_ACT_OK);
  usleep(20'000);  // past the close lifetime (coarse clock: a few ms)
  EXPECT_EQ(Send(To(Tcp(kV4.api, kV4.frontend, 8080, 40000, kAck), kFrontendIf)), TC_ACT_SHOT)
      << "the server reaching the client's old port is a new flow";
  const Frame udp = Udp(kV4.frontend, kV4.api, 40001, 5353);
  ASSERT_EQ(Send(From(udp)), TC_ACT_OK);
  usleep(20'000);
  EXPECT_EQ(Send(To(Udp(kV4.api, kV4.frontend, 5353, 40001), kFrontendIf)), TC_ACT_SHOT);
  EXPECT_GE(Stat(BH_STAT_CT_EXPIRED), 2u);
}

TEST_F(DatapathBehaviourTest, DropEventsAreRateLimitedAndCounted) {
  for (int port = 1; port <= 3000; ++port)
    Send(From(Tcp(kV4.frontend, kV4.db, static_cast<std::uint16_t>(10000 + port), 5432, kSyn)));
  std::size_t events = DrainEvents().size();
  EXPECT_GE(events, 1000u) << "1000 per CPU per second";
  EXPECT_LT(events, 3000u) << "held back beyond that";
  EXPECT_EQ(events + Stat(BH_STAT_EVENTS_SUPPRESSED), 3000u) << "and every one counted";
}

TEST_F(DatapathBehaviourTest, RepeatedDropOfOneFlowIsReportedOnce) {
  const Frame denied = Tcp(kV4.frontend, kV4.db, 40000, 5432, kSyn);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Send(From(denied)), TC_ACT_SHOT);
  EXPECT_EQ(DrainEvents().size(), 1u);
  EXPECT_EQ(Stat(BH_STAT_DROPPED_POLICY), 5u);
}

TEST_F(DatapathBehaviourTest, LearnedFlowIsReportedOnceAcrossBothHooks) {
  SetMode(kFrontend, BH_MODE_LEARN);
  SetMode(kApi, BH_MODE_LEARN);
  const Frame syn = Tcp(kV6.frontend, kV6.api, 40000, 9000, kSyn);
  EXPECT_EQ(Send(From(syn)), TC_ACT_OK);
  EXPECT_EQ(Send(To(syn)), TC_ACT_OK);
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].verdict, BH_VERDICT_AUDIT);
  EXPECT_TRUE(events[0].flags & BH_FLOW_TCP_SYN);
  EXPECT_TRUE(events[0].flags & BH_FLOW_IPV6);
  EXPECT_EQ(FormatAddress(events[0].saddr), kV6.frontend);
  EXPECT_EQ(ntohs(events[0].dport_be), 9000);
}

TEST_F(DatapathBehaviourTest, MonitoringDestinationReportsWhatLearningSourcePassed) {
  SetMode(kFrontend, BH_MODE_LEARN);
  SetMode(kApi, BH_MODE_MONITOR);
  const Frame syn = Tcp(kV4.frontend, kV4.api, 40000, 9000, kSyn);
  Send(From(syn));
  Send(To(syn));
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].mode, BH_MODE_MONITOR);
}

TEST_F(DatapathBehaviourTest, FailClosedDropsTrafficOfUnboundInterfaces) {
  bh_config config = DefaultDatapathConfig();
  config.fail_closed = 1;
  Load(config);
  EXPECT_EQ(Send(To(Tcp(kV4.frontend, kV4.db, 40000, 5432, kSyn), kUnboundIf)), TC_ACT_SHOT);
  EXPECT_EQ(Stat(BH_STAT_DROPPED_UNBOUND), 1u);
  EXPECT_EQ(Send(From(Tcp(kV4.api, kV4.db, 40000, 5432, kSyn)
                          .Vlan({kTpid8021Q, 0})
                          .Vlan({kTpid8021Q, 0})
                          .Vlan({kTpid8021Q, 0}),
                      kUnboundIf)),
            TC_ACT_SHOT)
      << "an unparseable frame is no way around fail-closed";
  EXPECT_EQ(Stat(BH_STAT_DROPPED_UNBOUND), 2u);
  EXPECT_EQ(Send(From(Tcp(kV4.frontend, kV4.api, 40000, 8080, kSyn))), TC_ACT_OK)
      << "bound interfaces are judged as usual";
}

TEST_F(DatapathBehaviourTest, HostToWorkloadsCanBeTurnedOff) {
  bh_config config = DefaultDatapathConfig();
  config.allow_host_to_workloads = 0;
  Load(config);
  EXPECT_EQ(Send(To(Tcp(kV4.node, kV4.api, 50000, 8080, kSyn))), TC_ACT_SHOT);
}

TEST_F(DatapathBehaviourTest, SegmentAddedWhileMonitoringTakesEffectOnNextPacket) {
  SetMode(kApi, BH_MODE_MONITOR);
  const Frame syn = Tcp(kV4.frontend, kV4.api, 40000, 7000, kSyn);
  Allow(kFrontend, kApi, IPPROTO_TCP, 7000, 0);  // placeholder removed below
  Revoke(kFrontend, kApi, IPPROTO_TCP, 7000);
  SetMode(kFrontend, BH_MODE_MONITOR);
  Send(From(syn));
  Send(To(syn));
  std::uint64_t audit = Stat(BH_STAT_AUDIT);
  Allow(kFrontend, kApi, IPPROTO_TCP, 7000, 42);
  ASSERT_TRUE(dp_->BumpEpoch().ok());
  Send(To(syn));
  EXPECT_EQ(Stat(BH_STAT_AUDIT), audit) << "forwarded now, not audited";
}

TEST_F(DatapathBehaviourTest, UplinkDropsDeniedFlowsIntoEnforcingWorkloads) {
  EXPECT_EQ(Send({kUplink, kUnboundIf, Tcp(kV4.world, kV4.api, 40000, 8080, kSyn)}), XDP_DROP);
  EXPECT_EQ(Stat(BH_STAT_XDP_DROPPED), 1u);
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].hook, BH_HOOK_FROM_UPLINK);
  EXPECT_EQ(events[0].reason, BH_REASON_POLICY);
  // frontend -> api is a segment: from another node it passes on to TC.
  EXPECT_EQ(Send({kUplink, kUnboundIf, Tcp(kV6.frontend, kV6.api, 40000, 8080, kSyn)}), XDP_PASS);
  // Into a workload that learns: TC decides.
  SetMode(kApi, BH_MODE_LEARN);
  EXPECT_EQ(Send({kUplink, kUnboundIf, Tcp(kV4.world, kV4.api, 40000, 8080, kSyn)}), XDP_PASS);
}

TEST_F(DatapathBehaviourTest, UplinkLeavesAnythingButFlowOpenersToTc) {
  // A Service backend on another node answering before the node restored
  // the translated tuple: not a SYN, so TC judges it after translation.
  EXPECT_EQ(Send({kUplink, kUnboundIf, Tcp(kV4.world, kV4.api, 53, 40000, kSynAck)}), XDP_PASS);
  EXPECT_EQ(Send({kUplink, kUnboundIf, Udp(kV4.world, kV4.api, 53, 40000)}), XDP_PASS);
  EXPECT_EQ(Send({kUplink, kUnboundIf, EchoRequest(kV6.world, kV6.api, 9)}), XDP_DROP);
}

TEST_F(DatapathBehaviourTest, AFloodOfAuditedFlowsCannotCrowdOutADropReport) {
  SetMode(kFrontend, BH_MODE_LEARN);
  SetMode(kApi, BH_MODE_LEARN);
  // More audited flows than the 1 MiB event ring holds (72-byte events).
  for (int i = 0; i < 16000; ++i)
    Send(From(Tcp(kV4.frontend, kV4.api, static_cast<std::uint16_t>(20000 + i), 9000, kSyn)));
  EXPECT_GT(Stat(BH_STAT_EVENTS_LOST), 0u) << "the flood filled the event ring";
  EXPECT_EQ(Send(To(Tcp(kV4.frontend, kV4.db, 40000, 5432, kSyn), kUnboundIf)), TC_ACT_SHOT);
  bool reported = false;
  for (const bh_flow_event& e : DrainEvents())
    reported |= e.verdict == BH_VERDICT_DROPPED && e.dst_identity == kDb;
  EXPECT_TRUE(reported) << "drops have a ring of their own";
}

TEST_F(DatapathBehaviourTest, UplinkLetsRepliesOfLetThroughFlowsIn) {
  // api opens a flow to a peer on another node (world here): allowed by a
  // segment api -> world udp/53.
  Allow(kApi, BH_IDENTITY_WORLD, IPPROTO_UDP, 53, 11);
  ASSERT_TRUE(dp_->BumpEpoch().ok());
  ASSERT_EQ(Send(From(Udp(kV4.api, kV4.world, 40000, 53), kApiIf)), TC_ACT_OK);
  EXPECT_EQ(Send({kUplink, kUnboundIf, Udp(kV4.world, kV4.api, 53, 40000)}), XDP_PASS);
  EXPECT_EQ(Send(To(Udp(kV4.world, kV4.api, 53, 40000), kApiIf)), TC_ACT_OK) << "and TC agrees";
  EXPECT_EQ(Send(To(Udp(kV4.world, kV4.api, 53, 40001), kApiIf)), TC_ACT_SHOT)
      << "another port is no reply";
}

// CIDR identities: an address no workload or node owns is the network set
// with the longest prefix holding it, else private, else world; segments to
// them work like any other, and a network set is not a workload.
TEST_F(DatapathBehaviourTest, AddressesOutsideTheWorkloadsGetTheirCidrIdentity) {
  constexpr std::uint32_t kPayments = BH_IDENTITY_FIRST_NETWORK;
  constexpr std::uint32_t kCorp = BH_IDENTITY_FIRST_NETWORK + 1;
  for (auto [cidr, identity] : {std::pair{"203.0.113.0/24", kPayments},
                                {"2001:db8:77::/48", kPayments},
                                {"10.99.0.0/16", kCorp},
                                {"10.0.0.0/8", static_cast<std::uint32_t>(BH_IDENTITY_PRIVATE)},
                                {"fc00::/7", static_cast<std::uint32_t>(BH_IDENTITY_PRIVATE)}})
    ASSERT_TRUE(dp_->ipcache_prefixes().Update(*ParsePrefix(cidr), {.identity = identity}).ok());
  Allow(kFrontend, kPayments, IPPROTO_TCP, 443, 11);
  Allow(kFrontend, BH_IDENTITY_PRIVATE, IPPROTO_TCP, 5432, 12);
  ASSERT_TRUE(dp_->BumpEpoch().ok());

  struct Row {
    const char* dst;
    std::uint16_t port;
    int verdict;
    std::uint32_t dst_identity;
  };
  for (const Row& row : {Row{"203.0.113.7", 443, TC_ACT_OK, kPayments},
                         Row{"2001:db8:77::7", 443, TC_ACT_OK, kPayments},
                         Row{"203.0.113.7", 80, TC_ACT_SHOT, kPayments},
                         Row{"10.7.7.7", 5432, TC_ACT_OK, BH_IDENTITY_PRIVATE},
                         Row{"fd12::7", 5432, TC_ACT_OK, BH_IDENTITY_PRIVATE},
                         // inside 10/8, but the set's longer prefix wins
                         Row{"10.99.1.1", 5432, TC_ACT_SHOT, kCorp},
                         Row{"198.51.100.7", 443, TC_ACT_SHOT, BH_IDENTITY_WORLD},
                         Row{"2001:db8:78::7", 443, TC_ACT_SHOT, BH_IDENTITY_WORLD}}) {
    bool v6 = std::string_view(row.dst).find(':') != std::string_view::npos;
    const char* src = v6 ? kV6.frontend : kV4.frontend;
    EXPECT_EQ(Send(From(Tcp(src, row.dst, 40000, row.port, kSyn))), row.verdict) << row.dst;
    auto events = DrainEvents();
    ASSERT_FALSE(events.empty()) << row.dst;
    EXPECT_EQ(events.back().dst_identity, row.dst_identity) << row.dst;
  }

  // A router in a network set is not a workload: its error about a live
  // flow is related (path MTU discovery keeps working).
  const Frame syn = Tcp(kV4.frontend, "203.0.113.7", 40001, 443, kSyn);
  ASSERT_EQ(Send(From(syn)), TC_ACT_OK);
  EXPECT_EQ(Send(To(IcmpError(kDestUnreachable, 4, syn).Src("203.0.113.1"), kFrontendIf)),
            TC_ACT_OK);
  EXPECT_EQ(Stat(BH_STAT_RELATED), 1u);
}

// A range segment admits every port in it and none outside; the programs
// look at ranges only while the agent says some exist.
TEST_F(DatapathBehaviourTest, ARangeSegmentAdmitsItsPortsOnly) {
  for (const bh_policy_lpm_key& key : PortRangeKeys(kFrontend, kApi, IPPROTO_TCP, 30000, 30010))
    ASSERT_TRUE(dp_->policy_ranges().Update(key, {.segment_id = 21}).ok());
  ASSERT_TRUE(dp_->SetLookups(BH_LOOKUP_POLICY_RANGES).ok());
  ASSERT_TRUE(dp_->BumpEpoch().ok());
  for (auto [port, verdict] : {std::pair{30000, TC_ACT_OK},
                               {30007, TC_ACT_OK},
                               {30008, TC_ACT_OK},
                               {30010, TC_ACT_OK},
                               {29999, TC_ACT_SHOT},
                               {30011, TC_ACT_SHOT},
                               {30016, TC_ACT_SHOT}}) {
    const Frame syn = Tcp(kV4.frontend, kV4.api, 40000, static_cast<std::uint16_t>(port), kSyn);
    EXPECT_EQ(Send(From(syn)), verdict) << port;
    auto events = DrainEvents();
    ASSERT_FALSE(events.empty()) << port;
    EXPECT_EQ(events.back().segment_id, verdict == TC_ACT_OK ? 21u : 0u) << port;
  }
  // The exact segment still wins where both exist (tcp/8080 is segment 1).
  ASSERT_TRUE(
      dp_->policy_ranges()
          .Update(PortRangeKeys(kFrontend, kApi, IPPROTO_TCP, 0, 65535)[0], {.segment_id = 22})
          .ok());
  EXPECT_EQ(Send(From(Tcp(kV4.frontend, kV4.api, 40001, 8080, kSyn))), TC_ACT_OK);
  EXPECT_EQ(DrainEvents().back().segment_id, 1u);
  // Lookups off: the ranges are not consulted.
  ASSERT_TRUE(dp_->SetLookups(0).ok());
  ASSERT_TRUE(dp_->BumpEpoch().ok());
  EXPECT_EQ(Send(From(Tcp(kV4.frontend, kV4.api, 40002, 30005, kSyn))), TC_ACT_SHOT);
}

// A guardrail drops what it denies in every mode, before any segment; its
// exceptions leave a flow to the segments and the mode.
TEST_F(DatapathBehaviourTest, AGuardrailDropsInEveryModeAndItsExceptionsDoNot) {
  constexpr std::uint32_t kGuardrail = 7;
  ASSERT_TRUE(dp_->guardrails()
                  .Update(AnyProtocolKey(kFrontend, kApi),
                          {.guardrail_id = kGuardrail, .action = BH_GUARDRAIL_DENY})
                  .ok());
  ASSERT_TRUE(dp_->guardrails()
                  .Update(PortRangeKeys(kFrontend, kApi, IPPROTO_UDP, 5353, 5353)[0],
                          {.guardrail_id = kGuardrail, .action = BH_GUARDRAIL_EXCEPT})
                  .ok());
  ASSERT_TRUE(dp_->SetLookups(BH_LOOKUP_GUARDRAILS).ok());
  for (bh_mode mode : {BH_MODE_LEARN, BH_MODE_MONITOR, BH_MODE_ENFORCE}) {
    SetMode(kFrontend, mode);
    SetMode(kApi, mode);
    // tcp/8080 has a segment; the guardrail wins at both hooks and at the uplink.
    // A new tuple per mode: a drop is reported once per flow and interval.
    const Frame syn =
        Tcp(kV4.frontend, kV4.api, static_cast<std::uint16_t>(41000 + mode), 8080, kSyn);
    std::uint64_t before = Stat(BH_STAT_DROPPED_GUARDRAIL);
    EXPECT_EQ(Send(From(syn)), TC_ACT_SHOT) << "mode " << static_cast<int>(mode);
    EXPECT_EQ(Send(To(syn)), TC_ACT_SHOT) << "mode " << static_cast<int>(mode);
    EXPECT_EQ(Send({kUplink, kUnboundIf, syn}), XDP_DROP) << "mode " << static_cast<int>(mode);
    EXPECT_EQ(Stat(BH_STAT_DROPPED_GUARDRAIL), before + 3);  // both hooks and the uplink
    auto events = DrainEvents();
    ASSERT_FALSE(events.empty());
    for (const bh_flow_event& e : events) {
      EXPECT_EQ(e.verdict, BH_VERDICT_DROPPED);
      EXPECT_EQ(e.reason, BH_REASON_GUARDRAIL);
      EXPECT_EQ(e.segment_id, kGuardrail);
    }
    // udp/5353 is excepted and has a segment: forwarded.
    EXPECT_EQ(Send(From(Udp(kV4.frontend, kV4.api, 40001, 5353))), TC_ACT_OK)
        << "mode " << static_cast<int>(mode);
    // Another pair is not the guardrail's business (api -> db has a segment).
    EXPECT_EQ(Send(From(Tcp(kV4.api, kV4.db, 40002, 5432, kSyn), kApiIf)), TC_ACT_OK);
    DrainEvents();
  }
  // Headers the parser gives up on pass into a learning workload as AUDIT,
  // but not past a guardrail on the pair (the ports were never read), nor
  // does an orphan fragment.
  SetMode(kApi, BH_MODE_LEARN);
  const Frame odd = Tcp(kV6.frontend, kV6.api, 42000, 8080, kSyn)
                        .Ipv6Ext({kDestOpts, kDestOpts, kDestOpts, kDestOpts, kDestOpts, kDestOpts,
                                  kDestOpts, kDestOpts, kDestOpts, kDestOpts});
  const std::vector<Frame> pieces =
      Fragments(Udp(kV4.frontend, kV4.api, 42001, 5353).Payload(Frame(2000, 0xab)), 1232);
  for (const Frame& frame : {odd, pieces[1]}) {
    std::uint64_t before = Stat(BH_STAT_DROPPED_GUARDRAIL);
    EXPECT_EQ(Send(To(frame)), TC_ACT_SHOT);
    EXPECT_EQ(Stat(BH_STAT_DROPPED_GUARDRAIL), before + 1);
    auto events = DrainEvents();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].reason, BH_REASON_GUARDRAIL);
    EXPECT_EQ(events[0].segment_id, kGuardrail);
  }
  // The same odd frame between a pair no guardrail covers still passes.
  EXPECT_EQ(Send(To(Tcp(kV6.db, kV6.api, 42002, 8080, kSyn)
                        .Ipv6Ext({kDestOpts, kDestOpts, kDestOpts, kDestOpts, kDestOpts, kDestOpts,
                                  kDestOpts, kDestOpts, kDestOpts, kDestOpts}))),
            TC_ACT_OK);

  // The lookups bit off: the programs do not consult the guardrails.
  ASSERT_TRUE(dp_->SetLookups(0).ok());
  ASSERT_TRUE(dp_->BumpEpoch().ok());
  EXPECT_EQ(Send(From(Tcp(kV4.frontend, kV4.api, 40003, 8080, kSyn))), TC_ACT_OK);
}

// kube-proxy rewrites a Service's address only after the packet left the
// source's hook: from_endpoint judges the flow as the one to the backend's
// target port, replies from the Service's address included.
TEST_F(DatapathBehaviourTest, AFlowToAServiceIsJudgedAsTheFlowToItsBackend) {
  for (const Family* f : {&kV4, &kV6}) {
    SCOPED_TRACE(f->name);
    Load();
    const char* vip = f == &kV4 ? "10.244.254.10" : "fd00:244::fe10";
    ASSERT_TRUE(dp_->services()
                    .Update(ServiceKey(*ParseAddress(vip), IPPROTO_TCP, 80),
                            {.identity = kApi, .target_port_be = htons(8080)})
                    .ok());
    ASSERT_TRUE(dp_->services()
                    .Update(ServiceKey(*ParseAddress(vip), IPPROTO_TCP, 81),
                            {.identity = kApi, .target_port_be = htons(9090)})
                    .ok());
    ASSERT_TRUE(dp_->SetLookups(BH_LOOKUP_SERVICES).ok());
    ASSERT_TRUE(dp_->BumpEpoch().ok());

    // Port 80 leads to api:8080, which frontend may reach.
    const Frame syn = Tcp(f->frontend, vip, 40000, 80, kSyn);
    EXPECT_EQ(Send(From(syn)), TC_ACT_OK);
    auto events = DrainEvents();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].dst_identity, kApi);
    EXPECT_EQ(events[0].segment_id, 1u);
    EXPECT_EQ(ntohs(events[0].dport_be), 80) << "the event keeps the packet's port";
    EXPECT_TRUE(events[0].flags & BH_FLOW_SERVICE);
    const Frame answer = Tcp(vip, f->frontend, 80, 40000, kSynAck);
    EXPECT_EQ(Send(To(answer, kFrontendIf)), TC_ACT_OK) << "the Service's answer is a reply";

    // Port 81 leads to api:9090, which no segment allows: dropped, reported
    // as the flow to api.
    EXPECT_EQ(Send(From(Tcp(f->frontend, vip, 40001, 81, kSyn))), TC_ACT_SHOT);
    events = DrainEvents();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].verdict, BH_VERDICT_DROPPED);
    EXPECT_EQ(events[0].reason, BH_REASON_POLICY);
    EXPECT_EQ(events[0].dst_identity, kApi);
    EXPECT_TRUE(events[0].flags & BH_FLOW_SERVICE);

    // Revoked: the Service's reply is decided again, as the flow to api.
    Revoke(kFrontend, kApi, IPPROTO_TCP, 8080);
    EXPECT_EQ(Send(To(Tcp(vip, f->frontend, 80, 40000, kAck), kFrontendIf)), TC_ACT_SHOT);
    EXPECT_EQ(Send(From(Tcp(f->frontend, vip, 40000, 80, kAck))), TC_ACT_SHOT);
    Allow(kFrontend, kApi, IPPROTO_TCP, 8080, 9);
    ASSERT_TRUE(dp_->BumpEpoch().ok());
    EXPECT_EQ(Send(From(Tcp(f->frontend, vip, 40000, 80, kAck))), TC_ACT_OK);

    // A guardrail on frontend -> api holds through the Service.
    ASSERT_TRUE(dp_->guardrails()
                    .Update(AnyProtocolKey(kFrontend, kApi),
                            {.guardrail_id = 7, .action = BH_GUARDRAIL_DENY})
                    .ok());
    ASSERT_TRUE(dp_->SetLookups(BH_LOOKUP_SERVICES | BH_LOOKUP_GUARDRAILS).ok());
    ASSERT_TRUE(dp_->BumpEpoch().ok());
    EXPECT_EQ(Send(From(Tcp(f->frontend, vip, 40002, 80, kSyn))), TC_ACT_SHOT);
    events = DrainEvents();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().reason, BH_REASON_GUARDRAIL);
    ASSERT_TRUE(dp_->guardrails().Delete(AnyProtocolKey(kFrontend, kApi)).ok());

    // Another protocol on the same address and port is not the Service.
    EXPECT_EQ(Send(From(Udp(f->frontend, vip, 40003, 80))), TC_ACT_SHOT);
    events = DrainEvents();
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back().dst_identity, BH_IDENTITY_WORLD);
    EXPECT_FALSE(events.back().flags & BH_FLOW_SERVICE);

    // The lookups bit off: the map is not consulted.
    ASSERT_TRUE(dp_->SetLookups(0).ok());
    ASSERT_TRUE(dp_->BumpEpoch().ok());
    EXPECT_EQ(Send(From(Tcp(f->frontend, vip, 40004, 80, kSyn))), TC_ACT_SHOT);
  }
}

TEST_F(DatapathBehaviourTest, UplinkDropsPacketsClaimingTheNodesAddress) {
  EXPECT_EQ(Send({kUplink, kUnboundIf, Tcp(kV4.node, kV4.api, 40000, 8080, kSyn)}), XDP_DROP);
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, BH_REASON_SPOOFED);
}

}  // namespace
}  // namespace bulkhead
