#include "common/keys.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/files.h"
#include "common/log.h"
#include "tests/unit/testutil.h"

using swg::Key;

TEST_CASE("RFC 7748 X25519 test vector") {
  auto priv = Key::FromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  REQUIRE(priv);
  auto pub = swg::PublicKeyOf(*priv);
  REQUIRE(pub.ok());
  CHECK(pub->ToHex() == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
}

TEST_CASE("base64 round trip and canonical form") {
  auto k = Key::FromHex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  REQUIRE(k);
  std::string b64 = k->ToBase64();
  CHECK(b64 == "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
  CHECK(Key::FromBase64(b64) == k);
  // Same bytes, last digit with non-zero unused bits: decoders that accept it would alias keys.
  CHECK_FALSE(Key::FromBase64("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp="));
  CHECK_FALSE(Key::FromBase64("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"));
  CHECK_FALSE(Key::FromBase64("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTm=="));
  CHECK_FALSE(Key::FromBase64("hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo="));
  CHECK(swg::PeerKeyProblem(b64).empty());
  CHECK(swg::PeerKeyProblem("") == "public key is empty");
  CHECK(swg::PeerKeyProblem("abc") == "public key \"abc\" is not 44 base64 characters");
  CHECK(swg::PeerKeyProblem("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=") ==
        "public key \"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=\" is not canonical base64 of 32 bytes");
  CHECK(swg::PeerKeyProblem("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") == "public key is all zeros");
}

TEST_CASE("generated keys are clamped and unique") {
  auto a = swg::GeneratePrivateKey();
  auto b = swg::GeneratePrivateKey();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK_FALSE(*a == *b);
  CHECK((a->bytes()[0] & 7) == 0);
  CHECK((a->bytes()[31] & 0xc0) == 0x40);
}

TEST_CASE("keys agree with wg genkey and wg pubkey") {
  swg::test::TempDir dir;
  for (int i = 0; i < 3; ++i) {
    std::string path = dir.path() + "/wireguard.c" + std::to_string(i) + ".key";
    std::string wg_private = swg::test::Shell("umask 077; wg genkey | tee " + path);
    std::string wg_public = swg::test::Shell("wg pubkey < " + path);
    auto loaded = swg::LoadKeyFile(path);
    REQUIRE(loaded.ok());
    CHECK(loaded->ToBase64() + "\n" == wg_private);
    CHECK(swg::PublicKeyOf(*loaded)->ToBase64() + "\n" == wg_public);
  }
  // A key written here gives wg pubkey's public key.
  std::string path = swg::KeyFilePath(dir.path() + "/", "c9");
  CHECK(path == dir.path() + "/wireguard.c9.key");
  bool created = false;
  auto key = swg::LoadOrCreateKeyFile(path, &created);
  REQUIRE(key.ok());
  CHECK(created);
  CHECK(swg::PublicKeyOf(*key)->ToBase64() + "\n" == swg::test::Shell("wg pubkey < " + path));
}

TEST_CASE("key file: 0600, directory 0700, atomic, reloaded unchanged") {
  swg::test::TempDir dir;
  std::string keydir = dir.path() + "/state/keys";
  std::string path = swg::KeyFilePath(keydir, "c2");
  bool created = false;
  auto first = swg::LoadOrCreateKeyFile(path, &created);
  REQUIRE(first.ok());
  CHECK(created);
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(stat(keydir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  auto text = swg::ReadFile(path);
  REQUIRE(text.ok());
  CHECK(text->size() == 45);
  CHECK(text->back() == '\n');
  CHECK(swg::test::Shell("ls -a " + keydir) == ".\n..\nwireguard.c2.key\n");  // no temporary left behind

  auto second = swg::LoadOrCreateKeyFile(path, &created);
  REQUIRE(second.ok());
  CHECK_FALSE(created);
  CHECK(*second == *first);
}

namespace {
// Keeps every log record's message and fields as text.
class RecordingSink : public swg::log::Sink {
 public:
  explicit RecordingSink(std::vector<std::string>* lines) : lines_(lines) {}
  void Write(const swg::log::Record& record) override {
    std::string line(record.message);
    for (const auto& f : record.fields) line += " " + f.key + "=" + f.value;
    lines_->push_back(line);
  }

 private:
  std::vector<std::string>* lines_;
};
}  // namespace

TEST_CASE(
    "a key directory that exists with mode 0755 (a kubelet's hostPath) is made 0700, and it is logged") {
  swg::test::TempDir dir;
  std::string keydir = dir.path() + "/keys";
  REQUIRE(mkdir(keydir.c_str(), 0755) == 0);
  REQUIRE(chmod(keydir.c_str(), 0755) == 0);  // whatever the umask
  std::string path = swg::KeyFilePath(keydir, "c2");
  std::vector<std::string> lines;
  swg::log::SetSink(std::make_unique<RecordingSink>(&lines));
  auto mode_of = [](const std::string& p) {
    struct stat st;
    REQUIRE(stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
  };

  bool created = false;
  auto first = swg::LoadOrCreateKeyFile(path, &created);
  CHECK(first.ok());
  CHECK(created);
  CHECK(mode_of(keydir) == 0700);
  CHECK(mode_of(path) == 0600);
  CHECK(lines ==
        std::vector<std::string>{"made the directory private (mode 0700) dir=" + keydir + " was=0755"});

  // Made 0755 again (a new hostPath mount over the same directory): the existing key is loaded, unchanged.
  REQUIRE(chmod(keydir.c_str(), 0755) == 0);
  lines.clear();
  auto second = swg::LoadOrCreateKeyFile(path, &created);
  CHECK(second.ok());
  CHECK_FALSE(created);
  if (first.ok() && second.ok()) CHECK(*second == *first);
  CHECK(mode_of(keydir) == 0700);
  CHECK(lines.size() == 1);

  // Already 0700: nothing to do, nothing logged.
  lines.clear();
  CHECK(swg::LoadOrCreateKeyFile(path, &created).ok());
  CHECK(lines.empty());
  swg::log::SetSink(swg::log::MakeTextSink(2));
}

TEST_CASE("a corrupt or unreadable key file is an error naming the path and is kept") {
  swg::test::TempDir dir;
  std::string path = dir.path() + "/wireguard.c2.key";
  REQUIRE(swg::WriteFileAtomic(path, "not a key\n", 0600).ok());
  bool created = true;
  auto r = swg::LoadOrCreateKeyFile(path, &created);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find(path) != std::string::npos);
  CHECK(r.error().message.find("corrupt") != std::string::npos);
  CHECK_FALSE(created);
  CHECK(*swg::ReadFile(path) == "not a key\n");

  REQUIRE(swg::WriteFileAtomic(path, "", 0600).ok());
  CHECK_FALSE(swg::LoadKeyFile(path).ok());

  std::string dirpath = dir.path() + "/wireguard.c3.key";
  REQUIRE(mkdir(dirpath.c_str(), 0700) == 0);
  auto d = swg::LoadKeyFile(dirpath);
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().message.find(dirpath) != std::string::npos);
}

TEST_CASE("a key without a trailing newline (as the original may write it) loads") {
  swg::test::TempDir dir;
  std::string path = dir.path() + "/k";
  REQUIRE(swg::WriteFileAtomic(path, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=", 0600).ok());
  auto k = swg::LoadKeyFile(path);
  REQUIRE(k.ok());
  CHECK(k->ToBase64() == "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
}

TEST_CASE("key rotation: a new key in the same file, 0600; the old key kept when applying it fails") {
  swg::test::TempDir dir;
  std::string path = swg::KeyFilePath(dir.path() + "/keys", "c2");
  bool created = false;
  auto old = swg::LoadOrCreateKeyFile(path, &created);
  REQUIRE(old.ok());

  swg::Key applied;
  auto rotated = swg::RotateKeyFile(path, *old, [&](const swg::Key& k) {
    applied = k;
    // Applied after the file is written: a restart from here on loads the new key.
    auto on_disk = swg::LoadKeyFile(path);
    REQUIRE(on_disk.ok());
    CHECK(*on_disk == k);
    return swg::Ok();
  });
  REQUIRE(rotated.ok());
  CHECK_FALSE(*rotated == *old);
  CHECK(applied == *rotated);
  auto now = swg::LoadKeyFile(path);
  REQUIRE(now.ok());
  CHECK(*now == *rotated);
  struct stat st;
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(swg::test::Shell("ls -a " + dir.path() + "/keys") == ".\n..\nwireguard.c2.key\n");

  auto failed = swg::RotateKeyFile(path, *rotated,
                                   [](const swg::Key&) { return swg::Status(swg::Error{"device gone"}); });
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message == "device gone");
  auto kept = swg::LoadKeyFile(path);
  REQUIRE(kept.ok());
  CHECK(*kept == *rotated);

  // A file that no longer holds the key in use is not overwritten.
  bool called = false;
  auto stale = swg::RotateKeyFile(path, *old, [&](const swg::Key&) {
    called = true;
    return swg::Ok();
  });
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().message.find("no longer holds the key in use") != std::string::npos);
  CHECK_FALSE(called);
  auto still = swg::LoadKeyFile(path);
  REQUIRE(still.ok());
  CHECK(*still == *rotated);
}
