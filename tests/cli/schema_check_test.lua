-- weir diff --check is sound: for each kind of object weir models, two databases that differ
-- only in it make --check exit 1; objects of kinds weir does not model make it exit 3 and say
-- "not compared" (never "no differences"); a difference the diff has no change for (column
-- order) still fails the check.
local T = require "testing"
local shell = require "shell"
local project = require "project"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local function weir(args) return sh(q(weir_bin) .. " " .. args) end

local ROLE = "DO $$ BEGIN CREATE ROLE weir_check_role; EXCEPTION WHEN duplicate_object THEN NULL; END $$;\n"
local BASE = ROLE .. [[
CREATE TABLE t (id int PRIMARY KEY, a int, b text);
CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE FUNCTION add2(int, int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + $2';
CREATE VIEW v AS SELECT id, a FROM t;
CREATE FUNCTION et() RETURNS event_trigger LANGUAGE plpgsql AS $$ BEGIN END $$;
]]

-- { kind, what A adds to BASE, what B adds }
local MODELLED = {
  { "schema", "", "CREATE SCHEMA s" },
  { "schema comment", "", "COMMENT ON SCHEMA public IS 'x'" },
  { "schema grant", "", "GRANT CREATE ON SCHEMA public TO weir_check_role" },
  { "extension", "", "CREATE EXTENSION hstore" },
  { "extension version", "CREATE EXTENSION hstore VERSION '1.7'", "CREATE EXTENSION hstore VERSION '1.8'" },
  { "collation", "", "CREATE COLLATION c1 (locale = 'C')" },
  { "enum", "", "CREATE TYPE e AS ENUM ('x')" },
  { "enum values", "CREATE TYPE e AS ENUM ('x')", "CREATE TYPE e AS ENUM ('x', 'y')" },
  { "domain", "", "CREATE DOMAIN d AS int" },
  { "domain check", "CREATE DOMAIN d AS int", "CREATE DOMAIN d AS int CHECK (VALUE > 0)" },
  { "composite", "", "CREATE TYPE c AS (x int)" },
  { "type grant", "CREATE TYPE e AS ENUM ('x')", "CREATE TYPE e AS ENUM ('x'); REVOKE USAGE ON TYPE e FROM PUBLIC" },
  { "sequence", "", "CREATE SEQUENCE s" },
  { "sequence option", "CREATE SEQUENCE s", "CREATE SEQUENCE s INCREMENT 2" },
  { "table", "", "CREATE TABLE u (x int)" },
  { "unlogged", "", "ALTER TABLE t SET UNLOGGED" },
  { "table option", "", "ALTER TABLE t SET (fillfactor = 70)" },
  { "column", "", "ALTER TABLE t ADD COLUMN c int" },
  { "column type", "", "DROP VIEW v; ALTER TABLE t ALTER COLUMN a TYPE bigint; CREATE VIEW v AS SELECT id, a FROM t" },
  { "column default", "", "ALTER TABLE t ALTER COLUMN a SET DEFAULT 1" },
  { "column not null", "", "ALTER TABLE t ALTER COLUMN a SET NOT NULL" },
  { "column collation", "", "ALTER TABLE t ALTER COLUMN b TYPE text COLLATE \"C\"" },
  { "column identity", "", "ALTER TABLE t ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY" },
  { "generated column", "", "ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a * 2) STORED" },
  { "column comment", "", "COMMENT ON COLUMN t.a IS 'x'" },
  { "column grant", "", "GRANT SELECT (a) ON t TO weir_check_role" },
  { "check constraint", "", "ALTER TABLE t ADD CONSTRAINT a_pos CHECK (a > 0)" },
  { "unique constraint", "", "ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE (a)" },
  { "foreign key", "", "ALTER TABLE t ADD CONSTRAINT t_a_fkey FOREIGN KEY (a) REFERENCES t (id)" },
  { "constraint validated", "ALTER TABLE t ADD CONSTRAINT a_pos CHECK (a > 0) NOT VALID",
    "ALTER TABLE t ADD CONSTRAINT a_pos CHECK (a > 0)" },
  { "index", "", "CREATE INDEX t_a ON t (a)" },
  { "index definition", "CREATE INDEX t_a ON t (a)", "CREATE INDEX t_a ON t (a DESC)" },
  { "trigger", "", "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()" },
  { "trigger disabled", "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
    "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f(); ALTER TABLE t DISABLE TRIGGER tr" },
  { "constraint trigger", "",
    "CREATE CONSTRAINT TRIGGER ct AFTER INSERT ON t DEFERRABLE FOR EACH ROW EXECUTE FUNCTION f()" },
  { "INSTEAD OF trigger", "", "CREATE TRIGGER vt INSTEAD OF INSERT ON v FOR EACH ROW EXECUTE FUNCTION f()" },
  { "row level security", "", "ALTER TABLE t ENABLE ROW LEVEL SECURITY" },
  { "policy", "", "CREATE POLICY p ON t USING (a > 0)" },
  { "table grant", "", "GRANT SELECT ON t TO weir_check_role" },
  { "grant option", "GRANT SELECT ON t TO weir_check_role", "GRANT SELECT ON t TO weir_check_role WITH GRANT OPTION" },
  { "partition", "CREATE TABLE p (x int) PARTITION BY RANGE (x)",
    "CREATE TABLE p (x int) PARTITION BY RANGE (x); CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (1)" },
  { "inheritance", "CREATE TABLE c (y int)", "CREATE TABLE c (y int) INHERITS (t)" },
  { "view", "", "CREATE VIEW w AS SELECT 1 AS one" },
  { "view definition", "", "CREATE OR REPLACE VIEW v AS SELECT id, a + 0 AS a FROM t" },
  { "materialized view", "", "CREATE MATERIALIZED VIEW m AS SELECT 1 AS one" },
  { "function", "", "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS 'SELECT 1'" },
  { "function body", "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE FUNCTION g() RETURNS int LANGUAGE sql AS 'SELECT 2'" },
  { "function grant", "", "REVOKE EXECUTE ON FUNCTION add2(int, int) FROM PUBLIC" },
  { "procedure", "", "CREATE PROCEDURE pr() LANGUAGE sql AS 'SELECT 1'" },
  { "aggregate", "", "CREATE AGGREGATE s2(int) (SFUNC = add2, STYPE = int)" },
  { "default privileges", "", "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO weir_check_role" },
}

local NOT_MODELLED = {
  { "rule", "CREATE RULE r AS ON INSERT TO t DO INSTEAD NOTHING", "rule r on public.t" },
  { "statistics", "CREATE STATISTICS st ON a, b FROM t", "statistics object public.st" },
  { "operator", "CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)", "operator" },
  { "range type", "CREATE TYPE r AS RANGE (SUBTYPE = int)", "type public.r" },
  { "text search configuration", "CREATE TEXT SEARCH CONFIGURATION ts (COPY = english)", "text search configuration" },
  { "event trigger", "CREATE EVENT TRIGGER weir_et ON ddl_command_end EXECUTE FUNCTION et()", "event trigger weir_et" },
  { "publication", "CREATE PUBLICATION weir_pub FOR TABLE t", "publication weir_pub" },
}

local function pair(a_sql, b_sql)
  local a, b = project.new("ck", {}), project.new("ck", {})
  a.conn:exec("SET client_min_messages = warning")
  b.conn:exec("SET client_min_messages = warning")
  a.conn:exec(BASE .. a_sql)
  b.conn:exec(BASE .. b_sql)
  return a, b
end

T.case("the base schema is equal to itself", function()
  local a, b = pair("", "")
  local rc, _, err = weir("diff --check " .. q(a.url) .. " " .. q(b.url))
  T.eq(rc, 0, err)
  T.contains(err, "no differences")
end)

for _, k in ipairs(MODELLED) do
  T.case("--check fails on a difference only in: " .. k[1], function()
    local a, b = pair(k[2], k[3])
    local rc, _, err = weir("diff --check " .. q(a.url) .. " " .. q(b.url))
    T.eq(rc, 1, "A → B: " .. err)
    local rc2, _, err2 = weir("diff --check " .. q(b.url) .. " " .. q(a.url))
    T.eq(rc2, 1, "B → A: " .. err2)
    T.ok(not err:find("no differences") and not err2:find("no differences"))
  end)
end

for _, k in ipairs(NOT_MODELLED) do
  T.case("--check says not compared (exit 3) for: " .. k[1], function()
    local a, b = pair("", k[2])
    local rc, out, err = weir("diff --check " .. q(a.url) .. " " .. q(b.url))
    T.eq(rc, 3, err)
    T.contains(err, "not compared: " .. k[3])
    T.ok(not err:find("no differences"), err)
    -- present on both sides, it still cannot be compared
    local c = project.new("ck", {})
    c.conn:exec("SET client_min_messages = warning")
    c.conn:exec(BASE .. k[2])
    local rc2, _, err2 = weir("diff --check " .. q(b.url) .. " " .. q(c.url))
    T.eq(rc2, 3, err2)
    local rc3, out3 = weir("diff --json " .. q(b.url) .. " " .. q(c.url))
    T.eq(rc3, 0)
    local doc = json.decode(out3)
    T.eq(doc.equal, false)
    T.ok(#doc.not_compared >= 1)
    T.eq(out, "")
  end)
end

T.case("--check fails on a difference the diff has no change for (column order)", function()
  local a, b = project.new("ck", {}), project.new("ck", {})
  a.conn:exec("CREATE TABLE t (a int, b int)")
  b.conn:exec("CREATE TABLE t (b int, a int)")
  local rc, out, err = weir("diff --check " .. q(a.url) .. " " .. q(b.url))
  T.eq(rc, 1, err)
  T.eq(out, "")
  T.contains(err, "differs, with no change to make it equal: tables public.t.columns a.position")
end)

T.done()
