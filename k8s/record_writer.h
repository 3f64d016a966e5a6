#pragma once
// The mirror's record writer for one remote in one namespace (issue 17): keeps the remote's WireGuardPeer
// records (k8s/record_content.h) equal to what the caller wants, on the client's loop.
//  - Start lists the remote's records (label wireguard.semaphore.uw.io/remote=<remote>, in pages).
//  - Apply(desired, complete_list) creates the missing records, updates those whose content differs (a node
//    change that touches none of the written fields makes no request), and, only with complete_list (the
//    desired set came from a complete list of the remote), deletes the records of nodes that are gone.
//  - WriteMarker writes the remote's sync marker (lastSyncTime now). DeleteAll removes every record of the
//    remote (listed afresh), then the marker, which stays when a record could not be deleted (a remote taken
//    out of the mirror's config).
// Requests run with at most max_in_flight at once. Updates carry the resourceVersion last seen: a 409 reads
// the record again and writes again if it still differs; a create that meets an existing record (409) does
// the same; an update or delete of a record gone (404) creates it or is done. Other failures are retried with
// backoff, up to max_attempts per record (a 400 or 422, an object the apiserver refuses, at once); then the
// step reports an Error (the first failure, and how many records failed), and the next Apply tries them
// again. Steps run one after the other in call order, so a WriteMarker called after an Apply is written after
// every write of that Apply ended; a caller marks the list complete only when the Apply succeeded. `done`
// runs from the loop. The writer may be destroyed at any time, from a `done` too: requests and timers are
// cancelled and no callback runs after.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "k8s/record_content.h"

namespace swg {
class Timer;
}

namespace swg::k8s {

class Client;
class RequestCall;

struct RecordWriterOptions {
  std::string namespace_name;
  std::string remote;
  size_t max_in_flight = 8;
  int max_attempts = 5;  // per record and step, conflicts included
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_cap{8000};
  int64_t page_size = 500;
};

struct RecordWriterCounters {
  uint64_t creates = 0, updates = 0, deletes = 0;  // writes of node records that succeeded
  uint64_t marker_writes = 0;                      // writes of the sync marker that succeeded
  uint64_t conflicts = 0;                          // 409 answers
  uint64_t errors = 0;                             // other failed requests (each retry counts)
  uint64_t unchanged = 0;                          // desired records already as wanted: no write
  uint64_t requests = 0;                           // every request made
  uint64_t bytes_sent = 0, bytes_received = 0;     // request and answer bodies
};

class RecordWriter {
 public:
  using Done = std::function<void(Status)>;
  RecordWriter(Client& client, RecordWriterOptions options);
  ~RecordWriter();
  RecordWriter(const RecordWriter&) = delete;
  RecordWriter& operator=(const RecordWriter&) = delete;

  void Start(Done done);
  // `desired` by node name (each content's node_name is set to its key).
  void Apply(std::map<std::string, RecordContent> desired, bool complete_list, Done done);
  void WriteMarker(bool complete, std::string leader, int64_t nodes, Done done);
  void DeleteAll(Done done);

  bool busy() const { return running_ || !queue_.empty(); }
  const RecordWriterCounters& counters() const { return counters_; }
  // The records as last listed or written, by record name (the marker included; StoredRecord::name is empty:
  // the key is the name).
  const std::map<std::string, StoredRecord>& records() const { return stored_; }

 private:
  struct Op;
  struct Step {
    std::function<void()> begin;
    Done done;
  };
  void Enqueue(std::function<void()> begin, Done done);
  void Next();
  void Finish(Status status);
  void ListPage(std::string continue_token, int attempt);
  void Launch(std::vector<std::unique_ptr<Op>> ops);
  void Pump();
  void Send(Op& op);
  void OnAnswer(Op& op, Result<std::string> answer);
  void Reread(Op& op);
  void Retry(Op& op, const Error& error);
  void OpDone(Op& op, bool ok);
  void Request(std::unique_ptr<RequestCall>& slot, std::string method, std::string path, std::string body,
               std::function<void(Result<std::string>)> done);
  std::chrono::milliseconds Backoff(int attempt) const;
  std::string RecordPath(const std::string& name) const;

  Client& client_;
  RecordWriterOptions options_;
  std::map<std::string, StoredRecord> stored_;
  RecordWriterCounters counters_;
  std::deque<Step> queue_;
  bool running_ = false;
  Done done_;  // of the running step
  std::unique_ptr<RequestCall> list_call_;
  std::unique_ptr<Timer> list_timer_, done_timer_;
  std::map<std::string, StoredRecord> listing_;  // the list being read
  std::vector<std::unique_ptr<Op>> ops_;         // of the running step
  size_t next_op_ = 0, in_flight_ = 0, failed_ = 0;
  std::string first_error_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace swg::k8s
