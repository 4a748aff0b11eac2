#include "api/peer_addresses.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bulkhead {
namespace {

struct Prefix {
  bool ipv6 = false;
  std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4
  int length = 0;

  // Whether every address of `inner` is in this prefix.
  bool Holds(const Prefix& inner) const {
    if (ipv6 != inner.ipv6 || length > inner.length) return false;
    for (int bit = 0; bit < length; ++bit) {
      auto mask = static_cast<std::uint8_t>(0x80 >> (bit % 8));
      if ((bytes[bit / 8] & mask) != (inner.bytes[bit / 8] & mask)) return false;
    }
    return true;
  }
  std::string ToString() const {  // "10.0.0.0/8", "fc00::/7"
    char text[INET6_ADDRSTRLEN];
    inet_ntop(ipv6 ? AF_INET6 : AF_INET, bytes.data(), text, sizeof(text));
    return absl::StrCat(text, "/", length);
  }
  auto operator<=>(const Prefix&) const = default;  // IPv4 first, then by address
};

// "10.0.0.0/8", "fd00::/8", or an address alone (all its bits).
absl::StatusOr<Prefix> ParsePrefix(absl::string_view text) {
  auto invalid = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CHexEscape(text), "\" is not a CIDR prefix: ", why));
  };
  std::size_t slash = text.find('/');
  std::string address(text.substr(0, slash));
  Prefix prefix;
  if (inet_pton(AF_INET, address.c_str(), prefix.bytes.data()) == 1) {
    prefix.length = 32;
  } else if (inet_pton(AF_INET6, address.c_str(), prefix.bytes.data()) == 1) {
    prefix.ipv6 = true;
    prefix.length = 128;
  } else {
    return invalid("no IPv4 or IPv6 address before the '/'");
  }
  if (slash != absl::string_view::npos) {
    int length = 0;
    if (!absl::SimpleAtoi(text.substr(slash + 1), &length) || length < 0 || length > prefix.length)
      return invalid(absl::StrCat("the length is not a number from 0 to ", prefix.length));
    prefix.length = length;
  }
  Prefix network = prefix;
  for (int bit = prefix.length; bit < 128; ++bit)
    network.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80 >> (bit % 8)));
  if (network != prefix) return invalid("bits are set past the length");
  return prefix;
}

// Who gets a prefix listed twice: the ipcache's exact entries (host) beat its
// prefixes; a network set's prefix stays when `private` adds the same one;
// world is only what nothing else holds.
enum Rank { kHost, kNetworkSet, kPrivate, kWorld };

// "10.0.0.0/8 except 10.20.0.0/16,10.30.0.0/16": a block as one string.
std::string BlockKey(const IpBlock& block) {
  return absl::StrCat(block.cidr, " except ", absl::StrJoin(block.except, ","));
}

}  // namespace

std::string ToString(const IpBlock& block) {
  if (block.except.empty()) return block.cidr;
  return absl::StrCat(block.cidr, " except [", absl::StrJoin(block.except, ", "), "]");
}

absl::StatusOr<PeerAddresses> PeerAddresses::Build(
    const google::protobuf::RepeatedPtrField<bulkhead::v1::NetworkInfo>& networks,
    const google::protobuf::RepeatedPtrField<std::string>& host_addresses) {
  std::vector<std::tuple<Prefix, Rank, std::string>> listed;
  auto add = [&](absl::string_view text, Rank rank, const std::string& owner) -> absl::Status {
    absl::StatusOr<Prefix> prefix = ParsePrefix(text);
    if (!prefix.ok()) return prefix.status();
    listed.emplace_back(*prefix, rank, owner);
    return absl::OkStatus();
  };
  PeerAddresses peers;
  for (const char* reserved : {"host", "private", "world"}) peers.blocks_[reserved];
  for (const std::string& address : host_addresses)
    if (absl::Status status = add(address, kHost, "host"); !status.ok())
      return absl::InvalidArgumentError(absl::StrCat("host address: ", status.message()));
  for (const bulkhead::v1::NetworkInfo& network : networks) {
    peers.blocks_[network.name()];
    for (const std::string& cidr : network.cidrs())
      if (absl::Status status = add(cidr, kNetworkSet, network.name()); !status.ok())
        return absl::InvalidArgumentError(
            absl::StrCat("network set \"", network.name(), "\": ", status.message()));
  }
  for (const char* cidr : {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"})
    (void)add(cidr, kPrivate, "private");  // constants: they parse
  for (const char* cidr : {"0.0.0.0/0", "::/0"}) (void)add(cidr, kWorld, "world");

  // Each prefix once, with the owner the ipcache gives it.
  std::sort(listed.begin(), listed.end());
  std::vector<std::pair<Prefix, std::string>> owned;
  for (auto& [prefix, rank, owner] : listed)
    if (owned.empty() || owned.back().first != prefix)
      owned.emplace_back(prefix, std::move(owner));  // the first of a prefix has the best rank

  // A block per prefix, except the others' prefixes inside it; only the
  // outermost are listed (one inside another is excepted with it). A
  // prefix of the owner's own inside an excepted one has a block of its own.
  for (const auto& [mine, owner] : owned) {
    std::vector<const Prefix*> inside;
    for (const auto& [other, other_owner] : owned)
      if (other_owner != owner && other != mine && mine.Holds(other)) inside.push_back(&other);
    IpBlock block{.cidr = mine.ToString()};
    for (const Prefix* p : inside)
      if (std::none_of(inside.begin(), inside.end(),
                       [&](const Prefix* q) { return q != p && q->Holds(*p); }))
        block.except.push_back(p->ToString());
    std::vector<IpBlock>& blocks = peers.blocks_[owner];
    peers.owners_.emplace(BlockKey(block), PeerBlock{owner, blocks.size()});
    blocks.push_back(std::move(block));
  }
  return peers;
}

absl::StatusOr<PeerAddresses::PeerBlock> PeerAddresses::PeerOf(const IpBlock& block) const {
  IpBlock canonical;
  absl::StatusOr<Prefix> cidr = ParsePrefix(block.cidr);
  if (!cidr.ok()) return cidr.status();
  canonical.cidr = cidr->ToString();
  std::vector<Prefix> except;
  for (const std::string& text : block.except) {
    absl::StatusOr<Prefix> prefix = ParsePrefix(text);
    if (!prefix.ok()) return prefix.status();
    except.push_back(*prefix);
  }
  std::sort(except.begin(), except.end());
  except.erase(std::unique(except.begin(), except.end()), except.end());
  for (const Prefix& prefix : except) canonical.except.push_back(prefix.ToString());
  if (auto it = owners_.find(BlockKey(canonical)); it != owners_.end()) return it->second;

  std::string message =
      absl::StrCat(ToString(canonical), " is no block of host, private, world or a network set");
  for (const auto& [peer, blocks] : blocks_)
    for (const IpBlock& b : blocks)
      if (b.cidr == canonical.cidr)
        absl::StrAppend(&message, " (", peer, "'s block is ", ToString(b), ")");
  return absl::NotFoundError(message);
}

const std::vector<IpBlock>& PeerAddresses::BlocksOf(absl::string_view peer) const {
  static const std::vector<IpBlock> kNone;
  auto it = blocks_.find(peer);
  return it == blocks_.end() ? kNone : it->second;
}

}  // namespace bulkhead
