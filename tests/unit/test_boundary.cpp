// The C++/Lua boundary: Lua's C++ build unwinds destructors across lua_error, guarded<F>
// turns C++ exceptions into Lua errors with their message, and SqlError into a weir.Error.
#include <catch2/catch.hpp>

#include <stdexcept>
#include <string>

#include "lua/error.hpp"
#include "lua/guarded.hpp"
#include "lua/host.hpp"
#include "lua/state.hpp"

using weir::lua::guarded;

namespace {

int g_destroyed = 0;

struct Tracker {
  ~Tracker() { ++g_destroyed; }
};

int raise_with_live_object(lua_State* L) {
  Tracker t;
  return luaL_error(L, "raised while a C++ object was alive");
}

int throw_runtime_error(lua_State*) {
  throw std::runtime_error("boom from C++");
}

int throw_sql_error(lua_State*) {
  weir::pg::SqlError e("23505", "duplicate key value violates unique constraint \"t_pkey\"",
                       "INSERT INTO t VALUES (1)");
  e.detail = "Key (id)=(1) already exists.";
  e.position = 3;
  throw e;
}

int check_then_return(lua_State* L) {
  lua_Integer n = luaL_checkinteger(L, 1);
  lua_pushinteger(L, n * 2);
  return 1;
}

// Runs `code` with the functions registered as globals; returns the pcall status and leaves
// the result or error on the stack.
int run(lua_State* L, const char* code) {
  lua_register(L, "raise_with_live_object", raise_with_live_object);
  lua_register(L, "throw_runtime_error", guarded<throw_runtime_error>);
  lua_register(L, "throw_sql_error", guarded<throw_sql_error>);
  lua_register(L, "double", guarded<check_then_return>);
  if (luaL_loadstring(L, code) != LUA_OK) return -1;
  return lua_pcall(L, 0, 1, 0);
}

}  // namespace

TEST_CASE("boundary: a C++ destructor runs when luaL_error unwinds past it") {
  weir::lua::Host host;
  weir::lua::State L(&host);
  luaL_openlibs(L);
  g_destroyed = 0;
  REQUIRE(run(L, "raise_with_live_object()") == LUA_ERRRUN);
  CHECK(std::string(lua_tostring(L, -1)).find("raised while a C++ object was alive") !=
        std::string::npos);
  CHECK(g_destroyed == 1);
}

TEST_CASE("boundary: a C++ exception surfaces as a Lua error with its message and location") {
  weir::lua::Host host;
  weir::lua::State L(&host);
  luaL_openlibs(L);
  REQUIRE(run(L, "local x = 1\nthrow_runtime_error()") == LUA_ERRRUN);
  CHECK(std::string(lua_tostring(L, -1)) == "[string \"local x = 1...\"]:2: boom from C++");
}

TEST_CASE("boundary: pcall in Lua catches a guarded C++ exception and the state stays usable") {
  weir::lua::Host host;
  weir::lua::State L(&host);
  luaL_openlibs(L);
  REQUIRE(run(L,
              "local ok, e = pcall(throw_runtime_error); return tostring(ok) .. ' ' .. e .. ' ' .. "
              "double(21)") == LUA_OK);
  CHECK(std::string(lua_tostring(L, -1)) == "false boom from C++ 42");
}

TEST_CASE("boundary: Lua's own argument errors pass through guarded untouched") {
  weir::lua::Host host;
  weir::lua::State L(&host);
  luaL_openlibs(L);
  REQUIRE(run(L, "double('x')") == LUA_ERRRUN);
  CHECK(std::string(lua_tostring(L, -1))
            .find("bad argument #1 to 'double' (number expected, got string)") !=
        std::string::npos);
}

TEST_CASE("boundary: an SqlError becomes a weir.Error table with every field") {
  weir::lua::Host host;
  weir::lua::State L(&host);
  luaL_openlibs(L);
  REQUIRE(run(L, "local ok, e = pcall(function() throw_sql_error() end)\nreturn e") == LUA_OK);
  REQUIRE(lua_istable(L, -1));
  lua_getfield(L, -1, "sqlstate");
  CHECK(std::string(lua_tostring(L, -1)) == "23505");
  lua_pop(L, 1);
  lua_getfield(L, -1, "detail");
  CHECK(std::string(lua_tostring(L, -1)) == "Key (id)=(1) already exists.");
  lua_pop(L, 1);
  lua_getfield(L, -1, "position");
  CHECK(lua_tointeger(L, -1) == 3);
  lua_pop(L, 1);
  CHECK(
      weir::lua::error_text(L, -1) ==
      "[string \"local ok, e = pcall(function() throw_sql_erro...\"]:1: 23505 duplicate key value "
      "violates unique constraint \"t_pkey\" (detail: Key (id)=(1) already exists.) in: INSERT "
      "INTO t VALUES (1)");
}
