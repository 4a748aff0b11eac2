// Length-delimited protobuf framing for the agent API: a varint length, then
// the message bytes (google::protobuf::util::SerializeDelimitedTo* format).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "google/protobuf/message_lite.h"

namespace bulkhead {

// Largest message either side accepts.
inline constexpr std::uint32_t kMaxApiMessageBytes = 64 << 20;

std::string EncodeDelimited(const google::protobuf::MessageLite& message);

// Decodes a varint length prefix one byte at a time, for readers that must
// not read past the prefix.
class LengthPrefixDecoder {
 public:
  // Feeds one byte. Returns the length once complete; nullopt while more
  // bytes are needed. Sets error() on a prefix longer than 5 bytes.
  std::optional<std::uint32_t> Feed(std::uint8_t byte);
  bool error() const { return error_; }

 private:
  std::uint64_t value_ = 0;
  int shift_ = 0;
  bool error_ = false;
};

}  // namespace bulkhead
