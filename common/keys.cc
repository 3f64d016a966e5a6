#include "common/keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "common/base64.h"
#include "common/files.h"
#include "common/strings.h"

namespace swg {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int Base64Value(char c) {
  size_t pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

// The value of each hex digit, -1 for every other byte: a device read decodes every peer's key.
constexpr std::array<int8_t, 256> kHexValue = [] {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int c = '0'; c <= '9'; ++c) t[static_cast<size_t>(c)] = static_cast<int8_t>(c - '0');
  for (int c = 'a'; c <= 'f'; ++c) t[static_cast<size_t>(c)] = static_cast<int8_t>(c - 'a' + 10);
  for (int c = 'A'; c <= 'F'; ++c) t[static_cast<size_t>(c)] = static_cast<int8_t>(c - 'A' + 10);
  return t;
}();

int HexValue(char c) { return kHexValue[static_cast<unsigned char>(c)]; }

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

}  // namespace

Key::Key(const uint8_t (&raw)[kSize]) { std::memcpy(bytes_.data(), raw, kSize); }

Key& Key::operator=(const Key& other) {
  if (this != &other) bytes_ = other.bytes_;
  return *this;
}

Key::~Key() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

std::optional<Key> Key::FromBase64(std::string_view text) {
  if (text.size() != 44 || text[43] != '=') return std::nullopt;
  Key k;
  uint32_t acc = 0;
  int bits = 0;
  size_t out = 0;
  for (size_t i = 0; i < 43; ++i) {
    int v = Base64Value(text[i]);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (out < kSize) k.bytes_[out++] = static_cast<uint8_t>(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  // 43 digits carry 258 bits: the 2 bits left over must be zero, or the text is not canonical.
  if (out != kSize || acc != 0) return std::nullopt;
  return k;
}

std::optional<Key> Key::FromHex(std::string_view text) {
  if (text.size() != 2 * kSize) return std::nullopt;
  Key k;
  int bad = 0;  // negative once any digit is not hex
  for (size_t i = 0; i < kSize; ++i) {
    int hi = HexValue(text[2 * i]), lo = HexValue(text[2 * i + 1]);
    bad |= hi | lo;
    k.bytes_[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  if (bad < 0) return std::nullopt;
  return k;
}

std::string Key::ToBase64() const {
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(bytes_.data()), bytes_.size()));
}

std::string Key::ToHex() const {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : bytes_) {
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}

bool Key::IsZero() const {
  uint8_t acc = 0;
  for (uint8_t b : bytes_) acc = static_cast<uint8_t>(acc | b);
  return acc == 0;
}

bool Key::operator==(const Key& other) const {
  return CRYPTO_memcmp(bytes_.data(), other.bytes_.data(), kSize) == 0;
}

Result<Key> GeneratePrivateKey() {
  Key k;
  if (RAND_priv_bytes(k.mutable_bytes().data(), Key::kSize) != 1) {
    return Error{"cannot generate a private key: the OpenSSL random generator failed"};
  }
  auto& b = k.mutable_bytes();
  b[0] &= 248;
  b[31] = static_cast<uint8_t>((b[31] & 127) | 64);
  return k;
}

Result<Key> PublicKeyOf(const Key& private_key) {
  std::unique_ptr<EVP_PKEY, PkeyDeleter> pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, private_key.bytes().data(), Key::kSize));
  if (!pkey) return Error{"cannot derive a public key: OpenSSL rejected the private key"};
  Key pub;
  size_t len = Key::kSize;
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub.mutable_bytes().data(), &len) != 1 || len != Key::kSize) {
    return Error{"cannot derive a public key: OpenSSL failed"};
  }
  return pub;
}

std::string PeerKeyProblem(std::string_view text) {
  if (text.empty()) return "public key is empty";
  if (text.size() != 44) return "public key " + Quote(text) + " is not 44 base64 characters";
  auto k = Key::FromBase64(text);
  if (!k) return "public key " + Quote(text) + " is not canonical base64 of 32 bytes";
  if (k->IsZero()) return "public key is all zeros";
  return "";
}

Result<Key> LoadKeyFile(const std::string& path) {
  auto data = ReadFile(path, 4096);
  if (!data.ok()) return std::move(data).error();
  std::string_view text = Trim(*data);
  auto key = Key::FromBase64(text);
  OPENSSL_cleanse(data->data(), data->size());
  if (!key) {
    return Error{"key file " + path + " is corrupt: expected one base64 WireGuard key (44 characters, as wg genkey "
                 "writes); it is not replaced because remote clusters know its public key",
                 EINVAL};
  }
  if (key->IsZero()) return Error{"key file " + path + " holds an all-zero key", EINVAL};
  return *key;
}

Status StoreKeyFile(const std::string& path, const Key& key) {
  if (auto st = EnsureDirectory(DirOf(path), 0700); !st.ok()) return st;
  std::string text = key.ToBase64() + "\n";
  auto st = WriteFileAtomic(path, text, 0600);
  OPENSSL_cleanse(text.data(), text.size());
  return st;
}

Result<Key> LoadOrCreateKeyFile(const std::string& path, bool* created) {
  *created = false;
  // The directory holds private keys: 0700 even when someone else made it (a kubelet makes hostPath
  // directories 0755).
  if (auto s = EnsurePrivateDirectory(DirOf(path)); !s.ok()) return std::move(s).error();
  struct stat st;
  if (stat(path.c_str(), &st) == 0) return LoadKeyFile(path);
  if (errno != ENOENT) return Error{"cannot access key file " + path + ": " + ErrnoText(errno), errno};
  auto key = GeneratePrivateKey();
  if (!key.ok()) return key;
  if (auto s = StoreKeyFile(path, *key); !s.ok()) return std::move(s).error();
  *created = true;
  return key;
}

Result<Key> RotateKeyFile(const std::string& path, const Key& current,
                          const std::function<Status(const Key& new_key)>& apply) {
  auto stored = LoadKeyFile(path);
  if (!stored.ok()) return std::move(stored).error();
  if (!(*stored == current)) {
    return Error{"key file " + path +
                 " no longer holds the key in use (changed by someone else?); not rotated"};
  }
  auto key = GeneratePrivateKey();
  if (!key.ok()) return key;
  if (auto st = StoreKeyFile(path, *key); !st.ok()) return std::move(st).error();
  if (auto st = apply(*key); !st.ok()) {
    if (auto back = StoreKeyFile(path, current); !back.ok()) {
      return Error{st.error().message +
                   "; and the old key could not be stored back: " + back.error().message};
    }
    return std::move(st).error();
  }
  return key;
}

}  // namespace swg
