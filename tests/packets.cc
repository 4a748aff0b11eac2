#include "tests/packets.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>

namespace bulkhead::testing {
namespace {

constexpr std::uint8_t kProtoIcmp = 1;
constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint8_t kProtoUdp = 17;
constexpr std::uint8_t kProtoIcmpv6 = 58;

constexpr std::size_t kEthernetHeaderBytes = 14;
constexpr std::size_t kIpv4HeaderBytes = 20;
constexpr std::size_t kIpv6HeaderBytes = 40;
constexpr std::size_t kIpv4MaxOptionBytes = 40;
constexpr std::uint16_t kIpv4DontFragment = 0x4000;
constexpr std::uint16_t kIpv4MoreFragments = 0x2000;
constexpr std::uint16_t kMaxFragmentOffset8ByteUnits = 0x1fff;

using MacAddress = std::array<std::uint8_t, 6>;
constexpr MacAddress kSrcMac = {0x02, 0, 0, 0, 0, 0x01};
constexpr MacAddress kDstMac = {0x02, 0, 0, 0, 0, 0x02};
constexpr MacAddress kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "bulkhead::testing (tests/packets.h): %s\n", what.c_str());
  std::abort();
}

void Put8(Frame& f, std::uint8_t value) { f.push_back(value); }

void Put16(Frame& f, std::uint16_t value) {
  f.push_back(static_cast<std::uint8_t>(value >> 8));
  f.push_back(static_cast<std::uint8_t>(value));
}

void Put32(Frame& f, std::uint32_t value) {
  Put16(f, static_cast<std::uint16_t>(value >> 16));
  Put16(f, static_cast<std::uint16_t>(value));
}

void PutBytes(Frame& f, std::span<const std::uint8_t> bytes) {
  f.insert(f.end(), bytes.begin(), bytes.end());
}

std::uint16_t Get16(const Frame& f, std::size_t at) {
  return static_cast<std::uint16_t>(f[at] << 8 | f[at + 1]);
}

void Set16(Frame& f, std::size_t at, std::uint16_t value) {
  f[at] = static_cast<std::uint8_t>(value >> 8);
  f[at + 1] = static_cast<std::uint8_t>(value);
}

void RequireBytes(const Frame& f, std::size_t bytes, const std::string& what) {
  if (f.size() < bytes) {
    Fail(what + ": frame of " + std::to_string(f.size()) + " bytes, needs " +
         std::to_string(bytes));
  }
}

struct IpAddress {
  bool ipv6 = false;
  std::array<std::uint8_t, 16> bytes{};

  std::span<const std::uint8_t> span() const { return {bytes.data(), ipv6 ? 16u : 4u}; }
};

IpAddress ParseAddress(std::string_view text) {
  const std::string s(text);
  IpAddress address;
  if (inet_pton(AF_INET, s.c_str(), address.bytes.data()) == 1) return address;
  address.ipv6 = true;
  if (inet_pton(AF_INET6, s.c_str(), address.bytes.data()) == 1) return address;
  Fail("not an IPv4 or IPv6 address: \"" + s + "\"");
}

std::string FormatAddress(const std::uint8_t* bytes, bool ipv6) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(ipv6 ? AF_INET6 : AF_INET, bytes, text, sizeof(text));
  return text;
}

// RFC 1071: the one's complement of the one's complement sum of 16-bit words.
std::uint32_t SumWords(std::span<const std::uint8_t> bytes, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i < bytes.size(); i += 2) {
    const std::uint8_t low = i + 1 < bytes.size() ? bytes[i + 1] : 0;
    sum += static_cast<std::uint32_t>(bytes[i] << 8 | low);
  }
  return sum;
}

std::uint16_t FoldChecksum(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum);
}

// The IPv4 and IPv6 pseudo-headers add up to the same sum.
std::uint32_t PseudoHeaderSum(const IpAddress& src, const IpAddress& dst, std::uint8_t protocol,
                              std::size_t l4_bytes) {
  const auto length = static_cast<std::uint32_t>(l4_bytes);
  return SumWords(dst.span(), SumWords(src.span())) + protocol + (length >> 16) + (length & 0xffff);
}

// Where the protocol keeps its checksum, if it has one this file fills.
std::optional<std::size_t> ChecksumOffset(std::uint8_t protocol, bool ipv6) {
  if (protocol == kProtoTcp) return 16;
  if (protocol == kProtoUdp) return 6;
  if (protocol == (ipv6 ? kProtoIcmpv6 : kProtoIcmp)) return 2;
  return std::nullopt;
}

bool IsVlanTpid(std::uint16_t ethertype) {
  return ethertype == kTpid8021Q || ethertype == kTpid8021ad;
}

// The next-header values walked as extension headers, as bpf/lib/parse.h does.
bool IsIpv6ExtHeader(std::uint8_t next_header) {
  switch (next_header) {
    case kHopByHop:
    case kRouting:
    case kFragment:
    case kAuth:
    case kDestOpts:
    case 135:  // mobility
    case 139:  // HIP
    case 140:  // shim6
    case 253:  // experimental
    case 254:
      return true;
    default:
      return false;
  }
}

// The length of the extension header at `at`, which must hold 2 bytes.
std::size_t Ipv6ExtHeaderBytes(const Frame& f, std::size_t at, std::uint8_t type) {
  if (type == kFragment) return 8;
  if (type == kAuth) return (f[at + 1] + 2) * 4u;
  return (f[at + 1] + 1) * 8u;
}

std::uint16_t EtherTypeAtL3(const Frame& f, std::size_t l3) { return Get16(f, l3 - 2); }

// Extension headers, next header first.

Frame OptionsExtHeader(std::uint8_t next, std::uint8_t extra_units) {
  Frame h = {next, extra_units};
  PutBytes(h, std::array<std::uint8_t, 6>{1, 4, 0, 0, 0, 0});  // PadN
  for (int i = 0; i < extra_units; ++i) {
    // Experimental option 0x1e (RFC 4727), "skip if unknown": Linux rejects
    // PadN runs longer than 7 bytes.
    PutBytes(h, std::array<std::uint8_t, 8>{0x1e, 6, 0, 0, 0, 0, 0, 0});
  }
  return h;
}

Frame RoutingExtHeader(std::uint8_t next, std::uint8_t extra_units) {
  Frame h = {next, extra_units, /*routing type=*/253, /*segments left=*/0, 0, 0, 0, 0};
  h.resize(h.size() + extra_units * 8u, 0);
  return h;
}

Frame FragmentExtHeader(std::uint8_t next, const Ipv6ExtHeader& spec) {
  if (spec.fragment_offset_8byte_units > kMaxFragmentOffset8ByteUnits) {
    Fail("IPv6 fragment offset " + std::to_string(spec.fragment_offset_8byte_units) +
         " does not fit in 13 bits");
  }
  Frame h = {next, 0};
  Put16(h, static_cast<std::uint16_t>(spec.fragment_offset_8byte_units << 3 |
                                      (spec.more_fragments ? 1 : 0)));
  Put32(h, spec.identification);
  return h;
}

Frame AuthExtHeader(std::uint8_t next) {
  Frame h = {next, /*payload len: 16 bytes / 4 - 2=*/2, 0, 0};
  Put32(h, 1);  // SPI
  Put32(h, 1);  // sequence number
  Put32(h, 0);  // integrity check value
  return h;
}

Frame GenericExtHeader(std::uint8_t next, std::uint8_t extra_units) {
  Frame h = {next, extra_units};
  h.resize(8 + extra_units * 8u, 0);
  return h;
}

Frame ExtHeaderBytes(const Ipv6ExtHeader& spec, std::uint8_t next) {
  switch (spec.type) {
    case kHopByHop:
    case kDestOpts:
      return OptionsExtHeader(next, spec.extra_units);
    case kRouting:
      return RoutingExtHeader(next, spec.extra_units);
    case kFragment:
      return FragmentExtHeader(next, spec);
    case kAuth:
      return AuthExtHeader(next);
    default:
      return GenericExtHeader(next, spec.extra_units);
  }
}

Frame IcmpHeader(std::uint8_t type, std::uint8_t code, std::uint32_t rest_of_header) {
  Frame h = {type, code, 0, 0};
  Put32(h, rest_of_header);
  return h;
}

// The IP packet an ICMP error is about: its addresses and what is quoted.
struct OffendingPacket {
  bool ipv6 = false;
  std::string src;
  std::string dst;
  Frame quoted;
};

OffendingPacket ReadOffending(const Frame& offending) {
  const std::size_t l3 = L3Offset(offending);
  const std::uint16_t ethertype = EtherTypeAtL3(offending, l3);
  if (ethertype != kEtherTypeIpv4 && ethertype != kEtherTypeIpv6) {
    Fail("ICMP error about a frame that is not IP (EtherType " + std::to_string(ethertype) + ")");
  }
  OffendingPacket packet;
  packet.ipv6 = ethertype == kEtherTypeIpv6;
  const std::size_t src_at = l3 + (packet.ipv6 ? 8 : 12);
  const std::size_t address_bytes = packet.ipv6 ? 16 : 4;
  RequireBytes(offending, src_at + 2 * address_bytes, "ICMP error: offending packet's addresses");
  packet.src = FormatAddress(&offending[src_at], packet.ipv6);
  packet.dst = FormatAddress(&offending[src_at + address_bytes], packet.ipv6);
  const std::size_t quote_end = std::min(L4Offset(offending) + 8, offending.size());
  packet.quoted.assign(offending.begin() + static_cast<std::ptrdiff_t>(l3),
                       offending.begin() + static_cast<std::ptrdiff_t>(quote_end));
  return packet;
}

// ff02::1:ffXX:XXXX, from the target's last 24 bits (RFC 4291).
std::string SolicitedNodeAddress(const IpAddress& target) {
  std::array<std::uint8_t, 16> bytes = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
  std::copy(target.bytes.begin() + 13, target.bytes.end(), bytes.begin() + 13);
  return FormatAddress(bytes.data(), /*ipv6=*/true);
}

IpAddress ParseIpv6(std::string_view text, const char* role) {
  IpAddress address = ParseAddress(text);
  if (!address.ipv6) Fail(std::string(role) + " must be IPv6: " + std::string(text));
  return address;
}

bool IsUnspecified(const IpAddress& address) {
  return std::all_of(address.bytes.begin(), address.bytes.end(), [](auto b) { return b == 0; });
}

// Neighbour discovery option: source (1) or target (2) link-layer address.
Frame LinkLayerAddressOption(std::uint8_t type) {
  Frame option = {type, /*8-byte units=*/1};
  PutBytes(option, kSrcMac);
  return option;
}

std::vector<Frame> Ipv4Fragments(const Frame& datagram, std::size_t l3,
                                 std::size_t fragment_bytes) {
  RequireBytes(datagram, l3 + kIpv4HeaderBytes, "Fragments: IPv4 header");
  const std::size_t header_bytes = (datagram[l3] & 0x0f) * 4u;
  const std::size_t total_bytes = Get16(datagram, l3 + 2);
  if (header_bytes < kIpv4HeaderBytes || total_bytes < header_bytes) {
    Fail("Fragments: inconsistent IPv4 header (IHL or total length)");
  }
  RequireBytes(datagram, l3 + total_bytes, "Fragments: IPv4 total length");
  const std::uint16_t original = Get16(datagram, l3 + 6);
  const std::uint16_t first_offset = original & kMaxFragmentOffset8ByteUnits;
  const bool more_after_datagram = original & kIpv4MoreFragments;

  const auto payload_begin = datagram.begin() + static_cast<std::ptrdiff_t>(l3 + header_bytes);
  const std::size_t payload_bytes = total_bytes - header_bytes;
  std::vector<Frame> pieces;
  for (std::size_t at = 0; at < payload_bytes; at += fragment_bytes) {
    const std::size_t piece_bytes = std::min(fragment_bytes, payload_bytes - at);
    const bool last = at + piece_bytes == payload_bytes;
    const std::size_t offset = first_offset + at / 8;
    if (offset > kMaxFragmentOffset8ByteUnits) Fail("Fragments: IPv4 offset past 13 bits");

    Frame piece(datagram.begin(), payload_begin);
    piece.insert(piece.end(), payload_begin + static_cast<std::ptrdiff_t>(at),
                 payload_begin + static_cast<std::ptrdiff_t>(at + piece_bytes));
    Set16(piece, l3 + 2, static_cast<std::uint16_t>(header_bytes + piece_bytes));
    const bool more = !last || more_after_datagram;
    Set16(piece, l3 + 6,
          static_cast<std::uint16_t>((original & kIpv4DontFragment) |
                                     (more ? kIpv4MoreFragments : 0) | offset));
    Set16(piece, l3 + 10, 0);
    Set16(piece, l3 + 10, FoldChecksum(SumWords({&piece[l3], header_bytes})));
    pieces.push_back(std::move(piece));
  }
  return pieces;
}

// RFC 8200 4.5: the per-fragment headers are the IPv6 header and the
// extension headers up to the routing header, else the hop-by-hop header.
std::vector<Frame> Ipv6Fragments(const Frame& datagram, std::size_t l3, std::size_t fragment_bytes,
                                 std::uint32_t identification) {
  RequireBytes(datagram, l3 + kIpv6HeaderBytes, "Fragments: IPv6 header");
  const std::size_t end = l3 + kIpv6HeaderBytes + Get16(datagram, l3 + 4);
  RequireBytes(datagram, end, "Fragments: IPv6 payload length");

  std::size_t next_header_at = l3 + 6;  // the byte naming the header at `at`
  std::size_t at = l3 + kIpv6HeaderBytes;
  std::size_t fragment_next_header_at = next_header_at;
  std::size_t fragmentable_begin = at;
  while (IsIpv6ExtHeader(datagram[next_header_at])) {
    const std::uint8_t type = datagram[next_header_at];
    if (type == kFragment) Fail("Fragments: the IPv6 datagram already has a fragment header");
    if (at + 2 > end) Fail("Fragments: IPv6 extension header past the payload length");
    const std::size_t header_bytes = Ipv6ExtHeaderBytes(datagram, at, type);
    if (type == kHopByHop || type == kRouting) {
      fragment_next_header_at = at;
      fragmentable_begin = at + header_bytes;
    }
    next_header_at = at;
    at += header_bytes;
  }
  if (fragmentable_begin >= end) Fail("Fragments: nothing after the IPv6 per-fragment headers");

  Frame per_fragment(datagram.begin(),
                     datagram.begin() + static_cast<std::ptrdiff_t>(fragmentable_begin));
  const std::uint8_t fragmented_next_header = per_fragment[fragment_next_header_at];
  per_fragment[fragment_next_header_at] = kFragment;

  const std::size_t fragmentable_bytes = end - fragmentable_begin;
  std::vector<Frame> pieces;
  for (std::size_t offset = 0; offset < fragmentable_bytes; offset += fragment_bytes) {
    const std::size_t piece_bytes = std::min(fragment_bytes, fragmentable_bytes - offset);
    const bool last = offset + piece_bytes == fragmentable_bytes;
    if (offset / 8 > kMaxFragmentOffset8ByteUnits) Fail("Fragments: IPv6 offset past 13 bits");

    Frame piece = per_fragment;
    PutBytes(piece,
             FragmentExtHeader(fragmented_next_header,
                               Ipv6ExtHeader::Fragment(static_cast<std::uint16_t>(offset / 8),
                                                       !last, identification)));
    const auto data = datagram.begin() + static_cast<std::ptrdiff_t>(fragmentable_begin + offset);
    piece.insert(piece.end(), data, data + static_cast<std::ptrdiff_t>(piece_bytes));
    Set16(piece, l3 + 4, static_cast<std::uint16_t>(piece.size() - l3 - kIpv6HeaderBytes));
    pieces.push_back(std::move(piece));
  }
  return pieces;
}

}  // namespace

// FrameSpec: checks and setters.

bool FrameSpec::ipv6() const { return ParseAddress(src_).ipv6; }

void FrameSpec::RequireIp(std::string_view setter) const {
  if (!ip_) {
    Fail(std::string(setter) + " on a frame that is not IP (EtherType " +
         std::to_string(ethertype_) + ")");
  }
}

void FrameSpec::RequireIpv4(std::string_view setter) const {
  RequireIp(setter);
  if (ipv6()) Fail(std::string(setter) + " on an IPv6 packet (" + src_ + " -> " + dst_ + ")");
}

FrameSpec& FrameSpec::Vlan(VlanTag tag) {
  if (tag.vid > 4095 || tag.priority > 7) {
    Fail("VLAN tag with VID " + std::to_string(tag.vid) + ", priority " +
         std::to_string(tag.priority) + ": VID is 12 bits, priority 3");
  }
  vlans_.push_back(tag);
  return *this;
}

FrameSpec& FrameSpec::Src(std::string_view address) {
  RequireIp("Src()");
  if (ParseAddress(address).ipv6 != ipv6())
    Fail("Src(" + std::string(address) + "): mixed families");
  src_ = address;
  return *this;
}

FrameSpec& FrameSpec::Dst(std::string_view address) {
  RequireIp("Dst()");
  if (ParseAddress(address).ipv6 != ipv6())
    Fail("Dst(" + std::string(address) + "): mixed families");
  dst_ = address;
  return *this;
}

FrameSpec& FrameSpec::Ttl(std::uint8_t ttl) {
  RequireIp("Ttl()");
  ttl_ = ttl;
  return *this;
}

FrameSpec& FrameSpec::Id(std::uint16_t id) {
  RequireIpv4("Id()");
  id_ = id;
  return *this;
}

FrameSpec& FrameSpec::DontFragment() {
  RequireIpv4("DontFragment()");
  dont_fragment_ = true;
  return *this;
}

FrameSpec& FrameSpec::MoreFragments() {
  RequireIpv4("MoreFragments() (IPv6: Ipv6Ext({Ipv6ExtHeader::Fragment(...)}))");
  more_fragments_ = true;
  return *this;
}

FrameSpec& FrameSpec::FragmentOffset(std::uint16_t offset_8byte_units) {
  RequireIpv4("FragmentOffset() (IPv6: Ipv6Ext({Ipv6ExtHeader::Fragment(...)}))");
  if (offset_8byte_units > kMaxFragmentOffset8ByteUnits) {
    Fail("FragmentOffset(" + std::to_string(offset_8byte_units) + "): more than 13 bits");
  }
  fragment_offset_8byte_units_ = offset_8byte_units;
  return *this;
}

FrameSpec& FrameSpec::Ipv4Options(Frame options) {
  RequireIpv4("Ipv4Options()");
  options.resize((options.size() + 3) / 4 * 4, 0);
  if (options.size() > kIpv4MaxOptionBytes) {
    Fail("Ipv4Options(): " + std::to_string(options.size()) + " bytes, at most 40");
  }
  ipv4_options_ = std::move(options);
  return *this;
}

FrameSpec& FrameSpec::Ipv6Ext(std::vector<Ipv6ExtHeader> headers) {
  RequireIp("Ipv6Ext()");
  if (!ipv6()) Fail("Ipv6Ext() on an IPv4 packet (" + src_ + " -> " + dst_ + ")");
  ipv6_ext_.insert(ipv6_ext_.end(), headers.begin(), headers.end());
  return *this;
}

FrameSpec& FrameSpec::L4Header(Frame header) {
  RequireIp("L4Header()");
  l4_header_ = std::move(header);
  return *this;
}

FrameSpec& FrameSpec::Payload(Frame bytes) {
  RequireIp("Payload()");
  payload_ = std::move(bytes);
  return *this;
}

FrameSpec& FrameSpec::Ipv4Ihl(std::uint8_t words) {
  RequireIpv4("Ipv4Ihl()");
  if (words > 15) Fail("Ipv4Ihl(" + std::to_string(words) + "): IHL is 4 bits");
  ipv4_ihl_words_ = words;
  return *this;
}

FrameSpec& FrameSpec::Ipv4TotalLength(std::uint16_t bytes) {
  RequireIpv4("Ipv4TotalLength()");
  ipv4_total_length_ = bytes;
  return *this;
}

FrameSpec& FrameSpec::Ipv6PayloadLength(std::uint16_t bytes) {
  RequireIp("Ipv6PayloadLength()");
  if (!ipv6()) Fail("Ipv6PayloadLength() on an IPv4 packet");
  ipv6_payload_length_ = bytes;
  return *this;
}

FrameSpec& FrameSpec::TcpDataOffset(std::uint8_t words) {
  RequireIp("TcpDataOffset()");
  if (protocol_ != kProtoTcp) Fail("TcpDataOffset() on a packet that is not TCP");
  if (words > 15) Fail("TcpDataOffset(" + std::to_string(words) + "): data offset is 4 bits");
  tcp_data_offset_words_ = words;
  return *this;
}

FrameSpec& FrameSpec::TruncateL4(std::size_t bytes) {
  RequireIp("TruncateL4()");
  l4_bytes_ = bytes;
  return *this;
}

FrameSpec& FrameSpec::PadTo(std::size_t bytes) {
  min_frame_bytes_ = bytes;
  return *this;
}

// FrameSpec: building.

Frame FrameSpec::Build() const {
  if (!ip_) {
    Frame frame = LinkHeader(ethertype_);
    PutBytes(frame, link_payload_);
    return testing::PadTo(std::move(frame), min_frame_bytes_);
  }
  Frame frame = LinkHeader(ipv6() ? kEtherTypeIpv6 : kEtherTypeIpv4);
  PutBytes(frame, ipv6() ? Ipv6Packet() : Ipv4Packet());
  return testing::PadTo(std::move(frame), min_frame_bytes_);
}

Frame FrameSpec::LinkHeader(std::uint16_t ethertype) const {
  Frame f;
  PutBytes(f, broadcast_ ? kBroadcastMac : kDstMac);
  PutBytes(f, kSrcMac);
  for (const VlanTag& tag : vlans_) {
    Put16(f, tag.tpid);
    Put16(f, static_cast<std::uint16_t>(tag.priority << 13 | tag.vid));
  }
  Put16(f, ethertype);
  return f;
}

// Header and payload with the UDP length and the checksum filled in, then
// cut if TruncateL4() asked.
Frame FrameSpec::L4Bytes() const {
  Frame l4 = l4_header_;
  PutBytes(l4, payload_);
  if (protocol_ == kProtoUdp && l4_header_.size() >= 8) {
    Set16(l4, 4, static_cast<std::uint16_t>(l4.size()));
  }
  if (protocol_ == kProtoTcp && tcp_data_offset_words_ && l4.size() > 12) {
    l4[12] = static_cast<std::uint8_t>(*tcp_data_offset_words_ << 4 | (l4[12] & 0x0f));
  }

  const IpAddress src = ParseAddress(src_);
  const IpAddress dst = ParseAddress(dst_);
  const std::optional<std::size_t> checksum_at = ChecksumOffset(protocol_, src.ipv6);
  if (checksum_at && l4.size() >= *checksum_at + 2) {
    Set16(l4, *checksum_at, 0);
    const std::uint32_t pseudo =
        protocol_ == kProtoIcmp ? 0 : PseudoHeaderSum(src, dst, protocol_, l4.size());
    std::uint16_t checksum = FoldChecksum(SumWords(l4, pseudo));
    if (protocol_ == kProtoUdp && checksum == 0) checksum = 0xffff;  // 0 means "none"
    Set16(l4, *checksum_at, checksum);
  }

  if (l4_bytes_) {
    if (*l4_bytes_ > l4.size()) {
      Fail("TruncateL4(" + std::to_string(*l4_bytes_) + ") of " + std::to_string(l4.size()) +
           " bytes");
    }
    l4.resize(*l4_bytes_);
  }
  return l4;
}

Frame FrameSpec::Ipv4Packet() const {
  const Frame l4 = L4Bytes();
  const std::size_t header_bytes = kIpv4HeaderBytes + ipv4_options_.size();
  const std::size_t total_bytes = header_bytes + l4.size();
  if (total_bytes > 0xffff) Fail("IPv4 packet of " + std::to_string(total_bytes) + " bytes");

  Frame p;
  Put8(p, static_cast<std::uint8_t>(0x40 | ipv4_ihl_words_.value_or(header_bytes / 4)));
  Put8(p, 0);  // DSCP, ECN
  Put16(p, ipv4_total_length_.value_or(static_cast<std::uint16_t>(total_bytes)));
  Put16(p, id_);
  Put16(p, static_cast<std::uint16_t>((dont_fragment_ ? kIpv4DontFragment : 0) |
                                      (more_fragments_ ? kIpv4MoreFragments : 0) |
                                      fragment_offset_8byte_units_));
  Put8(p, ttl_);
  Put8(p, protocol_);
  Put16(p, 0);  // header checksum, below
  PutBytes(p, ParseAddress(src_).span());
  PutBytes(p, ParseAddress(dst_).span());
  PutBytes(p, ipv4_options_);
  Set16(p, 10, FoldChecksum(SumWords(p)));
  PutBytes(p, l4);
  return p;
}

Frame FrameSpec::Ipv6ExtChain() const {
  Frame chain;
  for (std::size_t i = 0; i < ipv6_ext_.size(); ++i) {
    const std::uint8_t next = i + 1 < ipv6_ext_.size() ? ipv6_ext_[i + 1].type : protocol_;
    PutBytes(chain, ExtHeaderBytes(ipv6_ext_[i], next));
  }
  return chain;
}

Frame FrameSpec::Ipv6Packet() const {
  const Frame ext = Ipv6ExtChain();
  const Frame l4 = L4Bytes();
  const std::size_t payload_bytes = ext.size() + l4.size();
  if (payload_bytes > 0xffff) Fail("IPv6 payload of " + std::to_string(payload_bytes) + " bytes");

  Frame p;
  Put32(p, 0x60000000);  // version 6, traffic class 0, flow label 0
  Put16(p, ipv6_payload_length_.value_or(static_cast<std::uint16_t>(payload_bytes)));
  Put8(p, ipv6_ext_.empty() ? protocol_ : ipv6_ext_.front().type);
  Put8(p, ttl_);
  PutBytes(p, ParseAddress(src_).span());
  PutBytes(p, ParseAddress(dst_).span());
  PutBytes(p, ext);
  PutBytes(p, l4);
  return p;
}

// Factories.

FrameSpec IpPacket(std::string_view src, std::string_view dst, std::uint8_t protocol) {
  if (ParseAddress(src).ipv6 != ParseAddress(dst).ipv6) {
    Fail("mixed address families: " + std::string(src) + " -> " + std::string(dst));
  }
  FrameSpec spec;
  spec.ip_ = true;
  spec.src_ = src;
  spec.dst_ = dst;
  spec.protocol_ = protocol;
  return spec;
}

FrameSpec Tcp(std::string_view src, std::string_view dst, std::uint16_t sport, std::uint16_t dport,
              std::uint8_t flags) {
  Frame h;
  Put16(h, sport);
  Put16(h, dport);
  Put32(h, 1);                     // sequence number
  Put32(h, flags & kAck ? 1 : 0);  // acknowledgment number
  Put8(h, 5 << 4);                 // data offset: 20 bytes
  Put8(h, flags);
  Put16(h, 65535);  // window
  Put16(h, 0);      // checksum
  Put16(h, 0);      // urgent pointer
  return IpPacket(src, dst, kProtoTcp).L4Header(std::move(h));
}

FrameSpec Udp(std::string_view src, std::string_view dst, std::uint16_t sport,
              std::uint16_t dport) {
  Frame h;
  Put16(h, sport);
  Put16(h, dport);
  Put16(h, 0);  // length
  Put16(h, 0);  // checksum
  return IpPacket(src, dst, kProtoUdp).L4Header(std::move(h));
}

FrameSpec IcmpMessage(std::string_view src, std::string_view dst, std::uint8_t type,
                      std::uint8_t code, std::uint32_t rest_of_header) {
  const std::uint8_t protocol = ParseAddress(src).ipv6 ? kProtoIcmpv6 : kProtoIcmp;
  return IpPacket(src, dst, protocol).L4Header(IcmpHeader(type, code, rest_of_header));
}

FrameSpec EchoRequest(std::string_view src, std::string_view dst, std::uint16_t id,
                      std::uint16_t sequence) {
  const std::uint8_t type = ParseAddress(src).ipv6 ? 128 : 8;
  return IcmpMessage(src, dst, type, 0, static_cast<std::uint32_t>(id) << 16 | sequence);
}

FrameSpec EchoReply(std::string_view src, std::string_view dst, std::uint16_t id,
                    std::uint16_t sequence) {
  const std::uint8_t type = ParseAddress(src).ipv6 ? 129 : 0;
  return IcmpMessage(src, dst, type, 0, static_cast<std::uint32_t>(id) << 16 | sequence);
}

FrameSpec IcmpError(IcmpErrorKind kind, std::uint8_t code, const Frame& offending) {
  constexpr std::array<std::uint8_t, 3> kIpv4Types = {3, 11, 12};
  constexpr std::array<std::uint8_t, 3> kIpv6Types = {1, 3, 4};
  OffendingPacket packet = ReadOffending(offending);
  const std::uint8_t type = (packet.ipv6 ? kIpv6Types : kIpv4Types).at(kind);
  return IcmpMessage(packet.dst, packet.src, type, code).Payload(std::move(packet.quoted));
}

FrameSpec PacketTooBig(std::uint32_t mtu, const Frame& offending) {
  OffendingPacket packet = ReadOffending(offending);
  if (packet.ipv6) {
    return IcmpMessage(packet.dst, packet.src, /*packet too big=*/2, 0, mtu)
        .Payload(std::move(packet.quoted));
  }
  if (mtu > 0xffff) Fail("PacketTooBig: IPv4 next-hop MTU " + std::to_string(mtu) + " > 65535");
  // Destination unreachable, fragmentation needed: the MTU in the low 16 bits.
  return IcmpMessage(packet.dst, packet.src, 3, 4, mtu).Payload(std::move(packet.quoted));
}

FrameSpec NeighborSolicitation(std::string_view src, std::string_view target) {
  const IpAddress target_address = ParseIpv6(target, "NeighborSolicitation target");
  Frame message = IcmpHeader(135, 0, 0);
  PutBytes(message, target_address.span());
  if (!IsUnspecified(ParseIpv6(src, "NeighborSolicitation source"))) {
    PutBytes(message, LinkLayerAddressOption(1));
  }
  return IpPacket(src, SolicitedNodeAddress(target_address), kProtoIcmpv6)
      .L4Header(std::move(message))
      .Ttl(255);
}

FrameSpec NeighborAdvertisement(std::string_view src, std::string_view dst,
                                std::string_view target) {
  constexpr std::uint32_t kSolicitedAndOverride = 0x60000000;
  Frame message = IcmpHeader(136, 0, kSolicitedAndOverride);
  PutBytes(message, ParseIpv6(target, "NeighborAdvertisement target").span());
  PutBytes(message, LinkLayerAddressOption(2));
  return IpPacket(src, dst, kProtoIcmpv6).L4Header(std::move(message)).Ttl(255);
}

FrameSpec RouterSolicitation(std::string_view src) {
  Frame message = IcmpHeader(133, 0, 0);
  if (!IsUnspecified(ParseIpv6(src, "RouterSolicitation source"))) {
    PutBytes(message, LinkLayerAddressOption(1));
  }
  return IpPacket(src, "ff02::2", kProtoIcmpv6).L4Header(std::move(message)).Ttl(255);
}

FrameSpec ArpRequest(std::string_view sender, std::string_view target) {
  const IpAddress sender_address = ParseAddress(sender);
  const IpAddress target_address = ParseAddress(target);
  if (sender_address.ipv6 || target_address.ipv6) Fail("ArpRequest takes IPv4 addresses");
  Frame body;
  Put16(body, 1);  // hardware type: Ethernet
  Put16(body, kEtherTypeIpv4);
  Put8(body, 6);   // hardware address length
  Put8(body, 4);   // protocol address length
  Put16(body, 1);  // operation: request
  PutBytes(body, kSrcMac);
  PutBytes(body, sender_address.span());
  PutBytes(body, MacAddress{});  // target hardware address: unknown
  PutBytes(body, target_address.span());
  FrameSpec spec = EtherTypeFrame(kEtherTypeArp, std::move(body));
  spec.broadcast_ = true;
  return spec;
}

FrameSpec EtherTypeFrame(std::uint16_t ethertype, Frame payload) {
  FrameSpec spec;
  spec.ethertype_ = ethertype;
  spec.link_payload_ = std::move(payload);
  return spec;
}

// Operations on built frames.

std::vector<Frame> Fragments(const Frame& datagram, std::size_t fragment_bytes,
                             std::uint32_t ipv6_identification) {
  if (fragment_bytes == 0 || fragment_bytes % 8 != 0) {
    Fail("Fragments: piece size " + std::to_string(fragment_bytes) + " is not a multiple of 8");
  }
  const std::size_t l3 = L3Offset(datagram);
  switch (EtherTypeAtL3(datagram, l3)) {
    case kEtherTypeIpv4:
      return Ipv4Fragments(datagram, l3, fragment_bytes);
    case kEtherTypeIpv6:
      return Ipv6Fragments(datagram, l3, fragment_bytes, ipv6_identification);
    default:
      Fail("Fragments: not an IP frame");
  }
}

Frame Truncate(Frame frame, std::size_t bytes) {
  if (bytes > frame.size()) {
    Fail("Truncate(" + std::to_string(bytes) + ") of a " + std::to_string(frame.size()) +
         "-byte frame");
  }
  frame.resize(bytes);
  return frame;
}

Frame PadTo(Frame frame, std::size_t bytes) {
  if (frame.size() < bytes) frame.resize(bytes, 0);
  return frame;
}

std::size_t L3Offset(const Frame& frame) {
  RequireBytes(frame, kEthernetHeaderBytes, "L3Offset: Ethernet header");
  std::size_t ethertype_at = 12;
  while (IsVlanTpid(Get16(frame, ethertype_at))) {
    ethertype_at += 4;
    RequireBytes(frame, ethertype_at + 2, "L3Offset: VLAN tag");
  }
  return ethertype_at + 2;
}

std::size_t L4Offset(const Frame& frame) {
  const std::size_t l3 = L3Offset(frame);
  switch (EtherTypeAtL3(frame, l3)) {
    case kEtherTypeIpv4:
      RequireBytes(frame, l3 + 1, "L4Offset: IPv4 header");
      return l3 + (frame[l3] & 0x0f) * 4u;
    case kEtherTypeIpv6: {
      RequireBytes(frame, l3 + kIpv6HeaderBytes, "L4Offset: IPv6 header");
      std::uint8_t next_header = frame[l3 + 6];
      std::size_t at = l3 + kIpv6HeaderBytes;
      while (IsIpv6ExtHeader(next_header) && at + 2 <= frame.size()) {
        const bool later_fragment =
            next_header == kFragment && at + 4 <= frame.size() && (Get16(frame, at + 2) >> 3) != 0;
        const std::size_t header_bytes = Ipv6ExtHeaderBytes(frame, at, next_header);
        next_header = frame[at];
        at += header_bytes;
        if (later_fragment) break;
      }
      return at;
    }
    default:
      Fail("L4Offset: not an IP frame");
  }
}

}  // namespace bulkhead::testing
