// Schema inspection: a model of a database's schema as JSON (nlohmann::json), read with a
// fixed, small set of catalog queries (one per object kind, never one per table). The model is
// deterministic: every list is in a fixed order, so two inspections of the same schema are
// equal. grammar/schema-model.json is its JSON Schema; docs/schema.md describes it.
//
// Names in definitions are schema-qualified (the queries run with search_path = pg_catalog),
// so a definition means the same thing in any database and diffs can be applied anywhere.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace weir::pg {

class Connection;

struct InspectOptions {
  std::vector<std::string> schemas;          // only these (empty: every user schema)
  std::vector<std::string> exclude_schemas;  // never these (e.g. weir's state schema)
  // true: names in definitions, types and defaults are written as the session's search_path
  // sees them (`users(id)`, `nextval('users_id_seq'::regclass)`) and expressions are
  // pretty-printed, as psql's \d shows them. For display only: not portable, not for diffs.
  bool display = false;
};

// Reads the model. Runs in a read-only snapshot of its own, or inside the caller's transaction
// (in a savepoint that is rolled back, leaving the session as it was). Throws SqlError.
nlohmann::json inspect(Connection& conn, const InspectOptions& options = {});

// The kinds of the model's top-level lists, in the order they appear.
const std::vector<std::string>& model_sections();

}  // namespace weir::pg
