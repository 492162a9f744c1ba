// pg::transaction_control: the statements a transactional phase may not run, read with the
// parser, and with the scanner for text the parser cannot read.
#include <catch2/catch.hpp>

#include "pg/sql_parse.hpp"

using weir::pg::transaction_control;

TEST_CASE("sql transaction control: what ends or replaces the transaction") {
  CHECK(transaction_control("COMMIT") == "COMMIT");
  CHECK(transaction_control("ROLLBACK; BEGIN") == "ROLLBACK");
  CHECK(transaction_control("CREATE TABLE t (x int); commit;") == "commit");
  CHECK(transaction_control("/* done */ END -- now") == "END -- now");
  CHECK(transaction_control("abort") == "abort");
  CHECK(transaction_control("BEGIN ISOLATION LEVEL SERIALIZABLE") ==
        "BEGIN ISOLATION LEVEL SERIALIZABLE");
  CHECK(transaction_control("start transaction") == "start transaction");
  CHECK(transaction_control("COMMIT AND CHAIN") == "COMMIT AND CHAIN");
  CHECK(transaction_control("PREPARE TRANSACTION 'x'") == "PREPARE TRANSACTION 'x'");
  CHECK(transaction_control("COMMIT PREPARED 'x'") == "COMMIT PREPARED 'x'");
  CHECK(transaction_control("ROLLBACK PREPARED 'x'") == "ROLLBACK PREPARED 'x'");
}

TEST_CASE("sql transaction control: savepoints and everything else pass") {
  for (const char* sql :
       {"SAVEPOINT a; ROLLBACK TO SAVEPOINT a; RELEASE SAVEPOINT a", "ROLLBACK TO a",
        "SELECT 'COMMIT'", "SELECT $$ROLLBACK$$", "DO $$ BEGIN NULL; END $$",
        "PREPARE p AS SELECT 1", "SELECT 1 -- commit", "CREATE TABLE starts (ends int)",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END", "SELEC 1"}) {
    INFO(sql);
    CHECK(transaction_control(sql).empty());
  }
}

TEST_CASE("sql transaction control: text the parser cannot read, statement by statement") {
  CHECK(transaction_control("SOME NEW SYNTAX; COMMIT") == "COMMIT");
  CHECK(transaction_control("SOME NEW SYNTAX; /* c */ rollback and chain") == "rollback and chain");
  CHECK(transaction_control("SOME NEW SYNTAX; ROLLBACK TO a").empty());
  CHECK(transaction_control("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
                            "END; SOME NEW SYNTAX")
            .empty());
  CHECK(transaction_control("SOME NEW SYNTAX; PREPARE p AS SELECT 1").empty());
  CHECK(transaction_control("SOME NEW SYNTAX 'unterminated; COMMIT").empty());
}
