#include "controlplane/identity_table.h"

#include <arpa/inet.h>

#include <algorithm>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "api/enum_names.h"
#include "controlplane/atomic_file.h"
#include "datapath/status.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

absl::Status EntryError(std::size_t index, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("inventory workloads[", index, "]: ", message));
}

constexpr const char* kWorkloadKeys[] = {"namespace", "name", "labels", "addresses", "mode"};

}  // namespace

// The datapath's modes are the API's, number for number; names in one place.
static_assert(static_cast<int>(BH_MODE_LEARN) == bulkhead::v1::LEARN &&
              static_cast<int>(BH_MODE_MONITOR) == bulkhead::v1::MONITOR &&
              static_cast<int>(BH_MODE_ENFORCE) == bulkhead::v1::ENFORCE);

absl::StatusOr<bh_mode> ParseMode(absl::string_view name) {
  // ModeFromName quotes what it is given, and an inventory's errors are
  // logged: give it the name escaped (the three modes escape to themselves).
  absl::StatusOr<bulkhead::v1::Mode> mode = ModeFromName(absl::CHexEscape(name));
  if (!mode.ok()) return mode.status();
  return static_cast<bh_mode>(*mode);
}

std::string ModeName(bh_mode mode) { return ModeName(static_cast<bulkhead::v1::Mode>(mode)); }

namespace {

absl::Status NetworkError(std::size_t index, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("inventory networks[", index, "]: ", message));
}

absl::StatusOr<Workload> ParseWorkload(std::size_t i, const YAML::Node& entry) {
  if (!entry.IsMap()) return EntryError(i, "expected a mapping");
  Workload w;
  for (const auto& key : entry) {
    const std::string& k = key.first.Scalar();
    if (std::find(std::begin(kWorkloadKeys), std::end(kWorkloadKeys), k) == std::end(kWorkloadKeys))
      return EntryError(i, absl::StrCat("unknown key \"", absl::CHexEscape(k),
                                        "\" (expected namespace, name, labels, addresses, mode)"));
  }
  try {
    for (const char* field : {"namespace", "name"}) {
      if (!entry[field] || !entry[field].IsScalar() || entry[field].Scalar().empty())
        return EntryError(i, absl::StrCat("\"", field, "\" is required"));
    }
    w.ns = entry["namespace"].Scalar();
    w.name = entry["name"].Scalar();
    if (entry["labels"]) w.labels = entry["labels"].as<std::map<std::string, std::string>>();
    if (entry["addresses"]) w.addresses = entry["addresses"].as<std::vector<std::string>>();
    if (entry["mode"]) {
      auto mode = ParseMode(entry["mode"].Scalar());
      if (!mode.ok()) return EntryError(i, mode.status().message());
      w.mode = *mode;
    }
  } catch (const YAML::Exception& e) {
    return EntryError(i, EscapeControlCharacters(e.what()));
  }
  for (auto [field, value] :
       {std::pair<const char*, const std::string&>{"namespace", w.ns}, {"name", w.name}})
    if (std::string why = NameProblem(field, value); !why.empty()) return EntryError(i, why);
  if (w.ns.find('/') != std::string::npos || w.name.find('/') != std::string::npos)
    return EntryError(i, "\"namespace\" and \"name\" cannot contain '/'");
  for (const auto& [key, value] : w.labels)
    for (const std::string& text : {key, value})
      if (std::string why = NameProblem("labels", text); !why.empty()) return EntryError(i, why);
  for (const std::string& address : w.addresses) {
    auto parsed = ParseAddress(address);
    if (!parsed.ok()) return EntryError(i, absl::StrCat("addresses: ", parsed.status().message()));
    if (std::string why = NonUnicastReason(*parsed); !why.empty())
      return EntryError(
          i, absl::StrCat("addresses: ", address, " is ", why, ", not a workload's address"));
  }
  return w;
}

absl::StatusOr<NetworkSet> ParseNetwork(std::size_t i, const YAML::Node& entry) {
  if (!entry.IsMap()) return NetworkError(i, "expected a mapping");
  NetworkSet n;
  for (const auto& key : entry) {
    const std::string& k = key.first.Scalar();
    if (k != "name" && k != "cidrs")
      return NetworkError(
          i, absl::StrCat("unknown key \"", absl::CHexEscape(k), "\" (expected name, cidrs)"));
  }
  try {
    if (!entry["name"] || !entry["name"].IsScalar() || entry["name"].Scalar().empty())
      return NetworkError(i, "\"name\" is required");
    n.name = entry["name"].Scalar();
    if (!entry["cidrs"] || !entry["cidrs"].IsSequence() || entry["cidrs"].size() == 0)
      return NetworkError(i, "\"cidrs\" is required: a list of at least one CIDR");
    n.cidrs = entry["cidrs"].as<std::vector<std::string>>();
  } catch (const YAML::Exception& e) {
    return NetworkError(i, EscapeControlCharacters(e.what()));
  }
  if (std::string why = NameProblem("name", n.name); !why.empty()) return NetworkError(i, why);
  if (n.name.find('/') != std::string::npos)
    return NetworkError(i, "\"name\" cannot contain '/' (that is a workload's namespace/name)");
  if (IsReservedPeer(n.name))
    return NetworkError(i, absl::StrCat("\"name\": ", n.name,
                                        " is reserved (host, world and private are built in)"));
  for (const std::string& cidr : n.cidrs)
    if (auto prefix = ParsePrefix(cidr); !prefix.ok())
      return NetworkError(i, absl::StrCat("cidrs: ", prefix.status().message()));
  return n;
}

absl::Status ServiceError(std::size_t index, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("inventory services[", index, "]: ", message));
}

// A port number from 1 to 65535, or the error naming the field.
absl::StatusOr<std::uint16_t> PortOf(const YAML::Node& node, absl::string_view field) {
  unsigned value = 0;
  if (!node.IsScalar() || !YAML::convert<unsigned>::decode(node, value) || value == 0 ||
      value > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat("\"", field, "\": expected a port from 1 to 65535"));
  return static_cast<std::uint16_t>(value);
}

absl::StatusOr<ServicePort> ParseServicePort(const YAML::Node& entry) {
  if (!entry.IsMap()) return absl::InvalidArgumentError("ports: expected a mapping");
  for (const auto& key : entry) {
    const std::string& k = key.first.Scalar();
    if (k != "port" && k != "targetPort" && k != "protocol" && k != "nodePort" && k != "name")
      return absl::InvalidArgumentError(
          absl::StrCat("ports: unknown key \"", absl::CHexEscape(k),
                       "\" (expected port, targetPort, protocol, nodePort, name)"));
  }
  ServicePort p;
  if (!entry["port"]) return absl::InvalidArgumentError("ports: \"port\" is required");
  BH_ASSIGN_OR_RETURN(p.port, PortOf(entry["port"], "port"));
  p.target_port = p.port;
  if (entry["targetPort"]) {
    absl::StatusOr<std::uint16_t> target = PortOf(entry["targetPort"], "targetPort");
    if (!target.ok())
      return absl::InvalidArgumentError(
          absl::StrCat(target.status().message(),
                       " (a named target port is not read from the inventory: write its number)"));
    p.target_port = *target;
  }
  if (entry["nodePort"]) {
    BH_ASSIGN_OR_RETURN(p.node_port, PortOf(entry["nodePort"], "nodePort"));
  }
  if (entry["protocol"]) {
    const std::string name = entry["protocol"].IsScalar() ? entry["protocol"].Scalar() : "";
    absl::StatusOr<bulkhead::v1::Protocol> proto = ProtocolFromName(absl::CHexEscape(name));
    if (!proto.ok() || (*proto != bulkhead::v1::TCP && *proto != bulkhead::v1::UDP &&
                        *proto != bulkhead::v1::SCTP))
      return absl::InvalidArgumentError(absl::StrCat(
          "ports: \"protocol\": expected TCP, UDP or SCTP, not \"", absl::CHexEscape(name), "\""));
    p.proto = static_cast<std::uint8_t>(*proto);
  }
  return p;
}

absl::StatusOr<Service> ParseService(std::size_t i, const YAML::Node& entry) {
  if (!entry.IsMap()) return ServiceError(i, "expected a mapping");
  for (const auto& key : entry) {
    const std::string& k = key.first.Scalar();
    if (k != "namespace" && k != "name" && k != "workload" && k != "clusterIPs" && k != "ports")
      return ServiceError(i, absl::StrCat("unknown key \"", absl::CHexEscape(k),
                                          "\" (expected namespace, name, workload, clusterIPs, "
                                          "ports)"));
  }
  Service s;
  try {
    for (const char* field : {"namespace", "name", "workload"})
      if (!entry[field] || !entry[field].IsScalar() || entry[field].Scalar().empty())
        return ServiceError(i, absl::StrCat("\"", field, "\" is required"));
    s.ns = entry["namespace"].Scalar();
    s.name = entry["name"].Scalar();
    s.workload = entry["workload"].Scalar();
    if (entry["clusterIPs"]) s.cluster_ips = entry["clusterIPs"].as<std::vector<std::string>>();
    const YAML::Node ports = entry["ports"];
    if (!ports || !ports.IsSequence() || ports.size() == 0)
      return ServiceError(i, "\"ports\" is required: a list of at least one port");
    for (const YAML::Node& port : ports) {
      absl::StatusOr<ServicePort> p = ParseServicePort(port);
      if (!p.ok()) return ServiceError(i, p.status().message());
      s.ports.push_back(*p);
    }
  } catch (const YAML::Exception& e) {
    return ServiceError(i, EscapeControlCharacters(e.what()));
  }
  for (auto [field, value] : {std::pair<const char*, const std::string&>{"namespace", s.ns},
                              {"name", s.name},
                              {"workload", s.workload}})
    if (std::string why = NameProblem(field, value); !why.empty()) return ServiceError(i, why);
  if (s.ns.find('/') != std::string::npos || s.name.find('/') != std::string::npos)
    return ServiceError(i, "\"namespace\" and \"name\" cannot contain '/'");
  if (std::count(s.workload.begin(), s.workload.end(), '/') != 1)
    return ServiceError(i,
                        absl::StrCat("\"workload\": \"", s.workload, "\" is not namespace/name"));
  if (s.cluster_ips.empty() && std::none_of(s.ports.begin(), s.ports.end(),
                                            [](const ServicePort& p) { return p.node_port; }))
    return ServiceError(i, "neither \"clusterIPs\" nor a nodePort: nothing leads to it");
  for (const std::string& address : s.cluster_ips) {
    auto parsed = ParseAddress(address);
    if (!parsed.ok())
      return ServiceError(i, absl::StrCat("clusterIPs: ", parsed.status().message()));
    if (std::string why = NonUnicastReason(*parsed); !why.empty())
      return ServiceError(i, absl::StrCat("clusterIPs: ", address, " is ", why));
  }
  return s;
}

}  // namespace

bool IsReservedPeer(absl::string_view name) {
  return name == "host" || name == "world" || name == "private";
}

absl::StatusOr<Inventory> ParseInventory(absl::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("inventory: ", EscapeControlCharacters(e.what())));
  }
  // Subscripting a document that is a scalar or a list throws.
  YAML::Node list = root.IsMap() ? root["workloads"] : YAML::Node();
  if (!list || !list.IsSequence())
    return absl::InvalidArgumentError("inventory: expected a top-level \"workloads\" list");
  for (const auto& key : root) {
    const std::string& k = key.first.Scalar();
    if (k != "workloads" && k != "networks" && k != "services")
      return absl::InvalidArgumentError(
          absl::StrCat("inventory: unknown top-level key \"", absl::CHexEscape(k),
                       "\" (expected workloads, networks, services)"));
  }
  YAML::Node networks = root["networks"];
  if (networks && !networks.IsSequence() && !networks.IsNull())
    return absl::InvalidArgumentError("inventory: \"networks\" must be a list");
  YAML::Node services = root["services"];
  if (services && !services.IsSequence() && !services.IsNull())
    return absl::InvalidArgumentError("inventory: \"services\" must be a list");

  Inventory inventory;
  for (std::size_t i = 0; i < list.size(); ++i) {
    BH_ASSIGN_OR_RETURN(Workload w, ParseWorkload(i, list[i]));
    inventory.workloads.push_back(std::move(w));
  }
  for (std::size_t i = 0; networks && i < networks.size(); ++i) {
    BH_ASSIGN_OR_RETURN(NetworkSet n, ParseNetwork(i, networks[i]));
    inventory.networks.push_back(std::move(n));
  }
  for (std::size_t i = 0; services && i < services.size(); ++i) {
    BH_ASSIGN_OR_RETURN(Service s, ParseService(i, services[i]));
    inventory.services.push_back(std::move(s));
  }
  return inventory;
}

absl::StatusOr<Inventory> LoadInventory(const std::string& path) {
  return ParseFile(path, "inventory", ParseInventory);
}

namespace {

// Numbers for sorted `ids`: the one `previous` gave, if it lies in
// [first, limit) and no other id took it; else the next never given.
// Advances `next` past every number given or kept.
absl::StatusOr<std::vector<std::uint32_t>> Number(const std::vector<std::string>& ids,
                                                  const IdentityAssignments& previous,
                                                  std::uint32_t first, std::uint32_t limit,
                                                  std::uint32_t& next, absl::string_view kind) {
  auto in_range = [&](std::uint32_t n) { return n >= first && n < limit; };
  std::vector<std::uint32_t> numbers(ids.size(), 0);
  std::set<std::uint32_t> taken;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto it = previous.find(ids[i]);
    if (it != previous.end() && in_range(it->second) && taken.insert(it->second).second)
      numbers[i] = it->second;
  }
  if (!in_range(next)) next = std::max(next, first);
  for (const auto& [name, number] : previous)
    if (in_range(number)) next = std::max(next, number + 1);
  for (std::uint32_t& number : numbers) {
    if (number != 0) continue;
    if (next >= limit || next < first)
      return absl::ResourceExhaustedError(absl::StrCat(
          "no ", kind, " identity numbers left (the state's high-water mark is at the top)"));
    number = next++;
  }
  return numbers;
}

}  // namespace

absl::StatusOr<IdentityTable> IdentityTable::Build(Inventory inventory,
                                                   const IdentityAssignments& previous,
                                                   NextIdentities next) {
  std::vector<Workload>& workloads = inventory.workloads;
  std::vector<NetworkSet>& networks = inventory.networks;
  std::sort(workloads.begin(), workloads.end(),
            [](const Workload& a, const Workload& b) { return a.id() < b.id(); });
  std::sort(networks.begin(), networks.end(),
            [](const NetworkSet& a, const NetworkSet& b) { return a.name < b.name; });
  // Numbers kept from before come first, so no live entry is renumbered;
  // the rest take numbers never given before.
  std::vector<std::string> workload_ids;
  workload_ids.reserve(workloads.size());
  for (const Workload& w : workloads) workload_ids.push_back(w.id());
  std::vector<std::string> network_ids;
  network_ids.reserve(networks.size());
  for (const NetworkSet& n : networks) network_ids.push_back(n.name);
  BH_ASSIGN_OR_RETURN(std::vector<std::uint32_t> numbers,
                      Number(workload_ids, previous, BH_IDENTITY_FIRST_WORKLOAD,
                             BH_IDENTITY_FIRST_NETWORK, next.workload, "workload"));
  BH_ASSIGN_OR_RETURN(std::vector<std::uint32_t> network_numbers,
                      Number(network_ids, previous, BH_IDENTITY_FIRST_NETWORK, UINT32_MAX,
                             next.network, "network set"));

  IdentityTable table;
  for (std::size_t i = 0; i < workloads.size(); ++i) {
    Workload& w = workloads[i];
    std::uint32_t identity = numbers[i];
    std::string id = w.id();
    if (table.by_name_.contains(id))
      return absl::InvalidArgumentError(absl::StrCat("workload ", id, " is listed twice"));
    for (const std::string& address : w.addresses) {
      auto addr = ParseAddress(address);
      if (!addr.ok())
        return absl::InvalidArgumentError(
            absl::StrCat("workload ", id, ": ", addr.status().message()));
      auto [it, inserted] = table.by_address_.emplace(*addr, identity);
      if (!inserted && it->second == identity)  // this workload is not in by_identity_ yet
        return absl::InvalidArgumentError(
            absl::StrCat("workload ", id, ": address ", address, " is listed twice"));
      if (!inserted)
        return absl::InvalidArgumentError(absl::StrCat("address ", address, " belongs to both ",
                                                       table.by_identity_.at(it->second).id(),
                                                       " and ", id));
    }
    table.by_name_.emplace(id, identity);
    table.by_identity_.emplace(identity, std::move(w));
  }
  for (std::size_t i = 0; i < networks.size(); ++i) {
    NetworkSet& n = networks[i];
    std::uint32_t identity = network_numbers[i];
    if (table.by_name_.contains(n.name))
      return absl::InvalidArgumentError(absl::StrCat("network set ", n.name, " is listed twice"));
    for (const std::string& cidr : n.cidrs) {
      BH_ASSIGN_OR_RETURN(bh_ipcache_lpm_key prefix, ParsePrefix(cidr));
      auto [it, inserted] = table.prefixes_.emplace(prefix, identity);
      if (!inserted)
        return absl::InvalidArgumentError(absl::StrCat(
            "network set ", n.name, ": ", DescribeKey(prefix),
            it->second == identity
                ? " is listed twice"
                : absl::StrCat(" is also in network set ", table.networks_.at(it->second).name)));
    }
    table.by_name_.emplace(n.name, identity);
    table.networks_.emplace(identity, std::move(n));
  }
  for (Service& s : inventory.services) {
    const std::string id = s.id();
    if (table.services_.contains(id))
      return absl::InvalidArgumentError(absl::StrCat("service ", id, " is listed twice"));
    auto backend = table.by_name_.find(s.workload);
    if (backend == table.by_name_.end() || !table.by_identity_.contains(backend->second))
      return absl::InvalidArgumentError(
          absl::StrCat("service ", id, ": workload ", s.workload, " is not in the inventory"));
    for (const std::string& address : s.cluster_ips) {
      BH_ASSIGN_OR_RETURN(bh_addr addr, ParseAddress(address));
      if (auto owner = table.by_address_.find(addr); owner != table.by_address_.end())
        return absl::InvalidArgumentError(
            absl::StrCat("service ", id, ": clusterIP ", address, " is workload ",
                         table.by_identity_.at(owner->second).id(), "'s address"));
      for (const ServicePort& p : s.ports) {
        auto [it, inserted] = table.cluster_ports_.emplace(ServiceKey(addr, p.proto, p.port), id);
        if (!inserted)
          return absl::InvalidArgumentError(
              absl::StrCat("service ", id, ": ", address, " ", ProtocolName(p.proto), "/", p.port,
                           it->second == id ? " is listed twice"
                                            : absl::StrCat(" is also service ", it->second)));
      }
    }
    for (const ServicePort& p : s.ports) {
      if (p.node_port == 0) continue;
      auto [it, inserted] = table.node_ports_.emplace(std::pair(p.proto, p.node_port), id);
      if (!inserted)
        return absl::InvalidArgumentError(absl::StrCat(
            "service ", id, ": nodePort ", ProtocolName(p.proto), "/", p.node_port,
            it->second == id ? " is listed twice" : absl::StrCat(" is also service ", it->second)));
    }
    table.services_.emplace(id, std::move(s));
  }
  table.next_free_ = next;
  return table;
}

ServiceEntries IdentityTable::ServiceEntriesFor(const std::set<bh_addr>& node_addresses) const {
  ServiceEntries entries;
  for (const auto& [id, s] : services_) {
    const std::uint32_t identity = by_name_.find(s.workload)->second;  // checked in Build
    for (const ServicePort& p : s.ports) {
      const bh_service_value value{.identity = identity, .target_port_be = htons(p.target_port)};
      for (const std::string& address : s.cluster_ips)
        entries[ServiceKey(*ParseAddress(address), p.proto, p.port)] = value;
      if (p.node_port != 0)
        for (const bh_addr& addr : node_addresses)
          entries.try_emplace(ServiceKey(addr, p.proto, p.node_port), value);
    }
  }
  return entries;
}

std::optional<ServiceTarget> IdentityTable::ServiceAt(const bh_addr& addr, std::uint8_t proto,
                                                      std::uint16_t port) const {
  const std::string* id = nullptr;
  bool node_port = false;
  if (auto it = cluster_ports_.find(ServiceKey(addr, proto, port)); it != cluster_ports_.end()) {
    id = &it->second;
  } else if (auto np = node_ports_.find(std::pair(proto, port)); np != node_ports_.end()) {
    id = &np->second;
    node_port = true;
  } else {
    return std::nullopt;
  }
  const Service& s = services_.at(*id);
  for (const ServicePort& p : s.ports)
    if (p.proto == proto && (node_port ? p.node_port : p.port) == port)
      return ServiceTarget{.service = &s,
                           .identity = by_name_.find(s.workload)->second,
                           .target_port = p.target_port};
  return std::nullopt;
}

IdentityAssignments IdentityTable::assignments() const {
  return IdentityAssignments(by_name_.begin(), by_name_.end());
}

std::optional<std::uint32_t> IdentityTable::IdentityOf(absl::string_view peer) const {
  if (peer == "host") return BH_IDENTITY_HOST;
  if (peer == "world") return BH_IDENTITY_WORLD;
  if (peer == "private") return BH_IDENTITY_PRIVATE;
  auto it = by_name_.find(peer);
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::uint32_t> IdentityTable::IdentityOfAddress(const bh_addr& addr) const {
  auto it = by_address_.find(addr);
  if (it == by_address_.end()) return std::nullopt;
  return it->second;
}

const Workload* IdentityTable::WorkloadOf(std::uint32_t identity) const {
  auto it = by_identity_.find(identity);
  return it == by_identity_.end() ? nullptr : &it->second;
}

const NetworkSet* IdentityTable::NetworkOf(std::uint32_t identity) const {
  auto it = networks_.find(identity);
  return it == networks_.end() ? nullptr : &it->second;
}

std::string IdentityTable::NameOf(std::uint32_t identity) const {
  switch (identity) {
    case BH_IDENTITY_HOST:
      return "host";
    case BH_IDENTITY_WORLD:
      return "world";
    case BH_IDENTITY_PRIVATE:
      return "private";
    default:
      break;
  }
  if (const Workload* w = WorkloadOf(identity)) return w->id();
  if (const NetworkSet* n = NetworkOf(identity)) return n->name;
  return absl::StrCat("unknown(", identity, ")");
}

bool IdentityTable::Knows(std::uint32_t identity) const {
  return identity == BH_IDENTITY_HOST || identity == BH_IDENTITY_WORLD ||
         identity == BH_IDENTITY_PRIVATE || by_identity_.contains(identity) ||
         networks_.contains(identity);
}

}  // namespace bulkhead
