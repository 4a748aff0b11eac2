// Whole-file writes that a crash cannot tear.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace bulkhead {

// Writes `contents` to `path` through a temporary file in the same directory,
// fsync and rename: readers see the old file or the new one, never a part.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// The file's contents; nullopt if it does not exist.
absl::StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path);

}  // namespace bulkhead
