#include "controlplane/agent.h"

#include <fnmatch.h>
#include <limits.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/log.h"
#include "controlplane/state_file.h"
#include "datapath/status.h"
#include "google/protobuf/util/time_util.h"

namespace bulkhead {
namespace {

// How long a candidate segment waits for its flow's answer, and how many may.
constexpr absl::Duration kAnswerWait = absl::Seconds(5);
constexpr std::size_t kMaxWaitingCandidates = 65536;
constexpr std::size_t kMaxWaitingPerSource = 1024;

bulkhead::v1::Response ErrorResponse(const absl::Status& status) {
  bulkhead::v1::Response response;
  response.mutable_error()->set_code(static_cast<int>(status.code()));
  response.mutable_error()->set_message(std::string(status.message()));
  return response;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(boost::asio::io_context& io,
                                                     AgentOptions options) {
  std::shared_ptr<InventorySource> source = options.inventory_source;
  if (!source) source = std::make_shared<FileInventorySource>(options.inventory_path);
  (void)source->MayHaveChanged();  // what is read now is the baseline
  BH_ASSIGN_OR_RETURN(Inventory inventory, source->Read());
  // Checked now (duplicates, an address claimed twice); numbered in Start().
  BH_RETURN_IF_ERROR(IdentityTable::Build(inventory).status());
  std::vector<Guardrail> guardrails;
  std::optional<FileWatch> guardrails_watch;
  if (!options.guardrails_path.empty()) {
    guardrails_watch.emplace(options.guardrails_path);
    BH_ASSIGN_OR_RETURN(guardrails, LoadGuardrails(options.guardrails_path));
  }
  auto agent = std::unique_ptr<Agent>(new Agent(io, std::move(options), std::move(inventory)));
  agent->inventory_source_ = std::move(source);
  agent->file_guardrails_ = guardrails;
  agent->guardrails_ = GuardrailSet(std::move(guardrails));
  agent->guardrails_watch_ = std::move(guardrails_watch);
  if (!agent->options_.policy_path.empty())
    agent->policy_watch_.emplace(agent->options_.policy_path);
  return agent;
}

namespace {

std::string HostName() {
  char name[HOST_NAME_MAX + 1] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

}  // namespace

Agent::Agent(boost::asio::io_context& io, AgentOptions options, Inventory inventory)
    : io_(io),
      options_(std::move(options)),
      inventory_(std::move(inventory)),
      store_(options_.collapse_ports),
      learner_(identities_, [this](std::uint32_t identity) { return ModeOf(identity); }),
      scan_(options_.scan_limits),
      stability_(options_.promotion),
      promotion_timer_(io),
      history_(options_.flow_history),
      node_name_(options_.node_name.empty() ? HostName() : options_.node_name),
      answer_timer_(io),
      inventory_timer_(io) {}

Agent::~Agent() {
  // Stop the inputs before the datapath they feed from goes away.
  metrics_.reset();
  api_.reset();
  interfaces_.reset();
  events_.reset();
  maps_.reset();
  if (datapath_)
    LogInfo(
        "leaving the programs attached: the kernel enforces the last state until the next "
        "bulkheadd adopts it (bulkheadd --uninstall removes them)");
  datapath_.reset();
}

namespace {

// One agent per node, checked before the kernel is touched: the lock is on
// the pin directory (the kernel state), else the state directory.
absl::StatusOr<std::optional<AgentLock>> LockNode(const AgentOptions& options) {
  if (!options.pin_dir.empty()) {
    BH_RETURN_IF_ERROR(PreparePinDir(options.pin_dir));
    return AgentLock::Acquire(options.pin_dir);
  }
  if (!options.state_dir.empty()) return AgentLock::Acquire(options.state_dir);
  return std::nullopt;
}

}  // namespace

absl::Status Agent::Start() {
  BH_ASSIGN_OR_RETURN(lock_, LockNode(options_));
  // Bound first, so a bad or taken address stops the start before it
  // touches the datapath (it answers once Start() is done).
  if (!options_.metrics_address.empty()) {
    BH_ASSIGN_OR_RETURN(metrics_, MetricsServer::Create(io_, options_.metrics_address, [this] {
                          // Like the API: count what the kernel has reported so far.
                          if (absl::Status s = events_->Drain().status(); !s.ok())
                            LogWarning(s.message());
                          return MetricsText();
                        }));
  }
  if (!options_.flow_log.path.empty()) {
    BH_ASSIGN_OR_RETURN(flow_log_, FlowLog::Open(options_.flow_log));
  }
  BH_ASSIGN_OR_RETURN(datapath_, Datapath::Load({.pin_dir = options_.pin_dir,
                                                 .sizes = options_.map_sizes,
                                                 .config = options_.datapath_config}));
  maps_ = std::make_unique<Reconciler>(*datapath_);
  answered_ = std::make_unique<AnsweredFilter>(datapath_->conntrack(), kMaxWaitingCandidates,
                                               kMaxWaitingPerSource, kAnswerWait);
  BH_RETURN_IF_ERROR(maps_->Adopt());
  BH_RETURN_IF_ERROR(LoadStateAndIdentities());

  std::vector<std::pair<int, std::string>> uplinks;
  for (const std::string& uplink : options_.uplinks) {
    int ifindex = static_cast<int>(if_nametoindex(uplink.c_str()));
    if (ifindex == 0) return ErrnoError(errno, absl::StrCat("uplink interface ", uplink));
    uplinks.emplace_back(ifindex, uplink);
  }
  BH_ASSIGN_OR_RETURN(
      events_, EventReader::Create(
                   io_, datapath_->events_fd(), [this](const bh_flow_event& e) { OnFlowEvent(e); },
                   datapath_->drop_events_fd()));
  BH_ASSIGN_OR_RETURN(api_, ApiServer::Create(
                                io_, options_.socket_path,
                                [this](const auto& r) { return Handle(r); }, options_.api));
  BH_ASSIGN_OR_RETURN(
      interfaces_,
      Interfaces::Create(io_, options_.interface_pattern, *datapath_, identities_,
                         {.bindings_changed = [this] { OnBindingsChanged(); },
                          .host_addresses_changed = [this] { OnHostAddressesChanged(); }}));
  BH_RETURN_IF_ERROR(interfaces_->Start());  // lists; attaches nothing yet

  // Everything the maps must hold is known: switch them at once.
  CompiledPolicy compiled = Compiler::Compile(store_.Snapshot(), identities_);
  for (const std::string& segment : compiled.unresolved)
    LogWarning(absl::StrCat("segment ", segment, " names a workload not in the inventory"));
  MapContents before = maps_->installed();
  CompiledGuardrails guardrails = guardrails_.Compile(identities_);
  BH_ASSIGN_OR_RETURN(
      ApplyCounts counts,
      maps_->Apply({.policy = std::move(compiled.entries),
                    .policy_ranges = std::move(compiled.ranges),
                    .ipcache = Compiler::Ipcache(identities_, interfaces_->host_addresses()),
                    .prefixes = Compiler::IpcachePrefixes(identities_),
                    .endpoints = interfaces_->endpoints(),
                    .modes = modes_,
                    .guardrails = guardrails.entries,
                    .services = identities_.ServiceEntriesFor(interfaces_->host_addresses())}));
  guardrails_.Commit(guardrails);
  // What can still fail before the programs are replaced puts the maps back.
  absl::Status ready;
  for (const auto& [ifindex, name] : uplinks) {
    ready = datapath_->AttachUplink(ifindex, name);
    if (!ready.ok()) break;
    LogInfo(absl::StrCat("XDP uplink program attached to ", name));
  }
  if (ready.ok()) ready = SaveState();
  if (!ready.ok()) {
    absl::Status restored = maps_->Apply(before).status();
    return absl::Status(
        ready.code(),
        absl::StrCat(ready.message(), restored.ok() ? "; the maps were put back as they were"
                                                    : absl::StrCat("; putting the maps back "
                                                                   "failed too: ",
                                                                   restored.message())));
  }
  LogInfo(absl::StrCat("maps reconciled: ", counts.written, " entries written, ", counts.removed,
                       " removed"));

  // Only now the programs: this run's replace an earlier run's in place.
  interfaces_->AttachListed();
  BH_RETURN_IF_ERROR(datapath_->BumpEpoch());
  for (const std::string& path : datapath_->RemoveOlderLayouts())
    LogInfo(absl::StrCat("removed ", path, ": pinned by an older map layout"));

  events_->Start();
  if (policy_watch_) ApplyPolicyFile();
  api_->Start();
  if (metrics_) metrics_->Start();
  ScheduleInventoryCheck();
  SchedulePromotionCheck();
  LogInfo(absl::StrCat(
      "bulkheadd ready: ", identities_.workloads().size(), " workloads, ",
      identities_.networks().size(), " network sets, ", store_.size(), " segments, interfaces \"",
      options_.interface_pattern, "\", API on ", options_.socket_path,
      metrics_ ? absl::StrCat(", metrics on http://", metrics_->address(), "/metrics") : ""));
  return absl::OkStatus();
}

// The state file's segments and modes; identity numbers from the state file,
// else from what the pinned ipcache says each workload's addresses are.
absl::Status Agent::LoadStateAndIdentities() {
  std::optional<bulkhead::v1::AgentState> state;
  if (!options_.state_dir.empty()) {
    BH_ASSIGN_OR_RETURN(state, LoadAgentState(options_.state_dir));
  }
  IdentityAssignments previous;
  NextIdentities next;
  if (state) next = {.workload = state->next_identity(), .network = state->next_network_identity()};
  // Numbers the pinned maps use were given, whatever the state file says.
  auto seen = [&next](std::uint32_t identity) {
    std::uint32_t& mark = bh_is_workload_identity(identity) ? next.workload : next.network;
    if (identity >= BH_IDENTITY_FIRST_WORKLOAD && identity < UINT32_MAX)
      mark = std::max(mark, identity + 1);
  };
  for (const auto& [identity, mode] : *maps_->installed().modes) seen(identity);
  for (const auto& [prefix, identity] : *maps_->installed().prefixes) seen(identity);
  if (state && state->identities_size() > 0) {
    previous.insert(state->identities().begin(), state->identities().end());
  } else {
    for (const Workload& w : inventory_.workloads)
      for (const std::string& address : w.addresses) {
        auto addr = ParseAddress(address);
        if (!addr.ok()) continue;
        auto it = maps_->installed().ipcache->find(*addr);
        if (it != maps_->installed().ipcache->end() && bh_is_workload_identity(it->second))
          previous.emplace(w.id(), it->second);
      }
    for (const NetworkSet& n : inventory_.networks)
      for (const std::string& cidr : n.cidrs) {
        auto prefix = ParsePrefix(cidr);
        if (!prefix.ok()) continue;
        auto it = maps_->installed().prefixes->find(*prefix);
        if (it != maps_->installed().prefixes->end() && it->second >= BH_IDENTITY_FIRST_NETWORK)
          previous.emplace(n.name, it->second);
      }
  }
  BH_ASSIGN_OR_RETURN(identities_, IdentityTable::Build(std::move(inventory_), previous, next));
  inventory_ = {};
  for (const auto& [identity, workload] : identities_.workloads())
    modes_[identity] = workload.mode.value_or(options_.default_mode);
  absl::Time now = absl::Now();
  if (state) {
    auto time_of = [](const google::protobuf::Timestamp& t, bool set) {
      return set ? FromTimestamp(t) : absl::InfinitePast();
    };
    for (const auto& [name, t] : state->timelines())
      stability_.Restore(
          name, {.mode_since = time_of(t.mode_since(), true),
                 .last_new_segment = time_of(t.last_new_segment(), t.has_last_new_segment()),
                 .last_audit = time_of(t.last_audit(), t.has_last_audit())});
    for (const auto& s : state->held_back().segments())
      scan_.Hold(KeyOf(s), time_of(s.first_seen(), true), time_of(s.last_seen(), true), s.flows());
    for (const auto& rule : state->guardrails()) {
      absl::StatusOr<Guardrail> g = GuardrailFromProto(rule);
      if (!g.ok())
        return absl::DataLossError(
            absl::StrCat(options_.state_dir, ": guardrail: ", g.status().message()));
      g->source = "policy";
      policy_guardrails_.push_back(*std::move(g));
    }
    BH_ASSIGN_OR_RETURN(std::vector<Guardrail> combined,
                        CombineGuardrails(file_guardrails_, policy_guardrails_));
    guardrails_ = GuardrailSet(std::move(combined));
  }
  for (const auto& [identity, workload] : identities_.workloads())
    stability_.Track(workload.id(), now);
  if (!state) return absl::OkStatus();
  store_.Restore(state->policy());
  for (const auto& [workload, mode] : state->modes())
    if (auto identity = identities_.IdentityOf(workload))
      modes_[*identity] = static_cast<bh_mode>(mode);
  LogInfo(absl::StrCat("restored ", store_.size(), " segments and ", state->modes_size(),
                       " modes from ", options_.state_dir));
  return absl::OkStatus();
}

absl::Status Agent::Uninstall(const AgentOptions& options) {
  BH_ASSIGN_OR_RETURN(std::optional<AgentLock> lock, LockNode(options));
  BH_ASSIGN_OR_RETURN(std::unique_ptr<Datapath> datapath,
                      Datapath::Load({.pin_dir = options.pin_dir,
                                      .sizes = options.map_sizes,
                                      .config = options.datapath_config}));
  std::vector<int> interfaces;
  std::vector<int> uplinks;
  if (struct if_nameindex* all = if_nameindex()) {
    for (struct if_nameindex* i = all; i->if_index != 0; ++i) {
      if (fnmatch(options.interface_pattern.c_str(), i->if_name, 0) == 0)
        interfaces.push_back(static_cast<int>(i->if_index));
    }
    if_freenameindex(all);
  }
  for (const std::string& uplink : options.uplinks)
    if (int ifindex = static_cast<int>(if_nametoindex(uplink.c_str())); ifindex > 0)
      uplinks.push_back(ifindex);
  BH_RETURN_IF_ERROR(datapath->Uninstall(interfaces, uplinks));
  LogInfo(absl::StrCat("uninstalled: programs detached from ", interfaces.size(),
                       " interfaces and ", uplinks.size(), " uplinks, maps under ",
                       options.pin_dir.empty() ? "(none)" : options.pin_dir, " removed"));
  return absl::OkStatus();
}

// The inventory is read again when its source changes. A reload is one
// transaction like a start: workloads keep their identity numbers and modes,
// new ones get theirs, addresses move with their workload; a bad read, or one
// the maps cannot hold, changes nothing and the last good inventory stays.
void Agent::ScheduleInventoryCheck() {
  inventory_timer_.expires_after(std::chrono::seconds(1));
  inventory_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    if (inventory_source_->MayHaveChanged()) {
      if (absl::Status status = ReloadInventory(); !status.ok()) {
        ++inventory_reloads_failed_;
        LogError(absl::StrCat("inventory reload: ", status.message(),
                              "; the last good inventory stays in force"));
      }
    }
    if (policy_watch_ && policy_watch_->Changed()) ApplyPolicyFile();
    if (guardrails_watch_ && guardrails_watch_->Changed()) {
      if (absl::Status status = ReloadGuardrails(); !status.ok()) {
        ++guardrail_reloads_failed_;
        LogError(absl::StrCat("guardrails reload: ", status.message(),
                              "; the last good guardrails stay in force"));
      }
    }
    ScheduleInventoryCheck();
  });
}

absl::Status Agent::ReloadInventory() {
  BH_ASSIGN_OR_RETURN(Inventory inventory, inventory_source_->Read());
  BH_ASSIGN_OR_RETURN(IdentityTable next,
                      IdentityTable::Build(std::move(inventory), identities_.assignments(),
                                           identities_.next_free()));
  std::map<std::uint32_t, bh_mode> modes;
  for (const auto& [identity, workload] : next.workloads()) {
    auto before = identities_.IdentityOf(workload.id());
    modes[identity] = before && modes_.contains(*before)
                          ? modes_.at(*before)
                          : workload.mode.value_or(options_.default_mode);
  }
  // Events already read were attributed with the old table: learn from them
  // first.
  (void)events_->Drain();
  LearnAnswered();
  CompiledPolicy compiled = Compiler::Compile(store_.Snapshot(), next);
  CompiledGuardrails guardrails = guardrails_.Compile(next);
  BH_ASSIGN_OR_RETURN(
      ApplyCounts counts,
      maps_->Apply({.policy = std::move(compiled.entries),
                    .policy_ranges = std::move(compiled.ranges),
                    .ipcache = Compiler::Ipcache(next, interfaces_->host_addresses()),
                    .prefixes = Compiler::IpcachePrefixes(next),
                    .endpoints = interfaces_->EndpointsFor(next),
                    .modes = modes,
                    .guardrails = guardrails.entries,
                    .services = next.ServiceEntriesFor(interfaces_->host_addresses())}));
  guardrails_.Commit(guardrails);
  identities_ = std::move(next);
  ForgetGoneWorkloads();
  for (const auto& [identity, workload] : identities_.workloads())
    stability_.Track(workload.id(), absl::Now());  // new workloads: their mode since now
  modes_ = std::move(modes);
  policy_dirty_ = false;
  interfaces_->Rebind();
  ++inventory_reloads_;
  LogInfo(absl::StrCat("inventory reloaded: ", identities_.workloads().size(), " workloads, ",
                       identities_.networks().size(), " network sets, ",
                       identities_.services().size(), " services; maps: ", counts.written,
                       " entries written, ", counts.removed, " removed"));
  return SaveState();
}

// The guardrails file is read again when it changes, as the inventory is:
// a bad file, or one the map cannot hold, changes nothing.
absl::Status Agent::ReloadGuardrails() {
  BH_ASSIGN_OR_RETURN(std::vector<Guardrail> file, LoadGuardrails(options_.guardrails_path));
  BH_ASSIGN_OR_RETURN(std::vector<Guardrail> rules, CombineGuardrails(file, policy_guardrails_));
  CompiledGuardrails compiled = guardrails_.Compile(identities_, &rules);
  BH_ASSIGN_OR_RETURN(ApplyCounts counts, maps_->Apply({.guardrails = compiled.entries}));
  guardrails_.Commit(compiled, &rules);
  file_guardrails_ = std::move(file);
  LogInfo(absl::StrCat("guardrails reloaded: ", guardrails_.size(), " guardrails; map: ",
                       counts.written, " entries written, ", counts.removed, " removed"));
  return absl::OkStatus();
}

void Agent::OnBindingsChanged() {
  auto applied = maps_->Apply({.endpoints = interfaces_->endpoints()});
  if (!applied.ok()) LogError(applied.status().message());
}

void Agent::OnHostAddressesChanged() {
  auto applied =
      maps_->Apply({.ipcache = Compiler::Ipcache(identities_, interfaces_->host_addresses())});
  if (!applied.ok()) LogError(applied.status().message());
  // NodePorts listen on every address of the node: apart, so a services map
  // too small for them never keeps the node's own address out of the ipcache.
  applied =
      maps_->Apply({.services = identities_.ServiceEntriesFor(interfaces_->host_addresses())});
  if (!applied.ok()) LogError(applied.status().message());
}

void Agent::Shutdown() {
  if (!events_) return;
  (void)events_->Drain();
  LearnAnswered();
  if (absl::Status status = CompileAndPersist(); !status.ok()) LogError(status.message());
}

// Compiles once for a burst of learned segments: the loop first drains the
// ring buffer, then runs this.
void Agent::ScheduleCompile() {
  if (compile_scheduled_) return;
  compile_scheduled_ = true;
  boost::asio::post(io_, [this] {
    compile_scheduled_ = false;
    if (absl::Status status = CompileAndPersist(); !status.ok()) LogError(status.message());
  });
}

// Also saves the state when nothing needs compiling: flow counts change.
absl::Status Agent::CompileAndPersist() {
  if (policy_dirty_) {
    const absl::Time started = absl::Now();
    CompiledPolicy compiled = Compiler::Compile(store_.Snapshot(), identities_);
    for (const std::string& segment : compiled.unresolved)
      LogWarning(absl::StrCat("segment ", segment, " names a workload not in the inventory"));
    BH_RETURN_IF_ERROR(maps_
                           ->Apply({.policy = std::move(compiled.entries),
                                    .policy_ranges = std::move(compiled.ranges)})
                           .status());
    policy_dirty_ = false;
    compile_timing_.Add(absl::Now() - started);
  }
  return SaveState();
}

bh_mode Agent::ModeOf(std::uint32_t identity) const {
  auto it = modes_.find(identity);
  return it == modes_.end() ? BH_MODE_UNMANAGED : it->second;
}

absl::Status Agent::SaveState() const {
  if (options_.state_dir.empty()) return absl::OkStatus();
  bulkhead::v1::AgentState state;
  *state.mutable_policy() = store_.Snapshot();
  for (const auto& [identity, mode] : modes_)
    (*state.mutable_modes())[identities_.NameOf(identity)] = static_cast<bulkhead::v1::Mode>(mode);
  for (const auto& [name, identity] : identities_.assignments())
    (*state.mutable_identities())[name] = identity;
  state.set_next_identity(identities_.next_free().workload);
  state.set_next_network_identity(identities_.next_free().network);
  for (const auto& [name, t] : stability_.timelines()) {
    if (!identities_.IdentityOf(name)) continue;  // removed from the inventory
    bulkhead::v1::WorkloadTimeline& out = (*state.mutable_timelines())[name];
    *out.mutable_mode_since() = ToTimestamp(t.mode_since);
    if (t.last_new_segment != absl::InfinitePast())
      *out.mutable_last_new_segment() = ToTimestamp(t.last_new_segment);
    if (t.last_audit != absl::InfinitePast()) *out.mutable_last_audit() = ToTimestamp(t.last_audit);
  }
  *state.mutable_held_back() = HeldBackPolicy(scan_);
  for (const Guardrail& g : policy_guardrails_) *state.add_guardrails() = GuardrailToProto(g);
  return SaveAgentState(options_.state_dir, state);
}

bulkhead::v1::Response Agent::Handle(const bulkhead::v1::Request& request) {
  // Answer with everything the kernel has reported so far: a flow made just
  // before `bulkhead flows` must be in its output.
  absl::Status drained = events_->Drain().status();
  if (!drained.ok()) LogWarning(drained.message());
  LearnAnswered();
  bulkhead::v1::Response response;
  switch (request.kind_case()) {
    case bulkhead::v1::Request::kStatus:
      *response.mutable_status() = Status();
      break;
    case bulkhead::v1::Request::kFlows:
      *response.mutable_flows() = Flows(request.flows());
      break;
    case bulkhead::v1::Request::kSetMode: {
      auto result = SetModes(request.set_mode(), drained);
      if (!result.ok()) return ErrorResponse(result.status());
      *response.mutable_set_mode() = *std::move(result);
      break;
    }
    case bulkhead::v1::Request::kExportPolicy:
      *response.mutable_export_policy() = ExportPolicy();
      break;
    case bulkhead::v1::Request::kTop:
      *response.mutable_top() = Top(request.top());
      break;
    case bulkhead::v1::Request::kApplyPolicy: {
      auto result = ApplyPolicy(request.apply_policy());
      if (!result.ok()) return ErrorResponse(result.status());
      *response.mutable_apply_policy() = *std::move(result);
      break;
    }
    default:
      return ErrorResponse(absl::InvalidArgumentError("empty or unknown request"));
  }
  return response;
}

bulkhead::v1::StatusResponse Agent::Status() const {
  bulkhead::v1::StatusResponse status;
  status.set_version(BULKHEAD_VERSION);
  status.set_node(node_name_);
  status.set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - started_));
  absl::Time now = absl::Now();
  std::map<std::string, std::uint32_t> segments_of;
  bulkhead::v1::Policy policy = store_.Snapshot();
  for (const auto& s : policy.segments()) {
    ++segments_of[s.from_workload()];
    if (s.to_workload() != s.from_workload()) ++segments_of[s.to_workload()];
  }
  for (const auto& [identity, workload] : identities_.workloads()) {
    auto* w = status.add_workloads();
    w->set_workload(workload.id());
    w->set_identity(identity);
    w->set_mode(static_cast<bulkhead::v1::Mode>(ModeOf(identity)));
    for (const auto& address : workload.addresses) w->add_addresses(address);
    if (const Timeline* t = stability_.Of(workload.id())) {
      *w->mutable_mode_since() = ToTimestamp(t->mode_since);
      if (t->last_new_segment != absl::InfinitePast())
        *w->mutable_last_new_segment() = ToTimestamp(t->last_new_segment);
    }
    w->set_stable(stability_.Stable(workload.id(), ModeOf(identity), now));
    w->set_segments(segments_of[workload.id()]);
    w->set_held_back(static_cast<std::uint32_t>(scan_.HeldFrom(workload.id())));
    w->set_exploring(scan_.Tripped(workload.id(), now));
  }
  for (std::string& line : interfaces_->Describe()) status.add_interfaces(std::move(line));
  status.set_segments(store_.size());
  status.set_flows_seen(history_.seen());
  if (auto stats = datapath_->ReadStats(); stats.ok()) {
    for (int i = 0; i < BH_STAT_MAX; ++i)
      (*status.mutable_datapath_counters())[StatName(i)] = (*stats)[i];
  }
  const LearnerCounters& learner = learner_.counters();
  auto& counters = *status.mutable_datapath_counters();
  counters["learner_learned"] = learner.learned;
  counters["learner_skipped_not_learning"] = learner.not_learning;
  counters["learner_skipped_unknown_peer"] = learner.unknown_peer;
  counters["learner_skipped_untrusted_port"] = learner.untrusted_port;
  counters["learner_skipped_unanswered"] = answered_->counters().unanswered;
  counters["learner_skipped_too_many_waiting"] = answered_->counters().overflow;
  counters["learner_skipped_policy_full"] = policy_full_;
  counters["learner_waiting_for_answer"] = answered_->waiting();
  counters["agent_log_lines_suppressed"] = LogLinesSuppressed();
  counters["agent_inventory_reloads"] = inventory_reloads_;
  counters["agent_inventory_reloads_failed"] = inventory_reloads_failed_;
  counters["agent_guardrail_reloads_failed"] = guardrail_reloads_failed_;
  counters["agent_policy_applies"] = policy_applies_;
  counters["agent_policy_applies_refused"] = policy_applies_refused_;
  counters["learner_held_back"] = scan_.held().size();
  counters["learner_scan_trips"] = scan_.trips();
  counters["learner_held_back_not_kept"] = scan_.dropped();
  if (flow_log_) {
    counters["agent_flow_log_lines"] = flow_log_->written();
    counters["agent_flow_log_lines_failed"] = flow_log_->failed();
    counters["agent_flow_log_rotations"] = flow_log_->rotations();
  }
  guardrails_.Statuses(status.mutable_guardrails());
  for (bulkhead::v1::MapFill& fill : MapFills()) *status.add_maps() = std::move(fill);
  return status;
}

bulkhead::v1::FlowsResponse Agent::Flows(const bulkhead::v1::FlowsRequest& request) const {
  bulkhead::v1::FlowsResponse response;
  std::uint64_t missed = 0;
  std::vector<const bulkhead::v1::Flow*> flows = request.has_after()
                                                     ? history_.After(request.after(), &missed)
                                                     : history_.Last(request.last());
  for (const bulkhead::v1::Flow* flow : flows) *response.add_flows() = *flow;
  response.set_cursor(history_.cursor());
  response.set_missed(missed);
  return response;
}

absl::StatusOr<bulkhead::v1::SetModeResponse> Agent::SetModes(
    const bulkhead::v1::SetModeRequest& request, const absl::Status& events_drained) {
  if (request.mode() != bulkhead::v1::LEARN && request.mode() != bulkhead::v1::MONITOR &&
      request.mode() != bulkhead::v1::ENFORCE)
    return absl::InvalidArgumentError(absl::StrCat("mode ", static_cast<int>(request.mode()),
                                                   " is not one of learn, monitor, enforce"));
  bh_mode mode = static_cast<bh_mode>(request.mode());
  std::vector<std::uint32_t> targets;
  if (request.all()) {
    for (const auto& [identity, workload] : identities_.workloads()) targets.push_back(identity);
  } else {
    auto identity = identities_.IdentityOf(request.workload());
    if (!identity)
      return absl::NotFoundError(absl::StrCat("no workload \"", request.workload(),
                                              "\" in the inventory (expected namespace/name)"));
    targets.push_back(*identity);
  }
  // A workload must not enforce before every segment learned so far is in
  // the policy map: all pending events learned from (Handle drained them)
  // and compiled, or the change is refused. Leaving enforce needs neither.
  if (mode == BH_MODE_ENFORCE) {
    LearnAnswered();
    absl::Status status = events_drained;
    if (status.ok() && policy_dirty_) status = CompileAndPersist();
    if (!status.ok())
      return absl::Status(status.code(),
                          absl::StrCat("mode not changed: learned segments are not all in the "
                                       "policy map yet: ",
                                       status.message()));
  }

  // All the workloads change, or none.
  std::map<std::uint32_t, bh_mode> modes = modes_;
  bulkhead::v1::SetModeResponse response;
  for (std::uint32_t identity : targets) {
    modes[identity] = mode;
    response.add_changed(identities_.NameOf(identity));
  }
  BH_RETURN_IF_ERROR(maps_->Apply({.modes = modes}).status());
  for (std::uint32_t identity : targets)
    if (ModeOf(identity) != mode) stability_.ModeChanged(identities_.NameOf(identity), absl::Now());
  modes_ = std::move(modes);
  BH_RETURN_IF_ERROR(SaveState());
  LogInfo(absl::StrCat("mode ", ModeName(mode), " for ", absl::StrJoin(response.changed(), ", ")));
  return response;
}

}  // namespace bulkhead
