// Schema diff: from two inspected models (pg/inspect.hpp) to the ordered list of changes that
// turns the first into the second. Each change carries its SQL, the hazards a reviewer must
// know about, and whether it may run inside a transaction.
//
// Order: what is dropped goes first, dependents before what they depend on (views, triggers,
// policies, foreign keys, constraints and indexes, tables, functions, sequences, types,
// schemas); then what is created, dependencies first (schemas, extensions, types, functions,
// sequences, tables, columns, constraints, indexes, foreign keys, views in dependency order,
// triggers, policies, grants, comments).
//
// Online by default on tables that already exist: CREATE INDEX CONCURRENTLY (a changed index is
// built under a temporary name first, then swapped), foreign keys and checks added NOT VALID and
// then validated, SET NOT NULL backed by a validated CHECK, unique constraints attached to a
// concurrently built index, enum values added in position.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>
#include "pg/inspect.hpp"

namespace weir::pg {

struct Change {
  std::string kind;                  // "create table", "add column", "drop index", …
  std::string object;                // the object it concerns, qualified: public.users.email
  std::string sql;                   // one statement (no trailing semicolon)
  std::vector<std::string> hazards;  // see kHazards in diff.cpp / docs/schema.md
  bool transactional = true;         // false: must run outside a transaction block
  std::string note;                  // for the reviewer (a rename hint), printed as a comment
};

struct DiffOptions {
  // Objects that differ only by name or schema (a table, column, view, index, sequence,
  // function, type) are renamed or moved (ALTER … RENAME / SET SCHEMA, data kept) instead of
  // dropped and created. Off: the drop carries a note with that alternative.
  bool renames = false;
};

std::vector<Change> diff(const nlohmann::json& from, const nlohmann::json& to,
                         const DiffOptions& options = {});

// The two whole models compared, apart from the changes (what `weir diff --check` adds to
// them): `differences` names each place where they differ ("tables public.t.columns a.default"),
// expressions compared in their canonical spelling; `not_compared` lists the objects of kinds
// weir does not model (rules, foreign tables, operators …) found on either side.
struct Comparison {
  std::vector<std::string> differences;
  std::vector<std::string> not_compared;
};
Comparison compare(const nlohmann::json& from, const nlohmann::json& to);

// A change as JSON: {kind, object, sql, hazards, transaction} and note when it has one.
nlohmann::json to_json(const Change& c);

// The changes as an SQL script: hazards as comments, statements ending in ';'.
std::string to_script(const std::vector<Change>& changes);

}  // namespace weir::pg
