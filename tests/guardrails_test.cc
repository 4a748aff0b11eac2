// Guardrails: what the file accepts, and what a set of guardrails compiles
// to for the datapath's longest-prefix map.
#include "controlplane/guardrails.h"

#include <netinet/in.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

using ::testing::HasSubstr;

IdentityTable Cluster() {
  return *IdentityTable::Build(
      Inventory{.workloads = {{.ns = "tenant-a", .name = "web"},
                              {.ns = "tenant-a", .name = "db"},
                              {.ns = "tenant-b", .name = "web"},
                              {.ns = "kube-system", .name = "coredns"}},
                .networks = {{.name = "payments-api", .cidrs = {"203.0.113.0/24"}}}});
}

std::string Error(const std::string& yaml) {
  return std::string(ParseGuardrails(yaml).status().message());
}

TEST(GuardrailsTest, ParsesTheDocumentedFormat) {
  auto guardrails = ParseGuardrails(R"(
guardrails:
  - name: tenants-apart
    from: {namespace: tenant-a}
    to: {namespace: tenant-b}
  - name: kube-system-dns-only
    from: any
    to: {namespace: kube-system}
    except: [udp/53, tcp/53, tcp/8000-8100, icmp]
  - name: no-world
    from: {workload: tenant-a/db}
    to: {peer: world}
)");
  ASSERT_TRUE(guardrails.ok()) << guardrails.status();
  ASSERT_EQ(guardrails->size(), 3u);
  EXPECT_EQ((*guardrails)[0].from.ToString(), "namespace tenant-a");
  EXPECT_EQ((*guardrails)[1].from.ToString(), "any");
  std::vector<std::string> except;
  for (const PortException& e : (*guardrails)[1].except) except.push_back(e.ToString());
  EXPECT_EQ(except, (std::vector<std::string>{"udp/53", "tcp/53", "tcp/8000-8100", "icmp"}));
  EXPECT_EQ((*guardrails)[2].to.ToString(), "peer world");
}

TEST(GuardrailsTest, ErrorsNameTheEntryAndField) {
  EXPECT_THAT(Error("guardrails:\n  - {from: any, to: any}\n"),
              HasSubstr("guardrails[0]: \"name\" is required"));
  EXPECT_THAT(Error("guardrails:\n  - {name: a, to: any}\n"),
              HasSubstr("guardrails[0]: \"from\": is required"));
  EXPECT_THAT(Error("guardrails:\n  - {name: a, from: all, to: any}\n"),
              HasSubstr("\"all\" is not a selector"));
  EXPECT_THAT(Error("guardrails:\n  - {name: a, from: {namespaces: x}, to: any}\n"),
              HasSubstr("unknown key \"namespaces\" (expected namespace, workload, peer)"));
  EXPECT_THAT(Error("guardrails:\n  - {name: a, from: {workload: x}, to: any}\n"),
              HasSubstr("workload \"x\" is not namespace/name"));
  EXPECT_THAT(Error("guardrails:\n  - {name: a, from: any, to: any, except: [dns]}\n"),
              HasSubstr("\"dns\" is not a protocol"));
  EXPECT_THAT(Error("guardrails:\n  - {name: a, from: any, to: any, except: [tcp/90-80]}\n"),
              HasSubstr("is not proto/port or proto/first-last"));
  EXPECT_THAT(Error("guardrails:\n  - {name: a, from: any, to: any, exept: []}\n"),
              HasSubstr("unknown key \"exept\""));
  EXPECT_THAT(Error("guardrails:\n  - {name: a, from: any, to: any}\n  - {name: a, from: any, "
                    "to: any}\n"),
              HasSubstr("guardrails[1]: guardrail \"a\" is listed twice"));
  EXPECT_THAT(Error("rules: []\n"), HasSubstr("expected one top-level key, \"guardrails\""));
  // Names reach flow records and protobuf strings: UTF-8 only, as the inventory's.
  EXPECT_THAT(Error("guardrails:\n  - {name: \"a\xff\", from: any, to: any}\n"),
              HasSubstr("guardrails[0]: \"name\" is not UTF-8"));
  EXPECT_THAT(Error("guardrails:\n  - {name: a, from: {namespace: \"b\xc0\xaf\"}, to: any}\n"),
              HasSubstr("\"from\": \"namespace\" is not UTF-8"));
  EXPECT_TRUE(ParseGuardrails("guardrails: []\n").ok());
}

TEST(GuardrailsTest, ANamespaceGuardrailDeniesEveryPairWhateverTheProtocol) {
  IdentityTable ids = Cluster();
  auto guardrails = ParseGuardrails(
      "guardrails:\n  - {name: tenants-apart, from: {namespace: tenant-a}, to: {namespace: "
      "tenant-b}}\n");
  ASSERT_TRUE(guardrails.ok());
  CompiledGuardrails compiled = CompileGuardrails(*guardrails, ids);
  ASSERT_EQ(compiled.entries.size(), 2u);  // a/web and a/db -> b/web
  for (const char* from : {"tenant-a/web", "tenant-a/db"}) {
    auto key = AnyProtocolKey(*ids.IdentityOf(from), *ids.IdentityOf("tenant-b/web"));
    ASSERT_TRUE(compiled.entries.contains(key)) << from;
    EXPECT_EQ(compiled.entries.at(key).action, BH_GUARDRAIL_DENY);
    EXPECT_EQ(compiled.names.at(compiled.entries.at(key).guardrail_id), "tenants-apart");
  }
}

TEST(GuardrailsTest, ExceptionsAreCarvedOutAndOnlyWhereEveryGuardrailMakesThem) {
  IdentityTable ids = Cluster();
  auto guardrails = ParseGuardrails(R"(
guardrails:
  - {name: dns-only, from: any, to: {namespace: kube-system}, except: [udp/53, tcp/53]}
  - {name: a-alone, from: {namespace: tenant-a}, to: any, except: [udp/53]}
)");
  ASSERT_TRUE(guardrails.ok());
  CompiledGuardrails compiled = CompileGuardrails(*guardrails, ids);
  std::uint32_t coredns = *ids.IdentityOf("kube-system/coredns");
  std::uint32_t b_web = *ids.IdentityOf("tenant-b/web");
  std::uint32_t a_web = *ids.IdentityOf("tenant-a/web");
  auto action = [&](std::uint32_t from, std::uint32_t to, std::uint8_t proto,
                    std::uint16_t port) -> int {
    auto keys = PortRangeKeys(from, to, proto, port, port);
    auto it = compiled.entries.find(keys[0]);
    return it == compiled.entries.end() ? 0 : static_cast<int>(it->second.action);
  };
  // Any peer (world, the node, other tenants) -> coredns: DNS excepted.
  for (std::uint32_t from : {b_web, static_cast<std::uint32_t>(BH_IDENTITY_WORLD),
                             static_cast<std::uint32_t>(BH_IDENTITY_HOST)}) {
    EXPECT_TRUE(compiled.entries.contains(AnyProtocolKey(from, coredns)));
    EXPECT_EQ(action(from, coredns, IPPROTO_UDP, 53), BH_GUARDRAIL_EXCEPT);
    EXPECT_EQ(action(from, coredns, IPPROTO_TCP, 53), BH_GUARDRAIL_EXCEPT);
  }
  // tenant-a -> coredns is denied by both: only what both except (udp/53).
  EXPECT_EQ(action(a_web, coredns, IPPROTO_UDP, 53), BH_GUARDRAIL_EXCEPT);
  EXPECT_EQ(action(a_web, coredns, IPPROTO_TCP, 53), 0);
  EXPECT_TRUE(compiled.entries.contains(AnyProtocolKey(a_web, coredns)));
  // tenant-a reaches nothing else, payments-api included; tenant-b is free.
  EXPECT_TRUE(compiled.entries.contains(AnyProtocolKey(a_web, *ids.IdentityOf("payments-api"))));
  EXPECT_FALSE(compiled.entries.contains(AnyProtocolKey(b_web, a_web)));
}

TEST(GuardrailsTest, OverlappingExceptionsIntersectByPortRange) {
  IdentityTable ids = Cluster();
  auto guardrails = ParseGuardrails(R"(
guardrails:
  - {name: g1, from: {namespace: tenant-a}, to: {namespace: kube-system}, except: [tcp]}
  - {name: g2, from: {namespace: tenant-a}, to: {namespace: kube-system}, except: [tcp/50-60, udp/53]}
)");
  ASSERT_TRUE(guardrails.ok());
  CompiledGuardrails compiled = CompileGuardrails(*guardrails, ids);
  std::uint32_t a = *ids.IdentityOf("tenant-a/web");
  std::uint32_t dns = *ids.IdentityOf("kube-system/coredns");
  std::size_t excepted = 0;
  for (const auto& [key, value] : compiled.entries)
    if (value.action == BH_GUARDRAIL_EXCEPT) {
      EXPECT_EQ(key.proto, IPPROTO_TCP) << DescribeKey(key);  // udp/53: only g2 excepts it
      ++excepted;
    }
  // tcp/50-60 (50-51, 52-55, 56-59, 60) for tenant-a's two workloads.
  EXPECT_EQ(excepted, 8u);
  EXPECT_TRUE(compiled.entries.contains(PortRangeKeys(a, dns, IPPROTO_TCP, 52, 55)[0]));
}

TEST(GuardrailsTest, AGuardrailKeepsItsIdAcrossReloadsAndIdsAreNeverReused) {
  IdentityTable ids = Cluster();
  GuardrailIds given;
  auto first = ParseGuardrails(
      "guardrails:\n  - {name: m, from: {namespace: tenant-a}, to: any}\n  - {name: z, from: any, "
      "to: {namespace: tenant-b}}\n");
  ASSERT_TRUE(first.ok());
  CompiledGuardrails one = CompileGuardrails(*first, ids, &given);
  EXPECT_EQ(one.names, (std::map<std::uint32_t, std::string>{{1, "m"}, {2, "z"}}));
  // "a" sorts first and "m" is gone: z keeps 2, a takes 3 (1 stays m's).
  auto second = ParseGuardrails(
      "guardrails:\n  - {name: a, from: {namespace: tenant-a}, to: any}\n  - {name: z, from: any, "
      "to: {namespace: tenant-b}}\n");
  ASSERT_TRUE(second.ok());
  CompiledGuardrails two = CompileGuardrails(*second, ids, &given);
  EXPECT_EQ(two.names, (std::map<std::uint32_t, std::string>{{2, "z"}, {3, "a"}}));
  for (const auto& [key, value] : two.entries) EXPECT_NE(value.guardrail_id, 1u);
}

TEST(GuardrailsTest, SelectorsNamingNothingCompileToNothing) {
  auto guardrails = ParseGuardrails(
      "guardrails:\n  - {name: x, from: {namespace: nobody}, to: any}\n  - {name: y, from: "
      "{peer: no-such-set}, to: any}\n");
  ASSERT_TRUE(guardrails.ok());
  CompiledGuardrails compiled = CompileGuardrails(*guardrails, Cluster());
  EXPECT_TRUE(compiled.entries.empty());
  EXPECT_EQ(compiled.names.size(), 2u);
  ASSERT_EQ(compiled.warnings.size(), 2u);
  EXPECT_EQ(compiled.warnings[0],
            "guardrail x: \"from\" (namespace nobody) selects nothing now, so it denies nothing");
}

}  // namespace
}  // namespace bulkhead
