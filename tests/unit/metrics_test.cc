#include "common/metrics.h"

#include <doctest/doctest.h>

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
