// A hostile remote apiserver as a process, for the daemon test: `hostile_apiserver ADDRESS PORT MODE` serves
// node lists on ADDRESS:PORT (plain HTTP) until SIGTERM. MODE "pages": empty pages whose continue tokens
// never end; "wide": a first page of 50,000 nodes where 500 were asked for. Prints "ready" once it listens.
// fake_server.cc's helpers for tests use doctest: its implementation, without its main.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "tests/k8s/hostile.h"

namespace {

volatile std::sig_atomic_t stop = 0;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s ADDRESS PORT pages|wide\n", argv[0]);
    return 2;
  }
  const std::string mode = argv[3];
  if (mode != "pages" && mode != "wide") {
    std::fprintf(stderr, "unknown mode %s\n", argv[3]);
    return 2;
  }
  std::signal(SIGTERM, [](int) { stop = 1; });
  std::signal(SIGINT, [](int) { stop = 1; });
  using swg::test::FakeConnection;
  using swg::test::HttpRequestSeen;
  swg::test::FakeServer server(
      [&mode](const HttpRequestSeen& req, FakeConnection& c) {
        size_t page = swg::test::PageOf(req);
        if (mode == "pages") return swg::test::SendPage(c, "c" + std::to_string(page + 1), 0, 0, nullptr);
        swg::test::SendPage(c, "c" + std::to_string(page + 1), 0, 50000,
                            [](size_t i) { return swg::test::Item(i, true); });
      },
      argv[1], std::atoi(argv[2]));
  std::printf("ready\n");
  std::fflush(stdout);
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return 0;
}
