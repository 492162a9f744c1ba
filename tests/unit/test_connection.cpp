// The libpq layer: password masking and scrubbing, and error fields from a real server.
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdio>

#include "pg/cluster.hpp"
#include "pg/connection.hpp"

using namespace weir::pg;

TEST_CASE("connection: passwords are masked in URLs and conninfo strings") {
  CHECK(mask_password("postgresql://u:secret@host:5432/db") == "postgresql://u:***@host:5432/db");
  CHECK(mask_password("postgres://u:p%40ss@host/db?sslmode=require") ==
        "postgres://u:***@host/db?sslmode=require");
  CHECK(mask_password("postgresql://host/db?user=u&password=secret&x=1") ==
        "postgresql://host/db?user=u&password=***&x=1");
  CHECK(mask_password("host=h password=secret user=u") == "host=h password=*** user=u");
  CHECK(mask_password("host=h password = 'se cret' user=u") == "host=h password = '***' user=u");
  CHECK(mask_password("postgresql://u@host/db") == "postgresql://u@host/db");
  CHECK(password_of("postgres://u:p%40ss@host/db") == "p@ss");
  CHECK(scrub("failed for p@ss and again p@ss", "p@ss") == "failed for *** and again ***");
}

TEST_CASE("connection: passwords are masked whatever the target's shape") {
  // schemes libpq does not know, misspelt or in another case
  CHECK(mask_password("postgresql+psycopg2://u:s3cr3t@h:5432/db") ==
        "postgresql+psycopg2://u:***@h:5432/db");
  CHECK(mask_password("jdbc:postgresql://h/db?user=u&password=s3cr3t&ssl=true") ==
        "jdbc:postgresql://h/db?user=u&password=***&ssl=true");
  CHECK(mask_password("jdbc:postgresql://u:s3cr3t@h/db") == "jdbc:postgresql://u:***@h/db");
  CHECK(mask_password("PostgreSQL://u:s3cr3t@h/db") == "PostgreSQL://u:***@h/db");
  CHECK(mask_password("postgress://u:s3cr3t@h/db") == "postgress://u:***@h/db");
  CHECK(mask_password("postgresql//u:s3cr3t@h/db") == "postgresql//u:***@h/db");
  CHECK(mask_password("postgresql:/u:s3cr3t@h/db") == "postgresql:/u:***@h/db");
  // a password holding characters a URL should have encoded
  CHECK(mask_password("postgresql://u:pa/s?s@h/db") == "postgresql://u:***@h/db");
  CHECK(mask_password("postgresql://u:p@ss@h/db") == "postgresql://u:***@h/db");
  // percent-encoded, upper-case and ssl keys in the query
  CHECK(mask_password("postgresql://u@h/db?%70assword=s3cr3t") ==
        "postgresql://u@h/db?%70assword=***");
  CHECK(mask_password("postgresql://u@h/db?PASSWORD=s3cr3t#x") ==
        "postgresql://u@h/db?PASSWORD=***#x");
  CHECK(mask_password("postgresql://u@h/db?sslpassword=s3cr3t&sslmode=require") ==
        "postgresql://u@h/db?sslpassword=***&sslmode=require");
  // conninfo in any case, quoted or not, sslpassword too
  CHECK(mask_password("host=h PASSWORD=s3cr3t") == "host=h PASSWORD=***");
  CHECK(mask_password("host=h sslpassword='a b' password = s3cr3t") ==
        "host=h sslpassword='***' password = ***");
  CHECK(mask_password("host=h password='it\\'s' user=u") == "host=h password='***' user=u");
  // nothing to mask: left as it is
  CHECK(mask_password("postgresql://u@h:5432/db?sslmode=require") ==
        "postgresql://u@h:5432/db?sslmode=require");
  CHECK(mask_password("host=h port=5432 dbname=d") == "host=h port=5432 dbname=d");
  for (const char* t : {"postgresql+psycopg2://u:s3cr3t@h/db",
                        "jdbc:postgresql://h/db?password=s3cr3t", "PostgreSQL://u:s3cr3t@h/db",
                        "postgresql://h/db?%70assword=s3cr3t", "host=h Password=s3cr3t"}) {
    INFO(t);
    CHECK(mask_password(t).find("s3cr3t") == std::string::npos);
    CHECK(
        scrub_target(std::string("missing \"=\" after \"") + t + "\"; s3cr3t", t).find("s3cr3t") ==
        std::string::npos);
  }
  CHECK(password_of("postgresql://u@h/db?%70assword=p%40ss") == "p@ss");
  CHECK(password_of("jdbc:postgresql://u:s3cr3t@h/db") == "s3cr3t");
}

TEST_CASE("connection: a client program gets every setting in a service file, none in argv") {
  using weir::pg::client_target;
  auto t = client_target("postgresql://u:p%40ss@h:5433/db?sslmode=disable&sslpassword=k3y");
  CHECK(t.args == std::vector<std::string>{"--dbname=service=weir"});
  CHECK(t.env.empty());
  CHECK(t.service_file ==
        "[weir]\nuser=u\npassword=p@ss\ndbname=db\nhost=h\nport=5433\nsslmode=disable\n"
        "sslpassword=k3y\n");
  // values as libpq read them, quotes and escapes undone; leading spaces kept
  t = client_target("host=h password='it\\'s' application_name='  a b'");
  CHECK(t.service_file == "[weir]\npassword=it's\nhost=h\napplication_name=  a b\n");
  // what a service file cannot hold goes in the setting's environment variable
  t = client_target("host=h password='ends with a space ' options='-c x=\\'" +
                    std::string(1200, 'y') + "\\''");
  CHECK(t.service_file == "[weir]\nhost=h\n");
  CHECK(t.env == std::vector<std::string>{"PGPASSWORD=ends with a space ",
                                          "PGOPTIONS=-c x='" + std::string(1200, 'y') + "'"});
  // ... and a setting with no environment variable refuses, its value unshown
  CHECK_THROWS_WITH(
      client_target("host=h sslpassword='k3y '"),
      Catch::Matchers::Contains("cannot hand sslpassword of host=h sslpassword='***'") &&
          !Catch::Matchers::Contains("k3y"));
  // a service of the user's is named, not expanded
  t = client_target("service=prod");
  CHECK(t.args.empty());
  CHECK(t.env == std::vector<std::string>{"PGSERVICE=prod"});
  CHECK(t.service_file.empty());
  CHECK_THROWS_WITH(client_target("service=prod password=s3cr3t"),
                    Catch::Matchers::Contains("names service prod and also sets password") &&
                        !Catch::Matchers::Contains("s3cr3t"));
  // libpq's defaults: nothing to hand over
  t = client_target("");
  CHECK((t.args.empty() && t.env.empty() && t.service_file.empty()));
  CHECK_THROWS_WITH(client_target("postgresql+psycopg2://u:s3cr3t@h/db"),
                    Catch::Matchers::Contains("postgresql+psycopg2://u:***@h/db") &&
                        !Catch::Matchers::Contains("s3cr3t"));
}

TEST_CASE("connection: text_pipe serves a text at /dev/fd/N, nothing on disk") {
  int fd = weir::pg::text_pipe("[weir]\nhost=h\n");
  REQUIRE(fd > 2);
  FILE* f = std::fopen(("/dev/fd/" + std::to_string(fd)).c_str(), "r");
  REQUIRE(f);
  char buf[64] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  close(fd);
  CHECK(std::string(buf, n) == "[weir]\nhost=h\n");
  CHECK_THROWS_AS(weir::pg::text_pipe(std::string(1 << 20, 'x')), weir::pg::ConnectionError);
}

TEST_CASE("connection: a refused connection is one redacted line") {
  try {
    Connection c("postgresql://u:topsecret@127.0.0.1:1/db");
    FAIL("connected to port 1");
  } catch (const ConnectionError& e) {
    std::string m = e.what();
    CHECK(m.find("topsecret") == std::string::npos);
    CHECK(m.find("postgresql://u:***@127.0.0.1:1/db") != std::string::npos);
    CHECK(m.find('\n') == std::string::npos);
  }
}

TEST_CASE("connection: SqlError carries sqlstate, detail, hint, position and query") {
  Cluster cluster;
  Connection c(cluster.url());
  c.exec("CREATE TABLE t (id int PRIMARY KEY)");
  c.exec("INSERT INTO t VALUES (1)");
  try {
    c.exec_params("INSERT INTO t VALUES ($1)", {Param{false, false, 0, "1"}});
    FAIL("duplicate accepted");
  } catch (const SqlError& e) {
    CHECK(e.sqlstate == "23505");
    CHECK(e.detail == "Key (id)=(1) already exists.");
    CHECK(e.query == "INSERT INTO t VALUES ($1)");
    CHECK(e.severity == "ERROR");
  }
  try {
    c.exec("SELECT 1 FROM nowhere");
    FAIL("missing table accepted");
  } catch (const SqlError& e) {
    CHECK(e.sqlstate == "42P01");
    CHECK(e.position == 15);
  }
  try {
    c.exec("SELECT lower(1, 2, 3)");
    FAIL("bad call accepted");
  } catch (const SqlError& e) {
    CHECK(e.sqlstate == "42883");
    CHECK(e.hint.find("No function matches") != std::string::npos);
  }
  CHECK_FALSE(c.in_transaction());
  c.exec("BEGIN");
  CHECK(c.in_transaction());
  CHECK_THROWS_AS(c.exec("SELECT 1/0"), SqlError);
  CHECK(c.in_transaction());  // aborted, awaiting ROLLBACK
  c.exec("ROLLBACK");
  CHECK_FALSE(c.in_transaction());
}

TEST_CASE("connection: describe_columns resolves domains, enums and their arrays") {
  Cluster cluster;
  Connection c(cluster.url());
  c.exec("CREATE DOMAIN d_int AS int8; CREATE TYPE e AS ENUM ('a'); CREATE DOMAIN d_dom AS d_int");
  Result r = c.exec(
      "SELECT 1::d_int, 'a'::e, ARRAY['a']::e[], 2::d_dom, ARRAY[1]::d_int[], '(1,1),(0,0)'::box");
  auto types = c.describe_columns(r);
  CHECK(types[0]->kind == Kind::Integer);
  CHECK(types[1]->kind == Kind::Text);
  CHECK(types[2]->kind == Kind::Array);
  CHECK(types[2]->elem == Kind::Text);
  CHECK(types[3]->kind == Kind::Integer);
  CHECK(types[4]->kind == Kind::Array);
  CHECK(types[4]->elem == Kind::Integer);
  CHECK(types[5]->delim == ';');
}
