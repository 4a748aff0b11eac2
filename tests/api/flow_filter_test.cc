// The flow filters of `bulkhead flows`, flag by flag (api/flow_filter.h).
#include "api/flow_filter.h"

#include <sstream>

#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

using Field = FlowFilter::Field;
using ::testing::HasSubstr;

bulkhead::v1::Flow MakeFlow(const std::string& from, const std::string& to, std::uint32_t port,
                            bulkhead::v1::Verdict verdict) {
  bulkhead::v1::Flow f;
  f.mutable_source()->set_workload(from);
  f.mutable_source()->set_namespace_(from.substr(0, from.find('/')));
  f.mutable_source()->set_ip("10.244.1.10");
  f.mutable_source()->set_port(40000);
  (*f.mutable_source()->mutable_labels())["app"] = from.substr(from.find('/') + 1);
  f.mutable_destination()->set_workload(to);
  f.mutable_destination()->set_ip(to == "world" ? "198.51.100.7" : "fd00:244::20");
  f.mutable_destination()->set_port(port);
  f.set_protocol(bulkhead::v1::TCP);
  f.set_verdict(verdict);
  if (verdict != bulkhead::v1::FORWARDED) f.set_reason(bulkhead::v1::POLICY);
  *f.mutable_time() = google::protobuf::util::TimeUtil::SecondsToTimestamp(1'800'000'000);
  return f;
}

const bulkhead::v1::Flow kToApi =
    MakeFlow("shop/frontend", "shop/api", 8080, bulkhead::v1::FORWARDED);
const bulkhead::v1::Flow kToWorld = MakeFlow("shop/api", "world", 443, bulkhead::v1::DROPPED);

FlowFilter Filter(std::initializer_list<std::tuple<Field, const char*, bool>> flags) {
  FlowFilter filter;
  for (const auto& [field, value, negated] : flags)
    EXPECT_TRUE(filter.Add(field, value, negated).ok()) << value;
  return filter;
}

TEST(FlowFilterTest, EachFlagPicksWhatItNames) {
  EXPECT_TRUE(FlowFilter().Matches(kToApi));
  EXPECT_TRUE(Filter({{Field::kFrom, "shop/frontend", false}}).Matches(kToApi));
  EXPECT_FALSE(Filter({{Field::kFrom, "shop/api", false}}).Matches(kToApi));
  EXPECT_TRUE(Filter({{Field::kWorkload, "shop/api", false}}).Matches(kToApi));
  EXPECT_TRUE(Filter({{Field::kWorkload, "world", false}}).Matches(kToWorld));
  EXPECT_TRUE(Filter({{Field::kNamespace, "shop", false}}).Matches(kToWorld));
  EXPECT_TRUE(Filter({{Field::kLabel, "app=frontend", false}}).Matches(kToApi));
  EXPECT_TRUE(Filter({{Field::kLabel, "app", false}}).Matches(kToApi));
  EXPECT_FALSE(Filter({{Field::kLabel, "app=db", false}}).Matches(kToApi));
  EXPECT_TRUE(Filter({{Field::kIp, "fd00:244::/32", false}}).Matches(kToApi));
  EXPECT_TRUE(Filter({{Field::kIp, "10.244.0.0/16", false}}).Matches(kToApi));
  EXPECT_TRUE(Filter({{Field::kIp, "10.244.1.10", false}}).Matches(kToApi));
  EXPECT_FALSE(Filter({{Field::kIp, "10.244.2.0/24", false}}).Matches(kToApi));
  EXPECT_TRUE(Filter({{Field::kIp, "198.51.100.0/24", false}}).Matches(kToWorld));
  EXPECT_FALSE(Filter({{Field::kIp, "fd00::/8", false}}).Matches(kToWorld))
      << "an IPv4 address is in no IPv6 prefix";
  EXPECT_TRUE(Filter({{Field::kPort, "443", false}}).Matches(kToWorld));
  EXPECT_TRUE(Filter({{Field::kProtocol, "tcp", false}}).Matches(kToApi));
  EXPECT_FALSE(Filter({{Field::kProtocol, "udp", false}}).Matches(kToApi));
  EXPECT_TRUE(Filter({{Field::kVerdict, "dropped", false}}).Matches(kToWorld));
  EXPECT_TRUE(Filter({{Field::kReason, "POLICY", false}}).Matches(kToWorld));
  EXPECT_FALSE(Filter({{Field::kReason, "guardrail", false}}).Matches(kToWorld));
}

TEST(FlowFilterTest, SameFlagOrsOtherFlagsAndNotNegates) {
  FlowFilter either = Filter({{Field::kPort, "8080", false}, {Field::kPort, "443", false}});
  EXPECT_TRUE(either.Matches(kToApi));
  EXPECT_TRUE(either.Matches(kToWorld));
  FlowFilter both = Filter({{Field::kPort, "443", false}, {Field::kVerdict, "forwarded", false}});
  EXPECT_FALSE(both.Matches(kToWorld));
  EXPECT_FALSE(both.Matches(kToApi));
  FlowFilter not_dropped = Filter({{Field::kVerdict, "dropped", true}});
  EXPECT_TRUE(not_dropped.Matches(kToApi));
  EXPECT_FALSE(not_dropped.Matches(kToWorld));
  // Negated occurrences of one flag: none may match.
  FlowFilter neither = Filter({{Field::kPort, "8080", true}, {Field::kPort, "443", true}});
  EXPECT_FALSE(neither.Matches(kToApi));
  EXPECT_FALSE(neither.Matches(kToWorld));
  // Different flags, one negated: shop's flows, but not those to world.
  FlowFilter mixed = Filter({{Field::kNamespace, "shop", false}, {Field::kTo, "world", true}});
  EXPECT_TRUE(mixed.Matches(kToApi));
  EXPECT_FALSE(mixed.Matches(kToWorld));
  // The same flag plain and negated: the plain ones OR, then none of the
  // negated ones may match (either end's port here).
  FlowFilter same = Filter({{Field::kPort, "40000", false}, {Field::kPort, "443", true}});
  EXPECT_TRUE(same.Matches(kToApi)) << "port 40000, not 443";
  EXPECT_FALSE(same.Matches(kToWorld)) << "port 40000, but also 443";
}

TEST(FlowFilterTest, TimesAreDurationsBeforeNowOrRfc3339) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'100);
  EXPECT_EQ(*ParseFlowTime("5m", now), now - absl::Minutes(5));
  EXPECT_EQ(*ParseFlowTime("1h30m", now), now - absl::Minutes(90));
  EXPECT_EQ(*ParseFlowTime("2027-01-15T08:00:00Z", now), absl::FromUnixSeconds(1'800'000'000));
  EXPECT_THAT(std::string(ParseFlowTime("yesterday", now).status().message()),
              HasSubstr("a duration before now"));
  EXPECT_FALSE(ParseFlowTime("-5m", now).ok());
  FlowFilter window;
  window.SetSince(absl::FromUnixSeconds(1'800'000'000));
  window.SetUntil(absl::FromUnixSeconds(1'800'000'001));
  EXPECT_TRUE(window.Matches(kToApi));
  window.SetUntil(absl::FromUnixSeconds(1'800'000'000));
  EXPECT_FALSE(window.Matches(kToApi)) << "until is exclusive";
}

TEST(FlowFilterTest, BadValuesAreClearErrors) {
  FlowFilter filter;
  EXPECT_THAT(std::string(filter.Add(Field::kIp, "10.0.0.0/33", false).message()),
              HasSubstr("a prefix length from 0 to 32"));
  EXPECT_THAT(std::string(filter.Add(Field::kIp, "example.com", false).message()),
              HasSubstr("an address or CIDR"));
  EXPECT_THAT(std::string(filter.Add(Field::kPort, "http", false).message()),
              HasSubstr("a port from 0 to 65535"));
  EXPECT_THAT(std::string(filter.Add(Field::kVerdict, "verdict_unspecified", false).message()),
              HasSubstr("forwarded, dropped or audit"));
  EXPECT_THAT(std::string(filter.Add(Field::kReason, "reason_unspecified", false).message()),
              HasSubstr("policy, guardrail"));
  EXPECT_THAT(std::string(filter.Add(Field::kProtocol, "ipx", false).message()),
              HasSubstr("not a protocol"));
  EXPECT_THAT(std::string(filter.Add(Field::kLabel, "=x", false).message()),
              HasSubstr("key=value"));
  EXPECT_TRUE(filter.empty()) << "nothing bad was added";
}

TEST(FlowFilterTest, SavedFlowsReadBackLineByLine) {
  std::istringstream saved(
      "{\"verdict\":\"DROPPED\",\"destination\":{\"port\":443}}\n\n"
      "{\"verdict\":\"FORWARDED\"}\n");
  auto flows = ReadFlowsJson(saved, "saved.json");
  ASSERT_TRUE(flows.ok()) << flows.status();
  ASSERT_EQ(flows->size(), 2u);
  EXPECT_EQ((*flows)[0].destination().port(), 443u);
  std::istringstream bad("{\"verdict\":\"DROPPED\"}\nworkloads:\n");
  EXPECT_THAT(std::string(ReadFlowsJson(bad, "saved.json").status().message()),
              HasSubstr("saved.json:2: not a flow"));
}

}  // namespace
}  // namespace bulkhead
