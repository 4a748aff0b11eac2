// bulkheadd: the per-node agent.
//
// Start() loads the datapath, writes identities and the compiled policy into
// its maps, attaches to every interface matching the pattern (and to new ones
// as they appear), binds each interface to the workload whose address is
// routed through it, then consumes flow events: each becomes a Flow in the
// history, and in learn mode may become a segment, compiled into the policy
// map on the next turn of the loop. The API serves status, flows, modes and
// the policy. Learned segments and modes are saved to the state directory
// after every change and restored on start.
//
// Everything runs on the one io_context thread; nothing here is shared.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "controlplane/agent_lock.h"
#include "controlplane/api_server.h"
#include "controlplane/compiler.h"
#include "controlplane/flow_builder.h"
#include "controlplane/identity_table.h"
#include "controlplane/learner.h"
#include "controlplane/policy_store.h"
#include "datapath/datapath.h"
#include "datapath/event_reader.h"
#include "datapath/netlink_watcher.h"
#include "proto/api.pb.h"

namespace bulkhead {

struct AgentOptions {
  std::string inventory_path;
  std::string interface_pattern = "lxc*";
  std::vector<std::string> uplinks;  // interfaces for the XDP uplink program
  std::string socket_path = "/run/bulkhead/bulkhead.sock";
  std::string pin_dir = "/sys/fs/bpf/bulkhead";
  std::string state_dir = "/var/lib/bulkhead";  // empty: nothing persisted
  bh_mode default_mode = BH_MODE_LEARN;
  std::size_t flow_history = 10000;  // flows kept for `bulkhead flows`
  MapSizes map_sizes;
  bh_config datapath_config = DefaultDatapathConfig();
};

class Agent {
 public:
  static absl::StatusOr<std::unique_ptr<Agent>> Create(boost::asio::io_context& io,
                                                       AgentOptions options);
  ~Agent();

  // Loads, attaches and starts serving. Call once, before io.run().
  absl::Status Start();
  // After io.run() returns: learns from the events still queued, compiles
  // and saves, so nothing learned is lost. Then destroy the agent: the
  // programs stay attached and the maps pinned, enforcing the last state
  // until the next agent adopts them.
  void Shutdown();

  // `bulkheadd --uninstall`: detaches the programs from every interface
  // matching the pattern and from the uplinks, and removes the pinned maps.
  // The state directory (learned segments, modes) is kept.
  static absl::Status Uninstall(const AgentOptions& options);

  bulkhead::v1::Response Handle(const bulkhead::v1::Request& request);

 private:
  Agent(boost::asio::io_context& io, AgentOptions options, IdentityTable identities);

  void OnFlowEvent(const bh_flow_event& event);
  void OnLinkAdded(const Link& link);
  void OnLinkRemoved(const Link& link);
  void OnRouteAdded(const Route& route);
  void OnRouteRemoved(const Route& route);
  void OnAddressAdded(const LocalAddress& address);
  void OnAddressRemoved(const LocalAddress& address);
  absl::Status InstallIdentities();
  void BumpEpoch();
  absl::Status ReconcileModes();
  absl::Status RemoveStaleEndpoints();
  void ScheduleCompile();
  absl::Status CompileAndPersist();
  absl::Status SetMode(std::uint32_t identity, bh_mode mode);
  bh_mode ModeOf(std::uint32_t identity) const;
  absl::Status LoadState();
  absl::Status SaveState() const;

  bulkhead::v1::StatusResponse Status() const;
  bulkhead::v1::FlowsResponse Flows(const bulkhead::v1::FlowsRequest& request) const;
  // events_drained: whether the ring buffer was read to the end just now.
  absl::StatusOr<bulkhead::v1::SetModeResponse> SetModes(
      const bulkhead::v1::SetModeRequest& request, const absl::Status& events_drained);

  boost::asio::io_context& io_;
  AgentOptions options_;
  std::optional<AgentLock> lock_;  // held for the agent's life
  IdentityTable identities_;
  std::map<std::uint32_t, bh_mode> modes_;  // identity -> mode, every workload
  PolicyStore store_;
  Learner learner_;
  Compiler compiler_;
  MonotonicClockOffset clock_;
  absl::Time started_ = absl::Now();
  std::deque<bulkhead::v1::Flow> history_;
  std::uint64_t flows_seen_ = 0;
  bool compile_scheduled_ = false;
  bool policy_dirty_ = false;           // learned segments not yet in the policy map
  std::map<int, std::uint32_t> bound_;  // ifindex -> identity
  // The node's own addresses (the `host` identity), counted per interface.
  std::map<bh_addr, int> host_addresses_;
  bool listing_ = true;  // netlink's first listing: collect, install once after

  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<EventReader> events_;
  std::unique_ptr<NetlinkWatcher> netlink_;
  std::unique_ptr<ApiServer> api_;
};

}  // namespace bulkhead
