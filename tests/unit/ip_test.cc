#include "common/ip.h"

#include <doctest/doctest.h>

using swg::Cidr;
using swg::Endpoint;
using swg::IpAddr;

TEST_CASE("IpAddr parses numeric IPv4 and IPv6 only") {
  CHECK(IpAddr::Parse("10.2.3.4")->ToString() == "10.2.3.4");
  CHECK(IpAddr::Parse("2001:DB8::1")->ToString() == "2001:db8::1");
  CHECK(IpAddr::Parse("::ffff:10.0.0.1")->is_v4() == false);
  for (const char* bad : {"", "10.2.3", "10.2.3.4.5", "256.1.1.1", "010.1.1.1", " 10.1.1.1", "fe80::1%eth0",
                          "[::1]", "host.example", "1.2.3.4/32"}) {
    CAPTURE(bad);
    CHECK_FALSE(IpAddr::Parse(bad));
  }
}

TEST_CASE("Cidr parse, normalise, contains and overlaps") {
  auto c = Cidr::Parse("10.4.1.7/16");
  REQUIRE(c);
  CHECK(c->HasHostBits());
  CHECK(c->Normalized().ToString() == "10.4.0.0/16");
  CHECK_FALSE(Cidr::Parse("10.4.0.0/16")->HasHostBits());
  CHECK(Cidr::Parse("10.4.0.0/15")->Normalized().ToString() == "10.4.0.0/15");
  CHECK(Cidr::Parse("10.5.0.0/15")->Normalized().ToString() == "10.4.0.0/15");
  CHECK(Cidr::Parse("2001:db8:1:ff::/56")->Normalized().ToString() == "2001:db8:1::/56");

  for (const char* bad : {"10.4.0.0/33", "10.4.0.0", "10.4.0.0/", "10.4.0.0/-1", "10.4.0.0/08", "::/129",
                          "x/8", "10.4.0.0/16/1"}) {
    CAPTURE(bad);
    CHECK_FALSE(Cidr::Parse(bad));
  }

  auto pod = *Cidr::Parse("10.4.0.0/16");
  CHECK(pod.Contains(*Cidr::Parse("10.4.1.0/24")));
  CHECK(pod.Contains(*Cidr::Parse("10.4.0.0/16")));
  CHECK_FALSE(pod.Contains(*Cidr::Parse("10.0.0.0/8")));
  CHECK_FALSE(pod.Contains(*Cidr::Parse("10.5.0.0/24")));
  CHECK_FALSE(pod.Contains(*Cidr::Parse("0.0.0.0/0")));
  CHECK_FALSE(pod.Contains(*Cidr::Parse("::/0")));
  CHECK(pod.Contains(*IpAddr::Parse("10.4.255.255")));
  CHECK_FALSE(pod.Contains(*IpAddr::Parse("10.3.255.255")));
  CHECK(pod.Overlaps(*Cidr::Parse("10.0.0.0/8")));
  CHECK(Cidr::Parse("10.0.0.0/8")->Overlaps(pod));
  CHECK_FALSE(pod.Overlaps(*Cidr::Parse("10.5.0.0/16")));
  CHECK_FALSE(pod.Overlaps(*Cidr::Parse("fd00::/8")));

  auto v6 = *Cidr::Parse("fd00:4::/64");
  CHECK(v6.Contains(*Cidr::Parse("fd00:4::/80")));
  CHECK_FALSE(v6.Contains(*Cidr::Parse("fd00:5::/80")));
}

TEST_CASE("Endpoint is numeric with a port, IPv6 in brackets") {
  CHECK(Endpoint::Parse("192.168.1.2:51820")->ToString() == "192.168.1.2:51820");
  CHECK(Endpoint::Parse("[2001:db8::2]:51821")->ToString() == "[2001:db8::2]:51821");
  CHECK(swg::FormatEndpoint(*IpAddr::Parse("fd00::1"), 7) == "[fd00::1]:7");
  for (const char* bad : {"192.168.1.2", "192.168.1.2:", "192.168.1.2:0", "192.168.1.2:65536", "2001:db8::2:51820",
                          "[192.168.1.2]:1", "node1:51820", "[2001:db8::2]", "[2001:db8::2]51820",
                          "192.168.1.2:+1", "192.168.1.2:051820"}) {
    CAPTURE(bad);
    CHECK_FALSE(Endpoint::Parse(bad));
  }
}
