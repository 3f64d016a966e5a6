#pragma once
// Internal to k8s/: follows the nesting of JSON text byte by byte, across chunks (strings with their escapes,
// brackets), so the stream parsers can find where a value ends without parsing it. It checks nothing else:
// the Node reader (node_reader.h) or jansson does that on each value found.

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
  int depth() const { return depth_; }  // after the last byte fed
  bool in_string() const { return in_string_; }

 private:
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
};

}  // namespace swg::k8s
