/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Flow events up the ring buffer. A full ring buffer never blocks or drops a
 * packet: the event is counted as lost (BH_STAT_EVENTS_LOST) and the packet
 * goes on. */
#ifndef BULKHEAD_BPF_LIB_EVENTS_H
#define BULKHEAD_BPF_LIB_EVENTS_H

#include "maps.h"
#include "parse.h"

struct verdict_info {
	__u32 src_identity;
	__u32 dst_identity;
	__u32 segment_id;
	__u8 verdict;
	__u8 hook;
	__u8 mode;
	__u8 pad;
};

static __always_inline void emit_flow_event(struct __sk_buff *skb, const struct packet *pkt,
					    const struct verdict_info *info, __u64 now_ns)
{
	struct bh_flow_event *event = bpf_ringbuf_reserve(&bh_events, sizeof(*event), 0);

	if (!event) {
		stat_inc(BH_STAT_EVENTS_LOST);
		return;
	}
	event->timestamp_ns = now_ns;
	event->src_identity = info->src_identity;
	event->dst_identity = info->dst_identity;
	event->saddr_be = pkt->saddr_be;
	event->daddr_be = pkt->daddr_be;
	event->sport_be = pkt->sport_be;
	event->dport_be = pkt->dport_be;
	event->proto = pkt->proto;
	event->verdict = info->verdict;
	event->hook = info->hook;
	event->mode = info->mode;
	event->ifindex = skb->ifindex;
	event->segment_id = info->segment_id;
	event->flags = 0;
	if (pkt->proto == IPPROTO_TCP &&
	    (pkt->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == TCP_FLAG_SYN)
		event->flags |= BH_FLOW_TCP_SYN;
	if (pkt->icmp_echo_request)
		event->flags |= BH_FLOW_ICMP_ECHO;
	event->pad = 0;
	bpf_ringbuf_submit(event, 0);
}

#endif /* BULKHEAD_BPF_LIB_EVENTS_H */
