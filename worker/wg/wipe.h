#pragma once
// Containers for bytes that may hold private keys (netlink messages, UAPI text): the memory is wiped whenever
// it is released, including the old buffer when the container grows.

#include <openssl/crypto.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace swg::wg {

template <typename T>
struct WipingAllocator {
  using value_type = T;
  WipingAllocator() = default;
  template <typename U>
  WipingAllocator(const WipingAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) noexcept {
    OPENSSL_cleanse(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const WipingAllocator<U>&) const noexcept {
    return true;
  }
};

// Short strings live inside the object (no allocation); the destructor wipes that buffer too.
class SecretString : public std::basic_string<char, std::char_traits<char>, WipingAllocator<char>> {
 public:
  using Base = std::basic_string<char, std::char_traits<char>, WipingAllocator<char>>;
  using Base::Base;
  SecretString(const SecretString&) = default;
  SecretString(SecretString&&) = default;
  SecretString& operator=(const SecretString&) = default;
  SecretString& operator=(SecretString&&) = default;
  ~SecretString() { OPENSSL_cleanse(data(), capacity()); }
};

using SecretBytes = std::vector<uint8_t, WipingAllocator<uint8_t>>;

}  // namespace swg::wg
