// Shell completion scripts for bash, zsh and fish, rendered from the commands' tables
// (spec.hpp): commands, each command's options, and what their values and operands are. Migration
// ids and ID:PHASE targets come from the project at completion time, by asking weir itself
// (`weir completion ids|targets`, cmd_help.cpp), with the --dir and --config already typed.
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace weir::cli {

namespace {

// The words of `text` separated by '|' or ' '.
std::vector<std::string> words(const char* text) {
  std::vector<std::string> out;
  std::string word;
  for (const char* p = text ? text : ""; *p; ++p) {
    if (*p == '|' || *p == ' ') {
      if (!word.empty()) out.push_back(word);
      word.clear();
    } else {
      word += *p;
    }
  }
  if (!word.empty()) out.push_back(word);
  return out;
}

std::string joined(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& w : list)
    out += (out.empty() ? "" : " ") + w;
  return out;
}

// An option's help on one line: the shells show it beside the option.
std::string first_line(const char* text) {
  std::string s = text;
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}

const char* kind_name(Complete c) {
  switch (c) {
    case Complete::file:
      return "file";
    case Complete::dir:
      return "dir";
    case Complete::lua:
      return "lua";
    case Complete::sql:
      return "sql";
    case Complete::id:
      return "id";
    case Complete::target:
      return "target";
    case Complete::command:
      return "command";
    case Complete::choice:
      return "choice";
    case Complete::none:
      break;
  }
  return "none";
}

// Choices of an option ("a|b|c" as its arg) or of a command's operands.
std::string choices_of(const OptionSpec& o) {
  return joined(words(o.arg));
}

std::string command_names() {
  std::vector<std::string> names;
  for (const Command* c = commands(); c->spec; ++c)
    names.push_back(c->spec->name);
  return joined(names);
}

// --- bash ----------------------------------------------------------------------------------------

std::string bash() {
  std::string out =
      "# bash completion for weir, written by `weir completion bash` from weir's command table.\n"
      "_weir_values() {  # KIND WORD [CHOICES]: fill COMPREPLY\n"
      "  case $1 in\n"
      "    file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- \"$2\") "
      ";;\n"
      "    dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- \"$2\") "
      ";;\n"
      "    lua) compopt -o filenames 2>/dev/null\n"
      "      mapfile -t COMPREPLY < <(compgen -f -X '!*.lua' -- \"$2\"; compgen -d -- \"$2\") ;;\n"
      "    sql) compopt -o filenames 2>/dev/null\n"
      "      mapfile -t COMPREPLY < <(compgen -f -X '!*.sql' -- \"$2\"; compgen -f -X '!*.lua' -- "
      "\"$2\"\n"
      "        compgen -d -- \"$2\") ;;\n"
      "    id|target)\n"
      "      local list\n"
      "      list=$(\"$_weir_bin\" completion \"${1}s\" \"${_weir_project[@]}\" 2>/dev/null)\n"
      "      COMPREPLY=($(compgen -W \"$list\" -- \"$2\"))\n"
      "      # bash splits words at ':'; offer what follows the part already typed\n"
      "      if [[ $2 == *:* ]]; then\n"
      "        local typed=${2%\"${2##*:}\"}\n"
      "        COMPREPLY=(\"${COMPREPLY[@]#\"$typed\"}\")\n"
      "      fi ;;\n"
      "    command) COMPREPLY=($(compgen -W \"" +
      command_names() +
      "\" -- \"$2\")) ;;\n"
      "    choice) COMPREPLY=($(compgen -W \"$3\" -- \"$2\")) ;;\n"
      "    *) COMPREPLY=() ;;\n"
      "  esac\n"
      "}\n"
      "\n"
      "_weir() {\n"
      "  # the words as typed, split at blanks only (bash also splits at ':' and '=')\n"
      "  local line=${COMP_LINE:0:COMP_POINT}\n"
      "  local cur=${line##*[[:space:]]}\n"
      "  local -a before\n"
      "  read -ra before <<< \"${line%\"$cur\"}\"\n"
      "  local prev=${before[${#before[@]}-1]} i\n"
      "  _weir_bin=${before[0]}\n"
      "  if (( ${#before[@]} == 1 )); then\n"
      "    COMPREPLY=($(compgen -W \"" +
      command_names() +
      " --help --version\" -- \"$cur\"))\n"
      "    return\n"
      "  fi\n"
      "  # the project the command line names, for migration ids\n"
      "  _weir_project=()\n"
      "  for (( i = 2; i + 1 < ${#before[@]}; i++ )); do\n"
      "    case ${before[i]} in\n"
      "      --dir|--config) _weir_project+=(\"${before[i]}\" \"${before[i+1]}\") ;;\n"
      "    esac\n"
      "  done\n"
      "  local options='' operand=none choices=''\n"
      "  case ${before[1]} in\n";
  for (const Command* c = commands(); c->spec; ++c) {
    const CommandSpec& s = *c->spec;
    std::vector<std::string> names;
    std::string values;
    for (const OptionSpec* o : all_options(s)) {
      names.push_back(o->name);
      if (o->alias) names.push_back(o->alias);
      if (!o->arg) continue;
      std::string pattern = o->name;
      if (o->alias) pattern += std::string("|") + o->alias;
      values += "        " + pattern + ") _weir_values " + kind_name(o->complete) + " \"$cur\" '" +
                choices_of(*o) + "'; return ;;\n";
    }
    out += std::string("    ") + s.name + ")\n      options='" + joined(names) + "'\n";
    out += std::string("      operand=") + kind_name(s.operand) + " choices='" +
           joined(words(s.choices)) + "'\n";
    if (!values.empty())
      out += "      case $prev in\n" + values + "      esac ;;\n";
    else
      out += "      ;;\n";
  }
  out +=
      "    *) return ;;\n"
      "  esac\n"
      "  if [[ $cur == -* ]]; then\n"
      "    COMPREPLY=($(compgen -W \"$options\" -- \"$cur\"))\n"
      "  else\n"
      "    _weir_values \"$operand\" \"$cur\" \"$choices\"\n"
      "  fi\n"
      "}\n"
      "complete -F _weir weir\n";
  return out;
}

// --- zsh -----------------------------------------------------------------------------------------

// Text inside a single-quoted zsh word: an _arguments [description] (`special` "[]") or the
// message of a value (`special` ":").
std::string zsh_text(const std::string& s, const char* special) {
  std::string out;
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else if (c == '\\' || std::strchr(special, c))
      out += std::string("\\") + c;
    else
      out += c;
  }
  return out;
}

std::string zsh_action(Complete c, const std::string& choices) {
  switch (c) {
    case Complete::file:
      return "_files";
    case Complete::dir:
      return "_files -/";
    case Complete::lua:
      return "_files -g \"*.lua\"";
    case Complete::sql:
      return "_files -g \"*.(sql|lua)\"";
    case Complete::id:
      return "_weir_project ids";
    case Complete::target:
      return "_weir_project targets";
    case Complete::command:
      return "(" + command_names() + ")";
    case Complete::choice:
      return "(" + choices + ")";
    case Complete::none:
      break;
  }
  return " ";
}

std::string zsh() {
  std::string out =
      "#compdef weir\n"
      "# zsh completion for weir, written by `weir completion zsh` from weir's command table.\n"
      "\n"
      "# [COMPADD-OPTIONS...] ids|targets: asks weir, with the --dir and --config typed so far\n"
      "# (_arguments puts its compadd options before the action's own word)\n"
      "_weir_project() {\n"
      "  local -a args list\n"
      "  local i\n"
      "  for (( i = 1; i < CURRENT; i++ )); do\n"
      "    [[ $words[i] == (--dir|--config) ]] && args+=($words[i] $words[i+1])\n"
      "  done\n"
      "  list=(${(f)\"$($_weir_bin completion ${@[-1]} $args 2>/dev/null)\"})\n"
      "  compadd \"${@[1,-2]}\" -a list\n"
      "}\n"
      "\n"
      "_weir() {\n"
      "  local _weir_bin=$words[1]\n"
      "  if (( CURRENT == 2 )); then\n"
      "    local -a commands\n"
      "    commands=(\n";
  for (const Command* c = commands(); c->spec; ++c)
    out += std::string("      '") + c->spec->name + ":" + zsh_text(c->spec->summary, ":") + "'\n";
  out +=
      "    )\n"
      "    _describe -t commands 'weir command' commands\n"
      "    return\n"
      "  fi\n"
      "  local cmd=$words[2]\n"
      "  shift words\n"
      "  (( CURRENT-- ))\n"
      "  case $cmd in\n";
  for (const Command* c = commands(); c->spec; ++c) {
    const CommandSpec& s = *c->spec;
    out += std::string("    ") + s.name + ")\n      _arguments -s \\\n";
    for (const OptionSpec* o : all_options(s)) {
      std::string tail = "[" + zsh_text(first_line(o->help), "[]") + "]";
      if (o->arg)
        tail += ":" + zsh_text(o->arg, ":") + ":" + zsh_action(o->complete, choices_of(*o));
      // --name=VALUE or --name VALUE; a short option's value is the next word
      auto word = [&](const std::string& name) {
        bool is_long = name.rfind("--", 0) == 0;
        return "'*" + name + (o->arg && is_long ? "=" : "") + tail + "'";
      };
      if (o->alias) out += "        " + word(o->alias) + " \\\n";
      out += "        " + word(o->name) + " \\\n";
    }
    if (s.operand != Complete::none)
      out += "        '*:operand:" + zsh_action(s.operand, joined(words(s.choices))) + "' \\\n";
    out += "        ;;\n";
  }
  out +=
      "  esac\n"
      "}\n"
      "\n"
      "_weir \"$@\"\n";
  return out;
}

// --- fish ----------------------------------------------------------------------------------------

std::string fish_text(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

std::string fish_values(Complete c, const std::string& choices) {
  switch (c) {
    case Complete::file:
    case Complete::lua:
    case Complete::sql:
      return " -F";
    case Complete::dir:
      return " -f -a '(__fish_complete_directories)'";
    case Complete::id:
      return " -f -a '(__weir_project ids)'";
    case Complete::target:
      return " -f -a '(__weir_project targets)'";
    case Complete::command:
      return " -f -a " + fish_text(command_names());
    case Complete::choice:
      return " -f -a " + fish_text(choices);
    case Complete::none:
      break;
  }
  return " -f";
}

std::string fish() {
  std::string out =
      "# fish completion for weir, written by `weir completion fish` from weir's command "
      "table.\n"
      "function __weir_project --description 'migration ids or ID:PHASE targets of the project'\n"
      "    set -l words (commandline -opc)\n"
      "    set -l args\n"
      "    for i in (seq 2 (count $words))\n"
      "        if contains -- $words[$i] --dir --config; and test $i -lt (count $words)\n"
      "            set -a args $words[$i] $words[(math $i + 1)]\n"
      "        end\n"
      "    end\n"
      "    command -q $words[1]; and $words[1] completion $argv[1] $args 2>/dev/null\n"
      "end\n"
      "\n"
      "complete -c weir -f\n"
      "complete -c weir -n __fish_use_subcommand -s h -l help -d 'show the help'\n"
      "complete -c weir -n __fish_use_subcommand -s V -l version -d 'print the version'\n";
  for (const Command* c = commands(); c->spec; ++c) {
    const CommandSpec& s = *c->spec;
    out += std::string("complete -c weir -n __fish_use_subcommand -a ") + s.name + " -d " +
           fish_text(s.summary) + "\n";
  }
  for (const Command* c = commands(); c->spec; ++c) {
    const CommandSpec& s = *c->spec;
    std::string when = std::string(" -n '__fish_seen_subcommand_from ") + s.name + "'";
    for (const OptionSpec* o : all_options(s)) {
      std::string line = "complete -c weir" + when;
      std::string name = o->name;
      if (name.rfind("--", 0) == 0) {
        line += " -l " + name.substr(2);
        if (o->alias) line += std::string(" -s ") + (o->alias + 1);
      } else {
        line += " -s " + name.substr(1);
      }
      if (o->arg) line += " -r" + fish_values(o->complete, choices_of(*o));
      line += " -d " + fish_text(first_line(o->help));
      out += line + "\n";
    }
    if (s.operand != Complete::none)
      out += "complete -c weir" + when + fish_values(s.operand, joined(words(s.choices))) + "\n";
  }
  return out;
}

}  // namespace

std::string completion_script(const std::string& shell) {
  if (shell == "bash") return bash();
  if (shell == "zsh") return zsh();
  if (shell == "fish") return fish();
  return "";
}

}  // namespace weir::cli
