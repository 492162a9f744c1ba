// The one exception boundary between C++ and Lua. Every C++ function registered with Lua is
// wrapped as guarded<F>: a std::exception thrown by F becomes a Lua error carrying its message
// (prefixed with the calling script's FILE:LINE — the script's, also when a stdlib helper made
// the call, lua/where.hpp), and a pg::SqlError becomes a structured
// weir.Error object. The message is copied into locals and lua_error is called only after the
// catch block has closed. Lua's own errors (raised by luaL_check* inside F) pass through
// untouched: they are not std::exceptions, and nothing here catches (...).
#pragma once

#include <lua.hpp>

#include <optional>
#include <stdexcept>
#include <string>

#include "lua/error.hpp"
#include "lua/where.hpp"
#include "pg/connection.hpp"

namespace weir::lua {

template <lua_CFunction F>
int guarded(lua_State* L) {
  std::optional<pg::SqlError> sql_error;
  std::string message;
  try {
    return F(L);
  } catch (const pg::SqlError& e) {
    sql_error = e;
  } catch (const std::exception& e) {
    message = e.what();
  }
  if (sql_error) {
    push_sql_error(L, *sql_error);
  } else {
    push_script_where(L, 1);
    lua_pushlstring(L, message.data(), message.size());
    lua_concat(L, 2);
  }
  return lua_error(L);
}

}  // namespace weir::lua
