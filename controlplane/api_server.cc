#include "controlplane/api_server.h"

#include <sys/stat.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "controlplane/framing.h"
#include "controlplane/log.h"

namespace bulkhead {

namespace asio = boost::asio;
using asio::local::stream_protocol;

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Create(asio::io_context& io,
                                                             std::string socket_path,
                                                             Handler handler) {
  std::error_code fs_error;
  std::filesystem::path path(socket_path);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), fs_error);
  if (fs_error)
    return absl::FailedPreconditionError(
        absl::StrCat("create directory for API socket ", socket_path, ": ", fs_error.message()));

  // A socket file nobody answers on is left over from a crash: replace it.
  if (std::filesystem::exists(path, fs_error)) {
    stream_protocol::socket probe(io);
    boost::system::error_code ec;
    probe.connect(stream_protocol::endpoint(socket_path), ec);
    if (!ec)
      return absl::AlreadyExistsError(
          absl::StrCat("API socket ", socket_path, " is in use: is another bulkheadd running?"));
    std::filesystem::remove(path, fs_error);
  }

  std::unique_ptr<ApiServer> server(new ApiServer(io, std::move(socket_path), std::move(handler)));
  boost::system::error_code ec;
  server->acceptor_.open(stream_protocol(), ec);
  if (!ec) server->acceptor_.bind(stream_protocol::endpoint(server->socket_path_), ec);
  if (!ec) chmod(server->socket_path_.c_str(), 0600);
  if (!ec) server->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("listen on API socket ", server->socket_path_, ": ", ec.message()));
  return server;
}

ApiServer::ApiServer(asio::io_context& io, std::string socket_path, Handler handler)
    : io_(io), acceptor_(io), socket_path_(std::move(socket_path)), handler_(std::move(handler)) {}

ApiServer::~ApiServer() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  std::error_code fs_ignored;
  std::filesystem::remove(socket_path_, fs_ignored);
}

void ApiServer::Start() { asio::co_spawn(io_, AcceptLoop(), asio::detached); }

asio::awaitable<void> ApiServer::AcceptLoop() {
  while (acceptor_.is_open()) {
    boost::system::error_code ec;
    auto socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      LogWarning(absl::StrCat("API accept: ", ec.message()));
      continue;
    }
    asio::co_spawn(io_, Serve(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> ApiServer::Serve(stream_protocol::socket socket) {
  try {
    for (;;) {
      LengthPrefixDecoder prefix;
      std::optional<std::uint32_t> length;
      while (!length) {
        std::uint8_t byte;
        co_await asio::async_read(socket, asio::buffer(&byte, 1), asio::use_awaitable);
        length = prefix.Feed(byte);
        if (prefix.error()) co_return;
      }
      bulkhead::v1::Response response;
      if (*length > kMaxApiMessageBytes) {
        response.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kInvalidArgument));
        response.mutable_error()->set_message(
            absl::StrCat("request of ", *length, " bytes is over the limit"));
        co_await asio::async_write(socket, asio::buffer(EncodeDelimited(response)),
                                   asio::use_awaitable);
        co_return;
      }
      std::string body(*length, '\0');
      co_await asio::async_read(socket, asio::buffer(body), asio::use_awaitable);
      bulkhead::v1::Request request;
      if (!request.ParseFromString(body)) {
        response.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kInvalidArgument));
        response.mutable_error()->set_message("request is not a bulkhead.v1.Request");
      } else {
        response = handler_(request);
      }
      co_await asio::async_write(socket, asio::buffer(EncodeDelimited(response)),
                                 asio::use_awaitable);
    }
  } catch (const boost::system::system_error& e) {
    // The client went away (EOF, reset): nothing to answer.
  }
}

}  // namespace bulkhead
