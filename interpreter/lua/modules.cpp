// The single list of weir's Lua modules (see modules.hpp).
#include "lua/modules.hpp"

#include "lua/convert.hpp"
#include "lua/error.hpp"
#include "lua/stdlib_embedded.hpp"
#include "modules/modules.hpp"

namespace weir::lua {

namespace {

struct Module {
  const char* name;
  lua_CFunction open;
};

const Module kModules[] = {
    {"db.core", modules::luaopen_db_core},
    {"weir.core", modules::luaopen_weir},
    {"json", modules::luaopen_json},
    {"sql", modules::luaopen_sql},
    {"schema.core", modules::luaopen_schema_core},
    {"copy.core", modules::luaopen_copy_core},
    {"progress.core", modules::luaopen_progress_core},
};

const char* const kNames[] = {"db.core",     "weir.core", "json",          "sql",
                              "schema.core", "copy.core", "progress.core", nullptr};

}  // namespace

void open_weir_libraries(lua_State* L) {
  luaL_openlibs(L);
  register_value_types(L);
  register_error_type(L);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
  for (const Module& m : kModules) {
    lua_pushcfunction(L, m.open);
    lua_setfield(L, -2, m.name);
  }
  lua_pop(L, 1);
  preload_stdlib(L);
}

const char* const* module_names() {
  return kNames;
}

}  // namespace weir::lua
