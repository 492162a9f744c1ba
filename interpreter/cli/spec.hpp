// The table every command is described by: its usage, description and options. One table
// serves four readers, so they cannot drift apart: the command's parser (next_arg accepts
// exactly the options in it), `--help` (help_text), the manual pages (manual.cpp) and the shell
// completions (completion.cpp). tests/cli/help_test.lua checks each option against all of them.
#pragma once

#include <string>
#include <vector>

#include "cli/options.hpp"

namespace weir::cli {

// What a shell offers for an option's value or an operand.
enum class Complete {
  none,
  file,     // any file
  dir,      // a directory
  lua,      // a .lua file
  sql,      // a .sql or .lua file
  id,       // a migration id of the project
  target,   // ID or ID:PHASE of the project
  command,  // a weir command
  choice,   // one of the words of the option's `arg` ("a|b|c") or the spec's `choices`
};

struct OptionSpec {
  const char* name;   // "--db", or the only name of a short option ("-e")
  const char* alias;  // a short form ("-v"), or nullptr
  const char* arg;    // the value's name as help shows it ("URL|NAME"); nullptr: takes none
  const char* help;   // one or more lines, '\n' between them
  Complete complete = Complete::none;
};

struct OptionGroup {
  const char* title;  // "Options", "Connection options" …
  const std::vector<OptionSpec>* options;
};

struct CommandSpec {
  const char* name;
  const char* summary;      // one line, for `weir --help` and the manual's NAME
  const char* usage;        // the forms, without "Usage: ", '\n' between them
  const char* description;  // paragraphs, "\n\n" between them
  std::vector<OptionGroup> groups;
  Complete operand = Complete::none;  // what the command's operands are
  const char* choices = nullptr;      // Complete::choice operands, space-separated
};

// -h, --help: every command takes it; next_arg answers it by throwing HelpRequested.
extern const OptionSpec kHelpOption;

// Every option of `spec`, in help order, -h/--help last.
std::vector<const OptionSpec*> all_options(const CommandSpec& spec);

// Thrown by next_arg for -h/--help; main prints help_text(*spec) and exits 0.
struct HelpRequested {
  const CommandSpec* spec;
};

// One argument read against a command's table.
struct Arg {
  const OptionSpec* option = nullptr;  // nullptr: an operand
  std::string text;                    // the argument as given
  std::string value;                   // the option's value, when it takes one
  bool is(const char* name) const;
};

// Reads the next argument of `args`. An option must be in `spec` ("--name VALUE",
// "--name=VALUE", or its short alias); anything else starting with '-' (but "-" alone) is a
// UsageError naming it. An option that takes a value and has none is a UsageError; so is
// "--switch=VALUE".
Arg next_arg(Args& args, const CommandSpec& spec);

// For a command's parser: an option of its table that it has no branch for. A bug in weir,
// reported as one line (exit 1) instead of being ignored.
[[noreturn]] void unhandled(const Arg& arg);

// What `weir CMD --help` prints.
std::string help_text(const CommandSpec& spec);

// The manual page of `spec` in roff (man(7)); nullptr: weir(1), the overview.
std::string manual_page(const CommandSpec* spec);

// The shell completion script for "bash", "zsh" or "fish"; "" for another shell.
std::string completion_script(const std::string& shell);

}  // namespace weir::cli
