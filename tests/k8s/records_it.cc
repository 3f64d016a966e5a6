// The mirror's RecordWriter against a real kube-apiserver (cluster "a") with the WireGuardPeer CRD from
// deploy/crd: 200 records written, each change of a written field one request and nothing for the others,
// deletes only after a complete list, the sync marker, a restarted writer that has nothing to write, a
// conflict with a write behind its back, and DeleteAll. What was written is checked with the agents' own
// code: a NodeInformer on the records (NodeFilter::records, as worker/worker.cc sets it) and FindSyncMarker.
#include <doctest/doctest.h>

#include <cstdio>

#include "common/config.h"
#include "common/loop.h"
#include "k8s/client.h"
#include "k8s/informer.h"
#include "k8s/peer_record.h"
#include "k8s/record_writer.h"
#include "tests/k8s/cluster.h"
#include "tests/unit/testutil.h"

using namespace std::chrono_literals;
using swg::Loop;
using swg::k8s::ClusterSource;
using swg::k8s::NodeInfo;
using swg::k8s::RecordContent;
using swg::k8s::RecordWriter;
using namespace swg::test;

namespace {

constexpr const char* kNamespace = "default";
constexpr const char* kRemote = "itc2";  // the remote the records describe
constexpr const char* kLocal = "a";      // the cluster they are written in
const std::string kCrd = std::string(SWG_SOURCE_DIR) + "/deploy/crd/wireguardpeers.yaml";

// A remote node as the mirror's informer keeps it: our annotations, keyed for the local cluster.
NodeInfo RemoteNode(int i) {
  NodeInfo n;
  n.name = "rn-" + std::to_string(i);
  n.uid = "uid-" + std::to_string(i);
  n.resource_version = "1";
  n.creation_timestamp = 1767323045 + i;
  n.annotations[swg::PubKeyAnnotation(kLocal)] = "pubkey-" + std::to_string(i);
  n.annotations[swg::EndpointAnnotation(kLocal)] =
      "10.8." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1) + ":51820";
  if (i % 2 == 0) n.annotations[swg::ClusterAnnotation(kLocal, "persistentKeepalive")] = "25s";
  n.pod_cidrs = {"10.9." + std::to_string(i % 250) + ".0/24"};
  n.addresses = {{"InternalIP", "10.8.0." + std::to_string(i % 250 + 1)}};
  return n;
}

std::map<std::string, RecordContent> Desired(const std::map<std::string, NodeInfo>& remote) {
  std::map<std::string, RecordContent> out;
  for (const auto& [name, node] : remote) {
    out[name] = swg::k8s::RecordFromNode(node, kLocal, name == "rn-5" ? "the public key is not a key" : "");
  }
  return out;
}

// Requests of the writer's client, by method.
struct Requests {
  std::map<std::string, int> by_method;
  int total() const {
    int n = 0;
    for (const auto& [m, c] : by_method) n += c;
    return n;
  }
  std::string Text() const {
    std::string s;
    for (const auto& [m, c] : by_method) s += (s.empty() ? "" : " ") + m + "=" + std::to_string(c);
    return s.empty() ? "none" : s;
  }
};

class Bench {
 public:
  Bench(Loop& loop, RecordWriter& writer, Requests& requests)
      : loop_(loop), writer_(writer), requests_(requests) {}
  // Runs one step; returns its requests and prints them with the bytes moved.
  Requests Phase(const std::string& name, const std::function<void(RecordWriter::Done)>& step,
                 bool must_succeed = true) {
    requests_.by_method.clear();
    const swg::k8s::RecordWriterCounters before = writer_.counters();
    const auto start = std::chrono::steady_clock::now();
    std::optional<swg::Status> out;
    step([&out](swg::Status s) { out = std::move(s); });
    REQUIRE(loop_.RunUntil([&] { return out.has_value(); }, 60s));
    if (must_succeed) REQUIRE_MESSAGE(out->ok(), out->error().message);
    const auto& after = writer_.counters();
    std::printf(
        "records_it: %-44s %3ld ms, requests %s, sent %llu B, received %llu B\n", name.c_str(),
        static_cast<long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start)
                .count()),
        requests_.Text().c_str(), static_cast<unsigned long long>(after.bytes_sent - before.bytes_sent),
        static_cast<unsigned long long>(after.bytes_received - before.bytes_received));
    return requests_;
  }

 private:
  Loop& loop_;
  RecordWriter& writer_;
  Requests& requests_;
};

// What an agent of the local cluster reads: the records of kRemote through the agents' informer.
struct AgentView {
  AgentView(swg::k8s::Client& client) {
    swg::k8s::NodeFilter filter;
    filter.annotation_keys = {swg::PubKeyAnnotation(kLocal), swg::EndpointAnnotation(kLocal),
                              swg::ClusterAnnotation(kLocal, "persistentKeepalive")};
    filter.records = swg::k8s::PeerRecords{kNamespace, kRemote, kLocal};
    filter.label_selector = std::string(swg::k8s::kRecordRemoteLabel) + "=" + kRemote;
    filter.keep_addresses = false;
    informer = std::make_unique<swg::k8s::NodeInformer>(client, filter, swg::k8s::NodeInformer::Handler{});
    informer->Start();
  }
  const std::map<std::string, NodeInfo>& nodes() const { return informer->nodes(); }
  std::unique_ptr<swg::k8s::NodeInformer> informer;
};

// The agents' view of `remote`, as the fields that matter: what each record read as.
std::string Seen(const NodeInfo& n) {
  std::string s = n.name + " t=" + std::to_string(n.creation_timestamp);
  for (const auto& [k, v] : n.annotations) s += " " + k + "=" + v;
  for (const auto& c : n.pod_cidrs) s += " cidr=" + c;
  if (!n.refused_code.empty()) s += " refused=" + n.refused_code + ":" + n.refused;
  return s;
}

// Whether the agents see `remote`; the first difference in `why`.
std::string why;
bool Matches(const AgentView& view, const std::map<std::string, NodeInfo>& remote) {
  why = std::to_string(view.nodes().size()) + " entries, want " + std::to_string(remote.size() + 1);
  if (view.nodes().size() != remote.size() + 1) return false;  // the marker too
  for (const auto& [name, node] : remote) {
    auto it = view.nodes().find(name);
    if (it == view.nodes().end()) {
      why = "no " + name;
      return false;
    }
    NodeInfo want = node;
    want.uid = it->second.uid;
    want.resource_version = it->second.resource_version;
    want.addresses.clear();
    want.annotations.erase_if([](const auto& kv) { return !kv.first.starts_with("a."); });
    if (name == "rn-5") {
      want.refused_code = "mirror_rejected";
      want.refused = "the mirror rejected this node: the public key is not a key";
    }
    if (Seen(it->second) != Seen(want)) {
      why = "agent sees " + Seen(it->second) + "\nwanted     " + Seen(want);
      return false;
    }
  }
  return true;
}

}  // namespace

TEST_SUITE("records") {
  TEST_CASE("the mirror's records: 200 written, a change is one request, deletes after a complete list") {
    ClusterEnv env = LoadCluster("a");
    Admin admin(env);
    Shell(env.kubectl + " --kubeconfig " + env.kubeconfig + " apply -f " + kCrd + " >/dev/null && " +
          env.kubectl + " --kubeconfig " + env.kubeconfig +
          " wait --for condition=established --timeout=60s crd/wireguardpeers.wireguard.semaphore.uw.io "
          ">/dev/null");
    Loop loop;
    auto client = MakeClient(loop, "a", ClusterSource::Kubeconfig(env.kubeconfig));
    Requests requests;
    client->SetRequestObserver([&requests](std::string_view method, std::string_view, int) {
      ++requests.by_method[std::string(method)];
    });
    swg::k8s::RecordWriterOptions options{kNamespace, kRemote};
    auto writer = std::make_unique<RecordWriter>(*client, options);
    Bench bench(loop, *writer, requests);
    bench.Phase("leftovers of an earlier run removed", [&](auto d) { writer->DeleteAll(std::move(d)); });
    auto agent_client = MakeClient(loop, "a-agent", ClusterSource::Kubeconfig(env.kubeconfig));
    AgentView agent(*agent_client);

    std::map<std::string, NodeInfo> remote;
    for (int i = 0; i < 200; ++i) remote[RemoteNode(i).name] = RemoteNode(i);

    Requests r = bench.Phase("start: list", [&](auto d) { writer->Start(std::move(d)); });
    CHECK(r.Text() == "GET=1");
    r = bench.Phase("200 records created",
                    [&](auto d) { writer->Apply(Desired(remote), true, std::move(d)); });
    CHECK(r.Text() == "POST=200");
    CHECK(writer->counters().creates == 200);
    r = bench.Phase("sync marker written",
                    [&](auto d) { writer->WriteMarker(true, "mirror-it", 200, std::move(d)); });
    CHECK(r.Text() == "POST=1");
    REQUIRE_MESSAGE(loop.RunUntil([&] { return Matches(agent, remote); }, 60s),
                    "the agents' view: ", agent.nodes().size(), " entries");
    {
      auto marker = swg::k8s::FindSyncMarker(agent.nodes());
      REQUIRE(marker.has_value());
      CHECK(marker->complete);
      CHECK(marker->leader == "mirror-it");
      CHECK(marker->nodes == 200);
      const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
      CHECK(marker->last_sync <= now);
      CHECK(marker->last_sync >= now - 60);
    }

    remote["rn-17"].annotations[swg::EndpointAnnotation(kLocal)] = "10.77.0.1:51820";
    r = bench.Phase("one endpoint changed",
                    [&](auto d) { writer->Apply(Desired(remote), true, std::move(d)); });
    CHECK(r.Text() == "PUT=1");
    CHECK(writer->counters().updates == 1);
    CHECK_MESSAGE(loop.RunUntil([&] { return Matches(agent, remote); }, 30s), why);

    // What a kubelet changes all the time, and annotations addressed to other clusters: nothing to write.
    NodeInfo& busy = remote["rn-18"];
    busy.resource_version = "99";
    busy.addresses = {{"InternalIP", "10.99.0.1"}, {"Hostname", "rn-18"}};
    busy.conditions = {{"Ready", "False", "KubeletNotReady", "PLEG is not healthy"}};
    busy.annotations["b.wireguard.semaphore.uw.io/endpoint"] = "10.1.1.1:51820";
    r = bench.Phase("status-only change",
                    [&](auto d) { writer->Apply(Desired(remote), true, std::move(d)); });
    CHECK(r.total() == 0);

    // A write behind the writer's back (kubectl annotate): the update conflicts, is read again, and written.
    auto patched = admin.Request(
        "PATCH", "/apis/wireguard.semaphore.uw.io/v1alpha1/namespaces/default/wireguardpeers/itc2.rn-19",
        R"({"metadata":{"annotations":{"note":"hand-made"}}})", "application/merge-patch+json");
    REQUIRE(patched.code == 200);
    remote["rn-19"].pod_cidrs = {"10.9.219.0/24"};
    r = bench.Phase("an update that conflicts",
                    [&](auto d) { writer->Apply(Desired(remote), true, std::move(d)); });
    CHECK(r.Text() == "GET=1 PUT=2");
    CHECK(writer->counters().conflicts == 1);
    CHECK_MESSAGE(loop.RunUntil([&] { return Matches(agent, remote); }, 30s), why);

    auto ten_fewer = remote;
    for (int i = 100; i < 110; ++i) ten_fewer.erase("rn-" + std::to_string(i));
    r = bench.Phase("10 gone, list not complete",
                    [&](auto d) { writer->Apply(Desired(ten_fewer), false, std::move(d)); });
    CHECK(r.total() == 0);
    r = bench.Phase("10 gone, after a complete list",
                    [&](auto d) { writer->Apply(Desired(ten_fewer), true, std::move(d)); });
    CHECK(r.Text() == "DELETE=10");
    CHECK(writer->counters().deletes == 10);
    remote = ten_fewer;
    CHECK_MESSAGE(loop.RunUntil([&] { return Matches(agent, remote); }, 30s), why);

    // A new active mirror (a failover): it lists what is there and has nothing to write.
    options.page_size = 50;
    writer = std::make_unique<RecordWriter>(*client, options);
    Bench bench2(loop, *writer, requests);
    r = bench2.Phase("restarted writer: list in pages of 50", [&](auto d) { writer->Start(std::move(d)); });
    CHECK(r.Text() == "GET=4");
    CHECK(writer->records().size() == 191);
    r = bench2.Phase("restarted writer: same nodes",
                     [&](auto d) { writer->Apply(Desired(remote), true, std::move(d)); });
    CHECK(r.total() == 0);
    CHECK(writer->counters().unchanged == 190);

    r = bench2.Phase("remote taken out of the config: DeleteAll",
                     [&](auto d) { writer->DeleteAll(std::move(d)); });
    CHECK(r.Text() == "DELETE=191 GET=4");
    CHECK(loop.RunUntil([&] { return agent.nodes().empty(); }, 30s));
    // This remote's records only: other tests (k8s_mirror) may write records of theirs in the same cluster.
    auto left = admin.Request("GET",
                              "/apis/wireguard.semaphore.uw.io/v1alpha1/namespaces/default/wireguardpeers"
                              "?labelSelector=wireguard.semaphore.uw.io%2Fremote%3Ditc2");
    REQUIRE(left.code == 200);
    CHECK(left.body.find(R"("items":[])") != std::string::npos);
  }
}
