#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>

#include "common/duration.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/memory.h"
#include "common/strings.h"
#include "systemd/journal.h"
#include "worker/mirror_worker.h"
#include "worker/supervisor_link.h"
#include "worker/worker_main.h"
#include "worker/worker_parts.h"

namespace swg::worker {

namespace {
std::vector<std::string> SplitComma(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}
}  // namespace

int RunMirrorWorkerProcess(const std::vector<std::string>& args, const GetEnv& getenv) {
  FlagSet fs("semaphore-wireguard mirror-worker");
  fs.String("remote", "", "", "remote cluster name");
  fs.String("channel-fd", "", "3", "file descriptor of the supervisor channel");
  fs.String("supervisor-pid", "", "", "the supervisor's pid: the worker exits when its parent is another");
  fs.String("identity", "", "", "this replica's identity in the Lease");
  fs.String("namespace", "", "", "the records' and the Lease's namespace");
  fs.String("lease-duration", "", "15s", "");
  fs.String("renew-deadline", "", "10s", "");
  fs.String("retry-period", "", "2s", "");
  fs.String("marker-interval", "", "30s", "");
  fs.String("configured-remotes", "", "", "every remote of the configuration, comma separated");
  fs.String("log-level", "", "info", "log level");
  fs.String("log-format", "", "text", "log format");
  auto rest = fs.Parse(args, getenv);
  auto level = log::ParseLevel(fs.Get("log-level"));
  auto format = log::ParseFormat(fs.Get("log-format"));
  int fd = atoi(fs.Get("channel-fd").c_str());
  auto supervisor_pid = ParseUint(fs.Get("supervisor-pid"), 1u << 30);
  auto lease = ParseDuration(fs.Get("lease-duration"));
  auto renew = ParseDuration(fs.Get("renew-deadline"));
  auto retry = ParseDuration(fs.Get("retry-period"));
  auto marker = ParseDuration(fs.Get("marker-interval"));
  if (!rest.ok() || !rest->empty() || fs.Get("remote").empty() || fs.Get("identity").empty() ||
      fs.Get("namespace").empty() || !level || !format || fd < 3 || !supervisor_pid || *supervisor_pid == 0 ||
      !lease || !renew || !retry || !marker) {
    std::fprintf(stderr,
                 "semaphore-wireguard mirror-worker: internal mode started with bad arguments; it is run by "
                 "`semaphore-wireguard mirror`, not by hand\n");
    return kExitUsage;
  }
  const std::string remote = fs.Get("remote");
  if (!EnterWorkerProcess("semaphore-wireguard mirror-worker", remote, *level, *format, *supervisor_pid)) {
    return kExitFailure;
  }

  Loop loop;
  int exit_code = kExitOk;
  std::unique_ptr<MirrorWorker> worker;
  std::unique_ptr<SupervisorLink> link;
  Timer exit_timer(loop);
  memory::ReleaseTimer releaser(loop, 1024 * 1024, std::chrono::seconds(10));
  bool was_ready = false;
  WorkerStatus failed_status;
  failed_status.remote = remote;
  bool failed = false;
  auto stop = [&] {
    // Give the Lease up (a standby takes over at its next try), within a bound: the supervisor kills after 5
    // s.
    exit_timer.Start(std::chrono::milliseconds(3000), [&] { loop.Stop(); });
    if (worker) {
      worker->Stop([&] { loop.Stop(); });
    } else {
      loop.Stop();
    }
  };
  SupervisorLink::Handlers h;
  h.on_start = [&](Config config) {
    MirrorOptions o;
    o.local = config.local;
    o.remote = config.remotes[0];
    o.identity = fs.Get("identity");
    o.namespace_name = fs.Get("namespace");
    o.lease_duration = std::chrono::duration_cast<std::chrono::seconds>(*lease);
    o.renew_deadline = std::chrono::duration_cast<std::chrono::milliseconds>(*renew);
    o.retry_period = std::chrono::duration_cast<std::chrono::milliseconds>(*retry);
    o.marker_interval = std::chrono::duration_cast<std::chrono::milliseconds>(*marker);
    o.configured_remotes = SplitComma(fs.Get("configured-remotes"));
    if (const char* bundle = getenv("SSL_CERT_FILE"); bundle && *bundle) o.client.ca_url_trust_file = bundle;
    if (const char* json = getenv("SWG_KUBE_JSON"); json && std::string_view(json) == "true")
      o.client.protobuf = false;
    worker = std::make_unique<MirrorWorker>(loop, o, [&] {
      if (link) link->SendStatus();
      // Right after a complete list is written, as the agent does after its first sync: the list's and the
      // first write pass's garbage is largest then.
      const bool ready = worker && worker->CurrentStatus().state == "ready";
      if (ready && !was_ready) releaser.Trim();
      was_ready = ready;
    });
    auto st = worker->Start();
    if (!st.ok()) {
      const bool config_error = st.error().code == kExitConfig;
      log::Error(
          config_error ? "configuration error; this remote stays down until it is fixed" : "cannot start",
          {{"error", st.error().message}});
      failed = true;
      failed_status.state = "failed";
      failed_status.reason = config_error ? "configuration error" : "cannot start";
      failed_status.last_error = st.error().message;
      if (link) link->SendStatus();
      exit_code = config_error ? kExitConfig : kExitFailure;
      exit_timer.Start(std::chrono::milliseconds(200), [&] { loop.Stop(); });
    }
  };
  h.status = [&] { return worker && !failed ? worker->CurrentStatus() : failed_status; };
  h.summary = h.status;
  h.detail = [&](const std::function<void(WorkerStatus)>& reply) {
    reply(worker && !failed ? worker->DetailedStatus() : failed_status);
  };
  h.metrics = [&](const std::function<void(std::vector<metrics::Family>)>& reply) {
    reply(worker ? worker->CollectMetrics() : std::vector<metrics::Family>{});
  };
  h.rotate_key = [] { return std::string("{\"ok\":false,\"error\":\"a mirror has no keys\"}"); };
  h.on_lost = [&](const std::string& why) {
    log::Info("the supervisor is gone; giving up the Lease and exiting", {{"reason", why}});
    stop();
  };
  link = std::make_unique<SupervisorLink>(loop, fd, h);

  std::vector<uv_signal_t*> signals;
  struct SignalData {
    std::function<void()> stop;
    bool stopping = false;
  } data{stop};
  for (int sig : {SIGTERM, SIGINT}) {
    auto* s = new uv_signal_t;
    uv_signal_init(loop.uv(), s);
    s->data = &data;
    uv_signal_start(
        s,
        [](uv_signal_t* x, int) {
          auto* d = static_cast<SignalData*>(x->data);
          if (d->stopping) return;
          d->stopping = true;
          d->stop();
        },
        sig);
    signals.push_back(s);
  }
  loop.Run();
  for (auto* s : signals) {
    uv_close(reinterpret_cast<uv_handle_t*>(s),
             [](uv_handle_t* x) { delete reinterpret_cast<uv_signal_t*>(x); });
  }
  if (exit_code == kExitOk) log::Info("stopped");
  link.reset();
  worker.reset();
  return exit_code;
}

}  // namespace swg::worker
