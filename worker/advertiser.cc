#include "worker/advertiser.h"

#include "common/config.h"
#include "common/ip.h"
#include "common/log.h"
#include "common/strings.h"
#include "worker/peers.h"

namespace swg::worker {

namespace {

// An override: "IP", "IP:port" or "[IPv6]:port"; without a port, `port`. Never a host name, never an address
// that cannot be a node's (loopback, link-local, ...): the remote side would reject it anyway.
Result<Endpoint> ParseOverride(const std::string& text, uint16_t port) {
  std::optional<Endpoint> e;
  if (auto ip = IpAddr::Parse(text)) {
    e = Endpoint{*ip, port};
  } else {
    e = Endpoint::Parse(text);
  }
  if (!e) {
    return Error{Quote(text) + " is not IP, IP:port or [IPv6]:port (a numeric address, a port from 1 to 65535)"};
  }
  if (std::string problem = EndpointAddressProblem(e->addr); !problem.empty()) {
    return Error{Quote(text) + " is " + problem};
  }
  return *e;
}

}  // namespace

std::string AdvertiseEndpointAnnotation(std::string_view remote) {
  return std::string(remote) + "." + std::string(kAdvertiseEndpointAnnotation);
}

EndpointChoice ChooseEndpoint(const k8s::NodeInfo& node, std::string_view remote,
                              const std::vector<std::string>& address_types, uint16_t port) {
  EndpointChoice c;
  // The per-remote override wins over the node-wide one; a bad one is skipped, never advertised.
  for (const std::string& key : {AdvertiseEndpointAnnotation(remote), std::string(kAdvertiseEndpointAnnotation)}) {
    auto it = node.annotations.find(key);
    if (it == node.annotations.end()) continue;
    auto e = ParseOverride(it->second, port);
    if (!e.ok()) {
      if (c.warning.empty()) c.warning = "ignoring annotation " + key + ": " + e.error().message;
      continue;
    }
    c.endpoint = *e;
    c.source = key;
    return c;
  }
  std::string types;
  for (const auto& type : address_types) {
    types += (types.empty() ? "" : " or ") + type;
    for (const auto& a : node.addresses) {
      if (a.type != type) continue;
      auto ip = IpAddr::Parse(a.address);
      if (!ip || !EndpointAddressProblem(*ip).empty()) continue;
      c.endpoint = Endpoint{*ip, port};
      c.source = type;
      return c;
    }
  }
  c.error = "node " + node.name + " has no " + types + " address to advertise as the endpoint";
  return c;
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
  filter.annotation_keys = {PubKeyAnnotation(options_.remote), EndpointAnnotation(options_.remote),
                            AdvertiseEndpointAnnotation(options_.remote), std::string(kAdvertiseEndpointAnnotation)};
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

void Advertiser::SetPublicKey(const std::string& public_key) {
  options_.public_key = public_key;
  key_changed_ = true;
  Check();  // while a patch is on its way, its answer runs CheckNode, which sees the new key
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
  EndpointChoice choice = ChooseEndpoint(node, options_.remote, options_.address_types, options_.listen_port);
  internal_ips_.clear();
  for (const auto& a : node.addresses) {
    if (auto ip = IpAddr::Parse(a.address); ip && a.type == "InternalIP") internal_ips_.push_back(*ip);
  }
  if (choice.warning != warning_) {
    if (!choice.warning.empty()) log::Warn("bad endpoint override; advertising the default endpoint instead",
                                           {{"node", options_.node_name}, {"error", choice.warning}});
    else log::Info("the endpoint override problem is gone", {{"node", options_.node_name}});
    warning_ = choice.warning;
    if (on_state_) on_state_(ok_, error_);  // the status shows the warning
  }
  if (!choice.endpoint) {
    SetState(false, choice.error);
    return;
  }
  auto endpoint = std::optional<std::string>(choice.endpoint->ToString());
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
    if (!ok_ || endpoint_ != choice.endpoint) {
      log::Info("this node advertises itself to the remote cluster",
                {{"node", options_.node_name}, {"endpoint", *endpoint}, {"source", choice.source},
                 {"public_key", options_.public_key}});
    }
    bool moved = ok_ && endpoint_ != choice.endpoint;
    endpoint_ = choice.endpoint;
    source_ = choice.source;
    if (moved && on_state_) on_state_(true, "");  // the worker follows the address (the MTU's underlay)
    backoff_.Reset();
    ever_ok_ = true;
    SetState(true, "");
    return;
  }
  if (key_changed_ && changes.count(key_ann)) {
    log::Info("advertising the new public key",
              {{"node", options_.node_name}, {"public_key", options_.public_key}});
  } else if (ever_ok_) {
    log::Warn("this node's annotations were changed or removed; restoring them",
              {{"node", options_.node_name}, {"endpoint", *endpoint}});
  }
  key_changed_ = false;
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
