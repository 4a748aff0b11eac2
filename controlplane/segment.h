// A segment's identity: "from peer -> to peer : proto/port", or a port
// range ("proto/first-last", "proto/any").
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace bulkhead {

struct SegmentKey {
  std::string from;  // "namespace/name"
  std::string to;
  std::uint8_t proto = 0;      // IPPROTO_*
  std::uint16_t port = 0;      // server port; the type for ICMP and ICMPv6
  std::uint16_t port_end = 0;  // a range's last port (inclusive); 0: one port

  bool is_range() const { return port_end != 0; }
  bool Covers(std::uint16_t p) const { return is_range() ? p >= port && p <= port_end : p == port; }

  auto operator<=>(const SegmentKey&) const = default;
  bool operator==(const SegmentKey&) const = default;
};

// "shop/frontend -> shop/api : tcp/8080"
std::string ToString(const SegmentKey& key);

}  // namespace bulkhead
