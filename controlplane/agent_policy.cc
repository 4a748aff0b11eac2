// The review loop in the agent: the export a person reads, and the reviewed
// file they bring back (api/policy_document.h has the format and what
// applying means). A file is checked whole against the inventory and the
// guardrails first; one with any problem changes nothing and every problem
// goes back with its line. A good one is applied as one transaction: its
// segments, guardrails and modes reach the maps together (Reconciler), and
// only then the agent's own view, so a refused write leaves both as they were.
#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "api/enum_names.h"
#include "api/policy_document.h"
#include "controlplane/agent.h"
#include "controlplane/atomic_file.h"
#include "controlplane/log.h"
#include "controlplane/state_file.h"
#include "datapath/status.h"

namespace bulkhead {
namespace {

// The copy of the --policy file last applied, so a restart applies it again
// only if it changed (and does not undo what was learned or set since).
constexpr char kAppliedPolicyFile[] = "policy-file.applied";

// At most this many problems of a --policy file are logged (all of them go
// back to `bulkhead policy apply`).
constexpr std::size_t kMaxProblemsLogged = 20;

std::string Millis(absl::Duration d) {
  double ms = absl::ToDoubleMilliseconds(d);
  return ms < 10 ? absl::StrFormat("%.2f ms", ms) : absl::StrFormat("%.0f ms", ms);
}

}  // namespace

absl::StatusOr<std::vector<Guardrail>> Agent::CombineGuardrails(
    const std::vector<Guardrail>& file, const std::vector<Guardrail>& policy) {
  std::vector<Guardrail> combined = file;
  for (const Guardrail& g : policy) {
    auto same_name = std::find_if(file.begin(), file.end(),
                                  [&](const Guardrail& f) { return f.name == g.name; });
    if (same_name == file.end()) {
      combined.push_back(g);
    } else if (!same_name->SameRule(g)) {
      return absl::InvalidArgumentError(
          absl::StrCat("guardrail \"", g.name, "\" means two rules: one in ", same_name->source,
                       ", another in an applied policy file"));
    }
  }
  return combined;
}

bulkhead::v1::ExportPolicyResponse Agent::ExportPolicy() const {
  bulkhead::v1::ExportPolicyResponse out;
  *out.mutable_policy() = store_.Snapshot();
  *out.mutable_held_back() = HeldBackPolicy(scan_);
  guardrails_.Statuses(out.mutable_guardrails());
  std::map<std::string, std::uint32_t> workloads;  // sorted by name
  for (const auto& [identity, w] : identities_.workloads()) workloads.emplace(w.id(), identity);
  for (const auto& [name, identity] : workloads) {
    const Workload* w = identities_.WorkloadOf(identity);
    bulkhead::v1::WorkloadInfo* info = out.add_workloads();
    info->set_workload(name);
    info->mutable_labels()->insert(w->labels.begin(), w->labels.end());
    info->set_mode(static_cast<bulkhead::v1::Mode>(ModeOf(identity)));
  }
  std::map<std::string, const NetworkSet*> networks;
  for (const auto& [identity, n] : identities_.networks()) networks.emplace(n.name, &n);
  for (const auto& [name, n] : networks) {
    bulkhead::v1::NetworkInfo* info = out.add_networks();
    info->set_name(name);
    for (const std::string& cidr : n->cidrs) info->add_cidrs(cidr);
  }
  if (interfaces_)
    for (const bh_addr& addr : interfaces_->host_addresses())
      out.add_host_addresses(FormatAddress(addr));
  out.set_host_reaches_workloads(options_.datapath_config.allow_host_to_workloads);
  return out;
}

absl::StatusOr<bulkhead::v1::ApplyPolicyResponse> Agent::ApplyPolicy(
    const bulkhead::v1::ApplyPolicyRequest& request) {
  bulkhead::v1::ApplyPolicyResponse response;
  // Read and checked against what is in force now.
  PeerCatalog catalog;
  for (const auto& [identity, w] : identities_.workloads())
    catalog.workloads[w.id()].insert(w.labels.begin(), w.labels.end());
  for (const auto& [identity, n] : identities_.networks()) catalog.networks[n.name] = n.cidrs;
  if (interfaces_)
    for (const bh_addr& addr : interfaces_->host_addresses())
      catalog.host_addresses.push_back(FormatAddress(addr));
  const absl::Time started = absl::Now();
  ParsedPolicy parsed = ParsePolicyDocument(request.content(), &catalog);
  const absl::Time read = absl::Now();
  const PolicyDocument& document = parsed.document;
  auto decides = [&](const SegmentKey& key) {
    return document.Decides(key.from, key.to, static_cast<bulkhead::v1::Protocol>(key.proto));
  };
  bulkhead::v1::Policy before = store_.Snapshot();
  std::size_t kept = std::count_if(before.segments().begin(), before.segments().end(),
                                   [&](const auto& s) { return !decides(KeyOf(s)); });
  std::size_t capacity = options_.map_sizes.policy;
  PolicyContext context{.catalog = &catalog,
                        .other_guardrails = file_guardrails_,
                        .max_segments = kept < capacity ? capacity - kept : 1};
  std::vector<std::string> warnings = parsed.warnings;
  CheckPolicyDocument(document, context, &parsed.problems, &warnings);
  std::size_t held_kept = std::count_if(scan_.held().begin(), scan_.held().end(),
                                        [&](const auto& h) { return !decides(h.first); });
  if (held_kept + document.held_back.size() > ScanGuard::kMaxHeld)
    parsed.problems.push_back(
        {0, absl::StrCat(document.held_back.size(), " held-back candidates, more than are kept (",
                         ScanGuard::kMaxHeld, ")")});
  for (const std::string& w : warnings) response.add_warnings(w);
  if (!parsed.problems.empty()) {
    ++policy_applies_refused_;
    for (const PolicyProblem& p : parsed.problems) {
      bulkhead::v1::PolicyProblem* out = response.add_problems();
      out->set_line(static_cast<std::uint32_t>(p.line));
      out->set_message(p.message);
    }
    return response;
  }

  // What the file makes of the policy, the guardrails and the modes.
  std::vector<bulkhead::v1::Segment> desired;
  for (const auto& s : document.segments) desired.push_back(s.value);
  bulkhead::v1::Policy plan = store_.Plan(desired, decides);
  std::set<SegmentKey> old_keys, new_keys;
  for (const auto& s : before.segments()) old_keys.insert(KeyOf(s));
  for (const auto& s : plan.segments()) new_keys.insert(KeyOf(s));
  for (const SegmentKey& k : new_keys) {
    if (old_keys.contains(k))
      response.set_segments_kept(response.segments_kept() + 1);
    else
      response.set_segments_added(response.segments_added() + 1);
  }
  for (const SegmentKey& k : old_keys)
    if (!new_keys.contains(k)) response.set_segments_removed(response.segments_removed() + 1);

  std::vector<Guardrail> policy_guardrails = policy_guardrails_;
  if (document.WholeNode()) {
    policy_guardrails.clear();
    for (const auto& entry : document.guardrails) {
      const Guardrail& g = entry.value;
      if (std::none_of(file_guardrails_.begin(), file_guardrails_.end(),
                       [&](const Guardrail& f) { return f.SameRule(g); }))
        policy_guardrails.push_back(g);
    }
  }
  BH_ASSIGN_OR_RETURN(std::vector<Guardrail> guardrails,
                      CombineGuardrails(file_guardrails_, policy_guardrails));
  response.set_guardrails(static_cast<std::uint32_t>(document.guardrails.size()));

  std::map<std::uint32_t, bh_mode> modes = modes_;
  std::vector<std::string> mode_changed;
  for (const auto& [name, mode] : document.modes) {
    std::uint32_t identity = *identities_.IdentityOf(name);  // checked above
    if (ModeOf(identity) == static_cast<bh_mode>(mode.value)) continue;
    modes[identity] = static_cast<bh_mode>(mode.value);
    mode_changed.push_back(name);
    response.add_modes_changed(absl::StrCat(name, ": ", ModeName(mode.value)));
  }
  if (request.dry_run()) return response;

  const absl::Time checked = absl::Now();
  CompiledPolicy compiled = Compiler::Compile(plan, identities_);
  CompiledGuardrails compiled_guardrails = guardrails_.Compile(identities_, &guardrails);
  BH_ASSIGN_OR_RETURN(ApplyCounts counts,
                      maps_->Apply({.policy = std::move(compiled.entries),
                                    .policy_ranges = std::move(compiled.ranges),
                                    .modes = modes,
                                    .guardrails = compiled_guardrails.entries}));

  // The maps hold it: now the agent's view.
  store_.Replace(plan);
  policy_dirty_ = false;
  guardrails_.Commit(compiled_guardrails, &guardrails);
  policy_guardrails_ = std::move(policy_guardrails);
  // Held back: the file's candidates stay (or come) back; the others it
  // decides were taken into the policy or rejected.
  absl::Time now = absl::Now();
  std::set<SegmentKey> still_held;
  for (const auto& [s, line] : document.held_back) {
    SegmentKey key = KeyOf(s);
    still_held.insert(key);
    if (!scan_.held().contains(key))
      scan_.Hold(key, s.has_first_seen() ? FromTimestamp(s.first_seen()) : now,
                 s.has_last_seen() ? FromTimestamp(s.last_seen()) : now, s.flows());
  }
  std::vector<SegmentKey> released;
  for (const auto& [key, held] : scan_.held())
    if (decides(key) && !still_held.contains(key)) released.push_back(key);
  for (const SegmentKey& key : released) scan_.Release(key);
  for (const std::string& name : mode_changed) stability_.ModeChanged(name, now);
  modes_ = std::move(modes);
  ++policy_applies_;
  apply_timing_.Add(absl::Now() - started);
  LogInfo(absl::StrCat(
      "policy applied from ", request.source().empty() ? "the API" : request.source(), ": ",
      response.segments_added(), " segments added, ", response.segments_removed(), " removed, ",
      response.segments_kept(), " kept; ", response.guardrails(), " guardrails; ",
      mode_changed.size(), " modes changed; maps: ", counts.written, " entries written, ",
      counts.removed, " removed (read in ", Millis(read - started), ", checked in ",
      Millis(checked - read), ", in the maps in ", Millis(absl::Now() - checked), ")"));
  for (const std::string& w : warnings) LogWarning(absl::StrCat("policy: ", w));
  BH_RETURN_IF_ERROR(SaveState());
  return response;
}

void Agent::ApplyPolicyFile() {
  const std::string& path = options_.policy_path;
  absl::StatusOr<std::optional<std::string>> content = ReadFileIfExists(path);
  if (!content.ok() || !content->has_value()) {
    ++policy_applies_refused_;
    LogError(absl::StrCat("policy file ", path, ": ",
                          content.ok() ? "cannot open" : content.status().message(),
                          "; the policy in force stays"));
    return;
  }
  std::string applied_copy;
  if (!options_.state_dir.empty()) {
    applied_copy = (std::filesystem::path(options_.state_dir) / kAppliedPolicyFile).string();
    auto last = ReadFileIfExists(applied_copy);
    if (last.ok() && last->has_value() && **last == **content) return;  // applied already
  }
  bulkhead::v1::ApplyPolicyRequest request;
  request.set_content(**content);
  request.set_source(path);
  absl::StatusOr<bulkhead::v1::ApplyPolicyResponse> applied = ApplyPolicy(request);
  if (!applied.ok()) {
    ++policy_applies_refused_;
    LogError(absl::StrCat("policy file ", path, ": ", applied.status().message(),
                          "; the policy in force stays"));
    return;
  }
  if (applied->problems_size() > 0) {
    LogError(absl::StrCat("policy file ", path, " refused, ", applied->problems_size(),
                          " problems; the policy in force stays:"));
    for (int i = 0; i < applied->problems_size() && i < static_cast<int>(kMaxProblemsLogged); ++i) {
      const auto& p = applied->problems(i);
      LogError(absl::StrCat("  ", path, ":", p.line(), ": ", p.message()));
    }
    if (applied->problems_size() > static_cast<int>(kMaxProblemsLogged))
      LogError(absl::StrCat("  and ", applied->problems_size() - kMaxProblemsLogged,
                            " more (bulkhead policy apply --dry-run ", path, " lists them all)"));
    return;
  }
  if (!applied_copy.empty())
    if (absl::Status s = WriteFileAtomically(applied_copy, **content); !s.ok())
      LogWarning(absl::StrCat("policy file ", path, ": applied, but keeping a copy failed (",
                              s.message(), "): the next start applies it again"));
}

}  // namespace bulkhead
