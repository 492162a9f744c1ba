// Lua module "json": JSON text ↔ Lua values on nlohmann/json, with the same mapping as the db
// module (JSON null ↔ db.NULL; decoded arrays and objects remember which they were).
//   json.encode(value) -> string        raises on values JSON cannot hold (functions, NaN, cycles)
//   json.decode(text)  -> value         raises "json.decode: …" with the byte offset on bad input
//                                       or nesting deeper than json::kMaxDepth (json/parse.hpp)
//   json.array(t), json.object(t) -> t  mark t to encode as an array / object (even when empty)
//   json.validate(value, schema) -> true | false, errors
//                                       JSON Schema draft-07 (json/schema.hpp); each error is
//                                       { pointer =, keyword =, message = }; schema may be a table,
//                                       a boolean or JSON text; raises "json.validate: …" when
//                                       the schema is unusable
#include <string>
#include <vector>

#include "json/parse.hpp"
#include "json/schema.hpp"

#include "lua/convert.hpp"
#include "lua/guarded.hpp"
#include "modules/modules.hpp"

namespace weir::modules {

namespace {

using lua::guarded;

int json_encode(lua_State* L) {
  luaL_checkany(L, 1);
  nlohmann::json value;
  std::string error, text;
  if (!lua::to_json(L, 1, value, error) || !lua::dump_json(value, text, error)) {
    throw std::invalid_argument("json.encode: " + error);
  }
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

int json_decode(lua_State* L) {
  size_t len;
  const char* text = luaL_checklstring(L, 1, &len);
  nlohmann::json value;
  std::string error;
  if (!weir::json::parse(text, len, value, error))
    throw std::invalid_argument("json.decode: " + error);
  lua::push_json(L, value);
  return 1;
}

int json_validate(lua_State* L) {
  luaL_checkany(L, 1);
  luaL_checkany(L, 2);
  nlohmann::json value, schema;
  std::string error;
  if (!lua::to_json(L, 1, value, error))
    throw std::invalid_argument("json.validate: value: " + error);
  if (lua_type(L, 2) == LUA_TSTRING) {
    size_t len;
    const char* text = lua_tolstring(L, 2, &len);
    if (!weir::json::parse(text, len, schema, error))
      throw std::invalid_argument("json.validate: schema: " + error);
  } else if (!lua::to_json(L, 2, schema, error)) {
    throw std::invalid_argument("json.validate: schema: " + error);
  }
  // An empty plain Lua table converts as an empty array; as a schema it can only mean {}.
  if (schema.is_array() && schema.empty()) schema = nlohmann::json::object();

  std::vector<weir::json::SchemaError> errors;
  try {
    errors = weir::json::SchemaValidator(schema).validate(value);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("json.validate: ") + e.what());
  }

  if (errors.empty()) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushboolean(L, 0);
  lua_createtable(L, static_cast<int>(errors.size()), 0);
  lua_Integer i = 1;
  for (const auto& e : errors) {
    lua_createtable(L, 0, 3);
    lua_pushlstring(L, e.pointer.data(), e.pointer.size());
    lua_setfield(L, -2, "pointer");
    lua_pushlstring(L, e.keyword.data(), e.keyword.size());
    lua_setfield(L, -2, "keyword");
    lua_pushlstring(L, e.message.data(), e.message.size());
    lua_setfield(L, -2, "message");
    lua_rawseti(L, -2, i++);
  }
  return 2;
}

// Marks table 1 with the metatable `marker` (the same ones json.decode sets) and returns it.
int mark(lua_State* L, const char* marker) {
  if (lua_isnoneornil(L, 1)) {
    lua_settop(L, 0);
    lua_newtable(L);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  if (lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, lua::kJsonArrayMarker);
    luaL_getmetatable(L, lua::kJsonObjectMarker);
    if (!lua_rawequal(L, -1, -3) && !lua_rawequal(L, -2, -3))
      throw std::invalid_argument(std::string(marker) + ": the table already has a metatable");
    lua_pop(L, 3);
  }
  lua_settop(L, 1);
  luaL_setmetatable(L, marker);
  return 1;
}

int json_array(lua_State* L) {
  return mark(L, lua::kJsonArrayMarker);
}

int json_object(lua_State* L) {
  return mark(L, lua::kJsonObjectMarker);
}

const luaL_Reg kFunctions[] = {
    {"array", guarded<json_array>},       {"object", guarded<json_object>},
    {"encode", guarded<json_encode>},     {"decode", guarded<json_decode>},
    {"validate", guarded<json_validate>}, {nullptr, nullptr},
};

}  // namespace

int luaopen_json(lua_State* L) {
  luaL_newlib(L, kFunctions);
  lua::push_null(L);
  lua_setfield(L, -2, "null");
  return 1;
}

}  // namespace weir::modules
