#include "controlplane/guardrails.h"

#include <netinet/in.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controlplane/atomic_file.h"
#include "controlplane/log.h"
#include "datapath/status.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

absl::Status EntryError(std::size_t index, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("guardrails[", index, "]: ", message));
}

absl::StatusOr<PeerSelector> ParseSelector(std::size_t index, const char* field,
                                           const YAML::Node& node) {
  auto error = [&](absl::string_view why) {
    return EntryError(index, absl::StrCat("\"", field, "\": ", why));
  };
  if (!node) return error("is required (any, or {namespace|workload|peer: ...})");
  if (node.IsScalar()) {
    if (node.Scalar() == "any") return PeerSelector{};
    return error(absl::StrCat("\"", absl::CHexEscape(node.Scalar()),
                              "\" is not a selector (any, or {namespace|workload|peer: ...})"));
  }
  if (!node.IsMap() || node.size() != 1)
    return error("expected any, or a mapping with one of namespace, workload, peer");
  const std::string key = node.begin()->first.Scalar();
  const YAML::Node value = node.begin()->second;  // a copy: the iterator yields a temporary
  if (!value.IsScalar() || value.Scalar().empty())
    return error(absl::StrCat("\"", absl::CHexEscape(key), "\" needs a printable name"));
  if (std::string why = NameProblem(absl::CHexEscape(key), value.Scalar()); !why.empty())
    return error(why);
  const std::string& name = value.Scalar();
  std::size_t slash = name.find('/');
  if (key == "namespace") {
    if (slash != std::string::npos) return error("a namespace has no '/'");
    return PeerSelector{PeerSelector::Kind::kNamespace, name};
  }
  if (key == "workload") {
    if (slash == std::string::npos || slash == 0 || slash + 1 == name.size() ||
        name.find('/', slash + 1) != std::string::npos)
      return error(absl::StrCat("workload \"", name, "\" is not namespace/name"));
    return PeerSelector{PeerSelector::Kind::kWorkload, name};
  }
  if (key == "peer") {
    if (slash != std::string::npos)
      return error("a peer is host, world, private or a network set's name (no '/')");
    return PeerSelector{PeerSelector::Kind::kPeer, name};
  }
  return error(absl::StrCat("unknown key \"", absl::CHexEscape(key),
                            "\" (expected namespace, workload, peer)"));
}

absl::StatusOr<std::uint8_t> ParseProtocol(absl::string_view name) {
  static const std::pair<const char*, std::uint8_t> kProtocols[] = {
      {"tcp", IPPROTO_TCP},   {"udp", IPPROTO_UDP},       {"sctp", IPPROTO_SCTP},
      {"icmp", IPPROTO_ICMP}, {"icmpv6", IPPROTO_ICMPV6},
  };
  std::string lower = absl::AsciiStrToLower(name);
  for (const auto& [n, number] : kProtocols)
    if (lower == n) return number;
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", absl::CHexEscape(name), "\" is not a protocol (tcp, udp, sctp, icmp, icmpv6)"));
}

// "udp/53", "tcp/8000-8100", "tcp" (any port).
absl::StatusOr<PortException> ParseException(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits('/', 1));
  auto proto = ParseProtocol(parts[0]);
  if (!proto.ok()) return proto.status();
  PortException e{.proto = *proto};
  if (parts.size() == 1) return e;
  std::vector<absl::string_view> ports = absl::StrSplit(parts[1], absl::MaxSplits('-', 1));
  std::uint32_t first = 0, last = 0;
  if (!absl::SimpleAtoi(ports[0], &first) || first > 65535 ||
      (ports.size() == 2 && (!absl::SimpleAtoi(ports[1], &last) || last > 65535 || last < first)))
    return absl::InvalidArgumentError(
        absl::StrCat("\"", absl::CHexEscape(text),
                     "\" is not proto/port or proto/first-last (ports 0 to 65535)"));
  e.first = static_cast<std::uint16_t>(first);
  e.last = static_cast<std::uint16_t>(ports.size() == 2 ? last : first);
  return e;
}

}  // namespace

std::string PeerSelector::ToString() const {
  switch (kind) {
    case Kind::kAny:
      return "any";
    case Kind::kNamespace:
      return absl::StrCat("namespace ", value);
    case Kind::kWorkload:
      return absl::StrCat("workload ", value);
    case Kind::kPeer:
      return absl::StrCat("peer ", value);
  }
  return "?";
}

std::string PortException::ToString() const {
  std::string out = ProtocolName(proto);
  if (first == 0 && last == 65535) return out;
  absl::StrAppend(&out, "/", first);
  if (last != first) absl::StrAppend(&out, "-", last);
  return out;
}

absl::StatusOr<std::vector<Guardrail>> ParseGuardrails(absl::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("guardrails: ", EscapeControlCharacters(e.what())));
  }
  YAML::Node list = root.IsMap() ? root["guardrails"] : YAML::Node();
  if (!root.IsMap() || root.size() != 1 || !list || !(list.IsSequence() || list.IsNull()))
    return absl::InvalidArgumentError(
        "guardrails: expected one top-level key, \"guardrails\", holding a list");

  std::vector<Guardrail> guardrails;
  std::set<std::string> names;
  for (std::size_t i = 0; list.IsSequence() && i < list.size(); ++i) {
    const YAML::Node& entry = list[i];
    if (!entry.IsMap()) return EntryError(i, "expected a mapping");
    for (const auto& key : entry) {
      const std::string& k = key.first.Scalar();
      if (k != "name" && k != "from" && k != "to" && k != "except")
        return EntryError(i, absl::StrCat("unknown key \"", absl::CHexEscape(k),
                                          "\" (expected name, from, to, except)"));
    }
    Guardrail g;
    try {
      if (!entry["name"] || !entry["name"].IsScalar() || entry["name"].Scalar().empty())
        return EntryError(i, "\"name\" is required");
      g.name = entry["name"].Scalar();
      if (std::string why = NameProblem("name", g.name); !why.empty()) return EntryError(i, why);
      if (!names.insert(g.name).second)
        return EntryError(i, absl::StrCat("guardrail \"", g.name, "\" is listed twice"));
      BH_ASSIGN_OR_RETURN(g.from, ParseSelector(i, "from", entry["from"]));
      BH_ASSIGN_OR_RETURN(g.to, ParseSelector(i, "to", entry["to"]));
      if (const YAML::Node& except = entry["except"]; except) {
        if (!except.IsSequence()) return EntryError(i, "\"except\" must be a list");
        for (const auto& item : except) {
          if (!item.IsScalar()) return EntryError(i, "\"except\": expected proto/port strings");
          auto parsed = ParseException(item.Scalar());
          if (!parsed.ok())
            return EntryError(i, absl::StrCat("except: ", parsed.status().message()));
          g.except.push_back(*parsed);
        }
      }
    } catch (const YAML::Exception& e) {
      return EntryError(i, EscapeControlCharacters(e.what()));
    }
    guardrails.push_back(std::move(g));
  }
  return guardrails;
}

absl::StatusOr<std::vector<Guardrail>> LoadGuardrails(const std::string& path) {
  return ParseFile(path, "guardrails", ParseGuardrails);
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
    auto pairs = pairs_.find(g.name);
    status->set_identity_pairs(pairs == pairs_.end() ? 0 : pairs->second);
    auto drops = drops_.find(g.name);
    status->set_dropped_flows(drops == drops_.end() ? 0 : drops->second);
  }
}

}  // namespace bulkhead
