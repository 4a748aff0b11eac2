// The policy file a person reviews: PolicyToYaml, the only policy YAML code
// so far (nothing reads the file back yet, see tests/fuzz/README.md). The
// input is a bulkhead.v1.Policy as the agent's API returns it.
//
// Properties, beyond not crashing:
//  - the file is YAML that loads, with the documented apiVersion and kind;
//  - it says exactly what the policy says: one entry per segment, in
//    (from, to, protocol, port) order, each workload name byte for byte (a
//    name cannot inject keys, entries or documents), port, protocol, origin,
//    flow count and valid timestamps as they are;
//  - the same policy in another order gives the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "api/enum_names.h"
#include "api/policy_yaml.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/time_util.h"
#include "proto/policy.pb.h"
#include "tests/fuzz/fuzz_check.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

using google::protobuf::util::TimeUtil;

auto KeyOf(const bulkhead::v1::Segment& s) {
  return std::tuple(s.from_workload(), s.to_workload(), s.protocol(), s.port());
}

bool IsValidTimestamp(const google::protobuf::Timestamp& t) {
  return t.seconds() >= TimeUtil::kTimestampMinSeconds &&
         t.seconds() <= TimeUtil::kTimestampMaxSeconds && t.nanos() >= 0 && t.nanos() <= 999999999;
}

void CheckTimestamp(const YAML::Node& entry, const char* key, bool has,
                    const google::protobuf::Timestamp& expected) {
  FUZZ_CHECK(static_cast<bool>(entry[key]) == has) << key;
  if (!has || !IsValidTimestamp(expected)) return;
  google::protobuf::Timestamp read;
  FUZZ_CHECK(TimeUtil::FromString(entry[key].Scalar(), &read)) << entry[key].Scalar();
  FUZZ_CHECK(read.seconds() == expected.seconds() && read.nanos() == expected.nanos())
      << key << " " << entry[key].Scalar() << " != " << expected.ShortDebugString();
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
  bulkhead::v1::Policy policy;
  if (!policy.ParseFromArray(data, static_cast<int>(size))) return 0;

  // The store keeps one segment per key; the file's order is only defined
  // for such policies.
  std::vector<const bulkhead::v1::Segment*> sorted;
  std::set<decltype(KeyOf(policy.segments(0)))> keys;
  for (const auto& s : policy.segments()) {
    if (!keys.insert(KeyOf(s)).second) return 0;
    sorted.push_back(&s);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return KeyOf(*a) < KeyOf(*b); });

  std::string yaml = PolicyToYaml(policy);
  YAML::Node doc;
  try {
    doc = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    FUZZ_CHECK(false) << "the policy file does not load: " << e.what() << "\n" << yaml;
  }
  FUZZ_CHECK(doc.IsMap() && doc.size() == 3) << yaml;
  FUZZ_CHECK(doc["apiVersion"].Scalar() == kPolicyApiVersion) << yaml;
  FUZZ_CHECK(doc["kind"].Scalar() == kPolicyKind) << yaml;
  const YAML::Node& entries = doc["segments"];
  FUZZ_CHECK(entries.IsSequence() && entries.size() == sorted.size()) << yaml;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const bulkhead::v1::Segment& s = *sorted[i];
    const YAML::Node& e = entries[i];
    FUZZ_CHECK(e.IsMap()) << yaml;
    FUZZ_CHECK(e["from"].Scalar() == s.from_workload()) << "from, entry " << i << "\n" << yaml;
    FUZZ_CHECK(e["to"].Scalar() == s.to_workload()) << "to, entry " << i << "\n" << yaml;
    FUZZ_CHECK(e["protocol"].Scalar() == absl::AsciiStrToUpper(ProtocolName(s.protocol()))) << yaml;
    FUZZ_CHECK(e["port"].as<std::uint32_t>() == s.port()) << yaml;
    FUZZ_CHECK(e["flows"].as<std::uint64_t>() == s.flows()) << yaml;
    // An unset origin is left out (it reads back as reviewed).
    const char* origin = s.origin() == bulkhead::v1::LEARNED    ? "learned"
                         : s.origin() == bulkhead::v1::REVIEWED ? "reviewed"
                                                                : nullptr;
    FUZZ_CHECK(origin ? e["origin"] && e["origin"].Scalar() == origin : !e["origin"]) << yaml;
    CheckTimestamp(e, "firstSeen", s.has_first_seen(), s.first_seen());
    CheckTimestamp(e, "lastSeen", s.has_last_seen(), s.last_seen());
  }

  bulkhead::v1::Policy reversed;
  for (auto it = policy.segments().rbegin(); it != policy.segments().rend(); ++it)
    *reversed.add_segments() = *it;
  FUZZ_CHECK(PolicyToYaml(reversed) == yaml) << "the order of the segments shows in the file";
  return 0;
}
