/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parsing for every program, TC and XDP alike: Ethernet, VLAN tags,
 * IPv4 (options, fragments), IPv6 (extension headers, fragments), TCP, UDP,
 * SCTP ports, ICMP and ICMPv6 (echo, errors with the packet they are about,
 * neighbour discovery). Reads headers in place (direct packet access); a TC
 * caller pulls a non-linear skb when told PARSE_NEED_PULL.
 *
 * Every frame gets one of these outcomes (table in bpf/README.md):
 *   PARSE_OK           an IP packet; `struct packet` says what the pipeline needs
 *   PARSE_LINK         ARP, IPv6 neighbour discovery (hop limit 255) or MLD
 *                      (hop limit 1): link-local control, passed unjudged
 *   PARSE_MALFORMED    truncated or inconsistent headers: dropped in every mode
 *   PARSE_UNPARSEABLE  an EtherType other than IPv4/IPv6/ARP/VLAN, more than
 *                      BH_MAX_VLAN_TAGS tags or BH_MAX_IPV6_EXT_HEADERS
 *                      extension headers: dropped where the workload enforces
 *   PARSE_NEED_PULL    headers run past the linear data of a longer skb
 */
#ifndef BULKHEAD_BPF_LIB_PARSE_H
#define BULKHEAD_BPF_LIB_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "../datapath.h"

#define BH_MAX_VLAN_TAGS 2        /* in the frame; the kernel may hold one more aside */
#define BH_MAX_IPV6_EXT_HEADERS 8 /* walked before giving up: PARSE_UNPARSEABLE */

enum parse_result {
	PARSE_OK = 0,
	PARSE_LINK,
	PARSE_MALFORMED,
	PARSE_UNPARSEABLE,
	PARSE_NEED_PULL,
};

enum frag_kind {
	FRAG_NONE = 0,
	FRAG_FIRST, /* offset 0, more fragments follow: carries the L4 header */
	FRAG_LATER, /* offset > 0: no L4 header; ports come from the first */
};

/* The packet an ICMP error is about, as its sender sent it. */
struct embedded_tuple {
	struct bh_addr saddr;
	struct bh_addr daddr;
	__be16 sport_be;
	__be16 dport_be;
	__u8 proto;
	__u8 valid;
	__u8 pad[2];
};

/* What the rest of the pipeline needs to know about one packet. */
struct packet {
	struct bh_addr saddr;
	struct bh_addr daddr;
	__be16 sport_be;       /* conntrack ports; ICMP echo request: id in sport,   */
	__be16 dport_be;       /* echo reply: id in dport, other ICMP: both 0        */
	__be16 policy_port_be; /* bh_policy_key.dport_be: server port or ICMP type */
	__u8 proto;            /* the upper-layer protocol (after extension headers) */
	__u8 ipv6;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 icmp_echo_request;
	__u8 icmp_echo_reply;
	__u8 icmp_error; /* an ICMP/ICMPv6 error; `embedded` may hold its flow */
	__u8 frag;       /* enum frag_kind */
	__u8 nd_unicast; /* neighbour discovery between two global addresses */
	__be32 frag_id_be;
	struct embedded_tuple embedded;
};

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10
#define IP_MF 0x2000
#define IP_FRAG_OFFSET_MASK 0x1fff
#define IP6_MF 0x0001
#define IP6_FRAG_OFFSET_MASK 0xfff8

/* linux/icmp.h and linux/icmpv6.h drag in headers that do not build for
 * -target bpf: the numbers used here. */
#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_SOURCE_QUENCH 4
#define ICMP_REDIRECT 5
#define ICMP_ECHO_REQUEST 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETER_PROB 12
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PKT_TOOBIG 2
#define ICMPV6_TIME_EXCEED 3
#define ICMPV6_PARAMPROB 4
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129
#define ICMPV6_MLD_QUERY 130
#define ICMPV6_MLD_REPORT 131
#define ICMPV6_MLD_DONE 132
#define ICMPV6_ROUTER_SOLICIT 133
#define ICMPV6_NEIGHBOUR_REDIRECT 137
#define ICMPV6_MLD2_REPORT 143

#define IPPROTO_ICMPV6_ 58 /* IPPROTO_ICMPV6 lives in linux/in6.h under __UAPI_DEF_... */
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60
#define NEXTHDR_MOBILITY 135
#define NEXTHDR_HIP 139
#define NEXTHDR_SHIM6 140
#define NEXTHDR_EXP1 253
#define NEXTHDR_EXP2 254

struct vlan_tag {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct icmp_header {
	__u8 type;
	__u8 code;
	__be16 checksum;
	__be16 id; /* echo: identifier; otherwise unused here */
	__be16 sequence;
};

struct ipv6_frag_header {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-byte units << 3, M flag in bit 0 */
	__be32 identification;
};

/* IPv4 address -> IPv4-mapped form (::ffff:a.b.c.d). */
static __always_inline void addr_from_ipv4(struct bh_addr *addr, __be32 ipv4)
{
	addr->be32[0] = 0;
	addr->be32[1] = 0;
	addr->be32[2] = bpf_htonl(0x0000ffff);
	addr->be32[3] = ipv4;
}

static __always_inline void addr_from_ipv6(struct bh_addr *addr, const struct in6_addr *ipv6)
{
	__builtin_memcpy(addr, ipv6, sizeof(*addr));
}

/* IPv6 unspecified (::), link-local (fe80::/10) or multicast (ff00::/8). */
static __always_inline int is_link_scope(const struct bh_addr *addr)
{
	__u32 first = bpf_ntohl(addr->be32[0]);

	if ((first >> 24) == 0xff || (first >> 22) == (0xfe80 >> 6))
		return 1;
	return !addr->be32[0] && !addr->be32[1] && !addr->be32[2] && !addr->be32[3];
}

static __always_inline int is_icmp(const struct packet *pkt)
{
	return pkt->proto == IPPROTO_ICMP || pkt->proto == IPPROTO_ICMPV6_;
}

/* Whether `size` bytes at `offset` are in the linear data. `wire_len` is
 * the packet's real length: past it the frame is truncated (malformed),
 * before it only the linear part ended (pull and parse again). */
#define NEED(offset, size)                                                  \
	do {                                                                \
		if (data + (offset) + (size) > data_end)                    \
			return (offset) + (size) > wire_len ? PARSE_MALFORMED \
							    : PARSE_NEED_PULL;      \
	} while (0)

/* Ports of TCP, UDP and SCTP; ICMP echo identifiers. Fills the packet's
 * conntrack ports and policy port from the L4 header at `l4`. */
static __always_inline enum parse_result parse_l4(void *data, void *data_end, __u32 wire_len,
						   __u32 l4, struct packet *pkt)
{
	switch (pkt->proto) {
	case IPPROTO_TCP: {
		NEED(l4, 20);
		__u8 *tcp = data + l4;

		__builtin_memcpy(&pkt->sport_be, tcp, 2);
		__builtin_memcpy(&pkt->dport_be, tcp + 2, 2);
		pkt->tcp_flags = tcp[13];
		if ((tcp[12] >> 4) < 5)
			return PARSE_MALFORMED; /* data offset below the header's size */
		pkt->policy_port_be = pkt->dport_be;
		break;
	}
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP: {
		NEED(l4, 8); /* UDP's header; SCTP's common header begins with the ports */
		__be16 *ports = data + l4;

		pkt->sport_be = ports[0];
		pkt->dport_be = ports[1];
		pkt->policy_port_be = pkt->dport_be;
		break;
	}
	default:
		break; /* no ports: port 0 */
	}
	return PARSE_OK;
}

/* The L4 ports of the packet an ICMP error carries, from its first bytes. */
static __always_inline void parse_embedded_l4(void *data, void *data_end, __u32 l4, __u8 proto,
					      struct embedded_tuple *inner)
{
	if (data + l4 + 8 > data_end)
		return;
	__u8 *hdr = data + l4;

	inner->proto = proto;
	switch (proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
		__builtin_memcpy(&inner->sport_be, hdr, 2);
		__builtin_memcpy(&inner->dport_be, hdr + 2, 2);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6_:
		/* An echo request it is about: the id is the requester's port. */
		if (hdr[0] != ICMP_ECHO_REQUEST && hdr[0] != ICMPV6_ECHO_REQUEST)
			return;
		__builtin_memcpy(&inner->sport_be, hdr + 4, 2);
		break;
	default:
		break;
	}
	inner->valid = 1;
}

static __always_inline void parse_embedded(void *data, void *data_end, __u32 off, int ipv6,
					   struct embedded_tuple *inner)
{
	if (ipv6) {
		if (data + off + sizeof(struct ipv6hdr) > data_end)
			return;
		struct ipv6hdr *ip6 = data + off;

		addr_from_ipv6(&inner->saddr, &ip6->saddr);
		addr_from_ipv6(&inner->daddr, &ip6->daddr);
		__u32 l4 = off + sizeof(*ip6);
		__u8 nexthdr = ip6->nexthdr;

		/* A fragment header (PMTU errors about fragmented datagrams)
		 * is skipped; other extension headers in the quoted packet are
		 * not walked: such an error is judged as plain ICMPv6. */
		if (nexthdr == NEXTHDR_FRAGMENT) {
			if (data + l4 + 8 > data_end)
				return;
			nexthdr = *(__u8 *)(data + l4);
			l4 += 8;
		}
		parse_embedded_l4(data, data_end, l4, nexthdr, inner);
		return;
	}
	if (data + off + sizeof(struct iphdr) > data_end)
		return;
	struct iphdr *ip = data + off;
	__u32 ihl = ip->ihl * 4;

	if (ip->version != 4 || ihl < sizeof(*ip) || ihl > 60)
		return;
	addr_from_ipv4(&inner->saddr, ip->saddr);
	addr_from_ipv4(&inner->daddr, ip->daddr);
	parse_embedded_l4(data, data_end, off + ihl, ip->protocol, inner);
}

/* ICMP and ICMPv6: echo ids into the ports, the type into the policy port,
 * errors with the flow they are about, neighbour discovery and MLD. */
static __always_inline enum parse_result parse_icmp(void *data, void *data_end, __u32 wire_len,
						     __u32 l4, __u8 hop_limit, struct packet *pkt)
{
	NEED(l4, sizeof(struct icmp_header));
	struct icmp_header *icmp = data + l4;
	__u8 type = icmp->type;

	pkt->icmp_type = type;
	pkt->icmp_code = icmp->code;
	pkt->policy_port_be = bpf_htons(type);

	if (pkt->ipv6) {
		switch (type) {
		case ICMPV6_ECHO_REQUEST:
			pkt->sport_be = icmp->id;
			pkt->icmp_echo_request = 1;
			break;
		case ICMPV6_ECHO_REPLY:
			pkt->dport_be = icmp->id;
			pkt->icmp_echo_reply = 1;
			break;
		case ICMPV6_DEST_UNREACH:
		case ICMPV6_PKT_TOOBIG:
		case ICMPV6_TIME_EXCEED:
		case ICMPV6_PARAMPROB:
			pkt->icmp_error = 1;
			parse_embedded(data, data_end, l4 + 8, 1, &pkt->embedded);
			break;
		case ICMPV6_MLD_QUERY:
		case ICMPV6_MLD_REPORT:
		case ICMPV6_MLD_DONE:
		case ICMPV6_MLD2_REPORT:
			if (hop_limit == 1)
				return PARSE_LINK;
			break;
		default:
			/* Router and neighbour solicitation/advertisement, redirect:
			 * valid only with hop limit 255, so never from off-link.
			 * Between two global addresses (unicast NUD) the caller
			 * checks that the other end is the node. */
			if (type >= ICMPV6_ROUTER_SOLICIT && type <= ICMPV6_NEIGHBOUR_REDIRECT &&
			    hop_limit == 255) {
				if (is_link_scope(&pkt->saddr) || is_link_scope(&pkt->daddr))
					return PARSE_LINK;
				pkt->nd_unicast = 1;
			}
			break;
		}
		return PARSE_OK;
	}

	switch (type) {
	case ICMP_ECHO_REQUEST:
		pkt->sport_be = icmp->id;
		pkt->icmp_echo_request = 1;
		break;
	case ICMP_ECHO_REPLY:
		pkt->dport_be = icmp->id;
		pkt->icmp_echo_reply = 1;
		break;
	case ICMP_DEST_UNREACH:
	case ICMP_SOURCE_QUENCH:
	case ICMP_REDIRECT:
	case ICMP_TIME_EXCEEDED:
	case ICMP_PARAMETER_PROB:
		pkt->icmp_error = 1;
		parse_embedded(data, data_end, l4 + 8, 0, &pkt->embedded);
		break;
	default:
		break;
	}
	return PARSE_OK;
}

static __always_inline enum parse_result parse_ipv4(void *data, void *data_end, __u32 wire_len,
						     __u32 l3, struct packet *pkt)
{
	NEED(l3, sizeof(struct iphdr));
	struct iphdr *ip = data + l3;
	__u32 ihl = ip->ihl * 4;
	__u32 tot_len = bpf_ntohs(ip->tot_len);

	if (ip->version != 4 || ihl < sizeof(*ip))
		return PARSE_MALFORMED;
	/* tot_len 0: a GSO super-packet (BIG TCP) longer than 64 KiB. */
	if (tot_len && (tot_len < ihl || l3 + tot_len > wire_len))
		return PARSE_MALFORMED;
	NEED(l3, ihl);

	addr_from_ipv4(&pkt->saddr, ip->saddr);
	addr_from_ipv4(&pkt->daddr, ip->daddr);
	pkt->proto = ip->protocol;

	__u16 frag_off = bpf_ntohs(ip->frag_off);

	if (frag_off & (IP_MF | IP_FRAG_OFFSET_MASK)) {
		pkt->frag_id_be = bpf_htonl(bpf_ntohs(ip->id));
		if (frag_off & IP_FRAG_OFFSET_MASK) {
			/* RFC 1858: an offset of 8 bytes can only serve to
			 * rewrite the TCP header of the first fragment. */
			if ((frag_off & IP_FRAG_OFFSET_MASK) == 1 && pkt->proto == IPPROTO_TCP)
				return PARSE_MALFORMED;
			pkt->frag = FRAG_LATER;
			return PARSE_OK;
		}
		pkt->frag = FRAG_FIRST;
	}

	__u32 l4 = l3 + ihl;

	if (pkt->proto == IPPROTO_ICMP)
		return parse_icmp(data, data_end, wire_len, l4, ip->ttl, pkt);
	return parse_l4(data, data_end, wire_len, l4, pkt);
}

/* One IPv6 extension header at *off: advances *off and *nexthdr. Returns
 * PARSE_OK when the upper-layer header is reached (done = 1). */
static __always_inline enum parse_result ipv6_next(void *data, void *data_end, __u32 wire_len,
						    __u32 *off, __u8 *nexthdr, struct packet *pkt,
						    int *done)
{
	__u32 at = *off;

	switch (*nexthdr) {
	case NEXTHDR_HOP:
	case NEXTHDR_ROUTING:
	case NEXTHDR_DEST:
	case NEXTHDR_MOBILITY:
	case NEXTHDR_HIP:
	case NEXTHDR_SHIM6:
	case NEXTHDR_EXP1:
	case NEXTHDR_EXP2: {
		NEED(at, 2);
		__u8 *hdr = data + at;

		*nexthdr = hdr[0];
		*off = at + (hdr[1] + 1) * 8;
		return PARSE_OK;
	}
	case NEXTHDR_AUTH: {
		NEED(at, 2);
		__u8 *hdr = data + at;

		*nexthdr = hdr[0];
		*off = at + (hdr[1] + 2) * 4;
		return PARSE_OK;
	}
	case NEXTHDR_FRAGMENT: {
		NEED(at, sizeof(struct ipv6_frag_header));
		struct ipv6_frag_header *frag = data + at;
		__u16 frag_off = bpf_ntohs(frag->frag_off);

		*nexthdr = frag->nexthdr;
		*off = at + sizeof(*frag);
		if (!(frag_off & (IP6_MF | IP6_FRAG_OFFSET_MASK)))
			return PARSE_OK; /* atomic fragment: a whole datagram */
		pkt->frag_id_be = frag->identification;
		if (frag_off & IP6_FRAG_OFFSET_MASK) {
			pkt->frag = FRAG_LATER;
			*done = 1;
			return PARSE_OK;
		}
		pkt->frag = FRAG_FIRST;
		return PARSE_OK;
	}
	default:
		*done = 1; /* the upper-layer protocol */
		return PARSE_OK;
	}
}

static __always_inline enum parse_result parse_ipv6(void *data, void *data_end, __u32 wire_len,
						     __u32 l3, struct packet *pkt)
{
	NEED(l3, sizeof(struct ipv6hdr));
	struct ipv6hdr *ip6 = data + l3;
	__u32 payload_len = bpf_ntohs(ip6->payload_len);

	if (ip6->version != 6)
		return PARSE_MALFORMED;
	/* payload_len 0: a jumbogram or a BIG TCP GSO packet. */
	if (payload_len && l3 + sizeof(*ip6) + payload_len > wire_len)
		return PARSE_MALFORMED;

	pkt->ipv6 = 1;
	addr_from_ipv6(&pkt->saddr, &ip6->saddr);
	addr_from_ipv6(&pkt->daddr, &ip6->daddr);
	__u8 hop_limit = ip6->hop_limit;
	__u8 nexthdr = ip6->nexthdr;
	__u32 off = l3 + sizeof(*ip6);
	int done = 0;

#pragma unroll
	for (int i = 0; i < BH_MAX_IPV6_EXT_HEADERS; i++) {
		enum parse_result r = ipv6_next(data, data_end, wire_len, &off, &nexthdr, pkt, &done);

		if (r != PARSE_OK)
			return r;
		if (done)
			break;
		if (off > 512)
			return PARSE_UNPARSEABLE; /* headers this long are not traffic */
	}
	if (!done)
		return PARSE_UNPARSEABLE; /* more extension headers than we walk */
	pkt->proto = nexthdr;
	if (pkt->frag == FRAG_LATER)
		return PARSE_OK;
	if (off > 512)
		return PARSE_UNPARSEABLE;
	if (nexthdr == IPPROTO_ICMPV6_)
		return parse_icmp(data, data_end, wire_len, off, hop_limit, pkt);
	return parse_l4(data, data_end, wire_len, off, pkt);
}

/* Parses the frame in [data, data_end); `wire_len` is its full length. */
static __always_inline enum parse_result parse_frame(void *data, void *data_end, __u32 wire_len,
						      struct packet *pkt)
{
	__u32 off = sizeof(struct ethhdr);

	NEED(0, sizeof(struct ethhdr));
	struct ethhdr *eth = data;
	__be16 proto = eth->h_proto;

#pragma unroll
	for (int i = 0; i < BH_MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		NEED(off, sizeof(struct vlan_tag));
		struct vlan_tag *tag = data + off;

		proto = tag->encapsulated_proto;
		off += sizeof(struct vlan_tag);
	}

	if (proto == bpf_htons(ETH_P_IP))
		return parse_ipv4(data, data_end, wire_len, off, pkt);
	if (proto == bpf_htons(ETH_P_IPV6))
		return parse_ipv6(data, data_end, wire_len, off, pkt);
	if (proto == bpf_htons(ETH_P_ARP))
		return PARSE_LINK;
	return PARSE_UNPARSEABLE; /* other EtherTypes, or VLAN tags beyond the limit */
}

#undef NEED

#endif /* BULKHEAD_BPF_LIB_PARSE_H */
