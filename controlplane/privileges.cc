#include "controlplane/privileges.h"

#include <sys/capability.h>
#include <sys/prctl.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "datapath/status.h"

namespace bulkhead {
namespace {

constexpr Capability kStart[] = {
    {CAP_BPF, "CAP_BPF", "create the BPF maps and load the programs"},
    {CAP_NET_ADMIN, "CAP_NET_ADMIN",
     "load TC and XDP programs and attach them to interfaces (clsact qdiscs, filters, XDP)"},
    {CAP_PERFMON, "CAP_PERFMON",
     "have the programs verified under the privileged rules; under the unprivileged ones "
     "the verifier rejects them: \"attempt to corrupt spilled pointer on stack\""},
};
constexpr Capability kRuntime[] = {
    {CAP_NET_ADMIN, "CAP_NET_ADMIN", "attach the programs to interfaces that appear later"},
};

struct CapFree {
  void operator()(cap_t caps) const { cap_free(caps); }
};
using UniqueCaps = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

bool Has(cap_t caps, cap_flag_t set, cap_value_t capability) {
  cap_flag_value_t value = CAP_CLEAR;
  return cap_get_flag(caps, capability, set, &value) == 0 && value == CAP_SET;
}

bool Keeps(std::span<const Capability> keep, cap_value_t capability) {
  for (const Capability& c : keep)
    if (c.value == capability) return true;
  return false;
}

// "CAP_NET_ADMIN", or the number for one libcap has no name for.
std::string Name(cap_value_t capability) {
  char* name = cap_to_name(capability);
  if (!name) return absl::StrCat("capability ", capability);
  std::string upper = absl::AsciiStrToUpper(name);
  cap_free(name);
  return upper;
}

absl::StatusOr<int> CountThreads() {
  std::error_code ec;
  int threads = 0;
  for (std::filesystem::directory_iterator it("/proc/self/task", ec), end; !ec && it != end;
       it.increment(ec))
    ++threads;
  if (ec)
    return absl::FailedPreconditionError(
        absl::StrCat("count this process's threads in /proc/self/task: ", ec.message()));
  return threads;
}

}  // namespace

std::span<const Capability> StartCapabilities() { return kStart; }
std::span<const Capability> RuntimeCapabilities() { return kRuntime; }

absl::Status CheckCapabilities(std::span<const Capability> needed) {
  UniqueCaps caps(cap_get_proc());
  if (!caps) return ErrnoError(errno, "read this process's capabilities");
  bool sys_admin = Has(caps.get(), CAP_EFFECTIVE, CAP_SYS_ADMIN);
  std::vector<std::string> missing;
  for (const Capability& c : needed) {
    bool stand_in = sys_admin && (c.value == CAP_BPF || c.value == CAP_PERFMON);
    if (!Has(caps.get(), CAP_EFFECTIVE, c.value) && !stand_in)
      missing.push_back(absl::StrCat(c.name, ", needed to ", c.why));
  }
  if (missing.empty()) return absl::OkStatus();
  std::vector<std::string> names;
  for (const Capability& c : needed) names.push_back(c.name);
  return absl::FailedPreconditionError(
      absl::StrCat("missing capability ", absl::StrJoin(missing, "; "), ". bulkheadd needs ",
                   absl::StrJoin(names, ", "),
                   " to start; nothing was changed. Run it as root, or give its container these "
                   "capabilities (deploy/daemonset.yaml)"));
}

absl::StatusOr<std::string> DropCapabilities(std::span<const Capability> keep) {
  BH_ASSIGN_OR_RETURN(int threads, CountThreads());
  if (threads != 1)
    return absl::FailedPreconditionError(
        absl::StrCat("drop capabilities: the process has ", threads,
                     " threads and capabilities are per thread; drop them before starting any"));
  UniqueCaps current(cap_get_proc());
  if (!current) return ErrnoError(errno, "read this process's capabilities");

  // The bounding set first: shrinking it takes CAP_SETPCAP, which goes next.
  const cap_value_t max = static_cast<cap_value_t>(cap_max_bits());
  bool bounding = Has(current.get(), CAP_EFFECTIVE, CAP_SETPCAP);
  if (bounding) {
    for (cap_value_t c = 0; c < max; ++c) {
      if (Keeps(keep, c) || cap_get_bound(c) != 1) continue;
      if (cap_drop_bound(c) != 0)
        return ErrnoError(errno, absl::StrCat("drop ", Name(c), " from the bounding set"));
    }
  }
  if (cap_reset_ambient() != 0 && errno != EINVAL)
    return ErrnoError(errno, "clear the ambient capability set");
  // execve can no longer grant anything, whatever the bounding set holds.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ErrnoError(errno, "set no_new_privs");

  UniqueCaps wanted(cap_init());
  if (!wanted) return ErrnoError(errno, "allocate a capability set");
  std::vector<cap_value_t> values;
  for (const Capability& c : keep) values.push_back(c.value);
  if (!values.empty() && (cap_set_flag(wanted.get(), CAP_PERMITTED, static_cast<int>(values.size()),
                                       values.data(), CAP_SET) != 0 ||
                          cap_set_flag(wanted.get(), CAP_EFFECTIVE, static_cast<int>(values.size()),
                                       values.data(), CAP_SET) != 0))
    return ErrnoError(errno, "build the runtime capability set");
  if (cap_set_proc(wanted.get()) != 0)
    return ErrnoError(errno, "set the runtime capabilities (effective, permitted, inheritable)");

  // Read back what the kernel now holds.
  UniqueCaps now(cap_get_proc());
  if (!now) return ErrnoError(errno, "read this process's capabilities");
  for (cap_value_t c = 0; c < max; ++c) {
    bool kept = Keeps(keep, c);
    if (Has(now.get(), CAP_EFFECTIVE, c) != kept || Has(now.get(), CAP_PERMITTED, c) != kept ||
        Has(now.get(), CAP_INHERITABLE, c) || cap_get_ambient(c) == 1 ||
        (bounding && !kept && cap_get_bound(c) == 1))
      return absl::InternalError(
          absl::StrCat("drop capabilities: ", Name(c),
                       kept ? " is gone, but was to be kept" : " is still held"));
  }
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
    return absl::InternalError("no_new_privs is not set after setting it");

  std::vector<std::string> kept;
  for (const Capability& c : keep) kept.push_back(absl::StrCat(c.name, " (", c.why, ")"));
  return absl::StrCat(
      "privileges: keeping ", kept.empty() ? "no capability" : absl::StrJoin(kept, ", "),
      "; every other capability dropped from the effective, permitted, inheritable and ambient "
      "sets",
      bounding ? " and from the bounding set"
               : "; bounding set unchanged (no CAP_SETPCAP to shrink it; no_new_privs keeps "
                 "execve from granting anything)",
      "; no_new_privs set");
}

}  // namespace bulkhead
