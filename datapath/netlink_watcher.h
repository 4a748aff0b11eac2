// Tells the agent about the node's network interfaces, routes and
// addresses, as rtnetlink announces them (libnl-route): every existing one
// at Start(), then each change.
//
//   - links whose name matches a glob pattern (fnmatch, e.g. "lxc*");
//   - unicast IPv4 and IPv6 routes in the main table through one interface,
//     which is how CNI plugins route a pod's address to its host-side veth
//     (10.244.1.10/32 dev lxc-frontend, fd00:244::10/128 dev lxc-frontend):
//     the agent binds interfaces to workloads from them. Multipath routes,
//     routes of other types (local, blackhole...), IPv6 link-local
//     (fe80::/10) and multicast routes and cached (cloned) routes are
//     skipped;
//   - the node's own unicast addresses on every interface, whatever its name
//     (the agent gives them the `host` identity). Loopback (127.0.0.0/8,
//     ::1) and IPv6 link-local addresses are skipped, and so are IPv6
//     addresses still in duplicate address detection (tentative) or that
//     failed it: those are reported once detection succeeds.
//
// Addresses are in the datapath's 16-byte form: IPv6 as is, IPv4 as
// IPv4-mapped (::ffff:a.b.c.d). Prefix lengths count the family's own bits.
//
// What the callbacks are told:
//   - link_added and route_added may repeat for the same object: rtnetlink
//     repeats RTM_NEWLINK on every state change, and everything is listed
//     again after lost notifications (below). Treat them as idempotent. A
//     renamed link is reported added under its new name, or removed if the
//     new name does not match.
//   - address_added is reported once per (address, interface) until
//     address_removed: an address on two interfaces is reported once for
//     each, so a caller that counts knows when the node has lost it.
//   - a "removed" callback is called once, only for what was reported
//     added, and with what was reported (a link under its reported name).
//   - routes the kernel removes without a notification are reported removed
//     all the same: IPv4 routes through a link that went down, was deleted
//     or lost its last IPv4 address; and a route replaced (`ip route
//     replace`: same destination and metric) by another.
//   - when the kernel dropped notifications because the socket was full
//     (ENOBUFS), everything is listed again: reported added again, and what
//     vanished meanwhile reported removed. Should that listing fail, `error`
//     is told and the listing is retried every second until it succeeds.
//
// Thread-safety: none. Create, Start and destroy the watcher on the thread
// that runs the io_context (or while it is not running). Callbacks run on
// that thread: for what exists, from inside Start(); then from io.run().
//
// Example:
//   BH_ASSIGN_OR_RETURN(std::unique_ptr<NetlinkWatcher> watcher,
//                       NetlinkWatcher::Create(io, "lxc*",
//                           {.link_added = [&](const Link& l) { Attach(l); },
//                            .route_added = [&](const Route& r) { Bind(r); }}));
//   BH_RETURN_IF_ERROR(watcher->Start());
//   io.run();
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct nl_sock;
struct nl_msg;
struct nl_object;
struct rtnl_link;
struct rtnl_route;
struct rtnl_addr;

namespace bulkhead {

struct Link {
  int ifindex;
  std::string name;
  // The network namespace of a veth's peer (the workload's), by the id this
  // namespace has for it; -1 when the link has no peer elsewhere.
  int netnsid = -1;

  bool operator==(const Link&) const = default;
};

using AddressBytes = std::array<std::uint8_t, 16>;

struct Route {
  AddressBytes addr;  // destination (all zeros, or ::ffff:0.0.0.0, for a default route)
  int family;         // AF_INET or AF_INET6
  int prefix_len;     // in the family's bits: 32 (IPv4) or 128 (IPv6) for a host route
  int ifindex;        // the interface it goes out of

  bool operator==(const Route&) const = default;
};

struct LocalAddress {
  AddressBytes addr;
  int family;  // AF_INET or AF_INET6
  int ifindex;

  bool operator==(const LocalAddress&) const = default;
};

class NetlinkWatcher {
 public:
  // Any may be empty; an empty one is not called.
  struct Callbacks {
    std::function<void(const Link&)> link_added;
    std::function<void(const Link&)> link_removed;
    std::function<void(const Route&)> route_added;
    std::function<void(const Route&)> route_removed;
    std::function<void(const LocalAddress&)> address_added;
    std::function<void(const LocalAddress&)> address_removed;
    // Notifications could not be read or the listing that follows lost ones
    // failed; what was reported may be stale until a listing succeeds.
    std::function<void(const absl::Status&)> error;
  };

  // Opens the rtnetlink socket and subscribes to link, route and address
  // notifications; nothing is reported before Start().
  static absl::StatusOr<std::unique_ptr<NetlinkWatcher>> Create(boost::asio::io_context& io,
                                                                std::string link_pattern,
                                                                Callbacks callbacks);
  ~NetlinkWatcher();
  NetlinkWatcher(const NetlinkWatcher&) = delete;
  NetlinkWatcher& operator=(const NetlinkWatcher&) = delete;

  // Reports the existing links, routes and addresses, then watches for
  // changes (reported as the io_context runs). Call once.
  absl::Status Start();

 private:
  struct NlSocketFree {
    void operator()(nl_sock* sock) const;
  };
  // family, destination, prefix length, metric, ifindex
  using RouteKey = std::tuple<int, AddressBytes, int, std::uint32_t, int>;
  using AddressKey = std::pair<AddressBytes, int>;  // address, ifindex

  NetlinkWatcher(boost::asio::io_context& io, std::string link_pattern, Callbacks callbacks);
  absl::Status ListExisting();
  void Wait();
  void Receive();
  void Relist();                                    // ListExisting, retried until it succeeds
  static int OnMessage(nl_msg* msg, void* arg);     // a notification
  static void OnObject(nl_object* obj, void* arg);  // a notified or listed object
  void OnLink(rtnl_link* nl_link, bool removed);
  void OnRoute(rtnl_route* nl_route, bool removed, bool replaced);
  void OnAddress(rtnl_addr* nl_address, bool removed);
  void ForgetRoutesThrough(int ifindex, int family);  // AF_UNSPEC: both families
  // Records and reports; a removal only of what is recorded.
  void Report(const Link& link, bool removed);
  void Report(const RouteKey& key, const Route& route, bool removed);
  void Report(const LocalAddress& address, bool removed);
  void ReportError(const absl::Status& status);

  boost::asio::posix::stream_descriptor socket_fd_;  // a dup of events_'s, to wait on
  boost::asio::steady_timer relist_timer_;
  std::string link_pattern_;
  Callbacks callbacks_;
  // What was reported and not removed since: after lost notifications, a
  // fresh listing is compared with these to report what vanished meanwhile.
  std::map<int, Link> links_;
  std::map<RouteKey, Route> routes_;
  std::map<AddressKey, LocalAddress> addresses_;
  // Every IPv4 address per ifindex, reported or not (127.x too): a link's
  // last one going takes the IPv4 routes through the link with it.
  std::map<int, std::set<AddressBytes>> ipv4_addresses_;
  bool listing_ = false;
  std::map<int, Link> listed_links_;
  std::map<RouteKey, Route> listed_routes_;
  std::map<AddressKey, LocalAddress> listed_addresses_;
  std::unique_ptr<nl_sock, NlSocketFree> events_;  // subscribed to link, route and address groups
};

}  // namespace bulkhead
