#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cerrno>
#include <ctime>
#include <mutex>

#include "common/strings.h"

namespace swg::log {
namespace {

constexpr std::string_view kLevelNames[] = {"trace", "debug", "info", "warn", "error"};

void WriteAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failing log stream
    }
    off += static_cast<size_t>(n);
  }
}

std::string Timestamp(std::chrono::system_clock::time_point t) {
  auto since = t.time_since_epoch();
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs).count();
  time_t tt = static_cast<time_t>(secs.count());
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(millis));
  return buf;
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= ' ' || c == '"' || c == '=' || c == '\\' || u == 0x7f) return true;
  }
  return false;
}

// Whether a field value is written as a bare JSON literal (a number or a boolean) rather than a string. The
// log API has only string values, so the type is read from the text, and only where the conversion is lossless:
// a canonical decimal integer ("15112", "-1"; not "007", "+1", "-0", "1.5") no larger than 2^53-1 in magnitude,
// so that every JSON reader (also those that read numbers as doubles) gets the same digits back; and exactly
// "true" or "false".
bool IsJsonLiteral(std::string_view v) {
  if (v == "true" || v == "false") return true;
  std::string_view digits = v.substr(!v.empty() && v[0] == '-' ? 1 : 0);
  if (digits.empty() || digits.size() > 16) return false;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
  }
  if (digits[0] == '0' && (digits.size() > 1 || digits.size() != v.size())) return false;  // "07", "-0"
  constexpr uint64_t kMaxExact = (uint64_t{1} << 53) - 1;
  return ParseUint(digits).value_or(UINT64_MAX) <= kMaxExact;
}

class FdSink : public Sink {
 public:
  FdSink(int fd, bool json) : fd_(fd), json_(json) {}
  void Write(const Record& r) override { WriteAll(fd_, (json_ ? FormatJson(r) : FormatText(r)) + "\n"); }

 private:
  int fd_;
  bool json_;
};

struct State {
  std::mutex mu;
  std::unique_ptr<Sink> sink = std::make_unique<FdSink>(2, false);
  Fields base;
};

State& GetState() {
  static State* s = new State();  // never destroyed: logging must work during static destruction
  return *s;
}

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

}  // namespace

std::optional<Level> ParseLevel(std::string_view name) {
  for (size_t i = 0; i < std::size(kLevelNames); ++i) {
    if (name == kLevelNames[i]) return static_cast<Level>(i);
  }
  if (name == "warning") return Level::kWarn;
  return std::nullopt;
}

std::string_view LevelName(Level level) { return kLevelNames[static_cast<int>(level)]; }

std::optional<Format> ParseFormat(std::string_view name) {
  if (name == "auto") return Format::kAuto;
  if (name == "text") return Format::kText;
  if (name == "json") return Format::kJson;
  if (name == "journal") return Format::kJournal;
  return std::nullopt;
}

std::string_view FormatName(Format format) {
  switch (format) {
    case Format::kAuto: return "auto";
    case Format::kText: return "text";
    case Format::kJson: return "json";
    case Format::kJournal: return "journal";
  }
  return "auto";
}

std::string FormatText(const Record& r) {
  std::string out = Timestamp(r.time);
  out += ' ';
  std::string_view lvl = LevelName(r.level);
  out += lvl;
  out.append(6 - lvl.size(), ' ');
  for (char c : r.message) out += (c == '\n' || c == '\r') ? ' ' : c;
  for (const auto& f : r.fields) {
    out += ' ';
    out += f.key;
    out += '=';
    out += NeedsQuotes(f.value) ? Quote(f.value) : f.value;
  }
  return out;
}

std::string FormatJson(const Record& r) {
  std::string out = "{\"time\":" + Quote(Timestamp(r.time));
  out += ",\"level\":" + Quote(LevelName(r.level));
  out += ",\"msg\":" + Quote(r.message);
  for (const auto& f : r.fields) {
    if (f.key == "time" || f.key == "level" || f.key == "msg") continue;
    out += "," + Quote(f.key) + ":" + (IsJsonLiteral(f.value) ? f.value : Quote(f.value));
  }
  out += "}";
  return out;
}

std::unique_ptr<Sink> MakeTextSink(int fd) { return std::make_unique<FdSink>(fd, false); }
std::unique_ptr<Sink> MakeJsonSink(int fd) { return std::make_unique<FdSink>(fd, true); }

void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }
bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void SetSink(std::unique_ptr<Sink> sink) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  s.sink = std::move(sink);
}

void SetBaseFields(Fields fields) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  s.base = std::move(fields);
}

void Write(Level level, std::string_view message, const Fields& fields) {
  if (!Enabled(level)) return;
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.sink) return;
  if (s.base.empty()) {
    s.sink->Write(Record{std::chrono::system_clock::now(), level, message, fields});
    return;
  }
  Fields all = s.base;
  all.insert(all.end(), fields.begin(), fields.end());
  s.sink->Write(Record{std::chrono::system_clock::now(), level, message, all});
}

}  // namespace swg::log
