// `weir init [DIR]` and `weir new NAME`: the files a project starts from. init writes a
// commented weir.lua, migrations/, tests/ with one example test, and the LuaLS settings that
// give each directory the grammar/ definitions of what runs there (a migration is offered no
// `describe`, a test no `env`); it never overwrites a file. new writes the next migration from a
// template, numbered (001_…) or by time (20250101120000_…), creating the directory when needed.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "cli/commands.hpp"
#include "cli/project.hpp"

namespace fs = std::filesystem;

namespace weir::cli {

namespace {

const std::vector<OptionSpec> kNewOptions = {
    {"--dir", nullptr, "DIR",
     "migrations directory, created when missing (default: weir.lua's\nmigrations, else "
     "migrations)",
     Complete::dir},
    {"--timestamp", nullptr, nullptr,
     "number the migration by the time, 20250314093000_NAME (default:\n"
     "weir.lua's ids, else sequential)"},
    {"--sequential", nullptr, nullptr,
     "number it one past the highest number in the directory, 004_NAME"},
    {"--config", nullptr, "FILE", "project settings (default: ./weir.lua when it exists)",
     Complete::lua},
};

}  // namespace

const CommandSpec kNewSpec{
    "new",
    "write a new migration from a template",
    "weir new NAME [--timestamp|--sequential] [--dir DIR] [--config FILE]",
    "Writes DIR/ID.lua from a commented template and prints its path. NAME is letters, digits\n"
    "and '_'; the id is NAME after a number that sorts it after every migration already in the\n"
    "directory: one past the highest number (001_NAME, 002_NAME …), or with --timestamp (or\n"
    "`ids = \"timestamp\"` in weir.lua) the UTC time, YYYYMMDDHHMMSS_NAME, so that branches\n"
    "written in parallel do not collide. Migrations run in the numeric order of their ids'\n"
    "leading digits, so every timestamp id sorts after every sequential one (docs/migrations.md).",
    {{"Options", &kNewOptions}},
};

const CommandSpec kInitSpec{
    "init",
    "start a project: weir.lua, migrations/, tests/, editor settings",
    "weir init [DIR]",
    "Writes what a project starts from into DIR (default: the current directory, created when\n"
    "missing), never overwriting a file that is there:\n"
    "  weir.lua                  the project settings, commented\n"
    "  migrations/               where `weir new` writes migrations\n"
    "  tests/example_test.lua    an example test for `weir test`\n"
    "  .luarc.json, migrations/.luarc.json, tests/.luarc.json, weir.code-workspace\n"
    "                            settings for the Lua language server (LuaLS): each directory\n"
    "                            gets the definitions in weir's grammar/ of what runs there\n"
    "Prints a line for every file it wrote or kept.",
    {},
    Complete::dir,
};

namespace {

// --- weir new ------------------------------------------------------------------------------------

const char* const kTemplate = R"(-- %s: %s
-- Phases run in the order written. Each has `up`, optionally `down` (rollback) and `verify`.
-- A transactional phase (the default) commits its work and its record together, or nothing.
-- Set `transaction = false` for CREATE INDEX CONCURRENTLY or long batched backfills; such a
-- phase must be safe to run again after a crash.
return migration "%s" {
  description = "%s",

  phase "expand" {
    up = function(db)
      -- db:exec [[CREATE TABLE ... ]]
    end,
    down = function(db)
      -- undo what up did
    end,
    verify = function(db)
      -- raise (or return false, "why") when up did not do what it should
    end,
  },
}
)";

std::string format_template(const std::string& id, const std::string& title) {
  std::vector<char> buf(std::strlen(kTemplate) + 2 * (id.size() + title.size()) + 1);
  std::snprintf(buf.data(), buf.size(), kTemplate, id.c_str(), title.c_str(), id.c_str(),
                title.c_str());
  return buf.data();
}

// The leading digits of the .lua files in dir: the highest as a number, and the widest.
void scan_numbers(const std::string& dir, unsigned long long& highest, std::size_t& width) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.size() < 5 || name.compare(name.size() - 4, 4, ".lua") != 0) continue;
    std::size_t digits = 0;
    while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9')
      ++digits;
    if (digits == 0 || digits > 18) continue;
    highest = std::max(highest, std::stoull(name.substr(0, digits)));
    width = std::max(width, digits);
  }
  if (ec) throw std::runtime_error("cannot read " + dir + ": " + ec.message());
}

// UTC now as YYYYMMDDHHMMSS.
unsigned long long utc_stamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d%H%M%S", &tm);
  return std::stoull(buf);
}

// Writes `text` to a new file at `path`; false, writing nothing, when the path exists.
bool write_new(const std::string& path, const std::string& text) {
  std::error_code ec;
  if (fs::symlink_status(path, ec).type() != fs::file_type::not_found) return false;
  std::FILE* f = std::fopen(path.c_str(), "wx");
  if (!f) {
    if (errno == EEXIST) return false;
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  }
  bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok)
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  return true;
}

// mkdir -p; true when it created the directory.
bool make_dir(const std::string& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return false;
  if (fs::exists(dir, ec)) throw std::runtime_error(dir + " exists and is not a directory");
  if (!fs::create_directories(dir, ec) && ec)
    throw std::runtime_error("cannot create " + dir + ": " + ec.message());
  return true;
}

bool valid_name(const std::string& name) {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '_') return false;
  return true;
}

}  // namespace

int cmd_new(Args& args) {
  std::string name, dir, ids;
  std::optional<std::string> config;
  while (!args.done()) {
    Arg a = next_arg(args, kNewSpec);
    if (!a.option) {
      if (!name.empty()) throw UsageError("new: unexpected argument '" + a.text + "'");
      name = a.text;
    } else if (a.is("--dir")) {
      dir = a.value;
    } else if (a.is("--timestamp") || a.is("--sequential")) {
      std::string mode = a.is("--timestamp") ? "timestamp" : "sequential";
      if (!ids.empty() && ids != mode)
        throw UsageError("new: --timestamp and --sequential cannot be used together");
      ids = mode;
    } else if (a.is("--config")) {
      config = a.value;
    } else {
      unhandled(a);
    }
  }
  if (name.empty()) throw UsageError("new: missing NAME");
  if (!valid_name(name))
    throw UsageError("new: NAME must be letters, digits and '_' (e.g. add_due_date), got '" + name +
                     "'");
  Project project = load_project(config);
  if (dir.empty()) {
    auto it = project.settings.find("dir");
    dir = it != project.settings.end() ? it->second : "migrations";
  }
  if (ids.empty()) ids = project.ids.empty() ? "sequential" : project.ids;

  if (make_dir(dir)) std::fprintf(stderr, "weir: created %s/\n", dir.c_str());
  unsigned long long highest = 0;
  std::size_t width = 3;
  scan_numbers(dir, highest, width);
  std::string number;
  if (ids == "timestamp") {
    // The time, or one past the highest number there when that is later (a clock behind a
    // colleague's, two in one second): a new migration always sorts last.
    number = std::to_string(std::max(utc_stamp(), highest + 1));
  } else {
    number = std::to_string(highest + 1);
    if (number.size() < width) number.insert(0, width - number.size(), '0');
  }
  std::string id = number + "_" + name;
  std::string path = dir + "/" + id + ".lua";
  std::string title = name;
  for (char& c : title)
    if (c == '_') c = ' ';
  if (!write_new(path, format_template(id, title)))
    throw std::runtime_error(path + " already exists");
  std::printf("%s\n", path.c_str());
  return kExitOk;
}

// --- weir init -----------------------------------------------------------------------------------

namespace {

const char* const kProjectFile =
    R"(-- weir.lua: this project's settings. Every weir command run in this directory reads it
-- (or --config FILE); flags on the command line override it. `man weir`, docs/migrations.md.
-- It is plain Lua (base, string, table and math) plus env(NAME [, DEFAULT]), which reads an
-- environment variable, so no secret needs to live here.
return {
  -- Where `weir new` writes migrations and `weir up` reads them (relative to this file).
  migrations = "migrations",

  -- The database. Without it: --db URL, else $DATABASE_URL, else libpq's PG* variables.
  -- db = env "DATABASE_URL",

  -- More connections, for weir.connection("legacy") in scripts and --db legacy.
  -- connections = { legacy = env "LEGACY_URL" },

  -- How `weir new` numbers migrations: "sequential" (001_name) or "timestamp"
  -- (20250314093000_name), for teams writing migrations on parallel branches.
  -- ids = "timestamp",

  -- Safety rails: how long a statement waits for a lock before it gives up and is retried,
  -- and the longest any statement may run.
  -- lock_timeout = "500ms",
  -- statement_timeout = "15min",

  -- The PostgreSQL of throwaway clusters (--ephemeral, weir plan, weir test): match
  -- production's major version (or pg_bindir = "/usr/lib/postgresql/15/bin").
  -- pg_version = 15,
}
)";

const char* const kExampleTest =
    R"LUA(-- An example test: `weir test` runs every *_test.lua under tests/. Each it(...) gets `db`,
-- a fresh empty database created for it and dropped after it. docs/testing.md.
describe("example", function()
  it("creates a table and reads it back", function()
    db:exec "CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL)"
    db:exec("INSERT INTO notes VALUES ($1, $2)", 1, "hello")
    expect(db:value "SELECT body FROM notes WHERE id = 1"):to_be("hello")
  end)

  it("refuses a duplicate key", function()
    db:exec "CREATE TABLE notes (id bigint PRIMARY KEY)"
    db:exec "INSERT INTO notes VALUES (1)"
    expect(function() db:exec "INSERT INTO notes VALUES (1)" end):to_raise("23505")
  end)
end)
)LUA";

const char* const kWorkspace = R"({
  "folders": [
    { "path": "." },
    { "path": "migrations" },
    { "path": "tests" }
  ]
}
)";

// weir's grammar/ definitions: installed beside the binary (PREFIX/share/weir/grammar for
// PREFIX/bin/weir), else the source tree this weir was built from; "" when neither is there.
std::string grammar_dir() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path installed = exe.parent_path().parent_path() / "share" / "weir" / "grammar";
    if (fs::is_regular_file(installed / "db.lua", ec)) return installed.lexically_normal();
  }
#ifdef WEIR_SOURCE_DIR
  fs::path source = fs::path(WEIR_SOURCE_DIR) / "grammar";
  if (fs::is_regular_file(source / "db.lua", ec)) return source.string();
#endif
  return "";
}

// What a grammar file declares, from its first line: `---@meta weir-test` (test files only),
// `---@meta weir-project` (weir.lua only), `---@meta weir-repl` (the REPL only); anything
// else is what every script has.
std::string scope_of(const fs::path& file) {
  std::ifstream in(file);
  std::string first;
  std::getline(in, first);
  for (const char* scope : {"weir-test", "weir-project", "weir-repl"})
    if (first == std::string("---@meta ") + scope) return scope;
  return "script";
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// A .luarc.json whose library is the grammar files of the given scopes.
std::string luarc(const std::string& grammar, const std::vector<std::string>& scopes,
                  const char* ignore) {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(grammar)) {
    if (entry.path().extension() != ".lua") continue;
    std::string scope = scope_of(entry.path());
    for (const auto& s : scopes)
      if (s == scope) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  std::string out =
      "{\n  \"runtime.version\": \"Lua 5.4\",\n  \"workspace.checkThirdParty\": false,\n";
  if (ignore) out += std::string("  \"workspace.ignoreDir\": ") + ignore + ",\n";
  out += "  \"workspace.library\": [\n";
  for (std::size_t i = 0; i < files.size(); ++i)
    out += "    " + json_string(files[i]) + (i + 1 < files.size() ? ",\n" : "\n");
  out += "  ]\n}\n";
  return out;
}

}  // namespace

int cmd_init(Args& args) {
  std::string dir;
  while (!args.done()) {
    Arg a = next_arg(args, kInitSpec);
    if (a.option) unhandled(a);
    if (!dir.empty()) throw UsageError("init: unexpected argument '" + a.text + "'");
    dir = a.text;
  }
  if (dir.empty()) dir = ".";
  std::string prefix = dir == "." ? "" : dir + "/";
  if (make_dir(dir)) std::printf("created %s/\n", dir.c_str());
  // Each line says what happened to one path: wrote or created it, or kept what was there.
  auto report = [](bool wrote, const std::string& path) {
    std::printf("%s %s\n", wrote ? "wrote  " : "kept   ", path.c_str());
  };
  auto file = [&](const std::string& path, const std::string& text) {
    report(write_new(prefix + path, text), prefix + path);
  };
  auto directory = [&](const std::string& path) {
    bool made = make_dir(prefix + path);
    std::printf("%s %s/\n", made ? "created" : "kept   ", (prefix + path).c_str());
  };
  file("weir.lua", kProjectFile);
  directory("migrations");
  directory("tests");
  file("tests/example_test.lua", kExampleTest);
  std::string grammar = grammar_dir();
  if (grammar.empty()) {
    std::fprintf(stderr,
                 "weir: no grammar/ definitions found beside this weir (PREFIX/share/weir/"
                 "grammar) or in its source tree; the Lua language server settings "
                 "(.luarc.json) were not written\n");
  } else {
    // Three scopes, one per directory (docs/install.md): weir.lua has env; migrations and
    // scripts have the modules; tests have the modules and describe/it/expect.
    file(".luarc.json", luarc(grammar, {"weir-project"}, "[\"migrations\", \"tests\"]"));
    file("migrations/.luarc.json", luarc(grammar, {"script"}, nullptr));
    file("tests/.luarc.json", luarc(grammar, {"script", "weir-test"}, nullptr));
    file("weir.code-workspace", kWorkspace);
  }
  std::printf(
      "Next: %s`weir new NAME` writes a migration; `weir up --db URL` applies it (or\n"
      "with $DATABASE_URL set, or db in weir.lua).\n",
      prefix.empty() ? "" : ("cd " + dir + ", then ").c_str());
  return kExitOk;
}

}  // namespace weir::cli
