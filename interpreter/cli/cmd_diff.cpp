// `weir diff FROM TO [--json] [--check]`: the changes that turn FROM's schema into TO's, as an
// SQL script. FROM and TO are database URLs, .sql files (loaded into a throwaway cluster) or
// migrations directories (applied to an empty throwaway cluster). The work is in
// stdlib/schema_cli.lua.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/project.hpp"

namespace weir::cli {

namespace {

const char* const kHelp =
    "Usage: weir diff FROM TO [--json] [--check] [OPTIONS]\n"
    "\n"
    "Prints the SQL that turns FROM's schema into TO's, ordered by dependencies, online where\n"
    "the table exists (CREATE INDEX CONCURRENTLY, NOT VALID then VALIDATE), each change with\n"
    "its hazards. FROM and TO are each a database URL, an .sql file (loaded into a throwaway\n"
    "cluster), or a migrations directory (the schema its migrations build on an empty\n"
    "throwaway cluster).\n"
    "\n"
    "  --json                {equal, changes: [{kind, object, sql, hazards, transaction}]}\n"
    "  --check               exit 1 when the schemas differ\n"
    "  --only SCHEMA         compare only this schema (repeatable)\n"
    "  --base FILE.sql       for a migrations directory: what exists before its first\n"
    "                        migration (tables it alters but does not create)\n"
    "  --schema NAME         weir's state schema, left out of both (default: weir)\n"
    "\n";

}  // namespace

int cmd_diff(Args& args) {
  ConnectionOptions conn;
  std::vector<std::pair<std::string, std::string>> opts{{"command", "diff"}};
  std::vector<std::string> sources;
  std::string only;
  while (!args.done()) {
    std::string a = args.next();
    auto is = [&a](const char* n) { return a == n || a.rfind(std::string(n) + "=", 0) == 0; };
    if (a == "-h" || a == "--help") {
      std::printf("%s%s", kHelp, kConnectionHelp);
      return kExitOk;
    }
    if (a == "--json") {
      opts.emplace_back("json", "1");
    } else if (a == "--check") {
      opts.emplace_back("check", "1");
    } else if (is("--only")) {
      only += (only.empty() ? "" : ",") + args.value("--only", a);
    } else if (is("--schema")) {
      opts.emplace_back("state_schema", schema_option("--schema", args.value("--schema", a)));
    } else if (is("--base")) {
      opts.emplace_back("base", args.value("--base", a));
    } else if (parse_connection_option(args, a, conn)) {
      continue;
    } else if (a.size() > 1 && a[0] == '-') {
      throw UsageError("diff: unknown option '" + a + "'");
    } else {
      sources.push_back(a);
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
