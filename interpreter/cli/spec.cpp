// Reading a command line against a command's table, and the --help text (see spec.hpp).
#include "cli/spec.hpp"

#include <cstring>
#include <stdexcept>

namespace weir::cli {

const OptionSpec kHelpOption{"--help", "-h", nullptr, "show this help"};

std::vector<const OptionSpec*> all_options(const CommandSpec& spec) {
  std::vector<const OptionSpec*> out;
  for (const auto& group : spec.groups)
    for (const auto& option : *group.options)
      out.push_back(&option);
  out.push_back(&kHelpOption);
  return out;
}

bool Arg::is(const char* name) const {
  return option && std::strcmp(option->name, name) == 0;
}

Arg next_arg(Args& args, const CommandSpec& spec) {
  Arg arg;
  arg.text = args.next();
  const std::string& a = arg.text;
  if (a.size() < 2 || a[0] != '-') return arg;  // an operand ("-" alone too: stdin)
  std::string name = a;
  bool inline_value = false;
  if (a.rfind("--", 0) == 0) {
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      arg.value = a.substr(eq + 1);
      inline_value = true;
    }
  }
  for (const OptionSpec* option : all_options(spec)) {
    if (name != option->name && !(option->alias && name == option->alias)) continue;
    if (option == &kHelpOption) throw HelpRequested{&spec};
    arg.option = option;
    if (!option->arg) {
      if (inline_value)
        throw UsageError(std::string(spec.name) + ": option " + name + " takes no value");
    } else if (!inline_value) {
      if (args.done()) throw UsageError("option " + name + " needs a value");
      arg.value = args.next();
    }
    return arg;
  }
  throw UsageError(std::string(spec.name) + ": unknown option '" + a + "'");
}

void unhandled(const Arg& arg) {
  throw std::logic_error("option " + arg.text + " is in the command's table but not handled");
}

namespace {

constexpr std::size_t kHelpColumn = 24;

void option_lines(std::string& out, const OptionSpec& o) {
  std::string left = "  ";
  if (o.alias) left += std::string(o.alias) + ", ";
  left += o.name;
  if (o.arg) left += std::string(" ") + o.arg;
  if (left.size() + 2 > kHelpColumn) {
    out += left + "\n" + std::string(kHelpColumn, ' ');
  } else {
    out += left + std::string(kHelpColumn - left.size(), ' ');
  }
  for (const char* p = o.help; *p; ++p) {
    out += *p;
    if (*p == '\n') out += std::string(kHelpColumn, ' ');
  }
  out += "\n";
}

}  // namespace

std::string help_text(const CommandSpec& spec) {
  std::string out = "Usage: ";
  for (const char* p = spec.usage; *p; ++p) {
    out += *p;
    if (*p == '\n') out += "       ";
  }
  out += "\n\n";
  out += spec.description;
  out += "\n";
  bool help_listed = false;
  for (const auto& group : spec.groups) {
    out += std::string("\n") + group.title + ":\n";
    for (const auto& option : *group.options)
      option_lines(out, option);
    if (!help_listed) {
      option_lines(out, kHelpOption);
      help_listed = true;
    }
  }
  if (!help_listed) {
    out += "\nOptions:\n";
    option_lines(out, kHelpOption);
  }
  return out;
}

}  // namespace weir::cli
