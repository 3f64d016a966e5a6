#include "k8s/exec_plugin.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <unistd.h>
#include <uv.h>

#include <csignal>
#include <new>

#include "common/json.h"
#include "common/loop.h"
#include "common/strings.h"
#include "k8s/parse.h"

extern char** environ;

namespace swg::k8s {
namespace {

// uv_spawn closes in the child only the descriptors marked close-on-exec, and the worker has some that are not:
// the supervisor channel it inherits, libcurl's sockets to the apiservers. The plugin is someone else's program
// and must get none of them, so every descriptor above stderr is marked close-on-exec just before the spawn (the
// child's stdio is set up by uv_spawn with dup2, which is not affected). Nothing in the process needs a
// descriptor to survive exec: wireguard-go is started with its own close_range.
void MarkDescriptorsCloseOnExec() {
  if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) == 0) return;
  // Kernels before 5.11: one by one.
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return;
  while (dirent* e = readdir(dir)) {
    auto fd = ParseUint(e->d_name, INT32_MAX);
    if (!fd || *fd <= 2 || static_cast<int>(*fd) == dirfd(dir)) continue;
    int flags = fcntl(static_cast<int>(*fd), F_GETFD);
    if (flags >= 0) fcntl(static_cast<int>(*fd), F_SETFD, flags | FD_CLOEXEC);
  }
  closedir(dir);
}

constexpr size_t kMaxOutput = 1u << 20;

}  // namespace

Result<ExecCredential> ParseExecCredential(std::string_view json, std::string_view api_version) {
  json_error_t err;
  JsonPtr root(json_loadb(json.data(), json.size(), 0, &err));
  if (!root) return Error{"output is not JSON: " + std::string(err.text)};
  if (!json_is_object(root.get())) return Error{"output is not a JSON object"};
  auto kind = JsonString(root.get(), "kind");
  if (!kind || *kind != "ExecCredential") return Error{"output is not an ExecCredential (kind)"};
  auto api = JsonString(root.get(), "apiVersion");
  if (!api || *api != api_version) {
    return Error{"output has apiVersion " + Quote(api.value_or("")) + ", want " + Quote(api_version)};
  }
  const json_t* status = json_object_get(root.get(), "status");
  if (!json_is_object(status)) return Error{"output has no status"};
  ExecCredential cred;
  if (auto token = JsonString(status, "token")) cred.token = *token;
  if (auto cert = JsonString(status, "clientCertificateData")) cred.cert_pem = *cert;
  if (auto key = JsonString(status, "clientKeyData")) cred.key_pem = *key;
  if (cred.cert_pem.empty() != cred.key_pem.empty()) {
    return Error{"status has only one of clientCertificateData and clientKeyData"};
  }
  if (cred.token.empty() && cred.cert_pem.empty()) {
    return Error{"status has neither a token nor clientCertificateData"};
  }
  if (auto expiry = JsonString(status, "expirationTimestamp")) {
    std::optional<int64_t> t = ParseTimestamp(*expiry);
    if (!t) return Error{"status.expirationTimestamp " + Quote(*expiry) + " is not an RFC 3339 time"};
    cred.expiry = *t;
  }
  return cred;
}

struct ExecPlugin::RunState {
  ExecPlugin* owner = nullptr;  // null once cancelled
  std::function<void(Result<ExecCredential>)> done;
  std::string command;
  std::string api_version;
  std::string install_hint;
  std::chrono::milliseconds timeout{0};
  uv_process_t process{};
  uv_pipe_t out{};
  uv_timer_t timer{};
  int open_handles = 0;
  bool closing = false;
  bool spawned = false;
  bool exited = false;
  bool eof = false;
  bool timed_out = false;
  bool too_long = false;
  std::string spawn_error;
  int64_t exit_status = 0;
  int term_signal = 0;
  std::string output;

  void Close() {
    if (closing) return;
    closing = true;
    uv_timer_stop(&timer);
    auto on_closed = [](uv_handle_t* h) {
      auto* self = static_cast<RunState*>(h->data);
      if (--self->open_handles == 0) delete self;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&out), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&process), on_closed);
  }

  Result<ExecCredential> Outcome() const {
    std::string what = "exec plugin " + Quote(command);
    std::string hint = install_hint.empty() ? "" : " (" + install_hint + ")";
    if (!spawn_error.empty()) return Error{what + ": cannot run it: " + spawn_error + hint};
    if (timed_out) return Error{what + ": no answer within " + std::to_string(timeout.count()) + " ms"};
    if (too_long) return Error{what + ": output longer than " + std::to_string(kMaxOutput) + " bytes"};
    if (term_signal) return Error{what + ": killed by signal " + std::to_string(term_signal)};
    if (exit_status) return Error{what + ": exited with status " + std::to_string(exit_status)};
    Result<ExecCredential> cred = ParseExecCredential(output, api_version);
    if (!cred.ok()) return Error{what + ": " + cred.error().message};
    return cred;
  }

  void MaybeFinish() {
    if (!(exited && eof) || closing) return;
    Result<ExecCredential> result = Outcome();
    auto cb = std::move(done);
    if (owner) owner->run_ = nullptr;
    owner = nullptr;
    Close();
    if (cb) cb(std::move(result));
  }
};

ExecPlugin::ExecPlugin(Loop& loop, ExecConfig config, const std::string& cluster_info,
                       std::chrono::milliseconds timeout)
    : loop_(loop), config_(std::move(config)), timeout_(timeout) {
  exec_info_ = "{\"apiVersion\":\"" + config_.api_version +
               "\",\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false";
  if (config_.provide_cluster_info && !cluster_info.empty()) exec_info_ += ",\"cluster\":" + cluster_info;
  exec_info_ += "}}";
}

ExecPlugin::~ExecPlugin() {
  if (!run_) return;
  run_->owner = nullptr;
  run_->done = nullptr;
  if (run_->spawned && !run_->exited) uv_process_kill(&run_->process, SIGKILL);
  run_->Close();
  run_ = nullptr;
}

void ExecPlugin::Run(std::function<void(Result<ExecCredential>)> done) {
  auto* r = new RunState;
  r->owner = this;
  r->done = std::move(done);
  r->command = config_.command;
  r->api_version = config_.api_version;
  r->install_hint = config_.install_hint;
  r->timeout = timeout_;
  run_ = r;
  uv_loop_t* loop = loop_.uv();
  uv_pipe_init(loop, &r->out, 0);
  uv_timer_init(loop, &r->timer);
  r->out.data = r->timer.data = r->process.data = r;
  r->open_handles = 3;

  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    std::string_view name = entry.substr(0, entry.find('='));
    bool replaced = name == "KUBERNETES_EXEC_INFO";
    for (const auto& [k, v] : config_.env) replaced = replaced || name == k;
    if (!replaced) env_strings.emplace_back(entry);
  }
  for (const auto& [k, v] : config_.env) env_strings.push_back(k + '=' + v);
  env_strings.push_back("KUBERNETES_EXEC_INFO=" + exec_info_);
  std::vector<char*> env;
  env.reserve(env_strings.size() + 1);
  for (std::string& s : env_strings) env.push_back(s.data());
  env.push_back(nullptr);
  std::vector<char*> args;
  args.push_back(config_.command.data());
  for (std::string& a : config_.args) args.push_back(a.data());
  args.push_back(nullptr);

  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&r->out);
  stdio[2].flags = UV_INHERIT_FD;  // the plugin's messages go to our stderr, as with kubectl
  stdio[2].data.fd = 2;
  uv_process_options_t options{};
  options.file = config_.command.c_str();
  options.args = args.data();
  options.env = env.data();
  options.stdio = stdio;
  options.stdio_count = 3;
  options.exit_cb = [](uv_process_t* p, int64_t status, int signal) noexcept {
    auto* self = static_cast<RunState*>(p->data);
    self->exited = true;
    self->exit_status = status;
    self->term_signal = signal;
    self->MaybeFinish();
  };
  MarkDescriptorsCloseOnExec();
  int rc = uv_spawn(loop, &r->process, &options);
  r->process.data = r;
  if (rc != 0) {  // reported from the loop like any other outcome
    r->spawn_error = uv_strerror(rc);
    r->exited = r->eof = true;
    uv_timer_start(
        &r->timer, [](uv_timer_t* t) noexcept { static_cast<RunState*>(t->data)->MaybeFinish(); }, 0, 0);
    return;
  }
  r->spawned = true;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&r->out),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) noexcept {
        buf->base = new (std::nothrow) char[suggested];
        buf->len = buf->base ? suggested : 0;
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) noexcept {
        auto* self = static_cast<RunState*>(s->data);
        if (n > 0) {
          if (self->output.size() + static_cast<size_t>(n) > kMaxOutput) {
            self->too_long = true;
            if (!self->exited) uv_process_kill(&self->process, SIGKILL);
          } else {
            self->output.append(buf->base, static_cast<size_t>(n));
          }
        }
        delete[] buf->base;
        if (n < 0) {
          uv_read_stop(s);
          self->eof = true;
          self->MaybeFinish();
        }
      });
  uv_timer_start(
      &r->timer,
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<RunState*>(t->data);
        self->timed_out = true;
        if (!self->exited) uv_process_kill(&self->process, SIGKILL);
        // A grandchild may hold the pipe open: stop waiting for its end.
        uv_read_stop(reinterpret_cast<uv_stream_t*>(&self->out));
        self->eof = true;
        self->MaybeFinish();
      },
      static_cast<uint64_t>(timeout_.count()), 0);
}

}  // namespace swg::k8s
