// The agent API's transport: what the CLI sees when it talks to a server.
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "controlplane/api_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/api_client.h"

namespace bulkhead {
namespace {

using ::testing::HasSubstr;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("bulkhead-api-test." + std::to_string(getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    socket_ = (dir_ / "api.sock").string();
  }
  void TearDown() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Serve(ApiServer::Handler handler) {
    auto server = ApiServer::Create(io_, socket_, std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    server_->Start();
    thread_ = std::thread([this] { io_.run(); });
  }

  std::filesystem::path dir_;
  std::string socket_;
  boost::asio::io_context io_;
  std::unique_ptr<ApiServer> server_;
  std::thread thread_;
};

TEST_F(ApiTest, RequestsAndResponsesRoundTripOnOneConnection) {
  Serve([](const bulkhead::v1::Request& request) {
    bulkhead::v1::Response response;
    response.mutable_flows();
    for (std::uint32_t i = 0; i < request.flows().last(); ++i)
      response.mutable_flows()->add_flows()->mutable_source()->set_workload("shop/api");
    return response;
  });
  auto client = ApiClient::Connect(socket_);
  ASSERT_TRUE(client.ok()) << client.status();
  for (std::uint32_t n : {3u, 0u, 5000u}) {  // 5000 flows: a multi-byte length prefix
    bulkhead::v1::Request request;
    request.mutable_flows()->set_last(n);
    auto response = (*client)->Call(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->flows().flows_size(), static_cast<int>(n));
  }
}

TEST_F(ApiTest, AgentErrorsReachTheCallerWithCodeAndMessage) {
  Serve([](const bulkhead::v1::Request&) {
    bulkhead::v1::Response response;
    response.mutable_error()->set_code(static_cast<int>(absl::StatusCode::kNotFound));
    response.mutable_error()->set_message("no workload \"shop/x\" in the inventory");
    return response;
  });
  auto client = ApiClient::Connect(socket_);
  ASSERT_TRUE(client.ok());
  bulkhead::v1::Request request;
  request.mutable_status();
  auto response = (*client)->Call(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(response.status().message(), HasSubstr("shop/x"));
}

TEST_F(ApiTest, NoAgentIsAClearError) {
  auto client = ApiClient::Connect(socket_);
  ASSERT_FALSE(client.ok());
  EXPECT_THAT(client.status().message(), HasSubstr("is the agent running?"));
  EXPECT_THAT(client.status().message(), HasSubstr(socket_));
}

TEST_F(ApiTest, BadRequestsNeverReachTheHandler) {
  int calls = 0;
  Serve([&calls](const bulkhead::v1::Request&) {
    ++calls;
    return bulkhead::v1::Response();
  });
  auto client = ApiClient::Connect(socket_);
  ASSERT_TRUE(client.ok());
  bulkhead::v1::Request out_of_range;
  out_of_range.mutable_set_mode()->set_workload("shop/api");
  out_of_range.mutable_set_mode()->set_mode(static_cast<bulkhead::v1::Mode>(7));
  auto response = (*client)->Call(out_of_range);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(response.status().message(), HasSubstr("set_mode.mode: 7 is not one of"));
  response = (*client)->Call(bulkhead::v1::Request());  // names no operation
  EXPECT_THAT(response.status().message(), HasSubstr("names no operation"));
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace bulkhead
