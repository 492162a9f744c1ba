// What the Lua runtime needs to know about the command that hosts it: safety mode, where the
// stdlib comes from, which connections exist. One Host per lua_State, reachable from any
// binding through host(L) (stored in the state's extra space, never in a global).
#pragma once

#include <map>
#include <string>

struct lua_State;

namespace weir::lua {

struct Host {
  bool unsafe = false;     // --unsafe: keep os.execute, io.popen, package.loadlib, debug, C modules
  bool verbose = false;    // -v: echo server NOTICEs to stderr (WARNINGs are always shown)
  bool traceback = false;  // --traceback: errors keep their stdlib positions (lua/where.hpp)
  std::string stdlib_dir;  // non-empty: load stdlib/*.lua from this directory (developer flag)

  // The connection behind the `db` global: a URL or conninfo, "" for libpq's defaults.
  std::string default_target;
  bool default_eager = true;  // connect before the script starts (else on first use)
  // --connect NAME=URL connections, opened on first weir.connection(NAME).
  std::map<std::string, std::string> named_targets;
  // Connections weir.lua names whose URL comes from an unset variable: name -> the message.
  std::map<std::string, std::string> unusable_targets;
  // weir.lua's vars (weir.var); those whose env "X" is unset: name -> the message.
  std::map<std::string, std::string> vars;
  std::map<std::string, std::string> unusable_vars;

  // Where an error is charged when no script frame is on the stack to name: "FILE:LINE: " of the
  // phase function running now, set around it by weir.protected's call (lua/protected.hpp). A
  // phase that ends in a tail call (return copy.table{…}) has no frame left when the stdlib
  // function it called fails; empty when no such call is running.
  std::string script_fallback;

  // Set by os.exit() so the runner can unwind (closing transactions and clusters) and exit.
  int exit_code = -1;
  // A command that cleans up after its script stopped (weir test, copy.core's interruptible)
  // holds the exit meanwhile: its pcalls catch their own failures again, and the exit goes on
  // when it raises the sentinel.
  bool exit_held = false;
};

Host& host(lua_State* L);

}  // namespace weir::lua
