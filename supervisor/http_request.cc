#include "supervisor/http_request.h"

#include <algorithm>

#include "common/strings.h"

namespace swg::supervisor {
namespace {

constexpr size_t kNone = std::string_view::npos;

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsNoCase(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (Lower(a[i]) != lower[i]) return false;
  return true;
}

std::string_view TrimBlanks(std::string_view s) {  // optional whitespace: SP and HTAB only
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls fn(element) for each element of a comma-separated header value, trimmed; empty ones are skipped.
template <typename Fn>
void ForEachElement(std::string_view value, Fn fn) {
  while (!value.empty()) {
    size_t comma = value.find(',');
    std::string_view element = TrimBlanks(value.substr(0, comma));
    if (!element.empty()) fn(element);
    value.remove_prefix(comma == kNone ? value.size() : comma + 1);
  }
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = Lower(c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool IsUnreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

// The path of a request target (see HttpRequestHead::path); false for a target that is none of origin form,
// absolute form or "*".
bool PathOf(std::string_view target, std::string* path) {
  if (target == "*") {
    *path = "*";
    return true;
  }
  if (target.front() != '/') {
    size_t scheme = EqualsNoCase(target.substr(0, 7), "http://")    ? 7
                    : EqualsNoCase(target.substr(0, 8), "https://") ? 8
                                                                    : 0;
    if (scheme == 0) return false;
    target.remove_prefix(scheme);
    size_t slash = target.find_first_of("/?#");
    target.remove_prefix(slash == kNone ? target.size() : slash);
  }
  target = target.substr(0, target.find_first_of("?#"));
  if (target.empty()) target = "/";
  path->clear();
  path->reserve(target.size());
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == '%' && i + 2 < target.size()) {
      int hi = HexDigit(target[i + 1]), lo = HexDigit(target[i + 2]);
      char decoded = static_cast<char>(hi * 16 + lo);
      if (hi >= 0 && lo >= 0 && IsUnreserved(decoded)) {
        path->push_back(decoded);
        i += 2;
        continue;
      }
    }
    path->push_back(target[i]);
  }
  return true;
}

// "HTTP/" DIGIT "." DIGIT: the minor version (1.x with x > 1 read as 1.1), -400 if malformed, -505 if
// not 1.x.
int MinorVersion(std::string_view v) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || v[6] != '.' || v[5] < '0' || v[5] > '9' || v[7] < '0' ||
      v[7] > '9')
    return -400;
  if (v[5] != '1') return -505;
  return v[7] == '0' ? 0 : 1;
}

HttpParse Fail(int status) {
  HttpParse p;
  p.outcome = HttpParse::Outcome::kError;
  p.status = status;
  return p;
}

// The next line of `rest` without its line end; false at a bare CR or another control character in it.
bool NextLine(std::string_view* rest, std::string_view* line) {
  size_t lf = rest->find('\n');  // always found: the head ends with an empty line
  *line = rest->substr(0, lf);
  rest->remove_prefix(lf + 1);
  if (!line->empty() && line->back() == '\r') line->remove_suffix(1);
  for (char c : *line) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return false;
  }
  return true;
}

}  // namespace

HttpParse ParseRequestHead(std::string_view data, size_t searched) {
  // Empty lines before the request line (CRLF or LF), 4 bytes of them at most.
  size_t start = 0;
  for (;;) {
    if (start < data.size() && data[start] == '\n') {
      ++start;
    } else if (start + 1 < data.size() && data[start] == '\r' && data[start + 1] == '\n') {
      start += 2;
    } else if (start + 1 == data.size() && data[start] == '\r') {
      return HttpParse{};  // CR: its LF may follow
    } else {
      break;
    }
    if (start > 4) return Fail(400);
  }
  // The head ends at the first empty line: an LF followed by LF or CRLF. Bytes before `searched` were
  // searched already; the last two bytes are searched again, as the end of the empty line may not have
  // arrived yet.
  size_t end = kNone;
  for (size_t lf = data.find('\n', std::max(start, searched)); lf != kNone; lf = data.find('\n', lf + 1)) {
    size_t next = lf + 1;
    if (next < data.size() && data[next] == '\r') ++next;
    if (next < data.size() && data[next] == '\n') {
      end = next + 1;
      break;
    }
  }
  if (end == kNone) {
    if (data.size() > kMaxRequestHead) return Fail(431);
    HttpParse p;
    p.searched = std::max(start, data.size() < 2 ? 0 : data.size() - 2);
    return p;
  }
  if (end > kMaxRequestHead) return Fail(431);

  std::string_view rest = data.substr(start, end - start), line;
  HttpParse p;
  HttpRequestHead& r = p.request;
  // The request line: method SP target SP version, single spaces (RFC 9112 3).
  if (!NextLine(&rest, &line)) return Fail(400);
  size_t sp1 = line.find(' '), sp2 = sp1 == kNone ? kNone : line.find(' ', sp1 + 1);
  if (sp2 == kNone || line.find(' ', sp2 + 1) != kNone) return Fail(400);
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  int minor = MinorVersion(line.substr(sp2 + 1));
  if (minor < 0) return Fail(-minor);
  if (!IsHttpToken(method) || target.empty()) return Fail(400);
  for (char c : target)
    if (c <= ' ' || c == 0x7f) return Fail(400);  // (control characters are refused by NextLine already)
  if (!PathOf(target, &r.path)) return Fail(400);
  r.method.assign(method);
  r.minor_version = minor;

  int hosts = 0;
  bool close = false, keep_alive = false, expect_continue = false, have_length = false;
  for (;;) {
    if (!NextLine(&rest, &line)) return Fail(400);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t')
      return Fail(400);  // obsolete line folding (RFC 9112 5.2)
    size_t colon = line.find(':');
    // No whitespace between the name and the colon (RFC 9112 5.1): IsHttpToken refuses it.
    if (colon == kNone || !IsHttpToken(line.substr(0, colon))) return Fail(400);
    std::string_view name = line.substr(0, colon), value = TrimBlanks(line.substr(colon + 1));
    if (EqualsNoCase(name, "content-length")) {
      // One value, or a list of equal values (RFC 9112 6.3); a second header must agree as well.
      int status = 0;
      ForEachElement(value, [&](std::string_view element) {
        uint64_t n = 0;
        for (char c : element) {
          if (c < '0' || c > '9') {
            status = 400;
            return;
          }
          n = n > kMaxRequestBody ? n : n * 10 + static_cast<uint64_t>(c - '0');  // saturates above the limit
        }
        if (have_length && n != r.content_length) status = 400;
        have_length = true;
        r.content_length = n;
      });
      if (status == 0 && !have_length) status = 400;  // an empty value
      if (status != 0) return Fail(status);
      if (r.content_length > kMaxRequestBody) return Fail(413);
    } else if (EqualsNoCase(name, "transfer-encoding")) {
      return Fail(501);
    } else if (EqualsNoCase(name, "connection")) {
      ForEachElement(value, [&](std::string_view option) {
        close = close || EqualsNoCase(option, "close");
        keep_alive = keep_alive || EqualsNoCase(option, "keep-alive");
      });
    } else if (EqualsNoCase(name, "host")) {
      ++hosts;
    } else if (EqualsNoCase(name, "expect")) {
      expect_continue = EqualsNoCase(value, "100-continue");
    }
  }
  // HTTP/1.1 requires exactly one Host (RFC 9112 3.2); 1.0 may leave it out but not send two.
  if (hosts > 1 || (minor == 1 && hosts == 0)) return Fail(400);
  r.keep_alive = !close && (minor == 1 || keep_alive) && !(expect_continue && r.content_length > 0);
  p.outcome = HttpParse::Outcome::kRequest;
  p.head_size = end;
  return p;
}

}  // namespace swg::supervisor
