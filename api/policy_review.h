// What a reviewer asks of a policy file before applying it, answered from
// an agent's export (or, for a simulation, from saved flows alone):
//
//   DiffPolicy  `bulkhead policy diff FILE`: what the agent has now that the
//               file does not (learned since), what the file has that the
//               agent does not, segments of both unused for a while, modes
//               and guardrails that differ.
//   Simulate    `bulkhead policy simulate FILE`: the recorded flows replayed
//               against the file as the datapath would judge them: which
//               would be dropped, grouped by segment.
//
// Both look only at what the file decides (PolicyDocument::Decides): a file
// narrowed to a namespace says nothing of the others. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "api/policy_document.h"
#include "proto/api.pb.h"
#include "proto/flow.pb.h"

namespace bulkhead {

struct PolicyDiff {
  struct ModeChange {
    std::string workload;
    bulkhead::v1::Mode in_file = bulkhead::v1::MODE_UNSPECIFIED;
    bulkhead::v1::Mode in_force = bulkhead::v1::MODE_UNSPECIFIED;
  };
  std::vector<bulkhead::v1::Segment> only_in_force;  // learned or applied since the file
  std::vector<bulkhead::v1::Segment> only_in_file;   // in the file, not in force
  // In both, with no flow for `unused_for` (the agent's lastSeen; never
  // seen counts from firstSeen): candidates to take out.
  std::vector<bulkhead::v1::Segment> unused;
  std::vector<ModeChange> modes;                  // the file's modes that are not in force
  std::vector<std::string> guardrails;            // "+ name", "- name", "~ name" (in force vs file)
  std::vector<bulkhead::v1::Segment> newly_held;  // held back now, not in the file's heldBack

  // Whether what is in force differs from the file (unused segments alone
  // do not make a difference: they are in both).
  bool Differs() const {
    return !only_in_force.empty() || !only_in_file.empty() || !modes.empty() ||
           !guardrails.empty() || !newly_held.empty();
  }
};

PolicyDiff DiffPolicy(const bulkhead::v1::ExportPolicyResponse& in_force,
                      const PolicyDocument& file, absl::Time now, absl::Duration unused_for);

struct SimulationOptions {
  // The agent's export, if there is an agent: its segments outside the
  // file's scope, its guardrails that are not the file's, its workloads'
  // modes. Without it (saved flows alone) the file is all there is.
  const bulkhead::v1::ExportPolicyResponse* in_force = nullptr;
  // false: judge as if every workload enforced ("can I enforce now?");
  // true: each workload in the mode the file gives it, else the one it has
  // now (else enforce).
  bool modes_from_file = false;
};

struct Simulation {
  struct Group {
    std::string from, to;  // peers, as in segments
    bulkhead::v1::Protocol protocol = bulkhead::v1::PROTOCOL_UNSPECIFIED;
    std::uint32_t port = 0;  // server port; the type for ICMP
    std::string why;         // "no segment", "guardrail NAME"
    std::uint64_t flows = 0;
    absl::Time first = absl::InfiniteFuture(), last = absl::InfinitePast();
  };
  std::vector<Group> dropped;  // most flows first
  std::uint64_t judged = 0;    // flows replayed
  std::uint64_t would_drop = 0;
  // Flows not judged: dropped whatever the policy (spoofed, malformed...),
  // or naming a peer the agent does not know.
  std::uint64_t skipped = 0;
};

Simulation Simulate(const std::vector<bulkhead::v1::Flow>& flows, const PolicyDocument& file,
                    const SimulationOptions& options);

}  // namespace bulkhead
