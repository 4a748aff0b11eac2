#include "controlplane/agent.h"

#include <fnmatch.h>
#include <net/if.h>

#include <boost/asio/post.hpp>
#include <cstring>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controlplane/atomic_file.h"
#include "controlplane/log.h"
#include "datapath/status.h"

namespace bulkhead {
namespace {

constexpr char kStateFile[] = "state.pb";

bulkhead::v1::Response ErrorResponse(const absl::Status& status) {
  bulkhead::v1::Response response;
  response.mutable_error()->set_code(static_cast<int>(status.code()));
  response.mutable_error()->set_message(std::string(status.message()));
  return response;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(boost::asio::io_context& io,
                                                     AgentOptions options) {
  BH_ASSIGN_OR_RETURN(std::vector<Workload> workloads, LoadInventory(options.inventory_path));
  BH_ASSIGN_OR_RETURN(IdentityTable identities, IdentityTable::Build(std::move(workloads)));
  return std::unique_ptr<Agent>(new Agent(io, std::move(options), std::move(identities)));
}

Agent::Agent(boost::asio::io_context& io, AgentOptions options, IdentityTable identities)
    : io_(io),
      options_(std::move(options)),
      identities_(std::move(identities)),
      learner_(identities_, [this](std::uint32_t identity) { return ModeOf(identity); }) {
  for (const auto& [identity, workload] : identities_.workloads())
    modes_[identity] = workload.mode.value_or(options_.default_mode);
}

Agent::~Agent() {
  // Stop the inputs before the datapath they feed from goes away.
  api_.reset();
  netlink_.reset();
  events_.reset();
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
  BH_RETURN_IF_ERROR(LoadState());

  BH_ASSIGN_OR_RETURN(datapath_, Datapath::Load({.pin_dir = options_.pin_dir,
                                                 .sizes = options_.map_sizes,
                                                 .config = options_.datapath_config}));
  // Pinned maps may hold an earlier run's entries: make each exactly ours.
  BH_RETURN_IF_ERROR(ReconcileModes());
  BH_RETURN_IF_ERROR(compiler_.Adopt(datapath_->policy()));
  policy_dirty_ = true;
  BH_RETURN_IF_ERROR(CompileAndPersist());

  BH_ASSIGN_OR_RETURN(
      events_, EventReader::Create(
                   io_, datapath_->events_fd(), [this](const bh_flow_event& e) { OnFlowEvent(e); },
                   datapath_->drop_events_fd()));
  events_->Start();

  BH_ASSIGN_OR_RETURN(
      netlink_, NetlinkWatcher::Create(
                    io_, options_.interface_pattern,
                    {.link_added = [this](const Link& l) { OnLinkAdded(l); },
                     .link_removed = [this](const Link& l) { OnLinkRemoved(l); },
                     .route_added = [this](const Route& r) { OnRouteAdded(r); },
                     .route_removed = [this](const Route& r) { OnRouteRemoved(r); },
                     .address_added = [this](const LocalAddress& a) { OnAddressAdded(a); },
                     .address_removed = [this](const LocalAddress& a) { OnAddressRemoved(a); },
                     .error = [](const absl::Status& s) { LogError(s.message()); }}));
  // Lists links, routes and addresses: attaches, binds, collects the node's
  // addresses; then the ipcache is made exactly the workloads' and node's.
  BH_RETURN_IF_ERROR(netlink_->Start());
  listing_ = false;
  BH_RETURN_IF_ERROR(InstallIdentities());
  BH_RETURN_IF_ERROR(RemoveStaleEndpoints());
  for (const std::string& uplink : options_.uplinks) {
    int ifindex = static_cast<int>(if_nametoindex(uplink.c_str()));
    if (ifindex == 0) return ErrnoError(errno, absl::StrCat("uplink interface ", uplink));
    BH_RETURN_IF_ERROR(datapath_->AttachUplink(ifindex, uplink));
    LogInfo(absl::StrCat("XDP uplink program attached to ", uplink));
  }
  BH_RETURN_IF_ERROR(datapath_->BumpEpoch());
  for (const std::string& path : datapath_->RemoveOlderLayouts())
    LogInfo(absl::StrCat("removed ", path, ": pinned by an older map layout"));

  BH_ASSIGN_OR_RETURN(api_, ApiServer::Create(io_, options_.socket_path,
                                              [this](const auto& r) { return Handle(r); }));
  api_->Start();

  LogInfo(absl::StrCat("bulkheadd ready: ", identities_.workloads().size(), " workloads, ",
                       store_.size(), " segments, interfaces \"", options_.interface_pattern,
                       "\", API on ", options_.socket_path));
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

void Agent::OnLinkAdded(const Link& link) {
  if (datapath_->IsAttached(link.ifindex)) return;
  if (absl::Status status = datapath_->Attach(link.ifindex, link.name); !status.ok()) {
    LogError(status.message());
    return;
  }
  LogInfo(absl::StrCat("attached to ", link.name, " (ifindex ", link.ifindex, ")"));
}

void Agent::OnLinkRemoved(const Link& link) {
  if (bound_.erase(link.ifindex)) {
    (void)datapath_->endpoints().Delete(link.ifindex);
    BumpEpoch();
  }
  if (!datapath_->IsAttached(link.ifindex)) return;
  (void)datapath_->Detach(link.ifindex);
  LogInfo(absl::StrCat("interface ", link.name, " is gone"));
}

namespace {

bool IsHostRoute(const Route& route) {
  return route.prefix_len == (route.family == AF_INET ? 32 : 128);
}

bh_addr AddressOf(const std::array<std::uint8_t, 16>& bytes) {
  bh_addr addr;
  std::memcpy(&addr, bytes.data(), sizeof(addr));
  return addr;
}

}  // namespace

void Agent::BumpEpoch() {
  if (absl::Status status = datapath_->BumpEpoch(); !status.ok()) LogError(status.message());
}

absl::Status Agent::InstallIdentities() {
  std::set<bh_addr> host;
  for (const auto& [addr, count] : host_addresses_) host.insert(addr);
  BH_RETURN_IF_ERROR(Compiler::InstallIdentities(identities_, host, datapath_->ipcache()));
  return datapath_->BumpEpoch();
}

// The node's own addresses are the `host` identity: its probes into pods,
// and pods' calls to node-local agents, are flows of a segment like any.
void Agent::OnAddressAdded(const LocalAddress& address) {
  if (host_addresses_[AddressOf(address.addr)]++ > 0 || listing_) return;
  if (absl::Status status = InstallIdentities(); !status.ok()) LogError(status.message());
}

void Agent::OnAddressRemoved(const LocalAddress& address) {
  auto it = host_addresses_.find(AddressOf(address.addr));
  if (it == host_addresses_.end() || --it->second > 0) return;
  host_addresses_.erase(it);
  if (listing_) return;
  if (absl::Status status = InstallIdentities(); !status.ok()) LogError(status.message());
}

// A host route (/32, /128) to a workload's address names the interface the
// workload is behind: bind them, so its hooks judge packets as that
// workload's.
void Agent::OnRouteAdded(const Route& route) {
  auto identity = identities_.IdentityOfAddress(AddressOf(route.addr));
  if (!IsHostRoute(route) || !identity) return;
  auto bound = bound_.find(route.ifindex);
  if (bound != bound_.end() && bound->second == *identity) return;
  if (bound != bound_.end())
    LogWarning(absl::StrCat("ifindex ", route.ifindex, " routes addresses of both ",
                            identities_.NameOf(bound->second), " and ",
                            identities_.NameOf(*identity), "; binding it to the latter"));
  if (absl::Status status = datapath_->endpoints().Update(route.ifindex, {.identity = *identity});
      !status.ok()) {
    LogError(status.message());
    return;
  }
  bound_[route.ifindex] = *identity;
  BumpEpoch();
  LogInfo(absl::StrCat("bound ", datapath_->InterfaceName(route.ifindex), " to ",
                       identities_.NameOf(*identity)));
}

void Agent::OnRouteRemoved(const Route& route) {
  auto identity = identities_.IdentityOfAddress(AddressOf(route.addr));
  if (!IsHostRoute(route) || !identity) return;
  auto bound = bound_.find(route.ifindex);
  if (bound == bound_.end() || bound->second != *identity) return;
  bound_.erase(bound);
  (void)datapath_->endpoints().Delete(route.ifindex);
  BumpEpoch();
}

absl::Status Agent::ReconcileModes() {
  BH_RETURN_IF_ERROR(datapath_->modes().DeleteIf(
      [&](std::uint32_t identity, const bh_mode_value&) { return !modes_.contains(identity); }));
  for (const auto& [identity, mode] : modes_) BH_RETURN_IF_ERROR(SetMode(identity, mode));
  return absl::OkStatus();
}

// After the routes were listed (and bound what they route): bindings a
// pinned map kept from an earlier run that no route backs now are removed.
// Never cleared first, so a bound interface is never unbound in between.
absl::Status Agent::RemoveStaleEndpoints() {
  return datapath_->endpoints().DeleteIf(
      [&](std::uint32_t ifindex, const bh_endpoint_value& value) {
        auto it = bound_.find(static_cast<int>(ifindex));
        return it == bound_.end() || it->second != value.identity;
      });
}

void Agent::Shutdown() {
  if (!events_) return;
  (void)events_->Drain();
  if (absl::Status status = CompileAndPersist(); !status.ok()) LogError(status.message());
}

void Agent::OnFlowEvent(const bh_flow_event& event) {
  ++flows_seen_;
  history_.push_back(
      FlowFromEvent(event, identities_, datapath_->InterfaceName(event.ifindex), clock_));
  while (history_.size() > options_.flow_history) history_.pop_front();

  if (event.verdict == BH_VERDICT_FORWARDED) store_.RecordFlow(event.segment_id, absl::Now());
  std::optional<SegmentKey> learned = learner_.Observe(event);
  if (learned && store_.Learn(*learned, absl::Now())) {
    LogInfo(absl::StrCat("learned segment ", ToString(*learned)));
    policy_dirty_ = true;
    ScheduleCompile();
  }
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
    CompiledPolicy compiled = Compiler::Compile(store_.Snapshot(), identities_);
    for (const std::string& segment : compiled.unresolved)
      LogWarning(absl::StrCat("segment ", segment, " names a workload not in the inventory"));
    absl::Status applied = compiler_.Apply(compiled.entries, datapath_->policy());
    BH_RETURN_IF_ERROR(datapath_->BumpEpoch());  // also after a partial apply
    BH_RETURN_IF_ERROR(applied);
    policy_dirty_ = false;
  }
  return SaveState();
}

bh_mode Agent::ModeOf(std::uint32_t identity) const {
  auto it = modes_.find(identity);
  return it == modes_.end() ? BH_MODE_UNMANAGED : it->second;
}

absl::Status Agent::SetMode(std::uint32_t identity, bh_mode mode) {
  BH_RETURN_IF_ERROR(datapath_->modes().Update(identity, {.mode = static_cast<__u32>(mode)}));
  modes_[identity] = mode;
  return datapath_->BumpEpoch();
}

absl::Status Agent::LoadState() {
  if (options_.state_dir.empty()) return absl::OkStatus();
  std::string path = absl::StrCat(options_.state_dir, "/", kStateFile);
  BH_ASSIGN_OR_RETURN(std::optional<std::string> bytes, ReadFileIfExists(path));
  if (!bytes) return absl::OkStatus();
  bulkhead::v1::AgentState state;
  if (!state.ParseFromString(*bytes))
    return absl::DataLossError(absl::StrCat("state file ", path, " is not a bulkhead state file"));
  store_.Restore(state.policy());
  for (const auto& [workload, mode] : state.modes()) {
    if (auto identity = identities_.IdentityOf(workload))
      modes_[*identity] = static_cast<bh_mode>(mode);
  }
  LogInfo(absl::StrCat("restored ", store_.size(), " segments and ", state.modes_size(),
                       " modes from ", path));
  return absl::OkStatus();
}

absl::Status Agent::SaveState() const {
  if (options_.state_dir.empty()) return absl::OkStatus();
  std::error_code ec;
  std::filesystem::create_directories(options_.state_dir, ec);
  bulkhead::v1::AgentState state;
  *state.mutable_policy() = store_.Snapshot();
  for (const auto& [identity, mode] : modes_)
    (*state.mutable_modes())[identities_.NameOf(identity)] = static_cast<bulkhead::v1::Mode>(mode);
  return WriteFileAtomically(absl::StrCat(options_.state_dir, "/", kStateFile),
                             state.SerializeAsString());
}

bulkhead::v1::Response Agent::Handle(const bulkhead::v1::Request& request) {
  // Answer with everything the kernel has reported so far: a flow made just
  // before `bulkhead flows` must be in its output.
  absl::Status drained = events_->Drain().status();
  if (!drained.ok()) LogWarning(drained.message());
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
      *response.mutable_export_policy()->mutable_policy() = store_.Snapshot();
      break;
    default:
      return ErrorResponse(absl::InvalidArgumentError("empty or unknown request"));
  }
  return response;
}

bulkhead::v1::StatusResponse Agent::Status() const {
  bulkhead::v1::StatusResponse status;
  status.set_version(BULKHEAD_VERSION);
  status.set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - started_));
  for (const auto& [identity, workload] : identities_.workloads()) {
    auto* w = status.add_workloads();
    w->set_workload(workload.id());
    w->set_identity(identity);
    w->set_mode(static_cast<bulkhead::v1::Mode>(ModeOf(identity)));
    for (const auto& address : workload.addresses) w->add_addresses(address);
  }
  for (const auto& [ifindex, name] : datapath_->attached()) {
    auto bound = bound_.find(ifindex);
    status.add_interfaces(bound == bound_.end()
                              ? absl::StrCat(name, " (no workload routed through it)")
                              : absl::StrCat(name, " (", identities_.NameOf(bound->second), ")"));
  }
  status.set_segments(store_.size());
  status.set_flows_seen(flows_seen_);
  if (auto stats = datapath_->ReadStats(); stats.ok()) {
    for (int i = 0; i < BH_STAT_MAX; ++i)
      (*status.mutable_datapath_counters())[StatName(i)] = (*stats)[i];
  }
  const LearnerCounters& learner = learner_.counters();
  auto& counters = *status.mutable_datapath_counters();
  counters["learner_learned"] = learner.learned;
  counters["learner_skipped_not_learning"] = learner.not_learning;
  counters["learner_skipped_external_peer"] = learner.external_peer;
  counters["learner_skipped_untrusted_port"] = learner.untrusted_port;
  return status;
}

bulkhead::v1::FlowsResponse Agent::Flows(const bulkhead::v1::FlowsRequest& request) const {
  bulkhead::v1::FlowsResponse response;
  std::size_t skip = 0;
  if (request.last() > 0 && request.last() < history_.size())
    skip = history_.size() - request.last();
  for (std::size_t i = skip; i < history_.size(); ++i) *response.add_flows() = history_[i];
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
    absl::Status status = events_drained;
    if (status.ok() && policy_dirty_) status = CompileAndPersist();
    if (!status.ok())
      return absl::Status(status.code(),
                          absl::StrCat("mode not changed: learned segments are not all in the "
                                       "policy map yet: ",
                                       status.message()));
  }

  bulkhead::v1::SetModeResponse response;
  for (std::uint32_t identity : targets) {
    BH_RETURN_IF_ERROR(SetMode(identity, mode));
    response.add_changed(identities_.NameOf(identity));
  }
  BH_RETURN_IF_ERROR(SaveState());
  LogInfo(absl::StrCat("mode ", ModeName(mode), " for ", absl::StrJoin(response.changed(), ", ")));
  return response;
}

}  // namespace bulkhead
