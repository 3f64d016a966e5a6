#pragma once
// What the agent's worker (worker.h) and the mirror's (mirror_worker.h) share: the worker process's set-up, a
// Kubernetes client counted in semaphore_wg_kube_http_request_total, and the remote watch's metrics.

#include <cstdint>
#include <memory>
#include <string>

#include "common/log.h"
#include "common/loop.h"
#include "common/metrics.h"
#include "common/result.h"
#include "k8s/client.h"
#include "k8s/informer.h"

namespace swg::worker {

inline constexpr const char* kHttpRequests = "semaphore_wg_kube_http_request_total";

// Logging for `remote`, the parent-death signal, SIGPIPE ignored and one malloc arena. False (said on stderr)
// when the supervisor is already gone: the worker must exit.
bool EnterWorkerProcess(const char* program, const std::string& remote, log::Level level, log::Format format,
                        uint64_t supervisor_pid);

// Declares semaphore_wg_kube_http_request_total in `registry`, and creates a client whose every request
// counts there (the registry must outlive the client).
Result<std::unique_ptr<k8s::Client>> CreateCountedClient(Loop& loop, const std::string& cluster,
                                                         const k8s::ClusterSource& source,
                                                         const k8s::ClientOptions& options,
                                                         metrics::Registry& registry);

// semaphore_wg_node_watcher_failures_total{cluster, verb} of one informer.
void SetWatcherFailures(metrics::Registry& registry, const std::string& cluster,
                        const k8s::NodeInformer& informer);
// semaphore_wg_watch_events_total{remote, type} and semaphore_wg_watch_relists_total{remote}.
void SetWatchEvents(metrics::Registry& registry, const std::string& remote,
                    const k8s::NodeInformer& informer);

}  // namespace swg::worker
