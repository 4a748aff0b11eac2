// The learned policy as a file a person reviews:
//
//   apiVersion: bulkhead.dev/v1alpha1
//   kind: SegmentPolicy
//   segments:
//     - from: shop/api
//       to: shop/db
//       protocol: TCP
//       port: 5432
//       origin: learned
//       firstSeen: 2026-11-22T05:41:55.123Z
//       lastSeen: 2026-11-22T05:41:57.004Z
//       flows: 3
//     - from: shop/batch
//       to: shop/cache
//       protocol: TCP
//       port: 30000
//       endPort: 30100       # a range (0-65535: any port)
//       collapsedPorts: 24   # learning collapsed 24 distinct ports into it
//       ...
//
//   heldBack:              # only if learning held candidates back
//     - from: shop/probe ...
//   guardrails:            # only if there are some
//     - name: tenants-apart
//       from: {namespace: tenant-a}
//       to: {namespace: tenant-b}
//       except: [udp/53]
//   modes:                 # every workload's mode
//     shop/api: enforce
//
// The file reads back as it was written (policy_document.h): export ->
// apply -> export gives the same bytes. An export narrowed to a namespace or
// a workload says so (scope:), holds the segments with an end there and
// their modes, and no guardrails.
//
// Segments are sorted by (from, to, protocol, port) and keys always come in
// this order, so the same policy always gives the same bytes.
#pragma once

#include <string>

#include "api/guardrail_rules.h"
#include "proto/api.pb.h"
#include "proto/policy.pb.h"

namespace bulkhead {

inline constexpr char kPolicyApiVersion[] = "bulkhead.dev/v1alpha1";
inline constexpr char kPolicyKind[] = "SegmentPolicy";

// Everything the export holds, or what `scope` covers (a namespace, a
// workload).
std::string PolicyToYaml(const bulkhead::v1::ExportPolicyResponse& exported,
                         const PeerSelector& scope = {});
// A policy alone.
std::string PolicyToYaml(const bulkhead::v1::Policy& policy);

}  // namespace bulkhead
