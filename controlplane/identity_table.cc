#include "controlplane/identity_table.h"

#include <arpa/inet.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "api/enum_names.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {
namespace {

absl::Status EntryError(std::size_t index, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("inventory workloads[", index, "]: ", message));
}

constexpr const char* kWorkloadKeys[] = {"namespace", "name", "labels", "addresses", "mode"};

// Whether `text` is UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF). Names travel in protobuf strings: a state file or an API answer
// holding anything else does not parse.
bool IsUtf8(absl::string_view text) {
  static constexpr std::uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
  for (std::size_t i = 0; i < text.size();) {
    auto lead = static_cast<unsigned char>(text[i]);
    std::size_t more = lead < 0x80 ? 0 : (lead & 0xe0) == 0xc0 ? 1 : (lead & 0xf0) == 0xe0 ? 2 : 3;
    if (more == 3 && (lead & 0xf8) != 0xf0) return false;
    if (text.size() - i <= more) return false;
    std::uint32_t code = lead & (0x7f >> more);
    for (std::size_t k = 1; k <= more; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    if (code < kSmallest[more] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
      return false;
    i += more + 1;
  }
  return true;
}

// Names end up in logs, flow records and Kubernetes objects: printable only.
absl::Status CheckPrintable(std::size_t index, absl::string_view field, absl::string_view value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      return EntryError(index, absl::StrCat("\"", field, "\" contains a control character"));
  }
  if (!IsUtf8(value)) return EntryError(index, absl::StrCat("\"", field, "\" is not UTF-8"));
  return absl::OkStatus();
}

// yaml-cpp's messages quote the input they choke on: control characters in
// them would forge log lines.
std::string YamlError(const YAML::Exception& e) {
  std::string out;
  for (char c : absl::string_view(e.what())) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    else
      out += c;
  }
  return out;
}

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

absl::StatusOr<std::vector<Workload>> ParseInventory(absl::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("inventory: ", YamlError(e)));
  }
  // Subscripting a document that is a scalar or a list throws.
  YAML::Node list = root.IsMap() ? root["workloads"] : YAML::Node();
  if (!list || !list.IsSequence())
    return absl::InvalidArgumentError("inventory: expected a top-level \"workloads\" list");

  std::vector<Workload> workloads;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node& entry = list[i];
    if (!entry.IsMap()) return EntryError(i, "expected a mapping");
    Workload w;
    for (const auto& key : entry) {
      const std::string& k = key.first.Scalar();
      if (std::find(std::begin(kWorkloadKeys), std::end(kWorkloadKeys), k) ==
          std::end(kWorkloadKeys))
        return EntryError(i,
                          absl::StrCat("unknown key \"", absl::CHexEscape(k),
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
      return EntryError(i, YamlError(e));
    }
    for (auto [field, value] :
         {std::pair<const char*, const std::string&>{"namespace", w.ns}, {"name", w.name}})
      if (absl::Status s = CheckPrintable(i, field, value); !s.ok()) return s;
    if (w.ns.find('/') != std::string::npos || w.name.find('/') != std::string::npos)
      return EntryError(i, "\"namespace\" and \"name\" cannot contain '/'");
    for (const auto& [key, value] : w.labels) {
      if (absl::Status s = CheckPrintable(i, "labels", key); !s.ok()) return s;
      if (absl::Status s = CheckPrintable(i, "labels", value); !s.ok()) return s;
    }
    for (const std::string& address : w.addresses) {
      auto parsed = ParseAddress(address);
      if (!parsed.ok())
        return EntryError(i, absl::StrCat("addresses: ", parsed.status().message()));
      if (std::string why = NonUnicastReason(*parsed); !why.empty())
        return EntryError(
            i, absl::StrCat("addresses: ", address, " is ", why, ", not a workload's address"));
    }
    workloads.push_back(std::move(w));
  }
  return workloads;
}

absl::StatusOr<std::vector<Workload>> LoadInventory(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("read inventory ", path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  auto workloads = ParseInventory(text.str());
  if (!workloads.ok())
    return absl::Status(workloads.status().code(),
                        absl::StrCat(path, ": ", workloads.status().message()));
  return workloads;
}

absl::StatusOr<IdentityTable> IdentityTable::Build(std::vector<Workload> workloads,
                                                   const IdentityAssignments& previous,
                                                   std::uint32_t next_free) {
  std::sort(workloads.begin(), workloads.end(),
            [](const Workload& a, const Workload& b) { return a.id() < b.id(); });
  // Numbers kept from before come first, so no live workload is renumbered;
  // the rest take numbers never given before.
  std::vector<std::uint32_t> numbers(workloads.size(), 0);
  std::set<std::uint32_t> taken;
  for (std::size_t i = 0; i < workloads.size(); ++i) {
    auto it = previous.find(workloads[i].id());
    if (it != previous.end() && it->second >= BH_IDENTITY_FIRST_WORKLOAD &&
        taken.insert(it->second).second)
      numbers[i] = it->second;
  }
  std::uint32_t next = std::max<std::uint32_t>(next_free, BH_IDENTITY_FIRST_WORKLOAD);
  for (const auto& [name, number] : previous)
    if (number >= BH_IDENTITY_FIRST_WORKLOAD && number < UINT32_MAX)
      next = std::max(next, number + 1);
  for (std::uint32_t& number : numbers) {
    if (number != 0) continue;
    if (next == 0)  // past UINT32_MAX: 0 and up are reserved
      return absl::ResourceExhaustedError(
          "no identity numbers left (the state's high-water mark is at the top)");
    number = next++;
  }

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
  table.next_free_ = next;
  return table;
}

IdentityAssignments IdentityTable::assignments() const {
  return IdentityAssignments(by_name_.begin(), by_name_.end());
}

std::optional<std::uint32_t> IdentityTable::IdentityOf(absl::string_view workload_id) const {
  if (workload_id == "host") return BH_IDENTITY_HOST;
  auto it = by_name_.find(workload_id);
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

std::string IdentityTable::NameOf(std::uint32_t identity) const {
  switch (identity) {
    case BH_IDENTITY_HOST:
      return "host";
    case BH_IDENTITY_WORLD:
      return "world";
    default:
      break;
  }
  const Workload* w = WorkloadOf(identity);
  return w ? w->id() : absl::StrCat("unknown(", identity, ")");
}

}  // namespace bulkhead
