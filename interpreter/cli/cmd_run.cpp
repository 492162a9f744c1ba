// `weir run FILE.lua [ARGS...]` and `weir run -e CODE [ARGS...]`: run a script with a `db`
// global connected to the target database and the script's arguments in `arg` and `...`.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "cli/commands.hpp"
#include "cli/project.hpp"
#include "lua/runtime.hpp"
#include "pg/connection.hpp"

namespace weir::cli {

namespace {

const std::vector<OptionSpec> kRunOptions = {
    {"-e", nullptr, "CODE", "run CODE instead of a file; the arguments after it go to CODE"},
};

}  // namespace

const CommandSpec kRunSpec{
    "run",
    "run a Lua script against a database",
    "weir run [OPTIONS] FILE.lua [ARGS...]\nweir run [OPTIONS] -e CODE [ARGS...]",
    "Runs a Lua script with `db` connected to the database and the script's arguments in\n"
    "`arg` (arg[0] is the script) and `...`. Options come before FILE; everything after FILE\n"
    "goes to the script (`--` before FILE ends the options, for a FILE starting with -).",
    {{"Options", &kRunOptions},
     {"Connection options", &kConnectionOptions},
     {"Script options", &kScriptOptions},
     {"Throwaway PostgreSQL", &kClusterOptions}},
    Complete::lua,
};

int cmd_run(Args& args) {
  ConnectionOptions opts;
  std::string file, code;
  bool have_code = false;
  while (!args.done()) {
    if (args.peek() == "--") {
      args.next();
      if (args.done()) throw UsageError("run: missing FILE.lua after --");
      file = args.next();
      break;
    }
    Arg a = next_arg(args, kRunSpec);
    if (!a.option) {
      file = a.text;
      break;
    }
    if (a.is("-e")) {
      code = a.value;
      have_code = true;
      break;
    }
    if (!apply_common_option(a, opts)) unhandled(a);
  }
  if (file.empty() && !have_code) throw UsageError("run: missing FILE.lua (or -e CODE)");
  // Checked before a server is resolved or started: a typo costs nothing.
  if (!have_code && !std::ifstream(file).good())
    throw std::runtime_error(file + ": " + std::strerror(errno));
  std::vector<std::string> script_args = args.rest();

  Project project = load_project(opts.config);
  apply_project(project, opts);
  Target target = resolve_target(opts);  // a ClusterError reaches main: one line, exit 1
  lua::Host host;
  configure_host(host, opts, target, target.explicit_url);

  lua::Runtime runtime(host);
  if (!runtime.ok()) return kExitError;
  lua::install_interrupt_handlers(runtime.L());
  return have_code ? runtime.run_code(code, script_args) : runtime.run_file(file, script_args);
}

}  // namespace weir::cli
