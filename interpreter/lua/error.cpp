// Error values and their text (see error.hpp).
#include "lua/error.hpp"

#include "lua/host.hpp"
#include "lua/interrupt.hpp"
#include "lua/where.hpp"

namespace weir::lua {

namespace {

const char* const kErrorType = "weir.Error";
const char kExitKey = 0;  // its address identifies the os.exit sentinel

int error_tostring(lua_State* L) {
  lua_getfield(L, 1, "where");
  lua_getfield(L, 1, "text");
  lua_concat(L, 2);
  return 1;
}

void set_string(lua_State* L, const char* key, const std::string& v) {
  lua_pushlstring(L, v.data(), v.size());
  lua_setfield(L, -2, key);
}

}  // namespace

void register_error_type(lua_State* L) {
  if (luaL_newmetatable(L, kErrorType)) {
    lua_pushcfunction(L, error_tostring);
    lua_setfield(L, -2, "__tostring");
  }
  lua_pop(L, 1);
}

void push_sql_error(lua_State* L, const pg::SqlError& e) {
  lua_createtable(L, 0, 12);
  set_string(L, "sqlstate", e.sqlstate);
  set_string(L, "message", e.message);
  set_string(L, "severity", e.severity);
  set_string(L, "query", e.query);
  if (!e.detail.empty()) set_string(L, "detail", e.detail);
  if (!e.hint.empty()) set_string(L, "hint", e.hint);
  if (!e.context.empty()) set_string(L, "context", e.context);
  if (e.position > 0) {
    lua_pushinteger(L, e.position);
    lua_setfield(L, -2, "position");
  }
  set_string(L, "text", e.line());
  push_script_where(L, 1);
  lua_setfield(L, -2, "where");
  register_error_type(L);
  luaL_setmetatable(L, kErrorType);
}

std::string error_text(lua_State* L, int idx) {
  idx = lua_absindex(L, idx);
  if (is_exit_sentinel(L, idx)) return "os.exit(" + std::to_string(host(L).exit_code) + ")";
  size_t len = 0;
  const char* s = nullptr;
  if (luaL_callmeta(L, idx, "__tostring")) {
    s = lua_tolstring(L, -1, &len);
    std::string out = s ? std::string(s, len) : "(error object)";
    lua_pop(L, 1);
    return out;
  }
  if (lua_type(L, idx) == LUA_TSTRING || lua_type(L, idx) == LUA_TNUMBER) {
    s = lua_tolstring(L, idx, &len);
    return std::string(s, len);
  }
  return std::string("(error object is a ") + luaL_typename(L, idx) + " value)";
}

int traceback_handler(lua_State* L) {
  if (is_exit_sentinel(L, 1) || is_interrupt(L, 1)) return 1;
  repoint_error(L, 1);
  std::string text = error_text(L, 1);
  luaL_traceback(L, L, text.c_str(), 1);
  return 1;
}

void push_exit_sentinel(lua_State* L) {
  if (lua_rawgetp(L, LUA_REGISTRYINDEX, &kExitKey) == LUA_TTABLE) return;
  lua_pop(L, 1);
  lua_createtable(L, 0, 0);
  lua_createtable(L, 0, 3);
  lua_pushliteral(L, "weir.Exit");
  lua_setfield(L, -2, "__name");
  lua_pushcfunction(L, [](lua_State* S) -> int {
    lua_pushfstring(S, "os.exit(%d)", host(S).exit_code);
    return 1;
  });
  lua_setfield(L, -2, "__tostring");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");  // nobody swaps it for another
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kExitKey);
}

bool exit_requested(lua_State* L) {
  return host(L).exit_code >= 0 && !host(L).exit_held;
}

int raise_exit(lua_State* L) {
  push_exit_sentinel(L);
  return lua_error(L);
}

bool is_exit_sentinel(lua_State* L, int idx) {
  if (!lua_istable(L, idx)) return false;
  idx = lua_absindex(L, idx);
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kExitKey);
  bool same = lua_rawequal(L, idx, -1);
  lua_pop(L, 1);
  return same;
}

}  // namespace weir::lua
