#include "api/policy_yaml.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "api/enum_names.h"
#include "google/protobuf/util/time_util.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

std::string OriginName(bulkhead::v1::Origin origin) {
  return origin == bulkhead::v1::LEARNED ? "learned" : "reviewed";
}

std::string ProtocolUpper(bulkhead::v1::Protocol proto) {
  std::string name = ProtocolName(proto);
  std::transform(name.begin(), name.end(), name.begin(), ::toupper);
  return name;
}

// A workload name exactly as it is: yaml-cpp writes a trailing '\r' bare,
// which YAML reads back as a line break, so names with control characters
// are written double-quoted (escaped).
YAML::Emitter& WriteName(YAML::Emitter& out, const std::string& name) {
  if (std::any_of(name.begin(), name.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; }))
    out << YAML::DoubleQuoted;
  return out << name;
}

void WriteSegments(YAML::Emitter& out, const bulkhead::v1::Policy& policy,
                   const PeerSelector& scope) {
  std::vector<const bulkhead::v1::Segment*> segments;
  for (const auto& s : policy.segments())
    if (scope.Selects(s.from_workload()) || scope.Selects(s.to_workload())) segments.push_back(&s);
  std::sort(segments.begin(), segments.end(), [](const auto* a, const auto* b) {
    return std::tuple(a->from_workload(), a->to_workload(), a->protocol(), a->port()) <
           std::tuple(b->from_workload(), b->to_workload(), b->protocol(), b->port());
  });
  using google::protobuf::util::TimeUtil;
  out << YAML::BeginSeq;
  for (const auto* s : segments) {
    out << YAML::BeginMap;
    WriteName(out << YAML::Key << "from" << YAML::Value, s->from_workload());
    WriteName(out << YAML::Key << "to" << YAML::Value, s->to_workload());
    out << YAML::Key << "protocol" << YAML::Value << ProtocolUpper(s->protocol());
    out << YAML::Key << "port" << YAML::Value << s->port();
    if (s->port_end() != 0) {
      // A range, as Kubernetes writes one (port, endPort); 0-65535: any port.
      out << YAML::Key << "endPort" << YAML::Value << s->port_end();
      if (s->port() == 0 && s->port_end() == 65535) out << YAML::Comment("any port");
    }
    if (s->collapsed_ports() != 0) {
      out << YAML::Key << "collapsedPorts" << YAML::Value << s->collapsed_ports();
      out << YAML::Comment("learned ports collapsed into this range");
    }
    // Unset only in hand-made exports: left out, it reads back as reviewed.
    if (s->origin() == bulkhead::v1::LEARNED || s->origin() == bulkhead::v1::REVIEWED)
      out << YAML::Key << "origin" << YAML::Value << OriginName(s->origin());
    if (s->has_first_seen())
      out << YAML::Key << "firstSeen" << YAML::Value << TimeUtil::ToString(s->first_seen());
    if (s->has_last_seen())
      out << YAML::Key << "lastSeen" << YAML::Value << TimeUtil::ToString(s->last_seen());
    out << YAML::Key << "flows" << YAML::Value << s->flows();
    out << YAML::EndMap;
  }
  out << YAML::EndSeq;
}

void WriteSelector(YAML::Emitter& out, const bulkhead::v1::Selector& selector) {
  PeerSelector s = SelectorFromProto(selector);
  if (s.kind == PeerSelector::Kind::kAny) {
    out << "any";
    return;
  }
  const char* key = s.kind == PeerSelector::Kind::kNamespace  ? "namespace"
                    : s.kind == PeerSelector::Kind::kWorkload ? "workload"
                                                              : "peer";
  out << YAML::Flow << YAML::BeginMap << YAML::Key << key << YAML::Value;
  WriteName(out, s.value) << YAML::EndMap;
}

}  // namespace

std::string PolicyToYaml(const bulkhead::v1::ExportPolicyResponse& exported,
                         const PeerSelector& scope) {
  const bool everything = scope.kind == PeerSelector::Kind::kAny;
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << kPolicyApiVersion;
  out << YAML::Key << "kind" << YAML::Value << kPolicyKind;
  if (!everything) {
    out << YAML::Key << "scope" << YAML::Value;
    WriteSelector(out, SelectorToProto(scope));
  }
  out << YAML::Key << "segments" << YAML::Value;
  WriteSegments(out, exported.policy(), scope);
  if (std::any_of(exported.held_back().segments().begin(), exported.held_back().segments().end(),
                  [&](const auto& s) {
                    return scope.Selects(s.from_workload()) || scope.Selects(s.to_workload());
                  })) {
    out << YAML::Key << "heldBack" << YAML::Value;
    out << YAML::Comment("not in force: a source learned too much too fast (a scan?); review");
    WriteSegments(out, exported.held_back(), scope);
  }
  if (everything && !exported.guardrails().empty()) {
    std::vector<const bulkhead::v1::GuardrailStatus*> guardrails;
    for (const auto& g : exported.guardrails()) guardrails.push_back(&g);
    std::sort(guardrails.begin(), guardrails.end(),
              [](const auto* a, const auto* b) { return a->name() < b->name(); });
    out << YAML::Key << "guardrails" << YAML::Value;
    out << YAML::Comment("deny rules learning never overrides, in every mode");
    out << YAML::BeginSeq;
    for (const auto* g : guardrails) {
      out << YAML::BeginMap;
      WriteName(out << YAML::Key << "name" << YAML::Value, g->name());
      out << YAML::Key << "from" << YAML::Value;
      WriteSelector(out, g->from_selector());
      out << YAML::Key << "to" << YAML::Value;
      WriteSelector(out, g->to_selector());
      if (!g->except().empty()) {
        out << YAML::Key << "except" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const auto& e : g->except()) out << e;
        out << YAML::EndSeq;
      }
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  std::map<std::string, bulkhead::v1::Mode> modes;
  for (const auto& w : exported.workloads())
    if (scope.Selects(w.workload()) && w.mode() != bulkhead::v1::MODE_UNSPECIFIED)
      modes[w.workload()] = w.mode();
  if (!modes.empty()) {
    out << YAML::Key << "modes" << YAML::Value << YAML::BeginMap;
    for (const auto& [workload, mode] : modes)
      WriteName(out << YAML::Key, workload) << YAML::Value << ModeName(mode);
    out << YAML::EndMap;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

std::string PolicyToYaml(const bulkhead::v1::Policy& policy) {
  bulkhead::v1::ExportPolicyResponse exported;
  *exported.mutable_policy() = policy;
  return PolicyToYaml(exported);
}

}  // namespace bulkhead
