#include "k8s/json_reader.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace swg::k8s {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Length of the UTF-8 sequence at p (not ASCII), or 0 when it is not valid (overlong, a surrogate, past
// U+10FFFF, cut short), as jansson's utf8_check_* decide.
size_t Utf8Length(const unsigned char* p, size_t avail) {
  const unsigned c = p[0];
  size_t n;
  uint32_t code;
  if (c < 0xC2) return 0;  // a continuation byte, or an overlong 2-byte form
  if (c < 0xE0) {
    n = 2;
    code = c & 0x1F;
  } else if (c < 0xF0) {
    n = 3;
    code = c & 0x0F;
  } else if (c < 0xF5) {
    n = 4;
    code = c & 0x07;
  } else {
    return 0;
  }
  if (avail < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((p[k] & 0xC0) != 0x80) return 0;
    code = (code << 6) | (p[k] & 0x3F);
  }
  if (n == 3 && (code < 0x800 || (code >= 0xD800 && code <= 0xDFFF))) return 0;
  if (n == 4 && (code < 0x10000 || code > 0x10FFFF)) return 0;
  return n;
}

void AppendUtf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

// Bytes that stand for themselves in a string: printable ASCII but the quote and the backslash.
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) t[static_cast<size_t>(c)] = c != '"' && c != '\\';
  return t;
}();

}  // namespace

std::string_view JsonKindName(JsonKind kind) {
  switch (kind) {
    case JsonKind::kObject: return "object";
    case JsonKind::kArray: return "array";
    case JsonKind::kString: return "string";
    case JsonKind::kInteger: return "integer";
    case JsonKind::kReal: return "number";
    case JsonKind::kBool: return "boolean";
    case JsonKind::kNull: return "null";
    case JsonKind::kNone: break;
  }
  return "unknown";
}

bool JsonReader::Fail(std::string_view why) {
  if (error_.empty()) {
    error_ = "invalid JSON at byte " + std::to_string(pos_) + ": ";
    error_ += why;
  }
  return false;
}

void JsonReader::SkipSpace() {
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
    ++pos_;
  }
}

JsonKind JsonReader::PeekKind() {
  if (!ok()) return JsonKind::kNone;
  SkipSpace();
  if (pos_ >= text_.size()) return JsonKind::kNone;
  const char c = text_[pos_];
  switch (c) {
    case '{': return JsonKind::kObject;
    case '[': return JsonKind::kArray;
    case '"': return JsonKind::kString;
    case 't':
    case 'f': return JsonKind::kBool;
    case 'n': return JsonKind::kNull;
    default: return c == '-' || IsDigit(c) ? JsonKind::kInteger : JsonKind::kNone;
  }
}

bool JsonReader::ReadString(std::string* out) {
  if (PeekKind() != JsonKind::kString) return Fail("expected a string");
  std::string_view raw;
  bool escaped = false;
  return ScanString(out, &raw, &escaped);
}

// At the opening quote. Appends the decoded text to *out (when not null); *raw is the text between the
// quotes, which is the value itself unless *escaped.
bool JsonReader::ScanString(std::string* out, std::string_view* raw, bool* escaped) {
  const size_t start = ++pos_;
  size_t i = start, run = start;  // bytes [run, i) are still to be appended verbatim
  const auto* bytes = reinterpret_cast<const unsigned char*>(text_.data());
  while (true) {
    while (i < text_.size() && kPlain[bytes[i]]) ++i;  // the bulk of every string
    if (i >= text_.size()) {
      pos_ = i;
      return Fail("unterminated string");
    }
    const unsigned char c = bytes[i];
    if (c == '"') break;
    if (c == '\\') {
      *escaped = true;
      if (out) out->append(text_.substr(run, i - run));
      if (!ScanEscape(i, out)) return false;
      run = i;
    } else if (c < 0x20) {
      pos_ = i;
      return Fail("control character in string");
    } else if (c < 0x80) {
      ++i;
    } else {
      const size_t n = Utf8Length(bytes + i, text_.size() - i);
      if (n == 0) {
        pos_ = i;
        return Fail("invalid UTF-8 in string");
      }
      i += n;
    }
  }
  if (out) out->append(text_.substr(run, i - run));
  *raw = text_.substr(start, i - start);
  pos_ = i + 1;
  return true;
}

// At the backslash at i; moves i past the escape.
bool JsonReader::ScanEscape(size_t& i, std::string* out) {
  auto hex4 = [this](size_t at) -> int32_t {
    if (at + 4 > text_.size()) return -1;
    int32_t v = 0;
    for (size_t k = at; k < at + 4; ++k) {
      const int h = HexValue(text_[k]);
      if (h < 0) return -1;
      v = v * 16 + h;
    }
    return v;
  };
  pos_ = i;
  if (i + 1 >= text_.size()) return Fail("unterminated string");
  const char e = text_[i + 1];
  char plain = 0;
  switch (e) {
    case '"': plain = '"'; break;
    case '\\': plain = '\\'; break;
    case '/': plain = '/'; break;
    case 'b': plain = '\b'; break;
    case 'f': plain = '\f'; break;
    case 'n': plain = '\n'; break;
    case 'r': plain = '\r'; break;
    case 't': plain = '\t'; break;
    case 'u': break;
    default: return Fail("invalid escape");
  }
  if (plain) {
    if (out) *out += plain;
    i += 2;
    return true;
  }
  int32_t code = hex4(i + 2);
  if (code < 0) return Fail("invalid escape");
  i += 6;
  if (code >= 0xD800 && code <= 0xDBFF) {
    // A high surrogate must be followed by an escaped low one.
    const int32_t low = i + 1 < text_.size() && text_[i] == '\\' && text_[i + 1] == 'u' ? hex4(i + 2) : -1;
    if (low < 0xDC00 || low > 0xDFFF) return Fail("invalid Unicode escape (lone surrogate)");
    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    i += 6;
  } else if (code >= 0xDC00 && code <= 0xDFFF) {
    return Fail("invalid Unicode escape (lone surrogate)");
  } else if (code == 0) {
    return Fail("\\u0000 is not allowed");
  }
  if (out) AppendUtf8(*out, static_cast<uint32_t>(code));
  return true;
}

bool JsonReader::ScanNumber(JsonKind* kind) {
  const size_t start = pos_;
  size_t i = pos_;
  auto digits = [&] {
    while (i < text_.size() && IsDigit(text_[i])) ++i;
  };
  if (i < text_.size() && text_[i] == '-') ++i;
  if (i < text_.size() && text_[i] == '0') {
    ++i;
    if (i < text_.size() && IsDigit(text_[i])) return Fail("invalid number (leading zero)");
  } else if (i < text_.size() && IsDigit(text_[i])) {
    digits();
  } else {
    return Fail("invalid number");
  }
  bool integer = true;
  if (i < text_.size() && text_[i] == '.') {
    integer = false;
    ++i;
    if (i >= text_.size() || !IsDigit(text_[i])) return Fail("invalid number");
    digits();
  }
  if (i < text_.size() && (text_[i] == 'e' || text_[i] == 'E')) {
    integer = false;
    ++i;
    if (i < text_.size() && (text_[i] == '+' || text_[i] == '-')) ++i;
    if (i >= text_.size() || !IsDigit(text_[i])) return Fail("invalid number");
    digits();
  }
  const std::string_view number = text_.substr(start, i - start);
  if (integer) {
    // jansson keeps integers as long long and refuses those that do not fit.
    long long v;
    auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), v);
    if (ec != std::errc() || end != number.data() + number.size()) return Fail("too big integer");
  } else {
    // jansson refuses reals that overflow to infinity (strtod's ERANGE with HUGE_VAL).
    char small[64];
    std::string large;
    const char* z = small;
    if (number.size() < sizeof(small)) {
      memcpy(small, number.data(), number.size());
      small[number.size()] = '\0';
    } else {
      large.assign(number);
      z = large.c_str();
    }
    errno = 0;
    const double v = strtod(z, nullptr);
    if ((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE) return Fail("real number overflow");
  }
  if (kind) *kind = integer ? JsonKind::kInteger : JsonKind::kReal;
  pos_ = i;
  return true;
}

bool JsonReader::ScanLiteral(std::string_view word) {
  if (text_.substr(pos_, word.size()) != word) return Fail("invalid token");
  pos_ += word.size();
  return true;
}

bool JsonReader::Open(bool object) {
  ++pos_;
  if (depth_ >= kMaxDepth) return Fail("nested deeper than " + std::to_string(kMaxDepth));
  Frame& f = frames_[static_cast<size_t>(++depth_)];
  f.object = object;
  f.first = true;
  f.keys_base = keys_.size();
  return true;
}

bool JsonReader::BeginObject() {
  if (PeekKind() != JsonKind::kObject) return Fail("expected '{'");
  return Open(true);
}

bool JsonReader::BeginArray() {
  if (PeekKind() != JsonKind::kArray) return Fail("expected '['");
  return Open(false);
}

// At the '}' (consumed): no key twice, as JSON_REJECT_DUPLICATES. Always false (the object has ended).
bool JsonReader::CloseObject() {
  const size_t base = frames_[static_cast<size_t>(depth_)].keys_base;
  const auto first = keys_.begin() + static_cast<std::ptrdiff_t>(base);
  const size_t n = keys_.size() - base;
  bool duplicate = false;
  if (n <= 8) {  // most objects: comparing the pairs is cheaper than sorting
    for (auto a = first; a != keys_.end() && !duplicate; ++a)
      duplicate = std::find(a + 1, keys_.end(), *a) != keys_.end();
  } else {
    std::sort(first, keys_.end());
    duplicate = std::adjacent_find(first, keys_.end()) != keys_.end();
  }
  keys_.resize(base);
  --depth_;
  if (duplicate) {
    --pos_;
    Fail("duplicate object key");
  }
  return false;
}

bool JsonReader::NextKey(std::string_view* key) {
  if (!ok()) return false;
  Frame& f = frames_[static_cast<size_t>(depth_)];
  SkipSpace();
  if (pos_ < text_.size() && text_[pos_] == '}') {  // (after a ',' a key must follow: no trailing comma)
    ++pos_;
    return CloseObject();
  }
  if (!f.first) {
    if (pos_ >= text_.size() || text_[pos_] != ',') return Fail("expected ',' or '}'");
    ++pos_;
    SkipSpace();
  }
  f.first = false;
  if (pos_ >= text_.size() || text_[pos_] != '"') return Fail("expected a string key");
  std::string_view raw;
  bool escaped = false;
  if (!ScanString(nullptr, &raw, &escaped)) return false;
  if (escaped) {
    // Decode again, now that it is known to be valid (rare: keys hardly ever have escapes).
    const size_t end = pos_;
    pos_ = static_cast<size_t>(raw.data() - text_.data()) - 1;
    std::string& out = decoded_.emplace_back();
    if (!ScanString(&out, &raw, &escaped)) return false;
    pos_ = end;
    raw = out;
  }
  keys_.push_back(raw);
  *key = raw;
  SkipSpace();
  if (pos_ >= text_.size() || text_[pos_] != ':') return Fail("expected ':'");
  ++pos_;
  return true;
}

bool JsonReader::NextElement() {
  if (!ok()) return false;
  Frame& f = frames_[static_cast<size_t>(depth_)];
  SkipSpace();
  if (pos_ < text_.size() && text_[pos_] == ']') {
    ++pos_;
    --depth_;
    return false;
  }
  if (!f.first) {
    if (pos_ >= text_.size() || text_[pos_] != ',') return Fail("expected ',' or ']'");
    ++pos_;
  }
  f.first = false;
  return true;
}

bool JsonReader::SkipScalarOrOpen(JsonKind* kind) {
  JsonKind k = PeekKind();
  if (!ok()) return false;
  *kind = k;
  switch (k) {
    case JsonKind::kObject: return Open(true);
    case JsonKind::kArray: return Open(false);
    case JsonKind::kString: {
      std::string_view raw;
      bool escaped = false;
      return ScanString(nullptr, &raw, &escaped);
    }
    case JsonKind::kInteger: return ScanNumber(kind);
    case JsonKind::kBool: return ScanLiteral(text_[pos_] == 't' ? "true" : "false");
    case JsonKind::kNull: return ScanLiteral("null");
    default: return Fail(pos_ >= text_.size() ? "unexpected end of text" : "unexpected byte");
  }
}

// Iterative, so that hostile nesting costs frames_, never the call stack.
bool JsonReader::SkipValue(JsonKind* kind) {
  const int base = depth_;
  JsonKind k;
  if (!SkipScalarOrOpen(&k)) return false;
  if (kind) *kind = k;
  std::string_view key;
  while (depth_ > base) {
    const bool more = frames_[static_cast<size_t>(depth_)].object ? NextKey(&key) : NextElement();
    if (!ok()) return false;
    if (more && !SkipScalarOrOpen(&k)) return false;
  }
  return true;
}

bool JsonReader::End() {
  if (!ok()) return false;
  SkipSpace();
  return pos_ == text_.size() || Fail("end of text expected");
}

}  // namespace swg::k8s
