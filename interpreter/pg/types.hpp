// PostgreSQL type descriptions: how a value of a given type OID is represented in weir.
// Builtin OIDs are known statically; anything else (domains, enums, user arrays) is resolved
// through pg_catalog.pg_type by Connection::describe_types and cached per connection.
#pragma once

#include <libpq-fe.h>

#include <string>

namespace weir::pg {

// The representation weir chooses for a value, independent of the scripting language.
enum class Kind {
  Text,     // any type without a better mapping: its text form (uuid, dates, inet, enums…)
  Integer,  // int2, int4, int8, oid
  Float,    // float4, float8
  Numeric,  // numeric: kept as its exact decimal text
  Bool,
  Bytea,  // raw bytes
  Json,   // json, jsonb
  Array,  // an array of `elem`
};

struct TypeDesc {
  Kind kind = Kind::Text;
  Kind elem = Kind::Text;  // element kind when kind == Array (never Array itself)
  char delim = ',';        // array element delimiter: the element type's typdelim (';' for box)
  std::string name;        // type name as the catalog spells it, e.g. "int4", "_text", "mood"
};

namespace oid {
constexpr Oid kBool = 16, kBytea = 17, kChar = 18, kName = 19, kInt8 = 20, kInt2 = 21, kInt4 = 23,
              kText = 25, kOid = 26, kJson = 114, kFloat4 = 700, kFloat8 = 701, kBpchar = 1042,
              kVarchar = 1043, kNumeric = 1700, kJsonb = 3802;
constexpr Oid kBoolArray = 1000, kByteaArray = 1001, kInt2Array = 1005, kInt4Array = 1007,
              kTextArray = 1009, kInt8Array = 1016, kFloat4Array = 1021, kFloat8Array = 1022,
              kNumericArray = 1231, kJsonArray = 199, kJsonbArray = 3807;
}  // namespace oid

// The description of a builtin type, or nullptr when the catalog must be asked.
const TypeDesc* builtin_type(Oid type);

// The kind of a scalar type given its pg_type.typcategory (used for domains' base types
// and types the static table does not know).
Kind kind_for_category(char category);

}  // namespace weir::pg
