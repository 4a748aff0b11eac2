// How the CLI prints what the agent returns: aligned tables for people,
// one JSON object a line for programs (protobuf's JSON mapping, field names
// as in the .proto files).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "api/json_lines.h"  // ToJsonLine
#include "google/protobuf/message.h"
#include "proto/api.pb.h"
#include "proto/flow.pb.h"

namespace bulkhead {

// Prints "bulkhead: <message>" on stderr, one line; returns 1 (the exit code).
int PrintFailure(const absl::Status& status);

std::string FlowsTable(const bulkhead::v1::FlowsResponse& flows);
// One flow on one line (no newline): time, source -> destination, protocol,
// verdict, direction, interface, node.
std::string FlowLine(const bulkhead::v1::Flow& flow);
std::string StatusText(const bulkhead::v1::StatusResponse& status);
// `bulkhead top`: the busiest segments, the most refused pairs.
std::string TopText(const bulkhead::v1::TopResponse& top);

// Writes `contents` to `path` through a temporary file beside it and a
// rename, so an existing file is replaced whole or not at all.
absl::Status WriteOutputFile(const std::string& path, absl::string_view contents);

}  // namespace bulkhead
