// PG ↔ Lua conversion (see convert.hpp).
#include "lua/convert.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>

#include "json/parse.hpp"
#include "lua/userdata.hpp"
#include "pg/array_text.hpp"

namespace weir::lua {

const char* const kJsonWrapper = "weir.json";
const char* const kArrayWrapper = "weir.array";
const char* const kByteaWrapper = "weir.bytea";

namespace {

const char* const kNullType = "weir.NULL";
const char kNullKey = 0;  // registry key of the NULL sentinel
// Sequences nested deeper than this are refused by db.array (PostgreSQL itself allows 6).
constexpr int kMaxArrayDepth = 200;
// Each level of a walk over nested tables holds this many stack slots at most: the table,
// a key, a value and a metatable being compared. Checked per level, never assumed.
constexpr int kSlotsPerLevel = 4;

int null_tostring(lua_State* L) {
  lua_pushliteral(L, "NULL");
  return 1;
}

bool has_metatable(lua_State* L, int idx, const char* name) {
  if (!lua_getmetatable(L, idx)) return false;
  luaL_getmetatable(L, name);
  bool same = lua_rawequal(L, -1, -2);
  lua_pop(L, 2);
  return same;
}

// The wrapped value of a db.json/db.array/db.bytea wrapper, pushed on the stack.
void push_wrapped(lua_State* L, int idx) {
  lua_getfield(L, idx, "value");
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool decode_bytea(const char* text, int len, std::string& out, std::string& error) {
  out.clear();
  if (len >= 2 && text[0] == '\\' && text[1] == 'x') {  // hex format (the default)
    out.reserve((len - 2) / 2);
    for (int i = 2; i + 1 < len; i += 2) {
      int hi = hexval(text[i]), lo = hexval(text[i + 1]);
      if (hi < 0 || lo < 0) {
        error = "malformed bytea hex value";
        return false;
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
    }
    return true;
  }
  for (int i = 0; i < len; ++i) {  // escape format (bytea_output = escape)
    if (text[i] != '\\') {
      out.push_back(text[i]);
    } else if (i + 1 < len && text[i + 1] == '\\') {
      out.push_back('\\');
      ++i;
    } else if (i + 3 < len) {
      out.push_back(static_cast<char>((text[i + 1] - '0') * 64 + (text[i + 2] - '0') * 8 +
                                      (text[i + 3] - '0')));
      i += 3;
    } else {
      error = "malformed bytea escape value";
      return false;
    }
  }
  return true;
}

std::string format_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

bool push_scalar(lua_State* L, pg::Kind kind, const char* text, int len, std::string& error) {
  switch (kind) {
    case pg::Kind::Integer: {
      errno = 0;
      char* end = nullptr;
      long long v = std::strtoll(text, &end, 10);
      if (errno || end == text) {
        error = std::string("malformed integer value '") + text + "'";
        return false;
      }
      lua_pushinteger(L, static_cast<lua_Integer>(v));
      return true;
    }
    case pg::Kind::Float:
      lua_pushnumber(L, std::strtod(text, nullptr));
      return true;
    case pg::Kind::Bool:
      lua_pushboolean(L, text[0] == 't');
      return true;
    case pg::Kind::Bytea: {
      std::string bytes;
      if (!decode_bytea(text, len, bytes, error)) return false;
      lua_pushlstring(L, bytes.data(), bytes.size());
      return true;
    }
    case pg::Kind::Json: {
      nlohmann::json j;
      std::string why;
      if (!json::parse(text, static_cast<size_t>(len), j, why)) {
        error = "JSON value from the server: " + why;
        return false;
      }
      push_json(L, j);
      return true;
    }
    case pg::Kind::Numeric:
    case pg::Kind::Text:
    case pg::Kind::Array:
      lua_pushlstring(L, text, len);
      return true;
  }
  return true;
}

bool push_array_node(lua_State* L, const pg::ArrayNode& node, pg::Kind elem, std::string& error) {
  switch (node.type) {
    case pg::ArrayNode::Type::Null:
      push_null(L);
      return true;
    case pg::ArrayNode::Type::Value:
      return push_scalar(L, elem, node.text.c_str(), static_cast<int>(node.text.size()), error);
    case pg::ArrayNode::Type::List:
      lua_createtable(L, static_cast<int>(node.items.size()), 0);
      for (size_t i = 0; i < node.items.size(); ++i) {
        if (!push_array_node(L, node.items[i], elem, error)) {
          lua_pop(L, 1);
          return false;
        }
        lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));
      }
      return true;
  }
  return true;
}

// The length of the table at `idx` when its keys are exactly 1..n, else false and why: with a
// hole (nil is no element: db.NULL is) or a key that is not an index, # and ipairs disagree on
// what the array holds, and a silent guess would send other values than the script meant.
bool sequence_length(lua_State* L, int idx, lua_Integer& n, std::string& error) {
  lua_Integer count = 0, max = 0;
  lua_pushnil(L);
  while (lua_next(L, idx) != 0) {
    lua_pop(L, 1);  // the value
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1) {
      std::string key = lua_type(L, -1) == LUA_TSTRING
                            ? "'" + std::string(lua_tostring(L, -1)) + "'"
                        : lua_type(L, -1) == LUA_TNUMBER ? std::string(lua_tostring(L, -1))
                                                         : std::string("a ") + luaL_typename(L, -1);
      lua_pop(L, 1);
      if (key.size() > 40) key = key.substr(0, 37) + "...";
      error = "db.array: not a sequence: it has the key " + key +
              " (an array takes elements 1..n only; a table with named keys goes in db.json)";
      return false;
    }
    ++count;
    max = std::max(max, lua_tointeger(L, -1));
  }
  if (count != max) {
    lua_Integer hole = 1;
    while (lua_rawgeti(L, idx, hole) != LUA_TNIL) {
      lua_pop(L, 1);
      ++hole;
    }
    lua_pop(L, 1);
    error = "db.array: not a sequence: element " + std::to_string(hole) + " of " +
            std::to_string(max) + " is nil (a hole); write db.NULL for a NULL element";
    return false;
  }
  n = max;
  return true;
}

// Builds an array literal tree from a Lua sequence (nested sequences are sub-arrays).
bool to_array_node(lua_State* L, int idx, pg::ArrayNode& out, std::string& error, int depth) {
  idx = lua_absindex(L, idx);
  if (depth >= kMaxArrayDepth || !lua_checkstack(L, kSlotsPerLevel)) {
    error = "db.array: nested too deeply";
    return false;
  }
  out = pg::ArrayNode{};
  lua_Integer n = 0;
  if (!sequence_length(L, idx, n, error)) return false;
  for (lua_Integer i = 1; i <= n; ++i) {
    lua_rawgeti(L, idx, i);
    pg::ArrayNode item;
    bool ok = true;
    int t = lua_type(L, -1);
    if (t == LUA_TNIL || is_null(L, -1)) {
      item = pg::ArrayNode::null();
    } else if (t == LUA_TTABLE && !lua_getmetatable(L, -1)) {
      ok = to_array_node(L, -1, item, error, depth + 1);
    } else {
      if (t == LUA_TTABLE) lua_pop(L, 1);  // the metatable pushed by lua_getmetatable
      pg::Param p;
      ok = to_param(L, -1, p, error);
      if (ok && p.binary) {  // bytea element: array literals carry it in hex text form
        std::string hex = "\\x";
        static const char* digits = "0123456789abcdef";
        for (unsigned char c : p.value) {
          hex.push_back(digits[c >> 4]);
          hex.push_back(digits[c & 15]);
        }
        p.value = hex;
      }
      if (ok) item = p.null ? pg::ArrayNode::null() : pg::ArrayNode::value(p.value);
    }
    lua_pop(L, 1);
    if (!ok) return false;
    out.items.push_back(std::move(item));
  }
  return true;
}

// What a conversion to JSON carries along: tables on the current path (cycles) and the
// marker metatables, looked up once rather than per table.
struct JsonWalk {
  std::unordered_set<const void*> seen;
  const void* wrapper = nullptr;
  const void* array = nullptr;
  const void* object = nullptr;
};

const void* registry_metatable(lua_State* L, const char* name) {
  luaL_getmetatable(L, name);
  const void* p = lua_topointer(L, -1);
  lua_pop(L, 1);
  return p;
}

bool to_json_at(lua_State* L, int idx, nlohmann::json& out, std::string& error, int depth,
                JsonWalk& walk) {
  idx = lua_absindex(L, idx);
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      out = nullptr;
      return true;
    case LUA_TBOOLEAN:
      out = static_cast<bool>(lua_toboolean(L, idx));
      return true;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        out = static_cast<int64_t>(lua_tointeger(L, idx));
      } else {
        double d = lua_tonumber(L, idx);
        if (!std::isfinite(d)) {
          error = "cannot encode " + format_float(d) + " as JSON";
          return false;
        }
        out = d;
      }
      return true;
    case LUA_TSTRING: {
      size_t len;
      const char* s = lua_tolstring(L, idx, &len);
      out = std::string(s, len);
      return true;
    }
    case LUA_TUSERDATA:
      if (is_null(L, idx)) {
        out = nullptr;
        return true;
      }
      break;
    case LUA_TTABLE: {
      const void* mt = nullptr;
      if (lua_getmetatable(L, idx)) {
        mt = lua_topointer(L, -1);
        lua_pop(L, 1);
      }
      if (mt && mt == walk.wrapper) {
        push_wrapped(L, idx);
        bool ok = to_json_at(L, -1, out, error, depth, walk);
        lua_pop(L, 1);
        return ok;
      }
      if (mt && mt != walk.array && mt != walk.object) {
        // A row of copy.table whose columns are decoded on first use (mod_copy.cpp): all of
        // them, before the walk below reads the table raw.
        lua_getmetatable(L, idx);
        lua_getfield(L, -1, "__weir_materialize");
        lua_remove(L, -2);
        if (lua_iscfunction(L, -1)) {
          lua_pushvalue(L, idx);
          lua_call(L, 1, 0);
        } else {
          lua_pop(L, 1);
        }
      }
      if (depth >= json::kMaxDepth || !lua_checkstack(L, kSlotsPerLevel)) {
        error = "table nested deeper than " + std::to_string(json::kMaxDepth) +
                " levels: too deep to encode as JSON";
        return false;
      }
      const void* id = lua_topointer(L, idx);
      if (!walk.seen.insert(id).second) {
        error = "cannot encode a table that contains itself as JSON";
        return false;
      }
      bool as_array = mt && mt == walk.array;
      bool as_object = mt && mt == walk.object;
      lua_Integer n = static_cast<lua_Integer>(lua_rawlen(L, idx));
      if (!as_array && !as_object && n > 0) {
        // A sequence 1..n with no other keys is an array.
        lua_Integer count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
          ++count;
          lua_pop(L, 1);
        }
        as_array = count == n;
      }
      bool ok = true;
      if (as_array) {
        out = nlohmann::json::array();
        for (lua_Integer i = 1; ok && i <= n; ++i) {
          lua_rawgeti(L, idx, i);
          nlohmann::json item;
          ok = to_json_at(L, -1, item, error, depth + 1, walk);
          if (ok) out.push_back(std::move(item));
          lua_pop(L, 1);
        }
      } else {
        out = nlohmann::json::object();
        lua_pushnil(L);
        while (ok && lua_next(L, idx)) {
          std::string key;
          if (lua_type(L, -2) == LUA_TSTRING) {
            size_t len;
            const char* k = lua_tolstring(L, -2, &len);
            key.assign(k, len);
          } else if (lua_type(L, -2) == LUA_TNUMBER) {
            lua_pushvalue(L, -2);  // tostring on a copy, so lua_next's key is untouched
            key = lua_tostring(L, -1);
            lua_pop(L, 1);
          } else {
            error = std::string("cannot encode a table key of type ") + luaL_typename(L, -2) +
                    " as JSON";
            ok = false;
          }
          if (ok) {
            nlohmann::json item;
            ok = to_json_at(L, -1, item, error, depth + 1, walk);
            if (ok) out[key] = std::move(item);
          }
          lua_pop(L, 1);
        }
        if (!ok) lua_pop(L, 1);  // the key lua_next left behind
      }
      walk.seen.erase(id);
      return ok;
    }
    default:
      break;
  }
  error = std::string("cannot encode a ") + luaL_typename(L, idx) + " value as JSON";
  return false;
}

}  // namespace

void register_value_types(lua_State* L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kNullKey);
  bool have = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (have) return;
  lua_newuserdatauv(L, 0, 0);
  if (luaL_newmetatable(L, kNullType)) {
    lua_pushcfunction(L, null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushliteral(L, "NULL");
    lua_setfield(L, -2, "__name");
    protect_metatable(L, -1);
  }
  lua_setmetatable(L, -2);
  lua_rawsetp(L, LUA_REGISTRYINDEX, &kNullKey);
  for (const char* name :
       {kJsonWrapper, kArrayWrapper, kByteaWrapper, kJsonArrayMarker, kJsonObjectMarker}) {
    luaL_newmetatable(L, name);
    lua_pop(L, 1);
  }
}

void push_null(lua_State* L) {
  lua_rawgetp(L, LUA_REGISTRYINDEX, &kNullKey);
}

bool is_null(lua_State* L, int idx) {
  if (lua_type(L, idx) != LUA_TUSERDATA) return false;
  idx = lua_absindex(L, idx);
  push_null(L);
  bool same = lua_rawequal(L, idx, -1);
  lua_pop(L, 1);
  return same;
}

void push_wrapper(lua_State* L, const char* type, int value_idx) {
  value_idx = lua_absindex(L, value_idx);
  lua_createtable(L, 0, 1);
  lua_pushvalue(L, value_idx);
  lua_setfield(L, -2, "value");
  luaL_setmetatable(L, type);
}

bool push_value(lua_State* L, const pg::TypeDesc& type, const char* text, int len,
                std::string& error) {
  if (type.kind != pg::Kind::Array) return push_scalar(L, type.kind, text, len, error);
  pg::ArrayNode root;
  if (!pg::parse_array_text(std::string(text, len), type.delim, root, error)) return false;
  return push_array_node(L, root, type.elem, error);
}

bool to_param(lua_State* L, int idx, pg::Param& out, std::string& error) {
  idx = lua_absindex(L, idx);
  out = pg::Param{};
  switch (lua_type(L, idx)) {
    case LUA_TNIL:
      out.null = true;
      return true;
    case LUA_TBOOLEAN:
      out.value = lua_toboolean(L, idx) ? "true" : "false";
      out.type = pg::oid::kBool;
      return true;
    case LUA_TNUMBER:
      if (lua_isinteger(L, idx)) {
        lua_Integer v = lua_tointeger(L, idx);
        out.value = std::to_string(v);
        // int4 when it fits, so `substr(s, $1)` and friends resolve; int8 beyond.
        out.type = (v >= INT32_MIN && v <= INT32_MAX) ? pg::oid::kInt4 : pg::oid::kInt8;
      } else {
        out.value = format_float(lua_tonumber(L, idx));
        out.type = pg::oid::kFloat8;
      }
      return true;
    case LUA_TSTRING: {
      size_t len;
      const char* s = lua_tolstring(L, idx, &len);
      if (std::memchr(s, '\0', len)) {
        error = "string contains a zero byte; wrap binary data in db.bytea()";
        return false;
      }
      out.value.assign(s, len);
      return true;
    }
    case LUA_TUSERDATA:
      if (is_null(L, idx)) {
        out.null = true;
        return true;
      }
      break;
    case LUA_TTABLE: {
      if (has_metatable(L, idx, kJsonWrapper)) {
        nlohmann::json j;
        push_wrapped(L, idx);
        bool ok = to_json(L, -1, j, error);
        lua_pop(L, 1);
        if (!ok || !dump_json(j, out.value, error)) return false;
        out.type = pg::oid::kJsonb;
        return true;
      }
      if (has_metatable(L, idx, kArrayWrapper)) {
        push_wrapped(L, idx);
        pg::ArrayNode node;
        bool ok = lua_istable(L, -1) && to_array_node(L, -1, node, error, 0);
        if (!lua_istable(L, -1)) error = "db.array expects a table";
        lua_pop(L, 1);
        if (!ok) return false;
        out.value = pg::format_array_text(node);
        return true;
      }
      if (has_metatable(L, idx, kByteaWrapper)) {
        push_wrapped(L, idx);
        size_t len = 0;
        const char* s = lua_tolstring(L, -1, &len);
        if (s) out.value.assign(s, len);
        lua_pop(L, 1);
        if (!s) {
          error = "db.bytea expects a string";
          return false;
        }
        out.binary = true;
        out.type = pg::oid::kBytea;
        return true;
      }
      error = "cannot bind a table; wrap it in db.json() or db.array()";
      return false;
    }
    default:
      break;
  }
  error = std::string("cannot bind a ") + luaL_typename(L, idx) + " value";
  return false;
}

bool to_json(lua_State* L, int idx, nlohmann::json& out, std::string& error) {
  JsonWalk walk;
  walk.wrapper = registry_metatable(L, kJsonWrapper);
  walk.array = registry_metatable(L, kJsonArrayMarker);
  walk.object = registry_metatable(L, kJsonObjectMarker);
  return to_json_at(L, idx, out, error, 0, walk);
}

void push_json(lua_State* L, const nlohmann::json& v) {
  luaL_checkstack(L, 4, "JSON value nested too deeply");
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      push_null(L);
      return;
    case nlohmann::json::value_t::boolean:
      lua_pushboolean(L, v.get<bool>());
      return;
    case nlohmann::json::value_t::number_integer:
      lua_pushinteger(L, v.get<int64_t>());
      return;
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = v.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) {
        lua_pushinteger(L, static_cast<lua_Integer>(u));
      } else {
        lua_pushnumber(L, static_cast<double>(u));
      }
      return;
    }
    case nlohmann::json::value_t::number_float:
      lua_pushnumber(L, v.get<double>());
      return;
    case nlohmann::json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      lua_pushlstring(L, s.data(), s.size());
      return;
    }
    case nlohmann::json::value_t::array: {
      lua_createtable(L, static_cast<int>(v.size()), 0);
      lua_Integer i = 1;
      for (const auto& item : v) {
        push_json(L, item);
        lua_rawseti(L, -2, i++);
      }
      luaL_setmetatable(L, kJsonArrayMarker);
      return;
    }
    case nlohmann::json::value_t::object: {
      lua_createtable(L, 0, static_cast<int>(v.size()));
      for (auto it = v.begin(); it != v.end(); ++it) {
        lua_pushlstring(L, it.key().data(), it.key().size());
        push_json(L, it.value());
        lua_rawset(L, -3);
      }
      luaL_setmetatable(L, kJsonObjectMarker);
      return;
    }
    default:
      lua_pushnil(L);
      return;
  }
}

bool dump_json(const nlohmann::json& value, std::string& out, std::string& error) {
  try {
    out = value.dump();
    return true;
  } catch (const nlohmann::json::exception& e) {
    error = std::string("cannot encode as JSON: ") + e.what();
    return false;
  }
}

}  // namespace weir::lua
