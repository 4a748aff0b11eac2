// Agent log lines on stderr: "2026-11-22T05:41:55.123Z INFO message".
//
// Rate-limited, so a flood (of events, of failing accepts, of interfaces)
// cannot fill a disk or starve the loop: up to kLogBurst lines at once, then
// kLogPerSecond a second; what is held back is counted and reported on the
// next line let through ("... (N lines suppressed)"). Thread-safe.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace bulkhead {

inline constexpr int kLogBurst = 200;
inline constexpr int kLogPerSecond = 50;

void LogInfo(absl::string_view message);
void LogWarning(absl::string_view message);
void LogError(absl::string_view message);

// Lines held back by the rate limit since the process started.
std::uint64_t LogLinesSuppressed();

}  // namespace bulkhead
