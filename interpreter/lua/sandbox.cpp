// Script environment (see sandbox.hpp).
#include "lua/sandbox.hpp"

#include <cstring>
#include <string>

#include "lua/error.hpp"
#include "lua/host.hpp"
#include "lua/interrupt.hpp"

namespace weir::lua {

namespace {

const char kDeclaredKey = 0;  // registry: set of globals declared (possibly holding nil)

bool declared(lua_State* L, int key_idx) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kDeclaredKey);
  lua_pushvalue(L, key_idx);
  bool d = lua_rawget(L, -2) != LUA_TNIL;
  lua_pop(L, 2);
  return d;
}

// __newindex(_G, k, v)
int strict_newindex(lua_State* L) {
  if (!declared(L, 2)) {
    lua_Debug ar;
    bool top_level = true;
    if (lua_getstack(L, 1, &ar)) {
      lua_getinfo(L, "S", &ar);
      top_level = ar.what[0] == 'm' || ar.what[0] == 'C';  // "main" chunk or C code
    }
    if (!top_level) {
      return luaL_error(L,
                        "assignment to undeclared global '%s' (declare it at the top level "
                        "of the script, or use a local)",
                        lua_tostring(L, 2));
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &kDeclaredKey);
    lua_pushvalue(L, 2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
  }
  lua_rawset(L, 1);
  return 0;
}

// __index(_G, k)
int strict_index(lua_State* L) {
  if (declared(L, 2)) return 0;
  if (lua_type(L, 2) == LUA_TSTRING) {
    return luaL_error(L, "undefined global '%s'", lua_tostring(L, 2));
  }
  return luaL_error(L, "undefined global");
}

int sandboxed_exit(lua_State* L) {
  int code = 0;
  if (lua_isnoneornil(L, 1) || lua_isboolean(L, 1)) {
    code = (lua_isnoneornil(L, 1) || lua_toboolean(L, 1)) ? 0 : 1;
  } else {
    code = static_cast<int>(luaL_checkinteger(L, 1));
  }
  host(L).exit_code = code;
  push_exit_sentinel(L);
  return lua_error(L);
}

// Calls the original function (upvalue 1) with argument `mode_pos` forced to "t". The
// argument count is kept: load/loadfile treat an explicit nil env differently from none.
int call_text_only(lua_State* L, int mode_pos) {
  int n = lua_gettop(L);
  if (n < mode_pos) {
    lua_settop(L, mode_pos);
    n = mode_pos;
  }
  lua_pushliteral(L, "t");
  lua_replace(L, mode_pos);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

// load(chunk [, name [, mode [, env]]]) with mode forced to "t". A reader function that was
// interrupted makes load return nil and the error: the interrupt goes on instead.
int text_only_load(lua_State* L) {
  std::string name = lua_type(L, 2) == LUA_TSTRING ? lua_tostring(L, 2) : "load";
  int n = call_text_only(L, 3);
  if (stop_requested() && lua_isnil(L, 1)) return raise_interrupt(L);
  if (n == 2 && lua_isnil(L, 1)) name_binary_refusal(L, name.c_str());
  return n;
}

// loadfile(name [, mode [, env]]) with mode forced to "t".
int text_only_loadfile(lua_State* L) {
  std::string name = lua_type(L, 1) == LUA_TSTRING ? lua_tostring(L, 1) : "stdin";
  int n = call_text_only(L, 2);
  if (n == 2 && lua_isnil(L, 1)) name_binary_refusal(L, name.c_str());
  return n;
}

// dofile(name): loadfile in text mode, then call.
int text_only_dofile(lua_State* L) {
  const char* name = luaL_optstring(L, 1, nullptr);
  lua_settop(L, 1);
  if (luaL_loadfilex(L, name, "t") != LUA_OK) {
    name_binary_refusal(L, name ? name : "stdin");
    return lua_error(L);
  }
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - 1;
}

// package.searchers[2] in text mode: require("m") finds m.lua on package.path as Lua's own
// searcher does, but loads it as source only. Lua's searcher accepts precompiled chunks, whose
// bytecode Lua 5.4 does not verify: a crafted one crashes the process.
int text_only_lua_searcher(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  lua_getglobal(L, "package");
  if (lua_getfield(L, -1, "path") != LUA_TSTRING)
    return luaL_error(L, "'package.path' must be a string");
  const char* path = lua_tostring(L, -1);
  lua_pushvalue(L, lua_upvalueindex(1));  // package.searchpath as it was at start-up
  lua_pushstring(L, name);
  lua_pushstring(L, path);
  lua_call(L, 2, 2);
  if (lua_isnil(L, -2)) return 1;  // not found: searchpath's message lists the files tried
  lua_pop(L, 1);
  const char* filename = lua_tostring(L, -1);
  if (luaL_loadfilex(L, filename, "t") != LUA_OK) {
    name_binary_refusal(L, filename);
    return luaL_error(L, "error loading module '%s' from file '%s': %s", name, filename,
                      lua_tostring(L, -1));
  }
  lua_pushstring(L, filename);  // second argument to the loader, as Lua's searcher passes it
  return 2;
}

void remove_field(lua_State* L, const char* table, const char* field) {
  if (lua_getglobal(L, table) == LUA_TTABLE) {
    lua_pushnil(L);
    lua_setfield(L, -2, field);
  }
  lua_pop(L, 1);
}

void wrap_global(lua_State* L, const char* name, lua_CFunction wrapper) {
  lua_getglobal(L, name);
  lua_pushcclosure(L, wrapper, 1);
  lua_setglobal(L, name);
}

}  // namespace

void name_binary_refusal(lua_State* L, const char* name) {
  const char* msg = lua_tostring(L, -1);
  if (!msg || !std::strstr(msg, "attempt to load a binary chunk")) return;
  std::string shown = name;
  if (!shown.empty() && (shown[0] == '@' || shown[0] == '=')) shown.erase(0, 1);
  if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
  lua_pop(L, 1);
  lua_pushfstring(L, "%s: is a precompiled (binary) chunk; weir loads Lua source only",
                  shown.c_str());
}

void apply_sandbox(lua_State* L, bool unsafe) {
  lua_getglobal(L, "os");
  lua_pushcfunction(L, sandboxed_exit);
  lua_setfield(L, -2, "exit");
  lua_pop(L, 1);

  // Source text only, in both modes: nothing weir runs needs bytecode, and --unsafe is about
  // reaching the system, not about crashing weir.
  wrap_global(L, "load", text_only_load);
  wrap_global(L, "loadfile", text_only_loadfile);
  lua_pushcfunction(L, text_only_dofile);
  lua_setglobal(L, "dofile");
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  lua_getfield(L, -2, "searchpath");
  lua_pushcclosure(L, text_only_lua_searcher, 1);
  lua_rawseti(L, -2, 2);
  lua_pop(L, 2);
  if (unsafe) return;

  remove_field(L, "os", "execute");
  remove_field(L, "io", "popen");
  remove_field(L, "package", "loadlib");
  lua_pushnil(L);
  lua_setglobal(L, "debug");
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  lua_setfield(L, -2, "debug");
  lua_pop(L, 1);

  // package.searchers: keep preload (1) and Lua files (2); drop the C searchers (3, 4).
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  for (lua_Integer i = luaL_len(L, -1); i > 2; --i) {
    lua_pushnil(L);
    lua_rawseti(L, -2, i);
  }
  lua_pop(L, 1);
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_pop(L, 1);
}

void make_globals_strict(lua_State* L) {
  lua_newtable(L);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kDeclaredKey);
  lua_pushglobaltable(L);
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, strict_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, strict_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

}  // namespace weir::lua
