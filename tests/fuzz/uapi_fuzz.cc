// libFuzzer target: the UAPI reply parsers (what wireguard-go sends back) must never crash or leak, and a
// reply they accept must print as a reply that parses to the same device.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "worker/wg/uapi_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)swg::wg::uapi::ParseSetReply(text);
  (void)swg::wg::uapi::ReplyComplete(text);
  auto device = swg::wg::uapi::ParseGetReply(text);
  auto handshakes = swg::wg::uapi::ParseGetHandshakes(text);
  if (device) {
    // What the report's lean read sees of a reply the full parser accepts: the same keys and handshakes.
    if (!handshakes || handshakes->size() != device->peers.size()) abort();
    for (size_t i = 0; i < device->peers.size(); ++i) {
      if (!((*handshakes)[i].public_key == device->peers[i].public_key) ||
          (*handshakes)[i].last_handshake_sec != device->peers[i].last_handshake_sec)
        abort();
    }
    std::string printed(swg::wg::uapi::FormatGetReply(*device));
    auto again = swg::wg::uapi::ParseGetReply(printed);
    if (!again || std::string(swg::wg::uapi::FormatGetReply(*again)) != printed) abort();
  }
  return 0;
}
