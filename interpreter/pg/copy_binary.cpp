// COPY's binary format, read side (see copy_binary.hpp).
#include "pg/copy_binary.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

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

}  // namespace weir::pg
