// Workloads and the identities the datapath knows them by.
//
// The inventory is a YAML file:
//
//   workloads:
//     - namespace: shop
//       name: frontend
//       labels: {app: frontend}
//       addresses: [10.244.1.10, "fd00:244::10"]   # IPv4 and/or IPv6
//       mode: learn            # optional; the agent's --mode otherwise
//
// Strict: an unknown key, an address that cannot be a workload's (loopback,
// multicast, broadcast, unspecified, link-local...), a control character in
// a name are errors naming the entry and the field.
//
// Identities are numbers from BH_IDENTITY_FIRST_WORKLOAD up. Build() keeps
// the numbers an earlier run gave (the agent persists them, or reads them
// back from the pinned ipcache), so a restart or a changed inventory never
// renumbers a live workload under the kernel's feet; new workloads take the
// next numbers never given (the agent persists the high-water mark too, so a
// removed workload's number is never reused), in sorted "namespace/name"
// order. Policy is stored by workload name, never by number.
// Immutable after Build(); safe to read from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "datapath/abi.h"

namespace bulkhead {

struct Workload {
  std::string ns;
  std::string name;
  std::map<std::string, std::string> labels;
  std::vector<std::string> addresses;  // IPv4 or IPv6, as written
  std::optional<bh_mode> mode;         // from the inventory, if given

  std::string id() const { return ns + "/" + name; }
};

// Parses inventory YAML; every error names the entry and the field.
absl::StatusOr<std::vector<Workload>> ParseInventory(absl::string_view yaml);
absl::StatusOr<std::vector<Workload>> LoadInventory(const std::string& path);

// "learn" | "monitor" | "enforce" <-> bh_mode (api/enum_names.h's names).
absl::StatusOr<bh_mode> ParseMode(absl::string_view name);
std::string ModeName(bh_mode mode);

// "namespace/name" -> identity number.
using IdentityAssignments = std::map<std::string, std::uint32_t, std::less<>>;

class IdentityTable {
 public:
  // Fails on a duplicate workload, an address that is not an IP address, or
  // an address claimed twice. `previous`: numbers to keep (entries for
  // workloads no longer listed, or below the first workload number, are
  // ignored).
  // `next_free`: new workloads take numbers from here up (and above every
  // kept one), so no number is ever given to a second workload.
  static absl::StatusOr<IdentityTable> Build(std::vector<Workload> workloads,
                                             const IdentityAssignments& previous = {},
                                             std::uint32_t next_free = 0);

  // A workload's identity by "namespace/name"; "host" is BH_IDENTITY_HOST.
  std::optional<std::uint32_t> IdentityOf(absl::string_view workload_id) const;
  // The workload owning an address, if any.
  std::optional<std::uint32_t> IdentityOfAddress(const bh_addr& addr) const;
  const Workload* WorkloadOf(std::uint32_t identity) const;
  // "namespace/name", or "world", "host", "unknown" for reserved identities.
  std::string NameOf(std::uint32_t identity) const;

  // identity -> workload, in identity order.
  const std::map<std::uint32_t, Workload>& workloads() const { return by_identity_; }
  // Every workload address -> its identity.
  const std::map<bh_addr, std::uint32_t>& addresses() const { return by_address_; }
  // What to persist so the next Build() keeps these numbers.
  IdentityAssignments assignments() const;
  // The lowest number never given: persist it with assignments().
  std::uint32_t next_free() const { return next_free_; }

 private:
  std::map<std::uint32_t, Workload> by_identity_;
  std::map<bh_addr, std::uint32_t> by_address_;
  IdentityAssignments by_name_;
  std::uint32_t next_free_ = BH_IDENTITY_FIRST_WORKLOAD;
};

}  // namespace bulkhead
