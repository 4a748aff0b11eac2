// Length-delimited protobuf framing for the agent API: a varint length, then
// the message bytes (google::protobuf::util::SerializeDelimitedTo* format).
//
// Both ends bound what they accept before allocating for it: the agent takes
// requests of at most ApiServerOptions::max_request_bytes (default
// kDefaultMaxApiRequestBytes), the CLI responses of at most
// kMaxApiResponseBytes.
//
//   std::string wire = EncodeDelimited(request);
//   ...
//   absl::StatusOr<std::optional<FrameHeader>> header =
//       ParseFrameHeader(received, kDefaultMaxApiRequestBytes);
//   // error: malformed or too big; nullopt: read more; else the body is
//   // received.substr(header->prefix_bytes, header->body_bytes) once that
//   // much has arrived.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message_lite.h"

namespace bulkhead {

// Requests are a few bytes to a few hundred (a workload name at most)...
inline constexpr std::uint32_t kDefaultMaxApiRequestBytes = 64 << 10;
// ...but for a policy file being applied: up to 16 MiB and the request
// around it, read for one connection at a time.
inline constexpr std::uint32_t kDefaultMaxApiFileRequestBytes = (16 << 20) + (64 << 10);
// Responses carry the flow history and the policy: allow for large ones.
inline constexpr std::uint32_t kMaxApiResponseBytes = 64 << 20;

std::string EncodeDelimited(const google::protobuf::MessageLite& message);

// Where a message starts at the front of `buffer`.
struct FrameHeader {
  std::size_t prefix_bytes = 0;  // the varint
  std::uint32_t body_bytes = 0;  // the message after it
};

// Reads the length prefix at the front of `buffer`. nullopt: the prefix is
// not complete yet. InvalidArgument: a malformed prefix (over 5 bytes, or
// over 32 bits). ResourceExhausted: a body announced over `max_body_bytes`;
// the caller learns it before reading (let alone allocating) the body.
absl::StatusOr<std::optional<FrameHeader>> ParseFrameHeader(absl::string_view buffer,
                                                            std::uint32_t max_body_bytes);

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
