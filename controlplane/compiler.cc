#include "controlplane/compiler.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "controlplane/policy_store.h"
#include "controlplane/segment.h"

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
    std::uint8_t proto = ProtocolFromProto(segment.protocol());
    auto port = static_cast<std::uint16_t>(segment.port());
    if (segment.port_end() != 0) {
      for (const bh_policy_lpm_key& key :
           PortRangeKeys(*from, *to, proto, port, static_cast<std::uint16_t>(segment.port_end())))
        compiled.ranges[key] = bh_policy_value{.segment_id = segment.id()};
      continue;
    }
    compiled.entries[PolicyKey(*from, *to, proto, port)] =
        bh_policy_value{.segment_id = segment.id()};
  }
  return compiled;
}

std::map<bh_addr, std::uint32_t> Compiler::Ipcache(const IdentityTable& identities,
                                                   const std::set<bh_addr>& host_addresses) {
  std::map<bh_addr, std::uint32_t> entries = identities.addresses();
  for (const bh_addr& addr : host_addresses) entries.emplace(addr, BH_IDENTITY_HOST);
  return entries;
}

PrefixEntries Compiler::IpcachePrefixes(const IdentityTable& identities) {
  PrefixEntries entries = identities.prefixes();
  for (const char* cidr : {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"})
    entries.emplace(*ParsePrefix(cidr), BH_IDENTITY_PRIVATE);  // a network set's stays
  return entries;
}

}  // namespace bulkhead
