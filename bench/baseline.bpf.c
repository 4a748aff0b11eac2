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
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct packet pkt = {};

	return parse_frame(data, data_end, skb->len, &pkt) == PARSE_OK ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
