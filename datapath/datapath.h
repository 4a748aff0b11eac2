// The node's datapath: the endpoint BPF programs, their maps, and the
// interfaces they are attached to.
//
// Load() opens and loads bpf/endpoint.bpf.c through its skeleton. With a
// pin_dir, the maps are pinned there by name (reused if already pinned with
// the same layout), so bpftool and a restarted agent see the same state.
// Attach() puts from_endpoint on the interface's TC ingress and to_endpoint
// on its TC egress (clsact). Destruction detaches every interface and, unless
// keep_pinned, unpins the maps.
//
// Not thread-safe: owned by the agent's event loop.
//
//   BH_ASSIGN_OR_RETURN(auto dp, Datapath::Load({.pin_dir = "/sys/fs/bpf/bulkhead"}));
//   BH_RETURN_IF_ERROR(dp->Attach(ifindex, "lxc-frontend"));
//   BH_RETURN_IF_ERROR(dp->policy().Update(key, value));
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "datapath/abi.h"
#include "datapath/typed_map.h"

struct endpoint_bpf;

namespace bulkhead {

struct DatapathOptions {
  std::string pin_dir;       // bpffs directory for the maps; empty: no pinning
  bool keep_pinned = false;  // leave pinned maps in place when destroyed
};

using DatapathStats = std::array<std::uint64_t, BH_STAT_MAX>;

// Names of the BH_STAT_* counters as reported by `bulkhead status`.
const char* StatName(int stat);

class Datapath {
 public:
  static absl::StatusOr<std::unique_ptr<Datapath>> Load(const DatapathOptions& options);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  // Idempotent: attaching to an interface twice replaces our filters.
  absl::Status Attach(int ifindex, const std::string& ifname);
  // Removes our filters; an interface that no longer exists is not an error.
  absl::Status Detach(int ifindex);
  bool IsAttached(int ifindex) const { return attached_.contains(ifindex); }
  const std::map<int, std::string>& attached() const { return attached_; }  // ifindex -> name
  std::string InterfaceName(int ifindex) const;

  TypedMap<bh_ipcache_key, bh_ipcache_value>& ipcache() { return ipcache_; }
  TypedMap<bh_policy_key, bh_policy_value>& policy() { return policy_; }
  TypedMap<std::uint32_t, bh_mode_value>& modes() { return modes_; }
  TypedMap<std::uint32_t, bh_endpoint_value>& endpoints() { return endpoints_; }
  TypedMap<bh_ct_key, bh_ct_entry>& conntrack() { return conntrack_; }

  // Sums the per-CPU counters.
  absl::StatusOr<DatapathStats> ReadStats() const;

  int events_fd() const;
  int from_endpoint_fd() const;
  int to_endpoint_fd() const;

 private:
  Datapath(endpoint_bpf* skel, DatapathOptions options);

  endpoint_bpf* skel_;
  DatapathOptions options_;
  TypedMap<bh_ipcache_key, bh_ipcache_value> ipcache_;
  TypedMap<bh_policy_key, bh_policy_value> policy_;
  TypedMap<std::uint32_t, bh_mode_value> modes_;
  TypedMap<std::uint32_t, bh_endpoint_value> endpoints_;
  TypedMap<bh_ct_key, bh_ct_entry> conntrack_;
  int stats_fd_;
  std::map<int, std::string> attached_;  // ifindex -> name
};

}  // namespace bulkhead
