// libFuzzer target: the clusters config parser must never crash or leak, and whatever it accepts must print
// as a config that parses to the same thing.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  swg::ConfigParse p = swg::ParseConfig(text);
  if (p.errors.empty()) {
    std::string printed = swg::ConfigToJson(p.config);
    swg::ConfigParse again = swg::ParseConfig(printed);
    if (!again.errors.empty() || swg::ConfigToJson(again.config) != printed) abort();
  }
  return 0;
}
