// The addresses a peer that is not a workload stands for (host, private,
// world, a network set), as CIDR blocks with exceptions: what a Kubernetes
// NetworkPolicy's ipBlock can say (kubernetes_policy.h).
//
// An address belongs to the peer the agent's ipcache gives it
// (controlplane/identity_table.h, controlplane/compiler.h): a host address
// is `host` whatever prefix holds it; else the longest prefix holding it
// decides, among the network sets' CIDRs and the private ranges (10/8,
// 172.16/12, 192.168/16, fc00::/7), a network set winning a tie with a
// private range of the same prefix; else it is `world`. So a peer's blocks
// are its prefixes, each except the longer prefixes inside it that belong to
// someone else:
//
//   networks: corp [10.20.0.0/16], hosts: [192.168.1.5]
//   private -> 10.0.0.0/8 except [10.20.0.0/16], 172.16.0.0/12,
//              192.168.0.0/16 except [192.168.1.5/32], fc00::/7
//   world   -> 0.0.0.0/0 except [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16],
//              ::/0 except [fc00::/7]
//
// Workload addresses are not known here (the export does not carry them):
// the blocks of private and world include them. Immutable; safe to share.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "proto/api.pb.h"

namespace bulkhead {

// One ipBlock: the addresses in `cidr` but in none of `except` (each one
// strictly inside `cidr`, as Kubernetes requires).
struct IpBlock {
  std::string cidr;
  std::vector<std::string> except;
  bool operator==(const IpBlock&) const = default;
};
// "10.0.0.0/8 except [10.20.0.0/16]", or the CIDR alone.
std::string ToString(const IpBlock& block);

class PeerAddresses {
 public:
  // Fails on a CIDR or host address that does not parse, or a CIDR with
  // bits set past its length; the error names the network set.
  static absl::StatusOr<PeerAddresses> Build(
      const google::protobuf::RepeatedPtrField<bulkhead::v1::NetworkInfo>& networks,
      const google::protobuf::RepeatedPtrField<std::string>& host_addresses);

  // Whether `peer` is host, private, world or one of the network sets.
  bool Knows(absl::string_view peer) const { return blocks_.find(peer) != blocks_.end(); }
  // The blocks of `peer`, IPv4 before IPv6, each in address order; empty
  // when no address is the peer's (no host address, a network set whose
  // CIDRs all belong to longer or tied prefixes of others) or when the
  // peer is unknown.
  const std::vector<IpBlock>& BlocksOf(absl::string_view peer) const;
  // The inverse: which peer's block `block` is, however its prefixes are
  // written ("fd00:0::5/128" is "fd00::5/128") and in whatever order its
  // exceptions come. Errors: InvalidArgument for a CIDR that does not
  // parse, NotFound for a block that is no peer's (the message shows a
  // peer's block with the same CIDR, if there is one).
  struct PeerBlock {
    std::string peer;
    std::size_t index = 0;  // in BlocksOf(peer)
  };
  absl::StatusOr<PeerBlock> PeerOf(const IpBlock& block) const;

 private:
  // Every peer it knows, even those without a block.
  std::map<std::string, std::vector<IpBlock>, std::less<>> blocks_;
  // Each block, as BlocksOf has it ("cidr except a,b"), -> its peer.
  std::map<std::string, PeerBlock> owners_;
};

}  // namespace bulkhead
