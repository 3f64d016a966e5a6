// Exec credential plugins run as real child processes: output, failures, timeouts, the environment they get.
#include "k8s/exec_plugin.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "common/loop.h"
#include "tests/unit/testutil.h"

using namespace std::chrono_literals;
using swg::k8s::ExecConfig;
using swg::k8s::ExecCredential;
using swg::k8s::ExecPlugin;

namespace {

std::string Script(const std::string& dir, const std::string& body) {
  std::string path = dir + "/plugin.sh";
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  chmod(path.c_str(), 0755);
  return path;
}

swg::Result<ExecCredential> Run(const std::string& command, std::chrono::milliseconds timeout = 5s,
                                std::vector<std::pair<std::string, std::string>> env = {}) {
  swg::Loop loop;
  ExecConfig config;
  config.command = command;
  config.api_version = "client.authentication.k8s.io/v1";
  config.env = std::move(env);
  config.install_hint = "install it";
  ExecPlugin plugin(loop, config, "", timeout);
  std::optional<swg::Result<ExecCredential>> out;
  plugin.Run([&](swg::Result<ExecCredential> r) { out = std::move(r); });
  REQUIRE(loop.RunUntil([&] { return out.has_value(); }, 10s));
  CHECK_FALSE(plugin.running());
  return std::move(*out);
}

}  // namespace

TEST_CASE("an exec plugin's token, with the environment from the kubeconfig and KUBERNETES_EXEC_INFO") {
  swg::test::TempDir dir;
  std::string cmd =
      Script(dir.path(), R"(case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) exit 3;; esac
echo '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"'"$MY_TOKEN"'"}}')");
  auto cred = Run(cmd, 5s, {{"MY_TOKEN", "from-env"}});
  REQUIRE(cred.ok());
  CHECK(cred->token == "from-env");
  CHECK_FALSE(cred->expiry);
}

TEST_CASE("exec plugin failures say which plugin and what went wrong") {
  swg::test::TempDir dir;
  auto error_of = [](swg::Result<ExecCredential> r) {
    REQUIRE_FALSE(r.ok());
    return r.error().message;
  };
  std::string cmd = Script(dir.path(), "echo oops >&2; exit 4");
  CHECK(error_of(Run(cmd)) == "exec plugin \"" + cmd + "\": exited with status 4");
  cmd = Script(dir.path(), "echo not-json");
  CHECK(error_of(Run(cmd)).find("exec plugin \"" + cmd + "\": output is not JSON") == 0);
  cmd = Script(dir.path(), "exec sleep 30");
  auto start = std::chrono::steady_clock::now();
  CHECK(error_of(Run(cmd, 200ms)) == "exec plugin \"" + cmd + "\": no answer within 200 ms");
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(error_of(Run(dir.path() + "/missing")) ==
        "exec plugin \"" + dir.path() + "/missing\": cannot run it: no such file or directory (install it)");
}

TEST_CASE("destroying a plugin while it runs kills it and drops the callback") {
  swg::test::TempDir dir;
  std::string cmd = Script(dir.path(), "exec sleep 30");
  swg::Loop loop;
  bool called = false;
  {
    ExecConfig config;
    config.command = cmd;
    config.api_version = "client.authentication.k8s.io/v1";
    ExecPlugin plugin(loop, config, "", 10s);
    plugin.Run([&](swg::Result<ExecCredential>) { called = true; });
    loop.RunUntil([] { return false; }, 50ms);
  }
  loop.RunUntil([] { return false; }, 50ms);
  CHECK_FALSE(called);
}

TEST_CASE("an exec plugin sees no descriptors beyond stdin, stdout and stderr") {
  // The worker holds descriptors that are not close-on-exec: its supervisor channel (inherited as fd 3) and
  // libcurl's apiserver sockets. A plugin is someone else's program: it must get none of them.
  swg::test::TempDir dir;
  int inherited = open("/dev/null", O_RDONLY);  // not O_CLOEXEC, like the channel fd a worker inherits
  REQUIRE(inherited > 2);
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  // `sh -c` lists its own descriptors with builtins only (no script file, no command substitution, no child);
  // the directory descriptor the glob opens is gone by the time `[ -e ]` tests it.
  std::string cmd = Script(dir.path(), R"(exec /bin/sh -c 'fds=""; for f in /proc/self/fd/*; do [ -e "$f" ] && fds="$fds${fds:+,}${f##*/}"; done
echo "{\"kind\":\"ExecCredential\",\"apiVersion\":\"client.authentication.k8s.io/v1\",\"status\":{\"token\":\"$fds\"}}"')");
  auto cred = Run(cmd);
  REQUIRE(cred.ok());
  CHECK(cred->token == "0,1,2");
  // The descriptors stay open in the process that started the plugin.
  CHECK(fcntl(inherited, F_GETFD) >= 0);
  close(inherited);
  close(sv[0]);
  close(sv[1]);
}
