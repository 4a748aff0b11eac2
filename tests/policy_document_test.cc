// The reviewed policy file (api/policy_document.h): what reads back, what is
// refused, and that every problem comes with its line.
#include "api/policy_document.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "api/kubernetes_policy.h"
#include "api/policy_yaml.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"

namespace bulkhead {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kHeader[] = "apiVersion: bulkhead.dev/v1alpha1\nkind: SegmentPolicy\n";

std::vector<std::string> Problems(const std::string& text) {
  std::vector<std::string> out;
  for (const PolicyProblem& p : ParsePolicyDocument(text).problems) out.push_back(ToString(p));
  return out;
}

bulkhead::v1::Segment MakeSegment(std::string from, std::string to, bulkhead::v1::Protocol proto,
                                  std::uint32_t port, std::uint32_t port_end = 0) {
  bulkhead::v1::Segment s;
  s.set_from_workload(std::move(from));
  s.set_to_workload(std::move(to));
  s.set_protocol(proto);
  s.set_port(port);
  s.set_port_end(port_end);
  return s;
}

// An export as the agent sends it: three workloads, a network set, a
// guardrail, held-back candidates, modes.
bulkhead::v1::ExportPolicyResponse ShopExport() {
  using google::protobuf::util::TimeUtil;
  bulkhead::v1::ExportPolicyResponse e;
  auto add = [](bulkhead::v1::Policy* p, bulkhead::v1::Segment s, bulkhead::v1::Origin origin) {
    s.set_origin(origin);
    *s.mutable_first_seen() = TimeUtil::SecondsToTimestamp(1795000000);
    *s.mutable_last_seen() = TimeUtil::MillisecondsToTimestamp(1795000100123);
    s.set_flows(7);
    *p->add_segments() = s;
  };
  add(e.mutable_policy(), MakeSegment("shop/frontend", "shop/api", bulkhead::v1::TCP, 8080),
      bulkhead::v1::LEARNED);
  add(e.mutable_policy(), MakeSegment("shop/api", "shop/db", bulkhead::v1::TCP, 5432),
      bulkhead::v1::REVIEWED);
  bulkhead::v1::Segment range = MakeSegment("shop/api", "shop/cache", bulkhead::v1::UDP, 0, 65535);
  range.set_collapsed_ports(24);
  add(e.mutable_policy(), range, bulkhead::v1::LEARNED);
  add(e.mutable_policy(), MakeSegment("shop/api", "payments-api", bulkhead::v1::TCP, 443),
      bulkhead::v1::LEARNED);
  add(e.mutable_policy(), MakeSegment("shop/frontend", "shop/api", bulkhead::v1::ICMP, 8),
      bulkhead::v1::LEARNED);
  add(e.mutable_held_back(), MakeSegment("shop/probe", "shop/db", bulkhead::v1::TCP, 22),
      bulkhead::v1::LEARNED);
  bulkhead::v1::GuardrailStatus* g = e.add_guardrails();
  g->set_name("tenants-apart");
  g->mutable_from_selector()->set_namespace_("tenant-a");
  g->mutable_to_selector()->set_namespace_("tenant-b");
  g->add_except("udp/53");
  for (const char* name : {"shop/api", "shop/cache", "shop/db", "shop/frontend", "shop/probe"}) {
    bulkhead::v1::WorkloadInfo* w = e.add_workloads();
    w->set_workload(name);
    w->set_mode(name == std::string("shop/db") ? bulkhead::v1::ENFORCE : bulkhead::v1::LEARN);
  }
  bulkhead::v1::NetworkInfo* n = e.add_networks();
  n->set_name("payments-api");
  n->add_cidrs("203.0.113.0/24");
  return e;
}

TEST(PolicyDocumentTest, AnExportReadsBackAsItWasWritten) {
  bulkhead::v1::ExportPolicyResponse exported = ShopExport();
  std::string yaml = PolicyToYaml(exported);
  ParsedPolicy parsed = ParsePolicyDocument(yaml);
  ASSERT_THAT(parsed.problems, IsEmpty()) << ToString(parsed.problems[0]) << "\n" << yaml;
  const PolicyDocument& d = parsed.document;
  ASSERT_EQ(d.segments.size(), 5u);
  ASSERT_EQ(d.held_back.size(), 1u);
  ASSERT_EQ(d.guardrails.size(), 1u);
  EXPECT_EQ(d.guardrails[0].value.name, "tenants-apart");
  EXPECT_EQ(d.guardrails[0].value.from.ToString(), "namespace tenant-a");
  ASSERT_EQ(d.modes.size(), 5u);
  EXPECT_EQ(d.modes.at("shop/db").value, bulkhead::v1::ENFORCE);

  // Every field of every segment, whatever the order.
  bulkhead::v1::ExportPolicyResponse again = exported;
  again.mutable_policy()->clear_segments();
  for (const auto& s : d.segments) *again.mutable_policy()->add_segments() = s.value;
  again.mutable_held_back()->clear_segments();
  for (const auto& s : d.held_back) *again.mutable_held_back()->add_segments() = s.value;
  // The bytes too: export -> read -> export is the same file.
  EXPECT_EQ(PolicyToYaml(again), yaml);
  for (const auto& s : d.segments) {
    bool found = false;
    for (const auto& want : exported.policy().segments())
      found |= google::protobuf::util::MessageDifferencer::Equals(s.value, want);
    EXPECT_TRUE(found) << s.value.ShortDebugString();
  }
}

// The golden file of Bulkhead's own format, from the fixture the
// Kubernetes export's golden files come from (tests/kubernetes/):
// BULKHEAD_REGENERATE_GOLDEN=1 policy_document_test rewrites it.
TEST(PolicyDocumentTest, TheShopFixtureMatchesItsGoldenFileAndReadsBack) {
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  bulkhead::v1::ExportPolicyResponse exported;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  read(BULKHEAD_TEST_SOURCE_DIR "/kubernetes/shop_export.json"), &exported)
                  .ok());
  std::string yaml = PolicyToYaml(exported);
  const std::string golden = BULKHEAD_TEST_SOURCE_DIR "/golden/bulkhead_shop.yaml";
  if (std::getenv("BULKHEAD_REGENERATE_GOLDEN") != nullptr) std::ofstream(golden) << yaml;
  EXPECT_EQ(yaml, read(golden)) << "differs from " << golden;
  ParsedPolicy parsed = ParsePolicyDocument(yaml);
  ASSERT_THAT(parsed.problems, IsEmpty()) << ToString(parsed.problems[0]);
  EXPECT_EQ(parsed.document.segments.size(),
            static_cast<std::size_t>(exported.policy().segments_size()));
}

TEST(PolicyDocumentTest, EveryProblemComesWithItsLine) {
  std::string text =
      std::string(kHeader) +
      "segments:\n"                                                                  // 3
      "  - {from: shop/a, to: shop/b, protocol: TCP, port: 80}\n"                    // 4
      "  - {from: shop/a, to: shop/b, protocol: TCP, port: 0}\n"                     // 5
      "  - {from: shop/a, to: shop/b, protocol: TCP, port: 70000}\n"                 // 6
      "  - {from: shop/a, to: shop/b, protocol: GRE, port: 1}\n"                     // 7
      "  - {from: shop/a, to: shop/b, protocol: TCP, port: 80}\n"                    // 8
      "  - {from: shop/a, to: shop/b, protocol: TCP, port: 81, colour: red}\n"       // 9
      "  - {from: shop/a, protocol: TCP, port: 82}\n"                                // 10
      "  - {from: shop/a, to: shop/b, protocol: TCP, port: 90, endPort: 85}\n"       // 11
      "  - {from: shop/a, to: shop/b, protocol: ICMP, port: 8, endPort: 9}\n"        // 12
      "  - {from: a/b/c, to: shop/b, protocol: UDP, port: 53}\n"                     // 13
      "  - {from: shop/a, to: shop/b, protocol: TCP, port: 83, origin: guessed}\n";  // 14
  std::vector<std::string> problems = Problems(text);
  ASSERT_EQ(problems.size(), 10u) << testing::PrintToString(problems);
  EXPECT_THAT(problems[0], HasSubstr("line 5: \"port\" 0 is not a server port"));
  EXPECT_THAT(problems[1], HasSubstr("line 6: \"port\": \"70000\" is not a whole number"));
  EXPECT_THAT(problems[2], HasSubstr("line 7: \"protocol\": \"GRE\" is not a protocol"));
  EXPECT_THAT(problems[3], HasSubstr("line 8: segment shop/a -> shop/b : tcp/80 is listed twice"));
  EXPECT_THAT(problems[3], HasSubstr("line 4"));
  EXPECT_THAT(problems[4], HasSubstr("line 9: segment: unknown key \"colour\""));
  EXPECT_THAT(problems[5], HasSubstr("line 10: segment: \"to\" is required"));
  EXPECT_THAT(problems[6], HasSubstr("line 11: \"endPort\" 85 is below port 90"));
  EXPECT_THAT(problems[7], HasSubstr("line 12: \"endPort\": icmp has no ports"));
  EXPECT_THAT(problems[8], HasSubstr("line 13: \"from\": \"a/b/c\" is neither"));
  EXPECT_THAT(problems[9], HasSubstr("line 14: \"origin\": expected learned or reviewed"));
}

TEST(PolicyDocumentTest, TheFileAsAWholeIsChecked) {
  EXPECT_THAT(Problems(""), ElementsAre(HasSubstr("the file is empty")));
  EXPECT_THAT(Problems("# nothing but a comment\n"), ElementsAre(HasSubstr("the file is empty")));
  EXPECT_THAT(Problems("segments: [\n"), ElementsAre(HasSubstr("not YAML")));
  EXPECT_THAT(Problems("- a\n- b\n"), ElementsAre(HasSubstr("line 1: expected a mapping")));
  EXPECT_THAT(Problems("kind: SegmentPolicy\nsegments: []\n"),
              ElementsAre(HasSubstr("\"apiVersion\": expected bulkhead.dev/v1alpha1")));
  EXPECT_THAT(Problems(std::string(kHeader)),
              ElementsAre(HasSubstr("\"segments\" is required (segments: [] allows nothing)")));
  EXPECT_THAT(Problems(std::string(kHeader) + "segments: []\nextra: 1\n"),
              ElementsAre(HasSubstr("line 4: policy: unknown key \"extra\"")));
  EXPECT_THAT(Problems(std::string(kHeader) + "segments: []\nsegments: []\n"),
              ElementsAre(HasSubstr("line 4: policy: \"segments\" is given twice")));
  EXPECT_THAT(Problems(std::string(kHeader) + "segments: []\n---\n" + kHeader + "segments: []\n"),
              ElementsAre(HasSubstr("holds one YAML document")));
  std::string huge(kMaxPolicyFileBytes + 1, '#');
  EXPECT_THAT(Problems(huge), ElementsAre(HasSubstr("over the limit of 16777216")));
  EXPECT_THAT(Problems(std::string(kHeader) + "segments: []\n"), IsEmpty());
}

TEST(PolicyDocumentTest, ModesAndGuardrailsAreReadStrictly) {
  std::string text = std::string(kHeader) +
                     "segments: []\n"
                     "guardrails:\n"                                             // 4
                     "  - {name: g, from: any, to: {namespace: kube-system}}\n"  // 5
                     "  - {name: g, from: any, to: {namespace: other}}\n"        // 6
                     "  - {name: h, from: any, to: {colour: red}}\n"             // 7
                     "modes:\n"                                                  // 8
                     "  shop/a: enforce\n"                                       // 9
                     "  shop/b: sometimes\n"                                     // 10
                     "  justaname: learn\n";                                     // 11
  std::vector<std::string> problems = Problems(text);
  ASSERT_EQ(problems.size(), 4u) << testing::PrintToString(problems);
  EXPECT_THAT(problems[0], HasSubstr("line 6: guardrail \"g\" is listed twice (first at line 5)"));
  EXPECT_THAT(problems[1], HasSubstr("line 7: guardrail: \"to\": unknown key \"colour\""));
  EXPECT_THAT(problems[2], HasSubstr("line 10: modes: shop/b: unknown mode \"sometimes\""));
  EXPECT_THAT(problems[3], HasSubstr("line 11: modes: \"justaname\" is not namespace/name"));
}

TEST(PolicyDocumentTest, AScopedFileStaysInItsScope) {
  std::string text = std::string(kHeader) +
                     "scope: {namespace: shop}\n"
                     "segments:\n"
                     "  - {from: shop/a, to: bank/b, protocol: TCP, port: 80}\n"  // 5: in
                     "  - {from: bank/a, to: bank/b, protocol: TCP, port: 80}\n"  // 6: out
                     "guardrails: []\n"                                           // 7
                     "modes: {bank/a: enforce}\n";                                // 8
  std::vector<std::string> problems = Problems(text);
  ASSERT_EQ(problems.size(), 3u) << testing::PrintToString(problems);
  EXPECT_THAT(problems[0], HasSubstr("line 6: segment bank/a -> bank/b : tcp/80 is outside the "
                                     "scope (namespace shop)"));
  EXPECT_THAT(problems[1], HasSubstr("line 7: guardrails belong to a file without a scope"));
  EXPECT_THAT(problems[2], HasSubstr("line 8: modes: bank/a is outside the scope"));

  // An export narrowed to a namespace reads back with its scope.
  bulkhead::v1::ExportPolicyResponse exported = ShopExport();
  std::string yaml = PolicyToYaml(exported, {PeerSelector::Kind::kWorkload, "shop/db"});
  ParsedPolicy parsed = ParsePolicyDocument(yaml);
  ASSERT_THAT(parsed.problems, IsEmpty()) << yaml;
  EXPECT_EQ(parsed.document.scope.ToString(), "workload shop/db");
  EXPECT_EQ(parsed.document.segments.size(), 1u);   // api -> db
  EXPECT_EQ(parsed.document.held_back.size(), 1u);  // probe -> db
  EXPECT_THAT(parsed.document.guardrails, IsEmpty());
  EXPECT_EQ(parsed.document.modes.size(), 1u);
}

TEST(PolicyDocumentTest, CheckedAgainstTheInventoryAndTheGuardrails) {
  PeerCatalog catalog = CatalogOf(ShopExport());
  std::string text = std::string(kHeader) +
                     "segments:\n"
                     "  - {from: shop/api, to: shop/ghost, protocol: TCP, port: 80}\n"       // 4
                     "  - {from: shop/api, to: nowhere, protocol: TCP, port: 80}\n"          // 5
                     "  - {from: shop/api, to: kube-system/dns, protocol: TCP, port: 53}\n"  // 6
                     "  - {from: shop/api, to: world, protocol: UDP, port: 53}\n"            // 7
                     "  - {from: shop/api, to: payments-api, protocol: TCP, port: 443}\n"    // 8
                     "guardrails:\n"
                     "  - {name: no-world, from: any, to: {peer: world}, except: [udp/53]}\n"  // 10
                     "  - {name: typo, from: any, to: {namespace: shpo}}\n"                    // 11
                     "modes: {shop/ghost: enforce}\n";                                         // 12
  ParsedPolicy parsed = ParsePolicyDocument(text);
  ASSERT_THAT(parsed.problems, IsEmpty());
  Guardrail dns_only{.name = "kube-system-dns-only",
                     .from = {},
                     .to = {PeerSelector::Kind::kNamespace, "kube-system"},
                     .except = {{.proto = 17, .first = 53, .last = 53}},
                     .source = "/etc/bulkhead/guardrails.yaml"};
  catalog.workloads["kube-system/dns"];
  std::vector<PolicyProblem> problems;
  std::vector<std::string> warnings;
  CheckPolicyDocument(parsed.document, {.catalog = &catalog, .other_guardrails = {dns_only}},
                      &problems, &warnings);
  std::vector<std::string> text_problems;
  text_problems.reserve(problems.size());
  for (const auto& p : problems) text_problems.push_back(ToString(p));
  ASSERT_EQ(text_problems.size(), 4u) << testing::PrintToString(text_problems);
  EXPECT_THAT(text_problems[0], HasSubstr("line 4: segment shop/api -> shop/ghost : tcp/80: "
                                          "workload shop/ghost is not in the inventory"));
  EXPECT_THAT(text_problems[1], HasSubstr("line 5: segment shop/api -> nowhere : tcp/80: peer "
                                          "\"nowhere\" is not a network set"));
  EXPECT_THAT(text_problems[2],
              HasSubstr("line 6: segment shop/api -> kube-system/dns : tcp/53 is denied by "
                        "guardrail \"kube-system-dns-only\" (/etc/bulkhead/guardrails.yaml)"));
  EXPECT_THAT(text_problems[3], HasSubstr("line 12: modes: workload shop/ghost is not in"));
  EXPECT_THAT(warnings,
              ElementsAre(HasSubstr("guardrail \"typo\": namespace shpo selects nothing")));

  // A guardrail named like the --guardrails one but different.
  std::string conflicting = std::string(kHeader) +
                            "segments: []\n"
                            "guardrails:\n"
                            "  - {name: kube-system-dns-only, from: any, to: {namespace: x}}\n";
  problems.clear();
  CheckPolicyDocument(ParsePolicyDocument(conflicting).document,
                      {.catalog = &catalog, .other_guardrails = {dns_only}}, &problems, &warnings);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(ToString(problems[0]), HasSubstr("line 5: guardrail \"kube-system-dns-only\" "
                                               "conflicts with the one of that name in "
                                               "/etc/bulkhead/guardrails.yaml"));
}

TEST(PolicyDocumentTest, AGuardrailDeniesARangeUnlessEveryPortIsExcepted) {
  Guardrail g{.name = "g",
              .from = {},
              .to = {PeerSelector::Kind::kWorkload, "shop/db"},
              .except = {{.proto = 6, .first = 5000, .last = 5100},
                         {.proto = 6, .first = 5101, .last = 5200}}};
  EXPECT_FALSE(g.Denies("shop/api", "shop/db", 6, 5000, 5200));
  EXPECT_TRUE(g.Denies("shop/api", "shop/db", 6, 5000, 5201));
  EXPECT_TRUE(g.Denies("shop/api", "shop/db", 17, 5000, 5000));
  EXPECT_FALSE(g.Denies("shop/api", "shop/web", 6, 1, 1));
}

TEST(PolicyDocumentTest, KubernetesPoliciesAreReadAgainstTheCatalog) {
  bulkhead::v1::ExportPolicyResponse exported = ShopExport();
  absl::StatusOr<KubernetesExport> k8s = KubernetesPolicies(exported);
  ASSERT_TRUE(k8s.ok()) << k8s.status();
  PeerCatalog catalog = CatalogOf(exported);
  for (const std::string* text : {&k8s->yaml, &k8s->json}) {
    ParsedPolicy parsed = ParsePolicyDocument(*text, &catalog);
    ASSERT_THAT(parsed.problems, IsEmpty()) << ToString(parsed.problems[0]);
    EXPECT_TRUE(parsed.document.kubernetes);
    EXPECT_EQ(parsed.document.scope_workloads.size(), 5u);
    // The TCP and UDP segments come back, reviewed; ICMP is not the file's.
    ASSERT_EQ(parsed.document.segments.size(), 4u);
    for (const auto& [s, line] : parsed.document.segments)
      EXPECT_EQ(s.origin(), bulkhead::v1::REVIEWED);
    EXPECT_FALSE(parsed.document.Decides("shop/frontend", "shop/api", bulkhead::v1::ICMP));
  }
  EXPECT_THAT(ParsePolicyDocument(k8s->yaml).problems,
              ElementsAre(testing::Field(&PolicyProblem::message,
                                         HasSubstr("Kubernetes NetworkPolicies are read against "
                                                   "the agent's workloads"))));

  // Lines are the file's, across documents and comments.
  std::string text = "# reviewed by ops\n" + k8s->yaml;
  std::size_t second = text.find("---", text.find("---") + 1);
  text.insert(text.find("spec:", second), "  colour: red\n");
  const int colour_line =
      1 + static_cast<int>(std::count(
              text.begin(), text.begin() + static_cast<std::ptrdiff_t>(text.find("colour")), '\n'));
  ParsedPolicy broken = ParsePolicyDocument(text, &catalog);
  ASSERT_EQ(broken.problems.size(), 1u);
  EXPECT_EQ(broken.problems[0].line, colour_line);
  EXPECT_THAT(broken.problems[0].message, HasSubstr("metadata: unknown field \"colour\""));

  // What the catalog's guardrails deny is a problem at the rule's port.
  ParsedPolicy parsed = ParsePolicyDocument(k8s->yaml, &catalog);
  Guardrail no_db{.name = "no-db",
                  .from = {},
                  .to = {PeerSelector::Kind::kWorkload, "shop/db"},
                  .source = "guardrails.yaml"};
  std::vector<PolicyProblem> problems;
  std::vector<std::string> warnings;
  CheckPolicyDocument(parsed.document, {.catalog = &catalog, .other_guardrails = {no_db}},
                      &problems, &warnings);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_THAT(problems[0].message, HasSubstr("shop/api -> shop/db : tcp/5432 is denied by "
                                             "guardrail \"no-db\""));
  const std::string& yaml = k8s->yaml;
  std::size_t port = yaml.find("port: 5432");
  EXPECT_EQ(problems[0].line,
            static_cast<int>(std::count(yaml.begin(), yaml.begin() + port, '\n')) + 1);
}

}  // namespace
}  // namespace bulkhead
