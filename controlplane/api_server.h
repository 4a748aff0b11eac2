// The agent's local API: a unix stream socket, one length-delimited
// bulkhead.v1.Request in (api/framing.h), one Response out, as many per
// connection as the client sends, one at a time. A follow (flows after a
// cursor, with wait_ms) that finds nothing new is answered when a flow
// arrives (NotifyFlows) or the wait (at most 5 s) is over: `bulkhead flows
// --follow` is a stream of such requests on one connection.
//
// Bounded, whatever the clients do (every limit is an ApiServerOptions field):
// - A request is read as it arrives, never allocated for its announced
//   length: one over max_request_bytes (64 KiB; requests are tiny) gets a
//   ResourceExhausted error and the connection is closed. The one exception
//   is a policy file being applied (apply_policy), up to
//   max_file_request_bytes (16 MiB and a little), and only one connection
//   at a time may be sending a request past max_request_bytes: another
//   meanwhile is told to try again.
// - At most max_connections (64) connections are open. The next one is
//   accepted, answered with a ResourceExhausted error ("too many API
//   connections") and closed, so the client learns why at once instead of
//   waiting in the listen backlog.
// - A connection that does not complete a request within idle_timeout (10 s)
//   of opening or of its last answer is closed, however slowly it trickles
//   bytes; one that does not take its answer within write_timeout (10 s) is
//   closed and the answer dropped.
// - Answers not yet taken by their clients are held to
//   max_pending_reply_bytes (32 MiB) in total. A request is not read while
//   its connection's previous answer is unsent; an answer over
//   small_reply_bytes (64 KiB) that would cross the budget is replaced by a
//   ResourceExhausted error. Small answers (status, errors) always go
//   through, so the agent stays reachable: memory held is at most
//   max_pending_reply_bytes + max_connections x small_reply_bytes (36 MiB),
//   and requests max_connections x max_request_bytes + max_file_request_bytes.
// - A failing accept (EMFILE, ENFILE, ENOBUFS...) waits before the next try,
//   accept_backoff_min (10 ms) doubling to accept_backoff_max (1 s), and is
//   logged at most once per 10 s (with the count held back); the loop never
//   spins.
// - Requests failing CheckRequest (api/request_check.h) get InvalidArgument;
//   the handler sees only well-formed requests.
//
// The socket file: whatever is at the path must be a socket nobody answers on
// (left by a crash): it is replaced. A live socket is an error ("is another
// bulkheadd running?"), and so is anything else (regular file, directory,
// symlink...): the error names the path and what is there, which stays
// untouched. The socket is bound under umask 0177: mode 0600, root only,
// from the moment it exists. With socket_group set, it is bound under umask
// 0117 (0660, still the root group) and then given that group.
//
// Threading: the handler and every connection run on the io_context's
// thread, like the rest of the agent. stats() may be read from any thread.
// Destroy the server on that thread or while the io_context is not running;
// open connections are closed then.
//
//   auto server = ApiServer::Create(io, "/run/bulkhead/bulkhead.sock", handler);
//   if (!server.ok()) return server.status();
//   (*server)->Start();
//   io.run();
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
// clang-format off
#include <utility>
// clang-format on

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "api/framing.h"
#include "proto/api.pb.h"

namespace bulkhead {

struct ApiServerOptions {
  std::uint32_t max_request_bytes = kDefaultMaxApiRequestBytes;           // 64 KiB
  std::uint32_t max_file_request_bytes = kDefaultMaxApiFileRequestBytes;  // apply_policy
  std::size_t max_connections = 64;
  std::chrono::milliseconds idle_timeout{10'000};   // to complete a request
  std::chrono::milliseconds write_timeout{10'000};  // to take an answer
  std::size_t max_pending_reply_bytes = 32 << 20;   // answers not yet taken, all connections
  std::size_t small_reply_bytes = 64 << 10;         // always sent, outside that budget
  std::chrono::milliseconds accept_backoff_min{10};
  std::chrono::milliseconds accept_backoff_max{1'000};
  std::chrono::milliseconds log_interval{10'000};  // per kind of repeated warning
  // Empty: the socket is 0600, root only. A group name: 0660, that group.
  std::string socket_group;
};

// What the server did, for tests and the agent's status. All but the last two
// are counts since Create; those two are the current values.
struct ApiServerStats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_refused = 0;  // over max_connections
  std::uint64_t accept_errors = 0;        // failed accepts (each followed by a back-off)
  std::uint64_t warnings_logged = 0;      // lines written for the above and the below
  std::uint64_t idle_timeouts = 0;
  std::uint64_t write_timeouts = 0;
  std::uint64_t requests_too_large = 0;
  std::uint64_t replies_refused = 0;  // over max_pending_reply_bytes
  std::uint64_t open_connections = 0;
  std::uint64_t pending_reply_bytes = 0;
};

class ApiServer {
 public:
  using Handler = std::function<bulkhead::v1::Response(const bulkhead::v1::Request&)>;

  // Fails, with the path in the message, if the socket cannot be created
  // safely (see above) or socket_group is not a group.
  static absl::StatusOr<std::unique_ptr<ApiServer>> Create(boost::asio::io_context& io,
                                                           std::string socket_path, Handler handler,
                                                           ApiServerOptions options = {});
  ~ApiServer();  // closes every connection; removes the socket file if it is still ours
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  void Start();
  // New flows are in the history: followers waiting for one (a flows request
  // with `after` and `wait_ms`) are answered now.
  void NotifyFlows();
  const std::string& socket_path() const { return socket_path_; }
  ApiServerStats stats() const;

  struct State;  // shared with the connections' coroutines, which may outlive the server

 private:
  ApiServer(std::shared_ptr<State> state, std::string socket_path);

  std::shared_ptr<State> state_;
  std::string socket_path_;
  std::uint64_t socket_inode_ = 0;
};

// The group id for a group name; NotFound naming the group if there is none.
absl::StatusOr<gid_t> LookupGroup(const std::string& name);

}  // namespace bulkhead
