// Script runtime (see runtime.hpp).
#include "lua/runtime.hpp"

#include <cstdio>

#include "lua/error.hpp"
#include "lua/guarded.hpp"
#include "lua/modules.hpp"
#include "lua/protected.hpp"
#include "lua/sandbox.hpp"
#include "lua/where.hpp"
#include "modules/modules.hpp"

namespace weir::lua {

namespace {

// Requires a module and stores it in global `name` (protected: called inside setup_globals).
void require_global(lua_State* L, const char* module, const char* name) {
  lua_getglobal(L, "require");
  lua_pushstring(L, module);
  lua_call(L, 1, 1);
  lua_setglobal(L, name);
}

// Protected setup: require the modules and create the globals scripts rely on. Runs before
// the sandbox, so stdlib modules loaded here may keep references to what it removes.
int setup_globals(lua_State* L) {
  Host& h = host(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "db");
  lua_call(L, 1, 0);
  require_global(L, "weir", "weir");
  require_global(L, "json", "json");
  require_global(L, "ddl", "ddl");
  require_global(L, "schema", "schema");
  require_global(L, "copy", "copy");
  require_global(L, "ids", "ids");
  require_global(L, "flags", "flags");
  require_global(L, "check", "check");
  require_global(L, "online", "online");
  lua_getglobal(L, "require");
  lua_pushliteral(L, "migration");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "migration");
  lua_setglobal(L, "migration");
  lua_getfield(L, -1, "phase");
  lua_setglobal(L, "phase");
  lua_pop(L, 1);
  modules::push_connection(L, h.default_target, h.default_eager);
  lua_setglobal(L, "db");
  return 0;
}

void set_arg_table(lua_State* L, const std::string& script, const std::vector<std::string>& args) {
  lua_createtable(L, static_cast<int>(args.size()), 1);
  lua_pushstring(L, script.c_str());
  lua_rawseti(L, -2, 0);
  for (size_t i = 0; i < args.size(); ++i) {
    lua_pushstring(L, args[i].c_str());
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  lua_setglobal(L, "arg");
}

void prepend_package_path(lua_State* L, const std::string& script) {
  auto slash = script.find_last_of('/');
  std::string dir = slash == std::string::npos ? "." : script.substr(0, slash);
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "path");
  std::string path = dir + "/?.lua;" + dir + "/?/init.lua;" + lua_tostring(L, -1);
  lua_pop(L, 1);
  lua_pushstring(L, path.c_str());
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
}

}  // namespace

Runtime::Runtime(Host& h) : host_(h), state_(&h) {
  lua_State* L = state_.get();
  open_weir_libraries(L);
  watch_for_interrupts(L);
  install_protected_calls(L);
  lua_pushcfunction(L, guarded<setup_globals>);
  if (lua_pcall(L, 0, 0, 0) != LUA_OK) {  // a connection failure: one line, no traceback
    std::fprintf(stderr, "weir: %s\n", error_text(L, -1).c_str());
    lua_pop(L, 1);
    return;
  }
  apply_sandbox(L, h.unsafe);
  make_globals_strict(L);
  ok_ = true;
}

int Runtime::failure_code(const char* prefix) {
  lua_State* L = state_.get();
  if (is_exit_sentinel(L, -1)) return host_.exit_code;
  std::fprintf(stderr, "%s%s\n", prefix, error_text(L, -1).c_str());
  return 1;
}

namespace {

// The exit code of a run that ended with `code`: a signal that asked weir to stop wins, also
// when the command caught it and returned (weir up after an interrupted phase).
int with_signal(int code) {
  int sig = pending_interrupt();
  return sig ? 128 + sig : code;
}

}  // namespace

int Runtime::run_loaded(const std::string& script, const std::vector<std::string>& args) {
  lua_State* L = state_.get();
  // stack: chunk
  set_arg_table(L, script, args);
  for (const auto& a : args)
    lua_pushstring(L, a.c_str());
  lua_pushcfunction(L, traceback_handler);
  int base = lua_gettop(L) - static_cast<int>(args.size()) - 1;
  lua_insert(L, base);  // handler below the chunk
  begin_run(L);
  int status = lua_pcall(L, static_cast<int>(args.size()), 0, base);
  end_run(L);
  int code = 0;
  if (status != LUA_OK) {
    code = failure_code("");
    lua_pop(L, 1);
  }
  lua_pop(L, 1);  // handler
  // Close every to-be-closed connection and cursor now, while the cluster still runs.
  lua_gc(L, LUA_GCCOLLECT);
  return with_signal(code);
}

int Runtime::run_file(const std::string& path, const std::vector<std::string>& args) {
  lua_State* L = state_.get();
  prepend_package_path(L, path);
  if (luaL_loadfilex(L, path.c_str(), "t") != LUA_OK) {
    name_binary_refusal(L, path.c_str());
    std::fprintf(stderr, "%s\n", error_text(L, -1).c_str());
    lua_pop(L, 1);
    return 1;
  }
  return run_loaded(path, args);
}

int Runtime::run_code(const std::string& code, const std::vector<std::string>& args) {
  lua_State* L = state_.get();
  if (luaL_loadbufferx(L, code.data(), code.size(), "=(command line)", "t") != LUA_OK) {
    name_binary_refusal(L, "(command line)");
    std::fprintf(stderr, "%s\n", error_text(L, -1).c_str());
    lua_pop(L, 1);
    return 1;
  }
  return run_loaded("-e", args);
}

int Runtime::run_main(const std::string& module,
                      const std::vector<std::pair<std::string, std::string>>& opts) {
  lua_State* L = state_.get();
  int base = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushstring(L, module.c_str());
  if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
    std::fprintf(stderr, "weir: %s\n", error_text(L, -1).c_str());
    lua_settop(L, base);
    return 1;
  }
  lua_getfield(L, -1, "main");
  lua_createtable(L, 0, static_cast<int>(opts.size()));
  for (const auto& [k, v] : opts) {
    lua_pushstring(L, v.c_str());
    lua_setfield(L, -2, k.c_str());
  }
  // No traceback: phase errors are caught and reported by the runner with the script's
  // FILE:LINE; what escapes is a one-line message about the command itself (re-pointed from
  // a stdlib line to a script's, or to none).
  lua_pushcfunction(L, repoint_handler);
  lua_insert(L, -3);
  begin_run(L);
  int status = lua_pcall(L, 1, 1, lua_gettop(L) - 2);
  end_run(L);
  int code = 0;
  if (status == LUA_OK) {
    code = lua_isinteger(L, -1) ? static_cast<int>(lua_tointeger(L, -1)) : 0;
  } else {
    code = failure_code("weir: ");
    // a script's os.exit ended a command of weir's (a phase, a test): say so
    if (is_exit_sentinel(L, -1) && code != 0)
      std::fprintf(stderr, "weir: os.exit(%d) ended the command\n", code);
  }
  lua_settop(L, base);
  lua_gc(L, LUA_GCCOLLECT);
  return with_signal(code);
}

}  // namespace weir::lua
