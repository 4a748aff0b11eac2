// Workloads and the identities the datapath knows them by.
//
// The inventory is a YAML file:
//
//   workloads:
//     - namespace: shop
//       name: frontend
//       labels: {app: frontend}
//       addresses: [10.244.1.10]
//       mode: learn            # optional; the agent's --mode otherwise
//
// Identities are given in sorted "namespace/name" order starting at
// BH_IDENTITY_FIRST_WORKLOAD. They are internal to one agent run: policy is
// stored by workload name, so nothing depends on the numbers staying put.
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
  std::vector<std::string> addresses;  // IPv4, dotted quad
  std::optional<bh_mode> mode;         // from the inventory, if given

  std::string id() const { return ns + "/" + name; }
};

// Parses inventory YAML; every error names the entry and the field.
absl::StatusOr<std::vector<Workload>> ParseInventory(absl::string_view yaml);
absl::StatusOr<std::vector<Workload>> LoadInventory(const std::string& path);

// "learn" | "monitor" | "enforce" <-> bh_mode.
absl::StatusOr<bh_mode> ParseMode(absl::string_view name);
const char* ModeName(bh_mode mode);

class IdentityTable {
 public:
  // Fails on a duplicate workload, an address that is not IPv4, or an
  // address claimed twice.
  static absl::StatusOr<IdentityTable> Build(std::vector<Workload> workloads);

  std::optional<std::uint32_t> IdentityOf(absl::string_view workload_id) const;
  // The workload owning an IPv4 address (network byte order), if any.
  std::optional<std::uint32_t> IdentityOfAddress(std::uint32_t addr_be) const;
  const Workload* WorkloadOf(std::uint32_t identity) const;
  // "namespace/name", or "world", "host", "unknown" for reserved identities.
  std::string NameOf(std::uint32_t identity) const;

  // identity -> workload, in identity order.
  const std::map<std::uint32_t, Workload>& workloads() const { return by_identity_; }
  // Every workload address (IPv4, network byte order) -> its identity.
  const std::map<std::uint32_t, std::uint32_t>& addresses() const { return by_address_; }

 private:
  std::map<std::uint32_t, Workload> by_identity_;
  std::map<std::uint32_t, std::uint32_t> by_address_;
  std::map<std::string, std::uint32_t, std::less<>> by_name_;
};

}  // namespace bulkhead
