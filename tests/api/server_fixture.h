// A real ApiServer on a real unix socket in a fresh temporary directory, its
// io_context on its own thread, and raw clients that misbehave on purpose.
// The directory (socket included) is removed at the end, pass or fail.
#pragma once

#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "api/framing.h"
#include "controlplane/api_server.h"
#include "datapath/unique_fd.h"
#include "gtest/gtest.h"
#include "proto/api.pb.h"

namespace bulkhead::testing {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A field of /proc/self/status in KiB (VmRSS, VmHWM).
inline std::size_t ProcStatusKiB(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field + ":", 0) == 0) return std::stoul(line.substr(field.size() + 1));
  ADD_FAILURE() << field << " not in /proc/self/status";
  return 0;
}

// Makes VmHWM the current RSS, so it then shows the peak of what follows.
inline void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// Polls `done` every 10 ms until it holds or `timeout` passes.
template <typename Predicate>
bool WaitFor(Predicate done, milliseconds timeout) {
  auto until = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

inline std::string RequestBytes(const bulkhead::v1::Request& request) {
  return EncodeDelimited(request);
}
inline bulkhead::v1::Request StatusRequest() {
  bulkhead::v1::Request request;
  request.mutable_status();
  return request;
}
inline bulkhead::v1::Request FlowsRequest() {
  bulkhead::v1::Request request;
  request.mutable_flows();
  return request;
}

// One client connection driven by hand: it sends what the test says, reads
// only when told, and is closed on destruction.
class RawClient {
 public:
  explicit RawClient(const std::string& path) {
    fd_ = UniqueFd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{.sun_family = AF_UNIX};
    path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    if (connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) fd_.reset();
  }
  bool connected() const { return fd_.valid(); }
  void Close() { fd_.reset(); }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(n);
    }
    return true;
  }

  // Reads what arrives within `timeout`; stops early at EOF (then eof()).
  std::string ReadFor(milliseconds timeout, std::size_t enough = SIZE_MAX) {
    std::string out;
    auto until = Clock::now() + timeout;
    while (out.size() < enough) {
      auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{.fd = fd_.get(), .events = POLLIN};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char buffer[65536];
      ssize_t n = recv(fd_.get(), buffer, sizeof(buffer), 0);
      if (n <= 0) {
        eof_ = true;
        break;
      }
      out.append(buffer, n);
    }
    return out;
  }
  bool eof() const { return eof_; }

  // The next whole response within `timeout`, if one comes.
  std::optional<bulkhead::v1::Response> ReadResponse(milliseconds timeout) {
    auto until = Clock::now() + timeout;
    for (;;) {
      auto header = ParseFrameHeader(pending_, kMaxApiResponseBytes);
      if (header.ok() && *header &&
          pending_.size() >= (*header)->prefix_bytes + (*header)->body_bytes) {
        bulkhead::v1::Response response;
        bool ok = response.ParseFromArray(pending_.data() + (*header)->prefix_bytes,
                                          static_cast<int>((*header)->body_bytes));
        pending_.erase(0, (*header)->prefix_bytes + (*header)->body_bytes);
        if (!ok) return std::nullopt;
        return response;
      }
      auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      if (left.count() <= 0 || eof_) return std::nullopt;
      pending_ += ReadFor(std::min(left, milliseconds(50)));
    }
  }

 private:
  UniqueFd fd_;
  bool eof_ = false;
  std::string pending_;
};

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bulkhead-api-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    socket_path_ = (dir_ / "api.sock").string();
  }
  void TearDown() override {
    StopServer();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Starts a server with `handler` and `options` on its own thread.
  void StartServer(ApiServer::Handler handler, ApiServerOptions options = {}) {
    auto server = ApiServer::Create(io_, socket_path_, std::move(handler), std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    server_->Start();
    thread_ = std::thread([this] { io_.run(); });
  }
  void StopServer() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();  // the io_context is not running: allowed
  }

  std::filesystem::path dir_;
  std::string socket_path_;
  boost::asio::io_context io_;
  std::unique_ptr<ApiServer> server_;
  std::thread thread_;
};

// Answers status with a small response, anything else with a small empty one.
inline bulkhead::v1::Response SmallAnswer(const bulkhead::v1::Request&) {
  bulkhead::v1::Response response;
  response.mutable_status()->set_version("test");
  return response;
}

}  // namespace bulkhead::testing
