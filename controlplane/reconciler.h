// The one writer of the datapath's maps: ipcache (exact and prefixes),
// policy, guardrails, services, modes, endpoints
// (and the epoch that tells the programs to decide again).
//
// The rest of the agent says what the maps must hold (MapContents, or one
// part of it); the reconciler works out the difference from what they hold,
// and switches them over as one transaction:
//
//   1. capacity first: a change that would not fit is refused before any
//      write, naming the map, its size and what it would need;
//   2. additions and changes, in the order guardrails, policy, modes,
//      ipcache, prefixes, services, endpoints (a guardrail is in force before any
//      segment it overrides) (a workload is never put in enforce before the segments it
//      needs are in, and never given an address or interface before its
//      mode, so it is never unmanaged in between);
//   3. removals, in the reverse order;
//   4. a new epoch, so every verdict the programs cached is decided again.
// The programs look into the optional maps (ranges) only while their
// BH_LOOKUP_* bit is set: it is set before the first entry goes in and
// cleared after the last one left.
//
// If any write fails, every map it touched is put back as it was (and the
// epoch bumped), so a failed start, reload or compile leaves the kernel state
// exactly as it found it; the error says so. Adopt() reads what pinned maps
// hold at start: entries nobody wants any more are removed by the first
// Apply, entries that drifted are rewritten.
//
// Not thread-safe; lives on the agent's event loop.
//
//   Reconciler maps(*datapath);
//   BH_RETURN_IF_ERROR(maps.Adopt());
//   BH_RETURN_IF_ERROR(maps.Apply({.policy = compiled, .modes = modes, ...}));
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "absl/status/status.h"
#include "controlplane/compiler.h"
#include "controlplane/guardrails.h"
#include "datapath/abi.h"
#include "datapath/datapath.h"

namespace bulkhead {

using IpcacheEntries = std::map<bh_addr, std::uint32_t>;             // address -> identity
using ModeEntries = std::map<std::uint32_t, bh_mode>;                // identity -> mode
using EndpointEntries = std::map<std::uint32_t, bh_endpoint_value>;  // ifindex -> binding

// What the maps must hold. A part left empty (nullopt) is not touched.
struct MapContents {
  std::optional<PolicyEntries> policy;
  std::optional<PolicyRangeEntries> policy_ranges;
  std::optional<IpcacheEntries> ipcache;
  std::optional<PrefixEntries> prefixes;
  std::optional<EndpointEntries> endpoints;
  std::optional<ModeEntries> modes;
  std::optional<GuardrailEntries> guardrails;
  std::optional<ServiceEntries> services;
};

// Entries written and removed by one Apply, for logs and tests.
struct ApplyCounts {
  std::size_t written = 0;
  std::size_t removed = 0;
};

class Reconciler {
 public:
  explicit Reconciler(Datapath& datapath) : datapath_(datapath) {}
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // Reads what the maps hold now (pinned by an earlier run, or empty).
  absl::Status Adopt();

  // Makes the given parts hold exactly what is wanted, all or nothing.
  absl::StatusOr<ApplyCounts> Apply(const MapContents& wanted);

  // What the maps hold, as far as this reconciler wrote or adopted it.
  const MapContents& installed() const { return installed_; }

 private:
  Datapath& datapath_;
  // The BH_LOOKUP_* bits `contents` needs.
  static std::uint32_t LookupsOf(const MapContents& contents);

  MapContents installed_{PolicyEntries{},    PolicyRangeEntries{}, IpcacheEntries{},
                         PrefixEntries{},    EndpointEntries{},    ModeEntries{},
                         GuardrailEntries{}, ServiceEntries{}};
};

}  // namespace bulkhead
