// Lint: every rule flags its bad example and passes its good one (the same examples as
// docs/lint.md), objects created earlier are new and safe, `-- weir:ignore` suppresses one
// statement and a malformed one suppresses nothing, syntax errors carry their line.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "pg/lint.hpp"
#include "pg/sql_parse.hpp"

using weir::pg::lint_rules;
using weir::pg::lint_sql;
using weir::pg::LintContext;
using weir::pg::Linter;
using weir::pg::LintViolation;

namespace {

struct Example {
  const char* rule;
  const char* bad;
  const char* good;
};

// Tables referenced without being created are existing ones (accounts, orders, …).
const Example kExamples[] = {
    {"index-not-concurrent", "CREATE INDEX accounts_email_idx ON accounts (email);",
     "CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);"},
    {"drop-index-not-concurrent", "DROP INDEX accounts_email_idx;",
     "DROP INDEX CONCURRENTLY accounts_email_idx;"},
    {"concurrently-in-transaction",
     "BEGIN;\nCREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);\nCOMMIT;",
     "CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);"},
    {"constraint-not-valid",
     "ALTER TABLE orders ADD CONSTRAINT orders_account_fk\n"
     "  FOREIGN KEY (account_id) REFERENCES accounts (id);",
     "ALTER TABLE orders ADD CONSTRAINT orders_account_fk\n"
     "  FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;\n"
     "ALTER TABLE orders VALIDATE CONSTRAINT orders_account_fk;"},
    {"set-not-null", "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;",
     "ALTER TABLE accounts ADD CONSTRAINT accounts_email_not_null\n"
     "  CHECK (email IS NOT NULL) NOT VALID;\n"
     "ALTER TABLE accounts VALIDATE CONSTRAINT accounts_email_not_null;\n"
     "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;\n"
     "ALTER TABLE accounts DROP CONSTRAINT accounts_email_not_null;"},
    {"not-null-without-default", "ALTER TABLE accounts ADD COLUMN plan text NOT NULL;",
     "ALTER TABLE accounts ADD COLUMN plan text NOT NULL DEFAULT 'free';"},
    {"volatile-default", "ALTER TABLE accounts ADD COLUMN token uuid DEFAULT gen_random_uuid();",
     "ALTER TABLE accounts ADD COLUMN created_at timestamptz DEFAULT now();"},
    {"alter-column-type", "ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(20, 2);",
     "ALTER TABLE accounts ADD COLUMN balance_exact numeric(20, 2);"},
    {"drop-column", "ALTER TABLE accounts DROP COLUMN legacy_code;",
     "ALTER TABLE accounts ADD COLUMN scratch text;\nALTER TABLE accounts DROP COLUMN scratch;"},
    {"drop-table", "DROP TABLE legacy_sessions;",
     "CREATE TABLE scratch (id bigint);\nDROP TABLE scratch;"},
    {"rename-column", "ALTER TABLE accounts RENAME COLUMN email TO email_address;",
     "ALTER TABLE accounts ADD COLUMN email_address text;"},
    {"rename-table", "ALTER TABLE accounts RENAME TO customers;",
     "CREATE VIEW customers AS SELECT * FROM accounts;"},
    {"constraint-builds-index",
     "ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);",
     "CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key ON accounts (email);\n"
     "ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE USING INDEX "
     "accounts_email_key;"},
    {"timestamp-without-time-zone", "CREATE TABLE events (id bigint, at timestamp);",
     "CREATE TABLE events (id bigint, at timestamptz);"},
    {"prefer-bigint", "CREATE TABLE events (id serial PRIMARY KEY, kind text);",
     "CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, kind text);"},
    {"prefer-text", "CREATE TABLE people (name varchar(100));",
     "CREATE TABLE people (name text CHECK (length(name) <= 100));"},
    {"enum-value-position", "ALTER TYPE mood ADD VALUE 'ecstatic';",
     "ALTER TYPE mood ADD VALUE 'ecstatic' AFTER 'happy';"},
    {"bad-ignore", "-- weir:ignore no-such-rule\nDROP TABLE legacy_sessions;",
     "-- weir:ignore drop-table -- archived in TICKET-42\nDROP TABLE legacy_sessions;"},
};

std::vector<std::string> rules(const std::vector<LintViolation>& vs) {
  std::vector<std::string> out;
  for (const auto& v : vs)
    out.push_back(v.rule);
  return out;
}

std::vector<std::string> rules_of(const std::string& sql, const LintContext& ctx = {}) {
  return rules(lint_sql(sql, ctx));
}

using Rules = std::vector<std::string>;

void check_example(const std::string& rule) {
  const Example* ex = nullptr;
  for (const auto& e : kExamples) {
    if (rule == e.rule) ex = &e;
  }
  REQUIRE(ex != nullptr);
  INFO("bad example:\n" << ex->bad);
  auto found = rules_of(ex->bad);
  REQUIRE_FALSE(found.empty());
  CHECK(found[0] == rule);
  // only this rule (a malformed ignore also leaves its statement's own violation reported)
  for (const auto& r : found)
    CHECK((r == rule || rule == "bad-ignore"));
  INFO("good example:\n" << ex->good);
  CHECK(rules_of(ex->good) == Rules{});
}

}  // namespace

TEST_CASE("lint: every rule has a documented example here and a section in docs/lint.md") {
  std::ifstream f(std::string(WEIR_SOURCE_DIR) + "/docs/lint.md");
  REQUIRE(f.good());
  std::stringstream doc;
  doc << f.rdbuf();
  for (const auto& r : lint_rules()) {
    INFO(r.name);
    bool has_example = false;
    for (const auto& e : kExamples)
      has_example = has_example || std::string(e.rule) == r.name;
    CHECK(has_example);
    CHECK(doc.str().find(std::string("### `") + r.name + "`") != std::string::npos);
  }
  CHECK(lint_rules().size() >= 15);
}

TEST_CASE("lint rule index-not-concurrent") {
  check_example("index-not-concurrent");
  // a table created earlier in the same text is new: no readers or writers to block
  CHECK(rules_of("CREATE TABLE t (id bigint);\nCREATE INDEX t_id_idx ON t (id);") == Rules{});
  CHECK(rules_of("CREATE UNIQUE INDEX u ON s.t (a)") == Rules{"index-not-concurrent"});
}

TEST_CASE("lint rule drop-index-not-concurrent") {
  check_example("drop-index-not-concurrent");
  CHECK(rules_of("CREATE INDEX CONCURRENTLY i ON t (a);\nDROP INDEX i;") == Rules{});
}

TEST_CASE("lint rule concurrently-in-transaction") {
  check_example("concurrently-in-transaction");
  auto vs = lint_sql("BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (a);\nCOMMIT;");
  REQUIRE(vs.size() == 1);
  CHECK(vs[0].line == 2);
  CHECK(vs[0].message.find("after the BEGIN on line 1") != std::string::npos);
  // after COMMIT it is fine again; DROP INDEX / REINDEX CONCURRENTLY count too
  CHECK(rules_of("BEGIN;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (a);") == Rules{});
  CHECK(rules_of("START TRANSACTION; DROP INDEX CONCURRENTLY i; REINDEX INDEX CONCURRENTLY j") ==
        Rules{"concurrently-in-transaction", "concurrently-in-transaction"});
  // a migration's transactional phase, and several statements sent as one query
  LintContext tx;
  tx.in_transaction = true;
  CHECK(rules_of("CREATE INDEX CONCURRENTLY i ON t (a)", tx) ==
        Rules{"concurrently-in-transaction"});
  LintContext one;
  one.one_query = true;
  CHECK(rules_of("CREATE INDEX CONCURRENTLY i ON t (a)", one) == Rules{});
  CHECK(rules_of("CREATE INDEX CONCURRENTLY i ON t (a); CREATE INDEX CONCURRENTLY j ON t (b)",
                 one) == Rules{"concurrently-in-transaction", "concurrently-in-transaction"});
}

TEST_CASE("lint rule constraint-not-valid") {
  check_example("constraint-not-valid");
  CHECK(rules_of("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)") == Rules{"constraint-not-valid"});
  CHECK(rules_of("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID") == Rules{});
  // a new column with REFERENCES is validated under the ADD COLUMN's lock
  CHECK(rules_of("ALTER TABLE t ADD COLUMN u_id bigint REFERENCES u (id)") ==
        Rules{"constraint-not-valid"});
  // on a new table there is nothing to check
  CHECK(rules_of("CREATE TABLE t (a bigint);\n"
                 "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0);\n"
                 "ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES accounts (id);") ==
        Rules{});
}

TEST_CASE("lint rule set-not-null") {
  check_example("set-not-null");
  // a column added earlier (with a default, so it has no NULLs) is new
  CHECK(rules_of("ALTER TABLE t ADD COLUMN c int DEFAULT 0;\n"
                 "ALTER TABLE t ALTER COLUMN c SET NOT NULL;") == Rules{});
  // a NOT VALID check that was never validated does not help
  CHECK(rules_of("ALTER TABLE t ADD CONSTRAINT k CHECK (c IS NOT NULL) NOT VALID;\n"
                 "ALTER TABLE t ALTER COLUMN c SET NOT NULL;") == Rules{"set-not-null"});
}

TEST_CASE("lint rule not-null-without-default") {
  check_example("not-null-without-default");
  CHECK(rules_of("CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b text NOT NULL;") == Rules{});
  CHECK(rules_of("ALTER TABLE t ADD COLUMN b text") == Rules{});
}

TEST_CASE("lint rule volatile-default") {
  check_example("volatile-default");
  CHECK(rules_of("ALTER TABLE t ADD COLUMN r float8 DEFAULT random()") ==
        Rules{"volatile-default"});
  CHECK(rules_of("ALTER TABLE t ADD COLUMN at timestamptz DEFAULT clock_timestamp()") ==
        Rules{"volatile-default"});
  CHECK(rules_of("ALTER TABLE t ADD COLUMN n bigserial") == Rules{"volatile-default"});
  CHECK(rules_of("ALTER TABLE t ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY") ==
        Rules{"volatile-default"});
  CHECK(rules_of("ALTER TABLE t ADD COLUMN d int GENERATED ALWAYS AS (a * 2) STORED") ==
        Rules{"volatile-default"});
  // stable or constant defaults are stored once, not written into every row
  CHECK(rules_of("ALTER TABLE t ADD COLUMN at timestamptz DEFAULT current_timestamp") == Rules{});
  CHECK(rules_of("ALTER TABLE t ADD COLUMN n int NOT NULL DEFAULT 0") == Rules{});
  CHECK(rules_of("ALTER TABLE t ALTER COLUMN u SET DEFAULT gen_random_uuid()") == Rules{});
  CHECK(rules_of("CREATE TABLE t (id uuid DEFAULT gen_random_uuid());\n"
                 "ALTER TABLE t ADD COLUMN k uuid DEFAULT gen_random_uuid();") == Rules{});
}

TEST_CASE("lint rule alter-column-type") {
  check_example("alter-column-type");
  CHECK(rules_of("ALTER TABLE t ADD COLUMN c int;\nALTER TABLE t ALTER COLUMN c TYPE bigint;") ==
        Rules{});
}

TEST_CASE("lint rule drop-column") {
  check_example("drop-column");
  auto vs = lint_sql("ALTER TABLE s.t DROP COLUMN a, DROP COLUMN b");
  REQUIRE(vs.size() == 2);
  CHECK(vs[0].message.find("s.t.a") != std::string::npos);
  CHECK(vs[1].message.find("s.t.b") != std::string::npos);
}

TEST_CASE("lint rule drop-table") {
  check_example("drop-table");
  CHECK(rules_of("DROP TABLE IF EXISTS a, b CASCADE") == Rules{"drop-table", "drop-table"});
  CHECK(rules_of("CREATE TABLE a AS SELECT 1 AS x;\nDROP TABLE a;") == Rules{});
}

TEST_CASE("lint rule rename-column") {
  check_example("rename-column");
  CHECK(rules_of("CREATE TABLE t (a int8);\nALTER TABLE t RENAME COLUMN a TO b;") == Rules{});
  // a column added earlier, renamed, is still new under its new name
  CHECK(rules_of("ALTER TABLE t ADD COLUMN a text;\nALTER TABLE t RENAME a TO b;\n"
                 "ALTER TABLE t DROP COLUMN b;") == Rules{});
}

TEST_CASE("lint rule rename-table") {
  check_example("rename-table");
  CHECK(rules_of("ALTER VIEW v RENAME TO w") == Rules{"rename-table"});
  // a new table keeps being new under its new name
  CHECK(rules_of("CREATE TABLE t (a int8);\nALTER TABLE t RENAME TO u;\nCREATE INDEX ON u (a);") ==
        Rules{});
  // renaming an existing table away: the name it leaves is still an existing table's
  CHECK(rules_of("-- weir:ignore rename-table\nALTER TABLE t RENAME TO old_t;\n"
                 "CREATE INDEX ON old_t (a);") == Rules{"index-not-concurrent"});
}

TEST_CASE("lint rule constraint-builds-index") {
  check_example("constraint-builds-index");
  CHECK(rules_of("ALTER TABLE t ADD PRIMARY KEY (id)") == Rules{"constraint-builds-index"});
  CHECK(rules_of("ALTER TABLE t ADD CONSTRAINT x EXCLUDE USING gist (r WITH &&)") ==
        Rules{"constraint-builds-index"});
  CHECK(rules_of("CREATE TABLE t (id bigint);\nALTER TABLE t ADD PRIMARY KEY (id);") == Rules{});
}

TEST_CASE("lint rule timestamp-without-time-zone") {
  check_example("timestamp-without-time-zone");
  CHECK(rules_of("ALTER TABLE t ADD COLUMN at timestamp(3) without time zone") ==
        Rules{"timestamp-without-time-zone"});
  CHECK(rules_of("CREATE TABLE t (at timestamp with time zone, d date, tm time)") == Rules{});
}

TEST_CASE("lint rule prefer-bigint") {
  check_example("prefer-bigint");
  // integer keys: primary key, identity, foreign key (inline or as a table constraint)
  CHECK(rules_of("CREATE TABLE t (id int PRIMARY KEY)") == Rules{"prefer-bigint"});
  CHECK(rules_of("CREATE TABLE t (id integer GENERATED ALWAYS AS IDENTITY)") ==
        Rules{"prefer-bigint"});
  CHECK(rules_of("CREATE TABLE t (a_id int4, FOREIGN KEY (a_id) REFERENCES a (id))") ==
        Rules{"prefer-bigint"});
  CHECK(rules_of("CREATE TABLE t (id smallserial)") == Rules{"prefer-bigint"});
  // a plain integer holding a quantity is fine; bigserial is 64-bit
  CHECK(rules_of("CREATE TABLE t (id bigserial PRIMARY KEY, quantity int, rank smallint)") ==
        Rules{});
}

TEST_CASE("lint rule prefer-text") {
  check_example("prefer-text");
  CHECK(rules_of("CREATE TABLE t (code char(3), flag character)") ==
        Rules{"prefer-text", "prefer-text"});
  CHECK(rules_of("CREATE TABLE t (name varchar, c \"char\")") == Rules{});
}

TEST_CASE("lint rule enum-value-position") {
  check_example("enum-value-position");
  CHECK(rules_of("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' BEFORE 'sad'") == Rules{});
  CHECK(rules_of("ALTER TYPE mood RENAME VALUE 'sad' TO 'blue'") == Rules{});
  CHECK(rules_of("CREATE TYPE mood AS ENUM ('sad');\nALTER TYPE mood ADD VALUE 'happy';") ==
        Rules{});
}

TEST_CASE("lint rule bad-ignore") {
  check_example("bad-ignore");
  // malformed ignores suppress nothing and are reported at the comment's line
  auto vs = lint_sql("SELECT 1;\n-- weir:ignore drop-tables\nDROP TABLE a;");
  REQUIRE(vs.size() == 2);
  CHECK(vs[0].rule == "bad-ignore");
  CHECK(vs[0].line == 2);
  CHECK(vs[0].message.find("unknown rule 'drop-tables'") != std::string::npos);
  CHECK(vs[0].statement == "DROP TABLE a");
  CHECK(vs[1].rule == "drop-table");
  CHECK(rules_of("-- weir:ignore\nDROP TABLE a;") == Rules{"bad-ignore", "drop-table"});
  CHECK(rules_of("-- weir:ignore drop-table drop-column\nDROP TABLE a;") ==
        Rules{"bad-ignore", "drop-table"});
  CHECK(rules_of("-- weir:ignore drop-table, nope\nDROP TABLE a;") ==
        Rules{"bad-ignore", "drop-table"});
  CHECK(rules_of("-- weir:ignored drop-table\nDROP TABLE a;") == Rules{"bad-ignore", "drop-table"});
  CHECK(rules_of("-- weir:ignore bad-ignore\nDROP TABLE a;") == Rules{"bad-ignore", "drop-table"});
  CHECK(rules_of("DROP TABLE a;\n-- weir:ignore drop-table\n") ==
        Rules{"drop-table", "bad-ignore"});
}

TEST_CASE("lint: weir:ignore suppresses the named rules for one statement only") {
  std::string sql =
      "-- weir:ignore drop-table, drop-column -- data archived in TICKET-42\n"
      "DROP TABLE a;\n"
      "DROP TABLE b;\n"
      "DROP TABLE c; -- weir:ignore drop-table\n"
      "ALTER TABLE d -- weir:ignore drop-column\n"
      "  DROP COLUMN x;\n"
      "/* weir:ignore drop-table (block comments are not directives) */ DROP TABLE e;\n"
      "SELECT '-- weir:ignore drop-table'; DROP TABLE f;\n";
  auto vs = lint_sql(sql);
  REQUIRE(vs.size() == 3);
  CHECK(vs[0].line == 3);
  CHECK(vs[0].statement == "DROP TABLE b");
  CHECK(vs[1].line == 7);
  CHECK(vs[2].line == 8);
  CHECK(vs[2].statement == "DROP TABLE f");
  // an ignore of another rule does not help
  CHECK(rules_of("-- weir:ignore drop-column\nDROP TABLE a;") == Rules{"drop-table"});
  // from the context: applies to every statement of the text
  LintContext ctx;
  ctx.ignores = {"-- weir:ignore drop-table -- reason"};
  CHECK(rules_of("DROP TABLE a; DROP TABLE b", ctx) == Rules{});
  ctx.ignores = {"-- weir:ignore drop-tabel"};
  auto bad = lint_sql("DROP TABLE a", ctx);
  REQUIRE(bad.size() == 2);
  CHECK(bad[0].rule == "bad-ignore");
  CHECK(bad[0].line == 0);
}

TEST_CASE("lint: lines, statements and syntax errors") {
  auto vs = lint_sql("-- a comment\n\n/* another */ DROP TABLE a;\n\n  DROP TABLE\n    b;");
  REQUIRE(vs.size() == 2);
  CHECK(vs[0].line == 3);
  CHECK(vs[0].statement == "DROP TABLE a");
  CHECK(vs[1].line == 5);
  CHECK(vs[1].statement == "DROP TABLE\n    b");
  auto err = lint_sql("SELECT 1;\nSELECT 'é';\nCREATE TABEL x ();");
  REQUIRE(err.size() == 1);
  CHECK(err[0].rule == weir::pg::kLintSyntaxError);
  CHECK(err[0].line == 3);
  CHECK(err[0].message == "at or near \"TABEL\"");
  CHECK(lint_sql("SELECT $$ -- weir:ignore nope\n $$; SELECT E'\\' -- weir:ignore nope';").empty());
}

TEST_CASE("lint: a Linter remembers what earlier texts created") {
  Linter linter;
  LintContext tx;
  tx.in_transaction = true;
  CHECK(rules(linter.lint("CREATE TABLE plan_sessions (id bigint PRIMARY KEY, org bigint)", tx))
            .empty());
  LintContext autocommit;
  CHECK(rules(linter.lint("CREATE INDEX CONCURRENTLY ps_org ON plan_sessions (org)", autocommit))
            .empty());
  CHECK(rules(linter.lint("CREATE INDEX ps_org2 ON plan_sessions (org)", tx)).empty());
  CHECK(rules(linter.lint("ALTER TABLE plan_sessions ALTER COLUMN org SET NOT NULL", tx)).empty());
  CHECK(rules(linter.lint("CREATE INDEX accounts_idx ON accounts (id)", tx)) ==
        Rules{"index-not-concurrent"});
  CHECK(rules(linter.lint("BEGIN", autocommit)).empty());
  auto vs = linter.lint("CREATE INDEX CONCURRENTLY i ON accounts (a)", autocommit);
  REQUIRE(vs.size() == 1);
  CHECK(vs[0].message.find("after an earlier BEGIN") != std::string::npos);
}

TEST_CASE("sql_parse: statements carry the offset and line of their first token") {
  auto stmts = weir::pg::parse_sql("-- c\nSELECT 1; -- t\n /* x */ SELECT 2");
  REQUIRE(stmts.size() == 2);
  CHECK(stmts[0].line == 2);
  CHECK(stmts[0].offset == 5);
  CHECK(stmts[0].text == "-- c\nSELECT 1");  // unchanged: text still starts after the ';'
  CHECK(stmts[1].line == 3);
  CHECK(stmts[1].offset == 29);
}
