// The guardrails file, as the agent reads it: ParseGuardrails, then
// CompileGuardrails against a small cluster.
//
// Properties, beyond not crashing:
//  - an error is one printable line (it is logged);
//  - an accepted file has unique printable names, selectors of the
//    documented kinds, exceptions of known protocols with first <= last;
//  - compiling it gives every entry a guardrail id that names one of the
//    guardrails, one deny entry per pair of peers, and exceptions only on
//    pairs that are denied.
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "absl/strings/string_view.h"
#include "controlplane/guardrails.h"
#include "tests/fuzz/fuzz_check.h"

namespace bulkhead {
namespace {

const IdentityTable& Cluster() {
  static const IdentityTable table = *IdentityTable::Build(
      Inventory{.workloads = {{.ns = "tenant-a", .name = "web"},
                              {.ns = "tenant-b", .name = "web"},
                              {.ns = "kube-system", .name = "coredns"}},
                .networks = {{.name = "payments-api", .cidrs = {"203.0.113.0/24"}}}});
  return table;
}

void CheckAccepted(const std::vector<Guardrail>& guardrails) {
  std::set<std::string> names;
  for (const Guardrail& g : guardrails) {
    FUZZ_CHECK(!g.name.empty() && fuzz::IsPrintable(g.name)) << g.name;
    FUZZ_CHECK(names.insert(g.name).second) << g.name << " twice";
    for (const PortException& e : g.except) {
      FUZZ_CHECK(e.first <= e.last) << g.name << " " << e.ToString();
      FUZZ_CHECK(e.proto == IPPROTO_TCP || e.proto == IPPROTO_UDP || e.proto == IPPROTO_SCTP ||
                 e.proto == IPPROTO_ICMP || e.proto == IPPROTO_ICMPV6)
          << g.name << " " << static_cast<int>(e.proto);
    }
  }
}

void CheckCompiled(const std::vector<Guardrail>& guardrails) {
  CompiledGuardrails compiled = CompileGuardrails(guardrails, Cluster());
  FUZZ_CHECK(compiled.names.size() == guardrails.size());
  std::set<std::pair<std::uint32_t, std::uint32_t>> denied;
  for (const auto& [key, value] : compiled.entries) {
    FUZZ_CHECK(compiled.names.contains(value.guardrail_id)) << value.guardrail_id;
    if (value.action == BH_GUARDRAIL_DENY) {
      FUZZ_CHECK(key.prefixlen == 64) << DescribeKey(key);
      denied.insert({key.src_identity, key.dst_identity});
    } else {
      FUZZ_CHECK(value.action == BH_GUARDRAIL_EXCEPT) << value.action;
    }
  }
  for (const auto& [key, value] : compiled.entries)
    if (value.action == BH_GUARDRAIL_EXCEPT)
      FUZZ_CHECK(denied.contains({key.src_identity, key.dst_identity})) << DescribeKey(key);
}

}  // namespace
}  // namespace bulkhead

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bulkhead;
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto guardrails = ParseGuardrails(text);
  if (!guardrails.ok()) {
    FUZZ_CHECK(!guardrails.status().message().empty());
    FUZZ_CHECK(fuzz::IsPrintable(guardrails.status().message())) << guardrails.status();
    return 0;
  }
  CheckAccepted(*guardrails);
  CheckCompiled(*guardrails);
  return 0;
}
