// The agent's state file, <state-dir>/state.pb: learned segments, the modes
// set through the API, and the identity numbers the pinned maps use. Written
// atomically and durably after every change; read once at start.
//
// A state file is checked as strictly as the inventory: a file that does not
// parse, or holds an impossible value (a mode out of range, a port above
// 65535, a name with a control character, an identity number given twice),
// is refused whole with the field named, and the agent does not start: the
// kernel keeps enforcing the last good state, which a corrupt file must
// never widen or narrow.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "proto/policy.pb.h"

namespace bulkhead {

// The state's bytes, checked. Errors name the field.
absl::StatusOr<bulkhead::v1::AgentState> ParseAgentState(std::string_view bytes);

// nullopt when the directory has no state file yet.
absl::StatusOr<std::optional<bulkhead::v1::AgentState>> LoadAgentState(const std::string& dir);

// Creates the directory if needed; write, fsync, rename, fsync the directory.
absl::Status SaveAgentState(const std::string& dir, const bulkhead::v1::AgentState& state);

}  // namespace bulkhead
