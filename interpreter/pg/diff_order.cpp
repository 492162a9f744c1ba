// Schema diff, the dependency sort (see diff_internal.hpp). The phases of Differ::run put the
// changes in a safe order kind by kind (drops of dependents, drops, creates, leftover drops);
// across kinds that is not enough — a function taking a table's row type, a domain whose CHECK
// calls a function, two dropped tables joined by a foreign key. Each change says which parts of
// the model it creates, drops and needs (keys of the models' `dependencies`, read from
// pg_depend on both sides); this sort keeps the phases' order except where a change must wait:
//   - a change that needs a part comes after the change that creates it;
//   - the drop of a part comes after the drops of the parts that used it (in the old model);
//   - the creation of a part comes after the drop of the part of the same name.
// Kahn's algorithm, always taking the earliest ready change; a cycle (which PostgreSQL could not
// create either) is broken by taking the earliest change left.
#include <queue>

#include "pg/diff_internal.hpp"

namespace weir::pg::diff_detail {

std::vector<std::string> Differ::parts_of_table(const json& t) {
  std::string k = plain_name(t);
  std::vector<std::string> out{"table:" + k};
  for (const auto& c : list(t, "columns"))
    out.push_back("column:" + k + "." + str(c, "name"));
  for (const char* sec : {"constraints", "indexes", "triggers", "policies"}) {
    std::string prefix = std::string(sec) == "constraints" ? "constraint:"
                         : std::string(sec) == "indexes"   ? "index:"
                         : std::string(sec) == "triggers"  ? "trigger:"
                                                           : "policy:";
    for (const auto& p : list(t, sec))
      out.push_back(prefix + k + "." + str(p, "name"));
  }
  return out;
}

void Differ::sort_by_dependencies() {
  size_t n = out_.size();
  std::map<std::string, std::vector<size_t>> providers, removers;
  for (size_t i = 0; i < n; ++i) {
    for (const auto& k : nodes_[i].provides)
      providers[k].push_back(i);
    for (const auto& k : nodes_[i].removes)
      removers[k].push_back(i);
  }
  std::vector<std::set<size_t>> after(n);  // after[i]: changes that must wait for i
  std::vector<size_t> waiting(n, 0);
  auto edge = [&](size_t first, size_t then) {
    if (first == then) return;
    if (after[first].insert(then).second) ++waiting[then];
  };
  for (size_t i = 0; i < n; ++i) {
    for (const auto& k : nodes_[i].needs)
      if (auto it = providers.find(k); it != providers.end())
        for (size_t p : it->second)
          edge(p, i);
    for (const auto& k : nodes_[i].used)
      if (auto it = removers.find(k); it != removers.end())
        for (size_t d : it->second)
          edge(i, d);
    for (const auto& k : nodes_[i].provides)
      if (auto it = removers.find(k); it != removers.end())
        for (size_t d : it->second)
          edge(d, i);
  }
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < n; ++i)
    if (waiting[i] == 0) ready.push(i);
  std::vector<bool> done(n, false);
  std::vector<size_t> order;
  order.reserve(n);
  size_t next_left = 0;  // for breaking cycles: the earliest change not yet placed
  while (order.size() < n) {
    size_t i;
    if (!ready.empty()) {
      i = ready.top();
      ready.pop();
      if (done[i]) continue;
    } else {
      while (done[next_left])
        ++next_left;
      i = next_left;
    }
    done[i] = true;
    order.push_back(i);
    for (size_t j : after[i])
      if (--waiting[j] == 0 && !done[j]) ready.push(j);
  }
  std::vector<Change> sorted;
  std::vector<Node> nodes;
  sorted.reserve(n);
  for (size_t i : order) {
    sorted.push_back(std::move(out_[i]));
    nodes.push_back(std::move(nodes_[i]));
  }
  out_ = std::move(sorted);
  nodes_ = std::move(nodes);
}

}  // namespace weir::pg::diff_detail
