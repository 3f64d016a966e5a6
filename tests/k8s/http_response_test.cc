// The HTTP/1.1 response reader that watches use (k8s/http_response.h): every framing, split at every offset,
// and each way a response can be malformed.
#include "k8s/http_response.h"

#include <doctest/doctest.h>

#include <string>

using swg::k8s::HttpResponseReader;

namespace {

struct Read {
  int status = 0;
  std::string body;
  bool done = false;
  size_t used = 0;  // bytes of the input that belonged to the response
  std::string error;
  HttpResponseReader reader;
};

// Feeds `text` in pieces of `piece` bytes (0: all at once), as a connection would deliver it, then the end of
// the connection when `end`.
void ReadIn(Read& r, const std::string& text, size_t piece, bool end) {
  size_t at = 0;
  while (at < text.size() && !r.reader.done()) {
    std::string_view data = std::string_view(text).substr(at, piece ? piece : std::string::npos);
    while (!data.empty() && !r.reader.done()) {
      swg::Result<size_t> used = r.reader.Feed(data, [&](std::string_view b) { r.body.append(b); });
      if (!used.ok()) {
        r.error = used.error().message;
        return;
      }
      REQUIRE(*used <= data.size());
      data.remove_prefix(*used);
      at += *used;
      if (*used == 0) break;
    }
  }
  r.used = at;
  if (end && !r.reader.done()) {
    swg::Status s = r.reader.End();
    if (!s.ok()) r.error = s.error().message;
  }
  r.status = r.reader.status();
  r.done = r.reader.done();
}

const std::string kChunked =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    "Date: Sat, 05 Dec 2026 07:00:00 GMT\r\n\r\n"
    "5\r\nhello\r\n"
    "19;ext=1\r\n, chunked world, 25 bytes\r\n"
    "0\r\nX-Trailer: yes\r\n\r\n";
const std::string kChunkedBody = "hello, chunked world, 25 bytes";

}  // namespace

TEST_CASE("a chunked response reads the same at every split, and stops at its end") {
  for (size_t piece = 0; piece <= kChunked.size(); ++piece) {
    Read r;
    ReadIn(r, kChunked + "HTTP/1.1 200 OK\r\n", piece, false);
    INFO("piece " << piece << ": " << r.error);
    REQUIRE(r.error.empty());
    CHECK(r.status == 200);
    CHECK(r.body == kChunkedBody);
    CHECK(r.done);
    CHECK(r.used == kChunked.size());  // what follows is not this response's
    CHECK(r.reader.body_bytes() == kChunkedBody.size());
  }
  Read r;
  ReadIn(r, kChunked, 0, false);
  REQUIRE(r.reader.headers().size() == 3);
  CHECK(r.reader.headers()[0].first == "content-type");
  CHECK(r.reader.headers()[0].second == "application/json");
  CHECK(r.reader.headers()[2].second == "Sat, 05 Dec 2026 07:00:00 GMT");
}

TEST_CASE("the reader stops after the head, so the head is known before any body byte") {
  HttpResponseReader reader;
  std::string body;
  auto used = reader.Feed(kChunked, [&](std::string_view b) { body.append(b); });
  REQUIRE(used.ok());
  CHECK(*used == kChunked.find("\r\n\r\n") + 4);
  CHECK(reader.head_done());
  CHECK(body.empty());
}

TEST_CASE("Content-Length, no length (to the connection's end), no body, and interim responses") {
  const std::string length = "HTTP/1.1 404 Not Found\r\ncontent-length: 9\r\n\r\nnot foundEXTRA";
  for (size_t piece = 0; piece <= length.size(); ++piece) {
    Read r;
    ReadIn(r, length, piece, false);
    INFO("piece " << piece);
    CHECK(r.status == 404);
    CHECK(r.body == "not found");
    CHECK(r.done);
    CHECK(r.used == length.size() - 5);
  }
  const std::string to_end = "HTTP/1.0 200 OK\r\n\r\n{\"type\":\"ADDED\"}";
  for (size_t piece = 0; piece <= to_end.size(); ++piece) {
    Read r;
    ReadIn(r, to_end, piece, true);
    CHECK(r.error.empty());
    CHECK(r.body == "{\"type\":\"ADDED\"}");
    CHECK(r.done);
  }
  for (std::string head :
       {"HTTP/1.1 204 No Content\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}) {
    Read r;
    ReadIn(r, head + "next", 0, false);
    CHECK(r.done);
    CHECK(r.used == head.size());
    CHECK(r.body.empty());
  }
  const std::string interim =
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  for (size_t piece = 0; piece <= interim.size(); ++piece) {
    Read r;
    ReadIn(r, interim, piece, false);
    CHECK(r.status == 200);
    CHECK(r.body == "ok");
    CHECK(r.done);
    REQUIRE(r.reader.headers().size() == 1);
    CHECK(r.reader.headers()[0].first == "content-length");
  }
  // Transfer-Encoding wins over Content-Length; a coding other than chunked last runs to the end.
  Read both;
  ReadIn(both,
         "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
         0, false);
  CHECK(both.body == "ab");
  CHECK(both.done);
  Read gzip;
  ReadIn(gzip, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nraw", 0, true);
  CHECK(gzip.body == "raw");
  CHECK(gzip.done);
}

TEST_CASE("a malformed or cut response is an error that says what is wrong") {
  struct Case {
    std::string text;
    bool end;
    std::string error;
  };
  const Case cases[] = {
      {"HTTP/2 200\r\n\r\n", false, "not an HTTP/1.x status line: \"HTTP/2 200\""},
      {"HTTP/1.1 2000 OK\r\n\r\n", false, "not an HTTP/1.x status line"},
      {"SSH-2.0-OpenSSH_9.2\r\n\r\n", false, "not an HTTP/1.x status line: \"SSH-2.0-OpenSSH_9.2\""},
      {"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", false, "malformed header line \"no colon here\""},
      {"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", false, "malformed header line"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", false,
       "two different Content-Length"},
      {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, "invalid Content-Length \"-1\""},
      {"HTTP/1.1 101 Switching Protocols\r\n\r\n", false, "switched protocols (101)"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", false,
       "invalid chunk size line \"zz\""},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", false,
       "invalid chunk size"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", false,
       "a chunk is longer than its size says: \"c\""},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n", false, "does not end with CRLF"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(5000, '1'), false,
       "longer than 4096 bytes"},
      {"HTTP/1.1 200 OK\r\nX: " + std::string(70000, 'x'), false,
       "the status line and headers exceed 64 KiB"},
      {"", true, "the connection closed before a response arrived"},
      {"HTTP/1.1 200 OK\r\nContent-", true, "the connection closed in the middle of the response's headers"},
      {"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true,
       "before the response ended (3 body bytes read)"},
      {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", true,
       "before the response ended (2 body bytes read)"},
  };
  for (const Case& c : cases) {
    for (size_t piece : {size_t{0}, size_t{1}, size_t{7}}) {
      Read r;
      ReadIn(r, c.text, piece, c.end);
      INFO(c.text.substr(0, 80) << " in pieces of " << piece);
      CHECK(r.error.find(c.error) != std::string::npos);
      CHECK(r.error.rfind("HTTP response: ", 0) == 0);
      CHECK_FALSE(r.done);
      // Failed for good.
      auto again = r.reader.Feed("HTTP/1.1 200 OK\r\n\r\n", [](std::string_view) {});
      CHECK_FALSE(again.ok());
    }
  }
}
