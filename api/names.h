// Checks for names that come from files (inventory, guardrails, policy
// files) and end up in logs, flow records, protobuf strings and Kubernetes
// objects.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace bulkhead {

// What is wrong with `value` (a control character, not UTF-8), naming
// `field`; empty when it is fine.
std::string NameProblem(absl::string_view field, absl::string_view value);

// `text` with control characters as \xNN: yaml-cpp's messages quote the
// input they choke on, and control characters in them would forge log lines.
std::string EscapeControlCharacters(absl::string_view text);

}  // namespace bulkhead
