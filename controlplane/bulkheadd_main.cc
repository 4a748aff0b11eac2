// bulkheadd: the Bulkhead node agent. See controlplane/agent.h.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "controlplane/agent.h"
#include "controlplane/log.h"
#include "controlplane/privileges.h"

int main(int argc, char** argv) {
  bulkhead::AgentOptions options;
  std::string mode = "learn";

  CLI::App app{
      "bulkheadd: the Bulkhead node agent. Attaches the eBPF datapath to workload interfaces,\n"
      "learns segments from their traffic, and enforces the allow-list per workload."};
  app.add_option("--inventory", options.inventory_path,
                 "YAML file listing workloads (namespace, name, labels, addresses, mode);\n"
                 "required unless --uninstall")
      ->check(CLI::ExistingFile);
  app.add_option("--guardrails", options.guardrails_path,
                 "YAML file of deny rules learning never overrides, applied in every mode\n"
                 "(read again when it changes; see README)")
      ->check(CLI::ExistingFile);
  app.add_option("--policy", options.policy_path,
                 "a reviewed policy file (as `bulkhead policy export` writes it), applied at\n"
                 "start and again whenever it changes; a file with a problem changes nothing\n"
                 "and is logged with its lines. Applied again at start only if it changed,\n"
                 "so what was learned or applied through the API since is kept")
      ->check(CLI::ExistingFile);
  app.add_option("--interfaces", options.interface_pattern,
                 "attach to interfaces whose name matches this glob, now and as they appear")
      ->capture_default_str();
  app.add_option("--socket", options.socket_path, "unix socket the API listens on")
      ->envname("BULKHEAD_SOCKET")
      ->capture_default_str();
  app.add_option("--socket-group", options.api.socket_group,
                 "give the API socket this group and mode 0660, so the group's members can\n"
                 "use `bulkhead`; without it the socket is 0600, root only")
      ->check(CLI::Validator(
          [](std::string& name) {
            absl::StatusOr<gid_t> gid = bulkhead::LookupGroup(name);
            return gid.ok() ? std::string() : std::string(gid.status().message());
          },
          "GROUP", "group"));
  app.add_option("--pin-dir", options.pin_dir,
                 "bpffs directory to pin maps under; \"\" to not pin. Under `ip netns exec`,\n"
                 "/sys/fs/bpf is not a bpffs: mount one (mount -t bpf bpf DIR) and name it here")
      ->capture_default_str();
  bool uninstall = false;
  app.add_flag("--uninstall", uninstall,
               "detach the programs from every interface matching --interfaces and from the\n"
               "--uplink interfaces, remove the pinned maps, and exit. Without it, stopping\n"
               "the agent leaves enforcement in place for the next agent to adopt");
  app.add_option("--state-dir", options.state_dir,
                 "directory for learned segments and modes (kept across restarts); \"\" for none")
      ->capture_default_str();
  app.add_option("--mode", mode, "mode of workloads that have none in the inventory or state")
      ->check(CLI::IsMember({"learn", "monitor", "enforce"}))
      ->capture_default_str();
  app.add_option("--collapse-ports", options.collapse_ports,
                 "distinct learned server ports between two peers (one protocol) past which "
                 "they become one port range, or any port if wider than 1024 (0: never)")
      ->capture_default_str();
  app.add_option("--metrics-address", options.metrics_address,
                 "serve Prometheus metrics (/metrics) and a health check (/healthz) over HTTP\n"
                 "on this address, e.g. 127.0.0.1:9402 or [::]:9402; default: not served");
  app.add_option("--flow-log", options.flow_log.path,
                 "append every dropped and audited flow to this file as one JSON line (the\n"
                 "fields of `bulkhead flows -o json`), for a SIEM; rotated by size");
  app.add_flag("--flow-log-forwarded", options.flow_log.forwarded,
               "write forwarded flows to the flow log too (as the datapath samples them)");
  app.add_option("--flow-log-max-bytes", options.flow_log.max_bytes,
                 "rotate the flow log past this size: FILE -> FILE.1 -> FILE.2 ...")
      ->check(CLI::Range(std::uint64_t{4096}, std::uint64_t{1} << 40))
      ->capture_default_str();
  app.add_option("--flow-log-files", options.flow_log.keep, "rotated flow log files kept")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  app.add_option("--node-name", options.node_name,
                 "this node's name in every flow (on Kubernetes, spec.nodeName through the\n"
                 "downward API); default: the host name")
      ->envname("NODE_NAME");
  app.add_option("--flow-history", options.flow_history,
                 "flows kept for `bulkhead flows`, forwarded ones and dropped or audited ones\n"
                 "each up to this many (a flood of one kind never washes out the other)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--uplink", options.uplinks,
                 "attach the XDP uplink program to this interface (traffic from other nodes:\n"
                 "flows into enforcing workloads that no segment admits are dropped there);\n"
                 "may be given more than once");

  bool allow_host = true;
  bool fail_closed = false;
  app.add_option("--allow-host-to-workloads", allow_host,
                 "let the node (the `host` identity) open flows into every workload, so\n"
                 "kubelet's probes and node-local agents work in enforce without a segment")
      ->capture_default_str();
  app.add_flag("--fail-closed", fail_closed,
               "drop all traffic of an attached interface until it is bound to a workload\n"
               "(default: judge it by the addresses its packets carry)");

  bulkhead::MapSizes& sizes = options.map_sizes;
  auto* maps = app.add_option_group("map sizes",
                                    "entries per BPF map; memory is roughly entries x the bytes "
                                    "given, allocated at start");
  maps->add_option("--conntrack-max", sizes.conntrack, "confirmed flows (~140 B each)")
      ->check(CLI::Range(1024u, 1u << 26))
      ->capture_default_str();
  maps->add_option("--conntrack-new-max", sizes.conntrack_new,
                   "flows let through but not answered yet (~140 B each)")
      ->check(CLI::Range(1024u, 1u << 26))
      ->capture_default_str();
  maps->add_option("--policy-max", sizes.policy, "segment entries (~70 B each)")
      ->check(CLI::Range(1024u, 1u << 26))
      ->capture_default_str();
  maps->add_option("--ipcache-max", sizes.ipcache, "workload and node addresses (~80 B each)")
      ->check(CLI::Range(1024u, 1u << 26))
      ->capture_default_str();
  maps->add_option("--identities-max", sizes.identities, "workloads with a mode (~60 B each)")
      ->check(CLI::Range(1024u, 1u << 26))
      ->capture_default_str();
  maps->add_option("--policy-ranges-max", sizes.policy_ranges,
                   "port-range segments, as port prefixes: up to 30 per range (~100 B each)")
      ->check(CLI::Range(1024u, 1u << 24))
      ->capture_default_str();
  maps->add_option("--guardrails-max", sizes.guardrails,
                   "guardrail entries: identity pairs x exceptions (~100 B each)")
      ->check(CLI::Range(1024u, 1u << 24))
      ->capture_default_str();
  maps->add_option("--services-max", sizes.services,
                   "Services' addresses x ports: ClusterIPs, and node addresses x NodePorts "
                   "(~80 B each, allocated as used)")
      ->check(CLI::Range(1024u, 1u << 24))
      ->capture_default_str();
  maps->add_option("--prefixes-max", sizes.ipcache_prefixes,
                   "CIDRs of the inventory's network sets, plus 4 for `private` (~100 B each)")
      ->check(CLI::Range(1024u, 1u << 24))
      ->capture_default_str();
  // Learning's guard rails and promotion (controlplane/learning_guard.h).
  auto duration = [](absl::Duration* out) {
    return [out](const std::string& text) -> std::string {
      if (!absl::ParseDuration(text, out) || *out < absl::ZeroDuration())
        return "expected a duration such as 90s, 10m or 1h";
      return "";
    };
  };
  std::string hold_window = "60s", stable_after = "1h", enforce_after = "0";
  auto* learning = app.add_option_group("learning", "what learning holds back, and promotion");
  learning
      ->add_option("--hold-back-peers", options.scan_limits.max_new_peers,
                   "a source that learns segments to more new peers than this within "
                   "--hold-back-window is held back for review")
      ->capture_default_str();
  learning
      ->add_option("--hold-back-segments", options.scan_limits.max_new_segments,
                   "... or more new segments than this")
      ->capture_default_str();
  learning
      ->add_option("--hold-back-ports", options.scan_limits.max_new_ports_per_peer,
                   "... or more new ports of one peer than this (faster than a range "
                   "collapses: a scan)")
      ->capture_default_str();
  learning->add_option("--hold-back-window", hold_window, "the window of the three above")
      ->check(duration(&options.scan_limits.window))
      ->capture_default_str();
  learning
      ->add_option("--stable-after", stable_after,
                   "a learning workload is stable after this long without a new segment")
      ->check(duration(&options.promotion.stable_after))
      ->capture_default_str();
  learning->add_flag("--promote-to-monitor", options.promotion.to_monitor,
                     "move a learning workload to monitor once it is stable");
  learning
      ->add_option("--promote-to-enforce-after", enforce_after,
                   "move a monitoring workload to enforce after this long without an audit "
                   "verdict (0: never)")
      ->check(duration(&options.promotion.to_enforce_after))
      ->capture_default_str();
  app.set_version_flag("--version", BULKHEAD_VERSION);
  CLI11_PARSE(app, argc, argv);
  options.default_mode = *bulkhead::ParseMode(mode);
  options.datapath_config.allow_host_to_workloads = allow_host ? 1 : 0;
  options.datapath_config.fail_closed = fail_closed ? 1 : 0;

  if (!uninstall && options.inventory_path.empty()) {
    std::cerr << "--inventory is required\nRun with --help for more information.\n";
    return 106;  // CLI11's exit code for a missing required option
  }
  // Before the kernel is touched; --uninstall loads the programs too.
  if (absl::Status status = bulkhead::CheckCapabilities(bulkhead::StartCapabilities());
      !status.ok()) {
    bulkhead::LogError(status.message());
    return 1;
  }
  if (uninstall) {
    if (absl::Status status = bulkhead::Agent::Uninstall(options); !status.ok()) {
      bulkhead::LogError(status.message());
      return 1;
    }
    return 0;
  }

  boost::asio::io_context io;
  auto agent = bulkhead::Agent::Create(io, options);
  if (!agent.ok()) {
    bulkhead::LogError(agent.status().message());
    return 1;
  }
  if (absl::Status status = (*agent)->Start(); !status.ok()) {
    bulkhead::LogError(status.message());
    return 1;
  }
  // Started: from here on only new interfaces need the kernel's permission.
  absl::StatusOr<std::string> kept = bulkhead::DropCapabilities(bulkhead::RuntimeCapabilities());
  if (!kept.ok()) {
    bulkhead::LogError(kept.status().message());
    return 1;
  }
  bulkhead::LogInfo(*kept);
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signo) {
    if (!ec) bulkhead::LogInfo(absl::StrCat("signal ", signo, ": shutting down"));
    io.stop();
  });
  io.run();
  (*agent)->Shutdown();
  agent->reset();
  return 0;
}
