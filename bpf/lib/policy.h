/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Identity resolution and the segment lookup.
 *
 * Policy key: (src identity, dst identity, proto, dst port), exact match.
 * The port is the server port: the destination port of the establishing
 * direction for TCP and UDP, 0 for every other protocol (ICMP included).
 * There are no wildcards or deny entries yet; a miss means "no segment". */
#ifndef BULKHEAD_BPF_LIB_POLICY_H
#define BULKHEAD_BPF_LIB_POLICY_H

#include "maps.h"
#include "parse.h"

#define AF_INET 2 /* from sys/socket.h, which does not build for -target bpf */

static __always_inline __u32 identity_of(__be32 addr_be)
{
	struct bh_ipcache_key key = {
		.prefixlen = BH_IPCACHE_PREFIX_BITS + 32,
		.family = AF_INET,
	};
	__builtin_memcpy(key.addr, &addr_be, sizeof(addr_be));

	struct bh_ipcache_value *value = bpf_map_lookup_elem(&bh_ipcache, &key);
	return value ? value->identity : BH_IDENTITY_WORLD;
}

/* The workload bound to this interface; NULL if unbound. */
static __always_inline struct bh_endpoint_value *endpoint_of(__u32 ifindex)
{
	return bpf_map_lookup_elem(&bh_endpoints, &ifindex);
}

/* Whether `addr_be` belongs to the bound workload: its routed address, or
 * another address the ipcache gives to the same workload. */
static __always_inline int is_endpoint_address(const struct bh_endpoint_value *endpoint,
						__be32 addr_be)
{
	return addr_be == endpoint->addr_be || identity_of(addr_be) == endpoint->identity;
}

static __always_inline __u32 mode_of(__u32 identity)
{
	struct bh_mode_value *value = bpf_map_lookup_elem(&bh_modes, &identity);
	return value ? value->mode : BH_MODE_UNMANAGED;
}

static __always_inline __be16 policy_port_of(const struct packet *pkt)
{
	if (pkt->proto == IPPROTO_TCP || pkt->proto == IPPROTO_UDP)
		return pkt->dport_be;
	return 0;
}

/* Returns the matching segment id, 0 when no segment allows the flow. */
static __always_inline __u32 segment_of(__u32 src_identity, __u32 dst_identity,
					const struct packet *pkt)
{
	struct bh_policy_key key = {
		.src_identity = src_identity,
		.dst_identity = dst_identity,
		.dport_be = policy_port_of(pkt),
		.proto = pkt->proto,
	};
	struct bh_policy_value *value = bpf_map_lookup_elem(&bh_policy, &key);
	return value ? value->segment_id : 0;
}

#endif /* BULKHEAD_BPF_LIB_POLICY_H */
