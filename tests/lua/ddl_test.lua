-- ddl: each safe DDL helper does its job (checked in the catalogs), a second run is a no-op,
-- refusals and misuse say what is wrong at the caller's line, and every helper works inside a
-- transaction without committing it. `db` is in autocommit between cases.
local T = require "testing"

local function filenode(t) return db:value("SELECT pg_relation_filenode($1::regclass)", t) end
local function notnull(t, c)
  return db:value("SELECT attnotnull FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2", t, c)
end
local function coltype(t, c)
  return db:value([[SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                     WHERE attrelid = $1::regclass AND attname = $2 AND NOT attisdropped]], t, c)
end
local function index_valid(name)
  return db:value("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass($1)", name)
end
local function constraint(t, name)
  return db:one([[SELECT contype::text AS type, convalidated AS validated FROM pg_constraint
                   WHERE conrelid = $1::regclass AND conname = $2]], t, name)
end
local function labels(enum)
  return db:value([[SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum
                     WHERE enumtypid = $1::regtype]], enum)
end
local function exists(rel) return db:value("SELECT to_regclass($1) IS NOT NULL", rel) end
local function idle() T.eq(db:transaction_status(), "idle", "no transaction left open") end

-- The message of an error raised by fn, which must be a one-line ddl error at this file's line.
local function refusal(fn)
  local err = T.raises(fn)
  T.eq(type(err), "string", "a message, not an SQL error: " .. tostring(err))
  T.contains(err, "ddl_test.lua:")
  T.not_contains(err, "\n")
  return err
end

db:exec [[
  CREATE TABLE projects (id bigint PRIMARY KEY, name text, owner text, body text);
  INSERT INTO projects SELECT g, 'p' || g, CASE WHEN g % 2 = 0 THEN 'ana' END, 'x' FROM generate_series(1, 100) g;
]]

-- ---------------------------------------------------------------------------------------------
-- Columns

T.case("add_column adds a nullable column, and a second run is a no-op", function()
  T.eq(ddl.add_column(db, "projects", "due", "timestamptz"), true)
  T.eq(coltype("projects", "due"), "timestamp with time zone")
  T.eq(notnull("projects", "due"), false)
  T.eq(ddl.add_column(db, "projects", "due", "timestamp with time zone"), false, "same type, spelled differently")
  T.eq(ddl.add_column(db, "projects", "due", "timestamptz"), false)
end)

T.case("add_column with a constant default and not_null: no rewrite, rows get the default", function()
  local before = filenode("projects")
  T.eq(ddl.add_column(db, "projects", "state", "text", { default = "'draft'", not_null = true }), true)
  T.eq(ddl.add_column(db, "projects", "stamp", "timestamptz", { default = "now()", not_null = true }), true,
    "now() is stable: no rewrite")
  T.eq(ddl.add_column(db, "projects", "weight", "numeric(10,2)", { default = 1.5 }), true)
  T.eq(ddl.add_column(db, "projects", "flagged", "boolean", { default = false, not_null = true }), true)
  T.eq(filenode("projects"), before, "the table was not rewritten")
  T.eq(notnull("projects", "state"), true)
  T.eq(db:value "SELECT count(*) FROM projects WHERE state = 'draft' AND weight = 1.5 AND NOT flagged", 100)
  T.eq(ddl.add_column(db, "projects", "weight", "numeric(10, 2)", { default = 1.5 }), false)
end)

T.case("add_column raises when the column exists with another type", function()
  local err = refusal(function() ddl.add_column(db, "projects", "due", "date") end)
  T.contains(err, "ddl.add_column: column projects.due already exists with type timestamp with time zone, not date")
  err = refusal(function() ddl.add_column(db, "projects", "weight", "numeric(12,2)") end)
  T.contains(err, "numeric(10,2), not numeric(12,2)")
end)

T.case("add_column refuses what would scan or rewrite the table", function()
  local before = filenode("projects")
  local err = refusal(function() ddl.add_column(db, "projects", "code", "text", { not_null = true }) end)
  T.contains(err, "ddl.add_column: NOT NULL without a default")
  T.contains(err, "ACCESS EXCLUSIVE")
  T.contains(err, "ddl.set_not_null")
  err = refusal(function()
    ddl.add_column(db, "projects", "token", "uuid", { default = "gen_random_uuid()", not_null = true })
  end)
  T.contains(err, "the default of projects.token calls volatile gen_random_uuid(): ADD COLUMN would rewrite all of projects")
  err = refusal(function()
    ddl.add_column(db, "projects", "score", "int", { default = "(random() * 10)::int + 1" })
  end)
  T.contains(err, "calls volatile random()")
  db:exec "CREATE DOMAIN positive AS int CHECK (VALUE > 0)"
  err = refusal(function() ddl.add_column(db, "projects", "rank", "positive", { default = 1 }) end)
  T.contains(err, "type positive is a domain with constraints (positive_check)")
  err = refusal(function() ddl.add_column(db, "projects", "seq", "bigserial") end)
  T.contains(err, "the default of projects.seq calls volatile nextval()")
  err = refusal(function() ddl.add_column(db, "projects", "num", "bigint GENERATED ALWAYS AS IDENTITY") end)
  T.contains(err, "projects.num would be an identity column: ADD COLUMN would rewrite all of projects")
  err = refusal(function() ddl.add_column(db, "projects", "twice", "bigint GENERATED ALWAYS AS (id * 2) STORED") end)
  T.contains(err, "projects.twice would be a stored generated column")
  T.contains(refusal(function() ddl.add_column(db, "projects", "code", "text NOT NULL") end),
    "NOT NULL without a default", "NOT NULL written in the type")
  T.eq(filenode("projects"), before)
  T.eq(coltype("projects", "token"), nil, "nothing was added")
  T.eq(db:value "SELECT count(*) FROM pg_class WHERE relname = 'weir_ddl_probe'", 0, "the probe is gone")
  idle()
end)

T.case("add_column with if_not_exists = false lets PostgreSQL refuse a duplicate", function()
  local err = T.raises(function() ddl.add_column(db, "projects", "due", "timestamptz", { if_not_exists = false }) end)
  T.eq(err.sqlstate, "42701")
  T.contains(tostring(err), "ddl_test.lua:", "the SQL error names the caller's line")
end)

T.case("drop_column drops, then is a no-op", function()
  ddl.add_column(db, "projects", "scratch", "int")
  T.eq(ddl.drop_column(db, "projects", "scratch"), true)
  T.eq(coltype("projects", "scratch"), nil)
  T.eq(ddl.drop_column(db, "projects", "scratch"), false)
end)

T.case("rename_column renames, is a no-op once renamed, refuses both and neither", function()
  ddl.add_column(db, "projects", "deadline", "date")
  T.eq(ddl.rename_column(db, "projects", "deadline", "due_on"), true)
  T.eq(coltype("projects", "due_on"), "date")
  T.eq(ddl.rename_column(db, "projects", "deadline", "due_on"), false)
  T.contains(refusal(function() ddl.rename_column(db, "projects", "name", "owner") end),
    "ddl.rename_column: both projects.name and projects.owner exist")
  T.contains(refusal(function() ddl.rename_column(db, "projects", "nope", "nada") end),
    "ddl.rename_column: neither projects.nope nor projects.nada exists")
end)

T.case("quoted and schema-qualified names", function()
  db:exec [[CREATE SCHEMA "Odd Schema"; CREATE TABLE "Odd Schema"."Order Items" (id int)]]
  T.eq(ddl.add_column(db, "Odd Schema.Order Items", "Unit Price", "numeric"), true)
  T.eq(coltype('"Odd Schema"."Order Items"', "Unit Price"), "numeric")
  T.eq(ddl.create_index(db, "Odd Schema.Order Items", { "Unit Price" }, { name = "Prices" }), true)
  T.eq(index_valid('"Odd Schema"."Prices"'), true)
  T.eq(ddl.drop_index(db, "Odd Schema.Prices"), true)
  T.eq(ddl.rename_column(db, "Odd Schema.Order Items", "Unit Price", "price; DROP TABLE projects"), true)
  T.eq(coltype('"Odd Schema"."Order Items"', "price; DROP TABLE projects"), "numeric")
  T.ok(exists "projects")
end)

T.case("misuse raises one line at the caller", function()
  T.contains(refusal(function() ddl.add_column("projects", "x", "int") end),
    "ddl.add_column: argument #1 must be a connection (db), got string")
  T.contains(refusal(function() ddl.add_column(db, "projects", nil, "int") end),
    "ddl.add_column: column must be a non-empty string, got nil")
  T.contains(refusal(function() ddl.add_column(db, "nope", "x", "int") end), "ddl.add_column: table nope does not exist")
  T.contains(refusal(function() ddl.add_column(db, "a.b.c", "x", "int") end), 'table "a.b.c": expected NAME or SCHEMA.NAME')
  T.contains(refusal(function() ddl.add_column(db, "projects", "x", "int", { defualt = 1 }) end),
    "ddl.add_column: unknown option defualt (expected default, if_not_exists, not_null)")
  T.contains(refusal(function() ddl.add_column(db, "projects", "x", "int", { not_null = "yes" }) end),
    "option not_null must be a boolean, got string")
  T.contains(refusal(function() ddl.add_column(db, "projects", ("x"):rep(64), "int") end),
    "is 64 bytes; PostgreSQL names are at most 63")
  T.contains(refusal(function() ddl.create_index(db, "projects", {}) end), "ddl.create_index: columns must be")
  T.contains(refusal(function() ddl.add_foreign_key(db, "projects", { "a", "b" }, "projects", { "id" }) end),
    "2 columns reference 1 ref_columns")
  T.contains(refusal(function() ddl.add_foreign_key(db, "projects", "owner", "projects", "id", { on_delete = "explode" }) end),
    "on_delete must be one of cascade")
  T.contains(refusal(function() ddl.create_index(db, "projects", { { sql = "lower(name)" } }) end),
    "an index on an expression needs opts.name")
  T.contains(refusal(function() ddl.add_column(db, "projects_pkey", "x", "int") end), "projects_pkey is an index, not a table")
end)

-- ---------------------------------------------------------------------------------------------
-- Indexes

T.case("create_index builds concurrently outside a transaction, with the default name, once", function()
  db:trace(true)
  T.eq({ ddl.create_index(db, "projects", { "owner", "name" }) }, { true, "projects_owner_name_idx" })
  local sql = table.concat(db:trace(false), "\n")
  T.contains(sql, 'CREATE INDEX CONCURRENTLY "projects_owner_name_idx" ON "public"."projects" ("owner", "name")')
  T.eq(index_valid("projects_owner_name_idx"), true)
  db:trace(true)
  T.eq({ ddl.create_index(db, "projects", { "owner", "name" }) }, { false, "projects_owner_name_idx" })
  T.not_contains(table.concat(db:trace(false), "\n"), "CREATE INDEX")
  idle()
end)

T.case("create_index options: unique, where, using, include, expressions", function()
  T.eq(ddl.create_index(db, "projects", { "name" }, { unique = true, where = "owner IS NOT NULL",
    include = { "body" }, name = "projects_named" }), true)
  T.eq(ddl.create_index(db, "projects", { { sql = "lower(name)" } }, { name = "projects_lower_name", using = "hash" }), true)
  local def = db:value "SELECT pg_get_indexdef('projects_named'::regclass)"
  T.contains(def, "CREATE UNIQUE INDEX projects_named ON public.projects USING btree (name) INCLUDE (body) WHERE (owner IS NOT NULL)")
  T.contains(db:value "SELECT pg_get_indexdef('projects_lower_name'::regclass)", "USING hash (lower(name))")
end)

T.case("create_index inside a transaction: refused unless concurrently = false; CONCURRENTLY refused", function()
  db:tx(function()
    local plain = refusal(function() ddl.create_index(db, "projects", "body") end)
    T.contains(plain, "ddl.create_index: inside a transaction the index would be built without CONCURRENTLY, " ..
      "under a SHARE lock that blocks every write to projects for the whole build")
    T.contains(plain, "pass concurrently = false")
    T.eq(db:transaction_status(), "open", "the refusal ran no SQL")
    T.eq(db:value "SELECT to_regclass('projects_body_idx')", db.NULL)
    db:trace(true)
    T.eq(ddl.create_index(db, "projects", "body", { concurrently = false }), true)
    T.contains(table.concat(db:trace(false), "\n"), 'CREATE INDEX "projects_body_idx"')
    local err = refusal(function() ddl.create_index(db, "projects", "state", { concurrently = true }) end)
    T.contains(err, "ddl.create_index: CONCURRENTLY cannot run inside a transaction")
    T.contains(err, "transaction = false")
    T.eq(db:transaction_status(), "open", "the refusal ran no SQL")
  end)
  T.eq(index_valid("projects_body_idx"), true)
  T.contains(refusal(function() db:tx(function() ddl.drop_index(db, "projects_body_idx", { concurrently = true }) end) end),
    "ddl.drop_index: CONCURRENTLY cannot run inside a transaction")
end)

T.case("create_index replaces the INVALID leftover of a failed concurrent build", function()
  db:exec "CREATE TABLE emails (id int, email text)"
  db:exec "INSERT INTO emails VALUES (1, 'a@x'), (2, 'a@x'), (3, 'b@x')"
  local err = T.raises(db.exec, db, "CREATE UNIQUE INDEX CONCURRENTLY emails_email_idx ON emails (email)")
  T.eq(err.sqlstate, "23505")
  T.eq(index_valid("emails_email_idx"), false, "the failed build left an INVALID index")
  local old = db:value "SELECT 'emails_email_idx'::regclass::oid"
  db:exec "DELETE FROM emails WHERE id = 2"
  db:trace(true)
  T.eq(ddl.create_index(db, "emails", { "email" }, { unique = true }), true)
  local sql = table.concat(db:trace(false), "\n")
  T.contains(sql, 'DROP INDEX CONCURRENTLY "public"."emails_email_idx"')
  T.eq(index_valid("emails_email_idx"), true)
  T.ok(db:value "SELECT 'emails_email_idx'::regclass::oid" ~= old, "a new index")
  T.eq(db:value "SELECT indisunique FROM pg_index WHERE indexrelid = 'emails_email_idx'::regclass", true)
  T.eq(ddl.create_index(db, "emails", { "email" }, { unique = true }), false)
end)

T.case("a failed concurrent build through create_index leaves no INVALID index behind", function()
  db:exec "CREATE TABLE dupes (v int)"
  db:exec "INSERT INTO dupes VALUES (1), (1)"
  local err = T.raises(function() ddl.create_index(db, "dupes", "v", { unique = true }) end)
  T.eq(err.sqlstate, "23505")
  T.contains(tostring(err), "ddl_test.lua:", "the SQL error names the caller's line")
  T.eq(exists("dupes_v_idx"), false)
  idle()
end)

T.case("create_index refuses a name taken by another table's index or a non-index", function()
  db:exec "CREATE TABLE others (id int)"
  T.contains(refusal(function() ddl.create_index(db, "others", "id", { name = "projects_owner_name_idx" }) end),
    "index public.projects_owner_name_idx exists on another table")
  T.contains(refusal(function() ddl.create_index(db, "others", "id", { name = "projects" }) end),
    "public.projects exists and is a table, not an index")
  T.contains(refusal(function() ddl.create_index(db, "others", "id", { name = "public.x" }) end),
    'index name "public.x" must be a bare name')
end)

T.case("generated names longer than 63 bytes are clipped, kept distinct and UTF-8 whole", function()
  local long = ("é"):rep(20)  -- 40 bytes
  db:exec(("CREATE TABLE %s (%s int, %s int)"):format(db:quote_ident(long), db:quote_ident(long .. "_a"),
    db:quote_ident(long .. "_b")))
  local _, a = ddl.create_index(db, long, { long .. "_a" })
  local _, b = ddl.create_index(db, long, { long .. "_b" })
  T.ok(#a <= 63 and #b <= 63, "at most 63 bytes: " .. #a .. ", " .. #b)
  T.ok(a ~= b, "distinct")
  T.ok(utf8.len(a) and utf8.len(b), "valid UTF-8")
  T.ok(a:match("_idx$"), a)
  T.eq(index_valid(db:quote_ident(a)), true)
  T.eq(ddl.create_index(db, long, { long .. "_a" }), false, "found again under the same name")
end)

T.case("drop_index drops, then is a no-op; refuses a non-index", function()
  ddl.create_index(db, "projects", "state")
  T.eq(ddl.drop_index(db, "projects_state_idx"), true)
  T.eq(exists("projects_state_idx"), false)
  T.eq(ddl.drop_index(db, "projects_state_idx"), false)
  T.contains(refusal(function() ddl.drop_index(db, "projects") end), "ddl.drop_index: projects is a table, not an index")
end)

-- ---------------------------------------------------------------------------------------------
-- Constraints

db:exec [[
  CREATE TABLE owners (name text PRIMARY KEY);
  INSERT INTO owners VALUES ('ana'), ('bo');
  CREATE TABLE tasks (id int PRIMARY KEY, project_id bigint, owner text, points int);
  INSERT INTO tasks SELECT g, g, 'ana', g FROM generate_series(1, 50) g;
]]

T.case("add_foreign_key adds NOT VALID, then validates; a second run is a no-op", function()
  db:trace(true)
  T.eq({ ddl.add_foreign_key(db, "tasks", { "project_id" }, "projects", { "id" }, { on_delete = "cascade" }) },
    { true, "tasks_project_id_fkey" })
  local sql = db:trace(false)
  T.contains(sql[#sql - 1], 'FOREIGN KEY ("project_id") REFERENCES "public"."projects" ("id") ON DELETE CASCADE NOT VALID')
  T.contains(sql[#sql], 'ALTER TABLE "public"."tasks" VALIDATE CONSTRAINT "tasks_project_id_fkey"')
  T.eq(constraint("tasks", "tasks_project_id_fkey"), { type = "f", validated = true })
  T.eq({ ddl.add_foreign_key(db, "tasks", "project_id", "projects", "id") }, { false, "tasks_project_id_fkey" })
end)

T.case("add_foreign_key: validate = false leaves it NOT VALID, the next call validates it", function()
  T.eq(ddl.add_foreign_key(db, "tasks", "owner", "owners", nil, { name = "tasks_owner_fk", validate = false,
    on_update = "set_null" }), true)
  T.eq(constraint("tasks", "tasks_owner_fk"), { type = "f", validated = false })
  T.eq(ddl.add_foreign_key(db, "tasks", "owner", "owners", nil, { name = "tasks_owner_fk", validate = false }), false)
  T.eq(ddl.add_foreign_key(db, "tasks", "owner", "owners", nil, { name = "tasks_owner_fk" }), true)
  T.eq(constraint("tasks", "tasks_owner_fk"), { type = "f", validated = true })
  T.contains(db:value "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'tasks_owner_fk'",
    "REFERENCES owners(name) ON UPDATE SET NULL")
end)

T.case("add_foreign_key: orphans fail validation, and the NOT VALID key still guards new rows", function()
  db:exec "CREATE TABLE notes (id int, task_id int)"
  db:exec "INSERT INTO notes VALUES (1, 1), (2, 999)"
  local err = T.raises(function() ddl.add_foreign_key(db, "notes", "task_id", "tasks", "id") end)
  T.eq(err.sqlstate, "23503")
  T.eq(constraint("notes", "notes_task_id_fkey"), { type = "f", validated = false })
  T.eq(T.raises(db.exec, db, "INSERT INTO notes VALUES (3, 998)").sqlstate, "23503")
  db:exec "DELETE FROM notes WHERE task_id = 999"
  T.eq(ddl.add_foreign_key(db, "notes", "task_id", "tasks", "id"), true, "the re-run validates")
  T.eq(constraint("notes", "notes_task_id_fkey").validated, true)
end)

T.case("add_foreign_key refuses a name held by another kind of constraint", function()
  T.contains(refusal(function() ddl.add_foreign_key(db, "tasks", "owner", "owners", "name", { name = "tasks_pkey" }) end),
    "ddl.add_foreign_key: constraint tasks_pkey on tasks exists and is a primary key, not a foreign key")
end)

T.case("add_check adds NOT VALID then validates; idempotent; validate = false", function()
  T.eq(ddl.add_check(db, "tasks", "tasks_points_positive", "points > 0"), true)
  T.eq(constraint("tasks", "tasks_points_positive"), { type = "c", validated = true })
  T.eq(ddl.add_check(db, "tasks", "tasks_points_positive", "points > 0"), false)
  T.eq(ddl.add_check(db, "tasks", "tasks_points_small", "points < 1000", { validate = false }), true)
  T.eq(constraint("tasks", "tasks_points_small"), { type = "c", validated = false })
  T.eq(ddl.add_check(db, "tasks", "tasks_points_small", "points < 1000"), true)
  T.eq(constraint("tasks", "tasks_points_small").validated, true)
  local err = T.raises(function() ddl.add_check(db, "tasks", "tasks_points_tiny", "points < 10") end)
  T.eq(err.sqlstate, "23514")
  T.contains(refusal(function() ddl.add_check(db, "tasks", "tasks_owner_fk", "true") end),
    "exists and is a foreign key, not a CHECK constraint")
end)

T.case("set_not_null goes through a validated CHECK and leaves only NOT NULL", function()
  db:exec "UPDATE tasks SET points = 1 WHERE points IS NULL"
  db:trace(true)
  T.eq(ddl.set_not_null(db, "tasks", "points"), true)
  local sql = db:trace(false)
  local tail = {}
  for i = #sql - 3, #sql do tail[#tail + 1] = sql[i]:match("^ALTER TABLE %S+ (.*)$") end
  T.eq(tail, {
    'ADD CONSTRAINT "weir_nn_tasks_points_check" CHECK ("points" IS NOT NULL) NOT VALID',
    'VALIDATE CONSTRAINT "weir_nn_tasks_points_check"',
    'ALTER COLUMN "points" SET NOT NULL',
    'DROP CONSTRAINT "weir_nn_tasks_points_check"',
  })
  T.eq(notnull("tasks", "points"), true)
  T.eq(constraint("tasks", "weir_nn_tasks_points_check"), nil)
  T.eq(ddl.set_not_null(db, "tasks", "points"), false)
end)

T.case("set_not_null fails on NULLs and finishes on the re-run after a backfill", function()
  local err = T.raises(function() ddl.set_not_null(db, "projects", "owner") end)
  T.eq(err.sqlstate, "23514")
  T.eq(notnull("projects", "owner"), false)
  T.eq(constraint("projects", "weir_nn_projects_owner_check"), { type = "c", validated = false },
    "the NOT VALID check stays (in autocommit) and guards new rows")
  db:exec "UPDATE projects SET owner = 'bo' WHERE owner IS NULL"
  T.eq(ddl.set_not_null(db, "projects", "owner"), true)
  T.eq(notnull("projects", "owner"), true)
  T.eq(constraint("projects", "weir_nn_projects_owner_check"), nil)
end)

T.case("set_not_null after a crash between SET NOT NULL and dropping the check", function()
  db:exec [[ALTER TABLE projects ALTER COLUMN name SET NOT NULL;
            ALTER TABLE projects ADD CONSTRAINT weir_nn_projects_name_check CHECK (name IS NOT NULL)]]
  T.eq(ddl.set_not_null(db, "projects", "name"), true)
  T.eq(constraint("projects", "weir_nn_projects_name_check"), nil)
  T.eq(ddl.set_not_null(db, "projects", "name"), false)
  T.contains(refusal(function() ddl.set_not_null(db, "projects", "nope") end), "column projects.nope does not exist")
end)

-- ---------------------------------------------------------------------------------------------
-- Enums

T.case("create_enum creates, is a no-op with the same labels, names the difference otherwise", function()
  T.eq(ddl.create_enum(db, "status", { "draft", "active", "done" }), true)
  T.eq(labels("status"), "draft,active,done")
  T.eq(ddl.create_enum(db, "status", { "draft", "active", "done" }), false)
  T.contains(refusal(function() ddl.create_enum(db, "status", { "draft", "active", "done", "archived" }) end),
    "ddl.create_enum: enum public.status exists with labels (draft, active, done), not (draft, active, done, archived): missing archived")
  T.contains(refusal(function() ddl.create_enum(db, "status", { "draft", "done" }) end), "has extra active")
  T.contains(refusal(function() ddl.create_enum(db, "status", { "done", "active", "draft" }) end),
    "same labels in another order")
  T.contains(refusal(function() ddl.create_enum(db, "projects", { "a" }) end), "type public.projects exists and is not an enum")
  T.contains(refusal(function() ddl.create_enum(db, "e", { "a", "a" }) end), 'label "a" is listed twice')
  T.eq(ddl.create_enum(db, "Odd Schema.it's", { "it's", 'say "hi"' }), true)
  T.eq(labels([["Odd Schema"."it's"]]), [[it's,say "hi"]])
end)

T.case("add_enum_value puts the value where asked, once", function()
  T.eq(ddl.add_enum_value(db, "status", "review", { after = "active" }), true)
  T.eq(ddl.add_enum_value(db, "status", "idea", { before = "draft" }), true)
  T.eq(ddl.add_enum_value(db, "status", "archived"), true)
  T.eq(labels("status"), "idea,draft,active,review,done,archived")
  T.eq(ddl.add_enum_value(db, "status", "review", { after = "active" }), false)
  T.contains(refusal(function() ddl.add_enum_value(db, "status", "x", { after = "nope" }) end),
    'ddl.add_enum_value: enum status has no label "nope"')
  T.contains(refusal(function() ddl.add_enum_value(db, "status", "x", { after = "done", before = "idea" }) end),
    "give before or after, not both")
  T.contains(refusal(function() ddl.add_enum_value(db, "nosuch", "x") end), "enum nosuch does not exist")
  T.contains(refusal(function() ddl.add_enum_value(db, "int4", "x") end), "type int4 is not an enum")
end)

T.case("add_enum_value in a transaction: the new value is usable only after COMMIT", function()
  local err = T.raises(db.tx, db, function()
    ddl.add_enum_value(db, "status", "blocked")
    db:value "SELECT 'blocked'::status"
  end)
  T.eq(err.sqlstate, "55P04")
  db:tx(function() ddl.add_enum_value(db, "status", "blocked") end)
  T.eq(db:value "SELECT 'blocked'::status::text", "blocked")
end)

-- ---------------------------------------------------------------------------------------------
-- Views and tables

T.case("create_view creates or replaces; recreate changes the columns; drop_view once", function()
  T.eq(ddl.create_view(db, "project_names", "SELECT id, name FROM projects;\n"), true)
  T.eq(ddl.create_view(db, "project_names", "SELECT id, name, owner FROM projects"), true, "adding a column at the end")
  T.eq(T.raises(function() ddl.create_view(db, "project_names", "SELECT id FROM projects") end).sqlstate, "42P16")
  T.eq(ddl.create_view(db, "project_names", "SELECT id FROM projects", { recreate = true }), true)
  T.eq(db:value "SELECT count(*) FROM pg_attribute WHERE attrelid = 'project_names'::regclass", 1)
  T.contains(refusal(function() ddl.drop_view(db, "projects") end), "ddl.drop_view: projects is a table, not a view")
  T.eq(ddl.drop_view(db, "project_names"), true)
  T.eq(exists("project_names"), false)
  T.eq(ddl.drop_view(db, "project_names"), false)
end)

T.case("rename_table renames, is a no-op once renamed, refuses both and neither", function()
  db:exec "CREATE TABLE drafts (id int); CREATE SCHEMA side; CREATE TABLE side.drafts (id int)"
  T.eq(ddl.rename_table(db, "drafts", "sketches"), true)
  T.ok(exists("sketches") and not exists("public.drafts"))
  T.eq(ddl.rename_table(db, "drafts", "sketches"), false)
  T.eq(ddl.rename_table(db, "side.drafts", "sketches"), true)
  T.ok(exists("side.sketches"))
  T.eq(ddl.rename_table(db, "side.drafts", "sketches"), false)
  T.contains(refusal(function() ddl.rename_table(db, "projects", "tasks") end),
    "ddl.rename_table: both projects and public.tasks exist")
  T.contains(refusal(function() ddl.rename_table(db, "nope", "nada") end), "neither nope nor nada exists")
  T.contains(refusal(function() ddl.rename_table(db, "sketches", "side.other") end), "must be a bare name")
end)

-- ---------------------------------------------------------------------------------------------
-- Moving to another schema

local function setup_planner()
  db:exec [[
    CREATE TYPE plan_state AS ENUM ('open', 'closed');
    CREATE TYPE plan_size AS ENUM ('s', 'm', 'l');
    CREATE TABLE plans (id bigserial PRIMARY KEY, state plan_state NOT NULL DEFAULT 'open',
                        size plan_size, owner text REFERENCES owners (name));
    CREATE TABLE plan_steps (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                             plan_id bigint NOT NULL REFERENCES plans (id), body text,
                             CONSTRAINT plan_steps_body_len CHECK (length(body) < 100));
    CREATE INDEX plan_steps_plan_id_idx ON plan_steps (plan_id);
    INSERT INTO plans (state, size, owner) SELECT 'open', 's', 'ana' FROM generate_series(1, 30);
    INSERT INTO plan_steps (plan_id, body) SELECT 1 + g % 30, 'step' FROM generate_series(1, 90) g;
  ]]
end

-- indexes, constraints and owned sequences of a table, by name
local function shape(schema, t)
  return db:one([[
    SELECT (SELECT string_agg(i.relname, ',' ORDER BY i.relname) FROM pg_index x
              JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid) AS indexes,
           (SELECT string_agg(k.conname || ':' || k.convalidated, ',' ORDER BY k.conname)
              FROM pg_constraint k WHERE k.conrelid = c.oid) AS constraints,
           (SELECT string_agg(s.relnamespace::regnamespace || '.' || s.relname, ',' ORDER BY s.relname)
              FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
             WHERE d.refobjid = c.oid AND d.deptype IN ('a', 'i')) AS sequences
      FROM pg_class c WHERE c.oid = to_regclass($1)]], schema .. "." .. t)
end

T.case("move_to_schema keeps rows, indexes, constraints, FKs and sequences, and re-runs", function()
  setup_planner()
  local objects = { tables = { "plans", "plan_steps" }, enums = { "plan_state", "plan_size" } }
  local before_steps = shape("public", "plan_steps")
  db:trace(true)
  local changed, summary = ddl.move_to_schema(db, objects, "planner")
  local sql = table.concat(db:trace(false), "\n")
  T.eq(changed, true)
  T.eq(summary.schema_created, true)
  T.eq(summary.tables, { "plans", "plan_steps" })
  T.contains(sql, 'CREATE SCHEMA IF NOT EXISTS "planner"')
  T.contains(sql, 'LOCK TABLE "public"."plans", "public"."plan_steps" IN ACCESS EXCLUSIVE MODE')
  T.ok(sql:find("LOCK TABLE", 1, true) < sql:find("SET SCHEMA", 1, true), "locks before moving")
  idle()

  T.ok(exists "planner.plans" and exists "planner.plan_steps" and not exists "public.plans")
  T.eq(db:value "SELECT count(*) FROM planner.plan_steps", 90)
  T.eq(db:value "SELECT to_regtype('planner.plan_state') IS NOT NULL AND to_regtype('public.plan_state') IS NULL", true)
  T.eq(coltype("planner.plans", "state"), "planner.plan_state")
  local after_steps = shape("planner", "plan_steps")
  T.eq(after_steps.indexes, before_steps.indexes)
  T.eq(after_steps.constraints, before_steps.constraints)
  T.eq(after_steps.sequences, "planner.plan_steps_id_seq")
  T.eq(shape("planner", "plans").sequences, "planner.plans_id_seq")
  T.eq(db:value [[SELECT confrelid::regclass::text FROM pg_constraint WHERE conname = 'plans_owner_fkey']], "owners",
    "the FK to a table left in public still points at it")
  -- the moved tables still work together
  db:exec "INSERT INTO planner.plans (size) VALUES ('m')"
  T.eq(T.raises(db.exec, db, "INSERT INTO planner.plan_steps (plan_id) VALUES (12345)").sqlstate, "23503")

  T.eq({ ddl.move_to_schema(db, objects, "planner") }, { false, { tables = {}, enums = {},
    already = { tables = { "plans", "plan_steps" }, enums = { "plan_state", "plan_size" } }, schema_created = false } })
end)

T.case("move_to_schema finishes a partial move, moves back, and refuses missing objects", function()
  db:exec "ALTER TABLE planner.plans SET SCHEMA public"  -- half-way back
  local changed, summary = ddl.move_to_schema(db, { tables = { "plans", "plan_steps" }, enums = { "plan_state" } },
    "public", { from = "planner" })
  T.eq(changed, true)
  T.eq(summary.tables, { "plan_steps" })
  T.eq(summary.already.tables, { "plans" })
  T.ok(exists "public.plan_steps" and exists "public.plans")
  T.eq(db:value "SELECT count(*) FROM plan_steps JOIN plans ON plans.id = plan_steps.plan_id", 90)
  T.contains(refusal(function() ddl.move_to_schema(db, { tables = { "ghost" } }, "planner") end),
    "ddl.move_to_schema: table ghost is in neither public nor planner")
  T.contains(refusal(function() ddl.move_to_schema(db, { enums = { "plan_size" } }, "nowhere") end),
    "enum plan_size is in neither public nor nowhere")
  T.contains(refusal(function() ddl.move_to_schema(db, { views = { "x" } }, "planner") end), "objects: unknown key views")
  T.contains(refusal(function() ddl.move_to_schema(db, { tables = { "public.plans" } }, "planner") end), "must be a bare name")
  db:exec "CREATE TABLE planner.plans (id int)"
  T.contains(refusal(function() ddl.move_to_schema(db, { tables = { "plans" } }, "planner") end),
    "table plans exists in both public and planner")
  db:exec "DROP TABLE planner.plans"
end)

T.case("move_to_schema is all or nothing", function()
  -- a relation of the same name as plans' sequence in the target makes the second move fail
  db:exec "CREATE TABLE planner.plans_id_seq (x int)"
  local err = T.raises(function() ddl.move_to_schema(db, { tables = { "plan_steps", "plans" } }, "planner") end)
  T.eq(err.sqlstate, "42P07")
  T.ok(exists "public.plan_steps" and exists "public.plans", "nothing moved")
  idle()
  db:exec "DROP TABLE planner.plans_id_seq"
end)

-- ---------------------------------------------------------------------------------------------
-- Inside a transactional phase

T.case("every helper runs inside a transaction without ending it, and rolls back with it", function()
  db:exec "CREATE TABLE tx_t (id int PRIMARY KEY, a int, r int)"
  db:exec "INSERT INTO tx_t VALUES (1, 1, 1)"
  local err = T.raises(db.tx, db, function()
    db:trace(true, { forbid_commit = true })
    ddl.add_column(db, "tx_t", "b", "int", { default = 0, not_null = true })
    ddl.add_column(db, "tx_t", "c", "text", { default = "'x'" })
    ddl.rename_column(db, "tx_t", "c", "d")
    ddl.drop_column(db, "tx_t", "d")
    ddl.create_index(db, "tx_t", "a", { concurrently = false })
    ddl.add_foreign_key(db, "tx_t", "r", "tx_t", "id")
    ddl.add_check(db, "tx_t", "tx_t_a_check", "a > 0")
    ddl.set_not_null(db, "tx_t", "a")
    ddl.create_enum(db, "tx_e", { "a" })
    ddl.add_enum_value(db, "tx_e", "b")
    ddl.create_view(db, "tx_v", "SELECT id FROM tx_t", { recreate = true })
    ddl.drop_view(db, "tx_v")
    ddl.drop_index(db, "tx_t_a_idx")
    ddl.rename_table(db, "tx_t", "tx_u")
    ddl.move_to_schema(db, { tables = { "tx_u" }, enums = { "tx_e" } }, "tx_schema")
    T.eq(db:transaction_status(), "open")
    T.ok(exists "tx_schema.tx_u")
    db:trace(false)
    error("roll it all back")
  end)
  T.contains(tostring(err), "roll it all back")
  T.ok(exists "public.tx_t" and not exists "tx_schema.tx_u")
  T.eq(db:value "SELECT to_regnamespace('tx_schema') IS NULL", true)
  T.eq(coltype("tx_t", "b"), nil)
end)

T.done()
