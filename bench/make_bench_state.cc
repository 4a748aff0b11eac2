// make_bench_state: writes what bench/e2e.sh needs to start bulkheadd with
// exactly N segments, every workload enforcing, and the same N allow rules
// for the iptables and nftables baselines:
//
//   OUT/inventory.yaml  workloads bench/client, bench/server and filler
//                       workloads bench/filler-N (addresses from 10.244.16.1 up,
//                       no pod behind them)
//   OUT/state.pb        a bulkhead.v1.AgentState: N segments (origin REVIEWED),
//                       every workload's mode ENFORCE; copy it into --state-dir
//   OUT/rules.tsv       the same N segments as "saddr daddr proto port" lines,
//                       fillers first, the --allow flows last in the order given
//
// The --allow flows are client -> server segments; the rest are fillers, 100
// per filler workload (filler -> server, TCP ports 10000-10099), so the
// policy map holds N entries over about N/100 + 2 identities.
//
//   make_bench_state --segments 10000 --client 10.244.1.10 --server 10.244.1.20
//       --allow tcp/5201 --allow udp/5201 --allow tcp/8080 --out DIR
#include <arpa/inet.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "proto/policy.pb.h"

namespace {

constexpr char kNamespace[] = "bench";
constexpr std::uint32_t kFillerSegmentsPerWorkload = 100;
constexpr std::uint32_t kFillerFirstPort = 10000;
constexpr char kFillerFirstAddress[] = "10.244.16.1";
constexpr char kFillerLastAddress[] = "10.244.255.254";

struct Flow {
  bulkhead::v1::Protocol protocol;
  std::uint32_t port;
};

struct Rule {
  std::string from_workload, to_workload, from_address, to_address;
  Flow flow;
};

absl::StatusOr<Flow> ParseFlow(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  std::uint32_t port = 0;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port) || port == 0 || port > 65535)
    return absl::InvalidArgumentError(
        absl::StrCat("--allow ", text, ": expected tcp/PORT or udp/PORT"));
  if (parts[0] == "tcp") return Flow{bulkhead::v1::TCP, port};
  if (parts[0] == "udp") return Flow{bulkhead::v1::UDP, port};
  return absl::InvalidArgumentError(
      absl::StrCat("--allow ", text, ": protocol must be tcp or udp"));
}

const char* ProtocolName(bulkhead::v1::Protocol protocol) {
  return protocol == bulkhead::v1::TCP ? "tcp" : "udp";
}

std::uint32_t HostOrder(const char* address) {
  in_addr addr{};
  inet_pton(AF_INET, address, &addr);
  return ntohl(addr.s_addr);
}

std::string AddressString(std::uint32_t host_order) {
  in_addr addr{.s_addr = htonl(host_order)};
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr, text, sizeof(text));
  return text;
}

absl::Status WriteFile(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("write ", path.string(), ": failed"));
  return absl::OkStatus();
}

absl::Status Run(std::uint32_t segments, const std::string& client, const std::string& server,
                 const std::vector<std::string>& allow, const std::filesystem::path& out) {
  std::vector<Flow> flows;
  for (const std::string& text : allow) {
    absl::StatusOr<Flow> flow = ParseFlow(text);
    if (!flow.ok()) return flow.status();
    flows.push_back(*flow);
  }
  if (segments < flows.size())
    return absl::InvalidArgumentError(absl::StrCat("--segments ", segments, " is fewer than the ",
                                                   flows.size(), " --allow flows"));
  const std::uint32_t filler_segments = segments - static_cast<std::uint32_t>(flows.size());
  const std::uint32_t filler_workloads =
      (filler_segments + kFillerSegmentsPerWorkload - 1) / kFillerSegmentsPerWorkload;
  const std::uint32_t first = HostOrder(kFillerFirstAddress);
  if (filler_workloads > HostOrder(kFillerLastAddress) - first + 1)
    return absl::InvalidArgumentError(
        absl::StrCat("--segments ", segments, " needs ", filler_workloads,
                     " filler workloads: more than fit between ", kFillerFirstAddress, " and ",
                     kFillerLastAddress));

  const std::string client_name = absl::StrCat(kNamespace, "/client");
  const std::string server_name = absl::StrCat(kNamespace, "/server");
  std::string inventory = "workloads:\n";
  absl::StrAppend(&inventory, "  - {namespace: ", kNamespace,
                  ", name: client, labels: {app: client}, addresses: [", client, "]}\n");
  absl::StrAppend(&inventory, "  - {namespace: ", kNamespace,
                  ", name: server, labels: {app: server}, addresses: [", server, "]}\n");
  std::vector<std::string> workloads = {client_name, server_name};

  std::vector<Rule> rules;
  for (std::uint32_t w = 0; w < filler_workloads; ++w) {
    const std::string name = absl::StrCat("filler-", w);
    const std::string address = AddressString(first + w);
    absl::StrAppend(&inventory, "  - {namespace: ", kNamespace, ", name: ", name,
                    ", labels: {app: filler}, addresses: [", address, "]}\n");
    workloads.push_back(absl::StrCat(kNamespace, "/", name));
    for (std::uint32_t i = 0; i < kFillerSegmentsPerWorkload && rules.size() < filler_segments; ++i)
      rules.push_back({workloads.back(),
                       server_name,
                       address,
                       server,
                       {bulkhead::v1::TCP, kFillerFirstPort + i}});
  }
  for (const Flow& flow : flows) rules.push_back({client_name, server_name, client, server, flow});

  bulkhead::v1::AgentState state;
  std::string tsv;
  std::uint32_t id = 1;
  for (const Rule& rule : rules) {
    bulkhead::v1::Segment* segment = state.mutable_policy()->add_segments();
    segment->set_id(id++);
    segment->set_from_workload(rule.from_workload);
    segment->set_to_workload(rule.to_workload);
    segment->set_protocol(rule.flow.protocol);
    segment->set_port(rule.flow.port);
    segment->set_origin(bulkhead::v1::REVIEWED);
    absl::StrAppend(&tsv, rule.from_address, "\t", rule.to_address, "\t",
                    ProtocolName(rule.flow.protocol), "\t", rule.flow.port, "\n");
  }
  for (const std::string& workload : workloads)
    (*state.mutable_modes())[workload] = bulkhead::v1::ENFORCE;

  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", out.string(), ": ", ec.message()));
  if (absl::Status s = WriteFile(out / "inventory.yaml", inventory); !s.ok()) return s;
  if (absl::Status s = WriteFile(out / "state.pb", state.SerializeAsString()); !s.ok()) return s;
  return WriteFile(out / "rules.tsv", tsv);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint32_t segments = 100;
  std::string client = "10.244.1.10", server = "10.244.1.20", out;
  std::vector<std::string> allow;
  CLI::App app{
      "make_bench_state: an inventory, a bulkheadd state file with N segments (every "
      "workload enforcing) and the same rules as text, for bench/e2e.sh"};
  app.add_option("--segments", segments, "segments in total (the policy map's entries)")
      ->capture_default_str();
  app.add_option("--client", client, "address of workload bench/client")
      ->check(CLI::ValidIPV4)
      ->capture_default_str();
  app.add_option("--server", server, "address of workload bench/server")
      ->check(CLI::ValidIPV4)
      ->capture_default_str();
  app.add_option("--allow", allow, "client -> server flow to allow, tcp/PORT or udp/PORT; repeat")
      ->required();
  app.add_option("--out", out, "directory for inventory.yaml, state.pb, rules.tsv")->required();
  CLI11_PARSE(app, argc, argv);

  if (absl::Status status = Run(segments, client, server, allow, out); !status.ok()) {
    std::cerr << "make_bench_state: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
