#include "datapath/abi.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <string>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace bulkhead {

absl::StatusOr<bh_addr> ParseAddress(absl::string_view text) {
  // inet_pton stops at a NUL: "10.0.0.1\0junk" is not an address.
  if (text.find('\0') != absl::string_view::npos)
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CHexEscape(text), "\" is not an IPv4 or IPv6 address"));
  std::string s(text);
  bh_addr addr{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) return Ipv4Address(v4.s_addr);
  if (inet_pton(AF_INET6, s.c_str(), &addr) == 1) return addr;
  return absl::InvalidArgumentError(
      absl::StrCat("\"", absl::CHexEscape(text), "\" is not an IPv4 or IPv6 address"));
}

bh_addr Ipv4Address(std::uint32_t addr_be) {
  bh_addr addr{};
  addr.be32[2] = htonl(0x0000ffff);
  addr.be32[3] = addr_be;
  return addr;
}

bool IsIpv4(const bh_addr& addr) {
  return addr.be32[0] == 0 && addr.be32[1] == 0 && addr.be32[2] == htonl(0x0000ffff);
}

std::string FormatAddress(const bh_addr& addr) {
  char buf[INET6_ADDRSTRLEN];
  if (IsIpv4(addr)) {
    inet_ntop(AF_INET, &addr.be32[3], buf, sizeof(buf));
  } else {
    inet_ntop(AF_INET6, &addr, buf, sizeof(buf));
  }
  return buf;
}

std::string NonUnicastReason(const bh_addr& addr) {
  if (IsIpv4(addr)) {
    std::uint32_t a = ntohl(addr.be32[3]);
    if (a == 0) return "the unspecified address";
    if ((a >> 24) == 0) return "in 0.0.0.0/8 (this network)";
    if ((a >> 24) == 127) return "a loopback address";
    if ((a >> 28) == 0xe) return "a multicast address";
    if (a == 0xffffffff) return "the broadcast address";
    if ((a >> 28) == 0xf) return "in 240.0.0.0/4 (reserved)";
    if ((a >> 16) == 0xa9fe) return "a link-local address";
    return "";
  }
  const auto* b = reinterpret_cast<const std::uint8_t*>(&addr);
  static const bh_addr kZero{};
  if (addr == kZero) return "the unspecified address";
  bh_addr loopback{};
  loopback.be32[3] = htonl(1);
  if (addr == loopback) return "the loopback address";
  if (b[0] == 0xff) return "a multicast address";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "a link-local address";
  return "";
}

std::string ProtocolName(std::uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_ICMPV6:
      return "icmpv6";
    case IPPROTO_SCTP:
      return "sctp";
    default:
      return absl::StrCat(proto);
  }
}

const char* ReasonName(std::uint8_t reason) {
  switch (reason) {
    case BH_REASON_NONE:
      return "none";
    case BH_REASON_POLICY:
      return "policy";
    case BH_REASON_SPOOFED:
      return "spoofed";
    case BH_REASON_MALFORMED:
      return "malformed";
    case BH_REASON_FRAGMENT:
      return "fragment";
    case BH_REASON_UNPARSEABLE:
      return "unparseable";
    case BH_REASON_UNBOUND:
      return "unbound";
    default:
      return "unknown";
  }
}

const char* HookName(std::uint8_t hook) {
  switch (hook) {
    case BH_HOOK_FROM_ENDPOINT:
      return "from-endpoint";
    case BH_HOOK_TO_ENDPOINT:
      return "to-endpoint";
    case BH_HOOK_FROM_UPLINK:
      return "from-uplink";
    default:
      return "unknown";
  }
}

bh_ipcache_lpm_key IpcachePrefix(const bh_addr& addr, int prefix_len) {
  bh_ipcache_lpm_key key{};
  key.prefixlen = IsIpv4(addr) ? 96 + prefix_len : prefix_len;
  key.addr = addr;
  return key;
}

absl::StatusOr<bh_ipcache_lpm_key> ParsePrefix(absl::string_view text) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CHexEscape(text), "\" is not a CIDR prefix: ", why));
  };
  std::size_t slash = text.find('/');
  auto addr = ParseAddress(text.substr(0, slash));
  if (!addr.ok()) return invalid("no IPv4 or IPv6 address before the '/'");
  int max_len = IsIpv4(*addr) ? 32 : 128;
  int len = max_len;
  if (slash != absl::string_view::npos) {
    absl::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3 ||
        digits.find_first_not_of("0123456789") != absl::string_view::npos)
      return invalid("the length after '/' is not a number");
    len = std::stoi(std::string(digits));
    if (len > max_len) return invalid(absl::StrCat("the length is above ", max_len));
  }
  bh_ipcache_lpm_key key = IpcachePrefix(*addr, len);
  // The network: every bit past the prefix cleared.
  bh_addr network{};
  auto* in = reinterpret_cast<const std::uint8_t*>(&key.addr);
  auto* out = reinterpret_cast<std::uint8_t*>(&network);
  for (std::uint32_t bit = 0; bit < key.prefixlen; ++bit)
    out[bit / 8] |= in[bit / 8] & (0x80 >> (bit % 8));
  if (!(network == key.addr))
    return invalid(absl::StrCat("bits are set past the length (the network is ",
                                FormatAddress(network), "/", len, ")"));
  if (!IsIpv4(*addr) && len <= 96) {
    // Does the IPv6 prefix contain ::ffff:0.0.0.0/96? Then IPv4 addresses
    // would fall into it: the datapath keeps both families in one form.
    bh_ipcache_lpm_key mapped = IpcachePrefix(Ipv4Address(0), 0);
    bool covers = true;
    auto* m = reinterpret_cast<const std::uint8_t*>(&mapped.addr);
    for (std::uint32_t bit = 0; bit < key.prefixlen && covers; ++bit)
      covers = ((in[bit / 8] ^ m[bit / 8]) & (0x80 >> (bit % 8))) == 0;
    if (covers)
      return invalid(
          "it contains the IPv4-mapped range ::ffff:0:0/96; write IPv4 networks as "
          "IPv4 (and IPv6 ones within 2000::/3, fc00::/7...)");
  }
  return key;
}

bh_ct_key CtKey(const bh_addr& saddr, const bh_addr& daddr, std::uint16_t sport_be,
                std::uint16_t dport_be, std::uint8_t proto) {
  bool swap = daddr < saddr || (daddr == saddr && ntohs(dport_be) < ntohs(sport_be));
  bh_ct_key key;
  std::memset(&key, 0, sizeof(key));
  key.proto = proto;
  key.addr[0] = swap ? daddr : saddr;
  key.addr[1] = swap ? saddr : daddr;
  key.port_be[0] = swap ? dport_be : sport_be;
  key.port_be[1] = swap ? sport_be : dport_be;
  return key;
}

bh_policy_key PolicyKey(std::uint32_t src_identity, std::uint32_t dst_identity, std::uint8_t proto,
                        std::uint16_t port) {
  bh_policy_key key{};
  key.src_identity = src_identity;
  key.dst_identity = dst_identity;
  key.proto = proto;
  key.dport_be = htons(port);
  return key;
}

std::string DescribeKey(const bh_policy_key& key) {
  return absl::StrCat(key.src_identity, "->", key.dst_identity, " ", ProtocolName(key.proto), "/",
                      ntohs(key.dport_be));
}

std::string DescribeKey(const bh_addr& key) { return FormatAddress(key); }

std::string DescribeKey(const bh_ipcache_lpm_key& key) {
  int bits = static_cast<int>(key.prefixlen) - (IsIpv4(key.addr) ? 96 : 0);
  return absl::StrCat(FormatAddress(key.addr), "/", bits);
}

std::string DescribeKey(const bh_ct_key& key) {
  return absl::StrCat(ProtocolName(key.proto), " [", FormatAddress(key.addr[0]),
                      "]:", ntohs(key.port_be[0]), "<->[", FormatAddress(key.addr[1]),
                      "]:", ntohs(key.port_be[1]));
}

std::string DescribeKey(const bh_frag_key& key) {
  return absl::StrCat(ProtocolName(key.proto), " ", FormatAddress(key.saddr), "->",
                      FormatAddress(key.daddr), " id ", ntohl(key.id_be));
}

std::string DescribeKey(const bh_drop_report_key& key) {
  return absl::StrCat(DescribeKey(key.flow), " at ", HookName(key.hook), " (",
                      ReasonName(key.reason), ")");
}

std::string DescribeKey(std::uint32_t key) { return absl::StrCat(key); }

bool PolicyKeyLess::operator()(const bh_policy_key& a, const bh_policy_key& b) const {
  return std::tie(a.src_identity, a.dst_identity, a.proto, a.dport_be) <
         std::tie(b.src_identity, b.dst_identity, b.proto, b.dport_be);
}

bool PolicyLpmKeyLess::operator()(const bh_policy_lpm_key& a, const bh_policy_lpm_key& b) const {
  return std::tie(a.src_identity, a.dst_identity, a.proto, a.dport_be, a.prefixlen) <
         std::tie(b.src_identity, b.dst_identity, b.proto, b.dport_be, b.prefixlen);
}

bool ServiceKeyLess::operator()(const bh_service_key& a, const bh_service_key& b) const {
  return std::tie(a.addr, a.proto, a.port_be) < std::tie(b.addr, b.proto, b.port_be);
}

bh_service_key ServiceKey(const bh_addr& addr, std::uint8_t proto, std::uint16_t port) {
  return {.addr = addr, .port_be = htons(port), .proto = proto, .pad = 0};
}

std::string DescribeKey(const bh_service_key& key) {
  return absl::StrCat(FormatAddress(key.addr), " ", ProtocolName(key.proto), "/",
                      ntohs(key.port_be));
}

std::vector<bh_policy_lpm_key> PortRangeKeys(std::uint32_t src_identity, std::uint32_t dst_identity,
                                             std::uint8_t proto, std::uint16_t first,
                                             std::uint16_t last) {
  std::vector<bh_policy_lpm_key> keys;
  std::uint32_t port = first;
  while (port <= last) {
    // The largest aligned block starting at `port` that stays within last.
    int bits = 0;
    while (bits < 16 && (port & ((2u << bits) - 1)) == 0 && port + (2u << bits) - 1 <= last) ++bits;
    bh_policy_lpm_key key{};
    key.prefixlen = BH_POLICY_LPM_PORT_BITS + 16 - bits;
    key.src_identity = src_identity;
    key.dst_identity = dst_identity;
    key.proto = proto;
    key.dport_be = htons(static_cast<std::uint16_t>(port));
    keys.push_back(key);
    port += 1u << bits;
  }
  return keys;
}

bh_policy_lpm_key AnyProtocolKey(std::uint32_t src_identity, std::uint32_t dst_identity) {
  bh_policy_lpm_key key{};
  key.prefixlen = 64;
  key.src_identity = src_identity;
  key.dst_identity = dst_identity;
  return key;
}

std::string DescribeKey(const bh_policy_lpm_key& key) {
  if (key.prefixlen <= 64) return absl::StrCat(key.src_identity, "->", key.dst_identity, " any");
  std::string proto = ProtocolName(key.proto);
  if (key.prefixlen < BH_POLICY_LPM_PORT_BITS)
    return absl::StrCat(key.src_identity, "->", key.dst_identity, " ", proto, "/any");
  int bits = static_cast<int>(key.prefixlen) - BH_POLICY_LPM_PORT_BITS;
  std::uint32_t first = ntohs(key.dport_be);
  std::uint32_t last = first + (1u << (16 - bits)) - 1;
  return absl::StrCat(key.src_identity, "->", key.dst_identity, " ", proto, "/", first,
                      first == last ? "" : absl::StrCat("-", last));
}

bool PrefixLess::operator()(const bh_ipcache_lpm_key& a, const bh_ipcache_lpm_key& b) const {
  int order = std::memcmp(&a.addr, &b.addr, sizeof(a.addr));
  return order < 0 || (order == 0 && a.prefixlen < b.prefixlen);
}

}  // namespace bulkhead
