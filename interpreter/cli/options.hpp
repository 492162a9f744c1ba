// Command-line parsing shared by every command: the connection options and the usage-error
// type (exit code 2). Each command parses its own arguments with these helpers.
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
  std::optional<std::string> config;                  // --config FILE (else ./weir.lua)
  bool ephemeral = false;                             // --ephemeral
  bool unsafe = false;                                // --unsafe
  bool verbose = false;                               // -v / --verbose
  bool traceback = false;                             // --traceback
  std::string stdlib_dir;                             // --stdlib-dir DIR (or $WEIR_STDLIB_DIR)
};

// A cursor over argv that commands consume from.
class Args {
 public:
  Args(int argc, char** argv, int start) : argv_(argv + start, argv + argc) {}
  bool done() const { return pos_ >= argv_.size(); }
  const std::string& peek() const { return argv_[pos_]; }
  std::string next() { return argv_[pos_++]; }
  // The value of an option: "--db=URL" or "--db URL".
  std::string value(const std::string& option, const std::string& arg);
  std::vector<std::string> rest() {
    std::vector<std::string> r(argv_.begin() + static_cast<long>(pos_), argv_.end());
    pos_ = argv_.size();
    return r;
  }

 private:
  std::vector<std::string> argv_;
  size_t pos_ = 0;
};

// Tries to consume one connection option at the cursor (`arg` was already taken with next()).
// Returns false if `arg` is not one of them.
bool parse_connection_option(Args& args, const std::string& arg, ConnectionOptions& out);

// Help text for the connection options, for per-command --help.
extern const char* const kConnectionHelp;

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
