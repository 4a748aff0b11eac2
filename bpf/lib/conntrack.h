/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Connection tracking: which flows some hook let through, in which state,
 * for how long.
 *
 * One canonical key serves both directions (bpf/datapath.h), so a packet
 * and its reply find their entry with one lookup. Two tables: bh_ct_new for
 * flows let through but not confirmed, bh_ct for confirmed ones (answered;
 * TCP: the opener's first packet after the answer). Only let-through
 * packets make entries; a packet dropped by policy never does, so denied
 * flows cannot evict allowed ones, and a flood of unanswered flows churns
 * only bh_ct_new.
 *
 * Lifetimes (bh_config): TCP before confirmation ct_syn_lifetime_ns, after
 * ct_tcp_lifetime_ns, and ct_close_lifetime_ns once both ends sent FIN or
 * either sent RST; everything else ct_other_lifetime_ns, all refreshed by
 * traffic. A lookup that finds an expired entry deletes it: a reply to a
 * flow that has ended is a new flow. */
#ifndef BULKHEAD_BPF_LIB_CONNTRACK_H
#define BULKHEAD_BPF_LIB_CONNTRACK_H

#include "maps.h"
#include "parse.h"

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))

/* Refresh an entry's expiry only when it moves by more than this: an
 * established flow writes its entry about once a second, not per packet. */
#define CT_REFRESH_SLACK_NS (1000000000ull)

struct ct_lookup {
	struct bh_ct_entry *entry; /* NULL: no live entry */
	__u8 confirmed;            /* found in bh_ct (else bh_ct_new) */
	__u8 from_opener;          /* the packet travels in the opener's direction */
	__u8 pad[2];
};

static __always_inline int addr_less(const struct bh_addr *a, const struct bh_addr *b)
{
#pragma unroll
	for (int i = 0; i < 4; i++) {
		__u32 x = bpf_ntohl(a->be32[i]);
		__u32 y = bpf_ntohl(b->be32[i]);

		if (x != y)
			return x < y;
	}
	return 0;
}

static __always_inline int addr_equal(const struct bh_addr *a, const struct bh_addr *b)
{
	return a->be32[0] == b->be32[0] && a->be32[1] == b->be32[1] &&
	       a->be32[2] == b->be32[2] && a->be32[3] == b->be32[3];
}

/* The canonical key of a tuple; returns which end (0 or 1) is its source. */
static __always_inline int ct_key_of_tuple(struct bh_ct_key *key, const struct bh_addr *saddr,
					   const struct bh_addr *daddr, __be16 sport_be,
					   __be16 dport_be, __u8 proto)
{
	int swap = addr_less(daddr, saddr) ||
		   (addr_equal(saddr, daddr) && bpf_ntohs(dport_be) < bpf_ntohs(sport_be));

	__builtin_memset(key, 0, sizeof(*key));
	key->proto = proto;
	if (swap) {
		key->addr[0] = *daddr;
		key->addr[1] = *saddr;
		key->port_be[0] = dport_be;
		key->port_be[1] = sport_be;
		return 1;
	}
	key->addr[0] = *saddr;
	key->addr[1] = *daddr;
	key->port_be[0] = sport_be;
	key->port_be[1] = dport_be;
	return 0;
}

static __always_inline int ct_key_of(struct bh_ct_key *key, const struct packet *pkt)
{
	return ct_key_of_tuple(key, &pkt->saddr, &pkt->daddr, pkt->sport_be, pkt->dport_be,
			       pkt->proto);
}

static __always_inline int ct_opener_end(const struct bh_ct_entry *entry)
{
	return (READ_ONCE(entry->flags) & BH_CT_OPENER_IS_1) ? 1 : 0;
}

/* Deletes `key` from the table a lookup found it in. */
static __always_inline void ct_delete(const struct bh_ct_key *key, int confirmed)
{
	bpf_map_delete_elem(confirmed ? (void *)&bh_ct : (void *)&bh_ct_new, key);
}

/* The live entry of `key`, confirmed table first. `source_end` is which end
 * of the key the packet comes from. */
static __always_inline struct ct_lookup ct_lookup(const struct bh_ct_key *key, int source_end,
						  __u64 now_ns)
{
	struct ct_lookup found = {};
	struct bh_ct_entry *entry = bpf_map_lookup_elem(&bh_ct, key);

	found.confirmed = 1;
	if (!entry) {
		entry = bpf_map_lookup_elem(&bh_ct_new, key);
		found.confirmed = 0;
	}
	if (!entry)
		return found;
	if (READ_ONCE(entry->expires_ns) < now_ns) {
		stat_inc(BH_STAT_CT_EXPIRED);
		ct_delete(key, found.confirmed);
		return found;
	}
	found.entry = entry;
	found.from_opener = ct_opener_end(entry) == source_end;
	return found;
}

static __always_inline __u64 ct_lifetime_ns(const struct bh_ct_entry *entry, __u8 proto,
					    int confirmed)
{
	if (proto != IPPROTO_TCP)
		return bh_cfg.ct_other_lifetime_ns;
	__u32 flags = READ_ONCE(entry->flags);

	if ((flags & BH_CT_RST) ||
	    (flags & (BH_CT_FIN_OPENER | BH_CT_FIN_ANSWER)) == (BH_CT_FIN_OPENER | BH_CT_FIN_ANSWER))
		return bh_cfg.ct_close_lifetime_ns;
	return confirmed ? bh_cfg.ct_tcp_lifetime_ns : bh_cfg.ct_syn_lifetime_ns;
}

static __always_inline void ct_set_flags(struct bh_ct_entry *entry, __u32 bits)
{
	if ((READ_ONCE(entry->flags) & bits) != bits)
		__sync_fetch_and_or(&entry->flags, bits);
}

/* Moves an entry from bh_ct_new to bh_ct. */
static __always_inline struct bh_ct_entry *ct_confirm(const struct bh_ct_key *key,
						       struct bh_ct_entry *entry)
{
	struct bh_ct_entry copy = *entry;

	if (bpf_map_update_elem(&bh_ct, key, &copy, BPF_NOEXIST) == 0)
		stat_inc(BH_STAT_CT_CONFIRMED);
	bpf_map_delete_elem(&bh_ct_new, key);
	struct bh_ct_entry *confirmed = bpf_map_lookup_elem(&bh_ct, key);

	return confirmed ? confirmed : entry;
}

/* A packet of a live flow went through: TCP state, expiry, confirmation. */
static __always_inline void ct_on_packet(const struct bh_ct_key *key, struct ct_lookup *ct,
					 const struct packet *pkt, __u64 now_ns)
{
	struct bh_ct_entry *entry = ct->entry;
	__u32 bits = 0;

	if (pkt->proto == IPPROTO_TCP) {
		if (pkt->tcp_flags & TCP_FLAG_RST)
			bits |= BH_CT_RST;
		if (!ct->from_opener &&
		    (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == (TCP_FLAG_SYN | TCP_FLAG_ACK))
			bits |= BH_CT_SYN_ACK;
		if (pkt->tcp_flags & TCP_FLAG_FIN)
			bits |= ct->from_opener ? BH_CT_FIN_OPENER : BH_CT_FIN_ANSWER;
	}
	if (!ct->from_opener)
		bits |= BH_CT_SEEN_REPLY;
	if (bits)
		ct_set_flags(entry, bits);
	/* Traffic after a RST: the RST was not the end (TCP ignores an RST
	 * outside its window; one spoofed from off-path must not shorten the
	 * flow's life). */
	if (pkt->proto == IPPROTO_TCP && !(pkt->tcp_flags & (TCP_FLAG_RST | TCP_FLAG_SYN)) &&
	    (READ_ONCE(entry->flags) & BH_CT_RST))
		__sync_fetch_and_and(&entry->flags, ~BH_CT_RST);

	__u32 flags = READ_ONCE(entry->flags);

	if (!ct->confirmed && (flags & BH_CT_SEEN_REPLY) && !(pkt->tcp_flags & TCP_FLAG_RST)) {
		/* TCP: the opener's first packet after the answer completes the
		 * handshake; an answer to a SYN counts only as a SYN+ACK (a RST
		 * from a closed port, then an ACK, is no handshake). Others: the
		 * first answer. */
		if (pkt->proto != IPPROTO_TCP ||
		    (ct->from_opener && (!(flags & BH_CT_SYN) || (flags & BH_CT_SYN_ACK)))) {
			entry = ct_confirm(key, entry);
			ct->entry = entry;
			ct->confirmed = 1;
		}
	}

	__u64 expires = now_ns + ct_lifetime_ns(entry, pkt->proto, ct->confirmed);
	__u64 current = READ_ONCE(entry->expires_ns);

	if (expires > current + CT_REFRESH_SLACK_NS || expires < current)
		WRITE_ONCE(entry->expires_ns, expires);
}

/* Makes the entry of a new flow let through at `hook`; NULL if the kernel
 * refused (counted). A TCP SYN onto a closing entry starts a new flow. */
static __always_inline struct bh_ct_entry *ct_create(const struct bh_ct_key *key, int source_end,
						      const struct packet *pkt, __u64 now_ns)
{
	struct bh_ct_entry fresh = {
		.policy_port_be = pkt->policy_port_be,
		.flags = source_end ? BH_CT_OPENER_IS_1 : 0,
	};

	if (pkt->proto == IPPROTO_TCP &&
	    (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		fresh.flags |= BH_CT_SYN;
	fresh.expires_ns = now_ns + (pkt->proto == IPPROTO_TCP ? bh_cfg.ct_syn_lifetime_ns
							       : bh_cfg.ct_other_lifetime_ns);
	/* BPF_ANY: an entry that exists is stale (expired, or the other
	 * direction's that we are replacing); a racing CPU's is as good. */
	if (bpf_map_update_elem(&bh_ct_new, key, &fresh, BPF_ANY) != 0) {
		stat_inc(BH_STAT_CT_INSERT_FAILED);
		return NULL;
	}
	stat_inc(BH_STAT_CT_CREATED);
	return bpf_map_lookup_elem(&bh_ct_new, key);
}

/* Whether a TCP packet from the opener starts a new connection on an entry
 * whose connection has ended (port reuse). */
static __always_inline int ct_is_reopen(const struct bh_ct_entry *entry, const struct packet *pkt)
{
	if (pkt->proto != IPPROTO_TCP ||
	    (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return 0;
	__u32 flags = READ_ONCE(entry->flags);

	return (flags & BH_CT_RST) || (flags & (BH_CT_FIN_OPENER | BH_CT_FIN_ANSWER));
}

#endif /* BULKHEAD_BPF_LIB_CONNTRACK_H */
