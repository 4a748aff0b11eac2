#include "controlplane/agent_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "datapath/status.h"

namespace bulkhead {

absl::StatusOr<AgentLock> AgentLock::Acquire(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, absl::StrCat("open ", dir, " to lock it"));
  if (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return absl::FailedPreconditionError(absl::StrCat(
          "another bulkheadd is running on this node (it holds the lock on ", dir,
          "); nothing was changed. Stop it first, or give this one its own --pin-dir"));
    return ErrnoError(errno, absl::StrCat("lock ", dir));
  }
  return AgentLock(std::move(fd));
}

}  // namespace bulkhead
