#include "controlplane/compiler.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "controlplane/policy_store.h"
#include "controlplane/segment.h"
#include "datapath/status.h"

namespace bulkhead {

CompiledPolicy Compiler::Compile(const bulkhead::v1::Policy& policy,
                                 const IdentityTable& identities) {
  CompiledPolicy compiled;
  for (const auto& segment : policy.segments()) {
    auto from = identities.IdentityOf(segment.from_workload());
    auto to = identities.IdentityOf(segment.to_workload());
    if (!from || !to) {
      compiled.unresolved.push_back(ToString(KeyOf(segment)));
      continue;
    }
    bh_policy_key key = PolicyKey(*from, *to, ProtocolFromProto(segment.protocol()),
                                  static_cast<std::uint16_t>(segment.port()));
    compiled.entries[key] = bh_policy_value{.segment_id = segment.id()};
  }
  return compiled;
}

PolicyDiff Compiler::Diff(const PolicyEntries& installed, const PolicyEntries& wanted) {
  PolicyDiff diff;
  for (const auto& [key, value] : wanted) {
    auto it = installed.find(key);
    if (it == installed.end() || it->second.segment_id != value.segment_id) {
      diff.upsert_keys.push_back(key);
      diff.upsert_values.push_back(value);
    }
  }
  for (const auto& [key, value] : installed)
    if (!wanted.contains(key)) diff.deletes.push_back(key);
  return diff;
}

absl::Status Compiler::Apply(const PolicyEntries& wanted,
                             TypedMap<bh_policy_key, bh_policy_value>& map) {
  PolicyDiff diff = Diff(installed_, wanted);
  if (!diff.upsert_keys.empty()) {
    absl::Status status = map.UpdateBatch(diff.upsert_keys, diff.upsert_values);
    if (!status.ok()) {
      // Part of the batch may be in: learn from the kernel which part, so the
      // next Apply retries what is missing and deletes what is stale.
      for (const bh_policy_key& key : diff.upsert_keys) {
        auto value = map.Lookup(key);
        if (value.ok() && value->has_value()) installed_[key] = **value;
      }
      return status;
    }
    for (std::size_t i = 0; i < diff.upsert_keys.size(); ++i)
      installed_[diff.upsert_keys[i]] = diff.upsert_values[i];
  }
  for (const bh_policy_key& key : diff.deletes) {
    BH_RETURN_IF_ERROR(map.Delete(key));
    installed_.erase(key);
  }
  return absl::OkStatus();
}

absl::Status Compiler::Adopt(const TypedMap<bh_policy_key, bh_policy_value>& map) {
  installed_.clear();
  return map.ForEach(
      [this](const bh_policy_key& key, const bh_policy_value& value) { installed_[key] = value; });
}

absl::Status Compiler::InstallIdentities(const IdentityTable& identities,
                                         const std::set<bh_addr>& host_addresses,
                                         TypedMap<bh_addr, bh_ipcache_value>& ipcache) {
  std::map<bh_addr, std::uint32_t> wanted = identities.addresses();
  // A workload's address is the workload's, even if the node has it too.
  for (const bh_addr& addr : host_addresses) wanted.emplace(addr, BH_IDENTITY_HOST);
  std::map<bh_addr, std::uint32_t> installed;
  BH_RETURN_IF_ERROR(ipcache.ForEach([&](const bh_addr& addr, const bh_ipcache_value& value) {
    installed[addr] = value.identity;
  }));
  for (const auto& [addr, identity] : wanted) {
    auto it = installed.find(addr);
    if (it != installed.end() && it->second == identity) continue;
    BH_RETURN_IF_ERROR(ipcache.Update(addr, {.identity = identity}));
  }
  for (const auto& [addr, identity] : installed)
    if (!wanted.contains(addr)) BH_RETURN_IF_ERROR(ipcache.Delete(addr));
  return absl::OkStatus();
}

}  // namespace bulkhead
