#pragma once
// The head of an HTTP/1.x request, parsed from the bytes a connection received so far: a pure function that
// the server calls after each read and a fuzzer can call on anything.
//
// What it accepts: a request line `METHOD SP target SP HTTP/1.x`, header lines, an empty line. Lines end with
// CRLF or a bare LF (RFC 9112 2.2 allows the latter; a bare CR anywhere is an error). Empty lines before the
// request line are skipped, 4 bytes of them at most (RFC 9112 2.2: a client may send one after a body).
// Header names are case-insensitive; Content-Length, Transfer-Encoding, Connection, Host and Expect are the
// ones read.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace swg::supervisor {

inline constexpr size_t kMaxRequestHead = 8 * 1024;     // with the empty lines skipped before it
inline constexpr uint64_t kMaxRequestBody = 64 * 1024;  // a body is read and discarded; a larger one gets 413

struct HttpRequestHead {
  std::string method;  // as sent (methods are case-sensitive)
  // The target up to '?' or '#', the scheme and authority of an absolute-form target dropped ("/" if nothing
  // is left). Escapes of unreserved characters (%41 -> 'A') are decoded, as RFC 3986 6.2.2.2 makes them
  // equal; every other escape stays as sent, so a path never gains a '/', a NUL or a space by decoding. "*"
  // stays "*".
  std::string path;
  int minor_version = 1;  // HTTP/1.0 or 1.1 (a later HTTP/1.x is read as 1.1, RFC 9110 6.2)
  // HTTP/1.1 keeps the connection unless `Connection: close`; 1.0 closes it unless `Connection: keep-alive`.
  // A body announced with `Expect: 100-continue` closes it too: the answer comes without asking for the body,
  // which the client may then never send.
  bool keep_alive = true;
  uint64_t content_length = 0;  // body bytes after the head, to skip
};

struct HttpParse {
  enum class Outcome { kNeedMore, kError, kRequest };
  Outcome outcome = Outcome::kNeedMore;
  // kError: the status to answer before closing: 400 malformed, 413 body over kMaxRequestBody, 431 head over
  // kMaxRequestHead, 501 Transfer-Encoding (request bodies are only read by Content-Length), 505 not
  // HTTP/1.x.
  int status = 0;
  size_t head_size = 0;     // kRequest: bytes the head took, with the empty lines skipped before it
  size_t searched = 0;      // kNeedMore: pass back with the next call, so each byte is searched about once
  HttpRequestHead request;  // kRequest
};

// `data`: the bytes received so far, starting at a request. `searched`: the value of the last kNeedMore
// result on a prefix of the same bytes, or 0. The outcome does not depend on how the bytes were split across
// calls.
HttpParse ParseRequestHead(std::string_view data, size_t searched = 0);

}  // namespace swg::supervisor
