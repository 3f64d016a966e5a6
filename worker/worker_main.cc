#include "worker/worker_main.h"

#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <optional>

#include "common/flags.h"
#include "common/json.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/memory.h"
#include "common/strings.h"
#include "systemd/journal.h"
#include "worker/supervisor_link.h"
#include "worker/worker.h"
#include "worker/worker_parts.h"

namespace swg::worker {

namespace {
constexpr std::chrono::seconds kReleaseInterval{10};
constexpr size_t kReleaseMinGrowth = 1024 * 1024;
}  // namespace

int RunWorkerProcess(const std::vector<std::string>& args, const GetEnv& getenv) {
  FlagSet fs("semaphore-wireguard worker");
  fs.String("remote", "", "", "remote cluster name");
  fs.String("channel-fd", "", "3", "file descriptor of the supervisor channel");
  fs.String("supervisor-pid", "", "", "the supervisor's pid: the worker exits when its parent is another");
  fs.String("wireguard-go-keeper", "", "false", "true: another process runs wireguard-go; never start it");
  fs.String("node-name", "", "", "this node's name");
  fs.String("wg-key-path", "", "/var/lib/semaphore-wireguard", "key directory");
  fs.String("wg-backend", "", "auto", "kernel, userspace or auto");
  fs.String("log-level", "", "info", "log level");
  fs.String("log-format", "", "text", "log format");
  auto rest = fs.Parse(args, getenv);
  auto backend = wg::ParseBackendChoice(fs.Get("wg-backend"));
  auto level = log::ParseLevel(fs.Get("log-level"));
  auto format = log::ParseFormat(fs.Get("log-format"));
  int fd = atoi(fs.Get("channel-fd").c_str());
  auto supervisor_pid = ParseUint(fs.Get("supervisor-pid"), 1u << 30);
  const std::string& keeper = fs.Get("wireguard-go-keeper");
  if (!rest.ok() || !rest->empty() || fs.Get("remote").empty() || fs.Get("node-name").empty() || !backend ||
      !level || !format || fd < 3 || !supervisor_pid || *supervisor_pid == 0 ||
      (keeper != "true" && keeper != "false")) {
    std::fprintf(stderr,
                 "semaphore-wireguard worker: internal mode started with bad arguments; it is run by the "
                 "supervisor, not by hand\n");
    return kExitUsage;
  }
  const std::string remote = fs.Get("remote");
  if (!EnterWorkerProcess("semaphore-wireguard worker", remote, *level, *format, *supervisor_pid)) {
    return kExitFailure;
  }

  Loop loop;
  int exit_code = kExitOk;
  std::unique_ptr<Worker> worker;
  std::unique_ptr<SupervisorLink> link;
  Timer exit_timer(loop);
  // The initial list parses tens of megabytes of JSON into short-lived objects, and a relist, a burst of
  // events or a scrape does so again: the free pages left between live blocks go back to the system.
  memory::ReleaseTimer releaser(loop, kReleaseMinGrowth, kReleaseInterval);
  bool was_synced = false;
  std::optional<WorkerStatus> fatal_status;  // reported instead of the worker's once set-up failed for good
  auto exit_soon = [&](int code) {
    exit_code = code;
    // Give the channel a moment to deliver the last status.
    exit_timer.Start(std::chrono::milliseconds(200), [&] { loop.Stop(); });
  };
  SupervisorLink::Handlers h;
  h.on_start = [&](Config config) {
    WorkerOptions o;
    o.local = config.local;
    o.remote = config.remotes[0];
    o.node_name = fs.Get("node-name");
    o.key_dir = fs.Get("wg-key-path");
    o.backend = *backend;
    o.wireguard_go_keeper = keeper == "true";
    // remoteCAURL is verified with the system trust store; SSL_CERT_FILE (OpenSSL's variable) replaces it.
    if (const char* bundle = getenv("SSL_CERT_FILE"); bundle && *bundle) o.client.ca_url_trust_file = bundle;
    // Nodes are read as protobuf when the apiserver sends it; SWG_KUBE_JSON=true asks for JSON only (a proxy
    // that mangles protobuf, or to compare).
    if (const char* json = getenv("SWG_KUBE_JSON"); json && std::string_view(json) == "true")
      o.client.protobuf = false;
    worker = std::make_unique<Worker>(loop, o, [&] {
      if (link) link->SendStatus();
      // Right after the first sync, not at the next tick: the list's garbage is largest then.
      if (!was_synced && worker && worker->CurrentStatus().synced) {
        was_synced = true;
        releaser.Trim();
      }
    });
    auto st = worker->Start();
    if (!st.ok()) {
      const bool config_error = st.error().code == kExitConfig;
      log::Error(
          config_error ? "configuration error; this remote stays down until it is fixed" : "cannot start",
          {{"error", st.error().message}});
      if (config_error) {
        // Tell the supervisor why before exiting: its `status` and /healthz name the file and the reason.
        fatal_status = worker->CurrentStatus();
        fatal_status->state = "failed";
        fatal_status->reason = "configuration error";
        fatal_status->last_error = st.error().message;
        if (link) link->SendStatus();
      }
      exit_soon(config_error ? kExitConfig : kExitFailure);
    }
  };
  WorkerStatus failed_status;
  h.status = [&] {
    if (fatal_status) return *fatal_status;
    if (worker) return worker->CurrentStatus();
    failed_status.remote = remote;
    return failed_status;
  };
  h.summary = [&] { return worker && !fatal_status ? worker->SummaryStatus() : h.status(); };
  h.detail = [&](const std::function<void(WorkerStatus)>& reply) {
    reply(worker && !fatal_status ? worker->DetailedStatus() : h.status());
  };
  h.metrics = [&](const std::function<void(std::vector<metrics::Family>)>& reply) {
    reply(worker ? worker->CollectMetrics() : std::vector<metrics::Family>{});
    malloc_trim(0);  // a scrape of thousands of peers allocates megabytes for a moment: give them back
  };
  h.rotate_key = [&]() -> std::string {
    if (!worker || fatal_status) return "{\"ok\":false,\"error\":\"the worker is not running\"}";
    auto r = worker->RotateKey();
    JsonPtr out(json_object());
    json_object_set_new(out.get(), "ok", json_boolean(r.ok()));
    if (r.ok()) {
      json_object_set_new(out.get(), "old_public_key", json_string(r->old_public_key.c_str()));
      json_object_set_new(out.get(), "new_public_key", json_string(r->new_public_key.c_str()));
    } else {
      json_object_set_new(out.get(), "error", json_string(r.error().message.c_str()));
    }
    return JsonDump(out.get());
  };
  h.on_lost = [&](const std::string& why) {
    log::Info("the supervisor is gone; exiting (the interface, route and peers stay)", {{"reason", why}});
    loop.Stop();
  };
  link = std::make_unique<SupervisorLink>(loop, fd, h);

  std::vector<uv_signal_t*> signals;
  for (int sig : {SIGTERM, SIGINT}) {
    auto* s = new uv_signal_t;
    uv_signal_init(loop.uv(), s);
    s->data = &loop;
    uv_signal_start(
        s, [](uv_signal_t* x, int) { static_cast<Loop*>(x->data)->Stop(); }, sig);
    signals.push_back(s);
  }
  loop.Run();
  for (auto* s : signals) {
    uv_close(reinterpret_cast<uv_handle_t*>(s),
             [](uv_handle_t* x) { delete reinterpret_cast<uv_signal_t*>(x); });
  }
  if (exit_code == kExitOk) log::Info("stopped; the interface, route and peers stay as they are");
  link.reset();
  worker.reset();
  return exit_code;
}

}  // namespace swg::worker
