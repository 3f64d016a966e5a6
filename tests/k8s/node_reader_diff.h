#pragma once
// The differential check of the one-pass Node reader (k8s/node_reader.h) against jansson's tree and ParseNode.

#include <string_view>

#include "k8s/parse.h"

namespace swg::test {

// Runs `json` through ParseNodeJsonTree (jansson), ReadNode and ParseNodeJson with `filter`, and as the
// object of a MODIFIED watch event, with doctest CHECKs that all agree:
// ParseNodeJson and the watch stream exactly (result or message); ReadNode on the result and, where jansson's
// error is about a field rather than the text, on the message. Returns false when jansson refused the text.
bool CheckSameAsJansson(std::string_view json, const k8s::AnnotationFilter& filter);

}  // namespace swg::test
