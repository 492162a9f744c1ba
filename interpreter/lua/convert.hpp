// Typed conversion between PostgreSQL values and Lua values, in one place.
//
// Server → Lua (by type kind, see pg/types.hpp): integers as Lua integers, floats as floats,
// numeric as exact decimal strings, bool as boolean, json/jsonb as tables, arrays as sequences,
// bytea as raw bytes, everything else as its text form, SQL NULL as the db.NULL sentinel.
// Lua → server (bound parameters): integer, float, string, boolean as themselves; nil and
// db.NULL as NULL; db.json(t), db.array(t), db.bytea(s) wrappers; a plain table is refused.
//
// Converters never raise half-way: they return false and fill `error`; the caller raises
// after cleaning up.
#pragma once

#include <lua.hpp>

#include <nlohmann/json.hpp>
#include <string>

#include "pg/connection.hpp"

namespace weir::lua {

// Registers the NULL sentinel and the wrapper/marker metatables (idempotent).
void register_value_types(lua_State* L);

void push_null(lua_State* L);
bool is_null(lua_State* L, int idx);

// Wrappers produced by db.json / db.array / db.bytea (a one-field table with a metatable).
void push_wrapper(lua_State* L, const char* type, int value_idx);
extern const char* const kJsonWrapper;
extern const char* const kArrayWrapper;
extern const char* const kByteaWrapper;

// Pushes one column value (text format, as the server sent it).
bool push_value(lua_State* L, const pg::TypeDesc& type, const char* text, int len,
                std::string& error);

// Converts the value at `idx` into a bound parameter.
bool to_param(lua_State* L, int idx, pg::Param& out, std::string& error);

// Lua value ↔ JSON. Decoded arrays and objects carry marker metatables so an empty one
// re-encodes as what it was; JSON null decodes to db.NULL.
// Metatables (in the registry) marking tables that encode as a JSON array or object.
inline const char* const kJsonArrayMarker = "json.array";
inline const char* const kJsonObjectMarker = "json.object";

bool to_json(lua_State* L, int idx, nlohmann::json& out, std::string& error);
void push_json(lua_State* L, const nlohmann::json& value);

// Encodes a JSON value as text, failing (not throwing) on invalid UTF-8.
bool dump_json(const nlohmann::json& value, std::string& out, std::string& error);

}  // namespace weir::lua
