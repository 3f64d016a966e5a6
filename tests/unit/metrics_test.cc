#include "common/metrics.h"

#include <doctest/doctest.h>

#include <set>
#include <string>

using swg::metrics::Registry;

TEST_CASE("counters, gauges and histograms render in the Prometheus text format") {
  Registry r;
  r.Counter("semaphore_wg_sync_peers_total", "Number of peer syncs", {"device", "success"});
  r.Gauge("semaphore_wg_peer_info", "Peer info", {"device", "public_key", "endpoint"});
  r.Histogram("swg_sync_duration_seconds", "Sync duration", {"remote"}, {0.1, 1});
  r.Add("semaphore_wg_sync_peers_total", {"wireguard.c2", "true"});
  r.Add("semaphore_wg_sync_peers_total", {"wireguard.c2", "true"}, 2);
  r.Add("semaphore_wg_sync_peers_total", {"wireguard.c2", "false"});
  r.Set("semaphore_wg_peer_info", {"wireguard.c2", "k\"1", "10.0.0.1:51820"}, 1);
  r.Observe("swg_sync_duration_seconds", {"c2"}, 0.05);
  r.Observe("swg_sync_duration_seconds", {"c2"}, 0.5);
  r.Observe("swg_sync_duration_seconds", {"c2"}, 5);
  CHECK(r.Get("semaphore_wg_sync_peers_total", {"wireguard.c2", "true"}) == 3);
  CHECK(swg::metrics::RenderText(r.Snapshot()) ==
        "# HELP semaphore_wg_peer_info Peer info\n"
        "# TYPE semaphore_wg_peer_info gauge\n"
        "semaphore_wg_peer_info{device=\"wireguard.c2\",public_key=\"k\\\"1\",endpoint=\"10.0.0.1:51820\"} 1\n"
        "# HELP semaphore_wg_sync_peers_total Number of peer syncs\n"
        "# TYPE semaphore_wg_sync_peers_total counter\n"
        "semaphore_wg_sync_peers_total{device=\"wireguard.c2\",success=\"false\"} 1\n"
        "semaphore_wg_sync_peers_total{device=\"wireguard.c2\",success=\"true\"} 3\n"
        "# HELP swg_sync_duration_seconds Sync duration\n"
        "# TYPE swg_sync_duration_seconds histogram\n"
        "swg_sync_duration_seconds_bucket{remote=\"c2\",le=\"0.1\"} 1\n"
        "swg_sync_duration_seconds_bucket{remote=\"c2\",le=\"1\"} 2\n"
        "swg_sync_duration_seconds_bucket{remote=\"c2\",le=\"+Inf\"} 3\n"
        "swg_sync_duration_seconds_sum{remote=\"c2\"} 5.55\n"
        "swg_sync_duration_seconds_count{remote=\"c2\"} 3\n");
  r.Clear("semaphore_wg_peer_info");
  CHECK(r.Get("semaphore_wg_peer_info", {"wireguard.c2", "k\"1", "10.0.0.1:51820"}) == 0);
}

TEST_CASE("snapshots survive the JSON channel and merge across workers") {
  Registry a, b;
  for (Registry* r : {&a, &b}) {
    r->Counter("semaphore_wg_sync_peers_total", "syncs", {"device", "success"});
    r->Histogram("h", "h", {"remote"}, {1, 2});
  }
  a.Add("semaphore_wg_sync_peers_total", {"wireguard.c2", "true"}, 4);
  b.Add("semaphore_wg_sync_peers_total", {"wireguard.c3", "true"}, 7);
  a.Observe("h", {"c2"}, 1.5);
  std::vector<swg::metrics::Family> fa, fb;
  std::string err;
  REQUIRE(swg::metrics::FromJson(swg::metrics::ToJson(a.Snapshot()), &fa, &err));
  REQUIRE(swg::metrics::FromJson(swg::metrics::ToJson(b.Snapshot()), &fb, &err));
  CHECK(swg::metrics::RenderText(fa) == swg::metrics::RenderText(a.Snapshot()));
  swg::metrics::Merge(fa, fb);
  std::string text = swg::metrics::RenderText(fa);
  CHECK(text.find("semaphore_wg_sync_peers_total{device=\"wireguard.c2\",success=\"true\"} 4\n"
                  "semaphore_wg_sync_peers_total{device=\"wireguard.c3\",success=\"true\"} 7\n") != std::string::npos);
  CHECK(text.find("# TYPE semaphore_wg_sync_peers_total counter") == text.rfind("# TYPE semaphore_wg_sync_peers_total"));
  CHECK_FALSE(swg::metrics::FromJson("{", &fa, &err));
  CHECK_FALSE(swg::metrics::FromJson(R"([{"name":"x","type":1,"labels":["a"],"series":[{"l":[],"v":1}]}])", &fa, &err));
  CHECK(err == "metrics: series of x does not match its family");
}

TEST_CASE("merging workers sums identical counter and histogram series and keeps one of identical gauges") {
  // Every worker counts failures of the watch on the local cluster and requests to the local apiserver: with
  // several remotes the same label set comes from each worker, and Prometheus would drop all but one of them.
  std::vector<swg::metrics::Family> merged;
  for (int w = 0; w < 3; ++w) {
    Registry r;
    r.Counter("semaphore_wg_node_watcher_failures_total", "f", {"cluster", "verb"});
    r.Counter("semaphore_wg_kube_http_request_total", "r", {"host", "code", "method"});
    r.Histogram("h", "h", {"kind"}, {1, 2});
    r.Gauge("g", "g", {"device"});
    r.Add("semaphore_wg_node_watcher_failures_total", {"local", "watch"}, w + 1);
    r.Add("semaphore_wg_node_watcher_failures_total", {"remote" + std::to_string(w), "watch"}, 10);
    r.Add("semaphore_wg_kube_http_request_total", {"10.0.0.1:6443", "200", "GET"}, 100);
    r.Observe("h", {"x"}, 0.5 + w);  // buckets 1, 2 and +Inf, one each
    r.Set("g", {"same"}, 7);
    std::vector<swg::metrics::Family> f;
    std::string err;
    REQUIRE(swg::metrics::FromJson(swg::metrics::ToJson(r.Snapshot()), &f, &err));
    swg::metrics::Merge(merged, f);
  }
  std::string text = swg::metrics::RenderText(merged);
  CHECK(text.find("semaphore_wg_node_watcher_failures_total{cluster=\"local\",verb=\"watch\"} 6\n") != std::string::npos);
  CHECK(text.find("semaphore_wg_kube_http_request_total{host=\"10.0.0.1:6443\",code=\"200\",method=\"GET\"} 300\n") !=
        std::string::npos);
  CHECK(text.find("semaphore_wg_node_watcher_failures_total{cluster=\"remote2\",verb=\"watch\"} 10\n") !=
        std::string::npos);
  CHECK(text.find("h_bucket{kind=\"x\",le=\"1\"} 1\nh_bucket{kind=\"x\",le=\"2\"} 2\nh_bucket{kind=\"x\",le=\"+Inf\"} 3\n"
                  "h_sum{kind=\"x\"} 4.5\nh_count{kind=\"x\"} 3\n") != std::string::npos);
  CHECK(text.find("g{device=\"same\"} 7\n") != std::string::npos);
  // No sample line (name and labels) appears twice.
  std::set<std::string> seen;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line[0] == '#') continue;
    std::string key = line.substr(0, line.rfind(' '));
    CHECK_MESSAGE(seen.insert(key).second, "repeated series: " << key);
  }
}
