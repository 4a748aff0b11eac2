// A segment's identity: "from workload -> to workload : proto/port".
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace bulkhead {

struct SegmentKey {
  std::string from;  // "namespace/name"
  std::string to;
  std::uint8_t proto = 0;  // IPPROTO_*
  std::uint16_t port = 0;  // server port; the type for ICMP and ICMPv6

  auto operator<=>(const SegmentKey&) const = default;
  bool operator==(const SegmentKey&) const = default;
};

// "shop/frontend -> shop/api : tcp/8080"
std::string ToString(const SegmentKey& key);

}  // namespace bulkhead
