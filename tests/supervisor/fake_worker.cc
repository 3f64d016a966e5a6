// A stand-in for the worker, for fast tests of the supervisor: speaks the real protocol (SupervisorLink) and
// behaves as SWG_FAKE_<REMOTE> says: "ready" (default), "config-error" (exits 78 at start), "crash:SECONDS",
// "slow-metrics" (never answers metrics requests), "never-ready" (stays syncing).
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "common/log.h"
#include "common/loop.h"
#include "common/metrics.h"
#include "systemd/journal.h"
#include "worker/supervisor_link.h"

int main(int argc, char** argv) {
  std::string remote, format = "text";
  int fd = -1;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "-remote") == 0) remote = argv[i + 1];
    if (std::strcmp(argv[i], "-channel-fd") == 0) fd = std::atoi(argv[i + 1]);
    if (std::strcmp(argv[i], "-log-format") == 0) format = argv[i + 1];
  }
  if (remote.empty() || fd < 0) return 2;
  std::string var = "SWG_FAKE_" + remote;
  for (auto& c : var) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  const char* m = getenv(var.c_str());
  std::string mode = m ? m : "ready";

  swg::systemd::ConfigureLogging(swg::log::Level::kInfo, swg::log::ParseFormat(format).value_or(swg::log::Format::kText),
                                 "semaphore-wireguard");
  swg::log::SetBaseFields({{"remote", remote}});
  swg::log::Info("fake worker running", {{"mode", mode}});
  swg::Loop loop;
  swg::WorkerStatus status;
  status.remote = remote;
  status.interface = "wireguard." + remote;
  status.backend = "fake";
  status.watch = "watching";
  swg::Timer timer(loop);
  std::unique_ptr<swg::worker::SupervisorLink> link;
  swg::worker::SupervisorLink::Handlers h;
  h.on_start = [&](swg::Config config) {
    if (mode == "config-error") {
      fprintf(stderr, "fake worker %s: configuration error\n", remote.c_str());
      _exit(78);
    }
    status.listen_port = config.remotes[0].wg_listen_port;
    status.public_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
    timer.Start(std::chrono::milliseconds(300), [&] {
      status.initialised = true;
      status.state = "syncing";
      if (mode != "never-ready") {
        status.state = "ready";
        status.synced = true;
        status.peers = 3;
        status.rejected = 1;
      }
      link->SendStatus();
      if (mode.rfind("crash:", 0) == 0) {
        timer.Start(std::chrono::seconds(std::atoi(mode.c_str() + 6)), [] { abort(); });
      }
    });
  };
  h.status = [&] { return status; };
  h.detail = [&](const std::function<void(swg::WorkerStatus)>& reply) {
    swg::WorkerStatus d = status;
    d.peer_list.push_back({"node-a", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=", "192.168.0.1:51820", {"10.4.1.0/24"},
                           0, 10, 20});
    d.rejected_list.push_back({"node-b", "bad_endpoint", "endpoint \"x\" is not a numeric IPv4:port"});
    reply(d);
  };
  h.metrics = [&](const std::function<void(std::vector<swg::metrics::Family>)>& reply) {
    if (mode == "slow-metrics") return;
    swg::metrics::Registry r;
    r.Gauge("semaphore_wg_peers", "Peers of the interface for a remote cluster", {"remote"});
    r.Set("semaphore_wg_peers", {remote}, static_cast<double>(status.peers));
    reply(r.Snapshot());
  };
  h.on_lost = [](const std::string&) { _exit(0); };
  link = std::make_unique<swg::worker::SupervisorLink>(loop, fd, h);
  loop.Run();
  return 0;
}
