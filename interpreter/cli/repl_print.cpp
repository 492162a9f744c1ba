// The REPL's printing in C++ (see repl_print.hpp). Bindings follow check -> act -> push: the
// settings and cells are read from Lua first, the query runs and prints with no Lua call in
// between, and the results are pushed last.
#include "cli/repl_print.hpp"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cli/repl_terminal.hpp"
#include "lua/convert.hpp"
#include "lua/guarded.hpp"
#include "lua/runtime.hpp"
#include "modules/modules.hpp"
#include "pg/connection.hpp"
#include "pg/result_format.hpp"

namespace weir::cli {

namespace {

// Where results go: stdout, or what \o named.
struct QueryOutput {
  FILE* file = nullptr;  // nullptr: stdout
  bool pipe = false;
  void (*pipe_handler)(int) = SIG_DFL;
};
QueryOutput g_output;

FILE* destination() {
  return g_output.file ? g_output.file : stdout;
}

struct Settings {
  pg::PrintOptions opt;
  bool pager = false;
  long batch = 0;
};

std::string opt_string(lua_State* L, int idx, const char* key, const char* dflt) {
  lua_getfield(L, idx, key);
  size_t n = 0;
  const char* s = lua_isstring(L, -1) ? lua_tolstring(L, -1, &n) : nullptr;
  std::string out = s ? std::string(s, n) : std::string(dflt);
  lua_pop(L, 1);
  return out;
}

std::optional<std::string> opt_maybe(lua_State* L, int idx, const char* key) {
  lua_getfield(L, idx, key);
  std::optional<std::string> out;
  size_t n = 0;
  if (lua_isstring(L, -1)) {
    const char* s = lua_tolstring(L, -1, &n);
    out = std::string(s, n);
  }
  lua_pop(L, 1);
  return out;
}

bool opt_bool(lua_State* L, int idx, const char* key, bool dflt) {
  lua_getfield(L, idx, key);
  bool out = lua_isnil(L, -1) ? dflt : lua_toboolean(L, -1) != 0;
  lua_pop(L, 1);
  return out;
}

long opt_int(lua_State* L, int idx, const char* key, long dflt) {
  lua_getfield(L, idx, key);
  long out = lua_isinteger(L, -1) ? static_cast<long>(lua_tointeger(L, -1)) : dflt;
  lua_pop(L, 1);
  return out;
}

// The settings table at `idx` (absent fields take psql's defaults).
Settings read_settings(lua_State* L, int idx) {
  Settings s;
  if (lua_isnoneornil(L, idx)) return s;
  luaL_checktype(L, idx, LUA_TTABLE);
  std::string format = opt_string(L, idx, "format", "aligned");
  if (format == "aligned") {
    s.opt.format = pg::PrintFormat::aligned;
  } else if (format == "unaligned") {
    s.opt.format = pg::PrintFormat::unaligned;
  } else if (format == "csv") {
    s.opt.format = pg::PrintFormat::csv;
  } else if (format == "json") {
    s.opt.format = pg::PrintFormat::json;
  } else if (format == "html") {
    s.opt.format = pg::PrintFormat::html;
  } else {
    luaL_error(L, "unknown output format '%s'", format.c_str());
  }
  s.opt.border = static_cast<int>(opt_int(L, idx, "border", 1));
  std::string expanded = opt_string(L, idx, "expanded", "off");
  s.opt.expanded = expanded == "on"     ? pg::Expanded::on
                   : expanded == "auto" ? pg::Expanded::automatic
                                        : pg::Expanded::off;
  s.opt.tuples_only = opt_bool(L, idx, "tuples_only", false);
  s.opt.default_footer = opt_bool(L, idx, "footer", true);
  s.opt.null = opt_string(L, idx, "null", "");
  s.opt.fieldsep = opt_string(L, idx, "fieldsep", "|");
  s.opt.fieldsep_zero = opt_bool(L, idx, "fieldsep_zero", false);
  s.opt.recordsep = opt_string(L, idx, "recordsep", "\n");
  s.opt.recordsep_zero = opt_bool(L, idx, "recordsep_zero", false);
  s.opt.csv_fieldsep = opt_string(L, idx, "csv_fieldsep", ",");
  s.opt.numeric_locale = opt_bool(L, idx, "numericlocale", false);
  s.opt.title = opt_maybe(L, idx, "title");
  s.opt.tableattr = opt_maybe(L, idx, "tableattr");
  s.opt.columns = static_cast<int>(opt_int(L, idx, "columns", 0));
  s.pager = opt_bool(L, idx, "pager", false) && g_output.file == nullptr;
  s.batch = opt_int(L, idx, "batch", 0);
  return s;
}

bool interrupted() {
  return lua::pending_interrupt() != 0;
}

// Output for one command: stdout, the \o target, or a pager opened for it; closed (and
// flushed) when the command is done.
class Out {
 public:
  explicit Out(bool may_page) : may_page_(may_page) {}
  ~Out() {
    if (pager_) {
      close_pager(pager_);
    } else {
      std::fflush(destination());
    }
  }
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;

  // Decides on the pager once, for output of about `lines` lines.
  void expect(long lines) {
    if (decided_) return;
    decided_ = true;
    if (may_page_) pager_ = open_pager(lines);
  }
  FILE* file() const { return pager_ ? pager_ : destination(); }
  void write(std::string_view s) { std::fwrite(s.data(), 1, s.size(), file()); }
  pg::TablePrinter printer() {
    return pg::TablePrinter([this](std::string_view s) { write(s); }, interrupted);
  }

 private:
  bool may_page_;
  bool decided_ = false;
  FILE* pager_ = nullptr;
};

void print_result(Out& out, const pg::Result& r, pg::PrintOptions opt) {
  pg::ResultTable table(r.get());
  out.expect(pg::TablePrinter::line_estimate(table, opt, {}));
  out.printer().print(table, opt, {});
}

bool returns_rows_and_tag(const std::string& tag) {
  return tag.rfind("INSERT", 0) == 0 || tag.rfind("UPDATE", 0) == 0 || tag.rfind("DELETE", 0) == 0;
}

struct Outcome {
  const char* kind = "command";
  std::string tag;
  long long rows = 0;
};

// COPY … TO STDOUT: its data goes where results go, as it comes.
Outcome copy_out(pg::Connection& conn, Out& out) {
  Outcome o{"copy", "", 0};
  out.expect(0);
  const char* buf = nullptr;
  for (long n; (n = conn.read_copy(&buf)) >= 0;)
    out.write(std::string_view(buf, static_cast<size_t>(n)));
  o.rows = conn.copied_out();
  o.tag = "COPY " + std::to_string(o.rows);
  return o;
}

// Runs `sql` as one statement and prints its result as psql does: rows as a table (with the
// tag after INSERT/UPDATE/DELETE … RETURNING), a command's tag, COPY's data.
Outcome run_whole(pg::Connection& conn, const std::string& sql, const Settings& s, Out& out) {
  pg::Result r = conn.exec(sql);
  Outcome o;
  o.tag = r.command();
  switch (PQresultStatus(r.get())) {
    case PGRES_TUPLES_OK:
      o.kind = "rows";
      o.rows = r.rows();
      print_result(out, r, s.opt);
      if (returns_rows_and_tag(o.tag)) out.write(pg::status_line(o.tag, s.opt));
      break;
    case PGRES_EMPTY_QUERY:
      o.kind = "empty";
      break;
    case PGRES_COPY_OUT:
      return copy_out(conn, out);
    case PGRES_COPY_IN:
      conn.end_copy("COPY FROM STDIN needs its data");
      throw std::runtime_error(
          "COPY … FROM STDIN needs its data: end the statement with ; and give the data on the "
          "lines after it");
    default:
      o.rows = r.affected();
      out.expect(1);
      out.write(pg::status_line(o.tag, s.opt));
  }
  return o;
}

constexpr const char* kCursor = "_weir_repl_cursor";

// psql's FETCH_COUNT: the rows of a query `batch` at a time through a cursor (in a transaction
// of its own unless one is open), each batch printed as it comes; the table goes on from one
// batch to the next (the aligned format sizes each batch's columns on its own, as psql does).
Outcome run_batched(pg::Connection& conn, const std::string& sql, const Settings& s, Out& out) {
  bool own_tx = !conn.in_transaction();
  if (own_tx) conn.exec("BEGIN");
  Outcome o{"rows", "", 0};
  try {
    std::string declare = std::string("DECLARE ") + kCursor + " NO SCROLL CURSOR FOR\n";
    try {
      conn.exec(declare + sql);
    } catch (pg::SqlError& e) {  // point at the statement as typed, not our DECLARE
      e.query = sql;
      e.position = e.position > static_cast<int>(declare.size())
                       ? e.position - static_cast<int>(declare.size())
                       : 0;
      throw;
    }
    pg::PrintOptions opt = s.opt;
    std::string fetch = "FETCH FORWARD " + std::to_string(s.batch) + " FROM " + kCursor;
    for (;;) {
      pg::Result r = conn.exec(fetch);
      long n = r.rows();
      opt.stop_table = n < s.batch;
      // a result of several batches pages as a whole (psql decides so too)
      out.expect(opt.stop_table && opt.start_table ? n + 3 : 1L << 30);
      pg::ResultTable table(r.get());
      out.printer().print(table, opt, {});
      std::fflush(out.file());
      opt.start_table = false;
      opt.prior_records += n;
      o.rows += n;
      if (n < s.batch || interrupted()) break;
    }
    conn.exec(std::string("CLOSE ") + kCursor);
    if (own_tx) conn.exec("COMMIT");
  } catch (const std::exception&) {
    if (own_tx && conn.in_transaction()) {
      try {
        conn.exec("ROLLBACK");
      } catch (const std::exception&) {
        // the connection is gone: the error being raised says so
      }
    }
    throw;
  }
  o.tag = "SELECT " + std::to_string(o.rows);
  return o;
}

// query(db, sql, settings) -> kind ("rows"|"command"|"copy"|"empty"), tag, rows
int print_query(lua_State* L) {
  pg::Connection& conn = modules::connection_arg(L, 1);
  std::string sql = luaL_checkstring(L, 2);
  Settings s = read_settings(L, 3);
  Outcome o;
  {
    Out out(s.pager);
    o = s.batch > 0 ? run_batched(conn, sql, s, out) : run_whole(conn, sql, s, out);
  }
  lua_pushstring(L, o.kind);
  lua_pushlstring(L, o.tag.data(), o.tag.size());
  lua_pushinteger(L, static_cast<lua_Integer>(o.rows));
  return 3;
}

// Cells a Lua caller built (describe commands, db:query results): copied out of Lua first.
class CellsTable : public pg::Table {
 public:
  int columns() const override { return static_cast<int>(headers.size()); }
  std::string_view header(int c) const override { return headers[c]; }
  bool right_aligned(int c) const override { return right[c]; }
  long rows() const override { return nrows; }
  bool cell(long r, int c, std::string_view& text) const override {
    const auto& v = cells[static_cast<size_t>(r) * headers.size() + c];
    if (!v) return false;
    text = *v;
    return true;
  }

  std::vector<std::string> headers;
  std::vector<char> right;
  std::vector<std::optional<std::string>> cells;
  long nrows = 0;
};

std::vector<std::string> string_list(lua_State* L, int idx, const char* key) {
  std::vector<std::string> out;
  if (lua_getfield(L, idx, key) == LUA_TTABLE) {
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; ++i) {
      size_t n = 0;
      const char* s = luaL_tolstring(L, -1, &n);
      out.emplace_back(s, n);
      lua_pop(L, 2);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return out;
}

// table(t, settings): t = {headers, right = {bool…}, rows = {{cell…}…}, footers, count, title};
// a cell that is nil or db.NULL shows as settings.null. count=false: no "(N rows)".
int print_table(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  Settings s = read_settings(L, 2);
  CellsTable t;
  t.headers = string_list(L, 1, "headers");
  size_t ncols = t.headers.size();
  t.right.assign(ncols, 0);
  if (lua_getfield(L, 1, "right") == LUA_TTABLE) {
    for (size_t c = 0; c < ncols; ++c) {
      lua_rawgeti(L, -1, static_cast<lua_Integer>(c + 1));
      t.right[c] = lua_toboolean(L, -1) ? 1 : 0;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  if (lua_getfield(L, 1, "rows") == LUA_TTABLE) {
    for (lua_Integer r = 1; lua_rawgeti(L, -1, r) == LUA_TTABLE; ++r) {
      for (size_t c = 0; c < ncols; ++c) {
        lua_rawgeti(L, -1, static_cast<lua_Integer>(c + 1));
        if (lua_isnil(L, -1) || lua::is_null(L, -1)) {
          t.cells.emplace_back(std::nullopt);
        } else {
          size_t n = 0;
          const char* v = luaL_tolstring(L, -1, &n);
          t.cells.emplace_back(std::string(v, n));
          lua_pop(L, 1);
        }
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
      ++t.nrows;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  std::vector<std::string> footers = string_list(L, 1, "footers");
  if (auto title = opt_maybe(L, 1, "title")) s.opt.title = title;
  if (!opt_bool(L, 1, "count", true)) s.opt.default_footer = false;
  Out out(s.pager);
  out.expect(pg::TablePrinter::line_estimate(t, s.opt, footers));
  out.printer().print(t, s.opt, footers);
  return 0;
}

// emit(text, settings): results that are not tables (Lua values, \sf …) go where tables go.
int emit(lua_State* L) {
  size_t n = 0;
  const char* text = luaL_checklstring(L, 1, &n);
  Settings s = read_settings(L, 2);
  long lines = 0;
  for (size_t i = 0; i < n; ++i)
    lines += text[i] == '\n';
  Out out(s.pager);
  out.expect(lines);
  out.write(std::string_view(text, n));
  return 0;
}

}  // namespace

void close_query_output() {
  if (!g_output.file) return;
  if (g_output.pipe) {
    pclose(g_output.file);
    std::signal(SIGPIPE, g_output.pipe_handler);
  } else {
    std::fclose(g_output.file);
  }
  g_output = QueryOutput{};
}

namespace {

// output([target]) -> true | nil, message: \o. nil or "" is stdout; "|command" a shell pipe (the
// REPL asks for --unsafe first); anything else a file, truncated.
int set_output(lua_State* L) {
  std::string target = luaL_optstring(L, 1, "");
  FILE* f = nullptr;
  bool pipe = !target.empty() && target[0] == '|';
  void (*handler)(int) = SIG_DFL;
  if (pipe) {
    std::fflush(nullptr);
    handler = std::signal(SIGPIPE, SIG_IGN);  // a command that exits early must not end weir
    f = popen(target.c_str() + 1, "w");
    if (!f) std::signal(SIGPIPE, handler);
  } else if (!target.empty()) {
    f = std::fopen(target.c_str(), "w");
  }
  if (!target.empty() && !f) {
    std::string message = target + ": " + std::strerror(errno);
    lua_pushnil(L);
    lua_pushlstring(L, message.data(), message.size());
    return 2;
  }
  close_query_output();
  g_output.file = f;
  g_output.pipe = pipe;
  g_output.pipe_handler = handler;
  lua_pushboolean(L, 1);
  return 1;
}

}  // namespace

void add_print_functions(lua_State* L) {
  static const luaL_Reg functions[] = {{"query", lua::guarded<print_query>},
                                       {"table", lua::guarded<print_table>},
                                       {"emit", lua::guarded<emit>},
                                       {"output", lua::guarded<set_output>},
                                       {nullptr, nullptr}};
  luaL_setfuncs(L, functions, 0);
}

}  // namespace weir::cli
