// The weir commands. Each takes the arguments after its name and returns the exit code
// (0 success, 1 script/SQL/connection error, 2 usage error); usage errors may also be thrown
// as UsageError.
#pragma once

#include "cli/options.hpp"

namespace weir::cli {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(Args& args);
};

int cmd_run(Args& args);
int cmd_pg(Args& args);
int cmd_up(Args& args);
int cmd_plan(Args& args);
int cmd_down(Args& args);
int cmd_status(Args& args);
int cmd_repair(Args& args);
int cmd_baseline(Args& args);
int cmd_new(Args& args);
int cmd_inspect(Args& args);
int cmd_diff(Args& args);
int cmd_test(Args& args);
int cmd_lint(Args& args);
int cmd_repl(Args& args);

// All commands, in the order `weir --help` lists them.
const Command* commands();

}  // namespace weir::cli
