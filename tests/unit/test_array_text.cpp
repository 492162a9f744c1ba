// Array literal parsing and formatting against the forms PostgreSQL prints and accepts.
#include <catch2/catch.hpp>

#include "pg/array_text.hpp"

using weir::pg::ArrayNode;
using weir::pg::format_array_text;
using weir::pg::parse_array_text;

namespace {

ArrayNode parse(const std::string& s, char delim = ',') {
  ArrayNode out;
  std::string error;
  REQUIRE(parse_array_text(s, delim, out, error));
  return out;
}

std::string parse_error(const std::string& s) {
  ArrayNode out;
  std::string error;
  CHECK_FALSE(parse_array_text(s, ',', out, error));
  return error;
}

}  // namespace

TEST_CASE("array_text: flat arrays with quoting, escapes and NULL") {
  ArrayNode a = parse(R"({1,"two, three","say \"hi\"","back\\slash",NULL,"NULL",null})");
  REQUIRE(a.items.size() == 7);
  CHECK(a.items[0].text == "1");
  CHECK(a.items[1].text == "two, three");
  CHECK(a.items[2].text == "say \"hi\"");
  CHECK(a.items[3].text == "back\\slash");
  CHECK(a.items[4].type == ArrayNode::Type::Null);
  CHECK(a.items[5].type == ArrayNode::Type::Value);
  CHECK(a.items[5].text == "NULL");
  CHECK(a.items[6].type == ArrayNode::Type::Null);
}

TEST_CASE("array_text: nested, empty, bounded and custom-delimiter arrays") {
  ArrayNode m = parse("{{1,2},{3,4}}");
  REQUIRE(m.items.size() == 2);
  CHECK(m.items[1].items[0].text == "3");
  CHECK(parse("{}").items.empty());
  CHECK(parse("[0:1]={7,8}").items[1].text == "8");
  ArrayNode box = parse("{(3,4),(1,2);(1,1),(0,0)}", ';');
  REQUIRE(box.items.size() == 2);
  CHECK(box.items[0].text == "(3,4),(1,2)");
}

TEST_CASE("array_text: malformed input is reported, not thrown") {
  CHECK(parse_error("1,2").find("expected '{'") != std::string::npos);
  CHECK(parse_error("{1,2").find("expected delimiter") != std::string::npos);
  CHECK(parse_error("{\"open}").find("unterminated") != std::string::npos);
  CHECK(parse_error("{1,2}x").find("junk") != std::string::npos);
  CHECK(parse_error("{1,,2}").find("empty element") != std::string::npos);
}

TEST_CASE("array_text: formatting quotes every value and round-trips through the parser") {
  ArrayNode n;
  n.items.push_back(ArrayNode::value("a,b"));
  n.items.push_back(ArrayNode::value("q\"uote\\"));
  n.items.push_back(ArrayNode::null());
  n.items.push_back(ArrayNode::value("NULL"));
  ArrayNode inner;
  inner.items.push_back(ArrayNode::value("{x}"));
  n.items.push_back(inner);
  std::string text = format_array_text(n);
  CHECK(text == R"({"a,b","q\"uote\\",NULL,"NULL",{"{x}"}})");
  ArrayNode back = parse(text);
  CHECK(back.items[1].text == "q\"uote\\");
  CHECK(back.items[2].type == ArrayNode::Type::Null);
  CHECK(back.items[3].text == "NULL");
  CHECK(back.items[4].items[0].text == "{x}");
}
