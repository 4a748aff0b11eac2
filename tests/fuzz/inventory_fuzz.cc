// Inventory YAML, as the agent reads it: ParseInventory, then
// IdentityTable::Build.
//
// Properties, beyond not crashing:
//  - an error is one printable line (it is logged);
//  - an accepted inventory has non-empty printable names without '/',
//    printable labels, all of them fit for a protobuf string (UTF-8: they
//    travel in the state file and the API), and only addresses a workload can have: they parse,
//    and are not unspecified, loopback, multicast, broadcast, link-local or
//    reserved (checked here on the bytes, independently of the parser);
//  - network sets have printable names without '/', none reserved, and
//    CIDRs that parse as prefixes;
//  - what is accepted, written back as YAML, parses to the same inventory;
//  - a table that builds maps every workload and address to one identity in
//    the workloads' range, every network set and prefix to one in theirs,
//    and rebuilding it with its own assignments (a restart) renumbers
//    nothing.
#include <arpa/inet.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "controlplane/identity_table.h"
#include "google/protobuf/stubs/logging.h"
#include "proto/api.pb.h"
#include "tests/fuzz/fuzz_check.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

using fuzz::IsPrintable;

bool SameInventory(const Inventory& x, const Inventory& y) {
  if (x.networks.size() != y.networks.size()) return false;
  for (std::size_t i = 0; i < x.networks.size(); ++i)
    if (x.networks[i].name != y.networks[i].name || x.networks[i].cidrs != y.networks[i].cidrs)
      return false;
  const std::vector<Workload>& a = x.workloads;
  const std::vector<Workload>& b = y.workloads;
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].ns != b[i].ns || a[i].name != b[i].name || a[i].labels != b[i].labels ||
        a[i].addresses != b[i].addresses || a[i].mode != b[i].mode)
      return false;
  }
  return true;
}

std::string ToYaml(const Inventory& inventory) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "workloads" << YAML::Value << YAML::BeginSeq;
  for (const Workload& w : inventory.workloads) {
    out << YAML::BeginMap;
    out << YAML::Key << "namespace" << YAML::Value << w.ns;
    out << YAML::Key << "name" << YAML::Value << w.name;
    if (!w.labels.empty()) out << YAML::Key << "labels" << YAML::Value << w.labels;
    if (!w.addresses.empty()) out << YAML::Key << "addresses" << YAML::Value << w.addresses;
    if (w.mode) out << YAML::Key << "mode" << YAML::Value << ModeName(*w.mode);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
  if (!inventory.networks.empty()) {
    out << YAML::Key << "networks" << YAML::Value << YAML::BeginSeq;
    for (const NetworkSet& n : inventory.networks)
      out << YAML::BeginMap << YAML::Key << "name" << YAML::Value << n.name << YAML::Key << "cidrs"
          << YAML::Value << n.cidrs << YAML::EndMap;
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return out.c_str();
}

// Whether the address can be a workload's, from inet_pton's bytes alone.
bool IsWorkloadUnicast(const std::string& text) {
  in_addr v4{};
  in6_addr v6{};
  const std::uint8_t* b = v6.s6_addr;
  bool is_v4 = inet_pton(AF_INET, text.c_str(), &v4) == 1;
  if (!is_v4) {
    if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return false;
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(b, b + 12, kMapped)) {
      is_v4 = true;
      std::copy(b + 12, b + 16, reinterpret_cast<std::uint8_t*>(&v4.s_addr));
    }
  }
  if (is_v4) {
    const auto* a = reinterpret_cast<const std::uint8_t*>(&v4.s_addr);
    if (a[0] == 0 || a[0] == 127 || a[0] >= 224)
      return false;                                // this net, loopback, multi/reserved
    if (a[0] == 169 && a[1] == 254) return false;  // link-local
    return true;
  }
  static constexpr std::uint8_t kZero[16] = {};
  if (std::equal(b, b + 16, kZero)) return false;                // ::
  if (std::equal(b, b + 15, kZero) && b[15] == 1) return false;  // ::1
  if (b[0] == 0xff) return false;                                // multicast
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return false;       // link-local
  return true;
}

// Whether `text` survives a protobuf string field (proto3 strings must be
// UTF-8): names and labels travel in the state file and the API.
bool FitsAProtobufString(const std::string& text) {
  bulkhead::v1::WorkloadStatus message;
  message.set_workload(text);
  return bulkhead::v1::WorkloadStatus().ParseFromString(message.SerializeAsString());
}

void CheckAccepted(const Inventory& inventory) {
  for (const NetworkSet& n : inventory.networks) {
    FUZZ_CHECK(!n.name.empty() && IsPrintable(n.name) && FitsAProtobufString(n.name)) << n.name;
    FUZZ_CHECK(n.name.find('/') == std::string::npos && !IsReservedPeer(n.name)) << n.name;
    FUZZ_CHECK(!n.cidrs.empty()) << n.name;
    for (const std::string& cidr : n.cidrs) FUZZ_CHECK(ParsePrefix(cidr).ok()) << cidr;
  }
  for (const Workload& w : inventory.workloads) {
    for (const std::string* name : {&w.ns, &w.name}) {
      FUZZ_CHECK(!name->empty()) << w.id();
      FUZZ_CHECK(IsPrintable(*name)) << w.id();
      FUZZ_CHECK(name->find('/') == std::string::npos) << w.id();
      FUZZ_CHECK(FitsAProtobufString(*name)) << w.id();
    }
    for (const auto& [key, value] : w.labels) {
      FUZZ_CHECK(IsPrintable(key) && IsPrintable(value)) << w.id();
      FUZZ_CHECK(FitsAProtobufString(key) && FitsAProtobufString(value)) << w.id();
    }
    for (const std::string& address : w.addresses) {
      FUZZ_CHECK(address.find('\0') == std::string::npos) << w.id() << " address with a NUL";
      FUZZ_CHECK(IsWorkloadUnicast(address)) << w.id() << " address " << address;
    }
    if (w.mode)
      FUZZ_CHECK(*w.mode == BH_MODE_LEARN || *w.mode == BH_MODE_MONITOR ||
                 *w.mode == BH_MODE_ENFORCE)
          << w.id() << " mode " << static_cast<int>(*w.mode);
  }
}

void CheckTable(const Inventory& inventory) {
  const std::vector<Workload>& workloads = inventory.workloads;
  auto table = IdentityTable::Build(inventory);
  if (!table.ok()) {
    FUZZ_CHECK(IsPrintable(table.status().message())) << table.status();
    return;
  }
  FUZZ_CHECK(table->workloads().size() == workloads.size());
  for (const auto& [identity, w] : table->workloads()) {
    FUZZ_CHECK(bh_is_workload_identity(identity)) << identity;
    FUZZ_CHECK(table->IdentityOf(w.id()) == identity) << w.id();
    FUZZ_CHECK(table->NameOf(identity) == w.id()) << w.id();
    for (const std::string& address : w.addresses) {
      auto parsed = ParseAddress(address);
      FUZZ_CHECK(parsed.ok()) << address;
      FUZZ_CHECK(table->IdentityOfAddress(*parsed) == identity) << address;
    }
  }
  std::size_t address_count = 0;
  for (const Workload& w : workloads) address_count += w.addresses.size();
  FUZZ_CHECK(table->addresses().size() <= address_count);
  FUZZ_CHECK(table->networks().size() == inventory.networks.size());
  for (const auto& [identity, n] : table->networks()) {
    FUZZ_CHECK(identity >= BH_IDENTITY_FIRST_NETWORK) << identity;
    FUZZ_CHECK(table->IdentityOf(n.name) == identity) << n.name;
    for (const std::string& cidr : n.cidrs)
      FUZZ_CHECK(table->prefixes().at(*ParsePrefix(cidr)) == identity) << cidr;
  }

  auto again = IdentityTable::Build(inventory, table->assignments());
  FUZZ_CHECK(again.ok()) << again.status();
  FUZZ_CHECK(again->assignments() == table->assignments());
}

}  // namespace
}  // namespace bulkhead
// Protobuf logs every string that is not UTF-8 it meets; here that is noise.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bulkhead;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto inventory = ParseInventory(text);
  if (!inventory.ok()) {
    FUZZ_CHECK(!inventory.status().message().empty());
    FUZZ_CHECK(fuzz::IsPrintable(inventory.status().message())) << inventory.status();
    return 0;
  }
  CheckAccepted(*inventory);

  std::string yaml = ToYaml(*inventory);
  auto reparsed = ParseInventory(yaml);
  FUZZ_CHECK(reparsed.ok()) << reparsed.status() << "\n" << yaml;
  FUZZ_CHECK(SameInventory(*inventory, *reparsed)) << yaml;

  CheckTable(*inventory);
  return 0;
}
