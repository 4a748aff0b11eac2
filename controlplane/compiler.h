// Compiles the allow-list and the identities into the datapath's maps.
//
// Compile() is pure: policy x identities -> the exact set of kernel policy
// entries. Diff() says what to write and what to remove to get from the
// installed set to the wanted one. Apply() writes the additions first (one
// batch) and removes stale entries only after, so no update ever opens a
// window in which a flow allowed before and after is dropped.
//
// Not thread-safe; lives on the agent's event loop.
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "controlplane/identity_table.h"
#include "datapath/abi.h"
#include "datapath/typed_map.h"
#include "proto/policy.pb.h"

namespace bulkhead {

using PolicyEntries = std::map<bh_policy_key, bh_policy_value, PolicyKeyLess>;

struct CompiledPolicy {
  PolicyEntries entries;
  std::vector<std::string> unresolved;  // segments naming a workload with no identity
};

struct PolicyDiff {
  std::vector<bh_policy_key> upsert_keys;  // new entries or a changed segment id
  std::vector<bh_policy_value> upsert_values;
  std::vector<bh_policy_key> deletes;
};

class Compiler {
 public:
  static CompiledPolicy Compile(const bulkhead::v1::Policy& policy,
                                const IdentityTable& identities);
  static PolicyDiff Diff(const PolicyEntries& installed, const PolicyEntries& wanted);

  // Makes the policy map hold exactly `wanted`, add before delete. On error
  // the map holds a superset of what was installed before.
  absl::Status Apply(const PolicyEntries& wanted, TypedMap<bh_policy_key, bh_policy_value>& map);

  // Takes what the map already holds (a pinned map from an earlier run) as
  // installed, so the next Apply removes whatever is not wanted any more.
  absl::Status Adopt(const TypedMap<bh_policy_key, bh_policy_value>& map);

  // Makes the ipcache hold exactly the workloads' addresses and the node's
  // own (as `host`): add first, then remove entries left from an earlier run
  // or for addresses that went away.
  static absl::Status InstallIdentities(const IdentityTable& identities,
                                        const std::set<bh_addr>& host_addresses,
                                        TypedMap<bh_addr, bh_ipcache_value>& ipcache);

 private:
  PolicyEntries installed_;
};

}  // namespace bulkhead
