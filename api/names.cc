#include "api/names.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace bulkhead {
namespace {

// Whether `text` is UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF). Names travel in protobuf strings: a state file or an API answer
// holding anything else does not parse.
bool IsUtf8(absl::string_view text) {
  static constexpr std::uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
  for (std::size_t i = 0; i < text.size();) {
    auto lead = static_cast<unsigned char>(text[i]);
    std::size_t more = lead < 0x80 ? 0 : (lead & 0xe0) == 0xc0 ? 1 : (lead & 0xf0) == 0xe0 ? 2 : 3;
    if (more == 3 && (lead & 0xf8) != 0xf0) return false;
    if (text.size() - i <= more) return false;
    std::uint32_t code = lead & (0x7f >> more);
    for (std::size_t k = 1; k <= more; ++k) {
      auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    if (code < kSmallest[more] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
      return false;
    i += more + 1;
  }
  return true;
}

}  // namespace

std::string NameProblem(absl::string_view field, absl::string_view value) {
  for (char c : value) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return absl::StrCat("\"", field, "\" contains a control character");
  }
  if (!IsUtf8(value)) return absl::StrCat("\"", field, "\" is not UTF-8");
  return "";
}

std::string EscapeControlCharacters(absl::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f)
      absl::StrAppend(&out, "\\x", absl::Hex(u, absl::kZeroPad2));
    else
      out += c;
  }
  return out;
}

}  // namespace bulkhead
