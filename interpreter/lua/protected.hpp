// weir's pcall, xpcall and coroutine.resume/wrap/close, in place of Lua's for every script and
// the stdlib. They behave as Lua's, with two differences:
//  - the interrupt (lua/interrupt.hpp) passes through: a call that failed while a signal asks
//    the script to stop raises it again instead of returning false, so no loop can swallow
//    Ctrl-C; the coroutine being resumed is published so a signal stops it too. os.exit's
//    sentinel (lua/error.hpp) passes through the same way (a script's xpcall handler is not
//    called for either), so os.exit(n) ends weir with n wherever it is called;
//  - an error positioned at a stdlib line is re-pointed at the script's (lua/where.hpp) before
//    pcall returns it or a script's xpcall handler sees it (the stdlib's own handlers, such as
//    the REPL's, get it as raised).
// package.loaded["weir.protected"].call(f, ...) is internal to weir: the runner calls a phase's
// functions through it, so an error raised after the phase function tail-called a stdlib one
// (return copy.table{…}) names the line where that function is defined (lua/where.hpp).
// tests/cli/interrupt_test.lua, tests/cli/stdlib_errors_test.lua, tests/cli/sandbox_test.lua.
#pragma once

#include <lua.hpp>

namespace weir::lua {

void install_protected_calls(lua_State* L);

}  // namespace weir::lua
