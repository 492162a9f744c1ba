// The optional project file `weir.lua`: defaults for the commands of one project (migrations
// directory, state schema, connections, timeouts). Command-line flags override it.
//
//   return {
//     migrations = "db/migrations",
//     db = env "DATABASE_URL",
//     connections = { legacy = env "LEGACY_URL" },
//     lock_timeout = "2s", statement_timeout = "15min", lock_wait = 60, retries = 5,
//     settings = { batch = env("BATCH", "1000") },   -- weir.settings in scripts
//   }
//
// It is plain Lua with only the base, string, table and math libraries and env(NAME [,
// DEFAULT]); it cannot reach the database or the file system.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "lua/host.hpp"

namespace weir::cli {

struct ConnectionOptions;

// A URL from the project file; env "X" with X unset is kept as an error for when it is used.
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
  // `settings`: the project's own values, which scripts read as weir.settings (an env "X"
  // whose variable is unset or empty and that has no default is left out).
  std::map<std::string, lua::SettingValue> script_settings;
};

// Loads --config FILE, else ./weir.lua when it exists, else returns an empty Project. Throws
// std::runtime_error ("weir.lua:3: ...", "weir.lua: unknown setting ...") on a bad file.
Project load_project(const std::optional<std::string>& config_path);

// Fills what the command line left open: the default connection (unless --ephemeral; --db
// NAME picks a named connection), named connections, and the scripts' settings.
void apply_project(const Project& project, ConnectionOptions& opts);

}  // namespace weir::cli
