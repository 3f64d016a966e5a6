#include "worker/advertiser.h"

#include "common/config.h"
#include "common/ip.h"
#include "common/log.h"

namespace swg::worker {

std::optional<std::string> AdvertisedEndpoint(const k8s::NodeInfo& node, uint16_t port) {
  for (const auto& a : node.addresses) {
    if (a.type != "InternalIP") continue;
    auto ip = IpAddr::Parse(a.address);
    if (ip) return FormatEndpoint(*ip, port);
  }
  return std::nullopt;
}

Advertiser::Advertiser(Loop& loop, k8s::Client& local, Options options,
                       std::function<void(bool, const std::string&)> on_state)
    : client_(local),
      options_(std::move(options)),
      on_state_(std::move(on_state)),
      retry_(loop),
      backoff_(Backoff::Options{std::chrono::milliseconds(1000), 2.0, std::chrono::milliseconds(30000), 0.3,
                                std::chrono::milliseconds(120000)}) {
  k8s::NodeFilter filter;
  filter.annotation_keys = {PubKeyAnnotation(options_.remote), EndpointAnnotation(options_.remote)};
  filter.field_selector = "metadata.name=" + options_.node_name;
  k8s::NodeInformer::Handler handler;
  handler.on_event = [this](k8s::EventType, const k8s::NodeInfo&) { Check(); };
  handler.on_synced = [this] { Check(); };
  informer_ = std::make_unique<k8s::NodeInformer>(client_, filter, handler);
}

Advertiser::~Advertiser() {
  *alive_ = false;
  informer_->Stop();
}

void Advertiser::Start() { informer_->Start(); }

void Advertiser::SetState(bool ok, const std::string& error) {
  if (ok == ok_ && error == error_) return;
  ok_ = ok;
  error_ = error;
  if (on_state_) on_state_(ok, error);
}

void Advertiser::Check() {
  if (patching_ || !informer_->status().synced) return;
  const auto& nodes = informer_->nodes();
  auto it = nodes.find(options_.node_name);
  if (it == nodes.end()) {
    SetState(false, "node " + options_.node_name + " not found in the local cluster " + client_.cluster());
    return;
  }
  CheckNode(it->second);
}

void Advertiser::CheckNode(const k8s::NodeInfo& node) {
  auto endpoint = AdvertisedEndpoint(node, options_.listen_port);
  if (!endpoint) {
    SetState(false, "node " + options_.node_name + " has no InternalIP address to advertise as the endpoint");
    return;
  }
  std::string key_ann = PubKeyAnnotation(options_.remote);
  std::string ep_ann = EndpointAnnotation(options_.remote);
  std::map<std::string, std::optional<std::string>> changes;
  auto want = [&](const std::string& k, const std::string& v) {
    auto a = node.annotations.find(k);
    if (a == node.annotations.end() || a->second != v) changes[k] = v;
  };
  want(key_ann, options_.public_key);
  want(ep_ann, *endpoint);
  if (changes.empty()) {
    if (!ok_) {
      log::Info("this node advertises itself to the remote cluster",
                {{"node", options_.node_name}, {"endpoint", *endpoint}, {"public_key", options_.public_key}});
    }
    backoff_.Reset();
    ever_ok_ = true;
    SetState(true, "");
    return;
  }
  if (ever_ok_) {
    log::Warn("this node's annotations were changed or removed; restoring them",
              {{"node", options_.node_name}, {"endpoint", *endpoint}});
  }
  patching_ = true;
  std::weak_ptr<bool> alive = alive_;
  client_.PatchNodeAnnotations(options_.node_name, changes, [this, alive](Result<k8s::NodeInfo> r) {
    if (alive.expired() || !*alive.lock()) return;
    patching_ = false;
    if (r.ok()) {
      CheckNode(*r);  // the node as stored; the watch delivers the same change later
      return;
    }
    SetState(false, "cannot annotate this node: " + r.error().message);
    auto delay = backoff_.Next();
    log::Warn("cannot annotate this node; retrying", {{"node", options_.node_name},
                                                       {"error", r.error().message},
                                                       {"retry_in", std::to_string(delay.count()) + "ms"}});
    retry_.Start(delay, [this] { Check(); });
  });
}

}  // namespace swg::worker
