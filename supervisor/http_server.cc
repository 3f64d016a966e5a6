#include "supervisor/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <list>
#include <optional>
#include <unordered_map>
#include <utility>

#include "common/log.h"
#include "supervisor/http_request.h"

namespace swg::supervisor {

namespace {

// Binds and listens (non-blocking); the error names the address.
Result<int> Listen(const std::string& address) {
  size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  hints.ai_family = host.empty() ? AF_INET6 : AF_UNSPEC;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 && host.empty()) {
    hints.ai_family = AF_INET;  // no IPv6 on this host
    rc = getaddrinfo(nullptr, port.c_str(), &hints, &res);
  }
  if (rc != 0) return Error{"cannot listen on " + address + ": " + gai_strerror(rc)};
  std::string last_error = "no usable address";
  int fd = -1;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
      last_error = strerror(errno);
      continue;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6 && host.empty())
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) break;
    last_error = strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return Error{"cannot listen on " + address + ": " + last_error};
  return fd;
}

uint16_t BoundPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

// The client's address as raw bytes (4 or 16): the key of the per-address count.
std::string AddressKey(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(ss).sin_addr;
    return std::string(reinterpret_cast<const char*>(&a), sizeof a);
  }
  const auto& a = reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr;
  return std::string(reinterpret_cast<const char*>(&a), sizeof a);
}

std::string AddressText(const std::string& key) {
  char text[INET6_ADDRSTRLEN] = "?";
  inet_ntop(key.size() == 4 ? AF_INET : AF_INET6, key.data(), text, sizeof text);
  return text;
}

// Logged at debug level only: a client must not be able to fill the journal.
void Note(std::string_view what, const std::string& address_key) {
  if (log::Enabled(log::Level::kDebug))
    log::Debug("http server: " + std::string(what), {{"client", AddressText(address_key)}});
}

std::string_view Reason(int code) {
  static constexpr std::pair<int, std::string_view> kReasons[] = {
      {200, "OK"},
      {400, "Bad Request"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {413, "Content Too Large"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {503, "Service Unavailable"},
      {505, "HTTP Version Not Supported"},
  };
  for (const auto& [c, reason] : kReasons)
    if (c == code) return reason;
  return "Unknown";
}

std::string HttpDate() {
  char text[40];
  time_t now = time(nullptr);
  tm t{};
  gmtime_r(&now, &t);
  return std::string(text, strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &t));
}

struct Conn;

}  // namespace

struct HttpServer::Impl {
  Impl(Loop& l, Handler h, const HttpLimits& lim) : loop(l), handler(std::move(h)), limits(lim), retry(l) {}
  Loop& loop;
  Handler handler;
  HttpLimits limits;
  int fd = -1;
  uv_poll_t* poll = nullptr;
  bool accepting = false;
  Timer retry;  // accepting again after the process ran out of file descriptors
  std::list<Conn*> conns;
  std::unordered_map<std::string, size_t> per_address;
  char read_buffer[16384];  // every read is consumed before the next one starts

  void Accept();
  void SetAccepting(bool on);
  void Closed(Conn* conn);
};

namespace {

// One client connection: reading a request -> answering it (the handler's turn, then writing the answer) ->
// reading the next one, or lingering (our side shut, the client's last bytes read and dropped) -> closed.
// Freed by the handle's close callback, so a libuv callback never finds it gone.
struct Conn {
  enum class State { kReading, kAnswering, kLingering };
  Conn(HttpServer::Impl* s, std::string key) : server(s), address(std::move(key)) { timer.emplace(s->loop); }

  uv_tcp_t tcp;
  HttpServer::Impl* server;  // null once closing
  std::list<Conn*>::iterator self;
  std::string address;  // AddressKey
  // The deadline of the current state. Closed with the connection, not when it is freed: a loop torn down
  // before the connection's close callback has run has closed every handle itself by then.
  std::optional<Timer> timer;
  State state = State::kReading;
  std::string in;  // received and not consumed: a partial head, or requests pipelined behind the current one
  size_t searched = 0;   // see ParseRequestHead
  uint64_t discard = 0;  // body bytes still to drop
  bool reading = false, read_closed = false, keep_alive = true, head_only = false, closing = false;
  std::string out_head, out_body;
  uv_write_t write_req;
  uv_shutdown_t shutdown_req;
  std::shared_ptr<Conn*> request;  // the request being handled; its Respond holds it weakly

  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }

  void Start(uv_loop_t* loop, int fd) {
    uv_tcp_init(loop, &tcp);
    tcp.data = this;
    if (uv_tcp_open(&tcp, fd) != 0) {
      close(fd);
      Close();
      return;
    }
    uv_tcp_nodelay(&tcp, 1);  // an answer is one write: its last segment must not wait for an ACK
    WaitForRequest();
  }

  void Expire(std::string_view why) {
    Note(why, address);
    Close();
  }

  void WaitForRequest() {
    state = State::kReading;
    timer->Start(server->limits.idle_timeout, [this] {
      Expire(in.empty() && discard == 0 ? "idle connection closed" : "request too slow, closed");
    });
    StartReading();
    if (!in.empty()) Parse();  // pipelined
  }

  void StartReading() {
    if (reading || read_closed) return;
    reading = true;
    uv_read_start(
        stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* c = static_cast<Conn*>(h->data);
          *buf = c->server ? uv_buf_init(c->server->read_buffer, sizeof c->server->read_buffer)
                           : uv_buf_init(nullptr, 0);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          static_cast<Conn*>(s->data)->OnRead(n, buf->base);
        });
  }

  void StopReading() {
    if (!reading) return;
    reading = false;
    uv_read_stop(stream());
  }

  void OnRead(ssize_t n, const char* data) {
    if (n == 0 || closing) return;
    if (n < 0) {
      if (n != UV_EOF) return Close();
      read_closed = true;  // the client may shut its side after its request and still read the answer
      StopReading();
      if (state == State::kReading || state == State::kLingering) Close();
      return;
    }
    if (state == State::kLingering) return;
    std::string_view bytes(data, static_cast<size_t>(n));
    bool was_waiting = in.empty() && discard == 0;
    size_t skip = static_cast<size_t>(std::min<uint64_t>(discard, bytes.size()));
    discard -= skip;
    bytes.remove_prefix(skip);
    in.append(bytes);
    if (state != State::kReading) {
      if (in.size() >= kMaxRequestHead) StopReading();  // the next request waits for this answer
      return;
    }
    // The head (and body) of a request must be complete within the timeout of its first byte.
    if (was_waiting && !in.empty())
      timer->Start(server->limits.idle_timeout, [this] { Expire("request too slow, closed"); });
    Parse();
  }

  void Parse() {
    HttpParse p = ParseRequestHead(in, searched);
    if (p.outcome == HttpParse::Outcome::kNeedMore) {
      searched = p.searched;
      return;
    }
    searched = 0;
    state = State::kAnswering;
    timer->Start(server->limits.answer_timeout, [this] { Expire("request not answered in time, closed"); });
    if (p.outcome == HttpParse::Outcome::kError) {
      Note("refused a request: " + std::to_string(p.status), address);
      in.clear();
      keep_alive = false;
      head_only = false;
      return Send(HttpResponse{p.status, "text/plain; charset=utf-8", std::string(Reason(p.status)) + "\n"});
    }
    in.erase(0, p.head_size);
    size_t skip = static_cast<size_t>(std::min<uint64_t>(p.request.content_length, in.size()));
    in.erase(0, skip);
    discard = p.request.content_length - skip;
    keep_alive = p.request.keep_alive;
    head_only = p.request.method == "HEAD";
    request = std::make_shared<Conn*>(this);
    HttpServer::Respond respond = [weak = std::weak_ptr<Conn*>(request)](HttpResponse r) {
      auto token = weak.lock();
      if (!token) return;  // answered already, or the connection is gone
      Conn* c = *token;
      c->request.reset();
      c->Send(std::move(r));
    };
    try {
      server->handler(p.request.method, p.request.path, std::move(respond));
    } catch (...) {
      if (request && !closing) {
        request.reset();
        Send(HttpResponse{500, "text/plain; charset=utf-8", "internal error\n"});
      }
    }
  }

  void Send(HttpResponse r) {
    if (closing) return;
    out_head = "HTTP/1.1 " + std::to_string(r.code) + " " + std::string(Reason(r.code)) +
               "\r\nDate: " + HttpDate() + "\r\nContent-Type: " + r.content_type +
               "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\nCache-Control: no-store\r\n";
    if (read_closed) keep_alive = false;
    out_head += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    out_body = head_only ? std::string() : std::move(r.body);
    uv_buf_t bufs[2] = {uv_buf_init(out_head.data(), static_cast<unsigned>(out_head.size())),
                        uv_buf_init(out_body.data(), static_cast<unsigned>(out_body.size()))};
    write_req.data = this;
    if (uv_write(&write_req, stream(), bufs, 2,
                 [](uv_write_t* req, int status) { static_cast<Conn*>(req->data)->OnWritten(status); }) != 0)
      Close();
  }

  void OnWritten(int status) {
    out_head.clear();
    out_body = std::string();  // a large answer's memory goes now, not at the next one
    if (closing) return;
    if (status < 0) return Close();
    if (keep_alive) return WaitForRequest();
    if (read_closed) return Close();
    // Shut our side and drop what the client still sends until it closes, so that a close with unread bytes
    // does not make the kernel reset the connection before the client has read the answer.
    state = State::kLingering;
    in.clear();
    timer->Start(server->limits.linger, [this] { Close(); });
    shutdown_req.data = this;
    if (uv_shutdown(&shutdown_req, stream(), [](uv_shutdown_t*, int) {}) != 0) return Close();
    StartReading();
  }

  void Close() {
    if (closing) return;
    closing = true;
    request.reset();
    timer.reset();
    if (server) server->Closed(this);
    server = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp),
             [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
  }
};

}  // namespace

void HttpServer::Impl::Accept() {
  // A bounded batch per wake-up: the poll is level-triggered, so the rest comes at the next turn of the loop.
  for (int i = 0; i < 64 && accepting; ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int c = accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      // Out of file descriptors or memory: the connection stays queued; try again in a second rather than at
      // every turn of the loop.
      log::Debug("http server: cannot accept a connection: " + std::string(strerror(errno)));
      SetAccepting(false);
      retry.Start(std::chrono::seconds(1), [this] { SetAccepting(conns.size() < limits.total); });
      return;
    }
    std::string key = AddressKey(ss);
    size_t& count = per_address[key];
    if (count >= limits.per_address) {
      close(c);
      Note("too many connections from one address: closed a new one", key);
      continue;
    }
    ++count;
    auto* conn = new Conn(this, std::move(key));
    conn->self = conns.insert(conns.end(), conn);
    if (conns.size() >= limits.total) SetAccepting(false);  // the next ones wait in the listen queue
    conn->Start(loop.uv(), c);
  }
}

void HttpServer::Impl::SetAccepting(bool on) {
  if (on == accepting) return;
  accepting = on;
  if (!on) {
    uv_poll_stop(poll);
    return;
  }
  uv_poll_start(poll, UV_READABLE, [](uv_poll_t* p, int status, int) {
    if (status == 0) static_cast<Impl*>(p->data)->Accept();
  });
}

void HttpServer::Impl::Closed(Conn* conn) {
  auto it = per_address.find(conn->address);
  if (it != per_address.end() && --it->second == 0) per_address.erase(it);
  conns.erase(conn->self);
  if (!retry.active() && conns.size() < limits.total) SetAccepting(true);
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(Loop& loop, const std::string& listen_address,
                                                      Handler handler, const HttpLimits& limits) {
  auto fd = Listen(listen_address);
  if (!fd.ok()) return std::move(fd).error();
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_unique<Impl>(loop, std::move(handler), limits);
  Impl* impl = server->impl_.get();
  impl->fd = *fd;
  server->port_ = BoundPort(*fd);
  impl->poll = new uv_poll_t;
  uv_poll_init(loop.uv(), impl->poll, impl->fd);
  impl->poll->data = impl;
  impl->SetAccepting(true);
  return server;
}

HttpServer::~HttpServer() {
  if (!impl_) return;
  for (Conn* c : impl_->conns) {
    c->server = nullptr;  // no accounting: the lists go with the server
    c->Close();
  }
  impl_->conns.clear();
  uv_poll_stop(impl_->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(impl_->poll),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  close(impl_->fd);
}

size_t HttpServer::connections() const { return impl_->conns.size(); }

}  // namespace swg::supervisor
