// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Benchmark baseline: the endpoint programs' parser and nothing else. The
 * endpoint program's per-packet cost is reported as a ratio to this one. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "../bpf/lib/parse.h"

SEC("tc")
int parse_only(struct __sk_buff *skb)
{
	struct packet pkt;

	return parse_packet(skb, &pkt) == PARSE_MALFORMED ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
