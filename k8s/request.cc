// One request's life: credentials, the HTTP call, retries (401, certificate verification, Retry-After) and
// the error text that names cluster, request and the server's message.
#include <algorithm>
#include <cctype>

#include "common/log.h"
#include "common/strings.h"
#include "k8s/client_impl.h"
#include "k8s/node_proto.h"
#include "k8s/parse.h"

namespace swg::k8s {

namespace {

std::string Printable(std::string_view body, size_t max) {
  std::string out;
  for (char c : body.substr(0, max)) out.push_back(c >= 0x20 && c < 0x7f ? c : ' ');
  if (body.size() > max) out += "...";
  return std::string(Trim(out));
}

bool ConnectionReset(const HttpResponse& r) {
  return r.status == 0 && !r.timed_out && !r.tls_verify_failed &&
         (r.error.find("reset") != std::string::npos || r.error.find("Empty reply") != std::string::npos ||
          r.error.find("Send failure") != std::string::npos ||
          r.error.find("Recv failure") != std::string::npos);
}

}  // namespace

std::string HttpErrorText(const HttpResponse& r) {
  std::string out = "HTTP " + std::to_string(r.status);
  std::optional<ApiStatus> status =
      IsProtobufContentType(r.content_type) ? ParseStatusProto(r.body) : ParseStatusJson(r.body);
  if (status) {
    if (!status->reason.empty()) out += " " + status->reason;
    if (!status->message.empty()) out += ": " + status->message;
    return out;
  }
  if (IsProtobufContentType(r.content_type))
    return out + " (" + std::to_string(r.body.size()) + " bytes of protobuf)";
  std::string text = Printable(r.body, 200);
  return text.empty() ? out + " (empty body)" : out + ": " + text;
}

std::string UrlEscape(std::string_view s) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Client::Impl::~Impl() {
  ops.clear();  // before credentials and http, whose callbacks they are
}

uint64_t Client::Impl::Begin(RequestSpec spec, HttpClient::DataCallback on_data, RequestDone done) {
  uint64_t id = next_id++;
  auto op = std::make_unique<Op>(loop, id);
  op->spec = std::move(spec);
  op->on_data = std::move(on_data);
  op->done = std::move(done);
  op->timer.Start(std::chrono::milliseconds(0), [this, id] { Step(id); });
  ops.emplace(id, std::move(op));
  return id;
}

void Client::Impl::Cancel(uint64_t id) { ops.erase(id); }

std::chrono::steady_clock::time_point Client::Impl::LastData(uint64_t id) const {
  auto it = ops.find(id);
  if (it == ops.end() || !it->second->call) return std::chrono::steady_clock::now();
  return it->second->call->last_data();
}

std::string Client::Impl::ContentType(uint64_t id) const {
  auto it = ops.find(id);
  if (it == ops.end() || !it->second->call) return {};
  return it->second->call->content_type();
}

void Client::Impl::Step(uint64_t id) {
  credentials->Get([this, id](Result<Connection> conn) {
    auto it = ops.find(id);
    if (it == ops.end()) return;
    if (!conn.ok())
      return Finish(id, Error{Describe(it->second->spec, "credentials: " + conn.error().message)});
    Send(*it->second, *conn);
  });
}

void Client::Impl::Send(Op& op, const Connection& conn) {
  HttpRequest req;
  req.method = op.spec.method;
  req.url = conn.base_url + op.spec.path;
  req.connect_to = conn.connect_to;
  req.tls = conn.tls;
  req.headers.push_back("Accept: " +
                        (op.spec.accept.empty() ? std::string("application/json") : op.spec.accept));
  if (!conn.bearer_token.empty()) req.headers.push_back("Authorization: Bearer " + conn.bearer_token);
  if (!op.spec.content_type.empty()) req.headers.push_back("Content-Type: " + op.spec.content_type);
  req.body = op.spec.body;
  req.stream = op.spec.stream;
  req.identity = op.spec.identity;
  req.max_body = op.spec.max_body;
  req.timeout = op.spec.timeout;
  req.connect_timeout = options.connect_timeout;
  uint64_t id = op.id;
  Op* raw = &op;  // the call belongs to the op: its callbacks cannot outlive it
  op.call = http->Start(
      std::move(req),
      [raw](std::string_view chunk) {
        HttpClient::DataCallback cb = raw->on_data;  // a copy: the callback may end the op
        if (cb) cb(chunk);
      },
      [this, id](HttpResponse response) { OnResponse(id, std::move(response)); });
}

void Client::Impl::Retry(Op& op, std::chrono::milliseconds delay) {
  op.call.reset();
  uint64_t id = op.id;
  op.timer.Start(delay, [this, id] { Step(id); });
}

void Client::Impl::OnResponse(uint64_t id, HttpResponse r) {
  auto it = ops.find(id);
  if (it == ops.end()) return;
  Op& op = *it->second;
  if (observer) observer(op.spec.method, credentials->host(), static_cast<int>(r.status));
  for (const std::string& w : r.warnings) {
    log::Warn("apiserver warning", {{"cluster", cluster}, {"request", op.spec.shown}, {"warning", w}});
  }
  if (!r.error.empty()) {
    if (r.tls_verify_failed && !op.reverified && credentials->OnVerifyFailed()) {
      log::Info("server certificate did not verify; reloading the CA and retrying",
                {{"cluster", cluster}, {"request", op.spec.shown}, {"error", r.error}});
      op.reverified = true;
      return Retry(op, std::chrono::milliseconds(0));
    }
    if (op.spec.method == "GET" && !op.spec.stream && !op.reset_retried && ConnectionReset(r)) {
      op.reset_retried = true;
      return Retry(op, std::chrono::milliseconds(0));
    }
    std::string detail;
    if (r.tls_verify_failed) {
      detail = "server certificate verification failed: " + r.error;
      if (op.reverified) detail += " (after reloading the CA)";
    } else if (r.timed_out) {
      detail = "timed out: " + r.error;
    } else {
      detail = r.error;
    }
    if (r.status >= 400) detail = HttpErrorText(r) + " (then " + detail + ")";
    int code = r.status >= 400 ? static_cast<int>(r.status) : 0;
    if (r.too_large) code = kErrorOverLimit;
    return Finish(id, Error{Describe(op.spec, detail), code});
  }
  if (r.status == 401 && !op.reauthed && credentials->OnUnauthorized()) {
    log::Info("apiserver answered 401; reloading credentials and retrying",
              {{"cluster", cluster}, {"request", op.spec.shown}});
    op.reauthed = true;
    return Retry(op, std::chrono::milliseconds(0));
  }
  if ((r.status == 429 || r.status >= 500) && r.retry_after && op.retries < options.max_retries) {
    auto delay = std::min<std::chrono::milliseconds>(*r.retry_after, options.max_retry_after);
    log::Info("apiserver asked to retry later", {{"cluster", cluster},
                                                 {"request", op.spec.shown},
                                                 {"code", std::to_string(r.status)},
                                                 {"retry_after_ms", std::to_string(delay.count())}});
    ++op.retries;
    return Retry(op, delay);
  }
  if (r.status >= 200 && r.status < 300) return Finish(id, std::move(r));
  std::string detail = HttpErrorText(r);
  if (r.status == 401 && op.reauthed) detail += " (after reloading the credentials)";
  Finish(id, Error{Describe(op.spec, detail), static_cast<int>(r.status)});
}

void Client::Impl::Finish(uint64_t id, Result<HttpResponse> result) {
  auto it = ops.find(id);
  if (it == ops.end()) return;
  RequestDone done = std::move(it->second->done);
  ops.erase(it);
  if (done) done(std::move(result));
}

}  // namespace swg::k8s
