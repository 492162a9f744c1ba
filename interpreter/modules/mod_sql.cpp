// Lua module "sql": PostgreSQL's own parser for scripts and the stdlib.
//   sql.parse(text) -> { {text=, kind=, tree=}, ... }   one entry per statement; raises
//                      "sql.parse: MESSAGE at character N" on text PostgreSQL cannot parse
#include <string>

#include "lua/convert.hpp"
#include "lua/guarded.hpp"
#include "modules/modules.hpp"
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

const luaL_Reg kFunctions[] = {
    {"parse", guarded<sql_parse>},
    {nullptr, nullptr},
};

}  // namespace

int luaopen_sql(lua_State* L) {
  luaL_newlib(L, kFunctions);
  return 1;
}

}  // namespace weir::modules
