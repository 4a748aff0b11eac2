// The API socket file: what may be replaced at its path, and who may open it.
#include <grp.h>
#include <sys/stat.h>

#include <boost/asio/local/stream_protocol.hpp>

#include "gmock/gmock.h"
#include "tests/api/server_fixture.h"
#include "tools/api_client.h"

namespace bulkhead::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

absl::Status CreateOnly(boost::asio::io_context& io, const std::string& path,
                        ApiServerOptions options = {}) {
  return ApiServer::Create(io, path, SmallAnswer, std::move(options)).status();
}

TEST_F(ApiServerTest, ARegularFileAtThePathIsRefusedAndKept) {
  std::ofstream(socket_path_) << "precious";
  absl::Status status = CreateOnly(io_, socket_path_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr(socket_path_), HasSubstr("a regular file"),
                                      HasSubstr("refusing to replace it")));
  EXPECT_EQ(ReadFile(socket_path_), "precious");
}

TEST_F(ApiServerTest, ADirectoryAtThePathIsRefusedAndKept) {
  std::filesystem::create_directory(socket_path_);
  std::ofstream(socket_path_ + "/inside") << "kept";
  absl::Status status = CreateOnly(io_, socket_path_);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(socket_path_), HasSubstr("a directory")));
  EXPECT_EQ(ReadFile(socket_path_ + "/inside"), "kept");
}

TEST_F(ApiServerTest, ASymlinkAtThePathIsRefusedAndNeitherItNorItsTargetTouched) {
  std::string target = (dir_ / "target").string();
  std::ofstream(target) << "precious";
  std::filesystem::create_symlink(target, socket_path_);
  absl::Status status = CreateOnly(io_, socket_path_);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(socket_path_), HasSubstr("a symbolic link")));
  EXPECT_TRUE(std::filesystem::is_symlink(socket_path_));
  EXPECT_EQ(ReadFile(target), "precious");
}

TEST_F(ApiServerTest, AStaleSocketIsReplaced) {
  {  // a socket file left by a crashed agent: bound, nobody listening
    boost::asio::io_context io;
    boost::asio::local::stream_protocol::acceptor stale(io);
    stale.open();
    stale.bind(socket_path_);
  }
  ASSERT_TRUE(std::filesystem::is_socket(socket_path_));
  StartServer(SmallAnswer);
  auto client = ApiClient::Connect(socket_path_);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->Call(StatusRequest()).ok());
}

TEST_F(ApiServerTest, ALiveSocketIsRefusedAndKeepsServing) {
  StartServer(SmallAnswer);
  struct stat before;
  ASSERT_EQ(lstat(socket_path_.c_str(), &before), 0);
  boost::asio::io_context other;
  absl::Status status = CreateOnly(other, socket_path_);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr("is another bulkheadd running?"));
  struct stat after;
  ASSERT_EQ(lstat(socket_path_.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino);
  auto client = ApiClient::Connect(socket_path_);
  ASSERT_TRUE(client.ok());
  EXPECT_TRUE((*client)->Call(StatusRequest()).ok());
}

TEST_F(ApiServerTest, TheSocketIsRootOnlyAndTheUmaskIsRestored) {
  mode_t umask_before = umask(022);
  StartServer(SmallAnswer);
  EXPECT_EQ(umask(umask_before), 022u) << "Create left its umask behind";
  struct stat st;
  ASSERT_EQ(lstat(socket_path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, geteuid());
}

TEST_F(ApiServerTest, WithASocketGroupTheGroupMayConnect) {
  if (geteuid() != 0) GTEST_SKIP() << "giving a file another group needs root";
  // A group this process is not in by default, so the change shows.
  const group* other = getgrgid(1);
  if (other == nullptr || other->gr_gid == getegid()) GTEST_SKIP() << "no group 1";
  std::string name = other->gr_name;
  ApiServerOptions options;
  options.socket_group = name;
  StartServer(SmallAnswer, options);
  struct stat st;
  ASSERT_EQ(lstat(socket_path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  EXPECT_EQ(st.st_gid, other->gr_gid) << name;
}

TEST_F(ApiServerTest, AnUnknownGroupIsAClearErrorAndNoSocket) {
  ApiServerOptions options;
  options.socket_group = "no-such-group-for-bulkhead";
  absl::Status status = CreateOnly(io_, socket_path_, options);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("no group \"no-such-group-for-bulkhead\""), HasSubstr(socket_path_)));
  EXPECT_FALSE(std::filesystem::exists(socket_path_));
}

TEST_F(ApiServerTest, StoppingRemovesOnlyItsOwnSocketFile) {
  StartServer(SmallAnswer);
  StopServer();
  EXPECT_FALSE(std::filesystem::exists(socket_path_));

  boost::asio::io_context io;
  auto server = ApiServer::Create(io, socket_path_, SmallAnswer);
  ASSERT_TRUE(server.ok());
  // Someone replaced the file meanwhile: it is theirs.
  std::filesystem::remove(socket_path_);
  std::ofstream(socket_path_) << "someone else's";
  server->reset();
  EXPECT_EQ(ReadFile(socket_path_), "someone else's");
}

}  // namespace
}  // namespace bulkhead::testing
