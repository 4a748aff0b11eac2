// Tells the agent about the node's network interfaces, routes and
// addresses, as rtnetlink announces them (libnl-route): every existing one
// at Start(), then each change.
//
//   - links whose name matches a glob pattern (fnmatch, e.g. "lxc*");
//   - unicast IPv4 and IPv6 routes in the main table through one interface,
//     which is how CNI plugins route a pod's address to its host-side veth
//     (10.244.1.10/32 dev lxc-frontend, fd00:244::10/128 dev lxc-frontend):
//     the agent binds interfaces to workloads from them. IPv6 link-local
//     and multicast routes and cached (cloned) routes are skipped;
//   - the node's own unicast addresses on every interface, whatever its name
//     (the agent gives them the `host` identity); loopback and IPv6
//     link-local addresses are skipped. An address on two interfaces is
//     reported once per interface.
//
// Addresses are in the datapath's 16-byte form: IPv6 as is, IPv4 as
// IPv4-mapped (::ffff:a.b.c.d).
//
// Callbacks run on the io_context's thread. An "added" callback may repeat
// for the same object (rtnetlink repeats RTM_NEWLINK on state changes, and
// everything is listed again after the kernel dropped notifications because
// our socket was full); treat it as idempotent.
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>

#include "absl/status/statusor.h"

struct nl_sock;
struct nl_msg;
struct nl_object;

namespace bulkhead {

struct Link {
  int ifindex;
  std::string name;
};

using AddressBytes = std::array<std::uint8_t, 16>;

struct Route {
  AddressBytes addr;  // destination
  int family;         // AF_INET or AF_INET6
  int prefix_len;     // in the family's bits: 32 (IPv4) or 128 (IPv6) for a host route
  int ifindex;        // the interface it goes out of
};

struct LocalAddress {
  AddressBytes addr;
  int family;  // AF_INET or AF_INET6
  int ifindex;
};

class NetlinkWatcher {
 public:
  struct Callbacks {
    std::function<void(const Link&)> link_added;
    std::function<void(const Link&)> link_removed;
    std::function<void(const Route&)> route_added;
    std::function<void(const Route&)> route_removed;
    std::function<void(const LocalAddress&)> address_added;
    std::function<void(const LocalAddress&)> address_removed;
  };  // any may be empty

  static absl::StatusOr<std::unique_ptr<NetlinkWatcher>> Create(boost::asio::io_context& io,
                                                                std::string link_pattern,
                                                                Callbacks callbacks);
  ~NetlinkWatcher();
  NetlinkWatcher(const NetlinkWatcher&) = delete;
  NetlinkWatcher& operator=(const NetlinkWatcher&) = delete;

  // Reports the existing links and routes, then watches for changes.
  absl::Status Start();

 private:
  NetlinkWatcher(boost::asio::io_context& io, std::string link_pattern, Callbacks callbacks);
  absl::Status ListExisting();
  void Wait();
  static int OnMessage(nl_msg* msg, void* arg);
  void Dispatch(nl_object* obj, bool removed);      // a libnl object, if it is of interest
  void Dispatched(const Link& link, bool removed);  // records and reports
  void Dispatched(const Route& route, bool removed);
  void Dispatched(const LocalAddress& address, bool removed);

  using RouteKey = std::tuple<AddressBytes, int, int>;  // dst, prefix, ifindex
  using AddressKey = std::pair<AddressBytes, int>;      // address, ifindex

  boost::asio::posix::stream_descriptor socket_fd_;
  std::string link_pattern_;
  Callbacks callbacks_;
  // What was reported and not removed since: after lost notifications, a
  // fresh listing is compared with these to report what vanished meanwhile.
  std::map<int, Link> links_;
  std::map<RouteKey, Route> routes_;
  std::map<AddressKey, LocalAddress> addresses_;
  bool listing_ = false;
  std::map<int, Link> listed_links_;
  std::map<RouteKey, Route> listed_routes_;
  std::map<AddressKey, LocalAddress> listed_addresses_;
  nl_sock* events_ = nullptr;  // subscribed to link, route and address groups
};

}  // namespace bulkhead
