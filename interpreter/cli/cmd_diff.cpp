// `weir diff FROM TO [--json] [--check] [--renames]`: the changes that turn FROM's schema into
// TO's, as an SQL script. FROM and TO are database URLs, .sql files (loaded into a throwaway
// cluster) or migrations directories (applied to an empty throwaway cluster). The work is in
// stdlib/schema_cli.lua.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/project.hpp"

namespace weir::cli {

namespace {

const std::vector<OptionSpec> kDiffOptions = {
    {"--json", nullptr, nullptr, "{equal, changes: [{kind, object, sql, hazards, transaction}]}"},
    {"--check", nullptr, nullptr,
     "exit 1 when the schemas differ, 3 when nothing else differs but\n"
     "objects of kinds weir does not model were not compared"},
    {"--renames", nullptr, nullptr,
     "rename or move (ALTER … RENAME / SET SCHEMA) what differs only by\n"
     "name or schema, instead of dropping and creating it; without it\n"
     "the drop says so in a note"},
    {"--only", nullptr, "SCHEMA", "compare only this schema (repeatable)"},
    {"--base", nullptr, "FILE.sql",
     "for a migrations directory: what exists before its first\n"
     "migration (tables it alters but does not create)",
     Complete::file},
    {"--schema", nullptr, "NAME", "weir's state schema, left out of both (default: weir)"},
};

}  // namespace

const CommandSpec kDiffSpec{
    "diff",
    "the SQL that turns one schema into another",
    "weir diff FROM TO [--json] [--check] [--renames] [OPTIONS]",
    "Prints the SQL that turns FROM's schema into TO's, ordered by dependencies, online where\n"
    "the table exists (CREATE INDEX CONCURRENTLY, NOT VALID then VALIDATE), each change with\n"
    "its hazards. FROM and TO are each a database URL, an .sql file (loaded into a throwaway\n"
    "cluster), or a migrations directory (the schema its migrations build on an empty\n"
    "throwaway cluster).",
    {{"Options", &kDiffOptions},
     {"Connection options", &kConnectionOptions},
     {"Script options", &kScriptOptions},
     {"Throwaway PostgreSQL", &kClusterOptions}},
    Complete::file,
};

int cmd_diff(Args& args) {
  ConnectionOptions conn;
  std::vector<std::pair<std::string, std::string>> opts{{"command", "diff"}};
  std::vector<std::string> sources;
  std::string only;
  while (!args.done()) {
    Arg a = next_arg(args, kDiffSpec);
    if (!a.option) {
      sources.push_back(a.text);
    } else if (a.is("--json")) {
      opts.emplace_back("json", "1");
    } else if (a.is("--check")) {
      opts.emplace_back("check", "1");
    } else if (a.is("--renames")) {
      opts.emplace_back("renames", "1");
    } else if (a.is("--only")) {
      only += (only.empty() ? "" : ",") + a.value;
    } else if (a.is("--schema")) {
      opts.emplace_back("state_schema", schema_option("--schema", a.value));
    } else if (a.is("--base")) {
      opts.emplace_back("base", a.value);
    } else if (!apply_common_option(a, conn)) {
      unhandled(a);
    }
  }
  if (sources.size() != 2) throw UsageError("diff: expected FROM and TO");
  opts.emplace_back("from", sources[0]);
  opts.emplace_back("to", sources[1]);
  if (!only.empty()) opts.emplace_back("only", only);
  Project project = load_project(conn.config);
  apply_project(project, conn);
  Target none;  // the sources say where to connect; no default connection
  return run_stdlib_main(conn, none, false, "schema_cli", opts);
}

}  // namespace weir::cli
