// The weir commands. Each takes the arguments after its name and returns the exit code
// (0 success, 1 script/SQL/connection error, 2 usage error); usage errors may also be thrown
// as UsageError. Each is described by a CommandSpec (spec.hpp) defined next to its code.
#pragma once

#include "cli/options.hpp"
#include "cli/spec.hpp"

namespace weir::cli {

struct Command {
  const CommandSpec* spec;
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
int cmd_init(Args& args);
int cmd_inspect(Args& args);
int cmd_diff(Args& args);
int cmd_test(Args& args);
int cmd_lint(Args& args);
int cmd_repl(Args& args);
int cmd_help(Args& args);
int cmd_completion(Args& args);

extern const CommandSpec kRunSpec, kPgSpec, kUpSpec, kPlanSpec, kDownSpec, kStatusSpec, kRepairSpec,
    kBaselineSpec, kNewSpec, kInitSpec, kInspectSpec, kDiffSpec, kTestSpec, kLintSpec, kReplSpec,
    kHelpSpec, kCompletionSpec;

// All commands, in the order `weir --help` lists them, ended by {nullptr, nullptr}.
const Command* commands();
// The command named `name`, or nullptr.
const Command* find_command(const std::string& name);

// What `weir --help` prints: the commands with their summaries.
std::string overview_text();

}  // namespace weir::cli
