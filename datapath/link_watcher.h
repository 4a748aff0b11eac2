// Tells the agent about network interfaces whose name matches a glob pattern
// (fnmatch, e.g. "lxc*"): every existing one at Start(), then each one that
// appears or disappears, as rtnetlink announces it (libnl-route).
//
// Callbacks run on the io_context's thread. on_added may be called more than
// once for the same interface (rtnetlink repeats RTM_NEWLINK on state
// changes); treat it as idempotent.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct nl_sock;
struct nl_msg;

namespace bulkhead {

struct Link {
  int ifindex;
  std::string name;
};

class LinkWatcher {
 public:
  using Callback = std::function<void(const Link&)>;

  static absl::StatusOr<std::unique_ptr<LinkWatcher>> Create(boost::asio::io_context& io,
                                                             std::string pattern, Callback on_added,
                                                             Callback on_removed);
  ~LinkWatcher();
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

  // Reports the existing interfaces, then watches for changes.
  absl::Status Start();

 private:
  LinkWatcher(boost::asio::io_context& io, std::string pattern, Callback on_added,
              Callback on_removed);
  static int OnMessage(nl_msg* msg, void* arg);
  void Wait();
  bool Matches(const std::string& name) const;

  boost::asio::posix::stream_descriptor socket_fd_;
  std::string pattern_;
  Callback on_added_;
  Callback on_removed_;
  nl_sock* events_ = nullptr;  // subscribed to RTNLGRP_LINK
};

}  // namespace bulkhead
