// Schema diff, functions (see diff_internal.hpp).
#include "pg/diff_internal.hpp"

namespace weir::pg::diff_detail {

void Differ::drop_function(const json& f) {
  add(std::string("drop ") + str(f, "kind"), function_key(f),
      std::string("DROP ") + (str(f, "kind") == "procedure" ? "PROCEDURE " : "FUNCTION ") +
          function_sig(f));
  removes("function:" + function_key(f));
}

// A function that CREATE OR REPLACE cannot turn into b's: another result type or kind, or
// parameters renamed.
bool Differ::function_recreated(const json& a, const json& b) {
  return str(a, "returns") != str(b, "returns") || str(a, "kind") != str(b, "kind") ||
         str(a, "arguments") != str(b, "arguments");
}

bool Differ::function_replaced(const json& a, const json& b) const {
  return function_recreated(a, b) || uses_dropped("function:" + function_key(a));
}

// Aggregates: created, or dropped and created again when their definition changes (before the
// functions they use are dropped: the dependency sort sees to it).
void Differ::drop_aggregates(bool changed) {
  Index b = by_name(list(b_, "aggregates"), function_key);
  for (const auto& g : list(a_, "aggregates")) {
    auto it = b.find(function_key(g));
    bool gone = it == b.end();
    if (changed ? gone || str(g, "definition") == str(*it->second, "definition") : !gone) continue;
    add("drop aggregate", function_key(g), "DROP AGGREGATE " + function_sig(g));
    removes("function:" + function_key(g));
  }
}

void Differ::aggregates() {
  Index a = by_name(list(a_, "aggregates"), function_key);
  for (const auto& g : list(b_, "aggregates")) {
    auto it = a.find(function_key(g));
    const json* old = it != a.end() && str(*it->second, "definition") == str(g, "definition")
                          ? it->second
                          : nullptr;
    if (!old) {
      add("create aggregate", function_key(g), str(g, "definition"));
      creates("function:" + function_key(g));
    }
    grants("FUNCTION", function_key(g), function_sig(g),
           old ? list(*old, "grants") : initial_grants("functions", str(g, "schema")),
           list(g, "grants"), "", "function:" + function_key(g));
  }
}

void Differ::functions() {
  Index a = by_name(list(a_, "functions"), function_key);
  for (const auto& f : list(b_, "functions")) {
    auto it = a.find(function_key(f));
    const json* old = it == a.end() || function_replaced(*it->second, f) ? nullptr : it->second;
    std::string what = str(f, "kind") == "procedure" ? "PROCEDURE" : "FUNCTION";
    if (!old || str(*old, "definition") != str(f, "definition")) {
      std::string def = str(f, "definition");
      while (!def.empty() && (def.back() == '\n' || def.back() == ' ' || def.back() == ';'))
        def.pop_back();
      // Bodies may name tables created further down.
      add(!old ? "create " + str(f, "kind") : "replace " + str(f, "kind"), function_key(f),
          "SET check_function_bodies = off;\n" + def);
      creates("function:" + function_key(f));
    }
    grants(what.c_str(), function_key(f), function_sig(f),
           old ? list(*old, "grants") : initial_grants("functions", str(f, "schema")),
           list(f, "grants"), "", "function:" + function_key(f));
  }
}

}  // namespace weir::pg::diff_detail
