// The agent's state file (<state-dir>/state.pb) as the agent reads it at
// start: ParseAgentState, then the policy restored into the PolicyStore and
// exported as YAML.
//
// Properties, beyond not crashing:
//  - an error is one printable line and a DataLoss error (the agent refuses
//    to start on it);
//  - an accepted state keeps the contract of state_file.h, checked here
//    independently: peer names are "namespace/name" or one word without
//    '/' (a network set, host, world, private), printable; modes only for
//    workloads; protocols known, ports at most 65535, segment ids non-zero
//    and unique, modes learn/monitor/enforce, identity numbers unique and in
//    their kind's range, timestamps valid;
//  - an accepted state, serialised again, parses to the same state;
//  - restoring it into the PolicyStore loses and invents no segment (fields
//    unknown to this build aside);
//  - numbering workloads with its identities and high-water mark, as the
//    agent starts, keeps every kept number and gives each new workload a
//    number of its own, never a reserved one.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "api/policy_yaml.h"
#include "controlplane/identity_table.h"
#include "controlplane/policy_store.h"
#include "controlplane/state_file.h"
#include "datapath/abi.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "tests/fuzz/fuzz_check.h"

namespace bulkhead {
namespace {

using fuzz::IsPrintable;
using google::protobuf::util::MessageDifferencer;
using google::protobuf::util::TimeUtil;

bool IsWorkloadName(std::string_view name) {
  if (!IsPrintable(name)) return false;
  std::size_t slash = name.find('/');
  return slash != std::string_view::npos && slash > 0 && slash + 1 < name.size() &&
         name.find('/', slash + 1) == std::string_view::npos;
}

// A workload, or a named peer outside the workloads.
bool IsPeerName(std::string_view name) {
  return IsWorkloadName(name) ||
         (!name.empty() && IsPrintable(name) && name.find('/') == std::string_view::npos);
}

bool IsValidTimestamp(const google::protobuf::Timestamp& t) {
  return t.seconds() >= TimeUtil::kTimestampMinSeconds &&
         t.seconds() <= TimeUtil::kTimestampMaxSeconds && t.nanos() >= 0 && t.nanos() <= 999999999;
}

void CheckContract(const bulkhead::v1::AgentState& state) {
  std::set<std::uint32_t> ids;
  for (const auto& s : state.policy().segments()) {
    FUZZ_CHECK(IsPeerName(s.from_workload())) << s.ShortDebugString();
    FUZZ_CHECK(IsPeerName(s.to_workload())) << s.ShortDebugString();
    FUZZ_CHECK(s.protocol() == bulkhead::v1::ICMP || s.protocol() == bulkhead::v1::TCP ||
               s.protocol() == bulkhead::v1::UDP || s.protocol() == bulkhead::v1::ICMPV6 ||
               s.protocol() == bulkhead::v1::SCTP)
        << s.ShortDebugString();
    FUZZ_CHECK(s.port() <= 65535) << s.ShortDebugString();
    FUZZ_CHECK(s.id() != 0 && ids.insert(s.id()).second) << s.ShortDebugString();
    if (s.has_first_seen()) FUZZ_CHECK(IsValidTimestamp(s.first_seen())) << s.ShortDebugString();
    if (s.has_last_seen()) FUZZ_CHECK(IsValidTimestamp(s.last_seen())) << s.ShortDebugString();
  }
  for (const auto& [name, mode] : state.modes()) {
    FUZZ_CHECK(IsWorkloadName(name)) << name;
    FUZZ_CHECK(mode == bulkhead::v1::LEARN || mode == bulkhead::v1::MONITOR ||
               mode == bulkhead::v1::ENFORCE)
        << name << " " << mode;
  }
  std::set<std::uint32_t> numbers;
  for (const auto& [name, identity] : state.identities()) {
    FUZZ_CHECK(IsPeerName(name) && !IsReservedPeer(name)) << name;
    FUZZ_CHECK((IsWorkloadName(name) ? bh_is_workload_identity(identity)
                                     : identity >= BH_IDENTITY_FIRST_NETWORK) &&
               numbers.insert(identity).second)
        << name << " " << identity;
  }
}

// What PolicyStore::Restore is documented to change: ICMP segments from
// before segments carried the ICMP type get echo (8).
bulkhead::v1::Policy Migrated(bulkhead::v1::Policy policy) {
  for (auto& s : *policy.mutable_segments())
    if (s.protocol() == bulkhead::v1::ICMP && s.port() == 0) s.set_port(8);
  return policy;
}

void CheckRestore(const bulkhead::v1::Policy& policy) {
  PolicyStore store;
  store.Restore(policy);
  bulkhead::v1::Policy expected = Migrated(policy);
  bulkhead::v1::Policy restored = store.Snapshot();
  // Fields this build does not know (a newer agent's) are accepted; whether
  // they are kept is not the point here.
  expected.DiscardUnknownFields();
  restored.DiscardUnknownFields();
  MessageDifferencer differ;
  differ.TreatAsSet(bulkhead::v1::Policy::descriptor()->FindFieldByName("segments"));
  std::string diff;
  differ.ReportDifferencesToString(&diff);
  FUZZ_CHECK(differ.Compare(expected, restored)) << diff;
  PolicyToYaml(restored);  // every accepted state can be exported
}

// The agent's start: the inventory's workloads and network sets numbered
// with the state's identities and high-water marks. Every entry, kept or
// new, gets its own number in its kind's range.
void CheckIdentities(const bulkhead::v1::AgentState& state) {
  Inventory inventory;
  std::vector<Workload>& workloads = inventory.workloads;
  IdentityAssignments previous;
  for (const auto& [name, identity] : state.identities()) {
    std::size_t slash = name.find('/');
    if (slash == std::string::npos)
      inventory.networks.push_back({.name = name, .cidrs = {}});
    else
      workloads.push_back({.ns = name.substr(0, slash), .name = name.substr(slash + 1)});
    previous.emplace(name, identity);
  }
  workloads.push_back({.ns = "fuzz", .name = "new-1"});
  workloads.push_back({.ns = "fuzz", .name = "new-2"});
  inventory.networks.push_back({.name = "fuzz-new-network", .cidrs = {}});
  auto table = IdentityTable::Build(
      inventory, previous,
      {.workload = state.next_identity(), .network = state.next_network_identity()});
  if (!table.ok()) {
    FUZZ_CHECK(IsPrintable(table.status().message())) << table.status();
    return;
  }
  std::set<std::uint32_t> numbers;
  for (const auto& [identity, w] : table->workloads()) {
    FUZZ_CHECK(identity >= BH_IDENTITY_FIRST_WORKLOAD) << w.id() << " got " << identity;
    FUZZ_CHECK(numbers.insert(identity).second) << w.id() << " got " << identity;
    auto kept = previous.find(w.id());
    if (kept != previous.end() && table->IdentityOf(w.id()) != kept->second)
      FUZZ_CHECK(std::count_if(previous.begin(), previous.end(),
                               [&](const auto& p) { return p.second == kept->second; }) > 1)
          << w.id() << " renumbered from " << kept->second;
  }
  FUZZ_CHECK(table->workloads().size() == workloads.size());
  for (const auto& [identity, n] : table->networks()) {
    FUZZ_CHECK(identity >= BH_IDENTITY_FIRST_NETWORK) << n.name << " got " << identity;
    FUZZ_CHECK(numbers.insert(identity).second) << n.name << " got " << identity;
  }
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
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto state = ParseAgentState(bytes);
  if (!state.ok()) {
    FUZZ_CHECK(state.status().code() == absl::StatusCode::kDataLoss) << state.status();
    FUZZ_CHECK(absl::StartsWith(state.status().message(), "state file")) << state.status();
    FUZZ_CHECK(IsPrintable(state.status().message())) << state.status();
    return 0;
  }
  CheckContract(*state);

  auto again = ParseAgentState(state->SerializeAsString());
  FUZZ_CHECK(again.ok()) << again.status();
  FUZZ_CHECK(MessageDifferencer::Equals(*state, *again))
      << state->ShortDebugString() << "\n  " << again->ShortDebugString();

  CheckRestore(state->policy());
  CheckIdentities(*state);
  return 0;
}
