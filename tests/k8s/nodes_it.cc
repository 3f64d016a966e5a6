// Get, patch and list against real kube-apiservers.
#include <doctest/doctest.h>

#include <set>

#include "common/log.h"
#include "k8s/informer.h"
#include "tests/k8s/cluster.h"
#include "tests/k8s/memory.h"

using namespace std::chrono_literals;
using swg::Loop;
using swg::k8s::ClusterSource;
using namespace swg::test;

TEST_SUITE("nodes") {
  TEST_CASE("a patch of annotations round-trips and null removes one") {
    ClusterEnv env = LoadCluster("a");
    Admin admin(env);
    admin.Request("DELETE", "/api/v1/nodes/patch-1");
    admin.CreateNode({"patch-1", {{"test", "patch"}}, {{"keep", "me"}}, "10.8.1.0/24", "192.0.2.8"});
    Loop loop;
    auto client = MakeClient(loop, "a", ClusterSource::Kubeconfig(env.kubeconfig));
    const std::string pub = "c2.wireguard.semaphore.uw.io/pubKey",
                      ep = "c2.wireguard.semaphore.uw.io/endpoint";

    auto patched = PatchSync(loop, *client, "patch-1", {{pub, "K3yK3y="}, {ep, "192.0.2.8:51820"}});
    REQUIRE(patched.ok());
    CHECK(patched->annotations ==
          std::map<std::string, std::string>{{"keep", "me"}, {pub, "K3yK3y="}, {ep, "192.0.2.8:51820"}});
    CHECK(patched->pod_cidrs ==
          std::vector<std::string>{"10.8.1.0/24"});  // a patch leaves spec and status alone
    CHECK(admin.Nodes("test=patch").at("patch-1").at(ep) == "192.0.2.8:51820");

    auto removed = PatchSync(loop, *client, "patch-1", {{ep, std::nullopt}, {"never-there", std::nullopt}});
    REQUIRE(removed.ok());
    CHECK(removed->annotations == std::map<std::string, std::string>{{"keep", "me"}, {pub, "K3yK3y="}});
    auto fetched = GetNodeSync(loop, *client, "patch-1");
    REQUIRE(fetched.ok());
    CHECK(fetched->annotations == removed->annotations);
    CHECK(fetched->resource_version == removed->resource_version);
    CHECK(admin.Nodes("test=patch").at("patch-1").count(ep) == 0);

    // Values are sent verbatim, whatever they contain.
    auto odd =
        PatchSync(loop, *client, "patch-1", {{"odd", "quote\" backslash\\ newline\n unicode \xc3\xa9"}});
    REQUIRE(odd.ok());
    CHECK(odd->annotations.at("odd") == "quote\" backslash\\ newline\n unicode \xc3\xa9");

    auto missing = PatchSync(loop, *client, "patch-missing", {{"a", "b"}});
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == 404);
    CHECK(missing.error().message ==
          "a: PATCH /api/v1/nodes/patch-missing: HTTP 404 NotFound: nodes \"patch-missing\" "
          "not found");
    admin.DeleteNode("patch-1");
  }

  TEST_CASE("1,200 nodes arrive complete over several pages, and an informer syncs them") {
    ClusterEnv env = LoadCluster("b");
    Admin admin(env);
    admin.DeleteNodes("test=bulk");
    std::vector<NodeSpec> nodes;
    std::set<std::string> names;
    for (int i = 0; i < 1200; ++i) {
      std::string name = "bulk-" + std::to_string(10000 + i);
      names.insert(name);
      std::string cidr = "10." + std::to_string(100 + i / 256) + "." + std::to_string(i % 256) + ".0/24";
      nodes.push_back({name,
                       {{"test", "bulk"}},
                       {{"b.wireguard.semaphore.uw.io/pubKey", "key-" + name}, {"noise", "x"}},
                       cidr,
                       "192.168." + std::to_string(i / 256) + "." + std::to_string(i % 256)});
    }
    auto t0 = std::chrono::steady_clock::now();
    admin.CreateNodes(nodes);
    auto created = std::chrono::steady_clock::now() - t0;
    MESSAGE("created 1200 nodes in ", std::chrono::duration_cast<std::chrono::milliseconds>(created).count(),
            " ms");

    Loop loop;
    auto client = MakeClient(loop, "b", ClusterSource::Kubeconfig(env.kubeconfig));
    swg::k8s::ListOptions options;
    options.label_selector = "test=bulk";
    options.limit = 500;
    std::set<std::string> listed;
    std::set<std::string> rvs;
    int pages = 0;
    t0 = std::chrono::steady_clock::now();
    do {
      auto page = ListSync(loop, *client, options);
      REQUIRE(page.ok());
      ++pages;
      CHECK(page->items.size() <= 500);
      for (const auto& n : page->items) {
        CHECK(listed.insert(n.name).second);  // no duplicates across pages
        CHECK(n.pod_cidrs.size() == 1);
      }
      rvs.insert(page->resource_version);
      options.continue_token = page->continue_token;
    } while (!options.continue_token.empty());
    auto took = std::chrono::steady_clock::now() - t0;
    MESSAGE("listed 1200 nodes in ", pages, " pages in ",
            std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), " ms");
    CHECK(pages == 3);
    CHECK(rvs.size() == 1);  // one consistent snapshot
    CHECK(listed == names);

    swg::k8s::NodeFilter filter;
    filter.label_selector = "test=bulk";
    filter.annotation_keys = {"b.wireguard.semaphore.uw.io/pubKey"};
    int synced = 0;
    size_t added = 0;
    swg::k8s::InformerOptions io;
    io.page_size = 500;
    swg::k8s::NodeInformer informer(*client, filter,
                                    {[&](swg::k8s::EventType t, const swg::k8s::NodeInfo&) {
                                       if (t == swg::k8s::EventType::kAdded) ++added;
                                     },
                                     [&] { ++synced; }},
                                    io);
    t0 = std::chrono::steady_clock::now();
    informer.Start();
    REQUIRE(loop.RunUntil([&] { return synced == 1; }, 60s));
    took = std::chrono::steady_clock::now() - t0;
    MESSAGE("informer synced 1200 nodes in ",
            std::chrono::duration_cast<std::chrono::milliseconds>(took).count(), " ms");
    CHECK(added == 1200);
    CHECK(informer.nodes().size() == 1200);
    const auto& one = informer.nodes().at("bulk-10042");
    CHECK(one.annotations ==
          std::map<std::string, std::string>{{"b.wireguard.semaphore.uw.io/pubKey", "key-bulk-10042"}});
    CHECK(one.addresses.at(0).address == "192.168.0.42");
    auto status = informer.status();
    CHECK(status.synced);
    CHECK(status.lists == 1);
    CHECK(status.list_failures == 0);
    informer.Stop();
    admin.DeleteNodes("test=bulk");
  }

  TEST_CASE("5,000 real-sized nodes: the informer as a worker sets it up syncs them within its bounds") {
    ClusterEnv env = LoadCluster("b");
    Admin admin(env);
    admin.DeleteNodes("test=big");
    const std::string pub = "c1.wireguard.semaphore.uw.io/pubKey",
                      ep = "c1.wireguard.semaphore.uw.io/endpoint";
    std::vector<NodeSpec> nodes;
    for (int i = 0; i < 5000; ++i) {
      std::string name =
          "ip-10-0-" + std::to_string(i / 256) + "-" + std::to_string(i % 256) + ".big.internal";
      std::string ip = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
      NodeSpec n{
          name,
          {{"test", "big"}, {"kubernetes.io/hostname", name}, {"topology.kubernetes.io/zone", "zone-a"}},
          {{pub, "kKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKk="},
           {ep, ip + ":51820"},
           {"node.alpha.kubernetes.io/ttl", "0"}},
          "10." + std::to_string(100 + i / 256) + "." + std::to_string(i % 256) + ".0/24",
          ip};
      n.kubelet_status = true;
      nodes.push_back(std::move(n));
    }
    MESSAGE("one node is ", swg::test::NodeJson(nodes[0]).size(), " bytes of JSON");
    auto t0 = std::chrono::steady_clock::now();
    admin.CreateNodes(nodes);
    MESSAGE("created 5000 nodes in ",
            std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - t0).count(),
            " s");

    Loop loop;
    auto client = MakeClient(loop, "b", ClusterSource::Kubeconfig(env.kubeconfig));
    swg::k8s::NodeFilter filter;  // as worker.cc's StartRemoteWatch
    filter.label_selector = "test=big";
    filter.annotation_keys = {pub, ep};
    filter.only_annotated = true;
    filter.keep_addresses = false;
    filter.max_annotation_bytes = 256;
    int synced = 0;
    swg::k8s::NodeInformer informer(*client, filter, {nullptr, [&] { ++synced; }});
    swg::test::RssPeak peak;
    t0 = std::chrono::steady_clock::now();
    informer.Start();
    REQUIRE(loop.RunUntil([&] { return synced == 1 || informer.status().list_failures > 0; }, 120s));
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    size_t growth = peak.growth_bytes();
    auto status = informer.status();
    MESSAGE("informer synced ", informer.nodes().size(), " nodes in ", took.count(), " ms; peak memory +",
            growth >> 10, " KiB; the cache takes ", status.cache_bytes >> 10, " KiB; ", status.last_error);
    CHECK(synced == 1);
    CHECK(status.list_failures == 0);
    CHECK(informer.nodes().size() == 5000);
    CHECK(informer.nodes().begin()->second.addresses.empty());
    CHECK(informer.nodes().begin()->second.annotations.size() == 2);
    CHECK(status.cache_bytes < (16u << 20));
    swg::test::CheckGrowthBelow(growth, 64u << 20);
    informer.Stop();
    admin.DeleteNodes("test=big");
  }

}  // TEST_SUITE
