// The apiserver is killed mid-stream and restarted: the informer reconnects, reports what was deleted while
// it was down and ends with a cache equal to the server's list. Runs alone on cluster "b" (CTest
// RESOURCE_LOCK).
#include <doctest/doctest.h>

#include "k8s/informer.h"
#include "tests/k8s/cluster.h"

using namespace std::chrono_literals;
using swg::Loop;
using swg::k8s::ClusterSource;
using swg::k8s::EventType;
using swg::k8s::NodeInfo;
using swg::k8s::NodeInformer;
using namespace swg::test;

TEST_SUITE("restart") {
  TEST_CASE(
      "the apiserver killed and restarted mid-stream: reconnect, deletions reported, cache equals the list") {
    ClusterEnv env = LoadCluster("b");
    Admin admin(env);
    admin.DeleteNodes("test=restart");
    std::vector<NodeSpec> nodes;
    for (int i = 1; i <= 5; ++i)
      nodes.push_back({"restart-" + std::to_string(i), {{"test", "restart"}}, {}, "", ""});
    admin.CreateNodes(nodes);
    Loop loop;
    auto client = MakeClient(loop, "b", ClusterSource::Kubeconfig(env.kubeconfig));
    std::vector<std::string> events;
    swg::k8s::NodeFilter filter;
    filter.label_selector = "test=restart";
    swg::k8s::InformerOptions options;
    options.backoff_initial = 200ms;
    options.backoff_cap = 2s;
    NodeInformer informer(*client, filter,
                          {[&](EventType t, const NodeInfo& n) {
                             events.push_back((t == EventType::kAdded     ? "ADDED "
                                               : t == EventType::kDeleted ? "DELETED "
                                                                          : "MODIFIED ") +
                                              n.name);
                           },
                           nullptr},
                          options);
    informer.Start();
    REQUIRE(
        loop.RunUntil([&] { return informer.status().state == swg::k8s::InformerState::kWatching; }, 30s));
    CHECK(events.size() == 5);
    events.clear();

    ControlPlane("stop-apiserver --cluster b --signal KILL");
    REQUIRE(loop.RunUntil([&] { return informer.status().watch_failures >= 2; },
                          30s));  // reconnects keep failing
    CHECK(informer.status().last_error.find("b: GET /api/v1/nodes?watch=1") == 0);
    // Changes while the apiserver is down, straight in etcd.
    admin.EtcdDeleteNode("restart-2");
    admin.EtcdDeleteNode("restart-4");
    auto down_since = std::chrono::steady_clock::now();
    ControlPlane("start-apiserver --cluster b");
    MESSAGE(
        "apiserver restart took ",
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - down_since)
            .count(),
        " ms");
    REQUIRE(loop.RunUntil([&] { return events.size() >= 2; }, 30s));
    CHECK(events == std::vector<std::string>{"DELETED restart-2", "DELETED restart-4"});
    auto status = informer.status();
    MESSAGE("after restart: relists=", status.relists, " watch_failures=", status.watch_failures);
    auto names = [](const auto& m) {
      std::set<std::string> out;
      for (const auto& kv : m) out.insert(kv.first);
      return out;
    };
    CHECK(names(informer.nodes()) == names(admin.Nodes("test=restart")));
    CHECK(names(informer.nodes()) == std::set<std::string>{"restart-1", "restart-3", "restart-5"});

    // The watch works again.
    admin.CreateNode({"restart-6", {{"test", "restart"}}, {}, "", ""});
    admin.DeleteNode("restart-1");
    REQUIRE(loop.RunUntil([&] { return events.size() >= 4; }, 30s));
    CHECK(events[2] == "ADDED restart-6");
    CHECK(events[3] == "DELETED restart-1");
    CHECK(informer.status().state == swg::k8s::InformerState::kWatching);
    informer.Stop();
    admin.DeleteNodes("test=restart");
  }

}  // TEST_SUITE
