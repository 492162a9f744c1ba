// json/parse (weir's nesting limit on JSON text) and the depth guards of json/schema: a
// document or schema nested far deeper than the limit is refused with one line, never a
// stack overflow.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "json/parse.hpp"
#include "json/schema.hpp"

using nlohmann::json;
using weir::json::kMaxDepth;

namespace {

std::string nested(int depth, const std::string& open = "[", const std::string& close = "]") {
  std::string s;
  for (int i = 0; i < depth; ++i)
    s += open;
  s += "1";
  for (int i = 0; i < depth; ++i)
    s += close;
  return s;
}

json parse(const std::string& s) {
  return weir::json::parse(s.data(), s.size());
}

}  // namespace

TEST_CASE("json parse: nesting up to the limit parses", "[json_limits]") {
  json v = parse(nested(kMaxDepth));
  int depth = 0;
  for (const json* p = &v; p->is_array(); p = &(*p)[0])
    ++depth;
  CHECK(depth == kMaxDepth);
  CHECK(parse(nested(kMaxDepth, "{\"a\":", "}")).is_object());
}

TEST_CASE("json parse: one level more, or 100,000, is refused with the offset", "[json_limits]") {
  CHECK_THROWS_WITH(parse(nested(kMaxDepth + 1)),
                    "JSON nested deeper than 1000 levels (at byte 1001)");
  CHECK_THROWS_WITH(parse(nested(100000, "{\"k\":", "}")),
                    "JSON nested deeper than 1000 levels (at byte 5001)");
}

TEST_CASE("json parse: brackets inside strings do not count", "[json_limits]") {
  std::string s = "[\"" + std::string(5000, '[') + "\\\"" + std::string(5000, '{') + "\"]";
  CHECK(parse(s)[0].get<std::string>().size() == 10001);
  CHECK(weir::json::too_deep_at(s.data(), s.size()) == -1);
}

TEST_CASE("json parse: invalid text gives one line with the byte offset", "[json_limits]") {
  CHECK_THROWS_WITH(parse("{\"a\": 1,}"), Catch::StartsWith("invalid JSON at byte 9: "));
  std::string error;
  json out;
  CHECK_FALSE(weir::json::parse("[1", 2, out, error));
  CHECK(error.find('\n') == std::string::npos);
}

TEST_CASE("json schema: a schema nested 100,000 levels deep is refused, not a crash",
          "[json_limits]") {
  json schema = true;
  for (int i = 0; i < 100000; ++i) {
    json outer = json::object();
    outer["not"] = std::move(schema);
    schema = std::move(outer);
  }
  CHECK(weir::json::deeper_than(schema, kMaxDepth));
  CHECK_THROWS_WITH(weir::json::SchemaValidator(schema), "schema nested deeper than 1000 levels");
  json instance = 1;
  for (int i = 0; i < 100000; ++i) {
    json outer = json::array();
    outer.push_back(std::move(instance));
    instance = std::move(outer);
  }
  CHECK_THROWS_WITH(weir::json::SchemaValidator(json{{"type", "array"}}).validate(instance),
                    "value nested deeper than 1000 levels");
}

TEST_CASE("json schema: an instance as deep as the limit validates under a recursive schema",
          "[json_limits]") {
  weir::json::SchemaValidator v(R"({"items": {"$ref": "#"}, "type": ["array", "integer"]})"_json);
  CHECK(v.validate(parse(nested(kMaxDepth))).empty());
}
