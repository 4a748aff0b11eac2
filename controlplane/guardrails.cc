#include "controlplane/guardrails.h"

#include <netinet/in.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "controlplane/atomic_file.h"
#include "controlplane/log.h"
#include "datapath/status.h"

namespace bulkhead {

absl::StatusOr<std::vector<Guardrail>> LoadGuardrails(const std::string& path) {
  absl::StatusOr<std::vector<Guardrail>> guardrails =
      ParseFile(path, "guardrails", ParseGuardrails);
  if (guardrails.ok())
    for (Guardrail& g : *guardrails) g.source = path;
  return guardrails;
}

namespace {

std::vector<std::uint32_t> Select(const PeerSelector& selector, const IdentityTable& identities) {
  std::vector<std::uint32_t> out;
  switch (selector.kind) {
    case PeerSelector::Kind::kAny:
      out = {BH_IDENTITY_HOST, BH_IDENTITY_WORLD, BH_IDENTITY_PRIVATE};
      for (const auto& [identity, w] : identities.workloads()) out.push_back(identity);
      for (const auto& [identity, n] : identities.networks()) out.push_back(identity);
      break;
    case PeerSelector::Kind::kNamespace:
      for (const auto& [identity, w] : identities.workloads())
        if (w.ns == selector.value) out.push_back(identity);
      break;
    case PeerSelector::Kind::kWorkload:
    case PeerSelector::Kind::kPeer:
      if (auto identity = identities.IdentityOf(selector.value)) out.push_back(*identity);
      break;
  }
  return out;
}

}  // namespace

CompiledGuardrails CompileGuardrails(const std::vector<Guardrail>& guardrails,
                                     const IdentityTable& identities, GuardrailIds* ids) {
  GuardrailIds local;
  if (!ids) ids = &local;
  std::vector<const Guardrail*> sorted;
  sorted.reserve(guardrails.size());
  for (const Guardrail& g : guardrails) sorted.push_back(&g);
  std::sort(sorted.begin(), sorted.end(),
            [](const Guardrail* a, const Guardrail* b) { return a->name < b->name; });

  CompiledGuardrails compiled;
  // Per pair of identities: the first guardrail's id, and the exceptions
  // every guardrail on the pair makes.
  std::map<std::pair<std::uint32_t, std::uint32_t>,
           std::pair<std::uint32_t, std::set<PortException>>>
      pairs;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const Guardrail& g = *sorted[i];
    auto [given, is_new] = ids->by_name.try_emplace(g.name, ids->next);
    if (is_new) ++ids->next;
    std::uint32_t id = given->second;
    compiled.names[id] = g.name;
    std::set<PortException> except(g.except.begin(), g.except.end());
    std::vector<std::uint32_t> froms = Select(g.from, identities);
    std::vector<std::uint32_t> tos = Select(g.to, identities);
    for (const auto& [side, selector, selected] :
         {std::tuple{"from", &g.from, froms.size()}, std::tuple{"to", &g.to, tos.size()}})
      if (selected == 0)
        compiled.warnings.push_back(absl::StrCat("guardrail ", g.name, ": \"", side, "\" (",
                                                 selector->ToString(),
                                                 ") selects nothing now, so it denies nothing"));
    for (std::uint32_t from : froms)
      for (std::uint32_t to : tos) {
        auto [it, inserted] = pairs.try_emplace({from, to}, id, except);
        if (inserted) continue;
        // What both except: the overlap of their port ranges, per protocol.
        std::set<PortException> both;
        for (const PortException& a : it->second.second)
          for (const PortException& b : except)
            if (a.proto == b.proto && std::max(a.first, b.first) <= std::min(a.last, b.last))
              both.insert({a.proto, std::max(a.first, b.first), std::min(a.last, b.last)});
        it->second.second = std::move(both);
      }
  }
  for (const auto& [pair, rule] : pairs) {
    const auto& [from, to] = pair;
    const auto& [id, except] = rule;
    compiled.entries[AnyProtocolKey(from, to)] = {.guardrail_id = id, .action = BH_GUARDRAIL_DENY};
    for (const PortException& e : except)
      for (const bh_policy_lpm_key& key : PortRangeKeys(from, to, e.proto, e.first, e.last))
        compiled.entries[key] = {.guardrail_id = id, .action = BH_GUARDRAIL_EXCEPT};
  }
  return compiled;
}

CompiledGuardrails GuardrailSet::Compile(const IdentityTable& identities,
                                         const std::vector<Guardrail>* rules) {
  CompiledGuardrails compiled = CompileGuardrails(rules ? *rules : rules_, identities, &ids_);
  for (const std::string& warning : compiled.warnings) LogWarning(warning);
  return compiled;
}

void GuardrailSet::Commit(const CompiledGuardrails& compiled, std::vector<Guardrail>* rules) {
  if (rules) rules_ = std::move(*rules);
  names_ = compiled.names;
  pairs_.clear();
  for (const auto& [key, value] : compiled.entries)
    if (value.action == BH_GUARDRAIL_DENY) ++pairs_[names_[value.guardrail_id]];
}

std::string GuardrailSet::RecordDrop(std::uint32_t id) {
  auto name = names_.find(id);
  std::string guardrail = name != names_.end() ? name->second : "(removed)";
  ++drops_[guardrail];
  return guardrail;
}

void GuardrailSet::Statuses(
    google::protobuf::RepeatedPtrField<bulkhead::v1::GuardrailStatus>* out) const {
  for (const Guardrail& g : rules_) {
    bulkhead::v1::GuardrailStatus* status = out->Add();
    status->set_name(g.name);
    status->set_from(g.from.ToString());
    status->set_to(g.to.ToString());
    for (const PortException& e : g.except) status->add_except(e.ToString());
    *status->mutable_from_selector() = SelectorToProto(g.from);
    *status->mutable_to_selector() = SelectorToProto(g.to);
    status->set_source(g.source);
    auto pairs = pairs_.find(g.name);
    status->set_identity_pairs(pairs == pairs_.end() ? 0 : pairs->second);
    auto drops = drops_.find(g.name);
    status->set_dropped_flows(drops == drops_.end() ? 0 : drops->second);
  }
}

}  // namespace bulkhead
