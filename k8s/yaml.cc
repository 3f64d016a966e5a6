#include "k8s/yaml.h"

#include <yaml.h>

#include <memory>
#include <optional>

namespace swg::k8s {
namespace {

constexpr size_t kMaxDepth = 64;
constexpr size_t kMaxNodes = 1u << 20;

struct ParserDeleter {
  void operator()(yaml_parser_t* p) const {
    yaml_parser_delete(p);
    delete p;
  }
};

struct EventGuard {
  yaml_event_t event;
  ~EventGuard() { yaml_event_delete(&event); }
};

std::string At(size_t line) { return "line " + std::to_string(line); }

}  // namespace

const YamlNode* YamlNode::Get(std::string_view key) const {
  if (kind != Kind::kMapping) return nullptr;
  for (size_t i = 0; i < keys.size() && i < items.size(); ++i) {
    if (keys[i] == key) return &items[i];
  }
  return nullptr;
}

Result<YamlNode> ParseYaml(std::string_view text) {
  std::unique_ptr<yaml_parser_t, ParserDeleter> parser(new yaml_parser_t);
  if (!yaml_parser_initialize(parser.get())) {
    delete parser.release();
    return Error{"yaml: cannot initialise the parser"};
  }
  yaml_parser_set_input_string(parser.get(), reinterpret_cast<const unsigned char*>(text.data()),
                               text.size());

  std::vector<YamlNode> stack;           // open collections
  std::vector<std::string> pending_key;  // per open mapping: the key waiting for its value
  std::vector<bool> has_key;
  std::optional<YamlNode> root;
  size_t count = 0;

  // Adds a finished node to its parent (or makes it the root).
  auto add = [&](YamlNode node) -> Status {
    if (++count > kMaxNodes) return Error{"yaml: document too large"};
    if (stack.empty()) {
      root = std::move(node);
      return Ok();
    }
    YamlNode& parent = stack.back();
    if (parent.kind == YamlNode::Kind::kSequence) {
      parent.items.push_back(std::move(node));
      return Ok();
    }
    if (!has_key.back()) {
      if (node.kind != YamlNode::Kind::kScalar)
        return Error{"yaml: " + At(node.line) + ": mapping keys must be scalars"};
      pending_key.back() = std::move(node.scalar);
      has_key.back() = true;
      return Ok();
    }
    parent.keys.push_back(std::move(pending_key.back()));
    parent.items.push_back(std::move(node));
    has_key.back() = false;
    return Ok();
  };

  while (true) {
    EventGuard ev;
    if (!yaml_parser_parse(parser.get(), &ev.event)) {
      std::string problem = parser->problem ? parser->problem : "syntax error";
      return Error{"yaml: " + At(parser->problem_mark.line + 1) + " column " +
                   std::to_string(parser->problem_mark.column + 1) + ": " + problem};
    }
    const size_t line = ev.event.start_mark.line + 1;
    switch (ev.event.type) {
      case YAML_STREAM_END_EVENT:
      case YAML_DOCUMENT_END_EVENT:
        if (!root) return Error{"yaml: the document is empty"};
        return std::move(*root);
      case YAML_ALIAS_EVENT:
        return Error{"yaml: " + At(line) + ": aliases are not supported"};
      case YAML_SCALAR_EVENT: {
        YamlNode node;
        node.scalar.assign(reinterpret_cast<const char*>(ev.event.data.scalar.value),
                           ev.event.data.scalar.length);
        node.plain = ev.event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        node.line = line;
        if (Status s = add(std::move(node)); !s.ok()) return std::move(s).error();
        break;
      }
      case YAML_SEQUENCE_START_EVENT:
      case YAML_MAPPING_START_EVENT: {
        if (stack.size() >= kMaxDepth) return Error{"yaml: " + At(line) + ": nested too deeply"};
        YamlNode node;
        node.kind =
            ev.event.type == YAML_SEQUENCE_START_EVENT ? YamlNode::Kind::kSequence : YamlNode::Kind::kMapping;
        node.line = line;
        stack.push_back(std::move(node));
        pending_key.emplace_back();
        has_key.push_back(false);
        break;
      }
      case YAML_SEQUENCE_END_EVENT:
      case YAML_MAPPING_END_EVENT: {
        YamlNode node = std::move(stack.back());
        stack.pop_back();
        pending_key.pop_back();
        has_key.pop_back();
        if (Status s = add(std::move(node)); !s.ok()) return std::move(s).error();
        break;
      }
      default:
        break;
    }
  }
}

}  // namespace swg::k8s
