// The migration commands: up, down, status, repair, baseline, new. Argument parsing lives
// here; the work is done by stdlib/runner.lua (require("runner").main(opts)).
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "cli/commands.hpp"
#include "cli/project.hpp"

namespace weir::cli {

namespace {

const char* const kMigrateHelp =
    "Migration options:\n"
    "  --dir DIR               migrations directory (default: migrations)\n"
    "  --schema NAME           schema holding weir's state (default: weir)\n"
    "  --events FILE|-         append one JSON object per event to FILE (- for stdout)\n"
    "  --lock-wait SECONDS     how long to wait for another runner's lock (default 60)\n"
    "  --lock-timeout MS       lock_timeout of every statement (default 500)\n"
    "  --statement-timeout MS  statement_timeout of every statement (default 0: none)\n"
    "  --retries N             retries of a phase that hit lock_timeout (55P03) (default 10)\n"
    "\n";

struct Spec {
  const char* name;
  const char* usage;
  int positional;  // 0: none, 1: one required, 2: one optional
  const char* positional_key;
};

const Spec kSpecs[] = {
    {"up", "weir up [--to ID[:PHASE]] [OPTIONS]\n\nRuns pending phases in order.\n", 0, nullptr},
    {"plan",
     "weir plan [--to ID[:PHASE]] [--json] [OPTIONS]\n\nShows what each pending phase would do "
     "(SQL, locks, rewrites, verify) without changing the target:\ntransactional phases run in a "
     "transaction that is rolled back, the others on a schema-only\ncopy in a throwaway cluster. "
     "Exit 1 when a phase would fail. Read-only queries are\ncounted, not listed, unless "
     "--all-sql.\n",
     0, nullptr},
    {"down",
     "weir down ID[:PHASE] | --steps N [OPTIONS]\n\nRolls back applied phases in reverse order, "
     "down to and including ID[:PHASE].\n",
     2, "target"},
    {"status",
     "weir status [--json] [OPTIONS]\n\nShows every migration and phase with its state; exit 1 "
     "when an applied script changed or is missing.\n",
     0, nullptr},
    {"repair",
     "weir repair [OPTIONS]\n\nAccepts the current scripts' checksums (after review) and clears "
     "failed phase records.\n",
     0, nullptr},
    {"baseline",
     "weir baseline ID [OPTIONS]\n\nRecords the migrations up to ID as applied without running "
     "them.\n",
     1, "target"},
    {"new",
     "weir new NAME [--dir DIR]\n\nWrites migrations/NNN_NAME.lua from a commented template.\n", 1,
     "name"},
};

int run_migrate_command(const Spec& spec, Args& args) {
  ConnectionOptions conn;
  std::vector<std::pair<std::string, std::string>> cli;  // from the command line
  bool have_positional = false, have_steps = false;
  auto set = [&cli](const std::string& k, const std::string& v) { cli.emplace_back(k, v); };
  while (!args.done()) {
    std::string a = args.next();
    auto is = [&a](const char* n) { return a == n || a.rfind(std::string(n) + "=", 0) == 0; };
    if (a == "-h" || a == "--help") {
      std::printf("Usage: %s\n%s%s", spec.usage, kMigrateHelp, kConnectionHelp);
      return kExitOk;
    }
    if (is("--dir")) {
      set("dir", args.value("--dir", a));
    } else if (is("--schema")) {
      set("schema", schema_option("--schema", args.value("--schema", a)));
    } else if (is("--events")) {
      set("events", args.value("--events", a));
    } else if (is("--lock-wait")) {  // checked here, as weir.lua's are: options.hpp
      set("lock_wait",
          seconds_text(duration_option("--lock-wait", args.value("--lock-wait", a), 1000)));
    } else if (is("--lock-timeout")) {
      set("lock_timeout_ms",
          milliseconds_text(duration_option("--lock-timeout", args.value("--lock-timeout", a), 1)));
    } else if (is("--statement-timeout")) {
      set("statement_timeout_ms",
          milliseconds_text(
              duration_option("--statement-timeout", args.value("--statement-timeout", a), 1)));
    } else if (is("--retries")) {
      set("retries", std::to_string(count_option("--retries", args.value("--retries", a))));
    } else if (is("--to") && (std::string(spec.name) == "up" || std::string(spec.name) == "plan")) {
      set("to", args.value("--to", a));
    } else if (is("--steps") && std::string(spec.name) == "down") {
      std::string n = args.value("--steps", a);
      if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos ||
          std::atoi(n.c_str()) < 1) {
        throw UsageError(std::string(spec.name) + ": --steps expects a positive number, got '" + n +
                         "'");
      }
      set("steps", n);
      have_steps = true;
    } else if (a == "--all-sql" && std::string(spec.name) == "plan") {
      set("all_sql", "1");
    } else if (a == "--json" &&
               (std::string(spec.name) == "status" || std::string(spec.name) == "plan")) {
      set("json", "1");
    } else if (parse_connection_option(args, a, conn)) {
      continue;
    } else if (a.size() > 1 && a[0] == '-') {
      throw UsageError(std::string(spec.name) + ": unknown option '" + a + "'");
    } else if (spec.positional && !have_positional) {
      set(spec.positional_key, a);
      have_positional = true;
    } else {
      throw UsageError(std::string(spec.name) + ": unexpected argument '" + a + "'");
    }
  }
  if (spec.positional == 1 && !have_positional) {
    throw UsageError(std::string(spec.name) + ": missing " + spec.positional_key);
  }
  if (std::string(spec.name) == "down" && have_positional == have_steps) {
    throw UsageError("down: give either ID[:PHASE] or --steps N");
  }

  // Later entries win: built-in defaults, then weir.lua, then the command line.
  Project project = load_project(conn.config);
  apply_project(project, conn);
  std::vector<std::pair<std::string, std::string>> opts{{"command", spec.name},
                                                        {"dir", "migrations"}};
  opts.insert(opts.end(), project.settings.begin(), project.settings.end());
  opts.insert(opts.end(), cli.begin(), cli.end());

  bool needs_db = std::string(spec.name) != "new";
  Target target;
  if (needs_db) {
    target = resolve_target(conn);  // a ClusterError reaches main: one line, exit 1
    opts.emplace_back("url", target.url);
  }
  return run_stdlib_main(conn, target, needs_db, "runner", opts);
}

}  // namespace

int cmd_migrate(const char* name, Args& args) {
  for (const Spec& s : kSpecs) {
    if (std::string(s.name) == name) return run_migrate_command(s, args);
  }
  throw UsageError(std::string("unknown command ") + name);
}

int cmd_up(Args& a) {
  return cmd_migrate("up", a);
}
int cmd_plan(Args& a) {
  return cmd_migrate("plan", a);
}
int cmd_down(Args& a) {
  return cmd_migrate("down", a);
}
int cmd_status(Args& a) {
  return cmd_migrate("status", a);
}
int cmd_repair(Args& a) {
  return cmd_migrate("repair", a);
}
int cmd_baseline(Args& a) {
  return cmd_migrate("baseline", a);
}
int cmd_new(Args& a) {
  return cmd_migrate("new", a);
}

}  // namespace weir::cli
