#include "k8s/json_load.h"

#include <malloc.h>

#include <cstdlib>
#include <mutex>

#include "k8s/parse.h"

namespace swg::k8s {
namespace {

// jansson has one allocator for the whole process. Ours passes through to malloc/free and, only while a
// LoadJson runs on this thread, counts the bytes its tree holds and refuses an allocation past the bound
// (jansson then fails the parse cleanly). malloc_usable_size sizes a block on free, so blocks allocated
// before the hooks were installed, at the first LoadJson, are freed correctly too. (The processes that parse
// apiserver JSON, the workers, use jansson from their loop's thread only.)
struct Budget {
  size_t used = 0;
  size_t limit = 0;
  bool exceeded = false;
};
thread_local Budget* tl_budget = nullptr;

constexpr size_t kChunkOverhead = sizeof(size_t);  // malloc's header per block

void* CountingMalloc(size_t n) noexcept {
  void* p = malloc(n);
  if (!p || !tl_budget) return p;
  size_t size = malloc_usable_size(p) + kChunkOverhead;
  if (tl_budget->used + size > tl_budget->limit) {
    free(p);
    tl_budget->exceeded = true;
    return nullptr;
  }
  tl_budget->used += size;
  return p;
}

void CountingFree(void* p) noexcept {
  if (p && tl_budget) {
    size_t size = malloc_usable_size(p) + kChunkOverhead;
    tl_budget->used -= std::min(size, tl_budget->used);
  }
  free(p);
}

void InstallHooks() {
  static std::once_flag once;
  std::call_once(once, [] { json_set_alloc_funcs(CountingMalloc, CountingFree); });
}

}  // namespace

Result<JsonPtr> LoadJson(std::string_view text, size_t flags, size_t max_tree_bytes) {
  InstallHooks();
  Budget budget{0, max_tree_bytes, false};
  json_error_t err;
  tl_budget = &budget;
  JsonPtr root(json_loadb(text.data(), text.size(), flags, &err));
  tl_budget = nullptr;  // the tree may be freed later, uncounted
  if (budget.exceeded) {
    root.reset();
    return Error{"needs more than " + SizeText(max_tree_bytes) + " of memory to parse (" +
                     std::to_string(text.size()) + " bytes of JSON)",
                 kErrorOverLimit};
  }
  if (!root) return Error{"invalid JSON at byte " + std::to_string(err.position) + ": " + err.text};
  return root;
}

std::string SizeText(size_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= (1u << 10) && bytes % (1u << 10) == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

}  // namespace swg::k8s
