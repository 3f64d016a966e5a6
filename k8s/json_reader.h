#pragma once
// Internal to k8s/: a pull reader of JSON text that builds no tree. The caller reads the values it wants and
// skips the others; skipping allocates nothing. Everything it passes over is checked as strictly as
// LoadJson(JSON_REJECT_DUPLICATES) checks it (strict UTF-8, no \u0000, integers that fit in 64 bits, no real
// overflow, no duplicate key in any object, nothing after the value), so the text it accepts is the text
// jansson accepts, except that nesting is bounded at kMaxDepth (jansson: 2048) and never recursed into.

#include <array>
#include <cstddef>
#include <list>
#include <string>
#include <string_view>
#include <vector>

namespace swg::k8s {

enum class JsonKind { kNone, kObject, kArray, kString, kInteger, kReal, kBool, kNull };

// As JsonTypeName names jansson's types ("integer", "number", "boolean", ...).
std::string_view JsonKindName(JsonKind kind);

class JsonReader {
 public:
  static constexpr int kMaxDepth = 512;

  explicit JsonReader(std::string_view text) : text_(text) { keys_.reserve(64); }
  JsonReader(const JsonReader&) = delete;
  JsonReader& operator=(const JsonReader&) = delete;

  // After the first error every call returns false; error() reads "invalid JSON at byte N: <why>".
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool Fail(std::string_view why);

  // The kind of the next value from its first byte (kInteger for any number, kNone for none).
  JsonKind PeekKind();
  // A string value, decoded into *out (appended), or checked and skipped when out is null.
  bool ReadString(std::string* out);
  // Checks and skips one value of any kind; *kind (when not null) tells which, integer or real.
  bool SkipValue(JsonKind* kind = nullptr);

  // Objects: BeginObject consumes the '{'. NextKey gives the next member's key (decoded; valid until the
  // reader is destroyed) with the reader at its value, or returns false at the '}' (consumed) or on an error
  // (see ok()). Arrays: the same with NextElement.
  bool BeginObject();
  bool NextKey(std::string_view* key);
  bool BeginArray();
  bool NextElement();

  // Only whitespace remains.
  bool End();
  size_t pos() const { return pos_; }

 private:
  struct Frame {
    bool object = false;
    bool first = true;
    size_t keys_base = 0;  // this object's keys are keys_[keys_base...]
  };
  void SkipSpace();
  bool Open(bool object);
  bool CloseObject();
  bool ScanString(std::string* out, std::string_view* raw, bool* escaped);
  bool ScanEscape(size_t& i, std::string* out);
  bool ScanNumber(JsonKind* kind);
  bool ScanLiteral(std::string_view word);
  // A scalar, or the opening of an object or array (then depth_ has grown).
  bool SkipScalarOrOpen(JsonKind* kind);

  std::string_view text_;
  size_t pos_ = 0;
  int depth_ = 0;
  std::string error_;
  std::array<Frame, kMaxDepth + 1> frames_{};
  std::vector<std::string_view> keys_;  // keys of the open objects, to find duplicates
  std::list<std::string> decoded_;      // keys that had escapes, decoded (rare; a list allocates nothing empty)
};

}  // namespace swg::k8s
