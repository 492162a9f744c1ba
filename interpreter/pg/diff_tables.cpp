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
        str(c, "generated") != str(*it->second, "generated") ||
        str(c, "collation") != str(*it->second, "collation"))
      return true;
  }
  return false;
}

void Differ::drop_dependents() {
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
          std::string("DROP INDEX ") + (online ? "CONCURRENTLY " : "") + qi(str(*owner, "schema")) +
              "." + qi(str(i, "name")),
          {}, !online);
    }
  }
}

std::string Differ::column_sql(const json& c) {
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

void Differ::tables() {
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

// RLS, options, grants and partition attachment of a table in b (old: the same in a).
void Differ::table_settings(const json* old, const json& t) {
  std::string k = plain_name(t), name = qname(t);
  bool was_rls = old && flag(*old, "rls"), was_forced = old && flag(*old, "rls_forced");
  if (flag(t, "rls") != was_rls)
    add("row level security", k,
        "ALTER TABLE " + name + (flag(t, "rls") ? " ENABLE" : " DISABLE") + " ROW LEVEL SECURITY");
  if (flag(t, "rls_forced") != was_forced)
    add("row level security", k,
        "ALTER TABLE " + name + (flag(t, "rls_forced") ? " FORCE" : " NO FORCE") +
            " ROW LEVEL SECURITY");
  grants("TABLE", k, name, old ? list(*old, "grants") : json::array(), list(t, "grants"));
}

void Differ::alter_table(const json& a, const json& b) {
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

void Differ::add_column(const std::string& k, const std::string& name, const json& c) {
  std::string col = k + "." + str(c, "name");
  std::vector<std::string> hazards{kAccessExclusive};
  if (has(c, "generated") || has(c, "identity")) hazards.push_back(kRewrites);
  if (flag(c, "not_null") && !has(c, "default") && !has(c, "identity") && !has(c, "generated"))
    hazards.push_back("fails unless the table is empty (NOT NULL without a default)");
  add("add column", col, "ALTER TABLE " + name + " ADD COLUMN " + column_sql(c), hazards);
}

void Differ::alter_column(const std::string& k, const std::string& name, const json& a,
                          const json& b) {
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
      add("validate check", col, "ALTER TABLE " + name + " VALIDATE CONSTRAINT " + check, {kScans});
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

// Constraints new or changed in b: non-foreign keys first (fks=false), then foreign keys.
void Differ::constraints(bool fks) {
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

void Differ::add_constraint(const json& t, const json& c, bool fresh_table) {
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
  add("add " + type, obj, "ALTER TABLE " + name + " ADD CONSTRAINT " + cname + " " + def, hazards);
}

// Indexes of tables (those of materialized views are created with their views).
void Differ::indexes() {
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

void Differ::create_index(const json& t, const json& i, bool fresh, bool replace) {
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

void Differ::triggers_and_policies() {
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

}  // namespace weir::pg::diff_detail
