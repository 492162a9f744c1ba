// The C++ Lua modules. Each lives in its own mod_<name>.cpp and exports one luaopen_ function;
// lua/modules.cpp is the single list that preloads them.
#pragma once

#include <lua.hpp>

#include <string>

namespace weir::pg {
class Connection;
}

namespace weir::modules {

int luaopen_db_core(lua_State* L);  // "db.core": the Connection type (stdlib/db.lua extends it)
int luaopen_weir(
    lua_State* L);  // "weir.core": connections, version, clock (stdlib/weir.lua extends it)

int luaopen_json(lua_State* L);  // "json": encode/decode
int luaopen_sql(lua_State* L);   // "sql": PostgreSQL's parser (parse)

int luaopen_schema_core(lua_State* L);    // "schema.core": inspect, diff (stdlib/schema.lua)
int luaopen_copy_core(lua_State* L);      // "copy.core": COPY data path (stdlib/copy.lua)
int luaopen_progress_core(lua_State* L);  // "progress.core": the live line (stdlib/progress.lua)

// The live pg::Connection of the Connection object at `idx` (connecting a lazy one now).
// Raises a Lua error for anything else or a closed connection.
pg::Connection& connection_arg(lua_State* L, int idx);

// The target (URL or conninfo, password included) of the Connection object at `idx`: for
// handing a connection to a worker process, never for display.
std::string connection_target(lua_State* L, int idx);

// Pushes a new Connection object for `target` (URL, conninfo, or "" for libpq defaults).
// eager: connect now (throws pg::ConnectionError); otherwise connect on first use.
void push_connection(lua_State* L, const std::string& target, bool eager);

// The one-line error for a statement a transactional phase may not run
// (pg::transaction_control): db:trace's forbid_commit (weir plan) and sql.transaction_control
// (the runner's statement hook in weir up) give the same words.
std::string transaction_control_refusal(const std::string& statement);

}  // namespace weir::modules
