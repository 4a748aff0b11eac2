#include "api/policy_review.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "api/guardrail_rules.h"
#include "google/protobuf/util/time_util.h"

namespace bulkhead {
namespace {

using bulkhead::v1::Segment;

using Key = std::tuple<std::string, std::string, int, std::uint32_t, std::uint32_t>;

Key KeyOf(const Segment& s) {
  return {s.from_workload(), s.to_workload(), s.protocol(), s.port(), s.port_end()};
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixNanos(google::protobuf::util::TimeUtil::TimestampToNanoseconds(t));
}

bool IsWorkload(absl::string_view peer) { return peer.find('/') != absl::string_view::npos; }

// The guardrails in force; with `without_policy_files`, only those no
// policy file brought (a file for the whole node replaces those).
std::vector<Guardrail> GuardrailsInForce(const bulkhead::v1::ExportPolicyResponse& in_force,
                                         bool without_policy_files) {
  std::vector<Guardrail> out;
  for (const auto& status : in_force.guardrails()) {
    if (without_policy_files && status.source() == "policy") continue;
    bulkhead::v1::GuardrailRule rule;
    rule.set_name(status.name());
    *rule.mutable_from() = status.from_selector();
    *rule.mutable_to() = status.to_selector();
    *rule.mutable_except() = status.except();
    if (absl::StatusOr<Guardrail> g = GuardrailFromProto(rule); g.ok()) out.push_back(*g);
  }
  return out;
}

}  // namespace

PolicyDiff DiffPolicy(const bulkhead::v1::ExportPolicyResponse& in_force,
                      const PolicyDocument& file, absl::Time now, absl::Duration unused_for) {
  PolicyDiff diff;
  auto decided = [&](const Segment& s) {
    return file.Decides(s.from_workload(), s.to_workload(), s.protocol());
  };
  std::map<Key, const Segment*> forced, filed;
  for (const Segment& s : in_force.policy().segments())
    if (decided(s)) forced.emplace(KeyOf(s), &s);
  for (const auto& [s, line] : file.segments) filed.emplace(KeyOf(s), &s);
  for (const auto& [key, s] : forced) {
    auto in_file = filed.find(key);
    if (in_file == filed.end()) {
      diff.only_in_force.push_back(*s);
      continue;
    }
    absl::Time seen = s->has_last_seen()    ? TimeOf(s->last_seen())
                      : s->has_first_seen() ? TimeOf(s->first_seen())
                                            : absl::InfinitePast();
    if (now - seen >= unused_for) diff.unused.push_back(*s);
  }
  for (const auto& [key, s] : filed)
    if (!forced.contains(key)) diff.only_in_file.push_back(*s);

  std::map<std::string, bulkhead::v1::Mode> modes;
  for (const auto& w : in_force.workloads()) modes[w.workload()] = w.mode();
  for (const auto& [name, mode] : file.modes) {
    auto it = modes.find(name);
    bulkhead::v1::Mode now_mode = it == modes.end() ? bulkhead::v1::MODE_UNSPECIFIED : it->second;
    if (now_mode != mode.value) diff.modes.push_back({name, mode.value, now_mode});
  }

  if (file.WholeNode()) {
    std::map<std::string, Guardrail> forced_rules, filed_rules;
    for (const Guardrail& g : GuardrailsInForce(in_force, false)) forced_rules[g.name] = g;
    for (const auto& [g, line] : file.guardrails) filed_rules[g.name] = g;
    for (const auto& [name, g] : forced_rules) {
      auto in_file = filed_rules.find(name);
      if (in_file == filed_rules.end())
        diff.guardrails.push_back("+ " + name);
      else if (!in_file->second.SameRule(g))
        diff.guardrails.push_back("~ " + name);
    }
    for (const auto& [name, g] : filed_rules)
      if (!forced_rules.contains(name)) diff.guardrails.push_back("- " + name);
  }

  std::map<Key, const Segment*> held_in_file;
  for (const auto& [s, line] : file.held_back) held_in_file.emplace(KeyOf(s), &s);
  for (const Segment& s : in_force.held_back().segments())
    if (decided(s) && !held_in_file.contains(KeyOf(s))) diff.newly_held.push_back(s);
  return diff;
}

Simulation Simulate(const std::vector<bulkhead::v1::Flow>& flows, const PolicyDocument& file,
                    const SimulationOptions& options) {
  const bulkhead::v1::ExportPolicyResponse* in_force = options.in_force;
  // The candidate policy: the file, and what is in force outside its scope.
  std::map<std::tuple<std::string, std::string, int>, std::vector<std::pair<std::uint32_t,
                                                                            std::uint32_t>>>
      admits;  // (from, to, protocol) -> port ranges
  auto add = [&](const Segment& s) {
    admits[{s.from_workload(), s.to_workload(), s.protocol()}].emplace_back(
        s.port(), s.port_end() == 0 ? s.port() : s.port_end());
  };
  for (const auto& [s, line] : file.segments) add(s);
  std::vector<Guardrail> guardrails;
  for (const auto& [g, line] : file.guardrails) guardrails.push_back(g);
  std::map<std::string, bulkhead::v1::Mode> modes;
  bool host_reaches_workloads = true;  // bulkheadd's default
  if (in_force) {
    for (const Segment& s : in_force->policy().segments())
      if (!file.Decides(s.from_workload(), s.to_workload(), s.protocol())) add(s);
    for (Guardrail& g : GuardrailsInForce(*in_force, file.WholeNode()))
      guardrails.push_back(std::move(g));
    for (const auto& w : in_force->workloads()) modes[w.workload()] = w.mode();
    host_reaches_workloads = in_force->host_reaches_workloads();
  }
  auto enforces = [&](const std::string& peer) {
    if (!IsWorkload(peer)) return false;  // only workloads have hooks
    if (!options.modes_from_file) return true;
    if (auto it = file.modes.find(peer); it != file.modes.end())
      return it->second.value == bulkhead::v1::ENFORCE;
    auto it = modes.find(peer);
    return it == modes.end() || it->second == bulkhead::v1::ENFORCE;
  };
  auto known = [&](const std::string& peer) {
    if (peer.find('(') != std::string::npos) return false;  // "unknown(N)"
    if (!in_force || peer == "host" || peer == "world" || peer == "private") return true;
    if (IsWorkload(peer)) return modes.contains(peer);
    return std::any_of(in_force->networks().begin(), in_force->networks().end(),
                       [&](const auto& n) { return n.name() == peer; });
  };

  Simulation out;
  std::map<std::tuple<std::string, std::string, int, std::uint32_t, std::string>, Simulation::Group>
      groups;
  for (const bulkhead::v1::Flow& flow : flows) {
    // Dropped whatever the policy says: not the policy's to break.
    if (flow.verdict() == bulkhead::v1::DROPPED && flow.reason() != bulkhead::v1::POLICY &&
        flow.reason() != bulkhead::v1::GUARDRAIL) {
      ++out.skipped;
      continue;
    }
    const std::string& from = flow.source().workload();
    const std::string& to = flow.destination().workload();
    if (from.empty() || to.empty() || !known(from) || !known(to)) {
      ++out.skipped;
      continue;
    }
    bulkhead::v1::Protocol proto = flow.protocol();
    bool icmp = proto == bulkhead::v1::ICMP || proto == bulkhead::v1::ICMPV6;
    std::uint32_t port = icmp ? flow.icmp_type() : flow.destination().port();
    ++out.judged;

    std::string why;
    for (const Guardrail& g : guardrails)
      if (g.Denies(from, to, static_cast<std::uint8_t>(proto), static_cast<std::uint16_t>(port),
                   static_cast<std::uint16_t>(port))) {
        why = "guardrail " + g.name;
        break;
      }
    if (why.empty() && (enforces(from) || enforces(to))) {
      auto it = admits.find({from, to, proto});
      bool admitted = it != admits.end() &&
                      std::any_of(it->second.begin(), it->second.end(),
                                  [&](auto r) { return port >= r.first && port <= r.second; });
      if (from == "host" && IsWorkload(to) && host_reaches_workloads) admitted = true;
      if (!admitted) why = "no segment";
    }
    if (why.empty()) continue;
    ++out.would_drop;
    Simulation::Group& g = groups[{from, to, proto, port, why}];
    g.from = from, g.to = to, g.protocol = proto, g.port = port, g.why = why;
    ++g.flows;
    absl::Time t = TimeOf(flow.time());
    g.first = std::min(g.first, t);
    g.last = std::max(g.last, t);
  }
  for (auto& [key, g] : groups) out.dropped.push_back(std::move(g));
  std::stable_sort(out.dropped.begin(), out.dropped.end(),
                   [](const auto& a, const auto& b) { return a.flows > b.flows; });
  return out;
}

}  // namespace bulkhead
