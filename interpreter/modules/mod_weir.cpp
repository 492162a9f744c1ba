// Lua module "weir": the engine's own functions for scripts.
//   weir.version            the weir version string
//   weir.connect(url)       opens a new Connection (close it with :close() or a <close> local)
//   weir.connection(name)   the connection named on the command line with --connect NAME=URL
//                           (opened on first use, then the same object every time)
#include <string>

#include "lua/guarded.hpp"
#include "lua/host.hpp"
#include "modules/modules.hpp"

namespace weir::modules {

namespace {

using lua::guarded;

int weir_connect(lua_State* L) {
  std::string url = luaL_checkstring(L, 1);
  push_connection(L, url, true);
  return 1;
}

int weir_connection(lua_State* L) {
  std::string name = luaL_checkstring(L, 1);
  const auto& named = lua::host(L).named_targets;
  auto it = named.find(name);
  if (it == named.end()) {
    std::string known;
    for (const auto& [k, v] : named)
      known += (known.empty() ? "" : ", ") + k;
    throw std::invalid_argument("weir.connection: no connection named '" + name + "' (known: " +
                                (known.empty() ? "none; pass --connect NAME=URL" : known) + ")");
  }
  luaL_getsubtable(L, LUA_REGISTRYINDEX, "weir.named_connections");
  if (lua_getfield(L, -1, name.c_str()) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  push_connection(L, it->second, true);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name.c_str());
  return 1;
}

const luaL_Reg kFunctions[] = {
    {"connect", guarded<weir_connect>},
    {"connection", guarded<weir_connection>},
    {nullptr, nullptr},
};

}  // namespace

int luaopen_weir(lua_State* L) {
  luaL_newlib(L, kFunctions);
  lua_pushliteral(L, WEIR_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}

}  // namespace weir::modules
