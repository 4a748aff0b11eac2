#include "datapath/netlink_watcher.h"

#include <fnmatch.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "datapath/status.h"

namespace bulkhead {
namespace {

constexpr std::chrono::seconds kRelistRetry{1};

struct NlCacheFree {
  void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};
using NlCache = std::unique_ptr<nl_cache, NlCacheFree>;

// libnl's error codes, as the errno they stand for where there is one.
absl::Status NlError(int nl_err, absl::string_view what) {
  int err = 0;
  switch (std::abs(nl_err)) {
    case NLE_INTR:
    case NLE_DUMP_INTR:
      err = EINTR;
      break;
    case NLE_BAD_SOCK:
      err = EBADF;
      break;
    case NLE_AGAIN:
      err = EAGAIN;
      break;
    case NLE_NOMEM:  // also the kernel's ENOBUFS
      err = ENOMEM;
      break;
    case NLE_EXIST:
      err = EEXIST;
      break;
    case NLE_INVAL:
      err = EINVAL;
      break;
    case NLE_RANGE:
      err = ERANGE;
      break;
    case NLE_MSGSIZE:
      err = EMSGSIZE;
      break;
    case NLE_OPNOTSUPP:
      err = EOPNOTSUPP;
      break;
    case NLE_AF_NOSUPPORT:
      err = EAFNOSUPPORT;
      break;
    case NLE_OBJ_NOTFOUND:
      err = ENOENT;
      break;
    case NLE_BUSY:
      err = EBUSY;
      break;
    case NLE_PROTO_MISMATCH:
      err = EPROTONOSUPPORT;
      break;
    case NLE_NOACCESS:
      err = EACCES;
      break;
    case NLE_PERM:
      err = EPERM;
      break;
    case NLE_NODEV:
      err = ENODEV;
      break;
  }
  if (err != 0) return ErrnoError(err, what);
  return absl::InternalError(absl::StrCat(what, ": ", nl_geterror(nl_err)));
}

AddressBytes ZeroAddress(int family) {
  AddressBytes out{};
  if (family == AF_INET) out[10] = out[11] = 0xff;
  return out;
}

// An address of `family` in the 16-byte form; false if it is of neither
// family's length.
bool ToBytes(nl_addr* addr, int family, AddressBytes* out) {
  if (!addr) return false;
  *out = ZeroAddress(family);
  if (family == AF_INET && nl_addr_get_len(addr) == 4) {
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

bool IsLoopback(const LocalAddress& address) {
  static constexpr AddressBytes kIpv6Loopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return address.family == AF_INET ? address.addr[12] == 127 : address.addr == kIpv6Loopback;
}

// A route in the main table, other than a cached one, read as far as the
// watcher needs: what it is known by (`route` and `metric`: a replacement
// replaces the route to the same destination with the same metric) and
// whether it is one to report.
struct MainTableRoute {
  Route route;
  std::uint32_t metric;
  bool reported;  // unicast, through one interface, not IPv6 link-local or multicast
};

bool ReadMainTableRoute(rtnl_route* nl_route, MainTableRoute* out) {
  int family = rtnl_route_get_family(nl_route);
  if ((family != AF_INET && family != AF_INET6) ||
      rtnl_route_get_table(nl_route) != RT_TABLE_MAIN ||
      (rtnl_route_get_flags(nl_route) & RTM_F_CLONED))
    return false;
  nl_addr* dst = rtnl_route_get_dst(nl_route);
  if (!dst) return false;
  Route& route = out->route;
  if (nl_addr_get_len(dst) == 0) {
    route.addr = ZeroAddress(family);  // a default route has no RTA_DST
  } else if (!ToBytes(dst, family, &route.addr)) {
    return false;
  }
  route.family = family;
  route.prefix_len = static_cast<int>(nl_addr_get_prefixlen(dst));
  route.ifindex = rtnl_route_get_nnexthops(nl_route) == 1
                      ? rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(nl_route, 0))
                      : 0;
  out->metric = rtnl_route_get_priority(nl_route);
  out->reported = rtnl_route_get_type(nl_route) == RTN_UNICAST && route.ifindex > 0 &&
                  !(family == AF_INET6 && IsIpv6LinkLocalOrMulticast(route.addr));
  return true;
}

// Tentative addresses cannot be used yet (unless optimistic), and those
// that failed duplicate address detection never will.
bool PassedDuplicateAddressDetection(unsigned flags) {
  if (flags & IFA_F_DADFAILED) return false;
  return !(flags & IFA_F_TENTATIVE) || (flags & IFA_F_OPTIMISTIC);
}

struct Notification {
  NetlinkWatcher* watcher;
  bool removed;   // RTM_DEL*
  bool replaced;  // RTM_NEWROUTE that replaced a route (NLM_F_REPLACE)
};

}  // namespace

void NetlinkWatcher::NlSocketFree::operator()(nl_sock* sock) const { nl_socket_free(sock); }

absl::StatusOr<std::unique_ptr<NetlinkWatcher>> NetlinkWatcher::Create(boost::asio::io_context& io,
                                                                       std::string link_pattern,
                                                                       Callbacks callbacks) {
  std::unique_ptr<NetlinkWatcher> watcher(
      new NetlinkWatcher(io, std::move(link_pattern), std::move(callbacks)));
  watcher->events_.reset(nl_socket_alloc());
  if (!watcher->events_) return ErrnoError(ENOMEM, "allocate rtnetlink notification socket");
  nl_sock* sock = watcher->events_.get();
  nl_socket_disable_seq_check(sock);
  nl_socket_modify_cb(sock, NL_CB_VALID, NL_CB_CUSTOM, &NetlinkWatcher::OnMessage, watcher.get());
  if (int err = nl_connect(sock, NETLINK_ROUTE); err < 0)
    return NlError(err, "connect rtnetlink notification socket");
  if (int err =
          nl_socket_add_memberships(sock, RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE,
                                    RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR, 0);
      err < 0)
    return NlError(err, "subscribe to rtnetlink link, IPv4/IPv6 route and address groups");
  if (int err = nl_socket_set_nonblocking(sock); err < 0)
    return NlError(err, "make rtnetlink notification socket non-blocking");
  int fd = dup(nl_socket_get_fd(sock));
  if (fd < 0) return ErrnoError(errno, "dup rtnetlink notification socket");
  watcher->socket_fd_.assign(fd);
  return watcher;
}

NetlinkWatcher::NetlinkWatcher(boost::asio::io_context& io, std::string link_pattern,
                               Callbacks callbacks)
    : socket_fd_(io),
      relist_timer_(io),
      link_pattern_(std::move(link_pattern)),
      callbacks_(std::move(callbacks)) {}

// Pending waits complete with operation_aborted and touch nothing.
NetlinkWatcher::~NetlinkWatcher() = default;

absl::Status NetlinkWatcher::Start() {
  BH_RETURN_IF_ERROR(ListExisting());
  Wait();
  return absl::OkStatus();
}

// Subscribed before listing, so nothing created in between is missed; what
// both report is reported twice, which the callbacks tolerate. Notifications
// queued before the listing replay older states after it: each is followed
// by the ones that changed it since, so the end state is right.
absl::Status NetlinkWatcher::ListExisting() {
  std::unique_ptr<nl_sock, NlSocketFree> sock(nl_socket_alloc());
  if (!sock) return ErrnoError(ENOMEM, "allocate rtnetlink listing socket");
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0)
    return NlError(err, "connect rtnetlink listing socket");
  nl_cache* cache = nullptr;
  if (int err = rtnl_link_alloc_cache(sock.get(), AF_UNSPEC, &cache); err < 0)
    return NlError(err, "list network interfaces (rtnetlink dump)");
  NlCache links(cache);
  if (int err = rtnl_route_alloc_cache(sock.get(), AF_UNSPEC, 0, &cache); err < 0)
    return NlError(err, "list IPv4 and IPv6 routes (rtnetlink dump)");
  NlCache routes(cache);
  if (int err = rtnl_addr_alloc_cache(sock.get(), &cache); err < 0)
    return NlError(err, "list IPv4 and IPv6 addresses (rtnetlink dump)");
  NlCache addresses(cache);

  listing_ = true;
  ipv4_addresses_.clear();
  Notification listed{this, /*removed=*/false, /*replaced=*/false};
  for (nl_cache* listing : {links.get(), routes.get(), addresses.get()})
    for (nl_object* obj = nl_cache_get_first(listing); obj; obj = nl_cache_get_next(obj))
      OnObject(obj, &listed);
  listing_ = false;

  // Whatever was known and is not listed any more went away unannounced.
  std::vector<LocalAddress> gone_addresses;
  for (const auto& [key, address] : addresses_)
    if (!listed_addresses_.contains(key)) gone_addresses.push_back(address);
  std::vector<std::pair<RouteKey, Route>> gone_routes;
  for (const auto& [key, route] : routes_)
    if (!listed_routes_.contains(key)) gone_routes.emplace_back(key, route);
  std::vector<Link> gone_links;
  for (const auto& [ifindex, link] : links_)
    if (!listed_links_.contains(ifindex)) gone_links.push_back(link);
  listed_addresses_.clear();
  listed_routes_.clear();
  listed_links_.clear();
  for (const LocalAddress& address : gone_addresses) Report(address, /*removed=*/true);
  for (const auto& [key, route] : gone_routes) Report(key, route, /*removed=*/true);
  for (const Link& link : gone_links) Report(link, /*removed=*/true);
  return absl::OkStatus();
}

void NetlinkWatcher::Wait() {
  socket_fd_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code& ec) {
                          if (ec) return;  // closed: the watcher is going away
                          Receive();
                          Wait();
                        });
}

void NetlinkWatcher::Receive() {
  int err = nl_recvmsgs_default(events_.get());
  if (err >= 0) return;
  // NLE_NOMEM is the kernel's ENOBUFS: notifications were lost because the
  // socket was full, which a listing repairs. Any other error may have lost
  // one too.
  if (err != -NLE_NOMEM) ReportError(NlError(err, "receive rtnetlink notifications"));
  Relist();
}

void NetlinkWatcher::Relist() {
  relist_timer_.cancel();
  absl::Status status = ListExisting();
  if (status.ok()) return;
  ReportError(absl::Status(status.code(),
                           absl::StrCat("relist after lost rtnetlink notifications (retried in ",
                                        kRelistRetry.count(), " s): ", status.message())));
  relist_timer_.expires_after(kRelistRetry);
  relist_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Relist();
  });
}

int NetlinkWatcher::OnMessage(nl_msg* msg, void* arg) {
  const nlmsghdr* header = nlmsg_hdr(msg);
  int type = header->nlmsg_type;
  Notification notification{static_cast<NetlinkWatcher*>(arg),
                            type == RTM_DELLINK || type == RTM_DELROUTE || type == RTM_DELADDR,
                            type == RTM_NEWROUTE && (header->nlmsg_flags & NLM_F_REPLACE) != 0};
  nl_msg_parse(msg, &NetlinkWatcher::OnObject, &notification);
  return NL_OK;
}

void NetlinkWatcher::OnObject(nl_object* obj, void* arg) {
  const auto& notification = *static_cast<Notification*>(arg);
  NetlinkWatcher* self = notification.watcher;
  const char* type = nl_object_get_type(obj);
  if (std::strcmp(type, "route/link") == 0) {
    self->OnLink(reinterpret_cast<rtnl_link*>(obj), notification.removed);
  } else if (std::strcmp(type, "route/route") == 0) {
    self->OnRoute(reinterpret_cast<rtnl_route*>(obj), notification.removed, notification.replaced);
  } else if (std::strcmp(type, "route/addr") == 0) {
    self->OnAddress(reinterpret_cast<rtnl_addr*>(obj), notification.removed);
  }
}

void NetlinkWatcher::OnLink(rtnl_link* nl_link, bool removed) {
  // AF_BRIDGE messages are about bridge ports (a port leaving a bridge is
  // an RTM_DELLINK of that family), not about the link itself.
  if (rtnl_link_get_family(nl_link) != AF_UNSPEC) return;
  int ifindex = rtnl_link_get_ifindex(nl_link);
  // The kernel drops the IPv4 routes through a link that goes down or away
  // without a word; IPv6 ones it announces (unless
  // net.ipv6.route.skip_notify_on_dev_down), so forget those too.
  if (!listing_ && (removed || !(rtnl_link_get_flags(nl_link) & IFF_UP)))
    ForgetRoutesThrough(ifindex, AF_UNSPEC);
  const char* name = rtnl_link_get_name(nl_link);
  if (name && fnmatch(link_pattern_.c_str(), name, 0) == 0) {
    std::int32_t netnsid = -1;
    if (rtnl_link_get_link_netnsid(nl_link, &netnsid) != 0) netnsid = -1;
    Report(Link{ifindex, name, netnsid}, removed);
  } else if (auto known = links_.find(ifindex); known != links_.end()) {
    Report(Link(known->second), /*removed=*/true);  // renamed to a name that does not match
  }
}

void NetlinkWatcher::OnRoute(rtnl_route* nl_route, bool removed, bool replaced) {
  MainTableRoute read;
  if (!ReadMainTableRoute(nl_route, &read)) return;
  const Route& route = read.route;
  if (replaced && !removed) {
    // Only the new route of a replacement is announced: the one it replaced
    // is gone. (IPv4 also tells routes apart by TOS, IPv6 by source prefix;
    // CNI routes use neither.)
    std::vector<std::pair<RouteKey, Route>> replaced_routes;
    for (auto it =
             routes_.lower_bound({route.family, route.addr, route.prefix_len, read.metric, 0});
         it != routes_.end() && std::get<0>(it->first) == route.family &&
         std::get<1>(it->first) == route.addr && std::get<2>(it->first) == route.prefix_len &&
         std::get<3>(it->first) == read.metric;
         ++it)
      if (!read.reported || it->second.ifindex != route.ifindex) replaced_routes.push_back(*it);
    for (const auto& [key, old] : replaced_routes) Report(key, old, /*removed=*/true);
  }
  if (read.reported)
    Report({route.family, route.addr, route.prefix_len, read.metric, route.ifindex}, route,
           removed);
}

void NetlinkWatcher::OnAddress(rtnl_addr* nl_address, bool removed) {
  LocalAddress address;
  address.family = rtnl_addr_get_family(nl_address);
  address.ifindex = rtnl_addr_get_ifindex(nl_address);
  if (!ToBytes(rtnl_addr_get_local(nl_address), address.family, &address.addr) ||
      address.ifindex <= 0)
    return;
  bool local_unicast = !IsLoopback(address) &&
                       !(address.family == AF_INET6 && IsIpv6LinkLocalOrMulticast(address.addr)) &&
                       PassedDuplicateAddressDetection(rtnl_addr_get_flags(nl_address));
  // An address that stops qualifying (detection failed) is taken back.
  Report(address, removed || !local_unicast);

  if (address.family != AF_INET) return;
  auto on_link = ipv4_addresses_.find(address.ifindex);
  if (!removed) {
    ipv4_addresses_[address.ifindex].insert(address.addr);
  } else if (on_link != ipv4_addresses_.end() && on_link->second.erase(address.addr) &&
             on_link->second.empty()) {
    ipv4_addresses_.erase(on_link);
    // The kernel drops the IPv4 routes through a link without IPv4
    // addresses, and does not say so.
    if (!listing_) ForgetRoutesThrough(address.ifindex, AF_INET);
  }
}

void NetlinkWatcher::ForgetRoutesThrough(int ifindex, int family) {
  std::vector<std::pair<RouteKey, Route>> gone;
  for (const auto& [key, route] : routes_)
    if (route.ifindex == ifindex && (family == AF_UNSPEC || route.family == family))
      gone.emplace_back(key, route);
  for (const auto& [key, route] : gone) Report(key, route, /*removed=*/true);
}

void NetlinkWatcher::Report(const Link& link, bool removed) {
  if (removed) {
    auto known = links_.find(link.ifindex);
    if (known == links_.end()) return;
    Link reported = std::move(known->second);
    links_.erase(known);
    if (callbacks_.link_removed) callbacks_.link_removed(reported);
    return;
  }
  if (listing_) listed_links_[link.ifindex] = link;
  links_[link.ifindex] = link;
  if (callbacks_.link_added) callbacks_.link_added(link);
}

void NetlinkWatcher::Report(const RouteKey& key, const Route& route, bool removed) {
  if (removed) {
    if (routes_.erase(key) && callbacks_.route_removed) callbacks_.route_removed(route);
    return;
  }
  if (listing_) listed_routes_[key] = route;
  routes_[key] = route;
  if (callbacks_.route_added) callbacks_.route_added(route);
}

void NetlinkWatcher::Report(const LocalAddress& address, bool removed) {
  AddressKey key{address.addr, address.ifindex};
  if (removed) {
    if (addresses_.erase(key) && callbacks_.address_removed) callbacks_.address_removed(address);
    return;
  }
  if (listing_) listed_addresses_[key] = address;
  // Once per address and interface: callers count.
  if (addresses_.emplace(key, address).second && callbacks_.address_added)
    callbacks_.address_added(address);
}

void NetlinkWatcher::ReportError(const absl::Status& status) {
  if (callbacks_.error) callbacks_.error(status);
}

}  // namespace bulkhead
