// The HTTP request head parser: what the server answers to well-formed, partial, pipelined and malformed
// requests, however the bytes are split across reads.
#include "supervisor/http_request.h"

#include <doctest/doctest.h>

#include <string>

using swg::supervisor::HttpParse;
using swg::supervisor::kMaxRequestHead;
using swg::supervisor::ParseRequestHead;
using Outcome = HttpParse::Outcome;
using namespace std::string_literals;

namespace {

// Feeds `text` as the server receives it: the first `split` bytes, then all of it (with the hint from the
// first).
HttpParse ParseSplit(std::string_view text, size_t split) {
  HttpParse first = ParseRequestHead(text.substr(0, split));
  if (first.outcome != Outcome::kNeedMore) return first;
  return ParseRequestHead(text, first.searched);
}

// One byte at a time.
HttpParse ParseBytes(std::string_view text) {
  HttpParse p;
  for (size_t n = 1; n <= text.size(); ++n) {
    p = ParseRequestHead(text.substr(0, n), p.searched);
    if (p.outcome != Outcome::kNeedMore) return p;
  }
  return p;
}

// The outcome of a complete head, checked to be the same at every split.
HttpParse Parse(std::string_view text) {
  HttpParse whole = ParseRequestHead(text);
  for (size_t split = 0; split <= text.size(); ++split) {
    HttpParse p = ParseSplit(text, split);
    INFO("split at " << split);
    CHECK(p.outcome == whole.outcome);
    CHECK(p.status == whole.status);
    CHECK(p.head_size == whole.head_size);
    CHECK(p.request.path == whole.request.path);
  }
  HttpParse bytes = ParseBytes(text);
  CHECK(bytes.outcome == whole.outcome);
  CHECK(bytes.status == whole.status);
  return whole;
}

int ErrorOf(std::string_view text) {
  HttpParse p = Parse(text);
  return p.outcome == Outcome::kError ? p.status : 0;
}

}  // namespace

TEST_CASE("a complete GET head is parsed, and is the same split at every offset") {
  std::string text = "GET /metrics HTTP/1.1\r\nHost: n1:7773\r\nUser-Agent: curl\r\nAccept: */*\r\n\r\n";
  HttpParse p = Parse(text);
  REQUIRE(p.outcome == Outcome::kRequest);
  CHECK(p.request.method == "GET");
  CHECK(p.request.path == "/metrics");
  CHECK(p.request.minor_version == 1);
  CHECK(p.request.keep_alive);
  CHECK(p.request.content_length == 0);
  CHECK(p.head_size == text.size());
}

TEST_CASE("a partial head needs more bytes") {
  for (std::string_view text :
       {"", "G", "GET / HTTP/1.1", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: a\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\r", "\r\n", "\r"}) {
    INFO(text);
    CHECK(ParseRequestHead(text).outcome == Outcome::kNeedMore);
  }
}

TEST_CASE("keep-alive: HTTP/1.1 unless Connection: close, HTTP/1.0 only with Connection: keep-alive") {
  auto keep = [](std::string_view text) {
    HttpParse p = Parse(text);
    REQUIRE(p.outcome == Outcome::kRequest);
    return p.request.keep_alive;
  };
  CHECK(keep("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK_FALSE(keep("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  CHECK_FALSE(keep("GET / HTTP/1.1\r\nHost: a\r\nconnection: Upgrade, CLOSE\r\n\r\n"));
  CHECK_FALSE(keep("GET / HTTP/1.0\r\n\r\n"));
  CHECK(keep("GET / HTTP/1.0\r\nCONNECTION: Keep-Alive\r\n\r\n"));
  CHECK_FALSE(keep("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"));
  CHECK(keep("GET / HTTP/1.2\r\nHost: a\r\n\r\n"));  // a later 1.x is read as 1.1
  // A body announced with 100-continue is answered without asking for it: the connection cannot be reused.
  CHECK_FALSE(keep("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  CHECK(keep("GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n"));
}

TEST_CASE("the path: the target up to '?', escapes of unreserved characters decoded, absolute form reduced") {
  auto path = [](const std::string& target) {
    HttpParse p = Parse("GET " + target + " HTTP/1.1\r\nHost: a\r\n\r\n");
    REQUIRE(p.outcome == Outcome::kRequest);
    return p.request.path;
  };
  CHECK(path("/metrics?name[]=x") == "/metrics");
  CHECK(path("/livez#frag") == "/livez");
  CHECK(path("/%6civez") == "/livez");
  CHECK(path("/a%2Fb%00%20c%zz%4") == "/a%2Fb%00%20c%zz%4");  // only unreserved characters are decoded
  CHECK(path("http://n1:7773/readyz?x") == "/readyz");
  CHECK(path("HTTPS://n1") == "/");
  CHECK(path("*") == "*");
  CHECK(ErrorOf("GET livez HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
  CHECK(ErrorOf("GET ftp://x/ HTTP/1.1\r\nHost: a\r\n\r\n") == 400);
}

TEST_CASE("LF line ends are accepted, a bare CR is not") {
  HttpParse p = Parse("GET /livez HTTP/1.1\nHost: a\n\n");
  REQUIRE(p.outcome == Outcome::kRequest);
  CHECK(p.request.path == "/livez");
  CHECK(Parse("GET / HTTP/1.1\r\nHost: a\n\r\n").outcome == Outcome::kRequest);
  CHECK(ErrorOf("GET / HTTP/1.1\rHost: a\r\n\r\n") == 400);
  CHECK(ErrorOf("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n") == 400);
  CHECK(ErrorOf("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n") == 400);
}

TEST_CASE("empty lines before a request are skipped, a few of them only") {
  HttpParse p = Parse("\r\n\r\nGET / HTTP/1.0\r\n\r\n");
  REQUIRE(p.outcome == Outcome::kRequest);
  CHECK(p.head_size == 4 + 18);
  CHECK(Parse("\nGET / HTTP/1.0\n\n").outcome == Outcome::kRequest);
  CHECK(ErrorOf("\r\n\r\n\r\nGET / HTTP/1.0\r\n\r\n") == 400);
  CHECK(ErrorOf(std::string(100, '\n')) == 400);
  CHECK(ErrorOf("\r\rGET / HTTP/1.0\r\n\r\n") == 400);
}

TEST_CASE("malformed request lines and headers get 400, other versions 505") {
  for (std::string_view text : {
           "GET\r\n\r\n",                                   // HTTP/0.9
           "GET /\r\n\r\n",                                 // HTTP/0.9
           "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",            // two spaces
           "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",            // trailing space
           "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",             // not a token
           "GET / HTTP/1.10\r\nHost: a\r\n\r\n",            // not DIGIT.DIGIT
           "GET / http/1.1\r\nHost: a\r\n\r\n",             // the name is case-sensitive
           "GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n",        // control character
           "GET / HTTP/1.1\r\nHost a\r\n\r\n",              // no colon
           "GET / HTTP/1.1\r\nHost : a\r\n\r\n",            // space before the colon
           "GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n",      // empty name
           "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",  // obsolete line folding
           "GET / HTTP/1.1\r\n\r\n",                        // 1.1 without Host
           "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  // two Hosts
           "GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n",  // DEL in a value
       }) {
    INFO(text);
    CHECK(ErrorOf(text) == 400);
  }
  CHECK(ErrorOf("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"s) == 400);  // NUL in a value
  CHECK(ErrorOf("GET / HTTP/2.0\r\nHost: a\r\n\r\n") == 505);
  CHECK(ErrorOf("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == 505);
  CHECK(ErrorOf("GET / HTTP/0.9\r\n\r\n") == 505);
  CHECK(Parse("GET / HTTP/1.1\r\nHost: a\r\nX-Utf8: caf\xc3\xa9\r\n\r\n").outcome == Outcome::kRequest);
}

TEST_CASE("Content-Length: read, checked, limited; Transfer-Encoding refused") {
  auto length = [](const std::string& headers) {
    HttpParse p = Parse("POST / HTTP/1.1\r\nHost: a\r\n" + headers + "\r\n");
    return p.outcome == Outcome::kRequest ? static_cast<int64_t>(p.request.content_length) : -p.status;
  };
  CHECK(length("Content-Length: 12\r\n") == 12);
  CHECK(length("content-length:0\r\n") == 0);
  CHECK(length("Content-Length: 7, 7\r\nContent-Length: 7\r\n") == 7);
  CHECK(length("Content-Length: 65536\r\n") == 65536);
  CHECK(length("Content-Length: 65537\r\n") == -413);
  CHECK(length("Content-Length: 99999999999999999999999999999\r\n") == -413);
  CHECK(length("Content-Length: 7\r\nContent-Length: 8\r\n") == -400);
  CHECK(length("Content-Length: 7, 8\r\n") == -400);
  CHECK(length("Content-Length: -1\r\n") == -400);
  CHECK(length("Content-Length: 0x10\r\n") == -400);
  CHECK(length("Content-Length: +5\r\n") == -400);
  CHECK(length("Content-Length: \r\n") == -400);
  CHECK(length("Transfer-Encoding: chunked\r\n") == -501);
  CHECK(length("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n") == -501);
}

TEST_CASE("a head over 8 KiB gets 431, complete or not") {
  std::string big = "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(kMaxRequestHead, 'x') + "\r\n\r\n";
  CHECK(ParseRequestHead(big).status == 431);
  CHECK(ParseRequestHead(big.substr(0, kMaxRequestHead + 1)).status == 431);
  CHECK(ParseRequestHead(big.substr(0, kMaxRequestHead)).outcome == Outcome::kNeedMore);
  CHECK(ParseBytes(big).status == 431);
  // Exactly at the limit is fine.
  std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
  std::string fits = head + std::string(kMaxRequestHead - head.size() - 4, 'x') + "\r\n\r\n";
  REQUIRE(fits.size() == kMaxRequestHead);
  CHECK(ParseRequestHead(fits).outcome == Outcome::kRequest);
  CHECK(ParseRequestHead(std::string(kMaxRequestHead + 1, 'G')).status == 431);
}

TEST_CASE("pipelined requests: the head size leaves the next one in the buffer") {
  std::string first = "GET /livez HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
  std::string second = "HEAD /readyz HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string buffer = first + "abc" + second + "GET /metr";
  HttpParse p = ParseRequestHead(buffer);
  REQUIRE(p.outcome == Outcome::kRequest);
  CHECK(p.head_size == first.size());
  CHECK(p.request.content_length == 3);
  buffer.erase(0, p.head_size + 3);
  p = ParseRequestHead(buffer);
  REQUIRE(p.outcome == Outcome::kRequest);
  CHECK(p.request.method == "HEAD");
  CHECK(p.request.path == "/readyz");
  buffer.erase(0, p.head_size);
  CHECK(ParseRequestHead(buffer).outcome == Outcome::kNeedMore);
}
