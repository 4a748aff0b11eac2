#include "api/enum_names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace bulkhead {

std::string ModeName(bulkhead::v1::Mode mode) {
  switch (mode) {
    case bulkhead::v1::MODE_UNSPECIFIED:
      return "unmanaged";
    case bulkhead::v1::LEARN:
      return "learn";
    case bulkhead::v1::MONITOR:
      return "monitor";
    case bulkhead::v1::ENFORCE:
      return "enforce";
    default:
      return absl::StrCat("mode-", static_cast<int>(mode));
  }
}

absl::StatusOr<bulkhead::v1::Mode> ModeFromName(absl::string_view name) {
  if (name == "learn") return bulkhead::v1::LEARN;
  if (name == "monitor") return bulkhead::v1::MONITOR;
  if (name == "enforce") return bulkhead::v1::ENFORCE;
  return absl::InvalidArgumentError(absl::StrCat("unknown mode \"", absl::CHexEscape(name),
                                                 "\" (expected learn, monitor or enforce)"));
}

std::string ProtocolName(bulkhead::v1::Protocol protocol) {
  switch (protocol) {
    case bulkhead::v1::TCP:
      return "tcp";
    case bulkhead::v1::UDP:
      return "udp";
    case bulkhead::v1::ICMP:
      return "icmp";
    case bulkhead::v1::ICMPV6:
      return "icmpv6";
    case bulkhead::v1::SCTP:
      return "sctp";
    default:
      return absl::StrCat(static_cast<int>(protocol));
  }
}

absl::StatusOr<bulkhead::v1::Protocol> ProtocolFromName(absl::string_view name) {
  static constexpr bulkhead::v1::Protocol kProtocols[] = {bulkhead::v1::TCP, bulkhead::v1::UDP,
                                                          bulkhead::v1::SCTP, bulkhead::v1::ICMP,
                                                          bulkhead::v1::ICMPV6};
  std::string lower = absl::AsciiStrToLower(name);
  for (bulkhead::v1::Protocol protocol : kProtocols)
    if (lower == ProtocolName(protocol)) return protocol;
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", absl::CHexEscape(name), "\" is not a protocol (tcp, udp, sctp, icmp, icmpv6)"));
}

}  // namespace bulkhead
