#pragma once
// RAII for jansson values and small typed accessors. Internal to the libraries; public headers do not expose
// json_t.

#include <jansson.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace swg {

struct JsonDeleter {
  void operator()(json_t* j) const { json_decref(j); }
};
using JsonPtr = std::unique_ptr<json_t, JsonDeleter>;

// The value of a string member, or nullopt when absent or not a string.
inline std::optional<std::string_view> JsonString(const json_t* obj, const char* key) {
  const json_t* v = json_object_get(obj, key);
  if (!v || !json_is_string(v)) return std::nullopt;
  return std::string_view(json_string_value(v), json_string_length(v));
}

// "string", "number", "object", ... for error messages.
std::string_view JsonTypeName(const json_t* j);

// Serialises compactly (sorted keys when `sorted`); "" on failure.
std::string JsonDump(const json_t* j, bool pretty = false, bool sorted = false);

}  // namespace swg
