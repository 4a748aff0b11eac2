#include "api/kubernetes_policy.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "api/enum_names.h"
#include "api/peer_addresses.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/type_resolver_util.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

using google::protobuf::Value;
using Labels = std::map<std::string, std::string>;

// Labels Kubernetes' controllers set on pods that name one pod, one rollout
// or one run rather than the workload: a selector holding them would stop
// matching at the next rollout, or match a single pod.
constexpr absl::string_view kNotIdentity[] = {
    "pod-template-hash",                         // Deployment: a ReplicaSet's (per rollout)
    "rollouts-pod-template-hash",                // Argo Rollouts: the same
    "controller-revision-hash",                  // StatefulSet, DaemonSet: per revision
    "pod-template-generation",                   // DaemonSet: per template generation
    "statefulset.kubernetes.io/pod-name",        // one pod
    "apps.kubernetes.io/pod-index",              // one pod
    "batch.kubernetes.io/job-completion-index",  // one pod of an indexed Job
    "controller-uid",                            // Job: the object's UID, new for every run
    "batch.kubernetes.io/controller-uid",
};
// They name a Job: the workload itself when it is that Job, else one run of
// a CronJob (a new name every run).
constexpr absl::string_view kJobName[] = {"job-name", "batch.kubernetes.io/job-name"};
// The selector of a workload left without a label.
constexpr char kFallbackLabel[] = "app.kubernetes.io/name";
// Every namespace carries it (Kubernetes 1.21 and later).
constexpr char kNamespaceNameLabel[] = "kubernetes.io/metadata.name";

// Kubernetes' name rules (k8s.io/apimachinery/pkg/util/validation).
bool IsLowerAlnum(char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c); }
// A DNS-1123 label without its length limit: [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool IsDnsLabelText(absl::string_view s) {
  return !s.empty() && IsLowerAlnum(s.front()) && IsLowerAlnum(s.back()) &&
         std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}
// Namespaces.
bool IsDnsLabel(absl::string_view s) { return s.size() <= 63 && IsDnsLabelText(s); }
// Object names, label key prefixes.
bool IsDnsSubdomain(absl::string_view s) {
  if (s.size() > 253) return false;
  std::vector<absl::string_view> parts = absl::StrSplit(s, '.');
  return std::all_of(parts.begin(), parts.end(), IsDnsLabelText);
}
// A label value, or a label key's name: [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, 63 at most.
bool IsLabelName(absl::string_view s) {
  return !s.empty() && s.size() <= 63 && absl::ascii_isalnum(s.front()) &&
         absl::ascii_isalnum(s.back()) && std::all_of(s.begin(), s.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.';
         });
}
bool IsLabelKey(absl::string_view s) {
  std::size_t slash = s.rfind('/');
  if (slash == absl::string_view::npos) return IsLabelName(s);
  return IsDnsSubdomain(s.substr(0, slash)) && IsLabelName(s.substr(slash + 1));
}
bool IsLabelValue(absl::string_view s) { return s.empty() || IsLabelName(s); }

// 32-bit FNV-1a: a short, stable fingerprint of a name (absl::Hash changes
// from run to run).
std::uint32_t Fingerprint(absl::string_view s) {
  std::uint32_t hash = 2166136261u;
  for (char c : s) hash = (hash ^ static_cast<unsigned char>(c)) * 16777619u;
  return hash;
}

// "bulkhead-<name>" when Kubernetes takes it as an object name. Otherwise
// (capitals, '_', too long...) the name lowercased, every other character
// a '-', shortened, with a fingerprint of the real name so that two names
// cleaned alike stay apart.
std::string PolicyName(absl::string_view workload_name) {
  std::string plain = absl::StrCat("bulkhead-", workload_name);
  if (IsDnsSubdomain(plain)) return plain;
  std::string cleaned;
  for (char c : absl::AsciiStrToLower(workload_name))
    if (IsLowerAlnum(c))
      cleaned += c;
    else if (!cleaned.empty() && cleaned.back() != '-')
      cleaned += '-';
  std::string fingerprint = absl::StrFormat("%08x", Fingerprint(workload_name));
  // 253 characters at most, with "bulkhead-" before and "-" after.
  cleaned.resize(std::min(cleaned.size(), 253 - 10 - fingerprint.size()));
  while (!cleaned.empty() && cleaned.back() == '-') cleaned.pop_back();
  return cleaned.empty() ? absl::StrCat("bulkhead-", fingerprint)
                         : absl::StrCat("bulkhead-", cleaned, "-", fingerprint);
}

struct Workload {
  std::string id;  // "namespace/name"
  std::string ns;
  std::string name;
  Labels identity;        // what its selector matches
  bool fallback = false;  // no identifying label: identity is kFallbackLabel
};

absl::Status BadNamespace(const Workload& w) {
  return absl::InvalidArgumentError(absl::StrCat("workload ", absl::CHexEscape(w.id), ": \"",
                                                 absl::CHexEscape(w.ns),
                                                 "\" is not a Kubernetes namespace name"));
}

// The labels of a workload named `name` that identify it (none: it needs
// the fallback).
template <typename LabelMap>
Labels IdentifyingLabels(absl::string_view name, const LabelMap& labels) {
  Labels identity;
  for (const auto& [key, value] : labels) {
    bool per_pod =
        std::find(std::begin(kNotIdentity), std::end(kNotIdentity), key) != std::end(kNotIdentity);
    bool other_job =
        std::find(std::begin(kJobName), std::end(kJobName), key) != std::end(kJobName) &&
        value != name;
    if (!per_pod && !other_job) identity.emplace(key, value);
  }
  return identity;
}

absl::StatusOr<Workload> ReadWorkload(const bulkhead::v1::WorkloadInfo& info) {
  Workload w{.id = info.workload()};
  std::size_t slash = w.id.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == w.id.size())
    return absl::InvalidArgumentError(
        absl::StrCat("workload \"", absl::CHexEscape(w.id), "\" is not namespace/name"));
  w.ns = w.id.substr(0, slash);
  w.name = w.id.substr(slash + 1);
  w.identity = IdentifyingLabels(w.name, info.labels());
  if (w.identity.empty()) {
    w.identity.emplace(kFallbackLabel, w.name);
    w.fallback = true;
  }
  return w;
}

// One NetworkPolicyPort: a protocol and a port range; 0-65535 is any port.
struct Port {
  std::string protocol;  // TCP, UDP, SCTP
  std::uint32_t first = 0;
  std::uint32_t last = 0;
  auto operator<=>(const Port&) const = default;
};

// "shop/api -> shop/db tcp/5432", "... tcp/8000-8100", "... icmp/8".
std::string Describe(const bulkhead::v1::Segment& s) {
  std::string ports = s.port_end() == 0 ? absl::StrCat(s.port())
                      : s.port() == 0 && s.port_end() == 65535
                          ? "any"
                          : absl::StrCat(s.port(), "-", s.port_end());
  return absl::StrCat(s.from_workload(), " -> ", s.to_workload(), " ", ProtocolName(s.protocol()),
                      "/", ports);
}

// The segment's ports as NetworkPolicy holds them (1-65535, or any).
absl::StatusOr<Port> PortOf(const bulkhead::v1::Segment& s) {
  std::string protocol = absl::AsciiStrToUpper(ProtocolName(s.protocol()));
  std::uint32_t last = s.port_end() == 0 ? s.port() : s.port_end();
  if (s.port() == 0 && last == 65535) return Port{protocol, 0, 65535};
  if (s.port() < 1 || last > 65535 || last < s.port())
    return absl::InvalidArgumentError(absl::StrCat(Describe(s), ": no NetworkPolicy port is ",
                                                   s.port(), "-", last,
                                                   " (ports are 1 to 65535; 0-65535 is any port)"));
  return Port{protocol, s.port(), last};
}

// The rules of one policy: the other end's name -> the ports of its
// segments. One rule per peer keeps each rule exact (peers x ports).
using Rules = std::map<std::string, std::set<Port>>;
struct Policy {
  const Workload* workload = nullptr;
  std::string name;
  Rules ingress;  // from
  Rules egress;   // to
};

// The JSON tree both outputs are written from.
Value Text(absl::string_view s) {
  Value v;
  v.set_string_value(std::string(s));
  return v;
}
Value Number(std::uint32_t n) {
  Value v;
  v.set_number_value(n);
  return v;
}
Value Object(std::initializer_list<std::pair<const char*, Value>> fields) {
  Value v;
  for (const auto& [key, value] : fields)
    (*v.mutable_struct_value()->mutable_fields())[key] = value;
  return v;
}
Value List(std::vector<Value> items) {
  Value v;
  for (Value& item : items) *v.mutable_list_value()->add_values() = std::move(item);
  return v;
}
Value StringMap(const Labels& labels) {
  Value v;
  auto& fields = *v.mutable_struct_value()->mutable_fields();
  for (const auto& [key, value] : labels) fields[key] = Text(value);
  return v;
}

// A NetworkPolicyPort: the protocol alone for any port.
Value PortValue(const Port& port) {
  Value v = Object({{"protocol", Text(port.protocol)}});
  if (port.first == 0) return v;
  auto& fields = *v.mutable_struct_value()->mutable_fields();
  fields["port"] = Number(port.first);
  if (port.last != port.first) fields["endPort"] = Number(port.last);
  return v;
}

// Turns policies into JSON trees. Makes each workload's selector once
// (exact within its namespace) and notes the workloads it had to select by
// name.
class Writer {
 public:
  Writer(const std::map<std::string, Workload>& workloads, const PeerAddresses& addresses)
      : workloads_(workloads), addresses_(addresses) {}

  // The workload's selector, exact among its namespace's workloads.
  absl::StatusOr<Value> Selector(const Workload& w) {
    if (auto known = selectors_.find(w.id); known != selectors_.end()) return known->second;
    if (w.fallback)
      fallback_warnings_.push_back(
          absl::StrCat(w.id, " has no identifying label: its pods are selected by ", kFallbackLabel,
                       "=", w.name, ", which they must carry"));
    auto bad_label = [&](absl::string_view key, absl::string_view value) {
      return absl::InvalidArgumentError(
          absl::StrCat("workload ", w.id, ": label ", absl::CHexEscape(key), "=\"",
                       absl::CHexEscape(value), "\" is not a Kubernetes label"));
    };
    for (const auto& [key, value] : w.identity)
      if (!IsLabelKey(key) || !IsLabelValue(value)) return bad_label(key, value);
    // Another workload whose labels hold all of these would be selected
    // too: leave it out by a key only it has.
    std::map<std::string, std::set<std::string>> not_in;
    for (const auto& [id, other] : workloads_) {
      if (other.ns != w.ns || id == w.id) continue;
      if (other.identity == w.identity)
        return absl::InvalidArgumentError(
            absl::StrCat("workloads ", std::min(id, w.id), " and ", std::max(id, w.id),
                         " have the same labels (", LabelsText(w.identity),
                         "): no NetworkPolicy selects the pods of one and not the other's"));
      if (std::includes(other.identity.begin(), other.identity.end(), w.identity.begin(),
                        w.identity.end())) {
        auto extra =
            std::find_if(other.identity.begin(), other.identity.end(),
                         [&](const auto& label) { return !w.identity.contains(label.first); });
        if (!IsLabelValue(extra->second)) return bad_label(extra->first, extra->second);
        not_in[extra->first].insert(extra->second);
      }
    }
    Value selector = Object({{"matchLabels", StringMap(w.identity)}});
    if (!not_in.empty()) {
      std::vector<Value> expressions;
      for (const auto& [key, values] : not_in) {
        std::vector<Value> texts;
        for (const std::string& value : values) texts.push_back(Text(value));
        expressions.push_back(Object(
            {{"key", Text(key)}, {"operator", Text("NotIn")}, {"values", List(std::move(texts))}}));
      }
      (*selector.mutable_struct_value()->mutable_fields())["matchExpressions"] =
          List(std::move(expressions));
    }
    selectors_[w.id] = selector;
    return selector;
  }

  // The NetworkPolicyPeer elements standing for `peer` in a policy of
  // namespace `ns` (checked when the segment was taken in).
  absl::StatusOr<std::vector<Value>> Peers(const std::string& peer, absl::string_view ns) {
    std::vector<Value> out;
    if (auto it = workloads_.find(peer); it != workloads_.end()) {
      absl::StatusOr<Value> selector = Selector(it->second);
      if (!selector.ok()) return selector.status();
      if (it->second.ns == ns) {
        out.push_back(Object({{"podSelector", *selector}}));
      } else {
        if (!IsDnsLabel(it->second.ns)) return BadNamespace(it->second);
        Value namespaces =
            Object({{"matchLabels", StringMap({{kNamespaceNameLabel, it->second.ns}})}});
        out.push_back(Object({{"namespaceSelector", namespaces}, {"podSelector", *selector}}));
      }
      return out;
    }
    for (const IpBlock& block : addresses_.BlocksOf(peer)) {
      Value ip_block = Object({{"cidr", Text(block.cidr)}});
      if (!block.except.empty()) {
        std::vector<Value> except;
        for (const std::string& cidr : block.except) except.push_back(Text(cidr));
        (*ip_block.mutable_struct_value()->mutable_fields())["except"] = List(std::move(except));
      }
      out.push_back(Object({{"ipBlock", ip_block}}));
    }
    return out;
  }

  absl::StatusOr<Value> Document(const Policy& policy) {
    const Workload& w = *policy.workload;
    absl::StatusOr<Value> selector = Selector(w);
    if (!selector.ok()) return selector.status();
    Value spec = Object(
        {{"podSelector", *selector}, {"policyTypes", List({Text("Ingress"), Text("Egress")})}});
    for (const auto& [field, peers_field, rules] : {std::tuple("ingress", "from", &policy.ingress),
                                                    std::tuple("egress", "to", &policy.egress)}) {
      if (rules->empty()) continue;  // no rule: that direction is all denied
      std::vector<Value> list;
      for (const auto& [peer, ports] : *rules) {
        absl::StatusOr<std::vector<Value>> peers = Peers(peer, w.ns);
        if (!peers.ok()) return peers.status();
        std::vector<Value> port_list;
        for (const Port& port : ports) port_list.push_back(PortValue(port));
        list.push_back(Object(
            {{peers_field, List(std::move(*peers))}, {"ports", List(std::move(port_list))}}));
      }
      (*spec.mutable_struct_value()->mutable_fields())[field] = List(std::move(list));
    }
    return Object({
        {"apiVersion", Text("networking.k8s.io/v1")},
        {"kind", Text("NetworkPolicy")},
        {"metadata", Object({{"name", Text(policy.name)},
                             {"namespace", Text(w.ns)},
                             {"labels", StringMap({{"app.kubernetes.io/managed-by", "bulkhead"}})},
                             {"annotations", StringMap({{"bulkhead.dev/workload", w.id}})}})},
        {"spec", spec},
    });
  }

  std::vector<std::string>& fallback_warnings() { return fallback_warnings_; }

 private:
  static std::string LabelsText(const Labels& labels) {
    return absl::StrJoin(labels, ",", absl::PairFormatter("="));
  }

  const std::map<std::string, Workload>& workloads_;
  const PeerAddresses& addresses_;
  std::map<std::string, Value> selectors_;  // by workload, once made
  std::vector<std::string> fallback_warnings_;
};

// YAML strings stay strings: yaml-cpp writes `true`, `yes`, `123` or `1.5`
// bare, which YAML readers take for a bool or a number (a label value
// "1.5" must not come back as a float). Bare only what no reader takes for
// anything else: a letter, then letters, digits, '.', '/', '_', '-', and
// none of YAML 1.1's bool and null words.
void WriteString(YAML::Emitter& out, const std::string& s) {
  static const std::set<std::string> kWords = {"y",     "yes", "n",   "no",  "true",
                                               "false", "on",  "off", "null"};
  bool plain =
      !s.empty() && absl::ascii_isalpha(s.front()) &&
      std::all_of(s.begin(), s.end(),
                  [](char c) {
                    return absl::ascii_isalnum(c) || c == '.' || c == '/' || c == '_' || c == '-';
                  }) &&
      !kWords.contains(absl::AsciiStrToLower(s));
  if (!plain) out << YAML::DoubleQuoted;
  out << s;
}

// Keys sorted, as the JSON has them.
void WriteYaml(YAML::Emitter& out, const Value& value) {
  switch (value.kind_case()) {
    case Value::kStructValue: {
      std::vector<const std::string*> keys;
      for (const auto& [key, unused] : value.struct_value().fields()) keys.push_back(&key);
      std::sort(keys.begin(), keys.end(), [](const auto* a, const auto* b) { return *a < *b; });
      out << YAML::BeginMap;
      for (const std::string* key : keys) {
        out << YAML::Key;
        WriteString(out, *key);
        out << YAML::Value;
        WriteYaml(out, value.struct_value().fields().at(*key));
      }
      out << YAML::EndMap;
      return;
    }
    case Value::kListValue:
      out << YAML::BeginSeq;
      for (const Value& item : value.list_value().values()) WriteYaml(out, item);
      out << YAML::EndSeq;
      return;
    case Value::kStringValue:
      WriteString(out, value.string_value());
      return;
    case Value::kNumberValue:  // ports: integers, never "8080.0"
      out << static_cast<std::int64_t>(value.number_value());
      return;
    default:  // no bool or null is ever built
      return;
  }
}

// JSON with sorted keys: protobuf writes a Struct's fields in the
// order of its binary form, which deterministic serialization sorts.
absl::StatusOr<std::string> WriteJson(const google::protobuf::Struct& list) {
  std::string binary;
  {
    google::protobuf::io::StringOutputStream stream(&binary);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    list.SerializeToCodedStream(&coded);
  }
  std::unique_ptr<google::protobuf::util::TypeResolver> resolver(
      google::protobuf::util::NewTypeResolverForDescriptorPool(
          "type.googleapis.com", google::protobuf::DescriptorPool::generated_pool()));
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  std::string json;
  google::protobuf::util::Status status = google::protobuf::util::BinaryToJsonString(
      resolver.get(), "type.googleapis.com/google.protobuf.Struct", binary, &json, options);
  if (!status.ok())
    return absl::InternalError(absl::StrCat("write the policies as JSON: ", status.ToString()));
  return json;
}

}  // namespace

Labels SelectorLabels(absl::string_view id, const Labels& labels) {
  absl::string_view name = id.substr(id.find('/') + 1);  // npos + 1: all of it
  Labels identity = IdentifyingLabels(name, labels);
  if (identity.empty()) identity.emplace(kFallbackLabel, name);
  return identity;
}

absl::StatusOr<KubernetesExport> KubernetesPolicies(
    const bulkhead::v1::ExportPolicyResponse& exported, const PeerSelector& scope) {
  absl::StatusOr<PeerAddresses> addresses =
      PeerAddresses::Build(exported.networks(), exported.host_addresses());
  if (!addresses.ok()) return addresses.status();
  std::map<std::string, Workload> workloads;
  for (const bulkhead::v1::WorkloadInfo& info : exported.workloads()) {
    absl::StatusOr<Workload> w = ReadWorkload(info);
    if (!w.ok()) return w.status();
    std::string id = w->id;
    if (!workloads.emplace(id, *std::move(w)).second)
      return absl::InvalidArgumentError(absl::StrCat("workload ", id, " is listed twice"));
  }

  // A policy for each workload in scope, named uniquely in its namespace.
  std::map<std::string, Policy> policies;                            // by workload
  std::map<std::pair<std::string, std::string>, std::string> names;  // (ns, name) -> workload
  for (const auto& [id, w] : workloads) {
    if (!scope.Selects(id)) continue;
    if (!IsDnsLabel(w.ns)) return BadNamespace(w);
    Policy& policy = policies[id];
    policy.workload = &w;
    policy.name = PolicyName(w.name);
    auto [taken, fresh] = names.emplace(std::pair(w.ns, policy.name), id);
    if (!fresh)
      return absl::InvalidArgumentError(absl::StrCat("workloads ", taken->second, " and ", id,
                                                     " would both have the policy ", policy.name));
  }
  if (policies.empty())
    return absl::NotFoundError(absl::StrCat("no workload in ", scope.ToString(),
                                            " (the export has ", workloads.size(), " workloads)"));

  KubernetesExport result;
  std::vector<std::string>& warnings = result.warnings;
  if (!exported.guardrails().empty())
    warnings.push_back(absl::StrCat(
        exported.guardrails_size(),
        " guardrails are not exported: NetworkPolicy only allows (the segments keep within them)"));
  auto held_back =
      std::count_if(exported.held_back().segments().begin(), exported.held_back().segments().end(),
                    [&](const auto& s) {
                      return scope.Selects(s.from_workload()) || scope.Selects(s.to_workload());
                    });
  if (held_back > 0)
    warnings.push_back(
        absl::StrCat(held_back, " held-back candidates are not exported: they are not in force"));

  // Each segment with an end in scope becomes ports of a rule at that end,
  // in segment order so that the warnings come in a stable order.
  std::vector<const bulkhead::v1::Segment*> segments;
  for (const auto& s : exported.policy().segments())
    if (policies.contains(s.from_workload()) || policies.contains(s.to_workload()))
      segments.push_back(&s);
  std::sort(segments.begin(), segments.end(), [](const auto* a, const auto* b) {
    return std::tuple(a->from_workload(), a->to_workload(), a->protocol(), a->port(),
                      a->port_end()) < std::tuple(b->from_workload(), b->to_workload(),
                                                  b->protocol(), b->port(), b->port_end());
  });
  bool host_used = false;
  for (const bulkhead::v1::Segment* s : segments) {
    switch (s->protocol()) {
      case bulkhead::v1::TCP:
      case bulkhead::v1::UDP:
      case bulkhead::v1::SCTP:
        break;
      case bulkhead::v1::ICMP:
      case bulkhead::v1::ICMPV6:
        warnings.push_back(absl::StrCat(Describe(*s), ": left out: NetworkPolicy has no ICMP"));
        continue;
      default:
        return absl::InvalidArgumentError(
            absl::StrCat(Describe(*s), ": not a protocol of segments (TCP, UDP, SCTP, ICMP)"));
    }
    absl::StatusOr<Port> port = PortOf(*s);
    if (!port.ok()) return port.status();
    // (policy's workload, the other end, its rules there)
    for (auto [self, other, rules] :
         {std::tuple(&s->from_workload(), &s->to_workload(), &Policy::egress),
          std::tuple(&s->to_workload(), &s->from_workload(), &Policy::ingress)}) {
      auto policy = policies.find(*self);
      if (policy == policies.end()) continue;
      std::string why;
      if (other->find('/') != std::string::npos) {
        if (!workloads.contains(*other))
          why = absl::StrCat(*other, " is not a workload of the export (no labels to select)");
      } else if (!addresses->Knows(*other)) {
        why = absl::StrCat(*other, " is no workload, network set, host, private or world");
      } else if (addresses->BlocksOf(*other).empty()) {
        why = *other == "host"
                  ? "the export has no host address"
                  : absl::StrCat(*other, " holds no address (others' prefixes hold them all)");
      } else {
        host_used |= *other == "host";
      }
      if (!why.empty()) {
        warnings.push_back(absl::StrCat(Describe(*s), ": left out: ", why));
        break;  // one warning a segment: the other end is not a workload, so no other policy
      }
      ((policy->second).*rules)[*other].insert(*port);
    }
  }
  if (host_used) {
    std::vector<std::string> hosts(exported.host_addresses().begin(),
                                   exported.host_addresses().end());
    std::sort(hosts.begin(), hosts.end());
    warnings.push_back(absl::StrCat(
        "host segments allow the exporting node's addresses (", absl::StrJoin(hosts, ", "),
        "); Kubernetes always allows traffic between a pod and its own node"));
  }

  std::vector<const Policy*> order;
  order.reserve(policies.size());
  for (const auto& [id, policy] : policies) order.push_back(&policy);
  std::sort(order.begin(), order.end(), [](const Policy* a, const Policy* b) {
    return std::tie(a->workload->ns, a->name) < std::tie(b->workload->ns, b->name);
  });
  Writer writer(workloads, *addresses);
  google::protobuf::Struct list;
  (*list.mutable_fields())["apiVersion"] = Text("v1");
  (*list.mutable_fields())["kind"] = Text("List");
  auto* items = (*list.mutable_fields())["items"].mutable_list_value();
  for (const Policy* policy : order) {
    absl::StatusOr<Value> document = writer.Document(*policy);
    if (!document.ok()) return document.status();
    YAML::Emitter out;
    WriteYaml(out, *document);
    absl::StrAppend(&result.yaml, "---\n", out.c_str(), "\n");
    *items->add_values() = *std::move(document);
  }
  absl::StatusOr<std::string> json = WriteJson(list);
  if (!json.ok()) return json.status();
  result.json = *std::move(json);
  for (std::string& warning : writer.fallback_warnings()) warnings.push_back(std::move(warning));
  return result;
}

}  // namespace bulkhead
