/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TCP seen mid-stream: a packet of a connection conntrack does not know
 * (opened before the agent started, before this interface was attached, or
 * forgotten by conntrack). Which end is the server cannot be read from the
 * packet, and guessing from port numbers is wrong for servers on high ports
 * (gRPC's 50051). The workload's own socket table says it: the hook looks in
 * the workload's network namespace (bpf_sk_lookup_tcp with the netns id the
 * node has for the veth's peer) for
 *   1. the connection itself: an established socket for this exact tuple
 *      (or one closing after it; never SYN_SENT, whose SYN may be the one
 *      policy dropped). Without one there is no connection, only a packet
 *      that claims to be part of one: no role, and the packet is judged as
 *      any new flow;
 *   2. a listening socket on the workload's port of the tuple: the workload
 *      is the server; without one, the client.
 * Known limit: a workload that both listens on a port (SO_REUSEPORT) and
 * connects out from it is taken for the server of that connection. It can
 * only be a connection that was established already (allowed, or opened
 * before the agent), and it is judged as the reverse request.
 */
#ifndef BULKHEAD_BPF_LIB_SOCKETS_H
#define BULKHEAD_BPF_LIB_SOCKETS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "../datapath.h"
#include "parse.h"

enum stream_role {
	ROLE_UNKNOWN = 0,
	ROLE_LOCAL_CLIENT, /* the workload on this interface opened the connection */
	ROLE_LOCAL_SERVER, /* it accepted it: its port is a listening socket's */
};

/* The tuple as the workload's stack sees an incoming packet of the flow:
 * remote -> local. */
static __always_inline __u32 sock_tuple_of(struct bpf_sock_tuple *t, const struct bh_addr *remote,
					   __be16 remote_port, const struct bh_addr *local,
					   __be16 local_port, int ipv6)
{
	if (!ipv6) {
		t->ipv4.saddr = remote->be32[3];
		t->ipv4.daddr = local->be32[3];
		t->ipv4.sport = remote_port;
		t->ipv4.dport = local_port;
		return sizeof(t->ipv4);
	}
	__builtin_memcpy(t->ipv6.saddr, remote->be32, 16);
	__builtin_memcpy(t->ipv6.daddr, local->be32, 16);
	t->ipv6.sport = remote_port;
	t->ipv6.dport = local_port;
	return sizeof(t->ipv6);
}

static __always_inline enum stream_role stream_role(struct __sk_buff *skb, const struct packet *pkt,
						    enum bh_hook hook, __u32 netnsid_plus1)
{
	if (!netnsid_plus1)
		return ROLE_UNKNOWN;
	__u64 netns = netnsid_plus1 - 1;
	int out = hook == BH_HOOK_FROM_ENDPOINT;
	const struct bh_addr *local = out ? &pkt->saddr : &pkt->daddr;
	const struct bh_addr *remote = out ? &pkt->daddr : &pkt->saddr;
	__be16 local_port = out ? pkt->sport_be : pkt->dport_be;
	__be16 remote_port = out ? pkt->dport_be : pkt->sport_be;
	struct bpf_sock_tuple tuple = {};
	__u32 len = sock_tuple_of(&tuple, remote, remote_port, local, local_port, pkt->ipv6);

	struct bpf_sock *sk = bpf_sk_lookup_tcp(skb, &tuple, len, netns, 0);
	if (!sk)
		return ROLE_UNKNOWN;
	/* Established, or closing after it: a SYN_SENT socket is not a
	 * connection (its SYN may be the very one policy dropped). */
	__u32 state = sk->state;
	int connected = state == BPF_TCP_ESTABLISHED || state == BPF_TCP_FIN_WAIT1 ||
			state == BPF_TCP_FIN_WAIT2 || state == BPF_TCP_CLOSE_WAIT ||
			state == BPF_TCP_LAST_ACK || state == BPF_TCP_CLOSING;
	bpf_sk_release(sk);
	if (!connected)
		return ROLE_UNKNOWN;

	/* No connection has remote port 0: only a listener can match. */
	len = sock_tuple_of(&tuple, remote, 0, local, local_port, pkt->ipv6);
	sk = bpf_sk_lookup_tcp(skb, &tuple, len, netns, 0);
	if (!sk)
		return ROLE_LOCAL_CLIENT;
	int listening = sk->state == BPF_TCP_LISTEN;
	bpf_sk_release(sk);
	return listening ? ROLE_LOCAL_SERVER : ROLE_LOCAL_CLIENT;
}

#endif /* BULKHEAD_BPF_LIB_SOCKETS_H */
