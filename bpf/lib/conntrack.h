/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking: just enough to let replies of an allowed flow pass and
 * to report each flow once. The establishing direction is never trusted from
 * conntrack: policy is checked again on every packet in that direction, so a
 * revoked segment bites at once. Entries age out through the LRU. */
#ifndef BULKHEAD_BPF_LIB_CONNTRACK_H
#define BULKHEAD_BPF_LIB_CONNTRACK_H

#include "maps.h"
#include "parse.h"

static __always_inline struct bh_ct_key ct_key_of(const struct packet *pkt)
{
	struct bh_ct_key key = {
		.saddr_be = pkt->saddr_be,
		.daddr_be = pkt->daddr_be,
		.sport_be = pkt->sport_be,
		.dport_be = pkt->dport_be,
		.proto = pkt->proto,
	};
	return key;
}

static __always_inline struct bh_ct_key ct_key_reversed(const struct bh_ct_key *key)
{
	struct bh_ct_key rev = {
		.saddr_be = key->daddr_be,
		.daddr_be = key->saddr_be,
		.sport_be = key->dport_be,
		.dport_be = key->sport_be,
		.proto = key->proto,
	};
	return rev;
}

/* Creates the entry for a new flow's establishing direction and returns it;
 * NULL only if the map refused the insert. */
static __always_inline struct bh_ct_entry *ct_create(const struct bh_ct_key *key, __u64 now_ns)
{
	struct bh_ct_entry fresh = { .created_ns = now_ns, .last_seen_ns = now_ns };

	/* BPF_NOEXIST: if another CPU created it meanwhile, keep its entry. */
	bpf_map_update_elem(&bh_conntrack, key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&bh_conntrack, key);
}

#endif /* BULKHEAD_BPF_LIB_CONNTRACK_H */
