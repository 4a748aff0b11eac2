#include "api/policy_yaml.h"

#include <algorithm>
#include <tuple>
#include <vector>

#include "api/enum_names.h"
#include "google/protobuf/util/time_util.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

std::string OriginName(bulkhead::v1::Origin origin) {
  switch (origin) {
    case bulkhead::v1::LEARNED:
      return "learned";
    case bulkhead::v1::REVIEWED:
      return "reviewed";
    default:
      return "unspecified";
  }
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

}  // namespace

namespace {

void WriteSegments(YAML::Emitter& out, const bulkhead::v1::Policy& policy) {
  std::vector<const bulkhead::v1::Segment*> segments;
  for (const auto& s : policy.segments()) segments.push_back(&s);
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

}  // namespace

std::string PolicyToYaml(
    const bulkhead::v1::Policy& policy, const bulkhead::v1::Policy& held_back,
    const google::protobuf::RepeatedPtrField<bulkhead::v1::GuardrailStatus>& guardrails) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "apiVersion" << YAML::Value << kPolicyApiVersion;
  out << YAML::Key << "kind" << YAML::Value << kPolicyKind;
  out << YAML::Key << "segments" << YAML::Value;
  WriteSegments(out, policy);
  if (held_back.segments_size() > 0) {
    out << YAML::Key << "heldBack" << YAML::Value;
    out << YAML::Comment("not in force: a source learned too much too fast (a scan?); review");
    WriteSegments(out, held_back);
  }
  if (!guardrails.empty()) {
    out << YAML::Key << "guardrails" << YAML::Value;
    out << YAML::Comment("deny rules learning never overrides, in every mode (--guardrails)");
    out << YAML::BeginSeq;
    for (const auto& g : guardrails) {
      out << YAML::BeginMap;
      WriteName(out << YAML::Key << "name" << YAML::Value, g.name());
      WriteName(out << YAML::Key << "from" << YAML::Value, g.from());
      WriteName(out << YAML::Key << "to" << YAML::Value, g.to());
      if (!g.except().empty()) {
        out << YAML::Key << "except" << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (const auto& e : g.except()) out << e;
        out << YAML::EndSeq;
      }
      out << YAML::EndMap;
    }
    out << YAML::EndSeq;
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

}  // namespace bulkhead
