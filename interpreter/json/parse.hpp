// weir's nesting limit on JSON: text → nlohmann::json for every JSON document weir reads from
// a script or a server (json.decode, json.validate's schema text, json/jsonb columns), and a
// non-recursive depth check of values built otherwise (json/schema.cpp).
//
// A document nested deeper than kMaxDepth arrays/objects is refused before it is parsed:
// nlohmann's parser does not recurse, but everything that walks the value afterwards does
// (conversion to Lua tables, schema validation), and 100,000 levels would overflow the C
// stack. The same limit bounds json.encode (lua/convert.cpp), so what decodes re-encodes.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace weir::json {

constexpr int kMaxDepth = 1000;

// The byte offset (0-based) of the bracket that opens level kMaxDepth + 1, or -1 when the
// text nests no deeper than kMaxDepth. Brackets inside strings do not count.
long too_deep_at(const char* text, size_t len);

// Parses `text`; throws std::invalid_argument with one line ("invalid JSON at byte N: …",
// "JSON nested deeper than 1000 levels (at byte N)", or "number out of range at byte N: 1e400 …"
// for a number beyond a double).
nlohmann::json parse(const char* text, size_t len);

// Non-throwing twin: false with `error` set as parse() would throw it.
bool parse(const char* text, size_t len, nlohmann::json& out, std::string& error);

// True when `value` nests arrays/objects more than `max` levels deep. Walks without recursion,
// so it is safe on any value, however it was built.
bool deeper_than(const nlohmann::json& value, int max);

}  // namespace weir::json
