// Lua module "json": JSON text ↔ Lua values on nlohmann/json, with the same mapping as the db
// module (JSON null ↔ db.NULL; decoded arrays and objects remember which they were).
//   json.encode(value) -> string        raises on values JSON cannot hold (functions, NaN, cycles)
//   json.decode(text)  -> value         raises "json.decode: …" with the byte offset on bad input
#include <string>

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
  try {
    value = nlohmann::json::parse(text, text + len);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::invalid_argument(std::string("json.decode: invalid JSON at byte ") +
                                std::to_string(e.byte) + ": " + e.what());
  }
  lua::push_json(L, value);
  return 1;
}

const luaL_Reg kFunctions[] = {
    {"encode", guarded<json_encode>},
    {"decode", guarded<json_decode>},
    {nullptr, nullptr},
};

}  // namespace

int luaopen_json(lua_State* L) {
  luaL_newlib(L, kFunctions);
  lua::push_null(L);
  lua_setfield(L, -2, "null");
  return 1;
}

}  // namespace weir::modules
