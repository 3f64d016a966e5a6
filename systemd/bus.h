#pragma once
// Publishes the agent's state on the D-Bus system bus (sd-bus), where one is present (bare-metal hosts):
//   name   io.uw.SemaphoreWireguard
//   object /io/uw/SemaphoreWireguard          interface io.uw.SemaphoreWireguard1
//          method Status() -> s (the JSON of `semaphore-wireguard status -json`)
//          properties Node s, LocalCluster s, Healthy b, Ready b
//   object /io/uw/SemaphoreWireguard/remote/<name>   interface io.uw.SemaphoreWireguard1.Remote
//          properties Name, State, Interface, Backend, PublicKey, Watch, LastError (s), ListenPort (q),
//          Peers, Rejected, Restarts (t), WorkerUp (b); PropertiesChanged is emitted on change.
// With no bus (containers) Start() returns nullptr after one debug line.

#include <functional>
#include <memory>
#include <string>

#include "common/health.h"
#include "common/loop.h"

namespace swg::systemd {

inline constexpr const char* kBusName = "io.uw.SemaphoreWireguard";
inline constexpr const char* kObjectPath = "/io/uw/SemaphoreWireguard";
inline constexpr const char* kInterface = "io.uw.SemaphoreWireguard1";

class BusPublisher {
 public:
  static std::unique_ptr<BusPublisher> Start(Loop& loop, const NodeView& initial);
  ~BusPublisher();
  BusPublisher(const BusPublisher&) = delete;
  BusPublisher& operator=(const BusPublisher&) = delete;
  void Update(const NodeView& view);  // emits PropertiesChanged for what changed

  struct Impl;

 private:
  BusPublisher() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace swg::systemd
