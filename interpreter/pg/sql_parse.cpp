// SQL parsing with libpg_query (see sql_parse.hpp).
#include "pg/sql_parse.hpp"

#include <pg_query.h>

#include <algorithm>
#include <cctype>

namespace weir::pg {

namespace {

std::string trimmed(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])))
    ++b;
  while (e > b && (std::isspace(static_cast<unsigned char>(s[e - 1])) || s[e - 1] == ';'))
    --e;
  return s.substr(b, e - b);
}

// The first byte at or after `at` that is neither white space nor inside a comment.
size_t skip_blanks(const std::string& s, size_t at) {
  while (at < s.size()) {
    if (std::isspace(static_cast<unsigned char>(s[at]))) {
      ++at;
    } else if (s.compare(at, 2, "--") == 0) {
      at = s.find('\n', at);
      if (at == std::string::npos) return s.size();
    } else if (s.compare(at, 2, "/*") == 0) {
      int depth = 0;  // block comments nest in PostgreSQL
      do {
        if (s.compare(at, 2, "/*") == 0) {
          ++depth;
          at += 2;
        } else if (s.compare(at, 2, "*/") == 0) {
          --depth;
          at += 2;
        } else {
          ++at;
        }
      } while (depth > 0 && at < s.size());
    } else {
      break;
    }
  }
  return at;
}

}  // namespace

std::vector<Statement> parse_sql(const std::string& sql) {
  PgQueryParseResult r = pg_query_parse(sql.c_str());
  if (r.error) {
    SqlSyntaxError err(r.error->message, r.error->cursorpos);
    pg_query_free_parse_result(r);
    throw err;
  }
  nlohmann::json doc = nlohmann::json::parse(r.parse_tree);
  pg_query_free_parse_result(r);

  std::vector<Statement> out;
  for (const auto& raw : doc.value("stmts", nlohmann::json::array())) {
    // Locations are byte offsets; a missing length means "to the end".
    size_t at = raw.value("stmt_location", 0);
    size_t len = raw.value("stmt_len", 0);
    Statement s;
    s.text = trimmed(at >= sql.size() ? "" : len ? sql.substr(at, len) : sql.substr(at));
    s.end = len && at + len < sql.size() ? at + len : sql.size();
    s.offset = std::min(skip_blanks(sql, at), s.end);
    s.line = 1 + static_cast<int>(std::count(sql.begin(), sql.begin() + s.offset, '\n'));
    const auto& node = raw.value("stmt", nlohmann::json::object());
    if (!node.empty()) {
      s.kind = node.begin().key();
      s.tree = node.begin().value();
    }
    out.push_back(std::move(s));
  }
  return out;
}

bool ends_transaction(const Statement& s) {
  if (s.kind != "TransactionStmt") return false;
  std::string kind = s.tree.value("kind", "");
  return kind == "TRANS_STMT_COMMIT" || kind == "TRANS_STMT_ROLLBACK" ||
         kind == "TRANS_STMT_PREPARE" || kind == "TRANS_STMT_COMMIT_PREPARED" ||
         kind == "TRANS_STMT_ROLLBACK_PREPARED";
}

}  // namespace weir::pg
