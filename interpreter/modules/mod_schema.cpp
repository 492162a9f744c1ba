// Lua module "schema.core" (stdlib/schema.lua makes it the `schema` global):
//   inspect(db [, {schemas=, exclude_schemas=, display=}]) -> model   the schema as a table
//   (pg/inspect) diff(from, to [, {renames=}]) -> { {kind, object, sql, hazards, transaction
//   [, note]}, ... }   (pg/diff)
//   compare(from, to) -> {differences, not_compared}   the whole models side by side
//   script(changes) -> string                               the changes as an SQL script
//   diff_urls(from, to [, opts]) -> changes   connects to both, inspects them at the same time
//                                             on two threads, diffs (what `weir diff` runs);
//                                             second result: compare(from, to)
#include <future>
#include <string>
#include <vector>

#include "lua/convert.hpp"
#include "lua/guarded.hpp"
#include "modules/modules.hpp"
#include "pg/connection.hpp"
#include "pg/diff.hpp"
#include "pg/inspect.hpp"

namespace weir::modules {

namespace {

using lua::guarded;

std::vector<std::string> string_list(lua_State* L, int table, const char* field) {
  std::vector<std::string> out;
  if (lua_getfield(L, table, field) != LUA_TNIL) {
    if (!lua_istable(L, -1))
      throw std::invalid_argument(std::string("schema.inspect: ") + field +
                                  " must be a list of names");
    for (lua_Integer i = 1;; ++i) {
      if (lua_rawgeti(L, -1, i) == LUA_TNIL) {
        lua_pop(L, 1);
        break;
      }
      if (!lua_isstring(L, -1))
        throw std::invalid_argument(std::string("schema.inspect: ") + field +
                                    " must be a list of names");
      out.push_back(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return out;
}

pg::InspectOptions inspect_options(lua_State* L, int idx) {
  pg::InspectOptions options;
  if (!lua_isnoneornil(L, idx)) {
    luaL_checktype(L, idx, LUA_TTABLE);
    options.schemas = string_list(L, idx, "schemas");
    options.exclude_schemas = string_list(L, idx, "exclude_schemas");
    lua_getfield(L, idx, "display");
    if (!lua_isnil(L, -1)) {
      if (!lua_isboolean(L, -1))
        throw std::invalid_argument("schema.inspect: display must be a boolean");
      options.display = lua_toboolean(L, -1);
    }
    lua_pop(L, 1);
  }
  return options;
}

int schema_inspect(lua_State* L) {
  pg::Connection& conn = connection_arg(L, 1);
  lua::push_json(L, pg::inspect(conn, inspect_options(L, 2)));
  return 1;
}

nlohmann::json model_arg(lua_State* L, int idx, const char* what) {
  luaL_checktype(L, idx, LUA_TTABLE);
  nlohmann::json model;
  std::string error;
  if (!lua::to_json(L, idx, model, error) || !model.is_object())
    throw std::invalid_argument(std::string("schema.diff: ") + what +
                                " is not a model from schema.inspect" +
                                (error.empty() ? "" : ": " + error));
  return model;
}

std::vector<pg::Change> changes_of(lua_State* L, int idx) {
  nlohmann::json list;
  std::string error;
  luaL_checktype(L, idx, LUA_TTABLE);
  if (!lua::to_json(L, idx, list, error)) throw std::invalid_argument("schema.script: " + error);
  std::vector<pg::Change> out;
  if (list.is_object() && list.empty()) return out;
  if (!list.is_array()) throw std::invalid_argument("schema.script: expected a list of changes");
  for (const auto& c : list) {
    pg::Change ch;
    ch.kind = c.value("kind", "");
    ch.object = c.value("object", "");
    ch.sql = c.value("sql", "");
    ch.transactional = c.value("transaction", true);
    ch.note = c.value("note", "");
    for (const auto& h : c.value("hazards", nlohmann::json::array()))
      ch.hazards.push_back(h.get<std::string>());
    out.push_back(std::move(ch));
  }
  return out;
}

// {renames = bool} at `idx` (absent: the defaults).
pg::DiffOptions diff_options(lua_State* L, int idx) {
  pg::DiffOptions options;
  if (lua_isnoneornil(L, idx)) return options;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_getfield(L, idx, "renames");
  if (!lua_isnil(L, -1)) {
    if (!lua_isboolean(L, -1))
      throw std::invalid_argument("schema.diff: renames must be a boolean");
    options.renames = lua_toboolean(L, -1);
  }
  lua_pop(L, 1);
  return options;
}

int schema_diff(lua_State* L) {
  nlohmann::json from = model_arg(L, 1, "the first argument");
  nlohmann::json to = model_arg(L, 2, "the second argument");
  pg::DiffOptions options = diff_options(L, 3);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : pg::diff(from, to, options))
    out.push_back(pg::to_json(c));
  lua::push_json(L, out);
  return 1;
}

nlohmann::json comparison_json(const pg::Comparison& c) {
  return {{"differences", c.differences}, {"not_compared", c.not_compared}};
}

int schema_compare(lua_State* L) {
  nlohmann::json from = model_arg(L, 1, "the first argument");
  nlohmann::json to = model_arg(L, 2, "the second argument");
  lua::push_json(L, comparison_json(pg::compare(from, to)));
  return 1;
}

int schema_script(lua_State* L) {
  std::string text = pg::to_script(changes_of(L, 1));
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

int schema_diff_urls(lua_State* L) {
  std::string from_url = luaL_checkstring(L, 1), to_url = luaL_checkstring(L, 2);
  pg::InspectOptions options = inspect_options(L, 3);
  pg::DiffOptions diff_opts = diff_options(L, 3);
  // Connect first (one-line errors, in order), then inspect both at once.
  pg::Connection from(from_url), to(to_url);
  auto to_model = std::async(std::launch::async, [&] { return pg::inspect(to, options); });
  nlohmann::json from_model;
  try {
    from_model = pg::inspect(from, options);
  } catch (const std::exception&) {
    to_model.wait();  // never leave the thread running with references into this frame
    throw;
  }
  nlohmann::json target = to_model.get();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : pg::diff(from_model, target, diff_opts))
    out.push_back(pg::to_json(c));
  lua::push_json(L, out);
  auto cmpj = comparison_json(pg::compare(from_model, target));
  lua::push_json(L, cmpj);
  return 2;
}

const luaL_Reg kFunctions[] = {
    {"diff_urls", guarded<schema_diff_urls>}, {"inspect", guarded<schema_inspect>},
    {"diff", guarded<schema_diff>},           {"compare", guarded<schema_compare>},
    {"script", guarded<schema_script>},       {nullptr, nullptr},
};

}  // namespace

int luaopen_schema_core(lua_State* L) {
  luaL_newlib(L, kFunctions);
  return 1;
}

}  // namespace weir::modules
