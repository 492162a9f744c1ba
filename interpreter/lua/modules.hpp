// The one list of what a weir Lua state gets: C++ modules and the embedded stdlib, all
// registered in package.preload, and the globals scripts see.
#pragma once

#include <lua.hpp>

namespace weir::lua {

// Opens the standard libraries, registers weir's value types and preloads every module.
void open_weir_libraries(lua_State* L);

// The names of every preloaded module, for the API-surface test.
const char* const* module_names();

}  // namespace weir::lua
