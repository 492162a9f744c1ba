// weir: command-line entry. Parses the command name and dispatches; prints a command's help
// when its parser meets -h/--help; turns usage errors into exit code 2 and any escaped error
// into exit code 1 with a one-line message.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.hpp"

namespace weir::cli {

namespace {

const Command kCommands[] = {
    {&kInitSpec, cmd_init},
    {&kNewSpec, cmd_new},
    {&kUpSpec, cmd_up},
    {&kPlanSpec, cmd_plan},
    {&kDownSpec, cmd_down},
    {&kStatusSpec, cmd_status},
    {&kBaselineSpec, cmd_baseline},
    {&kRepairSpec, cmd_repair},
    {&kInspectSpec, cmd_inspect},
    {&kDiffSpec, cmd_diff},
    {&kLintSpec, cmd_lint},
    {&kTestSpec, cmd_test},
    {&kRunSpec, cmd_run},
    {&kReplSpec, cmd_repl},
    {&kPgSpec, cmd_pg},
    {&kHelpSpec, cmd_help},
    {&kCompletionSpec, cmd_completion},
    {nullptr, nullptr},
};

}  // namespace

const Command* commands() {
  return kCommands;
}

const Command* find_command(const std::string& name) {
  for (const Command* c = kCommands; c->spec; ++c)
    if (name == c->spec->name) return c;
  return nullptr;
}

std::string overview_text() {
  std::string out = std::string("weir ") + WEIR_VERSION +
                    " — PostgreSQL migrations as reviewable, reversible Lua scripts\n"
                    "\n"
                    "Usage: weir COMMAND [OPTIONS] [ARGS...]\n"
                    "\n"
                    "Commands:\n";
  for (const Command* c = kCommands; c->spec; ++c) {
    char line[256];
    std::snprintf(line, sizeof line, "  %-11s %s\n", c->spec->name, c->spec->summary);
    out += line;
  }
  out +=
      "\n"
      "Run `weir help COMMAND` (or `weir COMMAND --help`) for a command's options; every\n"
      "command also has a manual page, weir-COMMAND(1).\n"
      "  -V, --version  print the version\n"
      "  -h, --help     show this help\n"
      "\n"
      "Exit codes: 0 success, 1 script, SQL or connection error, 2 usage error.\n";
  return out;
}

}  // namespace weir::cli

int main(int argc, char** argv) {
  using namespace weir::cli;
  if (argc < 2) {
    std::fprintf(stderr, "weir: missing command (see weir --help)\n");
    return kExitUsage;
  }
  std::string first = argv[1];
  if (first == "--version" || first == "-V") {
    std::printf("weir %s\n", WEIR_VERSION);
    return kExitOk;
  }
  if (first == "-h" || first == "--help") {
    std::fputs(overview_text().c_str(), stdout);
    return kExitOk;
  }
  const Command* c = find_command(first);
  if (!c) {
    std::fprintf(stderr, "weir: unknown %s '%s' (see weir --help)\n",
                 first[0] == '-' ? "option" : "command", first.c_str());
    return kExitUsage;
  }
  Args args(argc, argv, 2);
  try {
    return c->run(args);
  } catch (const HelpRequested& h) {
    std::fputs(help_text(*h.spec).c_str(), stdout);
    return kExitOk;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "weir: %s (see weir %s --help)\n", e.what(), c->spec->name);
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "weir: %s\n", e.what());
    return kExitError;
  }
}
