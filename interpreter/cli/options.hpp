// Command-line parsing shared by every command: the cursor over argv, the usage-error type
// (exit code 2), and the options most commands take (connection, script and throwaway-cluster
// options, as tables for spec.hpp). Each command reads its own arguments with next_arg.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pg/duration.hpp"

namespace weir::pg {
class Cluster;
}

namespace weir::cli {

constexpr int kExitOk = 0, kExitError = 1, kExitUsage = 2;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Options understood by every command that talks to a database.
struct ConnectionOptions {
  std::optional<std::string> db;                      // --db URL
  std::map<std::string, std::string> connects;        // --connect NAME=URL
  std::map<std::string, std::string> unset_connects;  // weir.lua names whose $VAR is unset
  std::map<std::string, std::string> vars;            // weir.lua's vars, for weir.var
  std::map<std::string, std::string> unset_vars;      // vars whose $VAR is unset: the message
  std::optional<std::string> config;                  // --config FILE (else ./weir.lua)
  bool ephemeral = false;                             // --ephemeral
  bool unsafe = false;                                // --unsafe
  bool verbose = false;                               // -v / --verbose
  bool traceback = false;                             // --traceback
  std::string stdlib_dir;                             // --stdlib-dir DIR (or $WEIR_STDLIB_DIR)
};

struct Arg;
struct OptionSpec;

// A cursor over argv that commands consume from.
class Args {
 public:
  Args(int argc, char** argv, int start) : argv_(argv + start, argv + argc) {}
  bool done() const { return pos_ >= argv_.size(); }
  const std::string& peek() const { return argv_[pos_]; }
  std::string next() { return argv_[pos_++]; }
  std::vector<std::string> rest() {
    std::vector<std::string> r(argv_.begin() + static_cast<long>(pos_), argv_.end());
    pos_ = argv_.size();
    return r;
  }

 private:
  std::vector<std::string> argv_;
  size_t pos_ = 0;
};

// The options shared by the commands that talk to a database (spec.hpp tables):
//   kConnectionOptions  --db, --connect, --ephemeral, --config
//   kScriptOptions      --unsafe, -v/--verbose, --traceback, --stdlib-dir
//   kClusterOptions     --pg-bindir, --pg-version (which PostgreSQL throwaway clusters run)
extern const std::vector<OptionSpec> kConnectionOptions;
extern const std::vector<OptionSpec> kScriptOptions;
extern const std::vector<OptionSpec> kClusterOptions;

// Applies `arg` when it is one of the shared options (by name, whichever table listed it);
// false otherwise. --pg-bindir and --pg-version are checked here (a UsageError naming the
// PostgreSQL versions there are) and take effect for the whole process: they set
// $WEIR_PG_BINDIR, which every throwaway cluster reads (pg::Cluster::find_bindir).
bool apply_common_option(const Arg& arg, ConnectionOptions& out);

// --pg-bindir DIR or --pg-version N ("--pg-bindir"/"--pg-version" as `option`): checks the
// value (a UsageError naming the PostgreSQL versions installed when it is not usable) and makes
// it the PostgreSQL of every throwaway cluster of this process and its children: it sets
// $WEIR_PG_BINDIR and clears $WEIR_PG_VERSION.
void choose_pg_server(const std::string& option, const std::string& value);

// Durations of the safety rails (lock_timeout, statement_timeout, lock_wait): pg/duration.hpp's
// rule, the one weir.lua (project.cpp) and a phase's timeout follow too.
using pg::duration_of_number;
using pg::kMaxDurationMs;
using pg::parse_duration;
// The runner's forms of a duration: whole milliseconds ("1500"), or seconds ("1.5").
std::string milliseconds_text(long long ms);
std::string seconds_text(long long ms);

// Option values checked before anything runs: a bad one is a UsageError (exit 2) naming the
// option and the value. duration_option returns milliseconds; count_option a non-negative
// integer that fits an int; schema_option a schema name, non-empty as weir.lua's must be.
long long duration_option(const std::string& option, const std::string& value, double unit_ms);
int count_option(const std::string& option, const std::string& value);
std::string schema_option(const std::string& option, const std::string& value);

// The database a command talks to, resolved from the options: a throwaway cluster
// (--ephemeral, owned here and removed on destruction), --db, $DATABASE_URL, or libpq's
// PG* defaults.
struct Target {
  std::unique_ptr<pg::Cluster> cluster;
  std::string url;  // "" means libpq defaults
  bool explicit_url = false;
  Target();
  ~Target();
  Target(Target&&) noexcept;
  Target& operator=(Target&&) noexcept;
};
Target resolve_target(const ConnectionOptions& opts);

}  // namespace weir::cli

namespace weir::lua {
struct Host;
}

namespace weir::cli {

// The Lua host settings for a command: safety mode, stdlib source ($WEIR_STDLIB_DIR when
// --stdlib-dir is absent), the default connection (connected eagerly when `eager`) and the
// named ones.
void configure_host(lua::Host& host, const ConnectionOptions& opts, const Target& target,
                    bool eager);

// Runs a command whose work is a stdlib module: the host configured as above, the runtime set
// up with interrupt handlers, then require(MODULE).main(OPTS). Returns the exit code.
int run_stdlib_main(const ConnectionOptions& opts, const Target& target, bool eager,
                    const std::string& module,
                    const std::vector<std::pair<std::string, std::string>>& main_opts);

}  // namespace weir::cli
