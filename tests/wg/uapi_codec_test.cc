// The UAPI text encoder and the reply parsers, with exact texts and error messages.
#include "worker/wg/uapi_codec.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <string>

namespace swg::wg {
namespace {

Key HexKey(char c) { return *Key::FromHex(std::string(64, c)); }

// A reply as wireguard-go 0.0.20220316 sends it (captured from `get=1`).
const char* kReply =
    "private_key=48253ec17a4cca5b66c6d42525a06d2965f7cd6f205995611823bb2c2e93d16f\n"
    "listen_port=5000\n"
    "public_key=f774c329de9136597e50813d179774c9b6925060356816110530a455e5bc427f\n"
    "preshared_key=0000000000000000000000000000000000000000000000000000000000000000\n"
    "protocol_version=1\n"
    "endpoint=[fd00::1]:5\n"
    "last_handshake_time_sec=1700000001\n"
    "last_handshake_time_nsec=42\n"
    "tx_bytes=148\n"
    "rx_bytes=92\n"
    "persistent_keepalive_interval=25\n"
    "allowed_ip=10.0.0.1/32\n"
    "allowed_ip=fd00::/64\n"
    "public_key=1111111111111111111111111111111111111111111111111111111111111111\n"
    "endpoint=10.1.2.3:51820\n"
    "errno=0\n"
    "\n";

TEST_CASE("EncodeSet writes device keys, then each peer's keys in protocol order") {
  DeviceChange c;
  c.private_key = HexKey('a');
  c.listen_port = 51820;
  PeerChange add;
  add.public_key = HexKey('b');
  add.endpoint = *Endpoint::Parse("[fd00::2]:51821");
  add.persistent_keepalive = 25;
  add.allowed_ips = {*Cidr::Parse("10.2.0.0/24"), *Cidr::Parse("fd00:2::/64")};
  PeerChange update;
  update.public_key = HexKey('c');
  update.update_only = true;
  update.replace_allowed_ips = true;
  update.allowed_ips = {*Cidr::Parse("10.3.0.0/24")};
  PeerChange remove;
  remove.public_key = HexKey('d');
  remove.remove = true;
  remove.allowed_ips = {*Cidr::Parse("10.4.0.0/24")};  // ignored for a removal
  c.peers = {add, update, remove};
  std::string expected = "set=1\nprivate_key=" + std::string(64, 'a') +
                         "\n"
                         "listen_port=51820\n"
                         "public_key=" +
                         std::string(64, 'b') +
                         "\n"
                         "endpoint=[fd00::2]:51821\n"
                         "persistent_keepalive_interval=25\n"
                         "allowed_ip=10.2.0.0/24\n"
                         "allowed_ip=fd00:2::/64\n"
                         "public_key=" +
                         std::string(64, 'c') +
                         "\n"
                         "update_only=true\n"
                         "replace_allowed_ips=true\n"
                         "allowed_ip=10.3.0.0/24\n"
                         "public_key=" +
                         std::string(64, 'd') +
                         "\n"
                         "remove=true\n"
                         "\n";
  CHECK(std::string(uapi::EncodeSet(c)) == expected);
  std::string without_port = expected;
  without_port.erase(without_port.find("listen_port=51820\n"), 18);
  CHECK(std::string(uapi::EncodeSet(c, /*include_listen_port=*/false)) == without_port);
  CHECK(std::string(uapi::EncodeSet(DeviceChange{})) == "set=1\n\n");
}

TEST_CASE("ParseGetReply reads wireguard-go's reply") {
  auto d = uapi::ParseGetReply(kReply);
  REQUIRE(d);
  CHECK(d->private_key->ToHex() == "48253ec17a4cca5b66c6d42525a06d2965f7cd6f205995611823bb2c2e93d16f");
  CHECK_FALSE(d->public_key);
  CHECK(d->listen_port == 5000);
  REQUIRE(d->peers.size() == 2);
  const Peer& p = d->peers[0];
  CHECK(p.public_key.ToHex() == "f774c329de9136597e50813d179774c9b6925060356816110530a455e5bc427f");
  CHECK(p.endpoint->ToString() == "[fd00::1]:5");
  CHECK(p.last_handshake_sec == 1700000001);
  CHECK(p.last_handshake_nsec == 42);
  CHECK(p.tx_bytes == 148);
  CHECK(p.rx_bytes == 92);
  CHECK(p.persistent_keepalive == 25);
  CHECK(p.allowed_ips == std::vector<Cidr>{*Cidr::Parse("10.0.0.1/32"), *Cidr::Parse("fd00::/64")});
  CHECK(d->peers[1].endpoint->ToString() == "10.1.2.3:51820");
  CHECK(d->peers[1].allowed_ips.empty());

  // Round trip through the formatter.
  CHECK(std::string(uapi::FormatGetReply(*d)) ==
        std::string(uapi::FormatGetReply(*uapi::ParseGetReply(std::string(uapi::FormatGetReply(*d))))));
  auto empty = uapi::ParseGetReply("errno=0\n\n");
  REQUIRE(empty);
  CHECK_FALSE(empty->private_key);
  CHECK(empty->peers.empty());
  // Unknown keys (a newer wireguard-go) are skipped; a zone on a link-local endpoint is dropped.
  auto newer = uapi::ParseGetReply("new_device_key=1\npublic_key=" + std::string(64, '1') +
                                   "\nnew_peer_key=x\nendpoint=[fe80::1%eth0]:51820\nerrno=0\n\n");
  REQUIRE(newer);
  CHECK(newer->peers[0].endpoint->ToString() == "[fe80::1]:51820");
}

TEST_CASE("ParseGetReply errors name the line and never show a private key") {
  auto err = [](const std::string& text) {
    auto d = uapi::ParseGetReply(text);
    REQUIRE_FALSE(d);
    return std::to_string(d.error().code) + " " + d.error().message;
  };
  const std::string pk = "public_key=" + std::string(64, '1') + "\n";
  CHECK(err("errno=-19\n\n") == "19 No such device");
  CHECK(err("errno=0\n") == "71 malformed reply: line 1: no empty line at the end");
  CHECK(err("listen_port=1\n\n") == "71 malformed reply: line 2: no errno");
  CHECK(err("errno=0\n\nmore") == "71 malformed reply: line 3: data after the end of the reply");
  CHECK(err("errno=0") == "71 malformed reply: line 1: no newline at the end");
  CHECK(err("listen_port=65536\nerrno=0\n\n") == "71 malformed reply: line 1: bad listen_port \"65536\"");
  CHECK(err("garbage\nerrno=0\n\n") == "71 malformed reply: line 1: no '=' in \"garbage\"");
  CHECK(err("private_key=" + std::string(63, 'a') + "x\nerrno=0\n\n") ==
        "71 malformed reply: line 1: bad private_key");
  CHECK(err(pk + "endpoint=1.2.3.4\nerrno=0\n\n") == "71 malformed reply: line 2: bad endpoint \"1.2.3.4\"");
  CHECK(err(pk + "allowed_ip=10.0.0.0/33\nerrno=0\n\n") ==
        "71 malformed reply: line 2: bad allowed_ip \"10.0.0.0/33\"");
  CHECK(err(pk + "preshared_key=zz\nerrno=0\n\n") == "71 malformed reply: line 2: bad preshared_key");
  CHECK(err(pk + "rx_bytes=-1\nerrno=0\n\n") == "71 malformed reply: line 2: bad rx_bytes \"-1\"");
  CHECK(err("errno=0\nlisten_port=1\n\n") == "71 malformed reply: line 2: a line after errno");
  CHECK(err("errno=x\n\n") == "71 malformed reply: line 1: bad errno \"x\"");
}

// The node report's periodic read: keys and handshakes only, the same as ParseGetReply's wherever that one
// accepts the reply; the reply's structure is checked as strictly, the values it does not read are not.
TEST_CASE("ParseGetHandshakes reads the keys and handshakes of a get reply") {
  auto h = uapi::ParseGetHandshakes(kReply);
  REQUIRE(h);
  auto d = uapi::ParseGetReply(kReply);
  REQUIRE(d);
  REQUIRE(h->size() == d->peers.size());
  for (size_t i = 0; i < h->size(); ++i) {
    CHECK((*h)[i].public_key == d->peers[i].public_key);
    CHECK((*h)[i].last_handshake_sec == d->peers[i].last_handshake_sec);
  }
  CHECK((*h)[0].last_handshake_sec == 1700000001);
  REQUIRE(uapi::ParseGetHandshakes("errno=0\n\n"));
  CHECK(uapi::ParseGetHandshakes("errno=0\n\n")->empty());
  auto err = [](const std::string& text) {
    auto r = uapi::ParseGetHandshakes(text);
    REQUIRE_FALSE(r);
    return std::to_string(r.error().code) + " " + r.error().message;
  };
  const std::string pk = "public_key=" + std::string(64, '1') + "\n";
  CHECK(err("errno=-19\n\n") == "19 No such device");
  CHECK(err("errno=0\n") == "71 malformed reply: line 1: no empty line at the end");
  CHECK(err(pk) == "71 malformed reply: line 1: no empty line at the end");
  CHECK(err(pk + "\n") == "71 malformed reply: line 2: no errno");
  CHECK(err("errno=0\n\nmore") == "71 malformed reply: line 3: data after the end of the reply");
  CHECK(err("garbage\nerrno=0\n\n") == "71 malformed reply: line 1: no '=' in \"garbage\"");
  CHECK(err("public_key=xyz\nerrno=0\n\n") == "71 malformed reply: line 1: bad public_key \"xyz\"");
  CHECK(err(pk + "last_handshake_time_sec=-1\nerrno=0\n\n") ==
        "71 malformed reply: line 2: bad last_handshake_time_sec \"-1\"");
  CHECK(err("errno=0\nlisten_port=1\n\n") == "71 malformed reply: line 2: a line after errno");
  // Values it does not read are not checked (ParseGetReply refuses this one).
  CHECK(uapi::ParseGetHandshakes(pk + "allowed_ip=10.0.0.0/33\nerrno=0\n\n"));
}

TEST_CASE("ParseSetReply takes the errno's magnitude") {
  CHECK(*uapi::ParseSetReply("errno=0\n\n") == 0);
  CHECK(*uapi::ParseSetReply("errno=-98\n\n") == EADDRINUSE);
  CHECK(*uapi::ParseSetReply("errno=22\n\n") == EINVAL);
  for (const char* bad : {"", "errno=\n\n", "errno=1\n", "errno=1", "errno=1\nx\n\n", "xerrno=1\n\n"}) {
    CAPTURE(bad);
    auto r = uapi::ParseSetReply(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == EPROTO);
  }
  CHECK(uapi::ParseSetReply("errno=1\n").error().message ==
        "malformed reply: line 1: expected errno=N and an empty line, got \"errno=1\\n\"");
  CHECK(uapi::ReplyComplete("errno=0\n\n"));
  CHECK_FALSE(uapi::ReplyComplete("errno=0\n"));
}

}  // namespace
}  // namespace swg::wg
