// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * XDP program for the node's uplink: traffic from other nodes.
 *
 *   from_uplink  drops, before an skb exists, packets that open a flow (TCP
 *                SYN, ICMP echo request) into
 *                a workload that enforces and that no segment admits, and
 *                packets from outside that claim one of this node's own
 *                addresses. Everything else passes on to the TC hooks of
 *                the workload's interface, which judge it fully (replies of
 *                let-through flows, fragments, ICMP errors, flows into
 *                workloads that learn or monitor).
 *
 * It shares every map with the endpoint programs (the agent reuses their
 * fds, or both use the pinned maps); of conntrack it only deletes expired
 * entries it finds.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "datapath.h"
#include "lib/conntrack.h"
#include "lib/events.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/policy.h"

SEC("xdp")
int from_uplink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct packet pkt = {};

	/* Only what can be judged from the first buffer is judged here, and
	 * only packets that open a flow: a TCP SYN, an echo request. Anything
	 * else may be the reply of a translated flow (a Service's backend on
	 * another node answering) whose tuple the node has not restored yet;
	 * the workload's TC hook judges it after the translation. */
	if (parse_frame(data, data_end, data_end - data, &pkt) != PARSE_OK ||
	    pkt.frag == FRAG_LATER || pkt.icmp_error)
		return XDP_PASS;
	int opener = (pkt.proto == IPPROTO_TCP &&
		      (pkt.tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN) ||
		     pkt.icmp_echo_request;
	if (!opener)
		return XDP_PASS;

	__u64 now_ns = bpf_ktime_get_coarse_ns();
	struct bh_ct_key key;
	int source_end = ct_key_of(&key, &pkt);

	if (ct_lookup(&key, source_end, now_ns).entry)
		return XDP_PASS; /* a flow some hook let through: TC decides */

	struct decision d;

	decide(&d, BH_HOOK_FROM_UPLINK, 0, &pkt.saddr, &pkt.daddr, pkt.proto, pkt.policy_port_be);
	if (d.src_identity == BH_IDENTITY_HOST) {
		d.verdict = BH_VERDICT_DROPPED;
		d.reason = BH_REASON_SPOOFED;
	} else if (!bh_is_workload_identity(d.dst_identity) || d.verdict != BH_VERDICT_DROPPED) {
		return XDP_PASS;
	}
	stat_inc(BH_STAT_XDP_DROPPED);
	if (d.reason == BH_REASON_GUARDRAIL)
		stat_inc(BH_STAT_DROPPED_GUARDRAIL); /* a guardrail's drops, wherever they happen */
	report_drop(ctx->ingress_ifindex, &pkt, &d, now_ns);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
