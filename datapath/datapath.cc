#include "datapath/datapath.h"

#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "endpoint.skel.h"

namespace bulkhead {
namespace {

// Our filters' handle and priority on the clsact hooks: fixed, so a restarted
// agent replaces its own filters and leaves anybody else's alone.
constexpr __u32 kFilterHandle = 0xb4;
constexpr __u32 kFilterPriority = 1;
constexpr long kBpfFsMagic = 0xcafe4a11;

// The pin directory must be on a bpffs; the agent creates it if its parent
// is one. A missing directory is judged by its parent's filesystem.
absl::Status CheckPinDir(const std::string& dir) {
  std::string probe = dir;
  struct statfs fs;
  while (statfs(probe.c_str(), &fs) != 0) {
    if (errno != ENOENT || probe == "/" || probe.empty())
      return ErrnoError(errno, absl::StrCat("pin directory ", dir));
    probe = std::filesystem::path(probe).parent_path().string();
  }
  if (fs.f_type != kBpfFsMagic)
    return absl::FailedPreconditionError(absl::StrCat(
        "pin directory ", dir, " is not on a bpf filesystem; mount one with `mount -t bpf bpf ",
        dir, "` and try again (inside `ip netns exec`, /sys/fs/bpf is not one)"));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::FailedPreconditionError(
        absl::StrCat("create pin directory ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

bpf_tc_hook TcHook(int ifindex, bpf_tc_attach_point point) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = point;
  return hook;
}

bpf_tc_opts TcOpts(int prog_fd) {
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = kFilterHandle;
  opts.priority = kFilterPriority;
  opts.prog_fd = prog_fd;
  if (prog_fd > 0) opts.flags = BPF_TC_F_REPLACE;
  return opts;
}

// libbpf's own messages, warnings and up, on stderr. bpf_tc_hook_create on
// an interface that already has a clsact qdisc fails with EEXIST, which we
// expect, and libbpf echoes the kernel's words for it: those are dropped.
int PrintLibbpf(libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  vsnprintf(line, sizeof(line), format, args);
  if (std::strstr(line, "Exclusivity flag on")) return 0;
  return std::fprintf(stderr, "libbpf: %s", line);
}

}  // namespace

const char* StatName(int stat) {
  switch (stat) {
    case BH_STAT_PACKETS:
      return "packets";
    case BH_STAT_FORWARDED:
      return "forwarded";
    case BH_STAT_AUDIT:
      return "audit";
    case BH_STAT_DROPPED_POLICY:
      return "dropped_policy";
    case BH_STAT_REPLY:
      return "reply";
    case BH_STAT_NOT_IPV4:
      return "not_ipv4";
    case BH_STAT_MALFORMED:
      return "dropped_malformed";
    case BH_STAT_EVENTS_LOST:
      return "events_lost";
    case BH_STAT_DROPPED_SPOOFED:
      return "dropped_spoofed";
    default:
      return "unknown";
  }
}

absl::StatusOr<std::unique_ptr<Datapath>> Datapath::Load(const DatapathOptions& options) {
  libbpf_set_print(PrintLibbpf);
  LIBBPF_OPTS(bpf_object_open_opts, open_opts);
  if (!options.pin_dir.empty()) {
    BH_RETURN_IF_ERROR(CheckPinDir(options.pin_dir));
    open_opts.pin_root_path = options.pin_dir.c_str();
  }
  endpoint_bpf* skel = endpoint_bpf::open(&open_opts);
  if (!skel) return ErrnoError(errno, "open BPF object endpoint");
  if (options.pin_dir.empty()) {
    // The maps ask to be pinned by name, which libbpf would otherwise do
    // under /sys/fs/bpf: unpinned means private to this process.
    bpf_map* map;
    bpf_object__for_each_map(map, skel->obj) bpf_map__set_pin_path(map, nullptr);
  }
  if (int err = endpoint_bpf::load(skel); err != 0) {
    endpoint_bpf::destroy(skel);
    return ErrnoError(err, absl::StrCat("load BPF object endpoint (pinned maps under ",
                                        options.pin_dir.empty() ? "none" : options.pin_dir,
                                        " may have an old layout)"));
  }
  return std::unique_ptr<Datapath>(new Datapath(skel, options));
}

Datapath::Datapath(endpoint_bpf* skel, DatapathOptions options)
    : skel_(skel),
      options_(std::move(options)),
      ipcache_(bpf_map__fd(skel->maps.bh_ipcache), "bh_ipcache"),
      policy_(bpf_map__fd(skel->maps.bh_policy), "bh_policy"),
      modes_(bpf_map__fd(skel->maps.bh_modes), "bh_modes"),
      endpoints_(bpf_map__fd(skel->maps.bh_endpoints), "bh_endpoints"),
      conntrack_(bpf_map__fd(skel->maps.bh_conntrack), "bh_conntrack"),
      stats_fd_(bpf_map__fd(skel->maps.bh_stats)) {}

Datapath::~Datapath() {
  while (!attached_.empty()) (void)Detach(attached_.begin()->first);
  if (!options_.pin_dir.empty() && !options_.keep_pinned)
    bpf_object__unpin_maps(skel_->obj, nullptr);
  endpoint_bpf::destroy(skel_);
}

absl::Status Datapath::Attach(int ifindex, const std::string& ifname) {
  const struct {
    bpf_tc_attach_point point;
    bpf_program* prog;
    const char* what;
  } hooks[] = {{BPF_TC_INGRESS, skel_->progs.from_endpoint, "ingress"},
               {BPF_TC_EGRESS, skel_->progs.to_endpoint, "egress"}};

  bpf_tc_hook clsact = TcHook(ifindex, BPF_TC_INGRESS);
  if (int err = bpf_tc_hook_create(&clsact); err != 0 && err != -EEXIST)
    return ErrnoError(err, absl::StrCat("create clsact qdisc on ", ifname));
  for (const auto& h : hooks) {
    bpf_tc_hook hook = TcHook(ifindex, h.point);
    bpf_tc_opts opts = TcOpts(bpf_program__fd(h.prog));
    if (int err = bpf_tc_attach(&hook, &opts); err != 0) {
      absl::Status status =
          ErrnoError(err, absl::StrCat("attach TC ", h.what, " program to ", ifname));
      (void)Detach(ifindex);  // leave no half-attached interface behind
      return status;
    }
  }
  attached_[ifindex] = ifname;
  return absl::OkStatus();
}

absl::Status Datapath::Detach(int ifindex) {
  auto it = attached_.find(ifindex);
  std::string name = it == attached_.end() ? absl::StrCat("ifindex ", ifindex) : it->second;
  if (it != attached_.end()) attached_.erase(it);
  for (bpf_tc_attach_point point : {BPF_TC_INGRESS, BPF_TC_EGRESS}) {
    bpf_tc_hook hook = TcHook(ifindex, point);
    bpf_tc_opts opts = TcOpts(0);
    int err = bpf_tc_detach(&hook, &opts);
    if (err != 0 && err != -ENOENT && err != -ENODEV && err != -EINVAL)
      return ErrnoError(err, absl::StrCat("detach TC programs from ", name));
  }
  return absl::OkStatus();
}

std::string Datapath::InterfaceName(int ifindex) const {
  auto it = attached_.find(ifindex);
  return it == attached_.end() ? absl::StrCat("if", ifindex) : it->second;
}

absl::StatusOr<DatapathStats> Datapath::ReadStats() const {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return ErrnoError(cpus, "count possible CPUs");
  DatapathStats totals{};
  std::vector<std::uint64_t> per_cpu(cpus);
  for (std::uint32_t i = 0; i < BH_STAT_MAX; ++i) {
    if (bpf_map_lookup_elem(stats_fd_, &i, per_cpu.data()) != 0)
      return ErrnoError(errno, absl::StrCat("lookup bh_stats ", StatName(i)));
    for (std::uint64_t v : per_cpu) totals[i] += v;
  }
  return totals;
}

int Datapath::events_fd() const { return bpf_map__fd(skel_->maps.bh_events); }
int Datapath::from_endpoint_fd() const { return bpf_program__fd(skel_->progs.from_endpoint); }
int Datapath::to_endpoint_fd() const { return bpf_program__fd(skel_->progs.to_endpoint); }

}  // namespace bulkhead
