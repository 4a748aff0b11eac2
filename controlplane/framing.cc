#include "controlplane/framing.h"

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
