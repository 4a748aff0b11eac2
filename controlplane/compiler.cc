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
                                         TypedMap<bh_ipcache_key, bh_ipcache_value>& ipcache) {
  // Add (or renumber) first, then remove what a pinned map kept from an
  // earlier run, so no current address is ever missing.
  for (const auto& [addr_be, identity] : identities.addresses())
    BH_RETURN_IF_ERROR(ipcache.Update(Ipv4IpcacheKey(addr_be), {.identity = identity}));
  return ipcache.DeleteIf([&](const bh_ipcache_key& key, const bh_ipcache_value&) {
    // Ours are exactly the IPv4 /32 keys of the inventory's addresses.
    std::uint32_t addr_be;
    std::memcpy(&addr_be, key.addr, sizeof(addr_be));
    const bh_ipcache_key ours = Ipv4IpcacheKey(addr_be);
    return std::memcmp(&key, &ours, sizeof(key)) != 0 || !identities.addresses().contains(addr_be);
  });
}

}  // namespace bulkhead
