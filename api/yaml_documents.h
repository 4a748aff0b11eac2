// A YAML stream read document by document, safely.
//
// yaml-cpp 0.7's YAML::LoadAll never returns on some broken input (", t"
// among others: it yields empty documents forever, allocating as it goes;
// jbeder/yaml-cpp#1040, fixed upstream after 0.7). LoadDocuments walks the
// stream with yaml-cpp's event parser first and stops, with an error, at a
// document that makes no progress; then it loads each document with
// YAML::Load, which has no such loop.
#pragma once

#include <cstddef>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "yaml-cpp/yaml.h"

namespace bulkhead {

struct YamlDocument {
  YAML::Node root;  // null for an empty document
  // Add to a node's Mark().line to get its line in the whole stream.
  int line_offset = 0;
};

// Errors: InvalidArgument for what is not YAML, or more than
// `max_documents` documents; the line they are at (1-based, 0: unknown) in
// *error_line.
absl::StatusOr<std::vector<YamlDocument>> LoadDocuments(absl::string_view text,
                                                        std::size_t max_documents, int* error_line);

}  // namespace bulkhead
