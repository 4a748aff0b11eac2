// The agent's HTTP endpoint: Prometheus metrics and a health check, on an
// address the operator chooses (bulkheadd --metrics-address; off by
// default). Plain HTTP/1.1 over TCP (Boost.Beast), on the agent's Asio loop:
//
//   GET /metrics   200, the Prometheus text format (version 0.0.4)
//   GET /healthz   200 "ok" while the agent's loop answers (liveness and
//                  readiness probes)
//   anything else  404 (405 for another method)
//
// Bounded like the API socket: at most 16 connections (a new one closes the
// oldest, so idle clients cannot keep the health probe out), a request of
// at most 8 KiB, 10 s to send a request or take an answer, 5 s idle between
// requests on a kept-alive connection.
//
// Not thread-safe; lives on the agent's event loop.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace bulkhead {

class MetricsServer {
 public:
  // `render`: the metrics text, made when a scrape asks for it.
  using Render = std::function<std::string()>;

  // "127.0.0.1:9402", "[::1]:9402", "0.0.0.0:9402" (port 0: any free port).
  // Fails naming the address if it does not parse or cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Create(boost::asio::io_context& io,
                                                               const std::string& address,
                                                               Render render);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  void Start();
  // "127.0.0.1:9402" as bound (the port chosen, for port 0).
  std::string address() const;

  struct State;  // shared with the connections' coroutines

 private:
  explicit MetricsServer(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace bulkhead
