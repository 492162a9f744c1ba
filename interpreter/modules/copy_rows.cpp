// The rows of copy.table's data path (see copy_rows.hpp).
#include "modules/copy_rows.hpp"

#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
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
using pg::put_array_field;
using pg::put_field;
using pg::put_header;
using pg::put_numeric;
using pg::put_u16;
using pg::put_u32;
using pg::put_u64;
using pg::put_uuid;

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
  Oid oid = 0;
  // For a ViaText column of a built-in type with a binary form: where its binary bytes come in
  // the COPY (a column after the named ones), so a transform that leaves the column alone
  // writes it back as it came; -1 otherwise.
  int raw = -1;
};

const char* const kReadPlan = "weir.CopyReadPlan";

struct ReadPlan {
  std::vector<ColumnRead> columns;
  std::string list;    // the select list: names, with ::text casts for ViaText columns, then
                       // the raw columns
  bool binary = true;  // false: duplicate column names, read as COPY text (the old path)
  size_t fields = 0;   // fields per COPY tuple: the columns and the raw columns
};

// A built-in type (the same oid in every database) whose value can pass through binary.
constexpr Oid kFirstUserOid = 16384;
// WritePlan::forms' mark for an enum, whose binary form is its label (anyenum's oid).
constexpr Oid kEnumForm = 3500;

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
  std::string via_text;  // the built-in ViaText types, for the catalog's say on their binary form
  for (int c = 0; c < r.columns(); ++c) {
    ColumnRead col;
    col.name = r.column_name(c);
    col.type = types[static_cast<size_t>(c)];
    Oid t = r.column_type(c);
    col.oid = t;
    col.dec = scalar_dec(t);
    if (col.dec == Dec::ViaText && pg::builtin_type(t) &&
        pg::builtin_type(t)->kind == pg::Kind::Array) {
      col.elem = array_elem_dec(t);
      if (col.elem != Dec::ViaText) col.dec = Dec::Array;
    }
    if (col.dec == Dec::ViaText && t < kFirstUserOid)
      via_text += (via_text.empty() ? "" : ", ") + std::to_string(t);
    for (const auto& other : plan.columns)
      if (other.name == col.name) plan.binary = false;
    std::string q = src.quote_ident(col.name);
    if (!plan.list.empty()) plan.list += ", ";
    plan.list += col.dec == Dec::ViaText ? q + "::text AS " + q : q;
    plan.columns.push_back(std::move(col));
  }
  plan.fields = plan.columns.size();
  if (plan.binary && !via_text.empty()) {
    pg::Result sendable =
        src.exec("SELECT oid FROM pg_catalog.pg_type WHERE oid IN (" + via_text +
                 ") AND typsend <> 0 AND typreceive <> 0 AND typtype IN ('b', 'r', 'm')");
    for (int i = 0; i < sendable.rows(); ++i) {
      Oid t = static_cast<Oid>(std::strtoul(sendable.value(i, 0), nullptr, 10));
      for (auto& col : plan.columns) {
        if (col.dec != Dec::ViaText || col.oid != t || col.raw >= 0) continue;
        col.raw = static_cast<int>(plan.fields++);
        plan.list += ", " + src.quote_ident(col.name);
      }
    }
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

// The Lua value of one field of column `col` (its bytes in the COPY), pushed.
void push_column(lua_State* L, const ColumnRead& col, const char* d, int32_t len) {
  try {
    if (len < 0) {
      lua::push_null(L);
    } else if (col.dec == Dec::ViaText) {
      std::string error;
      if (!lua::push_value(L, *col.type, d, len, error)) throw std::runtime_error(error);
    } else if (col.dec == Dec::Array) {
      pg::BinaryArray a = pg::parse_binary_array(d, static_cast<size_t>(len));
      size_t at = 0;
      if (a.dims.empty())
        lua_createtable(L, 0, 0);
      else
        push_array_level(L, a, col.elem, 0, at);
    } else {
      push_decoded(L, col.dec, d, len);
    }
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("copy.read: column \"" + col.name + "\": " + e.what());
  }
}

// ---- lazy rows ----------------------------------------------------------------------------------
//
// A transform usually reads a few columns and returns the row with a few changed: decoding
// every column into Lua and encoding it back costs more than the transform. With `lazy`, a
// batch's rows stay in the COPY bytes: a row is a table with a metatable whose __index decodes
// a column when the transform reads it (a json or array value, a table, is then stored in the
// row, so that changes to it stay; a string, number or boolean is decoded again on the next
// read), whose __newindex records that the transform set the column (to a value or to nil), and
// whose __pairs decodes every column the transform did not set, so reading, assigning, pairs,
// json.encode and db.json (which decode first) see exactly the eager row; only rawget and next
// see the columns the transform set (and the tables it read). write() sends a column the
// transform did not set as the bytes the source sent (see copy_write). The metatable is
// protected: setmetatable on such a row raises instead of losing its columns.

const char* const kLazyBatch = "weir.CopyLazyBatch";

// One field of a binary COPY: where its bytes are in the COPY's data.
struct FieldRef {
  size_t off = 0;
  int32_t len = -1;  // -1: NULL
};

// A binary COPY's bytes cut into fields, row-major, `width` fields a row (done on the thread
// that read them, so the Lua thread only makes the rows).
struct CutRows {
  std::vector<FieldRef> fields;
  size_t width = 0;
  size_t rows = 0;
};

// The sizes of the last batch read: the next batch's buffers are made once at about their size
// rather than grown by doubling, each growth copying what came before (measured: a fifth of
// weir's time in a transform copy went to that and to the page faults of the new memory).
std::atomic<size_t> g_read_bytes{0};
std::atomic<size_t> g_read_fields{0};

size_t with_margin(size_t n) {
  return n + n / 8;
}

CutRows cut_rows(const std::string& data) {
  CutRows cut;
  cut.fields.reserve(with_margin(g_read_fields.load(std::memory_order_relaxed)));
  pg::BinaryTuples tuples(data.data(), data.size());
  std::vector<pg::BinaryField> fields;
  while (tuples.next(fields)) {
    if (cut.rows == 0) cut.width = fields.size();
    if (fields.size() != cut.width)
      throw std::runtime_error("copy.read: a row has the wrong number of fields");
    for (const auto& f : fields) {
      FieldRef r;
      r.off = f.len < 0 ? 0 : static_cast<size_t>(f.data - data.data());
      r.len = f.len;
      cut.fields.push_back(r);
    }
    ++cut.rows;
  }
  g_read_fields.store(cut.fields.size(), std::memory_order_relaxed);
  return cut;
}

// A lazy row's column: its field (and raw field), and whether it is still pending.
struct LazySlot {
  size_t off = 0;
  size_t raw_off = 0;  // the raw column's bytes (ColumnRead::raw)
  int32_t len = -1;    // -1: NULL
  int32_t raw_len = -1;
  bool pending = true;  // neither set by the transform nor stored in the row
};

// Row tables → their index in the batch: an open-addressing table on the tables' addresses,
// with the last row asked remembered (a transform reads and sets a row's columns one after the
// other).
class RowIndex {
 public:
  void reserve(size_t rows) {
    size_t cap = 16;
    while (cap < rows * 2)
      cap <<= 1;
    keys_.assign(cap, nullptr);
    values_.assign(cap, 0);
  }
  void add(const void* key, uint32_t value) {
    if ((count_ + 1) * 2 > keys_.size()) grow();
    size_t i = slot_of(key);
    keys_[i] = key;
    values_[i] = value;
    ++count_;
  }
  long find(const void* key) {
    if (key == last_key_) return last_value_;
    if (keys_.empty()) return -1;
    size_t i = slot_of(key);
    if (keys_[i] != key) return -1;
    last_key_ = key;
    last_value_ = values_[i];
    return last_value_;
  }

 private:
  // the slot holding `key`, or the empty slot where it would go
  size_t slot_of(const void* key) const {
    size_t mask = keys_.size() - 1;
    size_t i = (reinterpret_cast<uintptr_t>(key) >> 4) * 0x9E3779B97F4A7C15ull >> 20 & mask;
    while (keys_[i] && keys_[i] != key)
      i = (i + 1) & mask;
    return i;
  }
  void grow() {
    std::vector<const void*> keys = std::move(keys_);
    std::vector<uint32_t> values = std::move(values_);
    reserve(keys.size() < 16 ? 16 : keys.size());
    count_ = 0;
    for (size_t i = 0; i < keys.size(); ++i)
      if (keys[i]) add(keys[i], values[i]);
  }
  std::vector<const void*> keys_;
  std::vector<uint32_t> values_;
  size_t count_ = 0;
  const void* last_key_ = nullptr;
  long last_value_ = -1;
};

struct LazyBatch {
  std::string data;
  std::vector<ColumnRead> cols;
  std::vector<pg::TypeDesc> types;     // cols' types
  std::vector<const char*> name_ptrs;  // the columns' names as Lua strings (anchored in the
                                       // rows' metatable): a key that is one of them is that name
  CutRows cut;
  std::vector<char> pending;  // rows × cols, row-major: see LazySlot
  RowIndex row_of;
  char& pending_at(long row, size_t col) {
    return pending[static_cast<size_t>(row) * cols.size() + col];
  }
  LazySlot slot(long row, size_t col) const {
    LazySlot s;
    const FieldRef* f = &cut.fields[static_cast<size_t>(row) * cut.width];
    s.off = f[col].off;
    s.len = f[col].len;
    if (cols[col].raw >= 0) {
      s.raw_off = f[cols[col].raw].off;
      s.raw_len = f[cols[col].raw].len;
    }
    s.pending = pending[static_cast<size_t>(row) * cols.size() + col] != 0;
    return s;
  }
};

LazyBatch& lazy_batch_of(lua_State* L, int idx) {
  auto* box = static_cast<LazyBatch**>(luaL_checkudata(L, idx, kLazyBatch));
  if (!*box) luaL_error(L, "a copy batch that was freed");
  return **box;
}

// The batch of a lazy row's metamethod (its upvalue 1: always a batch, so no type check).
LazyBatch& upvalue_batch(lua_State* L) {
  auto* box = static_cast<LazyBatch**>(lua_touserdata(L, lua_upvalueindex(1)));
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

// The row's index in its batch (0-based), or -1. Only the batch's rows carry its metatable
// (which scripts cannot get or set), and every one of them is alive while it is asked about,
// so a table's address names the row.
long lazy_row_index(LazyBatch& b, lua_State* L, int row_idx) {
  return b.row_of.find(lua_topointer(L, row_idx));
}

// The lazy column named by the string at `key_idx`, or -1.
int lazy_column(lua_State* L, const LazyBatch& b, int key_idx) {
  if (lua_type(L, key_idx) != LUA_TSTRING) return -1;
  size_t len;
  const char* k = lua_tolstring(L, key_idx, &len);
  for (size_t c = 0; c < b.name_ptrs.size(); ++c)
    if (b.name_ptrs[c] == k) return static_cast<int>(c);
  for (size_t c = 0; c < b.cols.size(); ++c)
    if (b.cols[c].name.size() == len && std::memcmp(b.cols[c].name.data(), k, len) == 0)
      return static_cast<int>(c);
  return -1;
}

// Decodes slot (row, column), stores the value in the row at `row_idx` (rawset, under the key
// at `key_idx`, or the column's name when 0) and pushes it; the slot is no longer pending.
void lazy_materialize(lua_State* L, LazyBatch& b, int row_idx, long row, int col, int key_idx) {
  const ColumnRead& c = b.cols[static_cast<size_t>(col)];
  LazySlot s = b.slot(row, static_cast<size_t>(col));
  push_column(L, c, b.data.data() + s.off, s.len);
  b.pending_at(row, static_cast<size_t>(col)) = 0;
  if (key_idx)
    lua_pushvalue(L, key_idx);
  else
    lua_pushlstring(L, c.name.data(), c.name.size());
  lua_pushvalue(L, -2);
  lua_rawset(L, row_idx);
}

// __index(row, key), upvalue 1: the batch.
int lazy_index(lua_State* L) {
  LazyBatch& b = upvalue_batch(L);
  int col = lazy_column(L, b, 2);
  if (col < 0) return 0;
  long row = lazy_row_index(b, L, 1);
  if (row < 0 || !b.pending_at(row, static_cast<size_t>(col))) return 0;
  lazy_materialize(L, b, 1, row, col, 2);
  return 1;
}

// __newindex(row, key, value): the transform's value replaces the pending one.
int lazy_newindex(lua_State* L) {
  LazyBatch& b = upvalue_batch(L);
  int col = lazy_column(L, b, 2);
  if (col >= 0) {
    long row = lazy_row_index(b, L, 1);
    if (row >= 0) b.pending_at(row, static_cast<size_t>(col)) = 0;
  }
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 0;
}

// Decodes every pending column of the row at `row_idx` into it.
void lazy_materialize_all(lua_State* L, LazyBatch& b, int row_idx) {
  long row = lazy_row_index(b, L, row_idx);
  if (row < 0) return;
  for (size_t c = 0; c < b.cols.size(); ++c) {
    if (!b.pending_at(row, c)) continue;
    lazy_materialize(L, b, row_idx, row, static_cast<int>(c), 0);
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
  lazy_materialize_all(L, upvalue_batch(L), 1);
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

// The lazy row at `idx` and its index, for going through a list of rows: remembers the last
// metatable seen, so rows of one batch cost one lua_getmetatable each.
struct LazyLookup {
  const void* meta = nullptr;
  LazyBatch* batch = nullptr;
  // The row's batch (its index in `row`), or nullptr for a row that is not a lazy row.
  LazyBatch* find(lua_State* L, int idx, long& row) {
    if (!lua_getmetatable(L, idx)) return nullptr;
    const void* m = lua_topointer(L, -1);
    lua_pop(L, 1);
    if (m != meta) {
      meta = m;
      batch = nullptr;
      if (push_lazy_batch(L, idx)) {
        batch = &lazy_batch_of(L, -1);
        lua_pop(L, 1);
      }
    }
    if (!batch) return nullptr;
    row = lazy_row_index(*batch, L, idx);
    return row < 0 ? nullptr : batch;
  }
};

// materialize(row): decodes the pending columns of a lazy row (nothing for any other value).
int copy_materialize(lua_State* L) {
  if (!lua_istable(L, 1)) return 0;  // a transform may return anything; quarantine says what
  if (!push_lazy_batch(L, 1)) return 0;
  lazy_materialize_all(L, lazy_batch_of(L, -1), 1);
  return 0;
}

// Builds the batch's rows' metatable (user value 1); pushes the batch userdata.
LazyBatch& new_lazy_batch(lua_State* L) {
  auto* box = static_cast<LazyBatch**>(lua_newuserdatauv(L, sizeof(LazyBatch*), 1));
  *box = nullptr;
  luaL_setmetatable(L, kLazyBatch);
  *box = new LazyBatch();
  int batch = lua_gettop(L);
  lua_createtable(L, 0, 6);  // the rows' metatable
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
  lua_setiuservalue(L, batch, 1);
  return **box;
}

// The rows of a binary COPY stream as a list of Lua row tables (pushed), by `plan`; with
// `lazy`, lazy rows that keep their values in `data` until read (see LazyBatch). `cut` is
// `data` cut into fields.
void push_binary_rows(lua_State* L, const ReadPlan& plan, std::string&& data, CutRows&& cut,
                      bool lazy) {
  size_t ncols = plan.columns.size();
  luaL_checkstack(L, static_cast<int>(ncols) + 12, "too many columns");
  if (cut.rows > 0 && cut.width != plan.fields)
    throw std::runtime_error("copy.read: a row has the wrong number of fields");
  int top = lua_gettop(L);
  if (lazy && ncols > 0) {
    LazyBatch& batch = new_lazy_batch(L);
    int batch_idx = lua_gettop(L);
    lua_getiuservalue(L, batch_idx, 1);
    int meta = lua_gettop(L);
    batch.cols = plan.columns;
    // the types are the source connection's: the batch's own copies outlive it
    batch.types.reserve(ncols);
    for (auto& c : batch.cols) {
      batch.types.push_back(c.type ? *c.type : pg::TypeDesc());
      c.type = &batch.types.back();
    }
    batch.data = std::move(data);
    batch.cut = std::move(cut);
    // the names, anchored in the metatable (its array part, which Lua never looks at)
    for (size_t c = 0; c < ncols; ++c) {
      lua_pushlstring(L, batch.cols[c].name.data(), batch.cols[c].name.size());
      batch.name_ptrs.push_back(lua_tostring(L, -1));
      lua_rawseti(L, meta, static_cast<lua_Integer>(c + 1));
    }
    size_t nrows = batch.cut.rows;
    batch.pending.assign(nrows * ncols, 1);
    batch.row_of.reserve(nrows);
    lua_createtable(L, static_cast<int>(nrows), 0);
    int rows = lua_gettop(L);
    for (size_t r = 0; r < nrows; ++r) {
      lua_createtable(L, 0, 4);  // room for a few columns read or set by the transform
      lua_pushvalue(L, meta);
      lua_setmetatable(L, -2);
      batch.row_of.add(lua_topointer(L, -1), static_cast<uint32_t>(r));
      lua_rawseti(L, rows, static_cast<lua_Integer>(r + 1));
    }
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return;
  }
  int names = lua_gettop(L) + 1;
  for (const auto& c : plan.columns)
    lua_pushlstring(L, c.name.data(), c.name.size());
  lua_createtable(L, static_cast<int>(cut.rows), 0);
  for (size_t r = 0; r < cut.rows; ++r) {
    const FieldRef* f = &cut.fields[r * cut.width];
    lua_createtable(L, 0, static_cast<int>(ncols));
    for (size_t c = 0; c < ncols; ++c) {
      lua_pushvalue(L, names + static_cast<int>(c));
      push_column(L, plan.columns[c], data.data() + f[c].off, f[c].len);
      lua_rawset(L, -3);
    }
    lua_rawseti(L, -2, static_cast<lua_Integer>(r + 1));
  }
  if (ncols > 0) {
    lua_replace(L, top + 1);  // the rows where the first name was
    lua_settop(L, top + 1);
  }
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
  data.reserve(with_margin(g_read_bytes.load(std::memory_order_relaxed)));
  src.copy_out("COPY (" + sql + ") TO STDOUT (FORMAT binary)");
  const char* buf = nullptr;
  for (long len; (len = src.read_copy(&buf)) >= 0;)
    data.append(buf, static_cast<size_t>(len));
  g_read_bytes.store(data.size(), std::memory_order_relaxed);
  return data;
}

// Batches are read on one thread and freed on another, a few MB each time: glibc would give
// the memory back to the system after every batch (and take page faults to get it again).
// Once a copy reads ahead, freed memory up to 64 MB is kept for the next batches instead.
void keep_batch_memory() {
  static std::once_flag once;
  std::call_once(once, [] {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
  });
}

// ---- reading on a thread: the next batch comes in while Lua transforms this one -------------

const char* const kPending = "weir.CopyPending";

// The connection holds the Pending too (its background wait), so either may go first.
struct Pending {
  std::thread thread;
  std::string data;  // the COPY's bytes
  CutRows cut;       // and its fields
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
  keep_batch_memory();
  auto* box = static_cast<PendingBox*>(lua_newuserdatauv(L, sizeof(PendingBox), 0));
  new (box) PendingBox(std::make_shared<Pending>());
  luaL_setmetatable(L, kPending);
  PendingBox p = *box;
  pg::Connection* conn = &src;
  p->thread = std::thread([p, conn, sql] {
    try {
      p->data = copy_out_all(*conn, sql);
      p->cut = cut_rows(p->data);
    } catch (const std::exception&) {  // no Lua on this thread: take() rethrows it there
      p->error = std::current_exception();
    }
  });
  src.set_background([p](bool) { p->finish(); });
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
  CutRows cut = std::move(p.cut);
  if (p.error) std::rethrow_exception(p.error);
  push_binary_rows(L, plan, std::move(data), std::move(cut), lazy);
  push_plan_names(L, plan);
  return 2;
}

int copy_read(lua_State* L) {
  pg::Connection& src = connection_arg(L, 1);
  std::string sql = luaL_checkstring(L, 2);
  if (!lua_isnoneornil(L, 3)) {
    ReadPlan& plan = read_plan_arg(L, 3);
    if (plan.binary) {
      std::string data = copy_out_all(src, sql);
      CutRows cut = cut_rows(data);
      push_binary_rows(L, plan, std::move(data), std::move(cut), lua_toboolean(L, 4));
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
  std::vector<Oid> oids;
  // per column, the type whose binary form weir writes: the oid, a domain's built-in base type,
  // kEnumForm for an enum, 0 for other types of the database's own (written as COPY text)
  std::vector<Oid> forms;
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
// The columns' types in `table` of dst, from one zero-row query, into `plan` (and, when some are
// the database's own types, one more for what they are: domains' base types, enums).
void describe_target(pg::Connection& dst, const std::string& table,
                     std::vector<std::string> columns, WritePlan& plan) {
  for (const auto& c : columns)
    plan.list += (plan.list.empty() ? "" : ", ") + dst.quote_ident(c);
  pg::Result r =
      dst.exec("SELECT * FROM (SELECT " + plan.list + " FROM " + table + ") AS weir_q LIMIT 0");
  for (const pg::TypeDesc* t : dst.describe_columns(r))
    plan.types.push_back(*t);
  std::string own;
  for (int c = 0; c < r.columns(); ++c) {
    Oid t = r.column_type(c);
    plan.oids.push_back(t);
    plan.forms.push_back(t < kFirstUserOid ? t : 0);
    if (t >= kFirstUserOid) own += (own.empty() ? "" : ", ") + std::to_string(t);
  }
  if (!own.empty()) {
    pg::Result f = dst.exec(
        "WITH RECURSIVE d(oid, cur) AS (SELECT oid, oid FROM pg_catalog.pg_type WHERE oid IN (" +
        own +
        ") UNION ALL SELECT d.oid, t.typbasetype FROM d JOIN pg_catalog.pg_type t ON t.oid = "
        "d.cur WHERE t.typtype = 'd') SELECT d.oid, d.cur, t.typtype FROM d JOIN "
        "pg_catalog.pg_type t ON t.oid = d.cur WHERE t.typtype <> 'd'");
    for (int i = 0; i < f.rows(); ++i) {
      Oid t = static_cast<Oid>(std::strtoul(f.value(i, 0), nullptr, 10));
      Oid base = static_cast<Oid>(std::strtoul(f.value(i, 1), nullptr, 10));
      Oid form = std::string(f.value(i, 2)) == "e" ? kEnumForm : base < kFirstUserOid ? base : 0;
      for (size_t c = 0; c < plan.oids.size(); ++c)
        if (plan.oids[c] == t) plan.forms[c] = form;
    }
  }
  plan.columns = std::move(columns);
}

int copy_write_plan(lua_State* L) {
  pg::Connection& dst = connection_arg(L, 1);
  std::string table = luaL_checkstring(L, 2);
  std::vector<std::string> columns = column_list(L, 3);
  auto* box = static_cast<WritePlan**>(lua_newuserdatauv(L, sizeof(WritePlan*), 0));
  *box = nullptr;
  luaL_setmetatable(L, kWritePlan);
  *box = new WritePlan();
  describe_target(dst, table, std::move(columns), **box);
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

// ---- writing: COPY binary, or COPY text when a value has no binary form here ------------------

[[noreturn]] void zero_byte(const std::string& column) {
  throw std::invalid_argument("copy.write: column \"" + column +
                              "\": string contains a zero byte; wrap binary data in db.bytea()");
}

// The value at the top of the stack (left there) as a binary COPY field of a column of type
// `oid`, appended to `out`; false when weir does not write that value to that type in binary (the
// batch then goes as COPY text, where the server reads it). What goes in binary is exactly what
// the text form gave: the same integers, the same float bits (text printed them with 17 digits),
// the same strings; a bad value raises the text path's error.
bool put_value(lua_State* L, Oid oid, const pg::TypeDesc& type, const std::string& column,
               std::string& out) {
  switch (lua_type(L, -1)) {
    case LUA_TNIL:
      pg::put_null(out);
      return true;
    case LUA_TBOOLEAN:
      if (oid != pg::oid::kBool) return false;
      put_u32(out, 1);
      out += lua_toboolean(L, -1) ? '\1' : '\0';
      return true;
    case LUA_TNUMBER: {
      if (!lua_isinteger(L, -1)) {
        if (oid != pg::oid::kFloat8) return false;
        double d = lua_tonumber(L, -1);
        uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        put_u32(out, 8);
        put_u64(out, bits);
        return true;
      }
      lua_Integer i = lua_tointeger(L, -1);
      switch (oid) {
        case pg::oid::kInt2:
          if (i < INT16_MIN || i > INT16_MAX) return false;
          put_u32(out, 2);
          put_u16(out, static_cast<uint16_t>(static_cast<int16_t>(i)));
          return true;
        case pg::oid::kInt4:
          if (i < INT32_MIN || i > INT32_MAX) return false;
          put_u32(out, 4);
          put_u32(out, static_cast<uint32_t>(static_cast<int32_t>(i)));
          return true;
        case pg::oid::kInt8:
          put_u32(out, 8);
          put_u64(out, static_cast<uint64_t>(i));
          return true;
        case pg::oid::kOid:
          if (i < 0 || i > UINT32_MAX) return false;
          put_u32(out, 4);
          put_u32(out, static_cast<uint32_t>(i));
          return true;
        case pg::oid::kFloat8: {
          double d = static_cast<double>(i);
          uint64_t bits;
          std::memcpy(&bits, &d, sizeof bits);
          put_u32(out, 8);
          put_u64(out, bits);
          return true;
        }
        case pg::oid::kNumeric:
        case pg::oid::kText:
        case pg::oid::kVarchar:
        case pg::oid::kBpchar:
        case pg::oid::kJson:
        case pg::oid::kJsonb: {
          char buf[24];
          auto r = std::to_chars(buf, buf + sizeof buf, i);
          size_t n = static_cast<size_t>(r.ptr - buf);
          if (oid == pg::oid::kNumeric) return put_numeric(out, buf, n);
          if (oid == pg::oid::kJsonb) {
            put_u32(out, static_cast<uint32_t>(n + 1));
            out += '\1';
            out.append(buf, n);
          } else {
            put_field(out, buf, n);
          }
          return true;
        }
        default:
          return false;
      }
    }
    case LUA_TSTRING: {
      size_t n;
      const char* s = lua_tolstring(L, -1, &n);
      switch (oid) {
        case pg::oid::kBytea:
          put_field(out, s, n);
          return true;
        case pg::oid::kText:
        case pg::oid::kVarchar:
        case pg::oid::kBpchar:
        case pg::oid::kJson:
          if (std::memchr(s, '\0', n)) zero_byte(column);
          put_field(out, s, n);
          return true;
        case pg::oid::kJsonb:
          if (std::memchr(s, '\0', n)) zero_byte(column);
          put_u32(out, static_cast<uint32_t>(n + 1));
          out += '\1';
          out.append(s, n);
          return true;
        case 2950:
          return put_uuid(out, s, n);
        case kEnumForm:
          if (std::memchr(s, '\0', n)) zero_byte(column);
          put_field(out, s, n);
          return true;
        case pg::oid::kNumeric:
          return put_numeric(out, s, n);
        default:
          return false;
      }
    }
    case LUA_TTABLE:
    case LUA_TUSERDATA: {
      if (lua::is_null(L, -1)) {
        pg::put_null(out);
        return true;
      }
      if (oid != pg::oid::kJson && oid != pg::oid::kJsonb) return false;
      lua_pushvalue(L, -1);
      pg::Field f = field_of(L, type, column);
      lua_pop(L, 1);
      if (!f) {
        pg::put_null(out);
      } else if (oid == pg::oid::kJsonb) {
        put_u32(out, static_cast<uint32_t>(f->size() + 1));
        out += '\1';
        out += *f;
      } else {
        put_field(out, f->data(), f->size());
      }
      return true;
    }
    default:
      return false;
  }
}

// When the value at the top of the stack is the one the transform read from this slot (a string
// of the same text, a float4 of the same value), appends the bytes the source sent (for a
// ViaText column, its raw column) and returns true: a date or time read and returned as it was
// goes back as it came, and so does a float4, a name or a NaN numeric, which have no binary
// form from Lua.
bool passes_unchanged(lua_State* L, const LazyBatch& b, const ColumnRead& col, const LazySlot& slot,
                      std::string& out) {
  const char* d = b.data.data() + slot.off;
  if (lua_type(L, -1) == LUA_TSTRING && (col.dec == Dec::Text || col.raw >= 0)) {
    size_t len;
    const char* s = lua_tolstring(L, -1, &len);
    if (len != static_cast<size_t>(slot.len) || std::memcmp(s, d, len) != 0) return false;
    if (col.dec == Dec::Text) {
      put_field(out, d, len);
    } else if (slot.raw_len < 0) {
      pg::put_null(out);
    } else if (col.type && col.type->kind == pg::Kind::Array) {
      put_array_field(out, b.data.data() + slot.raw_off, static_cast<size_t>(slot.raw_len));
    } else {
      put_field(out, b.data.data() + slot.raw_off, static_cast<size_t>(slot.raw_len));
    }
    return true;
  }
  if ((col.dec == Dec::Numeric || col.dec == Dec::Uuid) && lua_type(L, -1) == LUA_TSTRING) {
    // NaN and Infinity have no binary form put_numeric writes; the text read has
    std::string was = col.dec == Dec::Numeric ? pg::numeric_text(d, static_cast<size_t>(slot.len))
                                              : pg::uuid_text(d, static_cast<size_t>(slot.len));
    size_t len;
    const char* s = lua_tolstring(L, -1, &len);
    if (len != was.size() || std::memcmp(s, was.data(), len) != 0) return false;
    put_field(out, d, static_cast<size_t>(slot.len));
    return true;
  }
  if (col.dec == Dec::Float4 && lua_type(L, -1) == LUA_TNUMBER && !lua_isinteger(L, -1) &&
      slot.len == 4) {
    uint32_t bits = pg::read_u32(d);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    double was = pg::float4_value(f), now = lua_tonumber(L, -1);
    if (std::memcmp(&was, &now, sizeof was) != 0) return false;
    put_field(out, d, 4);
    return true;
  }
  return false;
}

// Per target column of `plan`, the column of the lazy batch `b` of the same name, or -1.
std::vector<int> source_columns(const LazyBatch& b, const WritePlan& plan) {
  std::vector<int> out(plan.columns.size(), -1);
  for (size_t c = 0; c < plan.columns.size(); ++c)
    for (size_t s = 0; s < b.cols.size(); ++s)
      if (b.cols[s].name == plan.columns[c]) out[c] = static_cast<int>(s);
  return out;
}

// The target column named by the key at the top of the stack but one (lua_next's key), or -1.
int target_column(lua_State* L, const WritePlan& plan, int names) {
  if (lua_type(L, -2) != LUA_TSTRING) return -1;
  size_t len;
  const char* k = lua_tolstring(L, -2, &len);
  for (size_t c = 0; c < plan.columns.size(); ++c)
    if (lua_tostring(L, names + static_cast<int>(c)) == k) return static_cast<int>(c);
  for (size_t c = 0; c < plan.columns.size(); ++c)
    if (plan.columns[c].size() == len && std::memcmp(plan.columns[c].data(), k, len) == 0)
      return static_cast<int>(c);
  return -1;
}

// True when encode_binary is sure to write the rows in binary (so they can go out as they are
// encoded): every row is a lazy row, every column the source has is of the target column's
// built-in type (or comes in binary), and every value the transform set or read has a binary
// form (put_value) or is the one read. Anything else (a plain row, a zero byte, a string for a
// date column) is for encode_binary to decide before the COPY starts.
bool binary_sure(lua_State* L, const WritePlan& plan, int rows_idx, int names) {
  LazyLookup lookup;
  const LazyBatch* mapped = nullptr;
  std::vector<int> source_col;
  std::string scratch;
  for (lua_Integer i = 1; lua_rawgeti(L, rows_idx, i) == LUA_TTABLE; ++i) {
    int row = lua_gettop(L);
    long lazy_row = -1;
    LazyBatch* lazy = lookup.find(L, row, lazy_row);
    if (!lazy) {
      lua_pop(L, 1);
      return false;
    }
    if (lazy != mapped) {
      mapped = lazy;
      source_col = source_columns(*lazy, plan);
      for (size_t c = 0; c < source_col.size(); ++c) {
        if (source_col[c] < 0) continue;
        const ColumnRead& col = lazy->cols[static_cast<size_t>(source_col[c])];
        if (col.oid != plan.oids[c] || col.oid >= kFirstUserOid ||
            (col.dec == Dec::ViaText && col.raw < 0)) {
          lua_pop(L, 1);
          return false;
        }
      }
    }
    lua_pushnil(L);
    while (lua_next(L, row)) {
      int c = target_column(L, plan, names);
      bool ok = true;
      if (c >= 0) {
        scratch.clear();
        int sc = source_col[static_cast<size_t>(c)];
        LazySlot slot;
        if (sc >= 0) slot = lazy->slot(lazy_row, static_cast<size_t>(sc));
        size_t n = 0;
        const char* str = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &n) : nullptr;
        if (sc >= 0 && slot.len >= 0 &&
            passes_unchanged(L, *lazy, lazy->cols[static_cast<size_t>(sc)], slot, scratch))
          ok = true;
        else if (str && std::memchr(str, '\0', n))
          ok = false;
        else if (lua_type(L, -1) == LUA_TTABLE || lua_type(L, -1) == LUA_TUSERDATA)
          ok = lua::is_null(L, -1) || plan.forms[static_cast<size_t>(c)] == pg::oid::kJson ||
               plan.forms[static_cast<size_t>(c)] == pg::oid::kJsonb;
        else
          ok = put_value(L, plan.forms[static_cast<size_t>(c)], plan.types[static_cast<size_t>(c)],
                         plan.columns[static_cast<size_t>(c)], scratch);
      }
      lua_pop(L, 1);
      if (!ok) {
        lua_pop(L, 2);  // the key and the row
        return false;
      }
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  return true;
}

constexpr size_t kStreamBlock = size_t{1} << 16;

// The rows (the list at `rows_idx`) as one binary COPY, appended to `out`; false when a value
// has no binary form here (see put_value). A lazy row's column that the transform did not set
// goes as the bytes the source sent when the target column is of the same built-in type, and so
// does a ViaText column set to the very text it was read as.
bool encode_binary(lua_State* L, const WritePlan& plan, int rows_idx, int names, std::string& out,
                   lua_Integer& n, pg::Connection* stream_to = nullptr) {
  put_header(out);
  size_t ncols = plan.columns.size();
  LazyLookup lookup;
  const LazyBatch* mapped = nullptr;
  std::vector<int> source_col(ncols, -1);  // per target column: the lazy batch's column
  n = 0;
  for (lua_Integer i = 1; lua_rawgeti(L, rows_idx, i) == LUA_TTABLE; ++i) {
    int row = lua_gettop(L);
    long lazy_row = -1;
    LazyBatch* lazy = lookup.find(L, row, lazy_row);
    if (lazy && lazy != mapped) {
      mapped = lazy;
      source_col = source_columns(*lazy, plan);
    }
    put_u16(out, static_cast<uint16_t>(ncols));
    for (size_t c = 0; c < ncols; ++c) {
      lua_pushvalue(L, names + static_cast<int>(c));
      if (!lazy) {
        lua_gettable(L, row);
        if (!put_value(L, plan.forms[c], plan.types[c], plan.columns[c], out)) return false;
        lua_pop(L, 1);
        continue;
      }
      int sc = source_col[c];
      const ColumnRead* col = sc < 0 ? nullptr : &lazy->cols[static_cast<size_t>(sc)];
      LazySlot slot_value;
      if (sc >= 0) slot_value = lazy->slot(lazy_row, static_cast<size_t>(sc));
      const LazySlot* slot = sc < 0 ? nullptr : &slot_value;
      bool same_type = col && col->oid == plan.oids[c] && col->oid < kFirstUserOid;
      if (lua_rawget(L, row) == LUA_TNIL && slot && slot->pending) {
        lua_pop(L, 1);
        if (same_type && (col->dec != Dec::ViaText || col->raw >= 0)) {
          bool raw = col->dec == Dec::ViaText;
          int32_t len = raw ? slot->raw_len : slot->len;
          const char* d = lazy->data.data() + (raw ? slot->raw_off : slot->off);
          if (len < 0)
            pg::put_null(out);
          else if (col->type && col->type->kind == pg::Kind::Array)
            put_array_field(out, d, static_cast<size_t>(len));
          else
            put_field(out, d, static_cast<size_t>(len));
          continue;
        }
        push_column(L, *col, lazy->data.data() + slot->off, slot->len);
      }
      if (same_type && slot->len >= 0 && passes_unchanged(L, *lazy, *col, *slot, out)) {
        lua_pop(L, 1);
        continue;
      }
      if (!put_value(L, plan.forms[c], plan.types[c], plan.columns[c], out)) return false;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    ++n;
    if (stream_to && out.size() >= kStreamBlock) {
      stream_to->write_copy(out.data(), out.size());
      out.clear();
    }
  }
  lua_pop(L, 1);
  put_u16(out, 0xFFFF);
  return true;
}

// The rows as COPY text (the server reads every value), appended to `out`.
void encode_text(lua_State* L, const WritePlan& plan, int rows_idx, int names, std::string& out,
                 lua_Integer& n) {
  const std::vector<std::string>& columns = plan.columns;
  LazyLookup lookup;
  n = 0;
  for (lua_Integer i = 1; lua_rawgeti(L, rows_idx, i) == LUA_TTABLE; ++i) {
    int row = lua_gettop(L);
    // A lazy row (LazyBatch): its unread json columns go to jsonb columns as the server sent them.
    long lazy_row = -1;
    LazyBatch* lazy = lookup.find(L, row, lazy_row);
    for (size_t c = 0; c < columns.size(); ++c) {
      if (c) out += '\t';
      lua_pushvalue(L, names + static_cast<int>(c));
      if (lazy) {
        lua_pushvalue(L, -1);
        if (lua_rawget(L, row) == LUA_TNIL) {
          int lc = lazy_column(L, *lazy, -2);
          LazySlot slot_value;
          if (lc >= 0) slot_value = lazy->slot(lazy_row, static_cast<size_t>(lc));
          const LazySlot* slot = lc < 0 ? nullptr : &slot_value;
          Dec dec = lc < 0 ? Dec::ViaText : lazy->cols[static_cast<size_t>(lc)].dec;
          if (slot && slot->pending && (dec == Dec::Json || dec == Dec::Jsonb) &&
              plan.types[c].name == "jsonb") {
            lua_pop(L, 2);
            if (slot->len < 0) {
              out += "\\N";
            } else {
              const char* d = lazy->data.data() + slot->off;
              size_t len = static_cast<size_t>(slot->len);
              if (dec == Dec::Jsonb) ++d, --len;  // the version byte
              pg::append_copy_text(out, d, len);
            }
            continue;
          }
        }
        lua_pop(L, 1);
      }
      lua_gettable(L, row);
      if (lua::is_null(L, -1)) {
        lua_pop(L, 1);
        out += "\\N";
        continue;
      }
      append_field(L, plan.types[c], columns[c], out);
    }
    out += '\n';
    lua_pop(L, 1);
    ++n;
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
    describe_target(dst, table, std::move(columns), local);
  }
  luaL_checkstack(L, static_cast<int>(plan->columns.size()) + 8, "too many columns");
  int names = lua_gettop(L) + 1;
  for (const auto& c : plan->columns)
    lua_pushlstring(L, c.data(), c.size());

  std::string sql = "COPY " + table + " (" + plan->list + ") FROM STDIN";
  std::string buffer;
  lua_Integer n = 0;
  if (binary_sure(L, *plan, 4, names)) {
    // The rows go out as they are encoded: the server takes the first ones while weir encodes
    // the rest. (Only a value put_value cannot know in advance, a table for a json column
    // that does not encode, can still fail here; the COPY is then aborted and the error raised.)
    dst.copy_in(sql + " (FORMAT binary)");
    bool done = false;
    try {
      done = encode_binary(L, *plan, 4, names, buffer, n, &dst);
      if (done) dst.write_copy(buffer.data(), buffer.size());
    } catch (const std::exception&) {
      try {
        dst.end_copy("copy aborted");
      } catch (const std::exception&) {
        // the server's answer to the abort; the error to show is the one raised here
      }
      throw;
    }
    if (!done) {
      dst.end_copy("copy aborted");
      throw std::logic_error("copy.write: a row that binary_sure took for binary is not");
    }
    lua_pushinteger(L, dst.end_copy().affected());
    lua_pushliteral(L, "binary, streamed");  // for tests: which form the rows went in
    return 2;
  }
  // Otherwise everything is converted first: a bad value raises before the COPY starts.
  bool binary = encode_binary(L, *plan, 4, names, buffer, n);
  if (!binary) {
    lua_settop(L, names + static_cast<int>(plan->columns.size()) - 1);
    buffer.clear();
    encode_text(L, *plan, 4, names, buffer, n);
  }
  dst.copy_in(sql + (binary ? " (FORMAT binary)" : ""));
  lua_pushinteger(L, dst.send_copy(buffer.data(), buffer.size()).affected());
  lua_pushstring(L, binary ? "binary" : "text");  // for tests: which form the rows went in
  return 2;
}

// ---- writing on a thread: batch N goes to the target while the transform takes batch N+1 ----

const char* const kWriting = "weir.CopyWriting";

// One batch's write in flight: the rows encoded on the Lua thread, then one query (the batch's
// opening, its COPY, its checkpoint and counters, its end) sent and answered on a thread of its
// own. The connection holds it too (its background wait), so either may go first.
struct Writing {
  std::thread thread;
  long long affected = 0;  // the COPY's rows
  std::exception_ptr error;
  std::string begin_sql;    // opens the next batch when a statement needs the connection first
  bool collected = false;   // write_finish has run (only the Lua thread sets these three)
  bool began_next = false;  // begin_sql ran for a statement of the next batch's transform
  void finish() {
    if (thread.joinable()) thread.join();
  }
  ~Writing() { finish(); }
};

using WritingBox = std::shared_ptr<Writing>;

int writing_gc(lua_State* L) {
  auto* box = static_cast<WritingBox*>(luaL_testudata(L, 1, kWriting));
  if (box && *box) {
    (*box)->finish();
    box->reset();
  }
  return 0;
}

// Makes `w` dst's background work: a statement from Lua waits for the write, then is refused
// when it failed (every statement, until write_finish), or comes after w's begin_sql when it
// succeeded (once).
void arm(pg::Connection& dst, const WritingBox& w) {
  pg::Connection* conn = &dst;
  dst.set_background([w, conn](bool for_use) {
    w->finish();
    if (!for_use || w->collected || w->began_next) return;
    if (w->error) {
      arm(*conn, w);  // the next statement is refused too
      throw std::runtime_error(
          "the batch before this one failed to write, so its target takes no statement until "
          "copy.table has written that batch again");
    }
    conn->exec(w->begin_sql);
    w->began_next = true;
  });
}

// write_start(dst, table, columns, rows, plan, before_sql, after_sql, begin_sql) -> writing, form
// The rows are encoded here (COPY binary, or COPY text when a value has no binary form, as
// write() decides); then `before_sql`, the COPY and `after_sql` go to dst as one query on a
// thread. Until write_finish, a statement from Lua on dst first waits for the write; when it
// succeeded, that statement's batch is opened with `begin_sql` first (write_finish tells); when
// it failed, the statement is refused.
int copy_write_start(lua_State* L) {
  pg::Connection& dst = connection_arg(L, 1);
  std::string table = luaL_checkstring(L, 2);
  std::vector<std::string> columns = column_list(L, 3);
  luaL_checktype(L, 4, LUA_TTABLE);
  auto* plan_box = static_cast<WritePlan**>(luaL_checkudata(L, 5, kWritePlan));
  if (!*plan_box || (*plan_box)->columns != columns)
    return luaL_argerror(L, 5, "a write plan of other columns");
  const WritePlan& plan = **plan_box;
  std::string before = luaL_checkstring(L, 6);
  std::string after = luaL_checkstring(L, 7);
  std::string begin_sql = luaL_checkstring(L, 8);
  luaL_checkstack(L, static_cast<int>(plan.columns.size()) + 8, "too many columns");
  lua_settop(L, 8);
  int names = lua_gettop(L) + 1;
  for (const auto& c : plan.columns)
    lua_pushlstring(L, c.data(), c.size());
  std::string data;
  lua_Integer n = 0;
  bool binary = encode_binary(L, plan, 4, names, data, n);
  if (!binary) {
    lua_settop(L, names + static_cast<int>(plan.columns.size()) - 1);
    data.clear();
    encode_text(L, plan, 4, names, data, n);
  }
  std::string sql = before + "COPY " + table + " (" + plan.list + ") FROM STDIN" +
                    (binary ? " (FORMAT binary)" : "") + ";\n" + after;
  auto* box = static_cast<WritingBox*>(lua_newuserdatauv(L, sizeof(WritingBox), 0));
  new (box) WritingBox(std::make_shared<Writing>());
  luaL_setmetatable(L, kWriting);
  WritingBox w = *box;
  w->begin_sql = std::move(begin_sql);
  pg::Connection* conn = &dst;
  w->thread = std::thread([w, conn, sql = std::move(sql), data = std::move(data)] {
    try {
      w->affected = conn->send_with_copies(sql, [&] {
        for (size_t at = 0; at < data.size(); at += kStreamBlock)
          conn->write_copy(data.data() + at, std::min(kStreamBlock, data.size() - at));
      });
    } catch (const std::exception&) {  // no Lua on this thread: write_finish rethrows it there
      w->error = std::current_exception();
    }
  });
  arm(dst, w);
  lua_pushstring(L, binary ? "binary" : "text");  // for tests: which form the rows went in
  return 2;
}

// begin_on_use(dst, begin_sql) -> writing: nothing to write, but the next statement from Lua on
// dst first runs `begin_sql` (write_finish tells whether one did): a batch's transaction opened
// only when its transform uses the target.
int copy_begin_on_use(lua_State* L) {
  pg::Connection& dst = connection_arg(L, 1);
  std::string begin_sql = luaL_checkstring(L, 2);
  auto* box = static_cast<WritingBox*>(lua_newuserdatauv(L, sizeof(WritingBox), 0));
  new (box) WritingBox(std::make_shared<Writing>());
  luaL_setmetatable(L, kWriting);
  (*box)->begin_sql = std::move(begin_sql);
  arm(dst, *box);
  return 1;
}

// write_finish(writing) -> rows, began_next: waits for the write and raises its error; rows are
// the COPY's; began_next says a statement of the next batch opened its transaction already.
int copy_write_finish(lua_State* L) {
  auto* box = static_cast<WritingBox*>(luaL_checkudata(L, 1, kWriting));
  if (!*box) return luaL_argerror(L, 1, "a write that was already finished");
  Writing& w = **box;
  w.finish();
  w.collected = true;
  if (w.error) std::rethrow_exception(w.error);
  lua_pushinteger(L, static_cast<lua_Integer>(w.affected));
  lua_pushboolean(L, w.began_next);
  return 2;
}

// columns_of(rows, seen): seen[key] = true for each string key of each row in the list `rows`,
// a lazy row's pending columns included (without decoding them).
int copy_columns_of(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checktype(L, 2, LUA_TTABLE);
  LazyLookup lookup;
  std::vector<std::pair<LazyBatch*, std::vector<char>>> pending;  // per batch: columns seen
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
    long r = -1;
    if (LazyBatch* b = lookup.find(L, row, r)) {
      if (pending.empty() || pending.back().first != b) {
        pending.emplace_back(b, std::vector<char>(b->cols.size(), 0));
      }
      std::vector<char>& seen = pending.back().second;
      for (size_t c = 0; c < b->cols.size(); ++c)
        if (b->pending_at(r, c)) seen[c] = 1;
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  for (const auto& [b, seen] : pending) {
    for (size_t c = 0; c < seen.size(); ++c) {
      if (!seen[c]) continue;
      lua_pushlstring(L, b->cols[c].name.data(), b->cols[c].name.size());
      lua_pushboolean(L, 1);
      lua_rawset(L, 2);
    }
  }
  return 0;
}

const luaL_Reg kRowFunctions[] = {
    {"read", guarded<copy_read>},
    {"read_plan", guarded<copy_read_plan>},
    {"fetch", guarded<copy_fetch>},
    {"take", guarded<copy_take>},
    {"discard", guarded<pending_gc>},
    {"write", guarded<copy_write>},
    {"write_plan", guarded<copy_write_plan>},
    {"write_start", guarded<copy_write_start>},
    {"write_finish", guarded<copy_write_finish>},
    {"begin_on_use", guarded<copy_begin_on_use>},
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
  if (luaL_newmetatable(L, kLazyBatch)) {
    lua_pushcfunction(L, lazy_batch_gc);
    lua_setfield(L, -2, "__gc");
    lua::protect_metatable(L, -1);
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, kWriting)) {
    lua_pushcfunction(L, writing_gc);
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
