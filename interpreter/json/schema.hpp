// JSON Schema draft-07 validation on nlohmann/json, in plain C++ (no Lua).
//
// SchemaValidator compiles a schema once (its $ids, so $ref can resolve local JSON pointers,
// plain-name anchors and $id-based URIs within the document, plus the draft-07 meta-schema
// http://json-schema.org/draft-07/schema) and then validates any number of instances.
// validate() returns every failure it finds: the JSON pointer of the failing value ("" for the
// root), the keyword that failed and a readable message; an empty vector means valid.
// An unusable schema (not an object or boolean, a bad regex, an unresolvable $ref, $ref
// recursion that never consumes the instance) throws std::invalid_argument; so does a pattern
// whose match gives up at a limit (json/regex.hpp), naming the keyword and the pointer.
// Formats checked: date-time, date, time, email, uuid, ipv4, ipv6, hostname, uri, regex; others
// pass.
// Nothing here recurses per character of a string: formats are parsed by hand, patterns run
// on PCRE2 with limits, so a string of any length is safe to validate.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "json/regex.hpp"

namespace weir::json {

struct SchemaError {
  std::string pointer;  // JSON pointer of the failing value, "" for the root
  std::string keyword;  // e.g. "type", "required", "$ref"
  std::string message;
};

class SchemaValidator {
 public:
  explicit SchemaValidator(const nlohmann::json& schema);
  std::vector<SchemaError> validate(const nlohmann::json& instance) const;

 private:
  using Json = nlohmann::json;
  using Errors = std::vector<SchemaError>;

  void scan(const Json& schema, const std::string& base, int depth = 0);
  // Returns the schema a $ref names and the base URI in effect there.
  std::pair<const Json*, std::string> resolve_ref(const std::string& ref,
                                                  const std::string& base) const;
  void compile(const std::string& pattern);
  // Whether `pattern` matches `text`; a match that gives up at a limit (json/regex.hpp) throws
  // std::invalid_argument naming the keyword and the instance's pointer.
  bool search(const std::string& text, const std::string& pattern, const char* keyword,
              const std::string& pointer) const;

  void eval(const Json& schema, const Json& instance, const std::string& base,
            const std::string& pointer, Errors& out, int depth) const;
  void eval_object_keywords(const Json& schema, const Json& instance, const std::string& base,
                            const std::string& pointer, Errors& out, int depth) const;
  void eval_array_keywords(const Json& schema, const Json& instance, const std::string& base,
                           const std::string& pointer, Errors& out, int depth) const;
  bool passes(const Json& schema, const Json& instance, const std::string& base,
              const std::string& pointer, int depth) const;

  std::unique_ptr<Json> root_;  // owned, so the node pointers below stay valid across moves
  // Resource URIs (without fragment) and plain-name anchors (uri#name) → schema node.
  std::unordered_map<std::string, const Json*> ids_;
  // Base URI in effect at each scanned schema node, before its own $id applies.
  std::unordered_map<const Json*, std::string> bases_;
  std::map<std::string, Regex> regexes_;
};

}  // namespace weir::json
