// Schema diff, privileges (see diff_internal.hpp).
#include "pg/diff_internal.hpp"

namespace weir::pg::diff_detail {

void Differ::grants(const char* what, const std::string& k, const std::string& name,
                    const json& was, const json& now) {
  std::set<std::string> a, b;
  for (const auto& g : was)
    a.insert(g.get<std::string>());
  for (const auto& g : now)
    b.insert(g.get<std::string>());
  for (const auto& g : a) {
    if (b.count(g)) continue;
    auto colon = g.rfind(':');
    add("revoke", k,
        "REVOKE " + g.substr(colon + 1) + " ON " + what + " " + name + " FROM " +
            g.substr(0, colon));
  }
  for (const auto& g : b) {
    if (a.count(g)) continue;
    auto colon = g.rfind(':');
    add("grant", k,
        "GRANT " + g.substr(colon + 1) + " ON " + what + " " + name + " TO " + g.substr(0, colon));
  }
}

}  // namespace weir::pg::diff_detail
