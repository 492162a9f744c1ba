// Lint: DDL that is dangerous on a live database (long locks, table rewrites, broken clients)
// or regrettable later (column types), found in SQL text with PostgreSQL's own parser.
//
// A Linter reads SQL texts in the order they run and remembers what they create, so objects
// created earlier (tables, columns, indexes, enum types) are new and safe to change: an index
// on a table created three statements earlier needs no CONCURRENTLY. Anything not created by
// an earlier text counts as existing.
//
// Suppression: a comment `-- weir:ignore RULE[, RULE...] [-- reason]` on the line(s) directly
// above a statement, or on the same line, switches those rules off for that one statement. A
// malformed one (unknown rule, no rule, names not separated by commas) suppresses nothing and
// is reported as rule "bad-ignore". Rules and their rationale: docs/lint.md.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace weir::pg {

struct LintRule {
  const char* name;     // stable kebab-case name, as written in `-- weir:ignore NAME`
  const char* summary;  // one line: what it flags
};

// Every rule, in the order docs/lint.md documents them ("bad-ignore" last).
const std::vector<LintRule>& lint_rules();
bool is_lint_rule(const std::string& name);

// The rule of an entry for a text PostgreSQL cannot parse (not in lint_rules(), not
// suppressible). Nothing else of that text is linted.
extern const char* const kLintSyntaxError;

struct LintViolation {
  int line = 0;           // 1-based line in the text of the statement's first token (of the
                          // comment for a bad ignore; 0 for a bad ignore from LintContext)
  std::string rule;       // a lint_rules() name, or kLintSyntaxError
  std::string message;    // one line: what is wrong and what to do instead
  std::string statement;  // the statement as written, without comments before it or its ';'
};

// How one text runs.
struct LintContext {
  bool in_transaction = false;  // inside a transaction opened before it (a transactional phase)
  bool one_query = false;  // sent as one query: two or more statements form an implicit transaction
  // More `-- weir:ignore ...` comments (from outside the text: the Lua lines above the call
  // that ran it) that apply to every statement of the text.
  std::vector<std::string> ignores;
};

class Linter {
 public:
  Linter();
  ~Linter();
  Linter(const Linter&) = delete;
  Linter& operator=(const Linter&) = delete;

  // The violations of `sql`, ordered by line. Remembers what `sql` creates for later texts.
  // Never throws for bad SQL: a syntax error is one entry with rule kLintSyntaxError.
  std::vector<LintViolation> lint(const std::string& sql, const LintContext& ctx = {});

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// One text on its own (a .sql file).
std::vector<LintViolation> lint_sql(const std::string& sql, const LintContext& ctx = {});

}  // namespace weir::pg
