// Lua module "sql": PostgreSQL's own parser for scripts and the stdlib.
//   sql.parse(text) -> { {text=, kind=, tree=}, ... }   one entry per statement; raises
//                      "sql.parse: MESSAGE at character N" on text PostgreSQL cannot parse
//   sql.lint(text [, {transaction=, one_query=, ignore=}]) -> { {line=, rule=, message=,
//                      statement=}, ... }   lint (pg/lint.hpp); a list of {sql=, transaction=,
//                      one_query=, ignore=} lints texts that run in order (entries add chunk=)
//   sql.redact(text, ...) -> text, ...   password literals replaced with '***' (pg/sql_parse.hpp);
//                      further arguments (messages about the SQL) come back with them removed
//   sql.transaction_control(text) -> statement, message | nil   the first statement of text a
//                      transactional phase may not run (pg::transaction_control: COMMIT,
//                      ROLLBACK, BEGIN …) and the one-line refusal weir gives for it
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "lua/convert.hpp"
#include "lua/guarded.hpp"
#include "modules/modules.hpp"
#include "pg/connection.hpp"
#include "pg/lint.hpp"
#include "pg/sql_parse.hpp"

namespace weir::modules {

namespace {

using lua::guarded;

int sql_parse(lua_State* L) {
  size_t len;
  const char* text = luaL_checklstring(L, 1, &len);
  std::vector<pg::Statement> stmts;
  try {
    stmts = pg::parse_sql(std::string(text, len));
  } catch (const pg::SqlSyntaxError& e) {
    std::string where = e.position > 0 ? " at character " + std::to_string(e.position) : "";
    throw std::invalid_argument(std::string("sql.parse: ") + e.what() + where);
  }
  lua_createtable(L, static_cast<int>(stmts.size()), 0);
  for (size_t i = 0; i < stmts.size(); ++i) {
    lua_createtable(L, 0, 3);
    lua_pushlstring(L, stmts[i].text.data(), stmts[i].text.size());
    lua_setfield(L, -2, "text");
    lua_pushstring(L, stmts[i].kind.c_str());
    lua_setfield(L, -2, "kind");
    lua::push_json(L, stmts[i].tree);
    lua_setfield(L, -2, "tree");
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  return 1;
}

// sql.redact(text, ...): the text with its secrets replaced, then each further argument (a
// message about that SQL) with those secrets removed; nil arguments stay nil.
int sql_redact(lua_State* L) {
  size_t len;
  const char* text = luaL_checklstring(L, 1, &len);
  int n = lua_gettop(L);
  for (int i = 2; i <= n; ++i)
    if (!lua_isnil(L, i)) luaL_checkstring(L, i);
  std::vector<std::string> extra;
  for (int i = 2; i <= n; ++i)
    extra.emplace_back(lua_isnil(L, i) ? "" : lua_tostring(L, i));
  pg::Redacted r = pg::redact_secrets(std::string(text, len));
  for (auto& message : extra) {
    for (const auto& secret : r.secrets) {
      // a secret as written ('…', quotes included) and, when long enough not to be a common
      // word, its inside
      message = pg::scrub(message, secret);
      if (secret.size() >= 10) message = pg::scrub(message, secret.substr(1, secret.size() - 2));
    }
  }
  lua_pushlstring(L, r.text.data(), r.text.size());
  for (int i = 2; i <= n; ++i) {
    if (lua_isnil(L, i))
      lua_pushnil(L);
    else
      lua_pushlstring(L, extra[static_cast<size_t>(i - 2)].data(),
                      extra[static_cast<size_t>(i - 2)].size());
  }
  return n;
}

int sql_transaction_control(lua_State* L) {
  size_t len;
  const char* text = luaL_checklstring(L, 1, &len);
  std::string statement = pg::transaction_control(std::string(text, len));
  if (statement.empty()) {
    lua_pushnil(L);
    return 1;
  }
  std::string message = transaction_control_refusal(statement);
  lua_pushlstring(L, statement.data(), statement.size());
  lua_pushlstring(L, message.data(), message.size());
  return 2;
}

struct LintInput {
  std::string sql;
  pg::LintContext ctx;
};

// The options of one text ({transaction=, one_query=, ignore=}) from the table at `idx`.
// Throws on a wrong type (the caller holds C++ objects: no Lua error here).
void read_lint_options(lua_State* L, int idx, const std::string& what, pg::LintContext& ctx) {
  idx = lua_absindex(L, idx);
  auto boolean = [&](const char* key) {
    int t = lua_getfield(L, idx, key);
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    if (t != LUA_TNIL && t != LUA_TBOOLEAN)
      throw std::invalid_argument("sql.lint: " + what + key + " must be a boolean");
    return v;
  };
  ctx.in_transaction = boolean("transaction");
  ctx.one_query = boolean("one_query");
  int t = lua_getfield(L, idx, "ignore");
  if (t == LUA_TTABLE) {
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; ++i) {
      if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pop(L, 2);
        throw std::invalid_argument("sql.lint: " + what + "ignore must be a list of strings");
      }
      ctx.ignores.emplace_back(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);  // the nil that ended the list
  } else if (t != LUA_TNIL) {
    lua_pop(L, 1);
    throw std::invalid_argument("sql.lint: " + what + "ignore must be a list of strings");
  }
  lua_pop(L, 1);
}

void push_violation(lua_State* L, const pg::LintViolation& v, lua_Integer chunk) {
  lua_createtable(L, 0, 5);
  lua_pushinteger(L, v.line);
  lua_setfield(L, -2, "line");
  lua_pushstring(L, v.rule.c_str());
  lua_setfield(L, -2, "rule");
  lua_pushlstring(L, v.message.data(), v.message.size());
  lua_setfield(L, -2, "message");
  lua_pushlstring(L, v.statement.data(), v.statement.size());
  lua_setfield(L, -2, "statement");
  if (chunk > 0) {
    lua_pushinteger(L, chunk);
    lua_setfield(L, -2, "chunk");
  }
}

int sql_lint(lua_State* L) {
  bool list = lua_type(L, 1) == LUA_TTABLE;
  if (!list) luaL_checkstring(L, 1);
  if (!list && !lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  std::vector<LintInput> inputs;
  if (list) {
    for (lua_Integer i = 1; lua_rawgeti(L, 1, i) != LUA_TNIL; ++i) {
      std::string what = "entry " + std::to_string(i) + ": ";
      if (!lua_istable(L, -1))
        throw std::invalid_argument("sql.lint: " + what + "expected a table");
      LintInput in;
      if (lua_getfield(L, -1, "sql") != LUA_TSTRING)
        throw std::invalid_argument("sql.lint: " + what + "sql must be a string");
      size_t len;
      const char* text = lua_tolstring(L, -1, &len);
      in.sql.assign(text, len);
      lua_pop(L, 1);
      read_lint_options(L, -1, what, in.ctx);
      inputs.push_back(std::move(in));
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  } else {
    size_t len;
    const char* text = lua_tolstring(L, 1, &len);
    LintInput in;
    in.sql.assign(text, len);
    if (lua_istable(L, 2)) read_lint_options(L, 2, "", in.ctx);
    inputs.push_back(std::move(in));
  }

  std::vector<std::pair<lua_Integer, pg::LintViolation>> found;
  pg::Linter linter;
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (auto& v : linter.lint(inputs[i].sql, inputs[i].ctx))
      found.emplace_back(list ? static_cast<lua_Integer>(i + 1) : 0, std::move(v));
  }

  lua_createtable(L, static_cast<int>(found.size()), 0);
  for (size_t i = 0; i < found.size(); ++i) {
    push_violation(L, found[i].second, found[i].first);
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  return 1;
}

const luaL_Reg kFunctions[] = {
    {"parse", guarded<sql_parse>},
    {"lint", guarded<sql_lint>},
    {"redact", guarded<sql_redact>},
    {"transaction_control", guarded<sql_transaction_control>},
    {nullptr, nullptr},
};

}  // namespace

int luaopen_sql(lua_State* L) {
  luaL_newlib(L, kFunctions);
  return 1;
}

}  // namespace weir::modules
