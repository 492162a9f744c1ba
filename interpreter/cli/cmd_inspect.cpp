// `weir inspect [--json] [--only SCHEMA]...`: the schema of the database as a readable summary or
// as the JSON model (grammar/schema-model.schema.json). The work is in stdlib/schema_cli.lua.
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/project.hpp"

namespace weir::cli {

namespace {

const std::vector<OptionSpec> kInspectOptions = {
    {"--json", nullptr, nullptr,
     "the model as one JSON document (grammar/schema-model.schema.json)"},
    {"--only", nullptr, "SCHEMA", "only this schema (repeatable)"},
    {"--schema", nullptr, "NAME", "weir's state schema, left out (default: weir)"},
};

}  // namespace

const CommandSpec kInspectSpec{
    "inspect",
    "show the database's schema (or its JSON model)",
    "weir inspect [--json] [--only SCHEMA]... [OPTIONS]",
    "Shows the database's schema: tables with their columns, constraints, indexes, triggers\n"
    "and policies; views; types; sequences; functions; extensions.",
    {{"Options", &kInspectOptions},
     {"Connection options", &kConnectionOptions},
     {"Script options", &kScriptOptions},
     {"Throwaway PostgreSQL", &kClusterOptions}},
};

int cmd_inspect(Args& args) {
  ConnectionOptions conn;
  std::vector<std::pair<std::string, std::string>> opts{{"command", "inspect"}};
  std::string only;
  while (!args.done()) {
    Arg a = next_arg(args, kInspectSpec);
    if (!a.option) {
      throw UsageError("inspect: unexpected argument '" + a.text + "'");
    } else if (a.is("--json")) {
      opts.emplace_back("json", "1");
    } else if (a.is("--only")) {
      only += (only.empty() ? "" : ",") + a.value;
    } else if (a.is("--schema")) {
      opts.emplace_back("state_schema", schema_option("--schema", a.value));
    } else if (!apply_common_option(a, conn)) {
      unhandled(a);
    }
  }
  if (!only.empty()) opts.emplace_back("only", only);
  Project project = load_project(conn.config);
  apply_project(project, conn);
  Target target = resolve_target(conn);
  return run_stdlib_main(conn, target, true, "schema_cli", opts);
}

}  // namespace weir::cli
