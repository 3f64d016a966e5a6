#include "supervisor/http_server.h"

#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "common/log.h"

namespace swg::supervisor {

namespace {
// A handler may wait up to a few seconds for the workers (/metrics): enough threads that /livez is never
// queued behind two slow scrapes.
constexpr unsigned kThreads = 4;
constexpr unsigned kConnectionLimit = 256;
constexpr unsigned kPerIpLimit = 16;
constexpr unsigned kIdleTimeoutSeconds = 5;
}  // namespace

struct HttpServer::Impl {
  Handler handler;
  MHD_Daemon* daemon = nullptr;
  ~Impl() {
    if (daemon) MHD_stop_daemon(daemon);
  }
};

namespace {

// Binds and listens; the error names the address.
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
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = strerror(errno);
      continue;
    }
    int one = 1, zero = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6 && host.empty()) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
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

MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url, const char* method, const char*,
                     const char*, size_t* upload_size, void** state) noexcept {
  auto* impl = static_cast<HttpServer::Impl*>(cls);
  // The first call for a request only announces it; answer on the second (after any body, which we ignore).
  if (*state == nullptr) {
    static int marker;
    *state = &marker;
    return MHD_YES;
  }
  *upload_size = 0;
  HttpResponse r;
  try {
    r = impl->handler(method, url);
  } catch (...) {
    r = HttpResponse{500, "text/plain; charset=utf-8", "internal error\n"};
  }
  MHD_Response* resp = MHD_create_response_from_buffer(r.body.size(), r.body.data(), MHD_RESPMEM_MUST_COPY);
  if (!resp) return MHD_NO;
  MHD_add_response_header(resp, "Content-Type", r.content_type.c_str());
  MHD_add_response_header(resp, "Cache-Control", "no-store");
  MHD_Result ret = MHD_queue_response(connection, static_cast<unsigned>(r.code), resp);
  MHD_destroy_response(resp);
  return ret;
}

void OnMhdLog(void*, const char* fmt, va_list ap) noexcept {
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  std::string msg = buf;
  while (!msg.empty() && msg.back() == '\n') msg.pop_back();
  log::Debug("http server: " + msg);
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen_address, Handler handler) {
  auto fd = Listen(listen_address);
  if (!fd.ok()) return std::move(fd).error();
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_unique<Impl>();
  server->impl_->handler = std::move(handler);
  server->port_ = BoundPort(*fd);
  // Event-driven (epoll) with a small pool of threads: idle connections cost no thread, so they cannot starve
  // the probes. Each client address may hold a few connections, and a silent one is closed after a few seconds.
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
  server->impl_->daemon = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &OnRequest, server->impl_.get(), MHD_OPTION_EXTERNAL_LOGGER, &OnMhdLog, nullptr,
      MHD_OPTION_LISTEN_SOCKET, *fd, MHD_OPTION_THREAD_POOL_SIZE, kThreads, MHD_OPTION_CONNECTION_LIMIT,
      kConnectionLimit, MHD_OPTION_PER_IP_CONNECTION_LIMIT, kPerIpLimit, MHD_OPTION_CONNECTION_TIMEOUT,
      kIdleTimeoutSeconds, MHD_OPTION_END);
  if (!server->impl_->daemon) {
    close(*fd);
    return Error{"cannot start the HTTP server on " + listen_address};
  }
  return server;
}

HttpServer::~HttpServer() = default;

}  // namespace swg::supervisor
