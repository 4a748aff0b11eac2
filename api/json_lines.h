// The one JSON form of API messages that people and tools read: protobuf's
// JSON mapping, field names as in the .proto files, every field printed
// (zeros and empty strings too), one line. `bulkhead flows -o json`, the
// agent's flow log and `--input` all use it.
#pragma once

#include <string>

#include "google/protobuf/message.h"

namespace bulkhead {

// One line, no trailing newline.
std::string ToJsonLine(const google::protobuf::Message& message);

}  // namespace bulkhead
