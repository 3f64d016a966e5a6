#include "worker/worker_parts.h"

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>

#include "common/memory.h"
#include "systemd/journal.h"

namespace swg::worker {

bool EnterWorkerProcess(const char* program, const std::string& remote, log::Level level, log::Format format,
                        uint64_t supervisor_pid) {
  systemd::ConfigureLogging(level, format, "semaphore-wireguard");
  log::SetBaseFields({{"remote", remote}});
  // If the supervisor dies, so do we (the channel closing tells us too; this covers a stuck loop). The check
  // after prctl closes the race with a supervisor that died before it; the supervisor may itself be PID 1.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != static_cast<pid_t>(supervisor_pid)) {
    std::fprintf(stderr, "%s: the supervisor (pid %llu) is gone; exiting\n", program,
                 static_cast<unsigned long long>(supervisor_pid));
    return false;
  }
  signal(SIGPIPE, SIG_IGN);
  // One arena: the worker's loop is one thread (curl's resolver threads allocate a little).
  memory::ConfigureMalloc(1);
  return true;
}

Result<std::unique_ptr<k8s::Client>> CreateCountedClient(Loop& loop, const std::string& cluster,
                                                         const k8s::ClusterSource& source,
                                                         const k8s::ClientOptions& options,
                                                         metrics::Registry& registry) {
  registry.Counter(kHttpRequests,
                   "Total number of HTTP requests to the Kubernetes API by host, code and method",
                   {"host", "code", "method"});
  auto client = k8s::Client::Create(loop, cluster, source, options);
  if (!client.ok()) return std::move(client).error();
  (*client)->SetRequestObserver([&registry](std::string_view method, std::string_view host, int code) {
    registry.Add(kHttpRequests, {std::string(host), std::to_string(code), std::string(method)});
  });
  return client;
}

void SetWatcherFailures(metrics::Registry& m, const std::string& cluster, const k8s::NodeInformer& informer) {
  auto st = informer.status();
  m.Set("semaphore_wg_node_watcher_failures_total", {cluster, "list"}, static_cast<double>(st.list_failures));
  m.Set("semaphore_wg_node_watcher_failures_total", {cluster, "watch"},
        static_cast<double>(st.watch_failures));
}

void SetWatchEvents(metrics::Registry& m, const std::string& remote, const k8s::NodeInformer& informer) {
  auto st = informer.status();
  m.Set("semaphore_wg_watch_events_total", {remote, "added"}, static_cast<double>(st.added));
  m.Set("semaphore_wg_watch_events_total", {remote, "modified"}, static_cast<double>(st.modified));
  m.Set("semaphore_wg_watch_events_total", {remote, "deleted"}, static_cast<double>(st.deleted));
  m.Set("semaphore_wg_watch_events_total", {remote, "bookmark"}, static_cast<double>(st.bookmarks));
  m.Set("semaphore_wg_watch_relists_total", {remote}, static_cast<double>(st.relists));
}

}  // namespace swg::worker
