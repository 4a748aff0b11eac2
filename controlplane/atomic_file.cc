#include "controlplane/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

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
  fd.reset();
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return ErrnoError(errno, absl::StrCat("rename ", tmp, " to ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return std::nullopt;
    return ErrnoError(errno, absl::StrCat("read ", path));
  }
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace bulkhead
