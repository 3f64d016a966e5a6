#include "supervisor/status_format.h"

#include <algorithm>
#include <vector>

#include "common/strings.h"

namespace swg::supervisor {
namespace {

// Every cell holds data from workers and remote clusters (node names, errors, rejection messages): control
// characters and newlines are escaped as in the logs, so that a cell cannot forge rows or drive the terminal.
std::string Table(std::vector<std::vector<std::string>> rows) {
  for (auto& r : rows) {
    for (auto& cell : r) cell = EscapeControl(cell);
  }
  std::vector<size_t> width;
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line.append(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string Handshakes(const WorkerStatus& s, int64_t now) {
  if (s.peers == 0) return "-";
  std::string out;
  if (s.newest_handshake > 0) {
    std::string newest = FormatAge(std::max<int64_t>(0, now - s.newest_handshake));
    std::string oldest = FormatAge(std::max<int64_t>(0, now - s.oldest_handshake));
    out = newest == oldest ? newest : newest + ".." + oldest;
  }
  if (s.peers_without_handshake > 0) {
    std::string never = std::to_string(s.peers_without_handshake) + " never";
    out = out.empty() ? never : out + " (" + never + ")";
  }
  return out.empty() ? "-" : out;
}

std::string Bytes(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

std::string FormatAge(int64_t s) {
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  if (s < 86400) return std::to_string(s / 3600) + "h" + std::to_string(s % 3600 / 60) + "m";
  return std::to_string(s / 86400) + "d" + std::to_string(s % 86400 / 3600) + "h";
}

namespace {
std::string RejectedTable(const WorkerStatus& s) {
  std::string out =
      EscapeControl(s.remote) + ": " + std::to_string(s.rejected_list.size()) + " rejected node(s)\n";
  if (s.rejected_list.empty()) return out;
  std::vector<std::vector<std::string>> rows = {{"  NODE", "REASON", "DETAIL"}};
  for (const auto& x : s.rejected_list) rows.push_back({"  " + x.node, x.reason, x.message});
  return out + Table(rows);
}

// `semaphore-wireguard mirror`: per remote, its role and the records it keeps.
std::string FormatMirrorStatus(const NodeView& view, bool verbose) {
  std::string out = "mirror " + EscapeControl(view.node) + " (cluster " + EscapeControl(view.local_cluster) +
                    "), semaphore-wireguard " + EscapeControl(view.version) + ": " +
                    (view.Healthy() ? "healthy" : "NOT healthy") + ", " +
                    (view.Ready() ? "ready" : "not ready") + "\n\n";
  std::vector<std::vector<std::string>> rows = {
      {"REMOTE", "STATE", "LEADER", "RECORDS", "REJECTED", "WATCH", "RESTARTS", "LAST ERROR"}};
  for (const auto& r : view.remotes) {
    const WorkerStatus& s = r.status;
    std::string state = r.failed ? "failed" : (r.worker_up ? s.state : "down");
    if (!s.reason.empty() && state == "degraded") state += " (" + s.reason + ")";
    std::string error = s.last_error;
    if (!r.worker_up && !r.worker_note.empty()) error = r.worker_note;
    if (r.failed && !s.last_error.empty()) error = s.last_error;
    rows.push_back({s.remote, state, s.leader.empty() ? "-" : s.leader, std::to_string(s.peers),
                    std::to_string(s.rejected), s.watch.empty() ? "-" : s.watch, std::to_string(r.restarts),
                    error.empty() ? "-" : error});
  }
  out += Table(rows);
  if (!verbose) return out;
  for (const auto& r : view.remotes) {
    const WorkerStatus& s = r.status;
    out += "\n" + RejectedTable(s);
  }
  return out;
}
}  // namespace

std::string FormatStatus(const NodeView& view, bool verbose, int64_t now) {
  if (view.mode == "mirror") return FormatMirrorStatus(view, verbose);
  std::string out = "node " + EscapeControl(view.node) + " (cluster " + EscapeControl(view.local_cluster) +
                    "), semaphore-wireguard " + EscapeControl(view.version) + ": " +
                    (view.Healthy() ? "healthy" : "NOT healthy") + ", " +
                    (view.Ready() ? "ready" : "not ready") + "\n\n";
  std::vector<std::vector<std::string>> rows = {{"REMOTE", "STATE", "INTERFACE", "BACKEND", "PORT",
                                                 "PUBLIC KEY", "PEERS", "REJECTED", "HANDSHAKES", "WATCH",
                                                 "RESTARTS", "LAST ERROR"}};
  for (const auto& r : view.remotes) {
    const WorkerStatus& s = r.status;
    std::string state = s.state;
    if (r.failed)
      state = "failed";
    else if (!r.worker_up)
      state = "down";
    if (!s.reason.empty() && state == "degraded") state += " (" + s.reason + ")";
    std::string error = s.last_error;
    if (!r.worker_up && !r.worker_note.empty()) error = r.worker_note;
    if (r.failed && !s.last_error.empty())
      error = s.last_error;  // the file and the reason, not only "failed"
    rows.push_back({s.remote, state, s.interface.empty() ? "-" : s.interface,
                    s.backend.empty() ? "-" : s.backend, s.listen_port ? std::to_string(s.listen_port) : "-",
                    s.public_key.empty() ? "-" : s.public_key, std::to_string(s.peers),
                    std::to_string(s.rejected), Handshakes(s, now), s.watch.empty() ? "-" : s.watch,
                    std::to_string(r.restarts), error.empty() ? "-" : error});
  }
  out += Table(rows);
  if (!verbose) return out;
  for (const auto& r : view.remotes) {
    const WorkerStatus& s = r.status;
    out += "\n" + EscapeControl(s.remote) + ": advertises " +
           (s.endpoint.empty() ? "-" : EscapeControl(s.endpoint)) +
           (s.endpoint_source.empty() ? "" : " (" + EscapeControl(s.endpoint_source) + ")") + ", MTU " +
           (s.mtu ? std::to_string(s.mtu) + " (" + EscapeControl(s.mtu_source) + ")" : "-") + "\n";
    out += EscapeControl(s.remote) + ": " + std::to_string(s.peer_list.size()) + " peer(s)\n";
    if (!s.peer_list.empty()) {
      std::vector<std::vector<std::string>> prow = {
          {"  NODE", "PUBLIC KEY", "ENDPOINT", "ALLOWED IPS", "HANDSHAKE", "RECEIVED", "SENT"}};
      for (const auto& p : s.peer_list) {
        std::string ips;
        for (const auto& ip : p.allowed_ips) ips += (ips.empty() ? "" : ",") + ip;
        prow.push_back(
            {"  " + p.node, p.public_key, p.endpoint.empty() ? "-" : p.endpoint, ips.empty() ? "-" : ips,
             p.last_handshake > 0 ? FormatAge(std::max<int64_t>(0, now - p.last_handshake)) + " ago"
                                  : "never",
             Bytes(p.rx_bytes), Bytes(p.tx_bytes)});
      }
      out += Table(prow);
    }
    out += RejectedTable(s);
  }
  return out;
}

}  // namespace swg::supervisor
