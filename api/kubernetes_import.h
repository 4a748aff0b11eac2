// Kubernetes NetworkPolicies brought back as a reviewed policy file
// (`bulkhead policy apply`, bulkheadd --policy): the inverse of
// kubernetes_policy.h where the policies map faithfully onto segments, and a
// problem with its line where they do not.
//
// A file holds networking.k8s.io/v1 NetworkPolicies, one per YAML document
// or as the items of a v1 List (or a NetworkPolicyList): what `bulkhead
// policy export --format kubernetes` writes, in YAML or with -o json, and
// what `kubectl get networkpolicies -o yaml` prints. It is read against the
// agent's PeerCatalog: its workloads with their labels, its network sets,
// its host addresses.
//
// What the file decides (PolicyDocument::Decides): the TCP, UDP and SCTP
// segments with an end at a workload that some policy selects (its
// podSelector, in its namespace). Those workloads are the file's scope;
// its segments replace every such segment, and everything else stays as
// the agent has it, ICMP segments included.
//
// Which segments: exactly the flows the policies allow between the
// catalog's peers, by the networking.k8s.io/v1 reference. A flow from A to
// B is allowed when A's egress allows it (some egress rule of a policy
// selecting A admits B and the port, or no policy selects A for Egress)
// and B's ingress does likewise. For a pair of peers that means:
//   - both ends in scope: a segment where both sides' rules admit it;
//   - one end in scope, the other a peer that is not a workload (host,
//     private, world, a network set) or a workload no policy selects:
//     where the rules of the end in scope admit it. The other end is not
//     isolated in Kubernetes, so it allows the flow; in Bulkhead one
//     segment serves both ends, so the other end then allows exactly what
//     the end in scope does, as in Kubernetes. These pairs are the file's
//     to decide (Decides: an end in scope), so what its rules do not admit
//     is removed;
//   - no end in scope: not the file's. Kubernetes would allow everything
//     there (nothing isolates either end); the agent keeps what it has.
// Every workload in scope must be isolated both ways: selected by a policy
// with Ingress and by one with Egress in policyTypes (which defaults to
// Ingress, plus Egress when there are egress rules). One that is not would
// allow everything in the other direction, to peers and protocols the
// catalog does not name, which segments cannot say: that is a problem.
//
// Ports. A NetworkPolicyPort is a segment's ports: its protocol (TCP when
// not given) and port, endPort making a range, the protocol alone any port
// (0-65535). A rule without ports allows every port of every protocol:
// TCP, UDP and SCTP any-port segments, with a warning, as Kubernetes then
// allows ICMP too and ICMP is not the file's to decide. Segments keep the
// ports the rules write: tcp/8080 and tcp/8000-9000 stay two segments, and
// tcp/80 and tcp/81 are not merged, so an export reads back as it was.
// When both ends are in scope, each side's port entry that both sides
// allow whole is a segment, and so is each stretch of ports both allow
// that those entries do not cover (egress 8000-9000, ingress 8500-9500
// and 9000: the segments 8500-9000 and 9000).
//
// Peers of a rule (`from`, `to`):
//   - podSelector (matchLabels; matchExpressions In, NotIn, Exists,
//     DoesNotExist) against the catalog's labels, in the policy's
//     namespace or in the namespaces its namespaceSelector picks. A
//     workload is taken to carry the labels the export selects it by
//     (SelectorLabels): app.kubernetes.io/name=<name> when it has no
//     identifying label.
//   - namespaceSelector on kubernetes.io/metadata.name only (the label
//     every namespace has; {} is every namespace): the agent knows no
//     other namespace label, so selecting on another is a problem.
//   - ipBlock: exactly one block of host, private, world or a network set
//     as peer_addresses.h gives them, with every other block of that peer
//     in the same rule (a segment allows the whole peer). Any other block
//     is a problem naming it.
//   - no `from` / `to`, or an empty one: every workload and peer of the
//     catalog (finite, so exact).
// Where Kubernetes and the agent differ: traffic between a pod and its own
// node, which Kubernetes always allows whatever the policies say, is `host`
// here, a peer like any other. A file that allows nothing with host removes
// the host segments of its workloads (kubelet's probes among them), with a
// warning; the export writes host segments as ipBlocks of the node's
// addresses, so they read back.
//
// Segments come sorted, origin reviewed, each with the line of a port (or
// rule) that allows it, so that a problem CheckPolicyDocument finds with a
// segment (a guardrail denies it) points into the file.
//
// Reading (network_policy_reader.h) is strict and complete, as for
// Bulkhead's own format: every problem comes with its line (1-based, in the
// whole file). Problems: a document of another kind; a field Kubernetes
// does not have (metadata may hold whatever ObjectMeta holds; only its name
// and namespace are read); a field given twice; a policy without a name,
// or without a namespace (kubectl would use its context's, which the file
// does not show), or without spec.podSelector ({} selects the whole
// namespace); the same policy twice (Kubernetes keeps one); a value
// Kubernetes refuses (a protocol, port, endPort, operator or policyType; a
// peer with an ipBlock and a selector; a YAML number or boolean where a
// string belongs: `version: 1.0` must be quoted); a named port (the pods'
// container ports are not known here); rules of a direction policyTypes
// leaves out (Kubernetes ignores them); a namespaceSelector or an ipBlock
// that does not map; a rule with some of a peer's ipBlocks but not all
// (even when another rule has the rest); a workload isolated one way only;
// a file whose policies select no workload of the agent (it would decide
// nothing: the wrong file, or the wrong labels). Warnings
// (ParsedPolicy::warnings): a policy, or a rule's peer, that selects no
// workload here (a file for a whole cluster holds policies for pods other
// nodes run); each rule without ports; nothing allowed with host.
//
// Usage:
//   PeerCatalog catalog = ...;  // the agent's inventory
//   ParsedPolicy parsed = ParsePolicyDocument(text, &catalog);  // dispatches here
//   if (!parsed.problems.empty()) return Refuse(parsed.problems);
//   for (const std::string& w : parsed.warnings) Warn(w);
//
// Pure functions of their input; thread-safe.
#pragma once

#include <vector>

#include "api/policy_document.h"
#include "api/yaml_documents.h"

namespace bulkhead {

// Whether a document is Kubernetes': apiVersion networking.k8s.io/..., or a
// v1 List.
bool IsKubernetes(const YAML::Node& root);

// The policies of `documents` (each a NetworkPolicy, or a List of them; null
// documents are skipped) as a PolicyDocument with `kubernetes` set, the
// selected workloads as `scope_workloads` and the segments they allow
// between `catalog`'s workloads and peers, origin reviewed, sorted. Problems
// come sorted by line; warnings ("line N: ...") too.
ParsedPolicy ParseKubernetesPolicies(const std::vector<YamlDocument>& documents,
                                     const PeerCatalog& catalog);

}  // namespace bulkhead
