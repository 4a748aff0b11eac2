// Kubernetes NetworkPolicies read back as segments (api/kubernetes_import.h):
// every export reads back as its segments and writes the same bytes again
// (the shop fixture, hand-made exports, random ones), hand-written policies
// mean what the Kubernetes reference says, and every file that cannot be
// mapped faithfully is refused with its line.
//
// With BULKHEAD_IMPORT_OUT=DIR, the hand-written cases also write DIR/<case>.yaml
// (the policies) and DIR/<case>.json (the catalog with the segments read), for
// tests/kubernetes/import_check.py to judge with np_check.py's evaluator.
#include "api/kubernetes_import.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/kubernetes_policy.h"
#include "api/peer_addresses.h"
#include "api/policy_document.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

using bulkhead::v1::ExportPolicyResponse;
using bulkhead::v1::Protocol;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAreArray;

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

ExportPolicyResponse ShopFixture() {
  ExportPolicyResponse exported;
  auto status = google::protobuf::util::JsonStringToMessage(
      Read(BULKHEAD_TEST_SOURCE_DIR "/kubernetes/shop_export.json"), &exported);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return exported;
}

ParsedPolicy Parse(const std::string& text, const PeerCatalog& catalog) {
  int error_line = 0;
  absl::StatusOr<std::vector<YamlDocument>> documents = LoadDocuments(text, 10000, &error_line);
  EXPECT_TRUE(documents.ok()) << documents.status() << " at line " << error_line;
  if (!documents.ok()) return {};
  return ParseKubernetesPolicies(*documents, catalog);
}

std::vector<std::string> Problems(const ParsedPolicy& parsed) {
  std::vector<std::string> out;
  for (const PolicyProblem& p : parsed.problems) out.push_back(ToString(p));
  return out;
}

// "shop/a -> shop/b tcp/80", "... udp/any", "... tcp/8000-9000".
std::string Describe(const bulkhead::v1::Segment& s) {
  std::string protocol = s.protocol() == bulkhead::v1::TCP   ? "tcp"
                         : s.protocol() == bulkhead::v1::UDP ? "udp"
                         : s.protocol() == bulkhead::v1::SCTP
                             ? "sctp"
                             : absl::StrCat("proto", static_cast<int>(s.protocol()));
  std::string ports = s.port() == 0 && s.port_end() == 65535 ? "any"
                      : s.port_end() == 0                    ? absl::StrCat(s.port())
                                          : absl::StrCat(s.port(), "-", s.port_end());
  return absl::StrCat(s.from_workload(), " -> ", s.to_workload(), " ", protocol, "/", ports);
}

std::vector<std::string> Segments(const ParsedPolicy& parsed) {
  std::vector<std::string> out;
  for (const auto& [s, line] : parsed.document.segments) {
    EXPECT_EQ(s.origin(), bulkhead::v1::REVIEWED) << Describe(s);
    out.push_back(Describe(s));
  }
  return out;
}

bulkhead::v1::WorkloadInfo* AddWorkload(ExportPolicyResponse& exported, const std::string& id,
                                        std::map<std::string, std::string> labels) {
  auto* w = exported.add_workloads();
  w->set_workload(id);
  w->mutable_labels()->insert(labels.begin(), labels.end());
  return w;
}

void AddNetwork(ExportPolicyResponse& exported, const std::string& name,
                const std::vector<std::string>& cidrs) {
  auto* n = exported.add_networks();
  n->set_name(name);
  for (const std::string& cidr : cidrs) n->add_cidrs(cidr);
}

void AddSegment(ExportPolicyResponse& exported, const std::string& from, const std::string& to,
                Protocol protocol, std::uint32_t port, std::uint32_t port_end = 0) {
  auto* s = exported.mutable_policy()->add_segments();
  s->set_from_workload(from);
  s->set_to_workload(to);
  s->set_protocol(protocol);
  s->set_port(port);
  s->set_port_end(port_end);
}

// Export -> read back -> export, in both formats: the segments read back
// are the export's TCP, UDP and SCTP segments that the export wrote (an
// end in scope, the other end a workload or a peer with addresses), and
// the export after applying them (the agent's way: what the file decides
// replaced) has the same bytes.
void ExpectRoundTrip(const ExportPolicyResponse& exported, const PeerSelector& scope = {}) {
  absl::StatusOr<KubernetesExport> k8s = KubernetesPolicies(exported, scope);
  ASSERT_TRUE(k8s.ok()) << k8s.status();
  const PeerCatalog catalog = CatalogOf(exported);
  absl::StatusOr<PeerAddresses> addresses =
      PeerAddresses::Build(exported.networks(), exported.host_addresses());
  ASSERT_TRUE(addresses.ok()) << addresses.status();
  auto written = [&](const std::string& peer) {
    return catalog.workloads.contains(peer) || !addresses->BlocksOf(peer).empty();
  };
  std::set<std::string> expected_scope;
  for (const auto& w : exported.workloads())
    if (scope.Selects(w.workload())) expected_scope.insert(w.workload());
  std::vector<std::string> expected;
  for (const auto& s : exported.policy().segments()) {
    bool ports = s.protocol() == bulkhead::v1::TCP || s.protocol() == bulkhead::v1::UDP ||
                 s.protocol() == bulkhead::v1::SCTP;
    bool in_scope =
        expected_scope.contains(s.from_workload()) || expected_scope.contains(s.to_workload());
    if (ports && in_scope && written(s.from_workload()) && written(s.to_workload()))
      expected.push_back(Describe(s));
  }

  for (const auto& [format, text] : {std::pair("yaml", k8s->yaml), std::pair("json", k8s->json)}) {
    SCOPED_TRACE(format);
    ParsedPolicy parsed = Parse(text, catalog);
    ASSERT_THAT(Problems(parsed), IsEmpty()) << text;
    // The one warning an export can bring: nothing with host, when it has
    // no host segment.
    bool host = std::any_of(expected.begin(), expected.end(), [](const std::string& s) {
      return absl::StartsWith(s, "host ") || absl::StrContains(s, " host ");
    });
    if (host || expected_scope.empty())
      EXPECT_THAT(parsed.warnings, IsEmpty());
    else
      EXPECT_THAT(parsed.warnings, ElementsAre(HasSubstr("nothing is allowed with host")));
    EXPECT_TRUE(parsed.document.kubernetes);
    EXPECT_EQ(parsed.document.scope_workloads, expected_scope);
    EXPECT_THAT(Segments(parsed), UnorderedElementsAreArray(expected));

    ExportPolicyResponse applied = exported;
    applied.mutable_policy()->clear_segments();
    for (const auto& s : exported.policy().segments())
      if (!parsed.document.Decides(s.from_workload(), s.to_workload(), s.protocol()))
        *applied.mutable_policy()->add_segments() = s;
    for (const auto& [s, line] : parsed.document.segments)
      *applied.mutable_policy()->add_segments() = s;
    absl::StatusOr<KubernetesExport> again = KubernetesPolicies(applied, scope);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->yaml, k8s->yaml);
    EXPECT_EQ(again->json, k8s->json);
  }
}

TEST(KubernetesImportTest, TheShopExportReadsBackAsItsSegments) {
  const ExportPolicyResponse shop = ShopFixture();
  ExpectRoundTrip(shop);
  ExpectRoundTrip(shop, {PeerSelector::Kind::kNamespace, "payments"});
  ExpectRoundTrip(shop, {PeerSelector::Kind::kNamespace, "shop"});
  ExpectRoundTrip(shop, {PeerSelector::Kind::kWorkload, "shop/db"});
  ExpectRoundTrip(shop, {PeerSelector::Kind::kWorkload, "shop/idle"});

  // The golden file as it is checked in, segment by segment.
  ParsedPolicy parsed =
      Parse(Read(BULKHEAD_TEST_SOURCE_DIR "/golden/kubernetes_shop.yaml"), CatalogOf(shop));
  ASSERT_THAT(Problems(parsed), IsEmpty());
  EXPECT_THAT(
      Segments(parsed),
      ElementsAre("host -> shop/api tcp/8080", "kube-system/coredns -> world udp/53",
                  "payments/gateway -> payments-api tcp/443",
                  "payments/gateway -> payments-api sctp/3868", "payments/gateway -> world tcp/443",
                  "shop/api -> corp udp/514", "shop/api -> kube-system/coredns tcp/53",
                  "shop/api -> kube-system/coredns udp/53",
                  "shop/api -> payments/gateway tcp/9000-9100", "shop/api -> private tcp/6379",
                  "shop/api -> shop/db tcp/5432", "shop/api-canary -> shop/db tcp/5432",
                  "shop/batch -> shop/db tcp/any", "shop/frontend -> kube-system/coredns udp/53",
                  "shop/frontend -> shop/api tcp/8080", "shop/frontend -> shop/api tcp/8443",
                  "shop/frontend -> shop/api-canary tcp/8080", "world -> shop/frontend tcp/443"));
  // It decides TCP, UDP and SCTP with an end at its workloads, not ICMP.
  EXPECT_TRUE(parsed.document.Decides("shop/frontend", "shop/api", bulkhead::v1::TCP));
  EXPECT_FALSE(parsed.document.Decides("shop/frontend", "shop/api", bulkhead::v1::ICMP));
  EXPECT_EQ(parsed.document.scope_workloads.size(), 8u);
}

// Peers of every kind, ports of every shape, selectors that need NotIn,
// workloads selected by a fallback label or a Job's name, segments the
// export leaves out.
ExportPolicyResponse Varied() {
  ExportPolicyResponse e;
  AddWorkload(e, "shop/web", {{"app", "web"}, {"pod-template-hash", "1"}});
  AddWorkload(e, "shop/web-beta", {{"app", "web"}, {"track", "beta"}});
  AddWorkload(e, "shop/web-canary", {{"app", "web"}, {"track", "canary"}});
  AddWorkload(e, "shop/legacy", {{"controller-revision-hash", "x1"}});  // no identifying label
  AddWorkload(e, "shop/idle", {{"app", "idle"}});
  AddWorkload(e, "jobs/migrate", {{"job-name", "migrate"}, {"controller-uid", "5f1e"}});
  AddWorkload(e, "db/pg", {{"app", "pg"}, {"version", "15"}});
  AddNetwork(e, "corp", {"10.20.0.0/16", "2001:db8:1::/48"});  // inside private, and IPv6
  AddNetwork(e, "lab", {"10.20.30.0/24"});                     // inside corp
  AddNetwork(e, "tenth", {"10.0.0.0/8"});                      // ties with private: wins
  AddNetwork(e, "hidden", {"192.168.1.5/32"});                 // a host address: no block
  AddNetwork(e, "partner", {"198.51.100.0/24"});
  e.add_host_addresses("192.168.1.5");
  e.add_host_addresses("fd00::5");
  // Workload to workload: across namespaces, ranges, any port, overlaps.
  AddSegment(e, "shop/web", "db/pg", bulkhead::v1::TCP, 5432);
  AddSegment(e, "shop/web", "db/pg", bulkhead::v1::TCP, 5400, 5500);  // holds 5432
  AddSegment(e, "shop/web", "db/pg", bulkhead::v1::TCP, 5433);        // next to 5432
  AddSegment(e, "shop/web-beta", "db/pg", bulkhead::v1::UDP, 0, 65535);
  AddSegment(e, "shop/web-canary", "db/pg", bulkhead::v1::SCTP, 3868);
  AddSegment(e, "shop/web", "shop/web", bulkhead::v1::TCP, 7946);  // replicas to each other
  AddSegment(e, "shop/web", "shop/legacy", bulkhead::v1::TCP, 80);
  AddSegment(e, "jobs/migrate", "db/pg", bulkhead::v1::TCP, 5432);
  AddSegment(e, "db/pg", "jobs/migrate", bulkhead::v1::TCP, 1, 65535);  // not "any"
  // Workload and peer.
  AddSegment(e, "world", "shop/web", bulkhead::v1::TCP, 443);
  AddSegment(e, "shop/web", "world", bulkhead::v1::TCP, 0, 65535);
  AddSegment(e, "host", "shop/web", bulkhead::v1::TCP, 10250);
  AddSegment(e, "shop/web", "private", bulkhead::v1::UDP, 53);
  AddSegment(e, "shop/web", "corp", bulkhead::v1::TCP, 8000, 8100);
  AddSegment(e, "shop/web", "lab", bulkhead::v1::TCP, 22);
  AddSegment(e, "shop/web", "tenth", bulkhead::v1::TCP, 9);
  AddSegment(e, "partner", "db/pg", bulkhead::v1::TCP, 5432);
  // Left out by the export: no address, not a known peer, ICMP.
  AddSegment(e, "shop/web", "hidden", bulkhead::v1::TCP, 1);
  AddSegment(e, "shop/web", "nowhere", bulkhead::v1::TCP, 2);
  AddSegment(e, "shop/web", "shop/gone", bulkhead::v1::TCP, 3);
  AddSegment(e, "shop/web", "db/pg", bulkhead::v1::ICMP, 8);
  // Between peers: no end at a workload, not any policy's.
  AddSegment(e, "partner", "corp", bulkhead::v1::TCP, 4);
  return e;
}

TEST(KubernetesImportTest, ExportsOfEveryKindOfPeerAndPortReadBack) {
  const ExportPolicyResponse varied = Varied();
  ExpectRoundTrip(varied);
  ExpectRoundTrip(varied, {PeerSelector::Kind::kNamespace, "shop"});
  ExpectRoundTrip(varied, {PeerSelector::Kind::kNamespace, "db"});
  ExpectRoundTrip(varied, {PeerSelector::Kind::kWorkload, "jobs/migrate"});
  ExpectRoundTrip(varied, {PeerSelector::Kind::kWorkload, "shop/legacy"});

  ExportPolicyResponse no_host = varied;  // host segments are left out then
  no_host.clear_host_addresses();
  ExpectRoundTrip(no_host);
  ExportPolicyResponse nothing;  // one workload, no segment: all denied
  AddWorkload(nothing, "shop/idle", {{"app", "idle"}});
  ExpectRoundTrip(nothing);
}

// Random exports: workloads whose labels are subsets of others', network
// sets inside private ranges and each other, random segments of every
// protocol and port shape.
ExportPolicyResponse RandomExport(std::mt19937& random) {
  auto pick = [&](std::size_t n) { return static_cast<int>(random() % n); };
  ExportPolicyResponse e;
  std::vector<std::string> peers = {"host", "private", "world"};
  for (const char* ns : {"a", "b"}) {
    int apps = 1 + pick(3);
    for (int i = 0; i < apps; ++i) {
      std::string app = absl::StrCat("app", i);
      std::map<std::string, std::string> labels = {{"app", app}, {"pod-template-hash", "h"}};
      AddWorkload(e, absl::StrCat(ns, "/", app), labels);
      peers.push_back(absl::StrCat(ns, "/", app));
      for (const char* track : {"canary", "beta"})
        if (pick(3) == 0) {
          labels["track"] = track;
          AddWorkload(e, absl::StrCat(ns, "/", app, "-", track), labels);
          peers.push_back(absl::StrCat(ns, "/", app, "-", track));
          labels.erase("track");
        }
    }
    if (pick(3) == 0) {
      AddWorkload(e, absl::StrCat(ns, "/bare"), {{"pod-template-hash", "h"}});
      peers.push_back(absl::StrCat(ns, "/bare"));
    }
  }
  const std::vector<std::string> cidrs = {"10.1.0.0/16",    "10.1.2.0/24",   "10.0.0.0/8",
                                          "203.0.113.0/24", "2001:db8::/32", "fd00::/8",
                                          "192.168.7.7/32"};
  for (int n = pick(4); n > 0; --n) {
    std::string name = absl::StrCat("net", n);
    AddNetwork(e, name, {cidrs[pick(cidrs.size())], cidrs[pick(cidrs.size())]});
    peers.push_back(name);
  }
  if (pick(2) == 0) e.add_host_addresses("192.168.7.7");
  if (pick(2) == 0) e.add_host_addresses("fd00::7");
  const Protocol protocols[] = {bulkhead::v1::TCP, bulkhead::v1::UDP, bulkhead::v1::SCTP,
                                bulkhead::v1::ICMP};
  std::set<std::tuple<std::string, std::string, int, int, int>> taken;
  for (int n = pick(40); n > 0; --n) {
    std::string from = peers[pick(peers.size())];
    std::string to = peers[pick(peers.size())];
    Protocol protocol = protocols[pick(4)];
    int port = 0, end = 0;
    switch (protocol == bulkhead::v1::ICMP ? 3 : pick(4)) {
      case 0:
      case 3:
        port = 1 + pick(protocol == bulkhead::v1::ICMP ? 20 : 30);
        break;
      case 1:
        port = 1 + pick(30);
        end = port + 1 + pick(20);
        break;
      case 2:
        end = 65535;
        break;
    }
    if (taken.emplace(from, to, protocol, port, end).second)
      AddSegment(e, from, to, protocol, port, end);
  }
  return e;
}

TEST(KubernetesImportTest, RandomExportsReadBack) {
  std::mt19937 random(2024);
  for (int round = 0; round < 200; ++round) {
    ExportPolicyResponse e = RandomExport(random);
    SCOPED_TRACE(absl::StrCat("round ", round, ": ", e.ShortDebugString()));
    ExpectRoundTrip(e);
    ExpectRoundTrip(e, {PeerSelector::Kind::kNamespace, "a"});
    if (HasFailure()) break;
  }
}

// A cluster for hand-written policies.
ExportPolicyResponse Cluster() {
  ExportPolicyResponse e;
  AddWorkload(e, "shop/web", {{"app", "web"}, {"tier", "front"}});
  AddWorkload(e, "shop/api", {{"app", "api"}, {"tier", "back"}});
  AddWorkload(e, "shop/db", {{"app", "db"}, {"tier", "back"}, {"critical", "yes"}});
  AddWorkload(e, "ops/monitor", {{"app", "monitor"}});
  AddNetwork(e, "corp", {"10.20.0.0/16"});
  e.add_host_addresses("192.168.1.5");
  return e;
}

// Writes the case for import_check.py (see the top of the file).
void WriteForEvaluator(const std::string& name, const std::string& policies,
                       const ExportPolicyResponse& cluster, const ParsedPolicy& parsed,
                       const std::string& scope = "") {
  const char* dir = std::getenv("BULKHEAD_IMPORT_OUT");
  if (dir == nullptr) return;
  std::filesystem::create_directories(dir);
  ExportPolicyResponse out = cluster;
  out.mutable_policy()->clear_segments();
  for (const auto& [s, line] : parsed.document.segments) *out.mutable_policy()->add_segments() = s;
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(out, &json).ok());
  std::ofstream(absl::StrCat(dir, "/", name, ".yaml")) << policies;
  std::ofstream(absl::StrCat(dir, "/", name, ".json")) << json;
  std::ofstream(absl::StrCat(dir, "/", name, ".scope")) << scope;
}

// A policy for `workload` of `ns` selected by app=<name>, both ways.
std::string Policy(const std::string& ns, const std::string& app, const std::string& spec) {
  return absl::StrCat("---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n",
                      "metadata: {name: ", app, ", namespace: ", ns, "}\n",
                      "spec:\n  podSelector: {matchLabels: {app: ", app, "}}\n",
                      "  policyTypes: [Ingress, Egress]\n", spec);
}

TEST(KubernetesImportTest, ARuleWithoutPortsIsEveryPortOfTcpUdpAndSctp) {
  const ExportPolicyResponse cluster = Cluster();
  std::string text =
      Policy("shop", "web", "  egress: [{to: [{podSelector: {matchLabels: {app: api}}}]}]\n") +
      Policy("shop", "api",
             "  ingress:\n"
             "    - from: [{podSelector: {matchLabels: {tier: front}}}]\n") +  // 17
      Policy("shop", "db", "") +
      Policy("ops", "monitor", "");
  ParsedPolicy parsed = Parse(text, CatalogOf(cluster));
  ASSERT_THAT(Problems(parsed), IsEmpty());
  EXPECT_THAT(Segments(parsed),
              ElementsAre("shop/web -> shop/api tcp/any", "shop/web -> shop/api udp/any",
                          "shop/web -> shop/api sctp/any"));
  // No rule names host: Kubernetes would allow this node anyway, the agent will not.
  EXPECT_THAT(parsed.warnings,
              ElementsAre(HasSubstr("nothing is allowed with host (this node): Kubernetes always "
                                    "allows traffic between a pod and its own node"),
                          HasSubstr("line 8: policy shop/web: spec.egress[0] has no ports: "
                                    "Kubernetes allows every protocol there"),
                          HasSubstr("line 17: policy shop/api: spec.ingress[0] has no ports")));
  WriteForEvaluator("no_ports", text, cluster, parsed);
}

TEST(KubernetesImportTest, NoPeersIsEveryWorkloadAndPeer) {
  const ExportPolicyResponse cluster = Cluster();
  // shop/web takes 443 from anyone, and calls anyone on 53 (an empty `to`
  // and a missing one are the same); shop/api takes 8080 from web alone.
  std::string text = Policy("shop", "web",
                            "  ingress: [{ports: [{port: 443}]}]\n"
                            "  egress: [{to: [], ports: [{port: 53, protocol: UDP}]}]\n") +
                     Policy("shop", "api",
                            "  ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], "
                            "ports: [{port: 8080}, {port: 53, protocol: UDP}]}]\n") +
                     Policy("shop", "db", "");
  ParsedPolicy parsed = Parse(text, CatalogOf(cluster));
  ASSERT_THAT(Problems(parsed), IsEmpty());
  EXPECT_THAT(
      Segments(parsed),
      ElementsAre(
          // ops/monitor is selected by nothing: web's rules alone decide.
          "corp -> shop/web tcp/443", "host -> shop/web tcp/443", "ops/monitor -> shop/web tcp/443",
          "private -> shop/web tcp/443",
          // web -> api needs api's ingress too: only udp/53 is in both.
          "shop/web -> corp udp/53", "shop/web -> host udp/53", "shop/web -> ops/monitor udp/53",
          "shop/web -> private udp/53", "shop/web -> shop/api udp/53", "shop/web -> world udp/53",
          "world -> shop/web tcp/443"));
  EXPECT_EQ(parsed.document.scope_workloads,
            (std::set<std::string>{"shop/api", "shop/db", "shop/web"}));
  EXPECT_THAT(parsed.warnings, IsEmpty());
  WriteForEvaluator("no_peers", text, cluster, parsed, "namespace:shop");
}

TEST(KubernetesImportTest, NamespaceSelectorsAndExpressionsSelectAsKubernetesDoes) {
  const ExportPolicyResponse cluster = Cluster();
  std::string text =
      // db takes 5432 from every back-tier pod without `critical`, in any namespace...
      Policy("shop", "db",
             "  ingress:\n"
             "    - from:\n"
             "        - namespaceSelector: {}\n"
             "          podSelector:\n"
             "            matchExpressions:\n"
             "              - {key: tier, operator: In, values: [back, middle]}\n"
             "              - {key: critical, operator: DoesNotExist}\n"
             "      ports: [{port: 5432}]\n"
             // ... and 9187 from every pod of ops, by the namespace's name.
             "    - from:\n"
             "        - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ops}}\n"
             "      ports: [{port: 9187, endPort: 9189}]\n") +
      // api calls every pod with a tier but not the front one.
      Policy("shop", "api",
             "  egress:\n"
             "    - to:\n"
             "        - podSelector:\n"
             "            matchExpressions:\n"
             "              - {key: tier, operator: Exists}\n"
             "              - {key: tier, operator: NotIn, values: [front]}\n"
             "      ports: [{port: 5432}, {port: 6000, protocol: SCTP}]\n") +
      Policy("shop", "web", "") +
      // monitor scrapes every namespace's pods named in a list.
      Policy("ops", "monitor",
             "  egress:\n"
             "    - to:\n"
             "        - namespaceSelector:\n"
             "            matchExpressions:\n"
             "              - {key: kubernetes.io/metadata.name, operator: In, values: [shop]}\n"
             "      ports: [{port: 9180, endPort: 9190}]\n");
  ParsedPolicy parsed = Parse(text, CatalogOf(cluster));
  ASSERT_THAT(Problems(parsed), IsEmpty());
  // api may call itself and db on tcp/5432 and sctp/6000, but neither takes
  // sctp/6000 and api takes nothing; monitor may call 9180-9190, db takes
  // 9187-9189 of it.
  EXPECT_THAT(Segments(parsed),
              ElementsAre("ops/monitor -> shop/db tcp/9187-9189", "shop/api -> shop/db tcp/5432"));
  WriteForEvaluator("selectors", text, cluster, parsed);
}

TEST(KubernetesImportTest, TwoSidesAllowWhatBothAllow) {
  const ExportPolicyResponse cluster = Cluster();
  std::string text =
      Policy(
          "shop", "web",
          "  egress:\n"
          "    - to: [{podSelector: {matchLabels: {app: api}}}]\n"
          "      ports: [{port: 8000, endPort: 9000}, {port: 80}, {port: 53, protocol: UDP}]\n") +
      Policy("shop", "api",
             "  ingress:\n"
             "    - from: [{podSelector: {matchLabels: {app: web}}}]\n"
             "      ports: [{port: 8500, endPort: 9500}, {port: 8080}, {port: 80}]\n"
             "    - from: [{podSelector: {}}]\n"
             "      ports: [{port: 9000}]\n") +
      Policy("shop", "db", "") + Policy("ops", "monitor", "");
  ParsedPolicy parsed = Parse(text, CatalogOf(cluster));
  ASSERT_THAT(Problems(parsed), IsEmpty());
  EXPECT_THAT(Segments(parsed),
              ElementsAre("shop/web -> shop/api tcp/80", "shop/web -> shop/api tcp/8080",
                          "shop/web -> shop/api tcp/8500-9000", "shop/web -> shop/api tcp/9000"));
  WriteForEvaluator("both_sides", text, cluster, parsed);
}

TEST(KubernetesImportTest, PoliciesCombineAndPolicyTypesDefaultAsKubernetesSays) {
  const ExportPolicyResponse cluster = Cluster();
  // Without policyTypes: Ingress, and Egress because there are egress
  // rules. A second policy isolates web for egress; a third adds to api's.
  std::string text =
      "apiVersion: v1\nkind: List\nitems:\n"
      "  - apiVersion: networking.k8s.io/v1\n"
      "    kind: NetworkPolicy\n"
      "    metadata: {name: deny-all, namespace: shop}\n"
      "    spec: {podSelector: {}, policyTypes: [Ingress, Egress]}\n"
      "  - apiVersion: networking.k8s.io/v1\n"
      "    kind: NetworkPolicy\n"
      "    metadata: {name: api, namespace: shop}\n"
      "    spec:\n"
      "      podSelector: {matchLabels: {app: api}}\n"
      "      ingress: [{from: [{podSelector: {matchLabels: {app: web}}}], ports: [{port: 80}]}]\n"
      "      egress: [{to: [{podSelector: {matchLabels: {app: db}}}], ports: [{port: 5432}]}]\n"
      "  - apiVersion: networking.k8s.io/v1\n"
      "    kind: NetworkPolicy\n"
      "    metadata: {name: web-out, namespace: shop}\n"
      "    spec:\n"
      "      podSelector: {matchLabels: {tier: front}}\n"
      "      policyTypes: [Egress]\n"
      "      egress: [{to: [{podSelector: {matchLabels: {app: api}}}], ports: [{port: 80}]}]\n"
      "  - apiVersion: networking.k8s.io/v1\n"
      "    kind: NetworkPolicy\n"
      "    metadata: {name: db-in, namespace: shop}\n"
      "    spec:\n"
      "      podSelector: {matchLabels: {app: db}}\n"
      "      ingress: [{from: [{podSelector: {matchLabels: {tier: back}}}], ports: [{port: "
      "5432}]}]\n";
  ParsedPolicy parsed = Parse(text, CatalogOf(cluster));
  ASSERT_THAT(Problems(parsed), IsEmpty());
  EXPECT_THAT(Segments(parsed),
              ElementsAre("shop/api -> shop/db tcp/5432", "shop/web -> shop/api tcp/80"));
  EXPECT_EQ(parsed.document.scope_workloads,
            (std::set<std::string>{"shop/api", "shop/db", "shop/web"}));
  WriteForEvaluator("combined", text, cluster, parsed, "namespace:shop");
}

TEST(KubernetesImportTest, WhatKubectlPrintsIsRead) {
  const ExportPolicyResponse cluster = Cluster();
  // `kubectl get networkpolicy -o yaml`: ObjectMeta fields of every kind,
  // the List's metadata, kubectl's annotation, quoted strings, block style.
  std::string text =
      "apiVersion: v1\n"
      "items:\n"
      "- apiVersion: networking.k8s.io/v1\n"
      "  kind: NetworkPolicy\n"
      "  metadata:\n"
      "    annotations:\n"
      "      kubectl.kubernetes.io/last-applied-configuration: |\n"
      "        {\"apiVersion\":\"networking.k8s.io/v1\"}\n"
      "    generation: 1\n"
      "    labels: {team: ops}\n"
      "    managedFields: [{manager: kubectl, operation: Update}]\n"
      "    name: all\n"
      "    namespace: ops\n"
      "    resourceVersion: \"4711\"\n"
      "    uid: 0e3c1f5a-6b1d-4c2e-9a7f-2d8b4e6f1a3c\n"
      "  spec:\n"
      "    podSelector: {}\n"
      "    policyTypes: [Ingress, Egress]\n"
      "    egress:\n"
      "    - ports:\n"
      "      - {port: 443, protocol: TCP}\n"
      "      to:\n"
      "      - ipBlock: {cidr: 0.0.0.0/0, except: [192.168.0.0/16, 172.16.0.0/12, "
      "10.0.0.0/8]}\n"
      "      - ipBlock: {cidr: \"::/0\", except: [\"fc00::/7\"]}\n"
      "      - ipBlock: {cidr: 10.20.0.0/16}\n"
      "kind: List\n"
      "metadata: {resourceVersion: \"\"}\n";
  ParsedPolicy parsed = Parse(text, CatalogOf(cluster));
  ASSERT_THAT(Problems(parsed), IsEmpty());
  EXPECT_THAT(Segments(parsed),
              ElementsAre("ops/monitor -> corp tcp/443", "ops/monitor -> world tcp/443"));
  EXPECT_EQ(parsed.document.scope_workloads, (std::set<std::string>{"ops/monitor"}));
  WriteForEvaluator("kubectl", text, cluster, parsed, "namespace:ops");

  // The same as a typed list.
  std::string typed = text;
  typed.replace(typed.find("apiVersion: v1\n"), 15, "apiVersion: networking.k8s.io/v1\n");
  typed.replace(typed.find("kind: List\n"), 11, "kind: NetworkPolicyList\n");
  ParsedPolicy again = Parse(typed, CatalogOf(cluster));
  ASSERT_THAT(Problems(again), IsEmpty());
  EXPECT_EQ(Segments(again), Segments(parsed));
}

TEST(KubernetesImportTest, WarningsSayWhatSelectsNothingHere) {
  const ExportPolicyResponse cluster = Cluster();
  std::string text = Policy("shop", "web",
                            "  egress:\n"
                            "    - to: [{podSelector: {matchLabels: {app: gone}}}]\n"  // 9
                            "      ports: [{port: 80}]\n"
                            "    - to: [{namespaceSelector: {matchLabels: "
                            "{kubernetes.io/metadata.name: nowhere}}}]\n"  // 11
                            "      ports: [{port: 80}]\n") +
                     Policy("shop", "api", "") + Policy("shop", "db", "") +
                     Policy("blog", "wordpress", "");  // 28
  ParsedPolicy parsed = Parse(text, CatalogOf(cluster));
  ASSERT_THAT(Problems(parsed), IsEmpty());
  EXPECT_THAT(Segments(parsed), IsEmpty());
  EXPECT_THAT(parsed.warnings,
              ElementsAre(HasSubstr("nothing is allowed with host"),
                          "line 9: policy shop/web: spec.egress[0].to[0] selects no workload of "
                          "this agent",
                          "line 11: policy shop/web: spec.egress[1].to[0] selects no workload of "
                          "this agent",
                          "line 28: policy blog/wordpress selects no workload of this agent: it "
                          "decides nothing here"));
}

// Each problem on its own, with the line it is at: the policy's text after a
// header of 5 lines (apiVersion, kind, metadata, spec, podSelector).
struct ProblemCase {
  const char* what;
  std::string text;
  const char* problem;  // "line N: ..."
};

std::string Header(const std::string& metadata = "{name: web, namespace: shop}") {
  return absl::StrCat("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: ", metadata,
                      "\nspec:\n  podSelector: {matchLabels: {app: web}}\n");
}
const std::string kBoth = "  policyTypes: [Ingress, Egress]\n";

TEST(KubernetesImportTest, EachProblemIsReportedWithItsLine) {
  const ProblemCase cases[] = {
      {"unknown field", Header() + kBoth + "  ingres: []\n",
       "line 7: policy shop/web: spec: unknown field \"ingres\" (expected podSelector, "
       "policyTypes, ingress, egress)"},
      {"unknown field in a port", Header() + kBoth + "  egress: [{ports: [{prot: 80}]}]\n",
       "line 7: policy shop/web: spec.egress[0].ports[0]: unknown field \"prot\""},
      {"unknown field in metadata", Header("{name: web, namespace: shop, nmae: x}") + kBoth,
       "line 3: policy shop/web: metadata: unknown field \"nmae\" (not a field of ObjectMeta)"},
      {"field given twice", Header() + kBoth + "  policyTypes: [Ingress, Egress]\n",
       "line 7: policy shop/web: spec.policyTypes: given twice"},
      {"no namespace", Header("{name: web}") + kBoth,
       "line 3: metadata.namespace: required: kubectl would use its context's namespace"},
      {"no name", Header("{namespace: shop}") + kBoth, "line 3: metadata.name: required"},
      {"the same policy twice", Header() + kBoth + "---\n" + Header() + kBoth,
       "line 8: policy shop/web is given twice (first at line 1): Kubernetes would keep only "
       "one"},
      {"another kind", Header() + kBoth + "---\napiVersion: v1\nkind: Service\n",
       "line 8: kind \"Service\" of \"v1\" is not a NetworkPolicy"},
      {"no podSelector",
       "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
       "metadata: {name: web, namespace: shop}\nspec:\n" +
           kBoth,
       "line 5: policy shop/web: spec.podSelector: required ({} selects every pod"},
      {"policy type", Header() + "  policyTypes: [Ingress, Egres]\n",
       "line 6: policy shop/web: spec.policyTypes[1]: \"Egres\" is not Ingress or Egress"},
      {"rules of a direction policyTypes leaves out",
       Header() + "  policyTypes: [Ingress]\n  egress: [{ports: [{port: 80}]}]\n",
       "line 7: policy shop/web: spec.egress: policyTypes does not list Egress, so Kubernetes "
       "ignores these rules"},
      {"ingress only", Header() + "  policyTypes: [Ingress]\n",
       "line 6: shop/web is selected for Ingress only (by policy shop/web): Kubernetes then "
       "allows all its egress, which segments cannot say; add Egress to policyTypes"},
      {"ingress only by default", Header() + "  ingress: []\n",
       "line 5: shop/web is selected for Ingress only (by policy shop/web): Kubernetes then "
       "allows all its egress, which segments cannot say; add Egress to policyTypes (without "
       "policyTypes, Kubernetes takes Egress only when there are egress rules)"},
      {"egress only", Header() + "  policyTypes: [Egress]\n",
       "line 6: shop/web is selected for Egress only (by policy shop/web): Kubernetes then "
       "allows all its ingress"},
      {"namespaceSelector on another label",
       Header() + kBoth + "  ingress: [{from: [{namespaceSelector: {matchLabels: {team: a}}}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].from[0].namespaceSelector: selects on the label "
       "\"team\": the agent knows a namespace by its name alone (kubernetes.io/metadata.name)"},
      {"ipBlock of no peer",
       Header() + kBoth + "  egress: [{to: [{ipBlock: {cidr: 8.8.8.0/24}}]}]\n",
       "line 7: policy shop/web: spec.egress[0].to[0].ipBlock: 8.8.8.0/24 is no block of host, "
       "private, world or a network set"},
      {"ipBlock with other exceptions",
       Header() + kBoth +
           "  egress: [{to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]}]\n",
       "line 7: policy shop/web: spec.egress[0].to[0].ipBlock: 0.0.0.0/0 except [10.0.0.0/8] is "
       "no block of host, private, world or a network set (world's block is 0.0.0.0/0 except "
       "[10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16])"},
      {"some of a peer's blocks",
       Header() + kBoth +
           "  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.20.0.0/16]}}]}]\n",
       "line 7: policy shop/web: spec.egress[0].to: holds some of private's ipBlocks but not "
       "172.16.0.0/12, 192.168.0.0/16 except [192.168.1.5/32], fc00::/7: a segment allows all of "
       "private's addresses"},
      {"ipBlock with a selector",
       Header() + kBoth + "  egress: [{to: [{ipBlock: {cidr: 10.20.0.0/16}, podSelector: {}}]}]\n",
       "line 7: policy shop/web: spec.egress[0].to[0]: ipBlock cannot be given with podSelector"},
      {"an address for a CIDR",
       Header() + kBoth + "  egress: [{to: [{ipBlock: {cidr: 192.168.1.5}}]}]\n",
       "line 7: policy shop/web: spec.egress[0].to[0].ipBlock.cidr: \"192.168.1.5\" is not a "
       "CIDR (no /length)"},
      {"an empty peer", Header() + kBoth + "  egress: [{to: [{}]}]\n",
       "line 7: policy shop/web: spec.egress[0].to[0]: a peer needs podSelector, "
       "namespaceSelector or ipBlock"},
      {"named port", Header() + kBoth + "  ingress: [{ports: [{port: http}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].ports[0].port: \"http\" is a named port, and the "
       "agent does not know the pods' container ports: write its number"},
      {"quoted port", Header() + kBoth + "  ingress: [{ports: [{port: \"80\"}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].ports[0].port: \"80\" is quoted, so Kubernetes "
       "takes it for a port name: write 80 without quotes"},
      {"port 0", Header() + kBoth + "  ingress: [{ports: [{port: 0}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].ports[0].port: \"0\" is not a whole number from 1 "
       "to 65535"},
      {"port too high", Header() + kBoth + "  ingress: [{ports: [{port: 70000}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].ports[0].port: \"70000\" is not a whole number"},
      {"endPort below port", Header() + kBoth + "  ingress: [{ports: [{port: 90, endPort: 85}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].ports[0].endPort: 85 is below port 90"},
      {"endPort without port", Header() + kBoth + "  ingress: [{ports: [{endPort: 85}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].ports[0].endPort: needs a port"},
      {"protocol", Header() + kBoth + "  ingress: [{ports: [{protocol: tcp, port: 80}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].ports[0].protocol: \"tcp\" is not a "
       "NetworkPolicy protocol (TCP, UDP, SCTP)"},
      {"operator",
       Header() + kBoth +
           "  ingress: [{from: [{podSelector: {matchExpressions: [{key: a, operator: Gt, "
           "values: ['1']}]}}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].from[0].podSelector.matchExpressions[0].operator: "
       "\"Gt\" is not an operator of a label selector"},
      {"In without values",
       Header() + kBoth +
           "  ingress: [{from: [{podSelector: {matchExpressions: [{key: a, operator: In}]}}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].from[0].podSelector.matchExpressions[0].values: "
       "In needs values"},
      {"Exists with values",
       Header() + kBoth +
           "  ingress: [{from: [{podSelector: {matchExpressions: [{key: a, operator: Exists, "
           "values: [b]}]}}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].from[0].podSelector.matchExpressions[0].values: "
       "Exists takes no values"},
      {"a number for a label",
       Header() + kBoth + "  ingress: [{from: [{podSelector: {matchLabels: {version: 1.0}}}]}]\n",
       "line 7: policy shop/web: spec.ingress[0].from[0].podSelector.matchLabels.version: 1.0 is "
       "a number to YAML, not a string: quote it"},
      {"a boolean for a label", Header("{name: web, namespace: on}") + kBoth,
       "line 3: metadata.namespace: on is a boolean to YAML, not a string: quote it"},
      {"nothing selected here", Header().replace(Header().find("app: web"), 8, "app: gone") + kBoth,
       "no policy selects a workload of this agent (it has 4): the file would decide nothing"},
      {"no policy", "apiVersion: v1\nkind: List\nitems: []\n", "the file holds no NetworkPolicy"},
      {"a List's item",
       "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n",
       "line 4: kind \"ConfigMap\" of \"v1\" is not a NetworkPolicy"},
      {"not a mapping", "apiVersion: v1\nkind: List\nitems: [3]\n",
       "line 3: expected a NetworkPolicy (a mapping)"},
  };
  const PeerCatalog catalog = CatalogOf(Cluster());
  for (const ProblemCase& c : cases) {
    ParsedPolicy parsed = Parse(c.text, catalog);
    EXPECT_THAT(Problems(parsed), ElementsAre(HasSubstr(c.problem))) << c.what << "\n" << c.text;
  }
}

TEST(KubernetesImportTest, EveryProblemOfAFileIsReported) {
  std::string api_header = Header("{name: api, namespace: shop}");
  api_header.replace(api_header.find("app: web"), 8, "app: api");
  std::string text = Header() + kBoth +                               // 1-6
                     "  ingress:\n"                                   // 7
                     "    - ports: [{port: http}]\n"                  // 8
                     "    - from: [{ipBlock: {cidr: 1.2.3.0/24}}]\n"  // 9
                     "---\n"                                          // 10
                     + api_header +                                   // 11-15
                     "  policyTypes: [Egress]\n"                      // 16
                     "  egress: [{ports: [{port: 0}]}]\n";            // 17
  ParsedPolicy parsed = Parse(text, CatalogOf(Cluster()));
  EXPECT_THAT(Problems(parsed),
              ElementsAre(HasSubstr("line 8: policy shop/web: spec.ingress[0].ports[0].port"),
                          HasSubstr("line 9: policy shop/web: spec.ingress[1].from[0].ipBlock"),
                          HasSubstr("line 16: shop/api is selected for Egress only"),
                          HasSubstr("line 17: policy shop/api: spec.egress[0].ports[0].port")));
}

TEST(KubernetesImportTest, TheCatalogsAddressesMustParse) {
  PeerCatalog catalog = CatalogOf(Cluster());
  catalog.networks["bad"] = {"10.1.0.0/8"};
  ParsedPolicy parsed = Parse(Header() + kBoth, catalog);
  EXPECT_THAT(Problems(parsed),
              ElementsAre(HasSubstr("the agent's peers have no address blocks, so no ipBlock can "
                                    "be read: network set \"bad\"")));
}

}  // namespace
}  // namespace bulkhead
