#include "controlplane/api_server.h"

#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <filesystem>
#include <set>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "api/request_check.h"
#include "controlplane/log.h"
#include "datapath/status.h"
#include "google/protobuf/io/coded_stream.h"

namespace bulkhead {

namespace asio = boost::asio;
using asio::local::stream_protocol;
using Clock = std::chrono::steady_clock;

namespace {

bulkhead::v1::Response ErrorResponse(const absl::Status& status) {
  bulkhead::v1::Response response;
  response.mutable_error()->set_code(static_cast<int>(status.code()));
  response.mutable_error()->set_message(std::string(status.message()));
  return response;
}

// An encoded answer. A large one gets a mapping of its own, so its memory
// goes back to the system as soon as it is sent or dropped: from the heap,
// glibc keeps freed blocks that sit between live ones, and 400 unread 2 MiB
// answers left 1.5 GB behind after their clients had gone.
class ReplyBytes {
 public:
  static constexpr std::size_t kMappedFromBytes = 128 << 10;

  ReplyBytes() = default;
  explicit ReplyBytes(const google::protobuf::MessageLite& message) {
    std::size_t body = message.ByteSizeLong();
    std::size_t prefix =
        google::protobuf::io::CodedOutputStream::VarintSize32(static_cast<std::uint32_t>(body));
    size_ = prefix + body;
    if (size_ >= kMappedFromBytes) {
      void* mapped =
          mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (mapped != MAP_FAILED) {
        mapped_ = static_cast<std::uint8_t*>(mapped);
        std::uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
            static_cast<std::uint32_t>(body), mapped_);
        message.SerializeWithCachedSizesToArray(end);
        return;
      }
    }
    small_ = EncodeDelimited(message);
  }
  ReplyBytes(ReplyBytes&& other) noexcept
      : small_(std::move(other.small_)),
        mapped_(std::exchange(other.mapped_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  ReplyBytes& operator=(ReplyBytes&& other) noexcept {
    if (this != &other) {
      Release();
      small_ = std::move(other.small_);
      mapped_ = std::exchange(other.mapped_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ~ReplyBytes() { Release(); }

  std::size_t size() const { return size_; }
  asio::const_buffer buffer() const {
    return mapped_ ? asio::const_buffer(mapped_, size_) : asio::const_buffer(small_.data(), size_);
  }

 private:
  void Release() {
    if (mapped_) munmap(mapped_, size_);
    mapped_ = nullptr;
  }

  std::string small_;
  std::uint8_t* mapped_ = nullptr;
  std::size_t size_ = 0;
};

// A warning that can repeat fast (a failing accept, a flood of refused
// connections): written at most once per interval, with the count of those
// held back since the last line.
class RepeatedWarning {
 public:
  explicit RepeatedWarning(std::chrono::milliseconds interval) : interval_(interval) {}

  // True if a line was written.
  bool Report(absl::string_view message) {
    Clock::time_point now = Clock::now();
    if (written_ && now - last_ < interval_) {
      ++held_back_;
      return false;
    }
    if (held_back_ > 0)
      LogWarning(absl::StrCat(message, " (and ", held_back_, " more since the last such line)"));
    else
      LogWarning(message);
    written_ = true;
    last_ = now;
    held_back_ = 0;
    return true;
  }

 private:
  std::chrono::milliseconds interval_;
  bool written_ = false;
  Clock::time_point last_;
  std::uint64_t held_back_ = 0;
};

struct Counters {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::uint64_t> accept_errors{0};
  std::atomic<std::uint64_t> warnings_logged{0};
  std::atomic<std::uint64_t> idle_timeouts{0};
  std::atomic<std::uint64_t> write_timeouts{0};
  std::atomic<std::uint64_t> requests_too_large{0};
  std::atomic<std::uint64_t> replies_refused{0};
  std::atomic<std::uint64_t> open_connections{0};
  std::atomic<std::uint64_t> pending_reply_bytes{0};
};

struct Connection {
  explicit Connection(stream_protocol::socket s)
      : socket(std::move(s)), deadline(socket.get_executor()) {}

  stream_protocol::socket socket;
  asio::steady_timer deadline;  // the watchdog closes the socket when it passes
  bool writing = false;         // which deadline: write_timeout, else idle_timeout
};

const char* FileKind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a socket";
}

// Makes room for the socket: nothing there, or a socket nobody answers on
// (left by a crash), which is removed. Anything else is left alone.
absl::Status ClearSocketPath(asio::io_context& io, const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError(errno, absl::StrCat("API socket ", path, ": stat"));
  }
  if (!S_ISSOCK(st.st_mode))
    return absl::FailedPreconditionError(
        absl::StrCat("API socket ", path, ": the path is ", FileKind(st.st_mode),
                     ", not a socket; refusing to replace it (remove it, or pick another path "
                     "with --socket)"));
  stream_protocol::socket probe(io);
  boost::system::error_code ec;
  probe.open(stream_protocol(), ec);
  if (!ec) probe.non_blocking(true, ec);
  if (!ec) probe.connect(stream_protocol::endpoint(path), ec);
  // Connected, or a full backlog: someone listens.
  if (!ec || ec == asio::error::would_block || ec == asio::error::try_again)
    return absl::AlreadyExistsError(
        absl::StrCat("API socket ", path, " is in use: is another bulkheadd running?"));
  if (ec == asio::error::connection_refused) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      return ErrnoError(errno, absl::StrCat("remove stale API socket ", path));
    LogInfo(absl::StrCat("replaced stale API socket ", path, " (nobody answered on it)"));
    return absl::OkStatus();
  }
  return absl::UnavailableError(
      absl::StrCat("API socket ", path, ": is it live or stale? connect: ", ec.message()));
}

}  // namespace

struct ApiServer::State {
  State(asio::io_context& io, Handler h, ApiServerOptions o)
      : acceptor(io),
        backoff(io),
        handler(std::move(h)),
        options(std::move(o)),
        accept_warning(options.log_interval),
        refusal_warning(options.log_interval),
        budget_warning(options.log_interval) {}

  void Warn(RepeatedWarning& warning, absl::string_view message) {
    if (warning.Report(message)) ++counters.warnings_logged;
  }

  stream_protocol::acceptor acceptor;
  asio::steady_timer backoff;  // between failed accepts
  Handler handler;             // cleared when the server goes
  const ApiServerOptions options;
  bool stopped = false;

  // On the io thread only.
  std::set<Connection*> connections;
  Connection* large_request_reader = nullptr;  // the one reading past max_request_bytes
  std::set<asio::steady_timer*> flow_waiters;  // follows waiting for a new flow
  std::size_t pending_reply_bytes = 0;
  RepeatedWarning accept_warning, refusal_warning, budget_warning;

  Counters counters;  // also read by stats(), from any thread
};

namespace {

using State = ApiServer::State;

// Counts an answer's bytes against the budget while it is being sent.
class PendingReply {
 public:
  PendingReply(State& state, std::size_t bytes) : state_(state), bytes_(bytes) {
    state_.pending_reply_bytes += bytes_;
    state_.counters.pending_reply_bytes = state_.pending_reply_bytes;
  }
  ~PendingReply() {
    state_.pending_reply_bytes -= bytes_;
    state_.counters.pending_reply_bytes = state_.pending_reply_bytes;
  }
  PendingReply(const PendingReply&) = delete;
  PendingReply& operator=(const PendingReply&) = delete;

 private:
  State& state_;
  std::size_t bytes_;
};

// The encoded answer to one request body. The Response is gone on return;
// only its bytes are held while they are sent. `wait`, if given, is set
// when the answer should wait for news instead: a follow (flows after a
// cursor, with wait_ms) that found no newer flow.
ReplyBytes Answer(State& state, absl::string_view body, std::chrono::milliseconds* wait = nullptr) {
  ReplyBytes reply;
  {
    bulkhead::v1::Request request;
    bulkhead::v1::Response response;
    absl::Status valid = request.ParseFromArray(body.data(), static_cast<int>(body.size()))
                             ? absl::OkStatus()
                             : absl::InvalidArgumentError("request is not a bulkhead.v1.Request");
    if (valid.ok() && body.size() > state.options.max_request_bytes &&
        request.kind_case() != bulkhead::v1::Request::kApplyPolicy)
      valid = absl::ResourceExhaustedError(
          absl::StrCat("request: ", body.size(), " bytes, over the limit of ",
                       state.options.max_request_bytes, " (only a policy file may be larger)"));
    if (valid.ok()) valid = CheckRequest(request);
    response = valid.ok() ? state.handler(request) : ErrorResponse(valid);
    if (wait && request.has_flows() && request.flows().has_after() &&
        request.flows().wait_ms() > 0 && response.has_flows() && response.flows().flows().empty())
      *wait = std::chrono::milliseconds(request.flows().wait_ms());
    reply = ReplyBytes(response);
  }
  const ApiServerOptions& options = state.options;
  if (reply.size() > options.small_reply_bytes &&
      state.pending_reply_bytes + reply.size() > options.max_pending_reply_bytes) {
    ++state.counters.replies_refused;
    std::string message = absl::StrCat(
        "answer of ", reply.size(), " bytes refused: answers not yet read by clients hold ",
        state.pending_reply_bytes, " bytes, the limit is ", options.max_pending_reply_bytes,
        " (try again, or ask for less)");
    state.Warn(state.budget_warning, absl::StrCat("API: ", message));
    reply = ReplyBytes(ErrorResponse(absl::ResourceExhaustedError(message)));
  }
  return reply;
}

asio::awaitable<void> Watchdog(std::shared_ptr<State> state, std::shared_ptr<Connection> conn) {
  while (conn->socket.is_open()) {
    boost::system::error_code ec;
    co_await conn->deadline.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (!conn->socket.is_open()) co_return;
    // A wait also ends when Serve moves the deadline: look before closing.
    if (conn->deadline.expiry() <= Clock::now()) {
      ++(conn->writing ? state->counters.write_timeouts : state->counters.idle_timeouts);
      conn->socket.close(ec);  // the pending read or write ends with operation_aborted
      co_return;
    }
  }
}

asio::awaitable<void> Serve(std::shared_ptr<State> state, std::shared_ptr<Connection> conn) {
  state->connections.insert(conn.get());
  state->counters.open_connections = state->connections.size();
  absl::Cleanup done = [&] {
    boost::system::error_code ignored;
    conn->socket.close(ignored);
    conn->deadline.cancel();
    state->connections.erase(conn.get());
    state->counters.open_connections = state->connections.size();
    if (state->large_request_reader == conn.get()) state->large_request_reader = nullptr;
  };
  const ApiServerOptions& options = state->options;
  conn->deadline.expires_after(options.idle_timeout);
  asio::co_spawn(conn->socket.get_executor(), Watchdog(state, conn), asio::detached);

  std::string received;  // bytes read and not yet answered: at most one request and a chunk
  std::array<char, 4096> chunk;
  for (;;) {
    // Read until one whole request is in, deciding on its size as soon as the
    // prefix is in, before its body is read.
    std::optional<FrameHeader> header;
    ReplyBytes reply;
    bool close_after_reply = false;  // a frame we cannot read past
    for (;;) {
      absl::StatusOr<std::optional<FrameHeader>> parsed = ParseFrameHeader(
          received, std::max(options.max_request_bytes, options.max_file_request_bytes));
      if (parsed.ok() && *parsed && (*parsed)->body_bytes > options.max_request_bytes) {
        if (state->large_request_reader != nullptr && state->large_request_reader != conn.get())
          parsed = absl::UnavailableError(absl::StrCat(
              (*parsed)->body_bytes, " bytes, over ", options.max_request_bytes,
              ", while another large request (a policy file) is being read; try again"));
        else
          state->large_request_reader = conn.get();
      }
      if (!parsed.ok()) {
        if (parsed.status().code() == absl::StatusCode::kResourceExhausted)
          ++state->counters.requests_too_large;
        reply = ReplyBytes(ErrorResponse(absl::Status(
            parsed.status().code(),
            absl::StrCat("request: ", parsed.status().message(),
                         parsed.status().code() == absl::StatusCode::kResourceExhausted &&
                                 options.max_file_request_bytes > options.max_request_bytes
                             ? absl::StrCat(" (a policy file to apply; any other request: ",
                                            options.max_request_bytes, " bytes)")
                             : ""))));
        close_after_reply = true;
        break;
      }
      header = *parsed;
      if (header && received.size() >= header->prefix_bytes + header->body_bytes) break;
      boost::system::error_code ec;
      std::size_t n = co_await conn->socket.async_read_some(
          asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
      if (ec || state->stopped) co_return;  // EOF, reset, or the watchdog's close
      received.append(chunk.data(), n);
    }
    if (!close_after_reply) {
      if (state->stopped || !state->handler) co_return;
      std::size_t frame_bytes = header->prefix_bytes + header->body_bytes;
      const absl::string_view body =
          absl::string_view(received).substr(header->prefix_bytes, header->body_bytes);
      std::chrono::milliseconds wait{0};
      reply = Answer(*state, body, &wait);
      if (wait.count() > 0) {
        // A follow with nothing new: answer when a flow arrives (NotifyFlows
        // cancels the wait) or when the wait is over, whichever is first.
        asio::steady_timer waiter(conn->socket.get_executor());
        waiter.expires_after(wait);
        conn->deadline.expires_after(wait + options.idle_timeout);
        state->flow_waiters.insert(&waiter);
        boost::system::error_code ec;
        co_await waiter.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        state->flow_waiters.erase(&waiter);
        if (state->stopped || !state->handler) co_return;
        reply = Answer(*state, body);
      }
      received.erase(0, frame_bytes);
      if (received.empty()) std::string().swap(received);
      if (state->large_request_reader == conn.get()) state->large_request_reader = nullptr;
    }

    PendingReply pending(*state, reply.size());
    conn->writing = true;
    conn->deadline.expires_after(options.write_timeout);
    boost::system::error_code ec;
    co_await asio::async_write(conn->socket, reply.buffer(),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec || state->stopped || close_after_reply) co_return;
    conn->writing = false;
    conn->deadline.expires_after(options.idle_timeout);
  }
}

// Over the connection limit: say so and close. The answer fits in a fresh
// socket's buffer; the client reads it even if it had written its request,
// and even if its write came after the close (ApiClient reads after EPIPE).
void Refuse(State& state, stream_protocol::socket socket) {
  ++state.counters.connections_refused;
  std::string message =
      absl::StrCat("too many API connections (", state.connections.size(), " open, the limit is ",
                   state.options.max_connections, "); try again");
  state.Warn(state.refusal_warning, absl::StrCat("API: refused a connection: ", message));
  std::string reply = EncodeDelimited(ErrorResponse(absl::ResourceExhaustedError(message)));
  boost::system::error_code ignored;
  socket.non_blocking(true, ignored);
  socket.write_some(asio::buffer(reply), ignored);
  socket.close(ignored);
}

asio::awaitable<void> AcceptLoop(std::shared_ptr<State> state) {
  const ApiServerOptions& options = state->options;
  std::chrono::milliseconds backoff = options.accept_backoff_min;
  for (;;) {
    boost::system::error_code ec;
    stream_protocol::socket socket =
        co_await state->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (state->stopped || ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors (EMFILE, ENFILE) or buffers: the connection stays
      // in the backlog and the next accept would fail at once. Wait instead.
      ++state->counters.accept_errors;
      state->Warn(
          state->accept_warning,
          absl::StrCat("API socket: accept: ", ec.message(), " (retrying in ", backoff.count(),
                       " ms, then up to every ", options.accept_backoff_max.count(), " ms)"));
      state->backoff.expires_after(backoff);
      co_await state->backoff.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (state->stopped) co_return;
      backoff = std::min(backoff * 2, options.accept_backoff_max);
      continue;
    }
    backoff = options.accept_backoff_min;
    ++state->counters.connections_accepted;
    if (state->connections.size() >= options.max_connections) {
      Refuse(*state, std::move(socket));
      continue;
    }
    auto conn = std::make_shared<Connection>(std::move(socket));
    asio::co_spawn(state->acceptor.get_executor(), Serve(state, std::move(conn)), asio::detached);
  }
}

}  // namespace

absl::StatusOr<gid_t> LookupGroup(const std::string& name) {
  std::vector<char> buffer(1024);
  for (;;) {
    struct group entry;
    struct group* found = nullptr;
    int err = getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (err == ERANGE && buffer.size() < (1u << 20)) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    if (err != 0) return ErrnoError(err, absl::StrCat("look up group \"", name, "\""));
    if (found == nullptr)
      return absl::NotFoundError(absl::StrCat("no group \"", name, "\" on this node"));
    return found->gr_gid;
  }
}

absl::StatusOr<std::unique_ptr<ApiServer>> ApiServer::Create(asio::io_context& io,
                                                             std::string socket_path,
                                                             Handler handler,
                                                             ApiServerOptions options) {
  std::optional<gid_t> gid;
  if (!options.socket_group.empty()) {
    absl::StatusOr<gid_t> found = LookupGroup(options.socket_group);
    if (!found.ok())
      return absl::Status(
          found.status().code(),
          absl::StrCat("API socket ", socket_path, ": --socket-group: ", found.status().message()));
    gid = *found;
  }

  std::error_code fs_error;
  std::filesystem::path path(socket_path);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), fs_error);
  if (fs_error)
    return absl::FailedPreconditionError(
        absl::StrCat("create directory for API socket ", socket_path, ": ", fs_error.message()));
  BH_RETURN_IF_ERROR(ClearSocketPath(io, socket_path));

  auto state = std::make_shared<State>(io, std::move(handler), std::move(options));
  boost::system::error_code ec;
  state->acceptor.open(stream_protocol(), ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("API socket ", socket_path, ": socket: ", ec.message()));
  // bind() creates the file with 0777 & ~umask: never, even for an instant,
  // more open than it is meant to be. The umask is the process's: other
  // threads creating files meanwhile get theirs no more open either.
  mode_t old_umask = umask(gid ? 0117 : 0177);
  state->acceptor.bind(stream_protocol::endpoint(socket_path), ec);
  umask(old_umask);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("API socket ", socket_path, ": bind: ", ec.message()));
  std::unique_ptr<ApiServer> server(new ApiServer(state, std::move(socket_path)));
  const std::string& bound = server->socket_path_;
  struct stat st;
  if (lstat(bound.c_str(), &st) != 0)
    return ErrnoError(errno, absl::StrCat("API socket ", bound, ": stat after bind"));
  server->socket_inode_ = st.st_ino;
  if (gid && lchown(bound.c_str(), static_cast<uid_t>(-1), *gid) != 0)
    return ErrnoError(errno, absl::StrCat("API socket ", bound, ": give it group \"",
                                          state->options.socket_group, "\" (", *gid, ")"));
  state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError(absl::StrCat("API socket ", bound, ": listen: ", ec.message()));
  return server;
}

ApiServer::ApiServer(std::shared_ptr<State> state, std::string socket_path)
    : state_(std::move(state)), socket_path_(std::move(socket_path)) {}

ApiServer::~ApiServer() {
  state_->stopped = true;
  state_->handler = nullptr;
  boost::system::error_code ignored;
  state_->acceptor.close(ignored);
  state_->backoff.cancel();
  for (asio::steady_timer* waiter : state_->flow_waiters) waiter->cancel();
  for (Connection* conn : state_->connections) {
    conn->socket.close(ignored);
    conn->deadline.cancel();
  }
  // Only the file this server bound: never one a later process put there.
  struct stat st;
  if (lstat(socket_path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_ino == socket_inode_)
    unlink(socket_path_.c_str());
}

void ApiServer::NotifyFlows() {
  for (asio::steady_timer* waiter : state_->flow_waiters) waiter->cancel();
}

void ApiServer::Start() {
  asio::co_spawn(state_->acceptor.get_executor(), AcceptLoop(state_), asio::detached);
}

ApiServerStats ApiServer::stats() const {
  const Counters& c = state_->counters;
  return ApiServerStats{
      .connections_accepted = c.connections_accepted,
      .connections_refused = c.connections_refused,
      .accept_errors = c.accept_errors,
      .warnings_logged = c.warnings_logged,
      .idle_timeouts = c.idle_timeouts,
      .write_timeouts = c.write_timeouts,
      .requests_too_large = c.requests_too_large,
      .replies_refused = c.replies_refused,
      .open_connections = c.open_connections,
      .pending_reply_bytes = c.pending_reply_bytes,
  };
}

}  // namespace bulkhead
