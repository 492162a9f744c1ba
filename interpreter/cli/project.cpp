// The project file weir.lua (see project.hpp).
#include "cli/project.hpp"

#include <stdlib.h>
#include <sys/stat.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <lua.hpp>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "cli/options.hpp"
#include "lua/sandbox.hpp"
#include "pg/cluster.hpp"
#include "pg/connection.hpp"

namespace weir::cli {

namespace {

const char* const kEnvRef = "weir.project.env";

// env(NAME [, DEFAULT]) -> a reference resolved when the file is read.
int lua_env(lua_State* L) {
  luaL_checkstring(L, 1);
  if (!lua_isnoneornil(L, 2)) luaL_checkstring(L, 2);
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, 1);
  lua_setfield(L, -2, "name");
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, "default");
  luaL_setmetatable(L, kEnvRef);
  return 1;
}

struct Reader {
  lua_State* L;
  std::string file;
  Project* out;

  [[noreturn]] void fail(const std::string& what) {
    luaL_error(L, "%s: %s", file.c_str(), what.c_str());
    std::abort();  // not reached: luaL_error does not return
  }

  // The value at the top of the stack as a URL: a string or an env reference.
  ProjectUrl url(const std::string& key) {
    ProjectUrl u;
    if (lua_type(L, -1) == LUA_TSTRING) {
      u.url = lua_tostring(L, -1);
      return u;
    }
    if (!lua_istable(L, -1) || !is_env_ref())
      fail(key + " must be a URL string or env \"NAME\", got " + luaL_typename(L, -1));
    lua_getfield(L, -1, "name");
    std::string name = lua_tostring(L, -1);
    lua_pop(L, 1);
    const char* value = std::getenv(name.c_str());
    if (value && *value) {
      u.url = value;
      return u;
    }
    if (lua_getfield(L, -1, "default") == LUA_TSTRING)
      u.url = lua_tostring(L, -1);
    else
      u.unset_error = file + ": " + key + " reads $" + name + ", which is not set";
    lua_pop(L, 1);
    return u;
  }

  // The value at the top of the stack as a var: a string, a number (as Lua writes it) or an
  // env reference.
  ProjectUrl var(const std::string& key) {
    if (lua_type(L, -1) == LUA_TNUMBER) {
      lua_pushvalue(L, -1);  // tostring on a copy: the value stays a number for lua_next
      ProjectUrl u;
      u.url = lua_tostring(L, -1);
      lua_pop(L, 1);
      return u;
    }
    if (lua_type(L, -1) != LUA_TSTRING && !(lua_istable(L, -1) && is_env_ref()))
      fail(key + " must be a string, a number or env \"NAME\", got " + luaL_typename(L, -1));
    return url(key);
  }

  bool is_env_ref() {
    if (!lua_getmetatable(L, -1)) return false;
    luaL_getmetatable(L, kEnvRef);
    bool same = lua_rawequal(L, -1, -2);
    lua_pop(L, 2);
    return same;
  }

  std::string text(const std::string& key) {
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
      fail(key + " must be a non-empty string, got " + luaL_typename(L, -1));
    return lua_tostring(L, -1);
  }

  // A duration (options.hpp: parse_duration): a number in `unit_ms` units, or a string with
  // ms, s, min or h; as the runner takes it, milliseconds or (to_seconds) seconds.
  std::string duration(const std::string& key, double unit_ms, bool to_seconds) {
    long long ms = 0;
    std::string why, shown;
    bool ok = false;
    if (lua_type(L, -1) == LUA_TNUMBER) {
      ok = duration_of_number(lua_tonumber(L, -1), unit_ms, ms, why);
      lua_pushvalue(L, -1);  // tostring on a copy: the value stays a number for lua_next
      shown = lua_tostring(L, -1);
      lua_pop(L, 1);
    } else if (lua_type(L, -1) == LUA_TSTRING) {
      shown = lua_tostring(L, -1);
      ok = parse_duration(shown, unit_ms, ms, why);
      shown = "'" + shown + "'";
    } else {
      shown = std::string("a ") + luaL_typename(L, -1);
      why = "is not a duration";
    }
    if (!ok) fail(key + ": " + shown + " " + why);
    return to_seconds ? seconds_text(ms) : milliseconds_text(ms);
  }

  std::string relative(const std::string& path) {
    if (path.empty() || path[0] == '/') return path;
    auto slash = file.rfind('/');
    return slash == std::string::npos ? path : file.substr(0, slash + 1) + path;
  }

  void read_table() {
    const int t = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, t)) {
      if (lua_type(L, -2) != LUA_TSTRING) fail("setting names must be strings");
      std::string key = lua_tostring(L, -2);
      auto& s = out->settings;
      if (key == "migrations") {
        s["dir"] = relative(text(key));
      } else if (key == "schema") {
        s["schema"] = text(key);
      } else if (key == "events") {
        std::string e = text(key);
        s["events"] = e == "-" ? e : relative(e);
      } else if (key == "lock_timeout") {
        s["lock_timeout_ms"] = duration(key, 1, false);
      } else if (key == "statement_timeout") {
        s["statement_timeout_ms"] = duration(key, 1, false);
      } else if (key == "lock_wait") {
        s["lock_wait"] = duration(key, 1000, true);
      } else if (key == "retries") {
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0 || lua_tointeger(L, -1) > 2147483647)
          fail("retries must be a non-negative integer (at most 2147483647)");
        s["retries"] = std::to_string(lua_tointeger(L, -1));
      } else if (key == "fixture") {
        s["fixture"] = relative(text(key));
      } else if (key == "pg_bindir") {
        out->pg_bindir = relative(text(key));
      } else if (key == "pg_version") {
        if (lua_type(L, -1) == LUA_TNUMBER && lua_isinteger(L, -1)) {
          out->pg_version = std::to_string(lua_tointeger(L, -1));
        } else {
          out->pg_version = text(key);
        }
      } else if (key == "ids") {
        std::string ids = text(key);
        if (ids != "sequential" && ids != "timestamp")
          fail("ids must be \"sequential\" or \"timestamp\", got '" + ids + "'");
        out->ids = ids;
      } else if (key == "db") {
        out->db = url(key);
      } else if (key == "connections") {
        if (!lua_istable(L, -1)) fail("connections must be a table of NAME = URL");
        const int c = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, c)) {
          if (lua_type(L, -2) != LUA_TSTRING) fail("connection names must be strings");
          std::string name = lua_tostring(L, -2);
          out->connections[name] = url("connections." + name);
          lua_pop(L, 1);
        }
      } else if (key == "vars") {
        if (!lua_istable(L, -1) || is_env_ref()) fail("vars must be a table of NAME = value");
        const int v = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, v)) {
          if (lua_type(L, -2) != LUA_TSTRING) fail("var names must be strings");
          std::string name = lua_tostring(L, -2);
          out->vars[name] = var("vars." + name);
          lua_pop(L, 1);
        }
      } else {
        fail("unknown setting '" + key +
             "' (known: migrations, schema, db, connections, lock_timeout, statement_timeout, "
             "lock_wait, retries, events, fixture, vars, ids, pg_bindir, pg_version)");
      }
      lua_pop(L, 1);
    }
  }
};

int read_project(lua_State* L) {
  auto* r = static_cast<Reader*>(lua_touserdata(L, 1));
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  lua_settop(L, 1);
  for (const char* unsafe : {"dofile", "loadfile", "load", "require", "collectgarbage"}) {
    lua_pushnil(L);
    lua_setglobal(L, unsafe);
  }
  luaL_newmetatable(L, kEnvRef);
  lua_pop(L, 1);
  lua_pushcfunction(L, lua_env);
  lua_setglobal(L, "env");
  if (luaL_loadfilex(L, r->file.c_str(), "t") != LUA_OK) {
    lua::name_binary_refusal(L, r->file.c_str());
    lua_error(L);
  }
  lua_call(L, 0, 1);
  if (!lua_istable(L, -1))
    r->fail(std::string("must return a table of settings, got ") + luaL_typename(L, -1));
  r->read_table();
  return 0;
}

// The values a line of weir.lua gives a secret-looking name, as Lua or conninfo writes them:
// password = "…", db_password = '…', passwd=…, pwd: … (any case; the value up to its closing
// quote, else up to white space or a separator). libpq knows only password and sslpassword,
// which pg::mask_password finds; a project file names its own variables.
std::vector<std::string> named_secrets(const std::string& line) {
  std::vector<std::string> out;
  std::string lower;
  for (char c : line)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  for (const char* key : {"passwd", "password", "pwd", "secret", "token"}) {
    for (size_t k = lower.find(key); k != std::string::npos; k = lower.find(key, k + 1)) {
      size_t i = k + std::char_traits<char>::length(key);
      while (i < line.size() &&
             (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_'))
        ++i;  // password_file, secret_key: still the same name
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == ']' ||
                                 line[i] == '"' || line[i] == '\''))
        ++i;  // ["password"] =
      if (i >= line.size() || (line[i] != '=' && line[i] != ':')) continue;
      ++i;
      while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
        ++i;
      size_t end;
      if (i < line.size() && (line[i] == '"' || line[i] == '\'')) {
        char quote = line[i++];
        end = line.find(quote, i);
      } else if (line.compare(i, 2, "[[") == 0) {
        i += 2;
        end = line.find("]]", i);
      } else {
        end = line.find_first_of(" \t,;&)}\"'#", i);
      }
      if (end == std::string::npos) end = line.size();
      if (end > i) out.push_back(line.substr(i, end - i));
    }
  }
  return out;
}

// `message` (an error about weir.lua, which may quote its text or its values) with every secret
// the file holds masked as pg::mask_password masks a connection target: URLs of any scheme with a
// user:password part, password= of conninfo and URL queries, and named_secrets.
// pg::mask_password of each word of `text` (its quotes and brackets kept): a URL or a conninfo
// pair it quotes, without the rest of the message taken for the secret's value.
std::string mask_words(const std::string& text) {
  const char* edge = "'\"`()[]{}<>,;";
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = text.find_first_of(" \t\n", i);
    if (end == std::string::npos) end = text.size();
    size_t b = i, e = end;
    while (b < e && std::strchr(edge, text[b]))
      ++b;
    while (e > b && std::strchr(edge, text[e - 1]))
      --e;
    out +=
        text.substr(i, b - i) + pg::mask_password(text.substr(b, e - b)) + text.substr(e, end - e);
    if (end < text.size()) out.push_back(text[end]);
    i = end + 1;
  }
  return out;
}

std::string mask_project_secrets(std::string message, const std::string& file) {
  message = mask_words(message);
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    message = pg::scrub_target(message, line);
    for (const auto& secret : named_secrets(line))
      message = pg::scrub(message, secret);
  }
  return message;
}

bool exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

const std::string& ProjectUrl::get() const {
  if (!unset_error.empty()) throw std::runtime_error(unset_error);
  return url;
}

Project load_project(const std::optional<std::string>& config_path) {
  Project p;
  if (config_path) {
    if (!exists(*config_path)) throw UsageError("--config: " + *config_path + " does not exist");
    p.file = *config_path;
  } else if (exists("weir.lua")) {
    p.file = "weir.lua";
  } else {
    return p;
  }
  std::unique_ptr<lua_State, decltype(&lua_close)> L(luaL_newstate(), lua_close);
  if (!L) throw std::runtime_error("out of memory reading " + p.file);
  Reader reader{L.get(), p.file, &p};
  lua_pushcfunction(L.get(), read_project);
  lua_pushlightuserdata(L.get(), &reader);
  if (lua_pcall(L.get(), 1, 0, 0) != LUA_OK) {
    const char* msg = lua_tostring(L.get(), -1);
    throw std::runtime_error(
        mask_project_secrets(msg ? msg : p.file + ": error while reading it", p.file));
  }
  // The PostgreSQL of throwaway clusters, unless --pg-bindir/--pg-version (which set
  // $WEIR_PG_BINDIR) or the environment chose one.
  auto env_set = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v;
  };
  if ((!p.pg_bindir.empty() || !p.pg_version.empty()) && !env_set("WEIR_PG_BINDIR") &&
      !env_set("WEIR_PG_VERSION")) {
    std::string bindir;
    try {
      bindir = p.pg_bindir.empty() ? pg::Cluster::bindir_for_version(p.pg_version)
                                   : pg::Cluster::check_bindir(p.pg_bindir);
    } catch (const pg::ClusterError& e) {
      std::string why = e.what();
      if (why.rfind("pg cluster: ", 0) == 0) why = why.substr(12);
      throw std::runtime_error(p.file + ": " + (p.pg_bindir.empty() ? "pg_version" : "pg_bindir") +
                               ": " + why);
    }
    setenv("WEIR_PG_BINDIR", bindir.c_str(), 1);
  }
  return p;
}

void apply_project(const Project& project, ConnectionOptions& opts) {
  for (const auto& [name, u] : project.connections) {
    if (opts.connects.count(name)) continue;
    if (u.unset_error.empty())
      opts.connects[name] = u.url;
    else
      opts.unset_connects[name] = u.unset_error;
  }
  for (const auto& [name, v] : project.vars) {
    if (v.unset_error.empty())
      opts.vars[name] = v.url;
    else
      opts.unset_vars[name] = v.unset_error;
  }
  if (opts.db) {
    // --db NAME: a connection of the project file (a URL has "://" or "=", a name has neither).
    auto it = project.connections.find(*opts.db);
    if (it != project.connections.end() && opts.db->find("://") == std::string::npos &&
        opts.db->find('=') == std::string::npos)
      opts.db = it->second.get();
    return;
  }
  if (!opts.ephemeral && project.db) opts.db = project.db->get();
}

}  // namespace weir::cli
