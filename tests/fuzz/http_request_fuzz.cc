// libFuzzer target: the HTTP request head parser (anyone who reaches the health port sends it bytes) must
// never crash, keep its limits, and give the same outcome however the bytes are split across reads: all at
// once, a prefix then the rest, or one byte at a time. Pipelined requests are parsed one after the other.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "supervisor/http_request.h"

using swg::supervisor::HttpParse;
using swg::supervisor::ParseRequestHead;

namespace {

bool Same(const HttpParse& a, const HttpParse& b) {
  if (a.outcome != b.outcome || a.status != b.status || a.head_size != b.head_size) return false;
  const auto &x = a.request, &y = b.request;
  return x.method == y.method && x.path == y.path && x.minor_version == y.minor_version &&
         x.keep_alive == y.keep_alive && x.content_length == y.content_length;
}

void CheckOne(std::string_view data, size_t split) {
  HttpParse whole = ParseRequestHead(data);
  if (whole.outcome == HttpParse::Outcome::kRequest) {
    const auto& r = whole.request;
    if (whole.head_size == 0 || whole.head_size > data.size() ||
        whole.head_size > swg::supervisor::kMaxRequestHead ||
        r.content_length > swg::supervisor::kMaxRequestBody ||
        (r.minor_version != 0 && r.minor_version != 1) || r.method.empty() || r.path.empty())
      abort();
  } else if (whole.outcome == HttpParse::Outcome::kError) {
    int s = whole.status;
    if (s != 400 && s != 413 && s != 431 && s != 501 && s != 505) abort();
  } else if (data.size() > swg::supervisor::kMaxRequestHead || whole.searched > data.size()) {
    abort();  // more than a head's worth of bytes always decides
  }
  // A prefix that decides decides the same; one that does not, continued with its hint, gives the same too.
  HttpParse first = ParseRequestHead(data.substr(0, split));
  HttpParse second =
      first.outcome == HttpParse::Outcome::kNeedMore ? ParseRequestHead(data, first.searched) : first;
  if (!Same(second, whole)) abort();
  HttpParse bytes;
  for (size_t n = 1; n <= data.size() && bytes.outcome == HttpParse::Outcome::kNeedMore; ++n)
    bytes = ParseRequestHead(data.substr(0, n), bytes.searched);
  if (!data.empty() && !Same(bytes, whole)) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  size_t split = size == 0 ? 0 : bytes[0] % (size + 1);
  // As the server does: after each request, its head and body are consumed and the next one is parsed.
  for (int i = 0; i < 16; ++i) {
    CheckOne(data, std::min(split, data.size()));
    HttpParse p = ParseRequestHead(data);
    if (p.outcome != HttpParse::Outcome::kRequest) break;
    data.remove_prefix(std::min<uint64_t>(data.size(), p.head_size + p.request.content_length));
  }
  return 0;
}
