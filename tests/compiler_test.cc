// Compiling segments and identities into map contents, and the Reconciler
// switching a real datapath's maps to them: all or nothing, capacity checked
// first, drift repaired.
#include "controlplane/compiler.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <netinet/in.h>

#include <map>
#include <set>

#include "controlplane/answered.h"
#include "controlplane/policy_store.h"
#include "controlplane/reconciler.h"
#include "datapath/datapath.h"
#include "gmock/gmock.h"
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

TEST(CompilerTest, IpcacheHoldsTheWorkloadsAndTheNodeButAWorkloadKeepsItsAddress) {
  IdentityTable ids = Shop();
  std::set<bh_addr> node = {*ParseAddress("10.244.0.1"), *ParseAddress("10.244.1.20")};
  auto ipcache = Compiler::Ipcache(ids, node);
  EXPECT_EQ(ipcache.size(), 4u);
  EXPECT_EQ(ipcache.at(*ParseAddress("10.244.0.1")), BH_IDENTITY_HOST);
  EXPECT_EQ(ipcache.at(*ParseAddress("10.244.1.20")), *ids.IdentityOf("shop/api"));
}

TEST(CompilerTest, PeersOutsideTheWorkloadsCompileByName) {
  auto ids = IdentityTable::Build(
      Inventory{.workloads = {{.ns = "shop", .name = "api", .addresses = {"10.244.1.20"}}},
                .networks = {{.name = "payments-api", .cidrs = {"203.0.113.0/24"}},
                             {.name = "corp", .cidrs = {"10.0.0.0/8", "fd00:99::/32"}}}});
  ASSERT_TRUE(ids.ok()) << ids.status();
  CompiledPolicy compiled =
      Compiler::Compile(PolicyOf({{"shop/api", "payments-api", IPPROTO_TCP, 443},
                                  {"shop/api", "world", IPPROTO_TCP, 443},
                                  {"private", "shop/api", IPPROTO_TCP, 8080},
                                  {"host", "shop/api", IPPROTO_TCP, 9100}}),
                        *ids);
  EXPECT_TRUE(compiled.unresolved.empty());
  std::uint32_t api = *ids->IdentityOf("shop/api");
  EXPECT_TRUE(compiled.entries.contains(
      PolicyKey(api, *ids->IdentityOf("payments-api"), IPPROTO_TCP, 443)));
  EXPECT_TRUE(compiled.entries.contains(PolicyKey(api, BH_IDENTITY_WORLD, IPPROTO_TCP, 443)));
  EXPECT_TRUE(compiled.entries.contains(PolicyKey(BH_IDENTITY_PRIVATE, api, IPPROTO_TCP, 8080)));

  // private's ranges, each network set's prefixes; a set's 10.0.0.0/8
  // replaces private's.
  PrefixEntries prefixes = Compiler::IpcachePrefixes(*ids);
  EXPECT_EQ(prefixes.size(), 6u);  // 4 private (one replaced) + 3 of the sets
  EXPECT_EQ(prefixes.at(*ParsePrefix("10.0.0.0/8")), *ids->IdentityOf("corp"));
  EXPECT_EQ(prefixes.at(*ParsePrefix("192.168.0.0/16")), BH_IDENTITY_PRIVATE);
  EXPECT_EQ(prefixes.at(*ParsePrefix("fc00::/7")), BH_IDENTITY_PRIVATE);
  EXPECT_EQ(prefixes.at(*ParsePrefix("203.0.113.0/24")), *ids->IdentityOf("payments-api"));
}

TEST(PolicyStoreTest, ManyPortsBetweenTwoPeersCollapseIntoARange) {
  PolicyStore store(/*collapse_after=*/3);
  absl::Time now = absl::Now();
  auto key = [](std::uint8_t proto, std::uint16_t port) {
    return SegmentKey{"shop/batch", "shop/cache", proto, port};
  };
  for (std::uint16_t port : {30000, 30001, 30002})
    EXPECT_TRUE(store.Learn(key(IPPROTO_TCP, port), now));
  EXPECT_EQ(store.size(), 3u);
  EXPECT_TRUE(store.Learn(key(IPPROTO_TCP, 30010), now));  // the 4th: past 3
  ASSERT_EQ(store.size(), 1u);
  bulkhead::v1::Segment range = store.Snapshot().segments(0);
  EXPECT_EQ(range.port(), 30000u);
  EXPECT_EQ(range.port_end(), 30010u);
  EXPECT_EQ(range.collapsed_ports(), 4u);
  EXPECT_EQ(range.flows(), 4u);
  EXPECT_EQ(ToString(KeyOf(range)), "shop/batch -> shop/cache : tcp/30000-30010");

  // Inside: a flow seen on the range. Outside: the range widens, same id.
  EXPECT_TRUE(store.Contains(key(IPPROTO_TCP, 30005)));
  EXPECT_FALSE(store.Learn(key(IPPROTO_TCP, 30005), now));
  EXPECT_EQ(store.Snapshot().segments(0).flows(), 5u);
  EXPECT_TRUE(store.Learn(key(IPPROTO_TCP, 30100), now));
  ASSERT_EQ(store.size(), 1u);
  EXPECT_EQ(store.Snapshot().segments(0).port_end(), 30100u);
  EXPECT_EQ(store.Snapshot().segments(0).id(), range.id());
  // Wider than 1024 ports: any port.
  EXPECT_TRUE(store.Learn(key(IPPROTO_TCP, 40000), now));
  EXPECT_EQ(ToString(KeyOf(store.Snapshot().segments(0))), "shop/batch -> shop/cache : tcp/any");
  EXPECT_EQ(store.Snapshot().segments(0).collapsed_ports(), 6u);

  // Other protocols and other peers are counted apart; ICMP never collapses.
  for (std::uint16_t port : {53, 54, 55}) store.Learn(key(IPPROTO_UDP, port), now);
  for (std::uint8_t type : {8, 13, 15, 17}) store.Learn(key(IPPROTO_ICMP, type), now);
  EXPECT_EQ(store.size(), 1u + 3u + 4u);
  EXPECT_FALSE(store.Contains(key(IPPROTO_UDP, 56)));
}

TEST(PolicyStoreTest, PortsTowardsPeersOutsideTheWorkloadsNeverCollapse) {
  PolicyStore store(/*collapse_after=*/3);
  for (int port = 1; port <= 30; ++port) {
    store.Learn({"a/x", "world", IPPROTO_TCP, static_cast<std::uint16_t>(port)}, absl::Now());
    store.Learn({"private", "a/x", IPPROTO_TCP, static_cast<std::uint16_t>(port)}, absl::Now());
  }
  EXPECT_EQ(store.size(), 60u);
}

// An applied file (Plan, then Replace): segments the store has keep their
// id and what was seen on them; new ones get ids never given; what the file
// does not decide stays. Reviewed segments are a person's decision: learning
// never collapses them into a range, a scan never takes them back.
TEST(PolicyStoreTest, AnAppliedFileKeepsIdsAndReviewedSegmentsStayAsWritten) {
  PolicyStore store(/*collapse_after=*/2);
  absl::Time now = absl::Now();
  store.Learn({"shop/a", "shop/b", IPPROTO_TCP, 80}, now);
  store.Learn({"shop/a", "shop/b", IPPROTO_TCP, 80}, now);  // 2 flows
  store.Learn({"bank/x", "bank/y", IPPROTO_TCP, 443}, now);
  std::uint32_t id80 = store.Snapshot().segments(1).id();  // sorted: bank first
  bulkhead::v1::Segment kept, added;
  kept.set_from_workload("shop/a"), kept.set_to_workload("shop/b");
  kept.set_protocol(bulkhead::v1::TCP), kept.set_port(80);
  kept.set_origin(bulkhead::v1::REVIEWED);
  added = kept;
  added.set_port(81);
  auto shop = [](const SegmentKey& k) { return k.from.rfind("shop/", 0) == 0; };
  bulkhead::v1::Policy plan = store.Plan({kept, added}, shop);
  store.Replace(plan);
  bulkhead::v1::Policy now_in = store.Snapshot();
  ASSERT_EQ(now_in.segments_size(), 3);  // bank's stays: not the file's to decide
  EXPECT_EQ(now_in.segments(1).id(), id80);
  EXPECT_EQ(now_in.segments(1).flows(), 2u);
  EXPECT_EQ(now_in.segments(1).origin(), bulkhead::v1::REVIEWED);
  EXPECT_GT(now_in.segments(2).id(), id80);

  // Learned ports next to them: collapse among themselves, never with the
  // reviewed ones.
  for (std::uint16_t port : {82, 83, 84}) store.Learn({"shop/a", "shop/b", IPPROTO_TCP, port}, now);
  std::vector<std::string> keys;
  bulkhead::v1::Policy learned = store.Snapshot();
  for (const auto& s : learned.segments()) keys.push_back(ToString(KeyOf(s)));
  EXPECT_THAT(keys,
              ::testing::ElementsAre("bank/x -> bank/y : tcp/443", "shop/a -> shop/b : tcp/80",
                                     "shop/a -> shop/b : tcp/81", "shop/a -> shop/b : tcp/82-84"));
  EXPECT_FALSE(store.RemoveLearned({"shop/a", "shop/b", IPPROTO_TCP, 80}).has_value());
  EXPECT_TRUE(store.RemoveLearned({"bank/x", "bank/y", IPPROTO_TCP, 443}).has_value());
}

TEST(PolicyStoreTest, NoCollapseWhenTurnedOff) {
  PolicyStore store(/*collapse_after=*/0);
  for (int port = 1; port <= 100; ++port)
    store.Learn({"a/x", "a/y", IPPROTO_TCP, static_cast<std::uint16_t>(port)}, absl::Now());
  EXPECT_EQ(store.size(), 100u);
}

TEST(CompilerTest, ARangeCompilesToTheFewestPortPrefixes) {
  IdentityTable ids = Shop();
  bulkhead::v1::Policy policy = PolicyOf({kFrontendToApi});
  bulkhead::v1::Segment* range = policy.add_segments();
  range->set_id(99);
  range->set_from_workload("shop/api");
  range->set_to_workload("shop/db");
  range->set_protocol(bulkhead::v1::TCP);
  range->set_port(30000);
  range->set_port_end(30010);  // 30000-30007, 30008-30009, 30010
  CompiledPolicy compiled = Compiler::Compile(policy, ids);
  EXPECT_EQ(compiled.entries.size(), 1u);
  ASSERT_EQ(compiled.ranges.size(), 3u);
  std::vector<std::string> described;
  for (const auto& [key, value] : compiled.ranges) {
    EXPECT_EQ(value.segment_id, 99u);
    described.push_back(DescribeKey(key).substr(DescribeKey(key).find(' ') + 1));
  }
  EXPECT_EQ(described,
            (std::vector<std::string>{"tcp/30000-30007", "tcp/30008-30009", "tcp/30010"}));
  EXPECT_EQ(PortRangeKeys(1, 2, IPPROTO_TCP, 0, 65535).size(), 1u);   // any port
  EXPECT_EQ(PortRangeKeys(1, 2, IPPROTO_TCP, 1, 65535).size(), 16u);  // 1, 2-3, ..., 32768-65535
}

// A real datapath (programs loaded, not attached, maps private to the test),
// with small maps so capacity is easy to reach.
class ReconcilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto datapath = Datapath::Load({.sizes = {.conntrack = 1024,
                                              .conntrack_new = 1024,
                                              .ipcache = 8,
                                              .ipcache_prefixes = 16,
                                              .policy = 4,
                                              .identities = 8,
                                              .endpoints = 8,
                                              .fragments = 64,
                                              .drop_reports = 64,
                                              .event_bytes = 1 << 16}});
    ASSERT_TRUE(datapath.ok()) << datapath.status() << " (run as root)";
    datapath_ = *std::move(datapath);
    maps_ = std::make_unique<Reconciler>(*datapath_);
    ASSERT_TRUE(maps_->Adopt().ok());
  }

  // What the kernel maps hold, as text: compared before and after.
  std::map<std::string, std::string> Kernel() {
    std::map<std::string, std::string> contents;
    EXPECT_TRUE(datapath_->policy()
                    .ForEach([&](const bh_policy_key& k, const bh_policy_value& v) {
                      contents["policy " + DescribeKey(k)] = std::to_string(v.segment_id);
                    })
                    .ok());
    EXPECT_TRUE(datapath_->ipcache()
                    .ForEach([&](const bh_addr& k, const bh_ipcache_value& v) {
                      contents["ipcache " + DescribeKey(k)] = std::to_string(v.identity);
                    })
                    .ok());
    EXPECT_TRUE(datapath_->ipcache_prefixes()
                    .ForEach([&](const bh_ipcache_lpm_key& k, const bh_ipcache_value& v) {
                      contents["prefix " + DescribeKey(k)] = std::to_string(v.identity);
                    })
                    .ok());
    EXPECT_TRUE(datapath_->modes()
                    .ForEach([&](std::uint32_t k, const bh_mode_value& v) {
                      contents["mode " + std::to_string(k)] = std::to_string(v.mode);
                    })
                    .ok());
    EXPECT_TRUE(datapath_->endpoints()
                    .ForEach([&](std::uint32_t k, const bh_endpoint_value& v) {
                      contents["endpoint " + std::to_string(k)] = std::to_string(v.identity);
                    })
                    .ok());
    return contents;
  }

  MapContents Contents(std::initializer_list<SegmentKey> segments) {
    IdentityTable ids = Shop();
    ModeEntries modes;
    for (const auto& [identity, w] : ids.workloads()) modes[identity] = BH_MODE_ENFORCE;
    return {.policy = Compiler::Compile(PolicyOf(segments), ids).entries,
            .ipcache = Compiler::Ipcache(ids, {*ParseAddress("10.244.0.1")}),
            .prefixes = Compiler::IpcachePrefixes(ids),
            .endpoints = EndpointEntries{{7, {.identity = *ids.IdentityOf("shop/api")}}},
            .modes = modes};
  }

  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<Reconciler> maps_;
};

TEST_F(ReconcilerTest, MapsHoldExactlyWhatIsWanted) {
  auto applied = maps_->Apply(Contents({kFrontendToApi, kApiToDb}));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->written, 2u + 4u + 4u + 1u + 3u);
  std::map<std::string, std::string> kernel = Kernel();
  EXPECT_EQ(kernel.size(), 14u);
  EXPECT_EQ(kernel["ipcache 10.244.0.1"], std::to_string(BH_IDENTITY_HOST));
  EXPECT_EQ(kernel["prefix 172.16.0.0/12"], std::to_string(BH_IDENTITY_PRIVATE));

  // The same segments less one (same ids: one store).
  PolicyEntries fewer = *Contents({kFrontendToApi, kApiToDb}).policy;
  IdentityTable ids = Shop();
  fewer.erase(
      PolicyKey(*ids.IdentityOf("shop/frontend"), *ids.IdentityOf("shop/api"), IPPROTO_TCP, 8080));
  applied = maps_->Apply({.policy = fewer});
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->written, 0u);
  EXPECT_EQ(applied->removed, 1u);
  EXPECT_EQ(Kernel().size(), 13u);
}

TEST_F(ReconcilerTest, AChangeThatDoesNotFitIsRefusedBeforeAnyWrite) {
  ASSERT_TRUE(maps_->Apply(Contents({kFrontendToApi, kApiToDb})).ok());
  auto before = Kernel();
  // 2 installed + 3 new (1 removed only after) = 5 at once in a 4-entry map;
  // the ipcache part of the same change would fit.
  MapContents wanted = Contents({{"shop/api", "shop/db", IPPROTO_TCP, 1},
                                 {"shop/api", "shop/db", IPPROTO_TCP, 2},
                                 {"shop/api", "shop/db", IPPROTO_TCP, 3},
                                 kApiToDb});
  wanted.ipcache->emplace(*ParseAddress("10.244.0.2"), BH_IDENTITY_HOST);
  auto applied = maps_->Apply(wanted);
  ASSERT_FALSE(applied.ok());
  EXPECT_EQ(applied.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(applied.status().message(),
            "map bh_policy holds 2 entries and this change adds 3 before it removes 1: 5 are "
            "needed at once, its size is 4 (start bulkheadd with --policy-max 5 or more)");
  EXPECT_EQ(Kernel(), before);
}

TEST_F(ReconcilerTest, AWriteThatFailsHalfwayPutsEveryMapBack) {
  ASSERT_TRUE(maps_->Apply(Contents({kFrontendToApi})).ok());
  // Drift the reconciler does not know of: the ipcache is filled behind its
  // back, so its capacity check passes but the kernel write fails after the
  // policy part of the change went in.
  for (int i = 0; i < 4; ++i)  // 4 ours + 4 = the map's 8
    ASSERT_TRUE(datapath_->ipcache()
                    .Update(*ParseAddress("10.244.9." + std::to_string(i)), {.identity = 999})
                    .ok());
  auto before = Kernel();
  MapContents wanted = Contents({kFrontendToApi, kApiToDb});
  wanted.ipcache->emplace(*ParseAddress("10.244.0.2"), BH_IDENTITY_HOST);
  auto applied = maps_->Apply(wanted);
  ASSERT_FALSE(applied.ok());
  EXPECT_NE(applied.status().message().find("bh_ipcache"), std::string::npos) << applied.status();
  EXPECT_NE(applied.status().message().find("the maps were put back as they were"),
            std::string::npos)
      << applied.status();
  EXPECT_EQ(Kernel(), before);  // the policy entry written first is gone again
}

TEST_F(ReconcilerTest, AdoptedEntriesNobodyWantsAreRemovedAndDriftIsRepaired) {
  ASSERT_TRUE(maps_->Apply(Contents({kFrontendToApi})).ok());
  // An earlier run left an entry, and a mode changed behind our back.
  IdentityTable ids = Shop();
  ASSERT_TRUE(datapath_->ipcache().Update(*ParseAddress("10.244.1.99"), {.identity = 300}).ok());
  ASSERT_TRUE(datapath_->modes().Update(*ids.IdentityOf("shop/db"), {.mode = BH_MODE_LEARN}).ok());
  Reconciler next_run(*datapath_);
  ASSERT_TRUE(next_run.Adopt().ok());
  auto applied = next_run.Apply(Contents({kFrontendToApi}));
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->written, 1u);  // the mode put back
  EXPECT_EQ(applied->removed, 1u);  // the stale address
  auto kernel = Kernel();
  EXPECT_FALSE(kernel.contains("ipcache 10.244.1.99"));
  EXPECT_EQ(kernel["mode " + std::to_string(*ids.IdentityOf("shop/db"))],
            std::to_string(BH_MODE_ENFORCE));
}

// Candidates wait for their flow's confirmed conntrack entry (the kernel
// table the programs write), and are given up after the wait.
TEST_F(ReconcilerTest, CandidateSegmentsAreLearnedOnlyOnceTheirFlowIsAnswered) {
  AnsweredFilter filter(datapath_->conntrack(), 4, 2, absl::Seconds(5));
  bh_flow_event syn{};
  syn.saddr = *ParseAddress("10.244.1.10");
  syn.daddr = *ParseAddress("10.244.1.20");
  syn.sport_be = htons(40000);
  syn.dport_be = htons(8080);
  syn.proto = IPPROTO_TCP;
  syn.flags = BH_FLOW_TCP_SYN;
  ASSERT_TRUE(AnsweredFilter::NeedsAnswer(syn));
  absl::Time t0 = absl::Now();
  filter.Add(kFrontendToApi, syn, t0);
  EXPECT_TRUE(filter.TakeAnswered(t0 + absl::Seconds(1)).empty());
  EXPECT_EQ(filter.waiting(), 1u);

  // The handshake completes: the programs move the entry to bh_ct, under
  // the key they make from the reply as much as from the SYN.
  bh_ct_key reply_key = CtKey(syn.daddr, syn.saddr, syn.dport_be, syn.sport_be, IPPROTO_TCP);
  ASSERT_TRUE(datapath_->conntrack().Update(reply_key, bh_ct_entry{}).ok());
  auto answered = filter.TakeAnswered(t0 + absl::Seconds(2));
  ASSERT_EQ(answered.size(), 1u);
  EXPECT_EQ(answered[0].key, kFrontendToApi);

  // Never answered: given up after the wait, and counted.
  syn.sport_be = htons(40001);
  filter.Add(kApiToDb, syn, t0);
  EXPECT_TRUE(filter.TakeAnswered(t0 + absl::Seconds(6)).empty());
  EXPECT_EQ(filter.counters().unanswered, 1u);
  EXPECT_EQ(filter.waiting(), 0u);

  // One wait per segment; at most 2 from one source, 4 in all: counted.
  filter.Add(kApiToDb, syn, t0);
  filter.Add(kApiToDb, syn, t0);
  EXPECT_EQ(filter.waiting(), 1u);
  syn.src_identity = 300;
  for (std::uint16_t port : {1, 2, 3})
    filter.Add({"shop/api", "shop/db", IPPROTO_TCP, port}, syn, t0);
  EXPECT_EQ(filter.waiting(), 3u);  // the third from 300 is over its share
  EXPECT_EQ(filter.counters().overflow, 1u);
  syn.src_identity = 301;
  for (std::uint16_t port : {1, 2}) filter.Add({"shop/db", "shop/api", IPPROTO_TCP, port}, syn, t0);
  EXPECT_EQ(filter.waiting(), 4u);  // the second from 301 is over the total
  EXPECT_EQ(filter.counters().overflow, 2u);

  bh_flow_event mid_stream = syn;
  mid_stream.flags = BH_FLOW_MID_STREAM;
  EXPECT_FALSE(AnsweredFilter::NeedsAnswer(mid_stream));
}

}  // namespace
}  // namespace bulkhead
