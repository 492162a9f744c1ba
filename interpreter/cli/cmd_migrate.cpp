// The migration commands: up, plan, down, status, repair, baseline. Their tables (spec.hpp) and
// argument parsing live here; the work is done by stdlib/runner.lua (require("runner").main(opts))
// and stdlib/plan.lua.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "cli/commands.hpp"
#include "cli/project.hpp"

namespace weir::cli {

namespace {

// --- the options --------------------------------------------------------------------------------

const OptionSpec kDir{"--dir", nullptr, "DIR",
                      "migrations directory (default: weir.lua's migrations, else\nmigrations)",
                      Complete::dir};
const OptionSpec kSchema{"--schema", nullptr, "NAME",
                         "schema holding weir's state (default: weir)"};
const OptionSpec kEvents{"--events", nullptr, "FILE|-",
                         "append one JSON object per event to FILE (- for stdout)", Complete::file};
const OptionSpec kLockWait{"--lock-wait", nullptr, "SECONDS",
                           "how long to wait for another runner's lock (default 60;\n"
                           "or with a unit: 90s, 5min)"};
const OptionSpec kLockTimeout{"--lock-timeout", nullptr, "MS",
                              "lock_timeout of every statement (default 500; or 2s …)"};
const OptionSpec kStatementTimeout{"--statement-timeout", nullptr, "MS",
                                   "statement_timeout of every statement (default 0: none;\n"
                                   "or 15min …)"};
const OptionSpec kRetries{"--retries", nullptr, "N",
                          "retries of a phase that hit lock_timeout (55P03) (default 10)"};
const OptionSpec kJson{"--json", nullptr, nullptr,
                       "print the run as one JSON document on stdout (the events; what\n"
                       "scripts print goes to stderr)"};
const OptionSpec kProgress{"--progress", nullptr, "auto|tty|plain|off",
                           "auto (default): a live line on a terminal, else a plain line\n"
                           "every interval; tty, plain or off",
                           Complete::choice};
const OptionSpec kProgressInterval{"--progress-interval", nullptr, "SECONDS",
                                   "seconds between plain progress lines (default 10)"};

const std::vector<OptionSpec> kUpOptions = {
    {"--to", nullptr, "ID[:PHASE]",
     "stop after migration ID (every phase of it), or after its PHASE\n"
     "(default: run every pending phase)",
     Complete::target},
    kJson,
    kProgress,
    kProgressInterval,
    kDir,
    kSchema,
    kEvents,
    kLockWait,
    kLockTimeout,
    kStatementTimeout,
    kRetries,
};

const std::vector<OptionSpec> kPlanOptions = {
    {"--to", nullptr, "ID[:PHASE]",
     "plan only the pending phases up to migration ID, or to its PHASE", Complete::target},
    {"--json", nullptr, nullptr, "print the plan as one JSON document instead of text"},
    {"--all-sql", nullptr, nullptr,
     "list every statement, read-only queries too (by default the text\n"
     "counts them: \"and N read-only queries\"; --json has them all)"},
    kProgress,
    kProgressInterval,
    kDir,
    kSchema,
    kLockTimeout,
    kStatementTimeout,
};

const std::vector<OptionSpec> kDownOptions = {
    {"--steps", nullptr, "N",
     "roll back the last N applied phases (instead of down to\nID[:PHASE])"},
    kJson,
    kProgress,
    kProgressInterval,
    kDir,
    kSchema,
    kEvents,
    kLockWait,
    kLockTimeout,
    kStatementTimeout,
    kRetries,
};

const std::vector<OptionSpec> kStatusOptions = {
    {"--json", nullptr, nullptr,
     "print the state as one JSON document (migrations, phases, drift)"},
    kDir,
    kSchema,
};

const std::vector<OptionSpec> kRecordOptions = {
    kDir, kSchema, kEvents, kLockWait, kLockTimeout, kStatementTimeout,
};

std::vector<OptionGroup> groups(const std::vector<OptionSpec>* own) {
  return {{"Options", own},
          {"Connection options", &kConnectionOptions},
          {"Script options", &kScriptOptions},
          {"Throwaway PostgreSQL", &kClusterOptions}};
}

}  // namespace

// --- the commands --------------------------------------------------------------------------------

const CommandSpec kUpSpec{
    "up",
    "run pending migration phases",
    "weir up [--to ID[:PHASE]] [--json] [OPTIONS]",
    "Runs the pending phases of the migrations directory in id order: every phase that is not\n"
    "done, including one that failed or was interrupted. With --to ID it stops after the last\n"
    "phase of migration ID; with --to ID:PHASE, after that phase. A transactional phase commits\n"
    "its work and its record together; a failure stops the run (exit 1) and says which phase,\n"
    "script line and statement failed.",
    groups(&kUpOptions),
};

const CommandSpec kPlanSpec{
    "plan",
    "show what pending phases would do, changing nothing",
    "weir plan [--to ID[:PHASE]] [--json] [--all-sql] [OPTIONS]",
    "Shows what each pending phase would do (SQL, locks, rewrites, verify) without changing\n"
    "the target: transactional phases run in a transaction that is rolled back, the others on a\n"
    "schema-only copy in a throwaway cluster. Exit 1 when a phase would fail. Read-only queries\n"
    "are counted, not listed, unless --all-sql.",
    groups(&kPlanOptions),
};

const CommandSpec kDownSpec{
    "down",
    "roll back applied phases",
    "weir down ID[:PHASE] [--json] [OPTIONS]\nweir down --steps N [--json] [OPTIONS]",
    "Rolls back applied phases in reverse order, down to and including migration ID (every\n"
    "phase of it) or its PHASE; with --steps N, the last N applied phases. A phase without\n"
    "`down` stops the rollback before anything runs.",
    groups(&kDownOptions),
    Complete::target,
};

const CommandSpec kStatusSpec{
    "status",
    "show migrations, phases and drift",
    "weir status [--json] [OPTIONS]",
    "Shows every migration and phase with its state; exit 1 when an applied script changed or\n"
    "is missing.",
    groups(&kStatusOptions),
};

const CommandSpec kRepairSpec{
    "repair",
    "accept changed scripts and clear failed records",
    "weir repair [OPTIONS]",
    "Accepts the current scripts' checksums (after review) and clears failed phase records.",
    groups(&kRecordOptions),
};

const CommandSpec kBaselineSpec{
    "baseline",
    "record migrations as applied without running them",
    "weir baseline ID [OPTIONS]",
    "Records the migrations up to ID as applied without running them (adopting weir on a\n"
    "database that already has their schema).",
    groups(&kRecordOptions),
    Complete::id,
};

namespace {

int run_migrate_command(const CommandSpec& spec, Args& args) {
  const std::string name = spec.name;
  // down's and baseline's operand
  const char* operand_key = name == "down" || name == "baseline" ? "target" : nullptr;
  ConnectionOptions conn;
  std::vector<std::pair<std::string, std::string>> cli;  // from the command line
  bool have_operand = false, have_steps = false;
  auto set = [&cli](const std::string& k, const std::string& v) { cli.emplace_back(k, v); };
  while (!args.done()) {
    Arg a = next_arg(args, spec);
    if (!a.option) {
      if (!operand_key || have_operand)
        throw UsageError(name + ": unexpected argument '" + a.text + "'");
      set(operand_key, a.text);
      have_operand = true;
    } else if (a.is("--dir")) {
      set("dir", a.value);
    } else if (a.is("--schema")) {
      set("schema", schema_option("--schema", a.value));
    } else if (a.is("--events")) {
      set("events", a.value);
    } else if (a.is("--lock-wait")) {  // checked here, as weir.lua's are: options.hpp
      set("lock_wait", seconds_text(duration_option("--lock-wait", a.value, 1000)));
    } else if (a.is("--lock-timeout")) {
      set("lock_timeout_ms", milliseconds_text(duration_option("--lock-timeout", a.value, 1)));
    } else if (a.is("--statement-timeout")) {
      set("statement_timeout_ms",
          milliseconds_text(duration_option("--statement-timeout", a.value, 1)));
    } else if (a.is("--retries")) {
      set("retries", std::to_string(count_option("--retries", a.value)));
    } else if (a.is("--to")) {
      set("to", a.value);
    } else if (a.is("--steps")) {
      const std::string& n = a.value;
      if (n.empty() || n.find_first_not_of("0123456789") != std::string::npos ||
          std::atoi(n.c_str()) < 1) {
        throw UsageError(name + ": --steps expects a positive number, got '" + n + "'");
      }
      set("steps", n);
      have_steps = true;
    } else if (a.is("--all-sql")) {
      set("all_sql", "1");
    } else if (a.is("--json")) {
      set("json", "1");
    } else if (a.is("--progress")) {  // docs/progress.md
      const std::string& mode = a.value;
      if (mode != "auto" && mode != "tty" && mode != "plain" && mode != "off")
        throw UsageError("--progress: '" + mode + "' is not one of auto, tty, plain, off");
      set("progress", mode);
    } else if (a.is("--progress-interval")) {
      long long ms = duration_option("--progress-interval", a.value, 1000);
      if (ms == 0) throw UsageError("--progress-interval: must be above 0");
      set("progress_interval", seconds_text(ms));
    } else if (!apply_common_option(a, conn)) {
      unhandled(a);
    }
  }
  if (name == "baseline" && !have_operand) throw UsageError("baseline: missing target");
  if (name == "down" && have_operand == have_steps)
    throw UsageError("down: give either ID[:PHASE] or --steps N");
  bool json = false, events_stdout = false;
  for (const auto& [k, v] : cli) {
    json = json || k == "json";
    events_stdout = events_stdout || (k == "events" && v == "-");
  }
  if (json && events_stdout)
    throw UsageError(name + ": --json and --events - both write to stdout");

  // Later entries win: built-in defaults, then weir.lua, then the command line.
  Project project = load_project(conn.config);
  apply_project(project, conn);
  std::vector<std::pair<std::string, std::string>> opts{{"command", name}, {"dir", "migrations"}};
  opts.insert(opts.end(), project.settings.begin(), project.settings.end());
  opts.insert(opts.end(), cli.begin(), cli.end());
  Target target = resolve_target(conn);  // a ClusterError reaches main: one line, exit 1
  opts.emplace_back("url", target.url);
  return run_stdlib_main(conn, target, true, "runner", opts);
}

}  // namespace

int cmd_up(Args& a) {
  return run_migrate_command(kUpSpec, a);
}
int cmd_plan(Args& a) {
  return run_migrate_command(kPlanSpec, a);
}
int cmd_down(Args& a) {
  return run_migrate_command(kDownSpec, a);
}
int cmd_status(Args& a) {
  return run_migrate_command(kStatusSpec, a);
}
int cmd_repair(Args& a) {
  return run_migrate_command(kRepairSpec, a);
}
int cmd_baseline(Args& a) {
  return run_migrate_command(kBaselineSpec, a);
}

}  // namespace weir::cli
