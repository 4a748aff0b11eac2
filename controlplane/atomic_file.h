// Whole-file writes that a crash cannot tear, and whole-file reads.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace bulkhead {

// Writes `contents` to `path` through a temporary file in the same directory,
// fsync and rename: readers see the old file or the new one, never a part.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

// The file's contents; nullopt if it does not exist.
absl::StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path);

// A configuration file (`what`: "inventory", "guardrails") read and given to
// `parse`, whose errors are prefixed with the path.
template <typename Parse>
auto ParseFile(const std::string& path, absl::string_view what, Parse parse)
    -> decltype(parse(absl::string_view())) {
  absl::StatusOr<std::optional<std::string>> text = ReadFileIfExists(path);
  if (!text.ok()) return text.status();
  if (!text->has_value())
    return absl::NotFoundError(absl::StrCat("read ", what, " ", path, ": cannot open"));
  auto parsed = parse(**text);
  if (!parsed.ok())
    return absl::Status(parsed.status().code(),
                        absl::StrCat(path, ": ", parsed.status().message()));
  return parsed;
}

}  // namespace bulkhead
