// COPY's binary format. Read side: the stream's header and tuples, and the binary forms of the
// built-in types weir decodes without the server's text output (integers, floats, numeric,
// uuid, arrays); write side: fields, and numeric and uuid from their text. Pure byte work, no
// connection and no Lua; malformed input throws std::runtime_error.
// tests/unit/test_copy_binary.cpp, tests/lua/copy_binary_test.lua.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace weir::pg {

// One field of a tuple: its bytes in the stream, or null.
struct BinaryField {
  const char* data = nullptr;
  int32_t len = -1;  // -1 is NULL
};

// Cuts a binary COPY stream (the concatenated CopyData messages) into tuples.
class BinaryTuples {
 public:
  BinaryTuples(const char* data, size_t n) : p_(data), end_(data + n) {}
  // The next tuple's fields into `out`; false at the trailer (or the end of the data). The
  // header is checked and skipped on the first call.
  bool next(std::vector<BinaryField>& out);

 private:
  const char* p_;
  const char* end_;
  bool header_done_ = false;
};

uint16_t read_u16(const char* p);
uint32_t read_u32(const char* p);
uint64_t read_u64(const char* p);

// numeric's binary form → its exact text as PostgreSQL prints it ("-12.50", "NaN", "Infinity").
std::string numeric_text(const char* data, size_t n);
// uuid's 16 bytes → "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lowercase, as the server prints it).
std::string uuid_text(const char* data, size_t n);
// A float4 as the server prints it (the shortest text that reads back as the same float),
// read back as a double: the Lua value a float4 column has always had.
double float4_value(float f);

// A binary array: its dimensions and elements (in row-major order; data == nullptr for NULL).
struct BinaryArray {
  uint32_t elem_type = 0;
  std::vector<int32_t> dims;
  std::vector<BinaryField> items;
};
BinaryArray parse_binary_array(const char* data, size_t n);

// ---- write side: appending a binary COPY (COPY … FROM STDIN (FORMAT binary)) --------------------

inline void put_u16(std::string& out, uint16_t v) {
  char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
  out.append(b, 2);
}
inline void put_u32(std::string& out, uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out.append(b, 4);
}
inline void put_u64(std::string& out, uint64_t v) {
  put_u32(out, static_cast<uint32_t>(v >> 32));
  put_u32(out, static_cast<uint32_t>(v));
}
// A field: its length, then its bytes.
inline void put_field(std::string& out, const char* d, size_t n) {
  put_u32(out, static_cast<uint32_t>(n));
  out.append(d, n);
}
inline void put_null(std::string& out) {
  put_u32(out, 0xFFFFFFFFu);
}

// The stream's header (signature, flags, no extension); a tuple is put_u16(fields) and its
// fields; the trailer is put_u16(0xFFFF).
void put_header(std::string& out);
// A uuid in its usual spelling (8-4-4-4-12 hex digits, either case) as a 16-byte field; false
// (nothing appended) for any other spelling.
bool put_uuid(std::string& out, const char* s, size_t n);
// A decimal ("-12.50", "7", ".5", "+3", "5.") as a numeric field whose display scale is the
// digits after its point, the value numeric_in gives for that text; false (nothing appended) for
// any other spelling (exponents, NaN, Infinity, spaces) and for more than 1,000 characters.
bool put_numeric(std::string& out, const char* s, size_t n);
// An array's binary form (`d`, `n` bytes) as a field with every lower bound 1.
void put_array_field(std::string& out, const char* d, size_t n);

}  // namespace weir::pg
