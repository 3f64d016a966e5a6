#pragma once
// Command-line flags in the style of Go's flag package, which the original used: "-name value",
// "-name=value", "--name ...", booleans as "-name" or "-name=false"; parsing stops at the first argument that
// is not a flag, or after "--". Each flag may also be read from an environment variable; a flag given on the
// command line wins over the environment, which wins over the default.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace swg {

class FlagSet {
 public:
  enum class Source { kDefault, kEnv, kFlag };

  explicit FlagSet(std::string program) : program_(std::move(program)) {}

  void String(const std::string& name, const std::string& env, const std::string& def, const std::string& help);
  void Bool(const std::string& name, const std::string& help);
  void Hidden(const std::string& name);  // parsed, not listed in Usage()

  // Parses `args` (without argv[0]). Returns the remaining positional arguments, or a one-line usage error.
  // `getenv` is injectable for tests.
  Result<std::vector<std::string>> Parse(const std::vector<std::string>& args,
                                         const std::function<const char*(const char*)>& getenv);

  const std::string& Get(const std::string& name) const;
  bool GetBool(const std::string& name) const;
  Source SourceOf(const std::string& name) const;
  std::string Usage() const;  // like Go's flag.PrintDefaults

 private:
  struct Flag {
    std::string env, value, def, help;
    bool is_bool = false, hidden = false;
    Source source = Source::kDefault;
  };
  std::string program_;
  std::map<std::string, Flag> flags_;
};

}  // namespace swg
