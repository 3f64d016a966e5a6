#include "common/json.h"

#include <cstdlib>

namespace swg {

std::string_view JsonTypeName(const json_t* j) {
  switch (json_typeof(j)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
  }
  return "unknown";
}

std::string JsonDump(const json_t* j, bool pretty, bool sorted) {
  size_t flags = JSON_ENCODE_ANY | (pretty ? JSON_INDENT(2) : JSON_COMPACT) | (sorted ? JSON_SORT_KEYS : 0);
  char* s = json_dumps(j, flags);
  if (!s) return "";
  std::string out(s);
  free(s);
  return out;
}

}  // namespace swg
