// Ctrl-C and SIGTERM: one signal stops the running script, whatever it is doing.
//
// Guarantee (tests/cli/interrupt_test.lua): after one SIGINT/SIGTERM a script stops and weir
// exits 130/143 — a loop in the main chunk, in a coroutine (lua_sethook is per thread: the
// thread being resumed is armed too), in a function called through pcall/xpcall in a loop, a
// weir.sleep, a query (cancelled on the server). The stop is the error `interrupted` (a
// unique value, weir.Interrupt), and it cannot be caught: pcall, xpcall, coroutine.resume,
// coroutine.wrap, coroutine.close and load (a reader function) pass it on when it is what
// ended the call, so the script unwinds to the top, and transactions roll back when the
// connection closes. Code that must clean up after it (weir test) stops it in C with a
// lua_pcall of its own (copy.core's interruptible) and then holds further signals. A
// connection being opened checks for the stop every 100 ms (pg::set_connect_interrupt).
// Last resort: code that never returns to Lua's hooks (a loop in a __gc finalizer, a string
// pattern backtracking in C) is ended 5 s after the first signal, and a second signal ends the
// process at once, both with _exit(128 + signal) and a line on stderr; the server and the
// throwaway clusters' watchdogs clean up what weir did not.
#pragma once

#include <lua.hpp>

namespace weir::lua {

// Installs SIGINT/SIGTERM handlers that stop the script running in L.
void install_interrupt_handlers(lua_State* L);

// Registers the interrupt value. Called for every runtime, with install_protected_calls
// (lua/protected.hpp), whose pcall, xpcall and coroutine functions let it through.
void watch_for_interrupts(lua_State* L);

// For those: publishes `co` as the coroutine running now (nullptr: none), returning the one
// before, so a signal arms its hook too; and arms L when a stop is requested already.
lua_State* set_running_coroutine(lua_State* co);
void arm_if_stopping(lua_State* L);

// Marks the start and the end of the protected call that runs a script or command in L.
// After end_run the hooks are off: finalizers (closing connections, stopping clusters) run.
void begin_run(lua_State* L);
void end_run(lua_State* L);

// True when a signal asked the running script to stop (and signals are not held).
bool stop_requested();
// Raises the interrupt in L (does not return).
int raise_interrupt(lua_State* L);
// True when the value at idx is the interrupt.
bool is_interrupt(lua_State* L, int idx);
// Sleeps `seconds`; raises the interrupt as soon as a signal asks to stop (weir.sleep).
void sleep_interruptibly(lua_State* L, double seconds);

// For a command written in the stdlib that stops cleanly on a signal (weir test): from now
// until the running command returns, a SIGINT/SIGTERM is only recorded (pending_interrupt()),
// not raised in the script as "interrupted", and one already raised-to-be is dropped; a second
// signal still ends the process at once. So the command's cleanup and report run to their end.
void hold_interrupts();

// The REPL's handlers: SIGINT never ends the process. While a chunk runs (after
// interrupt_lua_while(L)) it cancels the query in progress and stops the chunk at its next
// instruction (not when the query's own error 57014 stops it, unless it is the second Ctrl-C);
// at the prompt (interrupt_lua_while(nullptr)) it only interrupts the read, which fails with
// EINTR. take_interrupt() returns the signal seen since the last call (0: none), clearing it
// and the stop; pending_interrupt() only looks. SIGTERM still ends the REPL.
void install_repl_interrupt_handlers();
void interrupt_lua_while(lua_State* L);
int take_interrupt(lua_State* L);
int pending_interrupt();

}  // namespace weir::lua
