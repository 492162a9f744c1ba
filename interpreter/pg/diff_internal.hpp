// The shared core of the schema diff (pg/diff.hpp), split by object kind as psql splits
// describe.c: the Differ class and the helpers every part uses. diff.cpp holds the order of the
// whole (what goes first), the dependency sort and the output; diff_tables.cpp, diff_views.cpp,
// diff_types.cpp, diff_functions.cpp, diff_privileges.cpp and diff_comments.cpp each hold one
// kind of object: a new kind is one new file and a line in Differ::create_objects.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "pg/diff.hpp"

namespace weir::pg::diff_detail {

using nlohmann::json;

// Quotes an identifier when PostgreSQL needs it (diff.cpp).
std::string qi(const std::string& name);

// Hazards, as reviewers read them.
inline const char* const kDeletesData = "deletes data";
inline const char* const kRewrites = "rewrites table";
inline const char* const kAccessExclusive = "takes ACCESS EXCLUSIVE lock on an existing table";
inline const char* const kBuildsIndex = "builds index";
inline const char* const kIrreversible = "not reversible without a data plan";
inline const char* const kScans =
    "scans the table to validate (SHARE UPDATE EXCLUSIVE: reads and writes go on)";

inline std::string lit(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

inline const std::string& str(const json& j, const char* key) {
  static const std::string empty;
  auto it = j.find(key);
  return it == j.end() || !it->is_string() ? empty : it->get_ref<const std::string&>();
}
inline bool has(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && !it->is_null();
}
inline bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
inline const json& list(const json& j, const char* key) {
  static const json empty = json::array();
  auto it = j.find(key);
  return it == j.end() || !it->is_array() ? empty : *it;
}

inline std::string qname(const json& obj) {
  return qi(str(obj, "schema")) + "." + qi(str(obj, "name"));
}
inline std::string plain_name(const json& obj) {
  return str(obj, "schema") + "." + str(obj, "name");
}

using Index = std::map<std::string, const json*>;

inline Index by_name(const json& items, const std::function<std::string(const json&)>& key) {
  Index out;
  for (const auto& i : items)
    out[key(i)] = &i;
  return out;
}
inline Index by_qname(const json& items) {
  return by_name(items, plain_name);
}
inline Index by_local_name(const json& items) {
  return by_name(items, [](const json& i) { return str(i, "name"); });
}

// A function is known by its name and input argument types (renaming a parameter keeps it).
inline std::string function_key(const json& f) {
  return plain_name(f) + "(" +
         (has(f, "argument_types") ? str(f, "argument_types") : str(f, "arguments")) + ")";
}
inline std::string function_sig(const json& f) {
  return qname(f) + "(" + str(f, "arguments") + ")";
}

// An expression (constraint, index, view, policy) in one canonical spelling: PostgreSQL prints
// `col IN ('a', 'b')` on a varchar column as `(ARRAY['a'::character varying, …])::text[]`, but
// the same text read back prints as `ARRAY[('a'::character varying)::text, …]`; both come out
// as the first. Compared this way a diff settles instead of dropping and re-adding forever.
std::string normalised_expr(const std::string& sql);
// The definition as SQL that PostgreSQL reads back into the same expression it was printed
// from (an IN list on a varchar column is written as IN, not as the ANY it prints).
std::string reparseable(const std::string& sql);
// Whether two definitions (expressions, constraints, index, trigger and view definitions)
// mean the same: equal as text, in the canonical spelling above, or as PostgreSQL's own parse
// trees once positions are left out and nested AND/OR lists are flattened. A definition read
// back from a dump prints `(a AND b) AND c` (a BETWEEN inside an AND, say) as `a AND b AND c`;
// both parse to the same flattened tree, so a dumped-and-restored schema equals its source.
// Text that does not parse compares as text.
bool same_expr(const std::string& a, const std::string& b);

// Whether enum `a` cannot become `b` by ADD VALUE: labels removed or reordered (diff_types.cpp).
bool enum_recreated(const json& a, const json& b);

// Rename and move hints (diff_renames.cpp): objects of a that are gone from b while an object
// of the same kind and definition but another name or schema appears there.
struct Rename {
  std::string kind;         // "table", "view", "materialized view", "sequence", "function", "type",
                            // "column", "index"
  std::string from, to;     // plain names: schema.name (schema.table.column / schema.table.index)
  std::string sql;          // ALTER … RENAME TO … / SET SCHEMA …
  std::string drop_object;  // the object of the drop change it replaces
};
using Renames = std::vector<Rename>;
Renames find_renames(const json& a, const json& b);
// Without --renames: a note on each drop that a rename would replace.
void add_rename_notes(const Renames& renames, std::vector<Change>& changes);
// With --renames: the ALTER statements, and `a` changed as they change the database.
std::vector<Change> apply_renames(const Renames& renames, json& a);

class Differ {
 public:
  Differ(const json& a, const json& b) : a_(a), b_(b) {}
  std::vector<Change> run();

 private:
  const json& a_;
  const json& b_;
  std::vector<Change> out_;
  Index a_tables_, b_tables_, a_views_, b_views_;
  std::set<std::string> new_tables_;      // created by this diff: plain DDL is fine on them
  std::set<std::string> rebuilt_views_;   // dropped here and created again from b
  std::set<std::string> dropped_consts_;  // "table/name" dropped in the first half
  std::set<std::string> dropped_indexes_;
  std::set<std::string> dropped_triggers_;   // "table/name"
  std::set<std::string> dropped_columns_;    // dependency keys of columns alter_table drops
  std::set<std::string> dropped_sequences_;  // plain names dropped before their leftover turn
  // Enums recreated (labels removed or reordered), and the domains and composite types over
  // them (in b's order, inner ones first): the old type is renamed, the new one created, the
  // columns that stay converted to it by alter_column, and the old one dropped last. Keys
  // "type:S.N" and the types as columns name them ("S.N", quoted as needed).
  std::set<std::string> recreated_enum_keys_, recreated_enum_types_;
  std::vector<std::pair<std::string, const json*>> recreated_over_;  // "domains"/"composites"
  std::set<std::string> retyped_domains_;  // recreated because their base type changes (S.N)
  std::vector<std::pair<std::string, std::string>> old_enums_;  // object, DROP TYPE statement
  bool recreated(const json& type) const {
    return recreated_enum_keys_.count("type:" + plain_name(type)) > 0;
  }
  // Whether a column of `type` (maybe an array of it) holds a recreated type (of `types`).
  bool of_recreated_enum(std::string type) const {
    return of_type(std::move(type), recreated_enum_types_);
  }
  static bool of_type(std::string type, const std::set<std::string>& types) {
    if (types.empty()) return false;
    while (type.size() > 2 && type.compare(type.size() - 2, 2, "[]") == 0)
      type.resize(type.size() - 2);
    return types.count(type) > 0;
  }

  // What each change of out_ creates, drops and needs, in the keys of the model's dependency
  // graph ("table:public.t", "column:public.t.c", "function:public.f(integer)" …): the
  // dependency sort (diff_order.cpp) moves a change after what it needs.
  struct Node {
    std::vector<std::string> provides;  // parts this change creates
    std::vector<std::string> removes;   // parts this change drops
    std::vector<std::string> needs;     // parts that must exist first (b's graph)
    std::vector<std::string> used;      // parts the dropped ones used (a's graph): dropped after
  };
  std::vector<Node> nodes_;

  void add(std::string kind, std::string object, std::string sql,
           std::vector<std::string> hazards = {}, bool transactional = true) {
    out_.push_back({std::move(kind), std::move(object), std::move(sql), std::move(hazards),
                    transactional, ""});
    nodes_.emplace_back();
  }
  // Annotations of the change added last.
  void provides(const std::string& key) { nodes_.back().provides.push_back(key); }
  // It creates `key`, so it needs what `key` uses in b.
  void creates(const std::string& key) {
    provides(key);
    needs_what(key);
  }
  void needs_what(const std::string& key) {
    for (const auto& k : uses(b_, key))
      nodes_.back().needs.push_back(k.get<std::string>());
  }
  void needs(const std::string& key) { nodes_.back().needs.push_back(key); }
  // It drops `key`, so it comes before the drops of what `key` used in a.
  void removes(const std::string& key) {
    nodes_.back().removes.push_back(key);
    for (const auto& k : uses(a_, key))
      nodes_.back().used.push_back(k.get<std::string>());
  }
  static const json& uses(const json& model, const std::string& key) {
    static const json none = json::array();
    auto d = model.find("dependencies");
    if (d == model.end() || !d->is_object()) return none;
    auto it = d->find(key);
    return it == d->end() ? none : *it;
  }
  // Every part of table `t` (columns, constraints, indexes, triggers, policies) as keys.
  static std::vector<std::string> parts_of_table(const json& t);
  // Moves each change after those it depends on, otherwise keeping the order of the phases.
  void sort_by_dependencies();
  void index();
  // A table whose partitioning changed cannot be altered into the other: drop and create.
  static bool recreate_table(const json& a, const json& b) {
    return str(a, "kind") != str(b, "kind") || str(a, "partition_key") != str(b, "partition_key");
  }
  // Columns whose change invalidates views on the table (dropped, retyped, regenerated).
  bool table_reshaped(const std::string& key) const;
  void drop_dependents();
  void drop_views();
  void drop_triggers(const std::string& k, const json& a, const json& b);
  void find_dropped_columns(const std::string& k, const json& a, const json& b);
  // Whether table k is the same on both sides and nothing of it was dropped here (most tables
  // of a large schema: the second half skips them).
  bool unchanged(const std::string& k) const { return same_tables_.count(k) && !touched_.count(k); }
  std::set<std::string> same_tables_;  // tables equal on both sides (compared once)
  std::set<std::string> touched_;      // tables some part of which was dropped in the first half
  bool column_goes(const std::string& k, const json& col) const;
  // Whether a part in a (its dependency key) uses a column that is dropped or an enum that is
  // recreated: it goes first and comes back.
  bool uses_dropped(const std::string& part) const;
  // Whether table k's parents (INHERITS) differ between a and b.
  bool inheritance_changes(const std::string& k) const;
  std::map<std::string, const json*> a_owners() const {
    std::map<std::string, const json*> out(a_tables_.begin(), a_tables_.end());
    for (const auto& [k, v] : a_views_)
      if (flag(*v, "materialized") && !rebuilt_views_.count(k)) out[k] = v;
    return out;
  }
  const json* b_owner_of(const std::string& k) const {
    if (auto it = b_tables_.find(k); it != b_tables_.end()) return it->second;
    if (auto it = b_views_.find(k); it != b_views_.end()) return it->second;
    return nullptr;
  }
  static std::string unquote(const std::string& qualified);
  // Views of `views` among `keys`, dependencies first (or last, for drops).
  std::vector<std::string> view_order(const Index& views, const std::set<std::string>& keys,
                                      bool dependents_first) const;
  static bool same_constraint(const json& a, const json& b) {
    return str(a, "type") == str(b, "type") &&
           same_expr(str(a, "definition"), str(b, "definition")) &&
           flag(a, "validated") == flag(b, "validated");
  }
  // NOT VALID in a, validated in b, otherwise the same: VALIDATE is enough.
  static bool only_validated(const json& a, const json& b) {
    std::string def = str(a, "definition");
    const std::string suffix = " NOT VALID";
    return !flag(a, "validated") && flag(b, "validated") && str(a, "type") == str(b, "type") &&
           def.size() > suffix.size() &&
           def.compare(def.size() - suffix.size(), suffix.size(), suffix) == 0 &&
           same_expr(def.substr(0, def.size() - suffix.size()), str(b, "definition"));
  }
  static bool same_policy(const json& a, const json& b) {
    return flag(a, "permissive") == flag(b, "permissive") &&
           str(a, "command") == str(b, "command") && a["roles"] == b["roles"] &&
           same_expr(str(a, "using"), str(b, "using")) &&
           same_expr(str(a, "check"), str(b, "check"));
  }
  void drop_objects();
  void drop_function(const json& f);
  static bool function_recreated(const json& a, const json& b);
  // The same, or a function whose signature uses a recreated enum.
  bool function_replaced(const json& a, const json& b) const;
  void drop_aggregates(bool changed);
  void aggregates();
  // The grants a new object of `type` (tables, sequences, functions, types, schemas) in
  // `schema` starts with: PostgreSQL's built-in default, as b's default privileges change it.
  json initial_grants(const std::string& type, const std::string& schema) const;
  void default_privileges();
  // Last: what nothing uses any more once tables, columns, defaults and views have changed.
  void drop_leftovers();
  void drop_types(const char* section, const char* keyword);
  void create_objects();
  void collations();
  void type_grants(const char* what, const json& t, const json* old);
  void drop_collations(bool changed);
  void enums();
  void domains();
  void composites();
  void functions();
  void sequences(bool ownership);
  static std::string column_sql(const json& c);
  static std::string identity_options(const json& c);
  void tables();
  static std::string join(const json& items) {
    std::string s;
    for (const auto& i : items)
      s += (s.empty() ? "" : ", ") + i.get<std::string>();
    return s;
  }
  // RLS, options, grants and partition attachment of a table in b (old: the same in a).
  void table_settings(const json* old, const json& t);
  // GRANT and REVOKE turning `was` into `now` on `name` (a column of it when `column` is
  // given); each needs `target` (a dependency key) when given.
  void grants(const char* what, const std::string& k, const std::string& name, const json& was,
              const json& now, const std::string& column = "", const std::string& target = "");
  void alter_table(const json& a, const json& b);
  void inherited_columns(const json* a, const json& b);
  bool has_children(const std::string& k) const;
  void add_column(const std::string& k, const std::string& name, const json& c);
  void alter_column(const std::string& k, const std::string& name, const json& a, const json& b);
  static std::string truncate(std::string s) {
    if (s.size() > 63) s.resize(63);
    return s;
  }
  // Constraints new or changed in b: non-foreign keys first (fks=false), then foreign keys.
  void constraints(bool fks);
  void add_constraint(const json& t, const json& c, bool fresh_table);
  // Indexes of tables (those of materialized views are created with their views).
  void indexes();
  void create_index(const json& t, const json& i, bool fresh, bool replace);
  void partition_index_names(const json& a, const json& b);
  void views();
  void triggers_and_policies();
  void comment(const std::string& what, const std::string& object, const std::string& target,
               const json* was, const json& now);
  void comments();
};

}  // namespace weir::pg::diff_detail
