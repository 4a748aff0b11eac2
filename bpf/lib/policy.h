/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Identities, modes and the segment lookup: what a hook decides about the
 * establishing direction of a flow.
 *
 * Policy key: (src identity, dst identity, proto, policy port), where the
 * policy port is the server port for TCP/UDP/SCTP, the type for ICMP and
 * ICMPv6, 0 otherwise. In order: a guardrail that denies the flow drops it
 * in every mode; else an exact segment, else a port-range one, admits it;
 * else "no segment", and the mode decides. Built in, before the mode: with
 * bh_cfg.allow_host_to_workloads, the node (`host`) may open flows into any
 * workload, so kubelet's probes and node-local agents work in enforce. */
#ifndef BULKHEAD_BPF_LIB_POLICY_H
#define BULKHEAD_BPF_LIB_POLICY_H

#include "maps.h"
#include "parse.h"

/* Address -> identity: exact entries first (workloads, the node), then the
 * CIDR identities; `world` when neither knows it. */
static __always_inline __u32 identity_of(const struct bh_addr *addr)
{
	struct bh_ipcache_value *value = bpf_map_lookup_elem(&bh_ipcache, addr);

	if (value)
		return value->identity;
	struct bh_ipcache_lpm_key key = { .prefixlen = 128, .addr = *addr };

	value = bpf_map_lookup_elem(&bh_ipcache_lpm, &key);
	return value ? value->identity : BH_IDENTITY_WORLD;
}

/* The workload bound to this interface; NULL if unbound. */
static __always_inline struct bh_endpoint_value *endpoint_of(__u32 ifindex)
{
	return bpf_map_lookup_elem(&bh_endpoints, &ifindex);
}

static __always_inline __u32 mode_of(__u32 identity)
{
	struct bh_mode_value *value = bpf_map_lookup_elem(&bh_modes, &identity);

	return value ? value->mode : BH_MODE_UNMANAGED;
}

static __always_inline struct bh_policy_lpm_key lpm_key(__u32 src_identity, __u32 dst_identity,
						       __u8 proto, __be16 policy_port_be)
{
	struct bh_policy_lpm_key key = {
		.prefixlen = BH_POLICY_LPM_PORT_BITS + 16,
		.src_identity = src_identity,
		.dst_identity = dst_identity,
		.proto = proto,
		.dport_be = policy_port_be,
	};
	return key;
}

/* Returns the matching segment id, 0 when no segment allows the flow: an
 * exact segment first, then a port range or any-port one. */
static __always_inline __u32 segment_of(__u32 src_identity, __u32 dst_identity, __u8 proto,
					__be16 policy_port_be, __u32 lookups)
{
	struct bh_policy_key key = {
		.src_identity = src_identity,
		.dst_identity = dst_identity,
		.dport_be = policy_port_be,
		.proto = proto,
	};
	struct bh_policy_value *value = bpf_map_lookup_elem(&bh_policy, &key);

	if (value)
		return value->segment_id;
	if (!(lookups & BH_LOOKUP_POLICY_RANGES))
		return 0;
	struct bh_policy_lpm_key range = lpm_key(src_identity, dst_identity, proto, policy_port_be);

	value = bpf_map_lookup_elem(&bh_policy_ranges, &range);
	return value ? value->segment_id : 0;
}

/* The guardrail that denies the flow (its id), 0 when none does. */
static __always_inline __u32 guardrail_of(__u32 src_identity, __u32 dst_identity, __u8 proto,
					  __be16 policy_port_be, __u32 lookups)
{
	if (!(lookups & BH_LOOKUP_GUARDRAILS))
		return 0;
	struct bh_policy_lpm_key key = lpm_key(src_identity, dst_identity, proto, policy_port_be);
	struct bh_guardrail_value *value = bpf_map_lookup_elem(&bh_guardrails, &key);

	return value && value->action == BH_GUARDRAIL_DENY ? value->guardrail_id : 0;
}

/* The Service a flow from a workload is addressed to (its virtual address
 * and port), NULL if none: TCP, UDP and SCTP only. */
static __always_inline struct bh_service_value *service_of(const struct bh_addr *daddr, __u8 proto,
							    __be16 port_be, __u32 lookups)
{
	if (!(lookups & BH_LOOKUP_SERVICES) ||
	    (proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP))
		return NULL;
	struct bh_service_key key = { .addr = *daddr, .port_be = port_be, .proto = proto };

	return bpf_map_lookup_elem(&bh_services, &key);
}

/* What one hook decided about one establishing packet. */
struct decision {
	__u32 src_identity;
	__u32 dst_identity;
	__u32 segment_id;
	__u8 verdict; /* enum bh_verdict */
	__u8 reason;  /* enum bh_reason */
	__u8 mode;    /* of the workload whose hook decided */
	__u8 hook;
	__u32 flags;  /* BH_FLOW_* the event carries besides what the packet says;
		       * callers add to it, never overwrite it */
};

/* Decides a flow's establishing direction at `hook`. `own_identity` is the
 * workload bound to the hook's interface (0: unbound, the ipcache says). The
 * mode is that of the hook's own side: the source at from_endpoint, the
 * destination at to_endpoint and from_uplink. At from_endpoint a flow to a
 * Service is decided as the flow to its backend's target port (bh_services;
 * BH_FLOW_SERVICE in d->flags). */
static __always_inline void decide(struct decision *d, enum bh_hook hook, __u32 own_identity,
				   const struct bh_addr *saddr, const struct bh_addr *daddr,
				   __u8 proto, __be16 policy_port_be)
{
	__u32 lookups = current_lookups();

	d->hook = hook;
	d->flags = 0;
	if (hook == BH_HOOK_FROM_ENDPOINT) {
		struct bh_service_value *service = service_of(daddr, proto, policy_port_be, lookups);

		d->src_identity = own_identity ? own_identity : identity_of(saddr);
		if (service) {
			d->dst_identity = service->identity;
			policy_port_be = service->target_port_be;
			d->flags = BH_FLOW_SERVICE;
		} else {
			d->dst_identity = identity_of(daddr);
		}
		d->mode = mode_of(d->src_identity);
	} else {
		d->src_identity = identity_of(saddr);
		d->dst_identity = own_identity ? own_identity : identity_of(daddr);
		d->mode = mode_of(d->dst_identity);
	}
	__u32 guardrail = guardrail_of(d->src_identity, d->dst_identity, proto, policy_port_be,
				       lookups);

	if (guardrail) {
		d->segment_id = guardrail;
		d->verdict = BH_VERDICT_DROPPED;
		d->reason = BH_REASON_GUARDRAIL;
		return;
	}
	d->segment_id = segment_of(d->src_identity, d->dst_identity, proto, policy_port_be, lookups);
	if (!d->segment_id && bh_cfg.allow_host_to_workloads &&
	    d->src_identity == BH_IDENTITY_HOST && bh_is_workload_identity(d->dst_identity))
		d->segment_id = BH_SEGMENT_HOST_TO_WORKLOAD;
	if (d->segment_id) {
		d->verdict = BH_VERDICT_FORWARDED;
		d->reason = BH_REASON_NONE;
	} else {
		d->verdict = d->mode == BH_MODE_ENFORCE ? BH_VERDICT_DROPPED : BH_VERDICT_AUDIT;
		d->reason = BH_REASON_POLICY;
	}
}

#endif /* BULKHEAD_BPF_LIB_POLICY_H */
