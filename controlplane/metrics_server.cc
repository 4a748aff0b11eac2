#include "controlplane/metrics_server.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <list>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "controlplane/log.h"

namespace bulkhead {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kMaxConnections = 16;
constexpr std::size_t kMaxRequestBytes = 8 << 10;
constexpr std::chrono::seconds kTimeout{10};   // to send a request, or take an answer
constexpr std::chrono::seconds kKeepAlive{5};  // idle between requests on one connection

// "host:port" or "[v6]:port".
absl::StatusOr<tcp::endpoint> ParseEndpoint(const std::string& text) {
  const std::size_t colon = text.rfind(':');
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", text, "\": ", why,
                     " (expected host:port, e.g. 127.0.0.1:9402 or [::1]:9402)"));
  };
  if (colon == std::string::npos || colon == 0) return bad("no port");
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::uint32_t port = 0;
  if (!absl::SimpleAtoi(text.substr(colon + 1), &port) || port > 65535) return bad("bad port");
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return bad("not an IP address");
  return tcp::endpoint(address, static_cast<std::uint16_t>(port));
}

}  // namespace

struct MetricsServer::State {
  State(asio::io_context& io, Render r) : acceptor(io), render(std::move(r)) {}
  tcp::acceptor acceptor;
  Render render;
  bool stopped = false;
  std::list<beast::tcp_stream*> connections;  // oldest first
};

namespace {

using State = MetricsServer::State;

http::response<http::string_body> Respond(State& state,
                                          const http::request<http::string_body>& request) {
  http::response<http::string_body> response;
  response.version(request.version());
  response.keep_alive(request.keep_alive());
  response.set(http::field::server, "bulkheadd");
  const beast::string_view target = request.target();
  const beast::string_view path = target.substr(0, target.find('?'));
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    response.result(http::status::method_not_allowed);
    response.set(http::field::allow, "GET, HEAD");
    response.body() = "only GET\n";
  } else if (path == "/metrics") {
    response.result(http::status::ok);
    response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.body() = state.render();
  } else if (path == "/healthz") {
    response.result(http::status::ok);
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.body() = "ok\n";
  } else {
    response.result(http::status::not_found);
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.body() = "not found: try /metrics or /healthz\n";
  }
  response.prepare_payload();
  return response;
}

asio::awaitable<void> Serve(std::shared_ptr<State> state, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  auto place = state->connections.insert(state->connections.end(), &stream);
  beast::flat_buffer buffer(kMaxRequestBytes);
  for (bool first = true;; first = false) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxRequestBytes);
    parser.header_limit(kMaxRequestBytes);
    stream.expires_after(first ? kTimeout : kKeepAlive);
    boost::system::error_code ec;
    co_await http::async_read(stream, buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec || state->stopped) break;
    http::response<http::string_body> response = Respond(*state, parser.get());
    stream.expires_after(kTimeout);
    co_await http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || state->stopped || !response.keep_alive()) break;
  }
  state->connections.erase(place);
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> AcceptLoop(std::shared_ptr<State> state) {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket =
        co_await state->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (state->stopped || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors: wait a little instead of spinning.
      asio::steady_timer pause(state->acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    // Full: the oldest connection goes, so clients that hold connections
    // open cannot keep a probe or a scrape out.
    if (state->connections.size() >= kMaxConnections)
      state->connections.front()->socket().close(ec);
    asio::co_spawn(state->acceptor.get_executor(), Serve(state, std::move(socket)), asio::detached);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Create(asio::io_context& io,
                                                                     const std::string& address,
                                                                     Render render) {
  absl::StatusOr<tcp::endpoint> endpoint = ParseEndpoint(address);
  if (!endpoint.ok()) return endpoint.status();
  auto state = std::make_shared<State>(io, std::move(render));
  boost::system::error_code ec;
  state->acceptor.open(endpoint->protocol(), ec);
  if (!ec) state->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) state->acceptor.bind(*endpoint, ec);
  if (!ec) state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("metrics address ", address, ": cannot listen: ", ec.message()));
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(state)));
}

MetricsServer::~MetricsServer() {
  state_->stopped = true;
  state_->render = nullptr;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  for (beast::tcp_stream* stream : state_->connections) stream->socket().close(ignored);
}

void MetricsServer::Start() {
  asio::co_spawn(state_->acceptor.get_executor(), AcceptLoop(state_), asio::detached);
}

std::string MetricsServer::address() const {
  boost::system::error_code ec;
  tcp::endpoint endpoint = state_->acceptor.local_endpoint(ec);
  if (ec) return "";
  const std::string host = endpoint.address().to_string();
  return absl::StrCat(endpoint.address().is_v6() ? absl::StrCat("[", host, "]") : host, ":",
                      endpoint.port());
}

}  // namespace bulkhead
