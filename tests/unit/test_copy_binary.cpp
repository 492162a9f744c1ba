// COPY's binary format as copy.table reads it (pg/copy_binary.hpp): tuples and NULLs, numeric's
// exact text, uuid, float4, arrays, and malformed input refused. The same values against a
// real server: tests/lua/copy_binary_test.lua.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "pg/copy_binary.hpp"

using weir::pg::BinaryField;
using weir::pg::BinaryTuples;

namespace {

void u16(std::string& s, int v) {
  s += static_cast<char>((v >> 8) & 0xff);
  s += static_cast<char>(v & 0xff);
}

void u32(std::string& s, long long v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    s += static_cast<char>((v >> shift) & 0xff);
}

// numeric's binary form: ndigits, weight, sign, dscale, base-10000 digits.
std::string numeric(int weight, int sign, int dscale, std::vector<int> digits) {
  std::string s;
  u16(s, static_cast<int>(digits.size()));
  u16(s, weight & 0xffff);
  u16(s, sign);
  u16(s, dscale);
  for (int d : digits)
    u16(s, d);
  return s;
}

std::string header() {
  std::string s("PGCOPY\n\377\r\n", 11);
  s += std::string(1, '\0');
  u32(s, 0);  // flags
  u32(s, 0);  // extension length
  return s.substr(0, 19);
}

}  // namespace

TEST_CASE("numeric's binary form reads as the exact text PostgreSQL prints") {
  using weir::pg::numeric_text;
  auto text = [](const std::string& b) { return numeric_text(b.data(), b.size()); };
  CHECK(text(numeric(0, 0, 0, {})) == "0");
  CHECK(text(numeric(0, 0, 2, {})) == "0.00");
  CHECK(text(numeric(0, 0, 4, {123, 4500})) == "123.4500");
  CHECK(text(numeric(0, 0x4000, 2, {99, 5000})) == "-99.50");
  CHECK(text(numeric(1, 0, 0, {1})) == "10000");
  CHECK(text(numeric(-1, 0, 4, {1})) == "0.0001");
  CHECK(text(numeric(-2, 0x4000, 8, {1})) == "-0.00000001");
  CHECK(text(numeric(1, 0, 8, {9999, 0, 1})) == "99990000.00010000");
  CHECK(text(numeric(7, 0, 21,
                     {12, 3456, 7890, 1234, 5678, 9012, 3456, 7890, 0, 0, 0, 0, 0, 1000})) ==
        "123456789012345678901234567890.000000000000000000001");
  CHECK(text(numeric(0, 0xC000, 0, {})) == "NaN");
  CHECK(text(numeric(0, 0xD000, 0, {})) == "Infinity");
  CHECK(text(numeric(0, 0xF000, 0, {})) == "-Infinity");
  CHECK_THROWS_AS(text("abc"), std::runtime_error);
  CHECK_THROWS_AS(text(numeric(0, 0, 0, {10000})), std::runtime_error);
  std::string truncated = numeric(0, 0, 0, {1, 2});
  truncated.pop_back();
  CHECK_THROWS_AS(text(truncated), std::runtime_error);
}

TEST_CASE("uuid and float4 read as the server prints them") {
  std::string u("\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9\xbd\x38\x0a\x11", 16);
  CHECK(weir::pg::uuid_text(u.data(), u.size()) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  CHECK_THROWS_AS(weir::pg::uuid_text(u.data(), 15), std::runtime_error);
  // float4 0.1 prints as "0.1", which Lua reads as the double 0.1 (not 0.100000001490116)
  CHECK(weir::pg::float4_value(0.1f) == 0.1);
  CHECK(weir::pg::float4_value(16777216.0f) == 16777216.0);
  CHECK(std::isnan(weir::pg::float4_value(NAN)));
  CHECK(weir::pg::float4_value(-INFINITY) == -INFINITY);
  CHECK(std::signbit(weir::pg::float4_value(-0.0f)));
}

TEST_CASE("tuples: fields, NULLs, the trailer; a broken stream is refused") {
  std::string s = header();
  u16(s, 2);  // a tuple of two fields
  u32(s, 3);
  s += "abc";
  u32(s, -1);  // NULL
  u16(s, 1);
  u32(s, 0);       // an empty value (not NULL)
  u16(s, 0xffff);  // the trailer
  BinaryTuples t(s.data(), s.size());
  std::vector<BinaryField> f;
  REQUIRE(t.next(f));
  REQUIRE(f.size() == 2);
  CHECK(std::string(f[0].data, f[0].len) == "abc");
  CHECK(f[1].len == -1);
  REQUIRE(t.next(f));
  REQUIRE(f.size() == 1);
  CHECK(f[0].len == 0);
  CHECK_FALSE(t.next(f));

  std::string no_header = "PGCOPY";
  BinaryTuples bad(no_header.data(), no_header.size());
  CHECK_THROWS_AS(bad.next(f), std::runtime_error);
  std::string cut = header();
  u16(cut, 1);
  u32(cut, 10);
  cut += "short";
  BinaryTuples truncated(cut.data(), cut.size());
  CHECK_THROWS_AS(truncated.next(f), std::runtime_error);
}

TEST_CASE("arrays: dimensions and elements, NULL elements, empty arrays") {
  std::string a;
  u32(a, 2);   // two dimensions
  u32(a, 1);   // has NULLs
  u32(a, 23);  // int4
  u32(a, 2);   // 2 × 2, lower bounds 1
  u32(a, 1);
  u32(a, 2);
  u32(a, 1);
  for (int v : {1, 2, 3}) {
    u32(a, 4);
    u32(a, v);
  }
  u32(a, -1);
  weir::pg::BinaryArray arr = weir::pg::parse_binary_array(a.data(), a.size());
  CHECK(arr.elem_type == 23);
  CHECK(arr.dims == std::vector<int32_t>{2, 2});
  REQUIRE(arr.items.size() == 4);
  CHECK(arr.items[3].data == nullptr);
  CHECK(static_cast<int32_t>(weir::pg::read_u32(arr.items[2].data)) == 3);

  std::string empty;
  u32(empty, 0);
  u32(empty, 0);
  u32(empty, 25);
  CHECK(weir::pg::parse_binary_array(empty.data(), empty.size()).items.empty());

  a.resize(a.size() - 2);
  CHECK_THROWS_AS(weir::pg::parse_binary_array(a.data(), a.size()), std::runtime_error);
}

TEST_CASE("numeric from its text: the binary form reads back as the text numeric_in keeps") {
  using weir::pg::put_numeric;
  auto round = [](const std::string& s) {
    std::string out;
    REQUIRE(put_numeric(out, s.data(), s.size()));
    REQUIRE(out.size() >= 4);
    std::string field = out.substr(4);
    REQUIRE(field.size() == weir::pg::read_u32(out.data()));
    return weir::pg::numeric_text(field.data(), field.size());
  };
  CHECK(round("0") == "0");
  CHECK(round("-0") == "0");
  CHECK(round("0.0001") == "0.0001");
  CHECK(round("-0.001") == "-0.001");
  CHECK(round(".5") == "0.5");
  CHECK(round("5.") == "5");
  CHECK(round("+3") == "3");
  CHECK(round("007.0700") == "7.0700");
  CHECK(round("-12.50") == "-12.50");
  CHECK(round("10000") == "10000");
  CHECK(round("99990000.00010000") == "99990000.00010000");
  CHECK(round("123456789012345678901234567890.000000000000000000001") ==
        "123456789012345678901234567890.000000000000000000001");
  CHECK(round("-0.000000000000000000000000000001") == "-0.000000000000000000000000000001");
  std::string out;
  for (const char* other :
       {"1e5", "NaN", "Infinity", " 1", "1 ", "", "-", ".", "1.2.3", "0x10", "1_000"})
    CHECK_FALSE(put_numeric(out, other, std::strlen(other)));
  CHECK(out.empty());
}

TEST_CASE("uuid from its text, and arrays written with lower bound 1") {
  using weir::pg::put_uuid;
  std::string out;
  const char* u = "A0EEBC99-9c0b-4ef8-bb6d-6bb9bd380a11";
  REQUIRE(put_uuid(out, u, std::strlen(u)));
  REQUIRE(out.size() == 20);
  CHECK(weir::pg::uuid_text(out.data() + 4, 16) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  out.clear();
  for (const char* other :
       {"{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}", "a0eebc999c0b4ef8bb6d6bb9bd380a11",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g", ""})
    CHECK_FALSE(put_uuid(out, other, std::strlen(other)));
  CHECK(out.empty());
  // int4[] '[0:1]={7,8}': ndim 1, no NULLs, int4, dim 2 lower bound 0, elements 7 and 8
  std::string a;
  weir::pg::put_u32(a, 1);
  weir::pg::put_u32(a, 0);
  weir::pg::put_u32(a, 23);
  weir::pg::put_u32(a, 2);
  weir::pg::put_u32(a, 0);
  weir::pg::put_u32(a, 4);
  weir::pg::put_u32(a, 7);
  weir::pg::put_u32(a, 4);
  weir::pg::put_u32(a, 8);
  weir::pg::put_array_field(out, a.data(), a.size());
  REQUIRE(out.size() == a.size() + 4);
  CHECK(weir::pg::read_u32(out.data() + 4 + 16) == 1);
  auto parsed = weir::pg::parse_binary_array(out.data() + 4, out.size() - 4);
  CHECK(parsed.dims == std::vector<int32_t>{2});
  CHECK(parsed.items.size() == 2);
}
