// Static descriptions of builtin PostgreSQL types (see types.hpp).
#include "pg/types.hpp"

#include <unordered_map>

namespace weir::pg {

namespace {

const std::unordered_map<Oid, TypeDesc>& builtin_table() {
  static const std::unordered_map<Oid, TypeDesc> table = [] {
    std::unordered_map<Oid, TypeDesc> t;
    auto scalar = [&t](Oid o, Kind k, const char* name) {
      t[o] = TypeDesc{k, Kind::Text, ',', name};
    };
    auto array = [&t](Oid o, Kind elem, const char* name) {
      t[o] = TypeDesc{Kind::Array, elem, ',', name};
    };
    scalar(oid::kBool, Kind::Bool, "bool");
    scalar(oid::kBytea, Kind::Bytea, "bytea");
    scalar(oid::kChar, Kind::Text, "char");
    scalar(oid::kName, Kind::Text, "name");
    scalar(oid::kInt8, Kind::Integer, "int8");
    scalar(oid::kInt2, Kind::Integer, "int2");
    scalar(oid::kInt4, Kind::Integer, "int4");
    scalar(oid::kText, Kind::Text, "text");
    scalar(oid::kOid, Kind::Integer, "oid");
    scalar(oid::kJson, Kind::Json, "json");
    scalar(oid::kFloat4, Kind::Float, "float4");
    scalar(oid::kFloat8, Kind::Float, "float8");
    scalar(oid::kBpchar, Kind::Text, "bpchar");
    scalar(oid::kVarchar, Kind::Text, "varchar");
    scalar(oid::kNumeric, Kind::Numeric, "numeric");
    scalar(oid::kJsonb, Kind::Json, "jsonb");
    scalar(1082, Kind::Text, "date");
    scalar(1083, Kind::Text, "time");
    scalar(1114, Kind::Text, "timestamp");
    scalar(1184, Kind::Text, "timestamptz");
    scalar(1186, Kind::Text, "interval");
    scalar(1266, Kind::Text, "timetz");
    scalar(2950, Kind::Text, "uuid");
    scalar(869, Kind::Text, "inet");
    scalar(650, Kind::Text, "cidr");
    array(oid::kBoolArray, Kind::Bool, "_bool");
    array(oid::kByteaArray, Kind::Bytea, "_bytea");
    array(1002, Kind::Text, "_char");
    array(1003, Kind::Text, "_name");
    array(oid::kInt2Array, Kind::Integer, "_int2");
    array(oid::kInt4Array, Kind::Integer, "_int4");
    array(oid::kTextArray, Kind::Text, "_text");
    array(1014, Kind::Text, "_bpchar");
    array(1015, Kind::Text, "_varchar");
    array(oid::kInt8Array, Kind::Integer, "_int8");
    array(oid::kFloat4Array, Kind::Float, "_float4");
    array(oid::kFloat8Array, Kind::Float, "_float8");
    array(1028, Kind::Integer, "_oid");
    array(oid::kNumericArray, Kind::Numeric, "_numeric");
    array(oid::kJsonArray, Kind::Json, "_json");
    array(oid::kJsonbArray, Kind::Json, "_jsonb");
    array(1182, Kind::Text, "_date");
    array(1183, Kind::Text, "_time");
    array(1115, Kind::Text, "_timestamp");
    array(1185, Kind::Text, "_timestamptz");
    array(1187, Kind::Text, "_interval");
    array(2951, Kind::Text, "_uuid");
    array(1041, Kind::Text, "_inet");
    array(651, Kind::Text, "_cidr");
    return t;
  }();
  return table;
}

}  // namespace

const TypeDesc* builtin_type(Oid type) {
  const auto& t = builtin_table();
  auto it = t.find(type);
  return it == t.end() ? nullptr : &it->second;
}

Kind kind_for_category(char category) {
  switch (category) {
    case 'B':
      return Kind::Bool;
    case 'A':
      return Kind::Array;
    default:
      return Kind::Text;
  }
}

}  // namespace weir::pg
