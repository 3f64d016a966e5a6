#pragma once
// A small YAML document tree built with libyaml, enough for kubeconfig files (JSON parses as YAML too).
// Anchors and aliases are refused; only the first document is read.

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace swg::k8s {

struct YamlNode {
  enum class Kind { kScalar, kSequence, kMapping };
  Kind kind = Kind::kScalar;
  std::string scalar;
  bool plain = false;             // an unquoted scalar (so `null`, `~`, `true` have their YAML meaning)
  std::vector<YamlNode> items;    // kSequence; for a kMapping, the values of `keys` (same order)
  std::vector<std::string> keys;  // kMapping (a pair<string, YamlNode> would need YamlNode complete here)
  size_t line = 0;                // 1-based, for error messages

  bool IsNull() const {
    return kind == Kind::kScalar && plain &&
           (scalar.empty() || scalar == "~" || scalar == "null" || scalar == "Null" || scalar == "NULL");
  }
  const YamlNode* Get(std::string_view key) const;  // a mapping's value, or nullptr
};

Result<YamlNode> ParseYaml(std::string_view text);

}  // namespace swg::k8s
