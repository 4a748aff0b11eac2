// The flow log for a SIEM: every flow as one JSON line (the fields of
// `bulkhead flows -o json`), appended to a file that is rotated by size:
// past max_bytes, FILE becomes FILE.1, FILE.1 becomes FILE.2, ..., and the
// oldest past `keep` rotated files is removed. Dropped and audited flows are
// always written; forwarded ones only if asked (they are sampled by the
// datapath's rate limit anyway).
//
// Each line is one write(2) to a file opened O_APPEND, so a crash of the
// agent loses no line it wrote and never leaves half of one. A write that
// fails (disk full) is counted, and logged the first time and every
// 10,000th; the flow is still in the agent's history. If the file cannot be
// opened again after a rotation, the agent tries once a second and rotates
// nothing meanwhile (the rotated files are kept).
//
// Not thread-safe; lives on the agent's event loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "proto/flow.pb.h"

namespace bulkhead {

struct FlowLogOptions {
  std::string path;
  std::uint64_t max_bytes = 100 << 20;  // per file, before it is rotated
  int keep = 5;                         // rotated files kept (FILE.1 .. FILE.keep)
  bool forwarded = false;               // also write forwarded flows
};

class FlowLog {
 public:
  // Opens (creating, mode 0640) or continues the file; fails naming it.
  static absl::StatusOr<std::unique_ptr<FlowLog>> Open(FlowLogOptions options);
  ~FlowLog();
  FlowLog(const FlowLog&) = delete;
  FlowLog& operator=(const FlowLog&) = delete;

  void Write(const bulkhead::v1::Flow& flow);

  std::uint64_t written() const { return written_; }  // lines
  std::uint64_t failed() const { return failed_; }    // lines not written
  std::uint64_t rotations() const { return rotations_; }

 private:
  explicit FlowLog(FlowLogOptions options) : options_(std::move(options)) {}
  absl::Status Reopen();
  absl::Status Rotate();

  FlowLogOptions options_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t written_ = 0;
  std::uint64_t failed_ = 0;
  std::uint64_t rotations_ = 0;
  absl::Time last_reopen_ = absl::InfinitePast();
};

}  // namespace bulkhead
