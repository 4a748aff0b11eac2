/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parsing for the endpoint programs: Ethernet + IPv4 + TCP/UDP/ICMP.
 *
 * Headers are copied out with bpf_skb_load_bytes, so non-linear skbs parse
 * the same as linear ones. Verdicts for what this parser does not handle:
 *   - not IPv4 (ARP, IPv6 for now): PARSE_NOT_IPV4, passed and counted;
 *   - IPv4 header shorter than 20 bytes, bad IHL, truncated L4 header:
 *     PARSE_MALFORMED, dropped and counted;
 *   - IPv4 non-first fragments: ports are unknown and read as 0, so they only
 *     pass where a segment for port 0 exists or the workload is not enforced.
 */
#ifndef BULKHEAD_BPF_LIB_PARSE_H
#define BULKHEAD_BPF_LIB_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "../datapath.h"

enum parse_result {
	PARSE_OK = 0,
	PARSE_NOT_IPV4,
	PARSE_MALFORMED,
};

/* What the rest of the pipeline needs to know about one packet. */
struct packet {
	__be32 saddr_be;
	__be32 daddr_be;
	__be16 sport_be; /* ICMP echo request: identifier; echo reply: 0 */
	__be16 dport_be; /* ICMP echo request: 0; echo reply: identifier */
	__u8 proto;
	__u8 tcp_flags;
	__u8 icmp_echo_request;
};

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10
#define IP_FRAG_OFFSET_MASK 0x1fff
/* linux/icmp.h drags in libc headers that do not build for -target bpf. */
#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
struct icmp_echo_header {
	__u8 type;
	__u8 code;
	__be16 checksum;
	__be16 id;
	__be16 sequence;
};

static __always_inline enum parse_result parse_packet(struct __sk_buff *skb,
						      struct packet *pkt)
{
	struct ethhdr eth;
	struct iphdr ip;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0)
		return PARSE_NOT_IPV4; /* runt frame: not ours to judge */
	if (eth.h_proto != bpf_htons(ETH_P_IP))
		return PARSE_NOT_IPV4;
	if (bpf_skb_load_bytes(skb, sizeof(eth), &ip, sizeof(ip)) < 0)
		return PARSE_MALFORMED;
	if (ip.version != 4 || ip.ihl < 5)
		return PARSE_MALFORMED;

	pkt->saddr_be = ip.saddr;
	pkt->daddr_be = ip.daddr;
	pkt->proto = ip.protocol;
	pkt->sport_be = 0;
	pkt->dport_be = 0;
	pkt->tcp_flags = 0;
	pkt->icmp_echo_request = 0;

	if (bpf_ntohs(ip.frag_off) & IP_FRAG_OFFSET_MASK)
		return PARSE_OK; /* non-first fragment: no L4 header */

	__u32 l4 = sizeof(eth) + ip.ihl * 4;

	switch (ip.protocol) {
	case IPPROTO_TCP: {
		__u8 hdr[14]; /* ports (4), seq (4), ack (4), offset (1), flags (1) */

		if (bpf_skb_load_bytes(skb, l4, hdr, sizeof(hdr)) < 0)
			return PARSE_MALFORMED;
		__builtin_memcpy(&pkt->sport_be, &hdr[0], 2);
		__builtin_memcpy(&pkt->dport_be, &hdr[2], 2);
		pkt->tcp_flags = hdr[13];
		break;
	}
	case IPPROTO_UDP: {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)) < 0)
			return PARSE_MALFORMED;
		pkt->sport_be = ports[0];
		pkt->dport_be = ports[1];
		break;
	}
	case IPPROTO_ICMP: {
		struct icmp_echo_header icmp;

		if (bpf_skb_load_bytes(skb, l4, &icmp, sizeof(icmp)) < 0)
			return PARSE_MALFORMED;
		/* Request and reply of one echo land on one conntrack entry: the
		 * reply's reversed tuple equals the request's tuple. */
		if (icmp.type == ICMP_ECHO_REQUEST) {
			pkt->sport_be = icmp.id;
			pkt->icmp_echo_request = 1;
		}
		else if (icmp.type == ICMP_ECHO_REPLY)
			pkt->dport_be = icmp.id;
		break;
	}
	default:
		break;
	}
	return PARSE_OK;
}

#endif /* BULKHEAD_BPF_LIB_PARSE_H */
