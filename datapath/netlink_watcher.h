// Tells the agent about the node's network interfaces and IPv4 routes, as
// rtnetlink announces them (libnl-route): every existing one at Start(),
// then each change.
//
//   - links whose name matches a glob pattern (fnmatch, e.g. "lxc*");
//   - unicast IPv4 routes in the main table through one interface, which is
//     how CNI plugins route a pod's address to its host-side veth
//     (10.244.1.10/32 dev lxc-frontend): the agent binds interfaces to
//     workloads from them.
//
// Callbacks run on the io_context's thread. An "added" callback may repeat
// for the same object (rtnetlink repeats RTM_NEWLINK on state changes, and
// everything is listed again after the kernel dropped notifications because
// our socket was full); treat it as idempotent.
#pragma once

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

struct Route {
  std::uint32_t dst_be;  // IPv4 destination, network byte order
  int prefix_len;
  int ifindex;  // the interface it goes out of
};

class NetlinkWatcher {
 public:
  struct Callbacks {
    std::function<void(const Link&)> link_added;
    std::function<void(const Link&)> link_removed;
    std::function<void(const Route&)> route_added;
    std::function<void(const Route&)> route_removed;
  };

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

  using RouteKey = std::tuple<std::uint32_t, int, int>;  // dst, prefix, ifindex

  boost::asio::posix::stream_descriptor socket_fd_;
  std::string link_pattern_;
  Callbacks callbacks_;
  // What was reported and not removed since: after lost notifications, a
  // fresh listing is compared with these to report what vanished meanwhile.
  std::map<int, Link> links_;
  std::map<RouteKey, Route> routes_;
  bool listing_ = false;
  std::map<int, Link> listed_links_;
  std::map<RouteKey, Route> listed_routes_;
  nl_sock* events_ = nullptr;  // subscribed to RTNLGRP_LINK and RTNLGRP_IPV4_ROUTE
};

}  // namespace bulkhead
