#include "common/log.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "systemd/journal.h"

using namespace swg::log;

namespace {

std::chrono::system_clock::time_point T() {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(1767323045678));  // 2026-01-02T03:04:05.678Z
}

// Captures what a sink writes to a pipe.
std::string Capture(Format format, Level level, const std::string& msg, const Fields& fields) {
  int p[2];
  REQUIRE(pipe(p) == 0);
  SetSink(format == Format::kJson ? MakeJsonSink(p[1]) : MakeTextSink(p[1]));
  Write(level, msg, fields);
  SetSink(MakeTextSink(2));
  close(p[1]);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(p[0]);
  return out;
}

}  // namespace

TEST_CASE("level and format names") {
  CHECK(ParseLevel("trace") == Level::kTrace);
  CHECK(ParseLevel("warn") == Level::kWarn);
  CHECK(ParseLevel("warning") == Level::kWarn);
  CHECK_FALSE(ParseLevel("INFO"));
  CHECK(ParseFormat("journal") == Format::kJournal);
  CHECK_FALSE(ParseFormat("xml"));
}

TEST_CASE("text format: time, level, message, key=value with quoting") {
  Fields f = {{"remote", "c2"}, {"node", "n 1"}, {"error", "a \"b\""}, {"empty", ""}};
  CHECK(FormatText(Record{T(), Level::kWarn, "peer rejected", f}) ==
        "2026-01-02T03:04:05.678Z warn  peer rejected remote=c2 node=\"n 1\" error=\"a \\\"b\\\"\" empty=\"\"");
  Fields none;
  CHECK(FormatText(Record{T(), Level::kInfo, "two\nlines", none}) == "2026-01-02T03:04:05.678Z info  two lines");
}

TEST_CASE("json format: one object per line") {
  Fields f = {{"remote", "c2"}, {"msg", "shadowed"}, {"peer", "k=\u00e9"}};
  CHECK(FormatJson(Record{T(), Level::kError, "sync \"failed\"", f}) ==
        "{\"time\":\"2026-01-02T03:04:05.678Z\",\"level\":\"error\",\"msg\":\"sync \\\"failed\\\"\","
        "\"remote\":\"c2\",\"peer\":\"k=\u00e9\"}");
}

TEST_CASE("json format: canonical decimal integers are numbers, true and false are booleans") {
  Fields f = {{"pid", "15112"},   {"code", "-1"},    {"zero", "0"},       {"ok", "true"},   {"synced", "false"},
              {"lead", "007"},    {"plus", "+1"},    {"neg0", "-0"},      {"big", "9007199254740993"},
              {"frac", "1.5"},    {"True", "True"},  {"node", "n1"},      {"empty", ""},    {"max", "9007199254740991"}};
  CHECK(FormatJson(Record{T(), Level::kInfo, "m", f}) ==
        "{\"time\":\"2026-01-02T03:04:05.678Z\",\"level\":\"info\",\"msg\":\"m\",\"pid\":15112,\"code\":-1,"
        "\"zero\":0,\"ok\":true,\"synced\":false,\"lead\":\"007\",\"plus\":\"+1\",\"neg0\":\"-0\","
        "\"big\":\"9007199254740993\",\"frac\":\"1.5\",\"True\":\"True\",\"node\":\"n1\",\"empty\":\"\","
        "\"max\":9007199254740991}");
  // The text format is unchanged.
  CHECK(FormatText(Record{T(), Level::kInfo, "m", f}).find(" pid=15112 code=-1 zero=0 ok=true ") != std::string::npos);
}

TEST_CASE("levels filter; base fields come first; one line per record") {
  SetLevel(Level::kInfo);
  CHECK(Capture(Format::kText, Level::kDebug, "hidden", {}).empty());
  SetBaseFields({{"remote", "c3"}});
  std::string out = Capture(Format::kJson, Level::kInfo, "hello", {{"node", "n1"}});
  SetBaseFields({});
  CHECK(out.find("\"msg\":\"hello\",\"remote\":\"c3\",\"node\":\"n1\"}\n") != std::string::npos);
  CHECK(out.find('\n') == out.size() - 1);
  SetLevel(Level::kTrace);
  CHECK(Capture(Format::kText, Level::kTrace, "shown", {}).find(" trace shown\n") != std::string::npos);
  SetLevel(Level::kInfo);
}

TEST_CASE("journal fields: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER, SWG_*") {
  Fields f = {{"remote", "c2"}, {"node", "n1"}, {"peer", "abc"}, {"http-code", "403"}};
  auto fields = swg::systemd::JournalFields(Record{T(), Level::kWarn, "denied", f}, "semaphore-wireguard");
  CHECK(fields == std::vector<std::string>{"MESSAGE=denied", "PRIORITY=4", "SYSLOG_IDENTIFIER=semaphore-wireguard",
                                           "SWG_REMOTE=c2", "SWG_NODE=n1", "SWG_PEER=abc", "SWG_HTTP_CODE=403"});
  Fields none;
  CHECK(swg::systemd::JournalFields(Record{T(), Level::kError, "x", none}, "id")[1] == "PRIORITY=3");
  CHECK(swg::systemd::JournalFields(Record{T(), Level::kDebug, "x", none}, "id")[1] == "PRIORITY=7");
  CHECK(swg::systemd::JournalFields(Record{T(), Level::kInfo, "x", none}, "id")[1] == "PRIORITY=6");
}

TEST_CASE("auto picks the journal only when stderr is the journal stream") {
  unsetenv("JOURNAL_STREAM");
  CHECK_FALSE(swg::systemd::StderrIsJournal());
  setenv("JOURNAL_STREAM", "1:1", 1);
  CHECK_FALSE(swg::systemd::StderrIsJournal());
  struct stat st;
  REQUIRE(fstat(2, &st) == 0);
  std::string v = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  setenv("JOURNAL_STREAM", v.c_str(), 1);
  CHECK(swg::systemd::StderrIsJournal());
  unsetenv("JOURNAL_STREAM");
}
