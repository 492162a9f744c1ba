// Lua module "weir.core": the engine's own functions for scripts (stdlib/weir.lua adds the
// ones written in Lua and is what `weir` refers to).
//   weir.version            the weir version string
//   weir.sleep(seconds)     pauses the script (backoff, polling)
//   weir.clock()            monotonic seconds, for measuring durations
//   weir.list_dir(path)     sorted names in a directory (nil, message when it cannot be read)
//   weir.connect(url)       opens a new Connection (close it with :close() or a <close> local)
//   weir.connection(name)   the connection named on the command line with --connect NAME=URL
//                           (opened on first use, then the same object every time)
#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

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

int weir_sleep(lua_State* L) {
  lua_Number seconds = luaL_checknumber(L, 1);
  luaL_argcheck(L, seconds >= 0 && std::isfinite(seconds), 1, "expected a non-negative number");
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  return 0;
}

int weir_clock(lua_State* L) {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  lua_pushnumber(L, std::chrono::duration<double>(now).count());
  return 1;
}

int weir_list_dir(lua_State* L) {
  std::string path = luaL_checkstring(L, 1);
  std::vector<std::string> names;
  DIR* d = opendir(path.c_str());
  if (!d) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path.c_str(), std::strerror(errno));
    return 2;
  }
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  lua_createtable(L, static_cast<int>(names.size()), 0);
  for (size_t i = 0; i < names.size(); ++i) {
    lua_pushstring(L, names[i].c_str());
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  return 1;
}

const luaL_Reg kFunctions[] = {
    {"list_dir", guarded<weir_list_dir>},     {"sleep", guarded<weir_sleep>},
    {"clock", guarded<weir_clock>},           {"connect", guarded<weir_connect>},
    {"connection", guarded<weir_connection>}, {nullptr, nullptr},
};

}  // namespace

int luaopen_weir(lua_State* L) {
  luaL_newlib(L, kFunctions);
  lua_pushliteral(L, WEIR_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}

}  // namespace weir::modules
