#include "tests/k8s/hostile.h"

namespace swg::test {

std::string Item(size_t i, bool annotated, size_t pad) {
  std::string name = "n" + std::to_string(i) + std::string(pad, 'x');
  std::string annotations = annotated ? "{\"" + kHostilePubKey +
                                            R"(":"kKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKkKk=",")" +
                                            kHostileEndpoint + R"(":"192.0.2.1:51820"})"
                                      : R"({"node.alpha.kubernetes.io/ttl":"0"})";
  return R"({"metadata":{"name":")" + name + R"(","uid":"0a8f2c1e-3b4d-4e5f-8a9b-)" +
         std::to_string(100000 + i) + R"(","resourceVersion":")" + std::to_string(i) +
         R"(","creationTimestamp":"2026-01-02T03:04:05Z",)" + R"("labels":{"kubernetes.io/hostname":")" +
         name + R"("},"annotations":)" + annotations +
         R"(},"spec":{"podCIDR":"10.4.0.0/24","podCIDRs":["10.4.0.0/24"]},"status":{"addresses":[)" +
         R"({"type":"InternalIP","address":"192.0.2.1"},{"type":"Hostname","address":")" + name + R"("}]}})";
}

void SendPage(FakeConnection& c, const std::string& continue_token, size_t first, size_t count,
              const std::function<std::string(size_t)>& item, std::chrono::milliseconds pause) {
  c.StartChunked();
  std::string meta = R"({"resourceVersion":"50")" +
                     (continue_token.empty() ? std::string() : R"(,"continue":")" + continue_token + "\"") +
                     "}";
  c.Chunk(R"({"kind":"NodeList","apiVersion":"v1","metadata":)" + meta + R"(,"items":[)");
  std::string batch;
  for (size_t i = first; i < first + count && !c.closed(); ++i) {
    if (i > first) batch += ",";
    batch += item(i);
    if (batch.size() > (64u << 10) || pause.count() > 0) {
      c.Chunk(batch);
      batch.clear();
      if (pause.count() > 0) c.Sleep(pause);
    }
  }
  c.Chunk(batch + "]}");
  c.EndChunked();
}

size_t PageOf(const HttpRequestSeen& req) {
  size_t at = req.target.find("continue=c");
  return at == std::string::npos ? 0 : std::stoul(req.target.substr(at + 10));
}

}  // namespace swg::test
