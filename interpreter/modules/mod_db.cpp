// Lua module "db.core": the Connection type behind the `db` global and weir.connect(),
// plus the value helpers (db.NULL, db.isnull, db.json, db.array, db.bytea).
// stdlib/db.lua adds the conveniences written in Lua (db:tx).
//
// Connection methods: query, query_text, one, value, exec, copy_in, copy_out, rows, close, info,
// in_transaction, transaction_status, quote_ident, quote_literal. A Cursor (from db:rows) keeps its
// Connection alive through its user value. Both types are "born closed"-safe: using a closed
// one raises "attempt to use a closed connection", closing twice is harmless, and __gc and
// __close share one noexcept function. Their metatables are protected (lua/userdata.hpp):
// a script cannot call __gc by hand, and a second __gc finds an empty closed box.
#include <cstdio>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "lua/convert.hpp"
#include "lua/guarded.hpp"
#include "lua/host.hpp"
#include "lua/userdata.hpp"
#include "lua/where.hpp"
#include "modules/modules.hpp"
#include "pg/connection.hpp"
#include "pg/sql_parse.hpp"

namespace weir::modules {

namespace {

using lua::guarded;

const char* const kConnection = "weir.Connection";
const char* const kCursor = "weir.Cursor";
constexpr int kFetchSize = 1000;

// Argument positions of the methods (self is 1).
constexpr int kSelf = 1, kSql = 2, kFirstParam = 3;

struct ConnBox {
  std::unique_ptr<pg::Connection> conn;
  std::string target;  // where a lazy connection connects on first use
  bool closed = false;
  int next_cursor = 0;
  bool tracing = false;             // db:trace(true) .. db:trace(false)
  bool forbid_commit = false;       // while tracing: refuse statements that end the transaction
  std::vector<std::string> traced;  // the SQL the script ran meanwhile, in order
  std::vector<std::string> traced_where;  // for each: "FILE:LINE" of the script line that ran it
};

struct CursorBox {
  std::string name;
  bool own_tx = false;  // db:rows opened the transaction and ends it
  bool closed = false;
  pg::Result batch;
  int index = 0;
  std::vector<const pg::TypeDesc*> types;
};

void notice_to_stderr(void* ctx, const std::string& severity, const std::string& message) {
  bool verbose = static_cast<lua::Host*>(ctx)->verbose;
  if (verbose ||
      (severity != "NOTICE" && severity != "INFO" && severity != "DEBUG" && severity != "LOG")) {
    std::fprintf(stderr, "%s:  %s\n", severity.c_str(), message.c_str());
  }
}

ConnBox* check_box(lua_State* L, int idx) {
  return static_cast<ConnBox*>(luaL_checkudata(L, idx, kConnection));
}

// The live connection of the box at `idx`, connecting a lazy one now. Raises on a closed one.
pg::Connection& live(lua_State* L, int idx) {
  ConnBox* box = check_box(L, idx);
  if (box->closed) luaL_error(L, "attempt to use a closed connection");
  if (!box->conn) {
    box->conn = std::make_unique<pg::Connection>(box->target);
    box->conn->set_notice_sink(notice_to_stderr, &lua::host(L));
  }
  box->conn->wait_background(true);  // a copy's read-ahead or write on this connection ends first
  return *box->conn;
}

}  // namespace

std::string transaction_control_refusal(const std::string& statement) {
  std::string shown;  // one line, its password redacted, at most 60 characters
  for (char c : pg::redact_secrets(statement).text) {
    bool space = c == ' ' || c == '\n' || c == '\r' || c == '\t';
    if (!space || (!shown.empty() && shown.back() != ' ')) shown.push_back(space ? ' ' : c);
  }
  if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
  return "refusing to run `" + shown +
         "`: a transactional phase runs in the transaction weir records it in, which this would "
         "end or replace (use db:tx for savepoints, or transaction = false for a phase that runs "
         "its own transactions)";
}

pg::Connection& connection_arg(lua_State* L, int idx) {
  return live(L, idx);
}

std::string connection_target(lua_State* L, int idx) {
  ConnBox* box = check_box(L, idx);
  if (box->closed) luaL_error(L, "attempt to use a closed connection");
  return box->target;
}

namespace {

constexpr int kMaxParams = 65535;

// Collects arguments first..top as bound parameters. Throws on a value that cannot be bound.
std::vector<pg::Param> collect_params(lua_State* L, int first, const char* fn) {
  std::vector<pg::Param> params;
  int top = lua_gettop(L);
  // The protocol counts parameters in 16 bits; libpq refuses more with a message that weir
  // would show as a lost connection.
  if (top - first + 1 > kMaxParams) {
    throw std::invalid_argument(std::string(fn) + ": " + std::to_string(top - first + 1) +
                                " parameters, more than the " + std::to_string(kMaxParams) +
                                " PostgreSQL takes in one statement; pass the values as one array "
                                "(= ANY($1) with db.array), or split the statement");
  }
  for (int i = first; i <= top; ++i) {
    pg::Param p;
    std::string error;
    if (!lua::to_param(L, i, p, error)) {
      throw std::invalid_argument(std::string(fn) + ": parameter $" +
                                  std::to_string(i - first + 1) + ": " + error);
    }
    params.push_back(std::move(p));
  }
  return params;
}

// Notes `sql` when the connection is being traced (before it runs, so failures show too).
// With forbid_commit, a statement that controls the transaction (pg::controls_transaction:
// COMMIT, ROLLBACK, BEGIN …) raises before it runs.
void record(lua_State* L, const std::string& sql) {
  ConnBox* box = check_box(L, kSelf);
  if (!box->tracing) return;
  box->traced.push_back(sql);
  box->traced_where.push_back(lua::script_location(L));
  if (!box->forbid_commit) return;
  std::string control = pg::transaction_control(sql);
  if (!control.empty()) throw std::runtime_error(transaction_control_refusal(control));
}

// A COPY … FROM STDIN or TO STDOUT sent through query, one, value or exec has nobody to
// serve its data. It is finished here — FROM STDIN with no rows, TO STDOUT read and dropped —
// so the connection stays usable (and a transaction intact), then refused in one line.
pg::Result refuse_copy(pg::Connection& c, pg::Result r, const char* fn) {
  ExecStatusType status = PQresultStatus(r.get());
  if (status == PGRES_COPY_IN) {
    c.end_copy();
    throw std::runtime_error(std::string(fn) +
                             ": COPY … FROM STDIN needs its data: use db:copy_in(sql, data)");
  }
  if (status == PGRES_COPY_OUT) {
    const char* buf;
    while (c.read_copy(&buf) >= 0) {
    }
    throw std::runtime_error(std::string(fn) +
                             ": COPY … TO STDOUT returns its data: use db:copy_out(sql)");
  }
  return r;
}

// Calls package.loaded["db.hooks"][self](self, sql) when there is one (stdlib/db.lua), else
// its `others` hook: the migration runner watches what a phase sends on `db` this way, and
// holds every other connection to the phase's deadline and lock. Called first, before any C++
// object exists, since the hook may raise.
void statement_hook(lua_State* L) {
  int top = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "db.hooks") == LUA_TTABLE) {
    lua_pushvalue(L, kSelf);
    if (lua_rawget(L, -2) == LUA_TNIL) {
      lua_pop(L, 1);
      lua_pushliteral(L, "others");
      lua_rawget(L, -2);
    }
    if (lua_type(L, -1) == LUA_TFUNCTION) {
      lua_pushvalue(L, kSelf);
      lua_pushvalue(L, kSql);
      lua_call(L, 2, 0);
    }
  }
  lua_settop(L, top);
}

pg::Result run(lua_State* L, const char* fn) {
  statement_hook(L);
  luaL_checkstring(L, kSql);
  std::string sql = lua_tostring(L, kSql);
  std::vector<pg::Param> params = collect_params(L, kFirstParam, fn);
  record(L, sql);
  pg::Connection& c = live(L, kSelf);
  return refuse_copy(c, c.exec_params(sql, params), fn);
}

// Pushes row `row` of `r` as a table keyed by column name. Throws on a conversion failure.
void push_row(lua_State* L, const pg::Result& r, int row,
              const std::vector<const pg::TypeDesc*>& types) {
  int ncols = r.columns();
  lua_createtable(L, 0, ncols);
  for (int c = 0; c < ncols; ++c) {
    std::string error;
    if (r.is_null(row, c)) {
      lua::push_null(L);
    } else if (!lua::push_value(L, *types[c], r.value(row, c), r.length(row, c), error)) {
      lua_pop(L, 1);
      throw std::runtime_error(std::string("column \"") + r.column_name(c) + "\": " + error);
    }
    lua_setfield(L, -2, r.column_name(c));
  }
}

void push_columns(lua_State* L, const pg::Result& r,
                  const std::vector<const pg::TypeDesc*>& types) {
  lua_createtable(L, r.columns(), 0);
  for (int c = 0; c < r.columns(); ++c) {
    lua_createtable(L, 0, 2);
    lua_pushstring(L, r.column_name(c));
    lua_setfield(L, -2, "name");
    lua_pushstring(L, types[c]->name.c_str());
    lua_setfield(L, -2, "type");
    lua_rawseti(L, -2, c + 1);
  }
}

// After the rows of db:query and db:query_text: the columns in order, then the command tag.
void push_columns_and_tag(lua_State* L, const pg::Result& r,
                          const std::vector<const pg::TypeDesc*>& types) {
  push_columns(L, r, types);
  std::string tag = r.command();
  lua_pushlstring(L, tag.data(), tag.size());
}

// db:query(sql, ...) -> rows, columns, command tag
int db_query(lua_State* L) {
  pg::Result r = run(L, "db:query");
  auto types = live(L, kSelf).describe_columns(r);
  lua_createtable(L, r.rows(), 0);
  for (int i = 0; i < r.rows(); ++i) {
    push_row(L, r, i, types);
    lua_rawseti(L, -2, i + 1);
  }
  push_columns_and_tag(L, r, types);
  return 3;
}

// db:query_text(sql, ...) -> rows (each a sequence of the server's text, in column order),
// columns, command tag. By position, so columns of the same name keep their own values.
int db_query_text(lua_State* L) {
  pg::Result r = run(L, "db:query_text");
  auto types = live(L, kSelf).describe_columns(r);
  lua_createtable(L, r.rows(), 0);
  for (int i = 0; i < r.rows(); ++i) {
    lua_createtable(L, r.columns(), 0);
    for (int c = 0; c < r.columns(); ++c) {
      if (r.is_null(i, c)) {
        lua::push_null(L);
      } else {
        lua_pushlstring(L, r.value(i, c), static_cast<size_t>(r.length(i, c)));
      }
      lua_rawseti(L, -2, c + 1);
    }
    lua_rawseti(L, -2, i + 1);
  }
  push_columns_and_tag(L, r, types);
  return 3;
}

// db:one(sql, ...) -> first row or nil
int db_one(lua_State* L) {
  pg::Result r = run(L, "db:one");
  if (r.rows() == 0) {
    lua_pushnil(L);
    return 1;
  }
  auto types = live(L, kSelf).describe_columns(r);
  push_row(L, r, 0, types);
  return 1;
}

// db:value(sql, ...) -> first column of the first row, or nil when there is no row
int db_value(lua_State* L) {
  pg::Result r = run(L, "db:value");
  if (r.rows() == 0 || r.columns() == 0) {
    lua_pushnil(L);
    return 1;
  }
  if (r.is_null(0, 0)) {
    lua::push_null(L);
    return 1;
  }
  const pg::TypeDesc& type = live(L, kSelf).describe_type(r.column_type(0));
  std::string error;
  if (!lua::push_value(L, type, r.value(0, 0), r.length(0, 0), error)) {
    throw std::runtime_error("db:value: " + error);
  }
  return 1;
}

// db:exec(sql, ...) -> affected rows. Without parameters the SQL may hold several statements.
int db_exec(lua_State* L) {
  luaL_checkstring(L, kSql);
  if (lua_gettop(L) < kFirstParam) {
    statement_hook(L);
    std::string sql = lua_tostring(L, kSql);
    record(L, sql);
    pg::Connection& c = live(L, kSelf);
    pg::Result r = refuse_copy(c, c.exec(sql), "db:exec");
    lua_pushinteger(L, r.affected());
    return 1;
  }
  pg::Result r = run(L, "db:exec");
  lua_pushinteger(L, r.affected());
  return 1;
}

// The one statement of `sql` if it is COPY … FROM STDIN (`from`) or COPY … TO STDOUT;
// refused before anything runs otherwise.
void check_copy(const std::string& sql, bool from, const char* fn) {
  std::vector<pg::Statement> stmts;
  try {
    stmts = pg::parse_sql(sql);
  } catch (const pg::SqlSyntaxError&) {
    return;  // the server reports it, with its SQLSTATE
  }
  const char* want = from ? "COPY … FROM STDIN" : "COPY … TO STDOUT";
  bool ok = stmts.size() == 1 && stmts[0].kind == "CopyStmt" &&
            stmts[0].tree.value("is_from", false) == from && !stmts[0].tree.contains("filename");
  if (!ok) throw std::runtime_error(std::string(fn) + ": expected one " + want + " statement");
}

// db:copy_in(sql, data) -> rows: a COPY … FROM STDIN with all of its data
int db_copy_in(lua_State* L) {
  statement_hook(L);
  std::string sql = luaL_checkstring(L, kSql);
  size_t len = 0;
  const char* data = luaL_checklstring(L, kSql + 1, &len);
  check_copy(sql, true, "db:copy_in");
  record(L, sql);
  pg::Connection& c = live(L, kSelf);
  c.copy_in(sql);
  lua_pushinteger(L, c.send_copy(data, len).affected());
  return 1;
}

// db:copy_out(sql) -> data, rows: all a COPY … TO STDOUT sends
int db_copy_out(lua_State* L) {
  statement_hook(L);
  std::string sql = luaL_checkstring(L, kSql);
  check_copy(sql, false, "db:copy_out");
  record(L, sql);
  pg::Connection& c = live(L, kSelf);
  c.copy_out(sql);
  std::string data;
  const char* buf = nullptr;
  for (long n; (n = c.read_copy(&buf)) >= 0;)
    data.append(buf, static_cast<size_t>(n));
  lua_pushlstring(L, data.data(), data.size());
  lua_pushinteger(L, c.copied_out());
  return 2;
}

// ---- cursors (db:rows) ----------------------------------------------------------------

CursorBox* check_cursor(lua_State* L, int idx) {
  return static_cast<CursorBox*>(luaL_checkudata(L, idx, kCursor));
}

// Ends the cursor: CLOSE it and, when db:rows began the transaction, COMMIT (or ROLLBACK when
// the loop ended by an error). Never raises: a failure here is reported on stderr.
void finish_cursor(CursorBox* cur, ConnBox* box, bool failed) noexcept {
  if (cur->closed) return;
  cur->closed = true;
  cur->batch = pg::Result();
  if (!box || box->closed || !box->conn) return;
  try {
    if (cur->own_tx) {
      box->conn->exec(failed ? "ROLLBACK" : "COMMIT");
    } else if (!failed) {
      box->conn->exec("CLOSE " + cur->name);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weir: db:rows: closing %s: %s\n", cur->name.c_str(), e.what());
  }
}

ConnBox* cursor_parent(lua_State* L, int idx) {
  lua_getiuservalue(L, idx, 1);
  auto* box = static_cast<ConnBox*>(luaL_testudata(L, -1, kConnection));
  lua_pop(L, 1);
  return box;
}

// iterator: cursor_next(cursor) -> row | nil
int cursor_next(lua_State* L) {
  CursorBox* cur = check_cursor(L, 1);
  if (cur->closed) return 0;
  ConnBox* box = cursor_parent(L, 1);
  if (!box || box->closed || !box->conn) luaL_error(L, "attempt to use a closed connection");
  if (cur->index >= cur->batch.rows()) {
    cur->batch =
        box->conn->exec("FETCH FORWARD " + std::to_string(kFetchSize) + " FROM " + cur->name);
    cur->index = 0;
    if (cur->types.empty()) cur->types = box->conn->describe_columns(cur->batch);
    if (cur->batch.rows() == 0) {
      finish_cursor(cur, box, false);
      return 0;
    }
  }
  push_row(L, cur->batch, cur->index++, cur->types);
  return 1;
}

// __close(cursor, err) and __gc(cursor)
int cursor_close(lua_State* L) noexcept {
  auto* cur = static_cast<CursorBox*>(luaL_testudata(L, 1, kCursor));
  if (!cur) return 0;
  bool failed = lua_gettop(L) >= 2 && !lua_isnil(L, 2);
  finish_cursor(cur, cursor_parent(L, 1), failed);
  return 0;
}

// Ends the cursor like __close after an error, then releases what the box holds, leaving an
// empty closed box (which owns nothing, so Lua may free it without a destructor): a second
// call is a no-op.
int cursor_gc(lua_State* L) noexcept {
  auto* cur = static_cast<CursorBox*>(luaL_testudata(L, 1, kCursor));
  if (!cur) return 0;
  finish_cursor(cur, cursor_parent(L, 1), true);
  *cur = CursorBox();
  cur->closed = true;
  return 0;
}

// db:rows(sql, ...) -> iterator, cursor, nil, cursor   (for the generic for, with closing value)
int db_rows(lua_State* L) {
  statement_hook(L);
  luaL_checkstring(L, kSql);
  std::string sql = lua_tostring(L, kSql);
  std::vector<pg::Param> params = collect_params(L, kFirstParam, "db:rows");
  record(L, sql);
  ConnBox* box = check_box(L, kSelf);
  pg::Connection& conn = live(L, kSelf);
  std::string name = "weir_cursor_" + std::to_string(++box->next_cursor);
  bool own_tx = !conn.in_transaction();
  if (own_tx) conn.exec("BEGIN");
  try {
    conn.exec_params("DECLARE " + name + " NO SCROLL CURSOR FOR " + sql, params);
  } catch (const pg::SqlError& e) {
    if (own_tx) conn.exec("ROLLBACK");
    pg::SqlError shown = e;  // name the statement the script wrote, not our DECLARE
    shown.query = sql;
    if (shown.position > 0) shown.position -= static_cast<int>(name.size() + 30);
    if (shown.position < 0) shown.position = 0;
    throw shown;
  }
  lua_pushcfunction(L, guarded<cursor_next>);
  void* mem = lua_newuserdatauv(L, sizeof(CursorBox), 1);
  auto* cur = new (mem) CursorBox();
  cur->name = name;
  cur->own_tx = own_tx;
  luaL_setmetatable(L, kCursor);
  lua_pushvalue(L, kSelf);
  lua_setiuservalue(L, -2, 1);
  lua_pushnil(L);
  lua_pushvalue(L, -2);
  return 4;
}

// ---- connection lifecycle and facts ---------------------------------------------------

// __close, __gc's first half and db:close(): idempotent.
int conn_close(lua_State* L) noexcept {
  auto* box = static_cast<ConnBox*>(luaL_testudata(L, 1, kConnection));
  if (!box) return 0;
  box->conn.reset();
  box->closed = true;
  return 0;
}

// Closes the connection and releases everything the box holds, leaving an empty closed box
// (as cursor_gc does): idempotent.
int conn_gc(lua_State* L) noexcept {
  auto* box = static_cast<ConnBox*>(luaL_testudata(L, 1, kConnection));
  if (!box) return 0;
  *box = ConnBox();
  box->closed = true;
  return 0;
}

int conn_tostring(lua_State* L) {
  ConnBox* box = check_box(L, 1);
  std::string what = box->closed ? "closed"
                     : box->conn ? box->conn->safe_url()
                                 : "not yet connected";
  lua_pushfstring(L, "weir.Connection (%s)", what.c_str());
  return 1;
}

int db_close(lua_State* L) {
  check_box(L, kSelf);
  return conn_close(L);
}

int db_in_transaction(lua_State* L) {
  ConnBox* box = check_box(L, kSelf);
  // a copy's write on this connection ends first (and may open the transaction it is asked about)
  if (box->conn && !box->closed) box->conn->wait_background(true);
  lua_pushboolean(L, box->conn && box->conn->in_transaction());
  return 1;
}

// db:transaction_status() -> "idle" | "active" | "open" | "failed" | "closed"
int db_transaction_status(lua_State* L) {
  ConnBox* box = check_box(L, kSelf);
  const char* s = "idle";
  if (box->closed) {
    s = "closed";
  } else if (box->conn) {
    box->conn->wait_background(true);  // as db_in_transaction
    switch (PQtransactionStatus(box->conn->raw())) {
      case PQTRANS_ACTIVE:
        s = "active";
        break;
      case PQTRANS_INTRANS:
        s = "open";
        break;
      case PQTRANS_INERROR:
        s = "failed";
        break;
      case PQTRANS_UNKNOWN:
        s = "closed";
        break;
      default:
        break;
    }
  }
  lua_pushstring(L, s);
  return 1;
}

int db_info(lua_State* L) {
  pg::ConnInfo i = live(L, kSelf).info();
  lua_createtable(L, 0, 6);
  auto set = [L](const char* k, const std::string& v) {
    lua_pushstring(L, v.c_str());
    lua_setfield(L, -2, k);
  };
  set("database", i.database);
  set("user", i.user);
  set("host", i.host);
  set("port", i.port);
  set("server_version", i.server_version);
  set("url", i.url);
  return 1;
}

int db_quote_ident(lua_State* L) {
  std::string name = luaL_checkstring(L, 2);
  std::string q = live(L, kSelf).quote_ident(name);
  lua_pushstring(L, q.c_str());
  return 1;
}

int db_quote_literal(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 2, &len);
  std::string q = live(L, kSelf).quote_literal(std::string(s, len));
  lua_pushlstring(L, q.data(), q.size());
  return 1;
}

// ---- value helpers (called as db.json(t), not db:json) -------------------------------

int db_isnull(lua_State* L) {
  luaL_checkany(L, 1);
  lua_pushboolean(L, lua::is_null(L, 1));
  return 1;
}

int db_json(lua_State* L) {
  luaL_checkany(L, 1);
  lua::push_wrapper(L, lua::kJsonWrapper, 1);
  return 1;
}

int db_array(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua::push_wrapper(L, lua::kArrayWrapper, 1);
  return 1;
}

int db_bytea(lua_State* L) {
  luaL_checkstring(L, 1);
  lua::push_wrapper(L, lua::kByteaWrapper, 1);
  return 1;
}

// db:trace(on [, {forbid_commit=bool}]) -> the statements recorded since tracing last
// started, and a parallel list of the "FILE:LINE" that ran each. trace(true) starts a fresh
// record, trace(false) stops recording; both return what was recorded until then.
int db_trace(lua_State* L) {
  ConnBox* box = check_box(L, kSelf);
  luaL_checktype(L, 2, LUA_TBOOLEAN);
  bool forbid = false;
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    forbid = lua_getfield(L, 3, "forbid_commit") != LUA_TNIL && lua_toboolean(L, -1);
    lua_pop(L, 1);
  }
  lua_createtable(L, static_cast<int>(box->traced.size()), 0);
  for (size_t i = 0; i < box->traced.size(); ++i) {
    lua_pushlstring(L, box->traced[i].data(), box->traced[i].size());
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  lua_createtable(L, static_cast<int>(box->traced_where.size()), 0);
  for (size_t i = 0; i < box->traced_where.size(); ++i) {
    lua_pushstring(L, box->traced_where[i].c_str());
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  box->traced.clear();
  box->traced_where.clear();
  box->tracing = lua_toboolean(L, 2);
  box->forbid_commit = box->tracing && forbid;
  return 2;
}

// db:clone() -> a new Connection to the same database (its own session), connected now.
int db_clone(lua_State* L) {
  ConnBox* box = check_box(L, kSelf);
  if (box->closed) luaL_error(L, "attempt to use a closed connection");
  std::string target = box->target;
  push_connection(L, target, true);
  return 1;
}

const luaL_Reg kMethods[] = {
    {"clone", guarded<db_clone>},
    {"trace", guarded<db_trace>},
    {"query", guarded<db_query>},
    {"query_text", guarded<db_query_text>},
    {"one", guarded<db_one>},
    {"value", guarded<db_value>},
    {"exec", guarded<db_exec>},
    {"copy_in", guarded<db_copy_in>},
    {"copy_out", guarded<db_copy_out>},
    {"rows", guarded<db_rows>},
    {"close", guarded<db_close>},
    {"info", guarded<db_info>},
    {"in_transaction", guarded<db_in_transaction>},
    {"transaction_status", guarded<db_transaction_status>},
    {"quote_ident", guarded<db_quote_ident>},
    {"quote_literal", guarded<db_quote_literal>},
    {"isnull", guarded<db_isnull>},
    {"json", guarded<db_json>},
    {"array", guarded<db_array>},
    {"bytea", guarded<db_bytea>},
    {nullptr, nullptr},
};

const luaL_Reg kConnectionMeta[] = {
    {"__gc", conn_gc},
    {"__close", conn_close},
    {"__tostring", guarded<conn_tostring>},
    {nullptr, nullptr},
};

const luaL_Reg kCursorMeta[] = {
    {"__gc", cursor_gc},
    {"__close", cursor_close},
    {nullptr, nullptr},
};

}  // namespace

void push_connection(lua_State* L, const std::string& target, bool eager) {
  std::unique_ptr<pg::Connection> conn;
  if (eager) {
    conn = std::make_unique<pg::Connection>(target);
    conn->set_notice_sink(notice_to_stderr, &lua::host(L));
  }
  void* mem = lua_newuserdatauv(L, sizeof(ConnBox), 0);
  auto* box = new (mem) ConnBox();
  box->target = target;
  box->conn = std::move(conn);
  luaL_setmetatable(L, kConnection);
}

int luaopen_db_core(lua_State* L) {
  luaL_newmetatable(L, kCursor);
  luaL_setfuncs(L, kCursorMeta, 0);
  lua::protect_metatable(L, -1);
  lua_pop(L, 1);

  luaL_newmetatable(L, kConnection);
  luaL_setfuncs(L, kConnectionMeta, 0);
  luaL_newlib(L, kMethods);
  lua::push_null(L);
  lua_setfield(L, -2, "NULL");
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, "__index");
  lua::protect_metatable(L, -2);
  lua_remove(L, -2);  // the metatable; leave the methods table as the module
  return 1;
}

}  // namespace weir::modules
