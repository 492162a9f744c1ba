// Script positions for errors and statements (see where.hpp).
#include "lua/where.hpp"

#include <cctype>
#include <cstring>

#include "lua/host.hpp"

namespace weir::lua {

namespace {

bool starts_with(const char* s, const std::string& prefix) {
  return std::strncmp(s, prefix.c_str(), prefix.size()) == 0;
}

// The innermost Lua frame at `level` or outside it that is not stdlib code and has a line.
bool script_frame(lua_State* L, int level, lua_Debug& ar) {
  for (; lua_getstack(L, level, &ar); ++level) {
    if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0 && !is_stdlib_source(L, ar.source))
      return true;
  }
  return false;
}

// Whether `msg` starts with a position, "CHUNK:LINE: ": its first ": " follows ":DIGITS".
bool has_position(const char* msg) {
  const char* colon = std::strstr(msg, ": ");
  if (!colon || std::memchr(msg, '\n', static_cast<size_t>(colon - msg))) return false;
  const char* p = colon;
  while (p > msg && std::isdigit(static_cast<unsigned char>(p[-1])))
    --p;
  return p < colon && p > msg && p[-1] == ':';
}

std::string where_of(const lua_Debug& ar) {
  return std::string(ar.short_src) + ":" + std::to_string(ar.currentline) + ": ";
}

}  // namespace

bool is_stdlib_source(lua_State* L, const char* source) {
  if (!source || source[0] != '@') return false;
  if (std::strncmp(source, "@stdlib/", 8) == 0) return true;
  const std::string& dir = host(L).stdlib_dir;
  return !dir.empty() && std::strncmp(source + 1, dir.c_str(), dir.size()) == 0 &&
         source[1 + dir.size()] == '/';
}

void push_script_where(lua_State* L, int level) {
  lua_Debug ar;
  bool in_stdlib = !host(L).traceback && lua_getstack(L, level, &ar) && lua_getinfo(L, "Sl", &ar) &&
                   ar.currentline > 0 && is_stdlib_source(L, ar.source);
  if (!in_stdlib) {
    luaL_where(L, level);  // a script line, or "" for a C caller (pcall(f, …)), as Lua gives
  } else if (script_frame(L, level + 1, ar)) {
    lua_pushstring(L, where_of(ar).c_str());
  } else {
    lua_pushstring(L, host(L).script_fallback.c_str());
  }
}

std::string script_location(lua_State* L) {
  std::string first;
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); ++level) {
    if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) continue;
    bool file = ar.source && ar.source[0] == '@';
    std::string here =
        std::string(file ? ar.source + 1 : ar.short_src) + ":" + std::to_string(ar.currentline);
    if (first.empty()) first = here;
    if (!is_stdlib_source(L, ar.source)) return here;
  }
  return first;
}

void repoint_error(lua_State* L, int idx) {
  if (host(L).traceback || lua_type(L, idx) != LUA_TSTRING) return;
  idx = lua_absindex(L, idx);
  size_t len = 0;
  const char* msg = lua_tolstring(L, idx, &len);
  lua_Debug ar;
  for (int level = 1; lua_getstack(L, level, &ar); ++level) {
    if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0 || !is_stdlib_source(L, ar.source))
      continue;
    std::string prefix = where_of(ar);
    if (!starts_with(msg, prefix)) continue;
    // The error names this stdlib line: charge it to the script frame that led here.
    lua_Debug outer;
    std::string where =
        script_frame(L, level + 1, outer) ? where_of(outer) : host(L).script_fallback;
    where.append(msg + prefix.size(), len - prefix.size());
    lua_pushlstring(L, where.data(), where.size());
    lua_replace(L, idx);
    return;
  }
  // Raised with no position (error(msg, 0), or a level that names a C function) while nothing of
  // the script is on the stack: the phase function's definition is the one line left to name.
  lua_Debug outer;
  const std::string& fallback = host(L).script_fallback;
  if (fallback.empty() || has_position(msg) || script_frame(L, 1, outer)) return;
  std::string where = fallback;
  where.append(msg, len);
  lua_pushlstring(L, where.data(), where.size());
  lua_replace(L, idx);
}

int repoint_handler(lua_State* L) {
  repoint_error(L, 1);
  lua_settop(L, 1);
  return 1;
}

}  // namespace weir::lua
