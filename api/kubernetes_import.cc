#include "api/kubernetes_import.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "api/kubernetes_policy.h"
#include "api/network_policy_reader.h"
#include "api/peer_addresses.h"

namespace bulkhead {
namespace {

using bulkhead::v1::Protocol;
using k8s::Direction;
using k8s::kEgress;
using k8s::kIngress;
using k8s::LabelSelector;
using k8s::PortRange;
using k8s::PortSet;

constexpr Protocol kPortProtocols[] = {bulkhead::v1::TCP, bulkhead::v1::UDP, bulkhead::v1::SCTP};

// The catalog's peers by number: its workloads first, in name order, then
// host, private, world and the network sets. Workloads are indexed by
// namespace and by label, so a selector looks at its candidates only.
class Peers {
 public:
  explicit Peers(const PeerCatalog& catalog) {
    for (const auto& [id, own] : catalog.workloads) {
      int w = static_cast<int>(names_.size());
      names_.push_back(id);
      std::size_t slash = id.find('/');
      namespaces_.push_back(slash == std::string::npos ? "" : id.substr(0, slash));
      by_namespace_[namespaces_.back()].push_back(w);
      k8s::Labels labels = own;
      labels.merge(SelectorLabels(id, own));  // the fallback label the export selects it by
      for (const auto& label : labels) by_label_[label].push_back(w);
      labels_.push_back(std::move(labels));
      all_workloads_.push_back(w);
    }
    for (const char* reserved : {"host", "private", "world"}) names_.push_back(reserved);
    for (const auto& [name, cidrs] : catalog.networks)
      if (!catalog.workloads.contains(name) && name != "host" && name != "private" &&
          name != "world")
        names_.push_back(name);
    for (std::size_t i = 0; i < names_.size(); ++i) index_.emplace(names_[i], static_cast<int>(i));
  }

  int size() const { return static_cast<int>(names_.size()); }
  int workloads() const { return static_cast<int>(all_workloads_.size()); }
  const std::string& Name(int peer) const { return names_[peer]; }
  int Index(const std::string& name) const { return index_.at(name); }

  // The workloads whose pods `pods` selects (null: every pod) in namespace
  // `ns`, or (`ns` null) in the namespaces `namespaces` selects; in order.
  std::vector<int> Select(const LabelSelector* pods, const std::string* ns,
                          const LabelSelector* namespaces) const {
    static const std::vector<int> kNone;
    const std::vector<int>* candidates = &all_workloads_;
    if (ns != nullptr) {
      auto it = by_namespace_.find(*ns);
      candidates = it == by_namespace_.end() ? &kNone : &it->second;
    }
    if (pods != nullptr)
      for (const auto& label : pods->match_labels) {
        auto it = by_label_.find(label);
        const std::vector<int>* labelled = it == by_label_.end() ? &kNone : &it->second;
        if (labelled->size() < candidates->size()) candidates = labelled;
      }
    std::vector<int> out;
    for (int w : *candidates) {
      bool in_namespace = ns != nullptr
                              ? namespaces_[w] == *ns
                              : namespaces->Matches({{k8s::kNamespaceNameLabel, namespaces_[w]}});
      if (in_namespace && (pods == nullptr || pods->Matches(labels_[w]))) out.push_back(w);
    }
    return out;
  }

 private:
  std::vector<std::string> names_;
  std::map<std::string, int> index_;
  std::vector<std::string> namespaces_;  // of the workloads
  std::vector<k8s::Labels> labels_;      // of the workloads, as their pods are selected
  std::vector<int> all_workloads_;
  std::map<std::string, std::vector<int>> by_namespace_;
  std::map<std::pair<std::string, std::string>, std::vector<int>> by_label_;
};

// The agent's peers as ipBlocks, or why they have none.
absl::StatusOr<PeerAddresses> AddressesOf(const PeerCatalog& catalog) {
  google::protobuf::RepeatedPtrField<bulkhead::v1::NetworkInfo> networks;
  for (const auto& [name, cidrs] : catalog.networks) {
    bulkhead::v1::NetworkInfo* info = networks.Add();
    info->set_name(name);
    for (const std::string& cidr : cidrs) info->add_cidrs(cidr);
  }
  google::protobuf::RepeatedPtrField<std::string> hosts(catalog.host_addresses.begin(),
                                                        catalog.host_addresses.end());
  return PeerAddresses::Build(networks, hosts);
}

// Port ranges of one protocol as sorted, disjoint, non-adjacent intervals.
using Intervals = std::vector<std::pair<std::uint32_t, std::uint32_t>>;

Intervals Union(const PortSet& ports, Protocol protocol) {
  Intervals sorted;
  for (const auto& [r, line] : ports)
    if (r.protocol == protocol) sorted.emplace_back(r.first, r.last);
  std::sort(sorted.begin(), sorted.end());
  Intervals out;
  for (const auto& [first, last] : sorted)
    if (!out.empty() && first <= out.back().second + 1)
      out.back().second = std::max(out.back().second, last);
    else
      out.emplace_back(first, last);
  return out;
}

bool Covers(const Intervals& set, std::uint32_t first, std::uint32_t last) {
  return std::any_of(set.begin(), set.end(),
                     [&](const auto& i) { return i.first <= first && last <= i.second; });
}

Intervals Intersect(const Intervals& a, const Intervals& b) {
  Intervals out;
  for (const auto& [a_first, a_last] : a)
    for (const auto& [b_first, b_last] : b) {
      std::uint32_t first = std::max(a_first, b_first);
      std::uint32_t last = std::min(a_last, b_last);
      if (first <= last) out.emplace_back(first, last);
    }
  return out;  // sorted and disjoint, as a and b are
}

// The ports of a flow from A to B when A's egress allows `egress` and B's
// ingress `ingress`: each side's entry that both allow whole, and each
// stretch of ports both allow that those entries do not cover, whole.
PortSet BothSides(const PortSet& egress, const PortSet& ingress) {
  PortSet out;
  for (Protocol protocol : kPortProtocols) {
    Intervals e = Union(egress, protocol);
    Intervals i = Union(ingress, protocol);
    if (e.empty() || i.empty()) continue;
    int line = 0;  // of the first entry, for the stretches
    for (const PortSet* side : {&egress, &ingress})
      for (const auto& [r, at] : *side)
        if (r.protocol == protocol) {
          if (line == 0) line = at;
          if (Covers(e, r.first, r.last) && Covers(i, r.first, r.last)) out.emplace(r, at);
        }
    Intervals kept = Union(out, protocol);
    for (const auto& [first, last] : Intersect(e, i))
      if (!Covers(kept, first, last)) out.emplace(PortRange{protocol, first, last}, line);
  }
  return out;
}

// Adds `more` to `ports`, keeping the first line of each range.
void Merge(const PortSet& more, PortSet* ports) {
  for (const auto& [range, line] : more) {
    auto [it, fresh] = ports->emplace(range, line);
    if (!fresh) it->second = std::min(it->second, line);
  }
}

// What a workload in scope allows in one direction: by the other end, and
// with every peer (rules without peers, kept apart instead of multiplied
// out over the catalog).
struct Side {
  std::map<int, PortSet> by_peer;
  PortSet every_peer;

  PortSet With(int other) const {
    PortSet ports = every_peer;
    if (auto it = by_peer.find(other); it != by_peer.end()) Merge(it->second, &ports);
    return ports;
  }
  // The other ends it allows anything with.
  std::vector<int> Others(int peers) const {
    std::vector<int> out;
    if (!every_peer.empty()) {
      for (int i = 0; i < peers; ++i) out.push_back(i);
    } else {
      for (const auto& [other, ports] : by_peer) out.push_back(other);
    }
    return out;
  }
};

// "shop/api", "shop/api and shop/db", "shop/a, shop/b, ... and 3 more".
std::string NameList(const std::vector<std::string>& names) {
  constexpr std::size_t kShown = 5;
  if (names.size() == 1) return names[0];
  if (names.size() <= kShown)
    return absl::StrCat(absl::StrJoin(names.begin(), names.end() - 1, ", "), " and ", names.back());
  return absl::StrCat(absl::StrJoin(names.begin(), names.begin() + kShown, ", "), " and ",
                      names.size() - kShown, " more");
}

// Whom the policies select, and which directions isolate them.
struct Selection {
  std::vector<std::vector<int>> selected;     // by policy: its workloads
  std::vector<std::vector<int>> selected_by;  // by workload: its policies, in file order
  std::vector<std::array<bool, 2>> isolated;  // by workload, by Direction

  bool InScope(int peer) const {
    return peer < static_cast<int>(selected_by.size()) && !selected_by[peer].empty();
  }
};

Selection Select(const std::vector<k8s::Policy>& policies, const Peers& peers,
                 std::vector<PolicyProblem>* warnings) {
  Selection s;
  s.selected.resize(policies.size());
  s.selected_by.resize(peers.workloads());
  s.isolated.resize(peers.workloads(), {false, false});
  for (std::size_t p = 0; p < policies.size(); ++p) {
    const k8s::Policy& policy = policies[p];
    s.selected[p] = peers.Select(&policy.selector, &policy.ns, nullptr);
    for (int w : s.selected[p]) {
      s.selected_by[w].push_back(static_cast<int>(p));
      for (Direction d : {kIngress, kEgress}) s.isolated[w][d] |= policy.types[d];
    }
    if (s.selected[p].empty())
      warnings->push_back(
          {policy.line,
           absl::StrCat(policy.what,
                        " selects no workload of this agent: it decides nothing here")});
  }
  return s;
}

// A workload in scope must be isolated both ways; one problem for the
// workloads the same policy leaves open the same way.
void CheckIsolation(const std::vector<k8s::Policy>& policies, const Selection& selection,
                    const Peers& peers, std::vector<PolicyProblem>* problems) {
  std::map<std::pair<int, int>, std::vector<std::string>> open;  // (first policy, direction) ->
  for (int w = 0; w < peers.workloads(); ++w)
    for (Direction d : {kIngress, kEgress})
      if (selection.InScope(w) && !selection.isolated[w][d])
        open[{selection.selected_by[w][0], d}].push_back(peers.Name(w));
  for (const auto& [key, names] : open) {
    const k8s::Policy& policy = policies[key.first];
    const auto lacking = static_cast<Direction>(key.second);
    const char* only = k8s::kPolicyTypeName[lacking == kIngress ? kEgress : kIngress];
    bool one = names.size() == 1;
    problems->push_back(
        {policy.types_line,
         absl::StrCat(NameList(names), one ? " is" : " are", " selected for ", only, " only (",
                      one ? "by " : "first by ", policy.what, "): Kubernetes then allows all ",
                      one ? "its " : "their ", k8s::kRulesField[lacking],
                      ", which segments cannot say; add ", k8s::kPolicyTypeName[lacking],
                      " to policyTypes",
                      policy.types_given ? ""
                                         : " (without policyTypes, Kubernetes takes Egress only "
                                           "when there are egress rules)")});
  }
}

// What each workload allows, by direction: the rules of the policies that
// select it for that direction.
std::array<std::vector<Side>, 2> Sides(const std::vector<k8s::Policy>& policies,
                                       const Selection& selection, const Peers& peers,
                                       std::vector<PolicyProblem>* warnings) {
  std::array<std::vector<Side>, 2> sides;
  for (auto& side : sides) side.resize(peers.workloads());
  for (std::size_t p = 0; p < policies.size(); ++p) {
    const k8s::Policy& policy = policies[p];
    const std::vector<int>& selected = selection.selected[p];
    if (selected.empty()) continue;  // said once for the policy
    for (Direction d : {kIngress, kEgress}) {
      if (!policy.types[d]) continue;
      for (const k8s::Rule& rule : policy.rules[d]) {
        PortSet ports;
        if (rule.ports) {
          ports = *rule.ports;
        } else {
          for (Protocol protocol : kPortProtocols)
            ports.emplace(PortRange{protocol, 0, 65535}, rule.line);
          warnings->push_back(
              {rule.line,
               absl::StrCat(policy.what, ": ", rule.path,
                            " has no ports: Kubernetes allows every protocol there; the segments "
                            "allow TCP, UDP and SCTP on any port, and ICMP stays as the agent "
                            "has it (a NetworkPolicy file does not decide ICMP)")});
        }
        if (!rule.peers) {
          for (int w : selected) Merge(ports, &sides[d][w].every_peer);
          continue;
        }
        std::vector<int> others;
        for (const k8s::Peer& peer : *rule.peers) {
          std::vector<int> matched =
              peer.block ? std::vector<int>{peers.Index(peer.block->peer)}
                         : peers.Select(peer.pods ? &*peer.pods : nullptr,
                                        peer.namespaces ? nullptr : &policy.ns,
                                        peer.namespaces ? &*peer.namespaces : nullptr);
          if (matched.empty())
            warnings->push_back({peer.line, absl::StrCat(policy.what, ": ", peer.path,
                                                         " selects no workload of this agent")});
          others.insert(others.end(), matched.begin(), matched.end());
        }
        for (int w : selected)
          for (int other : others) Merge(ports, &sides[d][w].by_peer[other]);
      }
    }
  }
  return sides;
}

// The segments the sides allow: a pair with both ends in scope where both
// sides allow it, a pair with one end in scope where that end's side does
// (kubernetes_import.h). Sorted, each with the line of a rule that allows it.
std::vector<PolicyDocument::Lined<bulkhead::v1::Segment>> Segments(
    const std::array<std::vector<Side>, 2>& sides, const Selection& selection, const Peers& peers) {
  std::map<std::tuple<int, int, PortRange>, int> allowed;  // (from, to, ports) -> line
  auto add = [&](int from, int to, const PortSet& ports) {
    for (const auto& [range, line] : ports) allowed.emplace(std::tuple(from, to, range), line);
  };
  for (int w = 0; w < peers.workloads(); ++w) {
    if (!selection.InScope(w)) continue;
    const Side& egress = sides[kEgress][w];
    for (int other : egress.Others(peers.size()))
      if (!selection.InScope(other)) add(w, other, egress.With(other));
    const Side& ingress = sides[kIngress][w];
    for (int other : ingress.Others(peers.size())) {
      if (!selection.InScope(other))
        add(other, w, ingress.With(other));
      else
        add(other, w, BothSides(sides[kEgress][other].With(w), ingress.With(other)));
    }
  }
  std::vector<PolicyDocument::Lined<bulkhead::v1::Segment>> out;
  out.reserve(allowed.size());
  for (const auto& [key, line] : allowed) {
    const auto& [from, to, range] = key;
    bulkhead::v1::Segment s;
    s.set_from_workload(peers.Name(from));
    s.set_to_workload(peers.Name(to));
    s.set_protocol(range.protocol);
    s.set_port(range.first);
    if (range.last != range.first) s.set_port_end(range.last);
    s.set_origin(bulkhead::v1::REVIEWED);
    out.push_back({std::move(s), line});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tuple(a.value.from_workload(), a.value.to_workload(), a.value.protocol(),
                      a.value.port(), a.value.port_end()) <
           std::tuple(b.value.from_workload(), b.value.to_workload(), b.value.protocol(),
                      b.value.port(), b.value.port_end());
  });
  return out;
}

}  // namespace

bool IsKubernetes(const YAML::Node& root) {
  if (!root.IsMap()) return false;
  const YAML::Node api_version = root["apiVersion"];
  const YAML::Node kind = root["kind"];
  if (!api_version || !api_version.IsScalar()) return false;
  if (absl::StartsWith(api_version.Scalar(), "networking.k8s.io/")) return true;
  return api_version.Scalar() == "v1" && kind && kind.IsScalar() && kind.Scalar() == "List";
}

ParsedPolicy ParseKubernetesPolicies(const std::vector<YamlDocument>& documents,
                                     const PeerCatalog& catalog) {
  ParsedPolicy parsed;
  PolicyDocument& document = parsed.document;
  document.kubernetes = true;
  std::vector<PolicyProblem>& problems = parsed.problems;
  std::vector<PolicyProblem> warnings;  // with lines, sorted into parsed.warnings at the end
  auto finish = [&]() -> ParsedPolicy {
    auto by_line = [](const auto& a, const auto& b) { return a.line < b.line; };
    std::stable_sort(problems.begin(), problems.end(), by_line);
    std::stable_sort(warnings.begin(), warnings.end(), by_line);
    for (const PolicyProblem& w : warnings) parsed.warnings.push_back(ToString(w));
    return std::move(parsed);
  };

  absl::StatusOr<PeerAddresses> addresses = AddressesOf(catalog);
  if (!addresses.ok())
    problems.push_back({0, absl::StrCat("the agent's peers have no address blocks, so no ipBlock "
                                        "can be read: ",
                                        addresses.status().message())});
  bool complete = false;
  const std::vector<k8s::Policy> policies =
      k8s::ReadPolicies(documents, addresses.ok() ? &*addresses : nullptr, &problems, &complete);
  if (policies.empty() && complete) {
    problems.push_back({0, "the file holds no NetworkPolicy"});
    return finish();
  }

  const Peers peers(catalog);
  const Selection selection = Select(policies, peers, &warnings);
  for (int w = 0; w < peers.workloads(); ++w)
    if (selection.InScope(w)) document.scope_workloads.insert(peers.Name(w));
  // A policy left out might have selected more, or isolated what looks
  // open: the scope is only judged when every policy was read.
  if (complete) {
    if (document.scope_workloads.empty())
      problems.push_back({0, absl::StrCat("no policy selects a workload of this agent (it has ",
                                          peers.workloads(), "): the file would decide nothing")});
    CheckIsolation(policies, selection, peers, &problems);
  }
  document.segments = Segments(Sides(policies, selection, peers, &warnings), selection, peers);
  bool host = std::any_of(document.segments.begin(), document.segments.end(), [](const auto& s) {
    return s.value.from_workload() == "host" || s.value.to_workload() == "host";
  });
  if (!host && !document.scope_workloads.empty())
    warnings.push_back(
        {0,
         "nothing is allowed with host (this node): Kubernetes always allows traffic between "
         "a pod and its own node whatever the policies say, but the agent enforces host as a "
         "peer like any other, so the host segments of the selected workloads (kubelet's "
         "probes among them) are removed; an ipBlock of the node's addresses allows them"});
  return finish();
}

}  // namespace bulkhead
