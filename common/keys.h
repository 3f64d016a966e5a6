#pragma once
// WireGuard (Curve25519) keys: generation, base64/hex encoding, validation and the key files shared with the
// original implementation (`<dir>/wireguard.<remote>.key`, the 44-character base64 line `wg genkey` writes).
// Key bytes are wiped when a Key is destroyed or overwritten, and never appear in logs.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace swg {

class Key {
 public:
  static constexpr size_t kSize = 32;
  Key() = default;
  explicit Key(const uint8_t (&raw)[kSize]);
  Key(const Key& other) = default;
  Key& operator=(const Key& other);
  ~Key();

  // Canonical base64 only: 44 characters, '=' last, and the unused low bits of the last digit zero.
  static std::optional<Key> FromBase64(std::string_view text);
  static std::optional<Key> FromHex(std::string_view text);  // 64 hex digits, any case
  std::string ToBase64() const;
  std::string ToHex() const;  // lower case, as the UAPI wants

  bool IsZero() const;
  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }
  std::array<uint8_t, kSize>& mutable_bytes() { return bytes_; }
  bool operator==(const Key& other) const;  // constant time
  bool operator<(const Key& other) const { return bytes_ < other.bytes_; }

 private:
  std::array<uint8_t, kSize> bytes_{};
};

Result<Key> GeneratePrivateKey();             // RAND_priv_bytes, clamped
Result<Key> PublicKeyOf(const Key& private_key);  // X25519

// Why a remote peer's key text is not acceptable, or "" when it is.
std::string PeerKeyProblem(std::string_view text);

// Inline: the supervisor watches key files by this name without linking the key code (and libcrypto).
inline std::string KeyFilePath(const std::string& dir, const std::string& remote) {
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return d + "/wireguard." + remote + ".key";
}

// Reads a key file. Errors name the path; a corrupt file is an error, never replaced.
Result<Key> LoadKeyFile(const std::string& path);
Status StoreKeyFile(const std::string& path, const Key& key);  // 0600, atomic; the directory is made 0700

// Loads the key at `path`, or generates and stores one when the file does not exist. *created tells which.
Result<Key> LoadOrCreateKeyFile(const std::string& path, bool* created);

// Key rotation: generates a new key, stores it at `path` (atomically, 0600, as StoreKeyFile), then calls
// apply(new_key) (sets it on the device). The file is checked first to hold `current`, so that a key changed
// behind our back is not overwritten. When apply fails, `current` is stored back: the old key stays in place
// and the error is returned. Returns the new key.
Result<Key> RotateKeyFile(const std::string& path, const Key& current,
                          const std::function<Status(const Key& new_key)>& apply);

}  // namespace swg
