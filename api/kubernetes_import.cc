#include "api/kubernetes_import.h"

#include "absl/strings/match.h"

namespace bulkhead {

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
  parsed.document.kubernetes = true;
  parsed.problems.push_back({documents.empty() ? 0 : documents[0].line_offset + 1,
                             "applying Kubernetes NetworkPolicies is not built yet"});
  (void)catalog;
  return parsed;
}

}  // namespace bulkhead
