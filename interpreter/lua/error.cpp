// Error values and their text (see error.hpp).
#include "lua/error.hpp"

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
  if (is_exit_sentinel(L, idx)) return "exit";
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
  lua_pushlightuserdata(L, const_cast<char*>(&kExitKey));
}

bool is_exit_sentinel(lua_State* L, int idx) {
  return lua_islightuserdata(L, idx) && lua_touserdata(L, idx) == &kExitKey;
}

}  // namespace weir::lua
