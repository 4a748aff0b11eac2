// bulkhead_api on its own: framing, request checks, enum names.
#include "api/enum_names.h"
#include "api/framing.h"
#include "api/request_check.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

using ::testing::HasSubstr;

TEST(FramingTest, AHeaderIsReadOnlyOnceCompleteAndWithinTheLimit) {
  bulkhead::v1::Request request;
  request.mutable_set_mode()->set_workload(std::string(300, 'w'));  // two-byte prefix
  std::string wire = EncodeDelimited(request);
  auto partial = ParseFrameHeader(wire.substr(0, 1), kDefaultMaxApiRequestBytes);
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial->has_value());
  auto whole = ParseFrameHeader(wire, kDefaultMaxApiRequestBytes);
  ASSERT_TRUE(whole.ok() && whole->has_value());
  EXPECT_EQ((*whole)->prefix_bytes, 2u);
  EXPECT_EQ((*whole)->prefix_bytes + (*whole)->body_bytes, wire.size());

  auto over = ParseFrameHeader(wire, (*whole)->body_bytes - 1);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  auto malformed = ParseFrameHeader(std::string(6, '\xff'), kDefaultMaxApiRequestBytes);
  EXPECT_EQ(malformed.status().code(), absl::StatusCode::kInvalidArgument);
}

bulkhead::v1::Request SetMode(std::string workload, int mode, bool all = false) {
  bulkhead::v1::Request request;
  request.mutable_set_mode()->set_workload(std::move(workload));
  request.mutable_set_mode()->set_mode(static_cast<bulkhead::v1::Mode>(mode));
  request.mutable_set_mode()->set_all(all);
  return request;
}

TEST(RequestCheckTest, EachBadFieldIsNamed) {
  EXPECT_TRUE(CheckRequest(SetMode("shop/api", bulkhead::v1::ENFORCE)).ok());
  EXPECT_TRUE(CheckRequest(SetMode("", bulkhead::v1::LEARN, true)).ok());
  struct Case {
    bulkhead::v1::Request request;
    const char* error;
  } cases[] = {
      {SetMode("shop/api", 7), "set_mode.mode: 7 is not one of"},
      {SetMode("shop/api", bulkhead::v1::MODE_UNSPECIFIED), "set_mode.mode: 0"},
      {SetMode("", bulkhead::v1::LEARN), "set_mode.workload: empty"},
      {SetMode("shop/api", bulkhead::v1::LEARN, true), "a workload or all, not both"},
      {SetMode("shop/api\nINFO forged", bulkhead::v1::LEARN), "control character"},
      {SetMode(std::string(400, 'a'), bulkhead::v1::LEARN), "over the limit of 317"},
      {bulkhead::v1::Request(), "names no operation"},
  };
  for (const Case& c : cases) {
    absl::Status status = CheckRequest(c.request);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.error;
    EXPECT_THAT(status.message(), HasSubstr(c.error));
  }
}

TEST(RequestCheckTest, AFieldThisBuildDoesNotKnowIsRefused) {
  bulkhead::v1::Request request;
  request.mutable_flows()->set_last(5);
  request.mutable_flows()
      ->GetReflection()
      ->MutableUnknownFields(request.mutable_flows())
      ->AddVarint(9, 1);
  absl::Status status = CheckRequest(request);
  EXPECT_THAT(status.message(), HasSubstr("request.flows: unknown field number 9"));
}

TEST(EnumNamesTest, ModesAndProtocols) {
  for (auto mode : {bulkhead::v1::LEARN, bulkhead::v1::MONITOR, bulkhead::v1::ENFORCE}) {
    auto parsed = ModeFromName(ModeName(mode));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, mode);
  }
  EXPECT_EQ(ModeName(bulkhead::v1::MODE_UNSPECIFIED), "unmanaged");
  EXPECT_EQ(ModeName(static_cast<bulkhead::v1::Mode>(9)), "mode-9");
  EXPECT_THAT(ModeFromName("enforcing").status().message(),
              HasSubstr("expected learn, monitor or enforce"));
  EXPECT_EQ(ProtocolName(bulkhead::v1::TCP), "tcp");
  EXPECT_EQ(ProtocolName(bulkhead::v1::ICMPV6), "icmpv6");
  EXPECT_EQ(ProtocolName(static_cast<bulkhead::v1::Protocol>(47)), "47");
}

}  // namespace
}  // namespace bulkhead
