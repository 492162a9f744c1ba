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

const char* const kHelp =
    "Usage: weir run [OPTIONS] FILE.lua [ARGS...]\n"
    "       weir run [OPTIONS] -e CODE [ARGS...]\n"
    "\n"
    "Runs a Lua script with `db` connected to the database and the script's arguments in\n"
    "`arg` (arg[0] is the script) and `...`. Options come before FILE; everything after FILE\n"
    "goes to the script.\n"
    "\n"
    "  -e CODE               run CODE instead of a file\n"
    "  -h, --help            show this help\n"
    "\n";

}  // namespace

int cmd_run(Args& args) {
  ConnectionOptions opts;
  std::string file, code;
  bool have_code = false;
  while (!args.done()) {
    std::string a = args.next();
    if (a == "-h" || a == "--help") {
      std::printf("%s%s", kHelp, kConnectionHelp);
      return kExitOk;
    }
    if (a == "-e") {
      code = args.value("-e", a);
      have_code = true;
      break;
    }
    if (a == "--") {
      if (args.done()) throw UsageError("run: missing FILE.lua after --");
      file = args.next();
      break;
    }
    if (parse_connection_option(args, a, opts)) continue;
    if (a.size() > 1 && a[0] == '-') throw UsageError("run: unknown option '" + a + "'");
    file = a;
    break;
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
