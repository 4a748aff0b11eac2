// The node's datapath: the endpoint (TC) and uplink (XDP) BPF programs, their
// shared maps, and the interfaces they are attached to.
//
// Load() opens both BPF objects, sizes every map and sets the programs'
// settings (DatapathOptions) between open and load, then loads them; the
// uplink object reuses the endpoint object's maps, so both see one state.
// With a pin_dir, the maps are pinned under <pin_dir>/v<BH_ABI_VERSION>/ by
// name (reused if already pinned with the same layout), so bpftool and a
// restarted agent see the same state, and a new layout never meets an old
// map. Attach() puts from_endpoint on the interface's TC ingress and
// to_endpoint on its TC egress (clsact); AttachUplink() puts from_uplink on
// an interface's XDP hook.
//
// Enforcement outlives this object: destruction closes our handles but
// leaves the programs attached and the maps pinned, so the kernel keeps
// enforcing the last state while no agent runs; the next Load() adopts the
// pinned maps and Attach() replaces the filters in place (same handle and
// priority), with no moment unfiltered. Only Uninstall() detaches and
// unpins.
//
// Every change the agent makes to ipcache, endpoints, modes or policy must be
// followed by BumpEpoch(): the programs cache verdicts per flow under the
// epoch, and only a new epoch makes them decide again.
//
// Not thread-safe: owned by the agent's event loop.
//
//   BH_ASSIGN_OR_RETURN(auto dp, Datapath::Load({.pin_dir = "/sys/fs/bpf/bulkhead"}));
//   BH_RETURN_IF_ERROR(dp->Attach(ifindex, "lxc-frontend"));
//   BH_RETURN_IF_ERROR(dp->policy().Update(key, value));
//   BH_RETURN_IF_ERROR(dp->BumpEpoch());
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
struct uplink_bpf;

namespace bulkhead {

// Entries per map (the event ring buffer: bytes, a power of two). Memory,
// roughly, per entry: conntrack 140 B, fragments 110 B, drop reports
// 120 B, ipcache 80 B, policy 70 B, services 80 B; prefixes, policy ranges and
// guardrails ~100 B (allocated as used).
struct MapSizes {
  std::uint32_t conntrack = 262144;     // confirmed flows (bh_ct)
  std::uint32_t conntrack_new = 65536;  // flows not confirmed yet (bh_ct_new)
  std::uint32_t ipcache = 65536;        // workload and node addresses
  std::uint32_t ipcache_prefixes = 16384;
  std::uint32_t policy = 65536;         // segments, as identity pairs x ports
  std::uint32_t policy_ranges = 16384;  // port-range segments, as prefixes of ports
  std::uint32_t guardrails = 65536;     // guardrail entries, as identity pairs x exceptions
  std::uint32_t services = 16384;       // Services' addresses x ports (ClusterIPs, NodePorts)
  std::uint32_t identities = 65536;     // workloads with a mode
  std::uint32_t endpoints = 16384;      // bound interfaces
  std::uint32_t fragments = 8192;
  std::uint32_t drop_reports = 16384;
  std::uint32_t event_bytes = 1u << 22;
};

// The programs' load-time settings, with Cilium-like defaults.
bh_config DefaultDatapathConfig();

struct DatapathOptions {
  std::string pin_dir;  // bpffs directory; maps go under <pin_dir>/v<N>; empty: no pinning
  MapSizes sizes;
  bh_config config = DefaultDatapathConfig();
};

using DatapathStats = std::array<std::uint64_t, BH_STAT_MAX>;

// Creates `dir` if its parent is on a bpf filesystem; fails with how to
// mount one when it is not.
absl::Status PreparePinDir(const std::string& dir);

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

  // The uplink program on an interface's XDP hook (native mode, generic if
  // the driver has none); replaces an earlier program of ours.
  absl::Status AttachUplink(int ifindex, const std::string& ifname);
  absl::Status DetachUplink(int ifindex);

  // Detaches from every interface in `ifindexes` and every one attached
  // through this object (TC and XDP), then unpins the maps and removes the
  // pin directory. What is already gone is not an error.
  absl::Status Uninstall(const std::vector<int>& ifindexes, const std::vector<int>& uplinks);

  // After this datapath's programs replaced the older ones on every
  // interface: removes maps an older layout pinned under the pin directory
  // (unversioned bh_* pins of layout 1, v<N> directories below ours). Their
  // programs, if any still run somewhere, keep the maps alive until they go.
  // Returns what was removed.
  std::vector<std::string> RemoveOlderLayouts();

  // Starts a new policy epoch: every cached verdict is decided again.
  absl::Status BumpEpoch();
  // Which optional maps the programs look into (BH_LOOKUP_*), written at
  // once (no new epoch).
  absl::Status SetLookups(std::uint32_t lookups);
  std::uint32_t lookups() const { return lookups_; }

  TypedMap<bh_addr, bh_ipcache_value>& ipcache() { return ipcache_; }
  TypedMap<bh_ipcache_lpm_key, bh_ipcache_value>& ipcache_prefixes() { return ipcache_lpm_; }
  TypedMap<bh_policy_key, bh_policy_value>& policy() { return policy_; }
  TypedMap<bh_policy_lpm_key, bh_policy_value>& policy_ranges() { return policy_ranges_; }
  TypedMap<bh_policy_lpm_key, bh_guardrail_value>& guardrails() { return guardrails_; }
  TypedMap<bh_service_key, bh_service_value>& services() { return services_; }
  TypedMap<std::uint32_t, bh_mode_value>& modes() { return modes_; }
  TypedMap<std::uint32_t, bh_endpoint_value>& endpoints() { return endpoints_; }
  TypedMap<bh_ct_key, bh_ct_entry>& conntrack() { return conntrack_; }
  TypedMap<bh_ct_key, bh_ct_entry>& conntrack_new() { return conntrack_new_; }
  TypedMap<bh_frag_key, bh_frag_value>& fragments() { return fragments_; }

  // Sums the per-CPU counters.
  absl::StatusOr<DatapathStats> ReadStats() const;

  int events_fd() const;
  int drop_events_fd() const;
  int from_endpoint_fd() const;
  int to_endpoint_fd() const;
  int from_uplink_fd() const;
  const DatapathOptions& options() const { return options_; }

 private:
  Datapath(endpoint_bpf* endpoint, uplink_bpf* uplink, DatapathOptions options);

  endpoint_bpf* endpoint_;
  uplink_bpf* uplink_;
  DatapathOptions options_;
  TypedMap<bh_addr, bh_ipcache_value> ipcache_;
  TypedMap<bh_ipcache_lpm_key, bh_ipcache_value> ipcache_lpm_;
  TypedMap<bh_policy_key, bh_policy_value> policy_;
  TypedMap<bh_policy_lpm_key, bh_policy_value> policy_ranges_;
  TypedMap<bh_policy_lpm_key, bh_guardrail_value> guardrails_;
  TypedMap<bh_service_key, bh_service_value> services_;
  TypedMap<std::uint32_t, bh_mode_value> modes_;
  TypedMap<std::uint32_t, bh_endpoint_value> endpoints_;
  TypedMap<bh_ct_key, bh_ct_entry> conntrack_;
  TypedMap<bh_ct_key, bh_ct_entry> conntrack_new_;
  TypedMap<bh_frag_key, bh_frag_value> fragments_;
  TypedMap<std::uint32_t, bh_epoch_value> epoch_;
  int stats_fd_;
  std::uint32_t epoch_value_ = 1;
  std::uint32_t lookups_ = 0;
  std::map<int, std::string> attached_;  // ifindex -> name
  std::map<int, std::string> uplinks_;   // ifindex -> name
};

}  // namespace bulkhead
