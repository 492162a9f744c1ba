// Schema diff (see diff.hpp): the order of the whole, the dependency sort and the output; each
// kind of object has a file of its own (see diff_internal.hpp).
#include "pg/diff.hpp"

#include "pg/diff_internal.hpp"

#include <regex>

#include "pg/sql_parse.hpp"

namespace weir::pg::diff_detail {

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

namespace {

// The end of the bracketed group opening at `open` (the index of its closing bracket), past
// quoted literals and names; npos when unbalanced.
size_t group_end(const std::string& s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\'' || c == '"') {
      size_t j = i + 1;
      while (j < s.size() && !(s[j] == c && (j + 1 >= s.size() || s[j + 1] != c)))
        j += s[j] == c ? 2 : 1;
      i = j;
    } else if (c == '(' || c == '[') {
      ++depth;
    } else if (c == ')' || c == ']') {
      if (--depth == 0) return i;
    }
  }
  return std::string::npos;
}

// The top-level elements of "a, b, c" (no brackets around).
std::vector<std::string> split_top(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\'' || c == '"' || c == '(' || c == '[') {
      size_t e = (c == '(' || c == '[') ? group_end(s, i) : std::string::npos;
      if (c == '\'' || c == '"') {
        size_t j = i + 1;
        while (j < s.size() && !(s[j] == c && (j + 1 >= s.size() || s[j + 1] != c)))
          j += s[j] == c ? 2 : 1;
        e = j;
      }
      if (e == std::string::npos) return {s};
      i = e;
    } else if (c == ',' && i + 1 < s.size() && s[i + 1] == ' ') {
      out.push_back(s.substr(start, i - start));
      start = i + 2;
      ++i;
    }
  }
  out.push_back(s.substr(start));
  return out;
}

}  // namespace

std::string normalised_expr(const std::string& sql) {
  std::string s = sql;
  size_t from = 0;
  for (;;) {
    size_t at = s.find("ARRAY[", from);
    if (at == std::string::npos) return s;
    size_t open = at + 5, close = group_end(s, open);
    if (close == std::string::npos) return s;
    from = open + 1;
    std::vector<std::string> items = split_top(s.substr(open + 1, close - open - 1));
    std::string type;
    std::vector<std::string> inner;
    bool casts = true;
    for (const auto& item : items) {
      // "(E)::T" where (E) is one group
      if (item.empty() || item[0] != '(') {
        casts = false;
        break;
      }
      size_t e = group_end(item, 0);
      if (e == std::string::npos || item.compare(e + 1, 2, "::") != 0) {
        casts = false;
        break;
      }
      std::string t = item.substr(e + 3);
      if (t.empty() || t.find_first_of("()[] ,") != std::string::npos ||
          (!type.empty() && t != type)) {
        casts = false;
        break;
      }
      type = t;
      inner.push_back(item.substr(1, e - 1));
    }
    if (!casts || inner.empty()) continue;
    std::string joined;
    for (const auto& i : inner)
      joined += (joined.empty() ? "" : ", ") + i;
    std::string replacement = "(ARRAY[" + joined + "])::" + type + "[]";
    s.replace(at, close - at + 1, replacement);
    from = at + replacement.size();
  }
}

namespace {

// Leaves out positions and splices an AND (OR) list's AND (OR) arguments into it.
void canonical_tree(nlohmann::json& node) {
  if (node.is_array()) {
    for (auto& item : node)
      canonical_tree(item);
    return;
  }
  if (!node.is_object()) return;
  node.erase("location");
  for (auto& [key, value] : node.items())
    canonical_tree(value);
  auto b = node.find("BoolExpr");
  if (b == node.end() || !b->is_object()) return;
  auto op = b->find("boolop"), args = b->find("args");
  if (op == b->end() || args == b->end() || !args->is_array() || *op == "NOT_EXPR") return;
  nlohmann::json flat = nlohmann::json::array();
  for (auto& arg : *args) {
    auto inner = arg.find("BoolExpr");
    if (inner != arg.end() && inner->value("boolop", "") == *op && inner->contains("args"))
      for (auto& x : (*inner)["args"])
        flat.push_back(std::move(x));
    else
      flat.push_back(std::move(arg));
  }
  *args = std::move(flat);
}

// The parse tree of a definition: a statement (views, indexes, triggers), a table constraint
// (`CHECK (…)`, `FOREIGN KEY …`) or an expression; null when none of them parses.
nlohmann::json definition_tree(const std::string& sql) {
  for (const std::string& text : {sql, "ALTER TABLE x ADD " + sql, "SELECT " + sql}) {
    try {
      auto statements = parse_sql(text);
      if (statements.size() != 1) continue;
      nlohmann::json tree = statements[0].tree;
      canonical_tree(tree);
      return nlohmann::json{{statements[0].kind, std::move(tree)}};
    } catch (const SqlSyntaxError&) {
    }
  }
  return nullptr;
}

}  // namespace

bool same_expr(const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (a.empty() || b.empty()) return false;
  std::string na = normalised_expr(a), nb = normalised_expr(b);
  if (na == nb) return true;
  nlohmann::json ta = definition_tree(na);
  return !ta.is_null() && ta == definition_tree(nb);
}

std::string reparseable(const std::string& sql) {
  // ((col)::text = ANY ((ARRAY['a'::character varying, …])::text[])) is how PostgreSQL prints
  // `col IN ('a', …)` on a varchar column; read back as printed it keeps a different tree, so
  // the IN list is written instead (and NOT IN for <> ALL).
  static const std::regex in_list(
      R"(\(\(([a-z_][a-z0-9_$]*|"(?:[^"]|"")+")\)::text (= ANY|<> ALL) \(\(ARRAY\[((?:'(?:[^']|'')*'::character varying(?:, )?)+)\]\)::text\[\]\)\))");
  static const std::regex cast(R"(::character varying)");
  std::string out;
  auto begin = std::sregex_iterator(sql.begin(), sql.end(), in_list);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    out += sql.substr(last, m.position(0) - last);
    out += "(" + m[1].str() + (m[2].str() == "= ANY" ? " IN (" : " NOT IN (") +
           std::regex_replace(m[3].str(), cast, "") + "))";
    last = m.position(0) + m.length(0);
  }
  return out + sql.substr(last);
}

std::vector<Change> Differ::run() {
  index();
  drop_dependents();
  for (const auto* dropped : {&dropped_consts_, &dropped_indexes_, &dropped_triggers_})
    for (const auto& d : *dropped)
      touched_.insert(d.substr(0, d.rfind('/')));
  drop_objects();
  create_objects();
  drop_leftovers();
  sort_by_dependencies();
  return std::move(out_);
}

void Differ::index() {
  a_tables_ = by_qname(list(a_, "tables"));
  b_tables_ = by_qname(list(b_, "tables"));
  a_views_ = by_qname(list(a_, "views"));
  b_views_ = by_qname(list(b_, "views"));
  for (const auto& [k, t] : b_tables_) {
    auto it = a_tables_.find(k);
    if (it == a_tables_.end() || recreate_table(*it->second, *t)) new_tables_.insert(k);
  }
  Index a_enums = by_qname(list(a_, "enums"));
  for (const auto& e : list(b_, "enums")) {
    auto it = a_enums.find(plain_name(e));
    if (it != a_enums.end() && enum_recreated(*it->second, e)) {
      recreated_enum_keys_.insert("type:" + plain_name(e));
      recreated_enum_types_.insert(qname(e));
    }
  }
  // Domains whose base type changes, domains over a recreated type and composite types with
  // an attribute of one are recreated too.
  Index a_domains = by_qname(list(a_, "domains")), a_composites = by_qname(list(a_, "composites"));
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& d : list(b_, "domains")) {
      auto it = a_domains.find(plain_name(d));
      if (it == a_domains.end() || recreated(d)) continue;
      bool retyped = str(*it->second, "type") != str(d, "type");
      if (!retyped && !of_recreated_enum(str(d, "type"))) continue;
      if (retyped) retyped_domains_.insert(qname(d));
      recreated_enum_keys_.insert("type:" + plain_name(d));
      recreated_enum_types_.insert(qname(d));
      recreated_over_.emplace_back("domains", &d);
      grew = true;
    }
    for (const auto& c : list(b_, "composites")) {
      auto it = a_composites.find(plain_name(c));
      if (it == a_composites.end() || recreated(c)) continue;
      bool uses = false;
      for (const auto& at : list(*it->second, "attributes"))
        if (of_recreated_enum(str(at, "type"))) uses = true;
      if (!uses) continue;
      recreated_enum_keys_.insert("type:" + plain_name(c));
      recreated_enum_types_.insert(qname(c));
      recreated_over_.emplace_back("composites", &c);
      grew = true;
    }
  }
  // A table equal on both sides is still changed when a part of it uses a recreated enum.
  auto uses_recreated_enum = [&](const json& t) {
    if (recreated_enum_keys_.empty()) return false;
    for (const auto& part : parts_of_table(t))
      for (const auto& used : uses(a_, part))
        if (recreated_enum_keys_.count(used.get_ref<const std::string&>())) return true;
    return false;
  };
  for (const auto& [k, t] : a_tables_) {
    auto bi = b_tables_.find(k);
    if (bi == b_tables_.end() || new_tables_.count(k)) continue;
    if (*t == *bi->second && !uses_recreated_enum(*t))
      same_tables_.insert(k);
    else
      find_dropped_columns(k, *t, *bi->second);
  }
}

void Differ::drop_objects() {
  // Tables: partitions before their parents.
  std::vector<const json*> gone;
  for (const auto& [k, t] : a_tables_)
    if (!b_tables_.count(k) || new_tables_.count(k)) gone.push_back(t);
  std::stable_sort(gone.begin(), gone.end(), [](const json* x, const json* y) {
    return has(*x, "partition_of") && !has(*y, "partition_of");
  });
  for (const json* t : gone) {
    add("drop table", plain_name(*t), "DROP TABLE " + qname(*t), {kDeletesData, kIrreversible});
    for (const auto& part : parts_of_table(*t))
      removes(part);
  }
  // Functions whose signature stays but whose result or kind changes are replaced here.
  Index bf = by_name(list(b_, "functions"), function_key);
  for (const auto& f : list(a_, "functions")) {
    auto it = bf.find(function_key(f));
    if (it != bf.end() && function_replaced(f, *it->second)) drop_function(f);
  }
  drop_aggregates(true);
  drop_collations(true);
  // Recreated domains and composite types: renamed out of the way (created anew by domains()
  // and composites(), the old ones dropped last, outer ones first).
  for (auto it = recreated_over_.rbegin(); it != recreated_over_.rend(); ++it) {
    const json& t = *it->second;
    bool domain = it->first == "domains";
    std::string old_name = str(t, "name") + "__weir_old";
    add(domain ? "rename domain" : "rename type", plain_name(t),
        std::string(domain ? "ALTER DOMAIN " : "ALTER TYPE ") + qname(t) + " RENAME TO " +
            qi(old_name));
    old_enums_.emplace_back(plain_name(t) + " (old)",
                            std::string(domain ? "DROP DOMAIN " : "DROP TYPE ") +
                                qi(str(t, "schema")) + "." + qi(old_name));
  }
}

// Last: what nothing uses any more once tables, columns, defaults and views have changed.
void Differ::drop_leftovers() {
  drop_aggregates(false);
  Index bf = by_name(list(b_, "functions"), function_key);
  for (const auto& f : list(a_, "functions"))
    if (!bf.count(function_key(f))) drop_function(f);
  Index bs = by_qname(list(b_, "sequences"));
  for (const auto& s : list(a_, "sequences")) {
    if (bs.count(plain_name(s)) || dropped_sequences_.count(plain_name(s))) continue;
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
    removes("sequence:" + plain_name(s));
  }
  for (const auto& [object, sql] : old_enums_)
    add("drop type", object, sql);
  drop_types("composites", "TYPE");
  drop_types("domains", "DOMAIN");
  drop_types("enums", "TYPE");
  drop_collations(false);
  Index bx = by_local_name(list(b_, "extensions"));
  for (const auto& e : list(a_, "extensions"))
    if (!bx.count(str(e, "name"))) {
      add("drop extension", str(e, "name"), "DROP EXTENSION " + qi(str(e, "name")));
      removes("extension:" + str(e, "name"));
    }
  Index bsch = by_local_name(list(b_, "schemas"));
  for (const auto& s : list(a_, "schemas"))
    if (!bsch.count(str(s, "name"))) {
      add("drop schema", str(s, "name"), "DROP SCHEMA " + qi(str(s, "name")));
      removes("schema:" + str(s, "name"));
    }
}

void Differ::create_objects() {
  Index as = by_local_name(list(a_, "schemas"));
  for (const auto& s : list(b_, "schemas"))
    if (!as.count(str(s, "name"))) {
      add("create schema", str(s, "name"), "CREATE SCHEMA " + qi(str(s, "name")));
      provides("schema:" + str(s, "name"));
    }
  for (const auto& s : list(b_, "schemas")) {
    auto it = as.find(str(s, "name"));
    grants("SCHEMA", str(s, "name"), qi(str(s, "name")),
           it == as.end() ? initial_grants("schemas", "") : list(*it->second, "grants"),
           list(s, "grants"), "", "schema:" + str(s, "name"));
  }
  Index ax = by_local_name(list(a_, "extensions"));
  for (const auto& e : list(b_, "extensions")) {
    auto it = ax.find(str(e, "name"));
    if (it == ax.end()) {
      add("create extension", str(e, "name"),
          "CREATE EXTENSION IF NOT EXISTS " + qi(str(e, "name")) + " WITH SCHEMA " +
              qi(str(e, "schema")) + " VERSION " + lit(str(e, "version")));
      creates("extension:" + str(e, "name"));
      needs("schema:" + str(e, "schema"));
    } else if (str(e, "version") != str(*it->second, "version"))
      add("update extension", str(e, "name"),
          "ALTER EXTENSION " + qi(str(e, "name")) + " UPDATE TO " + lit(str(e, "version")));
  }
  default_privileges();
  collations();
  enums();
  domains();
  composites();
  functions();
  aggregates();
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

}  // namespace weir::pg::diff_detail

namespace weir::pg {

using nlohmann::json;

std::vector<Change> diff(const json& from, const json& to, const DiffOptions& options) {
  // Renames found in rounds: a table matches its moved self once the types its columns use
  // have moved too.
  diff_detail::Renames all = diff_detail::find_renames(from, to);
  std::vector<Change> alters;
  json renamed;  // a copy of `from` only when there is something to rename
  if (!all.empty()) {
    renamed = from;
    diff_detail::Renames found = all;
    for (int round = 0; round < 4 && !found.empty(); ++round) {
      for (auto& c : diff_detail::apply_renames(found, renamed))
        alters.push_back(std::move(c));
      found = diff_detail::find_renames(renamed, to);
      all.insert(all.end(), found.begin(), found.end());
    }
  }
  if (!options.renames || all.empty()) {
    std::vector<Change> out = diff_detail::Differ(from, to).run();
    diff_detail::add_rename_notes(all, out);
    return out;
  }
  for (auto& c : diff_detail::Differ(renamed, to).run())
    alters.push_back(std::move(c));
  return alters;
}

json to_json(const Change& c) {
  json out = {{"kind", c.kind},
              {"object", c.object},
              {"sql", c.sql},
              {"hazards", c.hazards},
              {"transaction", c.transactional}};
  if (!c.note.empty()) out["note"] = c.note;
  return out;
}

std::string to_script(const std::vector<Change>& changes) {
  std::string out;
  for (const auto& c : changes) {
    out += "-- " + c.kind + ": " + c.object;
    if (!c.transactional) out += " (outside a transaction)";
    out += "\n";
    for (const auto& h : c.hazards)
      out += "--   hazard: " + h + "\n";
    if (!c.note.empty()) out += "--   note: " + c.note + "\n";
    out += c.sql + ";\n\n";
  }
  return out;
}

}  // namespace weir::pg
