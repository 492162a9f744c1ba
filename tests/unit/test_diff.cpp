// pg/diff on hand-written models (no database): the order of changes and the online
// techniques on existing tables. The round trip against real databases is in
// tests/lua/schema_roundtrip_test.lua.
#include <catch2/catch.hpp>

#include "pg/diff.hpp"
#include "pg/diff_internal.hpp"

using nlohmann::json;
using weir::pg::Change;
using weir::pg::diff;

namespace {

json model(json tables, json views = json::array()) {
  return {{"schemas", {{{"name", "public"}, {"comment", nullptr}}}},
          {"extensions", json::array()},
          {"enums", json::array()},
          {"domains", json::array()},
          {"composites", json::array()},
          {"sequences", json::array()},
          {"tables", std::move(tables)},
          {"views", std::move(views)},
          {"functions", json::array()}};
}

json column(const char* name, const char* type, bool not_null = false) {
  return {{"name", name},         {"type", type},         {"not_null", not_null},
          {"default", nullptr},   {"generated", nullptr}, {"identity", nullptr},
          {"collation", nullptr}, {"inherited", false},   {"comment", nullptr}};
}

json table(const char* name, json columns, json constraints = json::array(),
           json indexes = json::array()) {
  return {{"schema", "public"},
          {"name", name},
          {"kind", "table"},
          {"unlogged", false},
          {"partition_key", nullptr},
          {"partition_of", nullptr},
          {"partition_bound", nullptr},
          {"rls", false},
          {"rls_forced", false},
          {"options", json::array()},
          {"grants", json::array()},
          {"comment", nullptr},
          {"columns", std::move(columns)},
          {"constraints", std::move(constraints)},
          {"indexes", std::move(indexes)},
          {"triggers", json::array()},
          {"policies", json::array()}};
}

json index(const char* name, const char* def) {
  return {{"name", name},  {"definition", def},     {"unique", false},   {"primary", false},
          {"valid", true}, {"constraint", nullptr}, {"comment", nullptr}};
}

json fk(const char* name, const char* def, const char* ref) {
  return {{"name", name},
          {"type", "foreign key"},
          {"definition", def},
          {"validated", true},
          {"deferrable", false},
          {"deferred", false},
          {"references", {{"schema", "public"}, {"name", ref}}},
          {"comment", nullptr}};
}

std::vector<std::string> sqls(const std::vector<Change>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes)
    out.push_back(c.sql);
  return out;
}

}  // namespace

TEST_CASE("diff: equal models have no changes") {
  json m = model({table("t", {column("id", "integer")})});
  CHECK(diff(m, m).empty());
}

TEST_CASE("diff: an index on an existing table is built concurrently, outside a transaction") {
  json a = model({table("t", {column("a", "integer")})});
  json b = model({table("t", {column("a", "integer")}, json::array(),
                        {index("t_a", "CREATE INDEX t_a ON public.t USING btree (a)")})});
  auto changes = diff(a, b);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].sql == "CREATE INDEX CONCURRENTLY t_a ON public.t USING btree (a)");
  CHECK_FALSE(changes[0].transactional);
  CHECK(changes[0].hazards == std::vector<std::string>{"builds index"});
}

TEST_CASE("diff: on a table created in the same diff, plain DDL") {
  json a = model(json::array());
  json b = model({table("t", {column("a", "integer")}, json::array(),
                        {index("t_a", "CREATE INDEX t_a ON public.t USING btree (a)")})});
  auto s = sqls(diff(a, b));
  REQUIRE(s.size() == 2);
  CHECK(s[0].rfind("CREATE TABLE public.t (", 0) == 0);
  CHECK(s[1] == "CREATE INDEX t_a ON public.t USING btree (a)");
}

TEST_CASE("diff: a foreign key on existing tables is added NOT VALID, then validated") {
  json p = table("p", {column("id", "integer")});
  json a = model({p, table("c", {column("p", "integer")})});
  json b = model({p, table("c", {column("p", "integer")},
                           {fk("c_p_fkey", "FOREIGN KEY (p) REFERENCES public.p(id)", "p")})});
  auto s = sqls(diff(a, b));
  REQUIRE(s.size() == 2);
  CHECK(s[0] ==
        "ALTER TABLE public.c ADD CONSTRAINT c_p_fkey FOREIGN KEY (p) REFERENCES public.p(id) NOT "
        "VALID");
  CHECK(s[1] == "ALTER TABLE public.c VALIDATE CONSTRAINT c_p_fkey");
}

TEST_CASE("diff: SET NOT NULL goes through a validated check") {
  json a = model({table("t", {column("a", "integer")})});
  json b = model({table("t", {column("a", "integer", true)})});
  auto changes = diff(a, b);
  REQUIRE(changes.size() == 4);
  CHECK(changes[0].sql.find("CHECK (a IS NOT NULL) NOT VALID") != std::string::npos);
  CHECK(changes[1].sql.find("VALIDATE CONSTRAINT") != std::string::npos);
  CHECK(changes[2].sql == "ALTER TABLE public.t ALTER COLUMN a SET NOT NULL");
  CHECK(changes[3].sql.find("DROP CONSTRAINT") != std::string::npos);
}

TEST_CASE("diff: a dropped table goes after the views on it, with its hazards") {
  json view = {{"schema", "public"},       {"name", "v"},
               {"materialized", false},    {"definition", " SELECT t.a FROM public.t;"},
               {"options", json::array()}, {"depends_on", {"public.t"}},
               {"grants", json::array()},  {"comment", nullptr},
               {"indexes", json::array()}};
  json a = model({table("t", {column("a", "integer")})}, {view});
  json b = model(json::array());
  auto changes = diff(a, b);
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].sql == "DROP VIEW public.v");
  CHECK(changes[1].sql == "DROP TABLE public.t");
  CHECK(changes[1].hazards[0] == "deletes data");
}

TEST_CASE("diff: names that need quoting are quoted") {
  json a = model(json::array());
  json b = model({table("Order", {column("select", "integer"), column("ok_name", "text")})});
  auto s = sqls(diff(a, b));
  REQUIRE(s.size() == 1);
  CHECK(s[0] == "CREATE TABLE public.\"Order\" (\n  \"select\" integer,\n  ok_name text\n)");
}

TEST_CASE("diff: the script form names hazards and ends statements") {
  std::vector<Change> changes = {
      {"drop table", "public.t", "DROP TABLE public.t", {"deletes data"}, true, ""}};
  CHECK(weir::pg::to_script(changes) ==
        "-- drop table: public.t\n--   hazard: deletes data\nDROP TABLE public.t;\n\n");
}

TEST_CASE("diff: the dependency graph puts a function after the table whose row type it takes") {
  json a = model(json::array());
  json b = model({table("t", {column("a", "integer")})});
  b["functions"] = {{{"schema", "public"},
                     {"name", "f"},
                     {"arguments", "r public.t"},
                     {"argument_types", "public.t"},
                     {"kind", "function"},
                     {"returns", "integer"},
                     {"definition",
                      "CREATE OR REPLACE FUNCTION public.f(r public.t) RETURNS integer "
                      "LANGUAGE sql AS $$SELECT 1$$"},
                     {"grants", {"PUBLIC:EXECUTE"}},
                     {"comment", nullptr}}};
  b["dependencies"] = {{"function:public.f(public.t)", {"table:public.t"}}};
  auto s = sqls(diff(a, b));
  REQUIRE(s.size() == 2);
  CHECK(s[0].rfind("CREATE TABLE public.t", 0) == 0);
  CHECK(s[1].find("CREATE OR REPLACE FUNCTION public.f") != std::string::npos);
  // without the graph, functions come first (their bodies may name tables created later)
  b.erase("dependencies");
  auto plain = sqls(diff(a, b));
  CHECK(plain[0].find("CREATE OR REPLACE FUNCTION public.f") != std::string::npos);
}

TEST_CASE("diff: dropped tables go in foreign key order, whatever their names") {
  json p = table("a_parent", {column("id", "integer")});
  json c =
      table("b_child", {column("p", "integer")},
            {fk("b_child_p_fkey", "FOREIGN KEY (p) REFERENCES public.a_parent(id)", "a_parent")});
  json a = model({p, c});
  a["dependencies"] = {{"constraint:public.b_child.b_child_p_fkey",
                        {"column:public.a_parent.id", "table:public.a_parent"}}};
  auto s = sqls(diff(a, model(json::array())));
  REQUIRE(s.size() == 2);
  CHECK(s[0] == "DROP TABLE public.b_child");
  CHECK(s[1] == "DROP TABLE public.a_parent");
}

TEST_CASE("diff: expressions compare in one spelling (varchar IN lists)") {
  using weir::pg::diff_detail::normalised_expr;
  std::string stored =
      "CHECK (((c)::text = ANY ((ARRAY['a'::character varying, 'b'::character varying])::text[])))";
  std::string reread =
      "CHECK (((c)::text = ANY (ARRAY[('a'::character varying)::text, ('b'::character "
      "varying)::text])))";
  CHECK(normalised_expr(reread) == stored);
  CHECK(normalised_expr(stored) == stored);
  CHECK(normalised_expr("ARRAY[(1)::integer, 2]") == "ARRAY[(1)::integer, 2]");
}

TEST_CASE("diff: definitions compare as parsed, nested AND/OR lists flattened") {
  using weir::pg::diff_detail::same_expr;
  // A BETWEEN inside an AND, as stored and as read back from a dump.
  CHECK(same_expr("CHECK ((((a >= 1) AND (a <= 9)) AND (b > 0)))",
                  "CHECK (((a >= 1) AND (a <= 9) AND (b > 0)))"));
  CHECK(same_expr(
      " SELECT t.a\n   FROM t\n  WHERE (((t.a >= 1) AND (t.a <= 5)) AND (t.b OR (t.c OR t.d)));",
      " SELECT t.a\n   FROM t\n  WHERE ((t.a >= 1) AND (t.a <= 5) AND (t.b OR t.c OR t.d));"));
  CHECK(
      same_expr("CREATE INDEX i ON public.t USING btree (a) WHERE (((a >= 2) AND (a <= 3)) AND b)",
                "CREATE INDEX i ON public.t USING btree (a) WHERE ((a >= 2) AND (a <= 3) AND b)"));
  CHECK(same_expr("((a > 0) AND (b > 0))", "(a > 0) AND (b > 0)"));
  // Different meanings stay different: AND under OR, NOT, another constant, another order.
  CHECK_FALSE(same_expr("CHECK (((a >= 1) AND (a <= 9)) OR (b > 0))",
                        "CHECK ((a >= 1) AND ((a <= 9) OR (b > 0)))"));
  CHECK_FALSE(same_expr("CHECK ((NOT ((a > 1) AND (b > 1))) AND (c > 1))",
                        "CHECK ((NOT (a > 1)) AND (b > 1) AND (c > 1))"));
  CHECK_FALSE(same_expr("CHECK ((a >= 1) AND (a <= 9))", "CHECK ((a >= 1) AND (a <= 8))"));
  CHECK_FALSE(same_expr("CHECK ((a > 1) AND (b > 1))", "CHECK ((b > 1) AND (a > 1))"));
  CHECK_FALSE(same_expr("'x y'::text", "'x  y'::text"));
  CHECK_FALSE(same_expr("", "true"));
}

TEST_CASE("diff: --check compares definitions as parsed, other text as written") {
  json a = model({table("t", {column("a", "integer")},
                        {{{"name", "c"},
                          {"type", "check"},
                          {"definition", "CHECK ((((a >= 1) AND (a <= 9)) AND (a <> 5)))"},
                          {"validated", true},
                          {"comment", "two  spaces"}}})});
  json b = a;
  b["tables"][0]["constraints"][0]["definition"] = "CHECK (((a >= 1) AND (a <= 9) AND (a <> 5)))";
  CHECK(weir::pg::compare(a, b).differences.empty());
  b["tables"][0]["constraints"][0]["comment"] = "two spaces";
  CHECK(weir::pg::compare(a, b).differences.size() == 1);
}

TEST_CASE("diff: a drop that a rename would replace says so; with renames it is the rename") {
  json a = model({table("old_name", {column("a", "integer")})});
  json b = model({table("new_name", {column("a", "integer")})});
  auto plain = diff(a, b);
  REQUIRE(plain.size() == 2);
  CHECK(plain[0].sql == "DROP TABLE public.old_name");
  CHECK(plain[0].note.find("ALTER TABLE public.old_name RENAME TO new_name") != std::string::npos);
  CHECK(weir::pg::to_script(plain).find("--   note: table public.old_name differs from "
                                        "public.new_name only by its name") != std::string::npos);
  auto renamed = diff(a, b, {true});
  REQUIRE(renamed.size() == 1);
  CHECK(renamed[0].sql == "ALTER TABLE public.old_name RENAME TO new_name");
}

TEST_CASE("diff: an IN list on a varchar column is written as IN, so it reads back the same") {
  using weir::pg::diff_detail::reparseable;
  CHECK(reparseable("CHECK (((c)::text = ANY ((ARRAY['a'::character varying, 'b''s'::character "
                    "varying])::text[])))") == "CHECK ((c IN ('a', 'b''s')))");
  CHECK(reparseable("CHECK (((\"C\")::text <> ALL ((ARRAY['x'::character varying])::text[])))") ==
        "CHECK ((\"C\" NOT IN ('x')))");
  CHECK(reparseable("CHECK ((a > 0))") == "CHECK ((a > 0))");
}
