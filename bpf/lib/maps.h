/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The maps every program shares, and the load-time settings.
 *
 * All maps are pinned by name under the agent's pin directory
 * (<pin-dir>/v<BH_ABI_VERSION>/), so the endpoint and uplink objects, a
 * restarted agent and bpftool all see the same state. The sizes below are
 * defaults: the agent sets every size from its flags between open and load
 * (datapath/datapath.cc, with the memory each costs). */
#ifndef BULKHEAD_BPF_LIB_MAPS_H
#define BULKHEAD_BPF_LIB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "../datapath.h"

/* Load-time settings (skeleton rodata; the agent overrides them). */
const volatile struct bh_config bh_cfg = BH_CONFIG_DEFAULTS;

/* Confirmed flows: answered (and for TCP, handshake completed). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct bh_ct_key);
	__type(value, struct bh_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_ct SEC(".maps");

/* Flows let through but not confirmed yet: a flood of them churns only here.
 * Per-CPU LRU lists: a flood's evictions take no lock shared across CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__uint(max_entries, 65536);
	__type(key, struct bh_ct_key);
	__type(value, struct bh_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_ct_new SEC(".maps");

/* First fragments let through, so their later fragments can follow. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct bh_frag_key);
	__type(value, struct bh_frag_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_frags SEC(".maps");

/* When each dropped (flow, hook, reason) was last reported. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct bh_drop_report_key);
	__type(value, __u64); /* bpf_ktime_get_coarse_ns() of the last report */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_drop_reports SEC(".maps");

/* Addresses of workloads and of the node -> identity (exact). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct bh_addr);
	__type(value, struct bh_ipcache_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_ipcache SEC(".maps");

/* CIDR identities, consulted when bh_ipcache misses. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bh_ipcache_lpm_key);
	__type(value, struct bh_ipcache_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_ipcache_lpm SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct bh_policy_key);
	__type(value, struct bh_policy_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_policy SEC(".maps");

/* Segments for a port range or any port (exact ones are in bh_policy). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bh_policy_lpm_key);
	__type(value, struct bh_policy_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_policy_ranges SEC(".maps");

/* Deny rules learning can never override, with their exceptions. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bh_policy_lpm_key);
	__type(value, struct bh_guardrail_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_guardrails SEC(".maps");

/* Services' virtual addresses and ports -> backend workload and target port
 * (consulted at from_endpoint while BH_LOOKUP_SERVICES is set). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bh_service_key);
	__type(value, struct bh_service_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* ifindex */
	__type(value, struct bh_endpoint_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* identity */
	__type(value, struct bh_mode_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_modes SEC(".maps");

/* One entry: the policy epoch (struct bh_epoch_value). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bh_epoch_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_epoch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BH_STAT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_stats SEC(".maps");

/* Per-CPU event budgets for the rate limits (index: enum event_budget). */
struct event_budget_value {
	__u64 window_start_ns;
	__u32 used;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct event_budget_value);
} bh_event_budget SEC(".maps");

/* Flow events: AUDIT and FORWARDED here, DROPPED in a ring of their own, so
 * a flood of audited flows cannot crowd out the report of a drop. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* bytes */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* bytes */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_drop_events SEC(".maps");

static __always_inline void stat_inc(enum bh_stat stat)
{
	__u32 key = stat;
	__u64 *count = bpf_map_lookup_elem(&bh_stats, &key);

	if (count)
		*count += 1; /* per-CPU slot: no atomics needed */
}

static __always_inline __u32 current_epoch(void)
{
	__u32 key = 0;
	struct bh_epoch_value *value = bpf_map_lookup_elem(&bh_epoch, &key);

	return value ? value->policy : 0;
}

/* BH_LOOKUP_* bits: which optional maps hold entries. */
static __always_inline __u32 current_lookups(void)
{
	__u32 key = 0;
	struct bh_epoch_value *value = bpf_map_lookup_elem(&bh_epoch, &key);

	return value ? value->lookups : 0;
}

#endif /* BULKHEAD_BPF_LIB_MAPS_H */
