#include "api/network_policy_reader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "api/names.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead::k8s {
namespace {

using bulkhead::v1::Protocol;

constexpr char kNetworkingApiVersion[] = "networking.k8s.io/v1";
// A file and its Lists may be written by kubectl: metadata has whatever
// ObjectMeta / ListMeta has; only a policy's name and namespace are read.
constexpr absl::string_view kObjectMeta[] = {"name",
                                             "namespace",
                                             "generateName",
                                             "selfLink",
                                             "uid",
                                             "resourceVersion",
                                             "generation",
                                             "creationTimestamp",
                                             "deletionTimestamp",
                                             "deletionGracePeriodSeconds",
                                             "labels",
                                             "annotations",
                                             "ownerReferences",
                                             "finalizers",
                                             "managedFields"};
constexpr absl::string_view kListMeta[] = {"resourceVersion", "continue", "selfLink",
                                           "remainingItemCount"};

constexpr const char* kPeersField[] = {"from", "to"};  // in a rule, by Direction

// What a plain (unquoted) YAML scalar is to a YAML 1.1 reader, as
// Kubernetes' (sigs.k8s.io/yaml) is: "" for a string.
std::string PlainScalarType(absl::string_view s) {
  static const std::set<absl::string_view> kBooleans = {
      "y",    "Y",    "yes",   "Yes",   "YES",   "n",  "N",  "no", "No",  "NO",  "true",
      "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF"};
  static const std::set<absl::string_view> kNulls = {"", "~", "null", "Null", "NULL"};
  if (kBooleans.contains(s)) return "a boolean";
  if (kNulls.contains(s)) return "null";
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return "a number";
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) s.remove_prefix(1);
  if (s == ".inf" || s == ".Inf" || s == ".INF") return "a number";
  if (absl::StartsWith(s, "0x") && s.size() > 2 && std::all_of(s.begin() + 2, s.end(), [](char c) {
        return absl::ascii_isxdigit(c) || c == '_';
      }))
    return "a number";
  std::size_t i = 0;
  bool digits = false;
  bool dot = false;
  for (; i < s.size(); ++i) {
    if (absl::ascii_isdigit(s[i]))
      digits = true;
    else if (s[i] == '_' && digits)
      continue;
    else if (s[i] == '.' && !dot)
      dot = true;
    else
      break;
  }
  if (!digits) return "";
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    std::size_t exponent = i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i;
    if (i == exponent) return "";
  }
  return i == s.size() ? "a number" : "";
}

bool Present(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }
// A list with something in it; anything else that is present is read as a
// list and refused there.
bool NonEmpty(const YAML::Node& node) {
  return Present(node) && (!node.IsSequence() || node.size() > 0);
}

std::string Field(absl::string_view path, absl::string_view field) {
  return path.empty() ? std::string(field) : absl::StrCat(path, ".", field);
}
std::string Item(absl::string_view path, std::size_t index) {
  return absl::StrCat(path, "[", index, "]");
}

// Reads the documents of one file, collecting every problem instead of
// stopping at the first; what is wrong with an entry leaves that entry out.
class Reader {
 public:
  Reader(std::vector<PolicyProblem>* problems, const PeerAddresses* addresses)
      : problems_(problems), addresses_(addresses) {}

  void StartDocument(int line_offset) {
    line_offset_ = line_offset;
    what_ = "";
  }
  int Line(const YAML::Node& node) const {
    const YAML::Mark mark = node.Mark();
    return mark.is_null() ? 0 : line_offset_ + mark.line + 1;
  }
  // Problems name the policy they are in (once its metadata is read) and
  // the field, as Kubernetes names it: "policy shop/api: spec.ingress[0]: ...".
  void Problem(const YAML::Node& at, absl::string_view path, absl::string_view message) {
    problems_->push_back(
        {Line(at), absl::StrCat(what_.empty() ? "" : absl::StrCat(what_, ": "),
                                path.empty() ? "" : absl::StrCat(path, ": "), message)});
  }

  // The NetworkPolicies of one document: itself, or a List's items.
  std::vector<std::optional<Policy>> ReadDocument(const YAML::Node& root) {
    std::vector<std::optional<Policy>> out;
    auto [api_version, kind] = TypeOf(root);
    if (!root.IsMap() || ((api_version != "v1" || kind != "List") &&
                          (api_version != kNetworkingApiVersion || kind != "NetworkPolicyList"))) {
      out.push_back(ReadPolicy(root));
      return out;
    }
    Fields(root, {"apiVersion", "kind", "metadata", "items"}, "", kind);
    if (const YAML::Node meta = root["metadata"]; Present(meta))
      Fields(meta, kListMeta, "metadata", "ListMeta");
    const YAML::Node items = root["items"];
    if (!Present(items)) return out;
    if (!items.IsSequence()) {
      Problem(items, "items", "expected a list of NetworkPolicies");
      return out;
    }
    for (const YAML::Node& item : items) out.push_back(ReadPolicy(item));
    return out;
  }

 private:
  // apiVersion and kind, "" where they are not text.
  static std::pair<std::string, std::string> TypeOf(const YAML::Node& root) {
    if (!root.IsMap()) return {};
    const YAML::Node api_version = root["apiVersion"];
    const YAML::Node kind = root["kind"];
    return {api_version.IsDefined() && api_version.IsScalar() ? api_version.Scalar() : "",
            kind.IsDefined() && kind.IsScalar() ? kind.Scalar() : ""};
  }

  // A mapping whose keys are all known and given once. `type`: what the
  // problem calls it when the known keys are too many to list.
  bool Fields(const YAML::Node& map, absl::Span<const absl::string_view> known,
              absl::string_view path, absl::string_view type = "") {
    if (!map.IsMap()) {
      Problem(map, path, "expected a mapping");
      return false;
    }
    bool ok = true;
    std::set<std::string> seen;
    for (const auto& entry : map) {
      const YAML::Node key = entry.first;
      const std::string name = key.IsScalar() ? key.Scalar() : "";
      if (std::find(known.begin(), known.end(), name) == known.end()) {
        Problem(key, path,
                absl::StrCat("unknown field \"", absl::CHexEscape(name), "\" (",
                             type.empty() ? absl::StrCat("expected ", absl::StrJoin(known, ", "))
                                          : absl::StrCat("not a field of ", type),
                             ")"));
        ok = false;
      } else if (!seen.insert(name).second) {
        Problem(key, Field(path, name), "given twice");
        ok = false;
      }
    }
    return ok;
  }

  // A string, as Kubernetes reads one: a plain scalar YAML takes for a
  // number, a boolean or null is none.
  std::optional<std::string> Text(const YAML::Node& node, absl::string_view path) {
    if (!node.IsScalar()) {
      Problem(node, path, "expected a string");
      return std::nullopt;
    }
    if (node.Tag() == "?") {
      if (std::string type = PlainScalarType(node.Scalar()); !type.empty()) {
        Problem(node, path,
                absl::StrCat(node.Scalar().empty() ? "(empty)" : node.Scalar(), " is ", type,
                             " to YAML, not a string: quote it"));
        return std::nullopt;
      }
    }
    if (std::string why = NameProblem(path, node.Scalar()); !why.empty()) {
      Problem(node, "", why);
      return std::nullopt;
    }
    return node.Scalar();
  }

  // A required string field of `map`.
  std::optional<std::string> RequiredText(const YAML::Node& map, absl::string_view field,
                                          absl::string_view path, absl::string_view why = "") {
    const YAML::Node node = map[std::string(field)];
    if (!Present(node)) {
      Problem(map, Field(path, field), absl::StrCat("required", why));
      return std::nullopt;
    }
    return Text(node, Field(path, field));
  }

  // A whole number written as one: 8080, not "8080" (a string) or 8080.0.
  std::optional<std::uint32_t> Number(const YAML::Node& node, absl::string_view path,
                                      std::uint32_t min, std::uint32_t max) {
    std::uint32_t value = 0;
    if (!node.IsScalar() || node.Tag() != "?" || node.Scalar().empty() ||
        !std::all_of(node.Scalar().begin(), node.Scalar().end(), absl::ascii_isdigit) ||
        !absl::SimpleAtoi(node.Scalar(), &value) || value < min || value > max) {
      Problem(node, path,
              absl::StrCat(node.IsScalar()
                               ? absl::StrCat("\"", absl::CHexEscape(node.Scalar()), "\" is not ")
                               : "expected ",
                           "a whole number from ", min, " to ", max));
      return std::nullopt;
    }
    return value;
  }

  std::optional<LabelSelector> ReadSelector(const YAML::Node& node, absl::string_view path) {
    if (!Fields(node, {"matchLabels", "matchExpressions"}, path)) return std::nullopt;
    LabelSelector selector;
    bool ok = true;
    if (const YAML::Node labels = node["matchLabels"]; Present(labels)) {
      std::string labels_path = Field(path, "matchLabels");
      if (!labels.IsMap()) {
        Problem(labels, labels_path, "expected a mapping of labels");
        return std::nullopt;
      }
      for (const auto& entry : labels) {
        std::optional<std::string> key = Text(entry.first, labels_path);
        std::optional<std::string> value =
            key ? Text(entry.second, Field(labels_path, *key)) : std::nullopt;
        if (!key || !value) {
          ok = false;
        } else if (!selector.match_labels.emplace(*key, *value).second) {
          Problem(entry.first, Field(labels_path, *key), "given twice");
          ok = false;
        }
      }
    }
    if (const YAML::Node list = node["matchExpressions"]; Present(list)) {
      std::string list_path = Field(path, "matchExpressions");
      if (!list.IsSequence()) {
        Problem(list, list_path, "expected a list");
        return std::nullopt;
      }
      std::size_t index = 0;
      for (const YAML::Node& entry : list) {
        std::optional<LabelSelector::Requirement> r =
            ReadRequirement(entry, Item(list_path, index++));
        if (r)
          selector.expressions.push_back(*std::move(r));
        else
          ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return selector;
  }

  std::optional<LabelSelector::Requirement> ReadRequirement(const YAML::Node& node,
                                                            absl::string_view path) {
    if (!Fields(node, {"key", "operator", "values"}, path)) return std::nullopt;
    std::optional<std::string> key = RequiredText(node, "key", path);
    std::optional<std::string> op = RequiredText(node, "operator", path);
    if (!key || !op) return std::nullopt;
    LabelSelector::Requirement r{.key = *key};
    static const std::map<std::string, LabelSelector::Op> kOps = {
        {"In", LabelSelector::Op::kIn},
        {"NotIn", LabelSelector::Op::kNotIn},
        {"Exists", LabelSelector::Op::kExists},
        {"DoesNotExist", LabelSelector::Op::kDoesNotExist}};
    auto it = kOps.find(*op);
    if (it == kOps.end()) {
      Problem(node["operator"], Field(path, "operator"),
              absl::StrCat("\"", absl::CHexEscape(*op),
                           "\" is not an operator of a label selector (In, NotIn, Exists, "
                           "DoesNotExist)"));
      return std::nullopt;
    }
    r.op = it->second;
    bool ok = true;
    const YAML::Node values = node["values"];
    if (Present(values)) {
      if (!values.IsSequence()) {
        Problem(values, Field(path, "values"), "expected a list");
        return std::nullopt;
      }
      std::size_t index = 0;
      for (const YAML::Node& v : values) {
        std::optional<std::string> value = Text(v, Item(Field(path, "values"), index++));
        if (value)
          r.values.insert(*value);
        else
          ok = false;
      }
    }
    bool listed = r.op == LabelSelector::Op::kIn || r.op == LabelSelector::Op::kNotIn;
    bool has_values = Present(values) && values.size() > 0;
    if (listed != has_values) {
      Problem(Present(values) ? values : node, Field(path, "values"),
              listed ? absl::StrCat(*op, " needs values") : absl::StrCat(*op, " takes no values"));
      ok = false;
    }
    if (!ok) return std::nullopt;
    return r;
  }

  std::optional<Peer> ReadPeer(const YAML::Node& node, absl::string_view path) {
    if (!Fields(node, {"podSelector", "namespaceSelector", "ipBlock"}, path)) return std::nullopt;
    Peer term{.line = Line(node), .path = std::string(path)};
    const YAML::Node pods = node["podSelector"];
    const YAML::Node namespaces = node["namespaceSelector"];
    const YAML::Node block = node["ipBlock"];
    if (Present(block)) {
      if (Present(pods) || Present(namespaces)) {
        Problem(node, path, "ipBlock cannot be given with podSelector or namespaceSelector");
        return std::nullopt;
      }
      std::optional<PeerAddresses::PeerBlock> peer = ReadIpBlock(block, Field(path, "ipBlock"));
      if (!peer) return std::nullopt;
      term.block = *std::move(peer);
      return term;
    }
    if (!Present(pods) && !Present(namespaces)) {
      Problem(node, path, "a peer needs podSelector, namespaceSelector or ipBlock");
      return std::nullopt;
    }
    bool ok = true;
    if (Present(pods)) {
      term.pods = ReadSelector(pods, Field(path, "podSelector"));
      ok = term.pods.has_value();
    }
    if (Present(namespaces)) {
      std::string namespaces_path = Field(path, "namespaceSelector");
      term.namespaces = ReadSelector(namespaces, namespaces_path);
      if (!term.namespaces) return std::nullopt;
      for (const std::string& key : term.namespaces->Keys())
        if (key != kNamespaceNameLabel) {
          Problem(namespaces, namespaces_path,
                  absl::StrCat("selects on the label \"", absl::CHexEscape(key),
                               "\": the agent knows a namespace by its name alone (",
                               kNamespaceNameLabel, ")"));
          return std::nullopt;
        }
    }
    if (!ok) return std::nullopt;
    return term;
  }

  std::optional<PeerAddresses::PeerBlock> ReadIpBlock(const YAML::Node& node,
                                                      absl::string_view path) {
    if (!Fields(node, {"cidr", "except"}, path)) return std::nullopt;
    IpBlock block;
    auto cidr_text = [&](const YAML::Node& at, absl::string_view at_path) {
      std::optional<std::string> cidr = Text(at, at_path);
      if (cidr && cidr->find('/') == std::string::npos) {
        Problem(at, at_path,
                absl::StrCat("\"", absl::CHexEscape(*cidr), "\" is not a CIDR (no /length)"));
        cidr.reset();
      }
      return cidr;
    };
    std::optional<std::string> cidr;
    if (const YAML::Node at = node["cidr"]; Present(at))
      cidr = cidr_text(at, Field(path, "cidr"));
    else
      Problem(node, Field(path, "cidr"), "required");
    bool ok = cidr.has_value();
    if (ok) block.cidr = *cidr;
    if (const YAML::Node list = node["except"]; Present(list)) {
      if (!list.IsSequence()) {
        Problem(list, Field(path, "except"), "expected a list of CIDRs");
        return std::nullopt;
      }
      std::size_t index = 0;
      for (const YAML::Node& at : list) {
        std::optional<std::string> except = cidr_text(at, Item(Field(path, "except"), index++));
        if (except)
          block.except.push_back(*except);
        else
          ok = false;
      }
    }
    if (!ok || addresses_ == nullptr) return std::nullopt;  // no addresses: said at line 0
    absl::StatusOr<PeerAddresses::PeerBlock> peer = addresses_->PeerOf(block);
    if (!peer.ok()) {
      Problem(node, path, peer.status().message());
      return std::nullopt;
    }
    return *peer;
  }

  std::optional<PortRange> ReadPort(const YAML::Node& node, absl::string_view path) {
    if (!Fields(node, {"protocol", "port", "endPort"}, path)) return std::nullopt;
    PortRange range{.protocol = bulkhead::v1::TCP, .first = 0, .last = 65535};
    if (const YAML::Node protocol = node["protocol"]; Present(protocol)) {
      std::optional<std::string> name = Text(protocol, Field(path, "protocol"));
      if (!name) return std::nullopt;
      static const std::map<std::string, Protocol> kProtocols = {
          {"TCP", bulkhead::v1::TCP}, {"UDP", bulkhead::v1::UDP}, {"SCTP", bulkhead::v1::SCTP}};
      auto it = kProtocols.find(*name);
      if (it == kProtocols.end()) {
        Problem(protocol, Field(path, "protocol"),
                absl::StrCat("\"", absl::CHexEscape(*name),
                             "\" is not a NetworkPolicy protocol (TCP, UDP, SCTP)"));
        return std::nullopt;
      }
      range.protocol = it->second;
    }
    const YAML::Node port = node["port"];
    const YAML::Node end = node["endPort"];
    if (!Present(port)) {
      if (Present(end)) {
        Problem(end, Field(path, "endPort"), "needs a port");
        return std::nullopt;
      }
      return range;  // the protocol alone: any port
    }
    // A port is a number or the name of a container port (IntOrString).
    if (port.IsScalar() && (port.Tag() != "?" || PlainScalarType(port.Scalar()).empty())) {
      const std::string& name = port.Scalar();
      bool digits = !name.empty() && std::all_of(name.begin(), name.end(), absl::ascii_isdigit);
      Problem(port, Field(path, "port"),
              digits ? absl::StrCat("\"", name,
                                    "\" is quoted, so Kubernetes takes it for a port name: write ",
                                    name, " without quotes")
                     : absl::StrCat("\"", absl::CHexEscape(name),
                                    "\" is a named port, and the agent does not know the pods' "
                                    "container ports: write its number"));
      return std::nullopt;
    }
    std::optional<std::uint32_t> first = Number(port, Field(path, "port"), 1, 65535);
    if (!first) return std::nullopt;
    range.first = range.last = *first;
    if (Present(end)) {
      std::optional<std::uint32_t> last = Number(end, Field(path, "endPort"), 1, 65535);
      if (!last) return std::nullopt;
      if (*last < *first) {
        Problem(end, Field(path, "endPort"), absl::StrCat(*last, " is below port ", *first));
        return std::nullopt;
      }
      range.last = *last;
    }
    return range;
  }

  std::optional<Rule> ReadRule(const YAML::Node& node, absl::string_view path,
                               Direction direction) {
    const char* peers_field = kPeersField[direction];
    if (!Fields(node, {peers_field, "ports"}, path)) return std::nullopt;
    Rule rule{.line = Line(node), .path = std::string(path)};
    bool ok = true;
    if (const YAML::Node peers = node[peers_field]; NonEmpty(peers)) {
      std::string peers_path = Field(path, peers_field);
      if (!peers.IsSequence()) {
        Problem(peers, peers_path, "expected a list of peers");
        return std::nullopt;
      }
      rule.peers.emplace();
      std::size_t index = 0;
      for (const YAML::Node& entry : peers) {
        std::optional<Peer> term = ReadPeer(entry, Item(peers_path, index++));
        if (term)
          rule.peers->push_back(*std::move(term));
        else
          ok = false;
      }
      if (ok) ok = WholePeers(*rule.peers, peers, peers_path);
    }
    if (const YAML::Node ports = node["ports"]; NonEmpty(ports)) {
      if (!ports.IsSequence()) {
        Problem(ports, Field(path, "ports"), "expected a list of ports");
        return std::nullopt;
      }
      rule.ports.emplace();
      std::size_t index = 0;
      for (const YAML::Node& entry : ports) {
        std::optional<PortRange> range = ReadPort(entry, Item(Field(path, "ports"), index++));
        if (range)
          rule.ports->emplace(*range, Line(entry));
        else
          ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return rule;
  }

  // A rule's ipBlocks name whole peers: a segment allows all of a peer's
  // addresses, so a rule with some of its blocks says what segments cannot.
  bool WholePeers(const std::vector<Peer>& terms, const YAML::Node& at, absl::string_view path) {
    std::map<std::string, std::set<std::size_t>> blocks;
    for (const Peer& t : terms)
      if (t.block) blocks[t.block->peer].insert(t.block->index);
    bool ok = true;
    for (const auto& [peer, listed] : blocks) {
      const std::vector<IpBlock>& all = addresses_->BlocksOf(peer);
      if (listed.size() == all.size()) continue;
      std::vector<std::string> missing;
      for (std::size_t i = 0; i < all.size(); ++i)
        if (!listed.contains(i)) missing.push_back(ToString(all[i]));
      Problem(at, path,
              absl::StrCat("holds some of ", peer, "'s ipBlocks but not ",
                           absl::StrJoin(missing, ", "), ": a segment allows all of ", peer,
                           "'s addresses, so a rule lists all its blocks or none"));
      ok = false;
    }
    return ok;
  }

  std::optional<Policy> ReadPolicy(const YAML::Node& node) {
    what_ = "";
    auto [api_version, kind] = TypeOf(node);
    if (!node.IsMap() || api_version != kNetworkingApiVersion || kind != "NetworkPolicy") {
      Problem(node, "",
              node.IsMap()
                  ? absl::StrCat("kind \"", absl::CHexEscape(kind), "\" of \"",
                                 absl::CHexEscape(api_version),
                                 "\" is not a NetworkPolicy: a Kubernetes policy file holds ",
                                 kNetworkingApiVersion,
                                 " NetworkPolicies (or a v1 List of them) and nothing else")
                  : "expected a NetworkPolicy (a mapping)");
      return std::nullopt;
    }
    Policy policy{.line = Line(node)};
    // Unknown fields are problems, but leave what the policy selects known.
    Fields(node, {"apiVersion", "kind", "metadata", "spec"}, "", "NetworkPolicy");
    const YAML::Node meta = node["metadata"];
    if (!Present(meta)) {
      Problem(node, "metadata", "required (name and namespace)");
      return std::nullopt;
    }
    if (!meta.IsMap()) {
      Problem(meta, "metadata", "expected a mapping");
      return std::nullopt;
    }
    std::optional<std::string> name = RequiredText(meta, "name", "metadata");
    std::optional<std::string> ns =
        RequiredText(meta, "namespace", "metadata",
                     ": kubectl would use its context's namespace, which the file does not say");
    if (name && ns) {
      policy.ns = *ns;
      policy.name = *name;
      policy.what = absl::StrCat("policy ", *ns, "/", *name);
      what_ = policy.what;
    }
    Fields(meta, kObjectMeta, "metadata", "ObjectMeta");
    if (!name || !ns) return std::nullopt;

    const YAML::Node spec = node["spec"];
    if (!Present(spec)) {
      Problem(node, "spec", "required");
      return std::nullopt;
    }
    if (!Fields(spec, {"podSelector", "policyTypes", "ingress", "egress"}, "spec") && !spec.IsMap())
      return std::nullopt;
    if (const YAML::Node selector = spec["podSelector"]; Present(selector)) {
      std::optional<LabelSelector> read = ReadSelector(selector, "spec.podSelector");
      if (!read) return std::nullopt;
      policy.selector = *std::move(read);
    } else {
      Problem(spec, "spec.podSelector", "required ({} selects every pod of the namespace)");
      return std::nullopt;
    }
    policy.types_line = Line(spec);
    if (const YAML::Node types = spec["policyTypes"]; NonEmpty(types)) {
      policy.types_line = Line(types);
      policy.types_given = true;
      if (!types.IsSequence()) {
        Problem(types, "spec.policyTypes", "expected a list (Ingress, Egress)");
        return std::nullopt;
      }
      std::size_t index = 0;
      for (const YAML::Node& t : types) {
        std::string path = Item("spec.policyTypes", index++);
        std::optional<std::string> type = Text(t, path);
        if (!type) return std::nullopt;
        int direction = *type == kPolicyTypeName[kIngress]  ? kIngress
                        : *type == kPolicyTypeName[kEgress] ? kEgress
                                                            : -1;
        if (direction < 0) {
          Problem(t, path,
                  absl::StrCat("\"", absl::CHexEscape(*type), "\" is not Ingress or Egress"));
          return std::nullopt;
        }
        if (policy.types[direction]) {
          Problem(t, path, absl::StrCat(*type, " is given twice"));
          return std::nullopt;
        }
        policy.types[direction] = true;
      }
    } else {
      // Kubernetes' default: Ingress, and Egress when there are egress rules.
      const YAML::Node egress = spec["egress"];
      policy.types[kIngress] = true;
      policy.types[kEgress] = NonEmpty(egress);
    }

    for (Direction direction : {kIngress, kEgress}) {
      const char* field = kRulesField[direction];
      const YAML::Node rules = spec[field];
      if (!Present(rules)) continue;
      std::string path = Field("spec", field);
      if (!rules.IsSequence()) {
        Problem(rules, path, "expected a list of rules");
        continue;
      }
      if (!policy.types[direction] && NonEmpty(rules)) {
        // What the policy isolates is in doubt: no problems that follow from it.
        Problem(rules, path,
                absl::StrCat("policyTypes does not list ", kPolicyTypeName[direction],
                             ", so Kubernetes ignores these rules: add it, or leave them out"));
        return std::nullopt;
      }
      std::size_t index = 0;
      for (const YAML::Node& entry : rules) {
        std::optional<Rule> rule = ReadRule(entry, Item(path, index++), direction);
        if (rule) policy.rules[direction].push_back(*std::move(rule));
      }
    }
    return policy;
  }

  std::vector<PolicyProblem>* problems_;
  const PeerAddresses* addresses_;  // null: the catalog's addresses do not parse
  int line_offset_ = 0;
  std::string what_;  // the policy being read, once its metadata is
};

}  // namespace

bool LabelSelector::Matches(const Labels& labels) const {
  for (const auto& [key, value] : match_labels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  for (const Requirement& r : expressions) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    bool listed = has && r.values.contains(it->second);
    bool holds = r.op == Op::kIn       ? listed
                 : r.op == Op::kNotIn  ? !listed
                 : r.op == Op::kExists ? has
                                       : !has;
    if (!holds) return false;
  }
  return true;
}

std::set<std::string> LabelSelector::Keys() const {
  std::set<std::string> keys;
  for (const auto& [key, value] : match_labels) keys.insert(key);
  for (const Requirement& r : expressions) keys.insert(r.key);
  return keys;
}

std::vector<Policy> ReadPolicies(const std::vector<YamlDocument>& documents,
                                 const PeerAddresses* addresses,
                                 std::vector<PolicyProblem>* problems, bool* complete) {
  *complete = true;
  std::vector<Policy> policies;
  Reader reader(problems, addresses);
  std::map<std::pair<std::string, std::string>, int> names;  // (ns, name) -> line
  for (const YamlDocument& d : documents) {
    if (d.root.IsNull()) continue;
    reader.StartDocument(d.line_offset);
    try {
      for (std::optional<Policy>& policy : reader.ReadDocument(d.root)) {
        if (!policy) {
          *complete = false;
          continue;
        }
        auto [it, fresh] = names.try_emplace(std::pair(policy->ns, policy->name), policy->line);
        if (!fresh) {
          problems->push_back(
              {policy->line, absl::StrCat(policy->what, " is given twice (first at line ",
                                          it->second, "): Kubernetes would keep only one")});
          *complete = false;
          continue;
        }
        policies.push_back(*std::move(policy));
      }
    } catch (const YAML::Exception& e) {
      problems->push_back({e.mark.is_null() ? 0 : d.line_offset + e.mark.line + 1,
                           absl::StrCat("not readable: ", EscapeControlCharacters(e.msg))});
      *complete = false;
    }
  }
  return policies;
}

}  // namespace bulkhead::k8s
