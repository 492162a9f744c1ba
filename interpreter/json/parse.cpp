// JSON text with weir's nesting limit (see parse.hpp).
#include "json/parse.hpp"

#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

namespace weir::json {

long too_deep_at(const char* text, size_t len) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < len; ++i) {
    char c = text[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return static_cast<long>(i);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return -1;
}

bool parse(const char* text, size_t len, nlohmann::json& out, std::string& error) {
  if (long at = too_deep_at(text, len); at >= 0) {
    error = "JSON nested deeper than " + std::to_string(kMaxDepth) + " levels (at byte " +
            std::to_string(at + 1) + ")";
    return false;
  }
  try {
    out = nlohmann::json::parse(text, text + len);
    return true;
  } catch (const nlohmann::json::parse_error& e) {
    // e.what() is "[json.exception.parse_error.101] parse error at line 1, column 2: …"
    std::string what = e.what();
    auto colon = what.find(": ");
    error = "invalid JSON at byte " + std::to_string(e.byte) + ": " +
            (colon == std::string::npos ? what : what.substr(colon + 2));
    return false;
  } catch (const nlohmann::json::out_of_range& e) {
    // 406: "[json.exception.out_of_range.406] number overflow parsing '1e99999'" — a number
    // beyond a double (±1.8e308), which would otherwise be inf or garbage
    std::string what = e.what();
    auto open = what.find('\'');
    auto close = what.rfind('\'');
    std::string number =
        open != std::string::npos && close > open ? what.substr(open + 1, close - open - 1) : "";
    std::string at;
    if (!number.empty()) {
      auto pos = std::string_view(text, len).find(number);
      if (pos != std::string_view::npos) at = " at byte " + std::to_string(pos + 1);
    }
    if (number.size() > 40) number = number.substr(0, 37) + "...";
    error = "number out of range" + at + ": " + (number.empty() ? "a number" : number) +
            " is beyond what a double holds (about ±1.8e308)";
    return false;
  }
}

bool deeper_than(const nlohmann::json& value, int max) {
  std::vector<std::pair<const nlohmann::json*, int>> todo{{&value, 0}};
  while (!todo.empty()) {
    auto [v, depth] = todo.back();
    todo.pop_back();
    if (!v->is_structured()) continue;
    if (depth >= max) return true;
    for (const auto& item : *v)
      todo.emplace_back(&item, depth + 1);
  }
  return false;
}

nlohmann::json parse(const char* text, size_t len) {
  nlohmann::json value;
  std::string error;
  if (!parse(text, len, value, error)) throw std::invalid_argument(error);
  return value;
}

}  // namespace weir::json
