// networking.k8s.io/v1 NetworkPolicies read from YAML strictly, for
// kubernetes_import.h: every field checked against Kubernetes' schema and
// against the values Kubernetes accepts, every problem reported with its
// line, as policy_document.h reads Bulkhead's own format. What the policies
// mean (whom they select, which segments they allow) is
// kubernetes_import.cc's job.
//
// Read: each policy's namespace, name, podSelector, policyTypes (with
// Kubernetes' default) and rules, each rule's peers and ports. What can
// never map to segments is a problem here already: a named port, a
// namespaceSelector on a label other than kubernetes.io/metadata.name, an
// ipBlock that is not one of a peer's blocks (peer_addresses.h) or a rule
// with only some of a peer's blocks.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "api/peer_addresses.h"
#include "api/policy_document.h"
#include "api/yaml_documents.h"
#include "proto/flow.pb.h"

namespace bulkhead::k8s {

using Labels = std::map<std::string, std::string>;

// The label every namespace has, with its name (Kubernetes 1.21 and later).
inline constexpr char kNamespaceNameLabel[] = "kubernetes.io/metadata.name";

enum Direction { kIngress = 0, kEgress = 1 };
inline constexpr const char* kPolicyTypeName[] = {"Ingress", "Egress"};  // by Direction
inline constexpr const char* kRulesField[] = {"ingress", "egress"};

// Ports of one protocol (TCP, UDP, SCTP), first to last; 0-65535 is any port.
struct PortRange {
  bulkhead::v1::Protocol protocol = bulkhead::v1::TCP;
  std::uint32_t first = 0;
  std::uint32_t last = 0;
  auto operator<=>(const PortRange&) const = default;
};
// Port ranges, each with the line (in the whole file) that first names it.
using PortSet = std::map<PortRange, int>;

// A LabelSelector: matchLabels and matchExpressions, all of which must hold.
struct LabelSelector {
  enum class Op { kIn, kNotIn, kExists, kDoesNotExist };
  struct Requirement {
    std::string key;
    Op op = Op::kIn;
    std::set<std::string> values;
  };
  Labels match_labels;
  std::vector<Requirement> expressions;

  bool Matches(const Labels& labels) const;
  // Every label key it looks at.
  std::set<std::string> Keys() const;
};

// One NetworkPolicyPeer: an ipBlock, read as the peer it is a block of, or
// pods by their labels and namespaces.
struct Peer {
  int line = 0;
  std::string path;                               // "spec.ingress[0].from[1]"
  std::optional<PeerAddresses::PeerBlock> block;  // an ipBlock; else pods:
  std::optional<LabelSelector> pods;              // none: every pod
  std::optional<LabelSelector> namespaces;        // none: the policy's namespace
};

// An ingress rule (peers from `from`) or an egress rule (`to`).
struct Rule {
  int line = 0;
  std::string path;                        // "spec.egress[2]"
  std::optional<std::vector<Peer>> peers;  // none (no list, or an empty one): every peer
  std::optional<PortSet> ports;            // none: every port of every protocol
};

struct Policy {
  std::string ns;
  std::string name;
  std::string what;  // "policy shop/bulkhead-api", for messages
  int line = 0;
  int types_line = 0;  // of policyTypes, or of the spec without them
  bool types_given = false;
  std::array<bool, 2> types = {false, false};  // by Direction, defaulted as Kubernetes does
  LabelSelector selector;
  std::array<std::vector<Rule>, 2> rules;  // by Direction: those that read
};

// The policies of `documents` (NetworkPolicies or Lists of them; null
// documents are skipped), in file order, with every problem in *problems.
// What cannot be read is left out: a rule by itself, or a whole policy
// whose selection is in doubt (its kind, metadata, podSelector or
// policyTypes, rules for a direction policyTypes leaves out, the same
// policy twice), which sets *complete to false. `addresses`: the peers
// ipBlocks belong to; null leaves every ipBlock out without a problem (the
// caller says why once).
std::vector<Policy> ReadPolicies(const std::vector<YamlDocument>& documents,
                                 const PeerAddresses* addresses,
                                 std::vector<PolicyProblem>* problems, bool* complete);

}  // namespace bulkhead::k8s
