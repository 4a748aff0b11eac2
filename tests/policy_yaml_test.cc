// The exported policy file: the documented shape, sorted, byte-stable.
#include "api/policy_yaml.h"

#include <netinet/in.h>

#include "controlplane/policy_store.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

TEST(PolicyYamlTest, SortedAndByteStableWhateverTheLearningOrder) {
  absl::Time t = absl::FromUnixSeconds(1'790'000'000);
  PolicyStore a, b;
  SegmentKey first{"shop/api", "shop/db", IPPROTO_TCP, 5432};
  SegmentKey second{"shop/frontend", "shop/api", IPPROTO_TCP, 8080};
  a.Learn(second, t);
  a.Learn(first, t);
  b.Learn(first, t);
  b.Learn(second, t);
  bulkhead::v1::Policy pa = a.Snapshot(), pb = b.Snapshot();
  // Ids follow learning order; the file must not depend on them.
  for (auto* p : {&pa, &pb})
    for (auto& s : *p->mutable_segments()) s.clear_id();
  EXPECT_EQ(PolicyToYaml(pa), PolicyToYaml(pb));
}

TEST(PolicyYamlTest, HasTheDocumentedFields) {
  PolicyStore store;
  store.Learn({"shop/frontend", "shop/api", IPPROTO_TCP, 8080}, absl::FromUnixSeconds(0));
  YAML::Node doc = YAML::Load(PolicyToYaml(store.Snapshot()));
  EXPECT_EQ(doc["apiVersion"].as<std::string>(), "bulkhead.dev/v1alpha1");
  EXPECT_EQ(doc["kind"].as<std::string>(), "SegmentPolicy");
  ASSERT_EQ(doc["segments"].size(), 1u);
  const YAML::Node& s = doc["segments"][0];
  EXPECT_EQ(s["from"].as<std::string>(), "shop/frontend");
  EXPECT_EQ(s["to"].as<std::string>(), "shop/api");
  EXPECT_EQ(s["protocol"].as<std::string>(), "TCP");
  EXPECT_EQ(s["port"].as<int>(), 8080);
  EXPECT_EQ(s["origin"].as<std::string>(), "learned");
  EXPECT_EQ(s["firstSeen"].as<std::string>(), "1970-01-01T00:00:00Z");
  EXPECT_EQ(s["flows"].as<int>(), 1);
}

// Found by tests/fuzz (policy_yaml): yaml-cpp wrote a trailing '\r' bare,
// and the file read back named another workload.
TEST(PolicyYamlTest, TheFileNamesEachWorkloadExactly) {
  bulkhead::v1::Policy policy;
  auto* s = policy.add_segments();
  s->set_from_workload("shop/a\r");
  s->set_to_workload("shop/b\tc");
  YAML::Node doc = YAML::Load(PolicyToYaml(policy));
  EXPECT_EQ(doc["segments"][0]["from"].as<std::string>(), "shop/a\r");
  EXPECT_EQ(doc["segments"][0]["to"].as<std::string>(), "shop/b\tc");
}

}  // namespace
}  // namespace bulkhead
