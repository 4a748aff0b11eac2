// What the agent checks in every API request before a handler sees it, so a
// handler only ever gets well-formed values: an operation is named, enums are
// in range, names are printable and short, no field is unknown to this
// build. Errors are InvalidArgument and name the field.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "proto/api.pb.h"

namespace bulkhead {

// The longest a flows request may wait for a new flow (FlowsRequest.wait_ms).
inline constexpr std::uint32_t kMaxFlowsWaitMs = 5000;

// Longest "namespace/name" accepted (Kubernetes: 63 + 1 + 253).
inline constexpr std::size_t kMaxWorkloadNameBytes = 317;

absl::Status CheckRequest(const bulkhead::v1::Request& request);

}  // namespace bulkhead
