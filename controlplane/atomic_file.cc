#include "controlplane/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "datapath/status.h"
#include "datapath/unique_fd.h"

namespace bulkhead {

absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents) {
  std::string tmp = absl::StrCat(path, ".tmp");
  UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd.valid()) return ErrnoError(errno, absl::StrCat("write ", path, ": open ", tmp));
  for (std::size_t done = 0; done < contents.size();) {
    ssize_t n = write(fd.get(), contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, absl::StrCat("write ", tmp));
    done += n;
  }
  if (fsync(fd.get()) != 0) return ErrnoError(errno, absl::StrCat("fsync ", tmp));
  if (close(fd.release()) != 0) return ErrnoError(errno, absl::StrCat("close ", tmp));
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return ErrnoError(errno, absl::StrCat("rename ", tmp, " to ", path));
  // The rename is durable only once the directory entry is on disk.
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  UniqueFd dir_fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) return ErrnoError(errno, absl::StrCat("open directory ", dir));
  if (fsync(dir_fd.get()) != 0) return ErrnoError(errno, absl::StrCat("fsync directory ", dir));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::nullopt;
    return ErrnoError(errno, absl::StrCat("read ", path));
  }
  std::string contents;
  char buffer[65536];
  for (;;) {
    ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError(errno, absl::StrCat("read ", path));
    if (n == 0) break;
    contents.append(buffer, n);
  }
  return contents;
}

}  // namespace bulkhead
