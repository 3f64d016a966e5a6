// libFuzzer target: the HTTP/1.1 response reader that watches use (a remote apiserver, or anything in the
// way, sends it bytes) must never crash, and must give the same outcome however the bytes are split: all at
// once, or in pieces of a size taken from the first byte.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "k8s/http_response.h"

using swg::k8s::HttpResponseReader;

namespace {

struct Outcome {
  bool failed = false;
  bool done = false;
  int status = 0;
  size_t used = 0;
  std::string body;
};

Outcome ReadIn(std::string_view data, size_t piece) {
  Outcome o;
  HttpResponseReader reader;
  size_t at = 0;
  while (at < data.size() && !reader.done() && !o.failed) {
    std::string_view part = data.substr(at, piece);
    while (!part.empty() && !reader.done()) {
      swg::Result<size_t> used = reader.Feed(part, [&](std::string_view b) { o.body.append(b); });
      if (!used.ok()) {
        o.failed = true;
        break;
      }
      if (*used > part.size()) abort();
      part.remove_prefix(*used);
      at += *used;
      if (*used == 0) break;
    }
    if (!o.failed && !reader.done() && !part.empty()) abort();  // all of it taken unless done
  }
  if (!o.failed && !reader.done()) o.failed = !reader.End().ok();
  if (reader.body_bytes() != o.body.size()) abort();
  if (reader.head_done() && (reader.status() < 200 || reader.status() > 999)) abort();
  o.done = reader.done();
  o.status = reader.status();
  o.used = at;
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + bytes[0] % 64;
  std::string_view data(reinterpret_cast<const char*>(bytes) + 1, size - 1);
  Outcome whole = ReadIn(data, data.size() + 1);
  Outcome split = ReadIn(data, piece);
  if (whole.failed != split.failed || whole.done != split.done) abort();
  if (!whole.failed && (whole.status != split.status || whole.body != split.body || whole.used != split.used))
    abort();
  return 0;
}
