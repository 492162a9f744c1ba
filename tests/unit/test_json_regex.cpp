// json/regex: JSON Schema's ECMA-262 patterns on PCRE2 — ECMA-262's meaning where PCRE2's
// differs, strings of any length without recursion, and the limits that stop catastrophic
// backtracking with an error instead of a hang.
#include <catch2/catch.hpp>

#include "json/regex.hpp"
#include "json/schema.hpp"

using weir::json::Regex;
using weir::json::RegexLimitError;

namespace {

bool matches(const std::string& pattern, const std::string& text) {
  return Regex(pattern).search(text);
}

}  // namespace

TEST_CASE("json regex: ECMA-262 anchors, dot and classes", "[json_regex]") {
  CHECK(matches("^abc$", "abc"));
  CHECK_FALSE(matches("^abc$", "abc\n"));  // PCRE2's $ would match before a final newline
  CHECK(matches("b", "abc"));              // unanchored, as JSON Schema's `pattern`
  CHECK(matches("^a.c$", "axc"));
  for (const char* terminator : {"\n", "\r", "\xe2\x80\xa8", "\xe2\x80\xa9"}) {
    INFO(terminator);
    CHECK_FALSE(matches("^a.c$", std::string("a") + terminator + "c"));
    CHECK(matches("^a[^]c$", std::string("a") + terminator + "c"));
  }
  CHECK(matches("^a[.]c$", "a.c"));
  CHECK_FALSE(matches("^a[.]c$", "axc"));
  CHECK_FALSE(matches("a[]", "a"));  // an empty class matches nothing
  CHECK(matches("^\\d+$", "123"));
  CHECK_FALSE(matches("^\\d$", "\xd9\xa3"));  // ARABIC-INDIC DIGIT THREE: \d is ASCII
  CHECK(matches("^\\w+$", "abc_9"));
  CHECK_FALSE(matches("^\\w$", "\xc3\xa9"));  // é: \w is ASCII
}

TEST_CASE("json regex: \\s and \\S are ECMA-262's Unicode white space", "[json_regex]") {
  for (const char* space : {" ", "\t", "\v", "\f", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x83",
                            "\xe2\x80\xa8", "\xe3\x80\x80", "\xef\xbb\xbf"}) {
    INFO(space);
    CHECK(matches("^\\s$", space));
    CHECK(matches("^[\\s]$", space));
    CHECK(matches("^[x\\s]$", space));
    CHECK_FALSE(matches("^\\S$", space));
    CHECK_FALSE(matches("^[\\S]$", space));
    CHECK_FALSE(matches("^[^\\s]$", space));
  }
  for (const char* other : {"a", "\xc3\xa9", "\xe2\x80\x8b", "\xf0\x9f\x98\x80"}) {
    INFO(other);
    CHECK_FALSE(matches("^\\s$", other));
    CHECK(matches("^\\S$", other));
    CHECK(matches("^[\\S]$", other));
    CHECK(matches("^[^\\s]$", other));
  }
}

TEST_CASE("json regex: escapes as ECMA-262 writes them", "[json_regex]") {
  CHECK(matches("^\\u0041$", "A"));
  CHECK(matches("^\\u00e9$", "\xc3\xa9"));
  CHECK(matches("^\\x41$", "A"));
  CHECK(matches("^\\u{1F600}$", "\xf0\x9f\x98\x80"));
  CHECK(matches("^[\\u0061-\\u0063]+$", "abc"));
  CHECK(matches("^\\/$", "/"));
  CHECK(matches("^(?<y>\\d{4})-\\k<y>$", "2024-2024"));
  CHECK(matches("^a(?=b)", "ab"));
  CHECK(matches("(?<!a)b", "cb"));
  CHECK(matches("^\\p{L}+$", "\xc3\xa9t\xc3\xa9"));
}

TEST_CASE("json regex: subjects that are not UTF-8 are matched, not refused", "[json_regex]") {
  CHECK(matches("b", std::string("\xff\xfe"
                                 "b",
                                 3)));
  CHECK_FALSE(matches("^a$", std::string("\xff", 1)));
}

TEST_CASE("json regex: bad patterns are refused in one line", "[json_regex]") {
  try {
    Regex("a(b");
    FAIL("compiled");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()).find("invalid pattern \"a(b\": missing closing parenthesis") == 0);
  }
  CHECK_THROWS_AS(Regex("\\"), std::invalid_argument);
  CHECK_THROWS_AS(Regex("a{2,1}"), std::invalid_argument);
}

TEST_CASE("json regex: long subjects match without recursion", "[json_regex]") {
  std::string a(1000000, 'a');
  CHECK(matches("^(a|b)*$", a));
  CHECK(matches("^a*$", a));
  CHECK(matches("^(?:a|b)+$", a + "b"));
  CHECK_FALSE(matches("^(a|b)*$", a + "c"));
}

TEST_CASE("json regex: catastrophic backtracking stops at the limit", "[json_regex]") {
  std::string subject = std::string(40, 'a') + "!";
  for (const char* pattern : {"^(a|aa)+$", "^(a+)+$", "^(a|a?)+$", "^(\\w+\\s?)*$"}) {
    INFO(pattern);
    try {
      Regex(pattern).search(subject);
      FAIL("matched without hitting a limit");
    } catch (const RegexLimitError& e) {
      CHECK(std::string(e.what()).find("gave up after 10000000 backtracking steps") == 0);
    }
  }
}

TEST_CASE("json schema: long strings and pathological patterns", "[json_schema]") {
  using nlohmann::json;
  using weir::json::SchemaValidator;
  std::string long_url = "https://example.com/" + std::string(100000, 'a');
  CHECK(SchemaValidator(json{{"format", "uri"}}).validate(long_url).empty());
  CHECK(SchemaValidator(json{{"format", "uri"}}).validate(std::string(100000, 'a')).size() == 1);
  for (const char* format :
       {"email", "hostname", "ipv4", "ipv6", "date-time", "date", "time", "uuid"})
    CHECK(SchemaValidator(json{{"format", format}}).validate(std::string(100000, '1')).size() == 1);
  CHECK(SchemaValidator(json{{"pattern", "^(a|b)*$"}}).validate(std::string(100000, 'a')).empty());
  CHECK(SchemaValidator(json{{"$id", std::string(100000, 'a')}}).validate(1).empty());
  CHECK_THROWS_WITH(SchemaValidator(json{{"$ref", std::string(100000, 'a')}}),
                    Catch::StartsWith("cannot resolve $ref \"aaaa") && Catch::EndsWith("...\""));
  SchemaValidator slow(json{{"properties", {{"name", {{"pattern", "^(a|aa)+$"}}}}}});
  CHECK_THROWS_WITH(slow.validate(json{{"name", std::string(40, 'a') + "b"}}),
                    Catch::StartsWith("pattern \"^(a|aa)+$\" at /name: gave up after"));
  SchemaValidator keys(json{{"patternProperties", {{"^(a|aa)+$", true}}}});
  CHECK_THROWS_WITH(keys.validate(json{{std::string(40, 'a') + "b", 1}}),
                    Catch::StartsWith("patternProperties \"^(a|aa)+$\" at /aaaa"));
}
