// The manual pages, in roff (man(7)), rendered from the commands' tables (spec.hpp): weir(1)
// lists the commands, weir-COMMAND(1) is one command's usage, description and options. The
// build writes them with `weir help --man` (CMakeLists.txt), so they say what --help says.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.hpp"

namespace weir::cli {

namespace {

// Text as roff shows it literally: backslashes and hyphens escaped, no line taken for a
// request, and characters beyond ASCII (— …) as \[uXXXX], which every troff reads.
std::string escape(const std::string& text) {
  std::string out;
  bool line_start = true;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (line_start && (c == '.' || c == '\'')) out += "\\&";
    line_start = c == '\n';
    if (c == '\\') {
      out += "\\e";
    } else if (c == '-') {
      out += "\\-";
    } else if (c >= 0xC0) {
      int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
      unsigned long code = c & (0x3F >> extra);
      for (int k = 0; k < extra && i + 1 < text.size(); ++k)
        code = (code << 6) | (static_cast<unsigned char>(text[++i]) & 0x3F);
      char buf[16];
      std::snprintf(buf, sizeof buf, "\\[u%04lX]", code);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::vector<std::string> split(const std::string& text, const std::string& sep) {
  std::vector<std::string> parts;
  std::size_t from = 0;
  for (;;) {
    auto at = text.find(sep, from);
    parts.push_back(text.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) return parts;
    from = at + sep.size();
  }
}

// A paragraph of the help text: filled, unless it is laid out in columns (a line indented, or
// with a run of spaces inside), which keeps its lines as written.
void paragraph(std::string& out, const std::string& text) {
  bool laid_out = false;
  for (const auto& line : split(text, "\n"))
    laid_out =
        laid_out || (!line.empty() && line[0] == ' ') || line.find("   ") != std::string::npos;
  out += ".PP\n";
  if (laid_out) {
    out += ".nf\n" + escape(text) + "\n.fi\n";
  } else {
    std::string joined = text;
    for (char& c : joined)
      if (c == '\n') c = ' ';
    out += escape(joined) + "\n";
  }
}

void option(std::string& out, const OptionSpec& o) {
  out += ".TP\n";
  if (o.alias) out += "\\fB" + escape(o.alias) + "\\fR, ";
  out += "\\fB" + escape(o.name) + "\\fR";
  if (o.arg) out += " \\fI" + escape(o.arg) + "\\fR";
  std::string help = o.help;
  for (char& c : help)
    if (c == '\n') c = ' ';
  out += "\n" + escape(help) + "\n";
}

std::string header(const std::string& name, const std::string& summary) {
  std::string upper;
  for (char c : name)
    upper += static_cast<char>(c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
  return ".TH \"" + escape(upper) + "\" \"1\" \"\" \"weir " + WEIR_VERSION +
         "\" \"weir manual\"\n"
         ".SH NAME\n" +
         escape(name) + " \\- " + escape(summary) + "\n";
}

const char* const kExitStatus =
    ".SH \"EXIT STATUS\"\n"
    "0 success, 1 a script, SQL or connection error, 2 a usage error.\n";

std::string overview() {
  std::string out = header("weir", "PostgreSQL migrations as reviewable, reversible Lua scripts");
  out +=
      ".SH SYNOPSIS\n"
      ".nf\n"
      "\\fBweir\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR...]\n"
      "\\fBweir \\-\\-version\\fR\n"
      ".fi\n"
      ".SH DESCRIPTION\n" +
      escape(
          "weir is a PostgreSQL migration engine: one binary that embeds Lua 5.4. A migration is "
          "a .lua script of phases (expand, backfill, switchover, contract ...), each with up, "
          "down and verify, run with transactional checkpoints. The same binary is a REPL and a "
          "test runner that starts a throwaway PostgreSQL itself.") +
      "\n.PP\n" +
      escape(
          "Each command has its own page, weir-COMMAND(1), and prints the same with "
          "`weir COMMAND --help` or `weir help COMMAND`.") +
      "\n.SH COMMANDS\n";
  for (const Command* c = commands(); c->spec; ++c)
    out +=
        ".TP\n\\fBweir\\-" + escape(c->spec->name) + "\\fR(1)\n" + escape(c->spec->summary) + "\n";
  out += ".SH ENVIRONMENT\n";
  const char* env[][2] = {
      {"DATABASE_URL", "the database, when neither --db nor weir.lua's db names one"},
      {"PGHOST, PGPORT, PGDATABASE, PGUSER, PGPASSWORD, PGSERVICE ...",
       "libpq's defaults, when nothing else names the database"},
      {"WEIR_PG_BINDIR",
       "where throwaway clusters find initdb and postgres (as --pg-bindir; over weir.lua's "
       "pg_bindir)"},
      {"WEIR_PG_VERSION",
       "the PostgreSQL major version of throwaway clusters (as --pg-version; over weir.lua's "
       "pg_version)"},
      {"TMPDIR", "where throwaway clusters are made (default /tmp)"},
      {"XDG_STATE_HOME",
       "weir/history (the REPL's) and weir/clusters (what weir pg start made) live here "
       "(default ~/.local/state)"},
      {"WEIR_STDLIB_DIR", "load stdlib/*.lua from this directory (for weir developers)"},
  };
  for (const auto& e : env)
    out += ".TP\n\\fB" + escape(e[0]) + "\\fR\n" + escape(e[1]) + "\n";
  out += ".SH FILES\n";
  const char* files[][2] = {
      {"weir.lua", "the project file: migrations directory, connections, timeouts (--config FILE)"},
      {"PREFIX/share/weir/grammar/",
       "LuaLS definitions of everything scripts can call, and the JSON Schemas of weir's JSON "
       "output; weir init points the editor at them"},
      {"PREFIX/share/doc/weir/", "the user guide"},
  };
  for (const auto& f : files)
    out += ".TP\n\\fI" + escape(f[0]) + "\\fR\n" + escape(f[1]) + "\n";
  out += kExitStatus;
  out += ".SH \"SEE ALSO\"\n\\fBpsql\\fR(1), \\fBpg_dump\\fR(1), \\fBinitdb\\fR(1)\n";
  return out;
}

}  // namespace

std::string manual_page(const CommandSpec* spec) {
  if (!spec) return overview();
  std::string out = header(std::string("weir-") + spec->name, spec->summary);
  out += ".SH SYNOPSIS\n.nf\n";
  for (const auto& line : split(spec->usage, "\n")) {
    // "weir up [...]": the command in bold, the rest as written
    std::string command = std::string("weir ") + spec->name;
    if (line.rfind(command, 0) == 0)
      out += "\\fB" + escape(command) + "\\fR" + escape(line.substr(command.size())) + "\n";
    else
      out += escape(line) + "\n";
  }
  out += ".fi\n.SH DESCRIPTION\n";
  for (const auto& p : split(spec->description, "\n\n"))
    paragraph(out, p);
  out += ".SH OPTIONS\n";
  bool help_listed = false;
  for (const auto& group : spec->groups) {
    if (std::string(group.title) != "Options") out += ".SS \"" + escape(group.title) + "\"\n";
    for (const auto& o : *group.options)
      option(out, o);
    if (!help_listed) option(out, kHelpOption);
    help_listed = true;
  }
  if (!help_listed) option(out, kHelpOption);
  out += kExitStatus;
  out += ".SH \"SEE ALSO\"\n\\fBweir\\fR(1)\n";
  return out;
}

}  // namespace weir::cli
