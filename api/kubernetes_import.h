// Kubernetes NetworkPolicies brought back as a reviewed policy file
// (`bulkhead policy apply`): the inverse of kubernetes_policy.h, where it
// maps faithfully, and a problem with its line where it does not.
#pragma once

#include <vector>

#include "api/policy_document.h"
#include "api/yaml_documents.h"

namespace bulkhead {

// Whether a document is Kubernetes': apiVersion networking.k8s.io/..., or a
// v1 List.
bool IsKubernetes(const YAML::Node& root);

// The policies of `documents` (each a NetworkPolicy, or a v1 List of them)
// as segments of `catalog`'s workloads and peers. The document's scope is
// the workloads the policies select (PolicyDocument::kubernetes).
ParsedPolicy ParseKubernetesPolicies(const std::vector<YamlDocument>& documents,
                                     const PeerCatalog& catalog);

}  // namespace bulkhead
