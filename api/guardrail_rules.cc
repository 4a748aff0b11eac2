#include "api/guardrail_rules.h"

#include <netinet/in.h>

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/enum_names.h"
#include "api/names.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

absl::StatusOr<PeerSelector> ParseSelector(const char* field, const YAML::Node& node) {
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("\"", field, "\": ", why));
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

bool PeerSelector::Selects(absl::string_view peer) const {
  switch (kind) {
    case Kind::kAny:
      return true;
    case Kind::kNamespace: {
      std::size_t slash = peer.find('/');
      return slash != absl::string_view::npos && peer.substr(0, slash) == value;
    }
    case Kind::kWorkload:
    case Kind::kPeer:
      return peer == value;
  }
  return false;
}

std::string PortException::ToString() const {
  std::string out = ProtocolName(static_cast<bulkhead::v1::Protocol>(proto));
  if (first == 0 && last == 65535) return out;
  absl::StrAppend(&out, "/", first);
  if (last != first) absl::StrAppend(&out, "-", last);
  return out;
}

bool Guardrail::Denies(absl::string_view from_peer, absl::string_view to_peer, std::uint8_t proto,
                       std::uint16_t first, std::uint16_t last) const {
  if (!from.Selects(from_peer) || !to.Selects(to_peer)) return false;
  // Denied unless the exceptions of this protocol cover first..last.
  std::uint32_t next = first;  // the lowest port not yet shown excepted
  bool progress = true;
  while (progress && next <= last) {
    progress = false;
    for (const PortException& e : except)
      if (e.proto == proto && e.first <= next && e.last >= next) {
        next = static_cast<std::uint32_t>(e.last) + 1;
        progress = true;
      }
  }
  return next <= last;
}

absl::StatusOr<PortException> ParsePortException(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits('/', 1));
  auto proto = ProtocolFromName(parts[0]);
  if (!proto.ok()) return proto.status();
  PortException e{.proto = static_cast<std::uint8_t>(*proto)};
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

absl::StatusOr<Guardrail> ParseGuardrail(const YAML::Node& entry) {
  if (!entry.IsMap()) return absl::InvalidArgumentError("expected a mapping");
  for (const auto& key : entry) {
    const std::string& k = key.first.Scalar();
    if (k != "name" && k != "from" && k != "to" && k != "except")
      return absl::InvalidArgumentError(absl::StrCat("unknown key \"", absl::CHexEscape(k),
                                                     "\" (expected name, from, to, except)"));
  }
  Guardrail g;
  try {
    if (!entry["name"] || !entry["name"].IsScalar() || entry["name"].Scalar().empty())
      return absl::InvalidArgumentError("\"name\" is required");
    g.name = entry["name"].Scalar();
    if (std::string why = NameProblem("name", g.name); !why.empty())
      return absl::InvalidArgumentError(why);
    auto from = ParseSelector("from", entry["from"]);
    if (!from.ok()) return from.status();
    g.from = *std::move(from);
    auto to = ParseSelector("to", entry["to"]);
    if (!to.ok()) return to.status();
    g.to = *std::move(to);
    if (const YAML::Node except = entry["except"]; except) {
      if (!except.IsSequence()) return absl::InvalidArgumentError("\"except\" must be a list");
      for (const auto& item : except) {
        if (!item.IsScalar())
          return absl::InvalidArgumentError("\"except\": expected proto/port strings");
        auto parsed = ParsePortException(item.Scalar());
        if (!parsed.ok())
          return absl::InvalidArgumentError(absl::StrCat("except: ", parsed.status().message()));
        g.except.push_back(*parsed);
      }
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(EscapeControlCharacters(e.what()));
  }
  return g;
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
    auto error = [i](absl::string_view message) {
      return absl::InvalidArgumentError(absl::StrCat("guardrails[", i, "]: ", message));
    };
    absl::StatusOr<Guardrail> g = ParseGuardrail(list[i]);
    if (!g.ok()) return error(g.status().message());
    if (!names.insert(g->name).second)
      return error(absl::StrCat("guardrail \"", g->name, "\" is listed twice"));
    guardrails.push_back(*std::move(g));
  }
  return guardrails;
}

bulkhead::v1::Selector SelectorToProto(const PeerSelector& selector) {
  bulkhead::v1::Selector out;
  switch (selector.kind) {
    case PeerSelector::Kind::kAny:
      break;
    case PeerSelector::Kind::kNamespace:
      out.set_namespace_(selector.value);
      break;
    case PeerSelector::Kind::kWorkload:
      out.set_workload(selector.value);
      break;
    case PeerSelector::Kind::kPeer:
      out.set_peer(selector.value);
      break;
  }
  return out;
}

PeerSelector SelectorFromProto(const bulkhead::v1::Selector& selector) {
  if (!selector.namespace_().empty())
    return {PeerSelector::Kind::kNamespace, selector.namespace_()};
  if (!selector.workload().empty()) return {PeerSelector::Kind::kWorkload, selector.workload()};
  if (!selector.peer().empty()) return {PeerSelector::Kind::kPeer, selector.peer()};
  return {};
}

bulkhead::v1::GuardrailRule GuardrailToProto(const Guardrail& guardrail) {
  bulkhead::v1::GuardrailRule rule;
  rule.set_name(guardrail.name);
  *rule.mutable_from() = SelectorToProto(guardrail.from);
  *rule.mutable_to() = SelectorToProto(guardrail.to);
  for (const PortException& e : guardrail.except) rule.add_except(e.ToString());
  return rule;
}

absl::StatusOr<Guardrail> GuardrailFromProto(const bulkhead::v1::GuardrailRule& rule) {
  if (rule.name().empty()) return absl::InvalidArgumentError("guardrail without a name");
  if (std::string why = NameProblem("name", rule.name()); !why.empty())
    return absl::InvalidArgumentError(why);
  Guardrail g{.name = rule.name(),
              .from = SelectorFromProto(rule.from()),
              .to = SelectorFromProto(rule.to())};
  for (const std::string& text : rule.except()) {
    absl::StatusOr<PortException> e = ParsePortException(text);
    if (!e.ok()) return e.status();
    g.except.push_back(*e);
  }
  return g;
}

}  // namespace bulkhead
