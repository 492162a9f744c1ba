// COPY's binary format, read side: the stream's header and tuples, and the binary forms of the
// built-in types weir decodes without the server's text output (integers, floats, numeric,
// uuid, arrays). Pure byte work, no connection and no Lua; malformed input throws
// std::runtime_error. tests/unit/test_copy_binary.cpp, tests/lua/copy_binary_test.lua.
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

}  // namespace weir::pg
