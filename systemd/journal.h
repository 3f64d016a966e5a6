#pragma once
// Logging to the systemd journal with structured fields: MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and one
// SWG_<KEY> field per log field, so `journalctl SWG_REMOTE=c2` selects one pairing.

#include <memory>
#include <string>
#include <vector>

#include "common/log.h"

namespace swg::systemd {

// The journal entry's fields ("KEY=value") for a record; exposed for tests.
std::vector<std::string> JournalFields(const log::Record& record, const std::string& identifier);

std::unique_ptr<log::Sink> MakeJournalSink(std::string identifier);

// True when stderr is the journal stream systemd set up for this service ($JOURNAL_STREAM matches fd 2).
bool StderrIsJournal();

// Installs the sink for `format` (auto: journal when StderrIsJournal(), else text) and the level.
void ConfigureLogging(log::Level level, log::Format format, const std::string& identifier);

}  // namespace swg::systemd
