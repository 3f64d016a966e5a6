#pragma once
// Internal to k8s/: follows the nesting of JSON text byte by byte, across chunks (strings with their escapes,
// brackets), so the stream parsers can find where a value ends without parsing it. It checks nothing else:
// the Node reader (node_reader.h) or jansson does that on each value found.

#include <cstddef>
#include <string_view>

namespace swg::k8s {

inline bool IsJsonSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

class JsonNesting {
 public:
  enum class Step { kOther, kOpen, kClose, kStringStart, kStringEnd, kInString };
  Step Feed(char c) {
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
        return Step::kStringEnd;
      }
      return Step::kInString;
    }
    if (c == '"') {
      in_string_ = true;
      return Step::kStringStart;
    }
    if (c == '{' || c == '[') {
      ++depth_;
      return Step::kOpen;
    }
    if ((c == '}' || c == ']') && depth_ > 0) {
      --depth_;
      return Step::kClose;
    }
    return Step::kOther;
  }
  // The first index from i on whose byte Feed would act on: inside a string a quote or a backslash, outside
  // one a quote or a bracket. Feed passes over the bytes before it without a change, so callers that only
  // follow the nesting need not feed them (most of a Node is plain string bytes).
  size_t SkipInert(std::string_view s, size_t i) const {
    if (escaped_) return i;
    const char* p = s.data();
    const size_t n = s.size();
    if (in_string_) {
      while (i < n && p[i] != '"' && p[i] != '\\') ++i;
    } else {
      while (i < n && p[i] != '"' && p[i] != '{' && p[i] != '}' && p[i] != '[' && p[i] != ']') ++i;
    }
    return i;
  }
  int depth() const { return depth_; }  // after the last byte fed
  bool in_string() const { return in_string_; }

 private:
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
};

}  // namespace swg::k8s
