#include "systemd/journal.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>

#include <cstdio>
#include <cstdlib>

namespace swg::systemd {
namespace {

int Priority(log::Level level) {
  switch (level) {
    case log::Level::kTrace:
    case log::Level::kDebug: return 7;
    case log::Level::kInfo: return 6;
    case log::Level::kWarn: return 4;
    case log::Level::kError: return 3;
  }
  return 6;
}

// Journal field names: upper-case letters, digits and '_', not starting with '_' or a digit.
std::string FieldName(const std::string& key) {
  std::string out = "SWG_";
  for (char c : key) {
    if (c >= 'a' && c <= 'z') {
      out += static_cast<char>(c - 'a' + 'A');
    } else if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out += c;
    } else {
      out += '_';
    }
  }
  return out.substr(0, 64);
}

class JournalSink : public log::Sink {
 public:
  explicit JournalSink(std::string identifier) : identifier_(std::move(identifier)) {}
  void Write(const log::Record& record) override {
    std::vector<std::string> fields = JournalFields(record, identifier_);
    std::vector<iovec> iov;
    iov.reserve(fields.size());
    for (auto& f : fields) iov.push_back(iovec{f.data(), f.size()});
    sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
  }

 private:
  std::string identifier_;
};

}  // namespace

std::vector<std::string> JournalFields(const log::Record& record, const std::string& identifier) {
  std::vector<std::string> out;
  out.push_back("MESSAGE=" + std::string(record.message));
  out.push_back("PRIORITY=" + std::to_string(Priority(record.level)));
  out.push_back("SYSLOG_IDENTIFIER=" + identifier);
  for (const auto& f : record.fields) out.push_back(FieldName(f.key) + "=" + f.value);
  return out;
}

std::unique_ptr<log::Sink> MakeJournalSink(std::string identifier) {
  return std::make_unique<JournalSink>(std::move(identifier));
}

bool StderrIsJournal() {
  const char* e = getenv("JOURNAL_STREAM");
  if (!e) return false;
  unsigned long long dev = 0, ino = 0;
  if (sscanf(e, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st;
  if (fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev && static_cast<unsigned long long>(st.st_ino) == ino;
}

void ConfigureLogging(log::Level level, log::Format format, const std::string& identifier) {
  log::SetLevel(level);
  if (format == log::Format::kAuto) format = StderrIsJournal() ? log::Format::kJournal : log::Format::kText;
  switch (format) {
    case log::Format::kJournal: log::SetSink(MakeJournalSink(identifier)); break;
    case log::Format::kJson: log::SetSink(log::MakeJsonSink(2)); break;
    default: log::SetSink(log::MakeTextSink(2)); break;
  }
}

}  // namespace swg::systemd
