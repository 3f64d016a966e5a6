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
  if (device) {
    std::string printed(swg::wg::uapi::FormatGetReply(*device));
    auto again = swg::wg::uapi::ParseGetReply(printed);
    if (!again || std::string(swg::wg::uapi::FormatGetReply(*again)) != printed) abort();
  }
  return 0;
}
