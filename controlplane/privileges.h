// Least privilege for bulkheadd: the capabilities it needs to start, the one
// it keeps once started, and the drop between them.
//
// Start-up loads and verifies the BPF programs, creates and pins their maps
// and attaches them: CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (StartCapabilities(),
// each with the reason). Once started, the agent works through file
// descriptors it already holds (maps, ring buffers, programs, netlink and API
// sockets), which the kernel checks no capability on; the one thing it still
// asks the kernel for is attaching the programs to interfaces that appear
// later, a netlink request that needs CAP_NET_ADMIN (RuntimeCapabilities()).
// Nothing needs CAP_SYS_RESOURCE: the kernel charges BPF memory to the memory
// cgroup, not to RLIMIT_MEMLOCK, and libbpf leaves the limit alone.
//
//   // before anything in the kernel is touched
//   BH_RETURN_IF_ERROR(CheckCapabilities(StartCapabilities()));
//   ... agent->Start() ...
//   BH_ASSIGN_OR_RETURN(std::string kept, DropCapabilities(RuntimeCapabilities()));
//   LogInfo(kept);
//
// Capabilities belong to a thread, not to the process: DropCapabilities
// refuses to run while the process has more than one thread. Not thread-safe.
#pragma once

#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace bulkhead {

struct Capability {
  int value;         // CAP_BPF, CAP_NET_ADMIN, ...
  const char* name;  // "CAP_BPF", as capabilities(7) spells it
  const char* why;   // what bulkheadd does with it
};

// What start-up needs, and what the running agent keeps.
std::span<const Capability> StartCapabilities();
std::span<const Capability> RuntimeCapabilities();

// OK if the effective set holds every capability of `needed` (CAP_SYS_ADMIN
// standing in for CAP_BPF and CAP_PERFMON, as it does in the kernel); else
// FailedPrecondition naming each missing one and why it is needed.
absl::Status CheckCapabilities(std::span<const Capability> needed);

// Bounding set down to `keep` (when CAP_SETPCAP is held; without it the
// bounding set stays as it is), ambient and inheritable sets cleared,
// no_new_privs set, effective and permitted sets exactly `keep`; then reads
// the sets back and checks them. Returns a log line saying what was kept.
// On error the process may hold fewer capabilities than before, never more.
absl::StatusOr<std::string> DropCapabilities(std::span<const Capability> keep);

}  // namespace bulkhead
