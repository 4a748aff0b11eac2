// FUZZ_CHECK(condition) << "details": a property every input must keep. On
// failure it prints the condition and the details and aborts, which libFuzzer
// reports as a crash and saves as an input to keep (tests/fuzz/README.md).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

namespace bulkhead::fuzz {

class CheckFailure {
 public:
  CheckFailure(const char* file, int line, const char* condition) {
    out_ << file << ":" << line << ": property violated: " << condition << "\n  ";
  }
  ~CheckFailure() {
    std::fputs(out_.str().c_str(), stderr);
    std::fputc('\n', stderr);
    std::abort();
  }
  template <typename T>
  CheckFailure& operator<<(const T& value) {
    out_ << value;
    return *this;
  }

 private:
  std::ostringstream out_;
};

// Whether `text` (any string or view of chars) has no ASCII control
// character: what forges log lines.
template <typename Text>
bool IsPrintable(const Text& text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

}  // namespace bulkhead::fuzz

// The switch keeps an `else` after the macro from binding to its `if`.
#define FUZZ_CHECK(condition) \
  switch (0)                  \
  case 0:                     \
  default:                    \
    if (condition) {          \
    } else                    \
      ::bulkhead::fuzz::CheckFailure(__FILE__, __LINE__, #condition)
