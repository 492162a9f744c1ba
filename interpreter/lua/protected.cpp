// pcall, xpcall and coroutines that let the interrupt through (see protected.hpp).
#include "lua/protected.hpp"

#include <string>

#include "lua/error.hpp"
#include "lua/host.hpp"
#include "lua/interrupt.hpp"
#include "lua/where.hpp"

namespace weir::lua {

namespace {

// After a call that may have caught the interrupt or os.exit: raises it again when it is what
// ended the call (a stop is requested and the call failed; the error is the exit sentinel),
// else returns the results as they are.
int pass_interrupt_on(lua_State* L, int first_result) {
  if (lua_toboolean(L, first_result)) return lua_gettop(L);
  if (stop_requested()) return raise_interrupt(L);
  if (exit_requested(L)) return raise_exit(L);
  return lua_gettop(L);
}

// Continuation of pcall and xpcall (written on lua_pcallk as Lua's are, so a yield inside them
// still works and tracebacks show no extra frame). `ours` counts the values below the call's
// results that are not results: the message handler, and xpcall's f.
int protected_call_done(lua_State* L, int status, lua_KContext ours) {
  if (status == LUA_OK || status == LUA_YIELD) return lua_gettop(L) - static_cast<int>(ours);
  if (stop_requested()) return raise_interrupt(L);
  // os.exit ends weir wherever it was called, whatever a message handler made of it
  if (exit_requested(L)) return raise_exit(L);
  lua_pushboolean(L, 0);
  lua_insert(L, -2);  // false, error
  return 2;
}

// pcall(f, ...): [f, args…] → [repoint_handler, true, f, args…], the handler at 1.
int weir_pcall(lua_State* L) {
  luaL_checkany(L, 1);
  lua_pushboolean(L, 1);
  lua_insert(L, 1);
  lua_pushcfunction(L, repoint_handler);
  lua_insert(L, 1);
  int status = lua_pcallk(L, lua_gettop(L) - 3, LUA_MULTRET, 1, 1, protected_call_done);
  return protected_call_done(L, status, 1);
}

// A script's xpcall handler (upvalue 1) sees the error re-pointed, and is not called at all
// for the interrupt (a handler that loops would hold the stop up).
int chained_handler(lua_State* L) {
  if (stop_requested() || exit_requested(L)) return 1;
  repoint_error(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

bool is_stdlib_function(lua_State* L, int idx) {
  lua_Debug ar;
  lua_pushvalue(L, idx);
  return lua_getinfo(L, ">S", &ar) && is_stdlib_source(L, ar.source);
}

// xpcall(f, msgh, ...): [f, msgh, args…] → [f, msgh, true, f, args…], the handler at 2.
int weir_xpcall(lua_State* L) {
  int nargs = lua_gettop(L) - 2;
  luaL_checktype(L, 2, LUA_TFUNCTION);
  if (!is_stdlib_function(L, 2)) {
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, chained_handler, 1);
    lua_replace(L, 2);
  }
  lua_pushboolean(L, 1);
  lua_pushvalue(L, 1);
  lua_rotate(L, 3, 2);
  int status = lua_pcallk(L, nargs, LUA_MULTRET, 2, 2, protected_call_done);
  return protected_call_done(L, status, 2);
}

// Calls upvalue 1 with the arguments while `co` is published as the running coroutine, in a
// protected call so the one before is always restored; a failure is raised again (the
// interrupt when a stop is requested).
int call_tracking(lua_State* L, lua_State* co) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_State* outer = set_running_coroutine(co);
  arm_if_stopping(co);  // a signal that came before `co` was published
  int status = lua_pcall(L, n, LUA_MULTRET, 0);
  set_running_coroutine(outer);
  if (status != LUA_OK) return stop_requested() ? raise_interrupt(L) : lua_error(L);
  arm_if_stopping(L);  // L itself may be a coroutine no signal handler armed
  return lua_gettop(L);
}

// coroutine.resume(co, ...) and coroutine.close(co) through Lua's (upvalue 1).
int weir_resume(lua_State* L) {
  lua_State* co = lua_tothread(L, 1);
  luaL_argexpected(L, co, 1, "coroutine");
  call_tracking(L, co);
  return pass_interrupt_on(L, 1);
}

// The function coroutine.wrap returned: upvalue 1 Lua's, upvalue 2 its coroutine.
int wrapped_call(lua_State* L) {
  return call_tracking(L, lua_tothread(L, lua_upvalueindex(2)));
}

// coroutine.wrap(f): Lua's function (its error messages, its closing of the coroutine),
// called with the coroutine tracked. Lua's keeps the coroutine as its upvalue 1.
int weir_wrap(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 1, 1);
  if (lua_getupvalue(L, 1, 1) == nullptr || !lua_isthread(L, -1))
    return luaL_error(L, "coroutine.wrap: unexpected Lua build (no coroutine upvalue)");
  lua_pushcclosure(L, wrapped_call, 2);
  return 1;
}

// "FILE:LINE: " where the Lua function at `idx` is defined, "" for a C function.
std::string definition_of(lua_State* L, int idx) {
  lua_Debug ar;
  lua_pushvalue(L, idx);
  if (!lua_getinfo(L, ">S", &ar) || ar.linedefined <= 0) return "";
  return std::string(ar.short_src) + ":" + std::to_string(ar.linedefined) + ": ";
}

// weir.protected.call(f, ...): f(...), with errors re-pointed as pcall does and, while f runs,
// Host::script_fallback at f's definition: what a stdlib function f tail-called raises names
// f's line instead of nothing. The error (the interrupt, os.exit's sentinel) is raised again.
int charged_call(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  Host& h = host(L);
  int status;
  {
    std::string saved = h.script_fallback;
    h.script_fallback = definition_of(L, 1);
    lua_pushcfunction(L, repoint_handler);
    lua_insert(L, 1);
    status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 1);
    h.script_fallback = saved;
  }
  if (status != LUA_OK) return lua_error(L);
  return lua_gettop(L) - 1;
}

void wrap_field(lua_State* L, int table, const char* name, lua_CFunction wrapper) {
  table = lua_absindex(L, table);
  lua_getfield(L, table, name);
  lua_pushcclosure(L, wrapper, 1);
  lua_setfield(L, table, name);
}

}  // namespace

void install_protected_calls(lua_State* L) {
  lua_pushglobaltable(L);
  lua_pushcfunction(L, weir_pcall);
  lua_setfield(L, -2, "pcall");
  lua_pushcfunction(L, weir_xpcall);
  lua_setfield(L, -2, "xpcall");
  lua_getfield(L, -1, "coroutine");
  wrap_field(L, -1, "resume", weir_resume);
  wrap_field(L, -1, "close", weir_resume);
  wrap_field(L, -1, "wrap", weir_wrap);
  lua_pop(L, 2);
  // internal to weir: the runner and weir plan call phase functions through it
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, charged_call);
  lua_setfield(L, -2, "call");
  lua_setfield(L, -2, "weir.protected");
  lua_pop(L, 1);
}

}  // namespace weir::lua
