// Schema diff, the comparison behind `weir diff --check` (see diff.hpp): the two whole models
// side by side, independently of the changes the diff finds. Whatever differs in them is
// reported, so a difference the diff has no change for still fails the check; objects of kinds
// weir does not model (the models' other_objects) are reported as not compared, so the check
// never calls two schemas equal when it could not look at everything in them.
#include "pg/diff_internal.hpp"

namespace weir::pg {

namespace {

using diff_detail::normalised_expr;
using diff_detail::same_expr;
using nlohmann::json;

// How an item of a model's list is known: its schema and name (and a function's argument
// types, a default privilege's role and kind), or its position when it has none.
std::string identity(const json& item, size_t position) {
  if (!item.is_object()) return "#" + std::to_string(position + 1);
  std::string out;
  for (const char* k : {"role", "schema", "table", "name", "object_type"}) {
    auto it = item.find(k);
    if (it == item.end()) continue;
    std::string v = it->is_string() ? it->get<std::string>() : it->is_null() ? "*" : it->dump();
    out += (out.empty() ? "" : std::string(k) == "object_type" ? " on " : ".") + v;
  }
  if (auto it = item.find("argument_types"); it != item.end() && it->is_string())
    out += "(" + it->get<std::string>() + ")";
  return out.empty() ? "#" + std::to_string(position + 1) : out;
}

// The fields that hold SQL definitions, compared as PostgreSQL parses them (same_expr); other
// text (names, comments, types) compares in the canonical spelling only.
bool definition_field(const std::string& path) {
  size_t dot = path.rfind('.');
  std::string key = dot == std::string::npos ? path : path.substr(dot + 1);
  return key == "definition" || key == "using" || key == "check" || key == "default" ||
         key == "generated";
}

void walk(const json& a, const json& b, const std::string& path, std::vector<std::string>& out) {
  if (a == b) return;
  if (a.is_string() && b.is_string()) {
    const auto &sa = a.get_ref<const std::string&>(), &sb = b.get_ref<const std::string&>();
    if (definition_field(path) ? !same_expr(sa, sb) : normalised_expr(sa) != normalised_expr(sb))
      out.push_back(path);
    return;
  }
  if (a.is_object() && b.is_object()) {
    std::set<std::string> keys;
    for (auto it = a.begin(); it != a.end(); ++it)
      keys.insert(it.key());
    for (auto it = b.begin(); it != b.end(); ++it)
      keys.insert(it.key());
    for (const auto& k : keys) {
      auto ia = a.find(k), ib = b.find(k);
      if (ia == a.end() || ib == b.end()) {
        out.push_back(path + "." + k);
        continue;
      }
      walk(*ia, *ib, path + "." + k, out);
    }
    return;
  }
  bool named = a.is_array() && b.is_array() &&
               std::all_of(a.begin(), a.end(), [](const json& i) { return i.is_object(); }) &&
               std::all_of(b.begin(), b.end(), [](const json& i) { return i.is_object(); });
  if (named && !(a.empty() && b.empty())) {
    std::map<std::string, const json*> ia, ib;
    for (size_t i = 0; i < a.size(); ++i)
      ia[identity(a[i], i)] = &a[i];
    for (size_t i = 0; i < b.size(); ++i)
      ib[identity(b[i], i)] = &b[i];
    for (const auto& [k, item] : ia)
      if (!ib.count(k)) out.push_back(path + " " + k + ": only in the first");
    for (const auto& [k, item] : ib) {
      auto it = ia.find(k);
      if (it == ia.end())
        out.push_back(path + " " + k + ": only in the second");
      else
        walk(*it->second, *item, path + " " + k, out);
    }
    return;
  }
  if (a != b) out.push_back(path);
}

}  // namespace

Comparison compare(const json& from, const json& to) {
  Comparison out;
  for (const auto& section : model_sections()) {
    if (section == "dependencies" || section == "other_objects") continue;
    auto a = from.find(section), b = to.find(section);
    json none = json::array();
    walk(a == from.end() ? none : *a, b == to.end() ? none : *b, section, out.differences);
  }
  std::set<std::string> others;
  for (const json* m : {&from, &to})
    if (auto it = m->find("other_objects"); it != m->end() && it->is_array())
      for (const auto& o : *it)
        if (o.is_string()) others.insert(o.get<std::string>());
  out.not_compared.assign(others.begin(), others.end());
  return out;
}

}  // namespace weir::pg
