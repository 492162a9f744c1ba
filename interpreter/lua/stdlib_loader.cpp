// package.preload entries for the embedded stdlib (see stdlib_embedded.hpp).
#include <string>

#include "lua/host.hpp"
#include "lua/stdlib_embedded.hpp"

namespace weir::lua {

namespace {

// preload loader; upvalue 1 = index into embedded_stdlib()
int load_stdlib_module(lua_State* L) {
  const EmbeddedFile& f = embedded_stdlib()[lua_tointeger(L, lua_upvalueindex(1))];
  const std::string& dir = host(L).stdlib_dir;
  int status;
  if (!dir.empty()) {
    std::string path = dir + "/" + f.name + ".lua";
    status = luaL_loadfilex(L, path.c_str(), "t");
  } else {
    std::string chunkname = std::string("@stdlib/") + f.name + ".lua";
    status = luaL_loadbufferx(L, f.data, f.size, chunkname.c_str(), "t");
  }
  if (status != LUA_OK) return lua_error(L);
  lua_pushvalue(L, 1);  // module name, as require passes it
  lua_call(L, 1, 1);
  return 1;
}

}  // namespace

void preload_stdlib(lua_State* L) {
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  const auto& files = embedded_stdlib();
  for (size_t i = 0; i < files.size(); ++i) {
    lua_pushinteger(L, static_cast<lua_Integer>(i));
    lua_pushcclosure(L, load_stdlib_module, 1);
    lua_setfield(L, -2, files[i].name);
  }
  lua_pop(L, 1);
}

}  // namespace weir::lua
