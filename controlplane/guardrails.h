// Guardrails in the agent (the rules themselves: api/guardrail_rules.h).
// A guardrail denies every flow from a peer its `from` selects to one its
// `to` selects, whatever the protocol and port, but those its `except`
// lists; in every mode, learn included, before any segment is looked at.
// Such a flow is dropped, reported DROPPED with reason guardrail and the
// guardrail's name, and never learned. An exception only exempts a flow
// from this guardrail: where two guardrails deny the same pair of peers, a
// flow passes to the segments only if every one of them excepts it (the
// exceptions' ports are intersected per protocol).
//
// Guardrails are compiled against the identities, so a workload that joins
// a namespace is covered from the reload that adds it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/guardrail_rules.h"
#include "controlplane/identity_table.h"
#include "datapath/abi.h"
#include "proto/api.pb.h"

namespace bulkhead {

// The guardrails file (bulkheadd --guardrails).
absl::StatusOr<std::vector<Guardrail>> LoadGuardrails(const std::string& path);

using GuardrailEntries = std::map<bh_policy_lpm_key, bh_guardrail_value, PolicyLpmKeyLess>;

struct CompiledGuardrails {
  GuardrailEntries entries;
  std::map<std::uint32_t, std::string> names;  // guardrail id (in events) -> name
  // A selector that selects nothing now (a typo, an empty namespace).
  std::vector<std::string> warnings;
};

// The ids guardrails are reported by in flow events: a name keeps its id
// across reloads and an id is never given to another name, so a drop still
// queued when a reload renames or removes a guardrail is named right.
struct GuardrailIds {
  std::map<std::string, std::uint32_t> by_name;
  std::uint32_t next = 1;
};

// Guardrails x identities -> the bh_guardrails map's entries. `ids` (kept
// by the caller across reloads) gives each guardrail its id, new names the
// next ones; without it, ids are places in name order from 1.
CompiledGuardrails CompileGuardrails(const std::vector<Guardrail>& guardrails,
                                     const IdentityTable& identities, GuardrailIds* ids = nullptr);

// The guardrails in force, and what the agent reports of them: the name of
// a drop event's guardrail, drops per guardrail, pairs covered. A change is
// compiled first and committed only once the map holds it, so a change the
// map refuses leaves all of this as it was.
class GuardrailSet {
 public:
  explicit GuardrailSet(std::vector<Guardrail> rules = {}) : rules_(std::move(rules)) {}

  // What `rules` (by default the ones in force) compile to now; ids are
  // kept across calls and never reused.
  CompiledGuardrails Compile(const IdentityTable& identities,
                             const std::vector<Guardrail>* rules = nullptr);
  // `compiled` (and `rules`, if given) are in the map now.
  void Commit(const CompiledGuardrails& compiled, std::vector<Guardrail>* rules = nullptr);

  // The name of the guardrail a drop event carries the id of; counts it.
  std::string RecordDrop(std::uint32_t id);
  void Statuses(google::protobuf::RepeatedPtrField<bulkhead::v1::GuardrailStatus>* out) const;
  std::size_t size() const { return rules_.size(); }

 private:
  std::vector<Guardrail> rules_;
  GuardrailIds ids_;
  std::map<std::uint32_t, std::string> names_;  // id in events -> name
  std::map<std::string, std::uint32_t> pairs_;  // name -> identity pairs denied
  std::map<std::string, std::uint64_t> drops_;  // name -> DROPPED events
};

}  // namespace bulkhead
