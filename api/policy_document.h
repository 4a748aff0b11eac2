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
  // Everything, or the workloads of a namespace, or one workload (kAny,
  // kNamespace, kWorkload).
  PeerSelector scope;
  std::vector<Lined<bulkhead::v1::Segment>> segments;
  std::vector<Lined<bulkhead::v1::Segment>> held_back;
  std::vector<Lined<Guardrail>> guardrails;
  std::map<std::string, Lined<bulkhead::v1::Mode>> modes;  // "namespace/name" ->

  // Whether a segment from `from` to `to` is the file's to decide.
  bool Covers(absl::string_view from, absl::string_view to) const {
    return scope.Selects(from) || scope.Selects(to);
  }
};

struct ParsedPolicy {
  PolicyDocument document;
  std::vector<PolicyProblem> problems;  // any: the file must not be applied
};

// Reads a file in Bulkhead's format. Problems come sorted by line.
ParsedPolicy ParsePolicyDocument(absl::string_view text);

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

// "line 12: message", or the message alone for line 0.
std::string ToString(const PolicyProblem& problem);

}  // namespace bulkhead
