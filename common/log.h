#pragma once
// Structured logging. One record = time, level, message and key=value fields. Sinks: text and JSON lines on
// a file descriptor (here), the systemd journal (systemd/journal.h). Thread-safe; each record is written with
// one write(2), so lines from several processes sharing stderr do not interleave.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace swg::log {

enum class Level { kTrace = 0, kDebug, kInfo, kWarn, kError };
enum class Format { kAuto, kText, kJson, kJournal };

std::optional<Level> ParseLevel(std::string_view name);
std::string_view LevelName(Level level);
std::optional<Format> ParseFormat(std::string_view name);
std::string_view FormatName(Format format);

// Keys are lower-case words ("remote", "node", "peer", "error"); the journal sink turns them into SWG_REMOTE...
struct Field {
  std::string key;
  std::string value;
};
using Fields = std::vector<Field>;

struct Record {
  std::chrono::system_clock::time_point time;
  Level level;
  std::string_view message;
  const Fields& fields;
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void Write(const Record& record) = 0;
};

std::string FormatText(const Record& record);  // "2026-01-02T03:04:05.678Z info  message key=value ..."
// {"time":..,"level":..,"msg":..,"key":"value",...}; a value that is a canonical decimal integer (at most 2^53-1
// in magnitude) is written as a JSON number, "true" and "false" as booleans.
std::string FormatJson(const Record& record);
std::unique_ptr<Sink> MakeTextSink(int fd);
std::unique_ptr<Sink> MakeJsonSink(int fd);

void SetLevel(Level level);
bool Enabled(Level level);
void SetSink(std::unique_ptr<Sink> sink);  // default: text on stderr
void SetBaseFields(Fields fields);          // added to every record, e.g. remote=c2 in a worker

void Write(Level level, std::string_view message, const Fields& fields = {});
inline void Trace(std::string_view m, const Fields& f = {}) { Write(Level::kTrace, m, f); }
inline void Debug(std::string_view m, const Fields& f = {}) { Write(Level::kDebug, m, f); }
inline void Info(std::string_view m, const Fields& f = {}) { Write(Level::kInfo, m, f); }
inline void Warn(std::string_view m, const Fields& f = {}) { Write(Level::kWarn, m, f); }
inline void Error(std::string_view m, const Fields& f = {}) { Write(Level::kError, m, f); }

}  // namespace swg::log
