// `semaphore-wireguard wireguard-go-keeper`: the second container of the agent's pod. With the userspace
// backend, wireguard-go is the tunnel: if it ran in the agent's container, every restart of that container
// (a crash, a liveness kill, an upgrade of the agent alone) would take every tunnel of the node down with it.
// The keeper runs one `wireguard-go -f wireguard.<remote>` per configured remote as its own children, restarts
// one that exits, and shares their UAPI sockets with the agent through /run/wireguard (an emptyDir of the pod).
// The agent, started with -wireguard-go-keeper=true, adopts those devices and never starts wireguard-go itself.
// Where the kernel has WireGuard there is nothing to keep: the keeper creates the kernel device (it outlives
// every process) and idles.
#include <linux/netlink.h>
#include <signal.h>
#include <uv.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>

#include "common/backoff.h"
#include "common/config.h"
#include "common/duration.h"
#include "common/exit_codes.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/loop.h"
#include "supervisor/commands.h"
#include "supervisor/tools/tools.h"
#include "supervisor/reaper.h"
#include "systemd/journal.h"
#include "worker/wg/interface.h"
#include "worker/wg/link.h"
#include "worker/wg/netlink.h"
#include "worker/wg/wireguard_go.h"

namespace swg {
namespace {

using std::chrono::milliseconds;
constexpr auto kCheckInterval = milliseconds(2000);

// One remote's device, and the wireguard-go that serves it.
struct Kept {
  Kept(Loop& loop, const RemoteConfig& r)
      : name(r.InterfaceName()),
        mtu(r.wg_device_mtu),
        backoff(Backoff::Options{milliseconds(500), 2.0, milliseconds(30000), 0.2, milliseconds(60000)}),
        restart_timer(loop) {}
  std::string name;
  uint32_t mtu;
  uv_process_t* process = nullptr;  // our wireguard-go, while it runs
  pid_t pid = 0;
  Backoff backoff;
  Timer restart_timer;
  std::string said;   // the last situation logged, so that each is logged once
  int dead_checks = 0;  // checks that found a tun nobody answers for
};

class Keeper {
 public:
  Keeper(Loop& loop, const Config& config, wg::BackendChoice choice, std::string wireguard_go)
      : loop_(loop), choice_(choice), wireguard_go_(std::move(wireguard_go)), check_timer_(loop) {
    for (const auto& r : config.remotes) kept_.push_back(std::make_unique<Kept>(loop, r));
  }

  void Start() {
    CheckAll();
    check_timer_.StartRepeating(kCheckInterval, [this] { CheckAll(); });
  }

  // SIGTERM to every wireguard-go (it removes its device); done() once all have exited.
  void Stop(std::function<void()> done) {
    stopping_ = true;
    check_timer_.Stop();
    stop_done_ = std::move(done);
    for (auto& k : kept_) {
      k->restart_timer.Stop();
      if (k->process) uv_process_kill(k->process, SIGTERM);
    }
    MaybeDone();
  }

  bool Owns(pid_t pid) const {
    for (const auto& k : kept_) {
      if (k->process && k->pid == pid) return true;
    }
    return false;
  }

 private:
  void Say(Kept& k, const std::string& situation, const log::Fields& fields, bool warn = false) {
    if (k.said == situation) return;
    k.said = situation;
    log::Fields f = {{"device", k.name}};
    f.insert(f.end(), fields.begin(), fields.end());
    if (warn) {
      log::Warn(situation, f);
    } else {
      log::Info(situation, f);
    }
  }

  void CheckAll() {
    if (stopping_) return;
    auto sock = wg::nl::Connect(NETLINK_ROUTE);
    if (!sock) {
      log::Warn("cannot open a netlink socket", {{"error", sock.error().message}});
      return;
    }
    for (auto& k : kept_) Check(sock->get(), *k);
  }

  void Check(nl_sock* sk, Kept& k) {
    if (k.process || k.restart_timer.active()) return;
    auto found = wg::link::Find(sk, k.name);
    if (!found) {
      Say(k, "cannot look up the device", {{"error", found.error().message}}, true);
      return;
    }
    if (*found && (*found)->kind == "wireguard") {
      Say(k, "kernel WireGuard device: nothing to keep", {});
      return;
    }
    if (*found && (*found)->kind != "tun") {
      Say(k, "the device exists with another kind; leaving it to the agent", {{"kind", (*found)->kind}}, true);
      return;
    }
    if (*found) {
      // A wireguard-go we did not start (one the agent started before it had a keeper): leave it serving.
      if (wg::UapiSocketAlive(wg::kUapiSocketDir, k.name)) {
        k.dead_checks = 0;
        Say(k, "a wireguard-go started by someone else serves the device; leaving it", {});
        return;
      }
      // A tun nobody answers for: give a starting wireguard-go a moment, then replace it.
      if (++k.dead_checks < 3) return;
      Say(k, "replacing a device that no wireguard-go answers for", {}, true);
      if (auto st = wg::link::Delete(sk, k.name, (*found)->ifindex); !st.ok()) {
        log::Warn("cannot delete the stale device", {{"device", k.name}, {"error", st.error().message}});
        return;
      }
    }
    k.dead_checks = 0;
    if (choice_ == wg::BackendChoice::kKernel) {
      Say(k, "kernel backend: the agent creates the device; nothing to keep", {});
      return;
    }
    if (choice_ == wg::BackendChoice::kAuto) {
      auto st = wg::link::Create(sk, k.name, "wireguard", k.mtu);
      if (st.ok()) {
        Say(k, "the kernel has WireGuard: created the kernel device; nothing to keep", {});
        return;
      }
      if (st.error().code != EOPNOTSUPP) {
        Say(k, "cannot create the device", {{"error", st.error().message}}, true);
        return;
      }
    }
    Spawn(k);
  }

  void Spawn(Kept& k) {
    std::vector<std::string> args = {wireguard_go_, "-f", k.name};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 1;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    uv_process_options_t po{};
    po.file = wireguard_go_.c_str();
    po.args = argv.data();
    po.stdio = stdio;
    po.stdio_count = 3;
    po.exit_cb = [](uv_process_t* p, int64_t status, int signal) noexcept {
      auto* self = static_cast<std::pair<Keeper*, Kept*>*>(p->data);
      self->first->OnExit(*self->second, status, signal);
    };
    auto* p = new uv_process_t;
    p->data = new std::pair<Keeper*, Kept*>(this, &k);
    int rc = uv_spawn(loop_.uv(), p, &po);
    if (rc != 0) {
      CloseProcess(p);
      auto delay = k.backoff.Next();
      Say(k, "cannot start wireguard-go", {{"error", uv_strerror(rc)}, {"retry_in", FormatDuration(delay)}}, true);
      k.restart_timer.Start(delay, [] {});  // Check() waits while this runs
      return;
    }
    k.process = p;
    k.pid = p->pid;
    k.said.clear();
    log::Info("started wireguard-go", {{"device", k.name}, {"pid", std::to_string(k.pid)}});
  }

  static void CloseProcess(uv_process_t* p) {
    uv_close(reinterpret_cast<uv_handle_t*>(p), [](uv_handle_t* h) {
      delete static_cast<std::pair<Keeper*, Kept*>*>(h->data);
      delete reinterpret_cast<uv_process_t*>(h);
    });
  }

  void OnExit(Kept& k, int64_t status, int signal) {
    std::string cause = signal ? "killed by signal " + std::to_string(signal) : "exited with code " + std::to_string(status);
    CloseProcess(k.process);
    k.process = nullptr;
    k.pid = 0;
    if (stopping_) {
      log::Info("wireguard-go stopped", {{"device", k.name}, {"cause", cause}});
      MaybeDone();
      return;
    }
    auto delay = k.backoff.Next();
    log::Warn("wireguard-go exited; starting it again",
              {{"device", k.name}, {"cause", cause}, {"restart_in", FormatDuration(delay)}});
    k.restart_timer.Start(delay, [this] { CheckAll(); });
  }

  void MaybeDone() {
    for (const auto& k : kept_) {
      if (k->process) return;
    }
    if (stop_done_) {
      auto done = std::move(stop_done_);
      stop_done_ = nullptr;
      done();
    }
  }

  Loop& loop_;
  wg::BackendChoice choice_;
  std::string wireguard_go_;
  std::vector<std::unique_ptr<Kept>> kept_;
  Timer check_timer_;
  bool stopping_ = false;
  std::function<void()> stop_done_;
};

}  // namespace

int RunWireguardGoKeeper(const std::vector<std::string>& args, const GetEnv& getenv) {
  FlagSet fs("semaphore-wireguard wireguard-go-keeper");
  fs.String("clusters-config", "SWG_CLUSTERS_CONFIG", "", "(Required) the clusters' json config file");
  fs.String("wg-backend", "SWG_WG_BACKEND", "auto",
            "kernel (nothing to keep), userspace, or auto (the kernel device where the kernel has WireGuard)");
  fs.String("log-level", "SWG_LOG_LEVEL", "info", "Log level: trace, debug, info, warn or error");
  fs.String("log-format", "SWG_LOG_FORMAT", "auto", "Log format: text, json, journal or auto");
  fs.String("wireguard-go", "SWG_WIREGUARD_GO", "wireguard-go", "the wireguard-go program");
  auto rest = fs.Parse(args, getenv);
  const char* usage = "semaphore-wireguard wireguard-go-keeper";
  if (!rest.ok()) {
    if (rest.error().code == 0) {
      std::printf("Usage of %s:\n%s", usage, fs.Usage().c_str());
      return kExitOk;
    }
    std::fprintf(stderr, "%s: %s (see -h)\n", usage, rest.error().message.c_str());
    return kExitUsage;
  }
  auto choice = wg::ParseBackendChoice(fs.Get("wg-backend"));
  auto level = log::ParseLevel(fs.Get("log-level"));
  auto format = log::ParseFormat(fs.Get("log-format"));
  std::string bad;
  if (!rest->empty()) bad = "unexpected argument \"" + (*rest)[0] + "\"";
  if (!choice) bad = "invalid value \"" + fs.Get("wg-backend") + "\" for -wg-backend: use auto, kernel or userspace";
  if (!level) bad = "invalid value \"" + fs.Get("log-level") + "\" for -log-level: use trace, debug, info, warn or error";
  if (!format) bad = "invalid value \"" + fs.Get("log-format") + "\" for -log-format: use auto, text, json or journal";
  if (fs.Get("clusters-config").empty()) bad = "-clusters-config is required (or set SWG_CLUSTERS_CONFIG)";
  if (!bad.empty()) {
    std::fprintf(stderr, "%s: %s (see -h)\n", usage, bad.c_str());
    return kExitUsage;
  }
  systemd::ConfigureLogging(*level, *format, "semaphore-wireguard");
  log::SetBaseFields({{"component", "wireguard-go-keeper"}});
  ConfigParse parsed = LoadConfigFile(fs.Get("clusters-config"));
  if (!parsed.errors.empty()) {
    for (const auto& e : parsed.errors) log::Error("configuration: " + e, {{"path", fs.Get("clusters-config")}});
    return kExitUsage;
  }
  signal(SIGPIPE, SIG_IGN);
  Loop loop;
  Keeper keeper(loop, parsed.config, *choice, fs.Get("wireguard-go"));
  supervisor::OrphanReaper reaper(loop, [&](pid_t pid) { return keeper.Owns(pid); });
  reaper.Start();
  bool stopping = false;
  std::function<void(int)> on_signal = [&](int sig) {
    if (stopping) return;
    stopping = true;
    const char* name = sigabbrev_np(sig);
    log::Info("stopping wireguard-go", {{"signal", std::string("SIG") + (name ? name : "?")}});
    keeper.Stop([&] { loop.Stop(); });
  };
  std::vector<uv_signal_t*> signals;
  for (int sig : {SIGTERM, SIGINT}) {
    auto* h = new uv_signal_t;
    uv_signal_init(loop.uv(), h);
    h->data = &on_signal;
    uv_signal_start(
        h, [](uv_signal_t* s, int signum) { (*static_cast<std::function<void(int)>*>(s->data))(signum); }, sig);
    signals.push_back(h);
  }
  log::Info("keeping wireguard-go running for the agent", {{"backend", std::string(wg::BackendChoiceName(*choice))},
                                                          {"socket_dir", wg::kUapiSocketDir}});
  keeper.Start();
  loop.Run();
  for (auto* h : signals) {
    uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* x) { delete reinterpret_cast<uv_signal_t*>(x); });
  }
  log::Info("stopped");
  return kExitOk;
}

}  // namespace swg
