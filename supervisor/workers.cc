#include "supervisor/workers.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cstring>
#include <map>

#include "common/channel.h"
#include "common/duration.h"
#include "common/json.h"
#include "common/keys.h"
#include "common/log.h"
#include "common/exit_codes.h"

namespace swg::supervisor {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

struct ProcHandle {
  uv_process_t process;
  WorkerTable* table = nullptr;
  WorkerTable::Slot* slot = nullptr;
};

void CloseProcHandle(ProcHandle* h) {
  h->table = nullptr;
  h->slot = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&h->process),
           [](uv_handle_t* handle) { delete static_cast<ProcHandle*>(handle->data); });
}

std::string DescribeExit(int64_t exit_status, int term_signal) {
  if (term_signal != 0) {
    const char* name = sigabbrev_np(term_signal);
    return std::string("killed by signal ") + std::to_string(term_signal) + (name ? std::string(" (SIG") + name + ")" : "");
  }
  return "exited with code " + std::to_string(exit_status);
}

// The config a worker gets: the local cluster and its own remote only.
std::string StartMessage(const Config& config, const RemoteConfig& remote) {
  Config mine;
  mine.local = config.local;
  mine.remotes.push_back(remote);
  return "{\"type\":\"start\",\"config\":" + ConfigToJson(mine, false) + "}";
}

// What identifies one version of a file: a rewrite, a rename over it or a removal changes it.
std::string FileSignature(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return "missing";
  return std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
         std::to_string(st.st_ctim.tv_sec) + "." + std::to_string(st.st_ctim.tv_nsec);
}

}  // namespace

struct WorkerTable::Slot {
  enum class State { kIdle, kRunning, kWaitingRestart, kFailed, kStopped };
  explicit Slot(Loop& loop, RemoteConfig r, const Backoff::Options& backoff_options)
      : remote(std::move(r)), backoff(backoff_options), restart_timer(loop), grace_timer(loop) {
    status.remote = remote.name;
    status.interface = remote.InterfaceName();
    status.listen_port = remote.wg_listen_port;
  }
  RemoteConfig remote;
  State state = State::kIdle;
  ProcHandle* proc = nullptr;
  int pid = 0;
  std::unique_ptr<Channel> channel;
  Clock::time_point last_heard{};
  bool heard = false;
  bool kill_sent = false;
  WorkerStatus status;
  uint64_t restarts = 0;
  std::string note;
  Backoff backoff;
  Timer restart_timer;
  Timer grace_timer;             // after the channel closed: kill the worker if it does not exit by itself
  std::string key_file;          // watched while failed
  std::string key_signature;     // the key file as it was when the worker failed
  std::map<uint64_t, std::function<void(const json_t*)>> pending;  // request id -> reply handler

  void FailPending() {
    auto p = std::move(pending);
    pending.clear();
    for (auto& [id, cb] : p) cb(nullptr);
  }
};

WorkerTable::WorkerTable(Loop& loop, Config config, WorkerOptions options, std::function<void()> on_change)
    : loop_(loop),
      config_(std::move(config)),
      options_(std::move(options)),
      on_change_(std::move(on_change)),
      heartbeat_timer_(loop),
      key_timer_(loop),
      stop_timer_(loop) {
  for (const auto& r : config_.remotes) slots_.push_back(std::make_unique<Slot>(loop, r, options_.restart_backoff));
}

WorkerTable::~WorkerTable() {
  for (auto& s : slots_) {
    s->channel.reset();
    if (s->proc) CloseProcHandle(s->proc);
    s->proc = nullptr;
  }
}

void WorkerTable::Start() {
  for (auto& s : slots_) Spawn(*s);
  heartbeat_timer_.StartRepeating(milliseconds(1000), [this] { CheckHeartbeats(); });
  if (!options_.key_dir.empty()) {
    key_timer_.StartRepeating(options_.key_watch_interval, [this] { CheckFailedKeys(); });
  }
}

bool WorkerTable::OwnsPid(pid_t pid) const {
  for (const auto& s : slots_) {
    if (s->proc && s->pid == pid) return true;
  }
  return false;
}

void WorkerTable::CheckFailedKeys() {
  for (auto& s : slots_) {
    if (s->state != Slot::State::kFailed || s->key_file.empty()) continue;
    if (FileSignature(s->key_file) == s->key_signature) continue;
    log::Info("the key file changed; starting the failed worker again",
              {{"remote", s->remote.name}, {"path", s->key_file}});
    s->restarts++;
    Spawn(*s);
  }
}

void WorkerTable::Spawn(Slot& slot) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    slot.note = std::string("cannot create a socketpair: ") + strerror(errno);
    log::Error("cannot start worker", {{"remote", slot.remote.name}, {"error", slot.note}});
    slot.state = Slot::State::kWaitingRestart;
    slot.restart_timer.Start(slot.backoff.Next(), [this, &slot] { Spawn(slot); });
    return;
  }
  // The worker watches for this pid as its parent: in a container the supervisor is PID 1, so "reparented to
  // init" cannot be told from getppid() == 1.
  std::vector<std::string> args = {options_.executable, "worker",          "-remote",
                                   slot.remote.name,    "-channel-fd",     "3",
                                   "-supervisor-pid",   std::to_string(getpid())};
  args.insert(args.end(), options_.common_args.begin(), options_.common_args.end());
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = 1;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  stdio[3].flags = UV_INHERIT_FD;
  stdio[3].data.fd = sv[1];
  uv_process_options_t po{};
  po.file = options_.executable.c_str();
  po.args = argv.data();
  po.stdio = stdio;
  po.stdio_count = 4;
  po.exit_cb = [](uv_process_t* p, int64_t exit_status, int term_signal) {
    auto* h = static_cast<ProcHandle*>(p->data);
    if (h->table && h->slot) h->table->OnExit(*h->slot, exit_status, term_signal);
  };
  auto* h = new ProcHandle;
  h->table = this;
  h->slot = &slot;
  h->process.data = h;
  int rc = uv_spawn(loop_.uv(), &h->process, &po);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    CloseProcHandle(h);
    slot.note = std::string("cannot start ") + options_.executable + ": " + uv_strerror(rc);
    auto delay = slot.backoff.Next();
    log::Error("cannot start worker", {{"remote", slot.remote.name}, {"error", slot.note},
                                       {"retry_in", FormatDuration(delay)}});
    slot.state = Slot::State::kWaitingRestart;
    slot.restart_timer.Start(delay, [this, &slot] { Spawn(slot); });
    if (on_change_) on_change_();
    return;
  }
  slot.proc = h;
  slot.pid = h->process.pid;
  slot.state = Slot::State::kRunning;
  slot.heard = false;
  slot.kill_sent = false;
  slot.last_heard = Clock::now();
  slot.note.clear();
  slot.status = WorkerStatus{};
  slot.status.remote = slot.remote.name;
  slot.status.interface = slot.remote.InterfaceName();
  slot.status.listen_port = slot.remote.wg_listen_port;
  slot.status.pid = slot.pid;
  slot.channel = std::make_unique<Channel>(
      loop_, sv[0], [this, &slot](std::string_view m) { OnMessage(slot, m); },
      [this, &slot](const std::string& reason) {
        // The worker closed its end: it is exiting or broken. Make sure it is gone; OnExit restarts it.
        slot.FailPending();
        // While stopping, workers close their end as they exit on SIGTERM: nothing to do. Otherwise the worker
        // is usually exiting (a configuration error closes the channel just before exit 78): give it a moment,
        // so that its own exit code decides between "failed" and "restart", then make sure it is gone.
        if (stopping_ || slot.state != Slot::State::kRunning || slot.pid <= 0 || slot.kill_sent) return;
        const int pid = slot.pid;
        slot.grace_timer.Start(options_.channel_close_grace, [this, &slot, pid, reason] {
          if (slot.state != Slot::State::kRunning || slot.pid != pid || slot.kill_sent) return;
          log::Warn("worker channel closed and the worker did not exit; killing it",
                    {{"remote", slot.remote.name}, {"pid", std::to_string(pid)}, {"reason", reason}});
          slot.kill_sent = true;
          kill(pid, SIGKILL);
        });
      });
  slot.channel->Send(StartMessage(config_, slot.remote));
  log::Info("worker started", {{"remote", slot.remote.name}, {"pid", std::to_string(slot.pid)}});
  if (on_change_) on_change_();
}

void WorkerTable::OnExit(Slot& slot, int64_t exit_status, int term_signal) {
  std::string cause = DescribeExit(exit_status, term_signal);
  int pid = slot.pid;
  CloseProcHandle(slot.proc);
  slot.proc = nullptr;
  slot.pid = 0;
  slot.channel.reset();
  slot.grace_timer.Stop();
  slot.FailPending();
  slot.status.initialised = false;
  slot.status.synced = false;
  slot.status.pid = 0;
  if (stopping_) {
    slot.state = Slot::State::kStopped;
    log::Info("worker stopped", {{"remote", slot.remote.name}, {"pid", std::to_string(pid)}, {"cause", cause}});
    bool all = true;
    for (auto& s : slots_) all = all && s->proc == nullptr;
    if (all && stop_done_) {
      stop_timer_.Stop();
      auto done = std::move(stop_done_);
      stop_done_ = nullptr;
      done();
    }
    return;
  }
  // The worker says "failed" in its last status before it exits 78; either tells a configuration error.
  if ((term_signal == 0 && exit_status == kExitConfig) || slot.status.state == "failed") {
    slot.state = Slot::State::kFailed;
    if (slot.status.last_error.empty()) slot.status.last_error = "configuration error";
    slot.status.state = "failed";
    slot.key_file = options_.key_dir.empty() ? "" : KeyFilePath(options_.key_dir, slot.remote.name);
    slot.key_signature = slot.key_file.empty() ? "" : FileSignature(slot.key_file);
    slot.note = "configuration error (exit code " + std::to_string(kExitConfig) + "); not restarted" +
                (slot.key_file.empty() ? "" : " until " + slot.key_file + " changes");
    log::Error("worker failed with a configuration error; not restarting it until its key file changes",
               {{"remote", slot.remote.name}, {"pid", std::to_string(pid)}, {"error", slot.status.last_error}});
    if (on_change_) on_change_();
    return;
  }
  auto delay = slot.backoff.Next();
  slot.state = Slot::State::kWaitingRestart;
  slot.status.state = "restarting";
  slot.note = cause + "; restarting in " + FormatDuration(delay);
  log::Warn("worker exited; restarting it", {{"remote", slot.remote.name},
                                             {"pid", std::to_string(pid)},
                                             {"cause", cause},
                                             {"restart_in", FormatDuration(delay)}});
  slot.restart_timer.Start(delay, [this, &slot] {
    slot.restarts++;
    Spawn(slot);
  });
  if (on_change_) on_change_();
}

void WorkerTable::OnMessage(Slot& slot, std::string_view message) {
  slot.last_heard = Clock::now();
  slot.heard = true;
  json_error_t err;
  JsonPtr msg(json_loadb(message.data(), message.size(), 0, &err));
  auto type = msg ? JsonString(msg.get(), "type") : std::nullopt;
  if (!type) {
    log::Warn("ignoring a malformed message from a worker", {{"remote", slot.remote.name}});
    return;
  }
  if (*type == "status") {
    WorkerStatus st;
    std::string error;
    if (!StatusFromJsonValue(json_object_get(msg.get(), "status"), &st, &error)) {
      log::Warn("ignoring a malformed status from a worker", {{"remote", slot.remote.name}, {"error", error}});
      return;
    }
    st.pid = slot.pid;
    st.remote = slot.remote.name;
    bool changed = !(st == slot.status);
    slot.status = std::move(st);
    // The restart backoff is not reset here: a worker that reports and then crashes again and again must
    // back off. Backoff::Next() starts from the short delay once a worker ran for 2 minutes without a crash.
    if (changed && on_change_) on_change_();
    return;
  }
  json_t* id = json_object_get(msg.get(), "id");
  if (json_is_integer(id)) {
    auto it = slot.pending.find(static_cast<uint64_t>(json_integer_value(id)));
    if (it != slot.pending.end()) {
      auto cb = std::move(it->second);
      slot.pending.erase(it);
      cb(msg.get());
    }
  }
}

void WorkerTable::CheckHeartbeats() {
  auto now = Clock::now();
  for (auto& s : slots_) {
    if (s->state != Slot::State::kRunning || s->kill_sent) continue;
    if (now - s->last_heard > options_.heartbeat_timeout) {
      auto silent = std::chrono::duration_cast<milliseconds>(now - s->last_heard);
      log::Warn("worker is hung: no heartbeat; killing it",
                {{"remote", s->remote.name}, {"pid", std::to_string(s->pid)}, {"silent_for", FormatDuration(silent)}});
      s->note = "hung: no heartbeat for " + FormatDuration(silent);
      s->kill_sent = true;
      kill(s->pid, SIGKILL);
    }
  }
}

void WorkerTable::Stop(std::function<void()> done) {
  stopping_ = true;
  heartbeat_timer_.Stop();
  key_timer_.Stop();
  stop_done_ = std::move(done);
  bool any = false;
  for (auto& s : slots_) {
    s->restart_timer.Stop();
    if (s->proc && s->pid > 0) {
      kill(s->pid, SIGTERM);
      any = true;
    } else {
      s->state = Slot::State::kStopped;
    }
  }
  if (!any) {
    auto cb = std::move(stop_done_);
    stop_done_ = nullptr;
    if (cb) cb();
    return;
  }
  stop_timer_.Start(options_.stop_timeout, [this] {
    for (auto& s : slots_) {
      if (s->proc && s->pid > 0) {
        log::Warn("worker did not stop in time; killing it", {{"remote", s->remote.name}, {"pid", std::to_string(s->pid)}});
        kill(s->pid, SIGKILL);
      }
    }
  });
}

std::vector<RemoteView> WorkerTable::View() const {
  std::vector<RemoteView> out;
  for (const auto& s : slots_) {
    RemoteView v;
    v.status = s->status;
    v.worker_up = s->state == Slot::State::kRunning && s->heard && !s->kill_sent;
    v.failed = s->state == Slot::State::kFailed;
    v.restarts = s->restarts;
    v.worker_note = s->note;
    if (s->state == Slot::State::kRunning && !s->heard) v.worker_note = "started, no heartbeat yet";
    out.push_back(std::move(v));
  }
  return out;
}

namespace {

// One request sent to several workers: replies are handed on as they come, and `done` runs once, when every
// worker answered (or died) or when the timeout passed.
struct Fanout {
  explicit Fanout(Loop& loop) : timer(loop) {}
  Timer timer;
  size_t outstanding = 0;
  bool finished = false;
  std::function<void()> done;
  std::vector<std::pair<std::map<uint64_t, std::function<void(const json_t*)>>*, uint64_t>> asked;  // pending maps
  void Finish() {
    if (finished) return;
    finished = true;
    timer.Stop();
    auto cb = std::move(done);
    cb();
  }
};

}  // namespace

void WorkerTable::AskAll(const std::string& type, milliseconds timeout,
                         std::function<void(const std::string& remote, const json_t* reply)> on_reply,
                         std::function<void()> done) {
  auto f = std::make_shared<Fanout>(loop_);
  f->done = std::move(done);
  auto shared_reply = std::make_shared<decltype(on_reply)>(std::move(on_reply));
  for (auto& s : slots_) {
    if (s->state != Slot::State::kRunning || !s->channel || !s->heard) continue;
    uint64_t id = next_request_id_++;
    std::string name = s->remote.name;
    s->pending[id] = [f, shared_reply, name](const json_t* reply) {
      if (reply && !f->finished) (*shared_reply)(name, reply);
      if (--f->outstanding == 0) f->Finish();
    };
    f->outstanding++;
    f->asked.emplace_back(&s->pending, id);
    s->channel->Send("{\"type\":\"" + type + "\",\"id\":" + std::to_string(id) + "}");
  }
  if (f->outstanding == 0) {
    f->Finish();
    return;
  }
  // At the timeout, the handlers of requests a worker never answered are dropped, so a worker that ignores
  // requests cannot grow the supervisor (slots live as long as the table, so the maps do too).
  f->timer.Start(timeout, [f, table_alive = std::weak_ptr<int>(alive_)] {
    if (table_alive.expired()) return;  // the table (and the maps) went first: nothing left to tell
    for (auto [pending, id] : f->asked) pending->erase(id);
    f->Finish();
  });
}

void WorkerTable::CollectMetrics(milliseconds timeout, std::function<void(std::vector<metrics::Family>)> done) {
  auto merged = std::make_shared<std::vector<metrics::Family>>();
  AskAll(
      "metrics_request", timeout,
      [merged](const std::string& remote, const json_t* reply) {
        std::vector<metrics::Family> families;
        std::string error;
        if (metrics::FromJsonValue(json_object_get(reply, "families"), &families, &error)) {
          metrics::Merge(*merged, families);
        } else {
          log::Warn("ignoring malformed metrics from a worker", {{"remote", remote}, {"error", error}});
        }
      },
      [merged, done = std::move(done)] { done(std::move(*merged)); });
}

void WorkerTable::CollectDetail(milliseconds timeout, std::function<void(std::vector<RemoteView>)> done) {
  auto details = std::make_shared<std::vector<WorkerStatus>>();
  AskAll(
      "detail_request", timeout,
      [details](const std::string& remote, const json_t* reply) {
        WorkerStatus st;
        std::string error;
        if (StatusFromJsonValue(json_object_get(reply, "status"), &st, &error)) {
          st.remote = remote;
          details->push_back(std::move(st));
        }
      },
      [this, details, done = std::move(done)] {
        std::vector<RemoteView> view = View();
        for (auto& v : view) {
          for (auto& d : *details) {
            if (d.remote == v.status.remote) {
              v.status.peer_list = std::move(d.peer_list);
              v.status.rejected_list = std::move(d.rejected_list);
            }
          }
        }
        done(std::move(view));
      });
}

void WorkerTable::AddMetrics(metrics::Registry& r) const {
  r.Gauge("semaphore_wg_worker_up", "Whether the worker for a remote cluster is running and reporting (1) or not (0)",
          {"remote"});
  r.Counter("semaphore_wg_worker_restarts_total", "Times the worker for a remote cluster was restarted", {"remote"});
  r.Gauge("semaphore_wg_worker_failed",
          "Whether the worker for a remote cluster stopped with a configuration error and is not restarted",
          {"remote"});
  r.Gauge("semaphore_wg_worker_requests_pending",
          "Requests to the worker for a remote cluster (scrapes, status -v) that await its answer", {"remote"});
  for (const auto& s : slots_) {
    r.Set("semaphore_wg_worker_requests_pending", {s->remote.name}, static_cast<double>(s->pending.size()));
  }
  for (const auto& v : View()) {
    r.Set("semaphore_wg_worker_up", {v.status.remote}, v.worker_up ? 1 : 0);
    r.Set("semaphore_wg_worker_restarts_total", {v.status.remote}, static_cast<double>(v.restarts));
    r.Set("semaphore_wg_worker_failed", {v.status.remote}, v.failed ? 1 : 0);
  }
}

}  // namespace swg::supervisor
