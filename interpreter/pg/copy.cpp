// COPY between connections and COPY's text format (see copy.hpp).
#include "pg/copy.hpp"

#include <stdexcept>

#include "pg/connection.hpp"

namespace weir::pg {

long long pipe_copy(Connection& src, const std::string& copy_out_sql, Connection& dst,
                    const std::string& copy_in_sql) {
  dst.copy_in(copy_in_sql);
  try {
    src.copy_out(copy_out_sql);
  } catch (const std::exception&) {
    try {
      dst.end_copy("the source query failed");
    } catch (const std::exception&) {
      // dst reports the abort itself; the source's error is the one to show
    }
    throw;
  }
  try {
    const char* buf = nullptr;
    for (long n; (n = src.read_copy(&buf)) >= 0;)
      dst.write_copy(buf, static_cast<size_t>(n));
  } catch (const std::exception&) {
    try {
      const char* rest = nullptr;
      while (src.read_copy(&rest) >= 0) {
      }
    } catch (const std::exception&) {
    }
    try {
      dst.end_copy("copy aborted");
    } catch (const std::exception&) {
    }
    throw;
  }
  Result done = dst.end_copy();
  return done.affected();
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Row parse_text_line(const char* data, size_t n) {
  if (n > 0 && data[n - 1] == '\n') --n;
  Row row;
  std::string field;
  bool null = false;
  auto finish = [&]() {
    if (null)
      row.emplace_back(std::nullopt);
    else
      row.emplace_back(std::move(field));
    field.clear();
    null = false;
  };
  for (size_t i = 0; i < n; ++i) {
    char c = data[i];
    if (c == '\t') {
      finish();
      continue;
    }
    if (c != '\\') {
      field += c;
      continue;
    }
    if (++i >= n) throw std::runtime_error("COPY text: a line ends in a backslash");
    char e = data[i];
    switch (e) {
      case 'N':
        if (!field.empty()) throw std::runtime_error("COPY text: \\N inside a value");
        null = true;
        break;
      case 'b':
        field += '\b';
        break;
      case 'f':
        field += '\f';
        break;
      case 'n':
        field += '\n';
        break;
      case 'r':
        field += '\r';
        break;
      case 't':
        field += '\t';
        break;
      case 'v':
        field += '\v';
        break;
      case 'x': {
        int v = 0, digits = 0;
        while (digits < 2 && i + 1 < n && hex_value(data[i + 1]) >= 0) {
          v = v * 16 + hex_value(data[++i]);
          ++digits;
        }
        if (digits == 0) {
          field += 'x';
        } else {
          field += static_cast<char>(v);
        }
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0', digits = 1;
          while (digits < 3 && i + 1 < n && data[i + 1] >= '0' && data[i + 1] <= '7') {
            v = v * 8 + (data[++i] - '0');
            ++digits;
          }
          field += static_cast<char>(v);
        } else {
          field += e;
        }
    }
  }
  finish();
  return row;
}

void append_text_line(const Row& row, std::string& out) {
  for (size_t i = 0; i < row.size(); ++i) {
    if (i) out += '\t';
    if (!row[i]) {
      out += "\\N";
      continue;
    }
    for (char c : *row[i]) {
      switch (c) {
        case '\\':
          out += "\\\\";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\b':
          out += "\\b";
          break;
        case '\f':
          out += "\\f";
          break;
        case '\v':
          out += "\\v";
          break;
        default:
          out += c;
      }
    }
  }
  out += '\n';
}

}  // namespace weir::pg
