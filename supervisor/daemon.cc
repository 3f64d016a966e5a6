// The supervisor process: validates the configuration, runs one worker per remote cluster, and serves
// health, metrics, status (control socket, D-Bus) and systemd notifications.
#include <malloc.h>
#include <signal.h>
#include <unistd.h>
#include <uv.h>

#include <climits>
#include <cstring>
#include <memory>
#include <optional>

#include "common/config.h"
#include "common/duration.h"
#include "common/health.h"
#include "common/json.h"
#include "common/log.h"
#include "common/memory.h"
#include "supervisor/commands.h"
#include "supervisor/control.h"
#include "supervisor/http_server.h"
#include "supervisor/reaper.h"
#include "supervisor/worker_program.h"
#include "supervisor/workers.h"
#include "systemd/bus.h"
#include "systemd/journal.h"
#include "systemd/notify.h"

namespace swg {
namespace {

class Signals {
 public:
  Signals(Loop& loop, std::function<void(int)> on_signal) : on_signal_(std::move(on_signal)) {
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
      auto* h = new uv_signal_t;
      uv_signal_init(loop.uv(), h);
      h->data = this;
      uv_signal_start(
          h, [](uv_signal_t* s, int signum) { static_cast<Signals*>(s->data)->on_signal_(signum); }, sig);
      handles_.push_back(h);
    }
  }
  ~Signals() {
    for (auto* h : handles_) {
      uv_signal_stop(h);
      uv_close(reinterpret_cast<uv_handle_t*>(h),
               [](uv_handle_t* x) { delete reinterpret_cast<uv_signal_t*>(x); });
    }
  }

 private:
  std::function<void(int)> on_signal_;
  std::vector<uv_signal_t*> handles_;
};

// A one-line summary for systemd's STATUS= and the logs.
std::string Summary(const NodeView& v) {
  size_t ready = 0;
  std::string parts;
  for (const auto& r : v.remotes) {
    if (r.worker_up && r.status.synced) ready++;
    std::string state = r.failed ? "failed" : (r.worker_up ? r.status.state : "down");
    parts += (parts.empty() ? "" : ", ") + r.status.remote + " " + state + " (" +
             std::to_string(r.status.peers) + " peers)";
  }
  return std::to_string(ready) + "/" + std::to_string(v.remotes.size()) + " remotes in sync: " + parts;
}

}  // namespace

int RunDaemon(const Options& o) {
  systemd::ConfigureLogging(o.log_level, o.log_format, "semaphore-wireguard");
  ConfigParse parsed = LoadConfigFile(o.clusters_config, o.mirror ? ConfigUse::kMirror : ConfigUse::kAgent);
  if (o.mirror && parsed.errors.empty()) parsed.errors = MirrorConfigErrors(parsed.config);
  for (const auto& w : parsed.warnings) log::Warn("configuration: " + w, {{"path", o.clusters_config}});
  if (!parsed.errors.empty()) {
    for (const auto& e : parsed.errors) log::Error("configuration: " + e, {{"path", o.clusters_config}});
    log::Error("invalid configuration; not starting",
               {{"path", o.clusters_config}, {"errors", std::to_string(parsed.errors.size())}});
    return kExitUsage;
  }
  // The flag's address types go to every remote that does not choose its own (advertiseAddressType).
  for (auto& r : parsed.config.remotes) {
    if (r.advertise_address_types.empty()) r.advertise_address_types = o.advertise_address_types;
  }
  const Config& config = parsed.config;
  std::string remotes;
  for (const auto& r : config.remotes) remotes += (remotes.empty() ? "" : ",") + r.name;
  if (o.mirror) {
    log::Info("starting semaphore-wireguard mirror", {{"version", SWG_VERSION},
                                                      {"identity", o.identity},
                                                      {"local", config.local.name},
                                                      {"namespace", MirrorNamespace(config.local)},
                                                      {"remotes", remotes}});
  } else {
    log::Info("starting semaphore-wireguard", {{"version", SWG_VERSION},
                                               {"node", o.node_name},
                                               {"local", config.local.name},
                                               {"remotes", remotes}});
  }
  signal(SIGPIPE, SIG_IGN);
  // One malloc arena, not one per HTTP thread (four of them, about 70 KiB resident each).
  memory::ConfigureMalloc(1);

  Loop loop;
  NodeView view;
  view.node = o.mirror ? o.identity : o.node_name;
  if (o.mirror) view.mode = "mirror";
  view.local_cluster = config.local.name;
  view.version = SWG_VERSION;

  auto program = supervisor::OpenedProgram::Open(o.worker_binary.empty() ? supervisor::WorkerProgramPath()
                                                                         : o.worker_binary);
  if (!program.ok()) {
    log::Error(program.error().message);
    return kExitFailure;
  }
  supervisor::WorkerOptions wo;
  wo.executable = program->exec_path();
  wo.program_name = program->path();
  log::Format worker_format = o.log_format;
  if (worker_format == log::Format::kAuto) {
    worker_format = systemd::StderrIsJournal() ? log::Format::kJournal : log::Format::kText;
  }
  wo.common_args = {"-node-name",           o.node_name,
                    "-wg-key-path",         o.wg_key_path,
                    "-wg-backend",          o.wg_backend,
                    "-log-level",           std::string(log::LevelName(o.log_level)),
                    "-log-format",          std::string(log::FormatName(worker_format)),
                    "-wireguard-go-keeper", o.wireguard_go_keeper ? "true" : "false"};
  wo.heartbeat_timeout = o.worker_heartbeat_timeout;
  wo.key_dir = o.wg_key_path;
  if (o.mirror) {
    wo.subcommand = "mirror-worker";
    wo.key_dir.clear();  // a mirror has no keys
    wo.common_args = {"-identity",           o.identity,
                      "-namespace",          MirrorNamespace(config.local),
                      "-lease-duration",     FormatDuration(o.lease_duration),
                      "-renew-deadline",     FormatDuration(o.renew_deadline),
                      "-retry-period",       FormatDuration(o.retry_period),
                      "-marker-interval",    FormatDuration(o.marker_interval),
                      "-configured-remotes", remotes,
                      "-log-level",          std::string(log::LevelName(o.log_level)),
                      "-log-format",         std::string(log::FormatName(worker_format))};
  }

  std::unique_ptr<systemd::Notifier> notifier;
  std::unique_ptr<systemd::BusPublisher> bus;
  std::unique_ptr<supervisor::WorkerTable> table;
  auto on_change = [&] {
    view.remotes = table->View();
    if (notifier) {
      bool all_initialised = true;
      for (const auto& r : view.remotes)
        all_initialised = all_initialised && (r.status.initialised || r.failed);
      if (all_initialised) notifier->Ready();
      notifier->Status(Summary(view));
    }
    if (bus) bus->Update(view);
  };
  table = std::make_unique<supervisor::WorkerTable>(loop, config, wo, on_change);
  view.remotes = table->View();
  supervisor::OrphanReaper reaper(loop, [&](pid_t pid) { return table->OwnsPid(pid); });
  reaper.Start();

  // /metrics: a text served again within a second, and the scrapes that arrive while a collection is in
  // flight wait for it: each collection makes every worker read its whole device.
  struct {
    std::optional<std::string> text;
    std::chrono::steady_clock::time_point at;
    std::vector<supervisor::HttpServer::Respond> waiting;  // non-empty while a collection is in flight
  } metrics_cache;
  const std::string kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
  // The handler runs on the loop: every answer is itself proof that the loop turns.
  auto http = supervisor::HttpServer::Start(
      loop, o.listen_address,
      [&](const std::string& method, const std::string& path, supervisor::HttpServer::Respond respond) {
        if (method != "GET" && method != "HEAD")
          return respond({405, "text/plain; charset=utf-8", "method not allowed\n"});
        if (path == "/livez") {
          // Liveness is only "the supervisor's loop answers" (a hung loop times the probe out): one remote's
          // trouble must never get the whole agent (and every other remote's pairing) restarted.
          return respond({200, "text/plain; charset=utf-8", "ok\n"});
        }
        if (path == "/healthz" || path == "/readyz") {
          view.remotes = table->View();
          auto bad = path == "/healthz" ? view.Unhealthy() : view.Unready();
          if (bad.empty()) {
            std::string body = "ok\n";
            for (const auto& d : view.Degraded()) body += "degraded: " + d + "\n";
            return respond({200, "text/plain; charset=utf-8", body});
          }
          std::string body = path == "/healthz" ? "not healthy: " : "not ready: ";
          for (size_t i = 0; i < bad.size(); ++i) body += (i ? ", " : "") + bad[i];
          return respond({503, "text/plain; charset=utf-8", body + "\n"});
        }
        if (path == "/metrics") {
          if (metrics_cache.text &&
              std::chrono::steady_clock::now() - metrics_cache.at < std::chrono::seconds(1))
            return respond({200, kMetricsType, *metrics_cache.text});
          metrics_cache.waiting.push_back(std::move(respond));
          if (metrics_cache.waiting.size() > 1) return;  // joins the collection in flight
          table->CollectMetrics(std::chrono::milliseconds(2000), [&](std::vector<metrics::Family> f) {
            metrics::Registry own;
            table->AddMetrics(own);
            metrics::Merge(f, own.Snapshot());
            metrics_cache.text = metrics::RenderText(std::move(f));
            metrics_cache.at = std::chrono::steady_clock::now();
            auto waiting = std::move(metrics_cache.waiting);
            metrics_cache.waiting.clear();
            for (auto& r : waiting) r({200, kMetricsType, *metrics_cache.text});
            malloc_trim(0);  // the merged snapshot of thousands of peers was large and is gone now
          });
          return;
        }
        respond({404, "text/plain; charset=utf-8", "not found; try /livez, /healthz, /readyz or /metrics\n"});
      });
  if (!http.ok()) {
    log::Error(http.error().message, {{"listen_address", o.listen_address}});
    return kExitFailure;
  }
  log::Info("serving health and metrics",
            {{"address", o.listen_address}, {"port", std::to_string((*http)->port())}});

  auto control = supervisor::ControlServer::Start(
      loop, o.control_socket, [&](std::string_view request, const supervisor::ControlServer::Reply& reply) {
        json_error_t err;
        JsonPtr req(json_loadb(request.data(), request.size(), 0, &err));
        auto command = req ? JsonString(req.get(), "command") : std::nullopt;
        if (command && *command == "rotate-key") {
          auto remote = JsonString(req.get(), "remote");
          table->RotateKey(remote ? std::string(*remote) : "", std::chrono::milliseconds(10000), reply);
          return;
        }
        bool verbose = req && json_is_true(json_object_get(req.get(), "verbose"));
        // Both ask the workers, so that the handshakes shown are the device's now; a worker that does not
        // answer in time is shown as its last heartbeat said.
        table->CollectDetail(
            std::chrono::milliseconds(3000),
            [&, reply](std::vector<RemoteView> detail) {
              NodeView v = view;
              v.remotes = std::move(detail);
              reply(NodeViewToJson(v, false));
            },
            verbose);
      });
  if (!control.ok()) {
    log::Error(control.error().message, {{"path", o.control_socket}});
    return kExitFailure;
  }

  notifier = std::make_unique<systemd::Notifier>(loop);
  if (!o.mirror) bus = systemd::BusPublisher::Start(loop, view);  // the agent's D-Bus object only

  bool stopping = false;
  Signals signals(loop, [&](int sig) {
    if (sig == SIGHUP) {
      log::Info(
          "SIGHUP: configuration reload is not supported; restart the service to apply a new configuration");
      return;
    }
    if (stopping) return;
    stopping = true;
    log::Info(o.mirror ? "stopping workers; each gives its Leases up"
                       : "stopping workers; the network configuration stays as it is",
              {{"signal", std::string("SIG") + sigabbrev_np(sig)}});
    if (notifier) notifier->Stopping();
    table->Stop([&] { loop.Stop(); });
  });

  // A /metrics scrape of thousands of peers parses and renders megabytes: give the free pages back (see
  // common/memory.h); the scrape's own malloc_trim runs while its text is still held. The text is only
  // served again within a second: it is not kept until the next scrape (3.6 MB at 5,000 peers).
  memory::ReleaseTimer releaser(loop, 1024 * 1024, std::chrono::seconds(10), [&metrics_cache] {
    if (metrics_cache.text &&
        std::chrono::steady_clock::now() - metrics_cache.at >= std::chrono::seconds(1)) {
      metrics_cache.text.reset();
    }
  });

  table->Start();
  loop.Run();
  log::Info("stopped");
  bus.reset();
  control->reset();
  http->reset();
  table.reset();
  return kExitOk;
}

}  // namespace swg
