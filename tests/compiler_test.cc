// Compiling segments into policy map entries, diffing, and applying them to a
// real BPF map add-before-delete.
#include "controlplane/compiler.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <netinet/in.h>

#include <map>
#include <set>

#include "controlplane/policy_store.h"
#include "datapath/unique_fd.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

IdentityTable Shop() {
  return *IdentityTable::Build({
      {.ns = "shop", .name = "api", .addresses = {"10.244.1.20"}},
      {.ns = "shop", .name = "db", .addresses = {"10.244.1.30"}},
      {.ns = "shop", .name = "frontend", .addresses = {"10.244.1.10"}},
  });
}

bulkhead::v1::Policy PolicyOf(std::initializer_list<SegmentKey> keys) {
  PolicyStore store;
  for (const auto& key : keys) store.Learn(key, absl::Now());
  return store.Snapshot();
}

const SegmentKey kFrontendToApi{"shop/frontend", "shop/api", IPPROTO_TCP, 8080};
const SegmentKey kApiToDb{"shop/api", "shop/db", IPPROTO_TCP, 5432};

TEST(CompilerTest, CompilesSegmentsToIdentityKeys) {
  IdentityTable ids = Shop();
  CompiledPolicy compiled = Compiler::Compile(PolicyOf({kFrontendToApi, kApiToDb}), ids);
  ASSERT_EQ(compiled.entries.size(), 2u);
  EXPECT_TRUE(compiled.unresolved.empty());

  bh_policy_key key =
      PolicyKey(*ids.IdentityOf("shop/frontend"), *ids.IdentityOf("shop/api"), IPPROTO_TCP, 8080);
  ASSERT_TRUE(compiled.entries.contains(key));
  EXPECT_NE(compiled.entries.at(key).segment_id, 0u);
}

TEST(CompilerTest, SegmentsNamingUnknownWorkloadsAreReportedNotCompiled) {
  CompiledPolicy compiled =
      Compiler::Compile(PolicyOf({{"shop/frontend", "bank/ledger", IPPROTO_TCP, 443}}), Shop());
  EXPECT_TRUE(compiled.entries.empty());
  ASSERT_EQ(compiled.unresolved.size(), 1u);
  EXPECT_EQ(compiled.unresolved[0], "shop/frontend -> bank/ledger : tcp/443");
}

TEST(CompilerTest, DiffAddsNewAndDeletesStale) {
  IdentityTable ids = Shop();
  auto before = Compiler::Compile(PolicyOf({kFrontendToApi}), ids).entries;
  auto after = Compiler::Compile(PolicyOf({kApiToDb}), ids).entries;
  PolicyDiff diff = Compiler::Diff(before, after);
  ASSERT_EQ(diff.upsert_keys.size(), 1u);
  EXPECT_EQ(diff.upsert_keys[0].dport_be, htons(5432));
  ASSERT_EQ(diff.deletes.size(), 1u);
  EXPECT_EQ(diff.deletes[0].dport_be, htons(8080));

  EXPECT_TRUE(Compiler::Diff(after, after).upsert_keys.empty());
  EXPECT_TRUE(Compiler::Diff(after, after).deletes.empty());
}

// Against a real kernel hash map (needs root).
class CompilerMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LIBBPF_OPTS(bpf_map_create_opts, opts);
    fd_.reset(bpf_map_create(BPF_MAP_TYPE_HASH, "test_policy", sizeof(bh_policy_key),
                             sizeof(bh_policy_value), 2, &opts));
    ASSERT_TRUE(fd_.valid()) << "bpf_map_create: " << errno << " (run as root)";
    map_ = std::make_unique<TypedMap<bh_policy_key, bh_policy_value>>(fd_.get(), "test_policy");
  }

  std::size_t EntriesInKernel() {
    std::size_t n = 0;
    EXPECT_TRUE(map_->ForEach([&](const auto&, const auto&) { ++n; }).ok());
    return n;
  }

  UniqueFd fd_;
  std::unique_ptr<TypedMap<bh_policy_key, bh_policy_value>> map_;
};

TEST_F(CompilerMapTest, ApplyMakesMapHoldExactlyThePolicy) {
  IdentityTable ids = Shop();
  Compiler compiler;
  ASSERT_TRUE(
      compiler.Apply(Compiler::Compile(PolicyOf({kFrontendToApi, kApiToDb}), ids).entries, *map_)
          .ok());
  EXPECT_EQ(EntriesInKernel(), 2u);
  ASSERT_TRUE(compiler.Apply(Compiler::Compile(PolicyOf({kApiToDb}), ids).entries, *map_).ok());
  EXPECT_EQ(EntriesInKernel(), 1u);
}

TEST_F(CompilerMapTest, MapFullIsAClearErrorAndNothingInstalledIsLost) {
  IdentityTable ids = Shop();
  Compiler compiler;
  ASSERT_TRUE(
      compiler.Apply(Compiler::Compile(PolicyOf({kFrontendToApi, kApiToDb}), ids).entries, *map_)
          .ok());
  // A third segment does not fit in a 2-entry map. Add before delete means
  // the replacement is attempted first, and the old entries stay.
  absl::Status status = compiler.Apply(
      Compiler::Compile(PolicyOf({kApiToDb, {"shop/frontend", "shop/db", IPPROTO_TCP, 5432}}), ids)
          .entries,
      *map_);
  ASSERT_FALSE(status.ok());

  EXPECT_NE(status.message().find("update batch test_policy"), std::string::npos) << status;
  EXPECT_NE(status.message().find("map full, 2 entries"), std::string::npos) << status;
  EXPECT_EQ(EntriesInKernel(), 2u);
}

TEST_F(CompilerMapTest, AdoptRemovesWhatAnEarlierRunLeftBehind) {
  IdentityTable ids = Shop();
  {
    Compiler earlier_run;
    ASSERT_TRUE(
        earlier_run.Apply(Compiler::Compile(PolicyOf({kFrontendToApi}), ids).entries, *map_).ok());
  }
  Compiler compiler;
  ASSERT_TRUE(compiler.Adopt(*map_).ok());
  ASSERT_TRUE(compiler.Apply(Compiler::Compile(PolicyOf({kApiToDb}), ids).entries, *map_).ok());
  EXPECT_EQ(EntriesInKernel(), 1u);
}

TEST(InstallIdentitiesTest, IpcacheEndsUpHoldingExactlyTheInventoryAndTheNode) {
  UniqueFd fd(bpf_map_create(BPF_MAP_TYPE_HASH, "test_ipcache", sizeof(bh_addr),
                             sizeof(bh_ipcache_value), 64, nullptr));
  ASSERT_TRUE(fd.valid()) << "bpf_map_create: " << errno << " (run as root)";
  TypedMap<bh_addr, bh_ipcache_value> ipcache(fd.get(), "test_ipcache");
  // An earlier run's entries, pinned: one address since removed from the
  // inventory, one that now belongs to another identity.
  ASSERT_TRUE(ipcache.Update(*ParseAddress("10.244.1.99"), {.identity = 300}).ok());
  ASSERT_TRUE(ipcache.Update(*ParseAddress("10.244.1.20"), {.identity = 301}).ok());

  IdentityTable ids = Shop();
  std::set<bh_addr> node = {*ParseAddress("10.244.0.1"), *ParseAddress("fd00:244::1")};
  ASSERT_TRUE(Compiler::InstallIdentities(ids, node, ipcache).ok());

  std::map<std::string, std::uint32_t> contents;
  ASSERT_TRUE(ipcache
                  .ForEach([&](const bh_addr& k, const bh_ipcache_value& v) {
                    contents[DescribeKey(k)] = v.identity;
                  })
                  .ok());
  EXPECT_EQ(contents,
            (std::map<std::string, std::uint32_t>{{"10.244.0.1", BH_IDENTITY_HOST},
                                                  {"fd00:244::1", BH_IDENTITY_HOST},
                                                  {"10.244.1.10", *ids.IdentityOf("shop/frontend")},
                                                  {"10.244.1.20", *ids.IdentityOf("shop/api")},
                                                  {"10.244.1.30", *ids.IdentityOf("shop/db")}}));
}

}  // namespace
}  // namespace bulkhead
