// SQL text → statements, with PostgreSQL's own parser (libpg_query): splitting a script into
// its statements, naming each statement's kind, and the parse tree as JSON for callers that
// look deeper (plan's lock inference, lint); and redaction of the secrets SQL can carry.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace weir::pg {

struct SqlSyntaxError : std::runtime_error {
  SqlSyntaxError(const std::string& message, int position)
      : std::runtime_error(message), position(position) {}
  int position;  // 1-based character offset into the text, 0 when unknown
};

struct Statement {
  std::string text;     // the statement as written, without the trailing semicolon
  std::string kind;     // the parse node: "CreateStmt", "IndexStmt", "TransactionStmt", ...
  nlohmann::json tree;  // that node's fields (libpg_query's JSON form)
  size_t offset = 0;    // byte offset in the parsed text of its first token (past comments)
  size_t end = 0;       // byte offset just past it (its semicolon not included)
  int line = 0;         // 1-based line of `offset`
};

// Every statement of `sql`, in order. Throws SqlSyntaxError on text PostgreSQL cannot parse.
std::vector<Statement> parse_sql(const std::string& sql);

// SQL with the secrets in it replaced, for showing or recording it (plan's output, a failed
// phase's error).
struct Redacted {
  std::string text;                  // the SQL, each secret literal now '***'
  std::vector<std::string> secrets;  // what was replaced, as written (quotes included)
};

// Replaces, using PostgreSQL's own scanner: the string constant after PASSWORD (CREATE/ALTER
// ROLE|USER … [ENCRYPTED] PASSWORD '…') and after an option whose name ends in "password"
// (CREATE/ALTER USER MAPPING and ALTER SERVER … OPTIONS (password '…', SET sslpassword '…')),
// with comments between the two skipped; the string arguments of a format() call whose format
// string mentions PASSWORD (format('ALTER ROLE %I PASSWORD %L', name, 'S3cret')) and a string
// concatenated to one that ends with PASSWORD ('… PASSWORD ' || 'S3cret', or
// || quote_literal('S3cret')); inside every other string constant, a connection URL's or
// conninfo's password (as mask_password finds it); the same inside dollar-quoted bodies (DO
// blocks, functions). Not found: a password that reaches the SQL through a variable or an
// expression (PASSWORD ' || v_secret). Text the scanner cannot read (an unterminated quote) is
// cut after the first PASSWORD followed by a quote. Never throws for bad SQL.
Redacted redact_secrets(const std::string& sql);

// True for statements that control the transaction other than through savepoints — what a
// transactional phase may not run, since weir records the phase in the transaction it runs in:
// BEGIN, START TRANSACTION, COMMIT, END, ROLLBACK, ABORT (AND CHAIN or not), PREPARE
// TRANSACTION, COMMIT/ROLLBACK PREPARED. Not SAVEPOINT, RELEASE or ROLLBACK TO.
bool controls_transaction(const Statement& s);

// The first statement of `sql` that controls_transaction, as written (without its ';'); ""
// when there is none. Text that mentions none of those keywords is not parsed. Text the parser
// cannot read (a newer server's syntax, which that server may still run) is read token by token
// with PostgreSQL's scanner: a statement (between ';' outside BEGIN ATOMIC … END) that starts
// with one of them counts.
std::string transaction_control(const std::string& sql);

}  // namespace weir::pg
