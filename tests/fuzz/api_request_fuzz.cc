// The agent API as a client's bytes reach the agent: length-prefixed frames
// (ParseFrameHeader), each body a bulkhead.v1.Request (ParseFromString), then
// CheckRequest before any handler sees it.
//
// Properties, beyond not crashing:
//  - a frame header is 1 to 5 bytes, decodes to what protobuf's own varint
//    reader decodes, never announces more than the maximum, and is also
//    what LengthPrefixDecoder (the agent's byte-at-a-time reader) returns;
//    a prefix cut short is "read more", never a length;
//  - a limit one byte below a decoded length refuses that frame;
//  - errors are printable (the agent logs and returns them);
//  - a request that parses, framed again with EncodeDelimited, decodes to
//    the same frame length and the same request, with the same verdict from
//    CheckRequest; an accepted set_mode names a mode in range and a
//    printable workload.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "api/framing.h"
#include "api/request_check.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/api.pb.h"
#include "tests/fuzz/fuzz_check.h"

namespace bulkhead {
namespace {

using fuzz::IsPrintable;
using google::protobuf::util::MessageDifferencer;

constexpr std::uint32_t kMax = kDefaultMaxApiRequestBytes;

// The header of the frame at the front of `stream`, checked against the
// other two ways of reading it. nullopt: no complete, acceptable header.
std::optional<FrameHeader> CheckedHeader(absl::string_view stream) {
  auto header = ParseFrameHeader(stream, kMax);

  LengthPrefixDecoder decoder;
  std::optional<std::uint32_t> fed;
  std::size_t used = 0;
  while (used < stream.size() && !fed && !decoder.error())
    fed = decoder.Feed(static_cast<std::uint8_t>(stream[used++]));

  if (!header.ok()) {
    FUZZ_CHECK(IsPrintable(header.status().message())) << header.status();
    FUZZ_CHECK(header.status().code() == absl::StatusCode::kInvalidArgument ||
               header.status().code() == absl::StatusCode::kResourceExhausted)
        << header.status();
    if (header.status().code() == absl::StatusCode::kResourceExhausted)
      FUZZ_CHECK(fed && *fed > kMax) << header.status();
    else
      FUZZ_CHECK(decoder.error()) << header.status();
    return std::nullopt;
  }
  if (!header->has_value()) {
    // Five bytes with the continuation bit are already malformed, but
    // ParseFrameHeader (like the agent) only says so at the sixth.
    FUZZ_CHECK(stream.size() <= 5) << stream.size() << " bytes and no header yet";
    FUZZ_CHECK(!fed && !decoder.error());
    return std::nullopt;
  }
  const FrameHeader& h = **header;
  FUZZ_CHECK(h.prefix_bytes >= 1 && h.prefix_bytes <= 5) << h.prefix_bytes;
  FUZZ_CHECK(h.body_bytes <= kMax) << h.body_bytes;
  FUZZ_CHECK(fed && *fed == h.body_bytes && used == h.prefix_bytes);

  google::protobuf::io::CodedInputStream reference(
      reinterpret_cast<const std::uint8_t*>(stream.data()), static_cast<int>(stream.size()));
  std::uint32_t reference_length = 0;
  FUZZ_CHECK(reference.ReadVarint32(&reference_length));
  FUZZ_CHECK(reference_length == h.body_bytes) << reference_length << " != " << h.body_bytes;
  FUZZ_CHECK(static_cast<std::size_t>(reference.CurrentPosition()) == h.prefix_bytes);

  for (std::size_t cut = 0; cut < h.prefix_bytes; ++cut) {
    auto partial = ParseFrameHeader(stream.substr(0, cut), kMax);
    FUZZ_CHECK(partial.ok() && !partial->has_value()) << "prefix cut at " << cut;
  }
  if (h.body_bytes > 0) {
    auto over = ParseFrameHeader(stream, h.body_bytes - 1);
    FUZZ_CHECK(!over.ok() && over.status().code() == absl::StatusCode::kResourceExhausted);
  }
  return h;
}

void CheckRequestRoundTrip(absl::string_view body) {
  bulkhead::v1::Request request;
  if (!request.ParseFromArray(body.data(), static_cast<int>(body.size()))) return;
  absl::Status verdict = CheckRequest(request);
  FUZZ_CHECK(IsPrintable(verdict.message())) << verdict;
  if (verdict.ok()) {
    FUZZ_CHECK(request.kind_case() != bulkhead::v1::Request::KIND_NOT_SET);
    if (request.has_set_mode()) {
      const auto& set_mode = request.set_mode();
      FUZZ_CHECK(set_mode.mode() == bulkhead::v1::LEARN ||
                 set_mode.mode() == bulkhead::v1::MONITOR ||
                 set_mode.mode() == bulkhead::v1::ENFORCE)
          << set_mode.mode();
      FUZZ_CHECK(set_mode.all() || !set_mode.workload().empty());
      FUZZ_CHECK(IsPrintable(set_mode.workload()));
      FUZZ_CHECK(set_mode.workload().size() <= kMaxWorkloadNameBytes);
    }
  } else {
    FUZZ_CHECK(verdict.code() == absl::StatusCode::kInvalidArgument) << verdict;
  }

  std::string wire = EncodeDelimited(request);
  auto header = ParseFrameHeader(wire, UINT32_MAX);
  FUZZ_CHECK(header.ok() && header->has_value()) << header.status();
  FUZZ_CHECK((*header)->body_bytes == request.ByteSizeLong());
  FUZZ_CHECK((*header)->prefix_bytes + (*header)->body_bytes == wire.size());
  bulkhead::v1::Request again;
  FUZZ_CHECK(again.ParseFromString(wire.substr((*header)->prefix_bytes)));
  FUZZ_CHECK(MessageDifferencer::Equals(request, again))
      << request.ShortDebugString() << "\n  " << again.ShortDebugString();
  FUZZ_CHECK(CheckRequest(again).code() == verdict.code()) << CheckRequest(again);
}

}  // namespace
}  // namespace bulkhead

// Protobuf logs every string that is not UTF-8 it meets; here that is noise.
extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

// The input is what one client sends on one connection: frames back to back.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bulkhead;
  absl::string_view stream(reinterpret_cast<const char*>(data), size);
  while (!stream.empty()) {
    std::optional<FrameHeader> header = CheckedHeader(stream);
    if (!header) break;  // the agent closes the connection (or waits for more)
    stream.remove_prefix(header->prefix_bytes);
    if (stream.size() < header->body_bytes) break;  // the client went away mid-body
    CheckRequestRoundTrip(stream.substr(0, header->body_bytes));
    stream.remove_prefix(header->body_bytes);
  }
  return 0;
}
