// `weir help [--man] [COMMAND]` and `weir completion SHELL|ids|targets`: the help, manual pages
// and shell completions, all rendered from the commands' tables (spec.hpp); and the project's
// migration ids and ID:PHASE targets, which the completions ask for while the user types.
#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "cli/commands.hpp"
#include "cli/project.hpp"
#include "lua/host.hpp"
#include "lua/runtime.hpp"

namespace weir::cli {

namespace {

const std::vector<OptionSpec> kHelpOptions = {
    {"--man", nullptr, nullptr,
     "print the manual page (roff) instead: weir-COMMAND(1), or weir(1)\nwithout COMMAND"},
};

const std::vector<OptionSpec> kCompletionOptions = {
    {"--dir", nullptr, "DIR",
     "ids, targets: the migrations directory (default: weir.lua's\nmigrations, else migrations)",
     Complete::dir},
    {"--config", nullptr, "FILE", "ids, targets: project settings (default: ./weir.lua)",
     Complete::lua},
};

}  // namespace

const CommandSpec kHelpSpec{
    "help",
    "show a command's help, or its manual page",
    "weir help [COMMAND]\nweir help --man [COMMAND]",
    "Prints what `weir COMMAND --help` prints (the list of commands without COMMAND); with\n"
    "--man, the manual page in roff, as installed in man1/ (weir-COMMAND.1, weir.1).",
    {{"Options", &kHelpOptions}},
    Complete::command,
};

const CommandSpec kCompletionSpec{
    "completion",
    "shell completion for bash, zsh or fish",
    "weir completion bash|zsh|fish\nweir completion ids|targets [--dir DIR] [--config FILE]\n"
    "weir completion commands",
    "Prints the completion script of a shell; installed weir has them in place already. Try\n"
    "one without installing:  source <(weir completion bash)\n"
    "\n"
    "The scripts complete commands, options, files, and the project's migration ids and\n"
    "ID:PHASE targets, which they get from `weir completion ids` (the migration files'\n"
    "names) and `weir completion targets` (every id and ID:PHASE, from loading the scripts).\n"
    "`weir completion commands` lists the commands, one a line.",
    {{"Options", &kCompletionOptions}},
    Complete::choice,
    "bash zsh fish ids targets commands",
};

int cmd_help(Args& args) {
  bool man = false;
  std::string name;
  while (!args.done()) {
    Arg a = next_arg(args, kHelpSpec);
    if (!a.option) {
      if (!name.empty()) throw UsageError("help: unexpected argument '" + a.text + "'");
      name = a.text;
    } else if (a.is("--man")) {
      man = true;
    } else {
      unhandled(a);
    }
  }
  const CommandSpec* spec = nullptr;
  if (!name.empty()) {
    const Command* c = find_command(name);
    if (!c) throw UsageError("help: unknown command '" + name + "'");
    spec = c->spec;
  }
  std::string text = man ? manual_page(spec) : spec ? help_text(*spec) : overview_text();
  std::fputs(text.c_str(), stdout);
  return kExitOk;
}

namespace {

// Every migration and ID:PHASE of dir, one a line, from loading the scripts as `weir up` does.
const char* const kTargets = R"(
local list = require("runner").load_all(...)
for _, m in ipairs(list) do
  print(m.id)
  for _, p in ipairs(m.phases) do print(m.id .. ":" .. p.name) end
end
)";

}  // namespace

int cmd_completion(Args& args) {
  std::string what, dir;
  std::optional<std::string> config;
  while (!args.done()) {
    Arg a = next_arg(args, kCompletionSpec);
    if (!a.option) {
      if (!what.empty()) throw UsageError("completion: unexpected argument '" + a.text + "'");
      what = a.text;
    } else if (a.is("--dir")) {
      dir = a.value;
    } else if (a.is("--config")) {
      config = a.value;
    } else {
      unhandled(a);
    }
  }
  if (what.empty()) throw UsageError("completion: missing SHELL (bash, zsh or fish)");
  if (what == "bash" || what == "zsh" || what == "fish") {
    std::fputs(completion_script(what).c_str(), stdout);
    return kExitOk;
  }
  if (what == "commands") {
    for (const Command* c = commands(); c->spec; ++c)
      std::printf("%s\n", c->spec->name);
    return kExitOk;
  }
  if (what != "ids" && what != "targets")
    throw UsageError("completion: unknown '" + what +
                     "' (bash, zsh, fish, ids, targets or commands)");
  if (dir.empty()) {
    Project project = load_project(config);
    auto it = project.settings.find("dir");
    dir = it != project.settings.end() ? it->second : "migrations";
  }
  if (what == "ids") {
    // The file names: what a migration's id must be, whether or not its script loads.
    std::set<std::string> ids;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
      if (e.path().extension() == ".lua") ids.insert(e.path().stem().string());
    for (const auto& id : ids)
      std::printf("%s\n", id.c_str());
    return ec ? kExitError : kExitOk;
  }
  lua::Host host;
  ConnectionOptions none;
  configure_host(host, none, Target(), false);
  lua::Runtime runtime(host);
  if (!runtime.ok()) return kExitError;
  return runtime.run_code(kTargets, {dir});
}

}  // namespace weir::cli
