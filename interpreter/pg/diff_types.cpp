// Schema diff, types, domains, enums, composites and sequences (see diff_internal.hpp).
#include "pg/diff_internal.hpp"

namespace weir::pg::diff_detail {

// GRANT and REVOKE on a type (enum, domain, composite) of b; old: the same type in a, or null
// when it is created here.
void Differ::type_grants(const char* what, const json& t, const json* old) {
  grants(what, plain_name(t), qname(t),
         old ? list(*old, "grants") : initial_grants("types", str(t, "schema")), list(t, "grants"),
         "", "type:" + plain_name(t));
}

static std::string collation_sql(const json& c) {
  std::string sql = "CREATE COLLATION " + qname(c) + " (provider = " + str(c, "provider");
  if (has(c, "locale"))
    sql += ", locale = " + lit(str(c, "locale"));
  else
    sql +=
        ", lc_collate = " + lit(str(c, "lc_collate")) + ", lc_ctype = " + lit(str(c, "lc_ctype"));
  if (!flag(c, "deterministic")) sql += ", deterministic = false";
  return sql + ")";
}

// Collations: dropped when gone (changed=false, last) or changed (changed=true, first: a
// collation cannot be altered), created before the types and tables that use them.
void Differ::drop_collations(bool changed) {
  Index b = by_qname(list(b_, "collations"));
  for (const auto& c : list(a_, "collations")) {
    auto it = b.find(plain_name(c));
    bool gone = it == b.end();
    if (changed ? gone || collation_sql(c) == collation_sql(*it->second) : !gone) continue;
    if (changed) {
      // Columns may use it: the old one is renamed, the columns moved to the new one below.
      add("rename collation", plain_name(c),
          "ALTER COLLATION " + qname(c) + " RENAME TO " + qi(str(c, "name") + "__weir_old"));
      continue;
    }
    add("drop collation", plain_name(c), "DROP COLLATION " + qname(c));
    removes("collation:" + plain_name(c));
  }
}

void Differ::collations() {
  Index a = by_qname(list(a_, "collations"));
  for (const auto& c : list(b_, "collations")) {
    auto it = a.find(plain_name(c));
    if (it != a.end() && collation_sql(*it->second) == collation_sql(c)) continue;
    add("create collation", plain_name(c), collation_sql(c));
    creates("collation:" + plain_name(c));
    if (it == a.end()) continue;
    // A changed collation: the columns of existing tables that use it take the new one (a
    // rewrite, like any collation change), then the old one goes.
    for (const auto& t : list(b_, "tables")) {
      if (new_tables_.count(plain_name(t))) continue;
      for (const auto& col : list(t, "columns")) {
        if (str(col, "collation") != qname(c) || flag(col, "inherited")) continue;
        add("alter column type", plain_name(t) + "." + str(col, "name"),
            "ALTER TABLE " + qname(t) + " ALTER COLUMN " + qi(str(col, "name")) + " TYPE " +
                str(col, "type") + " COLLATE " + qname(c),
            {kRewrites, kAccessExclusive});
      }
    }
    add("drop collation", plain_name(c) + " (old)",
        "DROP COLLATION " + qi(str(c, "schema")) + "." + qi(str(c, "name") + "__weir_old"));
  }
}

void Differ::drop_types(const char* section, const char* keyword) {
  Index b = by_qname(list(b_, section));
  for (const auto& t : list(a_, section)) {
    if (b.count(plain_name(t))) continue;
    add(std::string("drop ") + (std::string(section) == "domains" ? "domain" : "type"),
        plain_name(t), std::string("DROP ") + keyword + " " + qname(t));
    removes("type:" + plain_name(t));
  }
}

// Whether enum `a` cannot become `b` by ADD VALUE: labels removed or reordered.
bool enum_recreated(const json& a, const json& b) {
  const json& have = list(a, "values");
  std::vector<std::string> kept;
  for (const auto& v : list(b, "values"))
    if (std::find(have.begin(), have.end(), v) != have.end()) kept.push_back(v.get<std::string>());
  if (kept.size() != have.size()) return true;
  for (size_t i = 0; i < kept.size(); ++i)
    if (have[i].get<std::string>() != kept[i]) return true;
  return false;
}

void Differ::enums() {
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
    bool recreated = it != a.end() && enum_recreated(*it->second, e);
    type_grants("TYPE", e, it == a.end() || recreated ? nullptr : it->second);
    if (it == a.end()) {
      add("create enum", plain_name(e),
          "CREATE TYPE " + qname(e) + " AS ENUM (" + values_sql() + ")");
      creates("type:" + plain_name(e));
      continue;
    }
    std::vector<std::string> have;
    for (const auto& v : list(*it->second, "values"))
      have.push_back(v.get<std::string>());
    // Only additions, in an order that keeps the existing values' order: ADD VALUE in place.
    if (!recreated) {
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
    // Values removed or reordered: a new type; alter_column converts the columns that keep
    // it (through text), new columns are created with it, and the old type goes last.
    std::string old_name = str(e, "name") + "__weir_old";
    add("rename enum", plain_name(e), "ALTER TYPE " + qname(e) + " RENAME TO " + qi(old_name),
        {kIrreversible});
    add("create enum", plain_name(e),
        "CREATE TYPE " + qname(e) + " AS ENUM (" + values_sql() + ")");
    provides("type:" + plain_name(e));
    old_enums_.emplace_back(plain_name(e) + " (old values)",
                            "DROP TYPE " + qi(str(e, "schema")) + "." + qi(old_name));
  }
}

void Differ::domains() {
  Index a = by_qname(list(a_, "domains"));
  for (const auto& d : list(b_, "domains")) {
    auto it = a.find(plain_name(d));
    const json* old = it == a.end() || str(*it->second, "type") != str(d, "type") || recreated(d)
                          ? nullptr
                          : it->second;
    std::string name = qname(d);
    if (!old) {
      std::string sql = "CREATE DOMAIN " + name + " AS " + str(d, "type");
      if (has(d, "collation")) sql += " COLLATE " + str(d, "collation");
      if (has(d, "default")) sql += " DEFAULT " + str(d, "default");
      if (flag(d, "not_null")) sql += " NOT NULL";
      for (const auto& c : list(d, "checks"))
        sql += " CONSTRAINT " + qi(str(c, "name")) + " " + reparseable(str(c, "definition"));
      add("create domain", plain_name(d), sql);
      creates("type:" + plain_name(d));
      type_grants("DOMAIN", d, nullptr);
      continue;
    }
    type_grants("DOMAIN", d, old);
    if (!same_expr(str(*old, "default"), str(d, "default")))
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
      if (!nc.count(n) || !same_expr(str(*c, "definition"), str(*nc.at(n), "definition")) ||
          flag(*c, "validated") != flag(*nc.at(n), "validated"))
        add("drop domain check", plain_name(d) + "." + n,
            "ALTER DOMAIN " + name + " DROP CONSTRAINT " + qi(n));
    for (const auto& [n, c] : nc) {
      if (oc.count(n) && same_expr(str(*c, "definition"), str(*oc.at(n), "definition")) &&
          flag(*c, "validated") == flag(*oc.at(n), "validated"))
        continue;
      add("add domain check", plain_name(d) + "." + n,
          "ALTER DOMAIN " + name + " ADD CONSTRAINT " + qi(n) + " " +
              reparseable(str(*c, "definition")) + " NOT VALID");
      if (flag(*c, "validated"))
        add("validate domain check", plain_name(d) + "." + n,
            "ALTER DOMAIN " + name + " VALIDATE CONSTRAINT " + qi(n), {kScans});
    }
  }
}

void Differ::composites() {
  Index a = by_qname(list(a_, "composites"));
  for (const auto& t : list(b_, "composites")) {
    auto it = a.find(plain_name(t));
    if (it == a.end() || recreated(t)) {
      std::string attrs;
      for (const auto& at : list(t, "attributes"))
        attrs += (attrs.empty() ? "" : ", ") + qi(str(at, "name")) + " " + str(at, "type");
      add("create type", plain_name(t), "CREATE TYPE " + qname(t) + " AS (" + attrs + ")");
      creates("type:" + plain_name(t));
      type_grants("TYPE", t, nullptr);
      continue;
    }
    type_grants("TYPE", t, it->second);
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

void Differ::sequences(bool ownership) {
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
        creates("sequence:" + plain_name(s));
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
    if (!now.is_null())
      needs("column:" + str(now, "schema") + "." + str(now, "table") + "." + str(now, "column"));
  }
}

}  // namespace weir::pg::diff_detail
