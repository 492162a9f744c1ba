// A ready-to-run Lua state for a script: weir's libraries, the sandbox, strict globals, the
// `db` and `weir` globals. Runs a file or a chunk inside one protected call and reports any
// error as "FILE:LINE: message" plus a traceback on stderr.
#pragma once

#include <string>
#include <vector>

#include "lua/host.hpp"
#include "lua/interrupt.hpp"
#include "lua/state.hpp"

namespace weir::lua {

class Runtime {
 public:
  // Builds the state. A connection failure of an eagerly connected `db` is reported on stderr
  // and leaves ok() false.
  explicit Runtime(Host& host);
  bool ok() const { return ok_; }
  lua_State* L() const { return state_.get(); }

  // Both return the process exit code: 0 success, 1 error (already printed), os.exit's code,
  // or 128 + the signal when SIGINT/SIGTERM stopped it (lua/interrupt.hpp).
  int run_file(const std::string& path, const std::vector<std::string>& args);
  int run_code(const std::string& code, const std::vector<std::string>& args);
  // Calls require(module).main(opts) and returns the integer it returns (errors print as one
  // line and give 1; a signal gives 128 + it). Used by commands implemented in the stdlib (up,
  // down, status …).
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

}  // namespace weir::lua
