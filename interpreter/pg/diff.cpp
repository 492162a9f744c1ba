// Schema diff (see diff.hpp).
#include "pg/diff.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>
#include <utility>

namespace weir::pg {

namespace {

using nlohmann::json;

// Hazards, as reviewers read them.
const char* const kDeletesData = "deletes data";
const char* const kRewrites = "rewrites table";
const char* const kAccessExclusive = "takes ACCESS EXCLUSIVE lock on an existing table";
const char* const kBuildsIndex = "builds index";
const char* const kIrreversible = "not reversible without a data plan";
const char* const kScans =
    "scans the table to validate (SHARE UPDATE EXCLUSIVE: reads and writes go on)";

// PostgreSQL's reserved keywords (and the few type-like ones that need quoting as names).
const std::set<std::string>& reserved() {
  static const std::set<std::string> words = {"all",
                                              "analyse",
                                              "analyze",
                                              "and",
                                              "any",
                                              "array",
                                              "as",
                                              "asc",
                                              "asymmetric",
                                              "authorization",
                                              "binary",
                                              "both",
                                              "case",
                                              "cast",
                                              "check",
                                              "collate",
                                              "collation",
                                              "column",
                                              "concurrently",
                                              "constraint",
                                              "create",
                                              "cross",
                                              "current_catalog",
                                              "current_date",
                                              "current_role",
                                              "current_schema",
                                              "current_time",
                                              "current_timestamp",
                                              "current_user",
                                              "default",
                                              "deferrable",
                                              "desc",
                                              "distinct",
                                              "do",
                                              "else",
                                              "end",
                                              "except",
                                              "false",
                                              "fetch",
                                              "for",
                                              "foreign",
                                              "freeze",
                                              "from",
                                              "full",
                                              "grant",
                                              "group",
                                              "having",
                                              "ilike",
                                              "in",
                                              "initially",
                                              "inner",
                                              "intersect",
                                              "into",
                                              "is",
                                              "isnull",
                                              "join",
                                              "lateral",
                                              "leading",
                                              "left",
                                              "like",
                                              "limit",
                                              "localtime",
                                              "localtimestamp",
                                              "natural",
                                              "not",
                                              "notnull",
                                              "null",
                                              "offset",
                                              "on",
                                              "only",
                                              "or",
                                              "order",
                                              "outer",
                                              "overlaps",
                                              "placing",
                                              "primary",
                                              "references",
                                              "returning",
                                              "right",
                                              "select",
                                              "session_user",
                                              "similar",
                                              "some",
                                              "symmetric",
                                              "system_user",
                                              "table",
                                              "tablesample",
                                              "then",
                                              "to",
                                              "trailing",
                                              "true",
                                              "union",
                                              "unique",
                                              "user",
                                              "using",
                                              "variadic",
                                              "verbose",
                                              "when",
                                              "where",
                                              "window",
                                              "with",
                                              "between",
                                              "bigint",
                                              "bit",
                                              "boolean",
                                              "char",
                                              "character",
                                              "coalesce",
                                              "dec",
                                              "decimal",
                                              "exists",
                                              "extract",
                                              "float",
                                              "greatest",
                                              "grouping",
                                              "inout",
                                              "int",
                                              "integer",
                                              "interval",
                                              "least",
                                              "national",
                                              "nchar",
                                              "none",
                                              "normalize",
                                              "nullif",
                                              "numeric",
                                              "out",
                                              "overlay",
                                              "position",
                                              "precision",
                                              "real",
                                              "row",
                                              "setof",
                                              "smallint",
                                              "substring",
                                              "time",
                                              "timestamp",
                                              "treat",
                                              "trim",
                                              "values",
                                              "varchar",
                                              "xmlattributes",
                                              "xmlconcat",
                                              "xmlelement",
                                              "xmlexists",
                                              "xmlforest",
                                              "xmlnamespaces",
                                              "xmlparse",
                                              "xmlpi",
                                              "xmlroot",
                                              "xmlserialize",
                                              "xmltable"};
  return words;
}

std::string qi(const std::string& name) {
  bool plain =
      !name.empty() && (std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_');
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '_'))
      plain = false;
  }
  if (plain && !reserved().count(name)) return name;
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string lit(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

const std::string& str(const json& j, const char* key) {
  static const std::string empty;
  auto it = j.find(key);
  return it == j.end() || !it->is_string() ? empty : it->get_ref<const std::string&>();
}
bool has(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && !it->is_null();
}
bool flag(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}
const json& list(const json& j, const char* key) {
  static const json empty = json::array();
  auto it = j.find(key);
  return it == j.end() || !it->is_array() ? empty : *it;
}

std::string qname(const json& obj) {
  return qi(str(obj, "schema")) + "." + qi(str(obj, "name"));
}
std::string plain_name(const json& obj) {
  return str(obj, "schema") + "." + str(obj, "name");
}

using Index = std::map<std::string, const json*>;

Index by_name(const json& items, const std::function<std::string(const json&)>& key) {
  Index out;
  for (const auto& i : items)
    out[key(i)] = &i;
  return out;
}
Index by_qname(const json& items) {
  return by_name(items, plain_name);
}
Index by_local_name(const json& items) {
  return by_name(items, [](const json& i) { return str(i, "name"); });
}

std::string function_key(const json& f) {
  return plain_name(f) + "(" + str(f, "arguments") + ")";
}
std::string function_sig(const json& f) {
  return qname(f) + "(" + str(f, "arguments") + ")";
}

class Differ {
 public:
  Differ(const json& a, const json& b) : a_(a), b_(b) {}

  std::vector<Change> run() {
    index();
    drop_dependents();
    drop_objects();
    create_objects();
    drop_leftovers();
    return std::move(out_);
  }

 private:
  const json& a_;
  const json& b_;
  std::vector<Change> out_;
  Index a_tables_, b_tables_, a_views_, b_views_;
  std::set<std::string> new_tables_;      // created by this diff: plain DDL is fine on them
  std::set<std::string> rebuilt_views_;   // dropped here and created again from b
  std::set<std::string> dropped_consts_;  // "table/name" dropped in the first half
  std::set<std::string> dropped_indexes_;

  void add(std::string kind, std::string object, std::string sql,
           std::vector<std::string> hazards = {}, bool transactional = true) {
    out_.push_back(
        {std::move(kind), std::move(object), std::move(sql), std::move(hazards), transactional});
  }

  void index() {
    a_tables_ = by_qname(list(a_, "tables"));
    b_tables_ = by_qname(list(b_, "tables"));
    a_views_ = by_qname(list(a_, "views"));
    b_views_ = by_qname(list(b_, "views"));
    for (const auto& [k, t] : b_tables_) {
      auto it = a_tables_.find(k);
      if (it == a_tables_.end() || recreate_table(*it->second, *t)) new_tables_.insert(k);
    }
  }

  // A table whose partitioning changed cannot be altered into the other: drop and create.
  static bool recreate_table(const json& a, const json& b) {
    return str(a, "kind") != str(b, "kind") || str(a, "partition_key") != str(b, "partition_key");
  }

  // Columns whose change invalidates views on the table (dropped, retyped, regenerated).
  bool table_reshaped(const std::string& key) const {
    auto ai = a_tables_.find(key);
    auto bi = b_tables_.find(key);
    if (ai == a_tables_.end()) return false;
    if (bi == b_tables_.end() || new_tables_.count(key)) return true;
    Index bc = by_local_name(list(*bi->second, "columns"));
    for (const auto& c : list(*ai->second, "columns")) {
      auto it = bc.find(str(c, "name"));
      if (it == bc.end() || str(c, "type") != str(*it->second, "type") ||
          str(c, "generated") != str(*it->second, "generated") ||
          str(c, "collation") != str(*it->second, "collation"))
        return true;
    }
    return false;
  }

  // ---- the first half: drops, dependents first ------------------------------------------

  void drop_dependents() {
    // Views: changed ones, ones on reshaped tables, and (transitively) views on those.
    std::set<std::string> affected;
    for (const auto& [k, v] : a_views_) {
      auto bi = b_views_.find(k);
      bool changed = bi == b_views_.end() ||
                     str(*v, "definition") != str(*bi->second, "definition") ||
                     flag(*v, "materialized") != flag(*bi->second, "materialized") ||
                     (*v)["options"] != (*bi->second)["options"];
      for (const auto& dep : list(*v, "depends_on"))
        if (table_reshaped(unquote(dep.get<std::string>()))) changed = true;
      if (changed) affected.insert(k);
    }
    for (bool grew = true; grew;) {
      grew = false;
      for (const auto& [k, v] : a_views_) {
        if (affected.count(k)) continue;
        for (const auto& dep : list(*v, "depends_on")) {
          if (affected.count(unquote(dep.get<std::string>()))) {
            affected.insert(k);
            grew = true;
            break;
          }
        }
      }
    }
    for (const std::string& k : view_order(a_views_, affected, true)) {
      const json& v = *a_views_.at(k);
      bool mat = flag(v, "materialized");
      add(mat ? "drop materialized view" : "drop view", k,
          std::string("DROP ") + (mat ? "MATERIALIZED VIEW " : "VIEW ") + qname(v),
          mat && !b_views_.count(k) ? std::vector<std::string>{kDeletesData}
                                    : std::vector<std::string>{});
      if (b_views_.count(k)) rebuilt_views_.insert(k);
    }

    for (const auto& [k, at] : a_tables_) {
      auto bi = b_tables_.find(k);
      const json* bt = bi == b_tables_.end() || new_tables_.count(k) ? nullptr : bi->second;
      if (!bt) continue;  // a dropped table takes its triggers, policies and constraints along
      Index bt_trig = by_local_name(list(*bt, "triggers"));
      for (const auto& t : list(*at, "triggers")) {
        auto it = bt_trig.find(str(t, "name"));
        if (it == bt_trig.end() || str(t, "definition") != str(*it->second, "definition"))
          add("drop trigger", k + "." + str(t, "name"),
              "DROP TRIGGER " + qi(str(t, "name")) + " ON " + qname(*at));
      }
      Index bt_pol = by_local_name(list(*bt, "policies"));
      for (const auto& p : list(*at, "policies")) {
        auto it = bt_pol.find(str(p, "name"));
        if (it == bt_pol.end() || !same_policy(p, *it->second))
          add("drop policy", k + "." + str(p, "name"),
              "DROP POLICY " + qi(str(p, "name")) + " ON " + qname(*at));
      }
    }
    // Constraints and indexes that go or change: foreign keys first (they depend on the
    // unique indexes of the tables they reference), then the rest.
    // A table that goes (or is recreated) takes its own constraints along.
    for (bool fks : {true, false}) {
      for (const auto& [k, at] : a_tables_) {
        auto bi = b_tables_.find(k);
        if (bi == b_tables_.end() || new_tables_.count(k)) continue;
        Index bcons = by_local_name(list(*bi->second, "constraints"));
        for (const auto& c : list(*at, "constraints")) {
          if ((str(c, "type") == "foreign key") != fks) continue;
          auto it = bcons.find(str(c, "name"));
          bool keep = it != bcons.end() &&
                      (same_constraint(c, *it->second) || only_validated(c, *it->second));
          // A foreign key into a table that is dropped or recreated goes too.
          if (fks && keep && has(c, "references")) {
            std::string ref = plain_name(c["references"]);
            if (!b_tables_.count(ref) || new_tables_.count(ref)) keep = false;
          }
          if (keep) continue;
          dropped_consts_.insert(k + "/" + str(c, "name"));
          add("drop constraint", k + "." + str(c, "name"),
              "ALTER TABLE " + qname(*at) + " DROP CONSTRAINT " + qi(str(c, "name")),
              {kAccessExclusive});
        }
      }
    }
    for (const auto& [k, owner] : a_owners()) {
      const json* b_owner = b_owner_of(k);
      Index bidx = b_owner ? by_local_name(list(*b_owner, "indexes")) : Index{};
      for (const auto& i : list(*owner, "indexes")) {
        if (has(i, "constraint")) continue;  // goes with its constraint
        auto it = bidx.find(str(i, "name"));
        if (!b_owner) continue;  // goes with its table or view
        if (it != bidx.end() && str(i, "definition") == str(*it->second, "definition") &&
            !has(*it->second, "constraint"))
          continue;
        if (it != bidx.end() && !has(*it->second, "constraint") && !new_tables_.count(k))
          continue;  // changed: replaced online (new one built first) in the second half
        dropped_indexes_.insert(k + "/" + str(i, "name"));
        bool online = !new_tables_.count(k) && !rebuilt_views_.count(k);
        add("drop index", k + "." + str(i, "name"),
            std::string("DROP INDEX ") + (online ? "CONCURRENTLY " : "") +
                qi(str(*owner, "schema")) + "." + qi(str(i, "name")),
            {}, !online);
      }
    }
  }

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

  static std::string unquote(const std::string& qualified) {
    // "schema.name" with quote_ident quoting → plain "schema.name"
    std::string out;
    bool in_quotes = false;
    for (size_t i = 0; i < qualified.size(); ++i) {
      char c = qualified[i];
      if (c == '"') {
        if (in_quotes && i + 1 < qualified.size() && qualified[i + 1] == '"') {
          out += '"';
          ++i;
        } else {
          in_quotes = !in_quotes;
        }
      } else {
        out += c;
      }
    }
    return out;
  }

  // Views of `views` among `keys`, dependencies first (or last, for drops).
  std::vector<std::string> view_order(const Index& views, const std::set<std::string>& keys,
                                      bool dependents_first) const {
    std::vector<std::string> order;
    std::set<std::string> done;
    std::function<void(const std::string&)> visit = [&](const std::string& k) {
      if (done.count(k) || !keys.count(k)) return;
      done.insert(k);
      for (const auto& dep : list(*views.at(k), "depends_on"))
        visit(unquote(dep.get<std::string>()));
      order.push_back(k);
    };
    for (const auto& k : keys)
      visit(k);
    if (dependents_first) std::reverse(order.begin(), order.end());
    return order;
  }

  static bool same_constraint(const json& a, const json& b) {
    return str(a, "type") == str(b, "type") && str(a, "definition") == str(b, "definition") &&
           flag(a, "validated") == flag(b, "validated");
  }
  // NOT VALID in a, validated in b, otherwise the same: VALIDATE is enough.
  static bool only_validated(const json& a, const json& b) {
    std::string def = str(a, "definition");
    const std::string suffix = " NOT VALID";
    return !flag(a, "validated") && flag(b, "validated") && str(a, "type") == str(b, "type") &&
           def.size() > suffix.size() &&
           def.compare(def.size() - suffix.size(), suffix.size(), suffix) == 0 &&
           def.substr(0, def.size() - suffix.size()) == str(b, "definition");
  }
  static bool same_policy(const json& a, const json& b) {
    return flag(a, "permissive") == flag(b, "permissive") &&
           str(a, "command") == str(b, "command") && a["roles"] == b["roles"] &&
           str(a, "using") == str(b, "using") && str(a, "check") == str(b, "check");
  }

  void drop_objects() {
    // Tables: partitions before their parents.
    std::vector<const json*> gone;
    for (const auto& [k, t] : a_tables_)
      if (!b_tables_.count(k) || new_tables_.count(k)) gone.push_back(t);
    std::stable_sort(gone.begin(), gone.end(), [](const json* x, const json* y) {
      return has(*x, "partition_of") && !has(*y, "partition_of");
    });
    for (const json* t : gone) {
      add("drop table", plain_name(*t), "DROP TABLE " + qname(*t), {kDeletesData, kIrreversible});
    }
    // Functions whose signature stays but whose result or kind changes are replaced here.
    Index bf = by_name(list(b_, "functions"), function_key);
    for (const auto& f : list(a_, "functions")) {
      auto it = bf.find(function_key(f));
      if (it != bf.end() && (str(f, "returns") != str(*it->second, "returns") ||
                             str(f, "kind") != str(*it->second, "kind")))
        drop_function(f);
    }
    // Domains whose base type changes are recreated.
    Index bd = by_qname(list(b_, "domains"));
    for (const auto& d : list(a_, "domains")) {
      auto it = bd.find(plain_name(d));
      if (it != bd.end() && str(d, "type") != str(*it->second, "type"))
        add("drop domain", plain_name(d), "DROP DOMAIN " + qname(d));
    }
  }

  void drop_function(const json& f) {
    add(std::string("drop ") + str(f, "kind"), function_key(f),
        std::string("DROP ") + (str(f, "kind") == "procedure" ? "PROCEDURE " : "FUNCTION ") +
            function_sig(f));
  }

  // Last: what nothing uses any more once tables, columns, defaults and views have changed.
  void drop_leftovers() {
    Index bf = by_name(list(b_, "functions"), function_key);
    for (const auto& f : list(a_, "functions"))
      if (!bf.count(function_key(f))) drop_function(f);
    Index bs = by_qname(list(b_, "sequences"));
    for (const auto& s : list(a_, "sequences")) {
      if (bs.count(plain_name(s))) continue;
      if (has(s, "owned_by")) {
        // an owned sequence goes with its table or column
        const json& o = s["owned_by"];
        std::string owner = str(o, "schema") + "." + str(o, "table");
        auto bt = b_tables_.find(owner);
        if (bt == b_tables_.end() || new_tables_.count(owner)) continue;
        Index cols = by_local_name(list(*bt->second, "columns"));
        auto col = cols.find(str(o, "column"));
        if (col == cols.end() || has(*col->second, "generated")) continue;
      }
      add("drop sequence", plain_name(s), "DROP SEQUENCE " + qname(s));
    }
    drop_types("composites", "TYPE");
    drop_types("domains", "DOMAIN");
    drop_types("enums", "TYPE");
    Index bx = by_local_name(list(b_, "extensions"));
    for (const auto& e : list(a_, "extensions"))
      if (!bx.count(str(e, "name")))
        add("drop extension", str(e, "name"), "DROP EXTENSION " + qi(str(e, "name")));
    Index bsch = by_local_name(list(b_, "schemas"));
    for (const auto& s : list(a_, "schemas"))
      if (!bsch.count(str(s, "name")))
        add("drop schema", str(s, "name"), "DROP SCHEMA " + qi(str(s, "name")));
  }

  void drop_types(const char* section, const char* keyword) {
    Index b = by_qname(list(b_, section));
    for (const auto& t : list(a_, section)) {
      if (!b.count(plain_name(t)))
        add(std::string("drop ") + (std::string(section) == "domains" ? "domain" : "type"),
            plain_name(t), std::string("DROP ") + keyword + " " + qname(t));
    }
  }

  // ---- the second half: creates, dependencies first ---------------------------------------

  void create_objects() {
    Index as = by_local_name(list(a_, "schemas"));
    for (const auto& s : list(b_, "schemas"))
      if (!as.count(str(s, "name")))
        add("create schema", str(s, "name"), "CREATE SCHEMA " + qi(str(s, "name")));
    Index ax = by_local_name(list(a_, "extensions"));
    for (const auto& e : list(b_, "extensions")) {
      auto it = ax.find(str(e, "name"));
      if (it == ax.end())
        add("create extension", str(e, "name"),
            "CREATE EXTENSION IF NOT EXISTS " + qi(str(e, "name")) + " WITH SCHEMA " +
                qi(str(e, "schema")));
      else if (str(e, "version") != str(*it->second, "version"))
        add("update extension", str(e, "name"),
            "ALTER EXTENSION " + qi(str(e, "name")) + " UPDATE TO " + lit(str(e, "version")));
    }
    enums();
    domains();
    composites();
    functions();
    sequences(false);
    tables();
    sequences(true);
    constraints(false);
    indexes();
    constraints(true);
    views();
    triggers_and_policies();
    comments();
  }

  void enums() {
    Index a = by_qname(list(a_, "enums"));
    for (const auto& e : list(b_, "enums")) {
      auto it = a.find(plain_name(e));
      std::vector<std::string> want;
      for (const auto& v : list(e, "values"))
        want.push_back(v.get<std::string>());
      auto values_sql = [&]() {
        std::string s;
        for (const auto& v : want)
          s += (s.empty() ? "" : ", ") + lit(v);
        return s;
      };
      if (it == a.end()) {
        add("create enum", plain_name(e),
            "CREATE TYPE " + qname(e) + " AS ENUM (" + values_sql() + ")");
        continue;
      }
      std::vector<std::string> have;
      for (const auto& v : list(*it->second, "values"))
        have.push_back(v.get<std::string>());
      // Only additions, in an order that keeps the existing values' order: ADD VALUE in place.
      std::vector<std::string> kept;
      for (const auto& v : want)
        if (std::find(have.begin(), have.end(), v) != have.end()) kept.push_back(v);
      if (kept == have) {
        std::vector<std::string> current = have;
        for (size_t i = 0; i < want.size(); ++i) {
          if (std::find(current.begin(), current.end(), want[i]) != current.end()) continue;
          std::string where = i == 0 ? " BEFORE " + lit(current.empty() ? "" : current.front())
                                     : " AFTER " + lit(want[i - 1]);
          if (current.empty()) where.clear();
          add("add enum value", plain_name(e) + "." + want[i],
              "ALTER TYPE " + qname(e) + " ADD VALUE " + lit(want[i]) + where, {}, false);
          auto pos =
              i == 0 ? current.begin() : std::find(current.begin(), current.end(), want[i - 1]) + 1;
          current.insert(pos, want[i]);
        }
        continue;
      }
      // Values removed or reordered: a new type, every column converted through text.
      std::string old_name = str(e, "name") + "__weir_old";
      add("rename enum", plain_name(e), "ALTER TYPE " + qname(e) + " RENAME TO " + qi(old_name),
          {kIrreversible});
      add("create enum", plain_name(e),
          "CREATE TYPE " + qname(e) + " AS ENUM (" + values_sql() + ")");
      std::string type = qname(e);
      for (const auto& t : list(b_, "tables")) {
        if (new_tables_.count(plain_name(t))) continue;
        for (const auto& c : list(t, "columns")) {
          std::string ct = str(c, "type");
          bool array = ct == type + "[]";
          if (ct != type && !array) continue;
          std::string col = qname(t) + " ALTER COLUMN " + qi(str(c, "name"));
          if (has(c, "default"))
            add("drop default", plain_name(t) + "." + str(c, "name"),
                "ALTER TABLE " + col + " DROP DEFAULT");
          add("alter column type", plain_name(t) + "." + str(c, "name"),
              "ALTER TABLE " + col + " TYPE " + ct + " USING " + qi(str(c, "name")) + "::text" +
                  (array ? "[]" : "") + "::" + ct,
              {kRewrites, kAccessExclusive});
          if (has(c, "default"))
            add("set default", plain_name(t) + "." + str(c, "name"),
                "ALTER TABLE " + col + " SET DEFAULT " + str(c, "default"));
        }
      }
      add("drop type", plain_name(e) + " (old values)",
          "DROP TYPE " + qi(str(e, "schema")) + "." + qi(old_name));
    }
  }

  void domains() {
    Index a = by_qname(list(a_, "domains"));
    for (const auto& d : list(b_, "domains")) {
      auto it = a.find(plain_name(d));
      const json* old =
          it == a.end() || str(*it->second, "type") != str(d, "type") ? nullptr : it->second;
      std::string name = qname(d);
      if (!old) {
        std::string sql = "CREATE DOMAIN " + name + " AS " + str(d, "type");
        if (has(d, "collation")) sql += " COLLATE " + str(d, "collation");
        if (has(d, "default")) sql += " DEFAULT " + str(d, "default");
        if (flag(d, "not_null")) sql += " NOT NULL";
        for (const auto& c : list(d, "checks"))
          sql += " CONSTRAINT " + qi(str(c, "name")) + " " + str(c, "definition");
        add("create domain", plain_name(d), sql);
        continue;
      }
      if (str(*old, "default") != str(d, "default"))
        add("alter domain", plain_name(d),
            "ALTER DOMAIN " + name +
                (has(d, "default") ? " SET DEFAULT " + str(d, "default") : " DROP DEFAULT"));
      if (flag(*old, "not_null") != flag(d, "not_null"))
        add("alter domain", plain_name(d),
            "ALTER DOMAIN " + name + (flag(d, "not_null") ? " SET NOT NULL" : " DROP NOT NULL"),
            flag(d, "not_null") ? std::vector<std::string>{kScans} : std::vector<std::string>{});
      Index oc = by_local_name(list(*old, "checks"));
      Index nc = by_local_name(list(d, "checks"));
      for (const auto& [n, c] : oc)
        if (!nc.count(n) || str(*c, "definition") != str(*nc.at(n), "definition") ||
            flag(*c, "validated") != flag(*nc.at(n), "validated"))
          add("drop domain check", plain_name(d) + "." + n,
              "ALTER DOMAIN " + name + " DROP CONSTRAINT " + qi(n));
      for (const auto& [n, c] : nc) {
        if (oc.count(n) && str(*c, "definition") == str(*oc.at(n), "definition") &&
            flag(*c, "validated") == flag(*oc.at(n), "validated"))
          continue;
        add("add domain check", plain_name(d) + "." + n,
            "ALTER DOMAIN " + name + " ADD CONSTRAINT " + qi(n) + " " + str(*c, "definition") +
                " NOT VALID");
        if (flag(*c, "validated"))
          add("validate domain check", plain_name(d) + "." + n,
              "ALTER DOMAIN " + name + " VALIDATE CONSTRAINT " + qi(n), {kScans});
      }
    }
  }

  void composites() {
    Index a = by_qname(list(a_, "composites"));
    for (const auto& t : list(b_, "composites")) {
      auto it = a.find(plain_name(t));
      if (it == a.end()) {
        std::string attrs;
        for (const auto& at : list(t, "attributes"))
          attrs += (attrs.empty() ? "" : ", ") + qi(str(at, "name")) + " " + str(at, "type");
        add("create type", plain_name(t), "CREATE TYPE " + qname(t) + " AS (" + attrs + ")");
        continue;
      }
      Index old = by_local_name(list(*it->second, "attributes"));
      Index now = by_local_name(list(t, "attributes"));
      for (const auto& [n, at] : old)
        if (!now.count(n))
          add("drop attribute", plain_name(t) + "." + n,
              "ALTER TYPE " + qname(t) + " DROP ATTRIBUTE " + qi(n));
      for (const auto& at : list(t, "attributes")) {
        auto o = old.find(str(at, "name"));
        if (o == old.end())
          add("add attribute", plain_name(t) + "." + str(at, "name"),
              "ALTER TYPE " + qname(t) + " ADD ATTRIBUTE " + qi(str(at, "name")) + " " +
                  str(at, "type"));
        else if (str(*o->second, "type") != str(at, "type"))
          add("alter attribute", plain_name(t) + "." + str(at, "name"),
              "ALTER TYPE " + qname(t) + " ALTER ATTRIBUTE " + qi(str(at, "name")) + " TYPE " +
                  str(at, "type"));
      }
    }
  }

  void functions() {
    Index a = by_name(list(a_, "functions"), function_key);
    for (const auto& f : list(b_, "functions")) {
      auto it = a.find(function_key(f));
      if (it != a.end() && str(*it->second, "definition") == str(f, "definition")) continue;
      std::string def = str(f, "definition");
      while (!def.empty() && (def.back() == '\n' || def.back() == ' ' || def.back() == ';'))
        def.pop_back();
      // Bodies may name tables created further down.
      add(it == a.end() ? "create " + str(f, "kind") : "replace " + str(f, "kind"), function_key(f),
          "SET check_function_bodies = off;\n" + def);
    }
  }

  void sequences(bool ownership) {
    Index a = by_qname(list(a_, "sequences"));
    for (const auto& s : list(b_, "sequences")) {
      auto it = a.find(plain_name(s));
      const json* old = it == a.end() ? nullptr : it->second;
      if (!ownership) {
        std::string opts = " AS " + str(s, "type") + " INCREMENT BY " + s["increment"].dump() +
                           " MINVALUE " + s["min"].dump() + " MAXVALUE " + s["max"].dump() +
                           " START WITH " + s["start"].dump() + " CACHE " + s["cache"].dump() +
                           (flag(s, "cycle") ? " CYCLE" : " NO CYCLE");
        if (!old) {
          add("create sequence", plain_name(s), "CREATE SEQUENCE " + qname(s) + opts);
        } else {
          for (const char* k : {"type", "increment", "min", "max", "start", "cache", "cycle"}) {
            if ((*old)[k] != s[k]) {
              // Narrower bounds may exclude the current value: then it restarts at START.
              bool narrower = s["min"].get<long long>() > (*old)["min"].get<long long>() ||
                              s["max"].get<long long>() < (*old)["max"].get<long long>();
              add("alter sequence", plain_name(s),
                  "ALTER SEQUENCE " + qname(s) + opts + (narrower ? " RESTART" : ""),
                  narrower ? std::vector<std::string>{"restarts the sequence at its START value",
                                                      kIrreversible}
                           : std::vector<std::string>{});
              break;
            }
          }
        }
        continue;
      }
      json was = old ? (*old)["owned_by"] : json();
      json now = s["owned_by"];
      if (was.is_null()) was = json();
      if (now.is_null()) now = json();
      bool owner_new =
          !now.is_null() && new_tables_.count(str(now, "schema") + "." + str(now, "table"));
      if (was == now && !owner_new) continue;
      if (now.is_null() && !old) continue;
      add("sequence owner", plain_name(s),
          "ALTER SEQUENCE " + qname(s) + " OWNED BY " +
              (now.is_null() ? std::string("NONE")
                             : qi(str(now, "schema")) + "." + qi(str(now, "table")) + "." +
                                   qi(str(now, "column"))));
    }
  }

  static std::string column_sql(const json& c) {
    std::string sql = qi(str(c, "name")) + " " + str(c, "type");
    if (has(c, "collation")) sql += " COLLATE " + str(c, "collation");
    if (has(c, "generated")) sql += " GENERATED ALWAYS AS (" + str(c, "generated") + ") STORED";
    if (has(c, "identity"))
      sql += " GENERATED " + std::string(str(c, "identity") == "always" ? "ALWAYS" : "BY DEFAULT") +
             " AS IDENTITY";
    if (has(c, "default")) sql += " DEFAULT " + str(c, "default");
    if (flag(c, "not_null")) sql += " NOT NULL";
    return sql;
  }

  void tables() {
    // New tables: plain tables and partitioned parents first, then partitions.
    for (int pass = 0; pass < 2; ++pass) {
      for (const auto& t : list(b_, "tables")) {
        std::string k = plain_name(t);
        if (!new_tables_.count(k) || has(t, "partition_of") != (pass == 1)) continue;
        std::string sql =
            std::string("CREATE ") + (flag(t, "unlogged") ? "UNLOGGED " : "") + "TABLE " + qname(t);
        if (has(t, "partition_of")) {
          sql += " PARTITION OF " + qname(t["partition_of"]) + " " + str(t, "partition_bound");
        } else {
          std::string cols;
          for (const auto& c : list(t, "columns"))
            cols += std::string(cols.empty() ? "\n  " : ",\n  ") + column_sql(c);
          sql += " (" + cols + "\n)";
          if (has(t, "partition_key")) sql += " PARTITION BY " + str(t, "partition_key");
        }
        if (!list(t, "options").empty()) sql += " WITH (" + join(list(t, "options")) + ")";
        add("create table", k, sql);
        table_settings(nullptr, t);
      }
    }
    for (const auto& t : list(b_, "tables")) {
      std::string k = plain_name(t);
      if (new_tables_.count(k)) continue;
      alter_table(*a_tables_.at(k), t);
    }
  }

  static std::string join(const json& items) {
    std::string s;
    for (const auto& i : items)
      s += (s.empty() ? "" : ", ") + i.get<std::string>();
    return s;
  }

  // RLS, options, grants and partition attachment of a table in b (old: the same in a).
  void table_settings(const json* old, const json& t) {
    std::string k = plain_name(t), name = qname(t);
    bool was_rls = old && flag(*old, "rls"), was_forced = old && flag(*old, "rls_forced");
    if (flag(t, "rls") != was_rls)
      add("row level security", k,
          "ALTER TABLE " + name + (flag(t, "rls") ? " ENABLE" : " DISABLE") +
              " ROW LEVEL SECURITY");
    if (flag(t, "rls_forced") != was_forced)
      add("row level security", k,
          "ALTER TABLE " + name + (flag(t, "rls_forced") ? " FORCE" : " NO FORCE") +
              " ROW LEVEL SECURITY");
    grants("TABLE", k, name, old ? list(*old, "grants") : json::array(), list(t, "grants"));
  }

  void grants(const char* what, const std::string& k, const std::string& name, const json& was,
              const json& now) {
    std::set<std::string> a, b;
    for (const auto& g : was)
      a.insert(g.get<std::string>());
    for (const auto& g : now)
      b.insert(g.get<std::string>());
    for (const auto& g : a) {
      if (b.count(g)) continue;
      auto colon = g.rfind(':');
      add("revoke", k,
          "REVOKE " + g.substr(colon + 1) + " ON " + what + " " + name + " FROM " +
              g.substr(0, colon));
    }
    for (const auto& g : b) {
      if (a.count(g)) continue;
      auto colon = g.rfind(':');
      add("grant", k,
          "GRANT " + g.substr(colon + 1) + " ON " + what + " " + name + " TO " +
              g.substr(0, colon));
    }
  }

  void alter_table(const json& a, const json& b) {
    std::string k = plain_name(b), name = qname(b);
    bool partition = has(b, "partition_of");
    // Partition attachment.
    if (str(a, "partition_bound") != str(b, "partition_bound") ||
        a["partition_of"] != b["partition_of"]) {
      if (has(a, "partition_of"))
        add("detach partition", k,
            "ALTER TABLE " + qname(a["partition_of"]) + " DETACH PARTITION " + name);
      if (partition)
        add("attach partition", k,
            "ALTER TABLE " + qname(b["partition_of"]) + " ATTACH PARTITION " + name + " " +
                str(b, "partition_bound"),
            {kScans});
    }
    if (flag(a, "unlogged") != flag(b, "unlogged"))
      add("set logged", k,
          "ALTER TABLE " + name + (flag(b, "unlogged") ? " SET UNLOGGED" : " SET LOGGED"),
          {kRewrites, kAccessExclusive});
    if (a["options"] != b["options"]) {
      std::set<std::string> keys;
      for (const auto& o : list(a, "options")) {
        std::string s = o.get<std::string>();
        keys.insert(s.substr(0, s.find('=')));
      }
      for (const auto& o : list(b, "options")) {
        std::string s = o.get<std::string>();
        keys.erase(s.substr(0, s.find('=')));
      }
      if (!keys.empty()) {
        std::string r;
        for (const auto& key : keys)
          r += (r.empty() ? "" : ", ") + key;
        add("reset options", k, "ALTER TABLE " + name + " RESET (" + r + ")");
      }
      if (!list(b, "options").empty())
        add("set options", k, "ALTER TABLE " + name + " SET (" + join(list(b, "options")) + ")");
    }
    if (!partition) {
      Index ac = by_local_name(list(a, "columns"));
      Index bc = by_local_name(list(b, "columns"));
      for (const auto& c : list(a, "columns")) {
        auto it = bc.find(str(c, "name"));
        bool regenerate = it != bc.end() && str(c, "generated") != str(*it->second, "generated");
        if ((it == bc.end() || regenerate) && !flag(c, "inherited"))
          add("drop column", k + "." + str(c, "name"),
              "ALTER TABLE " + name + " DROP COLUMN " + qi(str(c, "name")),
              {kDeletesData, kIrreversible, kAccessExclusive});
      }
      for (const auto& c : list(b, "columns")) {
        if (flag(c, "inherited")) continue;
        auto it = ac.find(str(c, "name"));
        bool regenerate = it != ac.end() && str(c, "generated") != str(*it->second, "generated");
        if (it == ac.end() || regenerate) {
          add_column(k, name, c);
        } else {
          alter_column(k, name, *it->second, c);
        }
      }
    }
    table_settings(&a, b);
  }

  void add_column(const std::string& k, const std::string& name, const json& c) {
    std::string col = k + "." + str(c, "name");
    std::vector<std::string> hazards{kAccessExclusive};
    if (has(c, "generated") || has(c, "identity")) hazards.push_back(kRewrites);
    if (flag(c, "not_null") && !has(c, "default") && !has(c, "identity") && !has(c, "generated"))
      hazards.push_back("fails unless the table is empty (NOT NULL without a default)");
    add("add column", col, "ALTER TABLE " + name + " ADD COLUMN " + column_sql(c), hazards);
  }

  void alter_column(const std::string& k, const std::string& name, const json& a, const json& b) {
    std::string col = k + "." + str(b, "name");
    std::string alter = "ALTER TABLE " + name + " ALTER COLUMN " + qi(str(b, "name"));
    bool retype = str(a, "type") != str(b, "type") || str(a, "collation") != str(b, "collation");
    bool default_changes = str(a, "default") != str(b, "default");
    // A default is dropped only when it goes, or around a type change it may not survive.
    if (has(a, "default") && ((default_changes && !has(b, "default")) || retype))
      add("drop default", col, alter + " DROP DEFAULT", {kAccessExclusive});
    if (has(a, "identity") && (!has(b, "identity") || retype))
      add("drop identity", col, alter + " DROP IDENTITY", {kAccessExclusive});
    if (retype) {
      add("alter column type", col,
          alter + " TYPE " + str(b, "type") +
              (has(b, "collation") ? " COLLATE " + str(b, "collation") : "") + " USING " +
              qi(str(b, "name")) + "::" + str(b, "type"),
          {kRewrites, kAccessExclusive, kIrreversible});
    }
    if (has(b, "default") && (default_changes || retype))
      add("set default", col, alter + " SET DEFAULT " + str(b, "default"), {kAccessExclusive});
    if (flag(a, "not_null") != flag(b, "not_null")) {
      if (!flag(b, "not_null")) {
        if (!has(a, "identity") || has(b, "identity"))
          add("drop not null", col, alter + " DROP NOT NULL", {kAccessExclusive});
      } else {
        // A validated CHECK lets SET NOT NULL skip its full scan under ACCESS EXCLUSIVE.
        std::string check = qi(truncate(str(b, "name") + "_not_null_weir"));
        add("add check", col,
            "ALTER TABLE " + name + " ADD CONSTRAINT " + check + " CHECK (" + qi(str(b, "name")) +
                " IS NOT NULL) NOT VALID",
            {kAccessExclusive});
        add("validate check", col, "ALTER TABLE " + name + " VALIDATE CONSTRAINT " + check,
            {kScans});
        add("set not null", col, alter + " SET NOT NULL", {kAccessExclusive});
        add("drop check", col, "ALTER TABLE " + name + " DROP CONSTRAINT " + check,
            {kAccessExclusive});
      }
    }
    if (has(b, "identity")) {
      std::string how = str(b, "identity") == "always" ? "ALWAYS" : "BY DEFAULT";
      if (!has(a, "identity") || retype)
        add("add identity", col, alter + " ADD GENERATED " + how + " AS IDENTITY",
            {kAccessExclusive});
      else if (str(a, "identity") != str(b, "identity"))
        add("set identity", col, alter + " SET GENERATED " + how, {kAccessExclusive});
    }
  }

  static std::string truncate(std::string s) {
    if (s.size() > 63) s.resize(63);
    return s;
  }

  // Constraints new or changed in b: non-foreign keys first (fks=false), then foreign keys.
  void constraints(bool fks) {
    for (const auto& t : list(b_, "tables")) {
      std::string k = plain_name(t);
      bool fresh = new_tables_.count(k) > 0;
      const json* old = fresh ? nullptr : a_tables_.at(k);
      Index oc = old ? by_local_name(list(*old, "constraints")) : Index{};
      for (const auto& c : list(t, "constraints")) {
        std::string type = str(c, "type");
        if ((type == "foreign key") != fks) continue;
        auto it = oc.find(str(c, "name"));
        if (it != oc.end() && !dropped_consts_.count(k + "/" + str(c, "name"))) {
          if (only_validated(*it->second, c))
            add("validate " + type, k + "." + str(c, "name"),
                "ALTER TABLE " + qname(t) + " VALIDATE CONSTRAINT " + qi(str(c, "name")), {kScans});
          continue;
        }
        add_constraint(t, c, fresh);
      }
    }
  }

  void add_constraint(const json& t, const json& c, bool fresh_table) {
    std::string k = plain_name(t), name = qname(t), cname = qi(str(c, "name"));
    std::string obj = k + "." + str(c, "name"), type = str(c, "type"), def = str(c, "definition");
    bool fresh = fresh_table;
    if (type == "check" || type == "foreign key") {
      bool not_valid = def.size() > 10 && def.compare(def.size() - 10, 10, " NOT VALID") == 0;
      std::string base = not_valid ? def.substr(0, def.size() - 10) : def;
      if (fresh && !not_valid) {
        add("add " + type, obj, "ALTER TABLE " + name + " ADD CONSTRAINT " + cname + " " + def);
        return;
      }
      add("add " + type, obj,
          "ALTER TABLE " + name + " ADD CONSTRAINT " + cname + " " + base + " NOT VALID",
          {type == "check"
               ? kAccessExclusive
               : "takes SHARE ROW EXCLUSIVE lock on both tables (blocks writes, briefly)"});
      if (!not_valid)
        add("validate " + type, obj, "ALTER TABLE " + name + " VALIDATE CONSTRAINT " + cname,
            {kScans});
      return;
    }
    if ((type == "unique" || type == "primary key") && !fresh) {
      // Build the index without blocking writes, then attach it as the constraint.
      const json* idx = nullptr;
      for (const auto& i : list(t, "indexes"))
        if (str(i, "constraint") == str(c, "name")) idx = &i;
      bool plain_columns = def.find(" INCLUDE ") == std::string::npos &&
                           def.find(" WHERE ") == std::string::npos &&
                           def.find("DEFERRABLE") == std::string::npos &&
                           def.find("NULLS NOT DISTINCT") == std::string::npos;
      if (idx && plain_columns && str(t, "kind") == "table") {
        std::string idef = str(*idx, "definition");
        std::string concurrent = idef;
        auto pos = concurrent.find(" INDEX ");
        if (pos != std::string::npos) concurrent.insert(pos + 7, "CONCURRENTLY ");
        add("create index", k + "." + str(*idx, "name"), concurrent, {kBuildsIndex}, false);
        add("add " + type, obj,
            "ALTER TABLE " + name + " ADD CONSTRAINT " + cname + " " +
                (type == "unique" ? "UNIQUE" : "PRIMARY KEY") + " USING INDEX " +
                qi(str(*idx, "name")),
            {kAccessExclusive});
        return;
      }
    }
    std::vector<std::string> hazards;
    if (!fresh) hazards = {kAccessExclusive, kBuildsIndex};
    add("add " + type, obj, "ALTER TABLE " + name + " ADD CONSTRAINT " + cname + " " + def,
        hazards);
  }

  // Indexes of tables (those of materialized views are created with their views).
  void indexes() {
    for (const auto& t : list(b_, "tables")) {
      std::string k = plain_name(t);
      bool fresh = new_tables_.count(k) > 0;
      Index oi = fresh ? Index{} : by_local_name(list(*a_tables_.at(k), "indexes"));
      for (const auto& i : list(t, "indexes")) {
        if (has(i, "constraint")) continue;
        auto it = oi.find(str(i, "name"));
        bool dropped = dropped_indexes_.count(k + "/" + str(i, "name")) > 0;
        bool had = it != oi.end() && !dropped && !has(*it->second, "constraint");
        if (had && str(*it->second, "definition") == str(i, "definition")) continue;
        create_index(t, i, fresh, had);
      }
    }
  }

  void create_index(const json& t, const json& i, bool fresh, bool replace) {
    std::string k = plain_name(t), def = str(i, "definition");
    std::string obj = k + "." + str(i, "name");
    if (fresh) {
      add("create index", obj, def);
      return;
    }
    auto concurrently = [](std::string d) {
      auto pos = d.find(" INDEX ");
      if (pos != std::string::npos) d.insert(pos + 7, "CONCURRENTLY ");
      return d;
    };
    if (!replace) {
      add("create index", obj, concurrently(def), {kBuildsIndex}, false);
      return;
    }
    // Changed: build the new one under a temporary name, drop the old, rename.
    std::string schema = qi(str(t, "schema")), iname = str(i, "name");
    std::string tmp = truncate(iname + "_weir_new");
    std::string tmp_def = def;
    auto pos = tmp_def.find(" INDEX " + qi(iname) + " ON ");
    if (pos != std::string::npos) tmp_def.replace(pos + 7, qi(iname).size(), qi(tmp));
    add("create index", obj + " (replacement)", concurrently(tmp_def), {kBuildsIndex}, false);
    add("drop index", obj, "DROP INDEX CONCURRENTLY " + schema + "." + qi(iname), {}, false);
    add("rename index", obj, "ALTER INDEX " + schema + "." + qi(tmp) + " RENAME TO " + qi(iname));
  }

  void views() {
    std::set<std::string> todo;
    for (const auto& [k, v] : b_views_)
      if (!a_views_.count(k) || rebuilt_views_.count(k)) todo.insert(k);
    for (const std::string& k : view_order(b_views_, todo, false)) {
      const json& v = *b_views_.at(k);
      bool mat = flag(v, "materialized");
      std::string def = str(v, "definition");
      while (!def.empty() && (def.back() == ';' || def.back() == ' ' || def.back() == '\n'))
        def.pop_back();
      std::string with =
          list(v, "options").empty() ? "" : " WITH (" + join(list(v, "options")) + ")";
      add(mat ? "create materialized view" : "create view", k,
          std::string("CREATE ") + (mat ? "MATERIALIZED VIEW " : "VIEW ") + qname(v) + with +
              " AS\n" + def);
      if (mat)
        for (const auto& i : list(v, "indexes"))
          add("create index", k + "." + str(i, "name"), str(i, "definition"));
      grants("TABLE", k, qname(v), json::array(), list(v, "grants"));
    }
    for (const auto& [k, v] : b_views_) {
      if (todo.count(k)) continue;
      const json& a = *a_views_.at(k);
      grants("TABLE", k, qname(*v), list(a, "grants"), list(*v, "grants"));
      if (flag(*v, "materialized")) {
        Index oi = by_local_name(list(a, "indexes"));
        for (const auto& i : list(*v, "indexes")) {
          auto it = oi.find(str(i, "name"));
          if (it == oi.end() || dropped_indexes_.count(k + "/" + str(i, "name")))
            add("create index", k + "." + str(i, "name"), str(i, "definition"), {kBuildsIndex});
        }
      }
    }
    Index as = by_qname(list(a_, "sequences"));
    for (const auto& s : list(b_, "sequences")) {
      auto it = as.find(plain_name(s));
      grants("SEQUENCE", plain_name(s), qname(s),
             it == as.end() ? json::array() : list(*it->second, "grants"), list(s, "grants"));
    }
  }

  void triggers_and_policies() {
    for (const auto& t : list(b_, "tables")) {
      std::string k = plain_name(t);
      const json* old = new_tables_.count(k) ? nullptr : a_tables_.at(k);
      Index ot = old ? by_local_name(list(*old, "triggers")) : Index{};
      for (const auto& tr : list(t, "triggers")) {
        auto it = ot.find(str(tr, "name"));
        bool same = it != ot.end() && str(*it->second, "definition") == str(tr, "definition");
        if (!same) add("create trigger", k + "." + str(tr, "name"), str(tr, "definition"));
        if ((!same && str(tr, "enabled") != "origin") ||
            (same && str(*it->second, "enabled") != str(tr, "enabled"))) {
          std::string how = str(tr, "enabled") == "disabled"  ? "DISABLE"
                            : str(tr, "enabled") == "always"  ? "ENABLE ALWAYS"
                            : str(tr, "enabled") == "replica" ? "ENABLE REPLICA"
                                                              : "ENABLE";
          add("trigger state", k + "." + str(tr, "name"),
              "ALTER TABLE " + qname(t) + " " + how + " TRIGGER " + qi(str(tr, "name")));
        }
      }
      Index op = old ? by_local_name(list(*old, "policies")) : Index{};
      for (const auto& p : list(t, "policies")) {
        auto it = op.find(str(p, "name"));
        if (it != op.end() && same_policy(*it->second, p)) continue;
        std::string sql = "CREATE POLICY " + qi(str(p, "name")) + " ON " + qname(t) + " AS " +
                          (flag(p, "permissive") ? "PERMISSIVE" : "RESTRICTIVE") + " FOR " +
                          str(p, "command") + " TO " +
                          join(p["roles"].is_array() ? p["roles"] : json::array({"PUBLIC"}));
        if (has(p, "using")) sql += " USING (" + str(p, "using") + ")";
        if (has(p, "check")) sql += " WITH CHECK (" + str(p, "check") + ")";
        add("create policy", k + "." + str(p, "name"), sql);
      }
    }
  }

  void comment(const std::string& what, const std::string& object, const std::string& target,
               const json* was, const json& now) {
    std::string a = was ? str(*was, "comment") : "", b = str(now, "comment");
    if (a == b) return;
    add("comment", object,
        "COMMENT ON " + what + " " + target + " IS " + (b.empty() ? "NULL" : lit(b)));
  }

  void comments() {
    auto find = [](const Index& idx, const std::string& k) -> const json* {
      auto it = idx.find(k);
      return it == idx.end() ? nullptr : it->second;
    };
    Index as = by_local_name(list(a_, "schemas"));
    for (const auto& s : list(b_, "schemas"))
      comment("SCHEMA", str(s, "name"), qi(str(s, "name")), find(as, str(s, "name")), s);
    for (const char* sec : {"enums", "composites"}) {
      Index a = by_qname(list(a_, sec));
      for (const auto& t : list(b_, sec))
        comment("TYPE", plain_name(t), qname(t), find(a, plain_name(t)), t);
    }
    Index ad = by_qname(list(a_, "domains"));
    for (const auto& d : list(b_, "domains")) {
      const json* old = find(ad, plain_name(d));
      if (old && str(*old, "type") != str(d, "type")) old = nullptr;
      comment("DOMAIN", plain_name(d), qname(d), old, d);
    }
    Index aseq = by_qname(list(a_, "sequences"));
    for (const auto& s : list(b_, "sequences"))
      comment("SEQUENCE", plain_name(s), qname(s), find(aseq, plain_name(s)), s);
    Index af = by_name(list(a_, "functions"), function_key);
    for (const auto& f : list(b_, "functions")) {
      const json* old = find(af, function_key(f));
      if (old && (str(*old, "returns") != str(f, "returns") || str(*old, "kind") != str(f, "kind")))
        old = nullptr;
      comment(str(f, "kind") == "procedure" ? "PROCEDURE" : "FUNCTION", function_key(f),
              function_sig(f), old, f);
    }
    for (const auto& t : list(b_, "tables")) {
      std::string k = plain_name(t);
      const json* old = new_tables_.count(k) ? nullptr : a_tables_.at(k);
      comment("TABLE", k, qname(t), old, t);
      Index oc = old ? by_local_name(list(*old, "columns")) : Index{};
      for (const auto& c : list(t, "columns")) {
        const json* oldc = find(oc, str(c, "name"));
        if (oldc && str(*oldc, "generated") != str(c, "generated")) oldc = nullptr;
        if (!flag(c, "inherited"))
          comment("COLUMN", k + "." + str(c, "name"), qname(t) + "." + qi(str(c, "name")), oldc, c);
      }
      Index ocon = old ? by_local_name(list(*old, "constraints")) : Index{};
      for (const auto& c : list(t, "constraints")) {
        const json* oldc =
            dropped_consts_.count(k + "/" + str(c, "name")) ? nullptr : find(ocon, str(c, "name"));
        comment("CONSTRAINT", k + "." + str(c, "name"), qi(str(c, "name")) + " ON " + qname(t),
                oldc, c);
      }
      Index oidx = old ? by_local_name(list(*old, "indexes")) : Index{};
      for (const auto& i : list(t, "indexes")) {
        const json* oldi = find(oidx, str(i, "name"));
        if (oldi && str(*oldi, "definition") != str(i, "definition")) oldi = nullptr;
        if (dropped_indexes_.count(k + "/" + str(i, "name"))) oldi = nullptr;
        comment("INDEX", k + "." + str(i, "name"), qi(str(t, "schema")) + "." + qi(str(i, "name")),
                oldi, i);
      }
      for (const auto& tr : list(t, "triggers")) {
        Index ot = old ? by_local_name(list(*old, "triggers")) : Index{};
        const json* oldt = find(ot, str(tr, "name"));
        if (oldt && str(*oldt, "definition") != str(tr, "definition")) oldt = nullptr;
        comment("TRIGGER", k + "." + str(tr, "name"), qi(str(tr, "name")) + " ON " + qname(t), oldt,
                tr);
      }
    }
    for (const auto& [k, v] : b_views_) {
      const json* old = rebuilt_views_.count(k) ? nullptr : find(a_views_, k);
      comment(flag(*v, "materialized") ? "MATERIALIZED VIEW" : "VIEW", k, qname(*v), old, *v);
    }
  }
};

}  // namespace

std::vector<Change> diff(const json& from, const json& to) {
  return Differ(from, to).run();
}

json to_json(const Change& c) {
  return {{"kind", c.kind},
          {"object", c.object},
          {"sql", c.sql},
          {"hazards", c.hazards},
          {"transaction", c.transactional}};
}

std::string to_script(const std::vector<Change>& changes) {
  std::string out;
  for (const auto& c : changes) {
    out += "-- " + c.kind + ": " + c.object;
    if (!c.transactional) out += " (outside a transaction)";
    out += "\n";
    for (const auto& h : c.hazards)
      out += "--   hazard: " + h + "\n";
    out += c.sql + ";\n\n";
  }
  return out;
}

}  // namespace weir::pg
