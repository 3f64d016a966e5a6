#pragma once
// Internal to k8s/: a reader of the protobuf wire format over bytes in memory, building nothing. Fields are
// read in order; a length-delimited value is a view into the input (a nested message is read by another
// reader over that view). Every wire type but groups is understood, so unknown fields of any type are
// skipped by their length. Strict bounds: a length past the end, a varint longer than 10 bytes, a group wire
// type (3, 4), wire types 6 and 7, field number 0 and nesting deeper than kMaxDepth are errors naming the
// byte and the cause; nothing is read outside the input.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace swg::k8s {

enum class WireType : uint8_t { kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5 };
std::string_view WireTypeName(WireType type);

struct ProtoField {
  uint32_t number = 0;
  WireType type = WireType::kVarint;
  uint64_t varint = 0;     // kVarint; kFixed64/kFixed32: the value
  std::string_view bytes;  // kBytes: the value, inside the reader's input
};

class ProtoReader {
 public:
  // Kubernetes objects nest about 8 deep (Node > status > conditions > lastHeartbeatTime); decoders never
  // recurse into what they skip, so this only bounds what they read.
  static constexpr int kMaxDepth = 32;

  // `base` is the input's offset in the outermost message, for error messages; `depth` its nesting.
  explicit ProtoReader(std::string_view data, size_t base = 0, int depth = 0);

  // The next field, or false at the end of the input or on an error (see ok()).
  bool Next(ProtoField* field);
  // A reader over a kBytes field just returned by Next, one level deeper (fails when too deep).
  ProtoReader Nested(const ProtoField& field) const;

  bool ok() const { return error_.empty(); }
  // "protobuf at byte N: <why>"
  const std::string& error() const { return error_; }
  bool Fail(std::string_view why);
  // The same, at the start of the field Next last returned.
  bool FailField(std::string_view why);
  size_t pos() const { return pos_; }

 private:
  bool ReadVarint(uint64_t* out);

  std::string_view data_;
  size_t base_;
  int depth_;
  size_t pos_ = 0;
  size_t field_at_ = 0;
  std::string error_;
};

// The first varint of `data` (a frame's or a field's length), consumed; false when incomplete or invalid.
// *invalid is set when it can never become valid (longer than 10 bytes).
bool ReadVarintPrefix(std::string_view data, uint64_t* value, size_t* length, bool* invalid);

}  // namespace swg::k8s
