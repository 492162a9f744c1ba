// `weir inspect [--json] [--only SCHEMA]...`: the schema of the database as a readable summary or
// as the JSON model (grammar/schema-model.schema.json). The work is in stdlib/schema_cli.lua.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/project.hpp"

namespace weir::cli {

namespace {

const char* const kHelp =
    "Usage: weir inspect [--json] [--only SCHEMA]... [OPTIONS]\n"
    "\n"
    "Shows the database's schema: tables with their columns, constraints, indexes, triggers\n"
    "and policies; views; types; sequences; functions; extensions.\n"
    "\n"
    "  --json                the model as one JSON document (grammar/schema-model.schema.json)\n"
    "  --only SCHEMA         only this schema (repeatable)\n"
    "  --schema NAME         weir's state schema, left out (default: weir)\n"
    "\n";

}  // namespace

int cmd_inspect(Args& args) {
  ConnectionOptions conn;
  std::vector<std::pair<std::string, std::string>> opts{{"command", "inspect"}};
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
    } else if (is("--only")) {
      only += (only.empty() ? "" : ",") + args.value("--only", a);
    } else if (is("--schema")) {
      opts.emplace_back("state_schema", schema_option("--schema", args.value("--schema", a)));
    } else if (parse_connection_option(args, a, conn)) {
      continue;
    } else {
      throw UsageError("inspect: unexpected argument '" + a + "'");
    }
  }
  if (!only.empty()) opts.emplace_back("only", only);
  Project project = load_project(conn.config);
  apply_project(project, conn);
  Target target = resolve_target(conn);
  return run_stdlib_main(conn, target, true, "schema_cli", opts);
}

}  // namespace weir::cli
