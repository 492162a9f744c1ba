// json/schema (draft-07 validation) on hand-written schemas: error pointers and keywords,
// $ref resolution and the schema errors that throw. The official test suite runs through
// json.validate in tests/lua/json_schema_suite_test.lua.
#include <catch2/catch.hpp>

#include "json/schema.hpp"

using nlohmann::json;
using weir::json::SchemaError;
using weir::json::SchemaValidator;

namespace {

std::vector<SchemaError> check(const json& schema, const json& instance) {
  return SchemaValidator(schema).validate(instance);
}

}  // namespace

TEST_CASE("json schema: valid instances give no errors", "[json_schema]") {
  json schema = R"({"type": "object", "required": ["id"],
                    "properties": {"id": {"type": "integer", "minimum": 1}}})"_json;
  CHECK(check(schema, R"({"id": 3})"_json).empty());
  CHECK(check(schema, R"({"id": 3.0})"_json).empty());  // 3.0 is an integer in draft-07
  CHECK(check(true, 42).empty());
}

TEST_CASE("json schema: errors name the pointer and keyword", "[json_schema]") {
  json schema = R"({
    "type": "object",
    "required": ["name", "tags"],
    "properties": {
      "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
      "a/b": {"const": 1}
    },
    "additionalProperties": false
  })"_json;
  auto errors = check(schema, R"({"tags": ["ok", 7, "long"], "a/b": 2, "extra": true})"_json);
  REQUIRE(errors.size() == 5);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& e : errors)
    got.emplace_back(e.pointer, e.keyword);
  std::sort(got.begin(), got.end());
  CHECK(got == std::vector<std::pair<std::string, std::string>>{
                   {"", "required"},
                   {"/a~1b", "const"},
                   {"/extra", "additionalProperties"},
                   {"/tags/1", "type"},
                   {"/tags/2", "maxLength"},
               });
  for (const auto& e : errors)
    CHECK_FALSE(e.message.empty());
}

TEST_CASE("json schema: string lengths count code points", "[json_schema]") {
  CHECK(check(R"({"maxLength": 2})"_json, "\xc3\xa9\xc3\xa9").empty());  // "éé": 4 bytes
  CHECK(check(R"({"minLength": 3})"_json, "\xc3\xa9\xc3\xa9").size() == 1);
}

TEST_CASE("json schema: $ref through pointers, $id and recursion", "[json_schema]") {
  json schema = R"({
    "$id": "http://example.com/root.json",
    "definitions": {
      "node": {"type": "object", "properties": {"children": {"type": "array",
               "items": {"$ref": "#/definitions/node"}}, "v": {"$ref": "item.json"}}},
      "item": {"$id": "item.json", "type": "integer"},
      "tilde~slash/": {"type": "string"}
    },
    "properties": {"root": {"$ref": "#/definitions/node"},
                   "name": {"$ref": "#/definitions/tilde~0slash~1"}}
  })"_json;
  SchemaValidator v(schema);
  CHECK(v.validate(R"({"root": {"children": [{"v": 1}, {"children": []}]}, "name": "x"})"_json)
            .empty());
  auto errors = v.validate(R"({"root": {"children": [{"v": "x"}]}, "name": 1})"_json);
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].pointer + errors[1].pointer == "/name/root/children/0/v");
}

TEST_CASE("json schema: formats", "[json_schema]") {
  json schema = R"({"properties": {"at": {"format": "date-time"}, "id": {"format": "uuid"},
                    "mail": {"format": "email"}}})"_json;
  CHECK(
      check(schema, R"({"at": "2024-02-29T10:00:00Z", "id": "123e4567-e89b-12d3-a456-426614174000",
                          "mail": "a@example.com"})"_json)
          .empty());
  auto errors = check(schema, R"({"at": "2023-02-29T10:00:00Z", "id": "123", "mail": "no"})"_json);
  CHECK(errors.size() == 3);
  for (const auto& e : errors)
    CHECK(e.keyword == "format");
}

TEST_CASE("json schema: unusable schemas throw", "[json_schema]") {
  CHECK_THROWS_AS(SchemaValidator(json(3)), std::invalid_argument);
  CHECK_THROWS_AS(SchemaValidator(R"({"pattern": "("})"_json), std::invalid_argument);
  CHECK_THROWS_AS(SchemaValidator(R"({"$ref": "#/definitions/missing"})"_json),
                  std::invalid_argument);
  SchemaValidator loop(R"({"$ref": "#"})"_json);  // recurses without consuming the instance
  CHECK_THROWS_AS(loop.validate(1), std::invalid_argument);
}
