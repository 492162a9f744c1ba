-- weir diff --check on a schema and its pg_dump --schema-only restored into a new database:
-- PostgreSQL prints a definition read back from a dump with other parentheses than the one it
-- was created from (a BETWEEN inside an AND becomes one flat AND list), so weir compares
-- definitions as parsed. A schema with many kinds of objects, BETWEEN in every kind of
-- definition; both directions must say equal, and a real change after the restore must not.
local T = require "testing"
local shell = require "shell"
local project = require "project"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local function weir(args) return sh(q(weir_bin) .. " " .. args) end
local bindir = "bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); "

local ROLE = "weir_dump_restore_reader"
local SCHEMA = ([[
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'the app';
CREATE EXTENSION pg_trgm;
CREATE COLLATION app.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE app.pair AS (x int, y text);
CREATE DOMAIN app.pct AS numeric(5,2) DEFAULT 0 NOT NULL CHECK (VALUE BETWEEN 0 AND 100);
CREATE DOMAIN app.code AS varchar(8)
  CHECK (VALUE BETWEEN 'A' AND 'ZZZ' AND VALUE <> 'B') CHECK (VALUE IN ('AB', 'CD'));
CREATE SEQUENCE app.counter START 10 INCREMENT 5 MAXVALUE 1000 CYCLE;
CREATE TABLE app.users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name varchar(40) NOT NULL COLLATE app.ci,
  email text UNIQUE,
  mood app.mood DEFAULT 'ok',
  score app.pct,
  age int CHECK (age BETWEEN 0 AND 150),
  rank smallint CHECK (rank NOT BETWEEN -5 AND -1 AND rank <> 7),
  born date CHECK (born BETWEEN SYMMETRIC '2020-01-01' AND '1900-01-01'),
  kind varchar(10) CHECK (kind IN ('a', 'b') AND kind BETWEEN 'a' AND 'z'),
  ratio numeric CHECK (ratio BETWEEN 0.5 AND 2 OR ratio BETWEEN 3 AND 4),
  at timestamptz DEFAULT now() CHECK (at BETWEEN '2000-01-01' AND '2100-01-01'),
  adult boolean GENERATED ALWAYS AS (age BETWEEN 18 AND 150 AND kind IS NOT NULL) STORED,
  flag boolean DEFAULT (1 BETWEEN 0 AND 2 AND true),
  tags text[] DEFAULT '{}',
  n int DEFAULT nextval('app.counter'),
  CONSTRAINT age_rank CHECK ((age + rank) BETWEEN (1 + 1) AND 200 AND age > 0 OR age IS NULL)
);
COMMENT ON TABLE app.users IS 'people';
COMMENT ON COLUMN app.users.name IS 'their name';
CREATE INDEX users_name_trgm ON app.users USING gin (name gin_trgm_ops);
CREATE INDEX users_age ON app.users (age) WHERE age BETWEEN 18 AND 65 AND rank > 0;
CREATE INDEX users_lower ON app.users (lower(email)) WHERE kind::text BETWEEN 'a' AND 'b';
CREATE TABLE app.orders (
  id serial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES app.users ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  total numeric(12,2),
  during tstzrange,
  p app.pair,
  EXCLUDE USING gist (during WITH &&) WHERE (total BETWEEN 1 AND 10 AND user_id > 0)
);
ALTER TABLE app.orders ADD CONSTRAINT total_range CHECK (total BETWEEN 0 AND 1e6 AND total <> 13) NOT VALID;
CREATE TABLE app.events (at date NOT NULL, what text) PARTITION BY RANGE (at);
CREATE TABLE app.events_2024 PARTITION OF app.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE app.events_rest PARTITION OF app.events DEFAULT;
CREATE INDEX events_at ON app.events (at);
CREATE TABLE app.base (id int, note text);
CREATE TABLE app.child (extra int CHECK (extra BETWEEN 1 AND 9 AND extra <> 5)) INHERITS (app.base);
CREATE UNLOGGED TABLE app.cache (k text PRIMARY KEY, v jsonb) WITH (fillfactor = 70);
CREATE FUNCTION app.in_range(x int) RETURNS boolean LANGUAGE sql IMMUTABLE
  AS $$ SELECT x BETWEEN 1 AND 10 $$;
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN NEW.at := now(); RETURN NEW; END $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON app.users FOR EACH ROW
  WHEN (OLD.age BETWEEN 1 AND 99 AND NEW.age > 0) EXECUTE FUNCTION app.touch();
CREATE FUNCTION app.fsum(s int, v int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT s + v';
CREATE AGGREGATE app.total(int) (SFUNC = app.fsum, STYPE = int, INITCOND = '0');
CREATE PROCEDURE app.noop(a int) LANGUAGE sql AS 'SELECT 1';
CREATE VIEW app.adults AS SELECT id, name, age FROM app.users
  WHERE age BETWEEN 18 AND 150 AND kind::text BETWEEN 'a' AND 'b';
CREATE VIEW app.adult_names WITH (security_barrier) AS
  SELECT name FROM app.adults WHERE app.in_range(age);
CREATE MATERIALIZED VIEW app.totals AS
  SELECT user_id, sum(total) AS s FROM app.orders WHERE total BETWEEN 1 AND 100 AND id > 0 GROUP BY user_id;
CREATE INDEX totals_s ON app.totals (s) WHERE s BETWEEN 0 AND 10 AND s <> 5;
ALTER TABLE app.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY young ON app.users FOR SELECT USING (age BETWEEN 0 AND 17 AND kind = 'a');
CREATE POLICY edits ON app.users FOR UPDATE WITH CHECK (age BETWEEN 0 AND 17 OR rank BETWEEN 1 AND 2);
GRANT USAGE ON SCHEMA app TO ROLE;
GRANT SELECT ON app.users TO ROLE;
GRANT SELECT (total) ON app.orders TO ROLE;
GRANT EXECUTE ON FUNCTION app.in_range(int) TO ROLE WITH GRANT OPTION;
ALTER DEFAULT PRIVILEGES IN SCHEMA app GRANT SELECT ON TABLES TO ROLE;
COMMENT ON FUNCTION app.in_range(int) IS 'checks';
CREATE VIEW app.ins_view AS SELECT name FROM app.users;
CREATE FUNCTION app.ins() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER ins INSTEAD OF INSERT ON app.ins_view FOR EACH ROW EXECUTE FUNCTION app.ins();
CREATE TABLE app.u (id int, kind varchar(10), n numeric, at timestamp, j jsonb, s text);
CREATE VIEW app.v1 AS
  SELECT id, CASE WHEN kind IN ('a', 'b') THEN 1 WHEN n BETWEEN 1 AND 2 THEN 2 ELSE 3 END AS c,
    COALESCE(n, 0)::int AS n2, kind::text || 'x' AS k2, at::date AS d, j->>'a' AS ja,
    (j #> '{a,b}')::text AS jb, s LIKE 'a%' AND (s ILIKE 'b%' OR s ~ 'c') AS m,
    n::numeric(10,2) * 2.5 AS n3, ARRAY[1,2]::bigint[] AS arr,
    (SELECT count(*) FROM app.u u2 WHERE u2.id BETWEEN u.id AND u.id + 1 AND u2.kind NOT IN ('z')) AS cnt
  FROM app.u WHERE kind NOT IN ('x', 'y') AND (n BETWEEN 1 AND 5 OR n IS NULL) AND at > now() - interval '1 day';
CREATE TABLE app.w (
  a varchar(5) CHECK (a IN ('p', 'q') OR a BETWEEN 'r' AND 's'),
  b int CHECK (b = ANY (ARRAY[1, 2]) AND b BETWEEN 0 AND 3),
  c numeric DEFAULT (1.5)::numeric(3,1), d varchar(3) DEFAULT 'x'::varchar, e text DEFAULT ('a'::text || 'b'),
  f boolean GENERATED ALWAYS AS (a IN ('p') AND b BETWEEN 1 AND 2) STORED);
CREATE INDEX wi ON app.w ((a::text || 'x')) WHERE a IN ('p', 'q') AND b BETWEEN 0 AND 1;
]]):gsub("TO ROLE", "TO " .. ROLE)

db:exec(([[DO $$ BEGIN CREATE ROLE %s; EXCEPTION WHEN duplicate_object THEN NULL; END $$]]):format(ROLE))
local src = project.new("dump_src")
local dst = project.new("dump_dst")

T.case("a schema of many kinds, dumped with pg_dump --schema-only and restored, is equal to its source", function()
  src.conn:exec(SCHEMA)
  local dump = shell.dir .. "/schema.sql"
  local rc, _, err = sh(bindir .. "\"$bindir/pg_dump\" --schema-only --dbname=" .. q(src.url) .. " -f " .. q(dump))
  T.eq(rc, 0, err)
  rc, _, err = sh(bindir .. "\"$bindir/psql\" -X -q -v ON_ERROR_STOP=1 --dbname=" .. q(dst.url) .. " -f " .. q(dump))
  T.eq(rc, 0, err)
  local rc1, out1, err1 = weir("diff --check " .. q(src.url) .. " " .. q(dst.url))
  T.eq(rc1, 0, out1 .. err1)
  T.contains(err1, "no differences")
  local rc2, out2, err2 = weir("diff --check " .. q(dst.url) .. " " .. q(src.url))
  T.eq(rc2, 0, out2 .. err2)
end)

T.case("after the restore, a changed bound inside an AND list is still a difference", function()
  dst.conn:exec [[
    ALTER TABLE app.users DROP CONSTRAINT age_rank;
    ALTER TABLE app.users ADD CONSTRAINT age_rank
      CHECK ((age + rank) BETWEEN (1 + 1) AND 201 AND age > 0 OR age IS NULL);
    CREATE OR REPLACE VIEW app.adults AS SELECT id, name, age FROM app.users
      WHERE age BETWEEN 18 AND 150 AND kind::text BETWEEN 'a' AND 'c']]
  local rc, out, err = weir("diff --check " .. q(src.url) .. " " .. q(dst.url))
  T.eq(rc, 1, out .. err)
  T.contains(out, "age_rank")
  T.contains(out, "CREATE VIEW app.adults")
end)

src.conn:close()
dst.conn:close()
db:exec("DROP DATABASE IF EXISTS " .. src.name .. " WITH (FORCE)")
db:exec("DROP DATABASE IF EXISTS " .. dst.name .. " WITH (FORCE)")
db:exec("DROP ROLE IF EXISTS " .. ROLE)
shell.cleanup()
T.done()
