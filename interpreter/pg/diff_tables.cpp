// Schema diff, tables: columns, constraints, indexes, partitions, triggers and policies (see
// diff_internal.hpp).
#include "pg/diff_internal.hpp"

namespace weir::pg::diff_detail {

// Columns whose change invalidates views on the table (dropped, retyped, regenerated).
bool Differ::table_reshaped(const std::string& key) const {
  auto ai = a_tables_.find(key);
  auto bi = b_tables_.find(key);
  if (ai == a_tables_.end()) return false;
  if (bi == b_tables_.end() || new_tables_.count(key)) return true;
  Index bc = by_local_name(list(*bi->second, "columns"));
  for (const auto& c : list(*ai->second, "columns")) {
    auto it = bc.find(str(c, "name"));
    if (it == bc.end() || str(c, "type") != str(*it->second, "type") ||
        of_recreated_enum(str(c, "type")) ||
        !same_expr(str(c, "generated"), str(*it->second, "generated")) ||
        str(c, "collation") != str(*it->second, "collation"))
      return true;
  }
  return false;
}

// The columns of kept table `k` that alter_table drops: gone from b, or a stored expression
// that cannot be altered into b's (a new or changed generated column). Inherited columns
// follow their parent (unless the table's parents change); partitions' follow theirs.
void Differ::find_dropped_columns(const std::string& k, const json& a, const json& b) {
  if (has(b, "partition_of")) return;
  bool own_all = inheritance_changes(k);
  Index bc = by_local_name(list(b, "columns"));
  for (const auto& col : list(a, "columns")) {
    if (flag(col, "inherited") && !own_all) continue;
    auto it = bc.find(str(col, "name"));
    if (it == bc.end() || (has(*it->second, "generated") &&
                           !same_expr(str(col, "generated"), str(*it->second, "generated"))))
      dropped_columns_.insert("column:" + k + "." + str(col, "name"));
  }
}

bool Differ::column_goes(const std::string& k, const json& col) const {
  return dropped_columns_.count("column:" + k + "." + str(col, "name")) > 0;
}

bool Differ::uses_dropped(const std::string& part) const {
  if (dropped_columns_.empty() && recreated_enum_keys_.empty()) return false;
  for (const auto& used : uses(a_, part)) {
    const auto& u = used.get_ref<const std::string&>();
    if (dropped_columns_.count(u) || recreated_enum_keys_.count(u)) return true;
  }
  return false;
}

void Differ::drop_dependents() {
  drop_views();
  for (const auto& [k, at] : a_tables_) {
    auto bi = b_tables_.find(k);
    const json* bt = bi == b_tables_.end() || new_tables_.count(k) ? nullptr : bi->second;
    if (!bt) continue;  // a dropped table takes its triggers, policies and constraints along
    if (same_tables_.count(k)) continue;
    drop_triggers(k, *at, *bt);
    Index bt_pol = by_local_name(list(*bt, "policies"));
    for (const auto& p : list(*at, "policies")) {
      auto it = bt_pol.find(str(p, "name"));
      if (it != bt_pol.end() && same_policy(p, *it->second) &&
          !uses_dropped("policy:" + k + "." + str(p, "name")))
        continue;
      add("drop policy", k + "." + str(p, "name"),
          "DROP POLICY " + qi(str(p, "name")) + " ON " + qname(*at));
      removes("policy:" + k + "." + str(p, "name"));
    }
  }
  // Indexes that go or change (and those behind unique constraints that go), first as a set:
  // a foreign key that uses one goes too, and comes back once it is there again.
  std::set<std::string> indexes_going;                            // dependency keys
  std::vector<std::pair<std::string, const json*>> consts_going;  // table key, constraint
  for (const auto& [k, at] : a_tables_) {
    auto bi = b_tables_.find(k);
    if (bi == b_tables_.end() || new_tables_.count(k)) continue;
    Index bcons = by_local_name(list(*bi->second, "constraints"));
    for (const auto& c : list(*at, "constraints")) {
      auto it = bcons.find(str(c, "name"));
      bool keep = it != bcons.end() &&
                  (same_constraint(c, *it->second) || only_validated(c, *it->second)) &&
                  !uses_dropped("constraint:" + k + "." + str(c, "name"));
      // A foreign key into a table that is dropped or recreated goes too.
      if (keep && has(c, "references")) {
        std::string ref = plain_name(c["references"]);
        if (!b_tables_.count(ref) || new_tables_.count(ref)) keep = false;
      }
      if (keep) continue;
      consts_going.emplace_back(k, &c);
      for (const auto& i : list(*at, "indexes"))
        if (str(i, "constraint") == str(c, "name"))
          indexes_going.insert("index:" + k + "." + str(i, "name"));
    }
  }
  std::vector<std::pair<std::string, const json*>> idx_going;  // owner key, index
  for (const auto& [k, owner] : a_owners()) {
    const json* b_owner = b_owner_of(k);
    if (!b_owner) continue;  // goes with its table or view
    Index bidx = by_local_name(list(*b_owner, "indexes"));
    for (const auto& i : list(*owner, "indexes")) {
      if (has(i, "constraint")) continue;  // goes with its constraint
      auto it = bidx.find(str(i, "name"));
      std::string key = "index:" + k + "." + str(i, "name");
      bool on_dropped = uses_dropped(key);
      if (it != bidx.end() && !has(*it->second, "constraint") && !on_dropped) {
        if (same_expr(str(i, "definition"), str(*it->second, "definition"))) continue;
        // changed: replaced online (new one built first) in the second half
        if (!new_tables_.count(k) && str(*owner, "kind") != "partitioned") {
          indexes_going.insert(key);
          continue;
        }
      }
      idx_going.emplace_back(k, &i);
      indexes_going.insert(key);
    }
  }
  // Foreign keys that use a going index (UNIQUE becoming PRIMARY KEY, a changed index).
  for (const auto& [k, at] : a_tables_) {
    auto bi = b_tables_.find(k);
    if (bi == b_tables_.end() || new_tables_.count(k)) continue;
    for (const auto& c : list(*at, "constraints")) {
      if (str(c, "type") != "foreign key") continue;
      bool going = false;
      for (const auto& [gk, gc] : consts_going)
        if (gk == k && gc == &c) going = true;
      if (going) continue;
      for (const auto& used : uses(a_, "constraint:" + k + "." + str(c, "name")))
        if (indexes_going.count(used.get<std::string>())) going = true;
      if (going) consts_going.emplace_back(k, &c);
    }
  }
  // Foreign keys first (they depend on the unique indexes of the tables they reference).
  for (bool fks : {true, false}) {
    for (const auto& [k, c] : consts_going) {
      if ((str(*c, "type") == "foreign key") != fks) continue;
      const json& at = *a_tables_.at(k);
      dropped_consts_.insert(k + "/" + str(*c, "name"));
      add("drop constraint", k + "." + str(*c, "name"),
          "ALTER TABLE " + qname(at) + " DROP CONSTRAINT " + qi(str(*c, "name")),
          {kAccessExclusive});
      removes("constraint:" + k + "." + str(*c, "name"));
      for (const auto& i : list(at, "indexes"))
        if (str(i, "constraint") == str(*c, "name")) {
          removes("index:" + k + "." + str(i, "name"));
          dropped_indexes_.insert(k + "/" + str(i, "name"));
        }
    }
  }
  for (const auto& [k, i] : idx_going) {
    const json& owner = *a_owners().at(k);
    dropped_indexes_.insert(k + "/" + str(*i, "name"));
    bool online =
        !new_tables_.count(k) && !rebuilt_views_.count(k) && str(owner, "kind") != "partitioned";
    add("drop index", k + "." + str(*i, "name"),
        std::string("DROP INDEX ") + (online ? "CONCURRENTLY " : "") + qi(str(owner, "schema")) +
            "." + qi(str(*i, "name")),
        {}, !online);
    removes("index:" + k + "." + str(*i, "name"));
  }
}

// Triggers of a kept table or view that go or change (a rebuilt view takes its own along).
void Differ::drop_triggers(const std::string& k, const json& a, const json& b) {
  Index bt_trig = by_local_name(list(b, "triggers"));
  for (const auto& t : list(a, "triggers")) {
    auto it = bt_trig.find(str(t, "name"));
    if (it != bt_trig.end() && same_expr(str(t, "definition"), str(*it->second, "definition")) &&
        !uses_dropped("trigger:" + k + "." + str(t, "name")))
      continue;
    add("drop trigger", k + "." + str(t, "name"),
        "DROP TRIGGER " + qi(str(t, "name")) + " ON " + qname(a));
    removes("trigger:" + k + "." + str(t, "name"));
    dropped_triggers_.insert(k + "/" + str(t, "name"));
  }
}

// An identity column's sequence named as in b (PostgreSQL would otherwise pick a free name).
std::string Differ::identity_options(const json& c) {
  if (!has(c, "identity_sequence")) return "";
  return " (SEQUENCE NAME " + str(c, "identity_sequence") + ")";  // quoted as needed
}

std::string Differ::column_sql(const json& c) {
  std::string sql = qi(str(c, "name")) + " " + str(c, "type");
  if (has(c, "collation")) sql += " COLLATE " + str(c, "collation");
  if (has(c, "generated")) sql += " GENERATED ALWAYS AS (" + str(c, "generated") + ") STORED";
  if (has(c, "identity"))
    sql += " GENERATED " + std::string(str(c, "identity") == "always" ? "ALWAYS" : "BY DEFAULT") +
           " AS IDENTITY" + identity_options(c);
  if (has(c, "default")) sql += " DEFAULT " + str(c, "default");
  if (flag(c, "not_null")) sql += " NOT NULL";
  return sql;
}

// The parents a table inherits from (INHERITS, not partitioning), as plain names.
static std::vector<std::string> parents(const json& t) {
  std::vector<std::string> out;
  for (const auto& p : list(t, "inherits"))
    out.push_back(plain_name(p));
  return out;
}

bool Differ::inheritance_changes(const std::string& k) const {
  auto ai = a_tables_.find(k);
  auto bi = b_tables_.find(k);
  return ai != a_tables_.end() && bi != b_tables_.end() &&
         parents(*ai->second) != parents(*bi->second);
}

void Differ::tables() {
  // Partitions detached and tables leaving an inheritance first: a column the parent gains
  // or loses below then no longer reaches them.
  for (const auto& t : list(b_, "tables")) {
    std::string k = plain_name(t);
    if (new_tables_.count(k)) continue;
    const json& a = *a_tables_.at(k);
    if (has(a, "partition_of") && (str(a, "partition_bound") != str(t, "partition_bound") ||
                                   a["partition_of"] != t["partition_of"]))
      add("detach partition", k,
          "ALTER TABLE " + qname(a["partition_of"]) + " DETACH PARTITION " + qname(t));
    if (inheritance_changes(k))
      for (const auto& p : list(a, "inherits"))
        add("no inherit", k, "ALTER TABLE " + qname(t) + " NO INHERIT " + qname(p),
            {kAccessExclusive});
  }
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
        for (const auto& c : list(t, "columns"))  // inherited ones too where b declares them
          if (!flag(c, "inherited") || flag(c, "local"))
            cols += std::string(cols.empty() ? "\n  " : ",\n  ") + column_sql(c);
        sql += " (" + cols + (cols.empty() ? ")" : "\n)");
        if (!list(t, "inherits").empty()) {
          std::string ps;
          for (const auto& p : list(t, "inherits"))
            ps += (ps.empty() ? "" : ", ") + qname(p);
          sql += " INHERITS (" + ps + ")";
        }
        if (has(t, "partition_key")) sql += " PARTITION BY " + str(t, "partition_key");
      }
      if (!list(t, "options").empty()) sql += " WITH (" + join(list(t, "options")) + ")";
      add("create table", k, sql);
      creates("table:" + k);
      for (const auto& c : list(t, "columns")) {
        provides("column:" + k + "." + str(c, "name"));
        needs_what("column:" + k + "." + str(c, "name"));
      }
      if (has(t, "partition_of")) needs("table:" + plain_name(t["partition_of"]));
      for (const auto& p : list(t, "inherits"))
        needs("table:" + plain_name(p));
      table_settings(nullptr, t);
    }
  }
  for (const auto& t : list(b_, "tables")) {
    std::string k = plain_name(t);
    if (new_tables_.count(k)) continue;
    alter_table(*a_tables_.at(k), t);
  }
  // What partitions and inheritance children hold of their own, once their parents' changes
  // (which recurse to them) are made.
  for (const auto& t : list(b_, "tables")) {
    std::string k = plain_name(t);
    if (new_tables_.count(k)) {
      inherited_columns(nullptr, t);
      continue;
    }
    const json& a = *a_tables_.at(k);
    if ((has(a, "partition_of") && has(t, "partition_of")) ||
        (!list(t, "inherits").empty() && !inheritance_changes(k)))
      inherited_columns(&a, t);
  }
  // Partitions attached and parents inherited last: by now their columns match.
  for (const auto& t : list(b_, "tables")) {
    std::string k = plain_name(t);
    if (new_tables_.count(k)) continue;
    const json& a = *a_tables_.at(k);
    if (has(t, "partition_of") && (str(a, "partition_bound") != str(t, "partition_bound") ||
                                   a["partition_of"] != t["partition_of"]))
      add("attach partition", k,
          "ALTER TABLE " + qname(t["partition_of"]) + " ATTACH PARTITION " + qname(t) + " " +
              str(t, "partition_bound"),
          {kScans});
    if (inheritance_changes(k))
      for (const auto& p : list(t, "inherits")) {
        add("inherit", k, "ALTER TABLE " + qname(t) + " INHERIT " + qname(p), {kAccessExclusive});
        needs("table:" + plain_name(p));
      }
  }
}

// The columns a partition or an inheritance child takes from its parent: what b gives them of
// their own (a default, NOT NULL) where it differs from what the parent passes down. `a` is
// the child in a (null when it is created here).
void Differ::inherited_columns(const json* a, const json& b) {
  std::string k = plain_name(b), name = qname(b);
  std::vector<std::string> ps;
  if (has(b, "partition_of")) ps.push_back(plain_name(b["partition_of"]));
  for (const auto& p : parents(b))
    ps.push_back(p);
  Index ac = a ? by_local_name(list(*a, "columns")) : Index{};
  for (const auto& c : list(b, "columns")) {
    if (!flag(c, "inherited")) continue;
    // the parent's column, in a and in b
    const json *pa = nullptr, *pb = nullptr;
    for (const auto& p : ps) {
      auto bt = b_tables_.find(p);
      if (pb || bt == b_tables_.end()) continue;
      for (const auto& pc : list(*bt->second, "columns"))
        if (str(pc, "name") == str(c, "name")) pb = &pc;
      auto at = a_tables_.find(p);
      if (pb && at != a_tables_.end() && !new_tables_.count(p))
        for (const auto& pc : list(*at->second, "columns"))
          if (str(pc, "name") == str(c, "name")) pa = &pc;
    }
    if (!pb) continue;
    auto ai = ac.find(str(c, "name"));
    const json* was = ai == ac.end() ? nullptr : ai->second;
    // What the child has once the parent's changes have recursed down to it.
    std::string def = !was || !pa || !same_expr(str(*pa, "default"), str(*pb, "default"))
                          ? str(*pb, "default")
                          : str(*was, "default");
    bool not_null = !was || !pa || flag(*pa, "not_null") != flag(*pb, "not_null")
                        ? flag(*pb, "not_null")
                        : flag(*was, "not_null");
    std::string col = k + "." + str(c, "name");
    std::string alter = "ALTER TABLE " + name + " ALTER COLUMN " + qi(str(c, "name"));
    if (!same_expr(def, str(c, "default"))) {
      add(has(c, "default") ? "set default" : "drop default", col,
          alter + (has(c, "default") ? " SET DEFAULT " + str(c, "default") : " DROP DEFAULT"),
          {kAccessExclusive});
      needs("column:" + col);
    }
    if (not_null != flag(c, "not_null")) {
      add(flag(c, "not_null") ? "set not null" : "drop not null", col,
          alter + (flag(c, "not_null") ? " SET NOT NULL" : " DROP NOT NULL"), {kAccessExclusive});
      needs("column:" + col);
    }
  }
}

// RLS, options, grants and partition attachment of a table in b (old: the same in a).
void Differ::table_settings(const json* old, const json& t) {
  std::string k = plain_name(t), name = qname(t);
  bool was_rls = old && flag(*old, "rls"), was_forced = old && flag(*old, "rls_forced");
  if (flag(t, "rls") != was_rls) {
    add("row level security", k,
        "ALTER TABLE " + name + (flag(t, "rls") ? " ENABLE" : " DISABLE") + " ROW LEVEL SECURITY");
    needs("table:" + k);
  }
  if (flag(t, "rls_forced") != was_forced) {
    add("row level security", k,
        "ALTER TABLE " + name + (flag(t, "rls_forced") ? " FORCE" : " NO FORCE") +
            " ROW LEVEL SECURITY");
    needs("table:" + k);
  }
  grants("TABLE", k, name, old ? list(*old, "grants") : initial_grants("tables", str(t, "schema")),
         list(t, "grants"), "", "table:" + k);
  Index oc = old ? by_local_name(list(*old, "columns")) : Index{};
  for (const auto& c : list(t, "columns")) {
    auto it = oc.find(str(c, "name"));
    grants("TABLE", k + "." + str(c, "name"), name,
           it == oc.end() ? json::array() : list(*it->second, "grants"), list(c, "grants"),
           str(c, "name"), "column:" + k + "." + str(c, "name"));
  }
}

void Differ::alter_table(const json& a, const json& b) {
  if (same_tables_.count(plain_name(b))) return;  // most tables: nothing to look at
  std::string k = plain_name(b), name = qname(b);
  bool partition = has(b, "partition_of") && has(a, "partition_of");
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
    // A table that leaves or joins an inheritance has its columns as its own here.
    bool own_all = inheritance_changes(k) || has(a, "partition_of") != has(b, "partition_of");
    Index ac = by_local_name(list(a, "columns"));
    Index bc = by_local_name(list(b, "columns"));
    for (const auto& c : list(a, "columns")) {
      if (!column_goes(k, c) && !(own_all && !bc.count(str(c, "name")))) continue;
      add("drop column", k + "." + str(c, "name"),
          "ALTER TABLE " + name + " DROP COLUMN " + qi(str(c, "name")),
          {kDeletesData, kIrreversible, kAccessExclusive});
      removes("column:" + k + "." + str(c, "name"));
    }
    for (const auto& c : list(b, "columns")) {
      auto it = ac.find(str(c, "name"));
      if (flag(c, "inherited") && !own_all && (it == ac.end() || flag(*it->second, "inherited")))
        continue;
      bool regenerate = it != ac.end() && column_goes(k, *it->second);
      if (it == ac.end() || regenerate) {
        add_column(k, name, c);
      } else {
        alter_column(k, name, *it->second, c);
      }
    }
  }
  table_settings(&a, b);
}

void Differ::add_column(const std::string& k, const std::string& name, const json& c) {
  std::string col = k + "." + str(c, "name");
  std::vector<std::string> hazards{kAccessExclusive};
  if (has(c, "generated") || has(c, "identity")) hazards.push_back(kRewrites);
  if (flag(c, "not_null") && !has(c, "default") && !has(c, "identity") && !has(c, "generated"))
    hazards.push_back("fails unless the table is empty (NOT NULL without a default)");
  add("add column", col, "ALTER TABLE " + name + " ADD COLUMN " + column_sql(c), hazards);
  creates("column:" + col);
}

// Whether `type` (as format_type prints it, maybe an array) is an enum of `model`.
static bool is_enum(const json& model, std::string type) {
  while (type.size() > 2 && type.compare(type.size() - 2, 2, "[]") == 0)
    type.resize(type.size() - 2);
  for (const auto& e : list(model, "enums"))
    if (qname(e) == type) return true;
  return false;
}

void Differ::alter_column(const std::string& k, const std::string& name, const json& a,
                          const json& b) {
  std::string col = k + "." + str(b, "name");
  std::string alter = "ALTER TABLE " + name + " ALTER COLUMN " + qi(str(b, "name"));
  // A stored generated column becomes a plain one, keeping its values.
  if (has(a, "generated") && !has(b, "generated"))
    add("drop expression", col, alter + " DROP EXPRESSION", {kAccessExclusive});
  // A column of a recreated type (an enum, a domain, a composite) that keeps it is converted
  // to the new type through text.
  bool enum_only = str(a, "type") == str(b, "type") && of_recreated_enum(str(a, "type"));
  bool retype =
      str(a, "type") != str(b, "type") || str(a, "collation") != str(b, "collation") || enum_only;
  bool default_changes = !same_expr(str(a, "default"), str(b, "default"));
  // A default is dropped only when it goes, or around a type change it may not survive.
  if (has(a, "default") && ((default_changes && !has(b, "default")) || retype))
    add("drop default", col, alter + " DROP DEFAULT", {kAccessExclusive});
  if (has(a, "identity") && (!has(b, "identity") || retype)) {
    add("drop identity", col, alter + " DROP IDENTITY", {kAccessExclusive});
    if (has(a, "identity_sequence")) removes("sequence:" + str(a, "identity_sequence"));
  }
  if (retype) {
    // Between enums (and to or from one) only text converts.
    bool via_text = enum_only || (str(a, "type") != str(b, "type") &&
                                  (is_enum(a_, str(a, "type")) || is_enum(b_, str(b, "type"))));
    bool array = str(a, "type").size() > 2 &&
                 str(a, "type").compare(str(a, "type").size() - 2, 2, "[]") == 0;
    add("alter column type", col,
        alter + " TYPE " + str(b, "type") +
            (has(b, "collation") ? " COLLATE " + str(b, "collation") : "") + " USING " +
            qi(str(b, "name")) + (via_text ? (array ? "::text[]" : "::text") : "") +
            "::" + str(b, "type"),
        enum_only && !of_type(str(a, "type"), retyped_domains_)
            ? std::vector<std::string>{kRewrites, kAccessExclusive}
            : std::vector<std::string>{kRewrites, kAccessExclusive, kIrreversible});
    needs_what("column:" + col);
  }
  if (has(b, "default") && (default_changes || retype)) {
    add("set default", col, alter + " SET DEFAULT " + str(b, "default"), {kAccessExclusive});
    needs_what("column:" + col);
  }
  if (flag(a, "not_null") != flag(b, "not_null")) {
    if (!flag(b, "not_null")) {
      add("drop not null", col, alter + " DROP NOT NULL", {kAccessExclusive});
    } else if (str(*b_tables_.at(k), "kind") == "partitioned" || has_children(k)) {
      add("set not null", col, alter + " SET NOT NULL", {kAccessExclusive, kScans});
    } else {
      // A validated CHECK lets SET NOT NULL skip its full scan under ACCESS EXCLUSIVE.
      std::string check = qi(truncate(str(b, "name") + "_not_null_weir"));
      add("add check", col,
          "ALTER TABLE " + name + " ADD CONSTRAINT " + check + " CHECK (" + qi(str(b, "name")) +
              " IS NOT NULL) NOT VALID",
          {kAccessExclusive});
      add("validate check", col, "ALTER TABLE " + name + " VALIDATE CONSTRAINT " + check, {kScans});
      add("set not null", col, alter + " SET NOT NULL", {kAccessExclusive});
      add("drop check", col, "ALTER TABLE " + name + " DROP CONSTRAINT " + check,
          {kAccessExclusive});
    }
  }
  if (has(b, "identity")) {
    std::string how = str(b, "identity") == "always" ? "ALWAYS" : "BY DEFAULT";
    if (!has(a, "identity") || retype) {
      // A serial column's sequence goes first, so the identity's takes its name.
      for (const auto& s : list(a_, "sequences")) {
        const json& o = s["owned_by"];
        if (!o.is_object() || str(o, "schema") + "." + str(o, "table") != k ||
            str(o, "column") != str(b, "name"))
          continue;
        bool kept = false;
        for (const auto& bs : list(b_, "sequences"))
          if (plain_name(bs) == plain_name(s)) kept = true;
        if (kept) continue;
        add("drop sequence", plain_name(s), "DROP SEQUENCE " + qname(s));
        removes("sequence:" + plain_name(s));
        dropped_sequences_.insert(plain_name(s));
      }
      add("add identity", col,
          alter + " ADD GENERATED " + how + " AS IDENTITY" + identity_options(b),
          {kAccessExclusive});
      if (has(b, "identity_sequence")) provides("sequence:" + str(b, "identity_sequence"));
    } else if (str(a, "identity") != str(b, "identity")) {
      add("set identity", col, alter + " SET GENERATED " + how, {kAccessExclusive});
    }
  }
}

// Whether table k has partitions or inheritance children in b.
bool Differ::has_children(const std::string& k) const {
  for (const auto& [ck, t] : b_tables_) {
    if (has(*t, "partition_of") && plain_name((*t)["partition_of"]) == k) return true;
    for (const auto& p : parents(*t))
      if (p == k) return true;
  }
  return false;
}

// Constraints new or changed in b: non-foreign keys first (fks=false), then foreign keys.
void Differ::constraints(bool fks) {
  for (const auto& t : list(b_, "tables")) {
    std::string k = plain_name(t);
    if (unchanged(k)) continue;
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

void Differ::add_constraint(const json& t, const json& c, bool fresh_table) {
  std::string k = plain_name(t), name = qname(t), cname = qi(str(c, "name"));
  std::string obj = k + "." + str(c, "name"), type = str(c, "type");
  std::string def = reparseable(str(c, "definition"));
  std::string key = "constraint:" + obj;
  bool fresh = fresh_table;
  const json* idx = nullptr;  // the index behind a unique, primary key or exclusion constraint
  for (const auto& i : list(t, "indexes"))
    if (str(i, "constraint") == str(c, "name")) idx = &i;
  auto provided = [&]() {
    creates(key);
    if (idx) provides("index:" + k + "." + str(*idx, "name"));
  };
  if (type == "check" || type == "foreign key") {
    bool not_valid = def.size() > 10 && def.compare(def.size() - 10, 10, " NOT VALID") == 0;
    std::string base = not_valid ? def.substr(0, def.size() - 10) : def;
    if (fresh && !not_valid) {
      add("add " + type, obj, "ALTER TABLE " + name + " ADD CONSTRAINT " + cname + " " + def);
      provided();
      return;
    }
    add("add " + type, obj,
        "ALTER TABLE " + name + " ADD CONSTRAINT " + cname + " " + base + " NOT VALID",
        {type == "check"
             ? kAccessExclusive
             : "takes SHARE ROW EXCLUSIVE lock on both tables (blocks writes, briefly)"});
    provided();
    if (!not_valid)
      add("validate " + type, obj, "ALTER TABLE " + name + " VALIDATE CONSTRAINT " + cname,
          {kScans});
    return;
  }
  if ((type == "unique" || type == "primary key") && !fresh) {
    // Build the index without blocking writes, then attach it as the constraint.
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
      needs_what(key);
      add("add " + type, obj,
          "ALTER TABLE " + name + " ADD CONSTRAINT " + cname + " " +
              (type == "unique" ? "UNIQUE" : "PRIMARY KEY") + " USING INDEX " +
              qi(str(*idx, "name")),
          {kAccessExclusive});
      provided();
      return;
    }
  }
  std::vector<std::string> hazards;
  if (!fresh) hazards = {kAccessExclusive, kBuildsIndex};
  add("add " + type, obj, "ALTER TABLE " + name + " ADD CONSTRAINT " + cname + " " + def, hazards);
  provided();
}

// Indexes of tables (those of materialized views are created with their views).
void Differ::indexes() {
  for (const auto& t : list(b_, "tables")) {
    std::string k = plain_name(t);
    if (unchanged(k)) continue;
    bool fresh = new_tables_.count(k) > 0;
    Index oi = fresh ? Index{} : by_local_name(list(*a_tables_.at(k), "indexes"));
    for (const auto& i : list(t, "indexes")) {
      if (has(i, "constraint")) continue;
      auto it = oi.find(str(i, "name"));
      bool dropped = dropped_indexes_.count(k + "/" + str(i, "name")) > 0;
      bool had = it != oi.end() && !dropped && !has(*it->second, "constraint");
      if (had && same_expr(str(*it->second, "definition"), str(i, "definition"))) {
        partition_index_names(*it->second, i);
        continue;
      }
      create_index(t, i, fresh, had);
    }
  }
}

void Differ::create_index(const json& t, const json& i, bool fresh, bool replace) {
  std::string k = plain_name(t), def = reparseable(str(i, "definition"));
  std::string obj = k + "." + str(i, "name"), key = "index:" + obj;
  auto only = def.find(" ON ONLY ");
  if (fresh) {
    // A partitioned table's index made in one go reaches its partitions (no ONLY).
    if (only != std::string::npos) def.replace(only, 9, " ON ");
    add("create index", obj, def);
    creates(key);
    return;
  }
  auto concurrently = [](std::string d) {
    auto pos = d.find(" INDEX ");
    if (pos != std::string::npos) d.insert(pos + 7, "CONCURRENTLY ");
    return d;
  };
  if (str(t, "kind") == "partitioned") {
    // CONCURRENTLY does not work on a partitioned table: the index on the parent alone, then
    // one built concurrently on each partition and attached (the parent's becomes valid
    // once every partition has one).
    if (only == std::string::npos) {
      auto on = def.find(" ON ");
      if (on != std::string::npos) def.replace(on, 4, " ON ONLY ");
      only = def.find(" ON ONLY ");
    }
    add("create index", obj, def, {kBuildsIndex});
    creates(key);
    std::string schema = qi(str(t, "schema"));
    for (const auto& p : list(b_, "tables")) {
      if (!has(p, "partition_of") || plain_name(p["partition_of"]) != k) continue;
      std::string pname = truncate(str(p, "name") + "_" + str(i, "name"));
      for (const auto& pi : list(i, "partitions"))  // the name b gives it
        if (str(pi, "schema") == str(p, "schema") && str(pi, "table") == str(p, "name"))
          pname = str(pi, "name");
      std::string pdef = def;
      pdef.replace(only, 9, " ON ");
      auto on = pdef.find(" ON ");
      auto using_ = pdef.find(" USING ", on);
      pdef = pdef.substr(0, on + 4) + qname(p) + pdef.substr(using_);
      auto name_at = pdef.find(" INDEX " + qi(str(i, "name")) + " ");
      if (name_at != std::string::npos)
        pdef.replace(name_at + 7, qi(str(i, "name")).size(), qi(pname));
      bool sub = str(p, "kind") == "partitioned";
      add("create index", plain_name(p) + "." + pname, sub ? pdef : concurrently(pdef),
          {kBuildsIndex}, sub);
      needs("table:" + plain_name(p));
      add("attach index", plain_name(p) + "." + pname,
          "ALTER INDEX " + schema + "." + qi(str(i, "name")) + " ATTACH PARTITION " +
              qi(str(p, "schema")) + "." + qi(pname));
      needs(key);
    }
    return;
  }
  if (!replace) {
    add("create index", obj, concurrently(def), {kBuildsIndex}, false);
    creates(key);
    return;
  }
  // Changed: build the new one under a temporary name, drop the old, rename.
  std::string schema = qi(str(t, "schema")), iname = str(i, "name");
  std::string tmp = truncate(iname + "_weir_new");
  std::string tmp_def = def;
  auto pos = tmp_def.find(" INDEX " + qi(iname) + " ON ");
  if (pos != std::string::npos) tmp_def.replace(pos + 7, qi(iname).size(), qi(tmp));
  add("create index", obj + " (replacement)", concurrently(tmp_def), {kBuildsIndex}, false);
  needs_what(key);
  add("drop index", obj, "DROP INDEX CONCURRENTLY " + schema + "." + qi(iname), {}, false);
  add("rename index", obj, "ALTER INDEX " + schema + "." + qi(tmp) + " RENAME TO " + qi(iname));
  provides(key);
}

// The indexes partitions hold for a partitioned table's index kept as it is: renamed where b
// names them otherwise.
void Differ::partition_index_names(const json& a, const json& b) {
  for (const auto& pb : list(b, "partitions"))
    for (const auto& pa : list(a, "partitions"))
      if (str(pa, "schema") == str(pb, "schema") && str(pa, "table") == str(pb, "table") &&
          str(pa, "name") != str(pb, "name"))
        add("rename index", str(pb, "schema") + "." + str(pb, "table") + "." + str(pb, "name"),
            "ALTER INDEX " + qi(str(pa, "schema")) + "." + qi(str(pa, "name")) + " RENAME TO " +
                qi(str(pb, "name")));
}

void Differ::triggers_and_policies() {
  // Triggers of tables and views (INSTEAD OF); a view created or rebuilt here has none yet.
  auto triggers = [&](const json& t, const json* old) {
    std::string k = plain_name(t);
    Index ot = old ? by_local_name(list(*old, "triggers")) : Index{};
    for (const auto& tr : list(t, "triggers")) {
      auto it = ot.find(str(tr, "name"));
      bool same = it != ot.end() && !dropped_triggers_.count(k + "/" + str(tr, "name"));
      if (!same) {
        add("create trigger", k + "." + str(tr, "name"), str(tr, "definition"));
        creates("trigger:" + k + "." + str(tr, "name"));
      }
      if ((!same && str(tr, "enabled") != "origin") ||
          (same && str(*it->second, "enabled") != str(tr, "enabled"))) {
        std::string how = str(tr, "enabled") == "disabled"  ? "DISABLE"
                          : str(tr, "enabled") == "always"  ? "ENABLE ALWAYS"
                          : str(tr, "enabled") == "replica" ? "ENABLE REPLICA"
                                                            : "ENABLE";
        add("trigger state", k + "." + str(tr, "name"),
            "ALTER TABLE " + qname(t) + " " + how + " TRIGGER " + qi(str(tr, "name")));
        needs("trigger:" + k + "." + str(tr, "name"));
      }
    }
  };
  for (const auto& [k, v] : b_views_) {
    auto it = a_views_.find(k);
    triggers(*v, it == a_views_.end() || rebuilt_views_.count(k) ? nullptr : it->second);
  }
  for (const auto& t : list(b_, "tables")) {
    std::string k = plain_name(t);
    if (unchanged(k)) continue;
    const json* old = new_tables_.count(k) ? nullptr : a_tables_.at(k);
    triggers(t, old);
    Index op = old ? by_local_name(list(*old, "policies")) : Index{};
    for (const auto& p : list(t, "policies")) {
      auto it = op.find(str(p, "name"));
      if (it != op.end() && same_policy(*it->second, p) &&
          !uses_dropped("policy:" + k + "." + str(p, "name")))
        continue;
      std::string sql = "CREATE POLICY " + qi(str(p, "name")) + " ON " + qname(t) + " AS " +
                        (flag(p, "permissive") ? "PERMISSIVE" : "RESTRICTIVE") + " FOR " +
                        str(p, "command") + " TO " +
                        join(p["roles"].is_array() ? p["roles"] : json::array({"PUBLIC"}));
      if (has(p, "using")) sql += " USING (" + str(p, "using") + ")";
      if (has(p, "check")) sql += " WITH CHECK (" + str(p, "check") + ")";
      add("create policy", k + "." + str(p, "name"), sql);
      creates("policy:" + k + "." + str(p, "name"));
    }
  }
}

}  // namespace weir::pg::diff_detail
