#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "supervisor/cli.h"

namespace {

struct Env {
  std::map<std::string, std::string> vars;
  swg::GetEnv fn() const {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

swg::Result<swg::Options> Parse(std::vector<std::string> args, const Env& env = {}) {
  std::vector<std::string> positional;
  return swg::ParseDaemonFlags(args, env.fn(), &positional);
}

}  // namespace

TEST_CASE("defaults are the original's") {
  auto o = Parse({});
  REQUIRE(o.ok());
  CHECK(o->listen_address == ":7773");
  CHECK(o->log_level == swg::log::Level::kInfo);
  CHECK(o->wg_key_path == "/var/lib/semaphore-wireguard");
  CHECK(o->clusters_config.empty());
  CHECK(o->node_name.empty());
  CHECK(o->wg_backend == "auto");
  CHECK(o->log_format == swg::log::Format::kAuto);
  CHECK(o->control_socket == "/run/semaphore-wireguard/control.sock");
}

TEST_CASE("-flag value, -flag=value, --flag value and --flag=value all work") {
  auto o = Parse({"-node-name", "n1", "--clusters-config=/c.json", "-log-level=debug", "--wg-key-path", "/k"});
  REQUIRE(o.ok());
  CHECK(o->node_name == "n1");
  CHECK(o->clusters_config == "/c.json");
  CHECK(o->log_level == swg::log::Level::kDebug);
  CHECK(o->wg_key_path == "/k");
}

TEST_CASE("environment variables, and a flag on the command line wins") {
  Env env{{{"SWG_NODE_NAME", "env-node"},
           {"SWG_CLUSTERS_CONFIG", "/env.json"},
           {"SWG_LISTEN_ADDRESS", "127.0.0.1:9000"},
           {"SWG_LOG_LEVEL", "warn"},
           {"SWG_WG_KEY_PATH", "/env-keys"},
           {"SWG_LOG_FORMAT", "json"},
           {"SWG_WG_BACKEND", "userspace"}}};
  auto o = Parse({}, env);
  REQUIRE(o.ok());
  CHECK(o->node_name == "env-node");
  CHECK(o->clusters_config == "/env.json");
  CHECK(o->listen_address == "127.0.0.1:9000");
  CHECK(o->log_level == swg::log::Level::kWarn);
  CHECK(o->wg_key_path == "/env-keys");
  CHECK(o->log_format == swg::log::Format::kJson);
  CHECK(o->wg_backend == "userspace");
  auto f = Parse({"-node-name=flag-node", "-log-level", "error"}, env);
  REQUIRE(f.ok());
  CHECK(f->node_name == "flag-node");
  CHECK(f->log_level == swg::log::Level::kError);
  CHECK(f->clusters_config == "/env.json");
}

TEST_CASE("usage errors are one line naming the problem") {
  CHECK(Parse({"-nope"}).error().message == "flag provided but not defined: -nope");
  CHECK(Parse({"-node-name"}).error().message == "flag needs an argument: -node-name");
  CHECK(Parse({"-log-level", "loud"}).error().message ==
        "invalid value \"loud\" for -log-level: use trace, debug, info, warn or error");
  CHECK(Parse({}, Env{{{"SWG_LOG_LEVEL", "loud"}}}).error().message ==
        "invalid value \"loud\" for SWG_LOG_LEVEL: use trace, debug, info, warn or error");
  CHECK(Parse({"-log-format=xml"}).error().message ==
        "invalid value \"xml\" for -log-format: use auto, text, json or journal");
  CHECK(Parse({"-wg-backend=magic"}).error().message ==
        "invalid value \"magic\" for -wg-backend: use auto, kernel or userspace");
  CHECK(Parse({"-listen-address=7773"}).error().message ==
        "invalid value \"7773\" for -listen-address: expected host:port, [ipv6]:port or :port");
  CHECK(Parse({"-node-name=Node_1"}).error().message ==
        "invalid value \"Node_1\" for -node-name: a Kubernetes node name is a lower-case DNS subdomain");
  CHECK(Parse({"-node-name=Node_1"}).error().code == 2);
  CHECK(Parse({"---x"}).error().message == "bad flag syntax: ---x");
  CHECK(Parse({"-version=maybe"}).error().message == "invalid boolean value \"maybe\" for flag -version");
}

TEST_CASE("listen addresses") {
  for (const char* ok : {":7773", "127.0.0.1:7773", "[::1]:7773", "localhost:0", "[::]:80"}) {
    CAPTURE(ok);
    CHECK(Parse({std::string("-listen-address=") + ok}).ok());
  }
  for (const char* bad : {"::1:7773", "127.0.0.1", ":99999", "[::1:7773", "[x]:1"}) {
    CAPTURE(bad);
    CHECK_FALSE(Parse({std::string("-listen-address=") + bad}).ok());
  }
}

TEST_CASE("-h asks for usage, -version for the version, positional arguments are returned") {
  CHECK(Parse({"-h"}).error().code == 0);
  CHECK(Parse({"--help"}).error().code == 0);
  CHECK(Parse({"-version"}).error().code == -1);
  std::vector<std::string> positional;
  Env env;
  auto o = swg::ParseDaemonFlags({"-node-name", "n", "extra", "-x"}, env.fn(), &positional);
  REQUIRE(o.ok());
  CHECK(positional == std::vector<std::string>{"extra", "-x"});
  CHECK(swg::DaemonUsage("semaphore-wireguard").find("  -listen-address string\n") != std::string::npos);
}
