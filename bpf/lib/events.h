/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow events up the ring buffer. A full ring buffer never blocks or drops a
 * packet: the event is counted as lost (BH_STAT_EVENTS_LOST) and the packet
 * goes on.
 *
 * What is reported:
 *   - let-through flows without a segment (AUDIT): every new flow, and again
 *     when it reaches a higher report level. Complete: never rate-limited.
 *   - forwarded flows: new flows, up to bh_cfg.forwarded_events_per_sec per
 *     CPU; beyond that they are counted (BH_STAT_EVENTS_SUPPRESSED) only.
 *   - drops, of every reason: once per (flow, hook, reason) per
 *     bh_cfg.drop_report_interval_ns, up to bh_cfg.drop_events_per_sec per
 *     CPU, so a flood costs the agent a bounded rate of events. */
#ifndef BULKHEAD_BPF_LIB_EVENTS_H
#define BULKHEAD_BPF_LIB_EVENTS_H

#include "conntrack.h"
#include "maps.h"
#include "parse.h"
#include "policy.h"

enum event_budget {
	EVENT_BUDGET_DROPS = 0,
	EVENT_BUDGET_FORWARDED = 1,
};

/* Takes one event from this CPU's budget for the current second. */
static __always_inline int event_budget_take(enum event_budget which, __u32 per_sec, __u64 now_ns)
{
	__u32 key = which;
	struct event_budget_value *budget = bpf_map_lookup_elem(&bh_event_budget, &key);

	if (!budget)
		return 0;
	if (now_ns - budget->window_start_ns >= BH_NSEC_PER_SEC) {
		budget->window_start_ns = now_ns;
		budget->used = 0;
	}
	if (budget->used >= per_sec) {
		stat_inc(BH_STAT_EVENTS_SUPPRESSED);
		return 0;
	}
	budget->used++;
	return 1;
}

static __always_inline void emit_flow_event(__u32 ifindex, const struct packet *pkt,
					    const struct decision *d)
{
	struct bh_flow_event *event =
		d->verdict == BH_VERDICT_DROPPED
			? bpf_ringbuf_reserve(&bh_drop_events, sizeof(*event), 0)
			: bpf_ringbuf_reserve(&bh_events, sizeof(*event), 0);

	if (!event) {
		stat_inc(BH_STAT_EVENTS_LOST);
		return;
	}
	event->timestamp_ns = bpf_ktime_get_ns();
	event->saddr = pkt->saddr;
	event->daddr = pkt->daddr;
	event->src_identity = d->src_identity;
	event->dst_identity = d->dst_identity;
	event->ifindex = ifindex;
	event->segment_id = d->segment_id;
	event->sport_be = pkt->sport_be;
	event->dport_be = pkt->proto == IPPROTO_ICMP || pkt->proto == IPPROTO_ICMPV6_
				  ? pkt->policy_port_be
				  : pkt->dport_be;
	event->proto = pkt->proto;
	event->verdict = d->verdict;
	event->hook = d->hook;
	event->mode = d->mode;
	event->reason = d->reason;
	event->icmp_type = pkt->icmp_type;
	event->icmp_code = pkt->icmp_code;
	event->pad = 0;
	event->flags = d->flags;
	if (pkt->proto == IPPROTO_TCP &&
	    (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		event->flags |= BH_FLOW_TCP_SYN;
	if (pkt->icmp_echo_request)
		event->flags |= BH_FLOW_ICMP_ECHO;
	if (pkt->ipv6)
		event->flags |= BH_FLOW_IPV6;
	if (pkt->frag != FRAG_NONE)
		event->flags |= BH_FLOW_FRAGMENT;
	bpf_ringbuf_submit(event, 0);
}

/* A dropped packet: reported once per (flow, hook, reason) per interval,
 * within the per-CPU drop budget. */
static __always_inline void report_drop(__u32 ifindex, const struct packet *pkt,
					const struct decision *d, __u64 now_ns)
{
	struct bh_drop_report_key key = { .hook = d->hook, .reason = d->reason };

	ct_key_of(&key.flow, pkt);
	__u64 *last = bpf_map_lookup_elem(&bh_drop_reports, &key);

	if (last && now_ns - *last < bh_cfg.drop_report_interval_ns)
		return;
	if (!event_budget_take(EVENT_BUDGET_DROPS, bh_cfg.drop_events_per_sec, now_ns))
		return;
	bpf_map_update_elem(&bh_drop_reports, &key, &now_ns, BPF_ANY);
	emit_flow_event(ifindex, pkt, d);
}

/* A packet let through on a flow's establishing direction: reported when the
 * flow reaches a report level not reported yet. */
static __always_inline void report_pass(__u32 ifindex, const struct packet *pkt,
					const struct decision *d, struct bh_ct_entry *entry,
					__u64 now_ns)
{
	enum bh_report_level level = BH_REPORT_FORWARDED;

	if (d->verdict == BH_VERDICT_AUDIT)
		level = d->mode == BH_MODE_MONITOR ? BH_REPORT_MONITOR_ALERT : BH_REPORT_PASSED;
	if (!entry) {
		/* Untracked (the kernel refused the insert): report within budget. */
		if (level != BH_REPORT_FORWARDED ||
		    event_budget_take(EVENT_BUDGET_FORWARDED, bh_cfg.forwarded_events_per_sec, now_ns))
			emit_flow_event(ifindex, pkt, d);
		return;
	}
	if (READ_ONCE(entry->flags) & BH_CT_REPORTED_AT_LEAST(level))
		return;
	__u32 old = __sync_fetch_and_or(&entry->flags, BH_CT_REPORTED(level));

	if (old & BH_CT_REPORTED_AT_LEAST(level))
		return; /* another CPU got there first */
	if (level == BH_REPORT_FORWARDED &&
	    !event_budget_take(EVENT_BUDGET_FORWARDED, bh_cfg.forwarded_events_per_sec, now_ns))
		return;
	emit_flow_event(ifindex, pkt, d);
}

#endif /* BULKHEAD_BPF_LIB_EVENTS_H */
