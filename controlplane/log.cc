#include "controlplane/log.h"

#include <cstdio>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace bulkhead {
namespace {

void Log(const char* level, absl::string_view message) {
  std::string stamp = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  std::fprintf(stderr, "%s %s %.*s\n", stamp.c_str(), level, static_cast<int>(message.size()),
               message.data());
}

}  // namespace

void LogInfo(absl::string_view message) { Log("INFO", message); }
void LogWarning(absl::string_view message) { Log("WARN", message); }
void LogError(absl::string_view message) { Log("ERROR", message); }

}  // namespace bulkhead
