// Schema diff, comments (see diff_internal.hpp).
#include "pg/diff_internal.hpp"

namespace weir::pg::diff_detail {

void Differ::comment(const std::string& what, const std::string& object, const std::string& target,
                     const json* was, const json& now) {
  std::string a = was ? str(*was, "comment") : "", b = str(now, "comment");
  if (a == b) return;
  add("comment", object,
      "COMMENT ON " + what + " " + target + " IS " + (b.empty() ? "NULL" : lit(b)));
}

void Differ::comments() {
  auto find = [](const Index& idx, const std::string& k) -> const json* {
    auto it = idx.find(k);
    return it == idx.end() ? nullptr : it->second;
  };
  Index as = by_local_name(list(a_, "schemas"));
  for (const auto& s : list(b_, "schemas"))
    comment("SCHEMA", str(s, "name"), qi(str(s, "name")), find(as, str(s, "name")), s);
  for (const char* sec : {"enums", "composites"}) {
    Index a = by_qname(list(a_, sec));
    for (const auto& t : list(b_, sec)) {
      const json* old = find(a, plain_name(t));
      if (old && recreated_enum_keys_.count("type:" + plain_name(t))) old = nullptr;
      comment("TYPE", plain_name(t), qname(t), old, t);
    }
  }
  Index ad = by_qname(list(a_, "domains"));
  for (const auto& d : list(b_, "domains")) {
    const json* old = find(ad, plain_name(d));
    if (old && (str(*old, "type") != str(d, "type") || recreated(d))) old = nullptr;
    comment("DOMAIN", plain_name(d), qname(d), old, d);
  }
  Index aseq = by_qname(list(a_, "sequences"));
  for (const auto& s : list(b_, "sequences"))
    comment("SEQUENCE", plain_name(s), qname(s), find(aseq, plain_name(s)), s);
  Index af = by_name(list(a_, "functions"), function_key);
  for (const auto& f : list(b_, "functions")) {
    const json* old = find(af, function_key(f));
    if (old && function_replaced(*old, f)) old = nullptr;
    comment(str(f, "kind") == "procedure" ? "PROCEDURE" : "FUNCTION", function_key(f),
            function_sig(f), old, f);
  }
  for (const auto& t : list(b_, "tables")) {
    std::string k = plain_name(t);
    const json* old = new_tables_.count(k) ? nullptr : a_tables_.at(k);
    if (unchanged(k)) continue;
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
      comment("CONSTRAINT", k + "." + str(c, "name"), qi(str(c, "name")) + " ON " + qname(t), oldc,
              c);
    }
    Index oidx = old ? by_local_name(list(*old, "indexes")) : Index{};
    for (const auto& i : list(t, "indexes")) {
      const json* oldi = find(oidx, str(i, "name"));
      if (oldi && !same_expr(str(*oldi, "definition"), str(i, "definition"))) oldi = nullptr;
      if (dropped_indexes_.count(k + "/" + str(i, "name"))) oldi = nullptr;
      comment("INDEX", k + "." + str(i, "name"), qi(str(t, "schema")) + "." + qi(str(i, "name")),
              oldi, i);
    }
    for (const auto& tr : list(t, "triggers")) {
      Index ot = old ? by_local_name(list(*old, "triggers")) : Index{};
      const json* oldt = find(ot, str(tr, "name"));
      if (dropped_triggers_.count(k + "/" + str(tr, "name"))) oldt = nullptr;
      comment("TRIGGER", k + "." + str(tr, "name"), qi(str(tr, "name")) + " ON " + qname(t), oldt,
              tr);
    }
  }
  for (const auto& [k, v] : b_views_) {
    const json* old = rebuilt_views_.count(k) ? nullptr : find(a_views_, k);
    comment(flag(*v, "materialized") ? "MATERIALIZED VIEW" : "VIEW", k, qname(*v), old, *v);
    Index oidx = old ? by_local_name(list(*old, "indexes")) : Index{};
    for (const auto& i : list(*v, "indexes")) {
      const json* oldi = find(oidx, str(i, "name"));
      if (oldi && !same_expr(str(*oldi, "definition"), str(i, "definition"))) oldi = nullptr;
      if (dropped_indexes_.count(k + "/" + str(i, "name"))) oldi = nullptr;
      comment("INDEX", k + "." + str(i, "name"), qi(str(*v, "schema")) + "." + qi(str(i, "name")),
              oldi, i);
    }
    Index ot = old ? by_local_name(list(*old, "triggers")) : Index{};
    for (const auto& tr : list(*v, "triggers")) {
      const json* oldt = find(ot, str(tr, "name"));
      if (dropped_triggers_.count(k + "/" + str(tr, "name"))) oldt = nullptr;
      comment("TRIGGER", k + "." + str(tr, "name"), qi(str(tr, "name")) + " ON " + qname(*v), oldt,
              tr);
    }
  }
  Index ag = by_name(list(a_, "aggregates"), function_key);
  for (const auto& g : list(b_, "aggregates")) {
    const json* old = find(ag, function_key(g));
    if (old && str(*old, "definition") != str(g, "definition")) old = nullptr;
    comment("AGGREGATE", function_key(g), function_sig(g), old, g);
  }
  Index acoll = by_qname(list(a_, "collations"));
  for (const auto& c : list(b_, "collations")) {
    const json* old = find(acoll, plain_name(c));
    comment("COLLATION", plain_name(c), qname(c), old, c);
  }
}

}  // namespace weir::pg::diff_detail
