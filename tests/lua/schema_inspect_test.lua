-- schema.inspect: the model conforms to grammar/schema-model.schema.json, is deterministic,
-- covers every object kind, and leaves the session as it found it.
local T = require "testing"
local shape = require "shape"

local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")

local RICH = [[
CREATE EXTENSION IF NOT EXISTS citext;
CREATE SCHEMA app;
COMMENT ON SCHEMA app IS 'the app';
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.pos AS int NOT NULL DEFAULT 1 CHECK (VALUE > 0);
CREATE TYPE app.pair AS (a int, b text);
CREATE SEQUENCE app.counter START 10 INCREMENT 5;
CREATE TABLE app.users (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email citext NOT NULL UNIQUE,
  mood app.mood DEFAULT 'ok',
  score app.pos,
  name text COLLATE "C",
  w int, h int, area int GENERATED ALWAYS AS (w * h) STORED
);
COMMENT ON COLUMN app.users.email IS 'login';
CREATE TABLE app.posts (
  id serial PRIMARY KEY,
  user_id bigint REFERENCES app.users ON DELETE CASCADE,
  title text CHECK (length(title) > 0),
  during tstzrange,
  EXCLUDE USING gist (during WITH &&)
);
ALTER TABLE app.posts ADD CONSTRAINT posts_title_short CHECK (length(title) < 200) NOT VALID;
CREATE INDEX posts_title_lower ON app.posts (lower(title)) INCLUDE (id) WHERE title IS NOT NULL;
CREATE TABLE app.events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE VIEW app.user_posts AS SELECT u.email, p.title FROM app.users u JOIN app.posts p ON p.user_id = u.id;
CREATE MATERIALIZED VIEW app.post_counts AS SELECT user_id, count(*) AS n FROM app.posts GROUP BY user_id;
CREATE UNIQUE INDEX post_counts_user ON app.post_counts (user_id);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE PROCEDURE app.noop() LANGUAGE sql AS $$ SELECT 1 $$;
CREATE TRIGGER users_touch BEFORE UPDATE ON app.users FOR EACH ROW EXECUTE FUNCTION app.touch();
ALTER TABLE app.posts ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON app.posts FOR SELECT USING (user_id IS NOT NULL);
GRANT SELECT ON app.posts TO PUBLIC;
CREATE SCHEMA weir_like_state;
CREATE TABLE weir_like_state.t (id int);
]]

local function fresh(name)
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  db:exec("CREATE DATABASE " .. name)
  local conn = weir.connect((base_url:gsub("/postgres%?", "/" .. name .. "?")))
  conn:exec("SET client_min_messages = warning")
  conn:exec(RICH)
  return conn
end

local a <close> = fresh("insp_a")
local model = schema.inspect(a)

local function find(list, name)
  for _, x in ipairs(list) do
    if x.name == name then return x end
  end
end

T.case("the model conforms to grammar/schema-model.schema.json", function()
  local problems = shape.check(shape.load("schema-model.schema.json"), model)
  T.eq(problems, {})
end)

T.case("every object kind is in the model", function()
  T.ok(find(model.schemas, "app"), "schema")
  T.eq(find(model.schemas, "app").comment, "the app")
  T.eq(find(model.extensions, "citext").schema, "public")
  T.eq(find(model.enums, "mood").values, { "sad", "ok", "happy" })
  local pos = find(model.domains, "pos")
  T.eq({ pos.type, pos.not_null, pos.default, pos.checks[1].definition }, { "integer", true, "1", "CHECK ((VALUE > 0))" })
  T.eq(#find(model.composites, "pair").attributes, 2)
  local counter = find(model.sequences, "counter")
  T.eq({ counter.start, counter.increment }, { 10, 5 })
  T.eq(find(model.sequences, "posts_id_seq").owned_by.column, "id")
  T.eq(find(model.sequences, "users_id_seq"), nil, "identity sequences belong to their column")
  local users = find(model.tables, "users")
  local cols = {}
  for _, c in ipairs(users.columns) do cols[c.name] = c end
  T.eq(cols.id.identity, "always")
  T.eq(cols.email.type, "public.citext")
  T.eq(cols.email.comment, "login")
  T.eq(cols.mood.type, "app.mood")
  T.eq(cols.mood.default, "'ok'::app.mood")
  T.eq(cols.name.collation, 'pg_catalog."C"')
  T.eq(cols.area.generated, "(w * h)")
  T.eq(users.triggers[1].name, "users_touch")
  local posts = find(model.tables, "posts")
  local kinds = {}
  for _, c in ipairs(posts.constraints) do kinds[c.name] = c end
  T.eq(kinds.posts_user_id_fkey.definition, "FOREIGN KEY (user_id) REFERENCES app.users(id) ON DELETE CASCADE")
  T.eq(kinds.posts_user_id_fkey.references.name, "users")
  T.eq(kinds.posts_title_short.validated, false)
  T.eq(kinds.posts_during_excl.type, "exclusion")
  T.contains(find(posts.indexes, "posts_title_lower").definition, "INCLUDE (id) WHERE (title IS NOT NULL)")
  T.eq(posts.rls, true)
  T.eq(posts.policies[1].command, "SELECT")
  T.eq(posts.grants, { "PUBLIC:SELECT" })
  T.eq(find(model.tables, "events").kind, "partitioned")
  T.eq(find(model.tables, "events_2026").partition_of.name, "events")
  T.eq(find(model.views, "user_posts").depends_on, { "app.posts", "app.users" })
  local mv = find(model.views, "post_counts")
  T.eq({ mv.materialized, mv.indexes[1].name }, { true, "post_counts_user" })
  T.eq(find(model.functions, "touch").returns, "trigger")
  T.eq(find(model.functions, "noop").kind, "procedure")
end)

T.case("inspect is deterministic: twice, and across two databases built alike", function()
  T.eq(schema.inspect(a), model)
  local b <close> = fresh("insp_b")
  T.eq(schema.inspect(b), model)
  T.eq(#schema.diff(model, schema.inspect(b)), 0)
end)

T.case("a column dropped from the middle leaves positions as a fresh table has them", function()
  a:exec "CREATE TABLE public.shifted (a int, gone int, b int); ALTER TABLE public.shifted DROP COLUMN gone"
  a:exec "CREATE TABLE public.fresh (a int, b int)"
  local m = schema.inspect(a, { schemas = { "public" } })
  local shifted, fresh = find(m.tables, "shifted"), find(m.tables, "fresh")
  T.eq(shifted.columns, fresh.columns)
  a:exec "DROP TABLE public.shifted, public.fresh"
end)

T.case("schemas and exclude_schemas filter the model", function()
  local only = schema.inspect(a, { schemas = { "weir_like_state" } })
  T.eq(#only.tables, 1)
  T.eq(#only.enums, 0)
  local without = schema.inspect(a, { exclude_schemas = { "weir_like_state" } })
  T.eq(find(without.schemas, "weir_like_state"), nil)
  T.contains(T.raises(function() schema.inspect(a, { schemas = "app" }) end), "schema.inspect: schemas must be a list of names")
end)

T.case("inside a transaction, inspect leaves the session as it was", function()
  a:exec "BEGIN"
  a:exec "SET LOCAL search_path = app, public"
  a:exec "CREATE TABLE app.in_tx (id int)"
  local m = schema.inspect(a)
  T.ok(find(m.tables, "in_tx"), "sees the transaction's own work")
  T.eq(a:transaction_status(), "open")
  T.eq(a:value "SHOW search_path", "app, public")
  a:exec "ROLLBACK"
end)

T.case("schema.apply inside a transaction refuses a CONCURRENTLY change before running any", function()
  db:exec "DROP SCHEMA IF EXISTS ap CASCADE; CREATE SCHEMA ap; CREATE TABLE ap.t (id int)"
  local from = schema.inspect(db, { schemas = { "ap" } })
  -- the target: built in a transaction, inspected, rolled back
  db:exec "BEGIN"
  db:exec "CREATE TABLE ap.u (id int); CREATE INDEX t_id ON ap.t (id)"
  local to = schema.inspect(db, { schemas = { "ap" } })
  db:exec "ROLLBACK"
  local changes = schema.diff(from, to)
  T.eq(#changes, 2)
  T.eq({ changes[1].kind, changes[1].transaction }, { "create table", true })
  T.eq({ changes[2].kind, changes[2].object, changes[2].transaction }, { "create index", "ap.t.t_id", false })
  T.contains(changes[2].sql, "CREATE INDEX CONCURRENTLY")
  do
    -- a session of its own, so a failure here cannot leave db inside a transaction
    local conn <close> = db:clone()
    conn:exec "BEGIN"
    T.eq(T.raises(schema.apply, conn, changes), "schema.apply: create index (ap.t.t_id) must run outside a " ..
      "transaction block; apply outside db:tx or in a phase with transaction = false")
    T.eq(conn:transaction_status(), "open", "nothing failed inside the transaction")
    T.eq(conn:value "SELECT to_regclass('ap.u')", db.NULL, "the table before the index was not created")
    conn:exec "COMMIT"
    T.contains(T.raises(conn.tx, conn, function() schema.apply(conn, changes) end),
      "schema.apply: create index (ap.t.t_id) must run outside a transaction block")
  end
  T.eq(schema.inspect(db, { schemas = { "ap" } }), from, "the catalog is as before")
  -- outside a transaction the same list applies
  T.eq(schema.apply(db, changes), 2)
  T.eq(#schema.diff(schema.inspect(db, { schemas = { "ap" } }), to), 0)
  db:exec "DROP SCHEMA ap CASCADE"
end)

T.case("bad arguments are one clear error", function()
  T.contains(T.raises(function() schema.diff({}, "x") end), "bad argument #2 to 'diff' (table expected, got string)")
  T.contains(T.raises(function() schema.diff(model, { 1, 2 }) end), "schema.diff: the second argument is not a model")
  T.contains(T.raises(function() schema.inspect({}) end), "bad argument #1 to 'inspect' (weir.Connection expected, got table)")
  local closed = weir.connect((base_url:gsub("/postgres%?", "/insp_a?")))
  closed:close()
  T.contains(T.raises(function() schema.inspect(closed) end), "closed connection")
end)

a:close()
db:exec "DROP DATABASE IF EXISTS insp_a WITH (FORCE)"
db:exec "DROP DATABASE IF EXISTS insp_b WITH (FORCE)"
T.done()
