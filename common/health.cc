#include "common/health.h"

#include "common/json.h"
#include "common/strings.h"

namespace swg {
namespace {

json_t* Str(const std::string& s) { return json_stringn(s.data(), s.size()); }

std::string GetStr(const json_t* o, const char* key) {
  const json_t* v = json_object_get(o, key);
  return json_is_string(v) ? std::string(json_string_value(v), json_string_length(v)) : std::string();
}

int64_t GetInt(const json_t* o, const char* key) {
  const json_t* v = json_object_get(o, key);
  return json_is_integer(v) ? static_cast<int64_t>(json_integer_value(v)) : 0;
}

bool GetBool(const json_t* o, const char* key) { return json_is_true(json_object_get(o, key)); }

json_t* StatusObject(const WorkerStatus& s) {
  json_t* o = json_object();
  json_object_set_new(o, "remote", Str(s.remote));
  json_object_set_new(o, "state", Str(s.state));
  json_object_set_new(o, "reason", Str(s.reason));
  json_object_set_new(o, "interface", Str(s.interface));
  json_object_set_new(o, "backend", Str(s.backend));
  json_object_set_new(o, "public_key", Str(s.public_key));
  json_object_set_new(o, "listen_port", json_integer(s.listen_port));
  json_object_set_new(o, "peers", json_integer(static_cast<json_int_t>(s.peers)));
  json_object_set_new(o, "rejected", json_integer(static_cast<json_int_t>(s.rejected)));
  json_object_set_new(o, "newest_handshake", json_integer(s.newest_handshake));
  json_object_set_new(o, "oldest_handshake", json_integer(s.oldest_handshake));
  json_object_set_new(o, "peers_without_handshake",
                      json_integer(static_cast<json_int_t>(s.peers_without_handshake)));
  json_object_set_new(o, "watch", Str(s.watch));
  json_object_set_new(o, "last_error", Str(s.last_error));
  json_object_set_new(o, "endpoint", Str(s.endpoint));
  json_object_set_new(o, "endpoint_source", Str(s.endpoint_source));
  json_object_set_new(o, "mtu", json_integer(s.mtu));
  json_object_set_new(o, "mtu_source", Str(s.mtu_source));
  json_object_set_new(o, "initialised", json_boolean(s.initialised));
  json_object_set_new(o, "synced", json_boolean(s.synced));
  json_object_set_new(o, "pid", json_integer(s.pid));
  if (!s.leader.empty()) json_object_set_new(o, "leader", Str(s.leader));
  if (!s.peer_list.empty()) {
    json_t* arr = json_array();
    for (const auto& p : s.peer_list) {
      json_t* po = json_object();
      json_object_set_new(po, "node", Str(p.node));
      json_object_set_new(po, "public_key", Str(p.public_key));
      json_object_set_new(po, "endpoint", Str(p.endpoint));
      json_t* ips = json_array();
      for (const auto& ip : p.allowed_ips) json_array_append_new(ips, Str(ip));
      json_object_set_new(po, "allowed_ips", ips);
      json_object_set_new(po, "last_handshake", json_integer(p.last_handshake));
      json_object_set_new(po, "rx_bytes", json_integer(static_cast<json_int_t>(p.rx_bytes)));
      json_object_set_new(po, "tx_bytes", json_integer(static_cast<json_int_t>(p.tx_bytes)));
      json_array_append_new(arr, po);
    }
    json_object_set_new(o, "peer_list", arr);
  }
  if (!s.rejected_list.empty()) {
    json_t* arr = json_array();
    for (const auto& r : s.rejected_list) {
      json_t* ro = json_object();
      json_object_set_new(ro, "node", Str(r.node));
      json_object_set_new(ro, "reason", Str(r.reason));
      json_object_set_new(ro, "message", Str(r.message));
      json_array_append_new(arr, ro);
    }
    json_object_set_new(o, "rejected_list", arr);
  }
  return o;
}

bool ParseStatus(const json_t* o, WorkerStatus* s, std::string* error) {
  if (!json_is_object(o)) {
    *error = "status: expected an object";
    return false;
  }
  *s = WorkerStatus{};
  s->remote = GetStr(o, "remote");
  s->state = GetStr(o, "state");
  s->reason = GetStr(o, "reason");
  s->interface = GetStr(o, "interface");
  s->backend = GetStr(o, "backend");
  s->public_key = GetStr(o, "public_key");
  s->listen_port = static_cast<uint16_t>(GetInt(o, "listen_port"));
  s->peers = static_cast<uint64_t>(GetInt(o, "peers"));
  s->rejected = static_cast<uint64_t>(GetInt(o, "rejected"));
  s->newest_handshake = GetInt(o, "newest_handshake");
  s->oldest_handshake = GetInt(o, "oldest_handshake");
  s->peers_without_handshake = static_cast<uint64_t>(GetInt(o, "peers_without_handshake"));
  s->watch = GetStr(o, "watch");
  s->last_error = GetStr(o, "last_error");
  s->endpoint = GetStr(o, "endpoint");
  s->endpoint_source = GetStr(o, "endpoint_source");
  s->mtu = static_cast<uint32_t>(GetInt(o, "mtu"));
  s->mtu_source = GetStr(o, "mtu_source");
  s->initialised = GetBool(o, "initialised");
  s->synced = GetBool(o, "synced");
  s->pid = GetInt(o, "pid");
  s->leader = GetStr(o, "leader");
  size_t i;
  json_t* v;
  json_array_foreach(json_object_get(o, "peer_list"), i, v) {
    PeerStatus p;
    p.node = GetStr(v, "node");
    p.public_key = GetStr(v, "public_key");
    p.endpoint = GetStr(v, "endpoint");
    size_t j;
    json_t* ip;
    json_array_foreach(json_object_get(v, "allowed_ips"), j, ip) {
      if (json_is_string(ip)) p.allowed_ips.emplace_back(json_string_value(ip));
    }
    p.last_handshake = GetInt(v, "last_handshake");
    p.rx_bytes = static_cast<uint64_t>(GetInt(v, "rx_bytes"));
    p.tx_bytes = static_cast<uint64_t>(GetInt(v, "tx_bytes"));
    s->peer_list.push_back(std::move(p));
  }
  json_array_foreach(json_object_get(o, "rejected_list"), i, v) {
    s->rejected_list.push_back(RejectedStatus{GetStr(v, "node"), GetStr(v, "reason"), GetStr(v, "message")});
  }
  if (s->state.empty()) {
    *error = "status: missing state";
    return false;
  }
  return true;
}

}  // namespace

bool NodeView::Healthy() const { return Unhealthy().empty(); }

bool NodeView::Ready() const { return Unready().empty(); }

// These lines go to /healthz, /readyz and `status`: the remote's name, notes and errors carry data from workers
// and remote clusters, so control characters and newlines are escaped as in the logs.
std::vector<std::string> NodeView::Unhealthy() const {
  std::vector<std::string> out;
  for (const auto& r : remotes) {
    const std::string remote = EscapeControl(r.status.remote);
    if (r.failed) {
      out.push_back(remote + " (failed: " + EscapeControl(r.status.last_error) + ")");
    } else if (!r.worker_up) {
      out.push_back(remote + " (worker down" + (r.worker_note.empty() ? "" : ": " + EscapeControl(r.worker_note)) +
                    ")");
    } else if (!r.status.initialised) {
      out.push_back(remote + " (" + EscapeControl(r.status.state) +
                    (r.status.last_error.empty() ? "" : ": " + EscapeControl(r.status.last_error)) + ")");
    }
  }
  return out;
}

std::vector<std::string> NodeView::Unready() const {
  std::vector<std::string> out = Unhealthy();
  for (const auto& r : remotes) {
    if (!r.failed && r.worker_up && r.status.initialised && !r.status.synced) {
      // Synced but degraded: the worker says why it is not ready (its device lacks its key or port).
      const bool why = r.status.state == "degraded" && !r.status.last_error.empty();
      out.push_back(EscapeControl(r.status.remote) + " (" + EscapeControl(r.status.state) + ": " +
                    (why ? EscapeControl(r.status.last_error)
                         : "first sync not done, watch " + EscapeControl(r.status.watch)) +
                    ")");
    }
  }
  return out;
}

std::vector<std::string> NodeView::Degraded() const {
  std::vector<std::string> out;
  for (const auto& r : remotes) {
    if (!r.failed && r.worker_up && r.status.initialised && r.status.synced && r.status.state == "degraded" &&
        !r.status.last_error.empty()) {
      out.push_back(EscapeControl(r.status.remote) + " (" + EscapeControl(r.status.last_error) + ")");
    }
  }
  return out;
}

std::string StatusToJson(const WorkerStatus& status) {
  JsonPtr o(StatusObject(status));
  return JsonDump(o.get());
}

bool StatusFromJson(std::string_view json, WorkerStatus* out, std::string* error) {
  json_error_t err;
  JsonPtr o(json_loadb(json.data(), json.size(), 0, &err));
  if (!o) {
    *error = std::string("status: ") + err.text;
    return false;
  }
  return ParseStatus(o.get(), out, error);
}

std::string NodeViewToJson(const NodeView& v, bool pretty) {
  JsonPtr o(json_object());
  json_object_set_new(o.get(), "node", Str(v.node));
  json_object_set_new(o.get(), "local_cluster", Str(v.local_cluster));
  json_object_set_new(o.get(), "version", Str(v.version));
  if (!v.mode.empty()) json_object_set_new(o.get(), "mode", Str(v.mode));
  json_object_set_new(o.get(), "healthy", json_boolean(v.Healthy()));
  json_object_set_new(o.get(), "ready", json_boolean(v.Ready()));
  json_t* arr = json_array();
  for (const auto& r : v.remotes) {
    json_t* ro = json_object();
    json_object_set_new(ro, "status", StatusObject(r.status));
    json_object_set_new(ro, "worker_up", json_boolean(r.worker_up));
    json_object_set_new(ro, "failed", json_boolean(r.failed));
    json_object_set_new(ro, "restarts", json_integer(static_cast<json_int_t>(r.restarts)));
    json_object_set_new(ro, "worker_note", Str(r.worker_note));
    json_array_append_new(arr, ro);
  }
  json_object_set_new(o.get(), "remotes", arr);
  return JsonDump(o.get(), pretty);
}

bool StatusFromJsonValue(const json_t* value, WorkerStatus* out, std::string* error) {
  return ParseStatus(value, out, error);
}

bool NodeViewFromJson(std::string_view json, NodeView* out, std::string* error) {
  json_error_t err;
  JsonPtr o(json_loadb(json.data(), json.size(), 0, &err));
  if (!o || !json_is_object(o.get())) {
    *error = o ? "status: expected an object" : std::string("status: ") + err.text;
    return false;
  }
  *out = NodeView{};
  out->node = GetStr(o.get(), "node");
  out->local_cluster = GetStr(o.get(), "local_cluster");
  out->version = GetStr(o.get(), "version");
  out->mode = GetStr(o.get(), "mode");
  size_t i;
  json_t* v;
  json_array_foreach(json_object_get(o.get(), "remotes"), i, v) {
    RemoteView r;
    if (!ParseStatus(json_object_get(v, "status"), &r.status, error)) return false;
    r.worker_up = GetBool(v, "worker_up");
    r.failed = GetBool(v, "failed");
    r.restarts = static_cast<uint64_t>(GetInt(v, "restarts"));
    r.worker_note = GetStr(v, "worker_note");
    out->remotes.push_back(std::move(r));
  }
  return true;
}

}  // namespace swg
