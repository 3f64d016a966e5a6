#pragma once
// Internal to k8s/: jansson parsing with the memory it may take bounded, for JSON from apiservers. A parsed
// tree takes 5 times the size of a real Node's JSON, but up to 80 times for a hostile document of empty
// objects, so a size limit on the text alone does not bound the memory.

#include <cstddef>
#include <string>
#include <string_view>

#include "common/json.h"
#include "common/result.h"

namespace swg::k8s {

// The most memory one parsed document may take: a real Node (about 12 KB of JSON) takes about 60 KB; a Node
// at etcd's object limit (1.5 MiB) about 8 MiB.
inline constexpr size_t kMaxJsonTreeBytes = 16u << 20;

// json_loadb(text, flags) that stops once the tree would take more than `max_tree_bytes`. Errors read
// "invalid JSON at byte N: <why>" or "needs more than 16 MiB of memory to parse (N bytes of JSON)" (code
// kErrorOverLimit).
Result<JsonPtr> LoadJson(std::string_view text, size_t flags, size_t max_tree_bytes = kMaxJsonTreeBytes);

// "16 MiB", "64 KiB" or "1000 bytes", for messages about limits.
std::string SizeText(size_t bytes);

}  // namespace swg::k8s
