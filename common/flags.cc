#include "common/flags.h"

#include "common/strings.h"

namespace swg {

void FlagSet::String(const std::string& name, const std::string& env, const std::string& def,
                     const std::string& help) {
  Flag f;
  f.env = env;
  f.value = def;
  f.def = def;
  f.help = help;
  flags_[name] = f;
}

void FlagSet::Bool(const std::string& name, const std::string& help) {
  Flag f;
  f.value = "false";
  f.def = "false";
  f.help = help;
  f.is_bool = true;
  flags_[name] = f;
}

void FlagSet::Hidden(const std::string& name) { flags_.at(name).hidden = true; }

Result<std::vector<std::string>> FlagSet::Parse(const std::vector<std::string>& args,
                                                const std::function<const char*(const char*)>& getenv) {
  for (auto& [name, f] : flags_) {
    if (f.env.empty()) continue;
    if (const char* v = getenv(f.env.c_str()); v != nullptr && *v != '\0') {
      f.value = v;
      f.source = Source::kEnv;
    }
  }
  size_t i = 0;
  for (; i < args.size(); ++i) {
    std::string_view a = args[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;
    a.remove_prefix(a[1] == '-' ? 2 : 1);
    if (a.empty() || a[0] == '-' || a[0] == '=') return Error{"bad flag syntax: " + args[i], 2};
    std::string name(a.substr(0, a.find('=')));
    std::optional<std::string> inline_value;
    if (size_t eq = a.find('='); eq != std::string_view::npos) inline_value = std::string(a.substr(eq + 1));
    auto it = flags_.find(name);
    if (it == flags_.end()) {
      if (name == "h" || name == "help") return Error{"help requested", 0};
      return Error{"flag provided but not defined: -" + name, 2};
    }
    Flag& f = it->second;
    if (f.is_bool) {
      std::string v = inline_value.value_or("true");
      if (v == "true" || v == "1" || v == "t" || v == "TRUE" || v == "True") {
        f.value = "true";
      } else if (v == "false" || v == "0" || v == "f" || v == "FALSE" || v == "False") {
        f.value = "false";
      } else {
        return Error{"invalid boolean value " + Quote(v) + " for flag -" + name, 2};
      }
    } else if (inline_value) {
      f.value = *inline_value;
    } else {
      if (i + 1 >= args.size()) return Error{"flag needs an argument: -" + name, 2};
      f.value = args[++i];
    }
    f.source = Source::kFlag;
  }
  return std::vector<std::string>(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
}

const std::string& FlagSet::Get(const std::string& name) const { return flags_.at(name).value; }

bool FlagSet::GetBool(const std::string& name) const { return flags_.at(name).value == "true"; }

FlagSet::Source FlagSet::SourceOf(const std::string& name) const { return flags_.at(name).source; }

std::string FlagSet::Usage() const {
  std::string out;
  for (const auto& [name, f] : flags_) {
    if (f.hidden) continue;
    out += "  -" + name + (f.is_bool ? "" : " string") + "\n    \t" + f.help;
    if (!f.is_bool && !f.def.empty()) out += " (default " + Quote(f.def) + ")";
    if (!f.env.empty()) out += " [$" + f.env + "]";
    out += "\n";
  }
  return out;
}

}  // namespace swg
