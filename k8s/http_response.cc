#include "k8s/http_response.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/strings.h"

namespace swg::k8s {
Error HttpResponseReader::Fail(std::string message) {
  phase_ = Phase::kFailed;
  head_.clear();
  return Error{"HTTP response: " + std::move(message)};
}

// A line of the chunked framing, across pieces; true once whole (in `line`, without its CRLF).
Result<bool> HttpResponseReader::TakeLine(std::string_view data, size_t& used, std::string& line) {
  size_t nl = data.find('\n', used);
  size_t end = nl == std::string_view::npos ? data.size() : nl + 1;
  head_.append(data.substr(used, end - used));
  used = end;
  if (head_.size() > kMaxLine)
    return Fail("a line of the chunked body is longer than " + std::to_string(kMaxLine) + " bytes");
  if (nl == std::string_view::npos) return false;
  if (head_.size() < 2 || head_[head_.size() - 2] != '\r')
    return Fail("a line of the chunked body does not end with CRLF: " + Quote(head_.substr(0, 64)));
  line.assign(head_, 0, head_.size() - 2);
  head_.clear();
  return true;
}

Status HttpResponseReader::ParseHead() {
  std::string_view head(head_);
  head.remove_suffix(4);  // the blank line
  size_t eol = head.find("\r\n");
  std::string_view status_line = head.substr(0, eol);
  // HTTP/1.x SSS[ reason]
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." ||
      !std::isdigit(static_cast<unsigned char>(status_line[7])) || status_line[8] != ' ' ||
      !std::all_of(status_line.begin() + 9, status_line.begin() + 12,
                   [](unsigned char c) { return std::isdigit(c); }) ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    return Fail("not an HTTP/1.x status line: " + Quote(status_line.substr(0, 64)));
  }
  status_ = std::stoi(std::string(status_line.substr(9, 3)));
  minor_version_ = status_line[7] - '0';
  if (status_ < 100) return Fail("status " + std::to_string(status_) + " is not an HTTP status");
  headers_.clear();
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  while (!rest.empty()) {
    size_t e = rest.find("\r\n");
    std::string_view line = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view() : rest.substr(e + 2);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !IsHttpToken(line.substr(0, colon)))
      return Fail("malformed header line " + Quote(line.substr(0, 64)));
    headers_.emplace_back(ToLower(line.substr(0, colon)), std::string(Trim(line.substr(colon + 1))));
  }
  if (status_ < 200) {  // an interim response (100 Continue, 103 Early Hints): the real one follows
    if (status_ == 101) return Fail("the server switched protocols (101), which was not asked for");
    head_.clear();
    return Ok();
  }
  // Framing (RFC 9112 section 6.3): Transfer-Encoding, then Content-Length, else up to the connection's end.
  std::string transfer_encoding;
  std::string length;
  bool has_length = false;
  for (const auto& [name, value] : headers_) {
    if (name == "transfer-encoding") {
      transfer_encoding =
          transfer_encoding.empty() ? ToLower(value) : transfer_encoding + "," + ToLower(value);
    } else if (name == "content-length") {
      if (has_length && value != length) return Fail("two different Content-Length headers");
      has_length = true;
      length = value;
    }
  }
  head_.clear();
  head_done_ = true;
  if (status_ == 204 || status_ == 304) {
    phase_ = Phase::kDone;
  } else if (!transfer_encoding.empty()) {
    std::string_view te = Trim(transfer_encoding);
    size_t comma = te.rfind(',');
    phase_ = Trim(comma == std::string_view::npos ? te : te.substr(comma + 1)) == "chunked"
                 ? Phase::kChunkSize
                 : Phase::kToEnd;
  } else if (has_length) {
    std::optional<uint64_t> n = ParseUint(length, uint64_t{1} << 62);
    if (!n) return Fail("invalid Content-Length " + Quote(length.substr(0, 64)));
    left_ = *n;
    phase_ = left_ == 0 ? Phase::kDone : Phase::kLength;
  } else {
    phase_ = Phase::kToEnd;
  }
  return Ok();
}

Result<size_t> HttpResponseReader::Feed(std::string_view data, const BodyCallback& on_body) {
  if (phase_ == Phase::kFailed) return Error{"HTTP response: already failed"};
  size_t used = 0;
  auto body = [&](size_t n) {
    if (n == 0) return;
    body_bytes_ += n;
    on_body(data.substr(used, n));
    used += n;
  };
  std::string line;
  while (used < data.size() && phase_ != Phase::kDone) {
    switch (phase_) {
      case Phase::kHead: {
        const size_t before = head_.size();
        head_.append(
            data.substr(used, std::min(data.size() - used, kMaxHead + 4 - std::min(before, kMaxHead + 4))));
        size_t end = head_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
        if (end == std::string::npos) {
          if (head_.size() > kMaxHead)
            return Fail("the status line and headers exceed " + std::to_string(kMaxHead >> 10) + " KiB");
          used += head_.size() - before;
          break;
        }
        head_.resize(end + 4);
        used += head_.size() - before;
        if (Status parsed = ParseHead(); !parsed.ok()) return parsed.error();
        if (phase_ != Phase::kHead) {  // a final response's head: the caller looks at it before the body
          offset_ += used;
          return used;
        }
        break;
      }
      case Phase::kChunkSize: {
        Result<bool> got = TakeLine(data, used, line);
        if (!got.ok()) return got.error();
        if (!*got) break;
        std::string_view size = Trim(std::string_view(line).substr(0, line.find(';')));
        uint64_t n = 0;
        const char* end = size.data() + size.size();
        if (size.empty() || size.size() > 15 || std::from_chars(size.data(), end, n, 16).ptr != end)
          return Fail("invalid chunk size line " + Quote(line.substr(0, 64)));
        left_ = n;
        phase_ = n == 0 ? Phase::kTrailers : Phase::kChunkData;
        break;
      }
      case Phase::kChunkData:
      case Phase::kLength: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(left_, data.size() - used));
        body(n);
        left_ -= n;
        if (left_ == 0) phase_ = phase_ == Phase::kLength ? Phase::kDone : Phase::kChunkEnd;
        break;
      }
      case Phase::kChunkEnd: {
        Result<bool> got = TakeLine(data, used, line);
        if (!got.ok()) return got.error();
        if (!*got) break;
        if (!line.empty()) return Fail("a chunk is longer than its size says: " + Quote(line.substr(0, 64)));
        phase_ = Phase::kChunkSize;
        break;
      }
      case Phase::kTrailers: {
        Result<bool> got = TakeLine(data, used, line);
        if (!got.ok()) return got.error();
        if (*got && line.empty()) phase_ = Phase::kDone;  // trailer fields themselves are not used
        break;
      }
      case Phase::kToEnd:
        body(data.size() - used);
        break;
      case Phase::kDone:
      case Phase::kFailed:
        break;
    }
  }
  offset_ += used;
  return used;
}

Status HttpResponseReader::End() {
  switch (phase_) {
    case Phase::kDone:
      return Ok();
    case Phase::kToEnd:
      phase_ = Phase::kDone;
      return Ok();
    case Phase::kFailed:
      return Error{"HTTP response: already failed"};
    case Phase::kHead:
      return Fail(offset_ == 0 ? "the connection closed before a response arrived"
                               : "the connection closed in the middle of the response's headers");
    default:
      return Fail("the connection closed before the response ended (" + std::to_string(body_bytes_) +
                  " body bytes read)");
  }
}

}  // namespace swg::k8s
