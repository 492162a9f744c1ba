// weir: command-line entry. Parses the command name and dispatches; turns usage errors into
// exit code 2 and any escaped error into exit code 1 with a one-line message.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/commands.hpp"

namespace weir::cli {

namespace {

const Command kCommands[] = {
    {"up", "run pending migration phases", cmd_up},
    {"plan", "show what pending phases would do, changing nothing", cmd_plan},
    {"down", "roll back applied phases", cmd_down},
    {"status", "show migrations, phases and drift", cmd_status},
    {"new", "write a new migration from a template", cmd_new},
    {"baseline", "record migrations as applied without running them", cmd_baseline},
    {"repair", "accept changed scripts and clear failed records", cmd_repair},
    {"inspect", "show the database's schema (or its JSON model)", cmd_inspect},
    {"diff", "the SQL that turns one schema into another", cmd_diff},
    {"lint", "report dangerous DDL in SQL files and migrations", cmd_lint},
    {"test", "run describe/it test files, or check migrations are reversible", cmd_test},
    {"run", "run a Lua script against a database", cmd_run},
    {"repl", "explore a database interactively: Lua, SQL and psql-style \\d commands", cmd_repl},
    {"pg", "start, stop or locate a throwaway PostgreSQL", cmd_pg},
    {nullptr, nullptr, nullptr},
};

void print_help() {
  std::printf(
      "weir %s — PostgreSQL migrations as reviewable, reversible Lua scripts\n"
      "\n"
      "Usage: weir COMMAND [OPTIONS] [ARGS...]\n"
      "\n"
      "Commands:\n",
      WEIR_VERSION);
  for (const Command* c = kCommands; c->name; ++c)
    std::printf("  %-8s %s\n", c->name, c->summary);
  std::printf(
      "\n"
      "Run `weir COMMAND --help` for a command's options.\n"
      "  --version     print the version\n"
      "  -h, --help    show this help\n"
      "\n"
      "Exit codes: 0 success, 1 script, SQL or connection error, 2 usage error.\n");
}

}  // namespace

const Command* commands() {
  return kCommands;
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
  if (first == "-h" || first == "--help" || first == "help") {
    weir::cli::print_help();
    return kExitOk;
  }
  for (const Command* c = commands(); c->name; ++c) {
    if (first != c->name) continue;
    Args args(argc, argv, 2);
    try {
      return c->run(args);
    } catch (const UsageError& e) {
      std::fprintf(stderr, "weir: %s (see weir %s --help)\n", e.what(), c->name);
      return kExitUsage;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "weir: %s\n", e.what());
      return kExitError;
    }
  }
  if (first[0] == '-') {
    std::fprintf(stderr, "weir: unknown option '%s' (see weir --help)\n", first.c_str());
  } else {
    std::fprintf(stderr, "weir: unknown command '%s' (see weir --help)\n", first.c_str());
  }
  return kExitUsage;
}
