// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * TC programs for the host side of a workload's veth.
 *
 *   from_endpoint  TC ingress: the packet leaves the workload. Checked
 *                  against the source workload's mode (its egress).
 *   to_endpoint    TC egress: the packet enters the workload. Checked
 *                  against the destination workload's mode (its ingress).
 *
 * Per packet (bpf/README.md has the table of every case):
 *   parse -> (link control: pass) -> (unparseable/malformed: by reason)
 *   -> later fragment: its first fragment's ports
 *   -> conntrack: an opener's or reply packet this hook already let through
 *      under the current policy epoch on this interface passes here
 *   -> bound interface: anti-spoofing, own identity (fail-closed if unbound)
 *   -> reply whose request was decided under an older epoch: decide again
 *   -> TCP seen mid-stream: the workload's sockets say which end is the
 *      server; a server's packet is judged as its client's request
 *   -> ICMP error about a live flow: pass as related
 *   -> decide the establishing direction: identities, mode, segment
 *   -> let through: conntrack entry, report by level; dropped: report.
 * A flow between two workloads on one node crosses both hooks, so it is
 * dropped if either end is in enforce mode and no segment allows it.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "datapath.h"
#include "lib/conntrack.h"
#include "lib/events.h"
#include "lib/fragments.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/policy.h"
#include "lib/sockets.h"

#define PULL_BYTES 640 /* enough for every header the parser reads */

/* Parses the skb's headers in place; pulls them into the linear area once
 * if they are not there. */
static __always_inline int parse_skb(struct __sk_buff *skb, struct packet *pkt)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	return parse_frame(data, data_end, skb->len, pkt);
}

static __always_inline enum parse_result parse_skb_pulling(struct __sk_buff *skb,
							    struct packet *pkt)
{
	enum parse_result parsed = parse_skb(skb, pkt);

	if (parsed != PARSE_NEED_PULL)
		return parsed;
	bpf_skb_pull_data(skb, skb->len < PULL_BYTES ? skb->len : PULL_BYTES);
	__builtin_memset(pkt, 0, sizeof(*pkt));
	parsed = parse_skb(skb, pkt);
	return parsed == PARSE_NEED_PULL ? PARSE_UNPARSEABLE : parsed;
}

static __always_inline void count_verdict(__u8 verdict, __u8 reason)
{
	switch (verdict) {
	case BH_VERDICT_FORWARDED:
		stat_inc(BH_STAT_FORWARDED);
		break;
	case BH_VERDICT_AUDIT:
		stat_inc(BH_STAT_AUDIT);
		break;
	default:
		stat_inc(reason == BH_REASON_GUARDRAIL ? BH_STAT_DROPPED_GUARDRAIL
						       : BH_STAT_DROPPED_POLICY);
		break;
	}
}

/* Drops (or, for reasons that depend on the mode, passes) a packet that is
 * not judged by policy, with an event within the drop budget. `every_mode`:
 * drop whatever the mode (unparseable frames leaving a bound interface,
 * which cannot be checked for spoofing). */
static __always_inline int verdict_without_policy(__u32 ifindex, const struct packet *pkt,
						  enum bh_hook hook, __u32 own_identity,
						  enum bh_reason reason, int every_mode,
						  __u64 now_ns)
{
	struct decision d = {
		.hook = hook,
		.reason = reason,
		.verdict = BH_VERDICT_DROPPED,
		.src_identity = hook == BH_HOOK_FROM_ENDPOINT ? own_identity : 0,
		.dst_identity = hook == BH_HOOK_FROM_ENDPOINT ? 0 : own_identity,
	};
	enum bh_stat stat;

	switch (reason) {
	case BH_REASON_SPOOFED:
		stat = BH_STAT_DROPPED_SPOOFED;
		break;
	case BH_REASON_MALFORMED:
		stat = BH_STAT_DROPPED_MALFORMED;
		break;
	case BH_REASON_UNBOUND:
		stat = BH_STAT_DROPPED_UNBOUND;
		break;
	default:
		/* Unparseable frames and orphan fragments: as the mode says. */
		d.mode = mode_of(own_identity);
		if (d.mode != BH_MODE_ENFORCE && !every_mode)
			d.verdict = BH_VERDICT_AUDIT;
		stat = reason == BH_REASON_FRAGMENT ? BH_STAT_DROPPED_FRAGMENT
						    : BH_STAT_DROPPED_UNPARSEABLE;
		/* Passed only because the workload does not enforce: a guardrail
		 * on the pair of peers still drops it (any protocol, any port:
		 * the ports were not read), so odd headers cannot walk around one. */
		if (d.verdict == BH_VERDICT_AUDIT && own_identity) {
			__u32 peer = identity_of(hook == BH_HOOK_FROM_ENDPOINT ? &pkt->daddr
									  : &pkt->saddr);
			__u32 src = hook == BH_HOOK_FROM_ENDPOINT ? own_identity : peer;
			__u32 dst = hook == BH_HOOK_FROM_ENDPOINT ? peer : own_identity;
			__u32 guardrail = guardrail_of(src, dst, 0, 0, current_lookups());

			if (guardrail) {
				d.verdict = BH_VERDICT_DROPPED;
				d.reason = BH_REASON_GUARDRAIL;
				d.segment_id = guardrail;
				d.src_identity = src;
				d.dst_identity = dst;
				stat = BH_STAT_DROPPED_GUARDRAIL;
			}
		}
		break;
	}
	report_drop(ifindex, pkt, &d, now_ns);
	if (d.verdict == BH_VERDICT_AUDIT) {
		stat_inc(BH_STAT_AUDIT);
		return TC_ACT_OK;
	}
	stat_inc(stat);
	return TC_ACT_SHOT;
}

/* An ICMP error about a flow conntrack knows, sent by that flow's peer or by
 * something that is not a workload (the node, a router): related. */
static __always_inline int is_related_error(const struct packet *pkt, __u64 now_ns)
{
	const struct embedded_tuple *inner = &pkt->embedded;

	if (!pkt->icmp_error || !inner->valid || !addr_equal(&pkt->daddr, &inner->saddr))
		return 0;
	struct bh_ct_key key;
	int end = ct_key_of_tuple(&key, &inner->saddr, &inner->daddr, inner->sport_be,
				  inner->dport_be, inner->proto);
	struct ct_lookup ct = ct_lookup(&key, end, now_ns);

	if (!ct.entry)
		return 0;
	return addr_equal(&pkt->saddr, &inner->daddr) ||
	       !bh_is_workload_identity(identity_of(&pkt->saddr));
}

/* A mid-stream TCP packet that answers a request (see handle_packet):
 * decides that request at `request_hook` and, let through, tracks the flow
 * with the request's sender as its opener. Events are oriented as the
 * request: client -> server:port. */
static __always_inline int mid_stream_reply(__u32 ifindex, struct packet *pkt,
				       const struct bh_ct_key *key, int source_end,
				       struct ct_lookup *ct, enum bh_hook request_hook, __u32 own,
				       __u32 epoch, __u64 now_ns)
{
	struct bh_addr server = pkt->saddr;
	__be16 server_port = pkt->sport_be;

	pkt->saddr = pkt->daddr;
	pkt->daddr = server;
	pkt->sport_be = pkt->dport_be;
	pkt->dport_be = server_port;
	pkt->policy_port_be = server_port;

	struct decision d;

	decide(&d, request_hook, own, &pkt->saddr, &pkt->daddr, pkt->proto, pkt->policy_port_be);
	d.flags |= BH_FLOW_MID_STREAM;
	count_verdict(d.verdict, d.reason);
	if (d.verdict == BH_VERDICT_DROPPED) {
		report_drop(ifindex, pkt, &d, now_ns);
		return TC_ACT_SHOT;
	}
	struct bh_ct_entry *entry = ct->entry;

	if (!entry) {
		entry = ct_create(key, !source_end, pkt, now_ns);
		ct->entry = entry;
		ct->confirmed = 0;
	}
	ct->from_opener = 0;
	if (entry) {
		WRITE_ONCE(entry->passed_ifindex[request_hook], ifindex);
		WRITE_ONCE(entry->passed_verdict[request_hook], d.verdict);
		WRITE_ONCE(entry->passed_epoch[request_hook], epoch);
		if (d.segment_id)
			WRITE_ONCE(entry->segment_id, d.segment_id);
		ct_on_packet(key, ct, pkt, now_ns);
	}
	report_pass(ifindex, pkt, &d, entry, now_ns);
	return TC_ACT_OK;
}

static __always_inline int handle_packet(struct __sk_buff *skb, const enum bh_hook hook)
{
	const enum bh_hook other = hook == BH_HOOK_FROM_ENDPOINT ? BH_HOOK_TO_ENDPOINT
								 : BH_HOOK_FROM_ENDPOINT;
	/* Read once, here: the compiler must not keep a pointer into the
	 * context (the verifier refuses a modified context pointer). */
	__u32 ifindex = READ_ONCE(skb->ifindex);
	struct packet pkt = {};
	enum parse_result parsed = parse_skb_pulling(skb, &pkt);

	if (parsed == PARSE_LINK) {
		stat_inc(BH_STAT_PASSED_LINK);
		return TC_ACT_OK;
	}
	__u64 now_ns = bpf_ktime_get_coarse_ns();
	struct bh_endpoint_value *endpoint;
	__u32 own = 0;

	if (parsed != PARSE_OK) {
		endpoint = endpoint_of(ifindex);
		own = endpoint ? endpoint->identity : 0;
		if (!endpoint && bh_cfg.fail_closed)
			return verdict_without_policy(ifindex, &pkt, hook, 0, BH_REASON_UNBOUND, 0,
						      now_ns);
		return verdict_without_policy(ifindex, &pkt, hook, own,
					      parsed == PARSE_MALFORMED ? BH_REASON_MALFORMED
									: BH_REASON_UNPARSEABLE,
					      hook == BH_HOOK_FROM_ENDPOINT && endpoint, now_ns);
	}
	/* Neighbour discovery between global addresses: unjudged only with
	 * the node, the one neighbour a workload's veth has. */
	if (pkt.nd_unicast &&
	    identity_of(hook == BH_HOOK_FROM_ENDPOINT ? &pkt.daddr : &pkt.saddr) ==
		    BH_IDENTITY_HOST) {
		stat_inc(BH_STAT_PASSED_LINK);
		return TC_ACT_OK;
	}

	__u32 epoch = current_epoch();
	int followed = 0;

	if (pkt.frag == FRAG_LATER)
		followed = frag_follow(&pkt, now_ns);

	/* Fast paths: what this hook (or, for a reply, the other kind of hook)
	 * already let through on this interface under the current epoch. */
	struct bh_ct_key key;
	int source_end = ct_key_of(&key, &pkt);
	struct ct_lookup ct = {};

	/* ICMP other than echo has no conntrack of its own: errors are related
	 * to the flow they quote, other types are decided every packet. */
	__u16 icmp_type = bpf_ntohs(pkt.policy_port_be);
	int tracked = !is_icmp(&pkt) || pkt.icmp_echo_request || pkt.icmp_echo_reply ||
		      (pkt.frag == FRAG_LATER && (icmp_type == ICMP_ECHO_REQUEST ||
						  icmp_type == ICMP_ECHO_REPLY ||
						  icmp_type == ICMPV6_ECHO_REQUEST ||
						  icmp_type == ICMPV6_ECHO_REPLY));

	if (tracked && (pkt.frag != FRAG_LATER || followed))
		ct = ct_lookup(&key, source_end, now_ns);
	struct bh_ct_entry *entry = ct.entry;

	if (entry && ct.from_opener && ct_is_reopen(entry, &pkt)) {
		ct_delete(&key, ct.confirmed);
		entry = ct.entry = NULL;
	}
	if (entry) {
		enum bh_hook by = ct.from_opener ? hook : other;

		if (READ_ONCE(entry->passed_epoch[by]) == epoch &&
		    READ_ONCE(entry->passed_ifindex[by]) == ifindex) {
			ct_on_packet(&key, &ct, &pkt, now_ns);
			frag_record(&pkt, now_ns);
			if (pkt.frag == FRAG_LATER)
				stat_inc(BH_STAT_FRAGMENT_FOLLOWED);
			else if (!ct.from_opener)
				stat_inc(BH_STAT_REPLY);
			else
				count_verdict(READ_ONCE(entry->passed_verdict[hook]), BH_REASON_NONE);
			return TC_ACT_OK;
		}
	}

	/* The interface: its workload, and whether this packet may claim it. */
	endpoint = endpoint_of(ifindex);
	own = endpoint ? endpoint->identity : 0;
	if (hook == BH_HOOK_FROM_ENDPOINT && endpoint && identity_of(&pkt.saddr) != own)
		return verdict_without_policy(ifindex, &pkt, hook, own, BH_REASON_SPOOFED, 0, now_ns);
	if (!endpoint && bh_cfg.fail_closed)
		return verdict_without_policy(ifindex, &pkt, hook, 0, BH_REASON_UNBOUND, 0, now_ns);
	if (pkt.frag == FRAG_LATER && !followed)
		return verdict_without_policy(ifindex, &pkt, hook, own ? own : identity_of(
				hook == BH_HOOK_FROM_ENDPOINT ? &pkt.saddr : &pkt.daddr),
					      BH_REASON_FRAGMENT, 0, now_ns);

	/* A reply whose request was let through here under an older epoch:
	 * decide the request again (as the other kind of hook on this
	 * interface would), so a revoked segment takes its replies with it. */
	if (entry && !ct.from_opener && READ_ONCE(entry->passed_epoch[other]) &&
	    READ_ONCE(entry->passed_ifindex[other]) == ifindex) {
		struct decision request;

		decide(&request, other, own, &pkt.daddr, &pkt.saddr, pkt.proto,
		       entry->policy_port_be);
		if (request.verdict != BH_VERDICT_DROPPED) {
			WRITE_ONCE(entry->passed_epoch[other], epoch);
			WRITE_ONCE(entry->passed_verdict[other], request.verdict);
			ct_on_packet(&key, &ct, &pkt, now_ns);
			frag_record(&pkt, now_ns);
			stat_inc(BH_STAT_REPLY);
			return TC_ACT_OK;
		}
		WRITE_ONCE(entry->passed_epoch[other], 0);
	}

	/* TCP seen mid-stream (no SYN, no conntrack of its own here). A packet
	 * the workload sends as the server, or receives as the client, is a
	 * reply: the request it answers is decided, as the other kind of hook
	 * on this interface would, and the flow is tracked from its client. */
	__u32 mid_stream = 0;

	if (endpoint && pkt.proto == IPPROTO_TCP && pkt.frag == FRAG_NONE &&
	    !(pkt.tcp_flags & TCP_FLAG_SYN) && !(entry && ct.from_opener)) {
		enum stream_role role = stream_role(skb, &pkt, hook, endpoint->netnsid_plus1);

		if (role != ROLE_UNKNOWN)
			mid_stream = BH_FLOW_MID_STREAM;
		if (role == (hook == BH_HOOK_FROM_ENDPOINT ? ROLE_LOCAL_SERVER : ROLE_LOCAL_CLIENT))
			return mid_stream_reply(ifindex, &pkt, &key, source_end, &ct, other, own,
						epoch, now_ns);
	}

	if (is_related_error(&pkt, now_ns)) {
		stat_inc(BH_STAT_RELATED);
		return TC_ACT_OK;
	}

	/* The establishing direction of a flow, decided on every packet that
	 * no fast path took. */
	struct decision d;

	decide(&d, hook, own, &pkt.saddr, &pkt.daddr, pkt.proto, pkt.policy_port_be);
	d.flags |= mid_stream;
	count_verdict(d.verdict, d.reason);
	if (d.verdict == BH_VERDICT_DROPPED) {
		if (entry && ct.from_opener)
			WRITE_ONCE(entry->passed_epoch[hook], 0); /* revoked: no reply path */
		report_drop(ifindex, &pkt, &d, now_ns);
		return TC_ACT_SHOT;
	}

	if (entry && !ct.from_opener) {
		/* The other end opens a flow of its own on the same tuple. */
		ct_delete(&key, ct.confirmed);
		entry = NULL;
	}
	if (!entry && tracked) {
		entry = ct_create(&key, source_end, &pkt, now_ns);
		ct.entry = entry;
		ct.confirmed = 0;
		ct.from_opener = 1;
	}
	if (entry) {
		WRITE_ONCE(entry->passed_ifindex[hook], ifindex);
		WRITE_ONCE(entry->passed_verdict[hook], d.verdict);
		WRITE_ONCE(entry->passed_epoch[hook], epoch);
		if (d.segment_id)
			WRITE_ONCE(entry->segment_id, d.segment_id);
		ct_on_packet(&key, &ct, &pkt, now_ns);
	}
	frag_record(&pkt, now_ns);
	report_pass(ifindex, &pkt, &d, entry, now_ns);
	return TC_ACT_OK;
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
