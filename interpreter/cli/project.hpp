// The optional project file `weir.lua`: defaults for the commands of one project (migrations
// directory, state schema, connections, timeouts). Command-line flags override it.
//
//   return {
//     migrations = "db/migrations",
//     db = env "DATABASE_URL",
//     connections = { legacy = env "LEGACY_URL" },
//     lock_timeout = "2s", statement_timeout = "15min", lock_wait = 60, retries = 5,
//     vars = { schema = env("APP_SCHEMA", "public") },   -- weir.var("schema") in scripts
//     ids = "timestamp", pg_version = 15,
//   }
//
// It is plain Lua with only the base, string, table and math libraries and env(NAME [,
// DEFAULT]); it cannot reach the database or the file system.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace weir::cli {

struct ConnectionOptions;

// A URL (or a var's value) from the project file; env "X" with X unset is kept as an error for
// when it is used.
struct ProjectUrl {
  std::string url;
  std::string unset_error;  // non-empty: using it is an error with this message
  const std::string& get() const;
};

struct Project {
  std::string file;  // as found ("weir.lua" or --config's value); empty: no project file
  // Migration settings under the runner's option names (dir, schema, events, lock_wait,
  // lock_timeout_ms, statement_timeout_ms, retries); paths already relative to the cwd.
  std::map<std::string, std::string> settings;
  std::optional<ProjectUrl> db;
  std::map<std::string, ProjectUrl> connections;
  // vars = { NAME = "text" | number | env "X" }: values scripts read with weir.var(NAME).
  std::map<std::string, ProjectUrl> vars;
  std::string ids;         // how `weir new` numbers: "sequential" or "timestamp" ("": default)
  std::string pg_bindir;   // throwaway clusters' PostgreSQL (relative to the cwd), or
  std::string pg_version;  // its major version
};

// Loads --config FILE, else ./weir.lua when it exists, else returns an empty Project. Throws
// std::runtime_error ("weir.lua:3: ...", "weir.lua: unknown setting ...") on a bad file.
// Its pg_bindir or pg_version becomes the PostgreSQL of the process's throwaway clusters
// ($WEIR_PG_BINDIR) unless --pg-bindir, --pg-version or the environment chose one; one that is
// not installed is an error naming the versions that are.
Project load_project(const std::optional<std::string>& config_path);

// Fills what the command line left open: the default connection (unless --ephemeral; --db
// NAME picks a named connection), named connections and the vars.
void apply_project(const Project& project, ConnectionOptions& opts);

}  // namespace weir::cli
