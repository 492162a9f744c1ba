// PostgreSQL array literals in text form: parsing what the server sends ("{1,NULL,\"a b\"}",
// "{{1,2},{3,4}}", "[0:1]={7,8}") into a tree, and formatting a tree back into a literal.
// Pure string work, no connection needed; errors are reported by return value, never thrown.
#pragma once

#include <string>
#include <vector>

namespace weir::pg {

struct ArrayNode {
  enum class Type { Null, Value, List } type = Type::List;
  std::string text;              // the unquoted element text when type == Value
  std::vector<ArrayNode> items;  // the sub-array elements when type == List

  static ArrayNode null() { return ArrayNode{Type::Null, {}, {}}; }
  static ArrayNode value(std::string s) { return ArrayNode{Type::Value, std::move(s), {}}; }
};

// Parses an array literal as PostgreSQL prints it. Returns false and sets `error` on bad input.
bool parse_array_text(const std::string& literal, char delim, ArrayNode& out, std::string& error);

// Formats a tree as an array literal the server accepts. Values are always double-quoted
// (so any text, including delimiters, braces and the word NULL, survives); Null becomes NULL.
std::string format_array_text(const ArrayNode& node, char delim = ',');

}  // namespace weir::pg
