#include "tools/api_client.h"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "absl/strings/str_cat.h"
#include "api/framing.h"

namespace bulkhead {

namespace asio = boost::asio;

absl::StatusOr<std::unique_ptr<ApiClient>> ApiClient::Connect(const std::string& socket_path) {
  std::unique_ptr<ApiClient> client(new ApiClient(socket_path));
  boost::system::error_code ec;
  client->socket_.connect(asio::local::stream_protocol::endpoint(socket_path), ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("connect to bulkheadd at ", socket_path, ": ", ec.message(),
                     " (is the agent running? pick its socket with --socket or BULKHEAD_SOCKET)"));
  return client;
}

absl::StatusOr<bulkhead::v1::Response> ApiClient::Call(const bulkhead::v1::Request& request) {
  boost::system::error_code ec;
  asio::write(socket_, asio::buffer(EncodeDelimited(request)), ec);
  // An agent that refuses the connection (too many open) answers and closes,
  // maybe before the request is sent: its answer says why, so read it.
  boost::system::error_code send_error = ec;

  LengthPrefixDecoder prefix;
  std::optional<std::uint32_t> length;
  while (!length) {
    std::uint8_t byte;
    asio::read(socket_, asio::buffer(&byte, 1), ec);
    if (ec && send_error)
      return absl::UnavailableError(
          absl::StrCat("send to ", socket_path_, ": ", send_error.message()));
    if (ec)
      return absl::UnavailableError(absl::StrCat("read from ", socket_path_, ": ", ec.message()));
    length = prefix.Feed(byte);
    if (prefix.error() || (length && *length > kMaxApiResponseBytes))
      return absl::DataLossError(absl::StrCat("bad response frame from ", socket_path_));
  }
  std::string body(*length, '\0');
  asio::read(socket_, asio::buffer(body), ec);
  if (ec)
    return absl::UnavailableError(absl::StrCat("read from ", socket_path_, ": ", ec.message()));

  bulkhead::v1::Response response;
  if (!response.ParseFromString(body))
    return absl::DataLossError(absl::StrCat("response from ", socket_path_, " does not parse"));
  if (response.has_error())
    return absl::Status(static_cast<absl::StatusCode>(response.error().code()),
                        response.error().message());
  return response;
}

}  // namespace bulkhead
