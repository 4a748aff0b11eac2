// Compiles the allow-list and the identities into what the datapath's maps
// must hold. Pure: the Reconciler writes the result into the kernel.
//
// Compile(): policy x identities -> the exact set of policy map entries
// (a range segment: the fewest port prefixes covering it).
// Ipcache(): every workload address, and the node's own addresses as
// `host`, -> its identity. IpcachePrefixes(): the CIDR identities, consulted
// when Ipcache() misses: `private` (RFC 1918, ULA) and the inventory's
// network sets (a set's prefix replaces `private`'s equal one; the longest
// prefix wins in the kernel). An address in neither is `world`.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "controlplane/identity_table.h"
#include "datapath/abi.h"
#include "proto/policy.pb.h"

namespace bulkhead {

using PolicyEntries = std::map<bh_policy_key, bh_policy_value, PolicyKeyLess>;
using PolicyRangeEntries = std::map<bh_policy_lpm_key, bh_policy_value, PolicyLpmKeyLess>;

struct CompiledPolicy {
  PolicyEntries entries;                // one-port segments (exact)
  PolicyRangeEntries ranges;            // port-range and any-port segments, as port prefixes
  std::vector<std::string> unresolved;  // segments naming a workload with no identity
};

class Compiler {
 public:
  static CompiledPolicy Compile(const bulkhead::v1::Policy& policy,
                                const IdentityTable& identities);

  // A workload's address is the workload's, even if the node has it too.
  static std::map<bh_addr, std::uint32_t> Ipcache(const IdentityTable& identities,
                                                  const std::set<bh_addr>& host_addresses);
  static PrefixEntries IpcachePrefixes(const IdentityTable& identities);
};

}  // namespace bulkhead
