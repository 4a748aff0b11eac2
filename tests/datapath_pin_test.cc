// Pinning the datapath's maps under a bpffs directory (needs root): what a
// user sees in the pin directory, and what a second agent sees.
#include <bpf/bpf.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>

#include "datapath/datapath.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bulkhead {
namespace {

class DatapathPinTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bulkhead-pin-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    mount_point_ = tmpl;
    ASSERT_EQ(mount("bpf", mount_point_.c_str(), "bpf", 0, nullptr), 0) << "mount bpffs (root?)";
    mounted_ = true;
    pin_dir_ = mount_point_ + "/bulkhead";
  }
  void TearDown() override {
    if (mounted_) umount(mount_point_.c_str());
    std::filesystem::remove_all(mount_point_);
  }

  std::string mount_point_;
  std::string pin_dir_;
  bool mounted_ = false;
};

TEST_F(DatapathPinTest, MapsStayPinnedAndSharedUntilUninstall) {
  const bh_policy_key key = PolicyKey(256, 257, IPPROTO_TCP, 8080);
  {
    auto first = Datapath::Load({.pin_dir = pin_dir_});
    ASSERT_TRUE(first.ok()) << first.status();
    // Pinned under a directory named for the map layout's version.
    for (const char* map : {"bh_policy", "bh_ipcache", "bh_ipcache_lpm", "bh_ct", "bh_ct_new",
                            "bh_frags", "bh_modes", "bh_endpoints", "bh_epoch", "bh_events"})
      EXPECT_TRUE(std::filesystem::exists(pin_dir_ + "/v3/" + map)) << map;
    ASSERT_TRUE((*first)->policy().Update(key, {.segment_id = 9}).ok());
  }
  // The first agent is gone; its maps are not.
  EXPECT_TRUE(std::filesystem::exists(pin_dir_ + "/v3/bh_policy"));
  auto second = Datapath::Load({.pin_dir = pin_dir_});
  ASSERT_TRUE(second.ok()) << second.status();
  auto seen = (*second)->policy().Lookup(key);
  ASSERT_TRUE(seen.ok() && seen->has_value()) << "the second load reuses the pinned map";
  EXPECT_EQ((*seen)->segment_id, 9u);

  ASSERT_TRUE((*second)->Uninstall({}, {}).ok());
  EXPECT_FALSE(std::filesystem::exists(pin_dir_ + "/v3/bh_policy"));
  EXPECT_FALSE(std::filesystem::exists(pin_dir_));
}

TEST_F(DatapathPinTest, EpochContinuesAcrossLoads) {
  std::uint32_t first_epoch = 0;
  {
    auto first = Datapath::Load({.pin_dir = pin_dir_});
    ASSERT_TRUE(first.ok()) << first.status();
    ASSERT_TRUE((*first)->BumpEpoch().ok());
    int fd = bpf_obj_get((pin_dir_ + "/v3/bh_epoch").c_str());
    ASSERT_GE(fd, 0);
    std::uint32_t zero = 0;
    bh_epoch_value value{};
    ASSERT_EQ(bpf_map_lookup_elem(fd, &zero, &value), 0);
    first_epoch = value.policy;
    close(fd);
  }
  auto second = Datapath::Load({.pin_dir = pin_dir_});
  ASSERT_TRUE(second.ok()) << second.status();
  int fd = bpf_obj_get((pin_dir_ + "/v3/bh_epoch").c_str());
  std::uint32_t zero = 0;
  bh_epoch_value value{};
  ASSERT_EQ(bpf_map_lookup_elem(fd, &zero, &value), 0);
  close(fd);
  EXPECT_GT(value.policy, first_epoch) << "a restarted agent never reuses an epoch";
  (void)(*second)->Uninstall({}, {});
}

TEST_F(DatapathPinTest, MapsOfAnOlderLayoutAreRemovedAfterTheUpgrade) {
  // What layout 1 pinned: maps directly under the pin directory.
  std::filesystem::create_directories(pin_dir_ + "/v1");
  for (const std::string& path : {pin_dir_ + "/bh_conntrack", pin_dir_ + "/v1/bh_policy"}) {
    int fd = bpf_map_create(BPF_MAP_TYPE_HASH, "old", 4, 4, 4, nullptr);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(bpf_obj_pin(fd, path.c_str()), 0) << path;
    close(fd);
  }
  auto dp = Datapath::Load({.pin_dir = pin_dir_});
  ASSERT_TRUE(dp.ok()) << dp.status();
  EXPECT_EQ((*dp)->RemoveOlderLayouts().size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(pin_dir_ + "/bh_conntrack"));
  EXPECT_FALSE(std::filesystem::exists(pin_dir_ + "/v1"));
  EXPECT_TRUE(std::filesystem::exists(pin_dir_ + "/v3/bh_ct")) << "ours stay";
  (void)(*dp)->Uninstall({}, {});
}

TEST_F(DatapathPinTest, PinDirOutsideBpffsIsAClearError) {
  auto dp = Datapath::Load({.pin_dir = "/tmp/not-a-bpffs/bulkhead"});
  ASSERT_FALSE(dp.ok());
  EXPECT_THAT(dp.status().message(), ::testing::HasSubstr("is not on a bpf filesystem"));
  EXPECT_THAT(dp.status().message(), ::testing::HasSubstr("mount -t bpf bpf"));
}

}  // namespace
}  // namespace bulkhead
