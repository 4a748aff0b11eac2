#include "controlplane/state_file.h"

#include <filesystem>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "controlplane/atomic_file.h"
#include "controlplane/identity_table.h"
#include "controlplane/policy_store.h"
#include "controlplane/segment.h"
#include "datapath/abi.h"
#include "datapath/status.h"

namespace bulkhead {
namespace {

constexpr char kStateFile[] = "state.pb";

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::DataLossError(absl::StrCat("state file: ", field, ": ", why));
}

// What a peer's name may be: "namespace/name" (a workload), or one word
// without '/' (a network set, or host, world, private); printable.
enum class PeerKind { kWorkload, kNamed };
absl::StatusOr<PeerKind> CheckPeerName(absl::string_view field, absl::string_view name) {
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return Invalid(field, "contains a control character");
  }
  if (name.empty()) return Invalid(field, "is empty");
  std::size_t slash = name.find('/');
  if (slash == absl::string_view::npos) return PeerKind::kNamed;
  if (slash == 0 || slash + 1 == name.size() ||
      name.find('/', slash + 1) != absl::string_view::npos)
    return Invalid(field, absl::StrCat("\"", name, "\" is not namespace/name"));
  return PeerKind::kWorkload;
}

absl::Status CheckWorkloadName(absl::string_view field, absl::string_view name) {
  BH_ASSIGN_OR_RETURN(PeerKind kind, CheckPeerName(field, name));
  if (kind != PeerKind::kWorkload)
    return Invalid(field, absl::StrCat("\"", name, "\" is not namespace/name"));
  return absl::OkStatus();
}

bool IsKnownProtocol(bulkhead::v1::Protocol p) {
  switch (p) {
    case bulkhead::v1::ICMP:
    case bulkhead::v1::TCP:
    case bulkhead::v1::UDP:
    case bulkhead::v1::ICMPV6:
    case bulkhead::v1::SCTP:
      return true;
    default:
      return false;
  }
}

bool IsValidTimestamp(const google::protobuf::Timestamp& t) {
  // google.protobuf.Timestamp's range: years 1 to 9999.
  return t.seconds() >= -62135596800 && t.seconds() <= 253402300799 && t.nanos() >= 0 &&
         t.nanos() <= 999999999;
}

// A list of segments: names, protocols, ports, ids (`with_ids`: non-zero
// and unique), timestamps, no key twice.
absl::Status CheckSegments(absl::string_view name, const bulkhead::v1::Policy& policy,
                           bool with_ids) {
  std::set<std::uint32_t> segment_ids;
  std::set<SegmentKey> segment_keys;
  for (int i = 0; i < policy.segments_size(); ++i) {
    const auto& s = policy.segments(i);
    std::string field = absl::StrCat(name, ".segments[", i, "]");
    BH_RETURN_IF_ERROR(
        CheckPeerName(absl::StrCat(field, ".from_workload"), s.from_workload()).status());
    BH_RETURN_IF_ERROR(
        CheckPeerName(absl::StrCat(field, ".to_workload"), s.to_workload()).status());
    if (!IsKnownProtocol(s.protocol()))
      return Invalid(absl::StrCat(field, ".protocol"),
                     absl::StrCat(static_cast<int>(s.protocol()), " is not a known protocol"));
    if (s.port() > 65535)
      return Invalid(absl::StrCat(field, ".port"), absl::StrCat(s.port(), " is above 65535"));
    if (s.port_end() != 0) {
      bool ports = s.protocol() == bulkhead::v1::TCP || s.protocol() == bulkhead::v1::UDP ||
                   s.protocol() == bulkhead::v1::SCTP;
      if (!ports || s.port_end() > 65535 || s.port_end() <= s.port())
        return Invalid(absl::StrCat(field, ".port_end"),
                       absl::StrCat(s.port_end(),
                                    " is not a range's end (above port, at most 65535, for TCP, "
                                    "UDP or SCTP)"));
    }
    if (with_ids && (s.id() == 0 || !segment_ids.insert(s.id()).second))
      return Invalid(absl::StrCat(field, ".id"), absl::StrCat(s.id(), " is 0 or given twice"));
    for (const auto& [name, stamp] :
         {std::pair{"first_seen", &s.first_seen()}, std::pair{"last_seen", &s.last_seen()}}) {
      if (!IsValidTimestamp(*stamp))
        return Invalid(absl::StrCat(field, ".", name), "is not a valid timestamp");
    }
    // One segment per (from, to, protocol, port); old ICMP/0 is echo (8).
    SegmentKey key = KeyOf(s);
    if (s.protocol() == bulkhead::v1::ICMP && key.port == 0) key.port = 8;
    if (!segment_keys.insert(key).second)
      return Invalid(field, absl::StrCat(ToString(key), " is listed twice"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<bulkhead::v1::AgentState> ParseAgentState(std::string_view bytes) {
  bulkhead::v1::AgentState state;
  if (!state.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return absl::DataLossError("state file: not a bulkhead state file (protobuf AgentState)");

  BH_RETURN_IF_ERROR(CheckSegments("policy", state.policy(), /*with_ids=*/true));
  BH_RETURN_IF_ERROR(CheckSegments("held_back", state.held_back(), /*with_ids=*/false));
  for (const auto& [name, t] : state.timelines()) {
    std::string field = absl::StrCat("timelines[\"", absl::CHexEscape(name), "\"]");
    BH_RETURN_IF_ERROR(CheckWorkloadName(field, name));
    for (const auto* stamp : {&t.mode_since(), &t.last_new_segment(), &t.last_audit()})
      if (!IsValidTimestamp(*stamp)) return Invalid(field, "holds an invalid timestamp");
  }
  for (const auto& [name, mode] : state.modes()) {
    std::string field = absl::StrCat("modes[\"", absl::CHexEscape(name), "\"]");
    BH_RETURN_IF_ERROR(CheckWorkloadName(field, name));
    if (mode != bulkhead::v1::LEARN && mode != bulkhead::v1::MONITOR &&
        mode != bulkhead::v1::ENFORCE)
      return Invalid(field,
                     absl::StrCat(static_cast<int>(mode), " is not learn, monitor or enforce"));
  }
  std::set<std::uint32_t> numbers;
  for (const auto& [name, identity] : state.identities()) {
    std::string field = absl::StrCat("identities[\"", absl::CHexEscape(name), "\"]");
    BH_ASSIGN_OR_RETURN(PeerKind kind, CheckPeerName(field, name));
    // A workload's number in the workloads' range, a network set's in theirs.
    bool in_range = kind == PeerKind::kWorkload
                        ? bh_is_workload_identity(identity)
                        : identity >= BH_IDENTITY_FIRST_NETWORK && !IsReservedPeer(name);
    if (!in_range || !numbers.insert(identity).second)
      return Invalid(field,
                     absl::StrCat(identity, " is reserved, out of its range or given twice"));
  }
  return state;
}

absl::StatusOr<std::optional<bulkhead::v1::AgentState>> LoadAgentState(const std::string& dir) {
  std::string path = absl::StrCat(dir, "/", kStateFile);
  BH_ASSIGN_OR_RETURN(std::optional<std::string> bytes, ReadFileIfExists(path));
  if (!bytes) return std::nullopt;
  auto state = ParseAgentState(*bytes);
  if (!state.ok())
    return absl::Status(state.status().code(),
                        absl::StrCat(path, ": ", state.status().message(),
                                     "; move it aside to start from the inventory alone"));
  return *std::move(state);
}

absl::Status SaveAgentState(const std::string& dir, const bulkhead::v1::AgentState& state) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::UnavailableError(absl::StrCat("create state directory ", dir, ": ", ec.message()));
  return WriteFileAtomically(absl::StrCat(dir, "/", kStateFile), state.SerializeAsString());
}

}  // namespace bulkhead
