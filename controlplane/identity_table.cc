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
    if (k != "workloads" && k != "networks")
      return absl::InvalidArgumentError(absl::StrCat("inventory: unknown top-level key \"",
                                                     absl::CHexEscape(k),
                                                     "\" (expected workloads, networks)"));
  }
  YAML::Node networks = root["networks"];
  if (networks && !networks.IsSequence() && !networks.IsNull())
    return absl::InvalidArgumentError("inventory: \"networks\" must be a list");

  Inventory inventory;
  for (std::size_t i = 0; i < list.size(); ++i) {
    BH_ASSIGN_OR_RETURN(Workload w, ParseWorkload(i, list[i]));
    inventory.workloads.push_back(std::move(w));
  }
  for (std::size_t i = 0; networks && i < networks.size(); ++i) {
    BH_ASSIGN_OR_RETURN(NetworkSet n, ParseNetwork(i, networks[i]));
    inventory.networks.push_back(std::move(n));
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
  table.next_free_ = next;
  return table;
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
