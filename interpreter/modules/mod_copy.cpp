// Lua module "copy.core" (stdlib/copy.lua builds the `copy` global on it): the data path.
//   pipe(src, copy_out_sql, dst, copy_in_sql) -> rows   COPY to COPY, rows never reach Lua
//   batches(src, copy_out_sql, binary, key_fields, batch_rows, piece_rows
//           [, span, next_prefix, next_suffix, key_list]) -> reader
//                                                       a plain copy's source statements read on
//                                                       a thread and cut into batches
//                                                       (pg::BatchReader)
//   batch_ready(reader) -> bool                         whether another batch is coming
//   batch_send(reader, dst, first_sql, again_sql) -> rows, key
//                                                       the next batch into dst's COPY
//   batch_complete(reader) -> rows, key, pieces | nil  the next batch when all its rows are read
//   batch_send_whole(reader, dst, sql) -> rows, key     that batch with one query (its COPYs in it)
//   batch_key(reader) -> key | nil                      the last key of the batch sent or failed on
//   drop_batches(reader)                                nobody will send the rest
//   read, read_plan, fetch, take, discard, write, write_plan, materialize, columns_of
//                                                       the rows themselves: see copy_rows.hpp
//   uuid_v5(namespace_uuid, name) -> uuid               name-based UUID (RFC 4122 v5)
//   target_of(conn) -> string                           a connection's target, for a worker
//   spawn(code, env_value) -> worker                    `weir run -e code` with WEIR_COPY_SPEC set,
//                                                       killed with weir however weir ends
//   join(workers, stop) -> {{code, output}, ...}        waits for spawned workers (SIGTERM first
//                                                       with `stop` or once weir is interrupted)
//   interruptible(fn, ...) -> ok, ...                   pcall(fn, ...) that a SIGINT/SIGTERM
//                                                       stops; afterwards signals are held
//                                                       (lua::hold_interrupts), so what follows
//                                                       -- cleanup, a report -- runs to its end;
//                                                       so is an os.exit it stopped
//                                                       (Host::exit_held)
//   interrupted() -> signal number or nil               the signal that asked weir to stop
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "lua/convert.hpp"
#include "lua/error.hpp"
#include "lua/guarded.hpp"
#include "lua/host.hpp"
#include "lua/runtime.hpp"
#include "lua/userdata.hpp"
#include "modules/copy_rows.hpp"
#include "modules/modules.hpp"
#include "pg/connection.hpp"
#include "pg/copy.hpp"
#include "pg/uuid.hpp"

namespace weir::modules {

namespace {

using lua::guarded;

int copy_pipe(lua_State* L) {
  pg::Connection& src = connection_arg(L, 1);
  std::string out_sql = luaL_checkstring(L, 2);
  pg::Connection& dst = connection_arg(L, 3);
  std::string in_sql = luaL_checkstring(L, 4);
  lua_pushinteger(L, pg::pipe_copy(src, out_sql, dst, in_sql));
  return 1;
}

int copy_uuid_v5(lua_State* L) {
  std::string id = pg::uuid_v5(luaL_checkstring(L, 1), luaL_checkstring(L, 2));
  lua_pushstring(L, id.c_str());
  return 1;
}

int copy_target_of(lua_State* L) {
  std::string t = connection_target(L, 1);
  lua_pushlstring(L, t.data(), t.size());
  return 1;
}

// ---- a plain copy's batches ------------------------------------------------------------------

const char* const kBatches = "weir.CopyBatches";

using BatchBox = std::shared_ptr<pg::BatchReader>;

pg::BatchReader& batches_arg(lua_State* L, int idx) {
  auto* box = static_cast<BatchBox*>(luaL_checkudata(L, idx, kBatches));
  if (!*box) luaL_argerror(L, idx, "a batch reader that was dropped");
  return **box;
}

int batches_gc(lua_State* L) {
  auto* box = static_cast<BatchBox*>(luaL_testudata(L, 1, kBatches));
  if (box && *box) {
    (*box)->drop();
    box->reset();
  }
  return 0;
}

void push_key(lua_State* L, const std::vector<std::string>& key) {
  if (key.empty()) {
    lua_pushnil(L);
    return;
  }
  lua_createtable(L, static_cast<int>(key.size()), 0);
  for (size_t i = 0; i < key.size(); ++i) {
    lua_pushlstring(L, key[i].data(), key[i].size());
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
}

int copy_batches(lua_State* L) {
  pg::Connection& src = connection_arg(L, 1);
  std::string sql = luaL_checkstring(L, 2);
  pg::BatchReader::Options o;
  o.binary = lua_toboolean(L, 3);
  o.key_fields = static_cast<int>(luaL_checkinteger(L, 4));
  o.batch_rows = luaL_checkinteger(L, 5);
  o.piece_rows = luaL_optinteger(L, 6, 0);
  o.span = luaL_optinteger(L, 7, 0);
  if (o.span > 0) {
    o.next_prefix = luaL_checkstring(L, 8);
    o.next_suffix = luaL_checkstring(L, 9);
    o.key_list = luaL_checkstring(L, 10);
  }
  luaL_argcheck(L, o.key_fields >= 1, 4, "at least one key field");
  luaL_argcheck(L, o.batch_rows >= 1, 5, "a positive number of rows");
  auto* box = static_cast<BatchBox*>(lua_newuserdatauv(L, sizeof(BatchBox), 0));
  new (box) BatchBox();
  luaL_setmetatable(L, kBatches);
  *box = std::make_shared<pg::BatchReader>(src, std::move(sql), o);
  std::weak_ptr<pg::BatchReader> reader = *box;
  src.set_background([reader](bool) {
    if (auto r = reader.lock()) r->wait_read();
  });
  return 1;
}

int copy_batch_ready(lua_State* L) {
  lua_pushboolean(L, batches_arg(L, 1).batch_ready());
  return 1;
}

int copy_batch_send(lua_State* L) {
  pg::BatchReader& r = batches_arg(L, 1);
  pg::Connection& dst = connection_arg(L, 2);
  std::string first = luaL_checkstring(L, 3), again = luaL_checkstring(L, 4);
  lua_pushinteger(L, r.send_batch(dst, first, again));
  push_key(L, r.batch_key());
  return 2;
}

int copy_batch_complete(lua_State* L) {
  long long rows = 0;
  int pieces = 0;
  std::vector<std::string> key;
  if (!batches_arg(L, 1).batch_complete(rows, key, pieces)) return 0;
  lua_pushinteger(L, rows);
  push_key(L, key);
  lua_pushinteger(L, pieces);
  return 3;
}

int copy_batch_send_whole(lua_State* L) {
  pg::BatchReader& r = batches_arg(L, 1);
  pg::Connection& dst = connection_arg(L, 2);
  std::string sql = luaL_checkstring(L, 3);
  lua_pushinteger(L, r.send_whole_batch(dst, sql));
  push_key(L, r.batch_key());
  return 2;
}

int copy_batch_key(lua_State* L) {
  push_key(L, batches_arg(L, 1).batch_key());
  return 1;
}

// ---- workers ---------------------------------------------------------------------------------

const char* const kWorker = "weir.CopyWorker";

struct WorkerBox {
  std::unique_ptr<pg::Worker> worker;  // killed and reaped with the box unless joined
};

// Starts this weir binary as `weir run -e CODE` with WEIR_COPY_SPEC=spec in its environment
// (so connection targets never appear on a command line); see pg::Worker.
int copy_spawn(lua_State* L) {
  std::string code = luaL_checkstring(L, 1), spec = luaL_checkstring(L, 2);
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    throw std::runtime_error(std::string("copy workers: cannot find the weir binary: ") +
                             std::strerror(errno));
  self[n] = 0;
  // The box exists before the process does, so its __gc owns the process at once.
  auto* box = static_cast<WorkerBox*>(lua_newuserdatauv(L, sizeof(WorkerBox), 0));
  new (box) WorkerBox();
  luaL_setmetatable(L, kWorker);
  box->worker = std::make_unique<pg::Worker>(std::vector<std::string>{self, "run", "-e", code},
                                             std::vector<std::string>{"WEIR_COPY_SPEC=" + spec});
  return 1;
}

// join(workers, stop) -> { {code=, output=}, ... }: waits for every worker (a list of spawn's
// results); with `stop`, or once weir is asked to stop (SIGINT/SIGTERM), they get SIGTERM.
int copy_join(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  bool stop = lua_toboolean(L, 2);
  std::vector<pg::Worker*> workers;
  for (lua_Integer i = 1; lua_rawgeti(L, 1, i) != LUA_TNIL; ++i) {
    auto* box = static_cast<WorkerBox*>(luaL_checkudata(L, -1, kWorker));
    if (box->worker) workers.push_back(box->worker.get());
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  std::vector<pg::WorkerResult> results =
      pg::join_workers(workers, [stop] { return stop || lua::pending_interrupt() != 0; });
  lua_createtable(L, static_cast<int>(results.size()), 0);
  for (size_t i = 0; i < results.size(); ++i) {
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, results[i].code);
    lua_setfield(L, -2, "code");
    lua_pushlstring(L, results[i].output.data(), results[i].output.size());
    lua_setfield(L, -2, "output");
    lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
  }
  return 1;
}

// Idempotent (a second call finds no worker): the box holds nothing else to destroy.
int worker_gc(lua_State* L) {
  auto* box = static_cast<WorkerBox*>(luaL_testudata(L, 1, kWorker));
  if (box) box->worker.reset();
  return 0;
}

int copy_interruptible(lua_State* L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  // Cleared here, in C: a hook still pending would otherwise fire as this function returns,
  // raising "interrupted" in the caller's cleanup.
  lua::hold_interrupts();
  if (status != LUA_OK && lua::is_exit_sentinel(L, -1)) lua::host(L).exit_held = true;
  lua_pushboolean(L, status == LUA_OK);
  lua_insert(L, 1);
  return lua_gettop(L);
}

int copy_interrupted(lua_State* L) {
  int sig = lua::pending_interrupt();
  if (sig == 0) return 0;
  lua_pushinteger(L, sig);
  return 1;
}

const luaL_Reg kFunctions[] = {
    {"interruptible", guarded<copy_interruptible>},
    {"interrupted", guarded<copy_interrupted>},
    {"target_of", guarded<copy_target_of>},
    {"spawn", guarded<copy_spawn>},
    {"join", guarded<copy_join>},
    {"uuid_v5", guarded<copy_uuid_v5>},
    {"pipe", guarded<copy_pipe>},
    {"batches", guarded<copy_batches>},
    {"batch_ready", guarded<copy_batch_ready>},
    {"batch_send", guarded<copy_batch_send>},
    {"batch_key", guarded<copy_batch_key>},
    {"batch_complete", guarded<copy_batch_complete>},
    {"batch_send_whole", guarded<copy_batch_send_whole>},
    {"drop_batches", guarded<batches_gc>},
    {nullptr, nullptr},
};

}  // namespace

int luaopen_copy_core(lua_State* L) {
  if (luaL_newmetatable(L, kBatches)) {
    lua_pushcfunction(L, batches_gc);
    lua_setfield(L, -2, "__gc");
    lua::protect_metatable(L, -1);
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, kWorker)) {
    lua_pushcfunction(L, worker_gc);
    lua_setfield(L, -2, "__gc");
    lua::protect_metatable(L, -1);
  }
  lua_pop(L, 1);
  luaL_newlib(L, kFunctions);
  add_copy_rows(L);
  return 1;
}

}  // namespace weir::modules
