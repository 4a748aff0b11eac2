// Builds raw Ethernet frames for BPF_PROG_TEST_RUN tests and benchmarks: one
// table of frames (VLAN tags, IPv4 options and fragments, IPv6 extension
// headers, ICMP errors, truncated and inconsistent headers) that the tests
// and the benchmarks share.
//
// A FrameSpec describes a frame; Build() (or converting it to a Frame) writes
// the bytes. The factories below start a spec, chained setters change it,
// and a spec stands wherever a Frame is wanted, as in a table row:
//
//   const Frame syn = Tcp("10.244.1.10", "10.244.1.20", 40000, 8080, kSyn);
//   const std::vector<Row> rows = {  // struct Row { const char* what; Frame frame; int verdict; }
//       {"syn", syn, TC_ACT_OK},
//       {"syn in QinQ", Tcp(...).Vlan({kTpid8021ad, 10}).Vlan({kTpid8021Q, 20}), TC_ACT_OK},
//       {"udp after hop-by-hop", Udp("fd00::1", "fd00::2", 5353, 53).Ipv6Ext({kHopByHop}), ...},
//       {"port unreachable", IcmpError(kDestUnreachable, 3, syn), ...},  // 10.244.1.20 -> .10
//       {"tcp header cut short", Tcp(...).TruncateL4(10), TC_ACT_SHOT},
//       {"syn cut in the ip header", Truncate(syn, L3Offset(syn) + 12), TC_ACT_SHOT},
//   };
//   for (const Frame& piece : Fragments(Udp(...).Payload(Frame(64, 0xab)), 24)) ...
//
// Contract:
//  - The address family (IPv4 or IPv6) follows the addresses, given as text
//    and parsed with inet_pton; both addresses of a packet are of one family.
//  - What a spec does not say is consistent: IPv4 header checksum, IPv4 total
//    length, IPv6 payload length, next-header chaining, UDP length and the
//    TCP, UDP, ICMP and ICMPv6 checksums. The setters under "deliberately
//    broken" write exactly what they are given; everything else stays
//    consistent with the bytes (the IPv4 checksum covers the broken fields).
//  - Frames are as long as their headers and payload; PadTo() appends zeros
//    after the IP packet without changing any IP length.
//  - Misuse (an address that does not parse, mixed families, an IPv4 setter
//    on an IPv6 packet, a frame that is not IP where one is needed) is a bug
//    in the test: it prints what was wrong and aborts.
//
// Thread safety: everything here is a value or a pure function; specs and
// frames may be built on any number of threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bulkhead::testing {

using Frame = std::vector<std::uint8_t>;

// The minimum Ethernet frame without its FCS, for PadTo().
inline constexpr std::size_t kMinFrameBytes = 60;

// TCP flags for Tcp().
inline constexpr std::uint8_t kFin = 0x01;
inline constexpr std::uint8_t kSyn = 0x02;
inline constexpr std::uint8_t kRst = 0x04;
inline constexpr std::uint8_t kPsh = 0x08;
inline constexpr std::uint8_t kAck = 0x10;
inline constexpr std::uint8_t kSynAck = kSyn | kAck;

// EtherTypes.
inline constexpr std::uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr std::uint16_t kEtherTypeArp = 0x0806;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr std::uint16_t kEtherTypeMpls = 0x8847;
inline constexpr std::uint16_t kEtherTypeLldp = 0x88cc;
inline constexpr std::uint16_t kTpid8021Q = 0x8100;   // customer VLAN tag
inline constexpr std::uint16_t kTpid8021ad = 0x88a8;  // service VLAN tag (QinQ outer)

// One 802.1Q/802.1ad tag, written in the frame (not as skb metadata).
struct VlanTag {
  std::uint16_t tpid = kTpid8021Q;
  std::uint16_t vid = 0;  // 0..4095
  std::uint8_t priority = 0;
};

// IPv6 next-header values of the extension headers.
inline constexpr std::uint8_t kHopByHop = 0;
inline constexpr std::uint8_t kRouting = 43;
inline constexpr std::uint8_t kFragment = 44;
inline constexpr std::uint8_t kAuth = 51;
inline constexpr std::uint8_t kNoNextHeader = 59;
inline constexpr std::uint8_t kDestOpts = 60;

// One IPv6 extension header, named by its next-header value. Converts from
// that value, so a list reads `{kHopByHop, kRouting, kDestOpts}`.
//  - kHopByHop, kDestOpts: 8 * (1 + extra_units) bytes of padding options.
//  - kRouting: type 253 (experimental) with no segments left, which every
//    node skips; 8 * (1 + extra_units) bytes.
//  - kFragment: the 8-byte fragment header with the fields below.
//  - kAuth: a 16-byte AH (Payload Len 2, SPI 1, sequence 1, 4-byte ICV).
//  - any other value: next header, Hdr Ext Len = extra_units, then zeros, as
//    RFC 8200 lays out unknown headers; this is how to put an arbitrary or
//    unknown next-header value into the chain.
struct Ipv6ExtHeader {
  constexpr Ipv6ExtHeader(std::uint8_t next_header_value)  // NOLINT(google-explicit-constructor)
      : type(next_header_value) {}

  static constexpr Ipv6ExtHeader Fragment(std::uint16_t offset_8byte_units, bool more_fragments,
                                          std::uint32_t identification) {
    Ipv6ExtHeader h(kFragment);
    h.fragment_offset_8byte_units = offset_8byte_units;
    h.more_fragments = more_fragments;
    h.identification = identification;
    return h;
  }
  // A header of `type` in the generic layout, 8 * (1 + extra_units) bytes.
  static constexpr Ipv6ExtHeader Sized(std::uint8_t type, std::uint8_t extra_units) {
    Ipv6ExtHeader h(type);
    h.extra_units = extra_units;
    return h;
  }

  std::uint8_t type;
  std::uint8_t extra_units = 0;  // Hdr Ext Len: 8-byte units beyond the first 8
  std::uint16_t fragment_offset_8byte_units = 0;
  bool more_fragments = false;
  std::uint32_t identification = 0;
};

// ICMP errors, whatever the family: IcmpError() picks the IPv4 type (3, 11,
// 12) or the ICMPv6 type (1, 3, 4) from the offending packet.
enum IcmpErrorKind : std::uint8_t { kDestUnreachable, kTimeExceeded, kParameterProblem };

class FrameSpec {
 public:
  // Link layer. Tags are written outermost first, in the order added.
  FrameSpec& Vlan(VlanTag tag);

  // IP header; IPv4 only unless noted.
  FrameSpec& Src(std::string_view address);  // either family, as the packet's
  FrameSpec& Dst(std::string_view address);
  FrameSpec& Ttl(std::uint8_t ttl);  // IPv4 TTL or IPv6 hop limit; 64 unless set
  FrameSpec& Id(std::uint16_t id);   // 1 unless set
  FrameSpec& DontFragment();
  FrameSpec& MoreFragments();
  FrameSpec& FragmentOffset(std::uint16_t offset_8byte_units);
  FrameSpec& Ipv4Options(Frame options);  // raw option bytes, zero-padded to 4 (up to 40)
  // IPv6 only: appends extension headers in order, between the IPv6 header
  // and the L4 header, each one's next header naming the one after it.
  FrameSpec& Ipv6Ext(std::vector<Ipv6ExtHeader> headers);

  // L4. The header is what the factory wrote; the payload follows it.
  FrameSpec& L4Header(Frame header);
  FrameSpec& Payload(Frame bytes);

  // Deliberately broken: written as given; the bytes of the frame do not
  // change (an IHL of 3 still comes with a 20-byte header).
  FrameSpec& Ipv4Ihl(std::uint8_t words);
  FrameSpec& Ipv4TotalLength(std::uint16_t bytes);
  FrameSpec& Ipv6PayloadLength(std::uint16_t bytes);
  FrameSpec& TcpDataOffset(std::uint8_t words);
  // Keeps the first `bytes` of L4 header plus payload; IP lengths describe
  // the cut packet (so `Tcp(...).TruncateL4(10)` is a TCP header cut short
  // in an otherwise consistent packet). Checksums are of the uncut packet.
  FrameSpec& TruncateL4(std::size_t bytes);

  // Appends zeros after the IP packet up to `bytes` (e.g. kMinFrameBytes).
  FrameSpec& PadTo(std::size_t bytes);

  Frame Build() const;
  // Lets a spec stand where a Frame is wanted: in a table row, as an
  // argument. Builds each time.
  operator Frame() const { return Build(); }  // NOLINT(google-explicit-constructor)

 private:
  friend FrameSpec IpPacket(std::string_view src, std::string_view dst, std::uint8_t protocol);
  friend FrameSpec EtherTypeFrame(std::uint16_t ethertype, Frame payload);
  friend FrameSpec ArpRequest(std::string_view sender, std::string_view target);

  FrameSpec() = default;
  bool ipv6() const;
  void RequireIp(std::string_view setter) const;
  void RequireIpv4(std::string_view setter) const;
  Frame LinkHeader(std::uint16_t ethertype) const;
  Frame L4Bytes() const;
  Frame Ipv4Packet() const;
  Frame Ipv6Packet() const;
  Frame Ipv6ExtChain() const;

  // Link layer.
  bool broadcast_ = false;
  std::vector<VlanTag> vlans_;
  std::uint16_t ethertype_ = 0;  // frames that are not IP
  Frame link_payload_;

  // IP.
  bool ip_ = false;
  std::string src_;
  std::string dst_;
  std::uint8_t protocol_ = 0;
  std::uint8_t ttl_ = 64;
  std::uint16_t id_ = 1;
  bool dont_fragment_ = false;
  bool more_fragments_ = false;
  std::uint16_t fragment_offset_8byte_units_ = 0;
  Frame ipv4_options_;
  std::vector<Ipv6ExtHeader> ipv6_ext_;

  // L4.
  Frame l4_header_;
  Frame payload_;

  // Broken on purpose; output.
  std::optional<std::uint8_t> ipv4_ihl_words_;
  std::optional<std::uint16_t> ipv4_total_length_;
  std::optional<std::uint16_t> ipv6_payload_length_;
  std::optional<std::uint8_t> tcp_data_offset_words_;
  std::optional<std::size_t> l4_bytes_;
  std::size_t min_frame_bytes_ = 0;
};

// IP packets. The family follows the addresses.

// Any protocol number, with an empty L4 header: see L4Header() and Payload().
FrameSpec IpPacket(std::string_view src, std::string_view dst, std::uint8_t protocol);
// Sequence number 1; acknowledgment number 1 if kAck is set, else 0.
FrameSpec Tcp(std::string_view src, std::string_view dst, std::uint16_t sport, std::uint16_t dport,
              std::uint8_t flags);
FrameSpec Udp(std::string_view src, std::string_view dst, std::uint16_t sport, std::uint16_t dport);
// ICMP types 8/0, ICMPv6 types 128/129.
FrameSpec EchoRequest(std::string_view src, std::string_view dst, std::uint16_t id,
                      std::uint16_t sequence = 1);
FrameSpec EchoReply(std::string_view src, std::string_view dst, std::uint16_t id,
                    std::uint16_t sequence = 1);
// Any ICMP (IPv4) or ICMPv6 message: type, code, checksum and the 4 bytes
// after them (`rest_of_header`, host order).
FrameSpec IcmpMessage(std::string_view src, std::string_view dst, std::uint8_t type,
                      std::uint8_t code, std::uint32_t rest_of_header = 0);

// An ICMP error about `offending` (an IP frame from this builder, possibly
// truncated or fragmented): quotes its IP header, extension headers and the
// first 8 bytes after them. Sent by the offending packet's destination to
// its source unless Src()/Dst() say otherwise (e.g. a router's address).
FrameSpec IcmpError(IcmpErrorKind kind, std::uint8_t code, const Frame& offending);
// IPv4: destination unreachable, code 4 (fragmentation needed) with the
// next-hop MTU. IPv6: packet too big (type 2) with the MTU.
FrameSpec PacketTooBig(std::uint32_t mtu, const Frame& offending);

// IPv6 neighbour discovery, hop limit 255 (change it with Ttl()). A source
// link-layer address option is included unless the source is "::".
// Solicitation: to the target's solicited-node multicast address.
FrameSpec NeighborSolicitation(std::string_view src, std::string_view target);
// Advertisement: solicited and override flags, target link-layer address.
FrameSpec NeighborAdvertisement(std::string_view src, std::string_view dst,
                                std::string_view target);
// Router solicitation: to ff02::2.
FrameSpec RouterSolicitation(std::string_view src);

// Frames that are not IP.

// Broadcast "who has `target`? tell `sender`" (IPv4 addresses).
FrameSpec ArpRequest(std::string_view sender, std::string_view target);
// Any EtherType (kEtherTypeLldp, kEtherTypeMpls, ...) followed by `payload`.
FrameSpec EtherTypeFrame(std::uint16_t ethertype, Frame payload = {});

// Operations on built frames.

// Splits the IP payload of `datagram` (an IPv4 or IPv6 frame) into pieces of
// `fragment_bytes` (a multiple of 8; the last piece may be shorter), one
// frame each, in order. IPv4: each piece keeps the header (options too) and
// its identification, with MF and the offset set. IPv6: a fragment header
// with `ipv6_identification` goes after the hop-by-hop and routing headers;
// the headers before it are repeated in every piece. Padding after the IP
// packet is dropped.
std::vector<Frame> Fragments(const Frame& datagram, std::size_t fragment_bytes,
                             std::uint32_t ipv6_identification = 1);
// The first `bytes` of `frame`; IP lengths are left claiming the whole packet.
Frame Truncate(Frame frame, std::size_t bytes);
// `frame` with zeros appended up to `bytes`.
Frame PadTo(Frame frame, std::size_t bytes);

// Where the L3 header starts: after the Ethernet header and every VLAN tag.
std::size_t L3Offset(const Frame& frame);
// Where the upper-layer header starts in an IP frame: after the IPv4 header
// (by its IHL) or the IPv6 extension headers (in a later fragment: where the
// fragment's data starts).
std::size_t L4Offset(const Frame& frame);

}  // namespace bulkhead::testing
