// Reading the inventory: what is accepted, and that errors say where.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <tuple>

#include "absl/strings/str_cat.h"
#include "controlplane/identity_table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

using ::testing::HasSubstr;

TEST(InventoryTest, ParsesTheDocumentedFormat) {
  auto inventory = ParseInventory(R"(
workloads:
  - namespace: shop
    name: frontend
    labels: {app: frontend}
    addresses: [10.244.1.10]
  - namespace: shop
    name: db
    addresses: [10.244.1.30, 10.244.1.31]
    mode: enforce
networks:
  - name: payments-api
    cidrs: [203.0.113.0/24, "2001:db8:77::/48", 198.51.100.7]
)");
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  const std::vector<Workload>& workloads = inventory->workloads;
  ASSERT_EQ(workloads.size(), 2u);
  EXPECT_EQ(workloads[0].id(), "shop/frontend");
  EXPECT_EQ(workloads[0].labels.at("app"), "frontend");
  EXPECT_FALSE(workloads[0].mode.has_value());
  EXPECT_EQ(workloads[1].addresses.size(), 2u);
  EXPECT_EQ(workloads[1].mode, BH_MODE_ENFORCE);
  ASSERT_EQ(inventory->networks.size(), 1u);
  EXPECT_EQ(inventory->networks[0].name, "payments-api");
  EXPECT_EQ(inventory->networks[0].cidrs.size(), 3u);
}

TEST(InventoryTest, NetworkSetErrorsNameTheEntryAndField) {
  auto error = [](absl::string_view networks) {
    return std::string(
        ParseInventory(absl::StrCat("workloads: []\nnetworks:\n", networks)).status().message());
  };
  EXPECT_THAT(error("  - {cidrs: [10.0.0.0/8]}\n"), HasSubstr("networks[0]: \"name\" is required"));
  EXPECT_THAT(error("  - {name: a}\n"), HasSubstr("networks[0]: \"cidrs\" is required"));
  EXPECT_THAT(error("  - {name: a, cidrs: []}\n"), HasSubstr("\"cidrs\" is required"));
  EXPECT_THAT(error("  - {name: a, cidrs: [10.0.0.0/8], cidr: x}\n"),
              HasSubstr("unknown key \"cidr\" (expected name, cidrs)"));
  EXPECT_THAT(error("  - {name: a, cidrs: [10.1.0.0/8]}\n"),
              HasSubstr("bits are set past the length (the network is 10.0.0.0/8)"));
  EXPECT_THAT(error("  - {name: a, cidrs: [10.0.0.0/33]}\n"), HasSubstr("above 32"));
  EXPECT_THAT(error("  - {name: a, cidrs: [\"10.0.0.0/\"]}\n"), HasSubstr("not a number"));
  EXPECT_THAT(error("  - {name: a, cidrs: [\"::/0\"]}\n"), HasSubstr("IPv4-mapped"));
  EXPECT_THAT(error("  - {name: a, cidrs: [example.com]}\n"), HasSubstr("not a CIDR prefix"));
  EXPECT_THAT(error("  - {name: world, cidrs: [10.0.0.0/8]}\n"), HasSubstr("reserved"));
  EXPECT_THAT(error("  - {name: a/b, cidrs: [10.0.0.0/8]}\n"), HasSubstr("cannot contain '/'"));
  EXPECT_THAT(error("  - {name: \"a\\x01\", cidrs: [10.0.0.0/8]}\n"),
              HasSubstr("control character"));
  EXPECT_THAT(
      std::string(ParseInventory("workloads: []\nnetwork: []\n").status().message()),
      HasSubstr("unknown top-level key \"network\" (expected workloads, networks, services)"));
}

TEST(IdentityTableTest, NetworkSetsAreNamedPeersWithNumbersOfTheirOwn) {
  auto table = IdentityTable::Build(Inventory{
      .workloads = {{.ns = "shop", .name = "api", .addresses = {"10.244.1.20"}}},
      .networks = {{.name = "payments-api", .cidrs = {"203.0.113.0/24", "2001:db8:77::/48"}},
                   {.name = "corp", .cidrs = {"10.0.0.0/8"}}}});
  ASSERT_TRUE(table.ok()) << table.status();
  auto payments = table->IdentityOf("payments-api");
  ASSERT_TRUE(payments.has_value());
  EXPECT_GE(*payments, static_cast<std::uint32_t>(BH_IDENTITY_FIRST_NETWORK));
  EXPECT_TRUE(bh_is_workload_identity(*table->IdentityOf("shop/api")));
  EXPECT_FALSE(bh_is_workload_identity(*payments));
  EXPECT_EQ(table->NameOf(*payments), "payments-api");
  EXPECT_EQ(table->prefixes().at(*ParsePrefix("2001:db8:77::/48")), *payments);
  EXPECT_EQ(table->prefixes().size(), 3u);
  EXPECT_EQ(table->IdentityOf("world"), BH_IDENTITY_WORLD);
  EXPECT_EQ(table->IdentityOf("private"), BH_IDENTITY_PRIVATE);
  EXPECT_EQ(table->NameOf(BH_IDENTITY_PRIVATE), "private");
  // Kept across a rebuild that adds a set sorting first.
  auto again = IdentityTable::Build(
      Inventory{.networks = {{.name = "a-first", .cidrs = {"192.0.2.0/24"}},
                             {.name = "payments-api", .cidrs = {"203.0.113.0/24"}}}},
      table->assignments(), table->next_free());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->IdentityOf("payments-api"), payments);
  EXPECT_GT(*again->IdentityOf("a-first"), *table->IdentityOf("payments-api"));
}

constexpr char kShopWithServices[] = R"(
workloads:
  - {namespace: shop, name: frontend, addresses: [10.244.1.10]}
  - {namespace: shop, name: api, addresses: [10.244.1.20, "fd00:244::20"]}
services:
  - namespace: shop
    name: api
    workload: shop/api
    clusterIPs: [10.96.0.10, "fd00:96::10"]
    ports:
      - {port: 80, targetPort: 8080, nodePort: 30080}
      - {port: 53, protocol: UDP}
)";

TEST(IdentityTableTest, AServiceLeadsToItsWorkloadsTargetPort) {
  auto inventory = ParseInventory(kShopWithServices);
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  ASSERT_EQ(inventory->services.size(), 1u);
  const Service& parsed = inventory->services[0];
  EXPECT_EQ(parsed.id(), "shop/api");
  ASSERT_EQ(parsed.ports.size(), 2u);
  EXPECT_EQ(parsed.ports[0].proto, IPPROTO_TCP) << "TCP by default";
  EXPECT_EQ(parsed.ports[1].target_port, 53) << "targetPort is the port by default";
  auto table = IdentityTable::Build(*std::move(inventory));
  ASSERT_TRUE(table.ok()) << table.status();
  const std::uint32_t api = *table->IdentityOf("shop/api");

  const bh_addr node = *ParseAddress("10.244.0.1");
  ServiceEntries entries = table->ServiceEntriesFor({node});
  // 2 ClusterIPs x 2 ports, and the NodePort on the node's one address.
  ASSERT_EQ(entries.size(), 5u);
  for (auto [address, proto, port, target] : {std::tuple{"10.96.0.10", IPPROTO_TCP, 80, 8080},
                                              {"fd00:96::10", IPPROTO_TCP, 80, 8080},
                                              {"10.96.0.10", IPPROTO_UDP, 53, 53},
                                              {"10.244.0.1", IPPROTO_TCP, 30080, 8080}}) {
    auto it = entries.find(ServiceKey(*ParseAddress(address), proto, port));
    ASSERT_NE(it, entries.end()) << address << " " << port;
    EXPECT_EQ(it->second.identity, api);
    EXPECT_EQ(ntohs(it->second.target_port_be), target);
    auto at = table->ServiceAt(*ParseAddress(address), proto, port);
    ASSERT_TRUE(at.has_value()) << address << " " << port;
    EXPECT_EQ(at->service->id(), "shop/api");
    EXPECT_EQ(at->target_port, target);
  }
  EXPECT_FALSE(table->ServiceAt(*ParseAddress("10.96.0.10"), IPPROTO_UDP, 80).has_value());
  EXPECT_FALSE(table->ServiceAt(*ParseAddress("10.96.0.11"), IPPROTO_TCP, 80).has_value());
}

TEST(IdentityTableTest, ServiceErrorsNameTheServiceAndField) {
  auto parse_error = [](absl::string_view services) {
    return std::string(
        ParseInventory(absl::StrCat("workloads: []\nservices:\n", services)).status().message());
  };
  EXPECT_THAT(
      parse_error("  - {name: a, workload: x/y, clusterIPs: [10.96.0.1], ports: [{port: 80}]}\n"),
      HasSubstr("services[0]: \"namespace\" is required"));
  EXPECT_THAT(parse_error("  - {namespace: x, name: a, workload: x/y, clusterIPs: [10.96.0.1]}\n"),
              HasSubstr("\"ports\" is required"));
  EXPECT_THAT(parse_error("  - {namespace: x, name: a, workload: y, clusterIPs: [10.96.0.1], "
                          "ports: [{port: 80}]}\n"),
              HasSubstr("\"workload\": \"y\" is not namespace/name"));
  EXPECT_THAT(parse_error("  - {namespace: x, name: a, workload: x/y, clusterIP: 10.96.0.1, "
                          "ports: [{port: 80}]}\n"),
              HasSubstr("unknown key \"clusterIP\""));
  EXPECT_THAT(parse_error("  - {namespace: x, name: a, workload: x/y, clusterIPs: [10.96.0.1], "
                          "ports: [{port: 0}]}\n"),
              HasSubstr("\"port\": expected a port from 1 to 65535"));
  EXPECT_THAT(parse_error("  - {namespace: x, name: a, workload: x/y, clusterIPs: [10.96.0.1], "
                          "ports: [{port: 80, targetPort: http}]}\n"),
              HasSubstr("a named target port"));
  EXPECT_THAT(parse_error("  - {namespace: x, name: a, workload: x/y, clusterIPs: [10.96.0.1], "
                          "ports: [{port: 80, protocol: ICMP}]}\n"),
              HasSubstr("expected TCP, UDP or SCTP"));
  EXPECT_THAT(parse_error("  - {namespace: x, name: a, workload: x/y, clusterIPs: [127.0.0.1], "
                          "ports: [{port: 80}]}\n"),
              HasSubstr("clusterIPs: 127.0.0.1 is"));
  EXPECT_THAT(parse_error("  - {namespace: x, name: a, workload: x/y, ports: [{port: 80}]}\n"),
              HasSubstr("nothing leads to it"));

  auto build_error = [](absl::string_view services) {
    auto inventory = ParseInventory(absl::StrCat(
        "workloads:\n  - {namespace: shop, name: api, addresses: [10.244.1.20]}\nservices:\n",
        services));
    EXPECT_TRUE(inventory.ok()) << inventory.status();
    return std::string(IdentityTable::Build(*std::move(inventory)).status().message());
  };
  EXPECT_THAT(build_error("  - {namespace: shop, name: a, workload: shop/db, clusterIPs: "
                          "[10.96.0.1], ports: [{port: 80}]}\n"),
              HasSubstr("service shop/a: workload shop/db is not in the inventory"));
  EXPECT_THAT(build_error("  - {namespace: shop, name: a, workload: shop/api, clusterIPs: "
                          "[10.244.1.20], ports: [{port: 80}]}\n"),
              HasSubstr("clusterIP 10.244.1.20 is workload shop/api's address"));
  EXPECT_THAT(build_error("  - {namespace: shop, name: a, workload: shop/api, clusterIPs: "
                          "[10.96.0.1], ports: [{port: 80}]}\n"
                          "  - {namespace: shop, name: b, workload: shop/api, clusterIPs: "
                          "[10.96.0.1], ports: [{port: 80}]}\n"),
              HasSubstr("10.96.0.1 tcp/80 is also service shop/a"));
  EXPECT_THAT(build_error("  - {namespace: shop, name: a, workload: shop/api, clusterIPs: "
                          "[10.96.0.1], ports: [{port: 80, nodePort: 30080}]}\n"
                          "  - {namespace: shop, name: b, workload: shop/api, clusterIPs: "
                          "[10.96.0.2], ports: [{port: 80, nodePort: 30080}]}\n"),
              HasSubstr("nodePort tcp/30080 is also service shop/a"));
  EXPECT_THAT(build_error("  - {namespace: shop, name: a, workload: shop/api, clusterIPs: "
                          "[10.96.0.1], ports: [{port: 80}]}\n"
                          "  - {namespace: shop, name: a, workload: shop/api, clusterIPs: "
                          "[10.96.0.2], ports: [{port: 80}]}\n"),
              HasSubstr("service shop/a is listed twice"));
}

TEST(IdentityTableTest, APrefixInTwoNetworkSetsIsRefused) {
  auto table =
      IdentityTable::Build(Inventory{.networks = {{.name = "a", .cidrs = {"192.0.2.0/24"}},
                                                  {.name = "b", .cidrs = {"192.0.2.0/24"}}}});
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(table.status().message(), HasSubstr("192.0.2.0/24 is also in network set a"));
}

TEST(InventoryTest, ErrorsNameTheEntryAndField) {
  EXPECT_THAT(ParseInventory("workloads:\n  - {namespace: shop}\n").status().message(),
              HasSubstr("workloads[0]: \"name\" is required"));
  EXPECT_THAT(ParseInventory("workloads:\n  - {namespace: a, name: b, addresses: [10.1]}\n")
                  .status()
                  .message(),
              HasSubstr("workloads[0]: addresses: \"10.1\" is not an IPv4 or IPv6 address"));
  EXPECT_THAT(
      ParseInventory("workloads:\n  - {namespace: a, name: b, mode: block}\n").status().message(),
      HasSubstr("unknown mode \"block\""));
  EXPECT_THAT(ParseInventory("hosts: []\n").status().message(),
              HasSubstr("top-level \"workloads\" list"));
  EXPECT_THAT(ParseInventory("workloads: [").status().message(), HasSubstr("inventory:"));
}

TEST(InventoryTest, MisspelledKeysAreErrorsNotSilence) {
  EXPECT_THAT(ParseInventory("workloads:\n  - {namespace: a, name: b, adresses: [10.244.1.1]}\n")
                  .status()
                  .message(),
              HasSubstr("workloads[0]: unknown key \"adresses\""));
  EXPECT_THAT(
      ParseInventory("workloads:\n  - {namespace: a, name: b, mdoe: enforce}\n").status().message(),
      HasSubstr("unknown key \"mdoe\""));
}

TEST(InventoryTest, AddressesThatCannotBeAWorkloadsAreRefused) {
  for (const char* address : {"0.0.0.0", "127.0.0.1", "255.255.255.255", "224.0.0.5", "::1",
                              "::", "fe80::1", "ff02::1", "169.254.1.1"}) {
    auto parsed = ParseInventory(
        absl::StrCat("workloads:\n  - {namespace: a, name: b, addresses: [\"", address, "\"]}\n"));
    ASSERT_FALSE(parsed.ok()) << address;
    EXPECT_THAT(parsed.status().message(), HasSubstr("not a workload's address")) << address;
  }
}

TEST(InventoryTest, IPv6AddressesAreWorkloadAddresses) {
  auto inventory = ParseInventory(
      "workloads:\n  - {namespace: a, name: b, addresses: [10.244.1.1, \"fd00:244::1\"]}\n");
  ASSERT_TRUE(inventory.ok()) << inventory.status();
  auto table = IdentityTable::Build(*inventory);
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->IdentityOfAddress(*ParseAddress("fd00:244::1")), table->IdentityOf("a/b"));
  EXPECT_EQ(table->IdentityOfAddress(*ParseAddress("10.244.1.1")), table->IdentityOf("a/b"));
}

TEST(InventoryTest, ControlCharactersInNamesAreRefused) {
  EXPECT_THAT(ParseInventory("workloads:\n  - {namespace: a, name: \"b\\nFAKE LOG LINE\"}\n")
                  .status()
                  .message(),
              HasSubstr("\"name\" contains a control character"));
}

// Found by tests/fuzz (inventory): each of these used to end the agent
// (an uncaught exception) or put a control character into the log.
TEST(InventoryTest, ADocumentThatIsNotAMappingIsAnError) {
  EXPECT_THAT(ParseInventory("hots s[:]\n").status().message(),
              HasSubstr("top-level \"workloads\" list"));
  EXPECT_THAT(ParseInventory("- a\n- b\n").status().message(),
              HasSubstr("top-level \"workloads\" list"));
}

TEST(InventoryTest, ErrorsQuotingTheInputStayOnOneLine) {
  for (const char* yaml :
       {"workloads:\n  - {namespace: a, name: b, \"mo\\nde\": x}\n",
        "workloads:\n  - {namespace: a, name: b, mode: \"en\\rforce\"}\n",
        "workloads:\n  - {namespace: a, name: b, addresses: [\"10.0.0.1\\n\"]}\n",
        "workloads: [\"\\x01\n"}) {
    auto parsed = ParseInventory(yaml);
    ASSERT_FALSE(parsed.ok()) << yaml;
    for (char c : parsed.status().message())
      ASSERT_FALSE(static_cast<unsigned char>(c) < 0x20) << parsed.status();
  }
}

TEST(InventoryTest, NamesAndLabelsMustBeUtf8) {
  // They travel in protobuf strings: a state file holding anything else
  // would not parse at the next start. Raw bytes: YAML's own \xff escape is ÿ.
  EXPECT_THAT(
      ParseInventory("workloads:\n  - {namespace: a, name: \"b\xff\"}\n").status().message(),
      HasSubstr("\"name\" is not UTF-8"));
  EXPECT_THAT(
      ParseInventory("workloads:\n  - {namespace: a, name: b, labels: {app: \"\xc0\xaf\"}}\n")
          .status()
          .message(),
      HasSubstr("\"labels\" is not UTF-8"));
  EXPECT_TRUE(ParseInventory("workloads:\n  - {namespace: a, name: caf\u00e9}\n").ok());
}

TEST(IdentityTableTest, RejectsAnAddressListedTwiceInOneWorkload) {
  auto table =
      IdentityTable::Build({{.ns = "a", .name = "x", .addresses = {"10.244.1.1", "10.244.1.1"}}});
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(table.status().message(), HasSubstr("a/x: address 10.244.1.1 is listed twice"));
}

TEST(IdentityTableTest, NumbersNeverWrapToReservedOnes) {
  auto table = IdentityTable::Build({{.ns = "s", .name = "a"}, {.ns = "s", .name = "b"}}, {},
                                    {.workload = BH_IDENTITY_FIRST_NETWORK - 1});
  ASSERT_FALSE(table.ok());
  EXPECT_EQ(table.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(IdentityTableTest, RejectsAnAddressClaimedTwice) {
  auto table = IdentityTable::Build({{.ns = "a", .name = "x", .addresses = {"10.244.1.1"}},
                                     {.ns = "b", .name = "y", .addresses = {"10.244.1.1"}}});
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(table.status().message(), HasSubstr("10.244.1.1 belongs to both a/x and b/y"));
}

TEST(IdentityTableTest, IdentitiesAreStableForTheSameInventoryInAnyOrder) {
  auto one = IdentityTable::Build({{.ns = "s", .name = "a"}, {.ns = "s", .name = "b"}});
  auto two = IdentityTable::Build({{.ns = "s", .name = "b"}, {.ns = "s", .name = "a"}});
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(one->IdentityOf("s/a"), two->IdentityOf("s/a"));
  EXPECT_GE(*one->IdentityOf("s/a"), static_cast<std::uint32_t>(BH_IDENTITY_FIRST_WORKLOAD));
  EXPECT_EQ(one->NameOf(BH_IDENTITY_WORLD), "world");
}

// A workload added to the inventory (sorting first) or removed must not
// renumber the others: their numbers are in the pinned maps.
TEST(IdentityTableTest, KeptNumbersStayAndNewWorkloadsTakeNumbersNeverGiven) {
  auto before = IdentityTable::Build(
      {{.ns = "s", .name = "b"}, {.ns = "s", .name = "c"}, {.ns = "s", .name = "d"}});
  ASSERT_TRUE(before.ok());
  auto after = IdentityTable::Build(
      {{.ns = "s", .name = "a"}, {.ns = "s", .name = "b"}, {.ns = "s", .name = "d"}},
      before->assignments());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->IdentityOf("s/b"), before->IdentityOf("s/b"));
  EXPECT_EQ(after->IdentityOf("s/d"), before->IdentityOf("s/d"));
  // A new workload never gets a number given before (s/c's is retired):
  // events queued under it stay s/c's.
  EXPECT_GT(*after->IdentityOf("s/a"), *before->IdentityOf("s/d"));
  auto later =
      IdentityTable::Build({{.ns = "s", .name = "e"}}, after->assignments(), after->next_free());
  ASSERT_TRUE(later.ok());
  EXPECT_GT(*later->IdentityOf("s/e"), *after->IdentityOf("s/a"));
}

TEST(IdentityTableTest, ReservedOrDoubledKeptNumbersAreIgnored) {
  auto table = IdentityTable::Build({{.ns = "s", .name = "a"}, {.ns = "s", .name = "b"}},
                                    {{"s/a", BH_IDENTITY_HOST}, {"s/b", BH_IDENTITY_HOST}});
  ASSERT_TRUE(table.ok());
  EXPECT_GE(*table->IdentityOf("s/a"), static_cast<std::uint32_t>(BH_IDENTITY_FIRST_WORKLOAD));
  EXPECT_NE(table->IdentityOf("s/a"), table->IdentityOf("s/b"));
}

}  // namespace
}  // namespace bulkhead
