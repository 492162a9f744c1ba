// The environment scripts run in.
//  - strict globals: reading an undefined global raises; a new global may be declared only by
//    assignment at the top level of a chunk (as Lua's etc/strict.lua), elsewhere it raises;
//  - unless --unsafe: no os.execute, io.popen, package.loadlib, debug, C module searchers;
//  - always: every way to load Lua code (load, loadfile, dofile, require's file searcher)
//    accepts source text only — Lua 5.4 does not verify precompiled bytecode, and a crafted
//    chunk crashes the process (tests/cli/fuzz_test.lua feeds it mutated chunks); the refusal
//    names the file: "evil.lua: is a precompiled (binary) chunk; weir loads Lua source only";
//  - always: os.exit unwinds (so transactions roll back and throwaway clusters are removed)
//    instead of ending the process on the spot.
#pragma once

#include <lua.hpp>

namespace weir::lua {

void apply_sandbox(lua_State* L, bool unsafe);
void make_globals_strict(lua_State* L);

// After a load that failed (its message at the top of the stack): when the message is Lua's
// refusal of a precompiled chunk ("attempt to load a binary chunk (mode is 't')"), replaces it
// with "NAME: is a precompiled (binary) chunk; weir loads Lua source only". NAME is a file's
// path, or a chunk name as load takes it ("@path" and "=name" are shown as path and name).
void name_binary_refusal(lua_State* L, const char* name);

}  // namespace weir::lua
