#include "k8s/record_writer.h"

#include <algorithm>
#include <optional>

#include "common/log.h"
#include "common/loop.h"
#include "k8s/client.h"
#include "k8s/client_impl.h"
#include "k8s/json_load.h"
#include "k8s/peer_record.h"

namespace swg::k8s {
namespace {

using std::chrono::milliseconds;
constexpr const char* kJson = "application/json";

// What stored_ keeps of a record: its name is the map's key, not kept twice (5,000 records: 0.3 MB).
StoredRecord Keep(StoredRecord record) {
  std::string().swap(record.name);
  return record;
}

Result<StoredRecord> ReadAnswer(const std::string& body) {
  Result<JsonPtr> json = LoadJson(body, 0);
  if (!json.ok()) return json.error();
  return ReadStoredRecord(json->get());
}

}  // namespace

struct RecordWriter::Op {
  bool remove = false;
  std::string name;
  JsonPtr object;                  // a write: the object wanted (no resourceVersion)
  std::optional<uint64_t> digest;  // a record's ContentDigest, to compare after a re-read (not the marker)
  int attempts = 0;
  std::unique_ptr<RequestCall> call;
  std::unique_ptr<Timer> timer;
};

RecordWriter::RecordWriter(Client& client, RecordWriterOptions options)
    : client_(client),
      options_(std::move(options)),
      list_timer_(std::make_unique<Timer>(client.loop())),
      done_timer_(std::make_unique<Timer>(client.loop())) {
  options_.max_in_flight = std::max<size_t>(options_.max_in_flight, 1);
  options_.max_attempts = std::max(options_.max_attempts, 1);
}

RecordWriter::~RecordWriter() { *alive_ = false; }

std::string RecordWriter::RecordPath(const std::string& name) const {
  return PeerRecordsPath(options_.namespace_name) + "/" + UrlEscape(name);
}

milliseconds RecordWriter::Backoff(int attempt) const {
  milliseconds d = options_.backoff_initial;
  for (int i = 1; i < attempt && d < options_.backoff_cap; ++i) d *= 2;
  return std::min(d, options_.backoff_cap);
}

void RecordWriter::Request(std::unique_ptr<RequestCall>& slot, std::string method, std::string path,
                           std::string body, std::function<void(Result<std::string>)> done) {
  ++counters_.requests;
  counters_.bytes_sent += body.size();
  std::string content_type = body.empty() ? "" : kJson;
  slot = client_.RequestJson(std::move(method), std::move(path), std::move(body), std::move(content_type),
                             [this, done = std::move(done)](Result<std::string> r) {
                               if (r.ok()) counters_.bytes_received += r->size();
                               done(std::move(r));
                             });
}

void RecordWriter::Enqueue(std::function<void()> begin, Done done) {
  queue_.push_back(Step{std::move(begin), std::move(done)});
  if (!running_) Next();
}

void RecordWriter::Next() {
  if (running_ || queue_.empty()) return;
  Step step = std::move(queue_.front());
  queue_.pop_front();
  running_ = true;
  done_ = std::move(step.done);
  ops_.clear();
  next_op_ = in_flight_ = failed_ = 0;
  first_error_.clear();
  step.begin();
}

void RecordWriter::Finish(Status status) {
  // From the loop, never inside the call that started the step.
  done_timer_->Start(milliseconds(0), [this, status = std::move(status)] {
    running_ = false;
    ops_.clear();
    Done done = std::move(done_);
    done_ = nullptr;
    std::shared_ptr<bool> alive = alive_;
    if (done) done(status);
    if (*alive) Next();
  });
}

void RecordWriter::Start(Done done) {
  Enqueue([this] { ListPage("", 1); }, std::move(done));
}

void RecordWriter::ListPage(std::string continue_token, int attempt) {
  if (continue_token.empty()) listing_.clear();
  std::string path = PeerRecordsPath(options_.namespace_name) +
                     "?labelSelector=" + UrlEscape(std::string(kRecordRemoteLabel) + "=" + options_.remote) +
                     "&limit=" + std::to_string(options_.page_size);
  if (!continue_token.empty()) path += "&continue=" + UrlEscape(continue_token);
  Request(list_call_, "GET", std::move(path), "", [this, attempt](Result<std::string> r) {
    auto fail = [this, attempt](const Error& e) {
      ++counters_.errors;
      if (attempt >= options_.max_attempts) return Finish(Error{"listing the records: " + e.message, e.code});
      list_timer_->Start(Backoff(attempt), [this, attempt] { ListPage("", attempt + 1); });  // from the start
    };
    if (!r.ok()) return fail(r.error());
    Result<JsonPtr> json = LoadJson(*r, 0);
    if (!json.ok()) return fail(json.error());
    const json_t* items = json_object_get(json->get(), "items");
    size_t i;
    const json_t* item;
    json_array_foreach(items, i, item) {
      Result<StoredRecord> record = ReadStoredRecord(item);
      if (!record.ok()) return fail(record.error());
      std::string name = std::move(record->name);  // kept once, as the key
      listing_[std::move(name)] = std::move(record).value();
    }
    std::string next(JsonString(json_object_get(json->get(), "metadata"), "continue").value_or(""));
    if (!next.empty()) return ListPage(std::move(next), attempt);
    stored_ = std::move(listing_);
    listing_.clear();
    Finish(Ok());
  });
}

void RecordWriter::Apply(std::map<std::string, RecordContent> desired, bool complete_list, Done done) {
  for (auto& [name, content] : desired) content.node_name = name;
  Enqueue(
      [this, desired = std::move(desired), complete_list] {
        RecordPlan plan = PlanRecords(options_.remote, desired, stored_, complete_list);
        counters_.unchanged += plan.unchanged;
        std::vector<std::unique_ptr<Op>> ops;
        auto write = [&](const std::string& name) {
          const RecordContent& c = desired.at(name.substr(options_.remote.size() + 1));
          auto op = std::make_unique<Op>();
          op->name = name;
          op->object = RecordObject(options_.namespace_name, options_.remote, c);
          op->digest = ContentDigest(c);
          ops.push_back(std::move(op));
        };
        for (const std::string& name : plan.create) write(name);
        for (const std::string& name : plan.update) write(name);
        for (const std::string& name : plan.remove) {
          auto op = std::make_unique<Op>();
          op->remove = true;
          op->name = name;
          ops.push_back(std::move(op));
        }
        Launch(std::move(ops));
      },
      std::move(done));
}

void RecordWriter::WriteMarker(bool complete, std::string leader, int64_t nodes, Done done) {
  Enqueue(
      [this, complete, leader = std::move(leader), nodes] {
        const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        auto op = std::make_unique<Op>();
        op->name = options_.remote;
        op->object = MarkerObject(options_.namespace_name, options_.remote,
                                  SyncState{complete, FormatTimestamp(now), leader, nodes});
        std::vector<std::unique_ptr<Op>> ops;
        ops.push_back(std::move(op));
        Launch(std::move(ops));
      },
      std::move(done));
}

void RecordWriter::DeleteAll(Done done) {
  // The marker last, and only when every record is gone: agents prune nothing while some are left.
  auto failed = std::make_shared<std::optional<Error>>();
  auto keep = [failed](Status s) {
    if (!s.ok() && !*failed) *failed = s.error();
  };
  Enqueue([this] { ListPage("", 1); }, keep);
  Enqueue(
      [this, failed] {
        if (*failed) return Finish(**failed);
        std::vector<std::unique_ptr<Op>> ops;
        for (const auto& [name, record] : stored_) {
          if (name == options_.remote) continue;
          auto op = std::make_unique<Op>();
          op->remove = true;
          op->name = name;
          ops.push_back(std::move(op));
        }
        Launch(std::move(ops));
      },
      keep);
  Enqueue(
      [this, failed] {
        if (*failed) return Finish(**failed);
        std::vector<std::unique_ptr<Op>> ops;
        auto op = std::make_unique<Op>();
        op->remove = true;
        op->name = options_.remote;
        ops.push_back(std::move(op));
        Launch(std::move(ops));
      },
      std::move(done));
}

void RecordWriter::Launch(std::vector<std::unique_ptr<Op>> ops) {
  ops_ = std::move(ops);
  if (ops_.empty()) return Finish(Ok());
  Pump();
}

void RecordWriter::Pump() {
  while (in_flight_ < options_.max_in_flight && next_op_ < ops_.size()) {
    ++in_flight_;
    Send(*ops_[next_op_++]);
  }
}

void RecordWriter::Send(Op& op) {
  ++op.attempts;
  if (op.remove) {
    return Request(op.call, "DELETE", RecordPath(op.name), "", [this, &op](Result<std::string> r) {
      if (!r.ok() && r.error().code != 404) return Retry(op, r.error());
      if (r.ok()) ++counters_.deletes;
      stored_.erase(op.name);
      OpDone(op, true);
    });
  }
  auto it = stored_.find(op.name);
  if (it == stored_.end() || it->second.resource_version.empty()) {
    return Request(op.call, "POST", PeerRecordsPath(options_.namespace_name), JsonDump(op.object.get()),
                   [this, &op](Result<std::string> r) { OnAnswer(op, std::move(r)); });
  }
  json_t* meta = json_object_get(op.object.get(), "metadata");
  json_object_set_new(meta, "resourceVersion", json_string(it->second.resource_version.c_str()));
  std::string body = JsonDump(op.object.get());
  json_object_del(meta, "resourceVersion");
  Request(op.call, "PUT", RecordPath(op.name), std::move(body),
          [this, &op](Result<std::string> r) { OnAnswer(op, std::move(r)); });
}

void RecordWriter::OnAnswer(Op& op, Result<std::string> answer) {
  const bool created = !stored_.contains(op.name);
  if (answer.ok()) {
    Result<StoredRecord> record = ReadAnswer(*answer);
    if (!record.ok()) return Retry(op, record.error());
    if (op.name == options_.remote) {
      ++counters_.marker_writes;  // the sync marker is named after the remote
    } else {
      ++(created ? counters_.creates : counters_.updates);
    }
    stored_[op.name] = Keep(std::move(record).value());
    return OpDone(op, true);
  }
  const int code = answer.error().code;
  if (op.attempts >= options_.max_attempts && (code == 409 || code == 404)) return Retry(op, answer.error());
  if (code == 409) {  // written since we read it, or created by someone else: read it again
    ++counters_.conflicts;
    return Reread(op);
  }
  if (code == 404 && !created) {  // deleted behind us: create it
    stored_.erase(op.name);
    return Send(op);
  }
  Retry(op, answer.error());
}

void RecordWriter::Reread(Op& op) {
  Request(op.call, "GET", RecordPath(op.name), "", [this, &op](Result<std::string> r) {
    if (!r.ok() && r.error().code != 404) return Retry(op, r.error());
    if (!r.ok()) {
      stored_.erase(op.name);
    } else {
      Result<StoredRecord> record = ReadAnswer(*r);
      if (!record.ok()) return Retry(op, record.error());
      stored_[op.name] = Keep(std::move(record).value());
      if (op.digest && stored_[op.name].digest == op.digest) {
        ++counters_.unchanged;
        return OpDone(op, true);
      }
    }
    Send(op);
  });
}

void RecordWriter::Retry(Op& op, const Error& error) {
  if (error.code != 409) ++counters_.errors;
  // 400 and 422: the apiserver refuses the object itself (a name too long for a record, say); the same write
  // would be refused again.
  const bool invalid = error.code == 400 || error.code == 422;
  if (invalid || op.attempts >= options_.max_attempts) {
    if (first_error_.empty()) first_error_ = error.message;
    log::Warn("mirror: a record write failed",
              {{"remote", options_.remote}, {"record", op.name}, {"error", error.message}});
    return OpDone(op, false);
  }
  log::Debug("mirror: retrying a record write",
             {{"remote", options_.remote}, {"record", op.name}, {"error", error.message}});
  if (!op.timer) op.timer = std::make_unique<Timer>(client_.loop());  // only for the few that fail
  op.timer->Start(Backoff(op.attempts), [this, &op] { Send(op); });
}

void RecordWriter::OpDone(Op& op, bool ok) {
  (void)op;
  if (!ok) ++failed_;
  --in_flight_;
  Pump();
  if (in_flight_ > 0 || next_op_ < ops_.size()) return;
  if (failed_ == 0) return Finish(Ok());
  Finish(Error{options_.remote + ": " + std::to_string(failed_) + " of " + std::to_string(ops_.size()) +
               " record writes failed; first: " + first_error_});
}

}  // namespace swg::k8s
