#pragma once
// An HTTP/1.1 response read as its bytes arrive, in pieces of any size: the status line and headers, then the
// body as the framing says (chunked, Content-Length, or up to the end of the connection), handed over as it
// is decoded. Pure: no I/O, so it is unit-tested at every split and fuzzed. Used for watches, which the
// client reads itself over the connection libcurl made (see k8s/http.cc).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace swg::k8s {

class HttpResponseReader {
 public:
  static constexpr size_t kMaxHead = 64u << 10;  // status line and headers together
  static constexpr size_t kMaxLine = 4096;       // a chunk-size line or a trailer line

  using BodyCallback = std::function<void(std::string_view)>;

  // Reads `data`; decoded body bytes go to on_body (it may be called several times). Returns how many bytes
  // of `data` it used: all of them, unless the head was completed (call again for the body, once the head is
  // looked at) or the response ended (bytes after it are not its own). An Error
  // names what is wrong and where; the reader then stays failed.
  Result<size_t> Feed(std::string_view data, const BodyCallback& on_body);
  // The connection ended: fine for a body that runs to the end of the connection (done() is then true),
  // an Error otherwise.
  Status End();

  bool head_done() const { return head_done_; }  // a final response's head (not an interim one's)
  bool done() const { return phase_ == Phase::kDone; }
  int status() const { return status_; }
  int minor_version() const { return minor_version_; }  // HTTP/1.x
  // Header fields in order, names lower-cased, values trimmed; only once head_done().
  const std::vector<std::pair<std::string, std::string>>& headers() const { return headers_; }
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  enum class Phase { kHead, kChunkSize, kChunkData, kChunkEnd, kTrailers, kLength, kToEnd, kDone, kFailed };
  Error Fail(std::string message);
  Status ParseHead();
  Result<bool> TakeLine(std::string_view data, size_t& used, std::string& line);

  Phase phase_ = Phase::kHead;
  std::string head_;  // the head so far, then a partial line of the chunked framing
  int status_ = 0;
  int minor_version_ = 1;
  bool head_done_ = false;
  std::vector<std::pair<std::string, std::string>> headers_;
  uint64_t left_ = 0;  // bytes left in the chunk or the Content-Length body
  uint64_t body_bytes_ = 0;
  uint64_t offset_ = 0;  // bytes read so far, for messages
};

}  // namespace swg::k8s
