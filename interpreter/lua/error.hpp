// Error values crossing into Lua, and turning any Lua error back into text for people.
// SQL errors are tables with metatable weir.Error: fields sqlstate, message, detail, hint,
// position, context, severity, query, where; tostring gives one line.
#pragma once

#include <lua.hpp>

#include <string>

#include "pg/connection.hpp"

namespace weir::lua {

// Pushes a weir.Error table for `e`, with `where` set to the calling script's FILE:LINE (the
// script's, not the stdlib helper's that ran the statement: lua/where.hpp).
void push_sql_error(lua_State* L, const pg::SqlError& e);
// Registers the weir.Error metatable (idempotent).
void register_error_type(lua_State* L);
// Text of the error value at `idx` (uses __tostring; non-string values are described).
std::string error_text(lua_State* L, int idx);
// A message handler for lua_pcall: turns the error into "message\nstack traceback:…", the
// message re-pointed from a stdlib line to the script's (lua/where.hpp).
// Leaves the os.exit sentinel and the interrupt untouched (the runner recognises the one; the
// other prints as "interrupted", with no traceback of where it happened to land).
int traceback_handler(lua_State* L);
// The os.exit sentinel: a unique value (a table, "os.exit(N)" as text) raised by the sandboxed
// os.exit, which pcall, xpcall and the coroutine functions pass on (lua/protected.hpp), so
// that it ends weir with host(L).exit_code wherever it was called.
void push_exit_sentinel(lua_State* L);
bool is_exit_sentinel(lua_State* L, int idx);
// Whether os.exit was called (it sets host(L).exit_code before it raises), and raising the
// sentinel again (does not return).
bool exit_requested(lua_State* L);
int raise_exit(lua_State* L);

}  // namespace weir::lua
