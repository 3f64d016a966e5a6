#pragma once
// Pieces of a hostile remote apiserver for the tests: nodes as an apiserver lists them and NodeList pages
// streamed out of them, over a FakeServer connection.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "tests/k8s/fake_server.h"

namespace swg::test {

// The annotations a remote node carries for a local cluster named c1.
inline const std::string kHostilePubKey = "c1.wireguard.semaphore.uw.io/pubKey";
inline const std::string kHostileEndpoint = "c1.wireguard.semaphore.uw.io/endpoint";

// Node number i as an apiserver lists it (about 600 bytes), with our annotations or without; `pad` lengthens
// its name (an apiserver allows 253 bytes).
std::string Item(size_t i, bool annotated, size_t pad = 0);

// Streams a NodeList page: metadata first (as apiservers send it), then `count` items made by `item` from
// number `first` on, in chunks of about 64 KB (one item per chunk, `pause` apart, when pause is set). Stops
// early when the client goes away.
void SendPage(FakeConnection& c, const std::string& continue_token, size_t first, size_t count,
              const std::function<std::string(size_t)>& item,
              std::chrono::milliseconds pause = std::chrono::milliseconds(0));

// Which page a list request asks for: 0 without a continue token, else N from the token "c<N>".
size_t PageOf(const HttpRequestSeen& req);

}  // namespace swg::test
