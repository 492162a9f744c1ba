// A ready-to-run Lua state for a script: weir's libraries, the sandbox, strict globals, the
// `db` and `weir` globals. Runs a file or a chunk inside one protected call and reports any
// error as "FILE:LINE: message" plus a traceback on stderr.
#pragma once

#include <string>
#include <vector>

#include "lua/host.hpp"
#include "lua/state.hpp"

namespace weir::lua {

class Runtime {
 public:
  // Builds the state. A connection failure of an eagerly connected `db` is reported on stderr
  // and leaves ok() false.
  explicit Runtime(Host& host);
  bool ok() const { return ok_; }
  lua_State* L() const { return state_.get(); }

  // Both return the process exit code: 0 success, 1 error (already printed), or os.exit's code.
  int run_file(const std::string& path, const std::vector<std::string>& args);
  int run_code(const std::string& code, const std::vector<std::string>& args);
  // Calls require(module).main(opts) and returns the integer it returns (errors print as one
  // line and give 1). Used by commands implemented in the stdlib (up, down, status …).
  int run_main(const std::string& module,
               const std::vector<std::pair<std::string, std::string>>& opts);

 private:
  int run_loaded(const std::string& script, const std::vector<std::string>& args);
  // The exit code for the error on top of the stack (os.exit's code, or 1 / 128+signal after
  // printing the error with `prefix`).
  int failure_code(const char* prefix);

  Host& host_;
  State state_;
  bool ok_ = false;
};

// Installs SIGINT/SIGTERM handlers that stop the running script at its next Lua instruction
// (raising "interrupted"), so transactions roll back and clusters are removed; a second signal
// ends the process at once.
void install_interrupt_handlers(lua_State* L);

// For a command written in the stdlib that stops cleanly on a signal (weir test): from now
// until the running command returns, a SIGINT/SIGTERM is only recorded (pending_interrupt()),
// not raised in the script as "interrupted", and one already raised-to-be is dropped; a second
// signal still ends the process at once. So the command's cleanup and report run to their end.
void hold_interrupts();

// The REPL's handlers: SIGINT never ends the process. While a chunk runs (after
// interrupt_lua_while(L)) it cancels the query in progress and stops the chunk at its next
// instruction; at the prompt (interrupt_lua_while(nullptr)) it only interrupts the read, which
// fails with EINTR. take_interrupt() returns the signal seen since the last call (0: none),
// clearing it and the stop hook; pending_interrupt() only looks. SIGTERM still ends the REPL.
void install_repl_interrupt_handlers();
void interrupt_lua_while(lua_State* L);
int take_interrupt(lua_State* L);
int pending_interrupt();

}  // namespace weir::lua
