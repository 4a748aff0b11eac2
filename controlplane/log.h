// Agent log lines on stderr: "2026-11-22T05:41:55.123Z INFO message".
#pragma once

#include "absl/strings/string_view.h"

namespace bulkhead {

void LogInfo(absl::string_view message);
void LogWarning(absl::string_view message);
void LogError(absl::string_view message);

}  // namespace bulkhead
