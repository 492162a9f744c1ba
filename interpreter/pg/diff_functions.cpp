// Schema diff, functions (see diff_internal.hpp).
#include "pg/diff_internal.hpp"

namespace weir::pg::diff_detail {

void Differ::drop_function(const json& f) {
  add(std::string("drop ") + str(f, "kind"), function_key(f),
      std::string("DROP ") + (str(f, "kind") == "procedure" ? "PROCEDURE " : "FUNCTION ") +
          function_sig(f));
}

void Differ::functions() {
  Index a = by_name(list(a_, "functions"), function_key);
  for (const auto& f : list(b_, "functions")) {
    auto it = a.find(function_key(f));
    if (it != a.end() && str(*it->second, "definition") == str(f, "definition")) continue;
    std::string def = str(f, "definition");
    while (!def.empty() && (def.back() == '\n' || def.back() == ' ' || def.back() == ';'))
      def.pop_back();
    // Bodies may name tables created further down.
    add(it == a.end() ? "create " + str(f, "kind") : "replace " + str(f, "kind"), function_key(f),
        "SET check_function_bodies = off;\n" + def);
  }
}

}  // namespace weir::pg::diff_detail
