// The node informer against real kube-apiservers: event order, 410 and relist, expired continue tokens, 403.
// Cluster "c" runs without a watch cache for nodes, so etcd compaction makes old resourceVersions and
// continue tokens expire on demand.
#include <doctest/doctest.h>

#include <thread>

#include "k8s/informer.h"
#include "tests/k8s/cluster.h"
#include "tests/k8s/tcp_proxy.h"
#include "tests/unit/testutil.h"

using namespace std::chrono_literals;
using swg::Loop;
using swg::k8s::ClusterSource;
using swg::k8s::EventType;
using swg::k8s::InformerOptions;
using swg::k8s::NodeInfo;
using swg::k8s::NodeInformer;
using namespace swg::test;

namespace {

const char* const kKey = "a.wireguard.semaphore.uw.io/pubKey";

std::string Name(EventType t) {
  return t == EventType::kAdded ? "ADDED" : t == EventType::kModified ? "MODIFIED" : "DELETED";
}

// Records events as "TYPE name key-annotation".
struct Recorder {
  std::vector<std::string> events;
  int synced = 0;
  NodeInformer::Handler Handler() {
    return {[this](EventType t, const NodeInfo& n) {
              auto it = n.annotations.find(kKey);
              events.push_back(Name(t) + " " + n.name + (it == n.annotations.end() ? "" : " " + it->second));
            },
            [this] { ++synced; }};
  }
};

std::set<std::string> Names(const std::map<std::string, NodeInfo>& cache) {
  std::set<std::string> out;
  for (const auto& [name, node] : cache) out.insert(name);
  return out;
}

std::set<std::string> Names(const std::map<std::string, std::map<std::string, std::string>>& nodes) {
  std::set<std::string> out;
  for (const auto& [name, a] : nodes) out.insert(name);
  return out;
}

InformerOptions FastOptions() {
  InformerOptions o;
  o.backoff_initial = 100ms;
  o.backoff_cap = 1s;
  return o;
}

}  // namespace

TEST_SUITE("informer") {
  TEST_CASE("the watch sees creates, annotation changes and deletes in order") {
    ClusterEnv env = LoadCluster("a");
    Admin admin(env);
    admin.DeleteNodes("test=order");
    admin.CreateNode({"order-0", {{"test", "order"}}, {{kKey, "k0"}}, "", ""});
    Loop loop;
    auto client = MakeClient(loop, "a", ClusterSource::Kubeconfig(env.kubeconfig));
    Recorder rec;
    swg::k8s::NodeFilter filter;
    filter.label_selector = "test=order";
    filter.annotation_keys = {kKey};
    NodeInformer informer(*client, filter, rec.Handler(), FastOptions());
    informer.Start();
    REQUIRE(
        loop.RunUntil([&] { return informer.status().state == swg::k8s::InformerState::kWatching; }, 30s));
    CHECK(rec.synced == 1);
    CHECK(rec.events == std::vector<std::string>{"ADDED order-0 k0"});

    admin.CreateNode({"order-1", {{"test", "order"}}, {}, "10.7.1.0/24", ""});
    admin.CreateNode({"order-2", {{"test", "order"}}, {{kKey, "k2"}}, "", ""});
    admin.PatchAnnotations("order-1", "{\"" + std::string(kKey) + "\":\"v1\"}");
    admin.PatchAnnotations("order-1", "{\"unrelated\":\"x\"}");  // nothing the informer keeps changes
    admin.PatchAnnotations("order-1", "{\"" + std::string(kKey) + "\":\"v2\"}");
    admin.DeleteNode("order-2");
    admin.PatchAnnotations("order-0", "{\"" + std::string(kKey) + "\":null}");
    admin.DeleteNode("order-1");
    const std::vector<std::string> want = {"ADDED order-0 k0",    "ADDED order-1",       "ADDED order-2 k2",
                                           "MODIFIED order-1 v1", "MODIFIED order-1 v2", "DELETED order-2 k2",
                                           "MODIFIED order-0",    "DELETED order-1 v2"};
    REQUIRE(loop.RunUntil([&] { return rec.events.size() >= want.size(); }, 30s));
    loop.RunUntil([] { return false; }, 200ms);  // nothing more arrives
    CHECK(rec.events == want);
    CHECK(Names(informer.nodes()) == std::set<std::string>{"order-0"});
    CHECK(informer.nodes().at("order-0").annotations.empty());
    auto status = informer.status();
    CHECK(status.unchanged == 1);
    CHECK(status.modified == 3);
    CHECK(status.watch_failures == 0);
    CHECK(status.lists == 1);
    informer.Stop();
    admin.DeleteNodes("test=order");
  }

  TEST_CASE("a watch from a stale resourceVersion gets 410; the informer relists and converges") {
    ClusterEnv env = LoadCluster("c");
    Admin admin(env);
    admin.DeleteNodes("test=stale");
    for (const char* n : {"stale-1", "stale-2", "stale-3"})
      admin.CreateNode({n, {{"test", "stale"}}, {{kKey, "old"}}, "", ""});
    Loop loop;
    auto client = MakeClient(loop, "c", ClusterSource::Kubeconfig(env.kubeconfig));
    Recorder rec;
    swg::k8s::NodeFilter filter;
    filter.label_selector = "test=stale";
    filter.annotation_keys = {kKey};
    InformerOptions options = FastOptions();
    options.watch_timeout_min = options.watch_timeout_max = 1s;  // the server ends each watch after a second
    NodeInformer informer(*client, filter, rec.Handler(), options);
    informer.Start();
    REQUIRE(
        loop.RunUntil([&] { return informer.status().state == swg::k8s::InformerState::kWatching; }, 30s));
    CHECK(rec.events.size() == 3);
    loop.RunUntil([] { return false; }, 300ms);  // the watch request is under way
    // The loop does not run now: the informer is "away". Its watch times out on the server; meanwhile nodes
    // change and etcd compacts, so the resourceVersion it will watch from next is gone.
    std::this_thread::sleep_for(1500ms);
    admin.DeleteNode("stale-1");
    admin.PatchAnnotations("stale-2", "{\"" + std::string(kKey) + "\":\"new\"}");
    admin.CreateNode({"stale-4", {{"test", "stale"}}, {{kKey, "new"}}, "", ""});
    admin.EtcdCompact();
    rec.events.clear();
    REQUIRE(loop.RunUntil([&] { return informer.status().relists >= 1 && rec.synced >= 2; }, 30s));
    CHECK(rec.events ==
          std::vector<std::string>{"DELETED stale-1 old", "MODIFIED stale-2 new", "ADDED stale-4 new"});
    CHECK(Names(informer.nodes()) == Names(admin.Nodes("test=stale")));
    CHECK(informer.status().watch_failures == 0);  // a 410 is not a failure
    // And it watches again from the new list.
    admin.DeleteNode("stale-3");
    REQUIRE(loop.RunUntil([&] { return rec.events.size() == 4; }, 30s));
    CHECK(rec.events[3] == "DELETED stale-3 old");
    informer.Stop();
    admin.DeleteNodes("test=stale");
  }

  TEST_CASE("an expired continue token restarts the list from the beginning") {
    ClusterEnv env = LoadCluster("c");
    Admin admin(env);
    admin.DeleteNodes("test=cont");
    std::vector<NodeSpec> nodes;
    for (int i = 0; i < 7; ++i)
      nodes.push_back({"cont-" + std::to_string(i), {{"test", "cont"}}, {}, "", ""});
    admin.CreateNodes(nodes);
    Loop loop;
    auto client = MakeClient(loop, "c", ClusterSource::Kubeconfig(env.kubeconfig));
    int requests = 0;
    // Right after the first page arrives (before the second is asked for), etcd compacts past the list's
    // revision.
    client->SetRequestObserver([&](std::string_view method, std::string_view, int code) {
      if (++requests == 1 && method == "GET" && code == 200) {
        admin.Request("DELETE", "/api/v1/nodes/cont-unrelated");
        admin.CreateNode({"cont-unrelated", {}, {}, "", ""});
        admin.EtcdCompact();
      }
    });
    Recorder rec;
    swg::k8s::NodeFilter filter;
    filter.label_selector = "test=cont";
    InformerOptions options = FastOptions();
    options.page_size = 3;
    NodeInformer informer(*client, filter, rec.Handler(), options);
    informer.Start();
    REQUIRE(loop.RunUntil([&] { return rec.synced == 1; }, 30s));
    auto status = informer.status();
    CHECK(status.list_restarts == 1);
    CHECK(status.list_failures == 0);
    CHECK(informer.nodes().size() == 7);
    CHECK(rec.events.size() == 7);
    CHECK(requests >= 5);  // page 1, expired page 2, then pages 1-3 again
    informer.Stop();
    admin.DeleteNodes("test=cont");
    admin.DeleteNode("cont-unrelated");
  }

  // The informer reads protobuf from a real apiserver when it may, JSON when told to, and both give the same
  // nodes: list, watch, an annotation change, a status-only change, a delete and the BOOKMARK the apiserver
  // sends before it ends a watch.
  TEST_CASE("protobuf and JSON: list, watch, update, status-only update, delete, bookmark") {
    bool protobuf = true;
    SUBCASE("protobuf") { protobuf = true; }
    SUBCASE("JSON") { protobuf = false; }
    CAPTURE(protobuf);
    ClusterEnv env = LoadCluster("a");
    Admin admin(env);
    admin.DeleteNodes("test=proto");
    for (const char* n : {"proto-0", "proto-1", "proto-2"}) {
      NodeSpec spec{n, {{"test", "proto"}}, {{kKey, std::string("k-") + n}}, "10.9.0.0/24", "10.1.0.1"};
      spec.kubelet_status = true;  // conditions, addresses, images: what a real node's protobuf holds
      admin.CreateNode(spec);
    }
    Loop loop;
    swg::k8s::ClientOptions client_options;
    client_options.protobuf = protobuf;
    auto client = MakeClient(loop, "a", ClusterSource::Kubeconfig(env.kubeconfig), client_options);
    Recorder rec;
    swg::k8s::NodeFilter filter;
    filter.label_selector = "test=proto";
    filter.annotation_keys = {kKey};
    InformerOptions options = FastOptions();
    options.watch_timeout_min = options.watch_timeout_max = 3s;  // a BOOKMARK comes before each watch ends
    NodeInformer informer(*client, filter, rec.Handler(), options);
    informer.Start();
    REQUIRE(
        loop.RunUntil([&] { return informer.status().state == swg::k8s::InformerState::kWatching; }, 30s));
    REQUIRE(informer.nodes().size() == 3);
    CHECK(informer.nodes().at("proto-1").pod_cidrs == std::vector<std::string>{"10.9.0.0/24"});

    admin.PatchAnnotations("proto-1", "{\"" + std::string(kKey) + "\":\"v1\"}");
    // Status only: nothing the informer keeps changes, so it is read and not delivered.
    auto r = admin.Request("PATCH", "/api/v1/nodes/proto-2/status",
                           R"({"status":{"conditions":[{"type":"Ready","status":"False","reason":"R",)"
                           R"("message":"status only"}]}})",
                           "application/strategic-merge-patch+json");
    REQUIRE(r.code == 200);
    admin.DeleteNode("proto-0");
    REQUIRE(loop.RunUntil([&] { return rec.events.size() >= 5; }, 60s));
    // A BOOKMARK comes before a watch ends once the nodes moved past where the watch began. The watch may have
    // begun after the changes above (while the test was making them), so a change outside the selector moves
    // them again, without an event for this informer.
    admin.CreateNode(NodeSpec{"proto-other", {{"test", "proto-other"}}, {}, "10.9.1.0/24", "10.1.0.2"});
    for (int i = 0; i < 30 && informer.status().bookmarks == 0; ++i) {
      admin.PatchAnnotations("proto-other", R"({"swg-test/n":")" + std::to_string(i) + "\"}");
      loop.RunUntil([&] { return informer.status().bookmarks >= 1; }, 2s);
    }
    admin.DeleteNode("proto-other");
    REQUIRE(informer.status().bookmarks >= 1);
    CHECK(rec.events == std::vector<std::string>{"ADDED proto-0 k-proto-0", "ADDED proto-1 k-proto-1",
                                                 "ADDED proto-2 k-proto-2", "MODIFIED proto-1 v1",
                                                 "DELETED proto-0 k-proto-0"});
    CHECK(informer.status().unchanged == 1);  // the status-only event
    CHECK(informer.status().watch_failures == 0);

    // What was negotiated: every Node body in the encoding asked for, none silently in the other.
    const auto reads = client->node_reads();
    if (protobuf) {
      CHECK(reads.protobuf >= 2);  // the list page and the watch
      CHECK(reads.json == 0);
    } else {
      CHECK(reads.json >= 2);
      CHECK(reads.protobuf == 0);
    }

    // The same list read live both ways gives the same nodes.
    auto other_options = client_options;
    other_options.protobuf = !protobuf;
    auto other = MakeClient(loop, "a", ClusterSource::Kubeconfig(env.kubeconfig), other_options);
    swg::k8s::ListOptions list;
    list.label_selector = "test=proto";
    auto mine = ListSync(loop, *client, list), theirs = ListSync(loop, *other, list);
    REQUIRE(mine.ok());
    REQUIRE(theirs.ok());
    CHECK(mine->items.size() == 2);
    CHECK(mine->items == theirs->items);
    CHECK(other->node_reads().protobuf == (protobuf ? 0u : 1u));
    informer.Stop();
    admin.DeleteNodes("test=proto");
  }

  // NodeFilter::metadata_watch: the watch carries metadata only (PartialObjectMetadata), the pod CIDRs come
  // from the cache, and a node the cache cannot complete is read whole once: a status update costs no GET and
  // keeps the CIDRs, a podCIDR set after creation, a new node, a node that gains our annotation and a node
  // deleted and created again (another uid, another CIDR) all arrive whole.
  TEST_CASE("metadata-only watch: pod CIDRs from the cache, one GET for what it cannot complete") {
    bool protobuf = true;
    SUBCASE("protobuf") { protobuf = true; }
    SUBCASE("JSON") { protobuf = false; }
    CAPTURE(protobuf);
    ClusterEnv env = LoadCluster("a");
    Admin admin(env);
    admin.DeleteNodes("test=meta");
    auto node = [](const char* name, std::string key, std::string cidr) {
      NodeSpec spec{name, {{"test", "meta"}}, {}, std::move(cidr), "10.1.0.1"};
      if (!key.empty()) spec.annotations[kKey] = key;
      spec.kubelet_status = true;
      return spec;
    };
    admin.CreateNode(node("meta-0", "k0", "10.9.1.0/24"));
    admin.CreateNode(node("meta-1", "k1", ""));  // its CIDR comes later
    admin.CreateNode(node("meta-2", "", "10.9.3.0/24"));  // not ours until annotated
    Loop loop;
    swg::k8s::ClientOptions client_options;
    client_options.protobuf = protobuf;
    auto client = MakeClient(loop, "a", ClusterSource::Kubeconfig(env.kubeconfig), client_options);
    Recorder rec;
    swg::k8s::NodeFilter filter;
    filter.label_selector = "test=meta";
    filter.annotation_keys = {kKey};
    filter.only_annotated = true;
    filter.keep_addresses = false;
    filter.metadata_watch = true;
    NodeInformer informer(*client, filter, rec.Handler(), FastOptions());
    informer.Start();
    REQUIRE(
        loop.RunUntil([&] { return informer.status().state == swg::k8s::InformerState::kWatching; }, 30s));
    auto cidrs = [&](const char* name) {
      auto it = informer.nodes().find(name);
      return it == informer.nodes().end() ? std::vector<std::string>{"(absent)"} : it->second.pod_cidrs;
    };
    CHECK(cidrs("meta-0") == std::vector<std::string>{"10.9.1.0/24"});
    CHECK(cidrs("meta-1").empty());
    CHECK(informer.nodes().count("meta-2") == 0);
    CHECK(informer.status().fetches == 0);  // the list reads whole nodes

    // A status update: read, not delivered, no GET, the CIDR kept.
    auto r = admin.Request("PATCH", "/api/v1/nodes/meta-0/status",
                           R"({"status":{"conditions":[{"type":"Ready","status":"False","reason":"R",)"
                           R"("message":"status only"}]}})",
                           "application/strategic-merge-patch+json");
    REQUIRE(r.code == 200);
    REQUIRE(loop.RunUntil([&] { return informer.status().unchanged >= 1; }, 60s));
    CHECK(informer.status().fetches == 0);
    // An annotation change: delivered with the CIDR from the cache, no GET.
    admin.PatchAnnotations("meta-0", "{\"" + std::string(kKey) + "\":\"k0b\"}");
    REQUIRE(loop.RunUntil([&] { return rec.events.size() >= 3; }, 60s));
    CHECK(rec.events.back() == "MODIFIED meta-0 k0b");
    CHECK(cidrs("meta-0") == std::vector<std::string>{"10.9.1.0/24"});
    CHECK(informer.status().fetches == 0);

    // meta-1 gets its CIDR: the cache has none to give, so the node is read whole.
    r = admin.Request("PATCH", "/api/v1/nodes/meta-1",
                      R"({"spec":{"podCIDR":"10.9.2.0/24","podCIDRs":["10.9.2.0/24"]}})",
                      "application/strategic-merge-patch+json");
    REQUIRE(r.code == 200);
    REQUIRE(loop.RunUntil([&] { return cidrs("meta-1") == std::vector<std::string>{"10.9.2.0/24"}; }, 60s));
    CHECK(rec.events.back() == "MODIFIED meta-1 k1");
    // A new node and one that gains our annotation: ADDED whole (the events alone carry no CIDR).
    admin.CreateNode(node("meta-3", "k3", "10.9.4.0/24"));
    admin.PatchAnnotations("meta-2", "{\"" + std::string(kKey) + "\":\"k2\"}");
    REQUIRE(loop.RunUntil([&] { return informer.nodes().count("meta-3") && informer.nodes().count("meta-2"); },
                          60s));
    CHECK(cidrs("meta-3") == std::vector<std::string>{"10.9.4.0/24"});
    CHECK(cidrs("meta-2") == std::vector<std::string>{"10.9.3.0/24"});
    CHECK(informer.status().fetches >= 3);
    // Deleted and created again with another CIDR: the new one, not the cached one.
    admin.DeleteNode("meta-0");
    REQUIRE(loop.RunUntil([&] { return informer.nodes().count("meta-0") == 0; }, 60s));
    CHECK(rec.events.back() == "DELETED meta-0 k0b");
    admin.CreateNode(node("meta-0", "k0c", "10.9.5.0/24"));
    REQUIRE(loop.RunUntil([&] { return cidrs("meta-0") == std::vector<std::string>{"10.9.5.0/24"}; }, 60s));
    CHECK(rec.events.back() == "ADDED meta-0 k0c");
    for (const auto& [name, n] : informer.nodes()) CHECK_MESSAGE(n.addresses.empty(), name);
    CHECK(informer.status().watch_failures == 0);
    CHECK(informer.status().lists == 1);  // no GET failed into a relist
    informer.Stop();
    admin.DeleteNodes("test=meta");
  }

  TEST_CASE("403 is logged and backed off, never spun on") {
    ClusterEnv env = LoadCluster("a");
    TempDir dir;
    Loop loop;
    auto client = MakeClient(
        loop, "a",
        ClusterSource::Kubeconfig(WriteKubeconfig(
            dir.path() + "/kc", "server: '" + env.server + "', certificate-authority: '" + env.ca_file + "'",
            "token: " + env.nobody_token)));
    InformerOptions options;
    options.backoff_initial = 200ms;
    options.backoff_cap = 1s;
    NodeInformer informer(*client, {}, {}, options);
    informer.Start();
    loop.RunUntil([] { return false; }, 2s);
    auto status = informer.status();
    CHECK(status.list_failures >= 2);
    CHECK(status.list_failures <= 8);  // 0.1-0.2 s, 0.2-0.4 s, 0.4-0.8 s, 0.5-1 s ...
    CHECK_FALSE(status.synced);
    CHECK(status.state == swg::k8s::InformerState::kBackoff);
    CHECK(status.last_error ==
          "a: GET /api/v1/nodes?limit=500: HTTP 403 Forbidden: nodes is forbidden: User "
          "\"swg-nobody\" cannot list resource \"nodes\" in API group \"\" at the cluster scope");
    informer.Stop();
  }


  // A watch is read straight from its connection (k8s/http_stream.h), which libcurl makes: the next watch goes
  // on the same one, as an HTTP/1.1 client keeps a connection alive, so a remote apiserver does not pay a TLS
  // handshake per watch and per node.
  TEST_CASE("watches follow one another on one connection; a kept one the server closed is replaced") {
    ClusterEnv env = LoadCluster("a");
    Admin admin(env);
    TcpProxy balancer(env.api_port);
    TempDir dir;
    const std::string kubeconfig =
        WriteKubeconfig(dir.path() + "/kubeconfig",
                        "server: https://127.0.0.1:" + std::to_string(balancer.port()) +
                            ", certificate-authority: " + env.ca_file,
                        "token: " + env.admin_token);
    Loop loop;
    auto client = MakeClient(loop, "a", ClusterSource::Kubeconfig(kubeconfig));
    swg::k8s::ListOptions list;
    list.limit = 1;
    auto page = ListSync(loop, *client, list);
    REQUIRE(page.ok());
    const int after_list = balancer.accepted();
    auto watch_once = [&] {
      swg::k8s::WatchOptions options;
      options.resource_version = page->resource_version;
      options.timeout_seconds = 1;
      options.label_selector = "test=none-such";
      std::optional<swg::Status> end;
      auto call = client->WatchNodes(options, swg::k8s::AnnotationFilter::All(), [](swg::k8s::WatchEvent) {},
                                     [&](swg::Status s) { end = std::move(s); });
      REQUIRE(loop.RunUntil([&] { return end.has_value(); }, 60s));
      const std::string error = end->ok() ? "" : end->error().message;
      CHECK(error == "");
    };
    for (int i = 0; i < 3; ++i) watch_once();
    CHECK(balancer.accepted() == after_list + 1);
    // The proxy closes the kept connection, as a server or load balancer does with idle ones: the next watch
    // finds it closed before a byte of its answer, and goes on a new one without failing.
    balancer.DropAll();
    watch_once();
    CHECK(balancer.accepted() == after_list + 2);
    watch_once();
    CHECK(balancer.accepted() == after_list + 2);
  }
}  // TEST_SUITE
