// Schema diff, rename and move hints (see diff_internal.hpp). A diff cannot know that an object
// gone from a and one new in b are the same thing renamed; when they have the same kind and
// definition and differ only by name (or only by schema), and neither side has another such
// candidate, weir says so: without --renames as a note on the drop (the data-preserving ALTER
// … RENAME / SET SCHEMA spelled out), with --renames by running that ALTER instead (the model
// of a is renamed the way PostgreSQL renames the database, and the rest is diffed as usual).
// Never silently: the rename is always a change or a note of its own.
#include "pg/diff_internal.hpp"

namespace weir::pg::diff_detail {

namespace {

bool ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$';
}

// `s` with every whole-token occurrence of `from` replaced by `to`.
std::string replace_token(const std::string& s, const std::string& from, const std::string& to) {
  if (from.empty() || s.find(from) == std::string::npos) return s;
  std::string out;
  size_t pos = 0;
  for (;;) {
    size_t at = s.find(from, pos);
    if (at == std::string::npos) break;
    bool left = at == 0 || !ident_char(s[at - 1]) || from.front() == '"';
    size_t end = at + from.size();
    bool right = end >= s.size() || !ident_char(s[end]) || from.back() == '"';
    out += s.substr(pos, at - pos) + (left && right ? to : from);
    pos = end;
  }
  return out + s.substr(pos);
}

// Every string (and object key) of `j` with the token replaced.
void replace_everywhere(json& j, const std::string& from, const std::string& to) {
  if (j.is_string()) {
    j = replace_token(j.get<std::string>(), from, to);
  } else if (j.is_array()) {
    for (auto& x : j)
      replace_everywhere(x, from, to);
  } else if (j.is_object()) {
    json out = json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      json v = it.value();
      replace_everywhere(v, from, to);
      out[replace_token(it.key(), from, to)] = std::move(v);
    }
    j = std::move(out);
  }
}

// {schema, name} references (partition_of, inherits, references) to `from` point to `to`.
void move_references(json& j, const std::string& from_schema, const std::string& from_name,
                     const std::string& to_schema, const std::string& to_name) {
  if (j.is_array()) {
    for (auto& x : j)
      move_references(x, from_schema, from_name, to_schema, to_name);
  } else if (j.is_object()) {
    if (j.size() == 2 && str(j, "schema") == from_schema && str(j, "name") == from_name) {
      j["schema"] = to_schema;
      j["name"] = to_name;
      return;
    }
    for (auto& [k, v] : j.items())
      move_references(v, from_schema, from_name, to_schema, to_name);
  }
}

json without(const json& j, std::initializer_list<const char*> keys) {
  json out = j;
  for (const char* k : keys)
    out.erase(k);
  return out;
}

// A column as a rename compares it: everything but its name, position, comment and grants.
std::string column_sig(const json& c) {
  return without(c, {"name", "position", "comment", "grants"}).dump();
}

std::string table_sig(const json& t) {
  json cols = json::array();
  for (const auto& c : list(t, "columns"))
    cols.push_back(json{str(c, "name"), column_sig(c)});
  return json{str(t, "kind"), str(t, "partition_key"), t.value("inherits", json::array()), cols}
      .dump();
}

// The definition of a function or index with its own name taken out.
std::string unnamed(const std::string& def, const std::string& marker) {
  auto at = def.find(marker);
  if (at == std::string::npos) return def;
  auto end = def.find_first_of(" (", at + marker.size());
  return def.substr(0, at) + "@" + (end == std::string::npos ? "" : def.substr(end));
}

struct Item {
  std::string schema, name, key;  // key: plain name (function key for functions)
  const json* obj;
};

// The unique pairs of (gone from a, new in b) with the same signature and either the same
// schema or the same name.
std::vector<std::pair<Item, Item>> match(const std::vector<Item>& a, const std::vector<Item>& b,
                                         const std::function<std::string(const json&)>& sig) {
  std::set<std::string> ak, bk;
  for (const auto& i : a)
    ak.insert(i.key);
  for (const auto& i : b)
    bk.insert(i.key);
  std::vector<const Item*> ga, fb;  // the signatures are computed for these alone
  for (const auto& i : a)
    if (!bk.count(i.key)) ga.push_back(&i);
  for (const auto& i : b)
    if (!ak.count(i.key)) fb.push_back(&i);
  if (ga.empty() || fb.empty()) return {};
  std::map<std::string, std::vector<const Item*>> gone, fresh;
  for (const Item* i : ga)
    gone[sig(*i->obj)].push_back(i);
  for (const Item* i : fb)
    fresh[sig(*i->obj)].push_back(i);
  std::vector<std::pair<Item, Item>> out;
  for (const auto& [s, g] : gone) {
    auto f = fresh.find(s);
    if (g.size() != 1 || f == fresh.end() || f->second.size() != 1) continue;
    const Item &x = *g[0], &y = *f->second[0];
    if (x.schema == y.schema || x.name == y.name) out.emplace_back(x, y);
  }
  return out;
}

std::vector<Item> items(const json& model, const char* section, bool functions = false) {
  std::vector<Item> out;
  for (const auto& i : list(model, section))
    out.push_back(
        {str(i, "schema"), str(i, "name"), functions ? function_key(i) : plain_name(i), &i});
  return out;
}

// "ALTER <what> <qualified> RENAME TO <name>" or "… SET SCHEMA <schema>".
std::string alter_sql(const std::string& what, const std::string& target, const Item& x,
                      const Item& y) {
  if (x.schema == y.schema) return "ALTER " + what + " " + target + " RENAME TO " + qi(y.name);
  return "ALTER " + what + " " + target + " SET SCHEMA " + qi(y.schema);
}

}  // namespace

Renames find_renames(const json& a, const json& b) {
  Renames out;
  auto add = [&](const std::string& kind, const Item& x, const Item& y, const std::string& what,
                 const std::string& target) {
    out.push_back({kind, x.key, y.key, alter_sql(what, target, x, y), x.key});
  };
  for (const auto& [x, y] : match(items(a, "tables"), items(b, "tables"), table_sig))
    add("table", x, y, "TABLE", qname(*x.obj));
  for (const auto& [x, y] : match(items(a, "views"), items(b, "views"), [](const json& v) {
         return std::string(flag(v, "materialized") ? "m" : "v") +
                normalised_expr(str(v, "definition"));
       }))
    add(flag(*x.obj, "materialized") ? "materialized view" : "view", x, y,
        flag(*x.obj, "materialized") ? "MATERIALIZED VIEW" : "VIEW", qname(*x.obj));
  std::vector<Item> aseq, bseq;  // sequences a column owns move with it
  for (const auto& i : items(a, "sequences"))
    if (!has(*i.obj, "owned_by")) aseq.push_back(i);
  for (const auto& i : items(b, "sequences"))
    if (!has(*i.obj, "owned_by")) bseq.push_back(i);
  for (const auto& [x, y] : match(aseq, bseq, [](const json& s) {
         return without(s, {"schema", "name", "grants", "comment", "owned_by"}).dump();
       }))
    add("sequence", x, y, "SEQUENCE", qname(*x.obj));
  for (const auto& [x, y] :
       match(items(a, "functions", true), items(b, "functions", true), [](const json& f) {
         return json{str(f, "kind"), str(f, "returns"), str(f, "arguments"),
                     unnamed(str(f, "definition"), " " + qname(f) + "(")}
             .dump();
       }))
    add(str(*x.obj, "kind"), x, y, str(*x.obj, "kind") == "procedure" ? "PROCEDURE" : "FUNCTION",
        function_sig(*x.obj));
  for (const char* sec : {"enums", "domains", "composites"}) {
    for (const auto& [x, y] : match(items(a, sec), items(b, sec), [](const json& t) {
           return without(t, {"schema", "name", "grants", "comment"}).dump();
         }))
      add(std::string(sec) == "domains" ? "domain" : "type", x, y,
          std::string(sec) == "domains" ? "DOMAIN" : "TYPE", qname(*x.obj));
  }
  // Columns and indexes of tables on both sides.
  Index bt = by_qname(list(b, "tables"));
  for (const auto& t : list(a, "tables")) {
    auto it = bt.find(plain_name(t));
    if (it == bt.end()) continue;
    const json& u = *it->second;
    auto names = [](const json& table, const char* sec) {
      std::vector<std::string> v;
      for (const auto& c : list(table, sec))
        v.push_back(str(c, "name"));
      return v;
    };
    if (names(t, "columns") == names(u, "columns") && names(t, "indexes") == names(u, "indexes"))
      continue;  // no part gone and another new: nothing to pair
    std::string k = plain_name(t);
    auto parts = [&](const json& table, const char* sec) {
      std::vector<Item> v;
      for (const auto& c : list(table, sec))
        if (!flag(c, "inherited") && !has(c, "constraint"))
          v.push_back({k, str(c, "name"), str(c, "name"), &c});
      return v;
    };
    for (const auto& [x, y] : match(parts(t, "columns"), parts(u, "columns"), column_sig))
      out.push_back(
          {"column", k + "." + x.name, k + "." + y.name,
           "ALTER TABLE " + qname(t) + " RENAME COLUMN " + qi(x.name) + " TO " + qi(y.name),
           k + "." + x.name});
    for (const auto& [x, y] : match(parts(t, "indexes"), parts(u, "indexes"), [](const json& i) {
           return unnamed(str(i, "definition"), " INDEX " + qi(str(i, "name")));
         }))
      out.push_back(
          {"index", k + "." + x.name, k + "." + y.name,
           "ALTER INDEX " + qi(str(t, "schema")) + "." + qi(x.name) + " RENAME TO " + qi(y.name),
           k + "." + x.name});
  }
  return out;
}

void add_rename_notes(const Renames& renames, std::vector<Change>& changes) {
  for (const auto& r : renames) {
    for (auto& c : changes) {
      if (c.kind.rfind("drop ", 0) != 0 || c.object != r.drop_object) continue;
      c.note = r.kind + " " + r.from + " differs from " + r.to + " only by its name or schema: `" +
               r.sql + "` keeps it and its data (weir diff --renames writes that instead)";
      break;
    }
  }
}

std::vector<Change> apply_renames(const Renames& renames, json& a) {
  std::vector<Change> out;
  auto split = [](const std::string& plain) {
    auto dot = plain.find('.');
    return std::make_pair(plain.substr(0, dot), plain.substr(dot + 1));
  };
  for (const auto& r : renames) {
    bool move = split(r.from).first != split(r.to).first;
    out.push_back({(move ? "move " : "rename ") + r.kind, r.from, r.sql, {}, true, ""});
    if (r.kind == "column" || r.kind == "index") {
      // schema.table.part
      auto last = r.from.rfind('.');
      std::string table = r.from.substr(0, last), old = r.from.substr(last + 1),
                  now = r.to.substr(r.to.rfind('.') + 1);
      for (auto& t : a["tables"]) {
        if (plain_name(t) != table) continue;
        const char* sec = r.kind == "column" ? "columns" : "indexes";
        for (auto& p : t[sec])
          if (str(p, "name") == old) p["name"] = now;
        for (const char* s : {"columns", "constraints", "indexes", "triggers", "policies"})
          if (t.contains(s)) replace_everywhere(t[s], qi(old), qi(now));
      }
      if (a.contains("dependencies"))
        replace_everywhere(a["dependencies"], table + "." + old, table + "." + now);
      continue;
    }
    auto [fs, fn] = split(r.from);
    auto [ts, tn] = split(r.to);
    if (r.kind == "function" || r.kind == "procedure") {
      fn = fn.substr(0, fn.find('('));
      tn = tn.substr(0, tn.find('('));
    }
    const char* sections[] = {"tables", "views",   "sequences", "functions",
                              "enums",  "domains", "composites"};
    for (const char* sec : sections)
      for (auto& i : a[sec])
        if (str(i, "schema") == fs && str(i, "name") == fn &&
            (std::string(sec) != "functions" || function_key(i) == r.from)) {
          i["schema"] = ts;
          i["name"] = tn;
        }
    move_references(a, fs, fn, ts, tn);
    replace_everywhere(a, qi(fs) + "." + qi(fn), qi(ts) + "." + qi(tn));
    if (qi(fs) + "." + qi(fn) != fs + "." + fn) replace_everywhere(a, fs + "." + fn, ts + "." + tn);
  }
  return out;
}

}  // namespace weir::pg::diff_detail
