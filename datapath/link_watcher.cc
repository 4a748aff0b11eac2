#include "datapath/link_watcher.h"

#include <fnmatch.h>
#include <linux/rtnetlink.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace bulkhead {
namespace {

absl::Status NlError(int err, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", nl_geterror(err)));
}

struct ParseContext {
  bool removed;
  Link link;
  bool found = false;
};

void OnLinkObject(nl_object* obj, void* arg) {
  auto* ctx = static_cast<ParseContext*>(arg);
  auto* link = reinterpret_cast<rtnl_link*>(obj);
  const char* name = rtnl_link_get_name(link);
  ctx->link = Link{rtnl_link_get_ifindex(link), name ? name : ""};
  ctx->found = true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<LinkWatcher>> LinkWatcher::Create(boost::asio::io_context& io,
                                                                 std::string pattern,
                                                                 Callback on_added,
                                                                 Callback on_removed) {
  std::unique_ptr<LinkWatcher> watcher(
      new LinkWatcher(io, std::move(pattern), std::move(on_added), std::move(on_removed)));
  watcher->events_ = nl_socket_alloc();
  if (!watcher->events_) return absl::ResourceExhaustedError("allocate netlink socket");
  nl_socket_disable_seq_check(watcher->events_);
  nl_socket_modify_cb(watcher->events_, NL_CB_VALID, NL_CB_CUSTOM, &LinkWatcher::OnMessage,
                      watcher.get());
  if (int err = nl_connect(watcher->events_, NETLINK_ROUTE); err < 0)
    return NlError(err, "connect rtnetlink");
  if (int err = nl_socket_add_membership(watcher->events_, RTNLGRP_LINK); err < 0)
    return NlError(err, "subscribe to rtnetlink link events");
  nl_socket_set_nonblocking(watcher->events_);
  int fd = dup(nl_socket_get_fd(watcher->events_));
  if (fd < 0) return absl::InternalError("dup netlink socket fd");
  watcher->socket_fd_.assign(fd);
  return watcher;
}

LinkWatcher::LinkWatcher(boost::asio::io_context& io, std::string pattern, Callback on_added,
                         Callback on_removed)
    : socket_fd_(io),
      pattern_(std::move(pattern)),
      on_added_(std::move(on_added)),
      on_removed_(std::move(on_removed)) {}

LinkWatcher::~LinkWatcher() {
  boost::system::error_code ignored;
  socket_fd_.close(ignored);
  if (events_) nl_socket_free(events_);
}

bool LinkWatcher::Matches(const std::string& name) const {
  return fnmatch(pattern_.c_str(), name.c_str(), 0) == 0;
}

absl::Status LinkWatcher::Start() {
  // Subscribed before listing, so nothing created in between is missed; a
  // link seen by both is reported twice, which on_added tolerates.
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return absl::ResourceExhaustedError("allocate netlink socket");
  nl_cache* cache = nullptr;
  int err = nl_connect(sock, NETLINK_ROUTE);
  if (err == 0) err = rtnl_link_alloc_cache(sock, AF_UNSPEC, &cache);
  if (err < 0) {
    nl_socket_free(sock);
    return NlError(err, "list network interfaces");
  }
  for (nl_object* obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
    ParseContext ctx{.removed = false};
    OnLinkObject(obj, &ctx);
    if (Matches(ctx.link.name)) on_added_(ctx.link);
  }
  nl_cache_free(cache);
  nl_socket_free(sock);
  Wait();
  return absl::OkStatus();
}

void LinkWatcher::Wait() {
  socket_fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code& ec) {
                          if (ec) return;
                          nl_recvmsgs_default(events_);
                          Wait();
                        });
}

int LinkWatcher::OnMessage(nl_msg* msg, void* arg) {
  auto* self = static_cast<LinkWatcher*>(arg);
  int type = nlmsg_hdr(msg)->nlmsg_type;
  if (type != RTM_NEWLINK && type != RTM_DELLINK) return NL_OK;
  ParseContext ctx{.removed = type == RTM_DELLINK};
  nl_msg_parse(msg, &OnLinkObject, &ctx);
  if (ctx.found && self->Matches(ctx.link.name)) {
    if (ctx.removed)
      self->on_removed_(ctx.link);
    else
      self->on_added_(ctx.link);
  }
  return NL_OK;
}

}  // namespace bulkhead
