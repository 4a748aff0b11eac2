// The endpoint programs, packet by packet, through BPF_PROG_TEST_RUN: the
// real verifier, real maps, real ring buffer. Needs root (label "root").
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>

#include <boost/asio/io_context.hpp>
#include <cstdlib>
#include <vector>

#include "datapath/datapath.h"
#include "datapath/event_reader.h"
#include "gtest/gtest.h"
#include "tests/packets.h"

namespace bulkhead {
namespace {

using testing::Frame;
using testing::kAck;
using testing::kSyn;
using testing::kSynAck;

constexpr std::uint32_t kFrontend = 256;
constexpr std::uint32_t kApi = 257;
constexpr std::uint32_t kDb = 258;
const char* kFrontendIp = "10.244.1.10";
const char* kApiIp = "10.244.1.20";
const char* kDbIp = "10.244.1.30";
const char* kOutsideIp = "10.244.9.9";  // in no ipcache entry: world

std::uint32_t Addr(const char* dotted) {
  in_addr a{};
  inet_pton(AF_INET, dotted, &a);
  return a.s_addr;
}

class EndpointProgramTest : public ::testing::Test {
 protected:
  // Packets run on loopback (ifindex 1) unless a test names another
  // interface; other_if_ is a veth in a network namespace private
  // to this process, gone when it exits.
  static void SetUpTestSuite() {
    ASSERT_EQ(unshare(CLONE_NEWNET), 0) << "unshare(CLONE_NEWNET) (root?)";
    ASSERT_EQ(
        std::system("ip link add bh-test0 type veth peer name bh-test1 && ip link set bh-test0 up"),
        0);
    other_if_ = static_cast<int>(if_nametoindex("bh-test0"));
    ASSERT_GT(other_if_, 1);
  }

  void SetUp() override {
    auto dp = Datapath::Load({});
    ASSERT_TRUE(dp.ok()) << dp.status();
    dp_ = std::move(*dp);
    for (auto [ip, id] : {std::pair{kFrontendIp, kFrontend}, {kApiIp, kApi}, {kDbIp, kDb}})
      ASSERT_TRUE(dp_->ipcache().Update(Ipv4IpcacheKey(Addr(ip)), {.identity = id}).ok());
    auto reader = EventReader::Create(io_, dp_->events_fd(),
                                      [this](const bh_flow_event& e) { events_.push_back(e); });
    ASSERT_TRUE(reader.ok()) << reader.status();
    reader_ = std::move(*reader);
  }

  void SetMode(std::uint32_t identity, bh_mode mode) {
    ASSERT_TRUE(dp_->modes().Update(identity, {.mode = static_cast<__u32>(mode)}).ok());
  }
  void Allow(std::uint32_t src, std::uint32_t dst, std::uint8_t proto, std::uint16_t port,
             std::uint32_t segment_id) {
    ASSERT_TRUE(
        dp_->policy().Update(PolicyKey(src, dst, proto, port), {.segment_id = segment_id}).ok());
  }

  // Runs one frame through a program on an interface; returns the TC verdict.
  int Run(int prog_fd, Frame frame, int ifindex) {
    frame.resize(std::max<std::size_t>(frame.size(), 64));
    __sk_buff ctx{};
    ctx.ifindex = ifindex;
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
                .data_size_in = static_cast<__u32>(frame.size()), .ctx_in = &ctx,
                .ctx_size_in = sizeof(ctx), .repeat = 1);
    EXPECT_EQ(bpf_prog_test_run_opts(prog_fd, &opts), 0) << "BPF_PROG_TEST_RUN: " << errno;
    return static_cast<int>(opts.retval);
  }
  int FromEndpoint(Frame f, int ifindex = 1) {
    return Run(dp_->from_endpoint_fd(), std::move(f), ifindex);
  }
  int ToEndpoint(Frame f, int ifindex = 1) {
    return Run(dp_->to_endpoint_fd(), std::move(f), ifindex);
  }
  // As the agent does from a /32 route to the workload's address.
  void Bind(int ifindex, std::uint32_t identity) {
    const char* ip = identity == kFrontend ? kFrontendIp : identity == kApi ? kApiIp : kDbIp;
    ASSERT_TRUE(dp_->endpoints().Update(ifindex, {.identity = identity, .addr_be = Addr(ip)}).ok());
  }

  static inline int other_if_ = 0;

  std::vector<bh_flow_event> DrainEvents() {
    events_.clear();
    EXPECT_TRUE(reader_->Drain().ok());
    return events_;
  }
  std::uint64_t Stat(bh_stat stat) { return (*dp_->ReadStats())[stat]; }

  boost::asio::io_context io_;
  std::unique_ptr<Datapath> dp_;
  std::unique_ptr<EventReader> reader_;
  std::vector<bh_flow_event> events_;
};

TEST_F(EndpointProgramTest, SegmentAllowsFlowIntoEnforcedWorkload) {
  SetMode(kApi, BH_MODE_ENFORCE);
  Allow(kFrontend, kApi, IPPROTO_TCP, 8080, 7);

  EXPECT_EQ(ToEndpoint(testing::TcpFrame({kFrontendIp, kApiIp, 40000, 8080}, kSyn)), TC_ACT_OK);

  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].verdict, BH_VERDICT_FORWARDED);
  EXPECT_EQ(events[0].src_identity, kFrontend);
  EXPECT_EQ(events[0].dst_identity, kApi);
  EXPECT_EQ(events[0].segment_id, 7u);
  EXPECT_EQ(ntohs(events[0].dport_be), 8080);
  EXPECT_TRUE(events[0].flags & BH_FLOW_TCP_SYN);
}

TEST_F(EndpointProgramTest, NoSegmentIsDroppedInEnforceAndReportedOnce) {
  SetMode(kDb, BH_MODE_ENFORCE);
  Allow(kApi, kDb, IPPROTO_TCP, 5432, 1);  // a segment for somebody else

  Frame syn = testing::TcpFrame({kFrontendIp, kDbIp, 40001, 5432}, kSyn);
  EXPECT_EQ(ToEndpoint(syn), TC_ACT_SHOT);
  EXPECT_EQ(ToEndpoint(syn), TC_ACT_SHOT);  // the retransmitted SYN too

  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u) << "one event per flow, not per packet";
  EXPECT_EQ(events[0].verdict, BH_VERDICT_DROPPED);
  EXPECT_EQ(events[0].mode, BH_MODE_ENFORCE);
  EXPECT_EQ(events[0].hook, BH_HOOK_TO_ENDPOINT);
  EXPECT_EQ(Stat(BH_STAT_DROPPED_POLICY), 2u);
}

TEST_F(EndpointProgramTest, EnforcedSourceCannotLeaveWithoutSegment) {
  SetMode(kFrontend, BH_MODE_ENFORCE);
  EXPECT_EQ(FromEndpoint(testing::UdpFrame({kFrontendIp, kDbIp, 5353, 53})), TC_ACT_SHOT);
  // The destination's hook is not what decides a from-endpoint packet.
  SetMode(kFrontend, BH_MODE_LEARN);
  SetMode(kDb, BH_MODE_ENFORCE);
  EXPECT_EQ(FromEndpoint(testing::UdpFrame({kFrontendIp, kDbIp, 5354, 53})), TC_ACT_OK);
}

TEST_F(EndpointProgramTest, RepliesOfAllowedFlowPass) {
  SetMode(kFrontend, BH_MODE_ENFORCE);
  SetMode(kApi, BH_MODE_ENFORCE);
  Allow(kFrontend, kApi, IPPROTO_TCP, 8080, 3);

  // frontend -> api on one node: out of frontend's hook, into api's.
  Frame syn = testing::TcpFrame({kFrontendIp, kApiIp, 40002, 8080}, kSyn);
  ASSERT_EQ(FromEndpoint(syn), TC_ACT_OK);
  ASSERT_EQ(ToEndpoint(syn), TC_ACT_OK);
  // api answers: no api -> frontend segment exists, the reply passes anyway.
  Frame syn_ack = testing::TcpFrame({kApiIp, kFrontendIp, 8080, 40002}, kSynAck);
  EXPECT_EQ(FromEndpoint(syn_ack), TC_ACT_OK);
  EXPECT_EQ(ToEndpoint(syn_ack), TC_ACT_OK);
  EXPECT_EQ(Stat(BH_STAT_REPLY), 2u);
  // But api may not open its own connection to frontend.
  EXPECT_EQ(FromEndpoint(testing::TcpFrame({kApiIp, kFrontendIp, 40003, 8080}, kSyn)), TC_ACT_SHOT);
}

TEST_F(EndpointProgramTest, DroppedFlowGivesNoReplyPath) {
  SetMode(kDb, BH_MODE_ENFORCE);
  ASSERT_EQ(ToEndpoint(testing::TcpFrame({kFrontendIp, kDbIp, 40004, 5432}, kSyn)), TC_ACT_SHOT);
  // A packet shaped as db's answer is not a reply: the flow never passed.
  EXPECT_EQ(FromEndpoint(testing::TcpFrame({kDbIp, kFrontendIp, 5432, 40004}, kSynAck)),
            TC_ACT_SHOT);
}

TEST_F(EndpointProgramTest, DropAtSecondHookLeavesNoReplyPath) {
  SetMode(kFrontend, BH_MODE_LEARN);  // passes it at the first hook...
  SetMode(kDb, BH_MODE_ENFORCE);      // ...db drops it at the second
  Frame syn = testing::TcpFrame({kFrontendIp, kDbIp, 40014, 5432}, kSyn);
  ASSERT_EQ(FromEndpoint(syn), TC_ACT_OK);
  ASSERT_EQ(ToEndpoint(syn), TC_ACT_SHOT);
  // db may not answer on that tuple: nothing was let through to it.
  EXPECT_EQ(FromEndpoint(testing::TcpFrame({kDbIp, kFrontendIp, 5432, 40014}, kSynAck)),
            TC_ACT_SHOT);
}

TEST_F(EndpointProgramTest, ServerSpeakingFirstAfterConntrackLossDoesNotBreakTheFlow) {
  SetMode(kFrontend, BH_MODE_ENFORCE);
  SetMode(kApi, BH_MODE_ENFORCE);
  Allow(kFrontend, kApi, IPPROTO_TCP, 8080, 1);
  Frame from_server = testing::TcpFrame({kApiIp, kFrontendIp, 8080, 40015}, kAck);
  // Conntrack was lost (agent restart): api's packet looks like a new flow.
  ASSERT_EQ(FromEndpoint(from_server), TC_ACT_SHOT);
  // frontend speaks on the allowed segment...
  ASSERT_EQ(ToEndpoint(testing::TcpFrame({kFrontendIp, kApiIp, 40015, 8080}, kAck)), TC_ACT_OK);
  // ...and api's packets are its replies again.
  EXPECT_EQ(FromEndpoint(from_server), TC_ACT_OK);
}

TEST_F(EndpointProgramTest, RequestLetInFromOutsideGetsItsReplyOutOnly) {
  // world -> db: only db's hook sees it. db's answer leaves through db's
  // hook; the same tuple entering some workload is not a reply to anything.
  SetMode(kDb, BH_MODE_ENFORCE);
  Allow(BH_IDENTITY_WORLD, kDb, IPPROTO_TCP, 5432, 1);
  ASSERT_EQ(ToEndpoint(testing::TcpFrame({kOutsideIp, kDbIp, 40020, 5432}, kSyn)), TC_ACT_OK);
  Frame answer = testing::TcpFrame({kDbIp, kOutsideIp, 5432, 40020}, kSynAck);
  EXPECT_EQ(FromEndpoint(answer), TC_ACT_OK);
  SetMode(kFrontend, BH_MODE_ENFORCE);
  Bind(other_if_, kFrontend);
  EXPECT_EQ(ToEndpoint(answer, other_if_), TC_ACT_SHOT);
}

TEST_F(EndpointProgramTest, SpoofedSourceIsDroppedAtABoundInterface) {
  Bind(1, kFrontend);
  SetMode(kFrontend, BH_MODE_LEARN);
  Allow(kApi, kDb, IPPROTO_TCP, 5432, 1);

  // Claiming an address outside the inventory, or api's (to use its segment):
  // dropped even though frontend only learns, and not reported as flows.
  EXPECT_EQ(FromEndpoint(testing::TcpFrame({kOutsideIp, kDbIp, 40016, 5432}, kSyn)), TC_ACT_SHOT);
  EXPECT_EQ(FromEndpoint(testing::TcpFrame({kApiIp, kDbIp, 40017, 5432}, kSyn)), TC_ACT_SHOT);
  EXPECT_EQ(Stat(BH_STAT_DROPPED_SPOOFED), 2u);
  EXPECT_TRUE(DrainEvents().empty());
  // Its own address goes on as usual.
  EXPECT_EQ(FromEndpoint(testing::TcpFrame({kFrontendIp, kDbIp, 40018, 5432}, kSyn)), TC_ACT_OK);
}

TEST_F(EndpointProgramTest, SpoofedAnswerCannotOpenAReplyPath) {
  // frontend (learning) forges db's answer to a connection it is about to
  // open, hoping its real SYN then passes db's hook as a "reply".
  Bind(1, kFrontend);
  Bind(other_if_, kDb);
  SetMode(kFrontend, BH_MODE_LEARN);
  SetMode(kDb, BH_MODE_ENFORCE);
  ASSERT_EQ(FromEndpoint(testing::TcpFrame({kDbIp, kFrontendIp, 5432, 40101}, kSynAck)),
            TC_ACT_SHOT);
  Frame syn = testing::TcpFrame({kFrontendIp, kDbIp, 40101, 5432}, kSyn);
  ASSERT_EQ(FromEndpoint(syn), TC_ACT_OK);
  EXPECT_EQ(ToEndpoint(syn, other_if_), TC_ACT_SHOT);
}

TEST_F(EndpointProgramTest, RequestUnseenBySecondHookLeavesNoReplyPath) {
  // frontend's packet passed its own hook but never reached db's (the node
  // dropped it): db's packets on that tuple are not replies.
  Bind(1, kFrontend);
  Bind(other_if_, kDb);
  SetMode(kFrontend, BH_MODE_LEARN);
  SetMode(kDb, BH_MODE_ENFORCE);
  ASSERT_EQ(FromEndpoint(testing::TcpFrame({kFrontendIp, kDbIp, 40102, 5432}, kSyn)), TC_ACT_OK);
  EXPECT_EQ(FromEndpoint(testing::TcpFrame({kDbIp, kFrontendIp, 5432, 40102}, kSynAck), other_if_),
            TC_ACT_SHOT);
}

TEST_F(EndpointProgramTest, RevokedSegmentBitesOnNextPacket) {
  SetMode(kApi, BH_MODE_ENFORCE);
  Allow(kFrontend, kApi, IPPROTO_TCP, 8080, 4);
  Frame syn = testing::TcpFrame({kFrontendIp, kApiIp, 40005, 8080}, kSyn);
  Frame data = testing::TcpFrame({kFrontendIp, kApiIp, 40005, 8080}, kAck);
  ASSERT_EQ(ToEndpoint(syn), TC_ACT_OK);
  ASSERT_EQ(ToEndpoint(data), TC_ACT_OK);

  ASSERT_TRUE(dp_->policy().Delete(PolicyKey(kFrontend, kApi, IPPROTO_TCP, 8080)).ok());
  EXPECT_EQ(ToEndpoint(data), TC_ACT_SHOT);
}

TEST_F(EndpointProgramTest, LearnModePassesAndReportsForLearning) {
  SetMode(kApi, BH_MODE_LEARN);
  EXPECT_EQ(ToEndpoint(testing::TcpFrame({kFrontendIp, kApiIp, 40006, 8080}, kSyn)), TC_ACT_OK);
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].verdict, BH_VERDICT_AUDIT);
  EXPECT_EQ(events[0].mode, BH_MODE_LEARN);
  EXPECT_EQ(events[0].segment_id, 0u);
}

TEST_F(EndpointProgramTest, FlowSeenByBothHooksIsReportedOnceUnlessDropped) {
  SetMode(kFrontend, BH_MODE_LEARN);
  SetMode(kApi, BH_MODE_LEARN);
  Frame syn = testing::TcpFrame({kFrontendIp, kApiIp, 40007, 8080}, kSyn);
  ASSERT_EQ(FromEndpoint(syn), TC_ACT_OK);
  ASSERT_EQ(ToEndpoint(syn), TC_ACT_OK);
  EXPECT_EQ(DrainEvents().size(), 1u);

  SetMode(kApi, BH_MODE_ENFORCE);
  Frame other = testing::TcpFrame({kFrontendIp, kApiIp, 40008, 8080}, kSyn);
  ASSERT_EQ(FromEndpoint(other), TC_ACT_OK);
  ASSERT_EQ(ToEndpoint(other), TC_ACT_SHOT);
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].verdict, BH_VERDICT_AUDIT);
  EXPECT_EQ(events[1].verdict, BH_VERDICT_DROPPED);
}

TEST_F(EndpointProgramTest, FlowLearnedMidwayIsNotReportedAgain) {
  SetMode(kApi, BH_MODE_LEARN);
  ASSERT_EQ(ToEndpoint(testing::TcpFrame({kFrontendIp, kApiIp, 40011, 8080}, kSyn)), TC_ACT_OK);
  Allow(kFrontend, kApi, IPPROTO_TCP, 8080, 2);  // the agent compiled what it learned
  ASSERT_EQ(ToEndpoint(testing::TcpFrame({kFrontendIp, kApiIp, 40011, 8080}, kAck)), TC_ACT_OK);

  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u) << "AUDIT then FORWARDED is one report";
  EXPECT_EQ(events[0].verdict, BH_VERDICT_AUDIT);
}

TEST_F(EndpointProgramTest, SegmentRevokedWhileMonitoringIsReportedAgain) {
  SetMode(kApi, BH_MODE_MONITOR);
  Allow(kFrontend, kApi, IPPROTO_TCP, 8080, 2);
  ASSERT_EQ(ToEndpoint(testing::TcpFrame({kFrontendIp, kApiIp, 40012, 8080}, kSyn)), TC_ACT_OK);
  ASSERT_TRUE(dp_->policy().Delete(PolicyKey(kFrontend, kApi, IPPROTO_TCP, 8080)).ok());
  ASSERT_EQ(ToEndpoint(testing::TcpFrame({kFrontendIp, kApiIp, 40012, 8080}, kAck)), TC_ACT_OK);

  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].verdict, BH_VERDICT_FORWARDED);
  EXPECT_EQ(events[1].verdict, BH_VERDICT_AUDIT);
  EXPECT_EQ(events[1].mode, BH_MODE_MONITOR);
}

TEST_F(EndpointProgramTest, MonitoringDestinationReportsWhatLearningSourcePassed) {
  SetMode(kFrontend, BH_MODE_LEARN);
  SetMode(kDb, BH_MODE_MONITOR);
  Frame syn = testing::TcpFrame({kFrontendIp, kDbIp, 40013, 5432}, kSyn);
  ASSERT_EQ(FromEndpoint(syn), TC_ACT_OK);
  ASSERT_EQ(ToEndpoint(syn), TC_ACT_OK);

  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 2u) << "db's monitor alert must not hide behind frontend's report";
  EXPECT_EQ(events[1].verdict, BH_VERDICT_AUDIT);
  EXPECT_EQ(events[1].mode, BH_MODE_MONITOR);
}

TEST_F(EndpointProgramTest, IcmpEchoNeedsSegmentAndItsReplyPasses) {
  SetMode(kDb, BH_MODE_ENFORCE);
  EXPECT_EQ(ToEndpoint(testing::IcmpEchoFrame(kApiIp, kDbIp, 77, false)), TC_ACT_SHOT);

  Allow(kApi, kDb, IPPROTO_ICMP, 0, 9);
  EXPECT_EQ(ToEndpoint(testing::IcmpEchoFrame(kApiIp, kDbIp, 78, false)), TC_ACT_OK);
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[1].flags & BH_FLOW_ICMP_ECHO) << "the learner needs to know";
  EXPECT_EQ(FromEndpoint(testing::IcmpEchoFrame(kDbIp, kApiIp, 78, true)), TC_ACT_OK);
  // An echo reply nobody asked for is not a reply.
  EXPECT_EQ(FromEndpoint(testing::IcmpEchoFrame(kDbIp, kApiIp, 79, true)), TC_ACT_SHOT);
}

TEST_F(EndpointProgramTest, UnknownAddressIsWorld) {
  SetMode(kDb, BH_MODE_ENFORCE);
  Allow(BH_IDENTITY_WORLD, kDb, IPPROTO_TCP, 5432, 5);
  EXPECT_EQ(ToEndpoint(testing::TcpFrame({kOutsideIp, kDbIp, 40009, 5432}, kSyn)), TC_ACT_OK);
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].src_identity, static_cast<__u32>(BH_IDENTITY_WORLD));
}

TEST_F(EndpointProgramTest, NonIpPassesEvenInEnforce) {
  SetMode(kFrontend, BH_MODE_ENFORCE);
  EXPECT_EQ(FromEndpoint(testing::ArpFrame()), TC_ACT_OK);
  EXPECT_EQ(Stat(BH_STAT_NOT_IPV4), 1u);
  EXPECT_TRUE(DrainEvents().empty());
}

TEST_F(EndpointProgramTest, MalformedIpv4IsDroppedAndCounted) {
  EXPECT_EQ(FromEndpoint(testing::BadIhlFrame(kFrontendIp, kApiIp)), TC_ACT_SHOT);
  EXPECT_EQ(Stat(BH_STAT_MALFORMED), 1u);
}

TEST_F(EndpointProgramTest, UnmanagedWorkloadIsNeverDropped) {
  // No mode entry at all: observed, not enforced.
  EXPECT_EQ(ToEndpoint(testing::TcpFrame({kFrontendIp, kDbIp, 40010, 5432}, kSyn)), TC_ACT_OK);
  auto events = DrainEvents();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].mode, BH_MODE_UNMANAGED);
}

}  // namespace
}  // namespace bulkhead
