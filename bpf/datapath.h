/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structs and constants shared by the BPF programs and the C++ datapath
 * library. This is the only declaration of each of them: the C++ side
 * includes this header and static_asserts the sizes (datapath/abi.h).
 *
 * Byte order: fields named *_be are network byte order, everything else is
 * host byte order. Every struct is padded explicitly so that the kernel and
 * userspace agree on the layout without relying on compiler defaults.
 *
 * Addresses: both families share one 16-byte form. IPv6 addresses are
 * themselves; IPv4 addresses are IPv4-mapped (::ffff:a.b.c.d), so one key
 * layout, one conntrack and one ipcache serve both.
 *
 * BH_ABI_VERSION names the layout of every pinned map. The agent pins under
 * <pin-dir>/v<BH_ABI_VERSION>/, so a new layout never meets an old map.
 */
#ifndef BULKHEAD_BPF_DATAPATH_H
#define BULKHEAD_BPF_DATAPATH_H

#include <linux/types.h> /* __u32, __be16...: the same typedefs on both sides */

#define BH_ABI_VERSION 3

/* An address of either family (see above). */
struct bh_addr {
	__be32 be32[4];
};

/*
 * Identities. Below 256: reserved. Workloads: from BH_IDENTITY_FIRST_WORKLOAD
 * up to BH_IDENTITY_FIRST_NETWORK. Network sets (named CIDRs from the
 * inventory): from BH_IDENTITY_FIRST_NETWORK up, so a hook tells a workload
 * from a network by its number alone (as Cilium's local CIDR identities).
 */
enum bh_identity {
	BH_IDENTITY_UNKNOWN = 0,
	BH_IDENTITY_HOST = 1,    /* the node itself: its own addresses */
	BH_IDENTITY_WORLD = 2,   /* any address the ipcache does not know */
	BH_IDENTITY_PRIVATE = 3, /* RFC 1918 and ULA addresses the ipcache knows no better */
	BH_IDENTITY_FIRST_WORKLOAD = 256,
	BH_IDENTITY_FIRST_NETWORK = 0x01000000,
};

static inline int bh_is_workload_identity(__u32 identity)
{
	return identity >= BH_IDENTITY_FIRST_WORKLOAD && identity < BH_IDENTITY_FIRST_NETWORK;
}

/* Per-workload mode, stored in the modes map keyed by identity. */
enum bh_mode {
	BH_MODE_UNMANAGED = 0, /* identity has no entry: observed, never dropped by policy */
	BH_MODE_LEARN = 1,     /* allow; every flow outside the allow-list is learned */
	BH_MODE_MONITOR = 2,   /* allow; flows outside the allow-list are reported */
	BH_MODE_ENFORCE = 3,   /* drop flows outside the allow-list and report them */
	BH_MODE_MAX,
};

/* What the datapath did with a packet or flow. */
enum bh_verdict {
	BH_VERDICT_FORWARDED = 0, /* matched a segment (or a built-in allowance) */
	BH_VERDICT_AUDIT = 1,     /* would be dropped (see reason), passed: not enforcing */
	BH_VERDICT_DROPPED = 2,   /* dropped; the reason says why */
	BH_VERDICT_MAX,
};

/*
 * Why a packet was dropped, or would have been (verdict AUDIT). Every
 * event with verdict AUDIT or DROPPED carries one.
 */
enum bh_reason {
	BH_REASON_NONE = 0,
	BH_REASON_POLICY = 1,      /* no segment admits the flow */
	BH_REASON_SPOOFED = 2,     /* left a bound interface with a source that is not its
				    * workload's: dropped in every mode */
	BH_REASON_MALFORMED = 3,   /* truncated or inconsistent header: dropped in every mode */
	BH_REASON_FRAGMENT = 4,    /* later fragment whose first fragment was not let through */
	BH_REASON_UNPARSEABLE = 5, /* unknown EtherType, too many VLAN tags or IPv6
				    * extension headers, unknown extension header */
	BH_REASON_UNBOUND = 6,     /* fail-closed: interface not bound to a workload yet */
	BH_REASON_GUARDRAIL = 7,   /* a guardrail denies it: dropped in every mode */
	BH_REASON_MAX,
};

/* Which hook saw the packet, named from the workload's point of view. */
enum bh_hook {
	BH_HOOK_FROM_ENDPOINT = 0, /* host-side veth TC ingress: packet leaves a workload */
	BH_HOOK_TO_ENDPOINT = 1,   /* host-side veth TC egress: packet enters a workload */
	BH_HOOK_FROM_UPLINK = 2,   /* XDP on the node's uplink: packet from another node */
	BH_HOOK_MAX,
};

/* Indexes of the per-CPU counters in the stats map (packets). */
enum bh_stat {
	BH_STAT_FORWARDED = 0,         /* establishing direction, a segment matched */
	BH_STAT_REPLY,                 /* reply direction of a let-through flow */
	BH_STAT_RELATED,               /* ICMP error about a let-through flow */
	BH_STAT_FRAGMENT_FOLLOWED,     /* later fragment of a let-through first fragment */
	BH_STAT_AUDIT,                 /* passed without a segment: learn/monitor/unmanaged */
	BH_STAT_PASSED_LINK,           /* ARP, IPv6 neighbour discovery and MLD: not judged */
	BH_STAT_DROPPED_POLICY,        /* dropped: no segment, enforce */
	BH_STAT_DROPPED_SPOOFED,       /* dropped in every mode, BH_REASON_SPOOFED */
	BH_STAT_DROPPED_MALFORMED,     /* dropped in every mode, BH_REASON_MALFORMED */
	BH_STAT_DROPPED_FRAGMENT,      /* dropped in enforce, BH_REASON_FRAGMENT */
	BH_STAT_DROPPED_UNPARSEABLE,   /* dropped in enforce, BH_REASON_UNPARSEABLE */
	BH_STAT_DROPPED_UNBOUND,       /* dropped, fail-closed, BH_REASON_UNBOUND */
	BH_STAT_DROPPED_GUARDRAIL,     /* dropped in every mode, BH_REASON_GUARDRAIL */
	BH_STAT_XDP_DROPPED,           /* dropped at the uplink before an skb existed */
	BH_STAT_CT_CREATED,            /* conntrack entries made (new flows let through) */
	BH_STAT_CT_CONFIRMED,          /* flows moved to the confirmed table */
	BH_STAT_CT_INSERT_FAILED,      /* the kernel refused a conntrack insert */
	BH_STAT_CT_EXPIRED,            /* lookups that found an entry past its lifetime */
	BH_STAT_EVENTS_LOST,           /* the ring buffer was full; the event was dropped */
	BH_STAT_EVENTS_SUPPRESSED,     /* events held back by the rate limit (counted only) */
	BH_STAT_MAX,
};
/* Slots of the stats map: room for counters a later agent adds, so the
 * pinned map keeps its definition. */
#define BH_STAT_SLOTS 64

/*
 * Load-time settings of the programs, set by the agent between open and load
 * (skeleton rodata). Lifetimes follow Cilium's defaults.
 */
struct bh_config {
	__u64 ct_syn_lifetime_ns;         /* TCP until the handshake completes: 60 s */
	__u64 ct_tcp_lifetime_ns;         /* established TCP, idle: 6 h */
	__u64 ct_close_lifetime_ns;       /* TCP after FIN both ways or RST: 10 s */
	__u64 ct_other_lifetime_ns;       /* UDP, ICMP, other protocols, idle: 60 s */
	__u64 frag_lifetime_ns;           /* a first fragment's decision: 30 s */
	__u64 drop_report_interval_ns;    /* one DROPPED event per flow per interval: 60 s */
	__u32 drop_events_per_sec;        /* per CPU; beyond it counted as suppressed */
	__u32 forwarded_events_per_sec;   /* per CPU; forwarded flows are sampled beyond it */
	__u32 allow_host_to_workloads;    /* 1: node -> workload always passes (probes) */
	__u32 fail_closed;                /* 1: drop everything on an unbound interface */
};

/* The defaults of struct bh_config, for the BPF object's rodata and the
 * agent's DefaultDatapathConfig() alike. */
#define BH_NSEC_PER_SEC 1000000000ull
#define BH_CONFIG_DEFAULTS                                          \
	{                                                           \
		.ct_syn_lifetime_ns = 60 * BH_NSEC_PER_SEC,         \
		.ct_tcp_lifetime_ns = 21600 * BH_NSEC_PER_SEC,      \
		.ct_close_lifetime_ns = 10 * BH_NSEC_PER_SEC,       \
		.ct_other_lifetime_ns = 60 * BH_NSEC_PER_SEC,       \
		.frag_lifetime_ns = 30 * BH_NSEC_PER_SEC,           \
		.drop_report_interval_ns = 60 * BH_NSEC_PER_SEC,    \
		.drop_events_per_sec = 1000,                        \
		.forwarded_events_per_sec = 1000,                   \
		.allow_host_to_workloads = 1,                       \
		.fail_closed = 0,                                   \
	}

/*
 * The datapath's version of the agent's state, one entry in bh_epoch. The
 * agent bumps `policy` after every change to ipcache, endpoints, modes or
 * policy; a conntrack entry caches a hook's verdict together with the
 * epoch it was made under, and a changed epoch means "decide again". So a
 * revoked segment bites on the next packet, and established packets skip
 * every lookup but conntrack.
 */
struct bh_epoch_value {
	__u32 policy;
	__u32 lookups; /* BH_LOOKUP_*: the optional maps that hold entries */
};

/* Bits of bh_epoch_value.lookups. A hook looks into these maps only when
 * their bit is set, so an agent without ranges or guardrails pays nothing
 * for them. The agent sets a bit before it adds the first entry and clears
 * it after it removed the last. */
#define BH_LOOKUP_POLICY_RANGES (1u << 0)
#define BH_LOOKUP_GUARDRAILS (1u << 1)
#define BH_LOOKUP_SERVICES (1u << 2)

/*
 * ipcache, exact part: an address -> the identity that owns it. Workload
 * and node addresses live here (one hash lookup); bh_ipcache_lpm holds
 * CIDR identities and is consulted only when this misses.
 */
struct bh_ipcache_value {
	__u32 identity;
	__u32 pad;
};

/* ipcache, prefix part: prefixlen counts bits of `addr` (IPv4 /24: 96 + 24). */
struct bh_ipcache_lpm_key {
	__u32 prefixlen;
	struct bh_addr addr;
};

/*
 * policy: one entry per segment "from identity -> to identity : proto/port".
 * Exact match. `dport_be` is the server port (destination port of the
 * establishing packet) for TCP, UDP and SCTP, the ICMP or ICMPv6 type of the
 * establishing packet (in the low byte, network order like a port) for
 * ICMP, and 0 for protocols without ports. Same key for both families.
 */
struct bh_policy_key {
	__u32 src_identity;
	__u32 dst_identity;
	__be16 dport_be;
	__u8 proto; /* IPPROTO_* */
	__u8 pad;
};

struct bh_policy_value {
	__u32 segment_id; /* reported in flow events; 0 is never used */
	__u32 pad;
};

/*
 * Longest-prefix keys over (src, dst, proto, port), for what an exact key
 * cannot say: a segment for a port range or any port (bh_policy_ranges), and
 * guardrails (bh_guardrails), which name any protocol or port. prefixlen
 * counts bits of what follows it: 64 matches src and dst (any protocol), 72
 * also the protocol (any port), BH_POLICY_LPM_PORT_BITS + n also the first
 * n bits of the port, in network order. A lookup sets every field and 96.
 */
struct bh_policy_lpm_key {
	__u32 prefixlen;
	__u32 src_identity;
	__u32 dst_identity;
	__u8 proto;
	__u8 pad; /* 0 in entries and lookups alike */
	__be16 dport_be;
};
#define BH_POLICY_LPM_PORT_BITS 80 /* src, dst, proto, pad */

/* What a guardrail entry says. A flow's longest match decides: DENY drops
 * it in every mode (reported with the guardrail's id); EXCEPT (an exception
 * carved out of a deny, e.g. DNS) leaves it to the segments. */
enum bh_guardrail_action {
	BH_GUARDRAIL_DENY = 1,
	BH_GUARDRAIL_EXCEPT = 2,
};

struct bh_guardrail_value {
	__u32 guardrail_id; /* reported in the flow event's segment_id */
	__u32 action;       /* enum bh_guardrail_action */
};

/*
 * services: a Service's virtual address and port (a ClusterIP, or a node
 * address and NodePort) -> the workload behind it and the port it listens
 * on. kube-proxy rewrites such a destination only after the packet has left
 * the source's hook, so from_endpoint judges a flow to a Service as the flow
 * to its backend workload's target port (the flow event says so with
 * BH_FLOW_SERVICE; its address and port stay the packet's). Only for
 * protocols with ports.
 */
struct bh_service_key {
	struct bh_addr addr;
	__be16 port_be;
	__u8 proto; /* IPPROTO_TCP, _UDP, _SCTP */
	__u8 pad;
};

struct bh_service_value {
	__u32 identity;        /* the backend workload */
	__be16 target_port_be; /* the port its pods listen on */
	__u16 pad;
};

/* Segment ids the datapath uses for what is let through without a segment. */
#define BH_SEGMENT_HOST_TO_WORKLOAD 0xfffffff0u /* allow_host_to_workloads */

/*
 * endpoints: ifindex of a workload's host-side interface -> its identity.
 * The agent binds an interface to the workload whose address is routed
 * through it. A hook's own side (the source at from_endpoint, the destination
 * at to_endpoint) is the bound workload, and a packet leaving a bound
 * interface with a source address the ipcache does not give to that workload
 * is dropped (BH_REASON_SPOOFED), so a workload cannot borrow another's
 * identity, mode or segments. An unbound interface falls back to the
 * ipcache, which trusts the packet's addresses (or, fail-closed, drops).
 */
struct bh_endpoint_value {
	__u32 identity;
	/* The workload's network namespace as the node knows it (the veth
	 * peer's netnsid), plus one; 0: not known. Lets the hooks read the
	 * workload's own socket table for TCP seen mid-stream. */
	__u32 netnsid_plus1;
};

/* modes: identity -> mode of that workload. */
struct bh_mode_value {
	__u32 mode; /* enum bh_mode */
};

/*
 * Conntrack key: one key for both directions. The two (address, port) ends
 * are stored in a canonical order (the lower address first; on equal
 * addresses the lower port), so a packet and its reply find the same entry
 * with one lookup; the entry remembers which end opened the flow. ICMP
 * echo: the requester's port is the echo identifier, the other end's 0.
 */
struct bh_ct_key {
	struct bh_addr addr[2];
	__be16 port_be[2];
	__u8 proto;
	__u8 pad[3];
};

/* Bits of bh_ct_entry.flags. */
#define BH_CT_OPENER_IS_1 (1u << 0) /* the flow was opened by end addr[1] */
#define BH_CT_SEEN_REPLY (1u << 1)  /* the other end has answered */
#define BH_CT_SYN (1u << 2)         /* opened by a TCP SYN: ports are trustworthy */
#define BH_CT_FIN_OPENER (1u << 3)  /* TCP FIN from the opener */
#define BH_CT_FIN_ANSWER (1u << 4)  /* TCP FIN from the answering end */
#define BH_CT_RST (1u << 5)         /* TCP RST from either end */
#define BH_CT_SYN_ACK (1u << 6)     /* TCP SYN+ACK from the answering end */
#define BH_CT_REPORTED(level) (1u << (8 + (level))) /* an event at this level was sent */

/*
 * How much a packet's outcome matters to whoever watches flows, lowest first.
 * A flow is reported when it is new, and again only when a later packet, at
 * either hook, has a higher level than any reported so far.
 */
enum bh_report_level {
	BH_REPORT_FORWARDED = 0,     /* matched a segment */
	BH_REPORT_PASSED = 1,        /* no segment; learn mode or unmanaged */
	BH_REPORT_MONITOR_ALERT = 2, /* no segment; the workload monitors */
	BH_REPORT_MAX,
};
/* BH_CT_REPORTED bits of `level` and every higher level. */
#define BH_CT_REPORTED_AT_LEAST(level) (BH_CT_REPORTED(BH_REPORT_MAX) - BH_CT_REPORTED(level))

/*
 * A flow some hook let through. Conntrack has two LRU tables: bh_ct_new
 * holds flows nobody has answered yet (or TCP before its handshake
 * completed), bh_ct holds confirmed flows. A flood of unanswered flows
 * churns only bh_ct_new; packets dropped by policy make no entry at all.
 *
 * Each hook kind records the policy epoch under which it last let the
 * opener's packets through (0: it did not) and on which interface. An
 * opener's packet at a hook that let it through under the current epoch on
 * the same interface passes with one lookup. A reply at one kind of hook
 * passes if the other kind let the request through under the current epoch
 * on the same interface (a reply leaving a workload needs its request let
 * into that workload, and the reverse); under an older epoch the request is
 * decided again first. The interface check also stands in for the
 * anti-spoofing check on these fast paths: the address was checked on that
 * interface when the entry's hook let the flow through.
 */
struct bh_ct_entry {
	__u64 expires_ns;         /* bpf_ktime_get_coarse_ns() past which it is gone */
	__u32 passed_epoch[2];    /* by enum bh_hook: FROM_ENDPOINT, TO_ENDPOINT */
	__u32 passed_ifindex[2];  /* by enum bh_hook: the interface it was let through at */
	__u32 segment_id;         /* the segment that let the opener through (0: none) */
	__be16 policy_port_be;    /* the opener's policy port (bh_policy_key.dport_be) */
	__u8 passed_verdict[2];   /* by enum bh_hook: the enum bh_verdict it passed with */
	__u32 flags;              /* BH_CT_* */
	__u32 pad;
};

/* Fragments: a first fragment that was let through, keyed by datagram. */
struct bh_frag_key {
	struct bh_addr saddr;
	struct bh_addr daddr;
	__be32 id_be; /* IPv4: the 16-bit id in the low half; IPv6: fragment header id */
	__u8 proto;
	__u8 pad[3];
};

struct bh_frag_value {
	__u64 expires_ns;
	__be16 sport_be;
	__be16 dport_be;
	__be16 policy_port_be;
	__u16 pad;
};

/* Drop reports: when each (flow, hook) was last reported DROPPED. */
struct bh_drop_report_key {
	struct bh_ct_key flow; /* the dropped packet's own tuple, canonical */
	__u32 hook;
	__u32 reason;
};

/* Bits of bh_flow_event.flags. */
#define BH_FLOW_TCP_SYN (1u << 0)    /* the packet was a TCP SYN without ACK */
#define BH_FLOW_ICMP_ECHO (1u << 1)  /* the packet was an ICMP/ICMPv6 echo request */
#define BH_FLOW_IPV6 (1u << 2)       /* IPv6 (else IPv4, addresses IPv4-mapped) */
#define BH_FLOW_FRAGMENT (1u << 3)   /* a fragment (first or later) */
#define BH_FLOW_SAMPLED (1u << 4)    /* a forwarded flow reported under the sample rate */
/* TCP seen mid-stream (opened before conntrack knew it): which end is the
 * server came from the workload's socket table (a listening socket on its
 * port), so the event is oriented client -> server and its port is the
 * server's. */
#define BH_FLOW_MID_STREAM (1u << 5)
/* The destination was a Service (bh_services): the event's dst_identity is
 * its backend workload, while its address and port are the packet's (the
 * Service's); the agent names the target port from its own table. */
#define BH_FLOW_SERVICE (1u << 6)

/*
 * One event per new flow (forwarded flows sampled under a rate limit), one
 * more each time the flow reaches a higher enum bh_report_level, and one
 * per dropped flow per drop_report_interval_ns (rate-limited per CPU).
 */
struct bh_flow_event {
	__u64 timestamp_ns; /* bpf_ktime_get_ns(), CLOCK_MONOTONIC */
	struct bh_addr saddr;
	struct bh_addr daddr;
	__u32 src_identity;
	__u32 dst_identity;
	__u32 ifindex;
	__u32 segment_id; /* 0 when no segment matched */
	__be16 sport_be;  /* ICMP echo: the identifier */
	__be16 dport_be;  /* ICMP: the type, as in bh_policy_key */
	__u8 proto;
	__u8 verdict; /* enum bh_verdict */
	__u8 hook;    /* enum bh_hook */
	__u8 mode;    /* enum bh_mode of the workload whose hook decided */
	__u8 reason;  /* enum bh_reason */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 pad;
	__u32 flags; /* BH_FLOW_* */
};

#endif /* BULKHEAD_BPF_DATAPATH_H */
