#include "controlplane/interfaces.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "controlplane/log.h"
#include "datapath/status.h"

namespace bulkhead {
namespace {

bool IsHostRoute(const Route& route) {
  return route.prefix_len == (route.family == AF_INET ? 32 : 128);
}

bh_addr AddressOf(const AddressBytes& bytes) {
  bh_addr addr;
  std::memcpy(&addr, bytes.data(), sizeof(addr));
  return addr;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Interfaces>> Interfaces::Create(boost::asio::io_context& io,
                                                               std::string pattern,
                                                               Datapath& datapath,
                                                               const IdentityTable& identities,
                                                               Callbacks callbacks) {
  std::unique_ptr<Interfaces> self(new Interfaces(datapath, identities, std::move(callbacks)));
  Interfaces* me = self.get();
  BH_ASSIGN_OR_RETURN(
      me->netlink_,
      NetlinkWatcher::Create(
          io, std::move(pattern),
          {.link_added = [me](const Link& l) { me->Attach(l); },
           .link_removed = [me](const Link& l) { me->OnLinkRemoved(l); },
           .route_added = [me](const Route& r) { me->OnRouteAdded(r); },
           .route_removed = [me](const Route& r) { me->OnRouteRemoved(r); },
           .address_added = [me](const LocalAddress& a) { me->OnAddressAdded(a); },
           .address_removed = [me](const LocalAddress& a) { me->OnAddressRemoved(a); },
           .error = [](const absl::Status& s) { LogError(s.message()); }}));
  return self;
}

absl::Status Interfaces::Start() { return netlink_->Start(); }

void Interfaces::AttachListed() {
  listing_ = false;
  for (const auto& [ifindex, link] : listed_links_) Attach(link);
  listed_links_.clear();
}

std::set<bh_addr> Interfaces::host_addresses() const {
  std::set<bh_addr> host;
  for (const auto& [addr, count] : host_addresses_) host.insert(addr);
  return host;
}

std::map<std::uint32_t, bh_endpoint_value> Interfaces::endpoints() const {
  return EndpointsFor(identities_);
}

std::vector<std::string> Interfaces::Describe() const {
  std::vector<std::string> lines;
  for (const auto& [ifindex, name] : datapath_.attached()) {
    auto bound = bound_.find(ifindex);
    lines.push_back(bound == bound_.end()
                        ? absl::StrCat(name, " (no workload routed through it)")
                        : absl::StrCat(name, " (", identities_.NameOf(bound->second), ")"));
  }
  return lines;
}

// Until AttachListed(), the agent reads everything at once afterwards.
void Interfaces::Tell(const std::function<void()>& callback) {
  if (!listing_ && callback) callback();
}

void Interfaces::Attach(const Link& link) {
  auto ifindex = static_cast<std::uint32_t>(link.ifindex);
  auto known = netnsids_.find(ifindex);
  bool moved = known != netnsids_.end() && known->second != link.netnsid;
  netnsids_[ifindex] = link.netnsid;
  if (moved && bound_.contains(ifindex)) Tell(callbacks_.bindings_changed);
  if (listing_) {
    listed_links_[link.ifindex] = link;
    return;
  }
  if (datapath_.IsAttached(link.ifindex)) return;
  if (absl::Status status = datapath_.Attach(link.ifindex, link.name); !status.ok()) {
    LogError(status.message());
    return;
  }
  LogInfo(absl::StrCat("attached to ", link.name, " (ifindex ", link.ifindex, ")"));
}

void Interfaces::OnLinkRemoved(const Link& link) {
  listed_links_.erase(link.ifindex);
  netnsids_.erase(link.ifindex);
  if (routed_.erase(link.ifindex)) Rebind();
  if (!datapath_.IsAttached(link.ifindex)) return;
  (void)datapath_.Detach(link.ifindex);
  LogInfo(absl::StrCat("interface ", link.name, " is gone"));
}

// A host route to a workload's address names the interface the workload is
// behind: bind them, so its hooks judge packets as that workload's. Routes
// are kept by interface in the order they came, so a reload of the
// inventory can bind again; if one interface routes addresses of two
// workloads, the latest route wins.
std::map<std::uint32_t, std::uint32_t> Interfaces::BindingsFor(
    const IdentityTable& identities) const {
  std::map<std::uint32_t, std::uint32_t> bindings;
  for (const auto& [ifindex, addresses] : routed_)
    for (const bh_addr& addr : addresses)
      if (auto identity = identities.IdentityOfAddress(addr)) bindings[ifindex] = *identity;
  return bindings;
}

std::map<std::uint32_t, bh_endpoint_value> Interfaces::EndpointsFor(
    const IdentityTable& identities) const {
  std::map<std::uint32_t, bh_endpoint_value> entries;
  for (const auto& [ifindex, identity] : BindingsFor(identities)) {
    auto netnsid = netnsids_.find(ifindex);
    entries[ifindex] = {.identity = identity,
                        .netnsid_plus1 = netnsid == netnsids_.end() || netnsid->second < 0
                                             ? 0u
                                             : static_cast<std::uint32_t>(netnsid->second) + 1};
  }
  return entries;
}

void Interfaces::Rebind() {
  std::map<std::uint32_t, std::uint32_t> bindings = BindingsFor(identities_);
  if (bindings == bound_) return;
  for (const auto& [ifindex, identity] : bindings) {
    auto before = bound_.find(ifindex);
    if (!listing_ && (before == bound_.end() || before->second != identity))
      LogInfo(absl::StrCat("bound ", datapath_.InterfaceName(static_cast<int>(ifindex)), " to ",
                           identities_.NameOf(identity)));
  }
  bound_ = std::move(bindings);
  Tell(callbacks_.bindings_changed);
}

void Interfaces::OnRouteAdded(const Route& route) {
  if (!IsHostRoute(route)) return;
  std::vector<bh_addr>& addresses = routed_[static_cast<std::uint32_t>(route.ifindex)];
  bh_addr addr = AddressOf(route.addr);
  std::erase(addresses, addr);
  addresses.push_back(addr);
  Rebind();
}

void Interfaces::OnRouteRemoved(const Route& route) {
  if (!IsHostRoute(route)) return;
  auto it = routed_.find(static_cast<std::uint32_t>(route.ifindex));
  if (it == routed_.end()) return;
  std::erase(it->second, AddressOf(route.addr));
  if (it->second.empty()) routed_.erase(it);
  Rebind();
}

// The node's own addresses are the `host` identity: its probes into pods,
// and pods' calls to node-local agents, are flows of a segment like any.
void Interfaces::OnAddressAdded(const LocalAddress& address) {
  if (host_addresses_[AddressOf(address.addr)]++ == 0) Tell(callbacks_.host_addresses_changed);
}

void Interfaces::OnAddressRemoved(const LocalAddress& address) {
  auto it = host_addresses_.find(AddressOf(address.addr));
  if (it == host_addresses_.end() || --it->second > 0) return;
  host_addresses_.erase(it);
  Tell(callbacks_.host_addresses_changed);
}

}  // namespace bulkhead
