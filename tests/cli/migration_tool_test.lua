-- examples/migration-tool-tables (seed 004) end to end, as its README runs it: the fixture,
-- `weir plan`, `weir up`, the listed tables' constraints, unique keys and partial unique index
-- against the real database, `weir down` restoring the inspected schema exactly, the failures
-- that must leave nothing behind, events written by several processes at once, and the
-- example's own `weir test` suites (tests/ in the example: the job system, RLS as Supabase's
-- roles, triggers, maintenance, flags), which run from here.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local weir_bin = assert(os.getenv "WEIR")
local test_url = assert(os.getenv "WEIR_TEST_URL")
local src = assert(os.getenv "WEIR_SOURCE_DIR")
local EXAMPLE = src .. "/examples/migration-tool-tables"
local MIGRATIONS = EXAMPLE .. "/migrations"
local M1 = "001_migration_retries_links"
local M2 = "002_migration_events_idempotency"
local M3 = "003_migration_projects_budgets"
local M4 = "004_migration_job_hygiene"
local M5 = "005_events_seq_triggers"
local M6 = "006_analytics_enterprise_verification"
local M7 = "007_maintenance"
local M8 = "008_rollout_flags"
local PHASES = { M1 .. ":pgcrypto", M1 .. ":tables", M2 .. ":tables", M3 .. ":columns", M3 .. ":validate", M3 .. ":dedupe_index",
  M4 .. ":columns", M4 .. ":validate", M4 .. ":tables", M4 .. ":functions", M5 .. ":seq_from_id", M5 .. ":updated_at",
  M5 .. ":budget_trigger", M6 .. ":analytics", M6 .. ":enterprise", M6 .. ":verification", M7 .. ":functions",
  M7 .. ":schedule", M8 .. ":flags", M8 .. ":canary_health" }
local NEW_TABLES = { "migration_retries", "migration_project_links", "migration_events", "migration_idempotency",
  "migration_job_dlq", "migration_tracking_context", "migration_retry_reasons", "migration_analytics_events",
  "migration_user_feedback", "migration_performance_metrics", "organization_migration_config",
  "organization_migration_customization", "bulk_migration_jobs", "migration_verification_attempts",
  "migration_domain_providers" }
local INDEX = "idx_migration_projects_normalized_url_active"
local tmp = shell.tmpdir()

-- Fixture ids (md5-derived, as fixture.lua makes them).
local function uid(n) return db:value("SELECT md5('user-' || $1::int)::uuid::text", n) end
local function mp(n) return db:value("SELECT md5('mp-' || $1::int)::uuid::text", n) end
local function project(n) return db:value("SELECT md5('project-' || $1::int)::uuid::text", n) end

-- ---------------------------------------------------------------------------------------------
-- Helpers

local ex = require("example").new("migration-tool-tables", "mtool")
local run_weir, fresh_db = ex.weir, ex.fresh_db
local function load_fixture(url, args) return ex.script(url, "fixture.lua", args) end

-- The schema as weir's inspector sees it, without weir's own state.
local function inspect(conn) return require("example").inspect(conn or db) end

-- Fails listing every change when `schema.diff(a, b)` is not empty.
local function same_schema(a, b, what)
  local changes = schema.diff(a, b)
  local lines = {}
  for i, c in ipairs(changes) do
    lines[i] = ("  %s %s: %s"):format(c.kind, c.object, c.sql)
  end
  T.eq(#changes, 0, (what or "schema differs") .. ":\n" .. table.concat(lines, "\n"))
end

local function phase_state(conn, id)
  local mig, ph = id:match("^(.-):(.*)$")
  return conn:value("SELECT state FROM weir.phases WHERE migration = $1 AND phase = $2", mig, ph)
end

local function states(conn)
  local out = {}
  for i, id in ipairs(PHASES) do out[i] = id .. "=" .. tostring(phase_state(conn, id)) end
  return out
end

local function all(state)
  local out = {}
  for i, id in ipairs(PHASES) do out[i] = id .. "=" .. state end
  return out
end

-- Runs fn inside a transaction that is always rolled back.
local function rolled_back(conn, fn)
  conn:exec "BEGIN"
  local ok, err = pcall(fn)
  conn:exec "ROLLBACK"
  if not ok then error(err, 0) end
end

-- Inside a transaction: runs the statement in a savepoint, expects it to fail with `state`,
-- and rolls back to the savepoint so the transaction goes on. Returns the error.
local function rejects(conn, state, sql, ...)
  conn:exec "SAVEPOINT expect_error"
  local ok, err = pcall(conn.exec, conn, sql, ...)
  conn:exec "ROLLBACK TO SAVEPOINT expect_error"
  if ok then error(("expected %s, but it succeeded: %s"):format(state, sql), 2) end
  if type(err) ~= "table" or err.sqlstate ~= state then
    error(("expected %s, got %s: %s"):format(state, type(err) == "table" and err.sqlstate or "?", tostring(err)), 2)
  end
  return err
end

local function index_state(conn)
  return conn:one([[SELECT x.indisvalid AS valid, x.indisunique AS unique FROM pg_index x
                     WHERE x.indexrelid = to_regclass($1)]], "public." .. INDEX)
end

local function count_new_tables(conn)
  return conn:value("SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname = ANY ($1::text[])",
    db.array(NEW_TABLES))
end

-- A copy of the migrations directory in which `file` has `extra` Lua inserted right before
-- the first occurrence of `anchor` — to show that verify notices when up did the wrong thing.
local function broken_migrations(name, file, anchor, extra)
  local dir = tmp .. "/" .. name
  assert(os.execute("mkdir -p " .. q(dir) .. " && cp " .. q(MIGRATIONS) .. "/*.lua " .. q(dir)))
  local text = assert(io.open(dir .. "/" .. file)):read("a")
  local at = assert(text:find(anchor, 1, true), file .. ": anchor " .. anchor .. " is gone: update this test")
  text = text:sub(1, at - 1) .. extra .. "\n      " .. text:sub(at)
  local f = assert(io.open(dir .. "/" .. file, "w"))
  f:write(text)
  f:close()
  return dir
end

-- ---------------------------------------------------------------------------------------------
-- The main path, on the suite's own database.

local before      -- inspected schema right after the fixture
local filenodes   -- the files of migration_projects and migration_jobs before up (a rewrite would change them)

local function files(conn)
  return conn:value [[SELECT pg_relation_filenode('public.migration_projects') || ',' || pg_relation_filenode('public.migration_jobs')]]
end

T.case("the fixture builds the pre-migration database and refuses to run twice", function()
  local rc, out, err = load_fixture(test_url)
  T.eq(rc, 0, err)
  T.contains(out, "fixture loaded: auth.users 6, organizations 3, projects 8, migration_projects 32 (17 active), migration_jobs 72")
  before = inspect()
  filenodes = files(db)
  local names = {}
  for _, t in ipairs(before.tables) do names[#names + 1] = t.schema .. "." .. t.name end
  T.eq(names, { "auth.users", "public.migration_jobs", "public.migration_projects", "public.organizations", "public.projects" })
  -- Supabase's roles, which the cluster keeps (service_role bypasses RLS, as on Supabase)
  T.eq(db:value [[SELECT string_agg(rolname || ':' || rolbypassrls, ',' ORDER BY rolname) FROM pg_roles
                   WHERE rolname IN ('anon', 'authenticated', 'service_role')]],
    "anon:false,authenticated:false,service_role:true")
  T.eq(count_new_tables(db), 0)
  -- the fixture has what the dedupe index must allow: the same URL for two users while both
  -- are active, and an earlier, finished attempt of an active one by the same user
  T.eq(db:value [[SELECT count(*) FROM (SELECT normalized_source_url FROM migration_projects
                   WHERE status IN ('analyzing', 'questionnaire', 'processing') AND normalized_source_url IS NOT NULL
                   GROUP BY 1 HAVING count(DISTINCT user_id) > 1) s]] > 0, true)
  T.eq(db:value("SELECT count(*) FROM migration_projects WHERE user_id = $1::uuid AND normalized_source_url = 'site1.example.com'",
    uid(2)), 2)
  local rc2, _, err2 = load_fixture(test_url)
  T.eq(rc2, 1)
  T.contains(err2, "fixture: refusing to run: 8 objects already exist (auth.users, public.organizations, public.projects")
  same_schema(before, inspect(), "the refused second run changed the schema")
  -- its one argument, and nothing else
  local url, conn <close> = fresh_db()
  local rc3, out3 = load_fixture(url, "without-organizations")
  T.eq(rc3, 0)
  T.contains(out3, "fixture loaded: auth.users 6, no organizations table, projects 8")
  T.eq(conn:value "SELECT to_regclass('public.organizations')", db.NULL)
  local url4 = fresh_db()
  local rc4, _, err4 = load_fixture(url4, "with-everything")
  T.eq(rc4, 1)
  T.contains(err4, 'fixture: unknown argument "with-everything" (the one argument it takes: without-organizations)')
end)

T.case("plan shows the twenty phases with their SQL, locks and no rewrite, and changes nothing", function()
  local dump = shell.pg_dump(test_url)
  local rc, out, err = run_weir(test_url, "plan")
  T.eq(rc, 0, err)
  T.contains(out, "20 pending phases")
  -- up to the concurrent index build on the target (rolled back); from it on, on a schema-only copy
  local copy = false
  for _, id in ipairs(PHASES) do
    local kind
    if id:find("dedupe_index", 1, true) then
      kind, copy = "(non-transactional: run on a schema-only copy in a throwaway cluster)", true
    elseif copy then
      kind = "(transactional, after a non-transactional phase: run on the schema-only copy)"
    else
      kind = "(transactional: run on the target, then rolled back)"
    end
    T.contains(out, "── " .. id .. "  " .. kind)
  end
  T.contains(out, "CREATE TABLE public.migration_job_dlq (")
  T.contains(out, "CREATE TRIGGER migration_projects_budget_near_limit")
  T.ok(out:find("AccessExclusiveLock%s+public.migration_jobs — blocks reads and writes"), out)
  T.ok(out:find("ShareRowExclusiveLock%s+public.organizations — blocks writes"), out)
  T.contains(out, "CREATE TABLE public.migration_events (")
  T.contains(out, "bigint GENERATED ALWAYS AS IDENTITY")
  T.contains(out, "CREATE POLICY migration_idempotency_service_access ON public.migration_idempotency")
  T.contains(out, "ADD CONSTRAINT ck_budget_hierarchy CHECK (soft_budget_seconds <= hard_budget_seconds) NOT VALID")
  T.contains(out, "ALTER TABLE public.migration_projects VALIDATE CONSTRAINT ck_budget_hierarchy")
  T.contains(out, "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS " .. INDEX)
  T.contains(out, "sequence public.migration_events_id_seq")
  -- the new tables' FKs block writes to the referenced tables (not reads) while 001/002 run
  T.ok(out:find("ShareRowExclusiveLock%s+public.migration_projects — blocks writes"), out)
  -- columns: a brief ACCESS EXCLUSIVE; validate and the index build: SHARE UPDATE EXCLUSIVE
  T.ok(out:find("AccessExclusiveLock%s+public.migration_projects — blocks reads and writes"), out)
  T.ok(out:find("ShareUpdateExclusiveLock%s+public.migration_projects — blocks DDL"), out)
  local _, none = out:gsub("rewrites:  none", "")
  T.eq(none, 20, "no phase rewrites a table")
  T.contains(out, "`weir up` would succeed; the target was not changed")
  T.eq(count_new_tables(db), 0)
  T.ok(shell.pg_dump(test_url) == dump, "pg_dump of the target differs after plan")
end)

local after_up  -- inspected schema after the first up

T.case("up runs the twenty phases; every verify passes; migration_projects and migration_jobs are not rewritten", function()
  local rc, out, err = run_weir(test_url, "up")
  T.eq(rc, 0, err .. out)
  for _, id in ipairs(PHASES) do T.contains(err, id .. " done") end
  T.contains(out, "pgcrypto: gen_random_uuid() is built in since PostgreSQL 13")
  T.contains(out, "organizations exists: organization_id references organizations(id) in 3 tables")
  T.contains(out, "pg_cron is not installed in this database: nothing scheduled")
  T.contains(out, "migration_project_creation (10 %)")
  T.eq(states(db), all("done"))
  T.eq(count_new_tables(db), #NEW_TABLES)
  T.eq(files(db), filenodes, "no table rewrite")
  T.eq(db:one "SELECT count(*) AS n, sum(attempts) AS attempts, count(last_error) AS errors FROM migration_jobs",
    { n = 72, attempts = 0, errors = 0 })
  -- existing rows got the defaults, and the CHECKs are validated
  T.eq(db:one [[SELECT count(*) AS n, sum(ai_time_consumed_seconds) AS consumed, sum(retry_count) AS retries,
                      min(soft_budget_seconds) AS soft, max(hard_budget_seconds) AS hard,
                      count(*) FILTER (WHERE tool_contract_version = '1.0.0') AS versioned,
                      count(*) FILTER (WHERE model_version = 'claude-3-5-sonnet-20241022') AS modelled
                 FROM migration_projects]],
    { n = 32, consumed = 0, retries = 0, soft = 1800, hard = 3600, versioned = 32, modelled = 32 })
  T.eq(db:value [[SELECT string_agg(conname || '=' || convalidated, ',' ORDER BY conname) FROM pg_constraint
                   WHERE conrelid = 'public.migration_projects'::regclass AND conname LIKE 'ck\_%']],
    "ck_ai_estimate_nonneg=true,ck_ai_time_nonneg=true,ck_budget_hierarchy=true,ck_budget_positive=true,ck_retry_nonneg=true")
  T.eq(index_state(db), { valid = true, unique = true })

  -- what the inspector sees: the diff from the fixture's schema is exactly the seed's objects
  after_up = inspect()
  local changes = schema.diff(before, after_up)
  local seen = {}
  for _, c in ipairs(changes) do seen[#seen + 1] = c.kind .. " " .. c.object end
  local text = table.concat(seen, "\n")
  for _, t in ipairs(NEW_TABLES) do T.contains(text, "create table public." .. t) end
  T.contains(text, "public.migration_projects.retry_count")
  T.contains(text, "public.migration_projects.ck_budget_hierarchy")
  T.contains(text, "create index public.migration_projects." .. INDEX)
  T.contains(text, "public.migration_events.migration_events_user_access")
  T.contains(text, "public.migration_jobs.attempts")
  T.contains(text, "create function public.set_updated_at()")
  local events
  for _, t in ipairs(after_up.tables) do if t.name == "migration_events" then events = t end end
  T.ok(events and events.rls, "migration_events has RLS enabled")
  T.eq(events.columns[1].name, "id")
  T.eq(events.columns[1].identity, "always")
  T.eq(events.columns[1].type, "bigint")
  T.eq(#events.policies, 1)
end)

T.case("status shows every phase done", function()
  local rc, js = run_weir(test_url, "status --json")
  T.eq(rc, 0)
  local got = {}
  for _, m in ipairs(json.decode(js).migrations) do
    for _, p in ipairs(m.phases) do got[#got + 1] = m.id .. ":" .. p.name .. "=" .. p.state end
  end
  T.eq(got, all("done"))
end)

T.case("the CHECK constraints reject bad rows (23514) and accept good ones", function()
  rolled_back(db, function()
    local p = mp(1)
    -- migration_retries.retry_reason
    rejects(db, "23514", "INSERT INTO migration_retries (migration_project_id, retry_reason) VALUES ($1, 'bored')", p)
    T.eq(db:exec("INSERT INTO migration_retries (migration_project_id, retry_reason, initiated_by) VALUES ($1, 'tool_timeout', $2)",
      p, uid(2)), 1)
    -- migration_events.type
    rejects(db, "23514", [[INSERT INTO migration_events (migration_project_id, seq, type, payload) VALUES ($1, 1, 'progress', '{}')]], p)
    T.eq(db:exec([[INSERT INTO migration_events (migration_project_id, seq, type, payload) VALUES ($1, 1, 'phase_update', '{}')]], p), 1)
    -- migration_idempotency.status
    rejects(db, "23514", [[INSERT INTO migration_idempotency (idempotency_key, request_fingerprint, response_payload, status)
                           VALUES ('k', 'f', '{}', 42)]])
    T.eq(db:exec([[INSERT INTO migration_idempotency (idempotency_key, request_fingerprint, response_payload, status)
                   VALUES ('k', 'f', '{}', 202)]]), 1)
    -- the five CHECKs the later ALTERs put on migration_projects, each by name
    for _, c in ipairs {
      { "ck_ai_time_nonneg", "ai_time_consumed_seconds = -1" },
      { "ck_ai_estimate_nonneg", "estimated_ai_time_seconds = -5" },
      { "ck_retry_nonneg", "retry_count = -1" },
      { "ck_budget_positive", "soft_budget_seconds = 0" },
      { "ck_budget_hierarchy", "soft_budget_seconds = 4000" },
    } do
      local e = rejects(db, "23514", "UPDATE migration_projects SET " .. c[2] .. " WHERE id = $1", p)
      T.contains(e.message, c[1], c[2])
    end
    -- NOT NULL on the new counters (a NULL would pass every CHECK)
    rejects(db, "23502", "UPDATE migration_projects SET retry_count = NULL WHERE id = $1", p)
    T.eq(db:exec([[UPDATE migration_projects SET retry_count = retry_count + 1, last_retry_at = now(),
                   ai_time_consumed_seconds = 120, estimated_ai_time_seconds = 900,
                   soft_budget_seconds = 600, hard_budget_seconds = 600, run_seed = 42, prompt_hash = 'abc'
                   WHERE id = $1]], p), 1)
    -- the pre-existing CHECK of migration 088 is untouched
    rejects(db, "23514", "UPDATE migration_projects SET progress = 101 WHERE id = $1", p)
    -- foreign keys of the new tables
    local nobody = "00000000-0000-0000-0000-000000000000"
    rejects(db, "23503", "INSERT INTO migration_retries (migration_project_id, retry_reason) VALUES ($1, 'tool_timeout')", nobody)
    rejects(db, "23503", "INSERT INTO migration_project_links (migration_project_id, target_project_id) VALUES ($1, $2)", p, nobody)
    rejects(db, "23503", "INSERT INTO migration_events (migration_project_id, seq, type, payload) VALUES ($1, 9, 'log', '{}')", nobody)
  end)
end)

T.case("unique keys: (migration_project_id, seq), the idempotency key, the link, the identity id", function()
  rolled_back(db, function()
    local a, b = mp(1), mp(2)
    -- seq comes from id (005): writers leave it out, and a value they give is replaced
    local ins = "INSERT INTO migration_events (migration_project_id, seq, type, payload) VALUES ($1, $2, 'log', '{}') RETURNING id, seq"
    for _, r in ipairs { db:one(ins, a, 1), db:one(ins, a, 1), db:one(ins, b, 1) } do T.eq(r.seq, r.id) end
    -- the key still holds for a row changed afterwards
    local e = rejects(db, "23505", [[UPDATE migration_events SET seq = (SELECT min(seq) FROM migration_events)
                                     WHERE migration_project_id = $1 AND seq > (SELECT min(seq) FROM migration_events)]], a)
    T.contains(e.message, "migration_events_project_seq_key")
    -- id is GENERATED ALWAYS: a client cannot supply its own
    rejects(db, "428C9", "INSERT INTO migration_events (id, migration_project_id, type, payload) VALUES (1000, $1, 'log', '{}')", a)
    -- the SSE backfill query uses the cursor index
    db:exec "SET LOCAL enable_seqscan = off"
    local plan = {}
    for _, r in ipairs(db:query([[EXPLAIN (COSTS OFF) SELECT * FROM migration_events
                                  WHERE migration_project_id = $1 AND id > 1 ORDER BY id]], a)) do
      plan[#plan + 1] = r["QUERY PLAN"]
    end
    plan = table.concat(plan, "\n")
    T.contains(plan, "idx_migration_events_project_id_cursor")
    -- idempotency keys
    local key = [[INSERT INTO migration_idempotency (idempotency_key, request_fingerprint, response_payload, status)
                  VALUES ($1, 'sha256:abc', '{"job_id": 7}', 200)]]
    T.eq(db:exec(key, "retry-123"), 1)
    e = rejects(db, "23505", key, "retry-123")
    T.contains(e.message, "migration_idempotency_pkey")
    T.eq(db:exec(key, "retry-124"), 1)
    -- one link per (migration, project): the UPSERT of the seed's project creation works
    local link = [[INSERT INTO migration_project_links (migration_project_id, target_project_id) VALUES ($1, $2)
                   ON CONFLICT (migration_project_id, target_project_id) DO NOTHING]]
    T.eq(db:exec(link, a, project(1)), 1)
    T.eq(db:exec(link, a, project(1)), 0)
    rejects(db, "23505", "INSERT INTO migration_project_links (migration_project_id, target_project_id) VALUES ($1, $2)", a, project(1))
  end)
end)

T.case("the partial unique index: one active migration per user and URL, finished ones and other users free", function()
  rolled_back(db, function()
    local ins = [[INSERT INTO migration_projects (user_id, source_url, normalized_source_url, status)
                  VALUES ($1, 'https://x', $2, $3)]]
    -- user 2 already has an active migration of site1 (mp-1, analyzing): another active one is refused …
    T.eq(db:value("SELECT status FROM migration_projects WHERE id = $1", mp(1)), "analyzing")
    for _, status in ipairs { "analyzing", "questionnaire", "processing" } do
      local e = rejects(db, "23505", ins, uid(2), "site1.example.com", status)
      T.contains(e.message, INDEX)
    end
    -- … a finished one is not, however many …
    for _, status in ipairs { "completed", "failed", "cancelled", "completed" } do
      T.eq(db:exec(ins, uid(2), "site1.example.com", status), 1, status)
    end
    -- … nor another user's active migration of the same site (per-user dedupe) …
    T.eq(db:exec(ins, uid(5), "site1.example.com", "processing"), 1)
    -- … nor rows whose URL is not normalized yet
    T.eq(db:exec(ins, uid(2), db.NULL, "analyzing"), 1)
    T.eq(db:exec(ins, uid(2), db.NULL, "analyzing"), 1)
    -- reactivating a finished attempt while another is active is refused; once the active one
    -- finishes, a new one may start
    local old = db:value("SELECT md5('mp-old-1')::uuid::text")
    rejects(db, "23505", "UPDATE migration_projects SET status = 'processing' WHERE id = $1", old)
    T.eq(db:exec("UPDATE migration_projects SET status = 'completed', progress = 100 WHERE id = $1", mp(1)), 1)
    T.eq(db:exec(ins, uid(2), "site1.example.com", "analyzing"), 1)
  end)
end)

-- RLS of every table, as Supabase's roles: the example's tests/rls_test.lua (run below by `weir test`).

T.case("down to the start restores the inspected schema exactly", function()
  local rc, out, err = run_weir(test_url, "down " .. M1)
  T.eq(rc, 0, err)
  for i = #PHASES, 1, -1 do T.contains(err, PHASES[i] .. " rolled back") end
  T.contains(out, "dropped migration_idempotency (0 rows) and migration_events (0 rows)")
  T.eq(states(db), all("rolled_back"))
  T.eq(count_new_tables(db), 0)
  local now = inspect()
  same_schema(before, now, "after down")
  T.eq(now, before, "the inspected model itself is identical")
  T.eq(db:value "SELECT count(*) FROM migration_projects", 32)
end)

T.case("up again; down of validate alone leaves the CHECKs NOT VALID, as after columns", function()
  local rc, _, err = run_weir(test_url, "up --to " .. M3 .. ":columns")
  T.eq(rc, 0, err)
  local after_columns = inspect()
  T.eq(db:value [[SELECT bool_or(convalidated) FROM pg_constraint
                   WHERE conrelid = 'public.migration_projects'::regclass AND conname LIKE 'ck\_%']], false)
  rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 0, err)
  T.eq(states(db), all("done"))
  same_schema(after_up, inspect(), "the second up built the same schema as the first")
  rc, _, err = run_weir(test_url, "down " .. M3 .. ":validate")
  T.eq(rc, 0, err)
  T.contains(err, M3 .. ":dedupe_index rolled back")
  T.contains(err, M3 .. ":validate rolled back")
  T.eq(phase_state(db, M3 .. ":columns"), "done")
  T.eq(index_state(db), nil)
  same_schema(after_columns, inspect(), "down of validate and dedupe_index")
  -- and everything once more, down to the start and up
  rc, _, err = run_weir(test_url, "down " .. M1)
  T.eq(rc, 0, err)
  same_schema(before, inspect(), "after the second down")
  rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 0, err)
  T.eq(states(db), all("done"))
  local rc2, _, err2 = run_weir(test_url, "up")
  T.eq(rc2, 0)
  T.contains(err2, "nothing to do")
end)

T.case("events written by several processes at once: no error, no wait on each other, seq = id, in order per migration", function()
  local before_rows = db:value "SELECT count(*) FROM migration_events"
  -- four `weir run` writers, each event in its own transaction, none supplying seq
  local writer = shell.write(tmp .. "/writer.lua", [[
local n, who = tonumber(arg[1]), arg[2]
for i = 1, n do
  db:exec("INSERT INTO migration_events (migration_project_id, type, payload) VALUES (md5('mp-' || $1::int)::uuid, 'log', $2)",
    1 + i % 3, db.json { writer = who, i = i })
end
print(who .. " wrote " .. n)
]])
  local cmd = "(pids=''; for w in 1 2 3 4; do " .. q(weir_bin) .. " run --db " .. q(test_url) .. " " .. q(writer) ..
    " 250 w$w > " .. q(tmp) .. "/writer_out.$w 2>&1 & pids=\"$pids $!\"; done; rc=0; for p in $pids; do wait $p || rc=1; done; " ..
    "cat " .. q(tmp) .. "/writer_out.*; exit $rc)"
  local rc, out = sh(cmd)
  T.eq(rc, 0, out)
  for w = 1, 4 do T.contains(out, "w" .. w .. " wrote 250") end
  -- and pgbench: 8 clients, 100 inserts each
  local bench = shell.write(tmp .. "/insert.sql", [[
\set p random(1, 3)
INSERT INTO migration_events (migration_project_id, type, payload) VALUES (md5('mp-' || :p)::uuid, 'log', '{}');
]])
  local rc2, out2, err2 = sh("bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); \"$bindir/pgbench\" -n -c 8 -j 2 -t 100 -f " ..
    q(bench) .. " " .. q(test_url))
  T.eq(rc2, 0, out2 .. err2)
  T.contains(out2, "number of failed transactions: 0")
  local r = db:one [[SELECT count(*) AS n, count(*) FILTER (WHERE seq = id) AS seq_is_id, count(DISTINCT (migration_project_id, seq)) AS keys
                       FROM migration_events]]
  T.eq(r.n - before_rows, 1800)
  T.eq(r.seq_is_id, r.n)
  T.eq(r.keys, r.n)
  -- per migration, the deprecated seq and the id cursor order the events alike
  T.eq(db:value [[SELECT bool_and(a) FROM (SELECT array_agg(id ORDER BY id) = array_agg(id ORDER BY seq) AS a
                                              FROM migration_events GROUP BY migration_project_id) s]], true)
end)

-- ---------------------------------------------------------------------------------------------
-- Failures: each on a database of its own, loaded with the same fixture.

T.case("active duplicates stop the dedupe index before it is built; once resolved, up completes", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  -- a second active migration of site1 for user 2 (what the index exists to prevent)
  conn:exec([[INSERT INTO migration_projects (id, user_id, source_url, normalized_source_url, status)
              VALUES ('00000000-0000-0000-0000-00000000d0b1', $1, 'https://site1.example.com', 'site1.example.com', 'processing')]],
    uid(2))
  local rc, _, err = run_weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, M3 .. ":dedupe_index: up failed:")
  T.contains(err, "cannot build " .. INDEX .. ": active migrations duplicate (user_id, normalized_source_url): user "
    .. uid(2) .. " has 2 active migrations of site1.example.com")
  local want = {}
  for i, id in ipairs(PHASES) do want[i] = id .. "=" .. (i < 6 and "done" or i == 6 and "failed" or "nil") end
  T.eq(states(conn), want, "up stopped at the index; nothing after it ran")
  T.eq(index_state(conn), nil, "no index left behind")
  -- resolve it the way the application would: cancel the extra attempt
  conn:exec "UPDATE migration_projects SET status = 'cancelled' WHERE id = '00000000-0000-0000-0000-00000000d0b1'"
  rc, _, err = run_weir(url, "up")
  T.eq(rc, 0, err)
  T.eq(states(conn), all("done"))
  T.eq(index_state(conn), { valid = true, unique = true })
end)

T.case("an INVALID leftover of an interrupted build is replaced, not accepted", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  local rc, _, err = run_weir(url, "up --to " .. M3 .. ":validate")
  T.eq(rc, 0, err)
  -- what a crashed concurrent build leaves: an INVALID index of the same name (here, one
  -- whose build failed on a duplicate that is then resolved)
  conn:exec([[INSERT INTO migration_projects (id, user_id, source_url, normalized_source_url, status)
              VALUES ('00000000-0000-0000-0000-00000000d0b2', $1, 'https://x', 'site1.example.com', 'analyzing')]], uid(2))
  local e = T.raises(conn.exec, conn, [[CREATE UNIQUE INDEX CONCURRENTLY ]] .. INDEX ..
    [[ ON migration_projects (user_id, normalized_source_url) WHERE status IN ('analyzing', 'questionnaire', 'processing')]])
  T.eq(e.sqlstate, "23505")
  T.eq(index_state(conn), { valid = false, unique = true })
  conn:exec "DELETE FROM migration_projects WHERE id = '00000000-0000-0000-0000-00000000d0b2'"
  rc, _, err = run_weir(url, "up")
  T.eq(rc, 0, err)
  T.eq(index_state(conn), { valid = true, unique = true })
  T.eq(phase_state(conn, M3 .. ":dedupe_index"), "done")
end)

T.case("verify catches tables that came out wrong, and the phase is rolled back whole", function()
  local cases = {
    { "rls_off", M2 .. ".lua", "    end,\n\n    verify = function(db)",
      'db:exec "ALTER TABLE public.migration_idempotency DISABLE ROW LEVEL SECURITY"',
      M2 .. ":tables: up failed: verify failed: public.migration_idempotency: row-level security is not enabled" },
    { "no_policy", M2 .. ".lua", "    end,\n\n    verify = function(db)",
      'db:exec "DROP POLICY migration_events_user_access ON public.migration_events"',
      "public.migration_events: no policy migration_events_user_access" },
    { "int_seq", M2 .. ".lua", "    end,\n\n    verify = function(db)",
      'db:exec "ALTER TABLE public.migration_events ALTER COLUMN seq TYPE integer"',
      'public.migration_events: no column "seq bigint not null"; public.migration_events: unexpected column "seq integer not null"' },
    { "check_lost", M1 .. ".lua", "    end,\n\n    verify = function(db)",
      'db:exec "ALTER TABLE public.migration_retries DROP CONSTRAINT migration_retries_retry_reason_check"',
      M1 .. ":tables: up failed: verify failed: public.migration_retries: no constraint migration_retries_retry_reason_check" },
    { "nullable_counter", M3 .. ".lua", "    end,\n    verify = function(db)\n      local problems = column_problems(db)",
      'db:exec "ALTER TABLE public.migration_projects ALTER COLUMN retry_count DROP NOT NULL"',
      M3 .. ":columns: up failed: verify failed: public.migration_projects: retry_count is nullable, expected NOT NULL" },
  }
  for _, c in ipairs(cases) do
    local name, file, anchor, extra, message = table.unpack(c)
    local url, conn <close> = fresh_db()
    T.eq((load_fixture(url)), 0)
    local fixture_schema = inspect(conn)
    local rc, _, err = run_weir(url, "up", broken_migrations(name, file, anchor, extra))
    T.eq(rc, 1, name)
    T.contains(err, message, name)
    local failed = file:sub(1, 3) == "001" and PHASES[2] or file:sub(1, 3) == "002" and PHASES[3] or PHASES[4]
    T.eq(phase_state(conn, failed), "failed", name)
    -- the failed phase left nothing: roll back what came before it, and the schema is the fixture's
    local rc2, _, err2 = run_weir(url, "down " .. M1, tmp .. "/" .. name)
    T.eq(rc2, 0, name .. ": " .. err2)
    same_schema(fixture_schema, inspect(conn), name .. ": rolled back")
  end
end)

T.case("weir lint finds nothing in the eight migrations (linted against the fixture's schema)", function()
  local has_lint = sh(q(weir_bin) .. " lint --help") == 0
  if not has_lint then
    print("       (skipped: this weir has no lint command)")
    return
  end
  -- the migrations alter tables the fixture creates: lint them on a copy of that schema
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  local paths = {}
  for i, file in ipairs { M1, M2, M3, M4, M5, M6, M7, M8 } do paths[i] = q(MIGRATIONS .. "/" .. file .. ".lua") end
  local rc, out, err = sh(q(weir_bin) .. " lint --db " .. q(url) .. " " .. table.concat(paths, " "))
  T.eq(rc, 0, out .. err)
  T.eq(out, "")
end)

ex.drop_databases()
shell.cleanup()
T.done()
