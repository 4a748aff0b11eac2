/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Structs and constants shared by the BPF programs and the C++ datapath
 * library. This is the only declaration of each of them: the C++ side
 * includes this header and static_asserts the sizes (datapath/abi.h).
 *
 * Byte order: fields named *_be are network byte order, everything else is
 * host byte order. Every struct is padded explicitly so that the kernel and
 * userspace agree on the layout without relying on compiler defaults.
 */
#ifndef BULKHEAD_BPF_DATAPATH_H
#define BULKHEAD_BPF_DATAPATH_H

#include <linux/types.h> /* __u32, __be16...: the same typedefs on both sides */

/* Reserved identities. Workload identities start at BH_IDENTITY_FIRST_WORKLOAD. */
enum bh_identity {
	BH_IDENTITY_UNKNOWN = 0,
	BH_IDENTITY_HOST = 1,  /* the node itself */
	BH_IDENTITY_WORLD = 2, /* any address not in the ipcache */
	BH_IDENTITY_FIRST_WORKLOAD = 256,
};

/* Per-workload mode, stored in the modes map keyed by identity. */
enum bh_mode {
	BH_MODE_UNMANAGED = 0, /* identity has no entry: observed, never dropped by policy */
	BH_MODE_LEARN = 1,     /* allow; every flow outside the allow-list is learned */
	BH_MODE_MONITOR = 2,   /* allow; flows outside the allow-list are reported */
	BH_MODE_ENFORCE = 3,   /* drop flows outside the allow-list and report them */
};

/* What the datapath did with a flow. */
enum bh_verdict {
	BH_VERDICT_FORWARDED = 0, /* matched a segment */
	BH_VERDICT_AUDIT = 1,     /* no segment, passed because of learn/monitor/unmanaged */
	BH_VERDICT_DROPPED = 2,   /* no segment, dropped because of enforce */
	BH_VERDICT_MAX,
};

/* Which hook saw the packet, named from the workload's point of view. */
enum bh_hook {
	BH_HOOK_FROM_ENDPOINT = 0, /* host-side veth TC ingress: packet leaves a workload */
	BH_HOOK_TO_ENDPOINT = 1,   /* host-side veth TC egress: packet enters a workload */
};

/* Indexes of the per-CPU counters in the stats map. */
enum bh_stat {
	BH_STAT_PACKETS = 0,
	BH_STAT_FORWARDED,        /* packets that matched a segment */
	BH_STAT_AUDIT,            /* packets passed without a segment (learn/monitor) */
	BH_STAT_DROPPED_POLICY,   /* packets dropped: no segment, enforce */
	BH_STAT_REPLY,            /* packets passed as replies of a known flow */
	BH_STAT_NOT_IPV4,         /* passed unchecked: not IPv4 (ARP, IPv6 for now) */
	BH_STAT_MALFORMED,        /* dropped in any mode: truncated or bad IPv4/L4 header */
	BH_STAT_EVENTS_LOST,      /* ring buffer was full; the flow event was dropped */
	BH_STAT_DROPPED_SPOOFED,  /* dropped in any mode: left a bound interface with a
				   * source address that is not its workload's */
	BH_STAT_MAX,
};

/*
 * ipcache: longest-prefix match from an address to the identity that owns it.
 * prefixlen counts bits from `family`, so a /32 IPv4 entry has
 * prefixlen = BH_IPCACHE_PREFIX_BITS + 32. IPv4 addresses sit in addr[0..3].
 */
#define BH_IPCACHE_PREFIX_BITS 32 /* family + pad */
struct bh_ipcache_key {
	__u32 prefixlen;
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 pad[3];
	__u8 addr[16];
};

struct bh_ipcache_value {
	__u32 identity;
	__u32 pad;
};

/*
 * policy: one entry per segment "from identity -> to identity : proto/port".
 * Exact match only for now; the port is the server port (destination port of
 * the establishing packet), 0 for protocols without ports (ICMP).
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
 * endpoints: ifindex of a workload's host-side interface -> its identity.
 * The agent binds an interface to the workload whose address is routed
 * through it. A hook's own side (the source at from_endpoint, the destination
 * at to_endpoint) is the bound workload, and a packet leaving a bound
 * interface with a source address that is not the workload's is dropped
 * (BH_STAT_DROPPED_SPOOFED), so a workload cannot borrow another's identity,
 * mode or segments. An unbound interface falls back to the ipcache, which
 * trusts the packet's addresses.
 */
struct bh_endpoint_value {
	__u32 identity;
	__be32 addr_be; /* the routed address that bound it: the spoof check's fast path */
};

/* modes: identity -> mode of that workload. */
struct bh_mode_value {
	__u32 mode; /* enum bh_mode */
};

/*
 * conntrack: keyed by the tuple of the establishing direction. A reply is
 * recognised by looking up its reversed tuple. For ICMP echo, sport holds
 * the echo identifier and dport is 0, so request and reply map to one entry.
 */
struct bh_ct_key {
	__be32 saddr_be;
	__be32 daddr_be;
	__be16 sport_be;
	__be16 dport_be;
	__u8 proto;
	__u8 pad[3];
};

/*
 * How much a packet's outcome matters to whoever watches flows, lowest first.
 * A flow is reported when it is new, and again only when a later packet, at
 * either hook, has a higher level than any reported so far: a flow learned
 * mid-way (passed while learning, then forwarded) is one report; a segment
 * revoked under a monitoring workload, or a drop at the second hook, is two.
 */
enum bh_report_level {
	BH_REPORT_FORWARDED = 0,     /* matched a segment */
	BH_REPORT_PASSED = 1,        /* no segment; learn mode or unmanaged */
	BH_REPORT_MONITOR_ALERT = 2, /* no segment; the workload monitors */
	BH_REPORT_DROPPED = 3,       /* no segment; the workload enforces */
	BH_REPORT_MAX,
};

/*
 * Bits of bh_ct_entry.flags. Each hook kind marks whether it let the flow's
 * last establishing packet through, and only its own mark: a reply leaving a
 * workload (at from_endpoint) passes only if the request was let into a
 * workload (BH_CT_PASSED_TO), a reply entering one (at to_endpoint) only if
 * the request was let out of one (BH_CT_PASSED_FROM). A request dropped at
 * the second hook, or never seen by it, leaves no reply path.
 */
#define BH_CT_PASSED_FROM (1u << 0) /* let through at a from_endpoint hook */
#define BH_CT_PASSED_TO (1u << 1)   /* let through at a to_endpoint hook */
#define BH_CT_PASSED(hook) ((hook) == BH_HOOK_FROM_ENDPOINT ? BH_CT_PASSED_FROM : BH_CT_PASSED_TO)
/* What a reply at `hook` needs on its request's entry. */
#define BH_CT_REPLY_NEEDS(hook) \
	((hook) == BH_HOOK_FROM_ENDPOINT ? BH_CT_PASSED_TO : BH_CT_PASSED_FROM)
#define BH_CT_REPORTED(level) (1u << (8 + (level))) /* an event at this level was sent */
/* BH_CT_REPORTED bits of `level` and every higher level. */
#define BH_CT_REPORTED_AT_LEAST(level) (BH_CT_REPORTED(BH_REPORT_MAX) - BH_CT_REPORTED(level))

struct bh_ct_entry {
	__u64 created_ns;
	__u64 last_seen_ns;
	__u32 flags;
	__u32 pad;
};

/* Bits of bh_flow_event.flags. */
#define BH_FLOW_TCP_SYN (1u << 0)    /* establishing packet was a TCP SYN without ACK */
#define BH_FLOW_ICMP_ECHO (1u << 1)  /* establishing packet was an ICMP echo request */

/*
 * One event per new flow, sent on the events ring buffer, and one more each
 * time the flow reaches a higher enum bh_report_level.
 */
struct bh_flow_event {
	__u64 timestamp_ns; /* bpf_ktime_get_ns(), CLOCK_MONOTONIC */
	__u32 src_identity;
	__u32 dst_identity;
	__be32 saddr_be;
	__be32 daddr_be;
	__be16 sport_be;
	__be16 dport_be;
	__u8 proto;
	__u8 verdict; /* enum bh_verdict */
	__u8 hook;    /* enum bh_hook */
	__u8 mode;    /* enum bh_mode of the workload whose hook decided */
	__u32 ifindex;
	__u32 segment_id; /* 0 when no segment matched */
	__u32 flags;      /* BH_FLOW_* */
	__u32 pad;
};

#endif /* BULKHEAD_BPF_DATAPATH_H */
