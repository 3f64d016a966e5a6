// Interface names and the backend flag values.
#include <doctest/doctest.h>

#include "worker/wg/interface.h"

namespace swg::wg {
namespace {

TEST_CASE("interface names are checked as the kernel would, without truncation") {
  CHECK(InterfaceNameProblem("wireguard.c2") == "");
  CHECK(InterfaceNameProblem("wireguard.abcde") == "");  // 15 bytes: the longest that fits
  CHECK(InterfaceNameProblem("wireguard.abcdef") == "is 16 bytes long; Linux allows at most 15");
  CHECK(InterfaceNameProblem("") == "is empty");
  CHECK(InterfaceNameProblem(".") == "is reserved");
  CHECK(InterfaceNameProblem("..") == "is reserved");
  CHECK(InterfaceNameProblem("wg/0") == "contains '/'");
  CHECK(InterfaceNameProblem("wg:0") == "contains ':'");
  CHECK(InterfaceNameProblem("wg%d") == "contains '%'");
  CHECK(InterfaceNameProblem("wg 0") == "contains a space, control or non-ASCII character");
  CHECK(InterfaceNameProblem(std::string_view("wg\0x", 4)) ==
        "contains a space, control or non-ASCII character");
  CHECK(InterfaceNameProblem("wg\xc3\xa9") == "contains a space, control or non-ASCII character");
}

TEST_CASE("backend choice flag values") {
  CHECK(ParseBackendChoice("auto") == BackendChoice::kAuto);
  CHECK(ParseBackendChoice("kernel") == BackendChoice::kKernel);
  CHECK(ParseBackendChoice("userspace") == BackendChoice::kUserspace);
  CHECK_FALSE(ParseBackendChoice("Kernel"));
  CHECK_FALSE(ParseBackendChoice(""));
  CHECK(BackendChoiceName(BackendChoice::kUserspace) == "userspace");
  CHECK(BackendChoiceName(BackendChoice::kAuto) == "auto");
}

TEST_CASE("a repair report describes what was done") {
  RepairReport r;
  CHECK(r.Describe() == "");
  CHECK_FALSE(r.any());
  r.route_restored = true;
  CHECK(r.Describe() == "route restored");
  r.recreated = true;
  r.recreated_because = "wireguard-go exited";
  r.set_up = true;
  CHECK(r.Describe() == "link recreated (wireguard-go exited), link set up, route restored");
}

}  // namespace
}  // namespace swg::wg
