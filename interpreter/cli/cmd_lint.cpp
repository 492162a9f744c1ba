// `weir lint [FILE.sql|MIGRATION.lua|DIR|-]... [--format F] [--db URL]`: dangerous DDL, found
// with PostgreSQL's parser (the rules are pg/lint.hpp's, documented in docs/lint.md). Argument
// checks, `--rules` and what weir.lua says live here; the linting and the output are
// stdlib/lint.lua's (require("lint").main(opts)), which runs migrations' phases on one
// throwaway cluster to see the SQL they execute. Exit 0 when clean, 1 on findings or errors, 2
// on usage errors.
#include <sys/stat.h>

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
    {"--format", nullptr, "text|json|gcc|github|sarif",
     "text (default): FILE:LINE: rule: message\n"
     "json: one document {format_version, files, findings, failures}\n"
     "gcc: FILE:LINE: error: message [rule], for editors\n"
     "github: ::error file=…,line=…:: annotations for GitHub Actions\n"
     "sarif: SARIF 2.1.0, for code scanning",
     Complete::choice},
    {"--json", nullptr, nullptr, "the same as --format json"},
    {"--rules", nullptr, nullptr, "list the rules and exit"},
    {"--db", nullptr, "URL|NAME",
     "for migrations: start from a schema-only copy of this database (or\n"
     "of a connection named in weir.lua), never written to"},
    {"--connect", nullptr, "NAME=URL",
     "a connection the migrations reach with weir.connection(NAME)\n"
     "(repeatable); their phases use it as written, so give a copy"},
    {"--config", nullptr, "FILE",
     "project settings (default: ./weir.lua when it exists); read only\n"
     "for migrations, for --db NAME and to find the migrations",
     Complete::lua},
};

bool ends_with(const std::string& s, const char* tail) {
  std::string t = tail;
  return s.size() > t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

bool is_directory(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

const char* const kFormats[] = {"text", "json", "gcc", "github", "sarif"};

}  // namespace

const CommandSpec kLintSpec{
    "lint",
    "report dangerous DDL in SQL files and migrations",
    "weir lint [OPTIONS] [FILE.sql|MIGRATION.lua|DIR|-]...",
    "Reports DDL that takes long locks, rewrites tables, breaks clients or picks regrettable\n"
    "column types. A .sql file is read as psql would run it; a .lua migration's phases run on a\n"
    "throwaway cluster (empty, or with --db a schema-only copy of that database, after the\n"
    "migrations before it in its directory) and the SQL they execute is linted, reported at the\n"
    "Lua line that ran it; all the migrations of one run share one cluster. A DIR stands for its\n"
    ".sql and .lua files (not its subdirectories); - reads SQL from stdin. With no file, the\n"
    "project's migrations are linted (weir.lua's `migrations`, else ./migrations).\n"
    "Objects created earlier in the same file or migration are new and safe to change.\n"
    "`-- weir:ignore RULE[, RULE...] [-- reason]` above a statement (or on its line) suppresses\n"
    "those rules for it. A summary (`N files, N findings`) goes to stderr.\n\n"
    "Exit 0 when clean, 1 on findings, syntax errors or a migration that fails to run, 2 on\n"
    "usage errors.",
    {{"Options", &kLintOptions},
     {"Script options", &kScriptOptions},
     {"Throwaway PostgreSQL", &kClusterOptions}},
    Complete::sql,
};

int cmd_lint(Args& args) {
  ConnectionOptions conn;
  std::vector<std::string> files;
  std::string format = "text";
  bool stdin_given = false;
  while (!args.done()) {
    Arg a = next_arg(args, kLintSpec);
    if (!a.option) {
      if (a.text == "-") {
        if (stdin_given) throw UsageError("lint: - (stdin) given twice");
        stdin_given = true;
      }
      files.push_back(a.text);
    } else if (a.is("--rules")) {
      for (const auto& r : pg::lint_rules())
        std::printf("%-28s %s\n", r.name, r.summary);
      return kExitOk;
    } else if (a.is("--json")) {
      format = "json";
    } else if (a.is("--format")) {
      format = a.value;
      bool known = false;
      for (const char* f : kFormats)
        known = known || format == f;
      if (!known)
        throw UsageError("lint: --format '" + format +
                         "' is not one of text, json, gcc, github, sarif");
    } else if (!apply_common_option(a, conn)) {
      unhandled(a);
    }
  }

  // weir.lua is read only when it says something lint needs: where the migrations are (no
  // file given), what --db NAME means, and the state schema migrations run with. A broken
  // weir.lua does not stop `weir lint x.sql`.
  bool db_given = conn.db.has_value();
  bool wants_project = files.empty() || db_given;
  for (const auto& f : files)
    wants_project = wants_project || (f != "-" && !ends_with(f, ".sql"));
  Project project;
  if (wants_project) project = load_project(conn.config);
  if (files.empty()) {
    auto it = project.settings.find("dir");
    std::string dir = it != project.settings.end() ? it->second : "migrations";
    if (!is_directory(dir)) {
      throw UsageError("lint: no file given, and no migrations directory " + dir +
                       " (give FILE.sql, MIGRATION.lua, a directory or -)");
    }
    files.push_back(dir);
  }

  std::string list;
  for (const auto& f : files) {
    if (f != "-" && !is_directory(f)) {
      if (!ends_with(f, ".sql") && !ends_with(f, ".lua"))
        throw UsageError("lint: " + f + ": expected a .sql file, a .lua migration or a directory");
      if (!std::ifstream(f).good()) throw std::runtime_error(f + ": " + std::strerror(errno));
    }
    list += f + "\n";
  }

  // Only --db (or --db NAME of weir.lua) names the database whose schema a migration is
  // linted against; $DATABASE_URL and weir.lua's default `db` are not read implicitly.
  // (weir.lua is read only to resolve --db NAME: an unset $VAR of its default is no error.)
  if (db_given) apply_project(project, conn);
  std::string rules;
  for (const auto& r : pg::lint_rules())
    rules += std::string(r.name) + "\t" + r.summary + "\n";
  std::vector<std::pair<std::string, std::string>> opts{
      {"files", list}, {"format", format}, {"rules", rules}, {"version", WEIR_VERSION}};
  if (db_given) opts.emplace_back("url", *conn.db);
  if (auto it = project.settings.find("schema"); it != project.settings.end())
    opts.emplace_back("schema", it->second);
  Target target;  // no default connection: lint talks to throwaway clusters only
  return run_stdlib_main(conn, target, false, "lint", opts);
}

}  // namespace weir::cli
