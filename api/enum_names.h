// The names people and files use for the API's enums, one place for the CLI
// and the agent: `bulkhead mode set ... enforce`, the MODE column, the
// protocol in an exported policy.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/flow.pb.h"

namespace bulkhead {

// "learn", "monitor", "enforce"; "unmanaged" for MODE_UNSPECIFIED (a
// workload the agent does not manage); "mode-N" for a number this build does
// not know.
std::string ModeName(bulkhead::v1::Mode mode);
// The inverse for the three modes a person can set; an error that lists them.
absl::StatusOr<bulkhead::v1::Mode> ModeFromName(absl::string_view name);

// "tcp", "udp", "icmp", "icmpv6", "sctp"; the IP protocol number otherwise.
std::string ProtocolName(bulkhead::v1::Protocol protocol);
// The inverse for the five protocols segments name, in any case ("tcp",
// "TCP"); an error that lists them.
absl::StatusOr<bulkhead::v1::Protocol> ProtocolFromName(absl::string_view name);

}  // namespace bulkhead
