#include "tools/flows_command.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <limits>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "tools/api_client.h"
#include "tools/output.h"

namespace bulkhead {
namespace {

// How long one follow request waits for news before asking again (one
// agent), or the pause between rounds that found nothing (several).
constexpr std::uint32_t kFollowWaitMs = 2000;
constexpr std::chrono::milliseconds kFollowPause{200};

// Oldest first, whichever agent saw it.
void SortByTime(std::vector<bulkhead::v1::Flow>& flows) {
  std::stable_sort(flows.begin(), flows.end(), [](const auto& a, const auto& b) {
    return std::make_tuple(a.time().seconds(), a.time().nanos()) <
           std::make_tuple(b.time().seconds(), b.time().nanos());
  });
}

// Flows from the agent or from a file, as one kind of list.
template <typename Flows>
std::vector<const bulkhead::v1::Flow*> Pointers(const Flows& flows) {
  std::vector<const bulkhead::v1::Flow*> out;
  out.reserve(static_cast<std::size_t>(flows.size()));
  for (const bulkhead::v1::Flow& f : flows) out.push_back(&f);
  return out;
}

}  // namespace

FlowsCommand::FlowsCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "flows",
      "flows with their verdicts, oldest first, from the agent or a saved file\n"
      "Filters: the same flag twice ORs, different flags AND; --not negates the flag after it");
  last_option_ =
      command_
          ->add_option("--last", last_,
                       "the N most recent flows that match; 0 for all kept (with --follow and\n"
                       "no --last: only flows from now on)")
          ->capture_default_str();
  command_->add_flag("-f,--follow", follow_, "keep printing flows as they come (Ctrl-C to stop)");
  command_->add_option("--since", since_,
                       "only flows at or after this time: a duration before now (30s, 5m, 1h)\n"
                       "or an RFC 3339 time (2026-12-08T01:37:24Z)");
  command_->add_option("--until", until_, "only flows before this time (as --since)");
  struct FilterFlag {
    const char* name;
    FlowFilter::Field field;
    const char* help;
  };
  const FilterFlag flags[] = {
      {"--from", FlowFilter::Field::kFrom,
       "source: namespace/name, or a peer (world, host, a set)"},
      {"--to", FlowFilter::Field::kTo, "destination: namespace/name, or a peer"},
      {"--workload", FlowFilter::Field::kWorkload, "either end: namespace/name, or a peer"},
      {"--namespace", FlowFilter::Field::kNamespace, "either end's namespace"},
      {"--label", FlowFilter::Field::kLabel, "either end has label key=value (or key)"},
      {"--ip", FlowFilter::Field::kIp, "either end's address is in this CIDR (or is it)"},
      {"--port", FlowFilter::Field::kPort, "either end's port (or the Service port)"},
      {"--proto", FlowFilter::Field::kProtocol, "tcp, udp, sctp, icmp, icmpv6"},
      {"--verdict", FlowFilter::Field::kVerdict, "forwarded, dropped, audit"},
      {"--reason", FlowFilter::Field::kReason,
       "why dropped (or would be): policy, guardrail, spoofed, malformed,\n"
       "fragment, unparseable, unbound"},
      {"--segment", FlowFilter::Field::kSegment,
       "the segment that let it through: its id, or \"a -> b : tcp/80\""},
      {"--node", FlowFilter::Field::kNode, "the node whose agent saw it"},
      {"--service", FlowFilter::Field::kService, "sent to this Service (namespace/name)"},
  };
  for (const FilterFlag& flag : flags) {
    CLI::Option* option = command_->add_option(flag.name, values_[flag.field], flag.help)
                              ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
                              ->type_size(1)
                              ->expected(1)
                              ->group("Filters");
    filter_options_[option] = flag.field;
  }
  not_option_ =
      command_->add_flag("--not", nots_, "negate the filter flag right after it")->group("Filters");
  command_
      ->add_option("-o,--output", output_,
                   "table, compact (one line a flow; what --follow prints for table),\n"
                   "or json (one JSON object a line, as --input reads it)")
      ->check(CLI::IsMember({"table", "compact", "json"}))
      ->capture_default_str();
  command_->add_option("--agent", agents_,
                       "an agent's API socket; give it once per node to merge their flows by\n"
                       "time (each flow names its node); default: --socket");
  command_->add_option("--input", input_,
                       "read flows saved by `bulkhead flows -o json` (\"-\": stdin) instead of\n"
                       "asking the agent; the same filters apply");
}

absl::StatusOr<FlowFilter> FlowsCommand::BuildFilter() const {
  FlowFilter filter;
  const absl::Time now = absl::Now();
  if (!since_.empty()) {
    absl::StatusOr<absl::Time> t = ParseFlowTime(since_, now);
    if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("--since: ", t.status().message()));
    filter.SetSince(*t);
  }
  if (!until_.empty()) {
    absl::StatusOr<absl::Time> t = ParseFlowTime(until_, now);
    if (!t.ok()) return absl::InvalidArgumentError(absl::StrCat("--until: ", t.status().message()));
    filter.SetUntil(*t);
  }
  bool negate_next = false;
  std::map<const CLI::Option*, std::size_t> taken;  // occurrences read so far, per flag
  for (const CLI::Option* option : command_->parse_order()) {
    if (option == not_option_) {
      negate_next = true;
      continue;
    }
    auto it = filter_options_.find(option);
    if (it == filter_options_.end()) {
      if (negate_next)
        return absl::InvalidArgumentError(
            absl::StrCat("--not negates a filter flag, not ", option->get_name()));
      continue;
    }
    const std::vector<std::string>& values = values_.at(it->second);
    std::size_t index = taken[option]++;
    if (index >= values.size()) continue;  // not expected: one value per occurrence
    if (absl::Status s = filter.Add(it->second, values[index], negate_next); !s.ok()) return s;
    negate_next = false;
  }
  if (negate_next) return absl::InvalidArgumentError("--not must come before a filter flag");
  return filter;
}

int FlowsCommand::Run(const std::string& socket) {
  absl::StatusOr<FlowFilter> filter = BuildFilter();
  if (!filter.ok()) return PrintFailure(filter.status());
  if (follow_ && !input_.empty())
    return PrintFailure(
        absl::InvalidArgumentError("--follow reads from an agent, not from --input"));
  const bool last_given = last_option_->count() > 0;
  const std::string format = follow_ && output_ == "table" ? "compact" : output_;

  auto print = [&](const std::vector<const bulkhead::v1::Flow*>& flows) {
    if (format == "table") {
      bulkhead::v1::FlowsResponse table;
      for (const bulkhead::v1::Flow* f : flows) *table.add_flows() = *f;
      std::cout << FlowsTable(table);
    } else {
      for (const bulkhead::v1::Flow* f : flows)
        std::cout << (format == "json" ? ToJsonLine(*f) : FlowLine(*f)) << "\n";
    }
    std::cout.flush();
  };
  // The last `last` (0: all) of `flows` that match.
  auto matching = [&](const std::vector<const bulkhead::v1::Flow*>& flows, std::uint32_t last) {
    std::vector<const bulkhead::v1::Flow*> out;
    for (const bulkhead::v1::Flow* f : flows)
      if (filter->Matches(*f)) out.push_back(f);
    if (last != 0 && out.size() > last) out.erase(out.begin(), out.end() - last);
    return out;
  };

  if (!input_.empty()) {
    absl::StatusOr<std::vector<bulkhead::v1::Flow>> flows =
        input_ == "-" ? ReadFlowsJson(std::cin, "stdin") : ReadFlowsFile(input_);
    if (!flows.ok()) return PrintFailure(flows.status());
    print(matching(Pointers(*flows), last_));
    return 0;
  }

  // One connection per agent; their flows are merged by time.
  struct Source {
    std::string socket;
    std::unique_ptr<ApiClient> client;
    std::uint64_t cursor = 0;
  };
  std::vector<Source> sources;
  for (const std::string& path : agents_.empty() ? std::vector<std::string>{socket} : agents_) {
    absl::StatusOr<std::unique_ptr<ApiClient>> client = ApiClient::Connect(path);
    if (!client.ok()) return PrintFailure(client.status());
    sources.push_back({path, *std::move(client)});
  }
  bulkhead::v1::Request request;
  bulkhead::v1::FlowsRequest* flows_request = request.mutable_flows();
  if (follow_ && !last_given) {
    flows_request->set_after(std::numeric_limits<std::uint64_t>::max());  // just the cursor
  } else {
    // With filters, the last N that match: ask for everything kept.
    flows_request->set_last(filter->empty() ? last_ : 0);
  }
  std::vector<bulkhead::v1::Flow> history;
  for (Source& source : sources) {
    absl::StatusOr<bulkhead::v1::Response> response = source.client->Call(request);
    if (!response.ok()) return PrintFailure(response.status());
    for (bulkhead::v1::Flow& f : *response->mutable_flows()->mutable_flows())
      history.push_back(std::move(f));
    source.cursor = response->flows().cursor();
  }
  SortByTime(history);
  print(matching(Pointers(history), last_given || !follow_ ? last_ : 0));
  if (!follow_) return 0;

  // Following one agent, its answer waits for news; following several, each
  // is asked in turn without waiting, and the round pauses when none had any.
  const bool one = sources.size() == 1;
  for (;;) {
    std::vector<bulkhead::v1::Flow> news;
    for (Source& source : sources) {
      flows_request->Clear();
      flows_request->set_after(source.cursor);
      flows_request->set_wait_ms(one ? kFollowWaitMs : 0);
      absl::StatusOr<bulkhead::v1::Response> response = source.client->Call(request);
      if (!response.ok())
        return PrintFailure(
            absl::Status(response.status().code(),
                         absl::StrCat(source.socket, ": ", response.status().message())));
      if (response->flows().missed() > 0)
        std::cerr << "bulkhead: " << response->flows().missed() << " flows left the history of "
                  << source.socket << " before they could be shown\n";
      for (bulkhead::v1::Flow& f : *response->mutable_flows()->mutable_flows())
        news.push_back(std::move(f));
      source.cursor = response->flows().cursor();
    }
    if (news.empty() && !one) std::this_thread::sleep_for(kFollowPause);
    SortByTime(news);
    print(matching(Pointers(news), 0));
  }
}

}  // namespace bulkhead
