// The addresses of host, private, world and network sets as CIDR blocks
// with exceptions, decided as the agent's ipcache decides them.
#include "api/peer_addresses.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

PeerAddresses Build(const std::vector<std::pair<std::string, std::vector<std::string>>>& networks,
                    const std::vector<std::string>& hosts = {}) {
  google::protobuf::RepeatedPtrField<bulkhead::v1::NetworkInfo> infos;
  for (const auto& [name, cidrs] : networks) {
    auto* info = infos.Add();
    info->set_name(name);
    for (const auto& cidr : cidrs) info->add_cidrs(cidr);
  }
  google::protobuf::RepeatedPtrField<std::string> host_addresses(hosts.begin(), hosts.end());
  absl::StatusOr<PeerAddresses> peers = PeerAddresses::Build(infos, host_addresses);
  EXPECT_TRUE(peers.ok()) << peers.status();
  return *std::move(peers);
}

TEST(PeerAddressesTest, WithNothingDeclaredPrivateIsTheRfc1918AndUlaRangesAndWorldTheRest) {
  PeerAddresses peers = Build({});
  EXPECT_THAT(peers.BlocksOf("private"),
              ElementsAre(IpBlock{"10.0.0.0/8"}, IpBlock{"172.16.0.0/12"},
                          IpBlock{"192.168.0.0/16"}, IpBlock{"fc00::/7"}));
  EXPECT_THAT(peers.BlocksOf("world"),
              ElementsAre(IpBlock{"0.0.0.0/0", {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}},
                          IpBlock{"::/0", {"fc00::/7"}}));
  EXPECT_THAT(peers.BlocksOf("host"), IsEmpty());
}

TEST(PeerAddressesTest, TheLongestPrefixDecidesAndHostAddressesBeatEveryPrefix) {
  PeerAddresses peers = Build({{"corp", {"10.20.0.0/16", "2001:db8::/32"}},
                               {"lab", {"10.20.30.0/24"}},  // inside corp
                               {"wide", {"8.0.0.0/6"}}},    // holds 10/8, which is longer
                              {"10.20.30.40", "192.168.1.5", "fd00::5"});
  EXPECT_THAT(
      peers.BlocksOf("host"),
      ElementsAre(IpBlock{"10.20.30.40/32"}, IpBlock{"192.168.1.5/32"}, IpBlock{"fd00::5/128"}));
  EXPECT_THAT(peers.BlocksOf("corp"),
              ElementsAre(IpBlock{"10.20.0.0/16", {"10.20.30.0/24"}}, IpBlock{"2001:db8::/32"}));
  EXPECT_THAT(peers.BlocksOf("lab"), ElementsAre(IpBlock{"10.20.30.0/24", {"10.20.30.40/32"}}));
  EXPECT_THAT(peers.BlocksOf("wide"), ElementsAre(IpBlock{"8.0.0.0/6", {"10.0.0.0/8"}}));
  // Only the outermost prefixes of others are excepted: world's block drops
  // 8.0.0.0/6 with everything inside it.
  EXPECT_THAT(peers.BlocksOf("private"),
              ElementsAre(IpBlock{"10.0.0.0/8", {"10.20.0.0/16"}}, IpBlock{"172.16.0.0/12"},
                          IpBlock{"192.168.0.0/16", {"192.168.1.5/32"}},
                          IpBlock{"fc00::/7", {"fd00::5/128"}}));
  EXPECT_THAT(peers.BlocksOf("world"),
              ElementsAre(IpBlock{"0.0.0.0/0", {"8.0.0.0/6", "172.16.0.0/12", "192.168.0.0/16"}},
                          IpBlock{"::/0", {"2001:db8::/32", "fc00::/7"}}));
}

TEST(PeerAddressesTest, ANetworkSetKeepsAPrefixItSharesWithPrivateOrWorld) {
  PeerAddresses peers = Build({{"corp", {"10.0.0.0/8"}}, {"everything", {"0.0.0.0/0"}}});
  EXPECT_THAT(peers.BlocksOf("corp"), ElementsAre(IpBlock{"10.0.0.0/8"}));
  EXPECT_THAT(
      peers.BlocksOf("private"),
      ElementsAre(IpBlock{"172.16.0.0/12"}, IpBlock{"192.168.0.0/16"}, IpBlock{"fc00::/7"}));
  EXPECT_THAT(peers.BlocksOf("everything"),
              ElementsAre(IpBlock{"0.0.0.0/0", {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"}}));
  EXPECT_THAT(peers.BlocksOf("world"), ElementsAre(IpBlock{"::/0", {"fc00::/7"}}));
}

TEST(PeerAddressesTest, KnowsTheReservedPeersAndTheNetworkSets) {
  PeerAddresses peers = Build({{"corp", {}}});
  for (const char* peer : {"host", "private", "world", "corp"}) EXPECT_TRUE(peers.Knows(peer));
  EXPECT_FALSE(peers.Knows("shop/api"));
  EXPECT_FALSE(peers.Knows("lab"));
  EXPECT_THAT(peers.BlocksOf("corp"), IsEmpty());
}

TEST(PeerAddressesTest, AnAddressOrCidrThatDoesNotParseIsAnErrorNamingItsOwner) {
  google::protobuf::RepeatedPtrField<bulkhead::v1::NetworkInfo> networks;
  google::protobuf::RepeatedPtrField<std::string> hosts;
  hosts.Add("10.0.0.300");
  EXPECT_THAT(PeerAddresses::Build(networks, hosts).status().message(),
              HasSubstr("host address: \"10.0.0.300\" is not a CIDR prefix"));
  hosts.Clear();
  auto* corp = networks.Add();
  corp->set_name("corp");
  corp->add_cidrs("10.0.0.0/33");
  EXPECT_THAT(PeerAddresses::Build(networks, hosts).status().message(),
              HasSubstr("network set \"corp\": \"10.0.0.0/33\" is not a CIDR prefix: the length is "
                        "not a number from 0 to 32"));
}

TEST(PeerAddressesTest, ABlockLeadsBackToItsPeerHoweverItIsWritten) {
  PeerAddresses peers = Build({{"corp", {"10.20.0.0/16"}}}, {"192.168.1.5", "fd00::5"});
  auto peer_of = [&](const IpBlock& block) -> std::string {
    absl::StatusOr<PeerAddresses::PeerBlock> found = peers.PeerOf(block);
    if (!found.ok()) return std::string(found.status().message());
    return absl::StrCat(found->peer, " #", found->index);
  };
  EXPECT_EQ(peer_of({"10.20.0.0/16"}), "corp #0");
  EXPECT_EQ(peer_of({"fd00:0:0::5/128"}), "host #1");
  // Exceptions in any order, each once.
  EXPECT_EQ(peer_of({"0.0.0.0/0", {"192.168.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "10.0.0.0/8"}}),
            "world #0");
  EXPECT_EQ(peer_of({"::/0", {"fc00::/7"}}), "world #1");
  EXPECT_EQ(peer_of({"10.0.0.0/8", {"10.20.0.0/16"}}), "private #0");
  // No peer's: a near miss shows the block with the same CIDR.
  EXPECT_EQ(peer_of({"10.0.0.0/8"}),
            "10.0.0.0/8 is no block of host, private, world or a network set (private's block is "
            "10.0.0.0/8 except [10.20.0.0/16])");
  EXPECT_EQ(peer_of({"8.8.8.0/24"}),
            "8.8.8.0/24 is no block of host, private, world or a network "
            "set");
  EXPECT_THAT(peer_of({"10.0.0.1/8"}), HasSubstr("bits are set past the length"));
  EXPECT_EQ(peers.PeerOf({"10.0.0.1/8"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(peers.PeerOf({"8.8.8.0/24"}).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace bulkhead
