#include "controlplane/reconciler.h"

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "datapath/status.h"

namespace bulkhead {
namespace {

// The kernel's value for an entry the agent describes.
bh_policy_value ToKernel(const bh_policy_value& v) { return v; }
bh_ipcache_value ToKernelIdentity(std::uint32_t identity) { return {.identity = identity}; }
bh_mode_value ToKernel(bh_mode mode) { return {.mode = static_cast<__u32>(mode)}; }

bool Same(const bh_policy_value& a, const bh_policy_value& b) {
  return a.segment_id == b.segment_id;
}
bool Same(const bh_guardrail_value& a, const bh_guardrail_value& b) {
  return a.guardrail_id == b.guardrail_id && a.action == b.action;
}
bool Same(const bh_service_value& a, const bh_service_value& b) {
  return a.identity == b.identity && a.target_port_be == b.target_port_be;
}
bool Same(const bh_endpoint_value& a, const bh_endpoint_value& b) {
  return a.identity == b.identity && a.netnsid_plus1 == b.netnsid_plus1;
}
template <typename T>
bool Same(const T& a, const T& b) {
  return a == b;
}

// The flag that names a map's size, for capacity errors.
const char* SizeFlagOf(absl::string_view map) {
  if (map == "bh_policy") return "--policy-max";
  if (map == "bh_policy_ranges") return "--policy-ranges-max";
  if (map == "bh_guardrails") return "--guardrails-max";
  if (map == "bh_services") return "--services-max";
  if (map == "bh_ipcache") return "--ipcache-max";
  if (map == "bh_ipcache_lpm") return "--prefixes-max";
  if (map == "bh_modes") return "--identities-max";
  return nullptr;
}

// One map's part of a transaction.
class Change {
 public:
  virtual ~Change() = default;
  virtual absl::Status CheckCapacity() const = 0;
  virtual absl::Status WriteAdditions() = 0;
  virtual absl::Status WriteRemovals() = 0;
  // Puts back what the map held before this change, whatever part of it
  // was written.
  virtual absl::Status Restore() = 0;
  virtual std::size_t written() const = 0;
  virtual std::size_t removed() const = 0;
};

// Entries: std::map<Key, A> as the agent describes them; V: the kernel value.
template <typename Entries, typename V, typename ToKernelFn>
class MapChange final : public Change {
 public:
  using Key = typename Entries::key_type;

  MapChange(TypedMap<Key, V>& map, const Entries& installed, const Entries& wanted,
            ToKernelFn to_kernel)
      : map_(map), installed_(installed), to_kernel_(to_kernel) {
    for (const auto& [key, value] : wanted) {
      auto it = installed.find(key);
      if (it != installed.end() && Same(it->second, value)) continue;
      if (it == installed.end()) ++added_;
      keys_.push_back(key);
      values_.push_back(to_kernel_(value));
    }
    for (const auto& [key, value] : installed)
      if (!wanted.contains(key)) removals_.push_back(key);
  }

  absl::Status CheckCapacity() const override {
    if (added_ == 0) return absl::OkStatus();
    BH_ASSIGN_OR_RETURN(std::uint32_t max_entries, map_.MaxEntries());
    // Additions go in before removals, so both must fit at once.
    std::size_t needed = installed_.size() + added_;
    if (needed <= max_entries) return absl::OkStatus();
    std::string message = absl::StrCat("map ", map_.name(), " holds ", installed_.size(),
                                       " entries and this change adds ", added_,
                                       " before it removes ", removals_.size(), ": ", needed,
                                       " are needed at once, its size is ", max_entries);
    if (const char* flag = SizeFlagOf(map_.name()))
      absl::StrAppend(&message, " (start bulkheadd with ", flag, " ", needed, " or more)");
    return absl::ResourceExhaustedError(message);
  }

  absl::Status WriteAdditions() override {
    if (keys_.empty()) return absl::OkStatus();
    return map_.UpdateBatch(keys_, values_);
  }

  absl::Status WriteRemovals() override {
    for (const Key& key : removals_) BH_RETURN_IF_ERROR(map_.Delete(key));
    return absl::OkStatus();
  }

  absl::Status Restore() override {
    absl::Status first_error;
    auto put_back = [&](const Key& key) {
      auto it = installed_.find(key);
      absl::Status status =
          it == installed_.end() ? map_.Delete(key) : map_.Update(key, to_kernel_(it->second));
      if (first_error.ok()) first_error = status;
    };
    for (const Key& key : keys_) put_back(key);
    for (const Key& key : removals_) put_back(key);
    return first_error;
  }

  std::size_t written() const override { return keys_.size(); }
  std::size_t removed() const override { return removals_.size(); }

 private:
  TypedMap<Key, V>& map_;
  const Entries& installed_;
  ToKernelFn to_kernel_;
  std::vector<Key> keys_;  // written: added or changed
  std::vector<V> values_;
  std::size_t added_ = 0;  // of keys_, those not installed before
  std::vector<Key> removals_;
};

template <typename Entries, typename V, typename ToKernelFn>
std::unique_ptr<Change> MakeChange(TypedMap<typename Entries::key_type, V>& map,
                                   const Entries& installed, const Entries& wanted,
                                   ToKernelFn to_kernel) {
  return std::make_unique<MapChange<Entries, V, ToKernelFn>>(map, installed, wanted, to_kernel);
}

}  // namespace

absl::Status Reconciler::Adopt() {
  PolicyEntries policy;
  PolicyRangeEntries ranges;
  IpcacheEntries ipcache;
  PrefixEntries prefixes;
  EndpointEntries endpoints;
  ModeEntries modes;
  GuardrailEntries guardrails;
  ServiceEntries services;
  BH_RETURN_IF_ERROR(datapath_.services().ForEach(
      [&](const bh_service_key& key, const bh_service_value& value) { services[key] = value; }));
  BH_RETURN_IF_ERROR(datapath_.guardrails().ForEach(
      [&](const bh_policy_lpm_key& key, const bh_guardrail_value& value) {
        guardrails[key] = value;
      }));
  BH_RETURN_IF_ERROR(datapath_.policy().ForEach(
      [&](const bh_policy_key& key, const bh_policy_value& value) { policy[key] = value; }));
  BH_RETURN_IF_ERROR(datapath_.policy_ranges().ForEach(
      [&](const bh_policy_lpm_key& key, const bh_policy_value& value) { ranges[key] = value; }));
  BH_RETURN_IF_ERROR(datapath_.ipcache().ForEach(
      [&](const bh_addr& addr, const bh_ipcache_value& value) { ipcache[addr] = value.identity; }));
  BH_RETURN_IF_ERROR(datapath_.ipcache_prefixes().ForEach(
      [&](const bh_ipcache_lpm_key& key, const bh_ipcache_value& value) {
        prefixes[key] = value.identity;
      }));
  BH_RETURN_IF_ERROR(datapath_.endpoints().ForEach(
      [&](std::uint32_t ifindex, const bh_endpoint_value& value) { endpoints[ifindex] = value; }));
  BH_RETURN_IF_ERROR(
      datapath_.modes().ForEach([&](std::uint32_t identity, const bh_mode_value& value) {
        modes[identity] = static_cast<bh_mode>(value.mode);
      }));
  installed_ = {std::move(policy),     std::move(ranges),    std::move(ipcache),
                std::move(prefixes),   std::move(endpoints), std::move(modes),
                std::move(guardrails), std::move(services)};
  return absl::OkStatus();
}

absl::StatusOr<ApplyCounts> Reconciler::Apply(const MapContents& wanted) {
  // In the order additions must go in (removals go in reverse): segments
  // before anything could use them; a workload's mode before its addresses
  // and interfaces point at it, so it is never unmanaged in between.
  std::vector<std::unique_ptr<Change>> changes;
  if (wanted.guardrails)
    changes.push_back(MakeChange(datapath_.guardrails(), *installed_.guardrails, *wanted.guardrails,
                                 [](const bh_guardrail_value& v) { return v; }));
  if (wanted.policy)
    changes.push_back(MakeChange(datapath_.policy(), *installed_.policy, *wanted.policy,
                                 [](const bh_policy_value& v) { return ToKernel(v); }));
  if (wanted.policy_ranges)
    changes.push_back(MakeChange(datapath_.policy_ranges(), *installed_.policy_ranges,
                                 *wanted.policy_ranges,
                                 [](const bh_policy_value& v) { return ToKernel(v); }));
  if (wanted.modes)
    changes.push_back(MakeChange(datapath_.modes(), *installed_.modes, *wanted.modes,
                                 [](bh_mode mode) { return ToKernel(mode); }));
  if (wanted.ipcache)
    changes.push_back(MakeChange(datapath_.ipcache(), *installed_.ipcache, *wanted.ipcache,
                                 [](std::uint32_t id) { return ToKernelIdentity(id); }));
  if (wanted.prefixes)
    changes.push_back(MakeChange(datapath_.ipcache_prefixes(), *installed_.prefixes,
                                 *wanted.prefixes,
                                 [](std::uint32_t id) { return ToKernelIdentity(id); }));
  if (wanted.services)
    changes.push_back(MakeChange(datapath_.services(), *installed_.services, *wanted.services,
                                 [](const bh_service_value& v) { return v; }));
  if (wanted.endpoints)
    changes.push_back(MakeChange(datapath_.endpoints(), *installed_.endpoints, *wanted.endpoints,
                                 [](const bh_endpoint_value& v) { return v; }));

  ApplyCounts counts;
  for (const auto& change : changes) {
    BH_RETURN_IF_ERROR(change->CheckCapacity());
    counts.written += change->written();
    counts.removed += change->removed();
  }
  if (counts.written == 0 && counts.removed == 0) return counts;

  // What the maps will hold; the lookups of both while they change.
  MapContents after = installed_;
  if (wanted.policy) after.policy = wanted.policy;
  if (wanted.policy_ranges) after.policy_ranges = wanted.policy_ranges;
  if (wanted.ipcache) after.ipcache = wanted.ipcache;
  if (wanted.prefixes) after.prefixes = wanted.prefixes;
  if (wanted.endpoints) after.endpoints = wanted.endpoints;
  if (wanted.modes) after.modes = wanted.modes;
  if (wanted.guardrails) after.guardrails = wanted.guardrails;
  if (wanted.services) after.services = wanted.services;
  std::uint32_t lookups_before = datapath_.lookups();
  absl::Status status = datapath_.SetLookups(lookups_before | LookupsOf(after));
  for (const auto& change : changes)
    if (status.ok()) status = change->WriteAdditions();
  for (auto it = changes.rbegin(); it != changes.rend(); ++it)
    if (status.ok()) status = (*it)->WriteRemovals();

  if (!status.ok()) {
    absl::Status restored;
    for (auto it = changes.rbegin(); it != changes.rend(); ++it)
      if (absl::Status s = (*it)->Restore(); restored.ok()) restored = s;
    if (absl::Status s = datapath_.SetLookups(lookups_before); restored.ok()) restored = s;
    absl::Status bumped = datapath_.BumpEpoch();
    if (!restored.ok() || !bumped.ok())
      return absl::Status(status.code(),
                          absl::StrCat(status.message(), "; putting the maps back failed too: ",
                                       restored.ok() ? bumped.message() : restored.message()));
    return absl::Status(status.code(),
                        absl::StrCat(status.message(), "; the maps were put back as they were"));
  }
  installed_ = std::move(after);
  BH_RETURN_IF_ERROR(datapath_.SetLookups(LookupsOf(installed_)));
  BH_RETURN_IF_ERROR(datapath_.BumpEpoch());
  return counts;
}

std::uint32_t Reconciler::LookupsOf(const MapContents& contents) {
  std::uint32_t lookups = 0;
  if (contents.policy_ranges && !contents.policy_ranges->empty())
    lookups |= BH_LOOKUP_POLICY_RANGES;
  if (contents.guardrails && !contents.guardrails->empty()) lookups |= BH_LOOKUP_GUARDRAILS;
  if (contents.services && !contents.services->empty()) lookups |= BH_LOOKUP_SERVICES;
  return lookups;
}

}  // namespace bulkhead
