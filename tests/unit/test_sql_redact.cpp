// Secrets in SQL: pg::redact_secrets replaces password literals (found with PostgreSQL's own
// scanner) before SQL is shown or recorded.
#include <catch2/catch.hpp>

#include "pg/sql_parse.hpp"

using weir::pg::redact_secrets;

namespace {

std::string redacted(const std::string& sql) {
  return redact_secrets(sql).text;
}

}  // namespace

TEST_CASE("sql redaction: role passwords, in every spelling of the literal") {
  CHECK(redacted("ALTER ROLE app PASSWORD 'S3cret'") == "ALTER ROLE app PASSWORD '***'");
  CHECK(redacted("alter user app with encrypted password 'S3cret' valid until '2030-01-01'") ==
        "alter user app with encrypted password '***' valid until '2030-01-01'");
  CHECK(redacted("CREATE ROLE app LOGIN PASSWORD 'it''s'") ==
        "CREATE ROLE app LOGIN PASSWORD '***'");
  CHECK(redacted("CREATE USER app PASSWORD E'S3\\'cret'") == "CREATE USER app PASSWORD '***'");
  CHECK(redacted("ALTER ROLE app PASSWORD $pw$S3cret$pw$;") == "ALTER ROLE app PASSWORD '***';");
  CHECK(redacted("ALTER ROLE app PASSWORD U&'S3\\0063ret'") == "ALTER ROLE app PASSWORD '***'");
  CHECK(redacted("ALTER ROLE app PASSWORD NULL") == "ALTER ROLE app PASSWORD NULL");
  auto r = redact_secrets("ALTER ROLE a PASSWORD 'one'; ALTER ROLE b PASSWORD 'two'");
  CHECK(r.text == "ALTER ROLE a PASSWORD '***'; ALTER ROLE b PASSWORD '***'");
  CHECK(r.secrets == std::vector<std::string>{"'one'", "'two'"});
}

TEST_CASE("sql redaction: user mappings and servers") {
  CHECK(redacted(
            "CREATE USER MAPPING FOR app SERVER legacy OPTIONS (user 'app', password 'S3cret')") ==
        "CREATE USER MAPPING FOR app SERVER legacy OPTIONS (user 'app', password '***')");
  CHECK(redacted("ALTER USER MAPPING FOR app SERVER legacy OPTIONS (SET password 'S3cret')") ==
        "ALTER USER MAPPING FOR app SERVER legacy OPTIONS (SET password '***')");
  CHECK(redacted("ALTER SERVER legacy OPTIONS (ADD password 'S3cret', sslpassword 'K3y')") ==
        "ALTER SERVER legacy OPTIONS (ADD password '***', sslpassword '***')");
  CHECK(redacted("CREATE USER MAPPING FOR app SERVER s OPTIONS (\"password\" 'S3cret')") ==
        "CREATE USER MAPPING FOR app SERVER s OPTIONS (\"password\" '***')");
}

TEST_CASE("sql redaction: SQL and connection strings inside literals and bodies") {
  CHECK(redacted("DO $$ BEGIN ALTER ROLE app PASSWORD 'S3cret'; END $$") ==
        "DO $$ BEGIN ALTER ROLE app PASSWORD '***'; END $$");
  CHECK(redacted("DO $$ BEGIN EXECUTE 'ALTER ROLE app PASSWORD ''S3cret'''; END $$") ==
        "DO $$ BEGIN EXECUTE 'ALTER ROLE app PASSWORD ''***'''; END $$");
  CHECK(redacted("SELECT dblink_connect('host=h password=S3cret dbname=d')") ==
        "SELECT dblink_connect('host=h password=*** dbname=d')");
  CHECK(redacted("SELECT dblink_connect('postgresql://u:S3cret@h/d')") ==
        "SELECT dblink_connect('postgresql://u:***@h/d')");
}

TEST_CASE("sql redaction: comments between PASSWORD and the literal hide nothing") {
  CHECK(redacted("ALTER ROLE nosuch PASSWORD /* rotated */ 'S3cretI'") ==
        "ALTER ROLE nosuch PASSWORD /* rotated */ '***'");
  CHECK(redacted("ALTER ROLE nosuch PASSWORD -- rotated\n 'S3cretJ'") ==
        "ALTER ROLE nosuch PASSWORD -- rotated\n '***'");
  CHECK(redacted("ALTER ROLE a PASSWORD /* a */ /* b /* nested */ */ -- c\n'S3cret'") ==
        "ALTER ROLE a PASSWORD /* a */ /* b /* nested */ */ -- c\n'***'");
  CHECK(redacted("CREATE USER MAPPING FOR app SERVER s OPTIONS (password /* x */ 'S3cret')") ==
        "CREATE USER MAPPING FOR app SERVER s OPTIONS (password /* x */ '***')");
  CHECK(redacted("ALTER SERVER s OPTIONS (SET sslpassword -- x\n 'K3y')") ==
        "ALTER SERVER s OPTIONS (SET sslpassword -- x\n '***')");
  CHECK(redacted("DO $$ BEGIN ALTER ROLE app PASSWORD /* x */ 'S3cret'; END $$") ==
        "DO $$ BEGIN ALTER ROLE app PASSWORD /* x */ '***'; END $$");
  // unterminated: the text is cut after the comment
  CHECK(redacted("ALTER ROLE app PASSWORD /* x */ 'S3cret") ==
        "ALTER ROLE app PASSWORD /* x */ '***'");
}

TEST_CASE("sql redaction: passwords spliced by format() or concatenation") {
  CHECK(redacted("DO $$ BEGIN EXECUTE format('ALTER ROLE %I PASSWORD %L', 'app', 'S3cret'); "
                 "END $$") ==
        "DO $$ BEGIN EXECUTE format('ALTER ROLE %I PASSWORD %L', '***', '***'); END $$");
  CHECK(redacted("SELECT format('ALTER ROLE app PASSWORD %L', /* new */ 'S3cret')") ==
        "SELECT format('ALTER ROLE app PASSWORD %L', /* new */ '***')");
  CHECK(redacted("SELECT format('ALTER ROLE app PASSWORD %L', lower('S3CRET')), 'kept'") ==
        "SELECT format('ALTER ROLE app PASSWORD %L', lower('***')), 'kept'");
  CHECK(redacted("SELECT format('ALTER ROLE %I VALID UNTIL %L', 'app', 'infinity')") ==
        "SELECT format('ALTER ROLE %I VALID UNTIL %L', 'app', 'infinity')");
  CHECK(redacted("DO $$ BEGIN EXECUTE 'ALTER ROLE app PASSWORD ' || quote_literal('S3cret'); "
                 "END $$") ==
        "DO $$ BEGIN EXECUTE 'ALTER ROLE app PASSWORD ' || quote_literal('***'); END $$");
  CHECK(redacted("SELECT 'ALTER ROLE app PASSWORD ' || 'S3cret'") ==
        "SELECT 'ALTER ROLE app PASSWORD ' || '***'");
}

TEST_CASE("sql redaction: everything else is left as written") {
  for (const char* sql :
       {"SELECT password FROM users WHERE password = 'kept'", "INSERT INTO t VALUES ('mailto:a@b')",
        "CREATE TABLE t (id int); -- password 'comment'",
        "ALTER ROLE app VALID UNTIL 'infinity'"}) {
    INFO(sql);
    CHECK(redacted(sql) == sql);
    CHECK(redact_secrets(sql).secrets.empty());
  }
}

TEST_CASE("sql redaction: text the scanner cannot read is cut after PASSWORD") {
  CHECK(redacted("ALTER ROLE app PASSWORD 'S3cret") == "ALTER ROLE app PASSWORD '***'");
  CHECK(redacted("SELECT 'unterminated") == "SELECT 'unterminated");
}
