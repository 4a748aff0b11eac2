// NetlinkWatcher against the kernel: links, routes and addresses made with
// `ip` in a private network namespace (label "root": needs CAP_SYS_ADMIN to
// unshare it and CAP_NET_ADMIN inside).
#include "datapath/netlink_watcher.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "datapath/status.h"
#include "gtest/gtest.h"

namespace bulkhead {

std::string AddressString(const AddressBytes& addr, int family) {
  char text[INET6_ADDRSTRLEN] = "?";
  inet_ntop(family, family == AF_INET ? addr.data() + 12 : addr.data(), text, sizeof(text));
  return text;
}

void PrintTo(const Link& link, std::ostream* os) {
  *os << link.name << " (ifindex " << link.ifindex << ")";
}
void PrintTo(const Route& route, std::ostream* os) {
  *os << AddressString(route.addr, route.family) << "/" << route.prefix_len << " dev ifindex "
      << route.ifindex << (route.family == AF_INET ? " (IPv4)" : " (IPv6)");
}
void PrintTo(const LocalAddress& address, std::ostream* os) {
  *os << AddressString(address.addr, address.family) << " on ifindex " << address.ifindex
      << (address.family == AF_INET ? " (IPv4)" : " (IPv6)");
}

namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

AddressBytes V4(const char* text) {
  AddressBytes addr{};
  addr[10] = addr[11] = 0xff;
  EXPECT_EQ(inet_pton(AF_INET, text, addr.data() + 12), 1) << text;
  return addr;
}

AddressBytes V6(const char* text) {
  AddressBytes addr{};
  EXPECT_EQ(inet_pton(AF_INET6, text, addr.data()), 1) << text;
  return addr;
}

Route HostRoute4(const char* dst, int ifindex) { return {V4(dst), AF_INET, 32, ifindex}; }
Route HostRoute6(const char* dst, int ifindex) { return {V6(dst), AF_INET6, 128, ifindex}; }
LocalAddress Address4(const char* addr, int ifindex) { return {V4(addr), AF_INET, ifindex}; }
LocalAddress Address6(const char* addr, int ifindex) { return {V6(addr), AF_INET6, ifindex}; }

bool IsLoopbackOrLinkLocal(const AddressBytes& a, int family) {
  if (family == AF_INET) return a[12] == 127;
  return a == V6("::1") || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80);
}

testing::AssertionResult Sh(const std::string& command) {
  int status = std::system(command.c_str());
  if (status == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "`" << command << "` exited with status " << status;
}

testing::AssertionResult WriteSysctl(const std::string& path, const std::string& value) {
  std::ofstream file(path);
  file << value;
  file.close();
  if (file) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "write " << value << " to " << path;
}

// Whether the kernel has an IPv6 link-local address on `name`.
bool HasLinkLocalAddress(const std::string& name) {
  ifaddrs* all = nullptr;
  if (getifaddrs(&all) != 0) return false;
  bool found = false;
  for (ifaddrs* i = all; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET6 || name != i->ifa_name) continue;
    const auto* bytes = reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr.s6_addr;
    found = found || (bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80);
  }
  freeifaddrs(all);
  return found;
}

template <typename T>
int Count(const std::vector<T>& seen, const T& wanted) {
  return static_cast<int>(std::count(seen.begin(), seen.end(), wanted));
}

// What the callbacks were told, in order per kind.
struct Seen {
  std::vector<Link> links_added, links_removed;
  std::vector<Route> routes_added, routes_removed;
  std::vector<LocalAddress> addresses_added, addresses_removed;
  std::vector<absl::Status> errors;
};

class NetlinkWatcherTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0)
        << ErrnoError(errno, "unshare(CLONE_NEWNET) (needs root)").message();
    // The namespace's own loopback addresses (127.0.0.1, ::1): never reported.
    ASSERT_TRUE(Sh("ip link set lo up"));
  }

  void TearDown() override {
    watcher_.reset();
    for (const std::string& name : links_) Sh("ip link del " + name + " 2>/dev/null");
  }

  // A veth pair; `name` matches the watcher's pattern, its peer does not.
  // Returns the ifindex of `name`, 0 on failure.
  int AddVeth(const std::string& name, const std::string& peer, bool up = true) {
    links_.push_back(name);
    if (!Sh("ip link add " + name + " type veth peer name " + peer)) return 0;
    if (up && !Sh("ip link set " + name + " up && ip link set " + peer + " up")) return 0;
    return static_cast<int>(if_nametoindex(name.c_str()));
  }

  NetlinkWatcher::Callbacks Recording() {
    return {
        .link_added = [this](const Link& l) { seen_.links_added.push_back(l); },
        .link_removed = [this](const Link& l) { seen_.links_removed.push_back(l); },
        .route_added = [this](const Route& r) { seen_.routes_added.push_back(r); },
        .route_removed = [this](const Route& r) { seen_.routes_removed.push_back(r); },
        .address_added = [this](const LocalAddress& a) { seen_.addresses_added.push_back(a); },
        .address_removed = [this](const LocalAddress& a) { seen_.addresses_removed.push_back(a); },
        .error = [this](const absl::Status& s) { seen_.errors.push_back(s); }};
  }

  void StartWatcher() { StartWatcher(Recording()); }
  void StartWatcher(NetlinkWatcher::Callbacks callbacks) {
    auto watcher = NetlinkWatcher::Create(io_, "lxc-nlw*", std::move(callbacks));
    ASSERT_TRUE(watcher.ok()) << watcher.status();
    watcher_ = std::move(*watcher);
    absl::Status started = watcher_->Start();
    ASSERT_TRUE(started.ok()) << started;
  }

  // Runs the io_context until `done()` holds; false if it did not within
  // `timeout`.
  template <typename Predicate>
  bool RunUntil(Predicate done, milliseconds timeout = seconds(5)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      io_.run_one_for(milliseconds(20));
    }
    return true;
  }

  boost::asio::io_context io_;
  std::unique_ptr<NetlinkWatcher> watcher_;
  Seen seen_;
  std::vector<std::string> links_;  // deleted by TearDown, with their routes
};

TEST_F(NetlinkWatcherTest, ReportsWhatExistsAtStart) {
  int ifindex = AddVeth("lxc-nlw0", "peer-nlw0");
  ASSERT_GT(ifindex, 0);
  ASSERT_TRUE(Sh("ip route add 10.244.7.10/32 dev lxc-nlw0"));
  ASSERT_TRUE(Sh("ip -6 route add fd00:244::7:10/128 dev lxc-nlw0"));
  ASSERT_TRUE(Sh("ip addr add 10.244.7.1/32 dev lxc-nlw0"));
  ASSERT_TRUE(Sh("ip -6 addr add fd00:244::7:1/128 dev lxc-nlw0 nodad"));

  StartWatcher();  // reports from inside Start(), before the io_context runs

  EXPECT_EQ(Count(seen_.links_added, Link{ifindex, "lxc-nlw0"}), 1);
  for (const Link& link : seen_.links_added) EXPECT_NE(link.name, "peer-nlw0");
  EXPECT_EQ(Count(seen_.routes_added, HostRoute4("10.244.7.10", ifindex)), 1);
  EXPECT_EQ(Count(seen_.routes_added, HostRoute6("fd00:244::7:10", ifindex)), 1);
  EXPECT_EQ(Count(seen_.addresses_added, Address4("10.244.7.1", ifindex)), 1);
  EXPECT_EQ(Count(seen_.addresses_added, Address6("fd00:244::7:1", ifindex)), 1);
  for (const LocalAddress& a : seen_.addresses_added)
    EXPECT_FALSE(IsLoopbackOrLinkLocal(a.addr, a.family)) << testing::PrintToString(a);
  EXPECT_TRUE(seen_.links_removed.empty());
  EXPECT_TRUE(seen_.routes_removed.empty());
  EXPECT_TRUE(seen_.addresses_removed.empty());
}

TEST_F(NetlinkWatcherTest, ReportsChangesAsTheyHappen) {
  StartWatcher();
  int ifindex = AddVeth("lxc-nlw1", "peer-nlw1");
  ASSERT_GT(ifindex, 0);
  const Link link{ifindex, "lxc-nlw1"};
  ASSERT_TRUE(RunUntil([&] { return Count(seen_.links_added, link) > 0; }));

  ASSERT_TRUE(Sh("ip route add 10.244.7.11/32 dev lxc-nlw1"));
  ASSERT_TRUE(Sh("ip -6 route add fd00:244::7:11/128 dev lxc-nlw1"));
  ASSERT_TRUE(Sh("ip addr add 10.244.7.12/32 dev lxc-nlw1"));
  ASSERT_TRUE(Sh("ip -6 addr add fd00:244::7:12/128 dev lxc-nlw1 nodad"));
  const Route route4 = HostRoute4("10.244.7.11", ifindex);
  const Route route6 = HostRoute6("fd00:244::7:11", ifindex);
  const LocalAddress address4 = Address4("10.244.7.12", ifindex);
  const LocalAddress address6 = Address6("fd00:244::7:12", ifindex);
  EXPECT_TRUE(RunUntil([&] {
    return Count(seen_.routes_added, route4) && Count(seen_.routes_added, route6) &&
           Count(seen_.addresses_added, address4) && Count(seen_.addresses_added, address6);
  })) << "routes added: "
      << testing::PrintToString(seen_.routes_added)
      << "\naddresses added: " << testing::PrintToString(seen_.addresses_added);
  EXPECT_EQ(Count(seen_.addresses_added, address4), 1);
  EXPECT_EQ(Count(seen_.addresses_added, address6), 1);

  ASSERT_TRUE(Sh("ip route del 10.244.7.11/32 dev lxc-nlw1"));
  ASSERT_TRUE(Sh("ip -6 route del fd00:244::7:11/128 dev lxc-nlw1"));
  ASSERT_TRUE(Sh("ip -6 addr del fd00:244::7:12/128 dev lxc-nlw1"));
  EXPECT_TRUE(RunUntil([&] {
    return Count(seen_.routes_removed, route4) && Count(seen_.routes_removed, route6) &&
           Count(seen_.addresses_removed, address6);
  })) << "routes removed: "
      << testing::PrintToString(seen_.routes_removed)
      << "\naddresses removed: " << testing::PrintToString(seen_.addresses_removed);

  ASSERT_TRUE(Sh("ip link del lxc-nlw1"));
  EXPECT_TRUE(RunUntil([&] {
    return Count(seen_.links_removed, link) && Count(seen_.addresses_removed, address4);
  })) << "links removed: "
      << testing::PrintToString(seen_.links_removed);
  EXPECT_EQ(Count(seen_.addresses_removed, address4), 1);
  EXPECT_EQ(Count(seen_.routes_removed, route4), 1);
  EXPECT_TRUE(seen_.errors.empty());
}

TEST_F(NetlinkWatcherTest, SkipsLoopbackAndLinkLocal) {
  int ifindex = AddVeth("lxc-nlw2", "peer-nlw2", /*up=*/false);
  ASSERT_GT(ifindex, 0);
  // Without duplicate address detection the link-local address is usable
  // at once, so only its being link-local can keep it out.
  for (const char* name : {"lxc-nlw2", "peer-nlw2"})
    ASSERT_TRUE(WriteSysctl(absl::StrCat("/proc/sys/net/ipv6/conf/", name, "/accept_dad"), "0"));
  StartWatcher();  // lists 127.0.0.1 and ::1

  ASSERT_TRUE(Sh("ip link set lxc-nlw2 up && ip link set peer-nlw2 up"));
  ASSERT_TRUE(Sh("ip link set lo down && ip link set lo up"));  // ::1 again
  // Notifications arrive in order: once this one is in, the others were.
  ASSERT_TRUE(Sh("ip -6 addr add fd00:244::7:21/128 dev lxc-nlw2 nodad"));
  const LocalAddress sentinel = Address6("fd00:244::7:21", ifindex);
  ASSERT_TRUE(RunUntil([&] { return Count(seen_.addresses_added, sentinel) > 0; }));

  ASSERT_TRUE(HasLinkLocalAddress("lxc-nlw2")) << "the kernel made no link-local address";
  for (const LocalAddress& a : seen_.addresses_added)
    EXPECT_FALSE(IsLoopbackOrLinkLocal(a.addr, a.family)) << testing::PrintToString(a);
  for (const Route& r : seen_.routes_added)
    EXPECT_FALSE(r.family == AF_INET6 && IsLoopbackOrLinkLocal(r.addr, r.family))
        << testing::PrintToString(r);
}

TEST_F(NetlinkWatcherTest, ReportsIpv6AddressOnceDuplicateDetectionPassed) {
  // On a link that is down an address stays tentative.
  int ifindex = AddVeth("lxc-nlw3", "peer-nlw3", /*up=*/false);
  ASSERT_GT(ifindex, 0);
  for (const char* name : {"lxc-nlw3", "peer-nlw3"})
    ASSERT_TRUE(WriteSysctl(absl::StrCat("/proc/sys/net/ipv6/conf/", name, "/accept_dad"), "1"));
  ASSERT_TRUE(Sh("ip -6 addr add fd00:244::7:31/128 dev lxc-nlw3"));
  const LocalAddress tentative = Address6("fd00:244::7:31", ifindex);

  StartWatcher();
  EXPECT_EQ(Count(seen_.addresses_added, tentative), 0) << "reported while tentative";

  ASSERT_TRUE(Sh("ip link set lxc-nlw3 up && ip link set peer-nlw3 up"));
  EXPECT_TRUE(RunUntil([&] { return Count(seen_.addresses_added, tentative) > 0; }, seconds(10)))
      << "not reported after duplicate address detection";
}

TEST_F(NetlinkWatcherTest, RoutesThroughALinkThatGoesDownAreRemoved) {
  int ifindex = AddVeth("lxc-nlw4", "peer-nlw4");
  ASSERT_GT(ifindex, 0);
  ASSERT_TRUE(Sh("ip route add 10.244.7.40/32 dev lxc-nlw4"));
  ASSERT_TRUE(Sh("ip -6 route add fd00:244::7:40/128 dev lxc-nlw4"));
  StartWatcher();
  const Route route4 = HostRoute4("10.244.7.40", ifindex);
  const Route route6 = HostRoute6("fd00:244::7:40", ifindex);
  ASSERT_EQ(Count(seen_.routes_added, route4), 1);

  // The kernel drops the IPv4 route without a notification.
  ASSERT_TRUE(Sh("ip link set lxc-nlw4 down"));
  EXPECT_TRUE(RunUntil([&] {
    return Count(seen_.routes_removed, route4) && Count(seen_.routes_removed, route6);
  })) << "routes removed: "
      << testing::PrintToString(seen_.routes_removed);
  EXPECT_EQ(Count(seen_.routes_removed, route6), 1);
  EXPECT_TRUE(seen_.links_removed.empty()) << "a link that is down is still there";
}

TEST_F(NetlinkWatcherTest, ReplacedRouteIsRemoved) {
  int ifindex = AddVeth("lxc-nlw5", "peer-nlw5");
  ASSERT_GT(ifindex, 0);
  int peer = static_cast<int>(if_nametoindex("peer-nlw5"));
  ASSERT_TRUE(Sh("ip route add 10.244.7.50/32 dev lxc-nlw5"));
  ASSERT_TRUE(Sh("ip -6 route add fd00:244::7:50/128 dev lxc-nlw5"));
  StartWatcher();

  ASSERT_TRUE(Sh("ip route replace 10.244.7.50/32 dev peer-nlw5"));
  ASSERT_TRUE(Sh("ip -6 route replace fd00:244::7:50/128 dev peer-nlw5"));
  EXPECT_TRUE(RunUntil([&] {
    return Count(seen_.routes_added, HostRoute4("10.244.7.50", peer)) &&
           Count(seen_.routes_added, HostRoute6("fd00:244::7:50", peer));
  })) << "routes added: "
      << testing::PrintToString(seen_.routes_added);
  EXPECT_EQ(Count(seen_.routes_removed, HostRoute4("10.244.7.50", ifindex)), 1);
  EXPECT_EQ(Count(seen_.routes_removed, HostRoute6("fd00:244::7:50", ifindex)), 1);
}

TEST_F(NetlinkWatcherTest, IpRoutesGoWithTheLinksLastIpv4Address) {
  int ifindex = AddVeth("lxc-nlw6", "peer-nlw6");
  ASSERT_GT(ifindex, 0);
  ASSERT_TRUE(Sh("ip addr add 10.244.7.60/32 dev lxc-nlw6"));
  ASSERT_TRUE(Sh("ip addr add 10.244.7.61/32 dev lxc-nlw6"));
  ASSERT_TRUE(Sh("ip route add 10.244.7.62/32 dev lxc-nlw6"));
  ASSERT_TRUE(Sh("ip -6 route add fd00:244::7:62/128 dev lxc-nlw6"));
  StartWatcher();
  const Route route4 = HostRoute4("10.244.7.62", ifindex);

  ASSERT_TRUE(Sh("ip addr del 10.244.7.60/32 dev lxc-nlw6"));
  ASSERT_TRUE(RunUntil(
      [&] { return Count(seen_.addresses_removed, Address4("10.244.7.60", ifindex)) > 0; }));
  EXPECT_EQ(Count(seen_.routes_removed, route4), 0) << "another IPv4 address is left";

  ASSERT_TRUE(Sh("ip addr del 10.244.7.61/32 dev lxc-nlw6"));
  EXPECT_TRUE(RunUntil([&] { return Count(seen_.routes_removed, route4) > 0; }))
      << "routes removed: " << testing::PrintToString(seen_.routes_removed);
  EXPECT_EQ(Count(seen_.routes_removed, HostRoute6("fd00:244::7:62", ifindex)), 0)
      << "IPv6 routes do not depend on IPv4 addresses";
}

TEST_F(NetlinkWatcherTest, DeletedLinkTakesItsRoutesAndAddresses) {
  int ifindex = AddVeth("lxc-nlw7", "peer-nlw7");
  ASSERT_GT(ifindex, 0);
  ASSERT_TRUE(Sh("ip addr add 10.244.7.70/32 dev lxc-nlw7"));
  ASSERT_TRUE(Sh("ip -6 addr add fd00:244::7:70/128 dev lxc-nlw7 nodad"));
  ASSERT_TRUE(Sh("ip route add 10.244.7.71/32 dev lxc-nlw7"));
  ASSERT_TRUE(Sh("ip -6 route add fd00:244::7:71/128 dev lxc-nlw7"));
  StartWatcher();

  ASSERT_TRUE(Sh("ip link del lxc-nlw7"));
  EXPECT_TRUE(RunUntil([&] { return Count(seen_.links_removed, Link{ifindex, "lxc-nlw7"}) > 0; }));
  EXPECT_EQ(Count(seen_.routes_removed, HostRoute4("10.244.7.71", ifindex)), 1);
  EXPECT_EQ(Count(seen_.routes_removed, HostRoute6("fd00:244::7:71", ifindex)), 1);
  EXPECT_EQ(Count(seen_.addresses_removed, Address4("10.244.7.70", ifindex)), 1);
  EXPECT_EQ(Count(seen_.addresses_removed, Address6("fd00:244::7:70", ifindex)), 1);
}

TEST_F(NetlinkWatcherTest, AddressOnTwoInterfacesIsReportedForEach) {
  int first = AddVeth("lxc-nlw8", "peer-nlw8");
  ASSERT_GT(first, 0);
  int second = static_cast<int>(if_nametoindex("peer-nlw8"));  // not matching: still the node's
  StartWatcher();
  ASSERT_TRUE(Sh("ip addr add 10.244.7.80/32 dev lxc-nlw8"));
  ASSERT_TRUE(Sh("ip addr add 10.244.7.80/32 dev peer-nlw8"));
  EXPECT_TRUE(RunUntil([&] {
    return Count(seen_.addresses_added, Address4("10.244.7.80", first)) &&
           Count(seen_.addresses_added, Address4("10.244.7.80", second));
  })) << "addresses added: "
      << testing::PrintToString(seen_.addresses_added);

  ASSERT_TRUE(Sh("ip addr del 10.244.7.80/32 dev lxc-nlw8"));
  EXPECT_TRUE(
      RunUntil([&] { return Count(seen_.addresses_removed, Address4("10.244.7.80", first)) > 0; }));
  EXPECT_EQ(Count(seen_.addresses_removed, Address4("10.244.7.80", second)), 0);
}

// A full socket (ENOBUFS) loses notifications: the watcher lists everything
// again and reports what vanished meanwhile.
TEST_F(NetlinkWatcherTest, ReportsWhatVanishedWhileNotificationsWereLost) {
  int ifindex = AddVeth("lxc-nlw9", "peer-nlw9");
  ASSERT_GT(ifindex, 0);
  int vanishing_link = AddVeth("lxc-nlw9b", "peer-nlw9b");
  ASSERT_GT(vanishing_link, 0);
  ASSERT_TRUE(Sh("ip route add 10.244.7.90/32 dev lxc-nlw9"));
  ASSERT_TRUE(Sh("ip route add 10.244.7.91/32 dev lxc-nlw9"));
  ASSERT_TRUE(Sh("ip -6 addr add fd00:244::7:92/128 dev lxc-nlw9 nodad"));
  ASSERT_TRUE(Sh("ip -6 addr add fd00:244::7:93/128 dev lxc-nlw9 nodad"));
  StartWatcher();
  const LocalAddress staying_address = Address6("fd00:244::7:93", ifindex);
  const Route staying = HostRoute4("10.244.7.90", ifindex);
  const Route vanishing = HostRoute4("10.244.7.91", ifindex);
  const LocalAddress vanishing_address = Address6("fd00:244::7:92", ifindex);
  ASSERT_EQ(Count(seen_.routes_added, staying), 1);
  ASSERT_EQ(Count(seen_.routes_added, vanishing), 1);
  ASSERT_EQ(Count(seen_.addresses_added, vanishing_address), 1);

  // More notifications than the socket holds, while nothing reads it.
  std::string batch_path = testing::TempDir() + "netlink_watcher_test_routes.batch";
  {
    std::ofstream batch(batch_path);
    for (int i = 0; i < 4096; ++i)
      batch << "route add 10.244." << 16 + i / 256 << "." << i % 256 << "/32 dev lxc-nlw9\n";
  }
  ASSERT_TRUE(Sh("ip -batch " + batch_path));
  std::remove(batch_path.c_str());
  ASSERT_TRUE(Sh("ip route del 10.244.7.91/32 dev lxc-nlw9"));
  ASSERT_TRUE(Sh("ip -6 addr del fd00:244::7:92/128 dev lxc-nlw9"));
  ASSERT_TRUE(Sh("ip link del lxc-nlw9b"));

  EXPECT_TRUE(RunUntil([&] {
    return Count(seen_.routes_removed, vanishing) &&
           Count(seen_.addresses_removed, vanishing_address) &&
           Count(seen_.links_removed, Link{vanishing_link, "lxc-nlw9b"});
  })) << "routes removed: "
      << testing::PrintToString(seen_.routes_removed);
  EXPECT_EQ(Count(seen_.routes_added, staying), 2) << "not listed again: no overflow?";
  EXPECT_EQ(Count(seen_.routes_removed, staying), 0);
  EXPECT_EQ(Count(seen_.addresses_removed, vanishing_address), 1);
  EXPECT_EQ(Count(seen_.addresses_added, staying_address), 1) << "addresses are counted";
  EXPECT_TRUE(seen_.errors.empty()) << seen_.errors.front();
}

TEST_F(NetlinkWatcherTest, EmptyCallbacksAreNotCalled) {
  std::vector<Route> routes;
  StartWatcher({.route_added = [&](const Route& r) { routes.push_back(r); }});
  int ifindex = AddVeth("lxc-nlw10", "peer-nlw10");
  ASSERT_GT(ifindex, 0);
  ASSERT_TRUE(Sh("ip addr add 10.244.7.100/32 dev lxc-nlw10"));
  ASSERT_TRUE(Sh("ip route add 10.244.7.101/32 dev lxc-nlw10"));
  ASSERT_TRUE(Sh("ip route del 10.244.7.101/32 dev lxc-nlw10"));
  ASSERT_TRUE(Sh("ip addr del 10.244.7.100/32 dev lxc-nlw10"));
  ASSERT_TRUE(Sh("ip route add 10.244.7.102/32 dev lxc-nlw10"));  // the last notification
  EXPECT_TRUE(RunUntil([&] { return Count(routes, HostRoute4("10.244.7.102", ifindex)) > 0; }));
}

}  // namespace
}  // namespace bulkhead
