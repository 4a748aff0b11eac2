// Kubernetes NetworkPolicies as `bulkhead policy apply` and bulkheadd
// --policy read them: ParsePolicyDocument with a catalog, which hands them
// to ParseKubernetesPolicies (api/kubernetes_import.h).
//
// Properties, beyond not crashing:
//  - every problem and warning is one printable line, at a line of the file
//    (or 0);
//  - an accepted file holds only segments a map can hold (TCP, UDP, SCTP,
//    ports in range, any port as 0-65535), each once, each between peers of
//    the catalog with an end at a workload the file selects;
//  - export -> read is stable: the accepted segments, exported as
//    NetworkPolicies and read back, are the same segments (less those the
//    export cannot write: peers without addresses).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>

#include "api/kubernetes_policy.h"
#include "api/peer_addresses.h"
#include "api/policy_document.h"
#include "tests/fuzz/fuzz_check.h"

namespace bulkhead {
namespace {

const bulkhead::v1::ExportPolicyResponse& Cluster() {
  static const bulkhead::v1::ExportPolicyResponse cluster = [] {
    bulkhead::v1::ExportPolicyResponse e;
    auto workload = [&](const char* id, std::map<std::string, std::string> labels) {
      auto* w = e.add_workloads();
      w->set_workload(id);
      w->mutable_labels()->insert(labels.begin(), labels.end());
    };
    workload("shop/api", {{"app", "api"}, {"tier", "backend"}});
    workload("shop/api-canary", {{"app", "api"}, {"tier", "backend"}, {"track", "canary"}});
    workload("shop/db", {{"app", "db"}});
    workload("shop/legacy", {{"pod-template-hash", "1"}});
    workload("kube-system/coredns", {{"k8s-app", "kube-dns"}});
    auto* corp = e.add_networks();
    corp->set_name("corp");
    corp->add_cidrs("10.20.0.0/16");
    auto* hidden = e.add_networks();
    hidden->set_name("hidden");
    hidden->add_cidrs("192.168.1.5/32");  // the host's: no block of its own
    e.add_host_addresses("192.168.1.5");
    e.add_host_addresses("fd00::5");
    return e;
  }();
  return cluster;
}

using Key = std::tuple<std::string, std::string, int, std::uint32_t, std::uint32_t>;
Key KeyOf(const bulkhead::v1::Segment& s) {
  return {s.from_workload(), s.to_workload(), s.protocol(), s.port(), s.port_end()};
}

}  // namespace
}  // namespace bulkhead

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bulkhead;
  static const PeerCatalog catalog = CatalogOf(Cluster());
  std::string text(reinterpret_cast<const char*>(data), size);
  ParsedPolicy parsed = ParsePolicyDocument(text, &catalog);
  const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (const PolicyProblem& p : parsed.problems) {
    FUZZ_CHECK(!p.message.empty() && fuzz::IsPrintable(p.message)) << p.message;
    FUZZ_CHECK(p.line >= 0 && p.line <= lines) << p.line << " of " << lines;
  }
  for (const std::string& w : parsed.warnings) FUZZ_CHECK(fuzz::IsPrintable(w)) << w;
  const PolicyDocument& document = parsed.document;
  if (!parsed.problems.empty() || !document.kubernetes) return 0;

  std::set<Key> keys;
  for (const auto& [s, line] : document.segments) {
    bool ports = s.protocol() == bulkhead::v1::TCP || s.protocol() == bulkhead::v1::UDP ||
                 s.protocol() == bulkhead::v1::SCTP;
    FUZZ_CHECK(ports) << s.ShortDebugString();
    FUZZ_CHECK(s.port() <= 65535 &&
               (s.port_end() == 0 || (s.port_end() > s.port() && s.port_end() <= 65535)))
        << s.ShortDebugString();
    FUZZ_CHECK(s.port() != 0 || s.port_end() == 65535) << s.ShortDebugString();
    FUZZ_CHECK(catalog.Knows(s.from_workload()) && catalog.Knows(s.to_workload()))
        << s.ShortDebugString();
    FUZZ_CHECK(document.Decides(s.from_workload(), s.to_workload(), s.protocol()))
        << s.ShortDebugString();
    FUZZ_CHECK(line >= 1 && line <= lines) << line << " of " << lines;
    FUZZ_CHECK(keys.insert(KeyOf(s)).second) << "twice: " << s.ShortDebugString();
  }
  FUZZ_CHECK(!document.scope_workloads.empty());

  // Export what was read, read it back: the same segments.
  bulkhead::v1::ExportPolicyResponse exported = Cluster();
  for (const auto& [s, line] : document.segments) *exported.mutable_policy()->add_segments() = s;
  absl::StatusOr<KubernetesExport> k8s = KubernetesPolicies(exported);
  FUZZ_CHECK(k8s.ok()) << k8s.status();
  ParsedPolicy again = ParsePolicyDocument(k8s->yaml, &catalog);
  FUZZ_CHECK(again.problems.empty()) << ToString(again.problems[0]) << "\n" << k8s->yaml;
  absl::StatusOr<PeerAddresses> addresses =
      PeerAddresses::Build(exported.networks(), exported.host_addresses());
  std::set<Key> written;
  for (const Key& key : keys) {
    bool blocks = true;
    for (const std::string* peer : {&std::get<0>(key), &std::get<1>(key)})
      if (!catalog.workloads.contains(*peer)) blocks &= !addresses->BlocksOf(*peer).empty();
    if (blocks) written.insert(key);
  }
  std::set<Key> read_back;
  for (const auto& [s, line] : again.document.segments) read_back.insert(KeyOf(s));
  FUZZ_CHECK(read_back == written) << k8s->yaml;
  return 0;
}
