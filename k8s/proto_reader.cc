#include "k8s/proto_reader.h"

namespace swg::k8s {

std::string_view WireTypeName(WireType type) {
  switch (type) {
    case WireType::kVarint:
      return "varint";
    case WireType::kFixed64:
      return "fixed64";
    case WireType::kBytes:
      return "length-delimited";
    case WireType::kFixed32:
      return "fixed32";
  }
  return "?";
}

bool ReadVarintPrefix(std::string_view data, uint64_t* value, size_t* length, bool* invalid) {
  *invalid = false;
  uint64_t v = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    if (i == 10) break;
    const auto b = static_cast<uint8_t>(data[i]);
    // The tenth byte holds only the 64th bit: anything more overflows.
    if (i == 9 && b > 1) {
      *invalid = true;
      return false;
    }
    v |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *value = v;
      *length = i + 1;
      return true;
    }
  }
  if (data.size() >= 10) *invalid = true;
  return false;
}

ProtoReader::ProtoReader(std::string_view data, size_t base, int depth)
    : data_(data), base_(base), depth_(depth) {
  if (depth_ > kMaxDepth) Fail("nested deeper than " + std::to_string(kMaxDepth) + " messages");
}

bool ProtoReader::Fail(std::string_view why) {
  if (error_.empty()) error_ = "protobuf at byte " + std::to_string(base_ + pos_) + ": " + std::string(why);
  return false;
}

bool ProtoReader::FailField(std::string_view why) {
  pos_ = field_at_;
  return Fail(why);
}

bool ProtoReader::ReadVarint(uint64_t* out) {
  size_t length = 0;
  bool invalid = false;
  if (ReadVarintPrefix(data_.substr(pos_), out, &length, &invalid)) {
    pos_ += length;
    return true;
  }
  return Fail(invalid ? "varint longer than 10 bytes" : "truncated varint");
}

bool ProtoReader::Next(ProtoField* f) {
  if (!ok() || pos_ >= data_.size()) return false;
  const size_t at = pos_;
  field_at_ = at;
  uint64_t tag = 0;
  if (!ReadVarint(&tag)) return false;
  const uint64_t number = tag >> 3;
  const auto wire = static_cast<unsigned>(tag & 7);
  if (number == 0 || number > 0x1fffffff) {
    pos_ = at;
    return Fail("invalid field number " + std::to_string(number));
  }
  f->number = static_cast<uint32_t>(number);
  f->varint = 0;
  f->bytes = {};
  auto fixed = [&](size_t n) {
    if (data_.size() - pos_ < n) {
      return Fail("field " + std::to_string(number) + ": " + std::to_string(n) + "-byte value past the end");
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i)
      v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i])) << (8 * i);
    f->varint = v;
    pos_ += n;
    return true;
  };
  switch (wire) {
    case 0:
      f->type = WireType::kVarint;
      return ReadVarint(&f->varint);
    case 1:
      f->type = WireType::kFixed64;
      return fixed(8);
    case 5:
      f->type = WireType::kFixed32;
      return fixed(4);
    case 2: {
      f->type = WireType::kBytes;
      uint64_t length = 0;
      if (!ReadVarint(&length)) return false;
      if (length > data_.size() - pos_) {
        return Fail("field " + std::to_string(number) + ": length " + std::to_string(length) +
                    " past the end (" + std::to_string(data_.size() - pos_) + " bytes left)");
      }
      f->bytes = data_.substr(pos_, static_cast<size_t>(length));
      pos_ += static_cast<size_t>(length);
      return true;
    }
    case 3:
    case 4:
      pos_ = at;
      return Fail("field " + std::to_string(number) + ": group wire type " + std::to_string(wire) +
                  " is not supported");
    default:
      pos_ = at;
      return Fail("field " + std::to_string(number) + ": invalid wire type " + std::to_string(wire));
  }
}

ProtoReader ProtoReader::Nested(const ProtoField& f) const {
  const size_t offset = static_cast<size_t>(f.bytes.data() - data_.data());
  return ProtoReader(f.bytes, base_ + offset, depth_ + 1);
}

}  // namespace swg::k8s
