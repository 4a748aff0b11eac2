// Turns a kernel flow event into the Flow the API serves and the CLI prints.
#pragma once

#include <cstdint>
#include <string>

#include "controlplane/identity_table.h"
#include "datapath/abi.h"
#include "proto/flow.pb.h"

namespace bulkhead {

// Converts bpf_ktime_get_ns() (CLOCK_MONOTONIC) stamps to wall-clock time.
class MonotonicClockOffset {
 public:
  MonotonicClockOffset();  // samples both clocks now
  std::int64_t ToUnixNanos(std::uint64_t monotonic_ns) const {
    return static_cast<std::int64_t>(monotonic_ns) + offset_ns_;
  }

 private:
  std::int64_t offset_ns_;
};

// bh_verdict -> the proto's Verdict (their numbers differ).
bulkhead::v1::Verdict VerdictToProto(std::uint8_t verdict);

bulkhead::v1::Flow FlowFromEvent(const bh_flow_event& event, const IdentityTable& identities,
                                 const std::string& interface, const MonotonicClockOffset& clock);

}  // namespace bulkhead
