// The environment scripts run in.
//  - strict globals: reading an undefined global raises; a new global may be declared only by
//    assignment at the top level of a chunk (as Lua's etc/strict.lua), elsewhere it raises;
//  - unless --unsafe: no os.execute, io.popen, package.loadlib, debug, C module searchers,
//    and load/loadfile/dofile accept text chunks only (precompiled bytecode can crash the VM);
//  - always: os.exit unwinds (so transactions roll back and throwaway clusters are removed)
//    instead of ending the process on the spot.
#pragma once

#include <lua.hpp>

namespace weir::lua {

void apply_sandbox(lua_State* L, bool unsafe);
void make_globals_strict(lua_State* L);

}  // namespace weir::lua
