// The kernel/userspace structs, declared once in bpf/datapath.h, with their
// sizes pinned here so a layout change on either side fails the build; and
// the helpers that build and describe their keys.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bpf/datapath.h"

static_assert(sizeof(bh_addr) == 16);
static_assert(sizeof(bh_config) == 64);
static_assert(sizeof(bh_epoch_value) == 8);
static_assert(sizeof(bh_ipcache_value) == 8);
static_assert(sizeof(bh_ipcache_lpm_key) == 20);
static_assert(sizeof(bh_policy_key) == 12);
static_assert(sizeof(bh_policy_value) == 8);
static_assert(sizeof(bh_policy_lpm_key) == 16);
static_assert(sizeof(bh_guardrail_value) == 8);
static_assert(sizeof(bh_service_key) == 20);
static_assert(sizeof(bh_service_value) == 8);
static_assert(BH_STAT_MAX <= BH_STAT_SLOTS);
static_assert(sizeof(bh_mode_value) == 4);
static_assert(sizeof(bh_endpoint_value) == 8);
static_assert(sizeof(bh_ct_key) == 40);
static_assert(sizeof(bh_ct_entry) == 40);
static_assert(sizeof(bh_frag_key) == 40);
static_assert(sizeof(bh_frag_value) == 16);
static_assert(sizeof(bh_drop_report_key) == 48);
static_assert(sizeof(bh_flow_event) == 72);

// Addresses as map keys and in std containers: byte order, as the kernel
// compares them.
inline bool operator==(const bh_addr& a, const bh_addr& b) {
  return std::memcmp(&a, &b, sizeof(a)) == 0;
}
inline bool operator<(const bh_addr& a, const bh_addr& b) {
  return std::memcmp(&a, &b, sizeof(a)) < 0;
}

namespace bulkhead {

// "10.244.1.10" or "fd00:244::10" -> the datapath's 16-byte form (IPv4
// IPv4-mapped). Fails with the text it could not read.
absl::StatusOr<bh_addr> ParseAddress(absl::string_view text);
// The 16-byte form from an IPv4 address in network byte order.
bh_addr Ipv4Address(std::uint32_t addr_be);
// Whether the address is IPv4 (IPv4-mapped).
bool IsIpv4(const bh_addr& addr);
// "10.244.1.10" for IPv4, "fd00:244::10" for IPv6.
std::string FormatAddress(const bh_addr& addr);
// Why the address cannot belong to a workload (unspecified, loopback,
// multicast, broadcast, link-local...), or empty when it can.
std::string NonUnicastReason(const bh_addr& addr);

// Key builders: ports in host order in, kernel layout out.
bh_ipcache_lpm_key IpcachePrefix(const bh_addr& addr, int prefix_len);  // family's own bits
// "10.0.0.0/8", "fd00::/8" or a bare address (all its bits) -> an ipcache
// prefix. Refuses host bits past the prefix ("10.1.0.0/8": the message
// names the network meant), lengths out of range, and IPv6 prefixes that
// reach into the IPv4-mapped range (write those as IPv4).
absl::StatusOr<bh_ipcache_lpm_key> ParsePrefix(absl::string_view text);
bh_policy_key PolicyKey(std::uint32_t src_identity, std::uint32_t dst_identity, std::uint8_t proto,
                        std::uint16_t port);
// The fewest longest-prefix keys whose ports cover [first, last] exactly
// (at most 30; one for 0-65535: any port).
std::vector<bh_policy_lpm_key> PortRangeKeys(std::uint32_t src_identity, std::uint32_t dst_identity,
                                             std::uint8_t proto, std::uint16_t first,
                                             std::uint16_t last);
// A Service's address and port, as from_endpoint looks it up.
bh_service_key ServiceKey(const bh_addr& addr, std::uint8_t proto, std::uint16_t port);
// A key for any protocol and port between two identities.
bh_policy_lpm_key AnyProtocolKey(std::uint32_t src_identity, std::uint32_t dst_identity);
// A flow's conntrack key, as the programs make it (bpf/lib/conntrack.h):
// the ends in canonical order, ports in network order as in the packet
// (ICMP echo: the identifier as the source port, 0 as the destination).
bh_ct_key CtKey(const bh_addr& saddr, const bh_addr& daddr, std::uint16_t sport_be,
                std::uint16_t dport_be, std::uint8_t proto);

// Human-readable keys for error messages ("3->7 tcp/443").
std::string DescribeKey(const bh_policy_key& key);
std::string DescribeKey(const bh_addr& key);
std::string DescribeKey(const bh_ipcache_lpm_key& key);
std::string DescribeKey(const bh_policy_lpm_key& key);
std::string DescribeKey(const bh_ct_key& key);
std::string DescribeKey(const bh_frag_key& key);
std::string DescribeKey(const bh_service_key& key);
std::string DescribeKey(const bh_drop_report_key& key);
std::string DescribeKey(std::uint32_t key);

// Protocol number -> "tcp", "udp", "icmp", "icmpv6", "sctp" or the number.
std::string ProtocolName(std::uint8_t proto);
// Names of the enums as `bulkhead status` and the flow log print them.
const char* ReasonName(std::uint8_t reason);
const char* HookName(std::uint8_t hook);

// Kernel policy keys ordered field by field (for std::map and diffs).
struct PolicyKeyLess {
  bool operator()(const bh_policy_key& a, const bh_policy_key& b) const;
};
// Ranges and guardrail keys ordered field by field.
struct PolicyLpmKeyLess {
  bool operator()(const bh_policy_lpm_key& a, const bh_policy_lpm_key& b) const;
};
// Service keys ordered by address, protocol, port.
struct ServiceKeyLess {
  bool operator()(const bh_service_key& a, const bh_service_key& b) const;
};
// Prefixes ordered by address, then length.
struct PrefixLess {
  bool operator()(const bh_ipcache_lpm_key& a, const bh_ipcache_lpm_key& b) const;
};

}  // namespace bulkhead
