#include "tests/k8s/cluster.h"

#include <curl/curl.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include "common/base64.h"
#include "common/json.h"
#include "k8s/kubeconfig.h"
#include "tests/unit/testutil.h"

namespace swg::test {
namespace {

std::string ControlPlaneDir() {
  const char* dir = getenv("SWG_K8S_CP_DIR");
  REQUIRE_MESSAGE(dir != nullptr, "SWG_K8S_CP_DIR is not set: run the k8s tests through ctest (fixture)");
  return dir;
}

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

struct Easy {
  CURL* h = curl_easy_init();
  curl_slist* headers = nullptr;
  std::string body;  // request body (kept alive)
  std::string out;
  ~Easy() {
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
  }
};

void Setup(Easy& e, const ClusterEnv& env, const std::string& method, const std::string& url,
           const std::string& body, const std::string& content_type) {
  e.body = body;
  curl_easy_setopt(e.h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e.h, CURLOPT_CAINFO, env.ca_file.c_str());
  curl_easy_setopt(e.h, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(e.h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e.h, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(e.h, CURLOPT_WRITEDATA, &e.out);
  e.headers = curl_slist_append(e.headers, ("Authorization: Bearer " + env.admin_token).c_str());
  e.headers = curl_slist_append(e.headers, ("Content-Type: " + content_type).c_str());
  curl_easy_setopt(e.h, CURLOPT_HTTPHEADER, e.headers);
  curl_easy_setopt(e.h, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (!body.empty()) {
    curl_easy_setopt(e.h, CURLOPT_POSTFIELDS, e.body.c_str());
    curl_easy_setopt(e.h, CURLOPT_POSTFIELDSIZE, static_cast<long>(e.body.size()));
  }
}

std::string EtcdPost(const ClusterEnv& env, const std::string& path, const std::string& body) {
  Easy e;
  curl_easy_setopt(e.h, CURLOPT_URL, (env.etcd_url + path).c_str());
  curl_easy_setopt(e.h, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(e.h, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(e.h, CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(e.h, CURLOPT_WRITEDATA, &e.out);
  CURLcode rc = curl_easy_perform(e.h);
  long code = 0;
  curl_easy_getinfo(e.h, CURLINFO_RESPONSE_CODE, &code);
  INFO("etcd ", path, ": ", e.out);
  REQUIRE(rc == CURLE_OK);
  REQUIRE(code == 200);
  return e.out;
}

}  // namespace

ClusterEnv LoadCluster(const std::string& name) {
  ClusterEnv env;
  env.name = name;
  env.dir = ControlPlaneDir() + "/" + name;
  std::ifstream in(env.dir + "/env");
  REQUIRE_MESSAGE(in.good(), "no cluster ", name, " under ", ControlPlaneDir());
  std::map<std::string, std::string> kv;
  for (std::string line; std::getline(in, line);) {
    size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string value = line.substr(eq + 1);
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'')
      value = value.substr(1, value.size() - 2);
    kv[line.substr(0, eq)] = value;
  }
  env.server = kv["SERVER"];
  env.ca_file = kv["CA_FILE"];
  env.ca_key = kv["CA_KEY"];
  env.admin_token = kv["ADMIN_TOKEN"];
  env.nobody_token = kv["NOBODY_TOKEN"];
  env.admin_cert = kv["ADMIN_CERT"];
  env.admin_key = kv["ADMIN_KEY"];
  env.kubeconfig = kv["KUBECONFIG"];
  env.etcd_url = kv["ETCD_URL"];
  env.kubectl = kv["KUBECTL"];
  env.api_port = std::atoi(kv["API_PORT"].c_str());
  REQUIRE(!env.server.empty());
  return env;
}

void ControlPlane(const std::string& args) {
  Shell(std::string(SWG_CONTROL_PLANE) + " " + args + " --dir " + ControlPlaneDir() + " 2>&1");
}

namespace {

// The status fields a kubelet fills in, with made-up but realistically sized values.
void AddKubeletStatus(const std::string& name, json_t* status) {
  const std::string day = "2026-01-02T03:04:05Z";
  json_t* conditions = json_array();
  for (const char* type : {"MemoryPressure", "DiskPressure", "PIDPressure", "Ready", "NetworkUnavailable"}) {
    std::string reason = std::string("Kubelet") + type;
    json_array_append_new(
        conditions, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "type", type, "status", "False",
                              "lastHeartbeatTime", day.c_str(), "lastTransitionTime", day.c_str(), "reason",
                              reason.c_str(), "message", ("kubelet has no " + std::string(type)).c_str()));
  }
  json_object_set_new(status, "conditions", conditions);
  for (const char* key : {"capacity", "allocatable"}) {
    json_object_set_new(status, key,
                        json_pack("{s:s,s:s,s:s,s:s}", "cpu", "4", "memory", "16302736Ki", "pods", "110",
                                  "ephemeral-storage", "101430960Ki"));
  }
  json_object_set_new(status, "daemonEndpoints", json_pack("{s:{s:i}}", "kubeletEndpoint", "Port", 10250));
  json_object_set_new(
      status, "nodeInfo",
      json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "machineID", "ec2d4f1d8a7b4e6c9f0a1b2c3d4e5f60",
                "systemUUID", "ec2d4f1d-8a7b-4e6c-9f0a-1b2c3d4e5f60", "bootID",
                "0b4e9c2a-6d1f-4a8b-9c3e-5f7a2d1b8c4e", "kernelVersion", "6.1.0-18-amd64", "osImage",
                "Debian GNU/Linux 12 (bookworm)", "containerRuntimeVersion", "containerd://1.7.24",
                "kubeletVersion", "v1.36.3", "kubeProxyVersion", "v1.36.3", "operatingSystem", "linux",
                "architecture", "amd64"));
  json_t* images = json_array();
  for (int i = 0; i < 35; ++i) {
    char digest[72];
    snprintf(digest, sizeof digest, "%064x", static_cast<unsigned>(std::hash<std::string>{}(name)) + i);
    std::string app = "registry.example.com/platform/service-" + std::to_string(i);
    json_array_append_new(images, json_pack("{s:[s,s],s:I}", "names", (app + "@sha256:" + digest).c_str(),
                                            (app + ":v1." + std::to_string(i) + ".0").c_str(), "sizeBytes",
                                            static_cast<json_int_t>(120000000 + i * 1000)));
  }
  json_object_set_new(status, "images", images);
}

}  // namespace

std::string NodeJson(const NodeSpec& node) {
  JsonPtr labels(json_object()), annotations(json_object());
  for (const auto& [k, v] : node.labels) json_object_set_new(labels.get(), k.c_str(), json_string(v.c_str()));
  for (const auto& [k, v] : node.annotations)
    json_object_set_new(annotations.get(), k.c_str(), json_string(v.c_str()));
  JsonPtr root(json_pack("{s:{s:s,s:O,s:O},s:{},s:{}}", "metadata", "name", node.name.c_str(), "labels",
                         labels.get(), "annotations", annotations.get(), "spec", "status"));
  if (!node.pod_cidr.empty()) {
    json_t* spec = json_object_get(root.get(), "spec");
    json_object_set_new(spec, "podCIDR", json_string(node.pod_cidr.c_str()));
    json_object_set_new(spec, "podCIDRs", json_pack("[s]", node.pod_cidr.c_str()));
  }
  if (!node.internal_ip.empty()) {
    json_object_set_new(json_object_get(root.get(), "status"), "addresses",
                        json_pack("[{s:s,s:s}]", "type", "InternalIP", "address", node.internal_ip.c_str()));
  }
  if (node.kubelet_status) AddKubeletStatus(node.name, json_object_get(root.get(), "status"));
  return JsonDump(root.get());
}

Admin::Response Admin::Request(const std::string& method, const std::string& path, const std::string& body,
                               const std::string& content_type) const {
  Easy e;
  Setup(e, env_, method, env_.server + path, body, content_type);
  CURLcode rc = curl_easy_perform(e.h);
  INFO("admin ", method, " ", path, ": ", curl_easy_strerror(rc));
  REQUIRE(rc == CURLE_OK);
  Response r;
  curl_easy_getinfo(e.h, CURLINFO_RESPONSE_CODE, &r.code);
  r.body = std::move(e.out);
  return r;
}

void Admin::CreateNode(const NodeSpec& node) const {
  Response r = Request("POST", "/api/v1/nodes", NodeJson(node));
  INFO("create node ", node.name, ": ", r.body);
  REQUIRE(r.code == 201);
}

void Admin::CreateNodes(const std::vector<NodeSpec>& nodes, int parallel) const {
  CURLM* multi = curl_multi_init();
  std::vector<std::unique_ptr<Easy>> active;
  size_t next = 0, done = 0, failed = 0;
  std::string first_error;
  auto add = [&] {
    auto e = std::make_unique<Easy>();
    Setup(*e, env_, "POST", env_.server + "/api/v1/nodes", NodeJson(nodes[next++]), "application/json");
    curl_easy_setopt(e->h, CURLOPT_PRIVATE, e.get());
    curl_multi_add_handle(multi, e->h);
    active.push_back(std::move(e));
  };
  while (next < nodes.size() && active.size() < static_cast<size_t>(parallel)) add();
  while (done < nodes.size()) {
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      long code = 0;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
      Easy* raw = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&raw));
      if (msg->data.result != CURLE_OK || code != 201) {
        ++failed;
        if (first_error.empty()) first_error = raw->out;
      }
      curl_multi_remove_handle(multi, msg->easy_handle);
      active.erase(std::find_if(active.begin(), active.end(), [&](auto& p) { return p.get() == raw; }));
      ++done;
      if (next < nodes.size()) add();
    }
    if (done < nodes.size()) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  curl_multi_cleanup(multi);
  INFO("first failure: ", first_error);
  REQUIRE(failed == 0);
}

void Admin::DeleteNode(const std::string& name) const {
  Response r = Request("DELETE", "/api/v1/nodes/" + name);
  INFO("delete node ", name, ": ", r.body);
  REQUIRE(r.code == 200);
}

void Admin::DeleteNodes(const std::string& label_selector) const {
  Response r = Request("DELETE", "/api/v1/nodes?labelSelector=" + label_selector);
  INFO("delete nodes ", label_selector, ": ", r.body);
  REQUIRE(r.code == 200);
}

void Admin::PatchAnnotations(const std::string& name, const std::string& annotations_json) const {
  Response r =
      Request("PATCH", "/api/v1/nodes/" + name, "{\"metadata\":{\"annotations\":" + annotations_json + "}}",
              "application/merge-patch+json");
  INFO("patch node ", name, ": ", r.body);
  REQUIRE(r.code == 200);
}

std::map<std::string, std::map<std::string, std::string>> Admin::Nodes(
    const std::string& label_selector) const {
  Response r = Request("GET", "/api/v1/nodes?labelSelector=" + label_selector);
  REQUIRE(r.code == 200);
  json_error_t err;
  JsonPtr root(json_loads(r.body.c_str(), 0, &err));
  REQUIRE(root);
  std::map<std::string, std::map<std::string, std::string>> out;
  size_t i;
  json_t* item;
  json_array_foreach(json_object_get(root.get(), "items"), i, item) {
    json_t* meta = json_object_get(item, "metadata");
    auto& annotations = out[json_string_value(json_object_get(meta, "name"))];
    const char* key;
    json_t* value;
    json_object_foreach(json_object_get(meta, "annotations"), key, value) {
      annotations[key] = json_string_value(value);
    }
  }
  return out;
}

std::string Admin::CreateToken(const std::string& service_account, int expiration_seconds) const {
  Response r = Request("POST", "/api/v1/namespaces/default/serviceaccounts/" + service_account + "/token",
                       "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\",\"spec\":{"
                       "\"expirationSeconds\":" +
                           std::to_string(expiration_seconds) + "}}");
  INFO("token request: ", r.body);
  REQUIRE(r.code == 201);
  json_error_t err;
  JsonPtr root(json_loads(r.body.c_str(), 0, &err));
  REQUIRE(root);
  const char* token = json_string_value(json_object_get(json_object_get(root.get(), "status"), "token"));
  REQUIRE(token != nullptr);
  return token;
}

long long Admin::EtcdRevision() const {
  std::string out =
      EtcdPost(env_, "/v3/kv/range", "{\"key\":\"" + Base64Encode("/registry/") + "\",\"limit\":1}");
  json_error_t err;
  JsonPtr root(json_loads(out.c_str(), 0, &err));
  REQUIRE(root);
  const char* rev = json_string_value(json_object_get(json_object_get(root.get(), "header"), "revision"));
  REQUIRE(rev != nullptr);
  return std::atoll(rev);
}

void Admin::EtcdCompact() const {
  EtcdPost(env_, "/v3/kv/compaction",
           "{\"revision\":\"" + std::to_string(EtcdRevision()) + "\",\"physical\":true}");
}

void Admin::EtcdDeleteNode(const std::string& name) const {
  std::string out =
      EtcdPost(env_, "/v3/kv/deleterange", "{\"key\":\"" + Base64Encode("/registry/minions/" + name) + "\"}");
  INFO("etcd delete ", name, ": ", out);
  REQUIRE(out.find("\"deleted\":\"1\"") != std::string::npos);
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace swg::test

namespace swg::test {

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read ", path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Base64(const std::string& data) { return Base64Encode(data); }

std::string WriteKubeconfig(const std::string& path, const std::string& cluster_fields,
                            const std::string& user_fields) {
  WriteText(path,
            "apiVersion: v1\nkind: Config\ncurrent-context: t\ncontexts:\n- name: t\n  context: {cluster: c, "
            "user: u}\n"
            "clusters:\n- name: c\n  cluster: {" +
                cluster_fields + "}\nusers:\n- name: u\n  user: {" + user_fields + "}\n");
  return path;
}

std::unique_ptr<k8s::Client> MakeClient(Loop& loop, const std::string& cluster, k8s::ClusterSource source,
                                        k8s::ClientOptions options) {
  auto client = k8s::Client::Create(loop, cluster, std::move(source), std::move(options));
  INFO((client.ok() ? std::string() : client.error().message));
  REQUIRE(client.ok());
  return std::move(client).value();
}

namespace {
template <typename T, typename Start>
Result<T> Await(Loop& loop, Start start) {
  std::optional<Result<T>> out;
  start([&](Result<T> r) { out = std::move(r); });
  REQUIRE(loop.RunUntil([&] { return out.has_value(); }, std::chrono::seconds(30)));
  return std::move(*out);
}
}  // namespace

Result<k8s::NodeInfo> GetNodeSync(Loop& loop, k8s::Client& client, const std::string& name) {
  return Await<k8s::NodeInfo>(loop, [&](auto cb) { client.GetNode(name, cb); });
}

Result<k8s::NodeInfo> PatchSync(Loop& loop, k8s::Client& client, const std::string& name,
                                const std::map<std::string, std::optional<std::string>>& changes) {
  return Await<k8s::NodeInfo>(loop, [&](auto cb) { client.PatchNodeAnnotations(name, changes, cb); });
}

Result<k8s::NodeListPage> ListSync(Loop& loop, k8s::Client& client, const k8s::ListOptions& options) {
  return Await<k8s::NodeListPage>(
      loop, [&](auto cb) { client.ListNodes(options, k8s::AnnotationFilter::All(), cb); });
}

}  // namespace swg::test
