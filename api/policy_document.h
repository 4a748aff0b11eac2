// A policy file as a person reviews it and brings it back: what
// `bulkhead policy apply`, `bulkheadd --policy`, `policy diff` and
// `policy simulate` read. Bulkhead's own format, as `bulkhead policy export`
// writes it (policy_yaml.h):
//
//   apiVersion: bulkhead.dev/v1alpha1
//   kind: SegmentPolicy
//   scope: {namespace: shop}     # optional: the file covers only these
//   segments:                    # required; [] denies everything in scope
//     - from: shop/api
//       to: shop/db
//       protocol: TCP            # TCP, UDP, SCTP, ICMP, ICMPv6
//       port: 5432               # ICMP: the type (8: echo request)
//       endPort: 5440            # optional: a range; port 0 to 65535 is any
//       origin: reviewed         # optional: learned or reviewed (default)
//       firstSeen, lastSeen, flows, collapsedPorts   # optional, kept as read
//   heldBack: [...]              # optional: candidates still waiting for review
//   guardrails: [...]            # optional (guardrail_rules.h); not in a scoped file
//   modes: {shop/api: enforce}   # optional: workloads whose mode the file sets
//
// What applying means: the file is the policy of its scope. Its segments
// replace every segment with an end in the scope (without a scope: every
// segment), its heldBack the candidates held back there, its guardrails the
// ones an earlier policy file brought; the modes it lists are set, the
// others stay. A segment keeps the origin the file gives it, so export ->
// apply -> export gives the same file.
//
// Reading is strict and complete: an unknown key, a key given twice, a bad
// port or protocol, a duplicate segment are problems, and every problem in
// the file is reported with its line, not just the first.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "api/guardrail_rules.h"
#include "proto/api.pb.h"
#include "proto/policy.pb.h"

namespace bulkhead {

inline constexpr std::size_t kMaxPolicyFileBytes = 16 << 20;

struct PolicyProblem {
  int line = 0;  // 1-based; 0: the file as a whole
  std::string message;
};

struct PolicyDocument {
  template <typename T>
  struct Lined {
    T value;
    int line = 0;
  };
  // What the file decides. Bulkhead's format: every segment with an end its
  // `scope` selects (kAny: everything; kNamespace, kWorkload). A Kubernetes
  // file (kubernetes_import.h): the TCP, UDP and SCTP segments with an end
  // at a workload in `scope_workloads`, the workloads its policies select;
  // NetworkPolicy has no ICMP, so ICMP segments stay as they are.
  PeerSelector scope;
  bool kubernetes = false;
  std::set<std::string> scope_workloads;
  std::vector<Lined<bulkhead::v1::Segment>> segments;
  std::vector<Lined<bulkhead::v1::Segment>> held_back;
  std::vector<Lined<Guardrail>> guardrails;
  std::map<std::string, Lined<bulkhead::v1::Mode>> modes;  // "namespace/name" ->

  // Whether `peer` (a workload, a mode's key) is in the file's scope.
  bool InScope(absl::string_view peer) const {
    return kubernetes ? scope_workloads.contains(std::string(peer)) : scope.Selects(peer);
  }
  // Whether a segment from `from` to `to` of `protocol` is the file's to
  // decide.
  bool Decides(absl::string_view from, absl::string_view to,
               bulkhead::v1::Protocol protocol) const {
    if (kubernetes && protocol != bulkhead::v1::TCP && protocol != bulkhead::v1::UDP &&
        protocol != bulkhead::v1::SCTP)
      return false;
    return InScope(from) || InScope(to);
  }
  // Whether it is the whole node's policy: only then may it hold guardrails.
  bool WholeNode() const { return !kubernetes && scope.kind == PeerSelector::Kind::kAny; }
};

struct ParsedPolicy {
  PolicyDocument document;
  std::vector<PolicyProblem> problems;  // any: the file must not be applied
  // What is read as the file says but worth a look, one line each ("line
  // 12: ..."): only Kubernetes files have any (kubernetes_import.h).
  std::vector<std::string> warnings;
};

struct PeerCatalog;

// Reads a file in Bulkhead's format, or Kubernetes NetworkPolicies (one per
// document, or a v1 List) read against `catalog`'s workloads and their
// labels (without a catalog, such a file is one problem). Problems come
// sorted by line.
ParsedPolicy ParsePolicyDocument(absl::string_view text, const PeerCatalog* catalog = nullptr);

// The peers an agent knows, which a file is checked against; the agent
// builds it from its inventory, the CLI from an export.
struct PeerCatalog {
  std::map<std::string, std::map<std::string, std::string>> workloads;  // "ns/name" -> labels
  std::map<std::string, std::vector<std::string>> networks;             // name -> CIDRs
  std::vector<std::string> host_addresses;

  // A workload, a network set, or host, world, private.
  bool Knows(absl::string_view peer) const;
};
PeerCatalog CatalogOf(const bulkhead::v1::ExportPolicyResponse& exported);

// What else a file must agree with: the limits and the guardrails that do
// not come from policy files.
struct PolicyContext {
  const PeerCatalog* catalog = nullptr;     // null: names are not checked
  std::vector<Guardrail> other_guardrails;  // e.g. bulkheadd --guardrails
  std::size_t max_segments = 0;             // 0: no limit
};

// Adds the problems of `document` in `context`: a peer or workload the
// catalog does not know, a segment or candidate a guardrail denies, a
// guardrail named like another one but different, more segments than the
// policy map holds. `warnings`: what is accepted but worth a look (a
// guardrail selector that selects nothing now).
void CheckPolicyDocument(const PolicyDocument& document, const PolicyContext& context,
                         std::vector<PolicyProblem>* problems, std::vector<std::string>* warnings);

// "shop/api -> shop/db : tcp/5432", "... : tcp/8000-8100", "... : udp/any".
std::string DescribeSegment(const bulkhead::v1::Segment& segment);

// "line 12: message", or the message alone for line 0.
std::string ToString(const PolicyProblem& problem);

}  // namespace bulkhead
