/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The maps every endpoint program shares. All are pinned by name under the
 * agent's pin directory, so a second program object (or bpftool) sees the
 * same state. Sizes are the defaults; the agent may resize before load. */
#ifndef BULKHEAD_BPF_LIB_MAPS_H
#define BULKHEAD_BPF_LIB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "../datapath.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct bh_ct_key);
	__type(value, struct bh_ct_entry);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bh_ipcache_key);
	__type(value, struct bh_ipcache_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_ipcache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct bh_policy_key);
	__type(value, struct bh_policy_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* ifindex */
	__type(value, struct bh_endpoint_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* identity */
	__type(value, struct bh_mode_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_modes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BH_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* bytes */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} bh_events SEC(".maps");

static __always_inline void stat_inc(enum bh_stat stat)
{
	__u32 key = stat;
	__u64 *count = bpf_map_lookup_elem(&bh_stats, &key);

	if (count)
		*count += 1; /* per-CPU slot: no atomics needed */
}

#endif /* BULKHEAD_BPF_LIB_MAPS_H */
