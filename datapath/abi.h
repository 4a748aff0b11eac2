// The kernel/userspace structs, declared once in bpf/datapath.h, with their
// sizes pinned here so a layout change on either side fails the build.
#pragma once

#include <string>

#include "bpf/datapath.h"

static_assert(sizeof(bh_ipcache_key) == 24);
static_assert(sizeof(bh_ipcache_value) == 8);
static_assert(sizeof(bh_policy_key) == 12);
static_assert(sizeof(bh_policy_value) == 8);
static_assert(sizeof(bh_mode_value) == 4);
static_assert(sizeof(bh_endpoint_value) == 8);
static_assert(sizeof(bh_ct_key) == 16);
static_assert(sizeof(bh_ct_entry) == 24);
static_assert(sizeof(bh_flow_event) == 48);

namespace bulkhead {

// Key builders: ports and addresses in host order in, kernel layout out.
bh_ipcache_key Ipv4IpcacheKey(std::uint32_t addr_be, int prefix_len = 32);
bh_policy_key PolicyKey(std::uint32_t src_identity, std::uint32_t dst_identity, std::uint8_t proto,
                        std::uint16_t port);

// Human-readable keys for error messages ("3->7 tcp/443").
std::string DescribeKey(const bh_policy_key& key);
std::string DescribeKey(const bh_ipcache_key& key);
std::string DescribeKey(const bh_ct_key& key);
std::string DescribeKey(std::uint32_t key);

// Protocol number -> "tcp", "udp", "icmp" or the number.
std::string ProtocolName(std::uint8_t proto);

// Kernel policy keys ordered field by field (for std::map and diffs).
struct PolicyKeyLess {
  bool operator()(const bh_policy_key& a, const bh_policy_key& b) const;
};

}  // namespace bulkhead
