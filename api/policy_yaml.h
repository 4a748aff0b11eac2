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
//   guardrails:            # only if bulkheadd has some (--guardrails)
//     - name: tenants-apart
//       from: namespace tenant-a
//       to: namespace tenant-b
//       except: [udp/53]
//
// Segments are sorted by (from, to, protocol, port) and keys always come in
// this order, so the same policy always gives the same bytes.
#pragma once

#include <string>

#include "proto/api.pb.h"
#include "proto/policy.pb.h"

namespace bulkhead {

inline constexpr char kPolicyApiVersion[] = "bulkhead.dev/v1alpha1";
inline constexpr char kPolicyKind[] = "SegmentPolicy";

// `held_back`: candidates held back for review, written under heldBack;
// `guardrails`: the deny rules in force, under guardrails (each only when
// there are some), so one file shows what a reviewer must know.
std::string PolicyToYaml(
    const bulkhead::v1::Policy& policy, const bulkhead::v1::Policy& held_back = {},
    const google::protobuf::RepeatedPtrField<bulkhead::v1::GuardrailStatus>& guardrails = {});

}  // namespace bulkhead
