// COPY's binary format, read and write sides (see copy_binary.hpp).
#include "pg/copy_binary.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace weir::pg {

namespace {

const char kSignature[] = "PGCOPY\n\377\r\n";  // 11 bytes with its '\0'

[[noreturn]] void bad(const char* what) {
  throw std::runtime_error(std::string("COPY binary: ") + what);
}

}  // namespace

uint16_t read_u16(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(u[0] << 8 | u[1]);
}

uint32_t read_u32(const char* p) {
  auto u = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint32_t>(u[0]) << 24 | static_cast<uint32_t>(u[1]) << 16 |
         static_cast<uint32_t>(u[2]) << 8 | u[3];
}

uint64_t read_u64(const char* p) {
  return static_cast<uint64_t>(read_u32(p)) << 32 | read_u32(p + 4);
}

bool BinaryTuples::next(std::vector<BinaryField>& out) {
  out.clear();
  if (!header_done_) {
    if (end_ - p_ < 19 || std::memcmp(p_, kSignature, 11) != 0) bad("missing header");
    uint32_t ext = read_u32(p_ + 15);
    p_ += 19;
    if (static_cast<size_t>(end_ - p_) < ext) bad("truncated header");
    p_ += ext;
    header_done_ = true;
  }
  if (end_ - p_ < 2) return false;
  int16_t count = static_cast<int16_t>(read_u16(p_));
  p_ += 2;
  if (count == -1) return false;
  if (count < 0) bad("negative field count");
  out.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    if (end_ - p_ < 4) bad("truncated tuple");
    int32_t len = static_cast<int32_t>(read_u32(p_));
    p_ += 4;
    if (len < -1 || (len > 0 && end_ - p_ < len)) bad("truncated field");
    out.push_back(BinaryField{len < 0 ? nullptr : p_, len});
    if (len > 0) p_ += len;
  }
  return true;
}

std::string numeric_text(const char* data, size_t n) {
  if (n < 8) bad("short numeric");
  int ndigits = static_cast<int16_t>(read_u16(data));
  int weight = static_cast<int16_t>(read_u16(data + 2));
  uint16_t sign = read_u16(data + 4);
  int dscale = static_cast<int16_t>(read_u16(data + 6));
  if (sign == 0xC000) return "NaN";
  if (sign == 0xD000) return "Infinity";
  if (sign == 0xF000) return "-Infinity";
  if ((sign != 0 && sign != 0x4000) || ndigits < 0 || dscale < 0 ||
      n < 8 + 2 * static_cast<size_t>(ndigits))
    bad("malformed numeric");
  auto digit = [&](int i) -> int {
    if (i < 0 || i >= ndigits) return 0;
    int d = static_cast<int16_t>(read_u16(data + 8 + 2 * i));
    if (d < 0 || d > 9999) bad("malformed numeric digit");
    return d;
  };
  std::string out;
  if (sign == 0x4000) out += '-';
  if (weight < 0) {
    out += '0';
  } else {
    for (int i = 0; i <= weight; ++i) {
      int d = digit(i);
      char buf[5];
      std::snprintf(buf, sizeof buf, i == 0 ? "%d" : "%04d", d);
      out += buf;
    }
  }
  if (dscale > 0) {
    out += '.';
    int written = 0;
    for (int i = weight + 1; written < dscale; ++i) {
      int d = digit(i);
      char buf[5];
      std::snprintf(buf, sizeof buf, "%04d", d);
      for (int k = 0; k < 4 && written < dscale; ++k, ++written)
        out += buf[k];
    }
  }
  return out;
}

std::string uuid_text(const char* data, size_t n) {
  if (n != 16) bad("a uuid is not 16 bytes");
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    auto c = static_cast<unsigned char>(data[i]);
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

double float4_value(float f) {
  if (std::isnan(f) || std::isinf(f)) return static_cast<double>(f);
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf - 1, f);
  *r.ptr = '\0';
  return std::strtod(buf, nullptr);
}

BinaryArray parse_binary_array(const char* data, size_t n) {
  if (n < 12) bad("short array");
  BinaryArray a;
  int32_t ndim = static_cast<int32_t>(read_u32(data));
  a.elem_type = read_u32(data + 8);
  if (ndim < 0 || ndim > 6 || n < 12 + 8 * static_cast<size_t>(ndim)) bad("malformed array");
  const char* p = data + 12;
  const char* end = data + n;
  size_t total = ndim > 0 ? 1 : 0;
  for (int i = 0; i < ndim; ++i) {
    int32_t dim = static_cast<int32_t>(read_u32(p));
    if (dim < 0) bad("malformed array dimension");
    a.dims.push_back(dim);
    total *= static_cast<size_t>(dim);
    p += 8;  // the size and the lower bound
  }
  if (total > n) bad("malformed array size");
  a.items.reserve(total);
  for (size_t i = 0; i < total; ++i) {
    if (end - p < 4) bad("truncated array");
    int32_t len = static_cast<int32_t>(read_u32(p));
    p += 4;
    if (len < -1 || (len > 0 && end - p < len)) bad("truncated array element");
    a.items.push_back(BinaryField{len < 0 ? nullptr : p, len});
    if (len > 0) p += len;
  }
  return a;
}

void put_header(std::string& out) {
  static const char kHeader[] =
      "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";  // signature, flags, extension
  out.append(kHeader, 19);
}

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// A uuid in its usual spelling (8-4-4-4-12 hex digits, either case) as its 16 bytes; false for
// any other spelling (the server reads those).
bool put_uuid(std::string& out, const char* s, size_t n) {
  if (n != 36) return false;
  char b[16];
  size_t at = 0;
  for (size_t i = 0; i < 36;) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i++] != '-') return false;
      continue;
    }
    int hi = hex_digit(s[i]), lo = hex_digit(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    b[at++] = static_cast<char>(hi << 4 | lo);
    i += 2;
  }
  put_field(out, b, 16);
  return true;
}

// A decimal ("-12.50", "7", ".5") as numeric's binary form, with the display scale its text
// gives (the server then rounds it to the column's scale exactly as it rounds the text); false
// for any other spelling (exponents, NaN, Infinity, spaces: the server reads those).
bool put_numeric(std::string& out, const char* s, size_t n) {
  size_t i = 0;
  bool negative = false;
  if (i < n && (s[i] == '-' || s[i] == '+')) negative = s[i++] == '-';
  size_t int_start = i;
  while (i < n && s[i] >= '0' && s[i] <= '9')
    ++i;
  size_t int_end = i;
  size_t frac_start = i, frac_end = i;
  if (i < n && s[i] == '.') {
    frac_start = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
      ++i;
    frac_end = i;
  }
  if (i != n || (int_end == int_start && frac_end == frac_start) || n > 1000) return false;
  // base-10000 digits: the integer part's groups end at the point, the fraction's start there
  size_t int_len = int_end - int_start, frac_len = frac_end - frac_start;
  size_t int_groups = (int_len + 3) / 4, frac_groups = (frac_len + 3) / 4;
  std::vector<uint16_t> digits;
  digits.reserve(int_groups + frac_groups);
  size_t lead = int_groups * 4 - int_len;  // zeros in front of the first group
  for (size_t g = 0; g < int_groups; ++g) {
    unsigned v = 0;
    for (size_t k = 0; k < 4; ++k) {
      size_t pos = g * 4 + k;  // position in the zero-padded integer part
      v = v * 10 + (pos < lead ? 0 : static_cast<unsigned>(s[int_start + pos - lead] - '0'));
    }
    digits.push_back(static_cast<uint16_t>(v));
  }
  for (size_t g = 0; g < frac_groups; ++g) {
    unsigned v = 0;
    for (size_t k = 0; k < 4; ++k) {
      size_t pos = g * 4 + k;
      v = v * 10 + (pos < frac_len ? static_cast<unsigned>(s[frac_start + pos] - '0') : 0);
    }
    digits.push_back(static_cast<uint16_t>(v));
  }
  bool zero = true;
  for (uint16_t d : digits)
    zero = zero && d == 0;
  if (zero) negative = false;  // "-0" is 0, as numeric_in has it
  put_u32(out, static_cast<uint32_t>(8 + 2 * digits.size()));
  put_u16(out, static_cast<uint16_t>(digits.size()));
  put_u16(out, static_cast<uint16_t>(static_cast<int16_t>(int_groups) - 1));  // weight
  put_u16(out, negative ? 0x4000 : 0x0000);
  put_u16(out, static_cast<uint16_t>(frac_len));  // display scale
  for (uint16_t d : digits)
    put_u16(out, d);
  return true;
}

// An array's binary form with every lower bound 1 (what its Lua value gives, and so what COPY
// text wrote), appended to `out` as a field.
void put_array_field(std::string& out, const char* d, size_t n) {
  size_t at = out.size();
  put_field(out, d, n);
  if (n < 12) return;  // malformed: the server says so
  uint32_t ndim = pg::read_u32(d);
  for (uint32_t i = 0; i < ndim && 12 + 8 * (i + 1) <= n; ++i) {
    char* lb = &out[at + 4 + 12 + 8 * i + 4];
    lb[0] = lb[1] = lb[2] = 0;
    lb[3] = 1;
  }
}

}  // namespace weir::pg
