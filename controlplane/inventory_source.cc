#include "controlplane/inventory_source.h"

#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace bulkhead {

std::string FileWatch::Stamp() const {
  struct stat st {};
  if (stat(path_.c_str(), &st) != 0) return absl::StrCat("error ", errno);
  return absl::StrCat(st.st_dev, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec);
}

bool FileWatch::Changed() {
  std::string now = Stamp();
  if (now == stamp_) return false;
  stamp_ = std::move(now);
  return true;
}

}  // namespace bulkhead
