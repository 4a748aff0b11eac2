// Which flows `bulkhead flows` (and `graph`) show: the filters of its
// flags, as hubble observe has them. Each flag may be given more than once:
// occurrences of the same flag OR, different flags AND, and `--not` before a
// flag negates that occurrence (all negated occurrences of a flag must fail
// to match: `--not --verdict DROPPED --not --verdict AUDIT` leaves
// FORWARDED). The same filter reads live flows and saved ones (--input).
//
//   FlowFilter filter;
//   BH_RETURN_IF_ERROR(filter.Add(FlowFilter::Field::kVerdict, "dropped", false));
//   if (filter.Matches(flow)) ...
#pragma once

#include <functional>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/flow.pb.h"

namespace bulkhead {

class FlowFilter {
 public:
  enum class Field {
    kFrom,       // the source: "namespace/name", or a peer (world, host, a network set)
    kTo,         // the destination, likewise
    kWorkload,   // either end
    kNamespace,  // either end's namespace
    kLabel,      // either end has label key=value (or key, any value)
    kIp,         // either end's address is in this CIDR (or is this address)
    kPort,       // either end's port, or the Service port the packet was sent to
    kProtocol,   // tcp, udp, sctp, icmp, icmpv6
    kVerdict,    // forwarded, dropped, audit
    kReason,     // policy, guardrail, spoofed, unparseable, malformed, fragment, unbound
    kSegment,    // the segment's id, or its description ("a -> b : tcp/80")
    kNode,       // the node whose agent saw it
    kService,    // the Service it was sent to ("namespace/name")
  };

  // Adds one occurrence of a flag; an unreadable value (a bad CIDR, port,
  // verdict...) is InvalidArgument naming the value and what was expected.
  absl::Status Add(Field field, absl::string_view value, bool negated);
  // The time window: from `since` (inclusive) to `until` (exclusive).
  void SetSince(absl::Time t) { since_ = t; }
  void SetUntil(absl::Time t) { until_ = t; }

  bool Matches(const bulkhead::v1::Flow& flow) const;
  bool empty() const { return groups_.empty() && !since_ && !until_; }

 private:
  using Matcher = std::function<bool(const bulkhead::v1::Flow&)>;
  std::map<std::pair<Field, bool>, std::vector<Matcher>> groups_;  // (field, negated) ->
  std::optional<absl::Time> since_, until_;
};

// "5m", "1h30m" (that long before `now`) or an RFC 3339 time
// ("2026-12-08T01:37:24Z"); InvalidArgument otherwise.
absl::StatusOr<absl::Time> ParseFlowTime(absl::string_view text, absl::Time now);

// Flows saved by `bulkhead flows -o json`: one JSON object a line; blank
// lines skipped. `name` is used in errors ("saved.json:12: ...").
absl::StatusOr<std::vector<bulkhead::v1::Flow>> ReadFlowsJson(std::istream& in,
                                                              const std::string& name);
// The same from the file at `path` (NotFound "PATH: cannot open").
absl::StatusOr<std::vector<bulkhead::v1::Flow>> ReadFlowsFile(const std::string& path);

}  // namespace bulkhead
