// `weir repl`: an interactive session with `db` connected and every script module at hand.
// This file owns the loop, the terminal and the signals; what a line means (Lua, SQL, a
// meta-command) and how values print is stdlib/repl.lua: start, prompt, feed, reset, finish,
// complete.
#include <unistd.h>

#include <sys/stat.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "cli/commands.hpp"
#include "cli/project.hpp"
#include "cli/repl_help.hpp"
#include "cli/repl_print.hpp"
#include "cli/repl_terminal.hpp"
#include "lua/error.hpp"
#include "lua/guarded.hpp"
#include "lua/runtime.hpp"
#include "pg/text_width.hpp"

namespace weir::cli {

namespace {

const std::vector<OptionSpec> kReplOptions = {
    {"--no-db", nullptr, nullptr, "no database: Lua and the toolkit only (\\c URL connects later)"},
    {"--no-history", nullptr, nullptr,
     "do not read or write the history file\n"
     "($XDG_STATE_HOME/weir/history, else ~/.local/state/weir/history)"},
};

// ~/.local/state/weir/history (created on demand); "" when there is no home.
std::string history_path() {
  std::string base;
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) {
    base = x;
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    base = std::string(home) + "/.local/state";
  } else {
    return "";
  }
  std::string dir = base + "/weir";
  // mkdir -p (~/.local may not exist yet); a failure shows up as no history, not an error.
  std::error_code ignored;
  std::filesystem::create_directories(dir, ignored);
  return dir + "/history";
}

int term_page(lua_State* L) {
  size_t n = 0;
  const char* text = luaL_checklstring(L, 1, &n);
  lua_pushboolean(L, show_paged(std::string(text, n)));
  return 1;
}

// edit(text [, suffix]): the suffix names the temporary file (".sql" lets the editor highlight SQL)
int term_edit(lua_State* L) {
  std::string text = luaL_checkstring(L, 1);
  std::string suffix = luaL_optstring(L, 2, ".lua");
  std::string error;
  auto edited = edit_text(text, suffix, error);
  if (!edited) {
    lua_pushnil(L);
    lua_pushstring(L, error.c_str());
    return 2;
  }
  lua_pushlstring(L, edited->data(), edited->size());
  return 1;
}

int term_size(lua_State* L) {
  auto size = terminal_size();
  if (!size) return 0;
  lua_pushinteger(L, size->first);
  lua_pushinteger(L, size->second);
  return 2;
}

// width(text [, at_least]): the columns `text` takes on the terminal (pg::display_width), each
// character counted at least `at_least` (default 0) — what repl_format aligns tables by.
int term_width(lua_State* L) {
  size_t n = 0;
  const char* text = luaL_checklstring(L, 1, &n);
  int at_least = static_cast<int>(luaL_optinteger(L, 2, 0));
  lua_pushinteger(L, pg::display_width(std::string_view(text, n), at_least));
  return 1;
}

// traceback(message, level): the debug library is not in the sandbox, so the REPL gets
// Lua's traceback from here.
int term_traceback(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  luaL_traceback(L, L, msg, static_cast<int>(luaL_optinteger(L, 2, 1)));
  return 1;
}

// The REPL module (stdlib/repl.lua) and its calls from the loop.
class Session {
 public:
  explicit Session(lua_State* L) : L_(L) {}

  // repl.start{interactive=, no_db=, unsafe=, terminal={page, edit, size, width, traceback,
  // query, table, emit, output (repl_print.hpp), sql_help, grammar (repl_help.hpp)}}, piped or not;
  // false (after printing why) when it failed.
  bool start(bool interactive, bool no_db, bool unsafe) {
    lua_getglobal(L_, "require");
    lua_pushliteral(L_, "repl");
    if (!pcall(1, 1)) return false;
    module_ = luaL_ref(L_, LUA_REGISTRYINDEX);
    push_function("start");
    lua_createtable(L_, 0, 4);
    lua_pushboolean(L_, interactive);
    lua_setfield(L_, -2, "interactive");
    lua_pushboolean(L_, no_db);
    lua_setfield(L_, -2, "no_db");
    lua_pushboolean(L_, unsafe);
    lua_setfield(L_, -2, "unsafe");
    static const luaL_Reg terminal[] = {{"page", lua::guarded<term_page>},
                                        {"edit", lua::guarded<term_edit>},
                                        {"size", term_size},
                                        {"width", term_width},
                                        {"traceback", term_traceback},
                                        {nullptr, nullptr}};
    luaL_newlib(L_, terminal);
    add_print_functions(L_);
    add_help_functions(L_);
    lua_setfield(L_, -2, "terminal");
    return pcall(1, 0);
  }

  std::string prompt(bool more) {
    push_function("prompt");
    lua_pushboolean(L_, more);
    std::string p = "> ";
    if (pcall(1, 1)) {
      if (const char* s = lua_tostring(L_, -1)) p = s;
      lua_pop(L_, 1);
    }
    return p;
  }

  // What feed/finish say: "ok", "more", "error" or "quit", and the finished chunk (for the
  // history) when there is one.
  std::string call(const char* fn, const std::string* line, std::string* chunk) {
    push_function(fn);
    int nargs = 0;
    if (line) {
      lua_pushlstring(L_, line->data(), line->size());
      nargs = 1;
    }
    if (!pcall(nargs, 2)) return exited_ ? "quit" : "error";
    std::string status = lua_isstring(L_, -2) ? lua_tostring(L_, -2) : "ok";
    if (chunk && lua_isstring(L_, -1)) *chunk = lua_tostring(L_, -1);
    lua_pop(L_, 2);
    return status;
  }

  std::vector<std::string> complete(const std::string& line, int start, int end,
                                    std::string& append) {
    std::vector<std::string> out;
    push_function("complete");
    lua_pushlstring(L_, line.data(), line.size());
    lua_pushinteger(L_, start);
    lua_pushinteger(L_, end);
    if (!pcall(3, 2, /*quiet=*/true)) return out;
    if (lua_isstring(L_, -1)) append = lua_tostring(L_, -1);
    if (lua_istable(L_, -2)) {
      for (lua_Integer i = 1; lua_rawgeti(L_, -2, i) == LUA_TSTRING; ++i) {
        out.emplace_back(lua_tostring(L_, -1));
        lua_pop(L_, 1);
      }
      lua_pop(L_, 1);
    }
    lua_pop(L_, 2);
    return out;
  }

 private:
  void push_function(const char* name) {
    lua_rawgeti(L_, LUA_REGISTRYINDEX, module_);
    lua_getfield(L_, -1, name);
    lua_remove(L_, -2);
  }

  // Calls the function below `nargs` arguments; an error that escapes the module (it catches
  // the user's own) is printed and gives false.
  bool pcall(int nargs, int nresults, bool quiet = false) {
    int base = lua_gettop(L_) - nargs;
    lua_pushcfunction(L_, lua::traceback_handler);
    lua_insert(L_, base);
    int status = lua_pcall(L_, nargs, nresults, base);
    lua_remove(L_, base);
    if (status == LUA_OK) return true;
    exited_ = lua::is_exit_sentinel(L_, -1);  // os.exit(n): the session ends with n
    if (!quiet && !exited_)
      std::fprintf(stderr, "weir repl: %s\n", lua::error_text(L_, -1).c_str());
    lua_pop(L_, 1);
    return false;
  }

  lua_State* L_;
  int module_ = LUA_NOREF;
  bool exited_ = false;
};

}  // namespace

const CommandSpec kReplSpec{
    "repl",
    "explore a database interactively: Lua, SQL and psql-style \\d commands",
    "weir repl [OPTIONS]",
    "An interactive session: `db` is connected and every module scripts have is loaded\n"
    "(schema, ddl, copy, check, flags, json …). Type Lua, SQL ending in `;`, or a\n"
    "meta-command (\\? lists them). With stdin not a terminal, reads statements from it\n"
    "without prompts and exits 1 if any failed.",
    {{"Options", &kReplOptions},
     {"Connection options", &kConnectionOptions},
     {"Script options", &kScriptOptions},
     {"Throwaway PostgreSQL", &kClusterOptions}},
};

int cmd_repl(Args& args) {
  ConnectionOptions opts;
  bool history = true, no_db = false;
  while (!args.done()) {
    Arg a = next_arg(args, kReplSpec);
    if (!a.option) throw UsageError("repl: unexpected argument '" + a.text + "'");
    if (a.is("--no-history")) {
      history = false;
    } else if (a.is("--no-db")) {
      no_db = true;
    } else if (!apply_common_option(a, opts)) {
      unhandled(a);
    }
  }
  if (no_db && (opts.db || opts.ephemeral))
    throw UsageError(std::string("repl: --no-db and ") + (opts.db ? "--db" : "--ephemeral") +
                     " cannot be used together");
  Project project = load_project(opts.config);
  apply_project(project, opts);
  Target target = no_db ? Target() : resolve_target(opts);
  use_utf8_ctype();  // before libedit starts, and before any width is measured
  lua::Host host;
  opts.verbose = true;  // server NOTICE and INFO messages show, as in psql
  configure_host(host, opts, target, /*eager=*/!no_db);  // --no-db: `db` is replaced in repl.start
  lua::Runtime runtime(host);
  if (!runtime.ok()) return kExitError;
  lua_State* L = runtime.L();
  lua::install_repl_interrupt_handlers();

  bool interactive = isatty(STDIN_FILENO) != 0;
  Session session(L);
  if (!session.start(interactive, no_db, host.unsafe)) return kExitError;
  LineReader reader(interactive, interactive && history ? history_path() : "");
  reader.set_completer(
      [&session](const std::string& line, int start, int end, std::string& append) {
        return session.complete(line, start, end, append);
      });

  int failures = 0;
  bool more = false, terminated = false;
  std::string line, chunk;
  for (;;) {
    lua::take_interrupt(L);
    std::string prompt = interactive ? session.prompt(more) : "";
    LineReader::Read got = reader.read(prompt, line);
    int sig = lua::take_interrupt(L);
    if (sig == SIGTERM) {
      terminated = true;
      break;
    }
    if (got == LineReader::Read::interrupted) {  // Ctrl-C at the prompt: drop the input
      if (interactive) std::fputs("\n", stdout);
      session.call("reset", nullptr, nullptr);
      more = false;
      continue;
    }
    if (got == LineReader::Read::eof) {
      if (interactive) std::fputs("\n", stdout);
      std::string resume;  // "continue": the end of input only ended COPY data (Ctrl-D in psql)
      if (session.call("finish", nullptr, &resume) == "error") ++failures;
      if (resume == "continue") {
        more = false;
        continue;
      }
      break;
    }
    chunk.clear();
    lua::interrupt_lua_while(L);
    std::string status = session.call("feed", &line, &chunk);
    lua::interrupt_lua_while(nullptr);
    sig = lua::take_interrupt(L);
    std::fflush(stdout);
    reader.remember(chunk);
    if (sig == SIGTERM) {
      terminated = true;
      break;
    }
    more = status == "more";
    if (status == "error") ++failures;
    if (status == "quit") break;
  }
  close_query_output();
  std::fflush(stdout);
  if (terminated) return 128 + SIGTERM;
  if (host.exit_code >= 0) return host.exit_code;  // os.exit(n) ended the session
  return !interactive && failures > 0 ? kExitError : kExitOk;
}

}  // namespace weir::cli
