// Lint rules over libpg_query's parse trees (see lint.hpp; the rules are documented in
// docs/lint.md, which names the same messages).
#include "pg/lint.hpp"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>

#include "pg/sql_parse.hpp"

namespace weir::pg {

const char* const kLintSyntaxError = "syntax-error";

namespace {

using json = nlohmann::json;

constexpr const char* kBadIgnore = "bad-ignore";

const std::vector<LintRule> kRules = {
    {"index-not-concurrent", "CREATE INDEX without CONCURRENTLY on an existing table"},
    {"drop-index-not-concurrent", "DROP INDEX without CONCURRENTLY on an existing index"},
    {"concurrently-in-transaction",
     "a CONCURRENTLY index operation inside a transaction, where it cannot run"},
    {"constraint-not-valid", "a FOREIGN KEY or CHECK added to an existing table without NOT VALID"},
    {"set-not-null", "SET NOT NULL on an existing column without a validated IS NOT NULL check"},
    {"not-null-without-default", "ADD COLUMN ... NOT NULL without a DEFAULT on an existing table"},
    {"volatile-default",
     "ADD COLUMN on an existing table with a value computed per row (volatile DEFAULT, serial, "
     "identity, stored generated): a table rewrite"},
    {"alter-column-type", "ALTER COLUMN ... TYPE on an existing column"},
    {"drop-column", "DROP COLUMN of an existing column"},
    {"drop-table", "DROP TABLE of an existing table"},
    {"rename-column", "RENAME COLUMN of an existing column"},
    {"rename-table", "RENAME of an existing table or view"},
    {"constraint-builds-index",
     "a UNIQUE, PRIMARY KEY or EXCLUDE constraint added to an existing table without USING INDEX"},
    {"timestamp-without-time-zone", "a column of type timestamp (without time zone)"},
    {"prefer-bigint",
     "an integer or smallint key column (primary key, identity, foreign key), or serial / "
     "smallserial anywhere"},
    {"prefer-text", "a column of type varchar(n) or char(n)"},
    {"enum-value-position", "ALTER TYPE ... ADD VALUE without BEFORE or AFTER on an existing enum"},
    {kBadIgnore, "a malformed `-- weir:ignore` comment (it suppresses nothing)"},
};

// Built-in functions whose result differs per row: as an ADD COLUMN default they make
// PostgreSQL write a value into every row (a rewrite). Non-volatile defaults (now(),
// constants) are stored once in the catalog instead (PostgreSQL 11+).
const std::set<std::string> kVolatileFunctions = {
    "random",           "random_normal",    "clock_timestamp",  "timeofday",
    "gen_random_uuid",  "gen_random_bytes", "uuid_generate_v1", "uuid_generate_v1mc",
    "uuid_generate_v4", "uuidv4",           "uuidv7",           "nextval",
    "setval",
};

const std::set<std::string> kSerialTypes = {"serial",  "serial4",     "serial2",
                                            "serial8", "smallserial", "bigserial"};

// ---- reading libpg_query's JSON ---------------------------------------------------------

const json& null_json() {
  static const json n;
  return n;
}

const json& empty_array() {
  static const json a = json::array();
  return a;
}

const json& field(const json& n, const char* key) {
  if (!n.is_object()) return null_json();
  auto it = n.find(key);
  return it == n.end() ? null_json() : *it;
}

std::string str(const json& n, const char* key) {
  const json& v = field(n, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

bool flag(const json& n, const char* key) {
  const json& v = field(n, key);
  return v.is_boolean() && v.get<bool>();
}

const json& items(const json& n, const char* key) {
  const json& v = field(n, key);
  return v.is_array() ? v : empty_array();
}

// The fields of a wrapped node {"TYPE": {...}}, or null when it is another type.
const json& as(const json& wrapped, const char* type) {
  return field(wrapped, type);
}

std::string sval(const json& wrapped) {
  return str(as(wrapped, "String"), "sval");
}

std::vector<std::string> strings(const json& list) {
  std::vector<std::string> out;
  for (const auto& s : list)
    out.push_back(sval(s));
  return out;
}

// ---- names --------------------------------------------------------------------------------

struct Name {
  std::string schema, name;
  std::string shown() const { return schema.empty() ? name : schema + "." + name; }
};

// Two names for the same object: equal names, and equal schemas when both are given (an
// unqualified name could be in any schema on the search path; the linter errs on "same").
bool same(const Name& a, const Name& b) {
  return a.name == b.name && (a.schema.empty() || b.schema.empty() || a.schema == b.schema);
}

Name range_var(const json& rv) {
  return {str(rv, "schemaname"), str(rv, "relname")};
}

// ["schema", "name"] or ["name"] (from a List of Strings or a plain array of Strings).
Name qualified(const std::vector<std::string>& parts) {
  if (parts.empty()) return {};
  if (parts.size() == 1) return {"", parts[0]};
  return {parts[parts.size() - 2], parts.back()};
}

struct TypeInfo {
  std::string name;   // the last part of the type's name: "int4", "varchar", "serial", …
  bool catalog;       // qualified with pg_catalog (how the grammar spells built-in keywords)
  bool builtin;       // pg_catalog's, or unqualified (serial, int4, timestamptz, …)
  bool has_typmods;   // varchar(20), timestamp(3)
  std::string shown;  // for messages
};

TypeInfo type_info(const json& type_name) {
  std::vector<std::string> parts = strings(items(type_name, "names"));
  TypeInfo t;
  t.name = parts.empty() ? "" : parts.back();
  t.catalog = parts.size() == 2 && parts[0] == "pg_catalog";
  t.has_typmods = !items(type_name, "typmods").empty();
  t.builtin = t.catalog || parts.size() == 1;
  static const std::pair<const char*, const char*> kShown[] = {
      {"int4", "integer"},
      {"int2", "smallint"},
      {"int8", "bigint"},
      {"bpchar", "char"},
      {"varchar", "varchar"},
      {"timestamp", "timestamp"},
      {"timestamptz", "timestamptz"},
  };
  t.shown = t.name;
  if (t.builtin) {
    for (const auto& [from, to] : kShown) {
      if (t.name == from) t.shown = to;
    }
  }
  if (t.has_typmods) {
    std::string mods;
    for (const auto& m : items(type_name, "typmods")) {
      const json& c = as(m, "A_Const");
      const json& iv = field(field(c, "ival"), "ival");
      if (!mods.empty()) mods += ",";
      mods += iv.is_number_integer() ? std::to_string(iv.get<long long>()) : std::string("…");
    }
    t.shown += "(" + mods + ")";
  }
  if (!items(type_name, "arrayBounds").empty()) t.shown += "[]";
  return t;
}

bool is_builtin(const TypeInfo& t, std::initializer_list<const char*> names) {
  if (!t.builtin) return false;
  for (const char* n : names) {
    if (t.name == n) return true;
  }
  return false;
}

bool is_serial(const TypeInfo& t) {
  return !t.catalog && t.builtin && kSerialTypes.count(t.name);
}

// ---- the SQL text: lines and comments ---------------------------------------------------------

int line_of(const std::string& s, size_t offset) {
  offset = std::min(offset, s.size());
  return 1 + static_cast<int>(std::count(s.begin(), s.begin() + static_cast<long>(offset), '\n'));
}

// Byte offset of a 1-based character position (PostgreSQL counts characters, not bytes).
size_t byte_of_position(const std::string& s, int position) {
  size_t at = 0;
  for (int chars = 1; at < s.size() && chars < position; ++chars) {
    ++at;
    while (at < s.size() && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80)
      ++at;
  }
  return at;
}

bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

struct LineComment {
  size_t pos;        // of the "--"
  std::string text;  // from "--" to the end of the line
  bool after_code;   // something other than white space comes before it on its line
};

// The `--` comments of `s`, skipping string literals, quoted identifiers, dollar-quoted
// bodies and block comments (which may contain "--").
std::vector<LineComment> line_comments(const std::string& s) {
  std::vector<LineComment> out;
  bool code_on_line = false;
  size_t i = 0;
  auto skip_to = [&](size_t next) {
    for (size_t k = i; k < next && k < s.size(); ++k) {
      if (s[k] == '\n') code_on_line = false;
    }
    i = std::min(next, s.size());
  };
  while (i < s.size()) {
    char c = s[i];
    if (c == '\n') {
      code_on_line = false;
      ++i;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (s.compare(i, 2, "--") == 0) {
      size_t eol = s.find('\n', i);
      if (eol == std::string::npos) eol = s.size();
      out.push_back({i, s.substr(i, eol - i), code_on_line});
      i = eol;
    } else if (s.compare(i, 2, "/*") == 0) {
      int depth = 0;
      size_t k = i;
      do {
        if (s.compare(k, 2, "/*") == 0) {
          ++depth;
          k += 2;
        } else if (s.compare(k, 2, "*/") == 0) {
          --depth;
          k += 2;
        } else {
          ++k;
        }
      } while (depth > 0 && k < s.size());
      skip_to(k);
    } else if (c == '\'' || c == '"') {
      code_on_line = true;
      bool escapes = c == '\'' && i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
                     (i < 2 || !ident_char(s[i - 2]));
      size_t k = i + 1;
      while (k < s.size()) {
        if (escapes && s[k] == '\\') {
          k += 2;
        } else if (s[k] == c) {
          if (k + 1 < s.size() && s[k + 1] == c) {
            k += 2;
          } else {
            break;
          }
        } else {
          ++k;
        }
      }
      skip_to(k + 1);
      code_on_line = true;
    } else if (c == '$' && (i == 0 || !ident_char(s[i - 1]))) {
      // $tag$ … $tag$ (the tag does not start with a digit: $1 is a parameter)
      size_t k = i + 1;
      while (k < s.size() && (std::isalnum(static_cast<unsigned char>(s[k])) || s[k] == '_'))
        ++k;
      code_on_line = true;
      if (k < s.size() && s[k] == '$' && !std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
        std::string tag = s.substr(i, k - i + 1);
        size_t close = s.find(tag, k + 1);
        skip_to(close == std::string::npos ? s.size() : close + tag.size());
        code_on_line = true;
      } else {
        ++i;
      }
    } else {
      code_on_line = true;
      ++i;
    }
  }
  return out;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
    ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])))
    --e;
  return s.substr(b, e - b);
}

// A `-- weir:ignore` comment read: the rules it names, or what is wrong with it.
struct Ignore {
  std::vector<std::string> rules;
  std::string error;  // non-empty: malformed
};

constexpr const char* kDirective = "weir:ignore";

// Whether `comment` (from "--") is meant as an ignore directive at all.
bool is_directive(const std::string& comment) {
  std::string body = trim(comment.substr(2));
  return body.compare(0, std::char_traits<char>::length(kDirective), kDirective) == 0;
}

Ignore parse_ignore(const std::string& comment) {
  Ignore r;
  std::string body = trim(comment.substr(2));
  std::string rest = body.substr(std::char_traits<char>::length(kDirective));
  if (!rest.empty() && !std::isspace(static_cast<unsigned char>(rest[0]))) {
    r.error = "expected `-- weir:ignore RULE[, RULE...] [-- reason]`";
    return r;
  }
  size_t reason = rest.find("--");
  if (reason != std::string::npos) rest = rest.substr(0, reason);
  rest = trim(rest);
  if (rest.empty()) {
    r.error = "it names no rule (expected `-- weir:ignore RULE[, RULE...]`)";
    return r;
  }
  size_t at = 0;
  while (true) {
    size_t comma = rest.find(',', at);
    std::string name =
        trim(rest.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (name.empty()) {
      r.error = "an empty rule name in the list";
    } else if (std::any_of(name.begin(), name.end(),
                           [](char c) { return std::isspace(static_cast<unsigned char>(c)); })) {
      r.error = "rule names must be separated by commas, got '" + name + "'";
    } else if (name == kBadIgnore) {
      r.error = "bad-ignore cannot be suppressed: fix the comment instead";
    } else if (!is_lint_rule(name)) {
      r.error = "unknown rule '" + name + "'";
    }
    if (!r.error.empty()) {
      r.rules.clear();
      return r;
    }
    r.rules.push_back(name);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return r;
}

std::string bad_ignore_message(const std::string& error) {
  return "malformed `-- weir:ignore` (it suppresses nothing): " + error;
}

// The statement as written: from its first token to its end, without the ';'.
std::string statement_text(const std::string& sql, const Statement& s) {
  std::string t = s.offset < s.end ? sql.substr(s.offset, s.end - s.offset) : "";
  size_t e = t.size();
  while (e > 0 && (std::isspace(static_cast<unsigned char>(t[e - 1])) || t[e - 1] == ';'))
    --e;
  return t.substr(0, e);
}

// A function call in an expression tree whose name is in `names`; "" when there is none.
std::string find_call(const json& n, const std::set<std::string>& names) {
  if (n.is_object()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (it.key() == "FuncCall") {
        std::vector<std::string> fn = strings(items(it.value(), "funcname"));
        if (!fn.empty() && names.count(fn.back())) return fn.back();
      }
      std::string found = find_call(it.value(), names);
      if (!found.empty()) return found;
    }
  } else if (n.is_array()) {
    for (const auto& v : n) {
      std::string found = find_call(v, names);
      if (!found.empty()) return found;
    }
  }
  return "";
}

// `CHECK (col IS NOT NULL)`: the column, else "".
std::string not_null_check_column(const json& constraint) {
  const json& test = as(field(constraint, "raw_expr"), "NullTest");
  if (str(test, "nulltesttype") != "IS_NOT_NULL") return "";
  const json& ref = as(field(test, "arg"), "ColumnRef");
  const json& fields = items(ref, "fields");
  return fields.size() == 1 ? sval(fields[0]) : "";
}

}  // namespace

const std::vector<LintRule>& lint_rules() {
  return kRules;
}

bool is_lint_rule(const std::string& name) {
  return std::any_of(kRules.begin(), kRules.end(),
                     [&name](const LintRule& r) { return name == r.name; });
}

// ---- the linter's memory and the rules ----------------------------------------------------

struct Linter::State {
  std::vector<Name> tables;                           // created earlier (tables, views, …)
  std::vector<std::pair<Name, std::string>> columns;  // added earlier to other tables
  std::vector<Name> indexes;                          // created earlier
  std::vector<Name> enums;                            // created earlier
  // CHECK (col IS NOT NULL) constraints added earlier: table, constraint name, column.
  struct NotNullCheck {
    Name table;
    std::string constraint, column;
    bool validated;
  };
  std::vector<NotNullCheck> checks;
  int begin_line = 0;  // inside BEGIN … COMMIT of the text (the line of its BEGIN), else 0
  bool begin_in_text = false;

  // The statement being checked and what it found.
  struct Current {
    const std::string* sql;
    const Statement* stmt;
    std::string why_in_transaction;  // non-empty: runs inside a transaction, and why
    std::vector<LintViolation> found;
  } cur{};

  static bool has(const std::vector<Name>& names, const Name& n) {
    return std::any_of(names.begin(), names.end(), [&n](const Name& x) { return same(x, n); });
  }
  static void forget(std::vector<Name>& names, const Name& n) {
    names.erase(
        std::remove_if(names.begin(), names.end(), [&n](const Name& x) { return same(x, n); }),
        names.end());
  }
  bool new_table(const Name& t) const { return has(tables, t); }
  bool new_column(const Name& t, const std::string& col) const {
    if (new_table(t)) return true;
    return std::any_of(columns.begin(), columns.end(),
                       [&](const auto& c) { return same(c.first, t) && c.second == col; });
  }
  bool proven_not_null(const Name& t, const std::string& col) const {
    return std::any_of(checks.begin(), checks.end(), [&](const NotNullCheck& c) {
      return c.validated && same(c.table, t) && c.column == col;
    });
  }

  void report(const char* rule, std::string message) {
    LintViolation v;
    v.line = cur.stmt->line;
    v.rule = rule;
    v.message = std::move(message);
    v.statement = statement_text(*cur.sql, *cur.stmt);
    cur.found.push_back(std::move(v));
  }

  // ---- column definitions (CREATE TABLE, ADD COLUMN, ALTER COLUMN TYPE) ----

  // Type rules for a column of type `type_name`; `key` says why it holds a key ("" if not).
  void check_type(const std::string& column, const json& type_name, const std::string& key) {
    TypeInfo t = type_info(type_name);
    if (!t.builtin) return;
    if (t.name == "timestamp") {
      report("timestamp-without-time-zone",
             "column " + column + " is " + t.shown +
                 " (without time zone): it stores wall-clock values that mean different instants "
                 "in different zones; use timestamptz");
    }
    if (is_builtin(t, {"varchar", "bpchar"}) && t.has_typmods) {
      report("prefer-text",
             "column " + column + " is " + t.shown +
                 (t.name == "varchar"
                      ? ": changing its limit later takes an ACCESS EXCLUSIVE lock (and rewrites "
                        "the table when it shrinks)"
                      : ": char pads values with spaces and compares them ignoring trailing "
                        "ones") +
                 "; use text, with a CHECK on its length if a limit matters");
    }
    if (is_serial(t) && t.name != "bigserial" && t.name != "serial8") {
      report("prefer-bigint",
             "column " + column + " is " + t.name +
                 ": a 32-bit (or 16-bit) sequence runs out, and changing it later rewrites the "
                 "table; use bigint GENERATED ALWAYS AS IDENTITY");
    } else if (is_builtin(t, {"int4", "int2"}) && !key.empty()) {
      report("prefer-bigint",
             "column " + column + " is " + t.shown + " and holds a key (" + key +
                 "): 32-bit keys run out, and widening them later rewrites the table and every "
                 "referencing one; use bigint");
    }
  }

  // Why a column of a CREATE TABLE / ADD COLUMN holds a key, from its own constraints and
  // the table constraints `table_constraints` (of a CREATE TABLE).
  static std::string key_reason(const json& coldef, const json& table_constraints) {
    std::string col = str(coldef, "colname");
    for (const auto& c : items(coldef, "constraints")) {
      std::string type = str(as(c, "Constraint"), "contype");
      if (type == "CONSTR_PRIMARY") return "primary key";
      if (type == "CONSTR_IDENTITY") return "identity";
      if (type == "CONSTR_FOREIGN") return "foreign key";
    }
    for (const auto& c : table_constraints) {
      std::string type = str(c, "contype");
      const char* list = type == "CONSTR_PRIMARY"   ? "keys"
                         : type == "CONSTR_FOREIGN" ? "fk_attrs"
                                                    : nullptr;
      if (!list) continue;
      auto cols = strings(items(c, list));
      if (std::find(cols.begin(), cols.end(), col) != cols.end())
        return type == "CONSTR_PRIMARY" ? "primary key" : "foreign key";
    }
    return "";
  }

  // ---- statements ----

  void create_table(const json& t) {
    Name table = range_var(field(t, "relation"));
    json table_constraints = json::array();
    for (const auto& e : items(t, "tableElts")) {
      if (const json& c = as(e, "Constraint"); !c.is_null()) table_constraints.push_back(c);
    }
    for (const auto& e : items(t, "tableElts")) {
      const json& col = as(e, "ColumnDef");
      if (col.is_null()) continue;
      check_type(table.shown() + "." + str(col, "colname"), field(col, "typeName"),
                 key_reason(col, table_constraints));
    }
    forget(tables, table);
    tables.push_back(table);
  }

  void add_column(const Name& table, const json& col) {
    std::string name = str(col, "colname");
    bool existing = !new_table(table);
    check_type(table.shown() + "." + name, field(col, "typeName"), key_reason(col, json::array()));
    if (existing) {
      TypeInfo t = type_info(field(col, "typeName"));
      bool serial = is_serial(t);
      bool not_null = false, has_default = serial;
      std::string volatile_what;
      if (serial) volatile_what = "its type " + t.name + " fills every row from a sequence";
      for (const auto& c : items(col, "constraints")) {
        const json& k = as(c, "Constraint");
        std::string type = str(k, "contype");
        if (type == "CONSTR_NOTNULL" || type == "CONSTR_PRIMARY") not_null = true;
        if (type == "CONSTR_DEFAULT") {
          has_default = true;
          std::string fn = find_call(field(k, "raw_expr"), kVolatileFunctions);
          if (!fn.empty()) volatile_what = "its DEFAULT calls " + fn + "(), which is volatile";
        }
        if (type == "CONSTR_IDENTITY") {
          has_default = true;
          volatile_what = "an identity column fills every row from a sequence";
        }
        if (type == "CONSTR_GENERATED") {
          has_default = true;
          volatile_what = "a stored generated column is computed for every row";
        }
        if ((type == "CONSTR_FOREIGN" || type == "CONSTR_CHECK") && !flag(k, "skip_validation")) {
          report("constraint-not-valid",
                 std::string("ADD COLUMN ") + name + " with " +
                     (type == "CONSTR_FOREIGN" ? "REFERENCES" : "CHECK") + " on existing table " +
                     table.shown() +
                     " checks every row while holding an ACCESS EXCLUSIVE lock; add the column "
                     "first, then the constraint NOT VALID, then VALIDATE CONSTRAINT");
        }
        if (type == "CONSTR_UNIQUE" || type == "CONSTR_PRIMARY") {
          report("constraint-builds-index",
                 std::string("ADD COLUMN ") + name + " " +
                     (type == "CONSTR_UNIQUE" ? "UNIQUE" : "PRIMARY KEY") + " on existing table " +
                     table.shown() +
                     " builds an index while holding an ACCESS EXCLUSIVE lock; add the column, "
                     "CREATE UNIQUE INDEX CONCURRENTLY, then ADD CONSTRAINT ... USING INDEX");
        }
      }
      if (not_null && !has_default) {
        report("not-null-without-default",
               "ADD COLUMN " + name + " NOT NULL without a DEFAULT fails on existing table " +
                   table.shown() +
                   " as soon as it has a row; give it a non-volatile DEFAULT, or add it nullable, "
                   "backfill, and then set NOT NULL through a validated CHECK");
      }
      if (!volatile_what.empty()) {
        report("volatile-default",
               "ADD COLUMN " + name + " rewrites existing table " + table.shown() +
                   " and its indexes under an ACCESS EXCLUSIVE lock: " + volatile_what +
                   "; add the column without it (or with a constant DEFAULT), then backfill in "
                   "batches");
      }
      columns.emplace_back(table, name);
    }
  }

  void add_constraint(const Name& table, const json& c) {
    std::string type = str(c, "contype");
    std::string name = str(c, "conname");
    std::string named = name.empty() ? "" : " " + name;
    bool existing = !new_table(table);
    if (type == "CONSTR_CHECK") {
      std::string col = not_null_check_column(c);
      if (!col.empty()) checks.push_back({table, name, col, !flag(c, "skip_validation")});
    }
    if (!existing) return;
    if ((type == "CONSTR_FOREIGN" || type == "CONSTR_CHECK") && !flag(c, "skip_validation")) {
      const char* what = type == "CONSTR_FOREIGN" ? "FOREIGN KEY" : "CHECK";
      report("constraint-not-valid",
             "ADD CONSTRAINT" + named + " " + what + " on existing table " + table.shown() +
                 " checks every row while holding its lock" +
                 (type == "CONSTR_FOREIGN" ? " (and one on the referenced table)" : "") +
                 "; add it NOT VALID, then VALIDATE CONSTRAINT" + named +
                 " in a later statement (it only takes a SHARE UPDATE EXCLUSIVE lock)");
    }
    if ((type == "CONSTR_UNIQUE" || type == "CONSTR_PRIMARY") && str(c, "indexname").empty()) {
      std::string what = type == "CONSTR_UNIQUE" ? "UNIQUE" : "PRIMARY KEY";
      report("constraint-builds-index",
             "ADD CONSTRAINT" + named + " " + what + " on existing table " + table.shown() +
                 " builds its index while holding an ACCESS EXCLUSIVE lock; CREATE UNIQUE INDEX "
                 "CONCURRENTLY first, then ADD CONSTRAINT" +
                 named + " " + what + " USING INDEX");
    }
    if (type == "CONSTR_EXCLUSION") {
      report("constraint-builds-index",
             "ADD CONSTRAINT" + named + " EXCLUDE on existing table " + table.shown() +
                 " builds its index while holding an ACCESS EXCLUSIVE lock, and has no USING "
                 "INDEX form; schedule it for a quiet moment and suppress this with a reason");
    }
  }

  void alter_table(const json& t) {
    Name table = range_var(field(t, "relation"));
    for (const auto& wrapped : items(t, "cmds")) {
      const json& cmd = as(wrapped, "AlterTableCmd");
      std::string sub = str(cmd, "subtype");
      std::string col = str(cmd, "name");
      const json& def = field(cmd, "def");
      if (sub == "AT_AddColumn") {
        add_column(table, as(def, "ColumnDef"));
      } else if (sub == "AT_AddConstraint") {
        add_constraint(table, as(def, "Constraint"));
      } else if (sub == "AT_ValidateConstraint") {
        for (auto& c : checks) {
          if (same(c.table, table) && c.constraint == col) c.validated = true;
        }
      } else if (sub == "AT_SetNotNull") {
        if (!new_column(table, col) && !proven_not_null(table, col)) {
          report("set-not-null",
                 "SET NOT NULL on existing column " + table.shown() + "." + col +
                     " scans the whole table under an ACCESS EXCLUSIVE lock; first ADD "
                     "CONSTRAINT ... CHECK (" +
                     col +
                     " IS NOT NULL) NOT VALID and VALIDATE it, then SET NOT NULL skips the scan");
        }
      } else if (sub == "AT_AlterColumnType") {
        const json& coldef = as(def, "ColumnDef");
        check_type(table.shown() + "." + col, field(coldef, "typeName"), "");
        if (!new_column(table, col)) {
          report(
              "alter-column-type",
              "changing the type of existing column " + table.shown() + "." + col + " to " +
                  type_info(field(coldef, "typeName")).shown +
                  " takes an ACCESS EXCLUSIVE lock, usually rewrites the table and its indexes, "
                  "and breaks clients expecting the old type; add a new column, backfill it, "
                  "and switch clients over (online.alter_column does all of it, docs/online.md)");
        }
      } else if (sub == "AT_DropColumn") {
        if (!new_column(table, col)) {
          report("drop-column",
                 "DROP COLUMN " + table.shown() + "." + col +
                     " deletes its data and breaks every client (and view or function) still "
                     "using it; stop using it first, and drop it in a later contract phase");
        }
        columns.erase(
            std::remove_if(columns.begin(), columns.end(),
                           [&](const auto& c) { return same(c.first, table) && c.second == col; }),
            columns.end());
      } else if (sub == "AT_DetachPartition") {
        if (flag(as(def, "PartitionCmd"), "concurrent")) concurrently("DETACH PARTITION");
      }
    }
  }

  void concurrently(const std::string& what) {
    if (cur.why_in_transaction.empty()) return;
    report("concurrently-in-transaction",
           what + " CONCURRENTLY cannot run inside a transaction block, and this one runs " +
               cur.why_in_transaction +
               "; run it on its own, outside BEGIN … COMMIT (in a migration: a phase with "
               "transaction = false)");
  }

  void create_index(const json& t) {
    Name table = range_var(field(t, "relation"));
    if (flag(t, "concurrent")) {
      concurrently("CREATE INDEX");
    } else if (!new_table(table)) {
      std::string idx = str(t, "idxname");
      report("index-not-concurrent",
             "CREATE " + std::string(flag(t, "unique") ? "UNIQUE " : "") + "INDEX" +
                 (idx.empty() ? "" : " " + idx) + " on existing table " + table.shown() +
                 " blocks writes to it until the index is built; use CREATE INDEX CONCURRENTLY "
                 "(outside a transaction)");
    }
    std::string idx = str(t, "idxname");
    if (!idx.empty()) indexes.push_back({table.schema, idx});
  }

  void drop(const json& t) {
    std::string type = str(t, "removeType");
    for (const auto& o : items(t, "objects")) {
      Name n = qualified(strings(items(as(o, "List"), "items")));
      if (type == "OBJECT_TABLE") {
        if (!new_table(n)) {
          report("drop-table", "DROP TABLE " + n.shown() +
                                   " deletes its data and breaks every client still using it; "
                                   "stop using it first, keep a backup or a renamed copy until "
                                   "you are sure, and drop it in a later contract phase");
        }
        forget(tables, n);
      } else if (type == "OBJECT_VIEW" || type == "OBJECT_MATVIEW" ||
                 type == "OBJECT_FOREIGN_TABLE") {
        forget(tables, n);
      } else if (type == "OBJECT_INDEX") {
        if (flag(t, "concurrent")) {
          concurrently("DROP INDEX");
        } else if (!has(indexes, n)) {
          report("drop-index-not-concurrent",
                 "DROP INDEX " + n.shown() +
                     " takes an ACCESS EXCLUSIVE lock on its table, queued behind every running "
                     "query; use DROP INDEX CONCURRENTLY (outside a transaction)");
        }
        forget(indexes, n);
      } else if (type == "OBJECT_TYPE") {
        forget(enums, n);
      }
    }
  }

  void rename(const json& t) {
    std::string type = str(t, "renameType");
    Name rel = range_var(field(t, "relation"));
    std::string newname = str(t, "newname");
    if (type == "OBJECT_COLUMN") {
      std::string col = str(t, "subname");
      if (!new_column(rel, col)) {
        report("rename-column",
               "renaming existing column " + rel.shown() + "." + col + " to " + newname +
                   " breaks every client using the old name the moment it commits; add the new "
                   "column and keep both in sync (or expose the new name through a view) until "
                   "clients have moved (online.rename_column does it, docs/online.md)");
      }
      for (auto& c : columns) {
        if (same(c.first, rel) && c.second == col) c.second = newname;
      }
    } else if (type == "OBJECT_TABLE" || type == "OBJECT_VIEW" || type == "OBJECT_MATVIEW" ||
               type == "OBJECT_FOREIGN_TABLE") {
      if (!new_table(rel)) {
        report("rename-table",
               "renaming existing " + std::string(type == "OBJECT_TABLE" ? "table " : "view ") +
                   rel.shown() + " to " + newname +
                   " breaks every client using the old name the moment it commits; rename it and "
                   "leave a view with the old name until clients have moved (online.rename_table "
                   "serves both names until complete, docs/online.md)");
      } else {
        forget(tables, rel);
        tables.push_back({rel.schema, newname});
        for (auto& c : columns) {
          if (same(c.first, rel)) c.first = {rel.schema, newname};
        }
      }
    } else if (type == "OBJECT_INDEX") {
      if (has(indexes, rel)) {
        forget(indexes, rel);
        indexes.push_back({rel.schema, newname});
      }
    }
  }

  void alter_enum(const json& t) {
    Name type = qualified(strings(items(t, "typeName")));
    if (!str(t, "oldVal").empty()) return;  // RENAME VALUE
    if (str(t, "newValNeighbor").empty() && !has(enums, type)) {
      report("enum-value-position",
             "ALTER TYPE " + type.shown() + " ADD VALUE '" + str(t, "newVal") +
                 "' without BEFORE or AFTER appends it last, and the order of an enum is how its "
                 "values sort; say where it goes (ADD VALUE ... BEFORE/AFTER 'existing')");
    }
  }

  void transaction(const json& t, int line) {
    std::string kind = str(t, "kind");
    if (kind == "TRANS_STMT_BEGIN" || kind == "TRANS_STMT_START") {
      begin_line = line;
      begin_in_text = true;
    } else if (kind == "TRANS_STMT_COMMIT" || kind == "TRANS_STMT_ROLLBACK" ||
               kind == "TRANS_STMT_PREPARE") {
      begin_line = 0;
    }
  }

  void check(const std::string& kind, const json& t) {
    if (kind == "CreateStmt") {
      create_table(t);
    } else if (kind == "CreateTableAsStmt") {
      Name n = range_var(field(field(t, "into"), "rel"));
      forget(tables, n);
      tables.push_back(n);
    } else if (kind == "SelectStmt" && !field(t, "intoClause").is_null()) {
      Name n = range_var(field(field(t, "intoClause"), "rel"));
      forget(tables, n);
      tables.push_back(n);
    } else if (kind == "ViewStmt") {
      Name n = range_var(field(t, "view"));
      forget(tables, n);
      tables.push_back(n);
    } else if (kind == "IndexStmt") {
      create_index(t);
    } else if (kind == "AlterTableStmt") {
      std::string obj = str(t, "objtype");
      if (obj == "OBJECT_TABLE" || obj.empty()) alter_table(t);
    } else if (kind == "DropStmt") {
      drop(t);
    } else if (kind == "RenameStmt") {
      rename(t);
    } else if (kind == "AlterEnumStmt") {
      alter_enum(t);
    } else if (kind == "CreateEnumStmt") {
      Name n = qualified(strings(items(t, "typeName")));
      forget(enums, n);
      enums.push_back(n);
    } else if (kind == "ReindexStmt") {
      for (const auto& p : items(t, "params")) {
        if (str(as(p, "DefElem"), "defname") == "concurrently") concurrently("REINDEX");
      }
    }
  }
};

Linter::Linter() : state_(std::make_unique<State>()) {}
Linter::~Linter() = default;

std::vector<LintViolation> Linter::lint(const std::string& sql, const LintContext& ctx) {
  std::vector<Statement> stmts;
  try {
    stmts = parse_sql(sql);
  } catch (const SqlSyntaxError& e) {
    std::string message = e.what();
    const std::string prefix = "syntax error ";
    if (message.compare(0, prefix.size(), prefix) == 0) message = message.substr(prefix.size());
    LintViolation v;
    v.line = line_of(sql, byte_of_position(sql, e.position));
    v.rule = kLintSyntaxError;
    v.message = message;
    return {v};
  }

  std::vector<LintViolation> out;
  // Suppressions per statement, from the comments in the text and from the context.
  std::vector<std::set<std::string>> ignored(stmts.size());
  std::set<std::string> everywhere;
  for (const auto& comment : ctx.ignores) {
    if (!is_directive(comment)) continue;
    Ignore ig = parse_ignore(comment);
    if (!ig.error.empty()) {
      out.push_back({0, kBadIgnore, bad_ignore_message(ig.error),
                     stmts.empty() ? "" : statement_text(sql, stmts[0])});
    }
    everywhere.insert(ig.rules.begin(), ig.rules.end());
  }
  for (const auto& c : line_comments(sql)) {
    if (!is_directive(c.text)) continue;
    // The statement it belongs to: the one it sits in, else (after code on its line) the one
    // that just ended there, else the next one.
    std::optional<size_t> target;
    for (size_t i = 0; i < stmts.size() && !target; ++i) {
      if (stmts[i].offset <= c.pos && c.pos < stmts[i].end) target = i;
    }
    if (!target && c.after_code) {
      for (size_t i = stmts.size(); i-- > 0 && !target;) {
        if (stmts[i].end <= c.pos) target = i;
      }
    }
    for (size_t i = 0; i < stmts.size() && !target; ++i) {
      if (stmts[i].offset > c.pos) target = i;
    }
    Ignore ig = parse_ignore(c.text);
    if (ig.error.empty() && !target) ig.error = "no statement follows it";
    if (!ig.error.empty()) {
      out.push_back({line_of(sql, c.pos), kBadIgnore, bad_ignore_message(ig.error),
                     target ? statement_text(sql, stmts[*target]) : ""});
      continue;
    }
    ignored[*target].insert(ig.rules.begin(), ig.rules.end());
  }

  State& st = *state_;
  st.begin_in_text = false;
  for (size_t i = 0; i < stmts.size(); ++i) {
    const Statement& s = stmts[i];
    st.cur = State::Current{&sql, &s, "", {}};
    if (ctx.in_transaction) {
      st.cur.why_in_transaction = "inside a transaction opened before it (a transactional phase)";
    } else if (st.begin_line > 0) {
      st.cur.why_in_transaction = st.begin_in_text
                                      ? "after the BEGIN on line " + std::to_string(st.begin_line)
                                      : "after an earlier BEGIN";
    } else if (ctx.one_query && stmts.size() > 1) {
      st.cur.why_in_transaction = "in one query with other statements (an implicit transaction)";
    }
    if (s.kind == "TransactionStmt") st.transaction(s.tree, s.line);
    st.check(s.kind, s.tree);
    for (auto& v : st.cur.found) {
      if (ignored[i].count(v.rule) || everywhere.count(v.rule)) continue;
      out.push_back(std::move(v));
    }
  }
  st.cur = State::Current{};
  std::stable_sort(out.begin(), out.end(),
                   [](const LintViolation& a, const LintViolation& b) { return a.line < b.line; });
  return out;
}

std::vector<LintViolation> lint_sql(const std::string& sql, const LintContext& ctx) {
  Linter linter;
  return linter.lint(sql, ctx);
}

}  // namespace weir::pg
