// Where an error or a statement comes from, in the user's terms. weir's stdlib chunks
// (@stdlib/NAME.lua, or the files of --stdlib-dir) are skipped, so a helper that fails because
// it was called wrongly (ddl.add_column(db, 42), flags.define(db)) names the script line that
// called it, never stdlib/ddl.lua:LINE.
//
// Guarantee (tests/cli/stdlib_errors_test.lua): an error whose position is a stdlib line is
// re-pointed at the innermost script frame outside that line, or loses its position when no
// script frame is on the stack (then it is about the command itself) — unless a phase function
// runs (Host::script_fallback, set by lua/protected.hpp's charged call): a phase that ended in a
// tail call (return flags.define(…)) has left no frame, and the error names the line where the
// phase's function is defined. This happens wherever an
// error is caught — the top-level handlers of weir run and the stdlib commands, pcall and
// xpcall (lua/protected.hpp) — and when weir's C functions build their errors. With
// --traceback (Host::traceback) positions are left as they are, so a bug in the stdlib itself
// can still be located.
#pragma once

#include <lua.hpp>

#include <string>

namespace weir::lua {

// True when `source` (lua_Debug::source) is a stdlib chunk.
bool is_stdlib_source(lua_State* L, const char* source);

// luaL_where(L, level) — "SHORT_SRC:LINE: " of the function at `level`, "" for a C function —
// except when that is a stdlib line: then the innermost script frame outside it, or "" when
// there is none (and with --traceback, luaL_where as it is).
void push_script_where(lua_State* L, int level);

// "FILE:LINE" (the full chunk name) of the innermost script frame, else of the caller: where a
// traced statement came from (db:trace).
std::string script_location(lua_State* L);

// Re-points, in place, the error at `idx` when it is a string positioned at a stdlib line on
// the current stack. Call it where the stack of the raise is still there (a message handler).
void repoint_error(lua_State* L, int idx);

// A message handler doing only that.
int repoint_handler(lua_State* L);

}  // namespace weir::lua
