#pragma once
// The process table: one worker process per remote cluster, each with a socketpair channel. A worker that
// crashes, exits or stops sending heartbeats is killed if needed and restarted with exponential backoff and
// jitter; one that exits with the configuration-error code is reported failed and left alone. Workers are
// independent: nothing that happens to one touches another.

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/backoff.h"
#include "common/config.h"
#include "common/health.h"
#include "common/loop.h"
#include "common/metrics.h"

struct json_t;

namespace swg::supervisor {

struct WorkerOptions {
  std::string executable;                // what to exec: the worker program, as /proc/self/fd/N
  std::string program_name;              // its argv[0] (ps shows it): the path it was opened as
  std::string subcommand = "worker";     // its hidden mode: "worker" (agent) or "mirror-worker"
  std::vector<std::string> common_args;  // after "worker": flags every worker gets (-node-name, ...)
  // Where the workers keep their keys: a worker that failed with a configuration error (a corrupt key file)
  // is started again once its key file changes.
  std::string key_dir;
  std::chrono::milliseconds key_watch_interval{2000};
  // A worker whose channel closed gets this long to exit on its own before it is killed, so that its exit
  // code (78: configuration error) is what the supervisor sees.
  std::chrono::milliseconds channel_close_grace{3000};
  std::chrono::milliseconds heartbeat_timeout{10000};
  std::chrono::milliseconds stop_timeout{5000};  // SIGTERM, then SIGKILL after this
  Backoff::Options restart_backoff{std::chrono::milliseconds(1000), 2.0, std::chrono::milliseconds(60000), 0.3,
                                   std::chrono::milliseconds(120000)};
};

class WorkerTable {
 public:
  // on_change runs (on the loop) whenever a worker's view changes: started, exited, new state.
  WorkerTable(Loop& loop, Config config, WorkerOptions options, std::function<void()> on_change);
  ~WorkerTable();
  WorkerTable(const WorkerTable&) = delete;
  WorkerTable& operator=(const WorkerTable&) = delete;

  void Start();
  // SIGTERM to every worker, SIGKILL to those still alive after stop_timeout; done() once all have exited.
  void Stop(std::function<void()> done);

  std::vector<RemoteView> View() const;
  // Asks every live worker; done() gets what arrived within `timeout` (a dead or slow worker is left out).
  void CollectMetrics(std::chrono::milliseconds timeout, std::function<void(std::vector<metrics::Family>)> done);
  // The view with each answering worker's status read fresh (the handshakes from the device now, not from the
  // last heartbeat); `lists`: also every peer and rejected node.
  void CollectDetail(std::chrono::milliseconds timeout, std::function<void(std::vector<RemoteView>)> done,
                     bool lists = true);
  // rotate-key: asks the remote's worker to rotate its key; done() gets the answer for the client, a JSON
  // object {"ok":true,"remote":..,"old_public_key":..,"new_public_key":..} or {"ok":false,"error":..}.
  void RotateKey(const std::string& remote, std::chrono::milliseconds timeout,
                 std::function<void(std::string)> done);
  // semaphore_wg_worker_up{remote} and semaphore_wg_worker_restarts_total{remote}.
  void AddMetrics(metrics::Registry& registry) const;
  // Whether pid is a worker this table started (libuv waits for those; nobody else may).
  bool OwnsPid(pid_t pid) const;

  struct Slot;  // per remote; defined in workers.cc

 private:
  void Spawn(Slot& slot);
  void OnExit(Slot& slot, int64_t exit_status, int term_signal);
  void OnMessage(Slot& slot, std::string_view message);
  void CheckHeartbeats();
  void CheckFailedKeys();
  // Sends {"type":TYPE,"id":N} to every live worker (or only to remote `only`); on_reply(remote, reply) per
  // answer; done() once all answered, died or `timeout` passed.
  void AskAll(const std::string& type, std::chrono::milliseconds timeout,
              std::function<void(const std::string& remote, const json_t* reply)> on_reply,
              std::function<void()> done, const std::string& only = "");

  Loop& loop_;
  Config config_;
  WorkerOptions options_;
  std::function<void()> on_change_;
  void AddProcessMetrics(metrics::Registry& r) const;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // weakly held by callbacks that may outlive the table
  Timer heartbeat_timer_;
  Timer key_timer_;
  Timer stop_timer_;
  std::function<void()> stop_done_;
  bool stopping_ = false;
  uint64_t next_request_id_ = 1;
};

}  // namespace swg::supervisor
