// The netlink exchange helpers against a scripted peer: a second netlink socket in the test's namespace plays
// the kernel (root may unicast between netlink sockets), so replies the real kernel rarely produces can be
// sent on purpose: an errno libnl would collapse, an extended-ACK text, a dump flagged NLM_F_DUMP_INTR, an
// error carried by NLMSG_DONE.
#include "worker/wg/netlink.h"

#include <doctest/doctest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "tests/wg/nstest.h"

namespace swg::wg::test {
namespace {

// Appends one netlink message (header + payload + optional NLMSGERR_ATTR_MSG TLV) to `out`.
void Put(std::vector<uint8_t>& out, uint16_t type, uint16_t flags, uint32_t seq, const void* payload,
         size_t len, const char* extack = nullptr) {
  size_t tlv = extack ? NLA_ALIGN(NLA_HDRLEN + strlen(extack) + 1) : 0;
  size_t total = NLMSG_HDRLEN + NLMSG_ALIGN(len) + tlv;
  size_t at = out.size();
  out.resize(at + total);
  auto* h = reinterpret_cast<nlmsghdr*>(out.data() + at);
  h->nlmsg_len = static_cast<uint32_t>(total);
  h->nlmsg_type = type;
  h->nlmsg_flags = static_cast<uint16_t>(flags | (extack ? NLM_F_ACK_TLVS : 0));
  h->nlmsg_seq = seq;
  h->nlmsg_pid = 0;
  std::memcpy(out.data() + at + NLMSG_HDRLEN, payload, len);
  if (extack) {
    auto* a = reinterpret_cast<nlattr*>(out.data() + at + NLMSG_HDRLEN + NLMSG_ALIGN(len));
    a->nla_type = NLMSGERR_ATTR_MSG;
    a->nla_len = static_cast<uint16_t>(NLA_HDRLEN + strlen(extack) + 1);
    std::memcpy(reinterpret_cast<char*>(a) + NLA_HDRLEN, extack, strlen(extack) + 1);
  }
}

// Receives one request and answers with what `script(seq)` builds, as separate datagrams.
class FakeKernel {
 public:
  FakeKernel() {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    REQUIRE(fd_ >= 0);
    sockaddr_nl a{};
    a.nl_family = AF_NETLINK;
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = a.nl_pid;
  }
  ~FakeKernel() { close(fd_); }
  uint32_t port() const { return port_; }

  std::thread Answer(const std::function<std::vector<std::vector<uint8_t>>(uint32_t seq)>& script) {
    return std::thread([this, script] {
      uint8_t buf[8192];
      sockaddr_nl from{};
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < static_cast<ssize_t>(NLMSG_HDRLEN)) return;
      uint32_t seq = reinterpret_cast<nlmsghdr*>(buf)->nlmsg_seq;
      for (const auto& datagram : script(seq)) {
        sendto(fd_, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&from), sizeof from);
      }
    });
  }

 private:
  int fd_ = -1;
  uint32_t port_ = 0;
};

nl::Msg Request(int flags) {
  nl::Msg msg(nlmsg_alloc_simple(RTM_GETLINK, flags));
  ifinfomsg ifi{};
  REQUIRE(nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) == 0);
  return msg;
}

TEST_CASE("netlink: the real errno and the kernel's message survive libnl" * doctest::test_suite("netlink")) {
  Sandbox box;
  FakeKernel kernel;
  auto sk = nl::Connect(NETLINK_ROUTE);
  REQUIRE(sk);
  nl_socket_set_peer_port(sk->get(), kernel.port());

  SUBCASE("an error with extended ACK") {
    auto t = kernel.Answer([](uint32_t seq) {
      nlmsgerr e{};
      e.error = -EADDRINUSE;  // libnl alone turns this into NLE_EXIST, as it does EEXIST
      e.msg.nlmsg_seq = seq;
      e.msg.nlmsg_len = NLMSG_HDRLEN;
      std::vector<uint8_t> d;
      Put(d, NLMSG_ERROR, NLM_F_CAPPED, seq, &e, sizeof e, "port 51820 is taken");
      return std::vector<std::vector<uint8_t>>{d};
    });
    auto msg = Request(0);
    nl::Outcome o = nl::Transact(sk->get(), msg.get());
    t.join();
    CHECK(o.err == EADDRINUSE);
    CHECK(o.message == "port 51820 is taken");
    CHECK(nl::MakeError("wg0: set device", o).message ==
          "wg0: set device: Address already in use: port 51820 is taken (errno 98)");
  }
  SUBCASE("a reply, then the ACK") {
    auto t = kernel.Answer([](uint32_t seq) {
      ifinfomsg ifi{};
      ifi.ifi_index = 7;
      nlmsgerr ack{};
      std::vector<uint8_t> d;
      Put(d, RTM_NEWLINK, 0, seq, &ifi, sizeof ifi);
      Put(d, NLMSG_ERROR, NLM_F_CAPPED, seq, &ack, sizeof ack);
      return std::vector<std::vector<uint8_t>>{d};
    });
    auto msg = Request(0);
    int replies = 0;
    nl::Outcome o = nl::Transact(sk->get(), msg.get(), [&](nl_msg* m) {
      ++replies;
      CHECK(static_cast<ifinfomsg*>(nlmsg_data(nlmsg_hdr(m)))->ifi_index == 7);
      return 0;
    });
    t.join();
    CHECK(o.err == 0);
    CHECK(replies == 1);
  }
  SUBCASE("a dump flagged interrupted, ending in an error inside NLMSG_DONE") {
    auto t = kernel.Answer([](uint32_t seq) {
      ifinfomsg ifi{};
      int done = -EMSGSIZE;
      std::vector<uint8_t> first, second;
      Put(first, RTM_NEWLINK, NLM_F_MULTI, seq, &ifi, sizeof ifi);
      Put(second, RTM_NEWLINK, NLM_F_MULTI | NLM_F_DUMP_INTR, seq, &ifi, sizeof ifi);
      Put(second, NLMSG_DONE, NLM_F_MULTI, seq, &done, sizeof done, "peer too large");
      return std::vector<std::vector<uint8_t>>{first, second};
    });
    auto msg = Request(NLM_F_DUMP);
    int messages = 0;
    bool interrupted = false;
    nl::Outcome o = nl::Dump(
        sk->get(), msg.get(), [&](nl_msg*) { return ++messages, 0; }, &interrupted);
    t.join();
    CHECK(messages == 2);
    CHECK(interrupted);
    CHECK(o.err == EMSGSIZE);
    CHECK(o.message == "peer too large");
  }
  SUBCASE("a handler's error fails the dump, which is still read to its end") {
    auto t = kernel.Answer([](uint32_t seq) {
      ifinfomsg ifi{};
      int done = 0;
      std::vector<uint8_t> d;
      Put(d, RTM_NEWLINK, NLM_F_MULTI, seq, &ifi, sizeof ifi);
      Put(d, RTM_NEWLINK, NLM_F_MULTI, seq, &ifi, sizeof ifi);
      Put(d, NLMSG_DONE, NLM_F_MULTI, seq, &done, sizeof done);
      return std::vector<std::vector<uint8_t>>{d};
    });
    auto msg = Request(NLM_F_DUMP);
    int messages = 0;
    nl::Outcome o = nl::Dump(
        sk->get(), msg.get(), [&](nl_msg*) { return ++messages == 1 ? EPROTO : 0; }, nullptr);
    t.join();
    CHECK(o.err == EPROTO);
    CHECK(messages == 1);  // not called after the failure
  }
}

}  // namespace
}  // namespace swg::wg::test
