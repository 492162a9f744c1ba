// Tables printed the way psql 15 prints them (its print.c): the aligned format with border 0, 1
// or 2 (a centred title and headers, numbers right-aligned, multi-line cells marked with "+",
// footers, "(N rows)"), the expanded form of each format (\x), unaligned, CSV and HTML — plus
// weir's own JSON (an array of objects). Plain C++ over a Table: a query's PGresult
// (ResultTable) or cells the caller holds, so `weir repl` prints query results without copying
// them anywhere and its describe commands print through the same code.
//
// Contract: the same table and options give psql's bytes (tests/cli/repl_format_test.lua compares
// every format with `psql -X`); the printer keeps no copy of the cells (one row's formatted
// lines at most), so printing a result needs no more memory than the result itself. A table
// may be printed in pieces (start_table/stop_table/prior_records, as psql's FETCH_COUNT does).
#pragma once

#include <libpq-fe.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace weir::pg {

enum class PrintFormat { aligned, unaligned, csv, json, html };
enum class Expanded { off, on, automatic };

// psql's \pset settings that shape a table, and where in a table printed in pieces this piece is.
struct PrintOptions {
  PrintFormat format = PrintFormat::aligned;
  int border = 1;
  Expanded expanded = Expanded::off;
  bool tuples_only = false;
  bool default_footer = true;  // "(N rows)" for a table without footers of its own
  std::string null;            // what NULL shows as
  std::string fieldsep = "|";  // unaligned
  bool fieldsep_zero = false;
  std::string recordsep = "\n";
  bool recordsep_zero = false;
  std::string csv_fieldsep = ",";
  bool numeric_locale = false;  // numbers with the locale's digit groups: 1,234.5
  std::optional<std::string> title;
  std::optional<std::string> tableattr;  // html: attributes of <table>
  int columns = 0;  // the terminal's width for \x auto; 0 when output is not a terminal
  bool start_table = true, stop_table = true;
  long prior_records = 0;  // rows printed by the earlier pieces of this table
};

// How weir's JSON format writes a column's values.
enum class JsonKind { string, number, boolean, json };

// What a printer reads: headers, alignment and cells by row and column.
class Table {
 public:
  virtual ~Table() = default;
  virtual int columns() const = 0;
  virtual std::string_view header(int c) const = 0;
  virtual bool right_aligned(int c) const = 0;
  virtual JsonKind json_kind(int) const { return JsonKind::string; }
  virtual long rows() const = 0;
  // The text of a cell; false for NULL.
  virtual bool cell(long r, int c, std::string_view& text) const = 0;
};

// A query's result as a Table: numbers (int2/4/8, float4/8, numeric, oid, xid, xid8, cid,
// money) right-aligned as psql aligns them.
class ResultTable : public Table {
 public:
  explicit ResultTable(const PGresult* r) : r_(r) {}
  int columns() const override { return PQnfields(r_); }
  std::string_view header(int c) const override { return PQfname(r_, c); }
  bool right_aligned(int c) const override;
  JsonKind json_kind(int c) const override;
  long rows() const override { return PQntuples(r_); }
  bool cell(long r, int c, std::string_view& text) const override {
    if (PQgetisnull(r_, static_cast<int>(r), c)) return false;
    text = std::string_view(PQgetvalue(r_, static_cast<int>(r), c),
                            static_cast<size_t>(PQgetlength(r_, static_cast<int>(r), c)));
    return true;
  }

 private:
  const PGresult* r_;
};

// Writes tables in psql's formats into a buffer handed to `sink` whenever it grows past a
// threshold and at the end of each table. `cancelled`, asked once a row, stops printing early
// (psql's cancel_pressed).
class TablePrinter {
 public:
  using Sink = std::function<void(std::string_view)>;
  explicit TablePrinter(Sink sink, std::function<bool()> cancelled = nullptr)
      : sink_(std::move(sink)), cancelled_(std::move(cancelled)) {}

  void print(const Table& t, const PrintOptions& opt, const std::vector<std::string>& footers);

  // About how many terminal lines print() will write (for deciding on a pager, as psql's
  // IsPagerNeeded counts: rows, a header, footers).
  static long line_estimate(const Table& t, const PrintOptions& opt,
                            const std::vector<std::string>& footers);

 private:
  void put(std::string_view s);
  void put(char c);
  void spaces(long n);
  void flush();
  bool stop() const { return cancelled_ && cancelled_(); }
  // A cell's text as printed: NULL as opt.null, a number in the locale's form when asked (kept
  // in numeric_[c] until the column's next cell).
  std::string_view text(const Table& t, long r, int c, const PrintOptions& opt);
  // The footers a table ends with: its own, else "(N rows)" when the options allow it.
  std::vector<std::string> footers_with_default(const Table& t, const PrintOptions& opt,
                                                const std::vector<std::string>& footers) const;

  void aligned(const Table& t, const PrintOptions& opt, const std::vector<std::string>& footers);
  void aligned_vertical(const Table& t, const PrintOptions& opt,
                        const std::vector<std::string>& footers);
  void unaligned(const Table& t, const PrintOptions& opt, const std::vector<std::string>& footers);
  void unaligned_vertical(const Table& t, const PrintOptions& opt,
                          const std::vector<std::string>& footers);
  void csv(const Table& t, const PrintOptions& opt);
  void csv_vertical(const Table& t, const PrintOptions& opt);
  void html(const Table& t, const PrintOptions& opt, const std::vector<std::string>& footers);
  void html_vertical(const Table& t, const PrintOptions& opt,
                     const std::vector<std::string>& footers);
  void json(const Table& t, const PrintOptions& opt);

  Sink sink_;
  std::function<bool()> cancelled_;
  std::string buf_;
  std::vector<std::string> numeric_;
};

// A psql command tag line ("INSERT 0 2"), in <p> for the html format, as psql prints it.
std::string status_line(const std::string& tag, const PrintOptions& opt);

}  // namespace weir::pg
