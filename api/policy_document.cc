#include "api/policy_document.h"

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "api/enum_names.h"
#include "api/kubernetes_import.h"
#include "api/names.h"
#include "api/policy_yaml.h"
#include "api/yaml_documents.h"
#include "google/protobuf/util/time_util.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

using bulkhead::v1::Segment;

// Kubernetes files may hold many documents; ours holds one.
constexpr std::size_t kMaxPolicyDocuments = 10000;

int LineOf(const YAML::Node& node) {
  const YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

bool HasPorts(bulkhead::v1::Protocol proto) {
  return proto == bulkhead::v1::TCP || proto == bulkhead::v1::UDP || proto == bulkhead::v1::SCTP;
}

}  // namespace

std::string DescribeSegment(const Segment& s) {
  std::string port = s.port_end() == 0 ? absl::StrCat(s.port())
                     : s.port() == 0 && s.port_end() == 65535
                         ? std::string("any")
                         : absl::StrCat(s.port(), "-", s.port_end());
  return absl::StrCat(s.from_workload(), " -> ", s.to_workload(), " : ", ProtocolName(s.protocol()),
                      "/", port);
}

namespace {

std::string Describe(const Segment& s) { return DescribeSegment(s); }

auto KeyTuple(const Segment& s) {
  return std::make_tuple(s.from_workload(), s.to_workload(), static_cast<int>(s.protocol()),
                         s.port(), s.port_end());
}

// Reads one document, collecting every problem instead of stopping at the
// first; what is wrong with an entry leaves that entry out.
class Reader {
 public:
  explicit Reader(std::vector<PolicyProblem>* problems) : problems_(problems) {}

  void Problem(const YAML::Node& at, std::string message) {
    problems_->push_back({LineOf(at), std::move(message)});
  }

  // A mapping whose keys are all known and given once.
  bool Keys(const YAML::Node& map, std::initializer_list<const char*> allowed,
            absl::string_view what) {
    if (!map.IsMap()) {
      Problem(map, absl::StrCat(what, ": expected a mapping"));
      return false;
    }
    bool ok = true;
    std::set<std::string> seen;
    for (const auto& entry : map) {
      const YAML::Node key = entry.first;
      const std::string name = key.IsScalar() ? key.Scalar() : "";
      if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return name == a; }) ==
          allowed.end()) {
        std::string expected;
        for (const char* a : allowed) absl::StrAppend(&expected, expected.empty() ? "" : ", ", a);
        Problem(key, absl::StrCat(what, ": unknown key \"", absl::CHexEscape(name), "\" (expected ",
                                  expected, ")"));
        ok = false;
      } else if (!seen.insert(name).second) {
        Problem(key, absl::StrCat(what, ": \"", name, "\" is given twice"));
        ok = false;
      }
    }
    return ok;
  }

  std::optional<std::uint64_t> Number(const YAML::Node& node, absl::string_view field,
                                      std::uint64_t max) {
    std::uint64_t value = 0;
    if (!node.IsScalar() || node.Scalar().empty() ||
        !std::all_of(node.Scalar().begin(), node.Scalar().end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(node.Scalar(), &value) || value > max) {
      Problem(node,
              absl::StrCat("\"", field, "\": ",
                           node.IsScalar()
                               ? absl::StrCat("\"", absl::CHexEscape(node.Scalar()), "\" is not")
                               : std::string("expected"),
                           " a whole number from 0 to ", max));
      return std::nullopt;
    }
    return value;
  }

  // A peer: "namespace/name", or a name without '/'.
  std::optional<std::string> Peer(const YAML::Node& node, absl::string_view field) {
    if (!node) return std::nullopt;  // Segment() reports what is missing
    if (!node.IsScalar() || node.Scalar().empty()) {
      Problem(node, absl::StrCat("\"", field, "\": expected a peer name"));
      return std::nullopt;
    }
    const std::string& name = node.Scalar();
    if (std::string why = NameProblem(field, name); !why.empty()) {
      Problem(node, why);
      return std::nullopt;
    }
    std::size_t slash = name.find('/');
    if (slash != std::string::npos && (slash == 0 || slash + 1 == name.size() ||
                                       name.find('/', slash + 1) != std::string::npos)) {
      Problem(node, absl::StrCat("\"", field, "\": \"", name,
                                 "\" is neither namespace/name nor a peer's name"));
      return std::nullopt;
    }
    return name;
  }

  std::optional<Segment> ReadSegment(const YAML::Node& entry) {
    if (!Keys(entry,
              {"from", "to", "protocol", "port", "endPort", "collapsedPorts", "origin", "firstSeen",
               "lastSeen", "flows"},
              "segment"))
      return std::nullopt;
    bool ok = true;
    for (const char* required : {"from", "to", "protocol", "port"})
      if (!entry[required]) {
        Problem(entry, absl::StrCat("segment: \"", required, "\" is required"));
        ok = false;
      }
    if (!ok) return std::nullopt;
    Segment s;
    auto from = Peer(entry["from"], "from");
    auto to = Peer(entry["to"], "to");
    ok = from && to;
    if (ok) s.set_from_workload(*from), s.set_to_workload(*to);

    const YAML::Node protocol = entry["protocol"];
    absl::StatusOr<bulkhead::v1::Protocol> proto =
        protocol.IsScalar() ? ProtocolFromName(protocol.Scalar())
                            : absl::InvalidArgumentError("expected a protocol name");
    if (!proto.ok()) {
      Problem(protocol, absl::StrCat("\"protocol\": ", proto.status().message()));
      return std::nullopt;
    }
    s.set_protocol(*proto);
    const bool ports = HasPorts(*proto);
    auto port = Number(entry["port"], "port", ports ? 65535 : 255);
    std::optional<std::uint64_t> end;
    if (const YAML::Node node = entry["endPort"]; node) {
      if (!ports) {
        Problem(node, absl::StrCat("\"endPort\": ", ProtocolName(*proto),
                                   " has no ports (port is the ICMP type)"));
        ok = false;
      } else {
        end = Number(node, "endPort", 65535);
        ok = ok && end.has_value();
      }
    }
    if (!port) return std::nullopt;
    s.set_port(static_cast<std::uint32_t>(*port));
    if (ok && ports) {
      if (end && *end < *port) {
        Problem(entry["endPort"], absl::StrCat("\"endPort\" ", *end, " is below port ", *port));
        ok = false;
      } else if (*port == 0 && (!end || *end != 65535)) {
        Problem(
            entry["port"],
            "\"port\" 0 is not a server port (1 to 65535); any port is port: 0, endPort: 65535");
        ok = false;
      } else if (end && *end != *port) {
        s.set_port_end(static_cast<std::uint32_t>(*end));
      }
    }
    if (const YAML::Node node = entry["collapsedPorts"]; node) {
      auto collapsed = Number(node, "collapsedPorts", UINT32_MAX);
      if (collapsed && s.port_end() == 0) {
        Problem(node, "\"collapsedPorts\" belongs to a range (endPort)");
        ok = false;
      }
      if (collapsed) s.set_collapsed_ports(static_cast<std::uint32_t>(*collapsed));
      ok = ok && collapsed.has_value();
    }
    s.set_origin(bulkhead::v1::REVIEWED);
    if (const YAML::Node node = entry["origin"]; node) {
      if (node.IsScalar() && node.Scalar() == "learned") {
        s.set_origin(bulkhead::v1::LEARNED);
      } else if (!node.IsScalar() || node.Scalar() != "reviewed") {
        Problem(node, "\"origin\": expected learned or reviewed");
        ok = false;
      }
    }
    for (const char* field : {"firstSeen", "lastSeen"}) {
      const YAML::Node node = entry[field];
      if (!node) continue;
      google::protobuf::Timestamp* t =
          field[0] == 'f' ? s.mutable_first_seen() : s.mutable_last_seen();
      if (!node.IsScalar() || !google::protobuf::util::TimeUtil::FromString(node.Scalar(), t)) {
        Problem(node,
                absl::StrCat("\"", field, "\": expected an RFC 3339 time (2026-11-22T05:41:55Z)"));
        ok = false;
      }
    }
    if (const YAML::Node node = entry["flows"]; node) {
      auto flows = Number(node, "flows", UINT64_MAX);
      if (flows) s.set_flows(*flows);
      ok = ok && flows.has_value();
    }
    if (!ok) return std::nullopt;
    return s;
  }

  void ReadSegments(const YAML::Node& list, absl::string_view field,
                    std::vector<PolicyDocument::Lined<Segment>>* out) {
    if (list.IsNull()) return;
    if (!list.IsSequence()) {
      Problem(list, absl::StrCat("\"", field, "\": expected a list of segments"));
      return;
    }
    for (const YAML::Node& entry : list)
      if (std::optional<Segment> s = ReadSegment(entry))
        out->push_back({*std::move(s), LineOf(entry)});
  }

 private:
  std::vector<PolicyProblem>* problems_;
};

void ReadScope(Reader& reader, const YAML::Node& node, PolicyDocument* document) {
  if (!reader.Keys(node, {"namespace", "workload"}, "scope")) return;
  if (node.size() != 1) {
    reader.Problem(node, "scope: expected one of namespace, workload");
    return;
  }
  const std::string key = node.begin()->first.Scalar();
  const YAML::Node value = node.begin()->second;
  auto name = reader.Peer(value, key);
  if (!name) return;
  bool workload = name->find('/') != std::string::npos;
  if (workload != (key == "workload")) {
    reader.Problem(value, key == "workload" ? absl::StrCat("scope: workload \"", *name,
                                                           "\" is not namespace/name")
                                            : "scope: a namespace has no '/'");
    return;
  }
  document->scope = {workload ? PeerSelector::Kind::kWorkload : PeerSelector::Kind::kNamespace,
                     *name};
}

void ReadModes(Reader& reader, const YAML::Node& node, PolicyDocument* document) {
  if (node.IsNull()) return;
  if (!node.IsMap()) {
    reader.Problem(node, "\"modes\": expected a mapping of namespace/name to a mode");
    return;
  }
  for (const auto& entry : node) {
    const YAML::Node key = entry.first;
    const YAML::Node value = entry.second;
    auto name = reader.Peer(key, "modes");
    if (!name) continue;
    if (name->find('/') == std::string::npos) {
      reader.Problem(key, absl::StrCat("modes: \"", *name, "\" is not namespace/name"));
      continue;
    }
    absl::StatusOr<bulkhead::v1::Mode> mode =
        value.IsScalar() ? ModeFromName(value.Scalar())
                         : absl::InvalidArgumentError("expected learn, monitor or enforce");
    if (!mode.ok()) {
      reader.Problem(value, absl::StrCat("modes: ", *name, ": ", mode.status().message()));
      continue;
    }
    if (auto [it, inserted] = document->modes.try_emplace(
            *name, PolicyDocument::Lined<bulkhead::v1::Mode>{*mode, LineOf(key)});
        !inserted)
      reader.Problem(key, absl::StrCat("modes: ", *name, " is given twice (first at line ",
                                       it->second.line, ")"));
  }
}

void ReadGuardrails(Reader& reader, const YAML::Node& list, PolicyDocument* document) {
  if (list.IsNull()) return;
  if (!list.IsSequence()) {
    reader.Problem(list, "\"guardrails\": expected a list");
    return;
  }
  std::map<std::string, int> names;
  for (const YAML::Node& entry : list) {
    absl::StatusOr<Guardrail> g = ParseGuardrail(entry);
    if (!g.ok()) {
      reader.Problem(entry, absl::StrCat("guardrail: ", g.status().message()));
      continue;
    }
    if (auto [it, inserted] = names.emplace(g->name, LineOf(entry)); !inserted) {
      reader.Problem(entry, absl::StrCat("guardrail \"", g->name,
                                         "\" is listed twice (first at line ", it->second, ")"));
      continue;
    }
    g->source = "policy";
    document->guardrails.push_back({*std::move(g), LineOf(entry)});
  }
}

// The same segment twice, in one list or across segments and heldBack.
void CheckDuplicates(const PolicyDocument& document, std::vector<PolicyProblem>* problems) {
  std::map<decltype(KeyTuple(Segment())), std::pair<int, const char*>> seen;
  for (const auto* list : {&document.segments, &document.held_back}) {
    const char* where = list == &document.segments ? "segments" : "heldBack";
    for (const auto& [s, line] : *list) {
      auto [it, inserted] = seen.try_emplace(KeyTuple(s), line, where);
      if (!inserted)
        problems->push_back(
            {line, absl::StrCat("segment ", Describe(s), " is listed twice (", it->second.second,
                                ", line ", it->second.first, ")")});
    }
  }
}

}  // namespace

ParsedPolicy ParsePolicyDocument(absl::string_view text, const PeerCatalog* catalog) {
  ParsedPolicy parsed;
  std::vector<PolicyProblem>& problems = parsed.problems;
  if (text.size() > kMaxPolicyFileBytes) {
    problems.push_back({0, absl::StrCat("the file is ", text.size(), " bytes, over the limit of ",
                                        kMaxPolicyFileBytes, " (16 MiB)")});
    return parsed;
  }
  int error_line = 0;
  absl::StatusOr<std::vector<YamlDocument>> loaded =
      LoadDocuments(text, kMaxPolicyDocuments, &error_line);
  if (!loaded.ok()) {
    problems.push_back({error_line, std::string(loaded.status().message())});
    return parsed;
  }
  std::vector<YamlDocument> documents;
  for (const YamlDocument& d : *loaded)
    if (!d.root.IsNull()) documents.push_back(d);
  if (documents.empty()) {
    problems.push_back({0, absl::StrCat("the file is empty (expected apiVersion: ",
                                        kPolicyApiVersion, ", kind: ", kPolicyKind, ")")});
    return parsed;
  }
  if (documents.size() > 1 && !IsKubernetes(documents[0].root)) {
    problems.push_back({documents[1].line_offset + 1,
                        absl::StrCat("a ", kPolicyKind, " file holds one YAML document")});
    return parsed;
  }
  if (IsKubernetes(documents[0].root)) {
    if (catalog == nullptr) {
      problems.push_back({0,
                          "Kubernetes NetworkPolicies are read against the agent's workloads and "
                          "their labels: give the file to an agent (without --flows)"});
      return parsed;
    }
    return ParseKubernetesPolicies(documents, *catalog);
  }
  const YAML::Node& root = documents[0].root;
  Reader reader(&problems);
  try {
    if (!root.IsMap()) {
      reader.Problem(root, absl::StrCat("expected a mapping with apiVersion: ", kPolicyApiVersion,
                                        ", kind: ", kPolicyKind));
      return parsed;
    }
    reader.Keys(root,
                {"apiVersion", "kind", "scope", "segments", "heldBack", "guardrails", "modes"},
                "policy");
    const YAML::Node api_version = root["apiVersion"];
    const YAML::Node kind = root["kind"];
    if (!api_version || !api_version.IsScalar() || api_version.Scalar() != kPolicyApiVersion)
      reader.Problem(api_version ? api_version : root,
                     absl::StrCat("\"apiVersion\": expected ", kPolicyApiVersion));
    if (!kind || !kind.IsScalar() || kind.Scalar() != kPolicyKind)
      reader.Problem(kind ? kind : root, absl::StrCat("\"kind\": expected ", kPolicyKind));
    PolicyDocument& document = parsed.document;
    if (const YAML::Node scope = root["scope"]; scope) ReadScope(reader, scope, &document);
    if (const YAML::Node segments = root["segments"]; segments)
      reader.ReadSegments(segments, "segments", &document.segments);
    else
      reader.Problem(root, "\"segments\" is required (segments: [] allows nothing)");
    if (const YAML::Node held = root["heldBack"]; held)
      reader.ReadSegments(held, "heldBack", &document.held_back);
    if (const YAML::Node guardrails = root["guardrails"]; guardrails) {
      if (document.scope.kind != PeerSelector::Kind::kAny)
        reader.Problem(guardrails, "guardrails belong to a file without a scope (the whole node)");
      else
        ReadGuardrails(reader, guardrails, &document);
    }
    if (const YAML::Node modes = root["modes"]; modes) ReadModes(reader, modes, &document);
  } catch (const YAML::Exception& e) {
    problems.push_back({e.mark.is_null() ? 0 : e.mark.line + 1,
                        absl::StrCat("not readable: ", EscapeControlCharacters(e.msg))});
  }
  CheckDuplicates(parsed.document, &problems);
  // Scope: every entry must have an end in it.
  const PolicyDocument& document = parsed.document;
  for (const auto* list : {&document.segments, &document.held_back})
    for (const auto& [s, line] : *list)
      if (!document.Decides(s.from_workload(), s.to_workload(), s.protocol()))
        problems.push_back({line, absl::StrCat("segment ", Describe(s), " is outside the scope (",
                                               document.scope.ToString(), ")")});
  for (const auto& [name, mode] : document.modes)
    if (!document.InScope(name))
      problems.push_back({mode.line, absl::StrCat("modes: ", name, " is outside the scope (",
                                                  document.scope.ToString(), ")")});
  std::stable_sort(problems.begin(), problems.end(),
                   [](const auto& a, const auto& b) { return a.line < b.line; });
  return parsed;
}

bool PeerCatalog::Knows(absl::string_view peer) const {
  std::string name(peer);
  return workloads.contains(name) || networks.contains(name) || peer == "host" || peer == "world" ||
         peer == "private";
}

PeerCatalog CatalogOf(const bulkhead::v1::ExportPolicyResponse& exported) {
  PeerCatalog catalog;
  for (const auto& w : exported.workloads())
    catalog.workloads[w.workload()].insert(w.labels().begin(), w.labels().end());
  for (const auto& n : exported.networks())
    catalog.networks[n.name()].assign(n.cidrs().begin(), n.cidrs().end());
  catalog.host_addresses.assign(exported.host_addresses().begin(), exported.host_addresses().end());
  return catalog;
}

void CheckPolicyDocument(const PolicyDocument& document, const PolicyContext& context,
                         std::vector<PolicyProblem>* problems, std::vector<std::string>* warnings) {
  const PeerCatalog* catalog = context.catalog;
  auto unknown = [&](const std::string& peer) { return catalog && !catalog->Knows(peer); };
  auto peer_problem = [](const std::string& peer) {
    return peer.find('/') != std::string::npos
               ? absl::StrCat("workload ", peer, " is not in the inventory")
               : absl::StrCat("peer \"", peer,
                              "\" is not a network set in the inventory, host, world or private");
  };
  if (catalog && document.scope.kind != PeerSelector::Kind::kAny) {
    bool any = std::any_of(catalog->workloads.begin(), catalog->workloads.end(),
                           [&](const auto& w) { return document.scope.Selects(w.first); });
    if (!any)
      problems->push_back(
          {0, absl::StrCat("scope: ", document.scope.ToString(), " has no workload")});
  }

  // Guardrails from the file, and the others, by name.
  std::map<std::string, std::pair<const Guardrail*, int>> guardrails;
  for (const Guardrail& g : context.other_guardrails) guardrails.emplace(g.name, std::pair(&g, 0));
  for (const auto& [g, line] : document.guardrails) {
    auto [it, inserted] = guardrails.try_emplace(g.name, &g, line);
    if (!inserted && !it->second.first->SameRule(g))
      problems->push_back(
          {line, absl::StrCat("guardrail \"", g.name, "\" conflicts with the one of that name in ",
                              it->second.first->source, " (same name, different rule)")});
    for (const PeerSelector* s : {&g.from, &g.to}) {
      if (!catalog || s->kind == PeerSelector::Kind::kAny) continue;
      bool selects = s->kind == PeerSelector::Kind::kNamespace
                         ? std::any_of(catalog->workloads.begin(), catalog->workloads.end(),
                                       [&](const auto& w) { return s->Selects(w.first); })
                         : catalog->Knows(s->value);
      if (!selects)
        warnings->push_back(absl::StrCat("line ", line, ": guardrail \"", g.name,
                                         "\": ", s->ToString(), " selects nothing now"));
    }
  }

  for (const auto* list : {&document.segments, &document.held_back}) {
    for (const auto& [s, line] : *list) {
      for (const std::string* peer : {&s.from_workload(), &s.to_workload()})
        if (unknown(*peer))
          problems->push_back(
              {line, absl::StrCat("segment ", Describe(s), ": ", peer_problem(*peer))});
      auto first = static_cast<std::uint16_t>(s.port());
      auto last = static_cast<std::uint16_t>(s.port_end() == 0 ? s.port() : s.port_end());
      for (const auto& [name, g] : guardrails)
        if (g.first->Denies(s.from_workload(), s.to_workload(),
                            static_cast<std::uint8_t>(s.protocol()), first, last))
          problems->push_back(
              {line, absl::StrCat("segment ", Describe(s), " is denied by guardrail \"", name, "\"",
                                  g.second != 0 ? absl::StrCat(" (line ", g.second, ")")
                                                : absl::StrCat(" (", g.first->source, ")"),
                                  ": a guardrail always wins, so this segment would never "
                                  "admit a flow")});
    }
  }
  for (const auto& [name, mode] : document.modes)
    if (catalog && !catalog->workloads.contains(name))
      problems->push_back({mode.line, absl::StrCat("modes: ", peer_problem(name))});
  if (context.max_segments != 0 && document.segments.size() > context.max_segments)
    problems->push_back(
        {0, absl::StrCat(document.segments.size(), " segments, more than the policy map holds (",
                         context.max_segments, "; bulkheadd --policy-max)")});
  std::stable_sort(problems->begin(), problems->end(),
                   [](const auto& a, const auto& b) { return a.line < b.line; });
}

std::string ToString(const PolicyProblem& problem) {
  if (problem.line == 0) return problem.message;
  return absl::StrCat("line ", problem.line, ": ", problem.message);
}

}  // namespace bulkhead
