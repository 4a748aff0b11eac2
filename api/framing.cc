#include "api/framing.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace bulkhead {

std::string EncodeDelimited(const google::protobuf::MessageLite& message) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.WriteVarint32(static_cast<std::uint32_t>(message.ByteSizeLong()));
    message.SerializeWithCachedSizes(&coded);
  }
  return out;
}

absl::StatusOr<std::optional<FrameHeader>> ParseFrameHeader(absl::string_view buffer,
                                                            std::uint32_t max_body_bytes) {
  LengthPrefixDecoder decoder;
  for (std::size_t i = 0; i < buffer.size(); ++i) {
    std::optional<std::uint32_t> length = decoder.Feed(static_cast<std::uint8_t>(buffer[i]));
    if (decoder.error())
      return absl::InvalidArgumentError("malformed length prefix (not a varint32)");
    if (!length) continue;
    if (*length > max_body_bytes)
      return absl::ResourceExhaustedError(absl::StrCat(
          "message of ", *length, " bytes is over the limit of ", max_body_bytes, " bytes"));
    return FrameHeader{.prefix_bytes = i + 1, .body_bytes = *length};
  }
  return std::nullopt;
}

std::optional<std::uint32_t> LengthPrefixDecoder::Feed(std::uint8_t byte) {
  if (shift_ >= 35) {
    error_ = true;
    return std::nullopt;
  }
  value_ |= static_cast<std::uint64_t>(byte & 0x7f) << shift_;
  shift_ += 7;
  if (byte & 0x80) return std::nullopt;
  if (value_ > UINT32_MAX) {
    error_ = true;
    return std::nullopt;
  }
  return static_cast<std::uint32_t>(value_);
}

}  // namespace bulkhead
