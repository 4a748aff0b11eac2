#include "tests/packets.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

#include <cstring>

namespace bulkhead::testing {
namespace {

void Put16(Frame& f, std::uint16_t host_value) {
  std::uint16_t be = htons(host_value);
  const auto* p = reinterpret_cast<const std::uint8_t*>(&be);
  f.insert(f.end(), p, p + 2);
}

void PutAddr(Frame& f, const std::string& dotted) {
  in_addr addr{};
  inet_pton(AF_INET, dotted.c_str(), &addr);
  const auto* p = reinterpret_cast<const std::uint8_t*>(&addr.s_addr);
  f.insert(f.end(), p, p + 4);
}

Frame Ethernet(std::uint16_t ethertype) {
  Frame f = {0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01};
  Put16(f, ethertype);
  return f;
}

// IPv4 header without options; checksums are not checked by the programs.
Frame Ipv4(const std::string& src, const std::string& dst, std::uint8_t proto,
           std::uint16_t payload_len, std::uint8_t ihl = 5) {
  Frame f = Ethernet(ETH_P_IP);
  f.push_back(0x40 | ihl);
  f.push_back(0);
  Put16(f, 20 + payload_len);
  Put16(f, 1);  // id
  Put16(f, 0);  // flags + fragment offset
  f.push_back(64);
  f.push_back(proto);
  Put16(f, 0);
  PutAddr(f, src);
  PutAddr(f, dst);
  return f;
}

}  // namespace

Frame TcpFrame(const Ipv4Tuple& t, std::uint8_t flags) {
  Frame f = Ipv4(t.src, t.dst, IPPROTO_TCP, 20);
  Put16(f, t.sport);
  Put16(f, t.dport);
  f.insert(f.end(), 8, 0);  // seq, ack
  f.push_back(5 << 4);      // data offset
  f.push_back(flags);
  Put16(f, 65535);  // window
  Put16(f, 0);      // checksum
  Put16(f, 0);      // urgent
  return f;
}

Frame UdpFrame(const Ipv4Tuple& t) {
  Frame f = Ipv4(t.src, t.dst, IPPROTO_UDP, 12);
  Put16(f, t.sport);
  Put16(f, t.dport);
  Put16(f, 12);
  Put16(f, 0);
  f.insert(f.end(), 4, 0xab);
  return f;
}

Frame IcmpEchoFrame(const std::string& src, const std::string& dst, std::uint16_t id, bool reply) {
  Frame f = Ipv4(src, dst, IPPROTO_ICMP, 8);
  f.push_back(reply ? 0 : 8);
  f.push_back(0);
  Put16(f, 0);
  Put16(f, id);
  Put16(f, 1);  // sequence
  return f;
}

Frame ArpFrame() {
  Frame f = Ethernet(ETH_P_ARP);
  f.insert(f.end(), 28, 0);
  return f;
}

Frame BadIhlFrame(const std::string& src, const std::string& dst) {
  Frame f = Ipv4(src, dst, IPPROTO_TCP, 20, /*ihl=*/3);
  f.insert(f.end(), 20, 0);
  return f;
}

}  // namespace bulkhead::testing
