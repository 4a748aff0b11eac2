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
//  - what is accepted, written back as YAML, parses to the same workloads;
//  - a table that builds maps every workload and address to one identity at
//    or above BH_IDENTITY_FIRST_WORKLOAD, and rebuilding it with its own
//    assignments (a restart) renumbers nothing.
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

bool SameWorkloads(const std::vector<Workload>& a, const std::vector<Workload>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].ns != b[i].ns || a[i].name != b[i].name || a[i].labels != b[i].labels ||
        a[i].addresses != b[i].addresses || a[i].mode != b[i].mode)
      return false;
  }
  return true;
}

std::string ToYaml(const std::vector<Workload>& workloads) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "workloads" << YAML::Value << YAML::BeginSeq;
  for (const Workload& w : workloads) {
    out << YAML::BeginMap;
    out << YAML::Key << "namespace" << YAML::Value << w.ns;
    out << YAML::Key << "name" << YAML::Value << w.name;
    if (!w.labels.empty()) out << YAML::Key << "labels" << YAML::Value << w.labels;
    if (!w.addresses.empty()) out << YAML::Key << "addresses" << YAML::Value << w.addresses;
    if (w.mode) out << YAML::Key << "mode" << YAML::Value << ModeName(*w.mode);
    out << YAML::EndMap;
  }
  out << YAML::EndSeq << YAML::EndMap;
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

void CheckAccepted(const std::vector<Workload>& workloads) {
  for (const Workload& w : workloads) {
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

void CheckTable(const std::vector<Workload>& workloads) {
  auto table = IdentityTable::Build(workloads);
  if (!table.ok()) {
    FUZZ_CHECK(IsPrintable(table.status().message())) << table.status();
    return;
  }
  FUZZ_CHECK(table->workloads().size() == workloads.size());
  for (const auto& [identity, w] : table->workloads()) {
    FUZZ_CHECK(identity >= BH_IDENTITY_FIRST_WORKLOAD) << identity;
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

  auto again = IdentityTable::Build(workloads, table->assignments());
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
  auto workloads = ParseInventory(text);
  if (!workloads.ok()) {
    FUZZ_CHECK(!workloads.status().message().empty());
    FUZZ_CHECK(fuzz::IsPrintable(workloads.status().message())) << workloads.status();
    return 0;
  }
  CheckAccepted(*workloads);

  std::string yaml = ToYaml(*workloads);
  auto reparsed = ParseInventory(yaml);
  FUZZ_CHECK(reparsed.ok()) << reparsed.status() << "\n" << yaml;
  FUZZ_CHECK(SameWorkloads(*workloads, *reparsed)) << yaml;

  CheckTable(*workloads);
  return 0;
}
