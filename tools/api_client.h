// A blocking client for the agent's API socket (see controlplane/api_server.h).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "proto/api.pb.h"

namespace bulkhead {

class ApiClient {
 public:
  // Fails with a message that names the socket and says what to check.
  static absl::StatusOr<std::unique_ptr<ApiClient>> Connect(const std::string& socket_path);

  // Sends one request and waits for its response. An error the agent
  // reported comes back as a status with the agent's code and message.
  absl::StatusOr<bulkhead::v1::Response> Call(const bulkhead::v1::Request& request);

 private:
  explicit ApiClient(std::string socket_path) : socket_path_(std::move(socket_path)) {}

  std::string socket_path_;
  boost::asio::io_context io_;
  boost::asio::local::stream_protocol::socket socket_{io_};
};

}  // namespace bulkhead
