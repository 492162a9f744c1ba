// Lua module "progress.core" (stdlib/progress.lua builds weir's progress reports on it): the
// process's one live line on stderr, pg/status_line.hpp.
//   is_terminal(fd) -> boolean        whether fd 1 or 2 is a terminal
//   configure(style, interval)        style "tty" or "plain" (a new line; an active one ends
//                                     first), interval the plain style's period in seconds;
//                                     style "off" removes the line
//   begin(label)                      something started (a phase, a copy): shown with its time
//   detail(text)                      what it is doing now
//   finish() -> lines                 it ended: the line is erased; the plain lines written
//   say(line)                         a whole line of other output on stderr ("\n" added),
//                                     under the live line's lock so the two never mix
//   clear(), redraw()                 erase the live line before output elsewhere (stdout on
//                                     the same terminal), draw it again after
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "lua/guarded.hpp"
#include "modules/modules.hpp"
#include "pg/status_line.hpp"

namespace weir::modules {

namespace {

using lua::guarded;

// One per process: there is one stderr. Destroyed at exit, which erases a line still drawn.
std::unique_ptr<pg::StatusLine>& line() {
  static std::unique_ptr<pg::StatusLine> the_line;
  return the_line;
}

int progress_is_terminal(lua_State* L) {
  lua_Integer fd = luaL_checkinteger(L, 1);
  luaL_argcheck(L, fd == 1 || fd == 2, 1, "expected 1 (stdout) or 2 (stderr)");
  lua_pushboolean(L, isatty(static_cast<int>(fd)) == 1);
  return 1;
}

int progress_configure(lua_State* L) {
  static const char* const kStyles[] = {"tty", "plain", "off", nullptr};
  int style = luaL_checkoption(L, 1, nullptr, kStyles);
  double interval = luaL_optnumber(L, 2, 10);
  luaL_argcheck(L, interval > 0 && interval < 1e9, 2, "expected a number of seconds above 0");
  auto& l = line();
  if (l) l->end();
  l.reset();
  if (style == 2) return 0;
  l = std::make_unique<pg::StatusLine>(
      STDERR_FILENO, style == 0 ? pg::StatusLine::Style::kTerminal : pg::StatusLine::Style::kPlain,
      interval);
  return 0;
}

int progress_begin(lua_State* L) {
  std::string label = luaL_checkstring(L, 1);
  if (auto& l = line()) l->begin(label);
  return 0;
}

int progress_detail(lua_State* L) {
  std::string text = luaL_checkstring(L, 1);
  if (auto& l = line()) l->detail(text);
  return 0;
}

int progress_finish(lua_State* L) {
  int lines = 0;
  if (auto& l = line()) lines = l->end();
  lua_pushinteger(L, lines);
  return 1;
}

int progress_say(lua_State* L) {
  size_t n = 0;
  const char* text = luaL_checklstring(L, 1, &n);
  std::string s(text, n);
  if (auto& l = line()) {
    l->write_line(s);
  } else {
    s += "\n";
    // The same unbuffered stderr Lua's io.stderr writes to, so the order is kept.
    std::fwrite(s.data(), 1, s.size(), stderr);
    std::fflush(stderr);
  }
  return 0;
}

int progress_clear(lua_State*) {
  if (auto& l = line()) l->clear();
  return 0;
}

int progress_redraw(lua_State*) {
  if (auto& l = line()) l->redraw();
  return 0;
}

const luaL_Reg kFunctions[] = {
    {"is_terminal", guarded<progress_is_terminal>},
    {"configure", guarded<progress_configure>},
    {"begin", guarded<progress_begin>},
    {"detail", guarded<progress_detail>},
    {"finish", guarded<progress_finish>},
    {"say", guarded<progress_say>},
    {"clear", guarded<progress_clear>},
    {"redraw", guarded<progress_redraw>},
    {nullptr, nullptr},
};

}  // namespace

int luaopen_progress_core(lua_State* L) {
  luaL_newlib(L, kFunctions);
  return 1;
}

}  // namespace weir::modules
