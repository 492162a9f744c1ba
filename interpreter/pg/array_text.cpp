// Array literal parsing and formatting (see array_text.hpp). The grammar follows
// PostgreSQL's array_in: optional dimension decoration, braces, delimiter-separated elements,
// double-quoted elements with backslash escapes, unquoted NULL meaning SQL NULL.
#include "pg/array_text.hpp"

#include <cctype>
#include <cstring>

namespace weir::pg {

namespace {

class Parser {
 public:
  Parser(const std::string& s, char delim) : s_(s), delim_(delim) {}

  bool parse(ArrayNode& out, std::string& error) {
    skip_space();
    if (peek() == '[') {  // "[1:2]={...}": bounds are dropped, Lua sequences start at 1
      auto eq = s_.find('=', pos_);
      if (eq == std::string::npos) return fail("missing '=' after array dimensions", error);
      pos_ = eq + 1;
      skip_space();
    }
    if (!list(out, error, 0)) return false;
    skip_space();
    if (pos_ != s_.size()) return fail("junk after closing brace", error);
    return true;
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])))
      ++pos_;
  }
  bool fail(const char* what, std::string& error) {
    error = std::string("malformed array literal: ") + what + " at offset " + std::to_string(pos_);
    return false;
  }

  bool list(ArrayNode& out, std::string& error, int depth) {
    if (depth > 32) return fail("too deeply nested", error);
    if (peek() != '{') return fail("expected '{'", error);
    ++pos_;
    out = ArrayNode{};
    skip_space();
    if (peek() == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      skip_space();
      ArrayNode item;
      if (peek() == '{') {
        if (!list(item, error, depth + 1)) return false;
      } else if (!element(item, error)) {
        return false;
      }
      out.items.push_back(std::move(item));
      skip_space();
      char c = peek();
      if (c == delim_) {
        ++pos_;
        continue;
      }
      if (c == '}') {
        ++pos_;
        return true;
      }
      return fail("expected delimiter or '}'", error);
    }
  }

  bool element(ArrayNode& out, std::string& error) {
    if (peek() == '"') {
      ++pos_;
      std::string text;
      for (;;) {
        if (pos_ >= s_.size()) return fail("unterminated quoted element", error);
        char c = s_[pos_++];
        if (c == '"') break;
        if (c == '\\') {
          if (pos_ >= s_.size()) return fail("dangling backslash", error);
          c = s_[pos_++];
        }
        text.push_back(c);
      }
      out = ArrayNode::value(std::move(text));
      return true;
    }
    std::string text;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == delim_ || c == '}') break;
      if (c == '{' || c == '"') return fail("unexpected character in unquoted element", error);
      if (c == '\\') {
        ++pos_;
        if (pos_ >= s_.size()) return fail("dangling backslash", error);
        c = s_[pos_];
      }
      text.push_back(c);
      ++pos_;
    }
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
      text.pop_back();
    if (text.empty()) return fail("empty element", error);
    if (text.size() == 4 && strncasecmp(text.c_str(), "NULL", 4) == 0) {
      out = ArrayNode::null();
    } else {
      out = ArrayNode::value(std::move(text));
    }
    return true;
  }

  const std::string& s_;
  char delim_;
  size_t pos_ = 0;
};

void format_into(const ArrayNode& node, char delim, std::string& out) {
  switch (node.type) {
    case ArrayNode::Type::Null:
      out += "NULL";
      return;
    case ArrayNode::Type::Value:
      out.push_back('"');
      for (char c : node.text) {
        if (c == '"' || c == '\\') out.push_back('\\');
        out.push_back(c);
      }
      out.push_back('"');
      return;
    case ArrayNode::Type::List:
      out.push_back('{');
      for (size_t i = 0; i < node.items.size(); ++i) {
        if (i) out.push_back(delim);
        format_into(node.items[i], delim, out);
      }
      out.push_back('}');
      return;
  }
}

}  // namespace

bool parse_array_text(const std::string& literal, char delim, ArrayNode& out, std::string& error) {
  return Parser(literal, delim).parse(out, error);
}

std::string format_array_text(const ArrayNode& node, char delim) {
  std::string out;
  format_into(node, delim, out);
  return out;
}

}  // namespace weir::pg
