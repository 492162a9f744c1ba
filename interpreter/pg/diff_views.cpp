// Schema diff, views (see diff_internal.hpp).
#include "pg/diff_internal.hpp"

namespace weir::pg::diff_detail {

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

}  // namespace weir::pg::diff_detail
