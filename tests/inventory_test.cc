// Reading the inventory: what is accepted, and that errors say where.
#include "absl/strings/str_cat.h"
#include "controlplane/identity_table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

using ::testing::HasSubstr;

TEST(InventoryTest, ParsesTheDocumentedFormat) {
  auto workloads = ParseInventory(R"(
workloads:
  - namespace: shop
    name: frontend
    labels: {app: frontend}
    addresses: [10.244.1.10]
  - namespace: shop
    name: db
    addresses: [10.244.1.30, 10.244.1.31]
    mode: enforce
)");
  ASSERT_TRUE(workloads.ok()) << workloads.status();
  ASSERT_EQ(workloads->size(), 2u);
  EXPECT_EQ((*workloads)[0].id(), "shop/frontend");
  EXPECT_EQ((*workloads)[0].labels.at("app"), "frontend");
  EXPECT_FALSE((*workloads)[0].mode.has_value());
  EXPECT_EQ((*workloads)[1].addresses.size(), 2u);
  EXPECT_EQ((*workloads)[1].mode, BH_MODE_ENFORCE);
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
  auto workloads = ParseInventory(
      "workloads:\n  - {namespace: a, name: b, addresses: [10.244.1.1, \"fd00:244::1\"]}\n");
  ASSERT_TRUE(workloads.ok()) << workloads.status();
  auto table = IdentityTable::Build(*workloads);
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
                                    /*next_free=*/UINT32_MAX);
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
