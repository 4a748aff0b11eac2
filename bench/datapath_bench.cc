// Per-packet cost of the endpoint programs, measured in the kernel with
// BPF_PROG_TEST_RUN (the kernel's own per-run average), and the control
// plane's learner and compiler. Needs root. Compare ratios within one run:
// BM_ParseOnly is the baseline the packet benchmarks are divided by.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <netinet/in.h>

#include <boost/asio/io_context.hpp>

#include "api/policy_document.h"
#include "api/policy_yaml.h"
#include "baseline.skel.h"
#include "controlplane/compiler.h"
#include "controlplane/learner.h"
#include "controlplane/learning_guard.h"
#include "controlplane/policy_store.h"
#include "controlplane/reconciler.h"
#include "datapath/datapath.h"
#include "datapath/unique_fd.h"
#include "tests/packets.h"

namespace bulkhead {
namespace {

using testing::Frame;

constexpr int kRepeat = 20000;  // packets per BPF_PROG_TEST_RUN call
constexpr std::uint32_t kClient = BH_IDENTITY_FIRST_WORKLOAD;
constexpr std::uint32_t kServer = BH_IDENTITY_FIRST_WORKLOAD + 1;

// Runs `frame` kRepeat times per iteration; reports the kernel's ns/packet.
// Checks the verdict first: a benchmark that timed another code path than
// it claims would be worse than none.
void RunPackets(benchmark::State& state, int prog_fd, Frame frame, int expected_verdict) {
  frame.resize(std::max<std::size_t>(frame.size(), 64));
  LIBBPF_OPTS(bpf_test_run_opts, check, .data_in = frame.data(),
              .data_size_in = static_cast<__u32>(frame.size()), .repeat = 1);
  if (bpf_prog_test_run_opts(prog_fd, &check) != 0)
    return state.SkipWithError("BPF_PROG_TEST_RUN failed (root?)");
  if (static_cast<int>(check.retval) != expected_verdict)
    return state.SkipWithError("the timed packet got another verdict than the benchmark's");
  for ([[maybe_unused]] auto _ : state) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                .data_size_in = static_cast<__u32>(frame.size()), .repeat = kRepeat);
    if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) {
      state.SkipWithError("BPF_PROG_TEST_RUN failed (root?)");
      return;
    }
    state.SetIterationTime(static_cast<double>(opts.duration) * kRepeat / 1e9);
  }
  state.SetItemsProcessed(state.iterations() * kRepeat);
}

void RunOnce(int prog_fd, Frame frame) {
  frame.resize(std::max<std::size_t>(frame.size(), 64));
  LIBBPF_OPTS(bpf_test_run_opts, once, .data_in = frame.data(),
              .data_size_in = static_cast<__u32>(frame.size()), .repeat = 1);
  bpf_prog_test_run_opts(prog_fd, &once);
}

// A loaded datapath with `identities` workload addresses in the ipcache and
// `segments` policy entries, client and server among them, both enforcing.
// The hook's interface (loopback under BPF_PROG_TEST_RUN) is bound to the
// server, as on a node.
std::unique_ptr<Datapath> LoadedDatapath(int identities, int segments) {
  MapSizes sizes;
  sizes.ipcache = std::max<std::uint32_t>(sizes.ipcache, identities + 16);
  sizes.policy = std::max<std::uint32_t>(sizes.policy, segments + 16);
  auto dp = Datapath::Load({.sizes = sizes});
  if (!dp.ok()) return nullptr;
  std::vector<bh_addr> addrs;
  std::vector<bh_ipcache_value> ids;
  for (int i = 0; i < identities; ++i) {
    addrs.push_back(Ipv4Address(htonl(0x0a000000 + i)));  // 10.0.0.0 + i
    ids.push_back({.identity = kClient + 10 + static_cast<std::uint32_t>(i)});
  }
  addrs.push_back(*ParseAddress("10.245.0.1"));
  ids.push_back({.identity = kClient});
  addrs.push_back(*ParseAddress("10.245.0.2"));
  ids.push_back({.identity = kServer});
  if (!(*dp)->ipcache().UpdateBatch(addrs, ids).ok()) return nullptr;
  std::vector<bh_policy_key> keys;
  std::vector<bh_policy_value> values;
  for (int i = 0; i < segments; ++i) {
    keys.push_back(PolicyKey(kClient + 10 + i, kServer, IPPROTO_TCP, 8080));
    values.push_back({.segment_id = static_cast<__u32>(i + 2)});
  }
  keys.push_back(PolicyKey(kClient, kServer, IPPROTO_TCP, 8080));
  values.push_back({.segment_id = 1});
  if (!(*dp)->policy().UpdateBatch(keys, values).ok()) return nullptr;
  (void)(*dp)->endpoints().Update(1, {.identity = kServer});
  (void)(*dp)->modes().Update(kServer, {.mode = BH_MODE_ENFORCE});
  (void)(*dp)->modes().Update(kClient, {.mode = BH_MODE_ENFORCE});
  (void)(*dp)->BumpEpoch();
  return std::move(*dp);
}

const char* kClientIp = "10.245.0.1";
const char* kServerIp = "10.245.0.2";

void BM_ParseOnly(benchmark::State& state) {
  baseline_bpf* skel = baseline_bpf::open_and_load();
  if (!skel) {
    state.SkipWithError("load baseline program (root?)");
    return;
  }
  RunPackets(state, bpf_program__fd(skel->progs.parse_only),
             testing::Tcp(kClientIp, kServerIp, 40000, 8080, testing::kAck), TC_ACT_OK);
  baseline_bpf::destroy(skel);
}
BENCHMARK(BM_ParseOnly)->UseManualTime();

// Opens client -> server tcp/8080 through the server's hooks: SYN in,
// SYN-ACK out, ACK in (which confirms the flow).
void Handshake(Datapath& dp) {
  RunOnce(dp.to_endpoint_fd(), testing::Tcp(kClientIp, kServerIp, 40000, 8080, testing::kSyn));
  RunOnce(dp.from_endpoint_fd(), testing::Tcp(kServerIp, kClientIp, 8080, 40000, testing::kSynAck));
  RunOnce(dp.to_endpoint_fd(), testing::Tcp(kClientIp, kServerIp, 40000, 8080, testing::kAck));
}

// An allowed flow's established packet entering the server: one conntrack
// lookup under an unchanged epoch. Arg: segments and identities loaded.
void BM_EstablishedAllowed(benchmark::State& state) {
  auto dp = LoadedDatapath(static_cast<int>(state.range(0)), static_cast<int>(state.range(0)));
  if (!dp) return state.SkipWithError("load datapath (root?)");
  Handshake(*dp);
  RunPackets(state, dp->to_endpoint_fd(),
             testing::Tcp(kClientIp, kServerIp, 40000, 8080, testing::kAck), TC_ACT_OK);
}
BENCHMARK(BM_EstablishedAllowed)->UseManualTime()->Arg(10)->Arg(10000)->Arg(1000000);

// A reply leaving the server: passes on the conntrack lookup alone.
void BM_Reply(benchmark::State& state) {
  auto dp = LoadedDatapath(10, 10);
  if (!dp) return state.SkipWithError("load datapath (root?)");
  Handshake(*dp);
  RunPackets(state, dp->from_endpoint_fd(),
             testing::Tcp(kServerIp, kClientIp, 8080, 40000, testing::kAck), TC_ACT_OK);
}
BENCHMARK(BM_Reply)->UseManualTime();

// A denied flow in enforce mode, already reported: the full decision
// (identities, mode, segment lookup) on every packet, then the drop.
void BM_Dropped(benchmark::State& state) {
  auto dp = LoadedDatapath(10, 10);
  if (!dp) return state.SkipWithError("load datapath (root?)");
  RunPackets(state, dp->to_endpoint_fd(),
             testing::Tcp(kClientIp, kServerIp, 40001, 9999, testing::kSyn), TC_ACT_SHOT);
}
BENCHMARK(BM_Dropped)->UseManualTime();

// Flow events through the learner as the agent runs it (userspace, no
// kernel): learner, then for a segment the store does not admit yet the scan
// guard, the store (port collapse at its default 20) and the stability
// timelines. 100 workloads, 10,000 pairs, 50 server ports per pair.
// Arg 0: steady state, every pair's ports already learned (collapsed into
// ranges), as on a cluster that has been learning a while. Arg 1: every
// event a new segment (the first minutes of learning), collapse included.
class LearnerPath {
 public:
  LearnerPath()
      : identities_(Identities()),
        learner_(identities_, [](std::uint32_t) { return BH_MODE_LEARN; }),
        scan_({.window = absl::Seconds(60), .max_new_peers = 1000, .max_new_segments = 1000000}),
        stability_({}) {
    for (const auto& [identity, w] : identities_.workloads()) stability_.Track(w.id(), start_);
    event_.proto = IPPROTO_TCP;
    event_.verdict = BH_VERDICT_AUDIT;
    event_.reason = BH_REASON_POLICY;
    event_.flags = BH_FLOW_TCP_SYN;
  }

  // Event number i: pair i % 10,000, server port 8000 + (i / 10,000) % 50.
  void Observe(std::uint32_t i) {
    event_.src_identity = BH_IDENTITY_FIRST_WORKLOAD + (i % 100);
    event_.dst_identity = BH_IDENTITY_FIRST_WORKLOAD + ((i / 100) % 100);
    event_.sport_be = htons(static_cast<std::uint16_t>(32768 + (i % 28000)));
    event_.dport_be = htons(static_cast<std::uint16_t>(8000 + (i / 10000) % 50));
    std::optional<SegmentKey> segment = learner_.Observe(event_);
    if (!segment) return;
    absl::Time now = start_ + absl::Microseconds(i);
    if (store_.Contains(*segment)) {
      benchmark::DoNotOptimize(store_.Learn(*segment, now));
    } else if (!scan_.Check(*segment, now).hold && store_.Learn(*segment, now)) {
      stability_.SegmentLearned(*segment, now);
    }
  }
  std::size_t segments() const { return store_.size(); }

 private:
  static IdentityTable Identities() {
    std::vector<Workload> workloads;
    workloads.reserve(100);
    for (int i = 0; i < 100; ++i)
      workloads.push_back({.ns = "bench", .name = "w" + std::to_string(i)});
    return *IdentityTable::Build(std::move(workloads));
  }
  IdentityTable identities_;
  Learner learner_;
  PolicyStore store_;
  ScanGuard scan_;
  Stability stability_;
  absl::Time start_ = absl::Now();
  bh_flow_event event_{};
};

void BM_LearnerObserve(benchmark::State& state) {
  const bool all_new = state.range(0) == 1;
  LearnerPath path;
  std::uint32_t i = 0;
  if (!all_new)
    for (; i < 500000; ++i) path.Observe(i);  // every pair's 50 ports: ranges
  for ([[maybe_unused]] auto _ : state) path.Observe(all_new ? i++ : i++ % 500000);
  state.SetItemsProcessed(state.iterations());
  state.counters["segments"] = static_cast<double>(path.segments());
}
BENCHMARK(BM_LearnerObserve)->Arg(0)->Arg(1);

// Compile N segments and load them into a real datapath's policy map from
// empty, through the Reconciler as the agent does.
void BM_CompileAndLoad(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  std::vector<Workload> workloads;
  workloads.reserve(400);
  for (int i = 0; i < 400; ++i)
    workloads.push_back({.ns = "bench", .name = "w" + std::to_string(i)});
  IdentityTable identities = *IdentityTable::Build(std::move(workloads));
  PolicyStore store;
  for (int i = 0; i < n; ++i)
    store.Learn({"bench/w" + std::to_string(i % 400), "bench/w" + std::to_string((i / 400) % 400),
                 IPPROTO_TCP, static_cast<std::uint16_t>(1000 + i / 160000)},
                absl::Now());
  bulkhead::v1::Policy policy = store.Snapshot();
  auto datapath = Datapath::Load({.sizes = {.policy = static_cast<std::uint32_t>(n + 1)}});
  if (!datapath.ok()) return state.SkipWithError(std::string(datapath.status().message()).c_str());
  for ([[maybe_unused]] auto _ : state) {
    Reconciler maps(**datapath);
    auto status = maps.Apply({.policy = Compiler::Compile(policy, identities).entries});
    if (!status.ok()) return state.SkipWithError(std::string(status.status().message()).c_str());
    state.PauseTiming();
    (void)maps.Apply({.policy = PolicyEntries{}});  // empty again for the next round
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_CompileAndLoad)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);

// Read a policy file of N segments as `bulkhead policy apply` does (the
// agent's side: ParsePolicyDocument), in the format the export writes.
void BM_ParsePolicyFile(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  bulkhead::v1::Policy policy;
  for (int i = 0; i < n; ++i) {
    bulkhead::v1::Segment* s = policy.add_segments();
    s->set_from_workload("bench/w" + std::to_string(i % 100));
    s->set_to_workload("bench/w" + std::to_string((i / 100) % 100));
    s->set_protocol(bulkhead::v1::TCP);
    s->set_port(1000 + i / 10000);
    s->set_origin(bulkhead::v1::LEARNED);
    *s->mutable_first_seen() = ToTimestamp(absl::Now());
    *s->mutable_last_seen() = ToTimestamp(absl::Now());
    s->set_flows(i);
  }
  std::string yaml = PolicyToYaml(policy);
  for ([[maybe_unused]] auto _ : state) {
    ParsedPolicy parsed = ParsePolicyDocument(yaml);
    if (!parsed.problems.empty()) return state.SkipWithError(parsed.problems[0].message.c_str());
    benchmark::DoNotOptimize(parsed);
  }
  state.counters["bytes"] = static_cast<double>(yaml.size());
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_ParsePolicyFile)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace bulkhead

BENCHMARK_MAIN();
