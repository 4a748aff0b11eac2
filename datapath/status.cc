#include "datapath/status.h"

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace bulkhead {

absl::Status ErrnoError(int err, absl::string_view what) {
  err = std::abs(err);
  const char* name = strerrorname_np(err);
  return absl::Status(absl::ErrnoToStatusCode(err),
                      absl::StrCat(what, ": ", name ? name : "errno ",
                                   name ? "" : absl::StrCat(err), " (", std::strerror(err), ")"));
}

}  // namespace bulkhead
