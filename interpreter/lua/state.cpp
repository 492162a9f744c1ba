// RAII lua_State owner (see state.hpp).
#include "lua/state.hpp"

#include <cstring>
#include <new>

namespace weir::lua {

static_assert(LUA_EXTRASPACE >= sizeof(Host*), "extra space must hold the Host pointer");

State::State(Host* h) : L_(luaL_newstate()) {
  if (!L_) throw std::bad_alloc();
  std::memcpy(lua_getextraspace(L_), &h, sizeof h);
}

State::~State() {
  lua_close(L_);
}

Host& host(lua_State* L) {
  Host* h;
  std::memcpy(&h, lua_getextraspace(L), sizeof h);
  return *h;
}

}  // namespace weir::lua
