#include "datapath/event_reader.h"

#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstring>

#include "datapath/status.h"

namespace bulkhead {

absl::StatusOr<std::unique_ptr<EventReader>> EventReader::Create(boost::asio::io_context& io,
                                                                 int ringbuf_fd, Handler handler,
                                                                 int second_ringbuf_fd) {
  std::unique_ptr<EventReader> reader(new EventReader(io, std::move(handler)));
  reader->ring_ = ring_buffer__new(ringbuf_fd, &EventReader::OnSample, reader.get(), nullptr);
  if (!reader->ring_) return ErrnoError(errno, "open ring buffer bh_events");
  if (second_ringbuf_fd >= 0 &&
      ring_buffer__add(reader->ring_, second_ringbuf_fd, &EventReader::OnSample, reader.get()) != 0)
    return ErrnoError(errno, "open ring buffer bh_drop_events");
  // stream_descriptor closes what it holds, and the ring buffer owns its fd.
  int epoll_fd = dup(ring_buffer__epoll_fd(reader->ring_));
  if (epoll_fd < 0) return ErrnoError(errno, "dup ring buffer epoll fd");
  reader->epoll_.assign(epoll_fd);
  return reader;
}

EventReader::EventReader(boost::asio::io_context& io, Handler handler)
    : epoll_(io), handler_(std::move(handler)) {}

EventReader::~EventReader() {
  boost::system::error_code ignored;
  epoll_.close(ignored);
  ring_buffer__free(ring_);
}

int EventReader::OnSample(void* ctx, void* data, std::size_t size) {
  if (size < sizeof(bh_flow_event)) return 0;  // not ours: skip, keep reading
  bh_flow_event event;
  std::memcpy(&event, data, sizeof(event));
  static_cast<EventReader*>(ctx)->handler_(event);
  return 0;
}

void EventReader::Start() { Wait(); }

void EventReader::Wait() {
  epoll_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                    [this](const boost::system::error_code& ec) {
                      if (ec) return;  // cancelled: the reader is going away
                      (void)Drain();
                      Wait();
                    });
}

absl::StatusOr<int> EventReader::Drain() {
  int n = ring_buffer__consume(ring_);
  if (n < 0) return ErrnoError(n, "consume ring buffer bh_events");
  return n;
}

}  // namespace bulkhead
