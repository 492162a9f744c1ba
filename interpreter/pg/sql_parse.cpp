// SQL parsing with libpg_query (see sql_parse.hpp).
#include "pg/sql_parse.hpp"

#include <pg_query.h>
#include <pg_query/pg_query.pb-c.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "pg/connection.hpp"

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

// A name that holds a secret: password, sslpassword, "password" (quoted), any case.
bool secret_name(std::string name) {
  if (name.size() >= 2 && name.front() == '"' && name.back() == '"')
    name = name.substr(1, name.size() - 2);
  for (char& c : name)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name.size() >= 8 && name.compare(name.size() - 8, 8, "password") == 0;
}

std::string lowered(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool mentions_password(const std::string& literal) {
  return lowered(literal).find("password") != std::string::npos;
}

// A string constant whose text ends with PASSWORD (before its closing quote and white space):
// the start of SQL that a concatenation completes with the password.
bool ends_with_password(const std::string& literal) {
  std::string l = lowered(literal);
  size_t end = l.size();
  if (end > 0 && l[end - 1] == '\'') --end;
  while (end > 0 && std::isspace(static_cast<unsigned char>(l[end - 1])))
    --end;
  return end >= 8 && l.compare(end - 8, 8, "password") == 0;
}

bool is_string_token(PgQuery__Token t) {
  return t == PG_QUERY__TOKEN__SCONST || t == PG_QUERY__TOKEN__USCONST;
}

// The body of a dollar-quoted constant ($tag$ … $tag$): where it starts and how long it is.
bool dollar_body(const std::string& token, size_t& start, size_t& len) {
  if (token.size() < 2 || token[0] != '$') return false;
  size_t tag_end = token.find('$', 1);
  if (tag_end == std::string::npos) return false;
  size_t tag_len = tag_end + 1;
  if (token.size() < 2 * tag_len) return false;
  start = tag_len;
  len = token.size() - 2 * tag_len;
  return true;
}

struct ScanFree {
  void operator()(PgQuery__ScanResult* r) const {
    pg_query__scan_result__free_unpacked(r, nullptr);
  }
};

// Without a scanner's help: everything after the first PASSWORD that a quote follows.
Redacted cut_after_password(const std::string& sql) {
  Redacted out{sql, {}};
  std::string lower = sql;
  for (char& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (size_t p = lower.find("password"); p != std::string::npos;
       p = lower.find("password", p + 1)) {
    size_t q = skip_blanks(sql, p + 8);
    while (q < sql.size() && sql[q] == '=')
      q = skip_blanks(sql, q + 1);
    if (q < sql.size() && (sql[q] == '\'' || sql[q] == '$' || lower[q] == 'e')) {
      out.secrets.push_back(sql.substr(q));
      out.text = sql.substr(0, q) + "'***'";
      return out;
    }
  }
  return out;
}

Redacted redact(const std::string& sql, int depth) {
  PgQueryScanResult r = pg_query_scan(sql.c_str());
  if (r.error) {
    pg_query_free_scan_result(r);
    return cut_after_password(sql);
  }
  std::unique_ptr<PgQuery__ScanResult, ScanFree> scan(pg_query__scan_result__unpack(
      nullptr, r.pbuf.len, reinterpret_cast<const uint8_t*>(r.pbuf.data)));
  pg_query_free_scan_result(r);
  if (!scan) return cut_after_password(sql);

  Redacted out;
  size_t copied = 0;  // sql[0, copied) is in out.text
  auto replace = [&](size_t b, size_t e, const std::string& with) {
    out.text += sql.substr(copied, b - copied) + with;
    copied = e;
  };
  // Neighbouring tokens are found with comments skipped: a comment between PASSWORD and its
  // literal (PASSWORD /* rotated */ '…', PASSWORD -- rotated\n '…') must not hide it.
  auto comment = [&](size_t k) {
    return scan->tokens[k]->token == PG_QUERY__TOKEN__SQL_COMMENT ||
           scan->tokens[k]->token == PG_QUERY__TOKEN__C_COMMENT;
  };
  constexpr size_t kNone = static_cast<size_t>(-1);
  auto previous = [&](size_t i) -> size_t {
    while (i-- > 0)
      if (!comment(i)) return i;
    return kNone;
  };
  auto next = [&](size_t i) -> size_t {
    while (++i < scan->n_tokens && comment(i)) {
    }
    return i;
  };
  auto text_of = [&](const PgQuery__ScanToken* t) {
    return sql.substr(static_cast<size_t>(t->start), static_cast<size_t>(t->end - t->start));
  };
  // Tokens [from, to) hold a password spliced into SQL text: the arguments of a format() call
  // whose format string mentions PASSWORD, or the literal concatenated to '… PASSWORD '.
  size_t secret_args_from = 0, secret_args_to = 0;
  for (size_t i = 0; i < scan->n_tokens; ++i) {
    const PgQuery__ScanToken* t = scan->tokens[i];
    if (!is_string_token(t->token) || t->start < 0 || t->end < t->start ||
        static_cast<size_t>(t->end) > sql.size())
      continue;
    size_t b = static_cast<size_t>(t->start), e = static_cast<size_t>(t->end);
    if (b < copied) continue;
    if (e == b) {  // the scanner gives U&'…' no length: it runs to the next token
      e = i + 1 < scan->n_tokens ? static_cast<size_t>(scan->tokens[i + 1]->start) : sql.size();
      while (e > b && (std::isspace(static_cast<unsigned char>(sql[e - 1])) || sql[e - 1] == ';'))
        --e;
    }
    std::string literal = sql.substr(b, e - b);
    size_t before_at = previous(i);
    const PgQuery__ScanToken* before = before_at == kNone ? nullptr : scan->tokens[before_at];
    bool after_secret_name =
        before && (before->token == PG_QUERY__TOKEN__PASSWORD ||
                   (before->token == PG_QUERY__TOKEN__IDENT && secret_name(text_of(before))));
    bool format_argument = i >= secret_args_from && i < secret_args_to;
    if (after_secret_name || format_argument) {
      out.secrets.push_back(literal);
      replace(b, e, "'***'");
      continue;
    }
    if (mentions_password(literal)) {
      // format('ALTER ROLE %I PASSWORD %L', name, 'S3cret'): every string argument after the
      // format string, up to the call's closing parenthesis
      const PgQuery__ScanToken* fn = nullptr;
      if (before && before->token == PG_QUERY__TOKEN__ASCII_40) {
        size_t fn_at = previous(before_at);
        if (fn_at != kNone) fn = scan->tokens[fn_at];
      }
      if (fn && fn->token == PG_QUERY__TOKEN__IDENT && lowered(text_of(fn)) == "format") {
        int depth_in = 0;
        size_t k = i + 1;
        for (; k < scan->n_tokens; ++k) {
          PgQuery__Token tok = scan->tokens[k]->token;
          if (tok == PG_QUERY__TOKEN__ASCII_40) ++depth_in;
          if (tok == PG_QUERY__TOKEN__ASCII_41 && depth_in-- == 0) break;
        }
        secret_args_from = i + 1;
        secret_args_to = k;
      }
      // '… PASSWORD ' || 'S3cret' and '… PASSWORD ' || quote_literal('S3cret')
      if (ends_with_password(literal)) {
        size_t k = next(i);
        if (k < scan->n_tokens && scan->tokens[k]->token == PG_QUERY__TOKEN__Op &&
            text_of(scan->tokens[k]) == "||") {
          size_t v = next(k);
          if (v < scan->n_tokens && scan->tokens[v]->token == PG_QUERY__TOKEN__IDENT) {
            std::string name = lowered(text_of(scan->tokens[v]));
            size_t paren = next(v);
            if ((name == "quote_literal" || name == "quote_nullable") && paren < scan->n_tokens &&
                scan->tokens[paren]->token == PG_QUERY__TOKEN__ASCII_40)
              v = next(paren);
          }
          if (v < scan->n_tokens && is_string_token(scan->tokens[v]->token)) {
            secret_args_from = v;
            secret_args_to = v + 1;
          }
        }
      }
    }
    size_t body, len;
    if (depth < 4 && dollar_body(literal, body, len)) {
      Redacted inner = redact(literal.substr(body, len), depth + 1);
      if (!inner.secrets.empty()) {
        out.secrets.insert(out.secrets.end(), inner.secrets.begin(), inner.secrets.end());
        replace(b, e, literal.substr(0, body) + inner.text + literal.substr(body + len));
      }
      continue;
    }
    // only what looks like a connection target or SQL with a password in it: data such as
    // 'mailto:x@y' stays as written
    std::string lower = literal;
    for (char& c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.find("://") == std::string::npos && lower.find("password") == std::string::npos)
      continue;
    // SQL in a plain string (EXECUTE 'ALTER ROLE … PASSWORD ''…'''): redacted as SQL
    if (depth < 4 && literal.size() >= 2 && literal.front() == '\'' && literal.back() == '\'') {
      std::string inside;
      for (size_t k = 1; k + 1 < literal.size(); ++k) {
        inside.push_back(literal[k]);
        if (literal[k] == '\'' && literal[k + 1] == '\'') ++k;
      }
      Redacted inner = redact(inside, depth + 1);
      if (!inner.secrets.empty()) {
        std::string quoted = "'";
        for (char c : inner.text)
          quoted += c == '\'' ? std::string("''") : std::string(1, c);
        out.secrets.insert(out.secrets.end(), inner.secrets.begin(), inner.secrets.end());
        replace(b, e, quoted + "'");
        continue;
      }
    }
    std::string masked = mask_password(literal);
    if (masked != literal) {
      out.secrets.push_back(literal);
      replace(b, e, masked);
    }
  }
  out.text += sql.substr(copied);
  return out;
}

}  // namespace

Redacted redact_secrets(const std::string& sql) {
  return redact(sql, 0);
}

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

bool controls_transaction(const Statement& s) {
  if (s.kind != "TransactionStmt") return false;
  std::string kind = s.tree.value("kind", "");
  return kind != "TRANS_STMT_SAVEPOINT" && kind != "TRANS_STMT_RELEASE" &&
         kind != "TRANS_STMT_ROLLBACK_TO";
}

namespace {

bool mentions_transaction_keyword(const std::string& sql) {
  std::string l = lowered(sql);
  for (const char* word : {"begin", "start", "commit", "end", "rollback", "abort", "prepare"})
    if (l.find(word) != std::string::npos) return true;
  return false;
}

// transaction_control for text the parser refused: statement by statement, with the scanner.
std::string transaction_control_scanned(const std::string& sql) {
  PgQueryScanResult r = pg_query_scan(sql.c_str());
  if (r.error) {
    pg_query_free_scan_result(r);
    return "";  // the server refuses it too, before running any of it
  }
  std::unique_ptr<PgQuery__ScanResult, ScanFree> scan(pg_query__scan_result__unpack(
      nullptr, r.pbuf.len, reinterpret_cast<const uint8_t*>(r.pbuf.data)));
  pg_query_free_scan_result(r);
  if (!scan) return "";
  std::vector<const PgQuery__ScanToken*> words;  // the statement's tokens, comments left out
  int atomic = 0;                                // BEGIN ATOMIC … END bodies open
  auto check = [&]() -> std::string {
    if (words.empty()) return "";
    PgQuery__Token first = words[0]->token;
    PgQuery__Token second = words.size() > 1 ? words[1]->token : PG_QUERY__TOKEN__NUL;
    bool control = first == PG_QUERY__TOKEN__COMMIT || first == PG_QUERY__TOKEN__END_P ||
                   first == PG_QUERY__TOKEN__ABORT_P ||
                   (first == PG_QUERY__TOKEN__BEGIN_P && second != PG_QUERY__TOKEN__ATOMIC) ||
                   (first == PG_QUERY__TOKEN__START && second == PG_QUERY__TOKEN__TRANSACTION) ||
                   (first == PG_QUERY__TOKEN__ROLLBACK && second != PG_QUERY__TOKEN__TO) ||
                   (first == PG_QUERY__TOKEN__PREPARE && second == PG_QUERY__TOKEN__TRANSACTION);
    if (!control) return "";
    size_t b = static_cast<size_t>(words.front()->start);
    size_t e = static_cast<size_t>(words.back()->end);
    return sql.substr(b, e > b ? e - b : 0);
  };
  for (size_t i = 0; i < scan->n_tokens; ++i) {
    const PgQuery__ScanToken* t = scan->tokens[i];
    if (t->token == PG_QUERY__TOKEN__SQL_COMMENT || t->token == PG_QUERY__TOKEN__C_COMMENT)
      continue;
    if (t->token == PG_QUERY__TOKEN__ATOMIC && !words.empty() &&
        words.back()->token == PG_QUERY__TOKEN__BEGIN_P && words.size() > 1)
      ++atomic;
    if (t->token == PG_QUERY__TOKEN__END_P && atomic > 0) --atomic;
    if (t->token == PG_QUERY__TOKEN__ASCII_59 && atomic == 0) {
      std::string found = check();
      if (!found.empty()) return found;
      words.clear();
      continue;
    }
    words.push_back(t);
  }
  return check();
}

}  // namespace

std::string transaction_control(const std::string& sql) {
  if (!mentions_transaction_keyword(sql)) return "";
  std::vector<Statement> stmts;
  try {
    stmts = parse_sql(sql);
  } catch (const SqlSyntaxError&) {
    return transaction_control_scanned(sql);
  }
  for (const auto& s : stmts)
    if (controls_transaction(s)) return trimmed(sql.substr(s.offset, s.end - s.offset));
  return "";
}

}  // namespace weir::pg
