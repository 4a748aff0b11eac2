#include "datapath/datapath.h"

#include <bpf/libbpf.h>
#include <linux/if_link.h>
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
#include "uplink.skel.h"

namespace bulkhead {
namespace {

// Our filters' handle and priority on the clsact hooks: fixed, so a restarted
// agent replaces its own filters and leaves anybody else's alone.
constexpr __u32 kFilterHandle = 0xb4;
constexpr __u32 kFilterPriority = 1;
constexpr long kBpfFsMagic = 0xcafe4a11;

}  // namespace

// The pin directory must be on a bpffs; the agent creates it if its parent
// is one. A missing directory is judged by its parent's filesystem.
absl::Status PreparePinDir(const std::string& dir) {
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

namespace {

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
    case BH_STAT_FORWARDED:
      return "forwarded";
    case BH_STAT_REPLY:
      return "reply";
    case BH_STAT_RELATED:
      return "related";
    case BH_STAT_FRAGMENT_FOLLOWED:
      return "fragment_followed";
    case BH_STAT_AUDIT:
      return "audit";
    case BH_STAT_PASSED_LINK:
      return "passed_link";
    case BH_STAT_DROPPED_POLICY:
      return "dropped_policy";
    case BH_STAT_DROPPED_SPOOFED:
      return "dropped_spoofed";
    case BH_STAT_DROPPED_MALFORMED:
      return "dropped_malformed";
    case BH_STAT_DROPPED_FRAGMENT:
      return "dropped_fragment";
    case BH_STAT_DROPPED_UNPARSEABLE:
      return "dropped_unparseable";
    case BH_STAT_DROPPED_UNBOUND:
      return "dropped_unbound";
    case BH_STAT_DROPPED_GUARDRAIL:
      return "dropped_guardrail";
    case BH_STAT_XDP_DROPPED:
      return "xdp_dropped";
    case BH_STAT_CT_CREATED:
      return "ct_created";
    case BH_STAT_CT_CONFIRMED:
      return "ct_confirmed";
    case BH_STAT_CT_INSERT_FAILED:
      return "ct_insert_failed";
    case BH_STAT_CT_EXPIRED:
      return "ct_expired";
    case BH_STAT_EVENTS_LOST:
      return "events_lost";
    case BH_STAT_EVENTS_SUPPRESSED:
      return "events_suppressed";
    default:
      return "unknown";
  }
}

bh_config DefaultDatapathConfig() { return bh_config BH_CONFIG_DEFAULTS; }

absl::StatusOr<std::unique_ptr<Datapath>> Datapath::Load(const DatapathOptions& options) {
  libbpf_set_print(PrintLibbpf);
  std::string map_dir;
  if (!options.pin_dir.empty()) {
    map_dir = absl::StrCat(options.pin_dir, "/v", BH_ABI_VERSION);
    BH_RETURN_IF_ERROR(PreparePinDir(options.pin_dir));
    BH_RETURN_IF_ERROR(PreparePinDir(map_dir));
  }
  LIBBPF_OPTS(bpf_object_open_opts, open_opts);
  if (!map_dir.empty()) open_opts.pin_root_path = map_dir.c_str();

  endpoint_bpf* endpoint = endpoint_bpf::open(&open_opts);
  if (!endpoint) return ErrnoError(errno, "open BPF object endpoint");
  uplink_bpf* uplink = uplink_bpf::open(&open_opts);
  if (!uplink) {
    endpoint_bpf::destroy(endpoint);
    return ErrnoError(errno, "open BPF object uplink");
  }
  auto fail = [&](int err, const std::string& what) {
    uplink_bpf::destroy(uplink);
    endpoint_bpf::destroy(endpoint);
    return ErrnoError(err, what);
  };

  const MapSizes& sizes = options.sizes;
  const std::pair<const char*, std::uint32_t> wanted[] = {
      {"bh_ct", sizes.conntrack},          {"bh_ct_new", sizes.conntrack_new},
      {"bh_ipcache", sizes.ipcache},       {"bh_ipcache_lpm", sizes.ipcache_prefixes},
      {"bh_policy", sizes.policy},         {"bh_policy_ranges", sizes.policy_ranges},
      {"bh_guardrails", sizes.guardrails}, {"bh_services", sizes.services},
      {"bh_modes", sizes.identities},      {"bh_endpoints", sizes.endpoints},
      {"bh_frags", sizes.fragments},       {"bh_drop_reports", sizes.drop_reports},
      {"bh_events", sizes.event_bytes},
  };
  for (bpf_object* obj : {endpoint->obj, uplink->obj}) {
    bpf_map* map;
    bpf_object__for_each_map(map, obj) {
      // The maps ask to be pinned by name, which libbpf would otherwise do
      // under /sys/fs/bpf: unpinned means private to this process.
      if (map_dir.empty()) bpf_map__set_pin_path(map, nullptr);
      for (const auto& [name, entries] : wanted) {
        if (std::strcmp(bpf_map__name(map), name) != 0) continue;
        if (int err = bpf_map__set_max_entries(map, entries); err != 0)
          return fail(err, absl::StrCat("size map ", name, " to ", entries));
      }
    }
  }
  endpoint->rodata->bh_cfg = options.config;
  uplink->rodata->bh_cfg = options.config;

  if (int err = endpoint_bpf::load(endpoint); err != 0)
    return fail(err, absl::StrCat("load BPF object endpoint (pinned maps under ",
                                  map_dir.empty() ? "none" : map_dir,
                                  " may have other sizes: pass the sizes they were made with, or "
                                  "remove them with `bulkheadd --uninstall`)"));
  // The uplink program works on the endpoint object's maps.
  bpf_map* map;
  bpf_object__for_each_map(map, uplink->obj) {
    if (bpf_map__is_internal(map)) continue;  // its own .rodata
    bpf_map* same = bpf_object__find_map_by_name(endpoint->obj, bpf_map__name(map));
    if (!same) return fail(ENOENT, absl::StrCat("uplink map ", bpf_map__name(map), " has no twin"));
    if (int err = bpf_map__reuse_fd(map, bpf_map__fd(same)); err != 0)
      return fail(err, absl::StrCat("share map ", bpf_map__name(map), " with the uplink program"));
  }
  if (int err = uplink_bpf::load(uplink); err != 0) return fail(err, "load BPF object uplink");

  auto dp = std::unique_ptr<Datapath>(new Datapath(endpoint, uplink, options));
  for (const absl::Status& layout :
       {dp->ipcache_.CheckLayout(), dp->ipcache_lpm_.CheckLayout(), dp->policy_.CheckLayout(),
        dp->policy_ranges_.CheckLayout(), dp->guardrails_.CheckLayout(),
        dp->services_.CheckLayout(), dp->modes_.CheckLayout(), dp->endpoints_.CheckLayout(),
        dp->conntrack_.CheckLayout(), dp->conntrack_new_.CheckLayout(),
        dp->fragments_.CheckLayout(), dp->epoch_.CheckLayout()})
    BH_RETURN_IF_ERROR(layout);
  // Continue the epoch a pinned map kept: a restarted agent must never
  // reuse an epoch under which entries were cached with other maps.
  auto current = dp->epoch_.Lookup(0);
  if (!current.ok()) return current.status();
  if (current->has_value()) {
    dp->epoch_value_ = (*current)->policy;
    dp->lookups_ = (*current)->lookups;
  }
  BH_RETURN_IF_ERROR(dp->BumpEpoch());
  return dp;
}

Datapath::Datapath(endpoint_bpf* endpoint, uplink_bpf* uplink, DatapathOptions options)
    : endpoint_(endpoint),
      uplink_(uplink),
      options_(std::move(options)),
      ipcache_(bpf_map__fd(endpoint->maps.bh_ipcache), "bh_ipcache"),
      ipcache_lpm_(bpf_map__fd(endpoint->maps.bh_ipcache_lpm), "bh_ipcache_lpm"),
      policy_(bpf_map__fd(endpoint->maps.bh_policy), "bh_policy"),
      policy_ranges_(bpf_map__fd(endpoint->maps.bh_policy_ranges), "bh_policy_ranges"),
      guardrails_(bpf_map__fd(endpoint->maps.bh_guardrails), "bh_guardrails"),
      services_(bpf_map__fd(endpoint->maps.bh_services), "bh_services"),
      modes_(bpf_map__fd(endpoint->maps.bh_modes), "bh_modes"),
      endpoints_(bpf_map__fd(endpoint->maps.bh_endpoints), "bh_endpoints"),
      conntrack_(bpf_map__fd(endpoint->maps.bh_ct), "bh_ct"),
      conntrack_new_(bpf_map__fd(endpoint->maps.bh_ct_new), "bh_ct_new"),
      fragments_(bpf_map__fd(endpoint->maps.bh_frags), "bh_frags"),
      epoch_(bpf_map__fd(endpoint->maps.bh_epoch), "bh_epoch"),
      stats_fd_(bpf_map__fd(endpoint->maps.bh_stats)) {}

// Leaves programs attached and maps pinned: see the header.
Datapath::~Datapath() {
  uplink_bpf::destroy(uplink_);
  endpoint_bpf::destroy(endpoint_);
}

absl::Status Datapath::Uninstall(const std::vector<int>& ifindexes,
                                 const std::vector<int>& uplinks) {
  for (int ifindex : ifindexes) attached_.emplace(ifindex, absl::StrCat("ifindex ", ifindex));
  for (int ifindex : uplinks) uplinks_.emplace(ifindex, absl::StrCat("ifindex ", ifindex));
  while (!attached_.empty()) BH_RETURN_IF_ERROR(Detach(attached_.begin()->first));
  while (!uplinks_.empty()) BH_RETURN_IF_ERROR(DetachUplink(uplinks_.begin()->first));
  if (options_.pin_dir.empty()) return absl::OkStatus();
  if (int err = bpf_object__unpin_maps(endpoint_->obj, nullptr); err != 0)
    return ErrnoError(err, absl::StrCat("unpin maps under ", options_.pin_dir));
  std::error_code ec;
  std::filesystem::remove(absl::StrCat(options_.pin_dir, "/v", BH_ABI_VERSION), ec);
  std::filesystem::remove(options_.pin_dir, ec);  // only if nothing else is in it
  return absl::OkStatus();
}

std::vector<std::string> Datapath::RemoveOlderLayouts() {
  std::vector<std::string> removed;
  if (options_.pin_dir.empty()) return removed;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(options_.pin_dir, ec)) {
    std::string name = entry.path().filename().string();
    bool layout1 = name.rfind("bh_", 0) == 0 && !entry.is_directory(ec);
    bool older = name.size() > 1 && name[0] == 'v' &&
                 name.find_first_not_of("0123456789", 1) == std::string::npos &&
                 std::stoi(name.substr(1)) < BH_ABI_VERSION;
    if (!layout1 && !older) continue;
    std::filesystem::remove_all(entry.path(), ec);
    if (!ec) removed.push_back(entry.path().string());
  }
  return removed;
}

absl::Status Datapath::BumpEpoch() {
  ++epoch_value_;
  if (epoch_value_ == 0) epoch_value_ = 1;  // 0 means "never let through"
  return epoch_.Update(0, {.policy = epoch_value_, .lookups = lookups_});
}

absl::Status Datapath::SetLookups(std::uint32_t lookups) {
  if (lookups == lookups_) return absl::OkStatus();
  BH_RETURN_IF_ERROR(epoch_.Update(0, {.policy = epoch_value_, .lookups = lookups}));
  lookups_ = lookups;
  return absl::OkStatus();
}

absl::Status Datapath::Attach(int ifindex, const std::string& ifname) {
  const struct {
    bpf_tc_attach_point point;
    bpf_program* prog;
    const char* what;
  } hooks[] = {{BPF_TC_INGRESS, endpoint_->progs.from_endpoint, "ingress"},
               {BPF_TC_EGRESS, endpoint_->progs.to_endpoint, "egress"}};

  bpf_tc_hook clsact = TcHook(ifindex, BPF_TC_INGRESS);
  if (int err = bpf_tc_hook_create(&clsact); err != 0 && err != -EEXIST)
    return ErrnoError(err, absl::StrCat("create clsact qdisc on ", ifname));
  // Filters an earlier agent left (the usual restart) are replaced in place.
  bool had_ours = false;
  // A missing filter is the expected answer here: keep libbpf from
  // printing the kernel's "Cannot find specified filter chain".
  libbpf_print_fn_t print = libbpf_set_print(nullptr);
  for (const auto& h : hooks) {
    bpf_tc_hook hook = TcHook(ifindex, h.point);
    bpf_tc_opts query = TcOpts(0);
    had_ours = had_ours || bpf_tc_query(&hook, &query) == 0;
  }
  libbpf_set_print(print);
  for (const auto& h : hooks) {
    bpf_tc_hook hook = TcHook(ifindex, h.point);
    bpf_tc_opts opts = TcOpts(bpf_program__fd(h.prog));
    if (int err = bpf_tc_attach(&hook, &opts); err != 0) {
      absl::Status status =
          ErrnoError(err, absl::StrCat("attach TC ", h.what, " program to ", ifname));
      // A fresh interface is left with none of ours rather than half;
      // one an earlier agent enforced keeps what it has (old and new
      // programs share the maps), never less.
      if (!had_ours) (void)Detach(ifindex);
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

absl::Status Datapath::AttachUplink(int ifindex, const std::string& ifname) {
  int prog_fd = bpf_program__fd(uplink_->progs.from_uplink);
  int err = bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_DRV_MODE, nullptr);
  if (err == -EOPNOTSUPP || err == -EINVAL)
    err = bpf_xdp_attach(ifindex, prog_fd, XDP_FLAGS_SKB_MODE, nullptr);
  if (err != 0) return ErrnoError(err, absl::StrCat("attach XDP uplink program to ", ifname));
  uplinks_[ifindex] = ifname;
  return absl::OkStatus();
}

absl::Status Datapath::DetachUplink(int ifindex) {
  auto it = uplinks_.find(ifindex);
  std::string name = it == uplinks_.end() ? absl::StrCat("ifindex ", ifindex) : it->second;
  if (it != uplinks_.end()) uplinks_.erase(it);
  int err = bpf_xdp_detach(ifindex, 0, nullptr);
  if (err != 0 && err != -ENODEV && err != -ENOENT)
    return ErrnoError(err, absl::StrCat("detach XDP uplink program from ", name));
  return absl::OkStatus();
}

std::string Datapath::InterfaceName(int ifindex) const {
  auto it = attached_.find(ifindex);
  if (it != attached_.end()) return it->second;
  it = uplinks_.find(ifindex);
  return it == uplinks_.end() ? absl::StrCat("if", ifindex) : it->second;
}

absl::StatusOr<DatapathStats> Datapath::ReadStats() const {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return ErrnoError(cpus, "count possible CPUs");
  DatapathStats totals{};
  std::vector<std::uint64_t> per_cpu(cpus);
  for (std::uint32_t i = 0; i < BH_STAT_MAX; ++i) {
    if (bpf_map_lookup_elem(stats_fd_, &i, per_cpu.data()) != 0)
      return ErrnoError(errno, absl::StrCat("lookup bh_stats ", StatName(static_cast<int>(i))));
    for (std::uint64_t v : per_cpu) totals[i] += v;
  }
  return totals;
}

int Datapath::events_fd() const { return bpf_map__fd(endpoint_->maps.bh_events); }
int Datapath::drop_events_fd() const { return bpf_map__fd(endpoint_->maps.bh_drop_events); }
int Datapath::from_endpoint_fd() const { return bpf_program__fd(endpoint_->progs.from_endpoint); }
int Datapath::to_endpoint_fd() const { return bpf_program__fd(endpoint_->progs.to_endpoint); }
int Datapath::from_uplink_fd() const { return bpf_program__fd(uplink_->progs.from_uplink); }

}  // namespace bulkhead
