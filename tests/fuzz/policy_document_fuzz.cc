// The reviewed policy file, as `bulkhead policy apply` and bulkheadd
// --policy read it: ParsePolicyDocument, then CheckPolicyDocument against a
// small cluster.
//
// Properties, beyond not crashing:
//  - every problem is one printable line, at a line of the file (or 0);
//  - an accepted file holds only segments a map can hold: a known protocol,
//    ports in range, a range's end at or past its start, no segment twice;
//  - an accepted file, written back as an export writes it, reads back
//    accepted with the same segments, and writing that gives the same bytes
//    (export -> apply -> export is stable).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <tuple>

#include "api/policy_document.h"
#include "api/policy_yaml.h"
#include "tests/fuzz/fuzz_check.h"

namespace bulkhead {
namespace {

const PeerCatalog& Cluster() {
  static const PeerCatalog catalog = [] {
    PeerCatalog c;
    c.workloads["shop/api"] = {{"app", "api"}};
    c.workloads["shop/db"] = {{"app", "db"}};
    c.networks["payments-api"] = {"203.0.113.0/24"};
    return c;
  }();
  return catalog;
}

// The document as the agent would export it after applying it.
bulkhead::v1::ExportPolicyResponse AsExport(const PolicyDocument& document) {
  bulkhead::v1::ExportPolicyResponse out;
  for (const auto& s : document.segments) *out.mutable_policy()->add_segments() = s.value;
  for (const auto& s : document.held_back) *out.mutable_held_back()->add_segments() = s.value;
  for (const auto& [g, line] : document.guardrails) {
    bulkhead::v1::GuardrailStatus* status = out.add_guardrails();
    status->set_name(g.name);
    *status->mutable_from_selector() = SelectorToProto(g.from);
    *status->mutable_to_selector() = SelectorToProto(g.to);
    for (const PortException& e : g.except) status->add_except(e.ToString());
  }
  for (const auto& [name, mode] : document.modes) {
    bulkhead::v1::WorkloadInfo* w = out.add_workloads();
    w->set_workload(name);
    w->set_mode(mode.value);
  }
  return out;
}

auto Keys(const PolicyDocument& document) {
  std::set<std::tuple<std::string, std::string, int, std::uint32_t, std::uint32_t>> keys;
  for (const auto& [s, line] : document.segments)
    keys.emplace(s.from_workload(), s.to_workload(), s.protocol(), s.port(), s.port_end());
  return keys;
}

}  // namespace
}  // namespace bulkhead

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bulkhead;
  std::string text(reinterpret_cast<const char*>(data), size);
  ParsedPolicy parsed = ParsePolicyDocument(text);
  const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (const PolicyProblem& p : parsed.problems) {
    FUZZ_CHECK(!p.message.empty() && fuzz::IsPrintable(p.message)) << p.message;
    FUZZ_CHECK(p.line >= 0 && p.line <= lines) << p.line << " of " << lines;
  }
  std::vector<PolicyProblem> problems;
  std::vector<std::string> warnings;
  CheckPolicyDocument(parsed.document, {.catalog = &Cluster()}, &problems, &warnings);
  for (const PolicyProblem& p : problems) FUZZ_CHECK(fuzz::IsPrintable(p.message)) << p.message;
  if (!parsed.problems.empty()) return 0;

  for (const auto* list : {&parsed.document.segments, &parsed.document.held_back})
    for (const auto& [s, line] : *list) {
      bool ports = s.protocol() == bulkhead::v1::TCP || s.protocol() == bulkhead::v1::UDP ||
                   s.protocol() == bulkhead::v1::SCTP;
      bool icmp = s.protocol() == bulkhead::v1::ICMP || s.protocol() == bulkhead::v1::ICMPV6;
      FUZZ_CHECK(ports || icmp) << s.ShortDebugString();
      FUZZ_CHECK(s.port() <= (ports ? 65535u : 255u)) << s.ShortDebugString();
      FUZZ_CHECK(s.port_end() == 0 || (ports && s.port_end() > s.port() && s.port_end() <= 65535))
          << s.ShortDebugString();
      FUZZ_CHECK(!ports || s.port() != 0 || s.port_end() == 65535) << s.ShortDebugString();
    }
  FUZZ_CHECK(Keys(parsed.document).size() == parsed.document.segments.size());

  std::string written = PolicyToYaml(AsExport(parsed.document), parsed.document.scope);
  ParsedPolicy again = ParsePolicyDocument(written);
  FUZZ_CHECK(again.problems.empty()) << ToString(again.problems[0]) << "\n" << written;
  FUZZ_CHECK(Keys(again.document) == Keys(parsed.document)) << written;
  FUZZ_CHECK(PolicyToYaml(AsExport(again.document), again.document.scope) == written) << written;
  return 0;
}
