#pragma once
// Small string helpers shared by the parsers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace swg {

std::string_view Trim(std::string_view s);
std::vector<std::string_view> Split(std::string_view s, char sep);
bool StartsWith(std::string_view s, std::string_view prefix);
// `s` with ASCII letters lower-cased (header names, keywords).
std::string ToLower(std::string_view s);
// An HTTP token (RFC 9110 5.6.2): a method or a header name, never empty.
bool IsHttpToken(std::string_view s);

// Parses a whole decimal unsigned number; nullopt on anything else (sign, spaces, overflow, empty).
std::optional<uint64_t> ParseUint(std::string_view s, uint64_t max = UINT64_MAX);

// Levenshtein distance, for "did you mean" suggestions.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a plausible typo, else "".
std::string ClosestMatch(std::string_view word, const std::vector<std::string_view>& candidates);

// `value` quoted as a JSON string (with escapes), for error messages that show the offending value.
std::string Quote(std::string_view value);

// `value` with the same escapes as Quote but without the quotes: control characters, DEL, newlines and
// backslashes escaped, for remote data shown to a person (status, /healthz), so that it cannot forge lines or
// send terminal escape sequences.
std::string EscapeControl(std::string_view value);

// Lower-case RFC 1123 DNS label: [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool IsDnsLabel(std::string_view s);
// RFC 1123 DNS subdomain, as Kubernetes object names such as Nodes': DNS labels joined by dots, 253 at most.
bool IsDnsSubdomain(std::string_view s);

}  // namespace swg
