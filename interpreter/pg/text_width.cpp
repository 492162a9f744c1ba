// Display widths of UTF-8 text (see text_width.hpp).
#include "pg/text_width.hpp"

#include <wchar.h>

#include <algorithm>
#include <cstdio>

namespace weir::pg {

int utf8_sequence_length(unsigned char lead) {
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

long utf8_decode(const unsigned char* b, int n) {
  static const long kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
  long cp = b[0] & (0x7F >> n);
  for (int i = 1; i < n; ++i) {
    if ((b[i] & 0xC0) != 0x80) return -1;
    cp = cp << 6 | (b[i] & 0x3F);
  }
  if (cp < kLeast[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return -1;
  return cp;
}

namespace {

// The character at s[i]: its code point (-1 for a byte that starts no valid sequence) and
// its length in bytes (1 for such a byte).
long next_char(const unsigned char* s, size_t size, size_t i, int& n) {
  if (s[i] < 0x80) {
    n = 1;
    return s[i];
  }
  n = utf8_sequence_length(s[i]);
  long cp = -1;
  if (n > 1 && i + n <= size) cp = utf8_decode(s + i, n);
  if (cp < 0) n = 1;
  return cp;
}

int char_width(long cp) {
  if (cp < 0) return 1;
  int w = ::wcwidth(static_cast<wchar_t>(cp));
  return w < 0 ? 1 : w;
}

}  // namespace

int display_width(std::string_view text, int at_least) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t size = text.size();
  int width = 0;
  for (size_t i = 0; i < size;) {
    int n = 1;
    long cp = next_char(s, size, i, n);
    width += std::max(char_width(cp), at_least);
    i += n;
  }
  return width;
}

bool plain_ascii(std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

int visible_line(std::string_view line, std::string& out) {
  const auto* s = reinterpret_cast<const unsigned char*>(line.data());
  size_t size = line.size();
  int width = 0;
  char buf[24];
  for (size_t i = 0; i < size;) {
    int n = 1;
    long cp = next_char(s, size, i, n);
    if (cp == '\t') {
      do {
        out.push_back(' ');
        ++width;
      } while (width % 8 != 0);
    } else if (cp == '\r') {
      out += "\\r";
      width += 2;
    } else if ((cp >= 0 && cp < 0x20) || cp == 0x7F) {
      std::snprintf(buf, sizeof buf, "\\x%02X", static_cast<unsigned>(cp));
      out += buf;
      width += 4;
    } else if (cp >= 0x80 && cp <= 0x9F) {
      std::snprintf(buf, sizeof buf, "\\u%04lX", cp);
      out += buf;
      width += 6;
    } else {
      out.append(line.data() + i, static_cast<size_t>(n));
      width += char_width(cp);
    }
    i += n;
  }
  return width;
}

}  // namespace weir::pg
