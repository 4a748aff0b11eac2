// The frame builder, read back by hand: what tests and benchmarks feed to
// BPF_PROG_TEST_RUN is what they say it is.
#include "tests/packets.h"

#include <netinet/in.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace bulkhead::testing {
namespace {

// Offsets in an untagged frame.
constexpr std::size_t kL3 = 14;
constexpr std::size_t kIpv4L4 = kL3 + 20;
constexpr std::size_t kIpv6L4 = kL3 + 40;

std::uint16_t Read16(const Frame& f, std::size_t at) {
  return static_cast<std::uint16_t>(f.at(at) << 8 | f.at(at + 1));
}

std::uint32_t Read32(const Frame& f, std::size_t at) {
  return static_cast<std::uint32_t>(Read16(f, at)) << 16 | Read16(f, at + 2);
}

Frame Slice(const Frame& f, std::size_t begin, std::size_t end) {
  return Frame(f.begin() + static_cast<std::ptrdiff_t>(begin),
               f.begin() + static_cast<std::ptrdiff_t>(end));
}

std::uint32_t Sum16(const Frame& f, std::size_t begin, std::size_t end) {
  std::uint32_t sum = 0;
  for (std::size_t i = begin; i < end; i += 2) sum += (f[i] << 8) | (i + 1 < end ? f[i + 1] : 0);
  return sum;
}

// A checksummed range sums, checksum included, to 0xffff (all ones).
std::uint16_t Folded(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(sum);
}

bool Ipv4HeaderChecksumOk(const Frame& f, std::size_t l3 = kL3) {
  return Folded(Sum16(f, l3, l3 + (f[l3] & 0x0f) * 4u)) == 0xffff;
}

// The L4 checksum over [l4, end) with the pseudo-header of the frame's
// addresses; ICMP (IPv4) has none.
bool L4ChecksumOk(const Frame& f, std::size_t l3, std::size_t l4, std::size_t end,
                  std::uint8_t protocol) {
  const bool ipv6 = Read16(f, l3 - 2) == 0x86dd;
  std::uint32_t sum = Sum16(f, l4, end);
  if (protocol != IPPROTO_ICMP) {
    const std::size_t addresses = ipv6 ? l3 + 8 : l3 + 12;
    sum += Sum16(f, addresses, addresses + (ipv6 ? 32 : 8));
    sum += protocol + static_cast<std::uint32_t>(end - l4);
  }
  return Folded(sum) == 0xffff;
}

TEST(PacketsTest, TcpOverIpv4HasConsistentLengthsAndChecksums) {
  const Frame f = Tcp("10.244.1.10", "10.244.1.20", 40000, 8080, kSyn).Payload({1, 2, 3});

  ASSERT_EQ(f.size(), kIpv4L4 + 20 + 3);
  EXPECT_EQ(Read16(f, 12), kEtherTypeIpv4);
  EXPECT_EQ(f[kL3], 0x45);                     // version 4, IHL 5
  EXPECT_EQ(Read16(f, kL3 + 2), 20 + 20 + 3);  // total length
  EXPECT_EQ(f[kL3 + 8], 64);                   // TTL
  EXPECT_EQ(f[kL3 + 9], IPPROTO_TCP);
  EXPECT_EQ(Read32(f, kL3 + 12), 0x0af4010au);
  EXPECT_EQ(Read32(f, kL3 + 16), 0x0af40114u);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(f));

  EXPECT_EQ(Read16(f, kIpv4L4), 40000);
  EXPECT_EQ(Read16(f, kIpv4L4 + 2), 8080);
  EXPECT_EQ(f[kIpv4L4 + 12] >> 4, 5);  // data offset
  EXPECT_EQ(f[kIpv4L4 + 13], kSyn);
  EXPECT_EQ(Read32(f, kIpv4L4 + 8), 0u);  // no ACK flag: acknowledgment number 0
  EXPECT_TRUE(L4ChecksumOk(f, kL3, kIpv4L4, f.size(), IPPROTO_TCP));
  EXPECT_EQ(L3Offset(f), kL3);
  EXPECT_EQ(L4Offset(f), kIpv4L4);
}

// The worked example of an IPv4 header checksum (RFC 1071 style), as in
// most textbooks: 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7.
TEST(PacketsTest, Ipv4HeaderChecksumMatchesAKnownAnswer) {
  const Frame f = Udp("192.168.0.1", "192.168.0.199", 1, 2)
                      .Id(0)
                      .DontFragment()
                      .Ttl(64)
                      .Payload(Frame(0x73 - 28, 0));
  EXPECT_EQ(Read16(f, kL3 + 10), 0xb861);
}

TEST(PacketsTest, UdpOverIpv6HasConsistentLengthsAndChecksum) {
  const Frame f = Udp("fd00::10", "fd00::20", 5353, 53).Payload(Frame(5, 0xab));

  ASSERT_EQ(f.size(), kIpv6L4 + 8 + 5);
  EXPECT_EQ(Read16(f, 12), kEtherTypeIpv6);
  EXPECT_EQ(f[kL3] >> 4, 6);
  EXPECT_EQ(Read16(f, kL3 + 4), 8 + 5);  // payload length
  EXPECT_EQ(f[kL3 + 6], IPPROTO_UDP);
  EXPECT_EQ(f[kL3 + 7], 64);  // hop limit
  EXPECT_EQ(f[kL3 + 8], 0xfd);
  EXPECT_EQ(f[kL3 + 23], 0x10);
  EXPECT_EQ(f[kL3 + 39], 0x20);

  EXPECT_EQ(Read16(f, kIpv6L4), 5353);
  EXPECT_EQ(Read16(f, kIpv6L4 + 2), 53);
  EXPECT_EQ(Read16(f, kIpv6L4 + 4), 8 + 5);  // UDP length
  EXPECT_TRUE(L4ChecksumOk(f, kL3, kIpv6L4, f.size(), IPPROTO_UDP));
  EXPECT_EQ(Slice(f, kIpv6L4 + 8, f.size()), Frame(5, 0xab));
}

TEST(PacketsTest, TcpAckCarriesAnAcknowledgmentNumber) {
  const Frame f = Tcp("fd00::1", "fd00::2", 1, 2, kSynAck);
  EXPECT_EQ(f[kIpv6L4 + 13], kSynAck);
  EXPECT_EQ(Read32(f, kIpv6L4 + 8), 1u);
  EXPECT_TRUE(L4ChecksumOk(f, kL3, kIpv6L4, f.size(), IPPROTO_TCP));
}

TEST(PacketsTest, EchoTypesFollowTheFamily) {
  const Frame request4 = EchoRequest("10.0.0.1", "10.0.0.2", 77, 3);
  const Frame reply4 = EchoReply("10.0.0.2", "10.0.0.1", 77, 3);
  const Frame request6 = EchoRequest("fd00::1", "fd00::2", 77, 3);
  const Frame reply6 = EchoReply("fd00::2", "fd00::1", 77, 3);

  EXPECT_EQ(request4[kL3 + 9], IPPROTO_ICMP);
  EXPECT_EQ(request4[kIpv4L4], 8);
  EXPECT_EQ(reply4[kIpv4L4], 0);
  EXPECT_EQ(request6[kL3 + 6], IPPROTO_ICMPV6);
  EXPECT_EQ(request6[kIpv6L4], 128);
  EXPECT_EQ(reply6[kIpv6L4], 129);
  for (const Frame* f : {&request4, &reply4}) {
    EXPECT_EQ(Read16(*f, kIpv4L4 + 4), 77);  // identifier
    EXPECT_EQ(Read16(*f, kIpv4L4 + 6), 3);   // sequence
    EXPECT_TRUE(L4ChecksumOk(*f, kL3, kIpv4L4, f->size(), IPPROTO_ICMP));
  }
  for (const Frame* f : {&request6, &reply6}) {
    EXPECT_EQ(Read16(*f, kIpv6L4 + 4), 77);
    EXPECT_EQ(Read16(*f, kIpv6L4 + 6), 3);
    EXPECT_TRUE(L4ChecksumOk(*f, kL3, kIpv6L4, f->size(), IPPROTO_ICMPV6));
  }
}

TEST(PacketsTest, VlanTagsSitBeforeTheEtherTypeOutermostFirst) {
  const Frame f = Udp("10.0.0.1", "10.0.0.2", 1, 2)
                      .Vlan({kTpid8021ad, 100})
                      .Vlan({kTpid8021Q, 200, /*priority=*/5});

  EXPECT_EQ(Read16(f, 12), kTpid8021ad);
  EXPECT_EQ(Read16(f, 14), 100);
  EXPECT_EQ(Read16(f, 16), kTpid8021Q);
  EXPECT_EQ(Read16(f, 18), (5 << 13) | 200);
  EXPECT_EQ(Read16(f, 20), kEtherTypeIpv4);
  EXPECT_EQ(L3Offset(f), 22u);
  EXPECT_EQ(L4Offset(f), 42u);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(f, 22));
}

TEST(PacketsTest, Ipv4OptionsArePaddedToWholeWords) {
  const Frame f = Tcp("10.0.0.1", "10.0.0.2", 1, 2, kSyn).Ipv4Options({0x94, 0x04, 0x00});

  EXPECT_EQ(f[kL3] & 0x0f, 6);  // 24-byte header
  EXPECT_EQ(Slice(f, kL3 + 20, kL3 + 24), (Frame{0x94, 0x04, 0x00, 0x00}));
  EXPECT_EQ(Read16(f, kL3 + 2), 24 + 20);
  EXPECT_EQ(L4Offset(f), kL3 + 24);
  EXPECT_EQ(Read16(f, kL3 + 24 + 2), 2);  // dport right after the options
  EXPECT_TRUE(Ipv4HeaderChecksumOk(f));
  EXPECT_TRUE(L4ChecksumOk(f, kL3, kL3 + 24, f.size(), IPPROTO_TCP));
}

TEST(PacketsTest, Ipv4FragmentFieldsAreWritten) {
  const Frame f = Udp("10.0.0.1", "10.0.0.2", 1, 2)
                      .Id(0xbeef)
                      .Ttl(3)
                      .DontFragment()
                      .MoreFragments()
                      .FragmentOffset(185);

  EXPECT_EQ(Read16(f, kL3 + 4), 0xbeef);
  EXPECT_EQ(Read16(f, kL3 + 6), 0x4000 | 0x2000 | 185);
  EXPECT_EQ(f[kL3 + 8], 3);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(f));
}

// Walks the chain from the IPv6 header: {next-header value, header bytes}.
std::vector<std::pair<int, std::size_t>> ExtChain(const Frame& f, std::size_t l3 = kL3) {
  std::vector<std::pair<int, std::size_t>> chain;
  int next = f[l3 + 6];
  std::size_t at = l3 + 40;
  while (next == kHopByHop || next == kRouting || next == kDestOpts || next == kFragment ||
         next == kAuth || next == 253) {
    const std::size_t bytes = next == kFragment ? 8u
                              : next == kAuth   ? (f[at + 1] + 2) * 4u
                                                : (f[at + 1] + 1) * 8u;
    chain.emplace_back(next, bytes);
    next = f[at];
    at += bytes;
  }
  chain.emplace_back(next, f.size() - at);
  return chain;
}

TEST(PacketsTest, Ipv6ExtensionHeadersChainToTheL4Header) {
  const Frame f = Tcp("fd00::1", "fd00::2", 40000, 443, kSyn)
                      .Ipv6Ext({kHopByHop, kRouting, kDestOpts, kAuth,
                                Ipv6ExtHeader::Fragment(0, false, 0x12345678)});

  using Chain = std::vector<std::pair<int, std::size_t>>;
  EXPECT_EQ(ExtChain(f), (Chain{{kHopByHop, 8},
                                {kRouting, 8},
                                {kDestOpts, 8},
                                {kAuth, 16},
                                {kFragment, 8},
                                {IPPROTO_TCP, 20}}));
  const std::size_t l4 = kIpv6L4 + 8 + 8 + 8 + 16 + 8;
  EXPECT_EQ(L4Offset(f), l4);
  EXPECT_EQ(Read16(f, kL3 + 4), f.size() - kIpv6L4);
  EXPECT_EQ(Read16(f, l4 + 2), 443);
  EXPECT_EQ(Read32(f, l4 - 4), 0x12345678u);  // fragment identification
  EXPECT_EQ(Read16(f, l4 - 6), 0);            // offset 0, M clear: an atomic fragment
  EXPECT_TRUE(L4ChecksumOk(f, kL3, l4, f.size(), IPPROTO_TCP));
}

TEST(PacketsTest, OptionsHeadersHoldWellFormedOptions) {
  const Frame f = Udp("fd00::1", "fd00::2", 1, 2).Ipv6Ext({Ipv6ExtHeader::Sized(kHopByHop, 2)});

  EXPECT_EQ(f[kIpv6L4 + 1], 2);  // Hdr Ext Len
  // Options fill the 22 bytes after the first two exactly.
  std::size_t at = kIpv6L4 + 2;
  while (at < kIpv6L4 + 24) {
    ASSERT_NE(f[at], 0) << "Pad1 is not used";
    at += 2 + f[at + 1];
  }
  EXPECT_EQ(at, kIpv6L4 + 24);
  EXPECT_EQ(L4Offset(f), kIpv6L4 + 24);
}

TEST(PacketsTest, UnknownNextHeaderValuesTakeTheGenericLayout) {
  const Frame f = Udp("fd00::1", "fd00::2", 1, 2).Ipv6Ext({kDestOpts, Ipv6ExtHeader::Sized(99, 1)});

  EXPECT_EQ(f[kL3 + 6], kDestOpts);
  EXPECT_EQ(f[kIpv6L4], 99);               // dest opts -> 99
  EXPECT_EQ(f[kIpv6L4 + 8], IPPROTO_UDP);  // 99 -> UDP
  EXPECT_EQ(f[kIpv6L4 + 9], 1);            // 16 bytes
  EXPECT_EQ(Read16(f, kL3 + 4), 8 + 16 + 8);
  // Not a header anyone walks: the L4 header, for a parser, is the 99 one.
  EXPECT_EQ(L4Offset(f), kIpv6L4 + 8);
}

TEST(PacketsTest, ManyDestinationOptionsHeaders) {
  const Frame f =
      Udp("fd00::1", "fd00::2", 1, 2).Ipv6Ext(std::vector<Ipv6ExtHeader>(10, kDestOpts));

  const auto chain = ExtChain(f);
  ASSERT_EQ(chain.size(), 11u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(chain[i], std::make_pair(int{kDestOpts}, 8ul));
  EXPECT_EQ(chain.back(), std::make_pair(int{IPPROTO_UDP}, 8ul));
  EXPECT_EQ(L4Offset(f), kIpv6L4 + 80);
  EXPECT_TRUE(L4ChecksumOk(f, kL3, kIpv6L4 + 80, f.size(), IPPROTO_UDP));
}

TEST(PacketsTest, NeighbourDiscoveryIsLinkLocalWithHopLimit255) {
  const Frame solicitation = NeighborSolicitation("fe80::1", "fd00::12:3456");
  EXPECT_EQ(solicitation[kL3 + 7], 255);
  EXPECT_EQ(solicitation[kIpv6L4], 135);
  EXPECT_EQ(Slice(solicitation, kL3 + 24, kL3 + 40),
            (Frame{0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x12, 0x34, 0x56}));
  EXPECT_EQ(Slice(solicitation, kIpv6L4 + 8, kIpv6L4 + 24),
            Slice(Udp("fd00::12:3456", "fd00::1", 1, 2), kL3 + 8, kL3 + 24));  // target
  EXPECT_EQ(solicitation[kIpv6L4 + 24], 1);  // source link-layer address option
  EXPECT_TRUE(L4ChecksumOk(solicitation, kL3, kIpv6L4, solicitation.size(), IPPROTO_ICMPV6));

  const Frame duplicate_address_check = NeighborSolicitation("::", "fd00::7");
  EXPECT_EQ(duplicate_address_check.size(), kIpv6L4 + 24) << "no option from ::";

  const Frame advertisement = NeighborAdvertisement("fd00::7", "fe80::1", "fd00::7");
  EXPECT_EQ(advertisement[kL3 + 7], 255);
  EXPECT_EQ(advertisement[kIpv6L4], 136);
  EXPECT_EQ(advertisement[kIpv6L4 + 4], 0x60);  // solicited, override
  EXPECT_EQ(advertisement[kIpv6L4 + 24], 2);    // target link-layer address option
  EXPECT_TRUE(L4ChecksumOk(advertisement, kL3, kIpv6L4, advertisement.size(), IPPROTO_ICMPV6));

  const Frame router_solicitation = RouterSolicitation("fe80::1").Ttl(64);
  EXPECT_EQ(router_solicitation[kL3 + 7], 64);
  EXPECT_EQ(router_solicitation[kIpv6L4], 133);
  EXPECT_EQ(Read16(router_solicitation, kL3 + 24), 0xff02);
  EXPECT_EQ(router_solicitation[kL3 + 39], 2);
}

TEST(PacketsTest, ArpRequestIsBroadcast) {
  const Frame f = ArpRequest("10.0.0.1", "10.0.0.2");

  EXPECT_EQ(Slice(f, 0, 6), Frame(6, 0xff));
  EXPECT_EQ(Read16(f, 12), kEtherTypeArp);
  ASSERT_EQ(f.size(), kL3 + 28);
  EXPECT_EQ(Read16(f, kL3 + 6), 1);  // request
  EXPECT_EQ(Read32(f, kL3 + 14), 0x0a000001u);
  EXPECT_EQ(Read32(f, kL3 + 24), 0x0a000002u);
}

TEST(PacketsTest, AnyEtherTypeCarriesItsPayload) {
  const Frame lldp = EtherTypeFrame(kEtherTypeLldp, {1, 2, 3}).Vlan({kTpid8021Q, 9});
  EXPECT_EQ(Read16(lldp, 16), kEtherTypeLldp);
  EXPECT_EQ(L3Offset(lldp), 18u);
  EXPECT_EQ(Slice(lldp, 18, lldp.size()), (Frame{1, 2, 3}));

  const Frame mpls = EtherTypeFrame(kEtherTypeMpls);
  EXPECT_EQ(mpls.size(), 14u);
  EXPECT_EQ(Read16(mpls, 12), kEtherTypeMpls);
}

TEST(PacketsTest, Ipv4IcmpErrorQuotesTheOffendingHeaderAndEightBytes) {
  const Frame offending = Tcp("10.0.0.1", "10.0.0.2", 40000, 5432, kSyn)
                              .Ipv4Options({1, 1, 1, 1})
                              .Payload(Frame(30, 7));
  const Frame f = IcmpError(kDestUnreachable, /*port unreachable=*/3, offending).Vlan({});

  const std::size_t l3 = 18;
  const std::size_t l4 = l3 + 20;
  EXPECT_EQ(Read32(f, l3 + 12), 0x0a000002u) << "from the offending packet's destination";
  EXPECT_EQ(Read32(f, l3 + 16), 0x0a000001u) << "to its source";
  EXPECT_EQ(f[l3 + 9], IPPROTO_ICMP);
  EXPECT_EQ(f[l4], 3);
  EXPECT_EQ(f[l4 + 1], 3);
  const Frame quoted = Slice(offending, kL3, kL3 + 24 + 8);
  EXPECT_EQ(Slice(f, l4 + 8, f.size()), quoted);
  EXPECT_EQ(Read16(f, l3 + 2), 20 + 8 + quoted.size());
  EXPECT_TRUE(Ipv4HeaderChecksumOk(f, l3));
  EXPECT_TRUE(L4ChecksumOk(f, l3, l4, f.size(), IPPROTO_ICMP));

  const Frame time_exceeded = IcmpError(kTimeExceeded, 0, offending).Src("10.9.9.9");
  EXPECT_EQ(time_exceeded[kIpv4L4], 11);
  EXPECT_EQ(Read32(time_exceeded, kL3 + 12), 0x0a090909u);
}

TEST(PacketsTest, Ipv6IcmpErrorQuotesExtensionHeadersToo) {
  const Frame offending = Udp("fd00::1", "fd00::2", 5000, 53).Ipv6Ext({kDestOpts});
  const Frame f = IcmpError(kTimeExceeded, 0, offending).Src("fd00::ff");

  EXPECT_EQ(f[kL3 + 6], IPPROTO_ICMPV6);
  EXPECT_EQ(f[kIpv6L4], 3);
  EXPECT_EQ(f[kL3 + 23], 0xff);
  EXPECT_EQ(f[kL3 + 39], 0x01) << "to the offending packet's source";
  EXPECT_EQ(Slice(f, kIpv6L4 + 8, f.size()), Slice(offending, kL3, kIpv6L4 + 8 + 8));
  EXPECT_TRUE(L4ChecksumOk(f, kL3, kIpv6L4, f.size(), IPPROTO_ICMPV6));

  EXPECT_EQ(IcmpError(kDestUnreachable, 4, offending).Build()[kIpv6L4], 1);
  EXPECT_EQ(IcmpError(kParameterProblem, 0, offending).Build()[kIpv6L4], 4);
}

TEST(PacketsTest, PacketTooBigCarriesTheMtu) {
  const Frame v4 = PacketTooBig(1400, Tcp("10.0.0.1", "10.0.0.2", 1, 2, kAck).DontFragment());
  EXPECT_EQ(v4[kIpv4L4], 3);
  EXPECT_EQ(v4[kIpv4L4 + 1], 4);  // fragmentation needed
  EXPECT_EQ(Read16(v4, kIpv4L4 + 4), 0);
  EXPECT_EQ(Read16(v4, kIpv4L4 + 6), 1400);

  const Frame v6 = PacketTooBig(1280, Tcp("fd00::1", "fd00::2", 1, 2, kAck));
  EXPECT_EQ(v6[kIpv6L4], 2);
  EXPECT_EQ(v6[kIpv6L4 + 1], 0);
  EXPECT_EQ(Read32(v6, kIpv6L4 + 4), 1280u);
  EXPECT_TRUE(L4ChecksumOk(v6, kL3, kIpv6L4, v6.size(), IPPROTO_ICMPV6));
}

TEST(PacketsTest, Ipv4FragmentsReassembleToTheDatagram) {
  Frame payload(50);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i);
  const Frame datagram =
      Udp("10.0.0.1", "10.0.0.2", 1, 2).Id(42).Vlan({kTpid8021Q, 5}).Payload(payload).PadTo(200);
  const std::size_t l3 = 18;
  const Frame ip_payload = Slice(datagram, l3 + 20, l3 + 20 + 8 + 50);

  const std::vector<Frame> pieces = Fragments(datagram, 24);
  ASSERT_EQ(pieces.size(), 3u);  // 24 + 24 + 10
  Frame reassembled;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const Frame& piece = pieces[i];
    const std::size_t data_bytes = Read16(piece, l3 + 2) - 20u;
    EXPECT_EQ(piece.size(), l3 + 20 + data_bytes) << "no padding after the packet";
    EXPECT_EQ(Read16(piece, 14), 5) << "VLAN tag kept";
    EXPECT_EQ(Read16(piece, l3 + 4), 42);
    const bool more = Read16(piece, l3 + 6) & 0x2000;
    EXPECT_EQ(more, i + 1 < pieces.size());
    EXPECT_EQ((Read16(piece, l3 + 6) & 0x1fff) * 8u, reassembled.size());
    EXPECT_TRUE(Ipv4HeaderChecksumOk(piece, l3));
    const Frame data = Slice(piece, l3 + 20, piece.size());
    reassembled.insert(reassembled.end(), data.begin(), data.end());
  }
  EXPECT_EQ(reassembled, ip_payload);
}

TEST(PacketsTest, Ipv6FragmentsGoAfterThePerFragmentHeaders) {
  const Frame datagram = Tcp("fd00::1", "fd00::2", 40000, 443, kAck)
                             .Ipv6Ext({kHopByHop, kDestOpts})
                             .Payload(Frame(30, 0x5a));
  // Hop-by-hop stays in every piece; the destination options are data.
  const Frame fragmentable = Slice(datagram, kIpv6L4 + 8, datagram.size());

  const std::vector<Frame> pieces = Fragments(datagram, 16, /*ipv6_identification=*/0xabcd);
  ASSERT_EQ(pieces.size(), 4u);  // 8 + 20 + 30 = 58 bytes: 16 + 16 + 16 + 10
  Frame reassembled;
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const Frame& piece = pieces[i];
    EXPECT_EQ(Read16(piece, kL3 + 4), piece.size() - kIpv6L4);
    EXPECT_EQ(piece[kL3 + 6], kHopByHop);
    EXPECT_EQ(piece[kIpv6L4], kFragment);
    const std::size_t fragment = kIpv6L4 + 8;
    EXPECT_EQ(piece[fragment], kDestOpts) << "names the first fragmentable header";
    const std::uint16_t offset_and_m = Read16(piece, fragment + 2);
    EXPECT_EQ((offset_and_m & 1) != 0, i + 1 < pieces.size());
    EXPECT_EQ((offset_and_m >> 3) * 8u, reassembled.size());
    EXPECT_EQ(Read32(piece, fragment + 4), 0xabcdu);
    const Frame data = Slice(piece, fragment + 8, piece.size());
    reassembled.insert(reassembled.end(), data.begin(), data.end());
  }
  EXPECT_EQ(reassembled, fragmentable);
  EXPECT_EQ(L4Offset(pieces[0]), kIpv6L4 + 8 + 8 + 8) << "first piece: TCP after dest opts";
  EXPECT_EQ(L4Offset(pieces[1]), kIpv6L4 + 8 + 8) << "later piece: its data";
}

TEST(PacketsTest, BrokenIpv4HeadersAreWrittenAsGiven) {
  const Frame short_ihl = Tcp("10.0.0.1", "10.0.0.2", 1, 2, kSyn).Ipv4Ihl(3);
  EXPECT_EQ(short_ihl[kL3], 0x43);
  EXPECT_EQ(short_ihl.size(), kIpv4L4 + 20) << "the header is still 20 bytes";
  EXPECT_EQ(Folded(Sum16(short_ihl, kL3, kL3 + 20)), 0xffff);

  const Frame long_ihl = Udp("10.0.0.1", "10.0.0.2", 1, 2).Ipv4Ihl(15);
  EXPECT_EQ(long_ihl[kL3], 0x4f);
  EXPECT_LT(long_ihl.size(), kL3 + 60u);

  const Frame long_total = Udp("10.0.0.1", "10.0.0.2", 1, 2).Ipv4TotalLength(1500);
  EXPECT_EQ(Read16(long_total, kL3 + 2), 1500);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(long_total));

  const Frame long_payload = Udp("fd00::1", "fd00::2", 1, 2).Ipv6PayloadLength(1000);
  EXPECT_EQ(Read16(long_payload, kL3 + 4), 1000);
}

TEST(PacketsTest, TcpHeaderCutShortInAConsistentPacket) {
  const Frame cut = Tcp("10.0.0.1", "10.0.0.2", 1, 2, kSyn).TruncateL4(10);
  EXPECT_EQ(cut.size(), kIpv4L4 + 10);
  EXPECT_EQ(Read16(cut, kL3 + 2), 20 + 10);
  EXPECT_TRUE(Ipv4HeaderChecksumOk(cut));

  const Frame small_offset = Tcp("10.0.0.1", "10.0.0.2", 1, 2, kSyn).TcpDataOffset(4);
  EXPECT_EQ(small_offset[kIpv4L4 + 12] >> 4, 4);
}

TEST(PacketsTest, TruncateAndPadLeaveIpLengthsAlone) {
  const Frame syn = Tcp("10.0.0.1", "10.0.0.2", 1, 2, kSyn);
  const Frame truncated = Truncate(syn, L4Offset(syn) + 10);
  EXPECT_EQ(truncated.size(), kIpv4L4 + 10);
  EXPECT_EQ(Read16(truncated, kL3 + 2), 40) << "still claims the whole packet";

  const Frame padded = Udp("10.0.0.1", "10.0.0.2", 1, 2).PadTo(kMinFrameBytes);
  EXPECT_EQ(padded.size(), kMinFrameBytes);
  EXPECT_EQ(Read16(padded, kL3 + 2), 28);
  EXPECT_EQ(Read16(padded, kIpv4L4 + 4), 8);
  EXPECT_EQ(Slice(padded, kIpv4L4 + 8, padded.size()), Frame(kMinFrameBytes - kIpv4L4 - 8, 0));
  EXPECT_EQ(PadTo(syn, 10), syn) << "never shortens";
}

TEST(PacketsTest, SpecsStandInForFramesInATable) {
  struct Row {
    const char* description;
    Frame frame;
    std::size_t l4_offset;
  };
  const std::vector<Row> rows = {
      {"plain", Tcp("10.0.0.1", "10.0.0.2", 1, 2, kSyn), kIpv4L4},
      {"double tagged", Tcp("10.0.0.1", "10.0.0.2", 1, 2, kSyn).Vlan({}).Vlan({}), kIpv4L4 + 8},
      {"ipv6 hop-by-hop", Udp("fd00::1", "fd00::2", 1, 2).Ipv6Ext({kHopByHop}), kIpv6L4 + 8},
  };
  for (const Row& row : rows) EXPECT_EQ(L4Offset(row.frame), row.l4_offset) << row.description;
}

TEST(PacketsDeathTest, MisuseNamesTheMistake) {
  EXPECT_DEATH(Tcp("10.0.0.1", "fd00::2", 1, 2, kSyn), "mixed address families");
  EXPECT_DEATH(Udp("10.0.0.300", "10.0.0.2", 1, 2), "not an IPv4 or IPv6 address");
  EXPECT_DEATH(Udp("fd00::1", "fd00::2", 1, 2).MoreFragments(), "on an IPv6 packet");
  EXPECT_DEATH(Fragments(Udp("10.0.0.1", "10.0.0.2", 1, 2), 12), "not a multiple of 8");
  EXPECT_DEATH(IcmpError(kDestUnreachable, 0, ArpRequest("10.0.0.1", "10.0.0.2")), "not IP");
}

}  // namespace
}  // namespace bulkhead::testing
