#include "datapath/abi.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace bulkhead {
namespace {

std::string Ipv4String(std::uint32_t addr_be) {
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr_be, buf, sizeof(buf));
  return buf;
}

}  // namespace

std::string ProtocolName(std::uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    default:
      return absl::StrCat(proto);
  }
}

bh_ipcache_key Ipv4IpcacheKey(std::uint32_t addr_be, int prefix_len) {
  bh_ipcache_key key{};
  key.prefixlen = BH_IPCACHE_PREFIX_BITS + prefix_len;
  key.family = AF_INET;
  std::memcpy(key.addr, &addr_be, sizeof(addr_be));
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

std::string DescribeKey(const bh_ipcache_key& key) {
  std::uint32_t addr_be;
  std::memcpy(&addr_be, key.addr, sizeof(addr_be));
  return absl::StrCat(Ipv4String(addr_be), "/", key.prefixlen - BH_IPCACHE_PREFIX_BITS);
}

std::string DescribeKey(const bh_ct_key& key) {
  return absl::StrCat(ProtocolName(key.proto), " ", Ipv4String(key.saddr_be), ":",
                      ntohs(key.sport_be), "->", Ipv4String(key.daddr_be), ":",
                      ntohs(key.dport_be));
}

std::string DescribeKey(std::uint32_t key) { return absl::StrCat(key); }

bool PolicyKeyLess::operator()(const bh_policy_key& a, const bh_policy_key& b) const {
  return std::tie(a.src_identity, a.dst_identity, a.proto, a.dport_be) <
         std::tie(b.src_identity, b.dst_identity, b.proto, b.dport_be);
}

}  // namespace bulkhead
