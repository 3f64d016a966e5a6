#pragma once
// Internal to swg_wg (and its tests): RAII for libnl handles and the two exchanges every caller needs, a
// request answered by an ACK and a dump. libnl collapses errno values (EEXIST and EADDRINUSE both become
// NLE_EXIST), so these read the kernel's `nlmsgerr.error` and the error in NLMSG_DONE themselves, plus the
// extended-ACK text.

#include <functional>
#include <memory>
#include <span>
#include <string>

#include "common/result.h"

struct nl_sock;
struct nl_msg;
struct nlmsghdr;

namespace swg::wg::nl {

struct SockDeleter {
  void operator()(nl_sock* sk) const noexcept;
};
using Sock = std::unique_ptr<nl_sock, SockDeleter>;

// Frees a message after wiping its buffer (messages may carry a private key).
struct MsgDeleter {
  void operator()(nl_msg* msg) const noexcept;
};
using Msg = std::unique_ptr<nl_msg, MsgDeleter>;

// The whole message (header included), e.g. for tests.
std::span<const uint8_t> Bytes(nl_msg* msg);

// A connected socket (NETLINK_ROUTE or NETLINK_GENERIC) with extended ACKs and capped ACKs enabled.
Result<Sock> Connect(int protocol);

// What the kernel said about a request. err is a positive errno, 0 for success.
struct Outcome {
  int err = 0;
  std::string message;  // the extended-ACK text, when the kernel sent one
};

// Called for each reply message; returns 0 to go on or a positive errno that becomes the outcome (the rest
// of the reply is still read, so the socket stays usable).
using Handler = std::function<int(nl_msg*)>;

// Sends `msg` and waits for its ACK or error (the socket adds NLM_F_ACK), passing any reply before the ACK
// (the answer to a GET) to `on_reply`. Socket-level failures are reported as an errno too.
Outcome Transact(nl_sock* sk, nl_msg* msg, const Handler& on_reply = nullptr);

// Sends a dump request and passes every reply to `on_message` until NLMSG_DONE. *interrupted is set when the
// kernel flagged a message NLM_F_DUMP_INTR (the data changed during the dump: the caller retries).
Outcome Dump(nl_sock* sk, nl_msg* msg, const Handler& on_message, bool* interrupted);

// A libnl error code (negative NLE_*) as an outcome with the closest errno.
Outcome FromLibnl(int nle);

// "<what>: <strerror>[: <kernel message>] (errno N)", with the errno in Error::code.
Error MakeError(const std::string& what, const Outcome& outcome);

}  // namespace swg::wg::nl
