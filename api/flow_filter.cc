#include "api/flow_filter.h"

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "api/enum_names.h"
#include "api/names.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace bulkhead {
namespace {

using bulkhead::v1::Endpoint;
using bulkhead::v1::Flow;

absl::Status Bad(absl::string_view what, absl::string_view value, absl::string_view expected) {
  return absl::InvalidArgumentError(
      absl::StrCat(what, " \"", absl::CHexEscape(value), "\": expected ", expected));
}

// An address as 16 bytes (IPv4 mapped into IPv6) and a prefix length over
// those 128 bits.
struct Prefix {
  std::array<std::uint8_t, 16> bytes{};
  int bits = 128;
};

std::optional<std::array<std::uint8_t, 16>> AddressBytes(const std::string& text) {
  std::array<std::uint8_t, 16> bytes{};
  in_addr v4;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    bytes[10] = bytes[11] = 0xff;
    std::memcpy(&bytes[12], &v4, 4);
    return bytes;
  }
  if (inet_pton(AF_INET6, text.c_str(), bytes.data()) == 1) return bytes;
  return std::nullopt;
}

absl::StatusOr<Prefix> ParseCidr(absl::string_view text) {
  std::pair<std::string, std::string> parts = absl::StrSplit(text, absl::MaxSplits('/', 1));
  std::optional<std::array<std::uint8_t, 16>> bytes = AddressBytes(parts.first);
  if (!bytes) return Bad("--ip", text, "an address or CIDR (10.244.1.0/24, fd00:244::/32)");
  const bool v4 = parts.first.find(':') == std::string::npos;
  Prefix prefix{.bytes = *bytes, .bits = 128};
  if (text.find('/') != absl::string_view::npos) {
    int length = 0;
    if (!absl::SimpleAtoi(parts.second, &length) || length < 0 || length > (v4 ? 32 : 128))
      return Bad("--ip", text,
                 v4 ? "a prefix length from 0 to 32" : "a prefix length from 0 to 128");
    prefix.bits = v4 ? 96 + length : length;
  }
  return prefix;
}

bool InPrefix(const Prefix& prefix, const std::string& address) {
  std::optional<std::array<std::uint8_t, 16>> bytes = AddressBytes(address);
  if (!bytes) return false;
  for (int bit = 0; bit < prefix.bits; ++bit) {
    const int byte = bit / 8, mask = 0x80 >> (bit % 8);
    if ((prefix.bytes[byte] & mask) != ((*bytes)[byte] & mask)) return false;
  }
  return true;
}

template <typename Enum>
absl::StatusOr<Enum> EnumByName(absl::string_view flag, absl::string_view value,
                                bool (*parse)(const std::string&, Enum*),
                                absl::string_view expected) {
  Enum out;
  if (!parse(absl::AsciiStrToUpper(value), &out)) return Bad(flag, value, expected);
  return out;
}

bool EitherEnd(const Flow& flow, const std::function<bool(const Endpoint&)>& test) {
  return test(flow.source()) || test(flow.destination());
}

}  // namespace

absl::Status FlowFilter::Add(Field field, absl::string_view value, bool negated) {
  Matcher matcher;
  const std::string v(value);
  switch (field) {
    case Field::kFrom:
      matcher = [v](const Flow& f) { return f.source().workload() == v; };
      break;
    case Field::kTo:
      matcher = [v](const Flow& f) { return f.destination().workload() == v; };
      break;
    case Field::kWorkload:
      matcher = [v](const Flow& f) {
        return EitherEnd(f, [&](const Endpoint& e) { return e.workload() == v; });
      };
      break;
    case Field::kNamespace:
      matcher = [v](const Flow& f) {
        return EitherEnd(f, [&](const Endpoint& e) { return e.namespace_() == v; });
      };
      break;
    case Field::kLabel: {
      std::pair<std::string, std::string> kv = absl::StrSplit(value, absl::MaxSplits('=', 1));
      if (kv.first.empty()) return Bad("--label", value, "key=value, or a key");
      const bool any_value = value.find('=') == absl::string_view::npos;
      matcher = [kv, any_value](const Flow& f) {
        return EitherEnd(f, [&](const Endpoint& e) {
          auto it = e.labels().find(kv.first);
          return it != e.labels().end() && (any_value || it->second == kv.second);
        });
      };
      break;
    }
    case Field::kIp: {
      absl::StatusOr<Prefix> prefix = ParseCidr(value);
      if (!prefix.ok()) return prefix.status();
      matcher = [p = *prefix](const Flow& f) {
        return EitherEnd(f, [&](const Endpoint& e) { return InPrefix(p, e.ip()); });
      };
      break;
    }
    case Field::kPort: {
      std::uint32_t port = 0;
      if (!absl::SimpleAtoi(value, &port) || port > 65535)
        return Bad("--port", value, "a port from 0 to 65535");
      matcher = [port](const Flow& f) {
        return f.source().port() == port || f.destination().port() == port ||
               (f.service_port() != 0 && f.service_port() == port);
      };
      break;
    }
    case Field::kProtocol: {
      absl::StatusOr<bulkhead::v1::Protocol> proto = ProtocolFromName(value);
      if (!proto.ok())
        return absl::InvalidArgumentError(absl::StrCat("--proto ", proto.status().message()));
      matcher = [p = *proto](const Flow& f) { return f.protocol() == p; };
      break;
    }
    case Field::kVerdict: {
      absl::StatusOr<bulkhead::v1::Verdict> verdict = EnumByName<bulkhead::v1::Verdict>(
          "--verdict", value, &bulkhead::v1::Verdict_Parse, "forwarded, dropped or audit");
      if (!verdict.ok() || *verdict == bulkhead::v1::VERDICT_UNSPECIFIED)
        return Bad("--verdict", value, "forwarded, dropped or audit");
      matcher = [want = *verdict](const Flow& f) { return f.verdict() == want; };
      break;
    }
    case Field::kReason: {
      constexpr char kReasons[] =
          "policy, guardrail, spoofed, malformed, fragment, unparseable or unbound";
      absl::StatusOr<bulkhead::v1::Reason> reason = EnumByName<bulkhead::v1::Reason>(
          "--reason", value, &bulkhead::v1::Reason_Parse, kReasons);
      if (!reason.ok() || *reason == bulkhead::v1::REASON_UNSPECIFIED)
        return Bad("--reason", value, kReasons);
      matcher = [want = *reason](const Flow& f) { return f.reason() == want; };
      break;
    }
    case Field::kSegment: {
      std::uint32_t id = 0;
      if (absl::SimpleAtoi(value, &id)) {
        matcher = [id](const Flow& f) { return f.segment_id() == id; };
      } else {
        matcher = [v](const Flow& f) { return f.segment() == v; };
      }
      break;
    }
    case Field::kNode:
      matcher = [v](const Flow& f) { return f.node() == v; };
      break;
    case Field::kService:
      matcher = [v](const Flow& f) { return f.service() == v; };
      break;
  }
  groups_[{field, negated}].push_back(std::move(matcher));
  return absl::OkStatus();
}

bool FlowFilter::Matches(const Flow& flow) const {
  if (since_ || until_) {
    const absl::Time t =
        absl::FromUnixNanos(google::protobuf::util::TimeUtil::TimestampToNanoseconds(flow.time()));
    if (since_ && t < *since_) return false;
    if (until_ && t >= *until_) return false;
  }
  for (const auto& [key, matchers] : groups_) {
    bool any = false;
    for (const Matcher& m : matchers)
      if (m(flow)) {
        any = true;
        break;
      }
    const bool negated = key.second;
    if (any == negated) return false;
  }
  return true;
}

absl::StatusOr<absl::Time> ParseFlowTime(absl::string_view text, absl::Time now) {
  absl::Duration ago;
  if (absl::ParseDuration(text, &ago) && ago >= absl::ZeroDuration()) return now - ago;
  absl::Time t;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &error)) return t;
  return Bad("time", text,
             "a duration before now (30s, 5m, 1h30m) or an RFC 3339 time "
             "(2026-12-08T01:37:24Z)");
}

absl::StatusOr<std::vector<Flow>> ReadFlowsJson(std::istream& in, const std::string& name) {
  std::vector<Flow> flows;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    Flow flow;
    google::protobuf::util::Status parsed =
        google::protobuf::util::JsonStringToMessage(line, &flow);
    if (!parsed.ok()) {
      // The parser's message quotes the line on lines of its own: keep one.
      std::string message(parsed.message());
      message = message.substr(0, message.find('\n'));
      return absl::InvalidArgumentError(
          absl::StrCat(name, ":", number, ": not a flow as `bulkhead flows -o json` writes it: ",
                       EscapeControlCharacters(message)));
    }
    flows.push_back(std::move(flow));
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(name, ": read error"));
  return flows;
}

absl::StatusOr<std::vector<Flow>> ReadFlowsFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  return ReadFlowsJson(in, path);
}

}  // namespace bulkhead
