// What every weir userdata type (weir.Connection, weir.Cursor, weir.Cluster, weir.NULL) does
// with its metatable, so no script can reach its finalizer.
//
// protect_metatable: getmetatable(u) returns a stand-in { __name = "weir.Type", __index =
// the methods } instead of the real metatable (the `__metatable` field), so a script cannot call
// __gc or __close by hand, or replace them, or empty __index for everybody. C code still sees the
// real one (luaL_checkudata, luaL_getmetafield). Finalizers are idempotent all the same: a __gc
// releases what the box holds and leaves a closed box behind, so a second call (a resurrected
// object, debug.getmetatable under --unsafe) finds nothing to release. tests/lua/userdata_test.lua.
#pragma once

#include <lua.hpp>

namespace weir::lua {

// Sets __metatable on the metatable at `idx` to a stand-in table holding only its __name and
// __index (what stdlib/ddl.lua and scripts use to tell a connection from a table, and to list
// its methods); call it once the metatable is complete.
inline void protect_metatable(lua_State* L, int idx) {
  idx = lua_absindex(L, idx);
  lua_createtable(L, 0, 2);
  for (const char* field : {"__name", "__index"}) {
    lua_getfield(L, idx, field);
    lua_setfield(L, -2, field);
  }
  lua_setfield(L, idx, "__metatable");
}

}  // namespace weir::lua
