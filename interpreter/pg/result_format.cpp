// psql's table formats (see result_format.hpp). Each function follows the print.c function of
// the same purpose, so a difference from psql's bytes is a bug here.
#include "pg/result_format.hpp"

#include <langinfo.h>
#include <locale.h>

#include <algorithm>
#include <cstdio>

#include "pg/text_width.hpp"

namespace weir::pg {

namespace {

constexpr size_t kFlushAt = 1 << 16;

// Type OIDs (pg_type_d.h).
constexpr Oid kBool = 16, kInt8 = 20, kInt2 = 21, kInt4 = 23, kOid = 26, kXid = 28, kCid = 29,
              kJson = 114, kFloat4 = 700, kFloat8 = 701, kMoney = 790, kNumeric = 1700,
              kJsonb = 3802, kXid8 = 5069;

struct Line {
  const char* p;
  size_t n;
  int width;
  std::string_view text() const { return std::string_view(p, n); }
};

// A value split into the lines psql shows it as (mbprint.c's pg_wcsformat): at each newline,
// tabs and control characters made visible. Plain one-line ASCII text is used as it is.
class CellText {
 public:
  void set(std::string_view text) {
    lines_.clear();
    if (plain_ascii(text)) {
      lines_.push_back({text.data(), text.size(), static_cast<int>(text.size())});
      return;
    }
    storage_.clear();
    spans_.clear();
    size_t start = 0;
    for (;;) {
      size_t nl = text.find('\n', start);
      std::string_view part =
          text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
      size_t at = storage_.size();
      int w = visible_line(part, storage_);
      spans_.push_back({at, storage_.size() - at, w});
      if (nl == std::string_view::npos) break;
      start = nl + 1;
    }
    for (const auto& s : spans_)
      lines_.push_back({storage_.data() + s.at, s.n, s.width});
  }
  size_t height() const { return lines_.size(); }
  const Line& line(size_t i) const { return lines_[i]; }
  int width() const {
    int w = 0;
    for (const auto& l : lines_)
      w = std::max(w, l.width);
    return w;
  }

 private:
  struct Span {
    size_t at, n;
    int width;
  };
  std::string storage_;
  std::vector<Span> spans_;
  std::vector<Line> lines_;
};

// The width and height of a value as CellText would lay it out, without keeping it.
void measure(std::string_view text, CellText& scratch, int& width, size_t& height) {
  if (plain_ascii(text)) {
    width = static_cast<int>(text.size());
    height = 1;
    return;
  }
  scratch.set(text);
  width = scratch.width();
  height = scratch.height();
}

// The locale's decimal point, thousands separator and digits a group, as psql's
// setDecimalLocale reads them (LC_NUMERIC from the environment; "," or "." when it has none).
struct NumericLocale {
  std::string point = ".", separator = ",";
  int group = 3;
  NumericLocale() {
    locale_t loc = newlocale(LC_NUMERIC_MASK, "", static_cast<locale_t>(0));
    if (!loc) return;
    const char* p = nl_langinfo_l(RADIXCHAR, loc);
    if (p && *p) point = p;
    const char* g = nl_langinfo_l(GROUPING, loc);
    if (g && *g > 0 && *g <= 6) group = *g;
    const char* t = nl_langinfo_l(THOUSEP, loc);
    if (t && *t) {
      separator = t;
    } else {
      separator = point == "," ? "." : ",";
    }
    freelocale(loc);
  }
};

// A number with the locale's digit groups and decimal point (psql's format_numeric_locale);
// text that is not a plain number (money already is one) stays as it is.
std::string numeric_locale(std::string_view s) {
  static const NumericLocale locale;
  if (s.find_first_not_of("0123456789+-.eE") != std::string_view::npos) return std::string(s);
  std::string out;
  size_t i = 0;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) out += s[i++];
  size_t digits = 0;
  while (i + digits < s.size() && s[i + digits] >= '0' && s[i + digits] <= '9')
    ++digits;
  size_t leading = digits % locale.group;
  if (leading == 0) leading = locale.group;
  for (size_t d = 0; d < digits; ++d) {
    if (d > 0 && --leading == 0) {
      out += locale.separator;
      leading = locale.group;
    }
    out += s[i + d];
  }
  i += digits;
  if (i < s.size() && s[i] == '.') {
    out += locale.point;
    ++i;
  }
  out.append(s.substr(i));
  return out;
}

std::string rows_footer(long n) {
  return n == 1 ? "(1 row)" : "(" + std::to_string(n) + " rows)";
}

}  // namespace

bool ResultTable::right_aligned(int c) const {
  switch (PQftype(r_, c)) {
    case kInt2:
    case kInt4:
    case kInt8:
    case kFloat4:
    case kFloat8:
    case kNumeric:
    case kOid:
    case kXid:
    case kXid8:
    case kCid:
    case kMoney:
      return true;
    default:
      return false;
  }
}

JsonKind ResultTable::json_kind(int c) const {
  switch (PQftype(r_, c)) {
    case kInt2:
    case kInt4:
    case kInt8:
    case kFloat4:
    case kFloat8:
    case kNumeric:
    case kOid:
      return JsonKind::number;
    case kBool:
      return JsonKind::boolean;
    case kJson:
    case kJsonb:
      return JsonKind::json;
    default:
      return JsonKind::string;
  }
}

// ---- cells and output ----------------------------------------------------------------------

std::string_view TablePrinter::text(const Table& t, long r, int c, const PrintOptions& opt) {
  std::string_view text;
  if (!t.cell(r, c, text)) return opt.null;
  if (!opt.numeric_locale || !t.right_aligned(c)) return text;
  if (numeric_.size() <= static_cast<size_t>(c)) numeric_.resize(static_cast<size_t>(c) + 1);
  numeric_[c] = numeric_locale(text);
  return numeric_[c];
}

void TablePrinter::put(std::string_view s) {
  buf_.append(s.data(), s.size());
  if (buf_.size() >= kFlushAt) flush();
}

void TablePrinter::put(char c) {
  buf_.push_back(c);
}

void TablePrinter::spaces(long n) {
  if (n > 0) buf_.append(static_cast<size_t>(n), ' ');
}

void TablePrinter::flush() {
  if (buf_.empty()) return;
  sink_(buf_);
  buf_.clear();
}

std::vector<std::string> TablePrinter::footers_with_default(
    const Table& t, const PrintOptions& opt, const std::vector<std::string>& footers) const {
  if (footers.empty() && opt.default_footer) return {rows_footer(opt.prior_records + t.rows())};
  return footers;
}

long TablePrinter::line_estimate(const Table& t, const PrintOptions& opt,
                                 const std::vector<std::string>& footers) {
  bool expanded = opt.expanded == Expanded::on;
  long lines = expanded ? (t.columns() + 1) * t.rows() : t.rows() + 1;
  if (!opt.tuples_only) lines += static_cast<long>(footers.size()) + 2;
  return lines;
}

void TablePrinter::print(const Table& t, const PrintOptions& opt,
                         const std::vector<std::string>& footers) {
  bool vertical = opt.expanded == Expanded::on;
  switch (opt.format) {
    case PrintFormat::unaligned:
      vertical ? unaligned_vertical(t, opt, footers) : unaligned(t, opt, footers);
      break;
    case PrintFormat::aligned:
      vertical ? aligned_vertical(t, opt, footers) : aligned(t, opt, footers);
      break;
    case PrintFormat::csv:
      vertical ? csv_vertical(t, opt) : csv(t, opt);
      break;
    case PrintFormat::html:
      vertical ? html_vertical(t, opt, footers) : html(t, opt, footers);
      break;
    case PrintFormat::json:
      json(t, opt);
      break;
  }
  flush();
}

// ---- aligned -------------------------------------------------------------------------------

namespace {

// A horizontal rule of the aligned format (_print_horizontal_line, ASCII line style).
void rule(std::string& out, const std::vector<int>& widths, int border) {
  if (border == 1) out += '-';
  if (border == 2) out += "+-";
  for (size_t i = 0; i < widths.size(); ++i) {
    out.append(static_cast<size_t>(widths[i]), '-');
    if (i + 1 < widths.size()) out += border == 0 ? " " : "-+-";
  }
  if (border == 2) out += "-+";
  if (border == 1) out += '-';
  out += '\n';
}

}  // namespace

void TablePrinter::aligned(const Table& t, const PrintOptions& opt,
                           const std::vector<std::string>& footers) {
  int border = std::clamp(opt.border, 0, 2);
  int n = t.columns();
  long nrows = t.rows();
  std::vector<CellText> headers(n), cells(n);
  std::vector<int> width(n), header_width(n);
  for (int c = 0; c < n; ++c) {
    headers[c].set(t.header(c));
    width[c] = header_width[c] = headers[c].width();
  }
  CellText scratch;
  if (n > 0) {
    for (long r = 0; r < nrows; ++r) {
      for (int c = 0; c < n; ++c) {
        int w;
        size_t h;
        measure(text(t, r, c, opt), scratch, w, h);
        if (w > width[c]) width[c] = w;
      }
    }
  }
  long width_total = border == 0 ? n : border == 1 ? n * 3 - (n > 0 ? 1 : 0) : n * 3 + 1;
  long total_header_width = width_total;
  for (int c = 0; c < n; ++c) {
    width_total += width[c];
    total_header_width += header_width[c];
  }
  // \x auto: expanded when the table is wider than the terminal (one column never is)
  if (opt.expanded == Expanded::automatic && opt.columns > 0 && n > 1 &&
      (opt.columns < total_header_width || opt.columns < width_total)) {
    aligned_vertical(t, opt, footers);
    return;
  }

  if (opt.start_table) {
    if (opt.title && !opt.tuples_only) {
      scratch.set(*opt.title);
      long tw = scratch.width();
      if (tw < width_total) spaces((width_total - tw) / 2);
      put(*opt.title);
      put('\n');
    }
    if (!opt.tuples_only) {
      if (border == 2) rule(buf_, width, border);
      int more = n;
      std::vector<char> done(n, 0);
      for (size_t curr = 0; more > 0; ++curr) {
        if (border == 2) put('|');
        for (int i = 0; i < n; ++i) {
          if (border != 0) put(' ');
          if (!done[i]) {
            const Line& l = headers[i].line(curr);
            int space = width[i] - l.width;
            spaces(space / 2);
            put(l.text());
            spaces((space + 1) / 2);
            if (curr + 1 >= headers[i].height()) {
              --more;
              done[i] = 1;
            }
          } else {
            spaces(width[i]);
          }
          put(!done[i] ? '+' : ' ');
          if (border != 0 && i < n - 1) put('|');
        }
        if (border == 2) put('|');
        put('\n');
      }
      rule(buf_, width, border);
    }
  }

  std::vector<size_t> curr(n);
  for (long r = 0; n > 0 && r < nrows; ++r) {
    if (stop()) break;
    for (int c = 0; c < n; ++c) {
      cells[c].set(text(t, r, c, opt));
      curr[c] = 0;
    }
    bool more_lines;
    do {
      more_lines = false;
      if (border == 2) put('|');
      for (int j = 0; j < n; ++j) {
        const Line* l = curr[j] < cells[j].height() ? &cells[j].line(curr[j]) : nullptr;
        int chars = width[j];
        bool finalspaces = border == 2 || j < n - 1;
        bool right = t.right_aligned(j);
        if (border != 0) put(' ');
        if (!l) {
          if (finalspaces) spaces(chars);
        } else {
          chars = l->width;
          if (right) spaces(width[j] - chars);
          put(l->text());
          if (++curr[j] < cells[j].height()) more_lines = true;
        }
        // the cell goes on on the next line: marked with "+"
        bool continues = curr[j] < cells[j].height() && curr[j] != 0;
        if (!right && (finalspaces || continues)) spaces(width[j] - chars);
        if (continues) {
          put('+');
        } else if (border == 2 || j < n - 1) {
          put(' ');
        }
        if (border != 0 && j < n - 1) put('|');
      }
      if (border == 2) put('|');
      put('\n');
    } while (more_lines);
    if (buf_.size() >= kFlushAt) flush();
  }

  if (opt.stop_table) {
    std::vector<std::string> fs = footers_with_default(t, opt, footers);
    if (border == 2) rule(buf_, width, border);
    if (!opt.tuples_only && !stop()) {
      for (const auto& f : fs) {
        put(f);
        put('\n');
      }
    }
    put('\n');
  }
}

namespace {

// The rule above each record of the expanded format (print_aligned_vertical_line).
void record_rule(std::string& out, int border, long record, int hwidth, int dwidth) {
  if (border == 2) out += "+-";
  if (border == 1) out += '-';
  long reclen = 0;
  if (record) {
    std::string label = (border == 0 ? "* Record " : "[ RECORD ") + std::to_string(record) +
                        (border == 0 ? "" : " ]");
    out += label;
    reclen = static_cast<long>(label.size());
  }
  if (border != 2) ++reclen;
  char fill = border > 0 ? '-' : ' ';
  for (long i = reclen; i < hwidth; ++i)
    out += fill;
  reclen -= hwidth;
  if (border > 0) {
    if (reclen-- <= 0) out += '-';
    if (reclen-- <= 0) out += '+';
    if (reclen-- <= 0) out += '-';
  } else if (reclen-- <= 0) {
    out += ' ';
  }
  if (reclen < 0) reclen = 0;
  for (long i = reclen; i < dwidth; ++i)
    out += fill;
  if (border == 2) out += "-+";
  out += '\n';
}

}  // namespace

void TablePrinter::aligned_vertical(const Table& t, const PrintOptions& opt,
                                    const std::vector<std::string>& footers) {
  int border = std::clamp(opt.border, 0, 2);
  int n = t.columns();
  long nrows = t.rows();
  if ((n == 0 || nrows == 0) && opt.start_table && opt.stop_table) {
    if (!opt.tuples_only && !stop()) {
      for (const auto& f : footers_with_default(t, opt, footers)) {
        put(f);
        put('\n');
      }
    }
    put('\n');
    return;
  }
  std::vector<CellText> headers(n);
  int hwidth = 0, dwidth = 0;
  bool hmultiline = false, dmultiline = false;
  for (int c = 0; c < n; ++c) {
    headers[c].set(t.header(c));
    hwidth = std::max(hwidth, headers[c].width());
    if (headers[c].height() > 1) hmultiline = true;
  }
  CellText data;
  for (long r = 0; r < nrows; ++r) {
    for (int c = 0; c < n; ++c) {
      int w;
      size_t h;
      measure(text(t, r, c, opt), data, w, h);
      dwidth = std::max(dwidth, w);
      if (h > 1) dmultiline = true;
    }
  }
  if (opt.start_table && !opt.tuples_only && opt.title) {
    put(*opt.title);
    put('\n');
  }
  long record = opt.prior_records + 1;
  for (long r = 0; r < nrows; ++r) {
    if (stop()) break;
    for (int c = 0; c < n; ++c) {
      if (c == 0) {
        if (!opt.tuples_only) {
          record_rule(buf_, border, record++, hwidth, dwidth);
        } else if (r != 0 || !opt.start_table || border == 2) {
          record_rule(buf_, border, 0, hwidth, dwidth);
        }
      }
      const CellText& h = headers[c];
      data.set(text(t, r, c, opt));
      size_t hline = 0, dline = 0;
      bool hcomplete = false, dcomplete = false;
      while (!dcomplete || !hcomplete) {
        if (border == 2) put('|');
        if (!hcomplete) {
          if (border == 2) put(' ');
          const Line& l = h.line(hline);
          put(l.text());
          spaces(hwidth - l.width);
          if (hline + 1 < h.height()) {
            if (border > 0 || hmultiline) put('+');
            ++hline;
          } else {
            if (border > 0 || hmultiline) put(' ');
            hcomplete = true;
          }
        } else {
          int sw = hwidth + border + (border == 0 && hmultiline ? 1 : 0);
          spaces(std::max(sw, 1));
        }
        if (border > 0) put('|');
        if (!dcomplete) {
          put(' ');
          const Line& l = data.line(dline);
          put(l.text());
          int sw = dwidth - l.width;
          if (dline + 1 < data.height()) {
            if (border > 1 || dmultiline) {
              spaces(sw);
              put('+');
            }
            ++dline;
          } else {
            if (border > 1) {
              spaces(sw);
              put(' ');
            }
            dcomplete = true;
          }
          if (border == 2) put('|');
          put('\n');
        } else if (border < 2) {
          put('\n');
        } else {
          spaces(dwidth);
          put("  |\n");
        }
      }
    }
    if (buf_.size() >= kFlushAt) flush();
  }
  if (opt.stop_table) {
    if (border == 2 && !stop()) record_rule(buf_, border, 0, hwidth, dwidth);
    if (!opt.tuples_only && !footers.empty() && !stop()) {
      if (border < 2) put('\n');
      for (const auto& f : footers) {
        put(f);
        put('\n');
      }
    }
    put('\n');
  }
}

// ---- unaligned -----------------------------------------------------------------------------

namespace {

void separator(std::string& out, const std::string& sep, bool zero) {
  if (zero) {
    out += '\0';
  } else {
    out += sep;
  }
}

}  // namespace

void TablePrinter::unaligned(const Table& t, const PrintOptions& opt,
                             const std::vector<std::string>& footers) {
  int n = t.columns();
  bool need_recordsep = false;
  auto recordsep = [&] { separator(buf_, opt.recordsep, opt.recordsep_zero); };
  auto fieldsep = [&] { separator(buf_, opt.fieldsep, opt.fieldsep_zero); };
  if (opt.start_table) {
    if (!opt.tuples_only && opt.title) {
      put(*opt.title);
      recordsep();
    }
    if (!opt.tuples_only) {
      for (int c = 0; c < n; ++c) {
        if (c > 0) fieldsep();
        put(t.header(c));
      }
      need_recordsep = true;
    }
  } else {
    need_recordsep = true;
  }
  for (long r = 0; n > 0 && r < t.rows(); ++r) {
    if (need_recordsep) {
      recordsep();
      need_recordsep = false;
      if (stop()) break;
    }
    for (int c = 0; c < n; ++c) {
      put(text(t, r, c, opt));
      if (c + 1 < n) fieldsep();
    }
    need_recordsep = true;
  }
  if (opt.stop_table) {
    if (!opt.tuples_only && !stop()) {
      for (const auto& f : footers_with_default(t, opt, footers)) {
        if (need_recordsep) recordsep();
        put(f);
        need_recordsep = true;
      }
    }
    // the last record ends in a newline whatever the record separator, unless it is a zero byte
    if (need_recordsep) {
      if (opt.recordsep_zero) {
        recordsep();
      } else {
        put('\n');
      }
    }
  }
}

void TablePrinter::unaligned_vertical(const Table& t, const PrintOptions& opt,
                                      const std::vector<std::string>& footers) {
  int n = t.columns();
  bool need_recordsep = false;
  auto recordsep = [&] { separator(buf_, opt.recordsep, opt.recordsep_zero); };
  if (opt.start_table) {
    if (!opt.tuples_only && opt.title) {
      put(*opt.title);
      need_recordsep = true;
    }
  } else {
    need_recordsep = true;
  }
  for (long r = 0; n > 0 && r < t.rows(); ++r) {
    for (int c = 0; c < n; ++c) {
      if (need_recordsep) {  // between records: two record separators
        recordsep();
        recordsep();
        need_recordsep = false;
        if (stop()) break;
      }
      put(t.header(c));
      separator(buf_, opt.fieldsep, opt.fieldsep_zero);
      put(text(t, r, c, opt));
      if (c + 1 < n) {
        recordsep();
      } else {
        need_recordsep = true;
      }
    }
    if (stop()) break;
  }
  if (opt.stop_table) {
    if (!opt.tuples_only && !footers.empty() && !stop()) {
      recordsep();
      for (const auto& f : footers) {
        recordsep();
        put(f);
      }
    }
    if (need_recordsep) {
      if (opt.recordsep_zero) {
        recordsep();
      } else {
        put('\n');
      }
    }
  }
}

// ---- csv -----------------------------------------------------------------------------------

namespace {

// A field quoted as psql quotes it: when it holds the separator, a quote, CR or LF, is exactly
// \. (COPY's end marker), or the separator is \ or . (which would make a line read as one).
void csv_field(std::string& out, std::string_view s, char sep) {
  bool quote = s.find(sep) != std::string_view::npos ||
               s.find_first_of("\r\n\"") != std::string_view::npos || s == "\\." || sep == '\\' ||
               sep == '.';
  if (!quote) {
    out.append(s.data(), s.size());
    return;
  }
  out += '"';
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  out += '"';
}

}  // namespace

void TablePrinter::csv(const Table& t, const PrintOptions& opt) {
  int n = t.columns();
  char sep = opt.csv_fieldsep.empty() ? ',' : opt.csv_fieldsep[0];
  if (opt.start_table && !opt.tuples_only) {
    for (int c = 0; c < n; ++c) {
      if (c > 0) put(sep);
      csv_field(buf_, t.header(c), sep);
    }
    put('\n');
  }
  for (long r = 0; n > 0 && r < t.rows(); ++r) {
    if (stop()) break;
    for (int c = 0; c < n; ++c) {
      csv_field(buf_, text(t, r, c, opt), sep);
      put(c + 1 < n ? sep : '\n');
    }
    if (buf_.size() >= kFlushAt) flush();
  }
}

void TablePrinter::csv_vertical(const Table& t, const PrintOptions& opt) {
  int n = t.columns();
  char sep = opt.csv_fieldsep.empty() ? ',' : opt.csv_fieldsep[0];
  for (long r = 0; n > 0 && r < t.rows(); ++r) {
    if (stop()) break;
    for (int c = 0; c < n; ++c) {
      csv_field(buf_, t.header(c), sep);
      put(sep);
      csv_field(buf_, text(t, r, c, opt), sep);
      put('\n');
    }
    if (buf_.size() >= kFlushAt) flush();
  }
}

// ---- html ----------------------------------------------------------------------------------

namespace {

void html_escaped(std::string& out, std::string_view s) {
  bool leading_space = true;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '\n':
        out += "<br />\n";
        break;
      case '"':
        out += "&quot;";
        break;
      case ' ':
        out += leading_space ? "&nbsp;" : " ";  // keeps EXPLAIN's indentation
        break;
      default:
        out += c;
    }
    if (c != ' ') leading_space = false;
  }
}

void html_cell(std::string& out, std::string_view s, bool right) {
  out += right ? "    <td align=\"right\">" : "    <td align=\"left\">";
  if (s.find_first_not_of(" \t") == std::string_view::npos) {
    out += "&nbsp; ";
  } else {
    html_escaped(out, s);
  }
  out += "</td>\n";
}

void html_start(std::string& out, const PrintOptions& opt) {
  out += "<table border=\"" + std::to_string(opt.border) + "\"";
  if (opt.tableattr) out += " " + *opt.tableattr;
  out += ">\n";
  if (!opt.tuples_only && opt.title) {
    out += "  <caption>";
    html_escaped(out, *opt.title);
    out += "</caption>\n";
  }
}

}  // namespace

void TablePrinter::html(const Table& t, const PrintOptions& opt,
                        const std::vector<std::string>& footers) {
  int n = t.columns();
  if (opt.start_table) {
    html_start(buf_, opt);
    if (!opt.tuples_only) {
      put("  <tr>\n");
      for (int c = 0; c < n; ++c) {
        put("    <th align=\"center\">");
        html_escaped(buf_, t.header(c));
        put("</th>\n");
      }
      put("  </tr>\n");
    }
  }
  for (long r = 0; n > 0 && r < t.rows(); ++r) {
    if (stop()) break;
    put("  <tr valign=\"top\">\n");
    for (int c = 0; c < n; ++c)
      html_cell(buf_, text(t, r, c, opt), t.right_aligned(c));
    put("  </tr>\n");
    if (buf_.size() >= kFlushAt) flush();
  }
  if (opt.stop_table) {
    put("</table>\n");
    std::vector<std::string> fs = footers_with_default(t, opt, footers);
    if (!opt.tuples_only && !fs.empty() && !stop()) {
      put("<p>");
      for (const auto& f : fs) {
        html_escaped(buf_, f);
        put("<br />\n");
      }
      put("</p>");
    }
    put('\n');
  }
}

void TablePrinter::html_vertical(const Table& t, const PrintOptions& opt,
                                 const std::vector<std::string>& footers) {
  int n = t.columns();
  long record = opt.prior_records + 1;
  if (opt.start_table) html_start(buf_, opt);
  for (long r = 0; n > 0 && r < t.rows(); ++r) {
    if (stop()) break;
    if (!opt.tuples_only) {
      put("\n  <tr><td colspan=\"2\" align=\"center\">Record " + std::to_string(record++) +
          "</td></tr>\n");
    } else {
      put("\n  <tr><td colspan=\"2\">&nbsp;</td></tr>\n");
    }
    for (int c = 0; c < n; ++c) {
      put("  <tr valign=\"top\">\n    <th>");
      html_escaped(buf_, t.header(c));
      put("</th>\n");
      std::string cell;
      html_cell(cell, text(t, r, c, opt), t.right_aligned(c));
      cell.resize(cell.size() - 1);  // "</td>" ends the line after "  </tr>" instead
      put(cell);
      put("\n  </tr>\n");
    }
  }
  if (opt.stop_table) {
    put("</table>\n");
    if (!opt.tuples_only && !footers.empty() && !stop()) {
      put("<p>");
      for (const auto& f : footers) {
        html_escaped(buf_, f);
        put("<br />\n");
      }
      put("</p>");
    }
    put('\n');
  }
}

// ---- json (weir's own) ------------------------------------------------------------------------

namespace {

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
}

// A number as JSON has it: the server's text unless it is NaN or ±Infinity (strings then).
bool json_number(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789+-.eE") == std::string_view::npos;
}

}  // namespace

void TablePrinter::json(const Table& t, const PrintOptions& opt) {
  int n = t.columns();
  if (opt.start_table) put('[');
  for (long r = 0; r < t.rows(); ++r) {
    if (stop()) break;
    if (opt.prior_records + r > 0) put(",\n");
    put('{');
    for (int c = 0; c < n; ++c) {
      if (c > 0) put(',');
      json_string(buf_, t.header(c));
      put(':');
      std::string_view text;
      if (!t.cell(r, c, text)) {
        put("null");
        continue;
      }
      switch (t.json_kind(c)) {
        case JsonKind::number:
          json_number(text) ? put(text) : json_string(buf_, text);
          break;
        case JsonKind::boolean:
          put(text == "t" || text == "true" ? "true" : "false");
          break;
        case JsonKind::json:
          put(text);
          break;
        case JsonKind::string:
          json_string(buf_, text);
          break;
      }
    }
    put('}');
    if (buf_.size() >= kFlushAt) flush();
  }
  if (opt.stop_table) put("]\n");
}

std::string status_line(const std::string& tag, const PrintOptions& opt) {
  if (opt.format != PrintFormat::html) return tag + "\n";
  std::string out = "<p>";
  html_escaped(out, tag);
  return out + "</p>\n";
}

}  // namespace weir::pg
