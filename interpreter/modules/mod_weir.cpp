// Lua module "weir.core": the engine's own functions for scripts (stdlib/weir.lua adds the
// ones written in Lua and is what `weir` refers to).
//   weir.version            the weir version string
//   weir.sleep(seconds)     pauses the script (backoff, polling)
//   weir.clock()            monotonic seconds, for measuring durations
//   weir.list_dir(path)     sorted names in a directory (nil, message when it cannot be read)
//   weir.connect(url)       opens a new Connection (close it with :close() or a <close> local)
//   weir.connection(name)   the connection named on the command line with --connect NAME=URL
//                           (opened on first use, then the same object every time)
//   weir.var(name [, default])  a value of weir.lua's `vars` (a string); default when the
//                           file has no such var; an error naming it otherwise
//   weir.cluster{schema_from=URL}  starts a throwaway PostgreSQL (a weir.Cluster: url(),
//                           close()), optionally holding a schema-only copy of URL's database
//   weir.session_lock(url, key1, key2 [, opts])  an advisory lock on a session of its own, kept
//                           alive by a background thread (a weir.SessionLock: try, check, lost,
//                           pid, release); see pg/session_lock.hpp
//   weir.deadline(seconds)  cancels the running statement when the time is up (a weir.Deadline:
//                           expired, close); see pg/statement_deadline.hpp
//   weir.duration(value)    seconds, or nil and why: a duration as weir.lua, the command line
//                           and a phase's timeout take it (pg/duration.hpp; a number is seconds)
//                           (and the rows of the schemas listed in with_data)
//   weir.copy_schema{from=URL, to=URL, with_data=}  the same copy into an existing database
//   weir.core.dump{db=CONN, file=, tables=, snapshot=} -> bytes   pg_dump of tables to a file
//   weir.core.restore{db=CONN, file=}        pg_restore of such a file into CONN's database
//                           (stdlib/weir.lua wraps both: weir plan writes nothing)
#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "lua/guarded.hpp"
#include "lua/host.hpp"
#include "lua/interrupt.hpp"
#include "lua/userdata.hpp"
#include "modules/modules.hpp"
#include "pg/cluster.hpp"
#include "pg/duration.hpp"
#include "pg/session_lock.hpp"
#include "pg/statement_deadline.hpp"

namespace weir::modules {

namespace {

using lua::guarded;

int weir_connect(lua_State* L) {
  std::string url = luaL_checkstring(L, 1);
  push_connection(L, url, true);
  return 1;
}

int weir_connection(lua_State* L) {
  std::string name = luaL_checkstring(L, 1);
  const auto& named = lua::host(L).named_targets;
  auto it = named.find(name);
  if (it == named.end()) {
    const auto& unusable = lua::host(L).unusable_targets;
    if (auto u = unusable.find(name); u != unusable.end())
      throw std::invalid_argument("weir.connection: " + u->second);
    std::string known;
    for (const auto& [k, v] : named)
      known += (known.empty() ? "" : ", ") + k;
    throw std::invalid_argument("weir.connection: no connection named '" + name + "' (known: " +
                                (known.empty() ? "none; pass --connect NAME=URL" : known) + ")");
  }
  luaL_getsubtable(L, LUA_REGISTRYINDEX, "weir.named_connections");
  if (lua_getfield(L, -1, name.c_str()) != LUA_TNIL) return 1;
  lua_pop(L, 1);
  push_connection(L, it->second, true);
  lua_pushvalue(L, -1);
  lua_setfield(L, -3, name.c_str());
  return 1;
}

// weir.var(name [, default]): weir.lua's vars = { NAME = value }. A var whose env "X" is unset
// is an error even with a default here: weir.lua said where its value comes from.
int weir_var(lua_State* L) {
  const char* name_arg = luaL_checkstring(L, 1);
  const bool has_default = !lua_isnoneornil(L, 2);
  if (has_default) luaL_checkstring(L, 2);
  std::string name = name_arg;
  const auto& host = lua::host(L);
  if (auto it = host.vars.find(name); it != host.vars.end()) {
    lua_pushlstring(L, it->second.data(), it->second.size());
    return 1;
  }
  if (auto u = host.unusable_vars.find(name); u != host.unusable_vars.end())
    throw std::invalid_argument("weir.var: " + u->second);
  if (has_default) {
    lua_pushvalue(L, 2);
    return 1;
  }
  std::string known;
  for (const auto& [k, v] : host.vars)
    known += (known.empty() ? "" : ", ") + k;
  for (const auto& [k, v] : host.unusable_vars)
    known += (known.empty() ? "" : ", ") + k;
  throw std::invalid_argument("weir.var: no var '" + name + "' in weir.lua (" +
                              (known.empty() ? "it sets none" : "it sets " + known) +
                              "); set it in weir.lua's vars, or pass a default");
}

// ---- throwaway clusters ---------------------------------------------------------------

const char* const kCluster = "weir.Cluster";

struct ClusterBox {
  std::unique_ptr<pg::Cluster> cluster;  // null once closed
};

pg::Cluster& live_cluster(lua_State* L) {
  auto* box = static_cast<ClusterBox*>(luaL_checkudata(L, 1, kCluster));
  if (!box->cluster) luaL_error(L, "attempt to use a closed cluster");
  return *box->cluster;
}

// The list of strings in field `key` of the options table at `idx` (nil: none). Throws on
// anything else, before any work is done.
std::vector<std::string> string_list(lua_State* L, int idx, const char* key, const char* fn) {
  std::vector<std::string> out;
  int t = lua_getfield(L, idx, key);
  if (t == LUA_TTABLE) {
    for (lua_Integer i = 1; lua_rawgeti(L, -1, i) != LUA_TNIL; ++i) {
      bool ok = lua_type(L, -1) == LUA_TSTRING;
      if (ok) out.emplace_back(lua_tostring(L, -1));
      lua_pop(L, 1);
      if (!ok) {
        lua_pop(L, 2);
        throw std::invalid_argument(std::string(fn) + ": " + key + " must be a list of strings");
      }
    }
    lua_pop(L, 1);  // the nil that ended the list
  } else if (t != LUA_TNIL) {
    lua_pop(L, 1);
    throw std::invalid_argument(std::string(fn) + ": " + key + " must be a list of strings");
  }
  lua_pop(L, 1);
  return out;
}

// Refuses keys of the options table at `idx` that are not in `known` (a NULL-ended list).
void known_keys(lua_State* L, int idx, const char* const* known, const char* fn) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    const char* key = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
    bool found = false;
    std::string names;
    for (const char* const* k = known; *k; ++k) {
      found = found || std::strcmp(key, *k) == 0;
      names += (names.empty() ? "" : ", ") + std::string(*k);
    }
    if (!found) {
      lua_pop(L, 1);
      throw std::invalid_argument(std::string(fn) + ": unknown option '" + key +
                                  "' (known: " + names + ")");
    }
  }
}

int weir_cluster(lua_State* L) {
  std::string schema_from;
  std::vector<std::string> with_data;
  bool copy = false;
  if (!lua_isnoneornil(L, 1)) {
    luaL_checktype(L, 1, LUA_TTABLE);
    const char* const known[] = {"schema_from", "with_data", nullptr};
    known_keys(L, 1, known, "weir.cluster");
    if (lua_getfield(L, 1, "schema_from") != LUA_TNIL) {
      schema_from = luaL_checkstring(L, -1);
      copy = true;
    }
    lua_pop(L, 1);
    with_data = string_list(L, 1, "with_data", "weir.cluster");
    if (!with_data.empty() && !copy)
      throw std::invalid_argument("weir.cluster: with_data needs schema_from");
  }
  // The userdata exists before the cluster starts, so its __gc owns the cluster at once.
  auto* box = static_cast<ClusterBox*>(lua_newuserdatauv(L, sizeof(ClusterBox), 0));
  new (box) ClusterBox();
  luaL_setmetatable(L, kCluster);
  box->cluster = std::make_unique<pg::Cluster>(pg::ClusterOptions{});
  if (copy) {
    try {
      box->cluster->copy_schema_from(schema_from, with_data);
    } catch (const std::exception&) {
      box->cluster.reset();  // stop it now rather than at the next garbage collection
      throw;
    }
  }
  return 1;
}

int weir_copy_schema(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char* const known[] = {"from", "to", "with_data", nullptr};
  known_keys(L, 1, known, "weir.copy_schema");
  pg::SchemaCopy copy;
  if (lua_getfield(L, 1, "from") != LUA_TSTRING || lua_getfield(L, 1, "to") != LUA_TSTRING)
    throw std::invalid_argument("weir.copy_schema: from and to must be strings (URLs)");
  copy.from = lua_tostring(L, -2);
  copy.to = lua_tostring(L, -1);
  lua_pop(L, 2);
  copy.data_schemas = string_list(L, 1, "with_data", "weir.copy_schema");
  pg::copy_schema(copy);
  return 0;
}

// The Connection in field `db` of the options table at 1: its target (password included, for
// the client program's environment only).
std::string db_target(lua_State* L, const char* fn) {
  if (lua_getfield(L, 1, "db") != LUA_TUSERDATA) {
    lua_pop(L, 1);
    throw std::invalid_argument(std::string(fn) + ": db must be a connection (db = db)");
  }
  std::string target = connection_target(L, lua_gettop(L));
  lua_pop(L, 1);
  return target;
}

// A non-empty string in field `key` of the options table at 1; "" when absent and optional.
std::string string_field(lua_State* L, const char* key, bool required, const char* fn) {
  int t = lua_getfield(L, 1, key);
  std::string out;
  if (t == LUA_TSTRING && lua_rawlen(L, -1) > 0) {
    out = lua_tostring(L, -1);
  } else if (t != LUA_TNIL || required) {
    lua_pop(L, 1);
    throw std::invalid_argument(std::string(fn) + ": " + key + " must be a non-empty string");
  }
  lua_pop(L, 1);
  return out;
}

// weir.core.dump{db = conn, file = path, tables = {"schema.t", ...}, snapshot = id} -> bytes
int weir_dump(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char* const known[] = {"db", "file", "tables", "snapshot", nullptr};
  known_keys(L, 1, known, "weir.dump");
  pg::DumpSpec spec;
  spec.file = string_field(L, "file", true, "weir.dump");
  spec.snapshot = string_field(L, "snapshot", false, "weir.dump");
  spec.tables = string_list(L, 1, "tables", "weir.dump");
  spec.from = db_target(L, "weir.dump");
  long long bytes = pg::dump_tables(spec);
  lua_pushinteger(L, bytes);
  return 1;
}

// weir.core.restore{db = conn, file = path}
int weir_restore(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char* const known[] = {"db", "file", nullptr};
  known_keys(L, 1, known, "weir.restore");
  std::string file = string_field(L, "file", true, "weir.restore");
  std::string to = db_target(L, "weir.restore");
  pg::restore_dump(file, to);
  return 0;
}

int cluster_url(lua_State* L) {
  std::string url = live_cluster(L).url();
  lua_pushstring(L, url.c_str());
  return 1;
}

int cluster_close(lua_State* L) {
  auto* box = static_cast<ClusterBox*>(luaL_checkudata(L, 1, kCluster));
  box->cluster.reset();
  return 0;
}

// Stops the cluster and leaves an empty box (which owns nothing, so Lua frees it without a
// destructor): a second call is a no-op (lua/userdata.hpp).
int cluster_gc(lua_State* L) noexcept {
  auto* box = static_cast<ClusterBox*>(luaL_testudata(L, 1, kCluster));
  if (box) box->cluster.reset();
  return 0;
}

int cluster_tostring(lua_State* L) {
  auto* box = static_cast<ClusterBox*>(luaL_checkudata(L, 1, kCluster));
  if (box->cluster)
    lua_pushfstring(L, "weir.Cluster (%s)", box->cluster->dir().c_str());
  else
    lua_pushliteral(L, "weir.Cluster (closed)");
  return 1;
}

const luaL_Reg kClusterMethods[] = {
    {"url", guarded<cluster_url>}, {"close", guarded<cluster_close>}, {nullptr, nullptr}};

// ---- the migration lock's session ----------------------------------------------------------

const char* const kSessionLock = "weir.SessionLock";

struct LockBox {
  std::unique_ptr<pg::SessionLock> lock;  // null once released
};

LockBox* check_lock_box(lua_State* L) {
  return static_cast<LockBox*>(luaL_checkudata(L, 1, kSessionLock));
}

pg::SessionLock& live_lock(lua_State* L) {
  LockBox* box = check_lock_box(L);
  if (!box->lock) luaL_error(L, "attempt to use a released lock");
  return *box->lock;
}

int32_t lock_key(lua_State* L, int idx) {
  lua_Integer k = luaL_checkinteger(L, idx);
  luaL_argcheck(L, k >= INT32_MIN && k <= INT32_MAX, idx, "expected a 32-bit integer key");
  return static_cast<int32_t>(k);
}

// weir.session_lock(url, key1, key2 [, {application_name = s, keepalive = seconds}])
int weir_session_lock(lua_State* L) {
  std::string url = luaL_checkstring(L, 1);
  int32_t key1 = lock_key(L, 2), key2 = lock_key(L, 3);
  std::string app = "weir (lock)";
  double keepalive = 1.0;
  if (!lua_isnoneornil(L, 4)) {
    luaL_checktype(L, 4, LUA_TTABLE);
    if (lua_getfield(L, 4, "application_name") != LUA_TNIL) app = luaL_checkstring(L, -1);
    if (lua_getfield(L, 4, "keepalive") != LUA_TNIL) {
      keepalive = luaL_checknumber(L, -1);
      luaL_argcheck(L, keepalive > 0 && std::isfinite(keepalive), 4,
                    "keepalive must be a positive number of seconds");
    }
    lua_pop(L, 2);
  }
  auto* box = static_cast<LockBox*>(lua_newuserdatauv(L, sizeof(LockBox), 0));
  new (box) LockBox();
  luaL_setmetatable(L, kSessionLock);
  box->lock = std::make_unique<pg::SessionLock>(url, key1, key2, app, keepalive);
  // A lost lock stops the statement in progress at once; the caller learns why from lost().
  box->lock->on_lost([] { pg::cancel_running_statement(); });
  return 1;
}

int lock_try(lua_State* L) {
  bool got = live_lock(L).try_acquire();
  lua_pushboolean(L, got);
  return 1;
}

// lock:check() -> true | false, why   (a round trip now)
int lock_check(lua_State* L) {
  std::optional<std::string> why = live_lock(L).check();
  lua_pushboolean(L, !why);
  if (!why) return 1;
  lua_pushlstring(L, why->data(), why->size());
  return 2;
}

// lock:lost() -> nil | why   (what the keeper last saw; no round trip)
int lock_lost(lua_State* L) {
  LockBox* box = check_lock_box(L);
  std::optional<std::string> why = box->lock ? box->lock->lost() : std::nullopt;
  if (!why) {
    lua_pushnil(L);
  } else {
    lua_pushlstring(L, why->data(), why->size());
  }
  return 1;
}

int lock_pid(lua_State* L) {
  lua_pushinteger(L, live_lock(L).pid());
  return 1;
}

int lock_release(lua_State* L) noexcept {
  auto* box = static_cast<LockBox*>(luaL_testudata(L, 1, kSessionLock));
  if (box) box->lock.reset();
  return 0;
}

// Releases the lock and leaves an empty box (lua/userdata.hpp): a second call is a no-op.
int lock_gc(lua_State* L) noexcept {
  auto* box = static_cast<LockBox*>(luaL_testudata(L, 1, kSessionLock));
  if (box) box->lock.reset();
  return 0;
}

const luaL_Reg kLockMethods[] = {{"try", guarded<lock_try>},   {"check", guarded<lock_check>},
                                 {"lost", guarded<lock_lost>}, {"pid", guarded<lock_pid>},
                                 {"release", lock_release},    {nullptr, nullptr}};

// ---- deadlines ------------------------------------------------------------------------------

const char* const kDeadline = "weir.Deadline";

struct DeadlineBox {
  std::unique_ptr<pg::StatementDeadline> deadline;  // null once closed
  bool expired = false;                             // as it was when closed
};

// Argument `idx`: a number of seconds from 0 to pg::kMaxDurationMs / 1000 (24.8 days), checked
// before a clock is set with it (a larger one overflows steady_clock's duration).
lua_Number checked_seconds(lua_State* L, int idx) {
  lua_Number seconds = luaL_checknumber(L, idx);
  luaL_argcheck(L, seconds >= 0 && std::isfinite(seconds), idx, "expected a non-negative number");
  if (seconds * 1000 > static_cast<lua_Number>(pg::kMaxDurationMs))
    luaL_argerror(L, idx,
                  lua_pushfstring(L, "%f seconds is too long: at most 2147483.647 (24.8 days)",
                                  static_cast<double>(seconds)));
  return seconds;
}

int weir_deadline(lua_State* L) {
  lua_Number seconds = checked_seconds(L, 1);
  auto* box = static_cast<DeadlineBox*>(lua_newuserdatauv(L, sizeof(DeadlineBox), 0));
  new (box) DeadlineBox();
  luaL_setmetatable(L, kDeadline);
  box->deadline = std::make_unique<pg::StatementDeadline>(seconds);
  return 1;
}

int deadline_expired(lua_State* L) {
  auto* box = static_cast<DeadlineBox*>(luaL_checkudata(L, 1, kDeadline));
  lua_pushboolean(L, box->deadline ? box->deadline->expired() : box->expired);
  return 1;
}

int deadline_close(lua_State* L) noexcept {
  auto* box = static_cast<DeadlineBox*>(luaL_testudata(L, 1, kDeadline));
  if (!box || !box->deadline) return 0;
  box->deadline->disarm();
  box->expired = box->deadline->expired();
  box->deadline.reset();
  return 0;
}

// Disarms the deadline and leaves an empty box (lua/userdata.hpp): a second call is a no-op.
int deadline_gc(lua_State* L) noexcept {
  auto* box = static_cast<DeadlineBox*>(luaL_testudata(L, 1, kDeadline));
  if (box) box->deadline.reset();
  return 0;
}

const luaL_Reg kDeadlineMethods[] = {
    {"expired", guarded<deadline_expired>}, {"close", deadline_close}, {nullptr, nullptr}};

// ---- the rest -----------------------------------------------------------------------------

int weir_sleep(lua_State* L) {
  lua_Number seconds = checked_seconds(L, 1);
  lua::sleep_interruptibly(L, seconds);  // Ctrl-C/SIGTERM ends it at once
  return 0;
}

// weir.duration(value) -> seconds | nil, why
int weir_duration(lua_State* L) {
  long long ms = 0;
  std::string why;
  bool ok = false;
  if (lua_type(L, 1) == LUA_TNUMBER) {
    ok = pg::duration_of_number(lua_tonumber(L, 1), 1000, ms, why);
  } else if (lua_type(L, 1) == LUA_TSTRING) {
    ok = pg::parse_duration(lua_tostring(L, 1), 1000, ms, why);
  } else {
    luaL_checkany(L, 1);
    why = std::string("is a ") + luaL_typename(L, 1) + ", not a duration";
  }
  if (!ok) {
    lua_pushnil(L);
    lua_pushlstring(L, why.data(), why.size());
    return 2;
  }
  if (ms % 1000 == 0)
    lua_pushinteger(L, static_cast<lua_Integer>(ms / 1000));
  else
    lua_pushnumber(L, static_cast<lua_Number>(ms) / 1000);
  return 1;
}

int weir_clock(lua_State* L) {
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  lua_pushnumber(L, std::chrono::duration<double>(now).count());
  return 1;
}

int weir_list_dir(lua_State* L) {
  std::string path = luaL_checkstring(L, 1);
  std::vector<std::string> names;
  DIR* d = opendir(path.c_str());
  if (!d) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", path.c_str(), std::strerror(errno));
    return 2;
  }
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  lua_createtable(L, static_cast<int>(names.size()), 0);
  for (size_t i = 0; i < names.size(); ++i) {
    lua_pushstring(L, names[i].c_str());
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  return 1;
}

const luaL_Reg kFunctions[] = {
    {"list_dir", guarded<weir_list_dir>},
    {"sleep", guarded<weir_sleep>},
    {"clock", guarded<weir_clock>},
    {"connect", guarded<weir_connect>},
    {"connection", guarded<weir_connection>},
    {"var", guarded<weir_var>},
    {"cluster", guarded<weir_cluster>},
    {"session_lock", guarded<weir_session_lock>},
    {"deadline", guarded<weir_deadline>},
    {"duration", guarded<weir_duration>},
    {"copy_schema", guarded<weir_copy_schema>},
    {"dump", guarded<weir_dump>},
    {"restore", guarded<weir_restore>},
    {nullptr, nullptr},
};

}  // namespace

int luaopen_weir(lua_State* L) {
  if (luaL_newmetatable(L, kCluster)) {
    luaL_newlib(L, kClusterMethods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, cluster_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, guarded<cluster_close>);
    lua_setfield(L, -2, "__close");
    lua_pushcfunction(L, guarded<cluster_tostring>);
    lua_setfield(L, -2, "__tostring");
    lua::protect_metatable(L, -1);
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, kSessionLock)) {
    luaL_newlib(L, kLockMethods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, lock_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, lock_release);
    lua_setfield(L, -2, "__close");
    lua::protect_metatable(L, -1);
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, kDeadline)) {
    luaL_newlib(L, kDeadlineMethods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, deadline_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, deadline_close);
    lua_setfield(L, -2, "__close");
    lua::protect_metatable(L, -1);
  }
  lua_pop(L, 1);
  luaL_newlib(L, kFunctions);
  lua_pushliteral(L, WEIR_VERSION);
  lua_setfield(L, -2, "version");
  return 1;
}

}  // namespace weir::modules
