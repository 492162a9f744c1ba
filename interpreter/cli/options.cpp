// Shared command-line options (see options.hpp).
#include "cli/options.hpp"

#include <stdlib.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cli/spec.hpp"
#include "lua/host.hpp"
#include "lua/runtime.hpp"
#include "pg/cluster.hpp"
#include "pg/connection.hpp"

namespace weir::cli {

const std::vector<OptionSpec> kConnectionOptions = {
    {"--db", nullptr, "URL|NAME",
     "database to use, or a connection named in weir.lua (default: weir.lua's\n"
     "db, else $DATABASE_URL, else libpq's PG* variables and ~/.pgpass)"},
    {"--connect", nullptr, "NAME=URL",
     "a further named connection, weir.connection(\"NAME\") in scripts\n(repeatable)"},
    {"--ephemeral", nullptr, nullptr, "start a throwaway PostgreSQL for this command and use it"},
    {"--config", nullptr, "FILE", "project settings (default: ./weir.lua when it exists)",
     Complete::lua},
};

const std::vector<OptionSpec> kScriptOptions = {
    {"--unsafe", nullptr, nullptr,
     "allow os.execute, io.popen, package.loadlib, debug and C modules"},
    {"--verbose", "-v", nullptr, "show server NOTICE messages"},
    {"--traceback", nullptr, nullptr,
     "errors keep the position weir's own code raised them at\n"
     "(stdlib/FILE.lua:LINE) instead of the script line that called it\n"
     "(for reporting a bug in weir)"},
    {"--stdlib-dir", nullptr, "DIR",
     "load stdlib/*.lua from DIR instead of the embedded copy\n"
     "(for weir developers; also $WEIR_STDLIB_DIR)",
     Complete::dir},
};

const std::vector<OptionSpec> kClusterOptions = {
    {"--pg-bindir", nullptr, "DIR",
     "throwaway clusters run initdb and postgres from DIR (also\n"
     "$WEIR_PG_BINDIR, weir.lua's pg_bindir; default: the newest\n"
     "/usr/lib/postgresql/*/bin)",
     Complete::dir},
    {"--pg-version", nullptr, "N",
     "throwaway clusters run PostgreSQL N (/usr/lib/postgresql/N/bin;\n"
     "also $WEIR_PG_VERSION, weir.lua's pg_version)"},
};

std::string milliseconds_text(long long ms) {
  return std::to_string(ms);
}

std::string seconds_text(long long ms) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", static_cast<double>(ms) / 1000);
  std::string s = buf;
  s.erase(s.find_last_not_of('0') + 1);  // "1.500" -> "1.5", "60.000" -> "60."
  if (s.back() == '.') s.pop_back();
  return s;
}

long long duration_option(const std::string& option, const std::string& value, double unit_ms) {
  long long ms = 0;
  std::string why;
  if (!parse_duration(value, unit_ms, ms, why))
    throw UsageError(option + ": '" + value + "' " + why);
  return ms;
}

std::string schema_option(const std::string& option, const std::string& value) {
  if (value.empty())
    throw UsageError(option + ": '' is not a schema name: expected a non-empty name");
  return value;
}

int count_option(const std::string& option, const std::string& value) {
  bool digits = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
  if (!digits || value.size() > 10 || std::stoll(value) > 2147483647)
    throw UsageError(option + ": '" + value +
                     "' is not a count: expected a whole number from 0 to 2147483647");
  return static_cast<int>(std::stoll(value));
}

bool apply_common_option(const Arg& arg, ConnectionOptions& out) {
  if (arg.is("--db")) {
    out.db = arg.value;
  } else if (arg.is("--connect")) {
    const std::string& spec = arg.value;
    auto eq = spec.find('=');
    // A NAME is a word: a URL given without one (or with '=' only in its query) is refused
    // here, shown masked, instead of becoming a name that messages would print.
    bool named = eq != std::string::npos && eq > 0 && eq + 1 < spec.size();
    for (size_t i = 0; named && i < eq; ++i)
      named = std::isalnum(static_cast<unsigned char>(spec[i])) || spec[i] == '_' || spec[i] == '-';
    if (!named) {
      throw UsageError("--connect expects NAME=URL (NAME: letters, digits, _ and -), got '" +
                       pg::mask_password(spec) + "'");
    }
    out.connects[spec.substr(0, eq)] = spec.substr(eq + 1);
  } else if (arg.is("--config")) {
    out.config = arg.value;
  } else if (arg.is("--ephemeral")) {
    out.ephemeral = true;
  } else if (arg.is("--unsafe")) {
    out.unsafe = true;
  } else if (arg.is("--verbose")) {
    out.verbose = true;
  } else if (arg.is("--traceback")) {
    out.traceback = true;
  } else if (arg.is("--stdlib-dir")) {
    out.stdlib_dir = arg.value;
  } else if (arg.is("--pg-bindir") || arg.is("--pg-version")) {
    choose_pg_server(arg.option->name, arg.value);
  } else {
    return false;
  }
  return true;
}

void choose_pg_server(const std::string& option, const std::string& value) {
  std::string bindir;
  try {
    bindir = option == "--pg-version" ? pg::Cluster::bindir_for_version(value)
                                      : pg::Cluster::check_bindir(value);
  } catch (const pg::ClusterError& e) {
    // "pg cluster: WHY" -> "--pg-version: WHY": a bad value, said before anything runs
    std::string why = e.what();
    if (why.rfind("pg cluster: ", 0) == 0) why = why.substr(12);
    throw UsageError(option + ": " + why);
  }
  setenv("WEIR_PG_BINDIR", bindir.c_str(), 1);
  unsetenv("WEIR_PG_VERSION");
}

Target::Target() = default;
Target::~Target() = default;
Target::Target(Target&&) noexcept = default;
Target& Target::operator=(Target&&) noexcept = default;

Target resolve_target(const ConnectionOptions& opts) {
  Target t;
  if (opts.ephemeral) {
    if (opts.db) throw UsageError("--ephemeral and --db cannot be used together");
    t.cluster = std::make_unique<pg::Cluster>(pg::ClusterOptions{});
    t.url = t.cluster->url();
    t.explicit_url = true;
  } else if (opts.db) {
    t.url = *opts.db;
    t.explicit_url = true;
  } else if (const char* env = std::getenv("DATABASE_URL"); env && *env) {
    t.url = env;
    t.explicit_url = true;
  }
  return t;
}

void configure_host(lua::Host& host, const ConnectionOptions& opts, const Target& target,
                    bool eager) {
  host.unsafe = opts.unsafe;
  host.verbose = opts.verbose;
  host.traceback = opts.traceback;
  host.stdlib_dir = opts.stdlib_dir;
  if (host.stdlib_dir.empty()) {
    if (const char* d = std::getenv("WEIR_STDLIB_DIR"); d && *d) host.stdlib_dir = d;
  }
  host.default_target = target.url;
  host.default_eager = eager;
  host.named_targets = opts.connects;
  host.unusable_targets = opts.unset_connects;
  host.vars = opts.vars;
  host.unusable_vars = opts.unset_vars;
}

int run_stdlib_main(const ConnectionOptions& opts, const Target& target, bool eager,
                    const std::string& module,
                    const std::vector<std::pair<std::string, std::string>>& main_opts) {
  lua::Host host;
  configure_host(host, opts, target, eager);
  lua::Runtime runtime(host);
  if (!runtime.ok()) return kExitError;
  lua::install_interrupt_handlers(runtime.L());
  return runtime.run_main(module, main_opts);
}

}  // namespace weir::cli
