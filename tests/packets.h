// Builds raw Ethernet frames for BPF_PROG_TEST_RUN tests and benchmarks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bulkhead::testing {

using Frame = std::vector<std::uint8_t>;

struct Ipv4Tuple {
  std::string src;  // dotted quad
  std::string dst;
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
};

// TCP flags for TcpFrame.
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kAck = 0x10;
inline constexpr std::uint8_t kSynAck = kSyn | kAck;

Frame TcpFrame(const Ipv4Tuple& t, std::uint8_t flags);
Frame UdpFrame(const Ipv4Tuple& t);
// sport carries the echo identifier.
Frame IcmpEchoFrame(const std::string& src, const std::string& dst, std::uint16_t id, bool reply);
Frame ArpFrame();
// An IPv4 header with IHL 3 (12 bytes): malformed.
Frame BadIhlFrame(const std::string& src, const std::string& dst);

}  // namespace bulkhead::testing
