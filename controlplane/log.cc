#include "controlplane/log.h"

#include <algorithm>
#include <cstdio>
#include <mutex>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace bulkhead {
namespace {

std::mutex mutex;
double tokens = kLogBurst;
absl::Time refilled = absl::InfinitePast();
std::uint64_t suppressed_total = 0;
std::uint64_t suppressed_unreported = 0;

void Log(const char* level, absl::string_view message) {
  absl::Time now = absl::Now();
  std::lock_guard<std::mutex> lock(mutex);
  if (refilled != absl::InfinitePast())
    tokens =
        std::min<double>(kLogBurst, tokens + absl::ToDoubleSeconds(now - refilled) * kLogPerSecond);
  refilled = now;
  if (tokens < 1) {
    ++suppressed_total;
    ++suppressed_unreported;
    return;
  }
  tokens -= 1;
  std::string stamp = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone());
  if (suppressed_unreported > 0) {
    std::fprintf(stderr, "%s WARN %llu log lines suppressed (rate limit)\n", stamp.c_str(),
                 static_cast<unsigned long long>(suppressed_unreported));
    suppressed_unreported = 0;
  }
  std::fprintf(stderr, "%s %s %.*s\n", stamp.c_str(), level, static_cast<int>(message.size()),
               message.data());
}

}  // namespace

void LogInfo(absl::string_view message) { Log("INFO", message); }
void LogWarning(absl::string_view message) { Log("WARN", message); }
void LogError(absl::string_view message) { Log("ERROR", message); }

std::uint64_t LogLinesSuppressed() {
  std::lock_guard<std::mutex> lock(mutex);
  return suppressed_total;
}

}  // namespace bulkhead
