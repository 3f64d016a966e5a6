#include "common/config.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using swg::ParseConfig;

namespace {

// A valid two-remote config; tests replace parts of it.
const char* kValid = R"({
  "local": {"name": "c1"},
  "remotes": [
    {"name": "c2", "remoteAPIURL": "https://lb.c2.example", "remoteCAURL": "https://ca.c2.example",
     "remoteSATokenPath": "/etc/swg/tokens/c2/token", "podSubnet": "10.4.0.0/16", "wgDeviceMTU": 1380,
     "wgListenPort": 51821},
    {"name": "c3", "kubeConfigPath": "/etc/swg/c3.kubeconfig", "podSubnet": "10.6.0.0/16",
     "resyncPeriod": "1m30s"}
  ]
})";

std::vector<std::string> Errors(const std::string& text) { return ParseConfig(text).errors; }

std::string Remote(const std::string& fields) {
  return R"({"local":{"name":"c1"},"remotes":[{"name":"c2","kubeConfigPath":"/k","podSubnet":"10.4.0.0/16")" +
         fields + "}]}";
}

}  // namespace

TEST_CASE("a valid config resolves with defaults") {
  auto p = ParseConfig(kValid);
  REQUIRE(p.errors.empty());
  CHECK(p.warnings.empty());
  const auto& c = p.config;
  CHECK(c.local.name == "c1");
  REQUIRE(c.remotes.size() == 2);
  CHECK(c.remotes[0].InterfaceName() == "wireguard.c2");
  CHECK(c.remotes[0].wg_device_mtu == 1380);
  CHECK(c.remotes[0].wg_listen_port == 51821);
  CHECK(c.remotes[0].resync_period.count() == 0);
  CHECK(c.remotes[1].wg_device_mtu == 1420);
  CHECK(c.remotes[1].wg_listen_port == 51820);
  CHECK(c.remotes[1].resync_period == std::chrono::seconds(90));
  CHECK(c.remotes[1].pod_subnets == std::vector<swg::Cidr>{*swg::Cidr::Parse("10.6.0.0/16")});
  CHECK_FALSE(c.remotes[1].pod_subnets_listed);
  CHECK(swg::ConfigToJson(c) == R"({
  "local": {
    "name": "c1"
  },
  "remotes": [
    {
      "name": "c2",
      "remoteAPIURL": "https://lb.c2.example",
      "remoteCAURL": "https://ca.c2.example",
      "remoteSATokenPath": "/etc/swg/tokens/c2/token",
      "podSubnet": "10.4.0.0/16",
      "wgDeviceMTU": 1380,
      "wgListenPort": 51821,
      "resyncPeriod": "0s",
      "maxPeers": 10000
    },
    {
      "name": "c3",
      "kubeConfigPath": "/etc/swg/c3.kubeconfig",
      "podSubnet": "10.6.0.0/16",
      "wgDeviceMTU": 1420,
      "wgListenPort": 51820,
      "resyncPeriod": "1m30s",
      "maxPeers": 10000
    }
  ]
})");
  // The printed config is itself valid and means the same.
  CHECK(swg::ConfigToJson(ParseConfig(swg::ConfigToJson(c)).config) == swg::ConfigToJson(c));
}

TEST_CASE("resyncPeriod: duration strings or nanoseconds as the original accepts") {
  CHECK(ParseConfig(Remote(R"(,"resyncPeriod":30000000000)")).config.remotes[0].resync_period ==
        std::chrono::seconds(30));
  CHECK(ParseConfig(Remote(R"(,"resyncPeriod":"0")")).config.remotes[0].resync_period.count() == 0);
  CHECK(Errors(Remote(R"(,"resyncPeriod":"5 minutes")")) ==
        std::vector<std::string>{"remotes[0].resyncPeriod: \"5 minutes\" is not a valid duration (use a "
                                 "non-negative duration such as \"30s\" or \"1m30s\")"});
  CHECK(Errors(Remote(R"(,"resyncPeriod":-1)")) ==
        std::vector<std::string>{"remotes[0].resyncPeriod: expected a duration such as \"30s\" or a non-negative "
                                 "number of nanoseconds, got integer -1"});
}

TEST_CASE("maxPeers: default 10000, range 1..100000; the effective resync period") {
  CHECK(ParseConfig(Remote("")).config.remotes[0].max_peers == 10000);
  auto p = ParseConfig(Remote(R"(,"maxPeers":3)"));
  REQUIRE(p.errors.empty());
  CHECK(p.config.remotes[0].max_peers == 3);
  CHECK(swg::ConfigToJson(p.config, false).find("\"maxPeers\":3") != std::string::npos);
  CHECK(ParseConfig(Remote(R"(,"maxPeers":100000)")).errors.empty());
  CHECK(ParseConfig(Remote(R"(,"maxPeers":0)")).errors ==
        std::vector<std::string>{"remotes[0].maxPeers: 0 is out of range 1..100000"});
  CHECK(ParseConfig(Remote(R"(,"maxPeers":100001)")).errors ==
        std::vector<std::string>{"remotes[0].maxPeers: 100001 is out of range 1..100000"});
  // 0 (unset) and anything above 5 minutes mean 5 minutes; shorter periods are used as they are.
  auto resync = [](const std::string& v) {
    return ParseConfig(Remote(",\"resyncPeriod\":\"" + v + "\"")).config.remotes[0].EffectiveResyncPeriod();
  };
  CHECK(resync("0s") == std::chrono::minutes(5));
  CHECK(resync("1h") == std::chrono::minutes(5));
  CHECK(resync("90s") == std::chrono::seconds(90));
  CHECK(resync("1ms") == std::chrono::seconds(1));
  auto c = ParseConfig(Remote("")).config;
  CHECK(swg::ConfigToJson(c, false, true).find("\"resyncPeriod\":\"5m0s\"") != std::string::npos);
  CHECK(swg::ConfigToJson(c, false, false).find("\"resyncPeriod\":\"0s\"") != std::string::npos);
}

TEST_CASE("JSON syntax errors give line and column") {
  auto e = Errors("{\n  \"local\": {\"name\": \"c1\"},\n  \"remotes\": [,]\n}");
  REQUIRE(e.size() == 1);
  CHECK(e[0].rfind("JSON syntax error at line 3, column ", 0) == 0);
  CHECK(Errors("").at(0).rfind("JSON syntax error at line 1", 0) == 0);
  CHECK(Errors(R"({"local":{"name":"c1"},"local":{"name":"c1"}})").at(0).find("duplicate object key") !=
        std::string::npos);
}

TEST_CASE("every error is reported at once, each naming the field and value") {
  auto e = Errors(R"({
    "local": {"name": "cluster1", "kubeconfigPath": "/x"},
    "extra": 1,
    "remotes": [
      {"name": "c2", "podSubNet": "10.4.0.0/16", "podSubnet": "10.4.0.0/33", "wgListenPort": "51820"},
      {"name": "C3", "remoteAPIURL": "http://c3", "remoteCAURL": "https://ca", "remoteSATokenPath": "/t",
       "podSubnet": "10.4.0.1/16", "wgDeviceMTU": 100, "wgListenPort": 70000},
      {"name": "c2", "kubeConfigPath": "/k", "podSubnet": "10.0.0.0/8"},
      {"name": "c1", "kubeConfigPath": "/k", "podSubnet": "0.0.0.0/0", "wgListenPort": 51821}
    ]})");
  std::vector<std::string> want = {
      "extra: unknown field",
      "local.kubeconfigPath: unknown field, did you mean \"kubeConfigPath\"?",
      "local.name: \"cluster1\" is longer than 5 characters: the interface name \"wireguard.cluster1\" would exceed "
      "Linux's 15-character limit (the original's README allows 6, which the kernel rejects)",
      "remotes[0].podSubNet: unknown field, did you mean \"podSubnet\"?",
      "remotes[0].wgListenPort: expected a whole number, got string \"51820\"",
      "remotes[0]: no credentials: set kubeConfigPath, or all of remoteAPIURL, remoteCAURL and remoteSATokenPath "
      "(missing: remoteAPIURL, remoteCAURL, remoteSATokenPath)",
      "remotes[0].podSubnet: \"10.4.0.0/33\" is not a valid CIDR",
      "remotes[1].wgDeviceMTU: 100 is out of range 576..65535",
      "remotes[1].wgListenPort: 70000 is out of range 1..65535",
      "remotes[1].name: \"C3\" must be a lower-case DNS label (a-z, 0-9 and '-', starting and ending with a letter "
      "or digit): it becomes part of annotation keys",
      "remotes[1].remoteAPIURL: \"http://c3\" must be an https:// URL",
      "remotes[1].podSubnet: \"10.4.0.1/16\" has host bits set; did you mean \"10.4.0.0/16\"?",
      "remotes[3].podSubnet: \"0.0.0.0/0\" covers every address; a pod subnet must be a specific range",
      "remotes[2].name: \"c2\" is already used by remotes[0]",
  };
  CHECK(e == want);
}

TEST_CASE("names differ from each other and from the local one; ports are distinct") {
  auto e = Errors(R"({"local":{"name":"c1"},"remotes":[
      {"name":"c2","kubeConfigPath":"/k","podSubnet":"10.4.0.0/16"},
      {"name":"c1","kubeConfigPath":"/k","podSubnet":"10.6.0.0/16","wgListenPort":51821},
      {"name":"c3","kubeConfigPath":"/k","podSubnet":"10.8.0.0/16","wgListenPort":51821}]})");
  CHECK(e == std::vector<std::string>{
                 "remotes[1].name: \"c1\" is the local cluster's name; a remote must differ",
                 "remotes[2].wgListenPort: 51821 is already used by remotes[1]; each remote's interface needs its "
                 "own UDP port"});
  CHECK(Errors(R"({"local":{"name":"c1"},"remotes":[
      {"name":"c2","kubeConfigPath":"/k","podSubnet":"10.4.0.0/16"},
      {"name":"c3","kubeConfigPath":"/k","podSubnet":"10.6.0.0/16"}]})") ==
        std::vector<std::string>{"remotes[1].wgListenPort: 51820 (the default) is already used by remotes[0]; "
                                 "each remote's interface needs its own UDP port"});
}

TEST_CASE("the original README's 6-character names are refused with the reason") {
  auto e = Errors(R"({"local":{"name":"c1"},"remotes":[{"name":"aws-eu","kubeConfigPath":"/k",)"
                  R"("podSubnet":"10.4.0.0/16"}]})");
  CHECK(e == std::vector<std::string>{
                 "remotes[0].name: \"aws-eu\" is longer than 5 characters: the interface name "
                 "\"wireguard.aws-eu\" would exceed Linux's 15-character limit (the original's README allows 6, "
                 "which the kernel rejects)"});
}

TEST_CASE("required parts") {
  CHECK(Errors("{}") ==
        std::vector<std::string>{"local: required", "remotes: at least one remote cluster is required"});
  CHECK(Errors(R"({"local":{},"remotes":[]})") ==
        std::vector<std::string>{"local.name: required", "remotes: at least one remote cluster is required"});
  CHECK(Errors(R"([1])") == std::vector<std::string>{"(top level): expected an object, got array"});
  CHECK(Errors(R"({"local":{"name":"c1"},"remotes":[{"kubeConfigPath":"/k"}]})") ==
        std::vector<std::string>{"remotes[0].name: required", "remotes[0].podSubnet: required"});
  CHECK(Errors(R"({"local":{"name":"c1"},"remotes":{"name":"c2"}})") ==
        std::vector<std::string>{"remotes: expected an array, got object {\"name\":\"c2\"}"});
  CHECK(Errors(R"({"local":{"name":"c1"},"remotes":["c2"]})") ==
        std::vector<std::string>{"remotes[0]: expected an object, got string \"c2\""});
}

TEST_CASE("credentials: partial token mode names what is missing; kubeconfig wins with a warning") {
  CHECK(Errors(R"({"local":{"name":"c1"},"remotes":[{"name":"c2","remoteAPIURL":"https://a",)"
               R"("podSubnet":"10.4.0.0/16"}]})") ==
        std::vector<std::string>{"remotes[0]: no credentials: set kubeConfigPath, or all of remoteAPIURL, "
                                 "remoteCAURL and remoteSATokenPath (missing: remoteCAURL, remoteSATokenPath)"});
  auto p = ParseConfig(Remote(R"(,"remoteAPIURL":"https://a")"));
  CHECK(p.errors.empty());
  CHECK(p.warnings == std::vector<std::string>{"remotes[0]: kubeConfigPath is set, so remoteAPIURL, remoteCAURL "
                                               "and remoteSATokenPath are ignored"});
  CHECK(Errors(R"({"local":{"name":"c1"},"remotes":[{"name":"c2","remoteAPIURL":"https://","remoteCAURL":)"
               R"("https://ca x","remoteSATokenPath":"/t","podSubnet":"10.4.0.0/16"}]})") ==
        std::vector<std::string>{"remotes[0].remoteAPIURL: \"https://\" is not a valid URL",
                                 "remotes[0].remoteCAURL: \"https://ca x\" is not a valid URL"});
}

TEST_CASE("pod subnets: IPv6 accepted, overlaps across families are not overlaps") {
  auto p = ParseConfig(R"({"local":{"name":"c1"},"remotes":[
      {"name":"c2","kubeConfigPath":"/k","podSubnet":"fd00:4::/48","wgListenPort":1},
      {"name":"c3","kubeConfigPath":"/k","podSubnet":"10.0.0.0/8","wgListenPort":2},
      {"name":"c4","kubeConfigPath":"/k","podSubnet":"10.200.0.0/16","wgListenPort":3}]})");
  CHECK(p.errors == std::vector<std::string>{
                        "remotes[2].podSubnet: \"10.200.0.0/16\" overlaps remotes[1].podSubnet \"10.0.0.0/8\""});
}

TEST_CASE("podSubnets: one subnet per address family, a route each; round trip through JSON") {
  auto p = ParseConfig(R"({"local":{"name":"c1"},"remotes":[{"name":"c2","kubeConfigPath":"/k",)"
                       R"("podSubnet":null,"podSubnets":["fd00:4::/48","10.4.0.0/16"]}]})");
  REQUIRE(p.errors.empty());
  const auto& r = p.config.remotes.at(0);
  CHECK(r.pod_subnets == std::vector<swg::Cidr>{*swg::Cidr::Parse("fd00:4::/48"), *swg::Cidr::Parse("10.4.0.0/16")});
  CHECK(r.pod_subnets_listed);
  CHECK(r.PodSubnetsText() == "fd00:4::/48,10.4.0.0/16");
  // The supervisor hands its workers the configuration as JSON: the list survives, in the user's form.
  std::string json = swg::ConfigToJson(p.config, false);
  CHECK(json.find(R"("podSubnets":["fd00:4::/48","10.4.0.0/16"])") != std::string::npos);
  CHECK(json.find(R"("podSubnet")") == std::string::npos);
  auto again = ParseConfig(json);
  REQUIRE(again.errors.empty());
  CHECK(again.config.remotes.at(0).pod_subnets == r.pod_subnets);
  // A single-family list is fine too.
  CHECK(Errors(R"({"local":{"name":"c1"},"remotes":[{"name":"c2","kubeConfigPath":"/k",)"
               R"("podSubnet":"","podSubnets":["10.4.0.0/16"]}]})")
            .empty());
}

TEST_CASE("podSubnets: every mistake is named with its value") {
  auto remote = [](const std::string& subnets) {
    return R"({"local":{"name":"c1"},"remotes":[{"name":"c2","kubeConfigPath":"/k",)" + subnets + "}]}";
  };
  CHECK(Errors(remote(R"("podSubnet":"10.4.0.0/16","podSubnets":["fd00:4::/48"])")) ==
        std::vector<std::string>{"remotes[0].podSubnets: set either podSubnet or podSubnets, not both"});
  CHECK(Errors(remote(R"("podSubnets":["10.4.0.0/16","fd00:4::/48","10.5.0.0/16"])")) ==
        std::vector<std::string>{"remotes[0].podSubnets[2]: \"10.5.0.0/16\" is a second IPv4 subnet after "
                                 "\"10.4.0.0/16\"; give at most one subnet per address family"});
  CHECK(Errors(remote(R"("podSubnets":["fd00:4::/48","fd00:5::/48"])")) ==
        std::vector<std::string>{"remotes[0].podSubnets[1]: \"fd00:5::/48\" is a second IPv6 subnet after "
                                 "\"fd00:4::/48\"; give at most one subnet per address family"});
  CHECK(Errors(remote(R"("podSubnets":[])")) ==
        std::vector<std::string>{"remotes[0].podSubnets: is empty; give one subnet per address family, such as "
                                 "[\"10.4.0.0/16\", \"fd00:4::/48\"]"});
  CHECK(Errors(remote(R"("podSubnets":"10.4.0.0/16")")) ==
        std::vector<std::string>{"remotes[0].podSubnets: expected a list of CIDRs such as [\"10.4.0.0/16\", "
                                 "\"fd00:4::/48\"], got string \"10.4.0.0/16\""});
  CHECK(Errors(remote(R"("podSubnets":["10.4.0.0/33",7,"fd00:4::1/48","::/0","::ffff:10.4.0.0/112"])")) ==
        std::vector<std::string>{
            "remotes[0].podSubnets[0]: \"10.4.0.0/33\" is not a valid CIDR",
            "remotes[0].podSubnets[1]: expected a string, got integer 7",
            "remotes[0].podSubnets[2]: \"fd00:4::1/48\" has host bits set; did you mean \"fd00:4::/48\"?",
            "remotes[0].podSubnets[3]: \"::/0\" covers every address; a pod subnet must be a specific range",
            "remotes[0].podSubnets[4]: \"::ffff:10.4.0.0/112\" overlaps the IPv4-mapped IPv6 range ::ffff:0:0/96; "
            "give IPv4 pods an IPv4 subnet"});
  CHECK(Errors(remote(R"("podSubnet":"::/8")")) ==
        std::vector<std::string>{"remotes[0].podSubnet: \"::/8\" overlaps the IPv4-mapped IPv6 range "
                                 "::ffff:0:0/96; give IPv4 pods an IPv4 subnet"});
  CHECK(Errors(remote(R"("podSubNets":["10.4.0.0/16"])")) ==
        std::vector<std::string>{"remotes[0].podSubNets: unknown field, did you mean \"podSubnets\"?",
                                 "remotes[0].podSubnet: required"});
}

TEST_CASE("podSubnets: no overlap across remotes, in either form, per family") {
  auto p = ParseConfig(R"({"local":{"name":"c1"},"remotes":[
      {"name":"c2","kubeConfigPath":"/k","podSubnets":["10.4.0.0/16","fd00:4::/48"],"wgListenPort":1},
      {"name":"c3","kubeConfigPath":"/k","podSubnets":["fd00:4:0:1::/64","10.6.0.0/16"],"wgListenPort":2},
      {"name":"c4","kubeConfigPath":"/k","podSubnet":"10.4.128.0/17","wgListenPort":3},
      {"name":"c5","kubeConfigPath":"/k","podSubnets":["10.8.0.0/16","fd00:8::/48"],"wgListenPort":4}]})");
  CHECK(p.errors ==
        std::vector<std::string>{
            "remotes[1].podSubnets[0]: \"fd00:4:0:1::/64\" overlaps remotes[0].podSubnets[1] \"fd00:4::/48\"",
            "remotes[2].podSubnet: \"10.4.128.0/17\" overlaps remotes[0].podSubnets[0] \"10.4.0.0/16\""});
}

TEST_CASE("wrong types name the type and the value") {
  CHECK(Errors(Remote(R"(,"wgDeviceMTU":1380.5)")) ==
        std::vector<std::string>{"remotes[0].wgDeviceMTU: expected a whole number, got number 1380.5"});
  CHECK(Errors(R"({"local":{"name":7},"remotes":[{"name":"c2","kubeConfigPath":true,"podSubnet":1}]})") ==
        std::vector<std::string>{"local.name: expected a string, got integer 7",
                                 "remotes[0].kubeConfigPath: expected a string, got boolean true",
                                 "remotes[0]: no credentials: set kubeConfigPath, or all of remoteAPIURL, "
                                 "remoteCAURL and remoteSATokenPath (missing: remoteAPIURL, remoteCAURL, "
                                 "remoteSATokenPath)",
                                 "remotes[0].podSubnet: expected a string, got integer 1"});
}

TEST_CASE("annotation names match the original") {
  CHECK(swg::PubKeyAnnotation("c1") == "c1.wireguard.semaphore.uw.io/pubKey");
  CHECK(swg::EndpointAnnotation("c1") == "c1.wireguard.semaphore.uw.io/endpoint");
}

TEST_CASE("peerSource mirror needs no remote credentials, and says so when they are given") {
  auto p = ParseConfig(R"({"local":{"name":"c1"},"remotes":[{"name":"c2","peerSource":"mirror",
    "podSubnet":"10.4.0.0/16","mirrorStaleAfter":"30s"}]})");
  CHECK(p.errors.empty());
  CHECK(p.warnings.empty());
  REQUIRE(p.config.remotes.size() == 1);
  CHECK(p.config.remotes[0].mirrored());
  CHECK(p.config.remotes[0].mirror_stale_after == std::chrono::seconds(30));
  // Handed to the worker and shown by check-config: it survives the round trip.
  auto again = ParseConfig(swg::ConfigToJson(p.config, false));
  CHECK(again.errors.empty());
  CHECK(again.config.remotes[0].mirrored());
  CHECK(again.config.remotes[0].mirror_stale_after == std::chrono::seconds(30));

  auto given = ParseConfig(Remote(R"(,"peerSource":"mirror")"));
  CHECK(given.errors.empty());
  CHECK(given.warnings == std::vector<std::string>{"remotes[0]: peerSource is \"mirror\", so kubeConfigPath not "
                                                   "used: the mirror alone reads the remote cluster"});
  CHECK(swg::ConfigToJson(ParseConfig(Remote("")).config, false, true).find("\"peerSource\":\"direct\"") !=
        std::string::npos);
}

TEST_CASE("a bad peerSource, mirrorStaleAfter or mirrorNamespace names the value") {
  CHECK(Errors(Remote(R"(,"peerSource":"mirrored")")) ==
        std::vector<std::string>{"remotes[0].peerSource: \"mirrored\" is not a peer source (use \"direct\", the "
                                 "default, or \"mirror\")"});
  CHECK(Errors(Remote(R"(,"peerSource":"mirror","mirrorStaleAfter":"1s")")) ==
        std::vector<std::string>{"remotes[0].mirrorStaleAfter: \"1s\" is not a whole number of seconds from 5s "
                                 "to 24h, such as \"2m\""});
  CHECK(ParseConfig(Remote(R"(,"mirrorStaleAfter":"1m")")).warnings ==
        std::vector<std::string>{"remotes[0].mirrorStaleAfter: peerSource is not \"mirror\", so it is not used"});
  auto ns = ParseConfig(R"({"local":{"name":"c1","mirrorNamespace":"Not_A_Namespace"},"remotes":[]})");
  CHECK(std::find(ns.errors.begin(), ns.errors.end(),
                  "local.mirrorNamespace: \"Not_A_Namespace\" is not a namespace name (a DNS label)") !=
        ns.errors.end());
  swg::LocalConfig local;
  local.mirror_namespace = "wg";
  CHECK(swg::MirrorNamespace(local) == "wg");
}
