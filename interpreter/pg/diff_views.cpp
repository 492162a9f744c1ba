// Schema diff, views (see diff_internal.hpp).
#include "pg/diff_internal.hpp"

namespace weir::pg::diff_detail {

// Views dropped first: changed ones, ones on reshaped tables, and (transitively) views on
// those; kept views lose the triggers that go or change.
void Differ::drop_views() {
  std::set<std::string> affected;
  for (const auto& [k, v] : a_views_) {
    auto bi = b_views_.find(k);
    bool changed = bi == b_views_.end() ||
                   !same_expr(str(*v, "definition"), str(*bi->second, "definition")) ||
                   flag(*v, "materialized") != flag(*bi->second, "materialized") ||
                   (*v)["options"] != (*bi->second)["options"];
    for (const auto& dep : list(*v, "depends_on"))
      if (table_reshaped(unquote(dep.get<std::string>()))) changed = true;
    if (uses_dropped("view:" + k)) changed = true;  // a recreated enum's old type
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
    removes("view:" + k);
    for (const auto& i : list(v, "indexes"))
      removes("index:" + k + "." + str(i, "name"));
    for (const auto& t : list(v, "triggers"))
      removes("trigger:" + k + "." + str(t, "name"));
    if (b_views_.count(k)) rebuilt_views_.insert(k);
  }
  for (const auto& [k, v] : a_views_)
    if (!affected.count(k)) drop_triggers(k, *v, *b_views_.at(k));
}

std::string Differ::unquote(const std::string& qualified) {
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
std::vector<std::string> Differ::view_order(const Index& views, const std::set<std::string>& keys,
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

void Differ::views() {
  std::set<std::string> todo;
  for (const auto& [k, v] : b_views_)
    if (!a_views_.count(k) || rebuilt_views_.count(k)) todo.insert(k);
  for (const std::string& k : view_order(b_views_, todo, false)) {
    const json& v = *b_views_.at(k);
    bool mat = flag(v, "materialized");
    std::string def = str(v, "definition");
    while (!def.empty() && (def.back() == ';' || def.back() == ' ' || def.back() == '\n'))
      def.pop_back();
    std::string with = list(v, "options").empty() ? "" : " WITH (" + join(list(v, "options")) + ")";
    add(mat ? "create materialized view" : "create view", k,
        std::string("CREATE ") + (mat ? "MATERIALIZED VIEW " : "VIEW ") + qname(v) + with +
            " AS\n" + def);
    creates("view:" + k);
    if (mat)
      for (const auto& i : list(v, "indexes")) {
        add("create index", k + "." + str(i, "name"), str(i, "definition"));
        creates("index:" + k + "." + str(i, "name"));
      }
    grants("TABLE", k, qname(v), initial_grants("tables", str(v, "schema")), list(v, "grants"), "",
           "view:" + k);
  }
  for (const auto& [k, v] : b_views_) {
    if (todo.count(k)) continue;
    const json& a = *a_views_.at(k);
    grants("TABLE", k, qname(*v), list(a, "grants"), list(*v, "grants"));
    if (flag(*v, "materialized")) {
      // New and changed indexes, built concurrently (a changed one under a temporary name).
      Index oi = by_local_name(list(a, "indexes"));
      for (const auto& i : list(*v, "indexes")) {
        auto it = oi.find(str(i, "name"));
        bool had = it != oi.end() && !dropped_indexes_.count(k + "/" + str(i, "name"));
        if (had && same_expr(str(*it->second, "definition"), str(i, "definition"))) continue;
        create_index(*v, i, false, had);
      }
    }
  }
  Index as = by_qname(list(a_, "sequences"));
  for (const auto& s : list(b_, "sequences")) {
    auto it = as.find(plain_name(s));
    grants("SEQUENCE", plain_name(s), qname(s),
           it == as.end() ? initial_grants("sequences", str(s, "schema"))
                          : list(*it->second, "grants"),
           list(s, "grants"), "", "sequence:" + plain_name(s));
  }
}

}  // namespace weir::pg::diff_detail
