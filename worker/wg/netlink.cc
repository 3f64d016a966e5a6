#include "worker/wg/netlink.h"

#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <openssl/crypto.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cstring>

#include "common/files.h"

namespace swg::wg::nl {
namespace {

struct CbDeleter {
  void operator()(nl_cb* cb) const noexcept { nl_cb_put(cb); }
};
using Cb = std::unique_ptr<nl_cb, CbDeleter>;

// libnl reports its own codes for socket-level failures; keep an errno close to what happened.
int LibnlToErrno(int nle) {
  switch (nle < 0 ? -nle : nle) {
    case NLE_NOMEM:
      return ENOMEM;
    case NLE_AGAIN:
      return EAGAIN;
    case NLE_INTR:
      return EINTR;
    case NLE_MSGSIZE:
    case NLE_MSG_TRUNC:
      return EMSGSIZE;
    case NLE_PERM:
      return EPERM;
    case NLE_NOACCESS:
      return EACCES;
    default:
      return EPROTO;
  }
}

// The text of NLMSGERR_ATTR_MSG in the TLVs that start `offset` bytes into the payload of `hdr`.
std::string ExtackText(const nlmsghdr* hdr, size_t offset) {
  if (!(hdr->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  size_t payload = hdr->nlmsg_len >= NLMSG_HDRLEN ? hdr->nlmsg_len - NLMSG_HDRLEN : 0;
  offset = NLMSG_ALIGN(offset);
  if (offset >= payload) return "";
  auto* base = reinterpret_cast<const uint8_t*>(hdr) + NLMSG_HDRLEN + offset;
  int remaining = static_cast<int>(payload - offset);
  for (auto* a = reinterpret_cast<const nlattr*>(base); nla_ok(a, remaining); a = nla_next(a, &remaining)) {
    if (nla_type(a) != NLMSGERR_ATTR_MSG || nla_len(a) <= 0) continue;
    const char* text = static_cast<const char*>(nla_data(a));
    return std::string(text, strnlen(text, static_cast<size_t>(nla_len(a))));
  }
  return "";
}

struct State {
  Outcome outcome;
  bool done = false;
  bool* interrupted = nullptr;
  const Handler* on_message = nullptr;
};

int OnError(sockaddr_nl*, nlmsgerr* e, void* arg) noexcept {
  auto* s = static_cast<State*>(arg);
  auto* hdr = reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const uint8_t*>(e) - NLMSG_HDRLEN);
  size_t offset = sizeof(nlmsgerr);
  if (!(hdr->nlmsg_flags & NLM_F_CAPPED) && e->msg.nlmsg_len >= NLMSG_HDRLEN) {
    offset += e->msg.nlmsg_len - NLMSG_HDRLEN;
  }
  s->outcome.err = e->error < 0 ? -e->error : e->error;
  s->outcome.message = ExtackText(hdr, offset);
  s->done = true;
  return NL_STOP;
}

int OnAck(nl_msg*, void* arg) noexcept {
  static_cast<State*>(arg)->done = true;
  return NL_STOP;
}

// NLMSG_DONE of a dump carries the dump's final status as an int; libnl 3.7 ignores it.
int OnFinish(nl_msg* msg, void* arg) noexcept {
  auto* s = static_cast<State*>(arg);
  const nlmsghdr* hdr = nlmsg_hdr(msg);
  if (nlmsg_datalen(hdr) >= static_cast<int>(sizeof(int))) {
    int status;
    std::memcpy(&status, nlmsg_data(hdr), sizeof status);
    if (status < 0 && s->outcome.err == 0) {
      s->outcome.err = -status;
      s->outcome.message = ExtackText(hdr, sizeof(int));
    }
  }
  s->done = true;
  return NL_STOP;
}

int OnDumpIntr(nl_msg*, void* arg) noexcept {
  *static_cast<State*>(arg)->interrupted = true;
  return NL_OK;
}

int OnValid(nl_msg* msg, void* arg) noexcept {
  auto* s = static_cast<State*>(arg);
  nlmsghdr* hdr = nlmsg_hdr(msg);
  if (s->on_message && *s->on_message && s->outcome.err == 0) s->outcome.err = (*s->on_message)(msg);
  // This copy may hold a private key; libnl frees it without wiping.
  OPENSSL_cleanse(nlmsg_data(hdr), static_cast<size_t>(nlmsg_datalen(hdr)));
  return NL_OK;
}

Result<Cb> MakeCb(State* s) {
  Cb cb(nl_cb_alloc(NL_CB_DEFAULT));
  if (!cb) return Error{"netlink: out of memory", ENOMEM};
  nl_cb_err(cb.get(), NL_CB_CUSTOM, OnError, s);
  nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, OnAck, s);
  nl_cb_set(cb.get(), NL_CB_FINISH, NL_CB_CUSTOM, OnFinish, s);
  nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, OnValid, s);
  if (s->interrupted != nullptr) nl_cb_set(cb.get(), NL_CB_DUMP_INTR, NL_CB_CUSTOM, OnDumpIntr, s);
  return cb;
}

Outcome Exchange(nl_sock* sk, nl_msg* msg, State& s) {
  auto cb = MakeCb(&s);
  if (!cb) return Outcome{ENOMEM, "out of memory"};
  nlmsg_hdr(msg)->nlmsg_seq = NL_AUTO_SEQ;  // a message sent again gets a new sequence number
  int r = nl_send_auto(sk, msg);
  if (r < 0) return FromLibnl(r);
  // Bounded: every round receives at least one message, or fails (at the latest after SO_RCVTIMEO).
  while (!s.done) {
    r = nl_recvmsgs(sk, cb->get());
    if (s.done) break;
    if (r < 0) return FromLibnl(r);
  }
  return s.outcome;
}

}  // namespace

void SockDeleter::operator()(nl_sock* sk) const noexcept { nl_socket_free(sk); }

void MsgDeleter::operator()(nl_msg* msg) const noexcept {
  nlmsghdr* hdr = nlmsg_hdr(msg);
  OPENSSL_cleanse(hdr, nlmsg_get_max_size(msg));
  nlmsg_free(msg);
}

std::span<const uint8_t> Bytes(nl_msg* msg) {
  const nlmsghdr* hdr = nlmsg_hdr(msg);
  return {reinterpret_cast<const uint8_t*>(hdr), hdr->nlmsg_len};
}

Result<Sock> Connect(int protocol) {
  Sock sk(nl_socket_alloc());
  if (!sk) return Error{"netlink: out of memory", ENOMEM};
  errno = 0;
  int r = nl_connect(sk.get(), protocol);
  if (r < 0) {
    int err = errno ? errno : LibnlToErrno(r);
    return Error{"netlink: cannot open socket: " + ErrnoText(err), err};
  }
  int fd = nl_socket_get_fd(sk.get());
  int one = 1;
  // Best effort: older kernels lack them, and they only add detail.
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  nl_socket_set_buffer_size(sk.get(), 1 << 20, 1 << 20);
  // The kernel always answers; should it not, a worker must not hang: a receive waits at most this long.
  timeval timeout{30, 0};
  (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return sk;
}

Outcome Transact(nl_sock* sk, nl_msg* msg, const Handler& on_reply) {
  State s;
  s.on_message = &on_reply;
  return Exchange(sk, msg, s);
}

Outcome Dump(nl_sock* sk, nl_msg* msg, const Handler& on_message, bool* interrupted) {
  bool ignored = false;
  State s;
  s.interrupted = interrupted ? interrupted : &ignored;
  s.on_message = &on_message;
  return Exchange(sk, msg, s);
}

Outcome FromLibnl(int nle) { return Outcome{LibnlToErrno(nle), std::string("libnl: ") + nl_geterror(nle)}; }

Error MakeError(const std::string& what, const Outcome& outcome) {
  std::string text = what + ": " + ErrnoText(outcome.err);
  if (!outcome.message.empty()) text += ": " + outcome.message;
  text += " (errno " + std::to_string(outcome.err) + ")";
  return Error{std::move(text), outcome.err};
}

}  // namespace swg::wg::nl
