// The rows of copy.table's data path (see copy_rows.hpp).
#include "modules/copy_rows.hpp"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "json/parse.hpp"
#include "lua/convert.hpp"
#include "lua/guarded.hpp"
#include "lua/userdata.hpp"
#include "modules/modules.hpp"
#include "pg/connection.hpp"
#include "pg/copy.hpp"
#include "pg/copy_binary.hpp"

namespace weir::modules {

namespace {

using lua::guarded;

// ---- a plain batch read ahead: the source's COPY bytes, queued on a thread -----------------
//
// stream(src, copy_out_sql) starts the batch's COPY … TO STDOUT on a thread that queues its bytes
// (in blocks, at most kCap of them waiting); stream_send(stream, dst, copy_in_sql) starts
// COPY … FROM STDIN on dst and writes the blocks as they come, until the source's COPY ends;
// stream_end(dst) ends dst's COPY. Between the two, src is free: copy.table asks for the next
// batch there and starts reading it while dst is still taking this one.

const char* const kStream = "weir.CopyStream";

struct Stream {
  static constexpr size_t kBlock = size_t{1} << 16;
  static constexpr size_t kCap = size_t{16} << 20;
  std::thread thread;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> blocks;
  size_t queued = 0;
  bool done = false;       // the source's COPY ended (or failed: error)
  bool discard = false;    // nobody will take the rows: drop them
  bool unbounded = false;  // someone else needs the connection: read it all, whatever the cap
  bool taken = false;
  std::exception_ptr error;

  void push(std::string&& block) {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return discard || unbounded || queued < kCap; });
    if (discard) return;
    queued += block.size();
    blocks.push_back(std::move(block));
    cv.notify_all();
  }
  // Waits for the thread to end; the rows read stay queued (memory then holds the batch).
  void wait_read() {
    {
      std::lock_guard<std::mutex> lock(mu);
      unbounded = true;
    }
    cv.notify_all();
    if (thread.joinable()) thread.join();
  }
  void drop() {
    {
      std::lock_guard<std::mutex> lock(mu);
      discard = true;
      blocks.clear();
      queued = 0;
    }
    cv.notify_all();
    if (thread.joinable()) thread.join();
  }
  ~Stream() { drop(); }
};

using StreamBox = std::shared_ptr<Stream>;

StreamBox& stream_arg(lua_State* L, int idx) {
  auto* box = static_cast<StreamBox*>(luaL_checkudata(L, idx, kStream));
  if (!*box) luaL_argerror(L, idx, "a batch read ahead that was dropped");
  return *box;
}

int stream_gc(lua_State* L) {
  auto* box = static_cast<StreamBox*>(luaL_testudata(L, 1, kStream));
  if (box && *box) {
    (*box)->drop();
    box->reset();
  }
  return 0;
}

int copy_stream(lua_State* L) {
  pg::Connection& src = connection_arg(L, 1);
  std::string sql = luaL_checkstring(L, 2);
  auto* box = static_cast<StreamBox*>(lua_newuserdatauv(L, sizeof(StreamBox), 0));
  new (box) StreamBox(std::make_shared<Stream>());
  luaL_setmetatable(L, kStream);
  StreamBox s = *box;
  pg::Connection* conn = &src;
  s->thread = std::thread([s, conn, sql] {
    try {
      conn->copy_out(sql);
      std::string block;
      const char* buf = nullptr;
      for (long n; (n = conn->read_copy(&buf)) >= 0;) {
        block.append(buf, static_cast<size_t>(n));
        if (block.size() >= Stream::kBlock) {
          s->push(std::move(block));
          block.clear();
        }
      }
      if (!block.empty()) s->push(std::move(block));
    } catch (const std::exception&) {  // no Lua on this thread: stream_send rethrows it there
      s->error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(s->mu);
    s->done = true;
    s->cv.notify_all();
  });
  src.set_background([s] { s->wait_read(); });
  return 1;
}

// stream_send(stream, dst, copy_in_sql): every byte of the source's COPY into dst's COPY; on a
// failure of either side dst's COPY is ended (its transaction then aborted) and the error raised.
int copy_stream_send(lua_State* L) {
  StreamBox s = stream_arg(L, 1);
  pg::Connection& dst = connection_arg(L, 2);
  std::string in_sql = luaL_checkstring(L, 3);
  if (s->taken) return luaL_argerror(L, 1, "a batch that was already sent");
  s->taken = true;
  try {
    dst.copy_in(in_sql);
  } catch (const std::exception&) {
    s->drop();
    throw;
  }
  std::exception_ptr source_error;
  try {
    for (;;) {
      std::string block;
      {
        std::unique_lock<std::mutex> lock(s->mu);
        s->cv.wait(lock, [&] { return s->done || !s->blocks.empty(); });
        if (s->blocks.empty()) break;  // done, all written
        block = std::move(s->blocks.front());
        s->blocks.pop_front();
        s->queued -= block.size();
      }
      s->cv.notify_all();
      dst.write_copy(block.data(), block.size());
    }
    if (s->thread.joinable()) s->thread.join();
    source_error = s->error;
  } catch (const std::exception&) {
    s->drop();
    try {
      dst.end_copy("copy aborted");
    } catch (const std::exception&) {
    }
    throw;
  }
  if (source_error) {
    try {
      dst.end_copy("the source query failed");
    } catch (const std::exception&) {
      // dst reports the abort itself; the source's error is the one to show
    }
    std::rethrow_exception(source_error);
  }
  return 0;
}

// stream_end(dst) -> rows: ends dst's COPY, which says how many rows it took.
int copy_stream_end(lua_State* L) {
  pg::Connection& dst = connection_arg(L, 1);
  lua_pushinteger(L, dst.end_copy().affected());
  return 1;
}

// The column types of a query, from a zero-row run of it.
std::vector<const pg::TypeDesc*> describe(pg::Connection& conn, const std::string& select_sql,
                                          std::vector<std::string>& names) {
  pg::Result r = conn.exec("SELECT * FROM (" + select_sql + ") AS weir_q LIMIT 0");
  names.clear();
  for (int c = 0; c < r.columns(); ++c)
    names.emplace_back(r.column_name(c));
  return conn.describe_columns(r);
}

// ---- reading: COPY binary decoded straight into Lua values ---------------------------------
//
// A read plan says, per column of a query, how its binary form becomes the Lua value db:query
// would give (convert.hpp): integers, floats, bool, numeric (exact text), the text types,
// bytea, uuid, json/jsonb and one-dimensional or nested arrays of these are decoded here; any
// other type (dates and times, enums, domains, user types) is cast to text in the select list,
// so the server prints it exactly as COPY text did and its text goes through push_value.

enum class Dec {
  Bool,
  Int2,
  Int4,
  Int8,
  Oid,
  Float4,
  Float8,
  Numeric,
  Text,
  Bytea,
  Uuid,
  Json,
  Jsonb,
  Array,
  ViaText
};

struct ColumnRead {
  std::string name;
  Dec dec = Dec::ViaText;
  Dec elem = Dec::ViaText;             // element decoder of an array
  const pg::TypeDesc* type = nullptr;  // for ViaText: the type whose text push_value reads
};

const char* const kReadPlan = "weir.CopyReadPlan";

struct ReadPlan {
  std::vector<ColumnRead> columns;
  std::string list;    // the select list: names, with ::text casts for ViaText columns
  bool binary = true;  // false: duplicate column names, read as COPY text (the old path)
};

Dec scalar_dec(Oid t) {
  switch (t) {
    case pg::oid::kBool:
      return Dec::Bool;
    case pg::oid::kInt2:
      return Dec::Int2;
    case pg::oid::kInt4:
      return Dec::Int4;
    case pg::oid::kInt8:
      return Dec::Int8;
    case pg::oid::kOid:
      return Dec::Oid;
    case pg::oid::kFloat4:
      return Dec::Float4;
    case pg::oid::kFloat8:
      return Dec::Float8;
    case pg::oid::kNumeric:
      return Dec::Numeric;
    case pg::oid::kText:
    case pg::oid::kVarchar:
    case pg::oid::kBpchar:
    case pg::oid::kName:
      return Dec::Text;
    case pg::oid::kBytea:
      return Dec::Bytea;
    case 2950:
      return Dec::Uuid;
    case pg::oid::kJson:
      return Dec::Json;
    case pg::oid::kJsonb:
      return Dec::Jsonb;
    default:
      return Dec::ViaText;
  }
}

Dec array_elem_dec(Oid t) {
  switch (t) {
    case pg::oid::kBoolArray:
      return Dec::Bool;
    case pg::oid::kInt2Array:
      return Dec::Int2;
    case pg::oid::kInt4Array:
      return Dec::Int4;
    case pg::oid::kInt8Array:
      return Dec::Int8;
    case pg::oid::kFloat4Array:
      return Dec::Float4;
    case pg::oid::kFloat8Array:
      return Dec::Float8;
    case pg::oid::kNumericArray:
      return Dec::Numeric;
    case pg::oid::kTextArray:
    case 1014:  // _bpchar
    case 1015:  // _varchar
    case 1003:  // _name
      return Dec::Text;
    case pg::oid::kByteaArray:
      return Dec::Bytea;
    case 2951:
      return Dec::Uuid;
    case pg::oid::kJsonArray:
      return Dec::Json;
    case pg::oid::kJsonbArray:
      return Dec::Jsonb;
    default:
      return Dec::ViaText;
  }
}

int read_plan_gc(lua_State* L) {
  auto* p = static_cast<ReadPlan**>(luaL_testudata(L, 1, kReadPlan));
  if (p && *p) {
    delete *p;
    *p = nullptr;
  }
  return 0;
}

ReadPlan& read_plan_arg(lua_State* L, int idx) {
  auto* p = static_cast<ReadPlan**>(luaL_checkudata(L, idx, kReadPlan));
  if (!*p) luaL_argerror(L, idx, "a read plan that was freed");
  return **p;
}

// read_plan(src, select_sql) -> plan: one zero-row run of the query for its column types.
int copy_read_plan(lua_State* L) {
  pg::Connection& src = connection_arg(L, 1);
  std::string sql = luaL_checkstring(L, 2);
  auto* box = static_cast<ReadPlan**>(lua_newuserdatauv(L, sizeof(ReadPlan*), 0));
  *box = nullptr;
  luaL_setmetatable(L, kReadPlan);
  *box = new ReadPlan();
  ReadPlan& plan = **box;
  pg::Result r = src.exec("SELECT * FROM (" + sql + ") AS weir_q LIMIT 0");
  std::vector<const pg::TypeDesc*> types = src.describe_columns(r);
  for (int c = 0; c < r.columns(); ++c) {
    ColumnRead col;
    col.name = r.column_name(c);
    col.type = types[static_cast<size_t>(c)];
    Oid t = r.column_type(c);
    col.dec = scalar_dec(t);
    if (col.dec == Dec::ViaText && pg::builtin_type(t) &&
        pg::builtin_type(t)->kind == pg::Kind::Array) {
      col.elem = array_elem_dec(t);
      if (col.elem != Dec::ViaText) col.dec = Dec::Array;
    }
    for (const auto& other : plan.columns)
      if (other.name == col.name) plan.binary = false;
    std::string q = src.quote_ident(col.name);
    if (!plan.list.empty()) plan.list += ", ";
    plan.list += col.dec == Dec::ViaText ? q + "::text AS " + q : q;
    plan.columns.push_back(std::move(col));
  }
  return 1;
}

// plan:list() -> the select list, or nil when the query must be read as COPY text.
int read_plan_list(lua_State* L) {
  ReadPlan& plan = read_plan_arg(L, 1);
  if (!plan.binary) return 0;
  lua_pushlstring(L, plan.list.data(), plan.list.size());
  return 1;
}

void push_json_text(lua_State* L, const char* data, size_t n) {
  nlohmann::json j;
  std::string why;
  if (!json::parse(data, n, j, why)) throw std::runtime_error("JSON value from the server: " + why);
  lua::push_json(L, j);
}

void push_decoded(lua_State* L, Dec dec, const char* d, int32_t n);

void push_array_level(lua_State* L, const pg::BinaryArray& a, Dec elem, size_t dim, size_t& at) {
  int32_t count = a.dims[dim];
  lua_createtable(L, count, 0);
  for (int32_t i = 1; i <= count; ++i) {
    if (dim + 1 < a.dims.size()) {
      push_array_level(L, a, elem, dim + 1, at);
    } else {
      const pg::BinaryField& f = a.items[at++];
      if (f.len < 0)
        lua::push_null(L);
      else
        push_decoded(L, elem, f.data, f.len);
    }
    lua_rawseti(L, -2, i);
  }
}

void need(int32_t n, int32_t want, const char* type) {
  if (n != want)
    throw std::runtime_error(std::string("COPY binary: a malformed ") + type + " value");
}

void push_decoded(lua_State* L, Dec dec, const char* d, int32_t n) {
  switch (dec) {
    case Dec::Bool:
      need(n, 1, "bool");
      lua_pushboolean(L, d[0] != 0);
      return;
    case Dec::Int2:
      need(n, 2, "int2");
      lua_pushinteger(L, static_cast<int16_t>(pg::read_u16(d)));
      return;
    case Dec::Int4:
      need(n, 4, "int4");
      lua_pushinteger(L, static_cast<int32_t>(pg::read_u32(d)));
      return;
    case Dec::Oid:
      need(n, 4, "oid");
      lua_pushinteger(L, static_cast<lua_Integer>(pg::read_u32(d)));
      return;
    case Dec::Int8:
      need(n, 8, "int8");
      lua_pushinteger(L, static_cast<lua_Integer>(static_cast<int64_t>(pg::read_u64(d))));
      return;
    case Dec::Float4: {
      need(n, 4, "float4");
      uint32_t bits = pg::read_u32(d);
      float f;
      std::memcpy(&f, &bits, sizeof f);
      lua_pushnumber(L, pg::float4_value(f));
      return;
    }
    case Dec::Float8: {
      need(n, 8, "float8");
      uint64_t bits = pg::read_u64(d);
      double f;
      std::memcpy(&f, &bits, sizeof f);
      lua_pushnumber(L, f);
      return;
    }
    case Dec::Numeric: {
      std::string text = pg::numeric_text(d, static_cast<size_t>(n));
      lua_pushlstring(L, text.data(), text.size());
      return;
    }
    case Dec::Text:
    case Dec::Bytea:
      lua_pushlstring(L, d, static_cast<size_t>(n));
      return;
    case Dec::Uuid: {
      std::string text = pg::uuid_text(d, static_cast<size_t>(n));
      lua_pushlstring(L, text.data(), text.size());
      return;
    }
    case Dec::Json:
      push_json_text(L, d, static_cast<size_t>(n));
      return;
    case Dec::Jsonb:
      if (n < 1 || d[0] != 1) throw std::runtime_error("COPY binary: an unknown jsonb version");
      push_json_text(L, d + 1, static_cast<size_t>(n - 1));
      return;
    case Dec::Array:
    case Dec::ViaText:
      break;
  }
  throw std::logic_error("push_decoded: not a scalar decoder");
}

// ---- lazy JSON columns ------------------------------------------------------------------------
//
// Decoding a json/jsonb value builds a Lua table per object and array, and writing it back
// encodes it again: most of what a transform row costs when the transform never looks at it.
// With `lazy`, a batch's json/jsonb columns stay in the COPY bytes until the transform reads
// them: such a row has a metatable whose __index decodes the column on first use (and stores
// it in the row), whose __newindex forgets the pending value once the transform sets the
// column, and whose __pairs decodes every pending column first, so reading, assigning, pairs
// and json.encode (which decodes first) see exactly the eager row. When the transform returns
// the row with the column still unread, write() sends the server's own text of it into a jsonb
// column (for json columns it is decoded and encoded, as before). The metatable is protected:
// setmetatable on such a row raises instead of losing the pending columns.

const char* const kLazyBatch = "weir.CopyLazyBatch";

struct LazySlot {
  size_t off = 0;
  int32_t len = -1;  // -1: NULL
  bool pending = true;
};

struct LazyBatch {
  std::string data;
  std::vector<std::string> names;  // the lazy columns
  std::vector<Dec> decs;
  std::vector<LazySlot> slots;  // rows × names, row-major
};

LazyBatch& lazy_batch_of(lua_State* L, int idx) {
  auto* box = static_cast<LazyBatch**>(luaL_checkudata(L, idx, kLazyBatch));
  if (!*box) luaL_error(L, "a copy batch that was freed");
  return **box;
}

int lazy_batch_gc(lua_State* L) {
  auto* box = static_cast<LazyBatch**>(luaL_testudata(L, 1, kLazyBatch));
  if (box && *box) {
    delete *box;
    *box = nullptr;
  }
  return 0;
}

// The row's index in its batch (0-based), from the batch's weak map (user value 1), or -1.
long lazy_row_index(lua_State* L, int batch_idx, int row_idx) {
  lua_getiuservalue(L, batch_idx, 1);
  lua_pushvalue(L, row_idx);
  lua_rawget(L, -2);
  long i = lua_isinteger(L, -1) ? static_cast<long>(lua_tointeger(L, -1)) : -1;
  lua_pop(L, 2);
  return i;
}

// The lazy column named by the string at `key_idx`, or -1.
int lazy_column(lua_State* L, const LazyBatch& b, int key_idx) {
  if (lua_type(L, key_idx) != LUA_TSTRING) return -1;
  size_t len;
  const char* k = lua_tolstring(L, key_idx, &len);
  for (size_t c = 0; c < b.names.size(); ++c)
    if (b.names[c].size() == len && std::memcmp(b.names[c].data(), k, len) == 0)
      return static_cast<int>(c);
  return -1;
}

// Decodes slot (row, column) of the batch at `batch_idx` into the row at `row_idx` (rawset)
// and pushes the value.
void lazy_materialize(lua_State* L, int batch_idx, int row_idx, long row, int col) {
  LazyBatch& b = lazy_batch_of(L, batch_idx);
  LazySlot& s = b.slots[static_cast<size_t>(row) * b.names.size() + static_cast<size_t>(col)];
  lua_pushlstring(L, b.names[static_cast<size_t>(col)].data(),
                  b.names[static_cast<size_t>(col)].size());
  if (s.len < 0)
    lua::push_null(L);
  else
    push_decoded(L, b.decs[static_cast<size_t>(col)], b.data.data() + s.off, s.len);
  s.pending = false;
  lua_pushvalue(L, -1);
  lua_insert(L, -3);  // value, key, value
  lua_rawset(L, row_idx);
}

// __index(row, key), upvalue 1: the batch.
int lazy_index(lua_State* L) {
  int batch = lua_upvalueindex(1);
  LazyBatch& b = lazy_batch_of(L, batch);
  int col = lazy_column(L, b, 2);
  if (col < 0) return 0;
  long row = lazy_row_index(L, batch, 1);
  if (row < 0 ||
      !b.slots[static_cast<size_t>(row) * b.names.size() + static_cast<size_t>(col)].pending)
    return 0;
  lazy_materialize(L, batch, 1, row, col);
  return 1;
}

// __newindex(row, key, value): the transform's value replaces the pending one.
int lazy_newindex(lua_State* L) {
  int batch = lua_upvalueindex(1);
  LazyBatch& b = lazy_batch_of(L, batch);
  int col = lazy_column(L, b, 2);
  if (col >= 0) {
    long row = lazy_row_index(L, batch, 1);
    if (row >= 0)
      b.slots[static_cast<size_t>(row) * b.names.size() + static_cast<size_t>(col)].pending = false;
  }
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 0;
}

// Decodes every pending column of the row at `row_idx` (a row of the batch at `batch_idx`).
void lazy_materialize_all(lua_State* L, int batch_idx, int row_idx) {
  LazyBatch& b = lazy_batch_of(L, batch_idx);
  long row = lazy_row_index(L, batch_idx, row_idx);
  if (row < 0) return;
  for (size_t c = 0; c < b.names.size(); ++c) {
    if (!b.slots[static_cast<size_t>(row) * b.names.size() + c].pending) continue;
    lazy_materialize(L, batch_idx, row_idx, row, static_cast<int>(c));
    lua_pop(L, 1);
  }
}

int raw_next(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

// __pairs(row) -> next, row, nil, after decoding every pending column.
int lazy_pairs(lua_State* L) {
  lazy_materialize_all(L, lua_upvalueindex(1), 1);
  lua_pushcfunction(L, raw_next);
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

// Pushes the batch of a lazy row at `idx` (its metatable's __weir_batch), or returns false.
bool push_lazy_batch(lua_State* L, int idx) {
  if (!lua_getmetatable(L, idx)) return false;
  lua_getfield(L, -1, "__weir_batch");
  lua_remove(L, -2);
  if (luaL_testudata(L, -1, kLazyBatch)) return true;
  lua_pop(L, 1);
  return false;
}

// materialize(row): decodes the pending columns of a lazy row (nothing for any other value).
int copy_materialize(lua_State* L) {
  if (!lua_istable(L, 1)) return 0;  // a transform may return anything; quarantine says what
  if (!push_lazy_batch(L, 1)) return 0;
  lazy_materialize_all(L, lua_gettop(L), 1);
  return 0;
}

// Builds the batch's metatable and weak row map; pushes the batch userdata.
LazyBatch& new_lazy_batch(lua_State* L) {
  auto* box = static_cast<LazyBatch**>(lua_newuserdatauv(L, sizeof(LazyBatch*), 2));
  *box = nullptr;
  luaL_setmetatable(L, kLazyBatch);
  *box = new LazyBatch();
  int batch = lua_gettop(L);
  lua_newtable(L);  // row -> index, weak keys
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setiuservalue(L, batch, 1);
  lua_createtable(L, 0, 5);  // the rows' metatable
  lua_pushvalue(L, batch);
  lua_pushcclosure(L, guarded<lazy_index>, 1);
  lua_setfield(L, -2, "__index");
  lua_pushvalue(L, batch);
  lua_pushcclosure(L, guarded<lazy_newindex>, 1);
  lua_setfield(L, -2, "__newindex");
  lua_pushvalue(L, batch);
  lua_pushcclosure(L, guarded<lazy_pairs>, 1);
  lua_setfield(L, -2, "__pairs");
  lua_pushvalue(L, batch);
  lua_setfield(L, -2, "__weir_batch");
  lua_pushcfunction(L, guarded<copy_materialize>);
  lua_setfield(L, -2, "__weir_materialize");  // json.encode and db.json call it (lua/convert.cpp)
  lua_pushliteral(L, "weir copy row");
  lua_setfield(L, -2, "__metatable");
  lua_setiuservalue(L, batch, 2);
  return **box;
}

// The rows of a binary COPY stream as a list of Lua row tables (pushed), by `plan`; with
// `lazy`, json/jsonb columns are left in `data` until read (see LazyBatch).
void push_binary_rows(lua_State* L, const ReadPlan& plan, std::string&& data, bool lazy) {
  size_t ncols = plan.columns.size();
  luaL_checkstack(L, static_cast<int>(ncols) + 12, "too many columns");
  int names = lua_gettop(L) + 1;
  for (const auto& c : plan.columns)
    lua_pushlstring(L, c.name.data(), c.name.size());
  std::vector<int> lazy_index_of(ncols, -1);
  LazyBatch* batch = nullptr;
  int batch_idx = 0, weak = 0, meta = 0;
  if (lazy) {
    for (size_t c = 0; c < ncols; ++c) {
      Dec d = plan.columns[c].dec;
      if (d != Dec::Json && d != Dec::Jsonb) continue;
      if (!batch) {
        batch = &new_lazy_batch(L);
        batch_idx = lua_gettop(L);
        lua_getiuservalue(L, batch_idx, 1);
        weak = lua_gettop(L);
        lua_getiuservalue(L, batch_idx, 2);
        meta = lua_gettop(L);
      }
      lazy_index_of[c] = static_cast<int>(batch->names.size());
      batch->names.push_back(plan.columns[c].name);
      batch->decs.push_back(d);
    }
    if (batch) batch->data = std::move(data);
  }
  const std::string& bytes = batch ? batch->data : data;
  lua_newtable(L);
  int rows = lua_gettop(L);
  pg::BinaryTuples tuples(bytes.data(), bytes.size());
  std::vector<pg::BinaryField> fields;
  lua_Integer count = 0;
  while (tuples.next(fields)) {
    if (fields.size() != ncols)
      throw std::runtime_error("copy.read: a row has the wrong number of fields");
    lua_createtable(L, 0, static_cast<int>(ncols));
    for (size_t c = 0; c < ncols; ++c) {
      const ColumnRead& col = plan.columns[c];
      const pg::BinaryField& f = fields[c];
      if (lazy_index_of[c] >= 0) {
        LazySlot slot;
        slot.off = f.len < 0 ? 0 : static_cast<size_t>(f.data - bytes.data());
        slot.len = f.len;
        batch->slots.push_back(slot);
        continue;
      }
      lua_pushvalue(L, names + static_cast<int>(c));
      try {
        if (f.len < 0) {
          lua::push_null(L);
        } else if (col.dec == Dec::ViaText) {
          std::string error;
          if (!lua::push_value(L, *col.type, f.data, f.len, error)) throw std::runtime_error(error);
        } else if (col.dec == Dec::Array) {
          pg::BinaryArray a = pg::parse_binary_array(f.data, static_cast<size_t>(f.len));
          size_t at = 0;
          if (a.dims.empty())
            lua_createtable(L, 0, 0);
          else
            push_array_level(L, a, col.elem, 0, at);
        } else {
          push_decoded(L, col.dec, f.data, f.len);
        }
      } catch (const std::runtime_error& e) {
        throw std::runtime_error("copy.read: column \"" + col.name + "\": " + e.what());
      }
      lua_rawset(L, -3);
    }
    if (batch) {
      lua_pushvalue(L, meta);
      lua_setmetatable(L, -2);
      lua_pushvalue(L, -1);
      lua_pushinteger(L, count);
      lua_rawset(L, weak);
    }
    lua_rawseti(L, rows, ++count);
  }
  lua_replace(L, names);  // the rows where the first name was
  lua_settop(L, names);
}

void push_column_names(lua_State* L, const std::vector<std::string>& names) {
  lua_createtable(L, static_cast<int>(names.size()), 0);
  for (size_t c = 0; c < names.size(); ++c) {
    lua_pushlstring(L, names[c].data(), names[c].size());
    lua_rawseti(L, -2, static_cast<lua_Integer>(c + 1));
  }
}

void push_plan_names(lua_State* L, const ReadPlan& plan) {
  std::vector<std::string> names;
  for (const auto& c : plan.columns)
    names.push_back(c.name);
  push_column_names(L, names);
}

// The whole of a COPY … TO STDOUT (FORMAT binary), as one buffer.
std::string copy_out_all(pg::Connection& src, const std::string& sql) {
  std::string data;
  src.copy_out("COPY (" + sql + ") TO STDOUT (FORMAT binary)");
  const char* buf = nullptr;
  for (long len; (len = src.read_copy(&buf)) >= 0;)
    data.append(buf, static_cast<size_t>(len));
  return data;
}

// ---- reading on a thread: the next batch comes in while Lua transforms this one -------------

const char* const kPending = "weir.CopyPending";

// The connection holds the Pending too (its background wait), so either may go first.
struct Pending {
  std::thread thread;
  std::string data;  // the COPY's bytes
  std::exception_ptr error;
  bool taken = false;
  void finish() {
    if (thread.joinable()) thread.join();
  }
  ~Pending() { finish(); }
};

using PendingBox = std::shared_ptr<Pending>;

PendingBox* pending_box(lua_State* L, int idx) {
  return static_cast<PendingBox*>(luaL_testudata(L, idx, kPending));
}

// __gc, __close and discard(pending): waits for the read and drops what it read.
int pending_gc(lua_State* L) {
  PendingBox* box = pending_box(L, 1);
  if (box && *box) {
    (*box)->finish();
    box->reset();
  }
  return 0;
}

// fetch(src, select_sql) -> pending: the COPY runs on a thread of its own; until it ends, every
// other use of src waits for it (Connection::set_background).
int copy_fetch(lua_State* L) {
  pg::Connection& src = connection_arg(L, 1);
  std::string sql = luaL_checkstring(L, 2);
  auto* box = static_cast<PendingBox*>(lua_newuserdatauv(L, sizeof(PendingBox), 0));
  new (box) PendingBox(std::make_shared<Pending>());
  luaL_setmetatable(L, kPending);
  PendingBox p = *box;
  pg::Connection* conn = &src;
  p->thread = std::thread([p, conn, sql] {
    try {
      p->data = copy_out_all(*conn, sql);
    } catch (const std::exception&) {  // no Lua on this thread: take() rethrows it there
      p->error = std::current_exception();
    }
  });
  src.set_background([p] { p->finish(); });
  return 1;
}

// take(pending, plan [, lazy]) -> rows, columns
int copy_take(lua_State* L) {
  PendingBox* box = pending_box(L, 1);
  if (!box) return luaL_typeerror(L, 1, "a pending copy read");
  ReadPlan& plan = read_plan_arg(L, 2);
  bool lazy = lua_toboolean(L, 3);
  if (!*box || (*box)->taken) return luaL_argerror(L, 1, "a batch that was already taken");
  Pending& p = **box;
  p.finish();
  p.taken = true;
  std::string data = std::move(p.data);
  if (p.error) std::rethrow_exception(p.error);
  push_binary_rows(L, plan, std::move(data), lazy);
  push_plan_names(L, plan);
  return 2;
}

int copy_read(lua_State* L) {
  pg::Connection& src = connection_arg(L, 1);
  std::string sql = luaL_checkstring(L, 2);
  if (!lua_isnoneornil(L, 3)) {
    ReadPlan& plan = read_plan_arg(L, 3);
    if (plan.binary) {
      push_binary_rows(L, plan, copy_out_all(src, sql), lua_toboolean(L, 4));
      push_plan_names(L, plan);
      return 2;
    }
  }
  std::vector<std::string> names;
  std::vector<const pg::TypeDesc*> types = describe(src, sql, names);
  lua_newtable(L);  // rows
  int rows = lua_gettop(L);
  src.copy_out("COPY (" + sql + ") TO STDOUT");
  const char* buf = nullptr;
  lua_Integer n = 0;
  for (long len; (len = src.read_copy(&buf)) >= 0;) {
    pg::Row row = pg::parse_text_line(buf, static_cast<size_t>(len));
    if (row.size() != names.size())
      throw std::runtime_error("copy.read: a row has the wrong number of fields");
    lua_createtable(L, 0, static_cast<int>(row.size()));
    for (size_t c = 0; c < row.size(); ++c) {
      std::string error;
      if (!row[c]) {
        lua::push_null(L);
      } else if (!lua::push_value(L, *types[c], row[c]->data(), static_cast<int>(row[c]->size()),
                                  error)) {
        lua_pop(L, 1);
        throw std::runtime_error("copy.read: column \"" + names[c] + "\": " + error);
      }
      lua_setfield(L, -2, names[c].c_str());
    }
    lua_rawseti(L, rows, ++n);
  }
  push_column_names(L, names);
  return 2;
}

const char kHex[] = "0123456789abcdef";

// The value at the top of the stack as a COPY text field for a column of type `type`.
pg::Field field_of(lua_State* L, const pg::TypeDesc& type, const std::string& column) {
  int idx = lua_gettop(L);
  if (lua_isnil(L, idx) || lua::is_null(L, idx)) return std::nullopt;
  if (lua_istable(L, idx) && !lua_getmetatable(L, idx)) {
    // a plain table: JSON for json columns, an array literal for array columns
    lua::push_wrapper(L, type.kind == pg::Kind::Array ? lua::kArrayWrapper : lua::kJsonWrapper,
                      idx);
    lua_replace(L, idx);
  } else if (lua_istable(L, idx)) {
    lua_pop(L, 1);  // the metatable
    if (type.kind == pg::Kind::Json && !lua::is_null(L, idx)) {
      luaL_getmetatable(L, lua::kJsonWrapper);
      lua_getmetatable(L, idx);
      bool wrapped = lua_rawequal(L, -1, -2);
      lua_pop(L, 2);
      if (!wrapped) {  // a decoded JSON object or array
        lua::push_wrapper(L, lua::kJsonWrapper, idx);
        lua_replace(L, idx);
      }
    }
  }
  pg::Param p;
  std::string error;
  if (!lua::to_param(L, idx, p, error))
    throw std::invalid_argument("copy.write: column \"" + column + "\": " + error);
  if (p.null) return std::nullopt;
  if (!p.binary) return std::move(p.value);
  std::string hex = "\\x";
  for (unsigned char c : p.value) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  return hex;
}

const char* const kWritePlan = "weir.CopyWritePlan";

struct WritePlan {
  std::vector<std::string> columns;
  std::vector<pg::TypeDesc> types;
  std::string list;  // the quoted column list
};

int write_plan_gc(lua_State* L) {
  auto* p = static_cast<WritePlan**>(luaL_testudata(L, 1, kWritePlan));
  if (p && *p) {
    delete *p;
    *p = nullptr;
  }
  return 0;
}

std::vector<std::string> column_list(lua_State* L, int idx) {
  luaL_checktype(L, idx, LUA_TTABLE);
  std::vector<std::string> columns;
  for (lua_Integer i = 1; lua_rawgeti(L, idx, i) == LUA_TSTRING; ++i) {
    columns.emplace_back(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return columns;
}

// write_plan(dst, table, columns) -> plan: the columns' types, from one zero-row query.
int copy_write_plan(lua_State* L) {
  pg::Connection& dst = connection_arg(L, 1);
  std::string table = luaL_checkstring(L, 2);
  std::vector<std::string> columns = column_list(L, 3);
  auto* box = static_cast<WritePlan**>(lua_newuserdatauv(L, sizeof(WritePlan*), 0));
  *box = nullptr;
  luaL_setmetatable(L, kWritePlan);
  *box = new WritePlan();
  WritePlan& plan = **box;
  for (const auto& c : columns)
    plan.list += (plan.list.empty() ? "" : ", ") + dst.quote_ident(c);
  std::vector<std::string> ignored;
  for (const pg::TypeDesc* t : describe(dst, "SELECT " + plan.list + " FROM " + table, ignored))
    plan.types.push_back(*t);
  plan.columns = std::move(columns);
  return 1;
}

// A copy of the sequence at the top of the stack (replacing it) whose elements, at any depth,
// are wrapped as read gives them: a bytea[] column's strings are raw bytes (db.bytea), a
// json[]/jsonb[] column's decoded objects and arrays are JSON values (db.json), not sub-arrays.
void wrap_array_elements(lua_State* L, pg::Kind elem, int depth) {
  if (depth > 6 || !lua_checkstack(L, 8)) throw std::invalid_argument("an array nested too deeply");
  int src = lua_gettop(L);
  lua_Integer n = luaL_len(L, src);
  lua_createtable(L, static_cast<int>(n), 0);
  for (lua_Integer i = 1; i <= n; ++i) {
    int t = lua_rawgeti(L, src, i);
    if (t == LUA_TSTRING && elem == pg::Kind::Bytea) {
      lua::push_wrapper(L, lua::kByteaWrapper, -1);
      lua_remove(L, -2);
    } else if (t == LUA_TTABLE && !lua_getmetatable(L, -1)) {
      wrap_array_elements(L, elem, depth + 1);
    } else if (t == LUA_TTABLE) {
      luaL_getmetatable(L, lua::kJsonArrayMarker);
      luaL_getmetatable(L, lua::kJsonObjectMarker);
      bool decoded = lua_rawequal(L, -1, -3) || lua_rawequal(L, -2, -3);
      lua_pop(L, 3);  // the markers and the metatable
      if (decoded && elem == pg::Kind::Json) {
        lua::push_wrapper(L, lua::kJsonWrapper, -1);
        lua_remove(L, -2);
      }
    }
    lua_rawseti(L, -2, i);
  }
  lua_replace(L, src);
}

// The value at the top of the stack as a COPY text field, appended to `out` (and popped).
// Integers, strings and booleans directly; a string into a bytea column as its bytes (hex);
// anything else as field_of converts it.
void append_field(lua_State* L, const pg::TypeDesc& type, const std::string& column,
                  std::string& out) {
  if (type.kind == pg::Kind::Bytea && lua_type(L, -1) == LUA_TSTRING) {
    size_t len;
    const char* s = lua_tolstring(L, -1, &len);
    out += "\\\\x";
    for (size_t i = 0; i < len; ++i) {
      auto c = static_cast<unsigned char>(s[i]);
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    lua_pop(L, 1);
    return;
  }
  if (type.kind == pg::Kind::Array &&
      (type.elem == pg::Kind::Bytea || type.elem == pg::Kind::Json) && lua_istable(L, -1)) {
    if (lua_getmetatable(L, -1))
      lua_pop(L, 1);  // db.array(…) and the like: as they are
    else
      wrap_array_elements(L, type.elem, 0);
  }
  switch (lua_type(L, -1)) {
    case LUA_TNIL:
      out += "\\N";
      break;
    case LUA_TBOOLEAN:
      out += lua_toboolean(L, -1) ? "true" : "false";
      break;
    case LUA_TSTRING: {
      size_t len;
      const char* s = lua_tolstring(L, -1, &len);
      if (std::memchr(s, '\0', len))
        throw std::invalid_argument("copy.write: column \"" + column +
                                    "\": string contains a zero byte; wrap binary data in "
                                    "db.bytea()");
      pg::append_copy_text(out, s, len);
      break;
    }
    case LUA_TNUMBER:
      if (lua_isinteger(L, -1)) {
        char buf[24];
        auto r = std::to_chars(buf, buf + sizeof buf, lua_tointeger(L, -1));
        out.append(buf, r.ptr);
        break;
      }
      [[fallthrough]];
    default: {
      pg::Field f = field_of(L, type, column);
      if (f)
        pg::append_copy_text(out, f->data(), f->size());
      else
        out += "\\N";
    }
  }
  lua_pop(L, 1);
}

int copy_write(lua_State* L) {
  pg::Connection& dst = connection_arg(L, 1);
  std::string table = luaL_checkstring(L, 2);
  std::vector<std::string> columns = column_list(L, 3);
  luaL_checktype(L, 4, LUA_TTABLE);
  WritePlan local;
  const WritePlan* plan = &local;
  if (!lua_isnoneornil(L, 5)) {
    auto* box = static_cast<WritePlan**>(luaL_checkudata(L, 5, kWritePlan));
    if (!*box || (*box)->columns != columns)
      return luaL_argerror(L, 5, "a write plan of other columns");
    plan = *box;
  } else {
    for (const auto& c : columns)
      local.list += (local.list.empty() ? "" : ", ") + dst.quote_ident(c);
    std::vector<std::string> ignored;
    for (const pg::TypeDesc* t : describe(dst, "SELECT " + local.list + " FROM " + table, ignored))
      local.types.push_back(*t);
  }
  luaL_checkstack(L, static_cast<int>(columns.size()) + 8, "too many columns");
  int names = lua_gettop(L) + 1;
  for (const auto& c : columns)
    lua_pushlstring(L, c.data(), c.size());

  // Convert everything first: a bad value raises before the COPY starts.
  std::string buffer;
  lua_Integer n = 0;
  for (lua_Integer i = 1; lua_rawgeti(L, 4, i) == LUA_TTABLE; ++i) {
    int row = lua_gettop(L);
    // A lazy row (LazyBatch): its unread json columns go to jsonb columns as the server sent them.
    LazyBatch* lazy = nullptr;
    long lazy_row = -1;
    if (push_lazy_batch(L, row)) {
      lazy = &lazy_batch_of(L, -1);
      lazy_row = lazy_row_index(L, lua_gettop(L), row);
      lua_pop(L, 1);
      if (lazy_row < 0) lazy = nullptr;
    }
    for (size_t c = 0; c < columns.size(); ++c) {
      if (c) buffer += '\t';
      lua_pushvalue(L, names + static_cast<int>(c));
      if (lazy) {
        lua_pushvalue(L, -1);
        if (lua_rawget(L, row) == LUA_TNIL) {
          int lc = lazy_column(L, *lazy, -2);
          const LazySlot* slot =
              lc < 0 ? nullptr
                     : &lazy->slots[static_cast<size_t>(lazy_row) * lazy->names.size() +
                                    static_cast<size_t>(lc)];
          if (slot && slot->pending && plan->types[c].name == "jsonb") {
            lua_pop(L, 2);
            if (slot->len < 0) {
              buffer += "\\N";
            } else {
              const char* d = lazy->data.data() + slot->off;
              size_t n = static_cast<size_t>(slot->len);
              if (lazy->decs[static_cast<size_t>(lc)] == Dec::Jsonb) ++d, --n;  // the version byte
              pg::append_copy_text(buffer, d, n);
            }
            continue;
          }
        }
        lua_pop(L, 1);
      }
      lua_gettable(L, row);
      if (lua::is_null(L, -1)) {
        lua_pop(L, 1);
        buffer += "\\N";
        continue;
      }
      append_field(L, plan->types[c], columns[c], buffer);
    }
    buffer += '\n';
    lua_pop(L, 1);
    ++n;
  }
  lua_pop(L, 1);
  dst.copy_in("COPY " + table + " (" + plan->list + ") FROM STDIN");
  lua_pushinteger(L, dst.send_copy(buffer.data(), buffer.size()).affected());
  return 1;
}

// columns_of(rows, seen): seen[key] = true for each string key of each row in the list `rows`,
// a lazy row's pending columns included (without decoding them).
int copy_columns_of(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  for (lua_Integer i = 1; lua_rawgeti(L, 1, i) == LUA_TTABLE; ++i) {
    int row = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, row)) {
      lua_pop(L, 1);
      if (lua_type(L, -1) == LUA_TSTRING) {
        lua_pushvalue(L, -1);
        lua_pushboolean(L, 1);
        lua_rawset(L, 2);
      }
    }
    if (push_lazy_batch(L, row)) {
      LazyBatch& b = lazy_batch_of(L, -1);
      long r = lazy_row_index(L, lua_gettop(L), row);
      for (size_t c = 0; r >= 0 && c < b.names.size(); ++c) {
        if (!b.slots[static_cast<size_t>(r) * b.names.size() + c].pending) continue;
        lua_pushlstring(L, b.names[c].data(), b.names[c].size());
        lua_pushboolean(L, 1);
        lua_rawset(L, 2);
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return 0;
}

const luaL_Reg kRowFunctions[] = {
    {"stream", guarded<copy_stream>},
    {"stream_send", guarded<copy_stream_send>},
    {"stream_end", guarded<copy_stream_end>},
    {"read", guarded<copy_read>},
    {"read_plan", guarded<copy_read_plan>},
    {"fetch", guarded<copy_fetch>},
    {"take", guarded<copy_take>},
    {"discard", guarded<pending_gc>},
    {"drop_stream", guarded<stream_gc>},
    {"write", guarded<copy_write>},
    {"write_plan", guarded<copy_write_plan>},
    {"materialize", guarded<copy_materialize>},
    {"columns_of", guarded<copy_columns_of>},
    {nullptr, nullptr},
};

}  // namespace

void add_copy_rows(lua_State* L) {
  if (luaL_newmetatable(L, kReadPlan)) {
    lua_pushcfunction(L, read_plan_gc);
    lua_setfield(L, -2, "__gc");
    lua_newtable(L);
    lua_pushcfunction(L, guarded<read_plan_list>);
    lua_setfield(L, -2, "list");
    lua_setfield(L, -2, "__index");
    lua::protect_metatable(L, -1);
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, kWritePlan)) {
    lua_pushcfunction(L, write_plan_gc);
    lua_setfield(L, -2, "__gc");
    lua::protect_metatable(L, -1);
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, kStream)) {
    lua_pushcfunction(L, stream_gc);
    lua_setfield(L, -2, "__gc");
    lua::protect_metatable(L, -1);
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, kLazyBatch)) {
    lua_pushcfunction(L, lazy_batch_gc);
    lua_setfield(L, -2, "__gc");
    lua::protect_metatable(L, -1);
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, kPending)) {
    lua_pushcfunction(L, pending_gc);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, pending_gc);
    lua_setfield(L, -2, "__close");
    lua::protect_metatable(L, -1);
  }
  lua_pop(L, 1);
  luaL_setfuncs(L, kRowFunctions, 0);
}

}  // namespace weir::modules
