// `weir lint FILE.sql|MIGRATION.lua... [--json] [--db URL]`: dangerous DDL, found with
// PostgreSQL's parser (the rules are pg/lint.hpp's, documented in docs/lint.md). Argument
// checks and `--rules` live here; the linting and the output are stdlib/lint.lua's
// (require("lint").main(opts)), which runs a migration's phases on a throwaway cluster to
// see the SQL they execute. Exit 0 when clean, 1 on violations or errors, 2 on usage errors.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.hpp"
#include "cli/project.hpp"
#include "pg/lint.hpp"

namespace weir::cli {

namespace {

const std::vector<OptionSpec> kLintOptions = {
    {"--json", nullptr, nullptr, "print one JSON array of {file, line, rule, message, statement}"},
    {"--rules", nullptr, nullptr, "list the rules and exit"},
    {"--db", nullptr, "URL|NAME", "for a migration: copy the schema of this database first"},
    {"--config", nullptr, "FILE",
     "project settings, for --db NAME and the state schema (default:\n./weir.lua when it exists)",
     Complete::lua},
};

bool ends_with(const std::string& s, const char* tail) {
  std::string t = tail;
  return s.size() > t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

}  // namespace

const CommandSpec kLintSpec{
    "lint",
    "report dangerous DDL in SQL files and migrations",
    "weir lint [OPTIONS] FILE.sql|MIGRATION.lua...",
    "Reports DDL that takes long locks, rewrites tables, breaks clients or picks regrettable\n"
    "column types, one `FILE:LINE: rule: message` per finding. A .sql file is read as psql\n"
    "would run it; a .lua migration's phases run on a throwaway cluster (empty, or with --db\n"
    "a schema-only copy of that database, after the migrations before it in its directory)\n"
    "and the SQL they execute is linted, reported at the Lua line that ran it.\n"
    "Objects created earlier in the same file or migration are new and safe to change.\n"
    "`-- weir:ignore RULE[, RULE...] [-- reason]` above a statement (or on its line) suppresses\n"
    "those rules for it. Exit 0 when clean, 1 on findings or syntax errors, 2 on usage errors.",
    {{"Options", &kLintOptions},
     {"Script options", &kScriptOptions},
     {"Throwaway PostgreSQL", &kClusterOptions}},
    Complete::sql,
};

int cmd_lint(Args& args) {
  ConnectionOptions conn;
  std::vector<std::string> files;
  bool json = false;
  while (!args.done()) {
    Arg a = next_arg(args, kLintSpec);
    if (!a.option) {
      files.push_back(a.text);
    } else if (a.is("--rules")) {
      for (const auto& r : pg::lint_rules())
        std::printf("%-28s %s\n", r.name, r.summary);
      return kExitOk;
    } else if (a.is("--json")) {
      json = true;
    } else if (!apply_common_option(a, conn)) {
      unhandled(a);
    }
  }
  if (files.empty()) throw UsageError("lint: missing FILE.sql or MIGRATION.lua");
  bool any_migration = false;
  std::string list;
  for (const auto& f : files) {
    if (!ends_with(f, ".sql") && !ends_with(f, ".lua"))
      throw UsageError("lint: " + f + ": expected a .sql file or a .lua migration");
    if (!std::ifstream(f).good()) throw std::runtime_error(f + ": " + std::strerror(errno));
    any_migration = any_migration || ends_with(f, ".lua");
    list += f + "\n";
  }

  // Only --db (or --db NAME of weir.lua) names the database whose schema a migration is
  // linted against; $DATABASE_URL and weir.lua's default `db` are not read implicitly.
  // (weir.lua is read only to resolve --db NAME: an unset $VAR of its default is no error.)
  bool db_given = conn.db.has_value();
  // SQL files alone need nothing from weir.lua: a broken one does not stop them.
  Project project = db_given || any_migration ? load_project(conn.config) : Project{};
  if (db_given) apply_project(project, conn);
  std::vector<std::pair<std::string, std::string>> opts{{"files", list}};
  if (json) opts.emplace_back("json", "1");
  if (db_given && any_migration) opts.emplace_back("url", *conn.db);
  if (auto it = project.settings.find("schema"); it != project.settings.end())
    opts.emplace_back("schema", it->second);
  Target target;  // no default connection: lint talks to throwaway clusters only
  return run_stdlib_main(conn, target, false, "lint", opts);
}

}  // namespace weir::cli
