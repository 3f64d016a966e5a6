#pragma once
// Internal to k8s/: Nodes read from JSON text in one pass without a tree (see json_reader.h). A Node's JSON is
// about 12 KB of which the agent keeps about ten fields; jansson's tree of it took most of a worker's CPU.
// The result is ParseNode's on jansson's tree of the same text: the same NodeInfo, the same errors in the
// same order (ParseNode's order, not the document's, so a document's errors are reported once it has all
// been read).

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "k8s/node.h"
#include "k8s/parse.h"

namespace swg::k8s {

// A Node object as ParseNodeJson reads it. When the text itself is at fault (not JSON, a duplicate key,
// nested deeper than JsonReader::kMaxDepth), *malformed is set and the error reads "node: invalid JSON at
// byte N: ...": ParseNodeJson then lets jansson word it (and accept nesting up to jansson's own bound).
Result<NodeInfo> ReadNode(std::string_view json, const AnnotationFilter& filter, bool* malformed = nullptr);

// A watch event {"type": "ADDED" | "MODIFIED" | "DELETED", "object": {...}} whose "type" comes before its
// "object", read in one pass. nullopt for anything else (malformed text, another event type, no object,
// "type" after "object"): the caller decodes those, which are rare and small, with jansson.
struct NodeEvent {
  std::string type;
  std::optional<Result<NodeInfo>> node;  // always set
};
std::optional<NodeEvent> ReadNodeEvent(std::string_view json, const AnnotationFilter& filter);

}  // namespace swg::k8s
