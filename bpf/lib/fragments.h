/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Fragments: the first fragment decides. When a hook lets a first fragment
 * through, its ports are recorded by datagram (addresses, protocol, id);
 * a later fragment takes the ports of its first and is judged as that flow
 * (so it is never judged or learned as port 0). A later fragment whose
 * first was not let through, or came after it, has no ports: dropped where
 * the workload enforces (BH_REASON_FRAGMENT). */
#ifndef BULKHEAD_BPF_LIB_FRAGMENTS_H
#define BULKHEAD_BPF_LIB_FRAGMENTS_H

#include "maps.h"
#include "parse.h"

static __always_inline void frag_key_of(struct bh_frag_key *key, const struct packet *pkt)
{
	__builtin_memset(key, 0, sizeof(*key));
	key->saddr = pkt->saddr;
	key->daddr = pkt->daddr;
	key->id_be = pkt->frag_id_be;
	key->proto = pkt->proto;
}

/* A first fragment was let through: its later fragments may follow. */
static __always_inline void frag_record(const struct packet *pkt, __u64 now_ns)
{
	if (pkt->frag != FRAG_FIRST)
		return;
	struct bh_frag_key key;
	struct bh_frag_value value = {
		.expires_ns = now_ns + bh_cfg.frag_lifetime_ns,
		.sport_be = pkt->sport_be,
		.dport_be = pkt->dport_be,
		.policy_port_be = pkt->policy_port_be,
	};

	frag_key_of(&key, pkt);
	bpf_map_update_elem(&bh_frags, &key, &value, BPF_ANY);
}

/* Gives a later fragment its first fragment's ports. Returns 0 if there is
 * no live record of a first fragment. */
static __always_inline int frag_follow(struct packet *pkt, __u64 now_ns)
{
	struct bh_frag_key key;

	frag_key_of(&key, pkt);
	struct bh_frag_value *first = bpf_map_lookup_elem(&bh_frags, &key);

	if (!first || first->expires_ns < now_ns)
		return 0;
	pkt->sport_be = first->sport_be;
	pkt->dport_be = first->dport_be;
	pkt->policy_port_be = first->policy_port_be;
	return 1;
}

#endif /* BULKHEAD_BPF_LIB_FRAGMENTS_H */
