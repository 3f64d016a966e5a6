// WgBackend over the kernel's generic netlink family "wireguard".
#include <netlink/errno.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <cerrno>

#include "common/log.h"
#include "worker/wg/backends.h"
#include "worker/wg/genl_codec.h"
#include "worker/wg/netlink.h"

namespace swg::wg {
namespace {

// A dump is interrupted only when the device changes while it is read; several in a row mean a writer that
// does not stop, and the caller is better off retrying later than spinning here.
constexpr int kDumpAttempts = 10;

struct Session {
  nl::Sock sock;
  int family = 0;
};

Result<Session> Open(const std::string& what) {
  auto sk = nl::Connect(NETLINK_GENERIC);
  if (!sk) return Error{what + ": " + sk.error().message, sk.error().code};
  int family = genl_ctrl_resolve(sk->get(), "wireguard");
  if (family == -NLE_OBJ_NOTFOUND) {
    return nl::MakeError(what, nl::Outcome{ENOENT, "generic netlink family \"wireguard\" not found"});
  }
  if (family < 0) return nl::MakeError(what, nl::FromLibnl(family));
  return Session{std::move(*sk), family};
}

class KernelBackend final : public WgBackend {
 public:
  std::string_view Kind() const override { return "kernel"; }

  Result<Device> GetDevice(const std::string& ifname) override {
    const std::string what = ifname + ": get device";
    for (int attempt = 1; attempt <= kDumpAttempts; ++attempt) {
      auto session = Open(what);
      if (!session) return std::move(session).error();
      auto request = genl::BuildGetDevice(session->family, ifname);
      if (!request) return Error{what + ": " + request.error().message, request.error().code};
      Device device;
      bool interrupted = false;
      nl::Outcome outcome = nl::Dump(
          session->sock.get(), request->get(),
          [&device](nl_msg* msg) { return genl::MergeDeviceMessage(nlmsg_hdr(msg), &device); }, &interrupted);
      if (outcome.err) return nl::MakeError(what, outcome);
      if (!interrupted) return device;
      log::Debug("device dump interrupted by a change; reading it again",
                 {{"device", ifname}, {"attempt", std::to_string(attempt)}});
    }
    return nl::MakeError(what, nl::Outcome{EAGAIN, "dump interrupted " + std::to_string(kDumpAttempts) +
                                                       " times in a row by concurrent changes"});
  }

  Status Apply(const std::string& ifname, const DeviceChange& change) override {
    const std::string what = ifname + ": set device";
    if (change.empty()) return Ok();
    auto session = Open(what);
    if (!session) return std::move(session).error();
    auto messages = genl::BuildSetDevice(session->family, ifname, change);
    if (!messages) return Error{what + ": " + messages.error().message, messages.error().code};
    const size_t n = messages->size();
    for (size_t i = 0; i < n; ++i) {
      nl::Outcome outcome = nl::Transact(session->sock.get(), (*messages)[i].get());
      if (outcome.err) {
        std::string where =
            n > 1 ? what + " (message " + std::to_string(i + 1) + " of " + std::to_string(n) + ")" : what;
        return nl::MakeError(where, outcome);
      }
    }
    return Ok();
  }
};

}  // namespace

std::unique_ptr<WgBackend> MakeKernelBackend() { return std::make_unique<KernelBackend>(); }

}  // namespace swg::wg
