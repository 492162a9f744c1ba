// The C++ Lua modules. Each lives in its own mod_<name>.cpp and exports one luaopen_ function;
// lua/modules.cpp is the single list that preloads them.
#pragma once

#include <lua.hpp>

#include <string>

namespace weir::modules {

int luaopen_db_core(lua_State* L);  // "db.core": the Connection type (stdlib/db.lua extends it)
int luaopen_weir(
    lua_State* L);  // "weir.core": connections, version, clock (stdlib/weir.lua extends it)

int luaopen_json(lua_State* L);  // "json": encode/decode
int luaopen_sql(lua_State* L);   // "sql": PostgreSQL's parser (parse)

// Pushes a new Connection object for `target` (URL, conninfo, or "" for libpq defaults).
// eager: connect now (throws pg::ConnectionError); otherwise connect on first use.
void push_connection(lua_State* L, const std::string& target, bool eager);

}  // namespace weir::modules
