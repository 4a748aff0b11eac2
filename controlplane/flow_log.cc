#include "controlplane/flow_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "api/json_lines.h"
#include "controlplane/log.h"
#include "datapath/status.h"

namespace bulkhead {

absl::StatusOr<std::unique_ptr<FlowLog>> FlowLog::Open(FlowLogOptions options) {
  if (options.path.empty()) return absl::InvalidArgumentError("flow log: no file named");
  if (options.keep < 0) return absl::InvalidArgumentError("flow log: keep must be 0 or more");
  std::unique_ptr<FlowLog> log(new FlowLog(std::move(options)));
  BH_RETURN_IF_ERROR(log->Reopen());
  return log;
}

FlowLog::~FlowLog() {
  if (fd_ >= 0) close(fd_);
}

absl::Status FlowLog::Reopen() {
  if (fd_ >= 0) close(fd_);
  size_ = 0;
  // O_NONBLOCK: a FIFO put at the path fails the check below instead of
  // blocking the agent until someone reads it.
  fd_ = open(options_.path.c_str(),
             O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
  if (fd_ < 0) return ErrnoError(errno, absl::StrCat("flow log ", options_.path));
  struct stat st;
  absl::Status status;
  if (fstat(fd_, &st) != 0)
    status = ErrnoError(errno, absl::StrCat("flow log ", options_.path));
  else if (!S_ISREG(st.st_mode))
    status = absl::FailedPreconditionError(
        absl::StrCat("flow log ", options_.path, ": not a regular file"));
  if (!status.ok()) {
    close(fd_);
    fd_ = -1;
    return status;
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  return absl::OkStatus();
}

absl::Status FlowLog::Rotate() {
  const std::string& path = options_.path;
  if (options_.keep == 0) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(errno, "rotate: remove");
  } else {
    std::string oldest = absl::StrCat(path, ".", options_.keep);
    if (unlink(oldest.c_str()) != 0 && errno != ENOENT)
      return ErrnoError(errno, absl::StrCat("rotate: remove ", oldest));
    for (int n = options_.keep - 1; n >= 1; --n) {
      std::string from = absl::StrCat(path, ".", n), to = absl::StrCat(path, ".", n + 1);
      if (rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT)
        return ErrnoError(errno, absl::StrCat("rotate: rename ", from));
    }
    if (rename(path.c_str(), absl::StrCat(path, ".1").c_str()) != 0 && errno != ENOENT)
      return ErrnoError(errno, absl::StrCat("rotate: rename ", path));
  }
  ++rotations_;
  return Reopen();
}

void FlowLog::Write(const bulkhead::v1::Flow& flow) {
  if (flow.verdict() == bulkhead::v1::FORWARDED && !options_.forwarded) return;
  const std::string line = ToJsonLine(flow) + "\n";
  if (fd_ < 0) {
    // The file could not be opened again (after a rotation): try once a
    // second, never rotating meanwhile, so the rotated files stay.
    const absl::Time now = absl::Now();
    if (now - last_reopen_ >= absl::Seconds(1)) {
      last_reopen_ = now;
      (void)Reopen();  // fd_ stays -1 if it fails
    }
  } else if (size_ > 0 && size_ + line.size() > options_.max_bytes) {
    if (absl::Status rotated = Rotate(); !rotated.ok())
      LogWarning(absl::StrCat("flow log ", options_.path, ": ", rotated.message()));
  }
  ssize_t n = fd_ < 0 ? -1 : write(fd_, line.data(), line.size());
  if (n == static_cast<ssize_t>(line.size())) {
    size_ += line.size();
    ++written_;
    return;
  }
  if (++failed_ == 1 || failed_ % 10000 == 0)
    LogWarning(absl::StrCat("flow log ", options_.path, ": ",
                            fd_ < 0 ? "not open"
                            : n < 0 ? strerror(errno)
                                    : "short write",
                            " (", failed_, " lines not written so far)"));
  if (n > 0) size_ += static_cast<std::uint64_t>(n);
}

}  // namespace bulkhead
