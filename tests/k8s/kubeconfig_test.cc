// kubeconfig parsing (libyaml), base64, URLs and ExecCredential output.
#include "k8s/kubeconfig.h"

#include <doctest/doctest.h>

#include "k8s/credentials.h"
#include "k8s/exec_plugin.h"
#include "k8s/yaml.h"

using swg::k8s::ParseKubeconfig;

namespace {

const char* const kConfig = R"(apiVersion: v1
kind: Config
current-context: prod
clusters:
- name: other
  cluster: {server: "https://other:1"}
- name: c1
  cluster:
    server: https://10.0.0.1:6443/prefix/
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCmFiYwo=
    tls-server-name: api.c1.example
users:
- name: u1
  user:
    tokenFile: tokens/t1
    client-certificate: /abs/cert.pem
    client-key: key.pem
- name: u2
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./bin/get-token
      args: ["--cluster", c1]
      env:
      - {name: A, value: "1"}
      provideClusterInfo: true
contexts:
- name: prod
  context: {cluster: c1, user: u1}
- name: exec
  context: {cluster: c1, user: u2}
)";

std::string ErrorOf(std::string_view text, const std::string& context = "") {
  auto kc = ParseKubeconfig(text, "/k/config", "/k", context);
  REQUIRE_FALSE(kc.ok());
  return kc.error().message;
}

}  // namespace

TEST_CASE("the current context resolves to server, CA data, tls-server-name and file paths") {
  auto kc = ParseKubeconfig(kConfig, "/k/config", "/k");
  REQUIRE(kc.ok());
  CHECK(kc->context == "prod");
  CHECK(kc->server == "https://10.0.0.1:6443/prefix/");
  CHECK(kc->ca_pem == "-----BEGIN CERTIFICATE-----\nabc\n");
  CHECK(kc->tls_server_name == "api.c1.example");
  CHECK(kc->token_file == "/k/tokens/t1");  // relative to the kubeconfig's directory
  CHECK(kc->cert_file == "/abs/cert.pem");
  CHECK(kc->key_file == "/k/key.pem");
  CHECK_FALSE(kc->exec);
}

TEST_CASE("an exec user") {
  auto kc = ParseKubeconfig(kConfig, "/k/config", "/k", "exec");
  REQUIRE(kc.ok());
  REQUIRE(kc->exec);
  CHECK(kc->exec->command == "/k/./bin/get-token");
  CHECK(kc->exec->args == std::vector<std::string>{"--cluster", "c1"});
  CHECK(kc->exec->env == std::vector<std::pair<std::string, std::string>>{{"A", "1"}});
  CHECK(kc->exec->provide_cluster_info);
}

TEST_CASE("JSON is YAML too, and insecure-skip-tls-verify is a boolean") {
  auto kc = ParseKubeconfig(
      R"({"current-context":"x","contexts":[{"name":"x","context":{"cluster":"c","user":"u"}}],
    "clusters":[{"name":"c","cluster":{"server":"https://h","insecure-skip-tls-verify":true}}],
    "users":[{"name":"u","user":{"token":"abc"}}]})",
      "/k/config", "/k");
  REQUIRE(kc.ok());
  CHECK(kc->insecure_skip_tls_verify);
  CHECK(kc->token == "abc");
}

TEST_CASE("kubeconfig errors name the file, the line and the field") {
  CHECK(ErrorOf("current-context: nope\ncontexts: []\n") ==
        "kubeconfig /k/config: contexts: no entry named \"nope\"");
  CHECK(ErrorOf("clusters: []\n") == "kubeconfig /k/config: current-context is not set");
  CHECK(ErrorOf(kConfig, "missing") == "kubeconfig /k/config: contexts: no entry named \"missing\"");
  CHECK(ErrorOf("current-context: x\ncontexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n"
                "  cluster: {server: ftp://h}\n") ==
        "kubeconfig /k/config (line 7): server \"ftp://h\" is not an http(s) URL");
  CHECK(
      ErrorOf(
          "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n"
          "  cluster: {server: https://h, certificate-authority-data: '!!'}\nusers:\n- name: u\n  user: "
          "{}\n") ==
      "kubeconfig /k/config (line 7): clusters[].cluster.certificate-authority-data: not valid base64");
  CHECK(
      ErrorOf(
          "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n"
          "  cluster: {server: https://h}\nusers:\n- name: u\n  user: {client-key: k}\n") ==
      "kubeconfig /k/config (line 10): a client certificate needs both the certificate and the key");
  CHECK(
      ErrorOf(
          "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n"
          "  cluster: {server: https://h}\nusers:\n- name: u\n  user: {auth-provider: {name: gcp}}\n") ==
      "kubeconfig /k/config (line 10): users[].user.auth-provider is not supported (use a token or exec)");
  CHECK(ErrorOf("a: [1, 2\n").find("kubeconfig /k/config: yaml: line 2") == 0);
  CHECK(ErrorOf("a: &x 1\nb: *x\n") == "kubeconfig /k/config: yaml: line 2: aliases are not supported");
  CHECK(ErrorOf("") == "kubeconfig /k/config: yaml: the document is empty");
}

TEST_CASE("yaml scalars keep their style") {
  auto doc = swg::k8s::ParseYaml("a: null\nb: 'null'\nc:\nd: [x, {e: f}]\n");
  REQUIRE(doc.ok());
  CHECK(doc->Get("a")->IsNull());
  CHECK_FALSE(doc->Get("b")->IsNull());
  CHECK(doc->Get("c")->IsNull());
  CHECK(doc->Get("d")->items.size() == 2);
  CHECK(doc->Get("d")->items[1].Get("e")->scalar == "f");
  CHECK(doc->Get("zz") == nullptr);
}

TEST_CASE("server URLs") {
  auto u = swg::k8s::ParseUrl("https://[fd00::1]:6443/x/");
  REQUIRE(u);
  CHECK(u->host == "[fd00::1]");
  CHECK(u->port == 6443);
  CHECK(u->path == "/x");
  CHECK(swg::k8s::ParseUrl("https://h")->port == 443);
  CHECK(swg::k8s::ParseUrl("http://h")->port == 80);
  CHECK_FALSE(swg::k8s::ParseUrl("h:443"));
  CHECK_FALSE(swg::k8s::ParseUrl("https://h:0"));
  CHECK_FALSE(swg::k8s::ParseUrl("https://u@h"));
  CHECK_FALSE(swg::k8s::ParseUrl("https://"));
}

TEST_CASE("ExecCredential output") {
  const char* v1 = "client.authentication.k8s.io/v1";
  auto ok = swg::k8s::ParseExecCredential(
      R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1",
    "status":{"token":"t","expirationTimestamp":"2030-01-01T00:00:00Z"}})",
      v1);
  REQUIRE(ok.ok());
  CHECK(ok->token == "t");
  CHECK(ok->expiry == 1893456000);
  auto wrong_version = swg::k8s::ParseExecCredential(
      R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","status":{"token":"t"}})",
      v1);
  REQUIRE_FALSE(wrong_version.ok());
  CHECK(wrong_version.error().message ==
        "output has apiVersion \"client.authentication.k8s.io/v1beta1\", want "
        "\"client.authentication.k8s.io/v1\"");
  auto empty = swg::k8s::ParseExecCredential(
      R"({"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1",
    "status":{}})",
      v1);
  REQUIRE_FALSE(empty.ok());
  CHECK(empty.error().message == "status has neither a token nor clientCertificateData");
  CHECK_FALSE(swg::k8s::ParseExecCredential("not json", v1).ok());
}
