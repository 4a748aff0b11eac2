// One agent per node: an exclusive, non-blocking flock on the directory that
// holds the node's kernel state (the pin directory, or the state directory
// when nothing is pinned), taken before anything in the kernel is touched.
// The kernel drops the lock when the holder exits, however it exits.
//
//   BH_ASSIGN_OR_RETURN(AgentLock lock, AgentLock::Acquire("/sys/fs/bpf/bulkhead"));
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "datapath/unique_fd.h"

namespace bulkhead {

class AgentLock {
 public:
  // Creates `dir` if needed. Fails with FailedPrecondition naming the
  // directory when another process holds the lock.
  static absl::StatusOr<AgentLock> Acquire(const std::string& dir);

 private:
  explicit AgentLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace bulkhead
