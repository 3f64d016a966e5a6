// Every credential mode against a real kube-apiserver (cluster "a" of the fixture).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <optional>
#include <thread>

#include "common/json.h"
#include "k8s/informer.h"
#include "tests/k8s/cluster.h"
#include "tests/k8s/tcp_proxy.h"
#include "tests/unit/testutil.h"

using namespace std::chrono_literals;
using swg::Loop;
using swg::k8s::ClientOptions;
using swg::k8s::ClusterSource;
using namespace swg::test;

namespace {

// Nodes these tests read; created once per process, left for the fixture's cleanup.
std::string TestNode(const Admin& admin) {
  static bool created = false;
  const std::string name = "cred-node";
  if (!created) {
    auto r = admin.Request("GET", "/api/v1/nodes/" + name);
    if (r.code == 404) admin.CreateNode({name, {{"test", "cred"}}, {{"k", "v"}}, "10.9.0.0/24", "192.0.2.1"});
    created = true;
  }
  return name;
}

std::string ErrorOf(swg::Result<swg::k8s::NodeInfo> r) {
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// `openssl s_server -WWW` serving files from a directory over HTTPS on loopback; stopped on destruction.
class HttpsFileServer {
 public:
  HttpsFileServer(const std::string& root, const std::string& cert, const std::string& key)
      : port_(FreePort()) {
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      if (chdir(root.c_str()) != 0) _exit(127);
      std::string accept = "127.0.0.1:" + std::to_string(port_);
      execlp("openssl", "openssl", "s_server", "-quiet", "-WWW", "-accept", accept.c_str(), "-cert",
             cert.c_str(), "-key", key.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    // Ready when it accepts connections.
    bool up = WaitFor(
        [&] {
          int fd = socket(AF_INET, SOCK_STREAM, 0);
          sockaddr_in a{};
          a.sin_family = AF_INET;
          a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
          a.sin_port = htons(static_cast<uint16_t>(port_));
          bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
          close(fd);
          return ok;
        },
        10s);
    REQUIRE(up);
  }
  ~HttpsFileServer() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::string url(const std::string& file) const {
    return "https://127.0.0.1:" + std::to_string(port_) + "/" + file;
  }
  int port() const { return port_; }

 private:
  int port_;
  pid_t pid_ = -1;
};

// A CA URL: `ca_file` served as ca.crt over HTTPS from dir/www, with a certificate from a separate CA (like a
// public web server's) that dir/web-ca.crt holds, and the token in dir/token.
struct CaUrl {
  CaUrl(const std::string& ca_file, const std::string& token) {
    const std::string& d = dir.path();
    Shell("cd " + d +
          " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
          "-subj /CN=ca-url-test-ca -keyout web-ca.key -out web-ca.crt 2>/dev/null && "
          "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 "
          "-keyout web.key -out web.csr 2>/dev/null && printf 'subjectAltName=IP:127.0.0.1\\n' > web.ext && "
          "openssl x509 -req -in web.csr -CA web-ca.crt -CAkey web-ca.key -CAcreateserial -days 2 -extfile "
          "web.ext -out web.crt 2>/dev/null && mkdir www");
    WriteText(d + "/www/ca.crt", ReadText(ca_file));
    WriteText(d + "/token", token);
    web.emplace(d + "/www", d + "/web.crt", d + "/web.key");
  }
  TempDir dir;
  std::optional<HttpsFileServer> web;
};

}  // namespace

TEST_SUITE("credentials") {
  TEST_CASE("static bearer tokens from a kubeconfig; a token without rights gets the server's 403 message") {
    ClusterEnv env = LoadCluster("a");
    Admin admin(env);
    std::string node = TestNode(admin);
    TempDir dir;
    Loop loop;
    auto client = MakeClient(loop, "a",
                             ClusterSource::Kubeconfig(WriteKubeconfig(
                                 dir.path() + "/admin",
                                 "server: '" + env.server + "', certificate-authority: '" + env.ca_file + "'",
                                 "token: " + env.admin_token)));
    auto got = GetNodeSync(loop, *client, node);
    REQUIRE(got.ok());
    CHECK(got->name == node);
    CHECK(got->annotations.at("k") == "v");
    CHECK(got->pod_cidrs == std::vector<std::string>{"10.9.0.0/24"});
    CHECK(got->addresses.at(0).address == "192.0.2.1");

    auto nobody = MakeClient(loop, "a",
                             ClusterSource::Kubeconfig(WriteKubeconfig(
                                 dir.path() + "/nobody",
                                 "server: '" + env.server + "', certificate-authority: '" + env.ca_file + "'",
                                 "token: " + env.nobody_token)));
    auto denied = GetNodeSync(loop, *nobody, node);
    REQUIRE_FALSE(denied.ok());
    CHECK(denied.error().code == 403);
    CHECK(denied.error().message ==
          "a: GET /api/v1/nodes/cred-node: HTTP 403 Forbidden: nodes \"cred-node\" is "
          "forbidden: User \"swg-nobody\" cannot get resource \"nodes\" in API group \"\" at "
          "the cluster scope");
    auto missing = GetNodeSync(loop, *client, "no-such-node");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().code == 404);
    CHECK(missing.error().message ==
          "a: GET /api/v1/nodes/no-such-node: HTTP 404 NotFound: nodes \"no-such-node\" not found");
  }

  TEST_CASE(
      "client certificates from kubeconfig files and -data, tls-server-name, insecure-skip-tls-verify") {
    ClusterEnv env = LoadCluster("a");
    std::string node = TestNode(Admin(env));
    TempDir dir;
    Loop loop;
    // The admin kubeconfig scripts/control-plane writes: certificate-authority, client-certificate,
    // client-key files.
    auto files = MakeClient(loop, "a", ClusterSource::Kubeconfig(env.kubeconfig));
    REQUIRE(GetNodeSync(loop, *files, node).ok());

    std::string data_fields = "client-certificate-data: " + Base64(ReadText(env.admin_cert)) +
                              ", client-key-data: " + Base64(ReadText(env.admin_key));
    auto inline_data = MakeClient(
        loop, "a",
        ClusterSource::Kubeconfig(WriteKubeconfig(
            dir.path() + "/data",
            "server: '" + env.server + "', certificate-authority-data: " + Base64(ReadText(env.ca_file)),
            data_fields)));
    REQUIRE(GetNodeSync(loop, *inline_data, node).ok());

    // Relative paths are relative to the kubeconfig.
    WriteText(dir.path() + "/ca.crt", ReadText(env.ca_file));
    WriteText(dir.path() + "/admin.crt", ReadText(env.admin_cert));
    WriteText(dir.path() + "/admin.key", ReadText(env.admin_key));
    auto relative = MakeClient(
        loop, "a",
        ClusterSource::Kubeconfig(WriteKubeconfig(
            dir.path() + "/relative", "server: '" + env.server + "', certificate-authority: ca.crt",
            "client-certificate: admin.crt, client-key: admin.key")));
    REQUIRE(GetNodeSync(loop, *relative, node).ok());

    // The serving certificate names apiserver.swg.test but not other.swg.test.
    std::string ca = "certificate-authority: '" + env.ca_file + "'";
    auto named = MakeClient(
        loop, "a",
        ClusterSource::Kubeconfig(WriteKubeconfig(
            dir.path() + "/named", "server: '" + env.server + "', tls-server-name: apiserver.swg.test, " + ca,
            "token: " + env.admin_token)));
    REQUIRE(GetNodeSync(loop, *named, node).ok());
    auto misnamed = MakeClient(
        loop, "a",
        ClusterSource::Kubeconfig(WriteKubeconfig(
            dir.path() + "/misnamed", "server: '" + env.server + "', tls-server-name: other.swg.test, " + ca,
            "token: " + env.admin_token)));
    std::string error = ErrorOf(GetNodeSync(loop, *misnamed, node));
    CHECK(error.find("a: GET /api/v1/nodes/cred-node: server certificate verification failed: ") == 0);
    CHECK(error.find("other.swg.test") != std::string::npos);

    auto insecure = MakeClient(
        loop, "a",
        ClusterSource::Kubeconfig(WriteKubeconfig(
            dir.path() + "/insecure", "server: '" + env.server + "', insecure-skip-tls-verify: true",
            "token: " + env.admin_token)));
    REQUIRE(GetNodeSync(loop, *insecure, node).ok());
  }

  TEST_CASE("a server certificate from another CA is refused with a clear error") {
    ClusterEnv a = LoadCluster("a");
    ClusterEnv b = LoadCluster("b");
    TempDir dir;
    Loop loop;
    auto client = MakeClient(loop, "a",
                             ClusterSource::Kubeconfig(WriteKubeconfig(
                                 dir.path() + "/wrong-ca",
                                 "server: '" + a.server + "', certificate-authority: '" + b.ca_file + "'",
                                 "token: " + a.admin_token)));
    auto r = GetNodeSync(loop, *client, "cred-node");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == 0);
    // The CA file is re-read once after the failure (it may have rotated), then the error stands.
    CHECK(r.error().message.find(
              "a: GET /api/v1/nodes/cred-node: server certificate verification failed: SSL "
              "certificate problem: unable to get local issuer certificate (after reloading the CA)") == 0);
  }

  TEST_CASE("token file rotation: the next request uses the new token; an open watch keeps working") {
    ClusterEnv env = LoadCluster("a");
    Admin admin(env);
    std::string node = TestNode(admin);
    TempDir dir;
    std::string token = dir.path() + "/token";
    WriteText(token, env.nobody_token + "\n");
    Loop loop;
    auto client = MakeClient(
        loop, "a",
        ClusterSource::Kubeconfig(WriteKubeconfig(
            dir.path() + "/kc", "server: '" + env.server + "', certificate-authority: '" + env.ca_file + "'",
            "tokenFile: token")));
    CHECK(GetNodeSync(loop, *client, node).error().code == 403);
    WriteText(token, env.admin_token + "\n");
    REQUIRE(GetNodeSync(loop, *client, node).ok());  // at once, not a minute later

    swg::k8s::NodeFilter filter;
    filter.label_selector = "test=rotate";
    std::vector<std::string> added;
    swg::k8s::NodeInformer informer(*client, filter,
                                    {[&](swg::k8s::EventType t, const swg::k8s::NodeInfo& n) {
                                       if (t == swg::k8s::EventType::kAdded) added.push_back(n.name);
                                     },
                                     nullptr});
    informer.Start();
    REQUIRE(
        loop.RunUntil([&] { return informer.status().state == swg::k8s::InformerState::kWatching; }, 30s));
    admin.Request("DELETE", "/api/v1/nodes/rotate-1");
    WriteText(token, "not-a-valid-token\n");  // the open watch was authenticated when it started
    admin.CreateNode({"rotate-1", {{"test", "rotate"}}, {}, "", ""});
    REQUIRE(loop.RunUntil([&] { return added.size() == 1; }, 30s));
    CHECK(added[0] == "rotate-1");
    auto r = GetNodeSync(loop, *client, node);  // new requests use the new (bad) token: 401, reload, 401
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == 401);
    CHECK(r.error().message ==
          "a: GET /api/v1/nodes/cred-node: HTTP 401 Unauthorized: Unauthorized (after reloading "
          "the credentials)");
    informer.Stop();
    admin.DeleteNode("rotate-1");
  }

  TEST_CASE("a real bound service-account token (TokenRequest) with RBAC for nodes get/list/watch only") {
    ClusterEnv env = LoadCluster("a");
    Admin admin(env);
    std::string node = TestNode(admin);
    Shell(env.kubectl + " --kubeconfig " + env.kubeconfig +
          " apply -f - >/dev/null <<'EOF'\n"
          "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: swg-remote, namespace: default}\n---\n"
          "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: swg-node-reader}\n"
          "rules: [{apiGroups: [\"\"], resources: [nodes], verbs: [get, list, watch]}]\n---\n"
          "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: swg-remote}\n"
          "roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: swg-node-reader}\n"
          "subjects: [{kind: ServiceAccount, name: swg-remote, namespace: default}]\nEOF");
    TempDir dir;
    WriteText(dir.path() + "/token", admin.CreateToken("swg-remote", 600));
    Loop loop;
    auto client = MakeClient(
        loop, "a",
        ClusterSource::Kubeconfig(WriteKubeconfig(
            dir.path() + "/kc", "server: '" + env.server + "', certificate-authority: '" + env.ca_file + "'",
            "tokenFile: token")));
    // RBAC may take a moment to see the new binding.
    swg::Result<swg::k8s::NodeInfo> got = swg::Error{"not tried"};
    REQUIRE(loop.RunUntil([&] { return (got = GetNodeSync(loop, *client, node)).ok(); }, 20s));
    auto page = ListSync(loop, *client, {});
    REQUIRE(page.ok());
    CHECK(page->items.size() >= 1);
    swg::k8s::NodeInformer informer(*client, {}, {});
    informer.Start();
    REQUIRE(
        loop.RunUntil([&] { return informer.status().state == swg::k8s::InformerState::kWatching; }, 30s));
    CHECK(informer.nodes().count(node) == 1);
    informer.Stop();
    auto patch = PatchSync(loop, *client, node, {{"x", "y"}});
    REQUIRE_FALSE(patch.ok());
    CHECK(patch.error().code == 403);
    CHECK(patch.error().message.find(
              "a: PATCH /api/v1/nodes/cred-node: HTTP 403 Forbidden: nodes \"cred-node\" is "
              "forbidden: User \"system:serviceaccount:default:swg-remote\" cannot patch") == 0);
  }

  TEST_CASE("token + CA URL mode: the CA comes over HTTPS and is fetched again when verification fails") {
    ClusterEnv a = LoadCluster("a");
    ClusterEnv b = LoadCluster("b");
    std::string node = TestNode(Admin(a));
    CaUrl site(b.ca_file, a.admin_token);  // the wrong CA first
    const std::string& d = site.dir.path();
    HttpsFileServer& web = *site.web;
    ClientOptions options;
    options.ca_url_trust_file = d + "/web-ca.crt";
    options.ca_fetch_timeout = 5s;
    options.ca_refetch_interval = 0ms;  // rotation at once; the rate limit has its own test
    Loop loop;
    auto client = MakeClient(
        loop, "a", ClusterSource::TokenAndCaUrl(a.server, web.url("ca.crt"), d + "/token"), options);
    std::string error = ErrorOf(GetNodeSync(loop, *client, node));
    CHECK(error.find("a: GET /api/v1/nodes/cred-node: server certificate verification failed: ") == 0);
    CHECK(error.find("(after reloading the CA)") != std::string::npos);

    WriteText(d + "/www/ca.crt", ReadText(a.ca_file));  // the CA "rotates" to the right one
    auto got = GetNodeSync(loop, *client, node);
    REQUIRE(got.ok());
    CHECK(got->name == node);
    REQUIRE(GetNodeSync(loop, *client, node).ok());  // the fetched CA is kept

    // Without trust in the web server's CA, the fetch itself is refused.
    auto untrusted =
        MakeClient(loop, "a", ClusterSource::TokenAndCaUrl(a.server, web.url("ca.crt"), d + "/token"));
    CHECK(ErrorOf(GetNodeSync(loop, *untrusted, node))
              .find("a: GET /api/v1/nodes/cred-node: credentials: fetching the CA "
                    "from " +
                    web.url("ca.crt") + ": ") == 0);
    auto missing = MakeClient(
        loop, "a", ClusterSource::TokenAndCaUrl(a.server, web.url("nope.crt"), d + "/token"), options);
    CHECK(ErrorOf(GetNodeSync(loop, *missing, node))
              .find("fetching the CA from " + web.url("nope.crt") + ": ") != std::string::npos);
  }

  TEST_CASE("token + CA URL mode: one bad backend while the CA URL is down costs no request the CA in use") {
    ClusterEnv a = LoadCluster("a");
    ClusterEnv b = LoadCluster("b");
    std::string node = TestNode(Admin(a));
    CaUrl site(a.ca_file, a.admin_token);
    const std::string& d = site.dir.path();
    HttpsFileServer& web = *site.web;
    // The apiserver behind a "load balancer" that can send one connection to a backend with another CA (b),
    // and the CA URL behind another that can be taken down and counts the fetches.
    TcpProxy balancer(a.api_port);
    TcpProxy ca_url(web.port());
    auto bad_backend_next = [&] {
      balancer.SendNextTo(b.api_port);
      balancer.DropAll();  // the client's kept-alive connection goes: the next request connects again
    };
    ClientOptions options;
    options.ca_url_trust_file = d + "/web-ca.crt";
    options.ca_fetch_timeout = 5s;
    options.ca_refetch_interval = 3s;  // 60 s by default
    CHECK(ClientOptions{}.ca_refetch_interval == 60s);
    Loop loop;
    const std::string api = "https://127.0.0.1:" + std::to_string(balancer.port());
    const std::string ca = "https://127.0.0.1:" + std::to_string(ca_url.port()) + "/ca.crt";
    auto client = MakeClient(loop, "a", ClusterSource::TokenAndCaUrl(api, ca, d + "/token"), options);
    REQUIRE(GetNodeSync(loop, *client, node).ok());
    CHECK(ca_url.accepted() == 1);

    ca_url.SetBackend(0);  // the CA URL is down from now on
    auto fetched = std::chrono::steady_clock::now();
    bad_backend_next();
    // Within the interval of the first fetch: the CA URL is not asked again; the request fails on its own.
    std::string error = ErrorOf(GetNodeSync(loop, *client, node));
    CHECK(error.find("a: GET /api/v1/nodes/cred-node: server certificate verification failed: ") == 0);
    CHECK(error.find("after reloading") == std::string::npos);
    CHECK(ca_url.accepted() == 1);
    REQUIRE(GetNodeSync(loop, *client, node).ok());  // the next connection reaches a good backend

    std::this_thread::sleep_until(fetched + 3100ms);
    bad_backend_next();
    // Past it: fetched again, which fails; the CA in use is kept and the retry (a good backend) works.
    auto retried = GetNodeSync(loop, *client, node);
    const std::string why = retried.ok() ? "" : retried.error().message;
    INFO(why);
    CHECK(retried.ok());
    CHECK(ca_url.accepted() == 2);
    for (int i = 0; i < 3; ++i) REQUIRE(GetNodeSync(loop, *client, node).ok());
    bad_backend_next();
    CHECK_FALSE(GetNodeSync(loop, *client, node).ok());  // within the interval again: no fetch, no retry
    CHECK(ca_url.accepted() == 2);
    REQUIRE(GetNodeSync(loop, *client, node).ok());
  }

  TEST_CASE("in-cluster credentials: service host and port from the environment, token and CA files") {
    ClusterEnv env = LoadCluster("a");
    std::string node = TestNode(Admin(env));
    TempDir dir;
    WriteText(dir.path() + "/token", env.admin_token);
    WriteText(dir.path() + "/ca.crt", ReadText(env.ca_file));
    ClientOptions options;
    options.in_cluster_dir = dir.path();
    Loop loop;
    unsetenv("KUBERNETES_SERVICE_HOST");
    auto none = swg::k8s::Client::Create(loop, "a", ClusterSource::InCluster(), options);
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().message.find(
              "a: in-cluster credentials: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
              "are not set") == 0);
    setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", std::to_string(env.api_port).c_str(), 1);
    auto client = MakeClient(loop, "a", ClusterSource::InCluster(), options);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    REQUIRE(GetNodeSync(loop, *client, node).ok());
    CHECK(client->server() == "https://127.0.0.1:" + std::to_string(env.api_port));
  }

  TEST_CASE("exec credential plugins: token or client certificate, cached until they expire") {
    ClusterEnv env = LoadCluster("a");
    std::string node = TestNode(Admin(env));
    TempDir dir;
    const std::string d = dir.path();
    auto iso = [](time_t t) {
      char buf[32];
      strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
      return std::string(buf);
    };
    // Counts its runs; prints the admin token with the expiry found in a file.
    WriteText(
        d + "/plugin.sh",
        "#!/bin/sh\necho run >> " + d +
            "/runs\n"
            "printf "
            "'{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\",\"status\":"
            "{\"token\":\"%s\",\"expirationTimestamp\":\"%s\"}}' \"$TOKEN\" \"$(cat " +
            d + "/expiry)\"\n");
    Shell("chmod +x " + d + "/plugin.sh");
    WriteText(d + "/expiry", iso(time(nullptr) + 3600));
    std::string cluster = "server: '" + env.server + "', certificate-authority: '" + env.ca_file + "'";
    Loop loop;
    auto client = MakeClient(loop, "a",
                             ClusterSource::Kubeconfig(WriteKubeconfig(
                                 d + "/kc", cluster,
                                 "exec: {apiVersion: client.authentication.k8s.io/v1, command: ./plugin.sh, "
                                 "env: [{name: TOKEN, value: " +
                                     env.admin_token + "}]}")));
    auto runs = [&] {
      std::string text = ReadText(d + "/runs");
      return std::count(text.begin(), text.end(), '\n');
    };
    REQUIRE(GetNodeSync(loop, *client, node).ok());
    REQUIRE(GetNodeSync(loop, *client, node).ok());
    CHECK(runs() == 1);
    WriteText(d + "/expiry", iso(time(nullptr) + 2));  // about to expire: every use runs the plugin again
    auto near = MakeClient(loop, "a", ClusterSource::Kubeconfig(d + "/kc"));
    REQUIRE(GetNodeSync(loop, *near, node).ok());
    REQUIRE(GetNodeSync(loop, *near, node).ok());
    CHECK(runs() == 3);

    WriteText(d + "/cert.sh",
              "#!/bin/sh\ncat <<'EOF'\n{\"kind\":\"ExecCredential\",\"apiVersion\":"
              "\"client.authentication.k8s.io/v1beta1\",\"status\":{\"clientCertificateData\":" +
                  swg::JsonDump(swg::JsonPtr(json_string(ReadText(env.admin_cert).c_str())).get()) +
                  ",\"clientKeyData\":" +
                  swg::JsonDump(swg::JsonPtr(json_string(ReadText(env.admin_key).c_str())).get()) +
                  "}}\nEOF\n");
    Shell("chmod +x " + d + "/cert.sh");
    auto cert = MakeClient(
        loop, "a",
        ClusterSource::Kubeconfig(WriteKubeconfig(
            d + "/kc-cert", cluster,
            "exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: " + d + "/cert.sh}")));
    REQUIRE(GetNodeSync(loop, *cert, node).ok());

    WriteText(d + "/fail.sh", "#!/bin/sh\nexit 1\n");
    Shell("chmod +x " + d + "/fail.sh");
    auto failing =
        MakeClient(loop, "a",
                   ClusterSource::Kubeconfig(WriteKubeconfig(
                       d + "/kc-fail", cluster,
                       "exec: {apiVersion: client.authentication.k8s.io/v1, command: " + d + "/fail.sh}")));
    CHECK(ErrorOf(GetNodeSync(loop, *failing, node)) ==
          "a: GET /api/v1/nodes/cred-node: credentials: exec plugin \"" + d +
              "/fail.sh\": exited with status 1");
  }

}  // TEST_SUITE
