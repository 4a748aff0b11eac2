// What the agent tells Prometheus (/metrics) and `bulkhead status` about
// itself: flows by verdict and reason, per workload (bounded), drops and
// lost events, how full each map is, the learner's and the compiler's work.
// Made when asked, from the agent's own counters and the datapath's; the
// text format is prometheus-cpp's (its data model and TextSerializer).
#include <algorithm>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controlplane/agent.h"
#include "datapath/status.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace bulkhead {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Family(std::string name, std::string help, MetricType type) {
  return MetricFamily{.name = std::move(name), .help = std::move(help), .type = type, .metric = {}};
}

void Add(MetricFamily& family, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (family.type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  family.metric.push_back(std::move(m));
}

std::string Lower(absl::string_view text) { return absl::AsciiStrToLower(text); }

// bh_verdict's name, as the flows' JSON spells it (in lower case).
std::string VerdictName(std::uint8_t verdict) {
  return Lower(bulkhead::v1::Verdict_Name(VerdictToProto(verdict)));
}
}  // namespace

std::vector<bulkhead::v1::MapFill> Agent::MapFills() const {
  std::vector<bulkhead::v1::MapFill> fills;
  auto fill = [&](auto& map) {
    bulkhead::v1::MapFill f;
    f.set_name(map.name());
    std::uint64_t entries = 0;
    if (map.ForEach([&](const auto&, const auto&) { ++entries; }).ok()) f.set_entries(entries);
    if (auto capacity = map.MaxEntries(); capacity.ok()) f.set_capacity(*capacity);
    fills.push_back(std::move(f));
  };
  Datapath& dp = *datapath_;
  fill(dp.conntrack());
  fill(dp.conntrack_new());
  fill(dp.fragments());
  fill(dp.ipcache());
  fill(dp.ipcache_prefixes());
  fill(dp.policy());
  fill(dp.policy_ranges());
  fill(dp.guardrails());
  fill(dp.services());
  fill(dp.modes());
  fill(dp.endpoints());
  return fills;
}

void Agent::CountFlow(const bh_flow_event& event) {
  ++flows_by_verdict_[{event.verdict, event.reason}];
  for (std::uint32_t identity : {event.src_identity, event.dst_identity}) {
    const Workload* w = identities_.WorkloadOf(identity);
    if (w == nullptr) continue;
    std::string name = w->id();
    if (!counted_workloads_.contains(name)) {
      if (counted_workloads_.size() >= kMaxWorkloadSeries)
        name = "other";
      else
        counted_workloads_.insert(name);
    }
    ++flows_by_workload_[{std::move(name), event.verdict}];
  }
}

void Agent::CountRefused(const bulkhead::v1::Flow& flow, absl::Time now) {
  if (flow.verdict() != bulkhead::v1::DROPPED && flow.verdict() != bulkhead::v1::AUDIT) return;
  const bool icmp =
      flow.protocol() == bulkhead::v1::ICMP || flow.protocol() == bulkhead::v1::ICMPV6;
  RefusedKey key{flow.source().workload(), flow.destination().workload(), flow.protocol(),
                 icmp ? flow.icmp_type() : flow.destination().port(), flow.verdict()};
  auto it = refused_.find(key);
  if (it == refused_.end()) {
    if (refused_.size() >= kMaxRefusedPairs) {
      refused_.erase(*refused_recency_.front());
      refused_recency_.pop_front();
      ++refused_forgotten_;
    }
    it = refused_.emplace(std::move(key), RefusedUse{.first_seen = now}).first;
    it->second.recency = refused_recency_.insert(refused_recency_.end(), &it->first);
  } else {
    refused_recency_.splice(refused_recency_.end(), refused_recency_, it->second.recency);
  }
  ++it->second.flows;
  it->second.last_seen = now;
  it->second.reason = flow.reason();
}

bulkhead::v1::TopResponse Agent::Top(const bulkhead::v1::TopRequest& request) const {
  const std::size_t limit = request.limit() == 0 ? 10 : request.limit();
  bulkhead::v1::TopResponse top;
  bulkhead::v1::Policy policy = store_.Snapshot();
  std::vector<const bulkhead::v1::Segment*> segments;
  for (const auto& s : policy.segments()) segments.push_back(&s);
  std::stable_sort(segments.begin(), segments.end(),
                   [](const auto* a, const auto* b) { return a->flows() > b->flows(); });
  for (std::size_t i = 0; i < segments.size() && i < limit; ++i) *top.add_segments() = *segments[i];
  std::vector<std::pair<const RefusedKey*, const RefusedUse*>> refused;
  for (const auto& [key, use] : refused_) refused.emplace_back(&key, &use);
  std::stable_sort(refused.begin(), refused.end(),
                   [](const auto& a, const auto& b) { return a.second->flows > b.second->flows; });
  for (std::size_t i = 0; i < refused.size() && i < limit; ++i) {
    const auto& [from, to, protocol, port, verdict] = *refused[i].first;
    const RefusedUse& use = *refused[i].second;
    bulkhead::v1::RefusedPair* out = top.add_refused();
    out->set_from(from);
    out->set_to(to);
    out->set_protocol(static_cast<bulkhead::v1::Protocol>(protocol));
    out->set_port(port);
    out->set_verdict(static_cast<bulkhead::v1::Verdict>(verdict));
    out->set_reason(use.reason);
    out->set_flows(use.flows);
    *out->mutable_first_seen() = ToTimestamp(use.first_seen);
    *out->mutable_last_seen() = ToTimestamp(use.last_seen);
  }
  top.set_refused_pairs_forgotten(refused_forgotten_);
  return top;
}

void Agent::ForgetGoneWorkloads() {
  auto gone = [&](const std::string& name) {
    return name != "other" && !identities_.IdentityOf(name).has_value();
  };
  std::erase_if(counted_workloads_, gone);
  std::erase_if(flows_by_workload_, [&](const auto& entry) { return gone(entry.first.first); });
}

std::string Agent::MetricsText() const {
  std::vector<MetricFamily> families;
  const bulkhead::v1::StatusResponse status = Status();

  MetricFamily info =
      Family("bulkhead_build_info", "The agent's version (always 1).", MetricType::Gauge);
  Add(info, {{"version", status.version()}, {"node", node_name_}}, 1);
  families.push_back(std::move(info));
  MetricFamily uptime =
      Family("bulkhead_uptime_seconds", "Seconds since the agent started.", MetricType::Gauge);
  Add(uptime, {}, static_cast<double>(status.uptime_seconds()));
  families.push_back(std::move(uptime));

  MetricFamily flows =
      Family("bulkhead_flows_total",
             "Flow events the agent received, by verdict and reason (forwarded flows are reported "
             "within a rate limit; drops and audits always).",
             MetricType::Counter);
  for (const auto& [key, count] : flows_by_verdict_) {
    const std::string verdict = VerdictName(key.first);
    // bh_reason and the proto's Reason share their numbers.
    const std::string reason =
        key.first == BH_VERDICT_FORWARDED
            ? ""
            : Lower(bulkhead::v1::Reason_Name(static_cast<bulkhead::v1::Reason>(key.second)));
    Add(flows, {{"verdict", verdict}, {"reason", reason}}, static_cast<double>(count));
  }
  families.push_back(std::move(flows));

  MetricFamily per_workload =
      Family("bulkhead_workload_flows_total",
             "Flow events with the workload at either end, by verdict (at most 1000 workloads; the "
             "rest count as workload=\"other\").",
             MetricType::Counter);
  for (const auto& [key, count] : flows_by_workload_)
    Add(per_workload, {{"workload", key.first}, {"verdict", VerdictName(key.second)}},
        static_cast<double>(count));
  families.push_back(std::move(per_workload));

  MetricFamily packets =
      Family("bulkhead_datapath_packets_total",
             "Packets the datapath counted, by what happened to them (summed over CPUs).",
             MetricType::Counter);
  MetricFamily drops =
      Family("bulkhead_drops_total", "Packets dropped, by reason.", MetricType::Counter);
  MetricFamily lost =
      Family("bulkhead_events_lost_total", "Flow events lost because the ring buffer was full.",
             MetricType::Counter);
  if (auto stats = datapath_->ReadStats(); stats.ok()) {
    for (int i = 0; i < BH_STAT_MAX; ++i) {
      const std::string name = StatName(i);
      const double value = static_cast<double>((*stats)[i]);
      Add(packets, {{"counter", name}}, value);
      if (absl::StartsWith(name, "dropped_"))
        Add(drops, {{"reason", name.substr(8)}}, value);
      else if (name == "xdp_dropped")
        Add(drops, {{"reason", "xdp"}}, value);
      if (i == BH_STAT_EVENTS_LOST) Add(lost, {}, value);
    }
  }
  families.push_back(std::move(packets));
  families.push_back(std::move(drops));
  families.push_back(std::move(lost));

  MetricFamily entries =
      Family("bulkhead_map_entries", "Entries in each datapath map.", MetricType::Gauge);
  MetricFamily capacity =
      Family("bulkhead_map_capacity", "Each datapath map's size (bulkheadd's --*-max flags).",
             MetricType::Gauge);
  for (const bulkhead::v1::MapFill& fill : status.maps()) {
    Add(entries, {{"map", fill.name()}}, static_cast<double>(fill.entries()));
    Add(capacity, {{"map", fill.name()}}, static_cast<double>(fill.capacity()));
  }
  families.push_back(std::move(entries));
  families.push_back(std::move(capacity));

  MetricFamily workloads =
      Family("bulkhead_workloads", "Workloads in the inventory, by mode.", MetricType::Gauge);
  std::map<std::string, int> by_mode = {{"learn", 0}, {"monitor", 0}, {"enforce", 0}};
  for (const auto& w : status.workloads()) ++by_mode[Lower(bulkhead::v1::Mode_Name(w.mode()))];
  for (const auto& [mode, count] : by_mode) Add(workloads, {{"mode", mode}}, count);
  families.push_back(std::move(workloads));
  MetricFamily segments =
      Family("bulkhead_segments", "Segments in the allow-list.", MetricType::Gauge);
  Add(segments, {}, static_cast<double>(status.segments()));
  families.push_back(std::move(segments));

  // The agent's own counters, as `bulkhead status` lists them: learner_*
  // and agent_* (the datapath's are above).
  MetricFamily learner = Family(
      "bulkhead_learner_events_total",
      "What the learner did with flow events: learned, or skipped and why.", MetricType::Counter);
  MetricFamily learner_now =
      Family("bulkhead_learner_candidates",
             "Candidate segments now: waiting for their answer, or held back for review.",
             MetricType::Gauge);
  MetricFamily agent = Family(
      "bulkhead_agent_events_total",
      "Reloads, policy applies and log lines held back, and their failures.", MetricType::Counter);
  for (const auto& [name, value] : status.datapath_counters()) {
    const double v = static_cast<double>(value);
    if (name == "learner_waiting_for_answer")
      Add(learner_now, {{"state", "waiting_for_answer"}}, v);
    else if (name == "learner_held_back")
      Add(learner_now, {{"state", "held_back"}}, v);
    else if (absl::StartsWith(name, "learner_"))
      Add(learner, {{"event", name.substr(8)}}, v);
    else if (absl::StartsWith(name, "agent_"))
      Add(agent, {{"event", name.substr(6)}}, v);
  }
  families.push_back(std::move(learner));
  families.push_back(std::move(learner_now));
  families.push_back(std::move(agent));

  for (const auto& [name, help, timing] :
       {std::tuple{"bulkhead_compile_seconds",
                   "Learned segments compiled into the maps: how long each took.",
                   &compile_timing_},
        {"bulkhead_policy_apply_seconds",
         "Policy files applied (read, checked, in the maps): how long each took.",
         &apply_timing_}}) {
    MetricFamily family = Family(name, help, MetricType::Summary);
    ClientMetric m;
    m.summary.sample_count = timing->count;
    m.summary.sample_sum = timing->seconds;
    family.metric.push_back(std::move(m));
    families.push_back(std::move(family));
  }

  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace bulkhead
