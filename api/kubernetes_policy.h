// The policy in force as Kubernetes NetworkPolicies (networking.k8s.io/v1),
// for a cluster without Bulkhead: `bulkhead policy export --format
// kubernetes`. Applied to a cluster, they allow the exported segments and
// nothing more, as far as NetworkPolicy can say it (the limits are below).
// `bulkhead policy apply` reads them back as segments (kubernetes_import.h).
//
// One NetworkPolicy per workload, in the workload's namespace:
//
//   apiVersion: networking.k8s.io/v1
//   kind: NetworkPolicy
//   metadata:
//     annotations:
//       bulkhead.dev/workload: shop/api
//     labels:
//       app.kubernetes.io/managed-by: bulkhead
//     name: bulkhead-api
//     namespace: shop
//   spec:
//     egress:                       # segments from shop/api, one rule per peer
//       - ports:
//           - port: 5432
//             protocol: TCP
//         to:
//           - podSelector:
//               matchLabels:
//                 app: db
//     ingress:                      # segments to shop/api
//       - from:
//           - namespaceSelector:    # another namespace: both in one element (AND)
//               matchLabels:
//                 kubernetes.io/metadata.name: edge
//             podSelector:
//               matchLabels:
//                 app: gateway
//         ports:
//           - endPort: 8090         # a range; any port: the protocol alone
//             port: 8080
//             protocol: TCP
//     podSelector:
//       matchLabels:
//         app: api
//     policyTypes:
//       - Ingress
//       - Egress
//
// policyTypes always names both directions, so every selected pod is
// default-deny both ways and a workload without segments gets a policy
// with no rules: everything denied, never an accidental allow-all. A rule
// lists one peer (the blocks of a network set are one peer) with every
// port of its segments: a rule allows its peers times its ports, which is
// exact only for one peer. The label app.kubernetes.io/managed-by: bulkhead
// marks the policies Bulkhead made, the annotation bulkhead.dev/workload
// names the workload each is for. Keys are sorted, documents sorted by
// (namespace, name): the same policy gives the same bytes.
//
// Selecting a workload's pods: its labels, without those Kubernetes
// controllers set per pod, rollout or run (pod-template-hash,
// controller-revision-hash, pod-template-generation,
// statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index,
// controller-uid, batch.kubernetes.io/controller-uid,
// batch.kubernetes.io/job-completion-index, rollouts-pod-template-hash), and
// without job-name / batch.kubernetes.io/job-name unless the value is the
// workload's own name (a CronJob's Jobs have a new name every run; a Job
// workload is named by it). A workload left with no label is selected
// by app.kubernetes.io/name: <name>, with a warning (its pods must carry
// it). When one workload's labels are a subset of another's in the same
// namespace, its selector adds `key NotIn [value]` for a key only the other
// has, so it selects its own pods alone; two workloads with the same labels
// are an error.
//
// Peers: a workload of the same namespace by its selector; of another
// namespace by namespaceSelector on kubernetes.io/metadata.name plus its
// selector; host, private, world and network sets by ipBlocks of the
// addresses Bulkhead gives them (peer_addresses.h).
//
// What NetworkPolicy cannot say, left out with a warning:
// - ICMP and ICMPv6 segments (NetworkPolicy has TCP, UDP, SCTP only): the
//   policies deny them where a network plugin filters ICMP at all.
// - Guardrails (NetworkPolicy only allows): learned segments never break
//   them, so the allow-list already keeps within them.
// - Held-back candidates are not in force: never exported.
// - A segment whose other end is no known workload or peer, or a peer that
//   stands for no address (host with no address in the export).
// Where the cluster decides, not the policy (the Kubernetes documentation):
// - Traffic between a pod and its own node is always allowed: `host`
//   segments are written as ipBlocks of the exporting node's addresses, and
//   the node's access can be neither denied nor narrowed.
// - Whether ipBlock applies to pod IPs is up to the network plugin
//   (ipBlock is meant for cluster-external addresses), and NAT for
//   Services, load balancers or egress gateways may change the address a
//   policy sees. The world and private blocks cannot except workload
//   addresses (the export has none): they are as exact as NetworkPolicy
//   allows for cluster-external peers.
//
// Usage:
//   absl::StatusOr<KubernetesExport> k8s = KubernetesPolicies(exported, scope);
//   if (!k8s.ok()) return Fail(k8s.status());
//   for (const std::string& warning : k8s->warnings) std::cerr << "warning: " << warning << "\n";
//   std::cout << (json ? k8s->json : k8s->yaml);
//
// Pure function of its input; thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/guardrail_rules.h"
#include "proto/api.pb.h"

namespace bulkhead {

struct KubernetesExport {
  std::string yaml;  // one document per policy, each starting with "---"
  std::string json;  // {"apiVersion": "v1", "kind": "List", "items": [...]}
  // What the policies do not say, one line each (no newline), in a stable
  // order: segments left out, selectors made up, peers approximated.
  std::vector<std::string> warnings;
};

// A policy for every workload `scope` selects (kAny: all of `exported`'s
// workloads; kNamespace, kWorkload: those), each with the segments that
// have an end at it. Errors: no workload selected, two workloads of a
// namespace with the same labels or the same policy name, a namespace or
// label Kubernetes would refuse, a port range it cannot hold, a protocol
// that is none of TCP, UDP, SCTP, ICMP, ICMPv6, a network set's CIDR or a
// host address that does not parse.
absl::StatusOr<KubernetesExport> KubernetesPolicies(
    const bulkhead::v1::ExportPolicyResponse& exported, const PeerSelector& scope = {});

// The labels the pods of workload `id` ("namespace/name") are selected by,
// as above: `labels` without those that name a pod, a rollout or a run; or
// {app.kubernetes.io/name: <name>} when none is left.
std::map<std::string, std::string> SelectorLabels(absl::string_view id,
                                                  const std::map<std::string, std::string>& labels);

}  // namespace bulkhead
