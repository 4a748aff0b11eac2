// The policy as Kubernetes NetworkPolicies: the golden files of the shop
// fixture (tests/kubernetes/shop_export.json), byte stability, and each rule
// of api/kubernetes_policy.h on its own. Whether the fixture's policies
// allow exactly its segments is tests/kubernetes/np_check.py's job (CTest
// runs it on the same golden file).
//
// BULKHEAD_REGENERATE_GOLDEN=1 kubernetes_policy_test rewrites the golden
// files in the source tree from the current output; review the diff.
#include "api/kubernetes_policy.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bulkhead::v1::ExportPolicyResponse ShopFixture() {
  bulkhead::v1::ExportPolicyResponse exported;
  auto status = google::protobuf::util::JsonStringToMessage(
      Read(BULKHEAD_TEST_SOURCE_DIR "/kubernetes/shop_export.json"), &exported);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return exported;
}

// Compares with the golden file, or rewrites it when asked to.
void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path = BULKHEAD_TEST_SOURCE_DIR "/golden/" + name;
  if (std::getenv("BULKHEAD_REGENERATE_GOLDEN") != nullptr) {
    std::ofstream(path) << actual;
    return;
  }
  EXPECT_EQ(actual, Read(path)) << "differs from " << path
                                << " (BULKHEAD_REGENERATE_GOLDEN=1 rewrites it)";
}

KubernetesExport Export(const bulkhead::v1::ExportPolicyResponse& exported,
                        const PeerSelector& scope = {}) {
  absl::StatusOr<KubernetesExport> k8s = KubernetesPolicies(exported, scope);
  EXPECT_TRUE(k8s.ok()) << k8s.status();
  return k8s.ok() ? *k8s : KubernetesExport{};
}

// The document of the workload (its bulkhead.dev/workload annotation).
YAML::Node PolicyOf(const std::string& yaml, const std::string& workload) {
  for (const YAML::Node& doc : YAML::LoadAll(yaml))
    if (doc["metadata"]["annotations"]["bulkhead.dev/workload"].as<std::string>() == workload)
      return doc;
  ADD_FAILURE() << "no policy for " << workload;
  return YAML::Node();
}

bulkhead::v1::WorkloadInfo* AddWorkload(bulkhead::v1::ExportPolicyResponse& exported,
                                        const std::string& id,
                                        std::map<std::string, std::string> labels) {
  auto* w = exported.add_workloads();
  w->set_workload(id);
  w->mutable_labels()->insert(labels.begin(), labels.end());
  return w;
}

void AddSegment(bulkhead::v1::ExportPolicyResponse& exported, const std::string& from,
                const std::string& to, bulkhead::v1::Protocol protocol, std::uint32_t port,
                std::uint32_t port_end = 0) {
  auto* s = exported.mutable_policy()->add_segments();
  s->set_from_workload(from);
  s->set_to_workload(to);
  s->set_protocol(protocol);
  s->set_port(port);
  s->set_port_end(port_end);
}

TEST(KubernetesPolicyTest, TheShopFixtureMatchesItsGoldenFiles) {
  KubernetesExport k8s = Export(ShopFixture());
  ExpectGolden("kubernetes_shop.yaml", k8s.yaml);
  ExpectGolden("kubernetes_shop.json", k8s.json);
  EXPECT_THAT(
      k8s.warnings,
      ElementsAre(
          "1 guardrails are not exported: NetworkPolicy only allows (the segments keep within "
          "them)",
          "1 held-back candidates are not exported: they are not in force",
          "shop/frontend -> shop/api icmp/8: left out: NetworkPolicy has no ICMP",
          "host segments allow the exporting node's addresses (192.168.1.5, fd00::5); Kubernetes "
          "always allows traffic between a pod and its own node"));
}

TEST(KubernetesPolicyTest, TheSameBytesWhateverTheInputOrder) {
  const bulkhead::v1::ExportPolicyResponse fixture = ShopFixture();
  const KubernetesExport expected = Export(fixture);
  std::mt19937 random(7);
  for (int round = 0; round < 5; ++round) {
    bulkhead::v1::ExportPolicyResponse shuffled = fixture;
    auto* segments = shuffled.mutable_policy()->mutable_segments();
    std::shuffle(segments->begin(), segments->end(), random);
    std::shuffle(shuffled.mutable_workloads()->begin(), shuffled.mutable_workloads()->end(),
                 random);
    std::shuffle(shuffled.mutable_networks()->begin(), shuffled.mutable_networks()->end(), random);
    std::shuffle(shuffled.mutable_host_addresses()->begin(),
                 shuffled.mutable_host_addresses()->end(), random);
    KubernetesExport k8s = Export(shuffled);
    EXPECT_EQ(k8s.yaml, expected.yaml);
    EXPECT_EQ(k8s.json, expected.json);
    EXPECT_EQ(k8s.warnings, expected.warnings);
  }
}

TEST(KubernetesPolicyTest, EachWorkloadIsDefaultDenyBothWays) {
  std::string yaml = Export(ShopFixture()).yaml;
  for (const YAML::Node& doc : YAML::LoadAll(yaml)) {
    EXPECT_EQ(doc["apiVersion"].as<std::string>(), "networking.k8s.io/v1");
    EXPECT_EQ(doc["kind"].as<std::string>(), "NetworkPolicy");
    EXPECT_EQ(doc["metadata"]["labels"]["app.kubernetes.io/managed-by"].as<std::string>(),
              "bulkhead");
    ASSERT_EQ(doc["spec"]["policyTypes"].size(), 2u);
    EXPECT_EQ(doc["spec"]["policyTypes"][0].as<std::string>(), "Ingress");
    EXPECT_EQ(doc["spec"]["policyTypes"][1].as<std::string>(), "Egress");
  }
  // No segment: no rule at all, so nothing is allowed (not an empty rule,
  // which would allow everything).
  YAML::Node idle = PolicyOf(yaml, "shop/idle");
  EXPECT_FALSE(idle["spec"]["ingress"]);
  EXPECT_FALSE(idle["spec"]["egress"]);
  EXPECT_EQ(idle["metadata"]["name"].as<std::string>(), "bulkhead-idle");
  EXPECT_EQ(idle["metadata"]["namespace"].as<std::string>(), "shop");
  // A label value that looks like a number stays a string.
  EXPECT_THAT(yaml, HasSubstr("version: \"1.0\""));
}

TEST(KubernetesPolicyTest, LabelsThatNameAPodARolloutOrARunAreNotSelected) {
  std::string yaml = Export(ShopFixture()).yaml;
  YAML::Node db = PolicyOf(yaml, "shop/db")["spec"]["podSelector"];
  EXPECT_EQ(db["matchLabels"].size(), 1u);
  EXPECT_EQ(db["matchLabels"]["app"].as<std::string>(), "db");
  // A CronJob's run: job-name and controller-uid change every run.
  YAML::Node batch = PolicyOf(yaml, "shop/batch")["spec"]["podSelector"];
  EXPECT_EQ(batch["matchLabels"].size(), 1u);
  EXPECT_EQ(batch["matchLabels"]["app.kubernetes.io/name"].as<std::string>(), "batch");
  EXPECT_THAT(yaml, Not(HasSubstr("pod-template-hash")));

  // A Job that is the workload is named by job-name.
  bulkhead::v1::ExportPolicyResponse exported;
  AddWorkload(exported, "jobs/migrate", {{"job-name", "migrate"}, {"controller-uid", "5f1e"}});
  YAML::Node job = PolicyOf(Export(exported).yaml, "jobs/migrate")["spec"]["podSelector"];
  EXPECT_EQ(job["matchLabels"].size(), 1u);
  EXPECT_EQ(job["matchLabels"]["job-name"].as<std::string>(), "migrate");
}

TEST(KubernetesPolicyTest, ASelectorThatWouldAlsoSelectAnotherWorkloadLeavesItOut) {
  std::string yaml = Export(ShopFixture()).yaml;
  // shop/api's labels are a subset of shop/api-canary's.
  YAML::Node api = PolicyOf(yaml, "shop/api")["spec"]["podSelector"];
  ASSERT_EQ(api["matchExpressions"].size(), 1u);
  EXPECT_EQ(api["matchExpressions"][0]["key"].as<std::string>(), "track");
  EXPECT_EQ(api["matchExpressions"][0]["operator"].as<std::string>(), "NotIn");
  EXPECT_EQ(api["matchExpressions"][0]["values"][0].as<std::string>(), "canary");
  EXPECT_FALSE(PolicyOf(yaml, "shop/api-canary")["spec"]["podSelector"]["matchExpressions"]);
  // The same selector where shop/api is a peer (rules come in the order of
  // their peers' names: kube-system/coredns, shop/api, shop/api-canary).
  YAML::Node to_api = PolicyOf(yaml, "shop/frontend")["spec"]["egress"][1];
  EXPECT_EQ(to_api["to"][0]["podSelector"]["matchExpressions"][0]["key"].as<std::string>(),
            "track");
}

TEST(KubernetesPolicyTest, TwoWorkloadsWithTheSameLabelsAreAnErrorNamingBoth) {
  bulkhead::v1::ExportPolicyResponse exported;
  AddWorkload(exported, "shop/web", {{"app", "web"}, {"pod-template-hash", "1"}});
  AddWorkload(exported, "shop/web-v2", {{"app", "web"}, {"pod-template-hash", "2"}});
  absl::StatusOr<KubernetesExport> k8s = KubernetesPolicies(exported);
  EXPECT_EQ(k8s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(k8s.status().message(),
              HasSubstr("workloads shop/web and shop/web-v2 have the same labels (app=web)"));
  // In different namespaces they are told apart by the namespace.
  exported.mutable_workloads(1)->set_workload("blog/web");
  EXPECT_TRUE(KubernetesPolicies(exported).ok());
}

TEST(KubernetesPolicyTest, AWorkloadWithoutLabelsIsSelectedByItsNameWithAWarning) {
  bulkhead::v1::ExportPolicyResponse exported;
  AddWorkload(exported, "shop/legacy", {{"pod-template-hash", "1"}});
  AddWorkload(exported, "shop/web", {{"app", "web"}});
  AddSegment(exported, "shop/web", "shop/legacy", bulkhead::v1::TCP, 80);
  KubernetesExport k8s = Export(exported, {PeerSelector::Kind::kWorkload, "shop/web"});
  EXPECT_EQ(PolicyOf(k8s.yaml, "shop/web")["spec"]["egress"][0]["to"][0]["podSelector"]
                                          ["matchLabels"]["app.kubernetes.io/name"]
                                              .as<std::string>(),
            "legacy");
  EXPECT_THAT(k8s.warnings, ElementsAre("shop/legacy has no identifying label: its pods are "
                                        "selected by app.kubernetes.io/name=legacy, which they "
                                        "must carry"));
}

TEST(KubernetesPolicyTest, ScopeNarrowsToTheWorkloadsItSelects) {
  const bulkhead::v1::ExportPolicyResponse fixture = ShopFixture();
  KubernetesExport payments = Export(fixture, {PeerSelector::Kind::kNamespace, "payments"});
  std::vector<YAML::Node> docs = YAML::LoadAll(payments.yaml);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["metadata"]["name"].as<std::string>(), "bulkhead-gateway");
  // Its peer in another namespace: namespace and pods in one element.
  YAML::Node from = docs[0]["spec"]["ingress"][0]["from"][0];
  EXPECT_EQ(
      from["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"].as<std::string>(),
      "shop");
  EXPECT_EQ(from["podSelector"]["matchLabels"]["app"].as<std::string>(), "api");
  // Warnings are about what is in scope only: no ICMP of shop's.
  EXPECT_THAT(payments.warnings, ElementsAre(HasSubstr("guardrails are not exported")));

  EXPECT_EQ(YAML::LoadAll(Export(fixture, {PeerSelector::Kind::kWorkload, "shop/db"}).yaml).size(),
            1u);
  absl::StatusOr<KubernetesExport> none =
      KubernetesPolicies(fixture, {PeerSelector::Kind::kNamespace, "blog"});
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("no workload in namespace blog"));
}

TEST(KubernetesPolicyTest, PolicyNamesAreKubernetesNamesAndStayApart) {
  bulkhead::v1::ExportPolicyResponse exported;
  AddWorkload(exported, "shop/web", {{"app", "web"}});
  AddWorkload(exported, "shop/Web", {{"app", "web-upper"}});
  AddWorkload(exported, "shop/Web_Server", {{"app", "web-server"}});
  AddWorkload(exported, "shop/" + std::string(300, 'x'), {{"app", "long"}});
  std::set<std::string> names;
  for (const YAML::Node& doc : YAML::LoadAll(Export(exported).yaml)) {
    std::string name = doc["metadata"]["name"].as<std::string>();
    EXPECT_LE(name.size(), 253u);
    EXPECT_TRUE(std::all_of(name.begin(), name.end(), [](char c) {
      return islower(c) || isdigit(c) || c == '-' || c == '.';
    })) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), 4u);
  EXPECT_TRUE(names.contains("bulkhead-web"));
  EXPECT_TRUE(std::any_of(names.begin(), names.end(), [](const std::string& n) {
    return absl::StartsWith(n, "bulkhead-web-server-");
  }));
}

TEST(KubernetesPolicyTest, PortsAreIntegersRangesAndAnyPortIsTheProtocolAlone) {
  bulkhead::v1::ExportPolicyResponse exported;
  AddWorkload(exported, "shop/a", {{"app", "a"}});
  AddWorkload(exported, "shop/b", {{"app", "b"}});
  AddSegment(exported, "shop/a", "shop/b", bulkhead::v1::TCP, 8080);
  AddSegment(exported, "shop/a", "shop/b", bulkhead::v1::TCP, 9000, 9100);
  AddSegment(exported, "shop/a", "shop/b", bulkhead::v1::UDP, 0, 65535);
  KubernetesExport k8s = Export(exported, {PeerSelector::Kind::kWorkload, "shop/a"});
  YAML::Node ports = PolicyOf(k8s.yaml, "shop/a")["spec"]["egress"][0]["ports"];
  ASSERT_EQ(ports.size(), 3u);  // one rule: one peer, all its ports
  EXPECT_EQ(ports[0]["port"].Scalar(), "8080");
  EXPECT_EQ(ports[1]["port"].Scalar(), "9000");
  EXPECT_EQ(ports[1]["endPort"].Scalar(), "9100");
  EXPECT_EQ(ports[2]["protocol"].as<std::string>(), "UDP");
  EXPECT_FALSE(ports[2]["port"]);
  EXPECT_THAT(k8s.json, HasSubstr("\"port\": 8080"));
  EXPECT_THAT(k8s.json, Not(HasSubstr("8080.")));
}

TEST(KubernetesPolicyTest, APeerWithoutAddressesIsLeftOutNeverAllowedToEveryone) {
  bulkhead::v1::ExportPolicyResponse exported;
  AddWorkload(exported, "shop/api", {{"app", "api"}});
  AddSegment(exported, "host", "shop/api", bulkhead::v1::TCP, 8080);  // no host address
  AddSegment(exported, "shop/api", "shop/gone", bulkhead::v1::TCP, 80);
  AddSegment(exported, "shop/api", "nowhere", bulkhead::v1::TCP, 80);
  KubernetesExport k8s = Export(exported);
  YAML::Node api = PolicyOf(k8s.yaml, "shop/api");
  // An empty `from` would allow every source: no rule at all instead.
  EXPECT_FALSE(api["spec"]["ingress"]);
  EXPECT_FALSE(api["spec"]["egress"]);
  EXPECT_THAT(k8s.warnings,
              ElementsAre("host -> shop/api tcp/8080: left out: the export has no host address",
                          "shop/api -> nowhere tcp/80: left out: nowhere is no workload, network "
                          "set, host, private or world",
                          "shop/api -> shop/gone tcp/80: left out: shop/gone is not a workload of "
                          "the export (no labels to select)"));
}

TEST(KubernetesPolicyTest, WhatKubernetesCannotHoldIsAnError) {
  struct Case {
    const char* what;
    std::function<void(bulkhead::v1::ExportPolicyResponse&)> change;
    const char* error;
  } cases[] = {
      {"namespace",
       [](auto& e) {
         AddWorkload(e, "Shop_NS/web", {{"app", "web"}});
       },
       "\"Shop_NS\" is not a Kubernetes namespace name"},
      {"label value",
       [](auto& e) {
         AddWorkload(e, "shop/web", {{"app", "web server"}});
       },
       "label app=\"web server\" is not a Kubernetes label"},
      {"port range from 0",
       [](auto& e) {
         AddWorkload(e, "shop/web", {{"app", "web"}});
         AddSegment(e, "shop/web", "world", bulkhead::v1::TCP, 0, 100);
       },
       "shop/web -> world tcp/0-100: no NetworkPolicy port is 0-100"},
      {"protocol",
       [](auto& e) {
         AddWorkload(e, "shop/web", {{"app", "web"}});
         AddSegment(e, "shop/web", "world", static_cast<bulkhead::v1::Protocol>(47), 0);
       },
       "shop/web -> world 47/0: not a protocol of segments"},
      {"network set",
       [](auto& e) {
         AddWorkload(e, "shop/web", {{"app", "web"}});
         auto* n = e.add_networks();
         n->set_name("corp");
         n->add_cidrs("10.1.0.0/8");
       },
       "network set \"corp\": \"10.1.0.0/8\" is not a CIDR prefix: bits are set past the length"},
  };
  for (const Case& c : cases) {
    bulkhead::v1::ExportPolicyResponse exported;
    c.change(exported);
    absl::StatusOr<KubernetesExport> k8s = KubernetesPolicies(exported);
    EXPECT_EQ(k8s.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(k8s.status().message(), HasSubstr(c.error)) << c.what;
  }
}

}  // namespace
}  // namespace bulkhead
