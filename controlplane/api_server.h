// The agent's local API: a unix stream socket, one length-delimited
// bulkhead.v1.Request in, one Response out, as many per connection as the
// client sends. The socket is created mode 0600 (root only); a stale socket
// file from an earlier run is replaced, a live one is an error.
//
// The handler runs on the io_context's thread, like the rest of the agent.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
// clang-format on

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "proto/api.pb.h"

namespace bulkhead {

class ApiServer {
 public:
  using Handler = std::function<bulkhead::v1::Response(const bulkhead::v1::Request&)>;

  static absl::StatusOr<std::unique_ptr<ApiServer>> Create(boost::asio::io_context& io,
                                                           std::string socket_path,
                                                           Handler handler);
  ~ApiServer();  // stops accepting and removes the socket file
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  void Start();
  const std::string& socket_path() const { return socket_path_; }

 private:
  ApiServer(boost::asio::io_context& io, std::string socket_path, Handler handler);
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> Serve(boost::asio::local::stream_protocol::socket socket);

  boost::asio::io_context& io_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::string socket_path_;
  Handler handler_;
};

}  // namespace bulkhead
