#include "systemd/bus.h"

#include <poll.h>
#include <systemd/sd-bus.h>
#include <uv.h>

#include <cstring>
#include <vector>

#include "common/log.h"

namespace swg::systemd {
namespace {

struct BusDeleter {
  void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
struct SlotDeleter {
  void operator()(sd_bus_slot* s) const { sd_bus_slot_unref(s); }
};

}  // namespace

struct RemoteObject {
  BusPublisher::Impl* owner = nullptr;
  size_t index = 0;
  std::string path;
  std::unique_ptr<sd_bus_slot, SlotDeleter> slot;
};

struct BusPublisher::Impl {
  explicit Impl(Loop& l) : loop(l), timer(l) {}
  Loop& loop;
  std::unique_ptr<sd_bus, BusDeleter> bus;
  std::unique_ptr<sd_bus_slot, SlotDeleter> root_slot;
  std::vector<std::unique_ptr<RemoteObject>> remotes;
  NodeView view;
  uv_poll_t* poll = nullptr;
  Timer timer;

  const RemoteView* Remote(size_t i) const { return i < view.remotes.size() ? &view.remotes[i] : nullptr; }

  void Process() {
    for (int i = 0; i < 1000; ++i) {
      int r = sd_bus_process(bus.get(), nullptr);
      if (r < 0) {
        log::Warn("D-Bus connection failed; no longer publishing status on the bus",
                  {{"error", std::strerror(-r)}});
        uv_poll_stop(poll);
        timer.Stop();
        return;
      }
      if (r == 0) break;
    }
    Rearm();
  }

  void Rearm() {
    int events = sd_bus_get_events(bus.get());
    int uv_events = 0;
    if (events & POLLIN) uv_events |= UV_READABLE;
    if (events & POLLOUT) uv_events |= UV_WRITABLE;
    uv_poll_start(poll, uv_events, [](uv_poll_t* p, int, int) { static_cast<Impl*>(p->data)->Process(); });
    uint64_t usec = 0;
    if (sd_bus_get_timeout(bus.get(), &usec) >= 0 && usec != UINT64_MAX) {
      timespec ts;
      clock_gettime(CLOCK_MONOTONIC, &ts);
      uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1000000u + static_cast<uint64_t>(ts.tv_nsec) / 1000u;
      uint64_t delay_ms = usec > now ? (usec - now + 999) / 1000 : 0;
      timer.Start(std::chrono::milliseconds(delay_ms), [this] { Process(); });
    } else {
      timer.Stop();
    }
  }
};

namespace {

int RootStatus(sd_bus_message* m, void* userdata, sd_bus_error*) noexcept {
  auto* impl = static_cast<BusPublisher::Impl*>(userdata);
  return sd_bus_reply_method_return(m, "s", NodeViewToJson(impl->view, false).c_str());
}

int RootProperty(sd_bus*, const char*, const char*, const char* property, sd_bus_message* reply, void* userdata,
                 sd_bus_error*) noexcept {
  auto* impl = static_cast<BusPublisher::Impl*>(userdata);
  const NodeView& v = impl->view;
  if (!strcmp(property, "Node")) return sd_bus_message_append(reply, "s", v.node.c_str());
  if (!strcmp(property, "LocalCluster")) return sd_bus_message_append(reply, "s", v.local_cluster.c_str());
  if (!strcmp(property, "Healthy")) return sd_bus_message_append(reply, "b", v.Healthy() ? 1 : 0);
  if (!strcmp(property, "Ready")) return sd_bus_message_append(reply, "b", v.Ready() ? 1 : 0);
  return -EINVAL;
}

int RemoteProperty(sd_bus*, const char*, const char*, const char* property, sd_bus_message* reply, void* userdata,
                   sd_bus_error*) noexcept {
  auto* obj = static_cast<RemoteObject*>(userdata);
  const RemoteView* r = obj->owner->Remote(obj->index);
  if (!r) return -ENOENT;
  const WorkerStatus& s = r->status;
  auto str = [&](const std::string& v) { return sd_bus_message_append(reply, "s", v.c_str()); };
  if (!strcmp(property, "Name")) return str(s.remote);
  if (!strcmp(property, "State")) return str(r->failed ? "failed" : (r->worker_up ? s.state : "down"));
  if (!strcmp(property, "Interface")) return str(s.interface);
  if (!strcmp(property, "Backend")) return str(s.backend);
  if (!strcmp(property, "PublicKey")) return str(s.public_key);
  if (!strcmp(property, "Watch")) return str(s.watch);
  if (!strcmp(property, "LastError")) return str(s.last_error);
  if (!strcmp(property, "ListenPort")) return sd_bus_message_append(reply, "q", s.listen_port);
  if (!strcmp(property, "Peers")) return sd_bus_message_append(reply, "t", s.peers);
  if (!strcmp(property, "Rejected")) return sd_bus_message_append(reply, "t", s.rejected);
  if (!strcmp(property, "Restarts")) return sd_bus_message_append(reply, "t", r->restarts);
  if (!strcmp(property, "WorkerUp")) return sd_bus_message_append(reply, "b", r->worker_up ? 1 : 0);
  return -EINVAL;
}

constexpr uint64_t kEmits = SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE;

const sd_bus_vtable kRootVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD("Status", "", "s", RootStatus, SD_BUS_VTABLE_UNPRIVILEGED),
    SD_BUS_PROPERTY("Node", "s", RootProperty, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("LocalCluster", "s", RootProperty, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("Healthy", "b", RootProperty, 0, kEmits),
    SD_BUS_PROPERTY("Ready", "b", RootProperty, 0, kEmits),
    SD_BUS_VTABLE_END};

const sd_bus_vtable kRemoteVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_PROPERTY("Name", "s", RemoteProperty, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_PROPERTY("State", "s", RemoteProperty, 0, kEmits),
    SD_BUS_PROPERTY("Interface", "s", RemoteProperty, 0, kEmits),
    SD_BUS_PROPERTY("Backend", "s", RemoteProperty, 0, kEmits),
    SD_BUS_PROPERTY("PublicKey", "s", RemoteProperty, 0, kEmits),
    SD_BUS_PROPERTY("Watch", "s", RemoteProperty, 0, kEmits),
    SD_BUS_PROPERTY("LastError", "s", RemoteProperty, 0, kEmits),
    SD_BUS_PROPERTY("ListenPort", "q", RemoteProperty, 0, kEmits),
    SD_BUS_PROPERTY("Peers", "t", RemoteProperty, 0, kEmits),
    SD_BUS_PROPERTY("Rejected", "t", RemoteProperty, 0, kEmits),
    SD_BUS_PROPERTY("Restarts", "t", RemoteProperty, 0, kEmits),
    SD_BUS_PROPERTY("WorkerUp", "b", RemoteProperty, 0, kEmits),
    SD_BUS_VTABLE_END};

}  // namespace

std::unique_ptr<BusPublisher> BusPublisher::Start(Loop& loop, const NodeView& initial) {
  sd_bus* raw = nullptr;
  int r = sd_bus_open_system(&raw);
  if (r < 0) {
    log::Debug("no D-Bus system bus; not publishing status on D-Bus", {{"error", std::strerror(-r)}});
    return nullptr;
  }
  std::unique_ptr<BusPublisher> p(new BusPublisher());
  p->impl_ = std::make_unique<Impl>(loop);
  Impl* impl = p->impl_.get();
  impl->bus.reset(raw);
  impl->view = initial;
  sd_bus_slot* slot = nullptr;
  r = sd_bus_add_object_vtable(raw, &slot, kObjectPath, kInterface, kRootVtable, impl);
  if (r < 0) {
    log::Warn("cannot export the D-Bus status object", {{"error", std::strerror(-r)}});
    return nullptr;
  }
  impl->root_slot.reset(slot);
  for (size_t i = 0; i < initial.remotes.size(); ++i) {
    auto obj = std::make_unique<RemoteObject>();
    obj->owner = impl;
    obj->index = i;
    char* path = nullptr;
    if (sd_bus_path_encode((std::string(kObjectPath) + "/remote").c_str(), initial.remotes[i].status.remote.c_str(),
                           &path) < 0) {
      continue;
    }
    obj->path = path;
    free(path);
    slot = nullptr;
    if (sd_bus_add_object_vtable(raw, &slot, obj->path.c_str(), (std::string(kInterface) + ".Remote").c_str(),
                                 kRemoteVtable, obj.get()) >= 0) {
      obj->slot.reset(slot);
      impl->remotes.push_back(std::move(obj));
    }
  }
  sd_bus_add_object_manager(raw, nullptr, kObjectPath);
  r = sd_bus_request_name(raw, kBusName, 0);
  if (r < 0) {
    log::Warn("cannot own the D-Bus name; the status object is reachable only by the connection's unique name",
              {{"name", kBusName}, {"error", std::strerror(-r)}});
  } else {
    log::Info("publishing status on the D-Bus system bus", {{"name", kBusName}, {"object", kObjectPath}});
  }
  impl->poll = new uv_poll_t;
  uv_poll_init(loop.uv(), impl->poll, sd_bus_get_fd(raw));
  impl->poll->data = impl;
  impl->Rearm();
  return p;
}

BusPublisher::~BusPublisher() {
  if (!impl_) return;
  if (impl_->poll) {
    uv_poll_stop(impl_->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(impl_->poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  }
  impl_->remotes.clear();
  impl_->root_slot.reset();
  if (impl_->bus) sd_bus_release_name(impl_->bus.get(), kBusName);
}

void BusPublisher::Update(const NodeView& view) {
  Impl* impl = impl_.get();
  NodeView old = std::move(impl->view);
  impl->view = view;
  if (old.Healthy() != view.Healthy() || old.Ready() != view.Ready()) {
    sd_bus_emit_properties_changed(impl->bus.get(), kObjectPath, kInterface, "Healthy", "Ready", nullptr);
  }
  std::string iface = std::string(kInterface) + ".Remote";
  for (const auto& obj : impl->remotes) {
    const RemoteView* now = impl->Remote(obj->index);
    const RemoteView* before = obj->index < old.remotes.size() ? &old.remotes[obj->index] : nullptr;
    if (!now || (before && *before == *now)) continue;
    sd_bus_emit_properties_changed(impl->bus.get(), obj->path.c_str(), iface.c_str(), "State", "Interface",
                                   "Backend", "PublicKey", "Watch", "LastError", "ListenPort", "Peers", "Rejected",
                                   "Restarts", "WorkerUp", nullptr);
  }
  impl->Rearm();
}

}  // namespace swg::systemd
