// Reads flow events from the datapath's ring buffer on an Asio event loop.
//
// The ring buffer's epoll fd is watched by the io_context; when it becomes
// readable every pending event is handed to the callback, in order, on the
// loop's thread. Events the kernel could not queue are counted by the
// datapath (BH_STAT_EVENTS_LOST), never waited for.
//
//   BH_ASSIGN_OR_RETURN(auto reader, EventReader::Create(io, dp->events_fd(),
//       [&](const bh_flow_event& e) { learner.Observe(e); }));
//   reader->Start();
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "datapath/abi.h"

struct ring_buffer;

namespace bulkhead {

class EventReader {
 public:
  using Handler = std::function<void(const bh_flow_event&)>;

  // `second_ringbuf_fd` (optional): another ring read the same way (the
  // datapath keeps drop events in a ring of their own).
  static absl::StatusOr<std::unique_ptr<EventReader>> Create(boost::asio::io_context& io,
                                                             int ringbuf_fd, Handler handler,
                                                             int second_ringbuf_fd = -1);
  ~EventReader();
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Starts consuming asynchronously. Must be called on the loop's thread.
  void Start();
  // Consumes what is pending now, synchronously; returns the number of events.
  absl::StatusOr<int> Drain();

 private:
  EventReader(boost::asio::io_context& io, Handler handler);
  static int OnSample(void* ctx, void* data, std::size_t size);
  void Wait();

  boost::asio::posix::stream_descriptor epoll_;
  Handler handler_;
  ring_buffer* ring_ = nullptr;
};

}  // namespace bulkhead
