// How the CLI prints what the agent returns: aligned tables for people,
// one JSON object a line for programs (protobuf's JSON mapping, field names
// as in the .proto files).
#pragma once

#include <string>

#include "google/protobuf/message.h"
#include "proto/api.pb.h"
#include "proto/flow.pb.h"

namespace bulkhead {

std::string FlowsTable(const bulkhead::v1::FlowsResponse& flows);
std::string StatusText(const bulkhead::v1::StatusResponse& status);
// One line, no trailing newline.
std::string ToJsonLine(const google::protobuf::Message& message);

}  // namespace bulkhead
