// JSON Schema draft-07 validation (see schema.hpp for the contract).
//
// $ref follows draft-07: a schema with $ref ignores its other keywords (including $id).
// URIs are resolved with RFC 3986 reference resolution against the nearest $id; the schema
// given to the constructor is also reachable as "" (no base), so "#/definitions/x" works
// without any $id. Errors from subschemas keep their own keyword and pointer; combinators
// that need a yes/no answer (anyOf, oneOf, not, contains, if) evaluate into a scratch list.
#include "json/schema.hpp"

#include "json/parse.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <stdexcept>

namespace weir::json {

namespace {

using Json = nlohmann::json;

// Deeper than this the schema is taken to recurse through $ref without consuming the instance.
// Room for an instance as deep as json::kMaxDepth (1000) under a recursive schema (2-3 levels
// per instance level); each level takes about 1 KB of C stack, so this stays near 3 MB of the
// usual 8 MB.
constexpr int kMaxSchemaDepth = 3000;
constexpr int kMaxJsonDepth = weir::json::kMaxDepth;

// The draft-07 meta-schema, so {"$ref": "http://json-schema.org/draft-07/schema#"} resolves.
const char* const kDraft07MetaSchema =
    R"json({"$schema":"http://json-schema.org/draft-07/schema#","$id":"http://json-schema.org/draft-0)json"
    R"json(7/schema#","title":"Core schema meta-schema","definitions":{"schemaArray":{"type":"array",)json"
    R"json("minItems":1,"items":{"$ref":"#"}},"nonNegativeInteger":{"type":"integer","minimum":0},"no)json"
    R"json(nNegativeIntegerDefault0":{"allOf":[{"$ref":"#/definitions/nonNegativeInteger"},{"default")json"
    R"json(:0}]},"simpleTypes":{"enum":["array","boolean","integer","null","number","object","string")json"
    R"json(]},"stringArray":{"type":"array","items":{"type":"string"},"uniqueItems":true,"default":[])json"
    R"json(}},"type":["object","boolean"],"properties":{"$id":{"type":"string","format":"uri-referenc)json"
    R"json(e"},"$schema":{"type":"string","format":"uri"},"$ref":{"type":"string","format":"uri-refer)json"
    R"json(ence"},"$comment":{"type":"string"},"title":{"type":"string"},"description":{"type":"strin)json"
    R"json(g"},"default":true,"readOnly":{"type":"boolean","default":false},"examples":{"type":"array)json"
    R"json(","items":true},"multipleOf":{"type":"number","exclusiveMinimum":0},"maximum":{"type":"num)json"
    R"json(ber"},"exclusiveMaximum":{"type":"number"},"minimum":{"type":"number"},"exclusiveMinimum":)json"
    R"json({"type":"number"},"maxLength":{"$ref":"#/definitions/nonNegativeInteger"},"minLength":{"$r)json"
    R"json(ef":"#/definitions/nonNegativeIntegerDefault0"},"pattern":{"type":"string","format":"regex)json"
    R"json("},"additionalItems":{"$ref":"#"},"items":{"anyOf":[{"$ref":"#"},{"$ref":"#/definitions/sc)json"
    R"json(hemaArray"}],"default":true},"maxItems":{"$ref":"#/definitions/nonNegativeInteger"},"minIt)json"
    R"json(ems":{"$ref":"#/definitions/nonNegativeIntegerDefault0"},"uniqueItems":{"type":"boolean",")json"
    R"json(default":false},"contains":{"$ref":"#"},"maxProperties":{"$ref":"#/definitions/nonNegative)json"
    R"json(Integer"},"minProperties":{"$ref":"#/definitions/nonNegativeIntegerDefault0"},"required":{)json"
    R"json("$ref":"#/definitions/stringArray"},"additionalProperties":{"$ref":"#"},"definitions":{"ty)json"
    R"json(pe":"object","additionalProperties":{"$ref":"#"},"default":{}},"properties":{"type":"objec)json"
    R"json(t","additionalProperties":{"$ref":"#"},"default":{}},"patternProperties":{"type":"object",)json"
    R"json("additionalProperties":{"$ref":"#"},"propertyNames":{"format":"regex"},"default":{}},"depe)json"
    R"json(ndencies":{"type":"object","additionalProperties":{"anyOf":[{"$ref":"#"},{"$ref":"#/defini)json"
    R"json(tions/stringArray"}]}},"propertyNames":{"$ref":"#"},"const":true,"enum":{"type":"array","i)json"
    R"json(tems":true},"type":{"anyOf":[{"$ref":"#/definitions/simpleTypes"},{"type":"array","items":)json"
    R"json({"$ref":"#/definitions/simpleTypes"},"minItems":1,"uniqueItems":true}]},"format":{"type":")json"
    R"json(string"},"contentMediaType":{"type":"string"},"contentEncoding":{"type":"string"},"if":{"$)json"
    R"json(ref":"#"},"then":{"$ref":"#"},"else":{"$ref":"#"},"allOf":{"$ref":"#/definitions/schemaArr)json"
    R"json(ay"},"anyOf":{"$ref":"#/definitions/schemaArray"},"oneOf":{"$ref":"#/definitions/schemaArr)json"
    R"json(ay"},"not":{"$ref":"#"}},"default":true})json";

const Json& draft07_meta_schema() {
  static const Json meta = Json::parse(kDraft07MetaSchema);
  return meta;
}

// --- URIs (RFC 3986) ------------------------------------------------------------------------

struct Uri {
  std::string scheme, authority, path, query, fragment;
  bool has_scheme = false, has_authority = false, has_query = false, has_fragment = false;
};

// RFC 3986 appendix B's split, by hand: scheme ":" (before any of "/?#"), "//" authority,
// path, "?" query, "#" fragment.
Uri parse_uri(const std::string& s) {
  Uri u;
  size_t at = 0;
  size_t colon = s.find_first_of(":/?#");
  if (colon != std::string::npos && colon > 0 && s[colon] == ':') {
    u.has_scheme = true;
    u.scheme = s.substr(0, colon);
    at = colon + 1;
  }
  if (s.compare(at, 2, "//") == 0) {
    size_t end = s.find_first_of("/?#", at + 2);
    if (end == std::string::npos) end = s.size();
    u.has_authority = true;
    u.authority = s.substr(at + 2, end - at - 2);
    at = end;
  }
  size_t end = s.find_first_of("?#", at);
  if (end == std::string::npos) end = s.size();
  u.path = s.substr(at, end - at);
  at = end;
  if (at < s.size() && s[at] == '?') {
    end = s.find('#', at);
    if (end == std::string::npos) end = s.size();
    u.has_query = true;
    u.query = s.substr(at + 1, end - at - 1);
    at = end;
  }
  if (at < s.size() && s[at] == '#') {
    u.has_fragment = true;
    u.fragment = s.substr(at + 1);
  }
  return u;
}

std::string remove_dot_segments(std::string in) {
  std::string out;
  while (!in.empty()) {
    if (in.rfind("../", 0) == 0) {
      in.erase(0, 3);
    } else if (in.rfind("./", 0) == 0) {
      in.erase(0, 2);
    } else if (in.rfind("/./", 0) == 0) {
      in.erase(0, 2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.rfind("/../", 0) == 0 || in == "/..") {
      in = in == "/.." ? "/" : in.substr(3);
      auto slash = out.rfind('/');
      out.erase(slash == std::string::npos ? 0 : slash);
    } else if (in == "." || in == "..") {
      in.clear();
    } else {
      auto next = in.find('/', in[0] == '/' ? 1 : 0);
      out += in.substr(0, next);
      in.erase(0, next == std::string::npos ? in.size() : next);
    }
  }
  return out;
}

std::string to_string(const Uri& u) {
  std::string s;
  if (u.has_scheme) s += u.scheme + ":";
  if (u.has_authority) s += "//" + u.authority;
  s += u.path;
  if (u.has_query) s += "?" + u.query;
  if (u.has_fragment) s += "#" + u.fragment;
  return s;
}

std::string resolve_uri(const std::string& base_text, const std::string& ref_text) {
  Uri b = parse_uri(base_text), r = parse_uri(ref_text), t;
  if (r.has_scheme) {
    t = r;
    t.path = remove_dot_segments(r.path);
  } else {
    if (r.has_authority) {
      t.has_authority = true;
      t.authority = r.authority;
      t.path = remove_dot_segments(r.path);
      t.has_query = r.has_query;
      t.query = r.query;
    } else {
      if (r.path.empty()) {
        t.path = b.path;
        t.has_query = r.has_query || b.has_query;
        t.query = r.has_query ? r.query : b.query;
      } else {
        if (r.path[0] == '/') {
          t.path = remove_dot_segments(r.path);
        } else if (b.has_authority && b.path.empty()) {
          t.path = remove_dot_segments("/" + r.path);
        } else {
          auto slash = b.path.rfind('/');
          std::string merged =
              (slash == std::string::npos ? "" : b.path.substr(0, slash + 1)) + r.path;
          t.path = (b.has_scheme || b.has_authority) ? remove_dot_segments(merged) : merged;
        }
        t.has_query = r.has_query;
        t.query = r.query;
      }
      t.has_authority = b.has_authority;
      t.authority = b.authority;
    }
    t.has_scheme = b.has_scheme;
    t.scheme = b.scheme;
  }
  t.has_fragment = r.has_fragment;
  t.fragment = r.fragment;
  return to_string(t);
}

// Splits "doc#frag" into its document URI and fragment.
std::pair<std::string, std::string> split_fragment(const std::string& uri) {
  auto hash = uri.find('#');
  if (hash == std::string::npos) return {uri, ""};
  return {uri.substr(0, hash), uri.substr(hash + 1)};
}

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string escape_pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape_pointer_token(const std::string& token) {
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size() && (token[i + 1] == '0' || token[i + 1] == '1')) {
      out += token[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      out += token[i];
    }
  }
  return out;
}

// Walks a JSON pointer ("/a/0/b") from `node`; nullptr when it names nothing.
const Json* follow_pointer(const Json* node, const std::string& pointer) {
  size_t pos = 0;
  while (node && pos < pointer.size()) {
    size_t next = pointer.find('/', pos + 1);
    std::string token = unescape_pointer_token(
        pointer.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1));
    pos = next == std::string::npos ? pointer.size() : next;
    if (node->is_object()) {
      auto it = node->find(token);
      node = it == node->end() ? nullptr : &*it;
    } else if (node->is_array()) {
      if (token.empty() || token.find_first_not_of("0123456789") != std::string::npos)
        return nullptr;
      size_t index = std::stoul(token);
      node = index < node->size() ? &(*node)[index] : nullptr;
    } else {
      return nullptr;
    }
  }
  return node;
}

// --- values ---------------------------------------------------------------------------------

bool is_integral(const Json& v) {
  if (v.is_number_integer()) return true;
  if (!v.is_number_float()) return false;
  double d = v.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

const char* type_name(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return is_integral(v) ? "integer" : "number";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    default:
      return "unknown";
  }
}

bool has_type(const Json& v, const std::string& type) {
  if (type == "number") return v.is_number();
  if (type == "integer") return is_integral(v);
  return type == type_name(v);
}

// Length in Unicode code points (UTF-8 continuation bytes are not counted).
size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    n += (c & 0xC0) != 0x80;
  return n;
}

double number(const Json& v) {
  return v.get<double>();
}

bool multiple_of(const Json& v, const Json& divisor) {
  if (v.is_number_integer() && divisor.is_number_integer() && divisor.get<int64_t>() != 0) {
    return v.get<int64_t>() % divisor.get<int64_t>() == 0;
  }
  double q = number(v) / number(divisor);
  if (!std::isfinite(q)) return false;
  return std::fabs(q - std::nearbyint(q)) < 1e-9 * std::max(1.0, std::fabs(q));
}

std::string compact(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

// --- formats --------------------------------------------------------------------------------

bool digits(const std::string& s, size_t pos, size_t count) {
  if (pos + count > s.size()) return false;
  for (size_t i = pos; i < pos + count; ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

bool is_date(const std::string& s) {
  if (s.size() != 10 || !digits(s, 0, 4) || s[4] != '-' || !digits(s, 5, 2) || s[7] != '-' ||
      !digits(s, 8, 2))
    return false;
  int year = std::stoi(s.substr(0, 4)), month = std::stoi(s.substr(5, 2)),
      day = std::stoi(s.substr(8, 2));
  if (month < 1 || month > 12 || day < 1) return false;
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return day <= kDays[month - 1] + (month == 2 && leap ? 1 : 0);
}

int two_digits(const std::string& s, size_t pos) {
  return (s[pos] - '0') * 10 + (s[pos + 1] - '0');
}

// RFC 3339 full-time: HH:MM:SS[.frac](Z|±HH:MM).
bool is_time(const std::string& s) {
  if (s.size() < 9 || !digits(s, 0, 2) || s[2] != ':' || !digits(s, 3, 2) || s[5] != ':' ||
      !digits(s, 6, 2))
    return false;
  if (two_digits(s, 0) > 23 || two_digits(s, 3) > 59 || two_digits(s, 6) > 60) return false;
  size_t at = 8;
  if (s[at] == '.') {
    size_t from = ++at;
    while (at < s.size() && std::isdigit(static_cast<unsigned char>(s[at])))
      ++at;
    if (at == from) return false;
  }
  if (at + 1 == s.size()) return s[at] == 'Z' || s[at] == 'z';
  if (at + 6 != s.size() || (s[at] != '+' && s[at] != '-') || !digits(s, at + 1, 2) ||
      s[at + 3] != ':' || !digits(s, at + 4, 2))
    return false;
  return two_digits(s, at + 1) <= 23 && two_digits(s, at + 4) <= 59;
}

bool is_date_time(const std::string& s) {
  return s.size() > 11 && (s[10] == 'T' || s[10] == 't') && is_date(s.substr(0, 10)) &&
         is_time(s.substr(11));
}

// Four dot-separated decimal numbers 0-255, without leading zeros.
bool is_ipv4(const std::string& s) {
  size_t at = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0 && (at >= s.size() || s[at++] != '.')) return false;
    size_t from = at;
    while (at < s.size() && at - from < 4 && std::isdigit(static_cast<unsigned char>(s[at])))
      ++at;
    size_t n = at - from;
    if (n == 0 || n > 3 || (n > 1 && s[from] == '0') || std::stoi(s.substr(from, n)) > 255)
      return false;
  }
  return at == s.size();
}

bool is_ipv6(const std::string& s) {
  unsigned char buf[16];
  return s.find('%') == std::string::npos && inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool is_hostname(std::string s) {
  if (!s.empty() && s.back() == '.') s.pop_back();
  if (s.empty() || s.size() > 253) return false;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    std::string label = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (unsigned char c : label)
      if (!std::isalnum(c) && c != '-') return false;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return true;
}

bool is_email(const std::string& s) {
  auto at = s.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == s.size()) return false;
  std::string local = s.substr(0, at), domain = s.substr(at + 1);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string::npos)
    return false;
  for (unsigned char c : local)
    if (c <= ' ' || c == '@' || c == '(' || c == ')' || c == ',' || c == ':' || c == ';' ||
        c == '<' || c == '>' || c == '[' || c == ']' || c == '\\' || c == '"')
      return false;
  if (domain.size() > 2 && domain.front() == '[' && domain.back() == ']') {
    std::string literal = domain.substr(1, domain.size() - 2);
    return is_ipv4(literal) || (literal.rfind("IPv6:", 0) == 0 && is_ipv6(literal.substr(5)));
  }
  return is_hostname(domain);
}

bool is_uuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

// An absolute URI (scheme required) made of RFC 3986 characters and %-escapes.
bool is_uri(const std::string& s) {
  size_t colon = s.find(':');
  if (colon == std::string::npos || colon == 0 || !std::isalpha(static_cast<unsigned char>(s[0])))
    return false;
  for (size_t i = 1; i < colon; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!std::isalnum(c) && c != '+' && c != '.' && c != '-') return false;
  }
  static const std::string kAllowed = "-._~!$&'()*+,;=:@/?#[]";
  for (size_t i = colon + 1; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '%') {
      if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
          !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
        return false;
      i += 2;
    } else if (c >= 0x80 ||
               (!std::isalnum(c) && kAllowed.find(static_cast<char>(c)) == std::string::npos)) {
      return false;
    }
  }
  return true;
}

// A pattern weir can compile (json/regex.hpp).
bool is_regex(const std::string& s) {
  try {
    Regex re(s);
    return true;
  } catch (const std::invalid_argument&) {
    return false;
  }
}

// True when `s` conforms to `format`, or the format is not one weir checks.
bool format_ok(const std::string& format, const std::string& s) {
  if (format == "date-time") return is_date_time(s);
  if (format == "date") return is_date(s);
  if (format == "time") return is_time(s);
  if (format == "email") return is_email(s);
  if (format == "uuid") return is_uuid(s);
  if (format == "ipv4") return is_ipv4(s);
  if (format == "ipv6") return is_ipv6(s);
  if (format == "hostname") return is_hostname(s);
  if (format == "uri") return is_uri(s);
  if (format == "regex") return is_regex(s);
  return true;
}

// A copy of `v` to own, refused first when it nests deeper than JSON may (json/parse.hpp):
// copying, like every other walk of it, recurses.
std::unique_ptr<Json> checked_depth(const Json& v, const char* what) {
  if (deeper_than(v, kMaxJsonDepth))
    throw std::invalid_argument(std::string(what) + " nested deeper than " +
                                std::to_string(kMaxJsonDepth) + " levels");
  return std::make_unique<Json>(v);
}

}  // namespace

// --- compiling ------------------------------------------------------------------------------

SchemaValidator::SchemaValidator(const Json& schema) : root_(checked_depth(schema, "schema")) {
  if (!root_->is_object() && !root_->is_boolean())
    throw std::invalid_argument(std::string("a schema must be an object or a boolean, not ") +
                                type_name(*root_));
  scan(draft07_meta_schema(), "");
  ids_[""] = root_.get();
  scan(*root_, "");
  // Every $ref reachable as a schema must resolve now, not half-way through a validation.
  for (const auto& [node, base] : bases_) {
    auto ref = node->find("$ref");
    if (ref != node->end() && ref->is_string()) resolve_ref(ref->get<std::string>(), base);
  }
}

void SchemaValidator::scan(const Json& schema, const std::string& base, int depth) {
  if (!schema.is_object()) return;
  if (depth > kMaxSchemaDepth)
    throw std::invalid_argument("schema nests more than " + std::to_string(kMaxSchemaDepth) +
                                " levels deep");
  bases_[&schema] = base;
  std::string here = base;
  auto id = schema.find("$id");
  if (id != schema.end() && id->is_string() && !schema.contains("$ref")) {
    auto [doc, fragment] = split_fragment(resolve_uri(base, id->get<std::string>()));
    if (!fragment.empty() && fragment[0] != '/') {
      ids_[doc + "#" + fragment] = &schema;
    } else {
      ids_[doc] = &schema;
    }
    here = doc;
  }
  auto pattern = schema.find("pattern");
  if (pattern != schema.end() && pattern->is_string()) compile(pattern->get<std::string>());
  for (const char* key : {"items", "additionalItems", "additionalProperties", "contains",
                          "propertyNames", "if", "then", "else", "not"}) {
    auto it = schema.find(key);
    if (it != schema.end()) scan(*it, here, depth + 1);
  }
  for (const char* key : {"items", "allOf", "anyOf", "oneOf"}) {
    auto it = schema.find(key);
    if (it != schema.end() && it->is_array())
      for (const auto& sub : *it)
        scan(sub, here, depth + 1);
  }
  for (const char* key : {"properties", "patternProperties", "definitions", "dependencies"}) {
    auto it = schema.find(key);
    if (it == schema.end() || !it->is_object()) continue;
    for (const auto& [name, sub] : it->items()) {
      if (std::string(key) == "patternProperties") compile(name);
      scan(sub, here, depth + 1);
    }
  }
}

void SchemaValidator::compile(const std::string& pattern) {
  if (regexes_.count(pattern)) return;
  regexes_.emplace(pattern, Regex(pattern));
}

bool SchemaValidator::search(const std::string& text, const std::string& pattern,
                             const char* keyword, const std::string& pointer) const {
  try {
    auto it = regexes_.find(pattern);
    // Patterns outside every scanned schema (only reachable through a JSON pointer $ref into an
    // unknown keyword) are compiled on the spot rather than kept, keeping validate() const.
    if (it == regexes_.end()) return Regex(pattern).search(text);
    return it->second.search(text);
  } catch (const RegexLimitError& e) {
    throw std::invalid_argument(std::string(keyword) + " \"" + shortened(pattern) + "\" at " +
                                (pointer.empty() ? "(root)" : shortened(pointer)) + ": " +
                                e.what());
  }
}

std::pair<const Json*, std::string> SchemaValidator::resolve_ref(const std::string& ref,
                                                                 const std::string& base) const {
  auto [doc, fragment] = split_fragment(resolve_uri(base, ref));
  fragment = percent_decode(fragment);
  const Json* target = nullptr;
  if (fragment.empty() || fragment[0] == '/') {
    auto it = ids_.find(doc);
    if (it != ids_.end()) target = follow_pointer(it->second, fragment);
  } else {
    auto it = ids_.find(doc + "#" + fragment);
    if (it != ids_.end()) target = it->second;
  }
  if (!target) throw std::invalid_argument("cannot resolve $ref \"" + shortened(ref) + "\"");
  auto known = bases_.find(target);
  return {target, known != bases_.end() ? known->second : doc};
}

// --- validating -----------------------------------------------------------------------------

std::vector<SchemaError> SchemaValidator::validate(const Json& instance) const {
  // eval recurses with the instance (and nlohmann's comparisons for const, enum and
  // uniqueItems do too): bounded here, whoever built the value.
  if (deeper_than(instance, kMaxJsonDepth))
    throw std::invalid_argument("value nested deeper than " + std::to_string(kMaxJsonDepth) +
                                " levels");
  Errors errors;
  eval(*root_, instance, "", "", errors, 0);
  return errors;
}

bool SchemaValidator::passes(const Json& schema, const Json& instance, const std::string& base,
                             const std::string& pointer, int depth) const {
  Errors scratch;
  eval(schema, instance, base, pointer, scratch, depth + 1);
  return scratch.empty();
}

void SchemaValidator::eval(const Json& schema, const Json& instance, const std::string& base_in,
                           const std::string& pointer, Errors& out, int depth) const {
  if (depth > kMaxSchemaDepth)
    throw std::invalid_argument("schema nests or recurses through $ref more than " +
                                std::to_string(kMaxSchemaDepth) + " levels deep");
  if (schema.is_boolean()) {
    if (!schema.get<bool>()) out.push_back({pointer, "false", "no value is allowed here"});
    return;
  }
  if (!schema.is_object()) return;

  auto ref = schema.find("$ref");
  if (ref != schema.end() && ref->is_string()) {
    auto [target, base] = resolve_ref(ref->get<std::string>(), base_in);
    eval(*target, instance, base, pointer, out, depth + 1);
    return;  // draft-07: $ref overrides its sibling keywords
  }
  std::string base = base_in;
  auto id = schema.find("$id");
  if (id != schema.end() && id->is_string())
    base = split_fragment(resolve_uri(base_in, id->get<std::string>())).first;

  auto fail = [&](const char* keyword, std::string message) {
    out.push_back({pointer, keyword, std::move(message)});
  };

  if (auto it = schema.find("type"); it != schema.end()) {
    bool ok = false;
    if (it->is_string()) {
      ok = has_type(instance, it->get<std::string>());
    } else if (it->is_array()) {
      for (const auto& t : *it)
        ok = ok || (t.is_string() && has_type(instance, t.get<std::string>()));
    }
    if (!ok) fail("type", "expected " + compact(*it) + ", got " + type_name(instance));
  }
  if (auto it = schema.find("enum"); it != schema.end() && it->is_array()) {
    bool ok = false;
    for (const auto& v : *it)
      ok = ok || v == instance;
    if (!ok) fail("enum", "value " + compact(instance) + " is not one of " + compact(*it));
  }
  if (auto it = schema.find("const"); it != schema.end() && *it != instance)
    fail("const", "value " + compact(instance) + " is not " + compact(*it));

  if (instance.is_number()) {
    double x = number(instance);
    if (auto it = schema.find("multipleOf");
        it != schema.end() && it->is_number() && !multiple_of(instance, *it))
      fail("multipleOf", compact(instance) + " is not a multiple of " + compact(*it));
    if (auto it = schema.find("maximum"); it != schema.end() && it->is_number() && x > number(*it))
      fail("maximum", compact(instance) + " is greater than " + compact(*it));
    if (auto it = schema.find("exclusiveMaximum");
        it != schema.end() && it->is_number() && x >= number(*it))
      fail("exclusiveMaximum", compact(instance) + " is not less than " + compact(*it));
    if (auto it = schema.find("minimum"); it != schema.end() && it->is_number() && x < number(*it))
      fail("minimum", compact(instance) + " is less than " + compact(*it));
    if (auto it = schema.find("exclusiveMinimum");
        it != schema.end() && it->is_number() && x <= number(*it))
      fail("exclusiveMinimum", compact(instance) + " is not greater than " + compact(*it));
  }

  if (instance.is_string()) {
    const auto& s = instance.get_ref<const std::string&>();
    size_t length = code_points(s);
    if (auto it = schema.find("maxLength");
        it != schema.end() && it->is_number() && static_cast<double>(length) > number(*it))
      fail("maxLength",
           "string of " + std::to_string(length) + " characters is longer than " + compact(*it));
    if (auto it = schema.find("minLength");
        it != schema.end() && it->is_number() && static_cast<double>(length) < number(*it))
      fail("minLength",
           "string of " + std::to_string(length) + " characters is shorter than " + compact(*it));
    if (auto it = schema.find("pattern"); it != schema.end() && it->is_string() &&
                                          !search(s, it->get<std::string>(), "pattern", pointer))
      fail("pattern", "string " + compact(instance) + " does not match " + compact(*it));
    if (auto it = schema.find("format");
        it != schema.end() && it->is_string() && !format_ok(it->get<std::string>(), s))
      fail("format", "string " + compact(instance) + " is not a valid " + it->get<std::string>());
  }

  if (instance.is_array()) eval_array_keywords(schema, instance, base, pointer, out, depth);
  if (instance.is_object()) eval_object_keywords(schema, instance, base, pointer, out, depth);

  if (auto it = schema.find("allOf"); it != schema.end() && it->is_array())
    for (const auto& sub : *it)
      eval(sub, instance, base, pointer, out, depth + 1);
  if (auto it = schema.find("anyOf"); it != schema.end() && it->is_array()) {
    bool ok = false;
    for (const auto& sub : *it)
      ok = ok || passes(sub, instance, base, pointer, depth);
    if (!ok) fail("anyOf", "value matches none of the " + std::to_string(it->size()) + " schemas");
  }
  if (auto it = schema.find("oneOf"); it != schema.end() && it->is_array()) {
    size_t matched = 0;
    for (const auto& sub : *it)
      matched += passes(sub, instance, base, pointer, depth);
    if (matched != 1)
      fail("oneOf", "value matches " + std::to_string(matched) + " of the " +
                        std::to_string(it->size()) + " schemas, not exactly one");
  }
  if (auto it = schema.find("not");
      it != schema.end() && passes(*it, instance, base, pointer, depth))
    fail("not", "value matches the schema in \"not\"");
  if (auto it = schema.find("if"); it != schema.end()) {
    const char* branch = passes(*it, instance, base, pointer, depth) ? "then" : "else";
    if (auto sub = schema.find(branch); sub != schema.end())
      eval(*sub, instance, base, pointer, out, depth + 1);
  }
}

void SchemaValidator::eval_array_keywords(const Json& schema, const Json& instance,
                                          const std::string& base, const std::string& pointer,
                                          Errors& out, int depth) const {
  auto fail = [&](const std::string& at, const char* keyword, std::string message) {
    out.push_back({at, keyword, std::move(message)});
  };
  size_t n = instance.size();
  auto item_pointer = [&](size_t i) { return pointer + "/" + std::to_string(i); };
  if (auto it = schema.find("items"); it != schema.end()) {
    size_t covered = n;
    if (it->is_array()) {
      covered = std::min(n, it->size());
      for (size_t i = 0; i < covered; ++i)
        eval((*it)[i], instance[i], base, item_pointer(i), out, depth + 1);
      if (auto extra = schema.find("additionalItems"); extra != schema.end()) {
        for (size_t i = covered; i < n; ++i) {
          if (extra->is_boolean() && !extra->get<bool>()) {
            fail(item_pointer(i), "additionalItems",
                 "array has more than " + std::to_string(it->size()) + " items");
          } else {
            eval(*extra, instance[i], base, item_pointer(i), out, depth + 1);
          }
        }
      }
    } else if (it->is_boolean() && !it->get<bool>()) {
      for (size_t i = 0; i < n; ++i)
        fail(item_pointer(i), "items", "no items are allowed");
    } else {
      for (size_t i = 0; i < n; ++i)
        eval(*it, instance[i], base, item_pointer(i), out, depth + 1);
    }
  }
  if (auto it = schema.find("maxItems");
      it != schema.end() && it->is_number() && static_cast<double>(n) > number(*it))
    fail(pointer, "maxItems",
         "array of " + std::to_string(n) + " items has more than " + compact(*it));
  if (auto it = schema.find("minItems");
      it != schema.end() && it->is_number() && static_cast<double>(n) < number(*it))
    fail(pointer, "minItems",
         "array of " + std::to_string(n) + " items has fewer than " + compact(*it));
  if (auto it = schema.find("uniqueItems");
      it != schema.end() && it->is_boolean() && it->get<bool>()) {
    bool reported = false;
    for (size_t i = 0; i < n && !reported; ++i)
      for (size_t j = i + 1; j < n && !reported; ++j)
        if (instance[i] == instance[j]) {
          fail(pointer, "uniqueItems",
               "items " + std::to_string(i) + " and " + std::to_string(j) + " are equal");
          reported = true;
        }
  }
  if (auto it = schema.find("contains"); it != schema.end()) {
    bool ok = false;
    for (size_t i = 0; i < n && !ok; ++i)
      ok = passes(*it, instance[i], base, item_pointer(i), depth);
    if (!ok) fail(pointer, "contains", "no item matches the schema in \"contains\"");
  }
}

void SchemaValidator::eval_object_keywords(const Json& schema, const Json& instance,
                                           const std::string& base, const std::string& pointer,
                                           Errors& out, int depth) const {
  auto fail = [&](const std::string& at, const char* keyword, std::string message) {
    out.push_back({at, keyword, std::move(message)});
  };
  auto child = [&](const std::string& key) { return pointer + "/" + escape_pointer_token(key); };
  size_t n = instance.size();
  if (auto it = schema.find("maxProperties");
      it != schema.end() && it->is_number() && static_cast<double>(n) > number(*it))
    fail(pointer, "maxProperties",
         "object of " + std::to_string(n) + " properties has more than " + compact(*it));
  if (auto it = schema.find("minProperties");
      it != schema.end() && it->is_number() && static_cast<double>(n) < number(*it))
    fail(pointer, "minProperties",
         "object of " + std::to_string(n) + " properties has fewer than " + compact(*it));
  if (auto it = schema.find("required"); it != schema.end() && it->is_array())
    for (const auto& name : *it)
      if (name.is_string() && !instance.contains(name.get<std::string>()))
        fail(pointer, "required", "missing required property \"" + name.get<std::string>() + "\"");

  auto properties = schema.find("properties");
  auto patterns = schema.find("patternProperties");
  auto additional = schema.find("additionalProperties");
  for (const auto& [key, value] : instance.items()) {
    bool matched = false;
    if (properties != schema.end() && properties->is_object()) {
      if (auto sub = properties->find(key); sub != properties->end()) {
        matched = true;
        eval(*sub, value, base, child(key), out, depth + 1);
      }
    }
    if (patterns != schema.end() && patterns->is_object()) {
      for (const auto& [pattern, sub] : patterns->items()) {
        if (search(key, pattern, "patternProperties", child(key))) {
          matched = true;
          eval(sub, value, base, child(key), out, depth + 1);
        }
      }
    }
    if (!matched && additional != schema.end()) {
      if (additional->is_boolean() && !additional->get<bool>()) {
        fail(child(key), "additionalProperties", "property \"" + key + "\" is not allowed");
      } else {
        eval(*additional, value, base, child(key), out, depth + 1);
      }
    }
  }
  if (auto it = schema.find("dependencies"); it != schema.end() && it->is_object()) {
    for (const auto& [key, dependency] : it->items()) {
      if (!instance.contains(key)) continue;
      if (dependency.is_array()) {
        for (const auto& name : dependency)
          if (name.is_string() && !instance.contains(name.get<std::string>()))
            fail(pointer, "dependencies",
                 "property \"" + key + "\" requires property \"" + name.get<std::string>() + "\"");
      } else {
        eval(dependency, instance, base, pointer, out, depth + 1);
      }
    }
  }
  if (auto it = schema.find("propertyNames"); it != schema.end())
    for (const auto& [key, value] : instance.items())
      eval(*it, Json(key), base, child(key), out, depth + 1);
}

}  // namespace weir::json
