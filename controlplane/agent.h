// bulkheadd: the per-node agent, and what ties its parts together.
//
//   Interfaces   netlink -> attached interfaces, bindings, node addresses
//   EventReader  the datapath's flow events -> FlowHistory and the Learner
//   Learner      -> PolicyStore (segments by workload name)
//   Compiler     policy x identities -> what the policy and ipcache maps hold
//   Reconciler   the one writer of the kernel maps, transactional
//   state file   segments, modes and identity numbers across restarts
//   ApiServer    status, flows, modes, policy export and apply
//   agent_learning.cc  flow events -> learned or held-back segments, promotion
//   agent_policy.cc    reviewed policy files: export, check, apply
//
// Start() changes nothing in the kernel until everything it will write is
// known and checked: the lock, the state file, the datapath load, the
// inventory's identities (numbers kept from the last run), the listing of
// interfaces, routes and addresses, the API socket. Then the Reconciler
// switches every map at once (or not at all), and only then are the
// programs attached. A start that fails leaves the kernel as it was.
//
// Everything runs on the one io_context thread; nothing here is shared.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "controlplane/agent_lock.h"
#include "controlplane/answered.h"
#include "controlplane/api_server.h"
#include "controlplane/compiler.h"
#include "controlplane/flow_builder.h"
#include "controlplane/flow_history.h"
#include "controlplane/flow_log.h"
#include "controlplane/guardrails.h"
#include "controlplane/identity_table.h"
#include "controlplane/interfaces.h"
#include "controlplane/inventory_source.h"
#include "controlplane/learner.h"
#include "controlplane/learning_guard.h"
#include "controlplane/metrics_server.h"
#include "controlplane/policy_store.h"
#include "controlplane/reconciler.h"
#include "datapath/datapath.h"
#include "datapath/event_reader.h"
#include "proto/api.pb.h"

namespace bulkhead {

struct AgentOptions {
  std::string inventory_path;
  // Where workloads come from; empty: the file at inventory_path.
  std::shared_ptr<InventorySource> inventory_source;
  std::string guardrails_path;  // empty: no guardrails
  // A reviewed policy file (api/policy_document.h) applied at start and
  // whenever it changes; empty: none.
  std::string policy_path;
  std::string interface_pattern = "lxc*";
  std::vector<std::string> uplinks;  // interfaces for the XDP uplink program
  std::string socket_path = "/run/bulkhead/bulkhead.sock";
  ApiServerOptions api;  // the API's limits, and the socket's group
  std::string pin_dir = "/sys/fs/bpf/bulkhead";
  std::string state_dir = "/var/lib/bulkhead";  // empty: nothing persisted
  bh_mode default_mode = BH_MODE_LEARN;
  std::size_t flow_history = 10000;  // flows kept for `bulkhead flows`, per kind
  std::string node_name;             // named in every flow; empty: the host name
  // Where to serve Prometheus metrics and /healthz ("127.0.0.1:9402");
  // empty: not served.
  std::string metrics_address;
  FlowLogOptions flow_log;  // path empty: no flow log
  // Distinct learned ports between two peers past which they collapse into
  // a range (policy_store.h); 0: never.
  std::size_t collapse_ports = PolicyStore::kDefaultCollapseAfter;
  ScanLimits scan_limits;      // when a learning source is held back
  PromotionOptions promotion;  // stability and automatic promotion
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
  Agent(boost::asio::io_context& io, AgentOptions options, Inventory inventory);

  absl::Status LoadStateAndIdentities();
  void ScheduleInventoryCheck();
  absl::Status ReloadInventory();
  absl::Status ReloadGuardrails();
  // The --guardrails file's and the applied policy files' guardrails as
  // one set; an error if one name means two rules.
  static absl::StatusOr<std::vector<Guardrail>> CombineGuardrails(
      const std::vector<Guardrail>& file, const std::vector<Guardrail>& policy);
  void OnFlowEvent(const bh_flow_event& event);
  void Learn(const SegmentKey& key);
  void LearnAnswered();
  void ScheduleAnswerCheck();
  void OnBindingsChanged();
  void OnHostAddressesChanged();
  void ScheduleCompile();
  // Every second: workloads due a promotion (learn -> monitor -> enforce).
  void SchedulePromotionCheck();
  void PromoteDue();
  void NoteLiveAudits(absl::Time now);
  // A candidate new to the policy: learned, or held back (scan_).
  void LearnOrHold(const SegmentKey& key, absl::Time now);
  absl::Status CompileAndPersist();
  bh_mode ModeOf(std::uint32_t identity) const;
  absl::Status SaveState() const;

  bulkhead::v1::StatusResponse Status() const;
  // Entries and capacity of every datapath map (agent_metrics.cc).
  std::vector<bulkhead::v1::MapFill> MapFills() const;
  // The Prometheus text of /metrics (agent_metrics.cc).
  std::string MetricsText() const;
  // Counts a flow for the metrics: by verdict and reason, and per workload.
  void CountFlow(const bh_flow_event& event);
  // After an inventory reload: the per-workload counters of workloads gone.
  void ForgetGoneWorkloads();
  bulkhead::v1::ExportPolicyResponse ExportPolicy() const;
  // A reviewed policy file: checked whole, then applied as one transaction
  // (agent_policy.cc). Problems in the response: nothing changed.
  absl::StatusOr<bulkhead::v1::ApplyPolicyResponse> ApplyPolicy(
      const bulkhead::v1::ApplyPolicyRequest& request);
  // --policy: applies the file if it differs from the one last applied
  // from it (kept in the state directory).
  void ApplyPolicyFile();
  bulkhead::v1::FlowsResponse Flows(const bulkhead::v1::FlowsRequest& request) const;
  bulkhead::v1::TopResponse Top(const bulkhead::v1::TopRequest& request) const;
  // Counts a dropped or audited flow in refused_ (agent_metrics.cc).
  void CountRefused(const bulkhead::v1::Flow& flow, absl::Time now);
  // events_drained: whether the ring buffer was read to the end just now.
  absl::StatusOr<bulkhead::v1::SetModeResponse> SetModes(
      const bulkhead::v1::SetModeRequest& request, const absl::Status& events_drained);

  boost::asio::io_context& io_;
  AgentOptions options_;
  std::optional<AgentLock> lock_;  // held for the agent's life
  Inventory inventory_;            // until Start() numbers it
  IdentityTable identities_;
  std::map<std::uint32_t, bh_mode> modes_;  // identity -> mode, every workload
  PolicyStore store_;
  Learner learner_;
  ScanGuard scan_;
  Stability stability_;
  boost::asio::steady_timer promotion_timer_;
  MonotonicClockOffset clock_;
  absl::Time started_ = absl::Now();
  FlowHistory history_;
  std::string node_name_;  // named in every flow
  bool compile_scheduled_ = false;
  std::unique_ptr<AnsweredFilter> answered_;  // candidates waiting for their answer
  boost::asio::steady_timer answer_timer_;
  bool answer_check_scheduled_ = false;
  std::uint64_t policy_full_ = 0;  // segments not learned: the policy map is full
  std::shared_ptr<InventorySource> inventory_source_;
  GuardrailSet guardrails_;                   // in force: the two below together
  std::vector<Guardrail> file_guardrails_;    // from --guardrails, last good
  std::vector<Guardrail> policy_guardrails_;  // from applied policy files
  std::optional<FileWatch> guardrails_watch_;
  std::uint64_t guardrail_reloads_failed_ = 0;
  std::optional<FileWatch> policy_watch_;  // --policy
  std::uint64_t policy_applies_ = 0;
  std::uint64_t policy_applies_refused_ = 0;
  boost::asio::steady_timer inventory_timer_;
  std::uint64_t inventory_reloads_ = 0;
  std::uint64_t inventory_reloads_failed_ = 0;
  bool policy_dirty_ = false;  // learned segments not yet in the policy map
  // For the metrics: flow events by (verdict, reason), and by (workload,
  // verdict) for at most kMaxWorkloadSeries workloads (the rest as "other").
  static constexpr std::size_t kMaxWorkloadSeries = 1000;  // workloads, each up to 3 series
  std::set<std::string> counted_workloads_;
  std::map<std::pair<std::uint8_t, std::uint8_t>, std::uint64_t> flows_by_verdict_;
  std::map<std::pair<std::string, std::uint8_t>, std::uint64_t> flows_by_workload_;
  struct Timing {
    std::uint64_t count = 0;
    double seconds = 0;
    void Add(absl::Duration d) {
      ++count;
      seconds += absl::ToDoubleSeconds(d);
    }
  };
  // `bulkhead top`: refused flows per pair, at most kMaxRefusedPairs (the
  // least recently seen goes first).
  using RefusedKey = std::tuple<std::string, std::string, int, std::uint32_t, int>;
  struct RefusedUse {
    std::uint64_t flows = 0;
    absl::Time first_seen, last_seen;
    bulkhead::v1::Reason reason = bulkhead::v1::REASON_UNSPECIFIED;
    std::list<const RefusedKey*>::iterator recency;  // its place in refused_recency_
  };
  static constexpr std::size_t kMaxRefusedPairs = 10000;
  std::map<RefusedKey, RefusedUse> refused_;
  std::list<const RefusedKey*> refused_recency_;  // least recently seen first: O(1) eviction
  std::uint64_t refused_forgotten_ = 0;
  Timing compile_timing_;  // learned segments compiled into the maps
  Timing apply_timing_;    // policy files applied, read to maps

  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<Reconciler> maps_;
  std::unique_ptr<EventReader> events_;
  std::unique_ptr<Interfaces> interfaces_;
  std::unique_ptr<ApiServer> api_;
  std::unique_ptr<MetricsServer> metrics_;
  std::unique_ptr<FlowLog> flow_log_;
};

}  // namespace bulkhead
