// `weir test [PATHS...] [--junit FILE] [--tap]` and `weir test --roundtrip [--dir DIR]
// [--fixture FILE]`: test files written with describe/it/expect, each test in a fresh
// database; or, on a copy of the database (never the database itself), every migration taken
// up, verified, down (which must restore the inspected schema and row counts) and up again.
// The work is in stdlib/test_runner.lua.
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "cli/commands.hpp"
#include "cli/project.hpp"

namespace weir::cli {

namespace {

const std::vector<OptionSpec> kTestOptions = {
    {"--junit", nullptr, "FILE",
     "also write JUnit XML to FILE (created before any test runs;\n"
     "removed if the run does not complete)",
     Complete::file},
    {"--tap", nullptr, nullptr, "print TAP on stdout instead of the readable lines"},
    {"--roundtrip", nullptr, nullptr, "check that every migration is reversible"},
    {"--dir", nullptr, "DIR", "migrations directory for --roundtrip (default: migrations)",
     Complete::dir},
    {"--fixture", nullptr, "FILE",
     "--roundtrip starts from an empty database FILE fills (tables and\n"
     "rows), instead of the database's schema (default: weir.lua's\n"
     "fixture)",
     Complete::lua},
    {"--no-fixture", nullptr, nullptr,
     "--roundtrip on the database's schema even when weir.lua names a\n"
     "fixture"},
};

}  // namespace

const CommandSpec kTestSpec{
    "test",
    "run describe/it test files, or check migrations are reversible",
    "weir test [PATHS...] [--junit FILE] [--tap] [OPTIONS]\n"
    "weir test --roundtrip [--dir DIR] [OPTIONS]",
    "Runs the *_test.lua files under PATHS (default: tests) -- describe/it/expect -- each test\n"
    "in a fresh database cloned from an empty template; ends with `N passed, N failed` and\n"
    "exits 1 on any failure. Every file is loaded first: one that defines no it(...) stops\n"
    "the run before any test (exit 1).\n"
    "Ctrl-C (SIGINT) or SIGTERM stops the run: the running test fails as interrupted, none\n"
    "after it runs, the report (and --junit) has the tests that ran; exit 130 (143).\n"
    "A run's databases are weir_test_<run>_*, so runs can share a server; a run drops the\n"
    "ones that runs which have ended left behind, never a live run's.\n"
    "\n"
    "With --roundtrip: every migration of DIR goes up (verify runs), down (the inspected\n"
    "schema and the tables' row counts must be what they were before) and up again -- on a\n"
    "copy, never on the database itself: a new database weir_test_<run>_roundtrip on the same\n"
    "server (a throwaway cluster when the role cannot create one), holding the database's\n"
    "schema and weir's state, or, with a fixture, what the fixture builds. Migrations the\n"
    "database has applied are rolled back on the copy first, and up must rebuild exactly the\n"
    "schema the database has. The copy is dropped afterwards, also on Ctrl-C.\n"
    "Use --ephemeral for a throwaway PostgreSQL (the database must allow CREATE DATABASE).",
    {{"Options", &kTestOptions},
     {"Connection options", &kConnectionOptions},
     {"Script options", &kScriptOptions},
     {"Throwaway PostgreSQL", &kClusterOptions}},
    Complete::file,
};

int cmd_test(Args& args) {
  ConnectionOptions conn;
  std::vector<std::pair<std::string, std::string>> cli{{"command", "test"}};
  std::vector<std::string> paths;
  bool roundtrip = false, fixture = false;
  while (!args.done()) {
    Arg a = next_arg(args, kTestSpec);
    if (!a.option) {
      paths.push_back(a.text);
    } else if (a.is("--junit")) {
      const std::string& junit = a.value;
      cli.emplace_back("junit", junit);
      // A report of a run that does not complete is removed, but only a regular file's: never
      // /dev/stdout, a pipe or a device given as the path.
      std::error_code ec;
      auto kind = std::filesystem::status(junit, ec).type();
      if (kind == std::filesystem::file_type::not_found ||
          kind == std::filesystem::file_type::regular)
        cli.emplace_back("junit_removable", "1");
    } else if (a.is("--tap")) {
      cli.emplace_back("tap", "1");
    } else if (a.is("--roundtrip")) {
      cli.emplace_back("roundtrip", "1");
      roundtrip = true;
    } else if (a.is("--dir")) {
      cli.emplace_back("dir", a.value);
    } else if (a.is("--fixture")) {
      cli.emplace_back("fixture", a.value);
      fixture = true;
    } else if (a.is("--no-fixture")) {
      cli.emplace_back("fixture", "");
      fixture = true;
    } else if (!apply_common_option(a, conn)) {
      unhandled(a);
    }
  }
  if (fixture && !roundtrip)
    throw UsageError("test: --fixture and --no-fixture go with --roundtrip");
  // The test paths (default: tests) must exist: said before anything connects or starts.
  if (paths.empty()) paths.push_back("tests");
  std::string path_list;
  for (const auto& p : paths) {
    std::error_code ec;  // (an unreadable parent counts as not there, not as an exception)
    if (!roundtrip && !std::filesystem::exists(p, ec))
      throw std::runtime_error(p + " does not exist");
    path_list += (path_list.empty() ? "" : "\n") + p;
  }
  Project project = load_project(conn.config);
  apply_project(project, conn);
  std::vector<std::pair<std::string, std::string>> opts{{"dir", "migrations"}};
  opts.insert(opts.end(), project.settings.begin(), project.settings.end());
  opts.insert(opts.end(), cli.begin(), cli.end());
  opts.emplace_back("paths", path_list);
  Target target = resolve_target(conn);
  opts.emplace_back("url", target.url);
  return run_stdlib_main(conn, target, true, "test_runner", opts);
}

}  // namespace weir::cli
