// The node's workload interfaces, as netlink reports them:
//   - attaches the TC programs to every interface matching the pattern;
//   - binds an interface to the workload whose address a host route
//     (/32, /128) sends through it;
//   - keeps the node's own addresses (the `host` identity).
// It writes no map: on a change of bindings or of the node's addresses it
// says so through Callbacks, and the agent hands the new contents to the
// Reconciler.
//
// Start() lists what exists without attaching anything, so the agent can put
// the maps in order first; AttachListed() then attaches (replacing an earlier
// agent's programs in place). Later changes act at once.
//
// Not thread-safe; lives on the agent's event loop.
#pragma once

#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controlplane/identity_table.h"
#include "datapath/datapath.h"
#include "datapath/netlink_watcher.h"

namespace bulkhead {

class Interfaces {
 public:
  struct Callbacks {
    std::function<void()> bindings_changed;
    std::function<void()> host_addresses_changed;
  };

  static absl::StatusOr<std::unique_ptr<Interfaces>> Create(boost::asio::io_context& io,
                                                            std::string pattern, Datapath& datapath,
                                                            const IdentityTable& identities,
                                                            Callbacks callbacks);

  // Lists links, routes and addresses; attaches nothing yet.
  absl::Status Start();
  // Attaches to every listed interface; from now on, to new ones at once.
  void AttachListed();

  // What the endpoints map must hold: each bound interface's workload, and
  // the workload's network namespace (its id here) when the link says.
  std::map<std::uint32_t, bh_endpoint_value> endpoints() const;
  // The same for another identity table (an inventory being reloaded).
  std::map<std::uint32_t, bh_endpoint_value> EndpointsFor(const IdentityTable& identities) const;
  // Binds every interface again by the current identities (after the
  // table changed); says bindings_changed if anything moved.
  void Rebind();
  std::set<bh_addr> host_addresses() const;
  // "lxc1 (shop/api)", "lxc2 (no workload routed through it)", ...
  std::vector<std::string> Describe() const;

 private:
  Interfaces(Datapath& datapath, const IdentityTable& identities, Callbacks callbacks)
      : datapath_(datapath), identities_(identities), callbacks_(std::move(callbacks)) {}

  void Attach(const Link& link);
  void OnLinkRemoved(const Link& link);
  void OnRouteAdded(const Route& route);
  void OnRouteRemoved(const Route& route);
  void OnAddressAdded(const LocalAddress& address);
  void OnAddressRemoved(const LocalAddress& address);
  void Tell(const std::function<void()>& callback);
  std::map<std::uint32_t, std::uint32_t> BindingsFor(const IdentityTable& identities) const;

  Datapath& datapath_;
  const IdentityTable& identities_;
  Callbacks callbacks_;
  std::unique_ptr<NetlinkWatcher> netlink_;
  bool listing_ = true;  // until AttachListed(): collect, act later
  std::map<int, Link> listed_links_;
  std::map<std::uint32_t, std::vector<bh_addr>> routed_;  // host routes per ifindex, in order
  std::map<std::uint32_t, std::uint32_t> bound_;          // ifindex -> identity
  std::map<std::uint32_t, int> netnsids_;                 // ifindex -> its peer's netnsid
  std::map<bh_addr, int> host_addresses_;                 // counted per interface holding it
};

}  // namespace bulkhead
