// Guardrails as people write them: deny rules that learning can never
// override. They come from a YAML file (bulkheadd --guardrails), read as
// strictly as the inventory, or from the guardrails section of a policy
// file (policy_document.h), in the same syntax:
//
//   guardrails:
//     - name: tenants-apart
//       from: {namespace: tenant-a}
//       to: {namespace: tenant-b}
//     - name: kube-system-dns-only
//       from: any                     # every peer, the node included
//       to: {namespace: kube-system}
//       except: [udp/53, tcp/53]      # proto/port, proto/first-last, proto
//
// A selector is `any`, or a mapping with one of: namespace (its workloads),
// workload ("namespace/name"), peer (host, world, private or a network set).
// A guardrail denies every flow from a peer its `from` selects to one its
// `to` selects, whatever the protocol and port, but those its `except`
// lists. What the agent does with them: controlplane/guardrails.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/policy.pb.h"

namespace YAML {
class Node;
}

namespace bulkhead {

struct PeerSelector {
  enum class Kind { kAny, kNamespace, kWorkload, kPeer };
  Kind kind = Kind::kAny;
  std::string value;  // the namespace, "namespace/name" or the peer's name

  std::string ToString() const;  // "any", "namespace tenant-a", ...
  // Whether it selects the peer named `peer` ("namespace/name", a network
  // set's name, host, world, private).
  bool Selects(absl::string_view peer) const;
  bool operator==(const PeerSelector&) const = default;
};

// A port range of one protocol an exception leaves to the segments.
struct PortException {
  std::uint8_t proto = 0;
  std::uint16_t first = 0;
  std::uint16_t last = 65535;  // first 0, last 65535: any port

  std::string ToString() const;  // "udp/53", "tcp/8000-8100", "icmp"
  auto operator<=>(const PortException&) const = default;
};

struct Guardrail {
  std::string name;
  PeerSelector from;
  PeerSelector to;
  std::vector<PortException> except;
  // Where it came from (the --guardrails file's path, or "policy"); not
  // part of the rule.
  std::string source;

  // Whether the two deny the same flows under the same name.
  bool SameRule(const Guardrail& other) const {
    return name == other.name && from == other.from && to == other.to && except == other.except;
  }
  // Whether it denies a flow from `from` to `to` of `proto` to `port` (any
  // port of a range segment first..last): not every port is excepted.
  bool Denies(absl::string_view from_peer, absl::string_view to_peer, std::uint8_t proto,
              std::uint16_t first, std::uint16_t last) const;
};

// One entry of a guardrails list; errors name the field.
absl::StatusOr<Guardrail> ParseGuardrail(const YAML::Node& entry);
// A guardrails file; every error names the entry and the field.
absl::StatusOr<std::vector<Guardrail>> ParseGuardrails(absl::string_view yaml);

// "udp/53", "tcp/8000-8100", "tcp" (any port).
absl::StatusOr<PortException> ParsePortException(absl::string_view text);

// A selector as the API carries it, and back.
bulkhead::v1::Selector SelectorToProto(const PeerSelector& selector);
PeerSelector SelectorFromProto(const bulkhead::v1::Selector& selector);
// A guardrail as the state file keeps it, and back (checked as a file's).
bulkhead::v1::GuardrailRule GuardrailToProto(const Guardrail& guardrail);
absl::StatusOr<Guardrail> GuardrailFromProto(const bulkhead::v1::GuardrailRule& rule);

}  // namespace bulkhead
