// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * TC programs for the host side of a workload's veth.
 *
 *   from_endpoint  TC ingress: the packet leaves the workload. Checked
 *                  against the source workload's mode (its egress).
 *   to_endpoint    TC egress: the packet enters the workload. Checked
 *                  against the destination workload's mode (its ingress).
 *
 * Per packet: parse -> conntrack -> (reply of a forwarded flow: pass)
 *   -> ipcache (both addresses to identities) -> policy (segment lookup)
 *   -> verdict by the mode of this hook's workload -> event when the flow is
 *   new or reached a higher report level (see enum bh_report_level).
 * A flow between two workloads on one node crosses both hooks, so it is
 * dropped if either end is in enforce mode and no segment allows it.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "datapath.h"
#include "lib/conntrack.h"
#include "lib/events.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/policy.h"

#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))

static __always_inline enum bh_verdict verdict_for(__u32 segment_id, __u32 mode)
{
	if (segment_id)
		return BH_VERDICT_FORWARDED;
	return mode == BH_MODE_ENFORCE ? BH_VERDICT_DROPPED : BH_VERDICT_AUDIT;
}

static __always_inline enum bh_report_level report_level_of(const struct verdict_info *info)
{
	switch (info->verdict) {
	case BH_VERDICT_FORWARDED:
		return BH_REPORT_FORWARDED;
	case BH_VERDICT_DROPPED:
		return BH_REPORT_DROPPED;
	default:
		return info->mode == BH_MODE_MONITOR ? BH_REPORT_MONITOR_ALERT : BH_REPORT_PASSED;
	}
}

static __always_inline void count_verdict(enum bh_verdict verdict)
{
	switch (verdict) {
	case BH_VERDICT_FORWARDED:
		stat_inc(BH_STAT_FORWARDED);
		break;
	case BH_VERDICT_AUDIT:
		stat_inc(BH_STAT_AUDIT);
		break;
	default:
		stat_inc(BH_STAT_DROPPED_POLICY);
		break;
	}
}

static __always_inline int handle_packet(struct __sk_buff *skb, enum bh_hook hook)
{
	struct packet pkt;
	__u64 now_ns = bpf_ktime_get_ns();

	stat_inc(BH_STAT_PACKETS);
	switch (parse_packet(skb, &pkt)) {
	case PARSE_NOT_IPV4:
		stat_inc(BH_STAT_NOT_IPV4);
		return TC_ACT_OK;
	case PARSE_MALFORMED:
		stat_inc(BH_STAT_MALFORMED);
		return TC_ACT_SHOT;
	default:
		break;
	}

	/* On a bound interface this hook's own side is the bound workload. A
	 * packet leaving it under another address is spoofed and goes no
	 * further: not even into conntrack, where it could pose as the reply of
	 * a flow nobody opened. */
	struct verdict_info info = { .hook = hook };
	struct bh_endpoint_value *endpoint = endpoint_of(skb->ifindex);
	__u32 bound = endpoint ? endpoint->identity : BH_IDENTITY_UNKNOWN;

	if (hook == BH_HOOK_FROM_ENDPOINT && endpoint &&
	    !is_endpoint_address(endpoint, pkt.saddr_be)) {
		stat_inc(BH_STAT_DROPPED_SPOOFED);
		return TC_ACT_SHOT;
	}

	struct bh_ct_key key = ct_key_of(&pkt);
	struct bh_ct_entry *flow = bpf_map_lookup_elem(&bh_conntrack, &key);

	/* A reply is a packet whose reversed tuple was let through at the other
	 * kind of hook. Checked even when this tuple has an entry of its own:
	 * after conntrack was lost, the server may have spoken first (and been
	 * dropped) before the client re-established the flow. */
	if (!flow || !(flow->flags & BH_CT_PASSED(hook))) {
		struct bh_ct_key reply_key = ct_key_reversed(&key);
		struct bh_ct_entry *reply_of = bpf_map_lookup_elem(&bh_conntrack, &reply_key);

		if (reply_of && (reply_of->flags & BH_CT_REPLY_NEEDS(hook))) {
			reply_of->last_seen_ns = now_ns;
			stat_inc(BH_STAT_REPLY);
			return TC_ACT_OK;
		}
	}

	/* Establishing direction: decide on every packet, not just the first.
	 * The own side is the bound workload (checked above for from_endpoint),
	 * else whoever the ipcache says; the peer is whoever the ipcache says. */
	if (hook == BH_HOOK_FROM_ENDPOINT) {
		info.src_identity = bound ? bound : identity_of(pkt.saddr_be);
		info.dst_identity = identity_of(pkt.daddr_be);
		info.mode = mode_of(info.src_identity);
	} else {
		info.src_identity = identity_of(pkt.saddr_be);
		info.dst_identity = bound ? bound : identity_of(pkt.daddr_be);
		info.mode = mode_of(info.dst_identity);
	}
	info.segment_id = segment_of(info.src_identity, info.dst_identity, &pkt);
	info.verdict = verdict_for(info.segment_id, info.mode);
	count_verdict(info.verdict);

	if (!flow)
		flow = ct_create(&key, now_ns);
	if (flow) {
		enum bh_report_level level = report_level_of(&info);
		__u32 new_bits = BH_CT_REPORTED(level);

		if (info.verdict != BH_VERDICT_DROPPED)
			new_bits |= BH_CT_PASSED(hook);
		else if (READ_ONCE(flow->flags) & BH_CT_PASSED(hook))
			/* Dropped here now (a revoked segment): no reply path. */
			__sync_fetch_and_and(&flow->flags, ~BH_CT_PASSED(hook));
		flow->last_seen_ns = now_ns;
		/* Established flows already carry their bits: skip the locked op. */
		if ((READ_ONCE(flow->flags) & new_bits) != new_bits) {
			__u32 old_bits = __sync_fetch_and_or(&flow->flags, new_bits);

			if (!(old_bits & BH_CT_REPORTED_AT_LEAST(level)))
				emit_flow_event(skb, &pkt, &info, now_ns);
		}
	} else {
		emit_flow_event(skb, &pkt, &info, now_ns); /* untracked: report every packet */
	}

	return info.verdict == BH_VERDICT_DROPPED ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int from_endpoint(struct __sk_buff *skb)
{
	return handle_packet(skb, BH_HOOK_FROM_ENDPOINT);
}

SEC("tc")
int to_endpoint(struct __sk_buff *skb)
{
	return handle_packet(skb, BH_HOOK_TO_ENDPOINT);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
