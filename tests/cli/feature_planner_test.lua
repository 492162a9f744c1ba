-- examples/feature-planner-schema (seed 001) end to end: the example's own suite (`weir test`,
-- with the grant role present and the compatibility views on, and without either), the
-- fixture, then weir plan / up / status / down / up of the migration that moves 8 tables and 11
-- enums from public to feature_planner as the README runs them, the compatibility window as
-- the README runs it, `weir test --roundtrip`, and the ways it must fail without leaving
-- anything half-moved.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local test_url = assert(os.getenv "WEIR_TEST_URL")
local src = assert(os.getenv "WEIR_SOURCE_DIR")
local EXAMPLE = src .. "/examples/feature-planner-schema"
local MIGRATIONS = EXAMPLE .. "/migrations"
local ID = "001_feature_planner_schema"
local tmp = shell.tmpdir()
local _

local TABLES = {
  "feature_plans", "feature_refinements", "file_discovery_sessions", "discovered_files",
  "implementation_plan_generations", "plan_steps", "plan_step_templates", "plan_execution_logs",
}
local ENUMS = {
  "complexity", "confidence_level", "estimated_scope", "execution_step", "file_discovery_status",
  "file_priority", "implementation_plan_status", "plan_status", "refinement_status", "risk_level",
  "technical_complexity",
}
local USER_FKS = {
  "discovered_files.discovered_files_added_by_user_id_users_id_fk",
  "feature_plans.feature_plans_user_id_users_id_fk",
  "plan_step_templates.plan_step_templates_user_id_users_id_fk",
}

-- ---------------------------------------------------------------------------------------------
-- Helpers

local ex = require("example").new("feature-planner-schema", "fplan")
local fresh_db = ex.fresh_db
local weir_bin = assert(os.getenv "WEIR")

-- Roles are the cluster's, shared by every suite: this one uses names of its own, one that
-- exists (made here, dropped at the end) and one that does not.
local ROLE = "fplan_role_" .. db:value "SELECT pg_backend_pid()"
local NO_ROLE = ROLE .. "_absent"
db:exec("DROP ROLE IF EXISTS " .. ROLE)
db:exec("CREATE ROLE " .. ROLE .. " NOLOGIN")

-- `weir ARGS` from the example's directory (weir.lua read) against `url`, the grant role absent
-- unless `env` says otherwise; with `dir`, the migrations of that directory instead.
local function run_weir(url, args, dir, env)
  return sh("cd " .. q(EXAMPLE) .. " && DATABASE_URL=" .. q(url) .. " FP_GRANT_ROLE=" .. NO_ROLE .. " " .. (env or "") ..
    " " .. q(weir_bin) .. " " .. args .. (dir and (" --dir " .. q(dir)) or ""))
end
local function load_fixture(url) return run_weir(url, "run fixture.lua") end

local function strip_schemas(s)
  return (s:gsub("feature_planner%.", ""):gsub("public%.", ""))
end

-- How many of the 8 tables and of the 11 enums are in `schema`.
local function placed(conn, schema)
  return conn:value([[SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace($1)
                       AND relkind = 'r' AND relname = ANY ($2::text[])]], schema, db.array(TABLES)),
    conn:value([[SELECT count(*) FROM pg_type WHERE typnamespace = to_regnamespace($1)
                  AND typtype = 'e' AND typname = ANY ($2::text[])]], schema, db.array(ENUMS))
end

-- Everything about the feature planner's objects in `schema` that a move must preserve, with
-- schema names taken out so the same database before and after compares equal: per table its
-- row count and an md5 of all its rows, its columns and types, every index and constraint
-- with its definition, owned sequences; every enum with its labels.
local function snapshot(conn, schema)
  local s = { rows = {}, md5 = {}, columns = {}, indexes = {}, constraints = {}, sequences = {}, enums = {} }
  for _, t in ipairs(TABLES) do
    local rel = schema .. "." .. t
    s.rows[t] = conn:value("SELECT count(*) FROM " .. rel)
    s.md5[t] = conn:value("SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM " .. rel .. " t")
  end
  local function list(key, sql)
    for _, r in ipairs(conn:query(sql, schema, db.array(TABLES))) do
      s[key][#s[key] + 1] = strip_schemas(r.item)
    end
  end
  list("columns", [[
    SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) ||
           CASE WHEN a.attnotnull THEN ' not null' ELSE '' END ||
           coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') ||
           CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END AS item
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relnamespace = to_regnamespace($1) AND c.relname = ANY ($2::text[])
       AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1]])
  list("indexes", [[
    SELECT c.relname || '.' || i.relname || ': ' || pg_get_indexdef(i.oid) AS item
      FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
     WHERE c.relnamespace = to_regnamespace($1) AND c.relname = ANY ($2::text[]) ORDER BY 1]])
  list("constraints", [[
    SELECT c.relname || '.' || k.conname || ': ' || pg_get_constraintdef(k.oid) ||
           CASE WHEN k.convalidated THEN '' ELSE ' NOT VALID' END AS item
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
     WHERE c.relnamespace = to_regnamespace($1) AND c.relname = ANY ($2::text[]) ORDER BY 1]])
  list("sequences", [[
    SELECT c.relname || ' owns ' || s.relname || CASE WHEN s.relnamespace = c.relnamespace THEN '' ELSE ' (elsewhere)' END AS item
      FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
      JOIN pg_class c ON c.oid = d.refobjid
     WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
       AND c.relnamespace = to_regnamespace($1) AND c.relname = ANY ($2::text[]) ORDER BY 1]])
  for _, r in ipairs(conn:query([[
    SELECT t.typname::text AS name, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS labels
      FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
     WHERE t.typnamespace = to_regnamespace($1) AND t.typname = ANY ($2::text[]) GROUP BY 1]],
    schema, db.array(ENUMS))) do
    s.enums[r.name] = r.labels
  end
  return s
end

-- Fails naming only what differs between two snapshots (they are long).
local function same_snapshot(actual, expected, what)
  local diffs = {}
  for _, key in ipairs { "rows", "md5", "enums" } do
    for k, v in pairs(expected[key]) do
      if actual[key][k] ~= v then diffs[#diffs + 1] = ("%s.%s: expected %s, got %s"):format(key, k, v, tostring(actual[key][k])) end
    end
    for k, v in pairs(actual[key]) do
      if expected[key][k] == nil then diffs[#diffs + 1] = ("%s.%s: unexpected %s"):format(key, k, v) end
    end
  end
  for _, key in ipairs { "columns", "indexes", "constraints", "sequences" } do
    local e, a = {}, {}
    for _, v in ipairs(expected[key]) do e[v] = true end
    for _, v in ipairs(actual[key]) do a[v] = true end
    for _, v in ipairs(expected[key]) do if not a[v] then diffs[#diffs + 1] = key .. " missing: " .. v end end
    for _, v in ipairs(actual[key]) do if not e[v] then diffs[#diffs + 1] = key .. " unexpected: " .. v end end
  end
  if #diffs > 0 then error((what and (what .. ": ") or "") .. table.concat(diffs, "\n"), 2) end
end

-- Runs fn inside a transaction that is always rolled back.
local function rolled_back(conn, fn)
  conn:exec "BEGIN"
  local ok, err = pcall(fn)
  conn:exec "ROLLBACK"
  if not ok then error(err, 0) end
end

local function phase_state(conn, ph)
  return conn:value("SELECT state FROM weir.phases WHERE migration = $1 AND phase = $2", ID, ph)
end

-- A copy of the migration with `extra` Lua inserted at the end of move's up (after the
-- tables were moved), to show that verify notices a move that went wrong.
local function broken_migration(name, extra)
  local dir = tmp .. "/" .. name
  assert(os.execute("mkdir -p " .. q(dir)))
  local text = assert(io.open(MIGRATIONS .. "/" .. ID .. ".lua")):read("a")
  local anchor = 'print(("moved %d enums'
  local at = assert(text:find(anchor, 1, true), "the migration's move summary line is gone: update this test")
  text = text:sub(1, at - 1) .. extra .. "\n      " .. text:sub(at)
  local f = assert(io.open(dir .. "/" .. ID .. ".lua", "w"))
  f:write(text)
  f:close()
  return dir
end

-- ---------------------------------------------------------------------------------------------
-- The example's own suite, both ways.

for _, c in ipairs {
  { "with the grant role and the compatibility views", "FP_GRANT_ROLE=" .. ROLE .. " FP_COMPAT_VIEWS=on" },
  { "without the grant role, the compatibility views off", "FP_COMPAT_VIEWS=off" },
} do
  T.case("the example's own suite passes with `weir test`, " .. c[1], function()
    local rc, _, err = run_weir(select(1, fresh_db()), "test", nil, c[2])
    T.eq(rc, 0, err)
    T.contains(err, "ok   tests/move_test.lua: seed 001 › the compatibility window")
    T.contains(err, "8 passed, 0 failed")
  end)
end

-- ---------------------------------------------------------------------------------------------
-- The main path, on the suite's own database: fixture, up, status, down, up.

local before  -- snapshot of public right after the fixture

T.case("the fixture builds the pre-move database in public, deterministically, and refuses to run twice", function()
  local rc, out, err = load_fixture(test_url)
  T.eq(rc, 0, err)
  T.contains(out, "fixture loaded into public: users 40, feature_plans 120")
  T.eq({ placed(db, "public") }, { 8, 11 })
  T.eq(db:value "SELECT to_regnamespace('feature_planner')", db.NULL)
  before = snapshot(db, "public")
  for _, t in ipairs(TABLES) do
    T.ok(before.rows[t] >= 30 and before.rows[t] <= 500, t .. " has a few dozen to a few hundred rows")
  end
  T.eq(db:value [[SELECT string_agg(c.relname || '.' || k.conname, ',' ORDER BY c.relname) FROM pg_constraint k
                    JOIN pg_class c ON c.oid = k.conrelid WHERE k.confrelid = 'public.users'::regclass]],
    table.concat(USER_FKS, ","))
  T.eq(db:value [[SELECT array_agg(typname::text ORDER BY typname) FROM pg_type
                   WHERE typnamespace = 'public'::regnamespace AND typtype = 'e']], ENUMS)
  T.eq(before.enums.plan_status, "draft,refining,discovering,planning,completed,failed,cancelled")
  T.eq(before.enums.technical_complexity, "high,medium,low")
  -- the things the fixture promises: a partial index, a unique index, identity and serial columns
  T.contains(table.concat(before.indexes, "\n"), "feature_plans.feature_plans_in_flight_idx: CREATE INDEX")
  T.contains(table.concat(before.indexes, "\n"), "WHERE (status <> ALL")
  T.contains(table.concat(before.indexes, "\n"), "discovered_files.discovered_files_session_path_unique: CREATE UNIQUE INDEX")
  T.contains(table.concat(before.columns, "\n"), "discovered_files.id bigint not null identity a")
  T.contains(table.concat(before.sequences, "\n"), "plan_steps owns plan_steps_id_seq")
  T.contains(table.concat(before.sequences, "\n"), "plan_execution_logs owns plan_execution_logs_id_seq")

  local rc2, _, err2 = load_fixture(test_url)
  T.eq(rc2, 1)
  T.contains(err2, "fixture: refusing to run: 20 objects already exist (public.feature_plans")
  same_snapshot(snapshot(db, "public"), before, "the refused second run changed nothing")

  -- a second database gets exactly the same rows
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  T.eq(snapshot(conn, "public").md5, before.md5)
end)

T.case("plan shows each phase's statements, locks and renames, and changes nothing", function()
  local dump = shell.pg_dump(test_url)
  local rc, out, err = run_weir(test_url, "plan")
  T.eq(rc, 0, err)
  T.contains(out, "6 pending phases")
  T.contains(out, "── " .. ID .. ":move  (transactional: run on the target, then rolled back)")
  T.contains(out, "LOCK TABLE public.feature_plans, public.feature_refinements")
  T.contains(out, [[ALTER TYPE "public"."complexity" SET SCHEMA "feature_planner"]])
  T.contains(out, [[ALTER TABLE "public"."plan_execution_logs" SET SCHEMA "feature_planner"]])
  T.contains(out, "renames:   table public.discovered_files → feature_planner.discovered_files")
  T.contains(out, "(and 25 indexes and 3 sequences with their tables)")
  T.ok(out:find("AccessExclusiveLock%s+public.feature_plans — blocks reads and writes"), out)
  T.ok(out:find("AccessShareLock%s+public.plan_steps — conflicts only with ACCESS EXCLUSIVE"), "census only reads")
  T.not_contains(out, "public.users —")  -- the FK target is never locked
  local _, rewrites = out:gsub("rewrites:  none", "")
  T.eq(rewrites, 6, "SET SCHEMA rewrites nothing")
  T.contains(out, "`weir up` would succeed; the target was not changed")
  T.eq({ placed(db, "public") }, { 8, 11 })
  T.ok(shell.pg_dump(test_url) == dump, "pg_dump of the target differs after plan")
end)

T.case("up moves the 8 tables and 11 enums with their data, indexes, constraints and sequences", function()
  local rc, out, err = run_weir(test_url, "up")
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":census done")
  T.contains(err, ID .. ":move done")
  T.contains(err, ID .. ":grants done")
  T.contains(err, ID .. ":drop_compat done")
  T.contains(out, "moved 11 enums and 8 tables (1701 rows) to feature_planner")
  T.contains(out, "no role " .. NO_ROLE .. ": nothing to grant")
  T.contains(out, "compat: compat_views is off: no views")
  T.eq(db:value "SELECT count(*) FROM information_schema.schemata WHERE schema_name = 'feature_planner'", 1)
  T.eq({ placed(db, "feature_planner") }, { 8, 11 })
  T.eq({ placed(db, "public") }, { 0, 0 })
  -- same rows, same md5 of every row, same columns, indexes, constraints (names and
  -- definitions), owned sequences and enum labels
  same_snapshot(snapshot(db, "feature_planner"), before)
  -- the 3 foreign keys to public.users are held by the moved tables …
  T.eq(db:value [[SELECT string_agg(c.relname || '.' || k.conname, ',' ORDER BY c.relname) FROM pg_constraint k
                    JOIN pg_class c ON c.oid = k.conrelid
                   WHERE k.confrelid = 'public.users'::regclass AND c.relnamespace = 'feature_planner'::regnamespace
                     AND k.convalidated]],
    table.concat(USER_FKS, ","))
  -- … and enforced
  local unknown = "00000000-0000-0000-0000-000000000000"
  for _, stmt in ipairs {
    "INSERT INTO feature_planner.feature_plans (user_id, original_request) VALUES ($1, 'x')",
    "INSERT INTO feature_planner.plan_step_templates (user_id, name, category, title) VALUES ($1, 'n', 'c', 't')",
    [[INSERT INTO feature_planner.discovered_files (discovery_session_id, file_path, priority, relevance_score,
        is_manually_added, added_by_user_id)
      SELECT id, 'x.ts', 'low', 1, true, $1 FROM feature_planner.file_discovery_sessions LIMIT 1]],
  } do
    local e = T.raises(db.exec, db, stmt, unknown)
    T.eq(e.sqlstate, "23503", stmt)
  end
  -- ON DELETE CASCADE still reaches across the schemas
  local victim = db:value [[
    SELECT u.id FROM public.users u
     WHERE EXISTS (SELECT 1 FROM feature_planner.feature_plans p WHERE p.user_id = u.id)
       AND NOT EXISTS (SELECT 1 FROM feature_planner.discovered_files f WHERE f.added_by_user_id = u.id)
     ORDER BY u.id LIMIT 1]]
  rolled_back(db, function()
    db:exec("DELETE FROM public.users WHERE id = $1", victim)
    T.eq(db:value("SELECT count(*) FROM feature_planner.feature_plans WHERE user_id = $1", victim), 0)
  end)
  -- enum-typed columns use feature_planner's types; nothing refers to public's any more
  T.eq(db:value [[SELECT count(*) FROM information_schema.columns
                   WHERE table_schema = 'feature_planner' AND data_type = 'USER-DEFINED'
                     AND udt_schema <> 'feature_planner']], 0)
  T.eq(db:value [[SELECT count(DISTINCT udt_name) FROM information_schema.columns
                   WHERE table_schema = 'feature_planner' AND data_type = 'USER-DEFINED']], 11)
  T.eq(db:value "SELECT pg_typeof(status)::text FROM feature_planner.feature_plans LIMIT 1", "feature_planner.plan_status")
  -- serial and identity sequences moved with their tables and continue where they were
  -- (the failed discovered_files insert above already drew one identity value)
  rolled_back(db, function()
    T.eq(db:value [[INSERT INTO feature_planner.plan_steps (plan_generation_id, step_number, title)
                    SELECT id, 99, 't' FROM feature_planner.implementation_plan_generations LIMIT 1 RETURNING id]],
      before.rows.plan_steps + 1)
    T.ok(db:value [[INSERT INTO feature_planner.discovered_files (discovery_session_id, file_path, priority, relevance_score)
                    SELECT id, 'y.ts', 'low', 1 FROM feature_planner.file_discovery_sessions LIMIT 1 RETURNING id]]
      > before.rows.discovered_files, "the identity sequence continues after the last fixture row")
  end)
  -- the unqualified names are gone from the default search_path: the application must qualify
  T.eq(db:value "SELECT to_regclass('feature_plans')", db.NULL)
  -- what each phase recorded
  T.eq(db:value("SELECT value->'census'->'tables'->'plan_steps'->'rows' FROM weir.checkpoints WHERE key = $1",
    ID .. "/move/before"), before.rows.plan_steps)
  T.eq(db:value("SELECT value->'schema_created' FROM weir.checkpoints WHERE key = $1", ID .. "/move/before"), true)
end)

T.case("status shows the six phases done", function()
  local rc, out = run_weir(test_url, "status")
  T.eq(rc, 0)
  T.contains(out, "applied  " .. ID)
  T.contains(out, "done         census")
  T.contains(out, "done         move")
  T.contains(out, "done         grants")
  local rc2, js = run_weir(test_url, "status --json")
  T.eq(rc2, 0)
  local st = json.decode(js)
  local states = {}
  for _, p in ipairs(st.migrations[1].phases) do states[#states + 1] = p.name .. "=" .. p.state end
  T.eq(states, { "census=done", "move=done", "performance=done", "grants=done", "compat=done", "drop_compat=done" })
end)

T.case("down refuses to drop a schema that holds something else, and changes nothing", function()
  db:exec "CREATE TABLE feature_planner.someone_elses (x int)"
  local ok, err = pcall(function()
    local rc, _, e = run_weir(test_url, "down " .. ID)
    T.eq(rc, 1)
    T.contains(e, ID .. ":move: down failed:")
    T.contains(e, "2BP01 cannot drop schema feature_planner because other objects depend on it")
    T.contains(e, "in: DROP SCHEMA feature_planner")
    T.eq({ placed(db, "feature_planner") }, { 8, 11 }, "the rollback of move was undone entirely")
    T.eq({ placed(db, "public") }, { 0, 0 })
    T.eq(phase_state(db, "move"), "done")
    same_snapshot(snapshot(db, "feature_planner"), before)
  end)
  db:exec "DROP TABLE feature_planner.someone_elses"
  if not ok then error(err, 0) end
end)

T.case("down moves everything back to public and drops the schema", function()
  local rc, out, err = run_weir(test_url, "down " .. ID)
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":move rolled back")
  T.contains(err, ID .. ":census rolled back")
  T.contains(out, "moved 8 tables (1701 rows) and 11 enums back to public")
  T.eq(db:value "SELECT to_regnamespace('feature_planner')", db.NULL)
  T.eq({ placed(db, "public") }, { 8, 11 })
  same_snapshot(snapshot(db, "public"), before)
  for _, ph in ipairs { "census", "move", "performance", "grants", "compat", "drop_compat" } do
    T.eq(phase_state(db, ph), "rolled_back", ph)
  end
  T.eq(db:value("SELECT count(*) FROM weir.checkpoints WHERE key LIKE $1", ID .. "/%"), 0)
  local _, st = run_weir(test_url, "status")
  T.contains(st, "pending  " .. ID)
end)

T.case("up again succeeds and the data is intact", function()
  local rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 0, err)
  T.eq({ placed(db, "feature_planner") }, { 8, 11 })
  T.eq({ placed(db, "public") }, { 0, 0 })
  same_snapshot(snapshot(db, "feature_planner"), before)
  local rc2, _, err2 = run_weir(test_url, "up")
  T.eq(rc2, 0)
  T.contains(err2, "nothing to do")
end)

-- ---------------------------------------------------------------------------------------------
-- Failures: each on a database of its own, loaded with the same fixture.

T.case("a name already taken in feature_planner stops the census before anything is locked or moved", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  conn:exec "CREATE SCHEMA feature_planner; CREATE TABLE feature_planner.feature_plans (x int)"
  conn:exec "CREATE TABLE feature_planner.plan_steps_pkey (x int)"  -- an index name of a moved table
  conn:exec "CREATE TYPE feature_planner.risk_level AS (x int)"      -- an enum's name
  conn:exec "CREATE TYPE feature_planner.plan_steps AS ENUM ('x')"  -- a moved table's row type
  local rc, _, err = run_weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, ID .. ":census: up failed: verify failed:")
  T.contains(err, "table feature_planner.feature_plans still exists")
  T.contains(err, "feature_planner already holds feature_plans, plan_steps_pkey, risk_level, type _plan_steps, type plan_steps\n")
  T.eq(phase_state(conn, "census"), "failed")
  T.eq(phase_state(conn, "move"), nil, "move never started")
  T.eq({ placed(conn, "public") }, { 8, 11 })
  same_snapshot(snapshot(conn, "public"), before)
end)

T.case("a table appearing in feature_planner after the census stops move before anything moves", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  local rc, _, err = run_weir(url, "up --to " .. ID .. ":census")
  T.eq(rc, 0, err)
  -- the last table the move would reach: ddl.move_to_schema looks at every object first
  conn:exec "CREATE SCHEMA feature_planner; CREATE TABLE feature_planner.plan_execution_logs (x int)"
  rc, _, err = run_weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, ID .. ":move: up failed:")
  T.contains(err, "ddl.move_to_schema: table plan_execution_logs exists in both public and feature_planner")
  T.eq(phase_state(conn, "move"), "failed")
  T.contains(conn:value("SELECT error FROM weir.phases WHERE migration = $1 AND phase = 'move'", ID), "exists in both")
  T.eq({ placed(conn, "public") }, { 8, 11 }, "nothing was half-moved")
  T.eq({ placed(conn, "feature_planner") }, { 1, 0 }, "only the stray table is in feature_planner")
  T.eq(conn:value "SELECT count(*) FROM feature_planner.plan_execution_logs", 0)
  same_snapshot(snapshot(conn, "public"), before)
  T.eq(conn:value("SELECT count(*) FROM weir.checkpoints WHERE key LIKE $1", ID .. "/move/%"), 0)
  -- once the stray table is gone, up completes; the schema existed before, so down keeps it
  conn:exec "DROP TABLE feature_planner.plan_execution_logs"
  rc, _, err = run_weir(url, "up")
  T.eq(rc, 0, err)
  same_snapshot(snapshot(conn, "feature_planner"), before)
  rc, _, err = run_weir(url, "down " .. ID)
  T.eq(rc, 0, err)
  T.eq({ placed(conn, "public") }, { 8, 11 })
  T.eq(conn:value "SELECT count(*) FROM pg_namespace WHERE nspname = 'feature_planner'", 1,
    "a schema that existed before up survives down")
end)

T.case("rows written between census and move are moved too: move counts under its own locks", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  T.eq((run_weir(url, "up --to " .. ID .. ":census")), 0)
  conn:exec [[INSERT INTO public.plan_execution_logs (plan_id, step)
              SELECT id, 'refinement' FROM public.feature_plans ORDER BY id LIMIT 5]]
  local rc, _, err = run_weir(url, "up")
  T.eq(rc, 0, err)
  T.eq(conn:value "SELECT count(*) FROM feature_planner.plan_execution_logs", before.rows.plan_execution_logs + 5)
end)

T.case("verify catches a move that lost an index, a row, an enum or a foreign key", function()
  local cases = {
    { "lost_index", 'db:exec "DROP INDEX feature_planner.feature_plans_status_idx"',
      "verify failed: feature_plans: index feature_plans_status_idx is gone after the move" },
    { "lost_row", 'db:exec "DELETE FROM feature_planner.plan_steps WHERE id = 1"',
      "verify failed: plan_steps: 450 rows before, 449 after the move" },
    { "enum_left", 'db:exec "ALTER TYPE feature_planner.risk_level SET SCHEMA public"',
      "verify failed: enum feature_planner.risk_level does not exist; enum public.risk_level still exists" },
    { "lost_fk", 'db:exec "ALTER TABLE feature_planner.discovered_files DROP CONSTRAINT discovered_files_added_by_user_id_users_id_fk"',
      "constraint discovered_files_added_by_user_id_users_id_fk is gone after the move" },
    { "moved_users_too", 'db:exec "ALTER TABLE public.users SET SCHEMA feature_planner"',
      "verify failed: table public.users no longer exists" },
  }
  for _, c in ipairs(cases) do
    local url, conn <close> = fresh_db()
    T.eq((load_fixture(url)), 0)
    local rc, _, err = run_weir(url, "up", broken_migration(c[1], c[2]))
    T.eq(rc, 1, c[1])
    T.contains(err, ID .. ":move: up failed: ", c[1])
    T.contains(err, c[3], c[1])
    T.eq({ placed(conn, "public") }, { 8, 11 }, c[1] .. ": rolled back")
    same_snapshot(snapshot(conn, "public"), before, c[1] .. ": rolled back")
  end
end)

T.case("performance fails when a query no longer uses the indexes it used before the move", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  local rc, _, err = run_weir(url, "up --to " .. ID .. ":move")
  T.eq(rc, 0, err)
  conn:exec "DROP INDEX feature_planner.feature_refinements_plan_id_idx"
  rc, _, err = run_weir(url, "up --to " .. ID .. ":performance")
  T.eq(rc, 1, err)
  -- (which index takes the dropped one's place is the planner's choice)
  T.contains(err, ID .. ":performance: up failed: verify failed: completed_with_refinements uses ")
  T.contains(err, " after the move, feature_plans_status_idx, feature_refinements_plan_id_idx before:")
  T.eq(phase_state(conn, "performance") ~= "done", true)
end)

-- The README's compatibility window: views up, the application writes through them, the flag
-- off, `weir up` again drops them.
T.case("the README's compatibility window: up stops before drop_compat until the flag is off", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  local env = "FP_COMPAT_VIEWS=on FP_GRANT_ROLE=" .. ROLE
  local rc, out, err = run_weir(url, "up", nil, env)
  T.eq(rc, 1)
  T.contains(out, "granted ALL on schema feature_planner, its tables and sequences to " .. ROLE)
  T.contains(out, "compat: 8 views in public over feature_planner")
  T.contains(err, ID .. ":drop_compat cannot run: requires feature flag 'feature_planner_compat_views' to be off")
  T.eq(conn:value "SELECT count(*) FROM information_schema.views WHERE table_schema = 'public' AND is_insertable_into = 'YES'", 8)
  conn:exec "INSERT INTO public.plan_step_templates (name, category, title) VALUES ('compat', 'docs', 'through the view')"
  T.eq(conn:value "SELECT count(*) FROM feature_planner.plan_step_templates WHERE name = 'compat'", 1)
  rc, _, err = run_weir(url, [[run -e 'flags.disable(db, "feature_planner_compat_views")']], nil, env)
  T.eq(rc, 0, err)
  rc, out, err = run_weir(url, "up", nil, env)
  T.eq(rc, 0, err)
  T.contains(out, "drop_compat: dropped the views in public")
  T.eq(conn:value "SELECT count(*) FROM pg_class WHERE relkind = 'v' AND relnamespace = 'public'::regnamespace", 0)
  rc, _, err = run_weir(url, "down " .. ID, nil, env)
  T.eq(rc, 0, err)
  T.eq({ placed(conn, "public") }, { 8, 11 })
  T.eq(conn:value("SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE a.grantee = to_regrole($1)", ROLE), 0,
    "down took back every grant")
end)

T.case("weir test --roundtrip passes from the README, on a fresh database and after an up and a down", function()
  local url = fresh_db()
  local rc, _, err = run_weir(url, "test --roundtrip")
  T.eq(rc, 0, err)
  T.contains(err, "starting from what fixture.lua builds")
  T.contains(err, "ok   " .. ID .. ": up, verify, down restores the schema")
  local url2, conn2 <close> = fresh_db()
  T.eq((load_fixture(url2)), 0)
  T.eq((run_weir(url2, "up")), 0)
  T.eq((run_weir(url2, "down " .. ID)), 0)
  local before = shell.pg_dump(url2)
  rc, _, err = run_weir(url2, "test --roundtrip")
  T.eq(rc, 0, err)
  T.contains(err, "1 passed, 0 failed")
  T.eq(shell.pg_dump(url2), before, "the database itself is only read")
end)

ex.drop_databases()
db:exec("DROP ROLE IF EXISTS " .. ROLE)
shell.cleanup()
T.done()
