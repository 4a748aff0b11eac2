#include "datapath/netlink_watcher.h"

#include <fnmatch.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace bulkhead {
namespace {

absl::Status NlError(int err, absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", nl_geterror(err)));
}

// An address of either family in the 16-byte form; false if it is neither.
bool ToBytes(nl_addr* addr, int family, AddressBytes* out) {
  if (!addr) return false;
  out->fill(0);
  if (family == AF_INET && nl_addr_get_len(addr) == 4) {
    (*out)[10] = 0xff;
    (*out)[11] = 0xff;
    std::memcpy(out->data() + 12, nl_addr_get_binary_addr(addr), 4);
    return true;
  }
  if (family == AF_INET6 && nl_addr_get_len(addr) == 16) {
    std::memcpy(out->data(), nl_addr_get_binary_addr(addr), 16);
    return true;
  }
  return false;
}

bool IsIpv6LinkLocalOrMulticast(const AddressBytes& a) {
  return a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

// One unicast route in the main table through a single interface.
bool AsRoute(rtnl_route* route, Route* out) {
  int family = rtnl_route_get_family(route);
  if ((family != AF_INET && family != AF_INET6) || rtnl_route_get_table(route) != RT_TABLE_MAIN ||
      rtnl_route_get_type(route) != RTN_UNICAST || rtnl_route_get_nnexthops(route) != 1 ||
      (rtnl_route_get_flags(route) & RTM_F_CLONED))
    return false;
  nl_addr* dst = rtnl_route_get_dst(route);
  if (!ToBytes(dst, family, &out->addr)) return false;
  if (family == AF_INET6 && IsIpv6LinkLocalOrMulticast(out->addr)) return false;
  out->family = family;
  out->prefix_len = nl_addr_get_prefixlen(dst);
  out->ifindex = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(route, 0));
  return out->ifindex > 0;
}

// One of the node's own unicast addresses.
bool AsLocalAddress(rtnl_addr* addr, LocalAddress* out) {
  int family = rtnl_addr_get_family(addr);
  if (!ToBytes(rtnl_addr_get_local(addr), family, &out->addr)) return false;
  if (family == AF_INET && out->addr[12] == 127) return false;
  if (family == AF_INET6) {
    static const AddressBytes kLoopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (out->addr == kLoopback || IsIpv6LinkLocalOrMulticast(out->addr)) return false;
  }
  out->family = family;
  out->ifindex = rtnl_addr_get_ifindex(addr);
  return out->ifindex > 0;
}

struct ParseContext {
  NetlinkWatcher* watcher;
  bool removed;
};

}  // namespace

absl::StatusOr<std::unique_ptr<NetlinkWatcher>> NetlinkWatcher::Create(boost::asio::io_context& io,
                                                                       std::string link_pattern,
                                                                       Callbacks callbacks) {
  std::unique_ptr<NetlinkWatcher> watcher(
      new NetlinkWatcher(io, std::move(link_pattern), std::move(callbacks)));
  watcher->events_ = nl_socket_alloc();
  if (!watcher->events_) return absl::ResourceExhaustedError("allocate netlink socket");
  nl_socket_disable_seq_check(watcher->events_);
  nl_socket_modify_cb(watcher->events_, NL_CB_VALID, NL_CB_CUSTOM, &NetlinkWatcher::OnMessage,
                      watcher.get());
  if (int err = nl_connect(watcher->events_, NETLINK_ROUTE); err < 0)
    return NlError(err, "connect rtnetlink");
  if (int err = nl_socket_add_memberships(watcher->events_, RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE,
                                          RTNLGRP_IPV6_ROUTE, RTNLGRP_IPV4_IFADDR,
                                          RTNLGRP_IPV6_IFADDR, 0);
      err < 0)
    return NlError(err, "subscribe to rtnetlink link, route and address events");
  nl_socket_set_nonblocking(watcher->events_);
  int fd = dup(nl_socket_get_fd(watcher->events_));
  if (fd < 0) return absl::InternalError("dup netlink socket fd");
  watcher->socket_fd_.assign(fd);
  return watcher;
}

NetlinkWatcher::NetlinkWatcher(boost::asio::io_context& io, std::string link_pattern,
                               Callbacks callbacks)
    : socket_fd_(io), link_pattern_(std::move(link_pattern)), callbacks_(std::move(callbacks)) {}

NetlinkWatcher::~NetlinkWatcher() {
  boost::system::error_code ignored;
  socket_fd_.close(ignored);
  if (events_) nl_socket_free(events_);
}

absl::Status NetlinkWatcher::Start() {
  if (absl::Status status = ListExisting(); !status.ok()) return status;
  Wait();
  return absl::OkStatus();
}

// Subscribed before listing, so nothing created in between is missed; what
// both report is reported twice, which the callbacks tolerate.
absl::Status NetlinkWatcher::ListExisting() {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return absl::ResourceExhaustedError("allocate netlink socket");
  nl_cache* links = nullptr;
  nl_cache* routes = nullptr;
  nl_cache* addresses = nullptr;
  int err = nl_connect(sock, NETLINK_ROUTE);
  if (err == 0) err = rtnl_link_alloc_cache(sock, AF_UNSPEC, &links);
  if (err == 0) err = rtnl_route_alloc_cache(sock, AF_UNSPEC, 0, &routes);
  if (err == 0) err = rtnl_addr_alloc_cache(sock, &addresses);
  if (err == 0) {
    listing_ = true;
    listed_links_.clear();
    listed_routes_.clear();
    listed_addresses_.clear();
    for (nl_cache* cache : {links, routes, addresses})
      for (nl_object* obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj))
        Dispatch(obj, /*removed=*/false);
    listing_ = false;
    std::vector<LocalAddress> gone_addresses;
    for (const auto& [key, address] : addresses_)
      if (!listed_addresses_.contains(key)) gone_addresses.push_back(address);
    for (const LocalAddress& address : gone_addresses) Dispatched(address, /*removed=*/true);
    // Whatever was known and is not listed any more went away unannounced.
    std::vector<Route> gone_routes;
    for (const auto& [key, route] : routes_)
      if (!listed_routes_.contains(key)) gone_routes.push_back(route);
    std::vector<Link> gone_links;
    for (const auto& [ifindex, link] : links_)
      if (!listed_links_.contains(ifindex)) gone_links.push_back(link);
    for (const Route& route : gone_routes) Dispatched(route, /*removed=*/true);
    for (const Link& link : gone_links) Dispatched(link, /*removed=*/true);
  }
  if (links) nl_cache_free(links);
  if (routes) nl_cache_free(routes);
  if (addresses) nl_cache_free(addresses);
  nl_socket_free(sock);
  return err < 0 ? NlError(err, "list network interfaces, routes and addresses") : absl::OkStatus();
}

void NetlinkWatcher::Wait() {
  socket_fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code& ec) {
                          if (ec) return;
                          // NLE_NOMEM is the kernel's ENOBUFS: notifications
                          // were lost, so take stock again.
                          if (int err = nl_recvmsgs_default(events_); err == -NLE_NOMEM)
                            (void)ListExisting();
                          Wait();
                        });
}

int NetlinkWatcher::OnMessage(nl_msg* msg, void* arg) {
  int type = nlmsg_hdr(msg)->nlmsg_type;
  ParseContext ctx{static_cast<NetlinkWatcher*>(arg),
                   type == RTM_DELLINK || type == RTM_DELROUTE || type == RTM_DELADDR};
  nl_msg_parse(
      msg,
      [](nl_object* obj, void* c) {
        auto* ctx = static_cast<ParseContext*>(c);
        ctx->watcher->Dispatch(obj, ctx->removed);
      },
      &ctx);
  return NL_OK;
}

void NetlinkWatcher::Dispatch(nl_object* obj, bool removed) {
  const char* type = nl_object_get_type(obj);
  if (std::strcmp(type, "route/link") == 0) {
    auto* link = reinterpret_cast<rtnl_link*>(obj);
    // AF_BRIDGE messages are about bridge ports (a port leaving a bridge is
    // an RTM_DELLINK of that family), not about the link itself.
    if (rtnl_link_get_family(link) != AF_UNSPEC) return;
    const char* name = rtnl_link_get_name(link);
    if (!name || fnmatch(link_pattern_.c_str(), name, 0) != 0) return;
    Dispatched(Link{rtnl_link_get_ifindex(link), name}, removed);
  } else if (std::strcmp(type, "route/route") == 0) {
    Route route;
    if (AsRoute(reinterpret_cast<rtnl_route*>(obj), &route)) Dispatched(route, removed);
  } else if (std::strcmp(type, "route/addr") == 0) {
    LocalAddress address;
    if (AsLocalAddress(reinterpret_cast<rtnl_addr*>(obj), &address)) Dispatched(address, removed);
  }
}

void NetlinkWatcher::Dispatched(const Link& link, bool removed) {
  if (listing_) listed_links_[link.ifindex] = link;
  if (removed) {
    links_.erase(link.ifindex);
    if (callbacks_.link_removed) callbacks_.link_removed(link);
  } else {
    links_[link.ifindex] = link;
    if (callbacks_.link_added) callbacks_.link_added(link);
  }
}

void NetlinkWatcher::Dispatched(const Route& route, bool removed) {
  RouteKey key{route.addr, route.prefix_len, route.ifindex};
  if (listing_) listed_routes_[key] = route;
  if (removed) {
    routes_.erase(key);
    if (callbacks_.route_removed) callbacks_.route_removed(route);
  } else {
    routes_[key] = route;
    if (callbacks_.route_added) callbacks_.route_added(route);
  }
}

void NetlinkWatcher::Dispatched(const LocalAddress& address, bool removed) {
  AddressKey key{address.addr, address.ifindex};
  if (listing_) listed_addresses_[key] = address;
  if (removed) {
    // Announced once per address; only what was reported is taken back.
    if (addresses_.erase(key) && callbacks_.address_removed) callbacks_.address_removed(address);
  } else if (addresses_.emplace(key, address).second) {
    if (callbacks_.address_added) callbacks_.address_added(address);
  }
}

}  // namespace bulkhead
