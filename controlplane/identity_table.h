// Workloads, network sets and the identities the datapath knows them by.
//
// The inventory is a YAML file:
//
//   workloads:
//     - namespace: shop
//       name: frontend
//       labels: {app: frontend}
//       addresses: [10.244.1.10, "fd00:244::10"]   # IPv4 and/or IPv6
//       mode: learn            # optional; the agent's --mode otherwise
//   networks:                  # optional: peers outside the workloads
//     - name: payments-api
//       cidrs: [203.0.113.0/24, "2001:db8:77::/48"]
//   services:                  # optional: Services kube-proxy rewrites
//     - namespace: shop
//       name: api
//       workload: shop/api     # the workload whose pods are its endpoints
//       clusterIPs: [10.96.0.10]
//       ports:                 # protocol TCP and targetPort = port by default
//         - {port: 80, targetPort: 8080, protocol: TCP, nodePort: 30080}
//
// A flow to a Service's ClusterIP and port (or to a node address and its
// NodePort) is judged and learned at the source's hook as the flow to the
// backend workload's target port: kube-proxy rewrites the destination only
// after the packet has left that hook (bpf/README.md, "Services").
//
// Strict: an unknown key, an address that cannot be a workload's (loopback,
// multicast, broadcast, unspecified, link-local...), a control character in
// a name, a CIDR with host bits set are errors naming the entry and the field.
//
// Peers by name: a workload is "namespace/name"; a network set is its name
// (no '/'); reserved: "host" (the node's own addresses), "private" (RFC 1918
// and ULA ranges), "world" (everything else). An address is the workload's
// that lists it, else the network set with the longest prefix holding it
// (a set's prefix beats `private`'s), else private or world.
//
// Identities are numbers: workloads from BH_IDENTITY_FIRST_WORKLOAD up,
// network sets from BH_IDENTITY_FIRST_NETWORK up. Build() keeps the numbers
// an earlier run gave (the agent persists them, or reads them back from the
// pinned ipcache), so a restart or a changed inventory never renumbers a live
// workload under the kernel's feet; new entries take the next numbers never
// given (the agent persists the high-water marks too, so a removed entry's
// number is never reused), in sorted order. Policy is stored by name, never
// by number. Immutable after Build(); safe to read from any thread.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "api/names.h"
#include "datapath/abi.h"

namespace bulkhead {

struct Workload {
  std::string ns;
  std::string name;
  std::map<std::string, std::string> labels;
  std::vector<std::string> addresses;  // IPv4 or IPv6, as written
  std::optional<bh_mode> mode;         // from the inventory, if given

  std::string id() const { return ns + "/" + name; }
};

// Named CIDRs: a peer outside the workloads (an external API, a database
// cluster, the corporate network).
struct NetworkSet {
  std::string name;
  std::vector<std::string> cidrs;  // as written
};

struct ServicePort {
  std::uint8_t proto = 6;  // IPPROTO_TCP, _UDP or _SCTP
  std::uint16_t port = 0;
  std::uint16_t target_port = 0;  // where the backends listen
  std::uint16_t node_port = 0;    // 0: none
};

// A Service whose virtual addresses and ports lead to one workload's pods.
struct Service {
  std::string ns;
  std::string name;
  std::string workload;                  // "namespace/name"
  std::vector<std::string> cluster_ips;  // as written
  std::vector<ServicePort> ports;

  std::string id() const { return ns + "/" + name; }
};

struct Inventory {
  std::vector<Workload> workloads;
  std::vector<NetworkSet> networks;
  std::vector<Service> services;
};

// What a flow to a Service is judged as: the backend workload and the port
// its pods listen on.
struct ServiceTarget {
  const Service* service = nullptr;
  std::uint32_t identity = 0;  // the backend workload
  std::uint16_t target_port = 0;
};

// Parses inventory YAML; every error names the entry and the field.
absl::StatusOr<Inventory> ParseInventory(absl::string_view yaml);
absl::StatusOr<Inventory> LoadInventory(const std::string& path);

// Whether `name` is one of the reserved peers: host, world, private.
bool IsReservedPeer(absl::string_view name);

// "learn" | "monitor" | "enforce" <-> bh_mode (api/enum_names.h's names).
absl::StatusOr<bh_mode> ParseMode(absl::string_view name);
std::string ModeName(bh_mode mode);

// "namespace/name" or a network set's name -> identity number.
using IdentityAssignments = std::map<std::string, std::uint32_t, std::less<>>;

// The lowest numbers never given, one per range; persisted with the
// assignments.
struct NextIdentities {
  std::uint32_t workload = BH_IDENTITY_FIRST_WORKLOAD;
  std::uint32_t network = BH_IDENTITY_FIRST_NETWORK;
};

// Prefix -> identity: what the datapath's prefix ipcache holds.
using PrefixEntries = std::map<bh_ipcache_lpm_key, std::uint32_t, PrefixLess>;
// A Service's address and port -> its backend workload and target port:
// what the datapath's services map holds.
using ServiceEntries = std::map<bh_service_key, bh_service_value, ServiceKeyLess>;

class IdentityTable {
 public:
  // Fails on a duplicate workload, network set or Service, an address or
  // CIDR that does not parse, an address claimed twice, a prefix in two
  // sets, a Service whose workload is not listed, a Service address and
  // port (or NodePort) given twice, a ClusterIP that is a workload's.
  // `previous`: numbers to keep (entries no longer listed, or outside their
  // kind's range, are ignored). `next`: new entries take numbers from here
  // up (and above every kept one), so no number is given twice.
  static absl::StatusOr<IdentityTable> Build(Inventory inventory,
                                             const IdentityAssignments& previous = {},
                                             NextIdentities next = {});
  // Workloads alone (tests and benchmarks).
  static absl::StatusOr<IdentityTable> Build(std::vector<Workload> workloads,
                                             const IdentityAssignments& previous = {},
                                             NextIdentities next = {}) {
    return Build(Inventory{.workloads = std::move(workloads)}, previous, next);
  }
  static absl::StatusOr<IdentityTable> Build(std::initializer_list<Workload> workloads,
                                             const IdentityAssignments& previous = {},
                                             NextIdentities next = {}) {
    return Build(std::vector<Workload>(workloads), previous, next);
  }

  // A peer's identity by name: "namespace/name", a network set's name,
  // "host", "world" or "private".
  std::optional<std::uint32_t> IdentityOf(absl::string_view peer) const;
  // The workload owning an address, if any.
  std::optional<std::uint32_t> IdentityOfAddress(const bh_addr& addr) const;
  const Workload* WorkloadOf(std::uint32_t identity) const;
  const NetworkSet* NetworkOf(std::uint32_t identity) const;
  // "namespace/name", a network set's name, "host", "world", "private", or
  // "unknown(N)".
  std::string NameOf(std::uint32_t identity) const;
  // Whether NameOf() would name it (not "unknown(N)").
  bool Knows(std::uint32_t identity) const;

  // identity -> workload, in identity order.
  const std::map<std::uint32_t, Workload>& workloads() const { return by_identity_; }
  // identity -> network set.
  const std::map<std::uint32_t, NetworkSet>& networks() const { return networks_; }
  // Every workload address -> its identity.
  const std::map<bh_addr, std::uint32_t>& addresses() const { return by_address_; }
  // Every network set's prefixes -> its identity.
  const PrefixEntries& prefixes() const { return prefixes_; }
  // Services by "namespace/name".
  const std::map<std::string, Service>& services() const { return services_; }
  // The services map: every ClusterIP x port, and every address in
  // `node_addresses` x NodePort.
  ServiceEntries ServiceEntriesFor(const std::set<bh_addr>& node_addresses) const;
  // The Service a flow the datapath marked BH_FLOW_SERVICE went to: by
  // ClusterIP and port, else by NodePort (the datapath matched one of the
  // node's addresses).
  std::optional<ServiceTarget> ServiceAt(const bh_addr& addr, std::uint8_t proto,
                                         std::uint16_t port) const;
  // What to persist so the next Build() keeps these numbers.
  IdentityAssignments assignments() const;
  // The lowest numbers never given: persist them with assignments().
  NextIdentities next_free() const { return next_free_; }

 private:
  std::map<std::uint32_t, Workload> by_identity_;
  std::map<std::uint32_t, NetworkSet> networks_;
  std::map<bh_addr, std::uint32_t> by_address_;
  PrefixEntries prefixes_;
  std::map<std::string, Service> services_;
  // (address, proto, port) and (proto, NodePort) -> the Service's id.
  std::map<bh_service_key, std::string, ServiceKeyLess> cluster_ports_;
  std::map<std::pair<std::uint8_t, std::uint16_t>, std::string> node_ports_;
  IdentityAssignments by_name_;
  NextIdentities next_free_;
};

}  // namespace bulkhead
