// Schema diff, privileges (see diff_internal.hpp): GRANT and REVOKE on schemas, tables, views,
// sequences, columns, types, functions and aggregates (grant options included), ALTER DEFAULT
// PRIVILEGES, and the grants a new object starts with.
#include "pg/diff_internal.hpp"

namespace weir::pg::diff_detail {

namespace {

// PostgreSQL's built-in ACL for a new object of `type` owned by `role` (acldefault).
std::set<std::string> builtin_acl(const std::string& type, const std::string& role) {
  std::vector<std::string> owner;
  std::set<std::string> out;
  if (type == "tables")
    owner = {"DELETE", "INSERT", "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE", "UPDATE"};
  else if (type == "sequences")
    owner = {"SELECT", "UPDATE", "USAGE"};
  else if (type == "functions")
    owner = {"EXECUTE"}, out.insert("PUBLIC:EXECUTE");
  else if (type == "types")
    owner = {"USAGE"}, out.insert("PUBLIC:USAGE");
  else if (type == "schemas")
    owner = {"CREATE", "USAGE"};
  for (const auto& p : owner)
    out.insert(role + ":" + p);
  return out;
}

std::set<std::string> as_set(const json& items) {
  std::set<std::string> out;
  for (const auto& g : items)
    out.insert(g.get<std::string>());
  return out;
}

const char* const kGrantOption = " WITH GRANT OPTION";

// "GRANTEE:PRIVILEGE[ WITH GRANT OPTION]" → {grantee, privilege, with grant option}
struct Grant {
  std::string grantee, privilege;
  bool option = false;
};
Grant parse(const std::string& g) {
  auto colon = g.rfind(':');
  Grant out{g.substr(0, colon), g.substr(colon + 1)};
  std::string opt = kGrantOption;
  if (out.privilege.size() > opt.size() &&
      out.privilege.compare(out.privilege.size() - opt.size(), opt.size(), opt) == 0) {
    out.privilege.resize(out.privilege.size() - opt.size());
    out.option = true;
  }
  return out;
}

}  // namespace

void Differ::grants(const char* what, const std::string& k, const std::string& name,
                    const json& was, const json& now, const std::string& column,
                    const std::string& target) {
  std::set<std::string> a = as_set(was), b = as_set(now);
  std::string cols = column.empty() ? "" : " (" + qi(column) + ")";
  for (const auto& g : a) {
    if (b.count(g)) continue;
    Grant p = parse(g);
    add("revoke", k,
        "REVOKE " + p.privilege + cols + " ON " + what + " " + name + " FROM " + p.grantee);
    if (!target.empty()) needs(target);
  }
  for (const auto& g : b) {
    if (a.count(g)) continue;
    Grant p = parse(g);
    add("grant", k,
        "GRANT " + p.privilege + cols + " ON " + what + " " + name + " TO " + p.grantee +
            (p.option ? kGrantOption : ""));
    if (!target.empty()) needs(target);
  }
}

json Differ::initial_grants(const std::string& type, const std::string& schema) const {
  std::map<std::string, std::set<std::string>> by_role;  // role → its default ACL
  for (const auto& d : list(b_, "default_privileges")) {
    if (str(d, "object_type") != type) continue;
    std::string role = str(d, "role");
    if (!by_role.count(role)) by_role[role] = builtin_acl(type, role);
    if (!has(d, "schema")) by_role[role] = as_set(list(d, "grants"));
  }
  for (const auto& d : list(b_, "default_privileges")) {
    if (str(d, "object_type") != type || str(d, "schema") != schema || !has(d, "schema")) continue;
    for (const auto& g : list(d, "grants"))
      by_role[str(d, "role")].insert(g.get<std::string>());
  }
  std::set<std::string> out;
  if (by_role.empty()) out = builtin_acl(type, "\x01");
  for (const auto& [role, acl] : by_role)
    for (const auto& g : acl)
      if (parse(g).grantee != role) out.insert(g);
  json list = json::array();
  for (const auto& g : out)
    if (parse(g).grantee != "\x01") list.push_back(g);
  return list;
}

// ALTER DEFAULT PRIVILEGES: per role, schema (or every schema) and kind of object.
void Differ::default_privileges() {
  auto key = [](const json& d) {
    return str(d, "role") + "\n" + str(d, "schema") + "\n" + str(d, "object_type");
  };
  Index a = by_name(list(a_, "default_privileges"), key);
  Index b = by_name(list(b_, "default_privileges"), key);
  std::set<std::string> keys;
  for (const auto& [k, d] : a)
    keys.insert(k);
  for (const auto& [k, d] : b)
    keys.insert(k);
  for (const auto& k : keys) {
    const json& d = a.count(k) ? *a.at(k) : *b.at(k);
    std::string role = str(d, "role"), type = str(d, "object_type");
    bool global = !has(d, "schema");
    auto acl = [&](const Index& side) {
      auto it = side.find(k);
      if (it != side.end()) return as_set(list(*it->second, "grants"));
      return global ? builtin_acl(type, role) : std::set<std::string>{};
    };
    std::set<std::string> was = acl(a), now = acl(b);
    std::string upper = type;
    for (auto& c : upper)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    std::string head = "ALTER DEFAULT PRIVILEGES FOR ROLE " + role +
                       (global ? "" : " IN SCHEMA " + qi(str(d, "schema")));
    std::string object = role + (global ? "" : " in " + str(d, "schema")) + " on " + type;
    for (const auto& g : was) {
      if (now.count(g)) continue;
      Grant p = parse(g);
      add("default privileges", object,
          head + " REVOKE " + p.privilege + " ON " + upper + " FROM " + p.grantee);
      if (!global) needs("schema:" + str(d, "schema"));
    }
    for (const auto& g : now) {
      if (was.count(g)) continue;
      Grant p = parse(g);
      add("default privileges", object,
          head + " GRANT " + p.privilege + " ON " + upper + " TO " + p.grantee +
              (p.option ? kGrantOption : ""));
      if (!global) needs("schema:" + str(d, "schema"));
    }
  }
}

}  // namespace weir::pg::diff_detail
