// WgBackend over wireguard-go's UAPI socket.
#include <net/if.h>

#include <cerrno>
#include <chrono>
#include <map>

#include "common/duration.h"
#include "common/strings.h"
#include "worker/wg/backends.h"
#include "worker/wg/uapi_codec.h"

namespace swg::wg {
namespace {

using Clock = std::chrono::steady_clock;

// After a request to a device timed out, more requests to the same link fail at once for this long: a burst of
// them (a retry, a scrape, `status`) would otherwise block the worker's loop for kUapiIdleTimeout each. The
// interface check probes wireguard-go meanwhile and replaces it when it is hung.
constexpr auto kStallHold = std::chrono::seconds(5);

Error Failed(const std::string& what, const std::string& detail, int err) { return UapiFailure(what, detail, err); }

class UserspaceBackend final : public WgBackend {
 public:
  explicit UserspaceBackend(std::string dir) : dir_(std::move(dir)) {}

  std::string_view Kind() const override { return "userspace"; }

  Result<Device> GetDevice(const std::string& ifname) override {
    const std::string what = ifname + ": get device";
    const int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    auto device = Get(what, ifname, ifindex, uapi::ParseGetReply);
    if (!device) return device;
    device->name = ifname;
    device->ifindex = ifindex;
    if (device->private_key) {
      auto pub = PublicKeyOf(*device->private_key);
      if (!pub) return Error{what + ": " + pub.error().message, pub.error().code};
      device->public_key = *pub;
    }
    Remember(ifname, device->ifindex, device->listen_port);
    return device;
  }

  Result<std::vector<PeerHandshake>> GetHandshakes(const std::string& ifname) override {
    return Get(ifname + ": get device", ifname, static_cast<int>(if_nametoindex(ifname.c_str())),
               uapi::ParseGetHandshakes);
  }

  Status Apply(const std::string& ifname, const DeviceChange& change) override {
    const std::string what = ifname + ": set device";
    if (change.empty()) return Ok();
    int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    bool send_port = change.listen_port.has_value();
    if (auto it = ports_.find(ifname); send_port && !change.rebind && it != ports_.end() && ifindex != 0 &&
                                       it->second.ifindex == ifindex &&
                                       it->second.port == *change.listen_port) {
      send_port = false;
    }
    auto reply = Exchange(what, ifname, ifindex, uapi::EncodeSet(change, send_port));
    Result<int> err = reply ? uapi::ParseSetReply(*reply) : Result<int>(reply.error());
    if (!err || *err != 0) {
      ports_.erase(ifname);  // what the device holds after a failure is unknown
      if (!reply) return std::move(reply).error();
      if (!err) return Failed(what, err.error().message, err.error().code);
      return Failed(what, "", *err);
    }
    if (change.listen_port) Remember(ifname, ifindex, *change.listen_port);
    return Ok();
  }

 private:
  struct KnownPort {
    int ifindex;
    uint16_t port;
  };

  std::string SocketPath(const std::string& ifname) const { return dir_ + "/" + ifname + ".sock"; }

  // UapiExchange, unless the same link timed out less than kStallHold ago (see kStallHold).
  Result<SecretString> Exchange(const std::string& what, const std::string& ifname, int ifindex,
                                std::string_view request, size_t expect_bytes = 0) {
    if (auto it = stalls_.find(ifname); it != stalls_.end()) {
      auto ago = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - it->second.since);
      if (it->second.ifindex == ifindex && ago < kStallHold) {
        return Failed(what, "not asked: its wireguard-go did not answer on " + SocketPath(ifname) + " " +
                                FormatDuration(ago) + " ago",
                      ETIMEDOUT);
      }
      stalls_.erase(it);
    }
    auto reply = UapiExchange(what, SocketPath(ifname), request, kUapiIdleTimeout, nullptr, expect_bytes);
    // A full backlog (EAGAIN at connect) is a server that stopped accepting: as hung as one that stopped answering.
    if (!reply && (reply.error().code == ETIMEDOUT || reply.error().code == EAGAIN)) {
      stalls_[ifname] = Stall{ifindex, Clock::now()};
    }
    return reply;
  }

  // A get request, its reply read by `parse`; errors name `what`.
  template <typename T>
  Result<T> Get(const std::string& what, const std::string& ifname, int ifindex,
                Result<T> (*parse)(std::string_view)) {
    // Room for the reply as large as the last one and a little more (peers come and go).
    size_t& last = get_bytes_[ifname];
    auto reply = Exchange(what, ifname, ifindex, uapi::kGetRequest, last + last / 8 + 4096);
    if (!reply) return std::move(reply).error();
    last = reply->size();
    auto parsed = parse(*reply);
    if (!parsed) {
      const Error& e = parsed.error();  // a malformed reply, or the errno wireguard-go answered with
      return Failed(what, StartsWith(e.message, "malformed") ? e.message : "", e.code);
    }
    return parsed;
  }

  void Remember(const std::string& ifname, int ifindex, uint16_t port) {
    if (ifindex != 0) ports_[ifname] = KnownPort{ifindex, port};
  }

  struct Stall {
    int ifindex;
    Clock::time_point since;
  };

  std::string dir_;
  std::map<std::string, KnownPort> ports_;  // a new wireguard-go means a new TUN, so a new ifindex
  std::map<std::string, Stall> stalls_;
  std::map<std::string, size_t> get_bytes_;  // the size of the last get reply from each device
};

}  // namespace

std::unique_ptr<WgBackend> MakeUserspaceBackend(std::string socket_dir) {
  return std::make_unique<UserspaceBackend>(std::move(socket_dir));
}

}  // namespace swg::wg
