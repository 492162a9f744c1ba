-- examples/v3-consolidation (seed 002) end to end: the fixture, then weir up (backup, merge,
-- drop), the seed's validation, an idempotent second merge, down restoring tables and data
-- exactly, `weir test --roundtrip`, and the ways it must refuse or fail.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local test_url = assert(os.getenv "WEIR_TEST_URL")
local src = assert(os.getenv "WEIR_SOURCE_DIR")
local EXAMPLE = src .. "/examples/v3-consolidation"
local MIGRATIONS = EXAMPLE .. "/migrations"
local ID = "001_v3_consolidation"
local tmp = shell.tmpdir()

local V3 = { "v3_data_imports", "v3_discovery_flows", "v3_field_mappings", "v3_raw_import_records" }
local DEPRECATED = { "workflow_states", "discovery_assets", "mapping_learning_patterns",
  "data_quality_issues", "workflow_progress", "import_processing_steps" }
local REQUIRED = { "client_accounts", "users", "engagements", "crewai_flow_state_extensions",
  "discovery_flows", "assets", "data_imports", "import_field_mappings" }

local ex = require("example").new("v3-consolidation", "v3c")
local run_weir, fresh_db = ex.weir, ex.fresh_db
local function load_fixture(url) return ex.script(url, "fixture.lua") end

-- Every base table in public → md5 of all its rows; every sequence in public → position.
local function data(conn)
  local s = {}
  for _, r in ipairs(conn:query [[SELECT c.relname::text AS t, c.relkind::text AS k FROM pg_class c
                                   WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'S')]]) do
    if r.k == "r" then
      s[r.t] = conn:value(("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM public.%s t")
        :format(r.t))
    else
      s[r.t] = conn:value(("SELECT last_value || ':' || is_called FROM public.%s"):format(r.t))
    end
  end
  return s
end

local model = require("example").inspect

local function same_schema(conn, before, what)
  local changes = schema.diff(model(conn), before)
  if #changes > 0 then error(what .. ": schema differs; to restore it:\n" .. schema.script(changes), 2) end
end

local function count(conn, rel) return conn:value("SELECT count(*) FROM " .. rel) end
local function exists(conn, rel) return conn:value("SELECT to_regclass($1) IS NOT NULL", rel) end
local function phase_state(conn, ph)
  return conn:value("SELECT state FROM weir.phases WHERE migration = $1 AND phase = $2", ID, ph)
end

-- The seed's validate_consolidated_schema.py, as plain queries (independent of the migration's verify).
local function seed_validation(conn)
  T.eq(conn:value [[SELECT count(*) FROM information_schema.tables
                     WHERE table_schema = 'public' AND table_name LIKE 'v3\_%']], 0, "no v3 tables")
  for _, t in ipairs(REQUIRED) do T.ok(exists(conn, "public." .. t), "required table " .. t) end
  for _, t in ipairs(DEPRECATED) do T.ok(not exists(conn, "public." .. t), "deprecated table " .. t .. " gone") end
  T.eq(conn:value [[SELECT string_agg(table_name::text, ',' ORDER BY table_name) FROM information_schema.columns
                     WHERE table_schema = 'public' AND column_name = 'master_flow_id'
                       AND table_name IN ('discovery_flows', 'assets', 'data_imports')]],
    "assets,data_imports,discovery_flows")
  T.eq(conn:value [[SELECT count(*) FROM information_schema.columns
                     WHERE table_schema = 'public' AND column_name = 'is_mock']], 0, "no is_mock")
end

-- A copy of the migration with one substring replaced (the first occurrence).
local function broken_migration(name, from, to)
  local dir = tmp .. "/" .. name
  assert(os.execute("mkdir -p " .. q(dir)))
  local text = assert(io.open(MIGRATIONS .. "/" .. ID .. ".lua")):read("a")
  local at = assert(text:find(from, 1, true), "not in the migration any more: " .. from)
  text = text:sub(1, at - 1) .. to .. text:sub(at + #from)
  local f = assert(io.open(dir .. "/" .. ID .. ".lua", "w"))
  f:write(text)
  f:close()
  return dir
end

-- The seed's first INSERT, verbatim (what someone running migrate_v3_data.py would have done).
local SEED_IMPORTS_INSERT = [[
  INSERT INTO data_imports (
      id, client_account_id, engagement_id, master_flow_id,
      filename, file_size, mime_type, source_system,
      status, import_name, import_type, description,
      error_message, error_details, progress_percentage,
      total_records, processed_records, failed_records,
      imported_by, created_at, updated_at, started_at, completed_at)
  SELECT id, client_account_id, engagement_id, master_flow_id,
      source_filename, file_size_bytes, file_type, source_system,
      status, import_name, import_type, description,
      error_message, error_details, progress_percentage,
      total_records, processed_records, failed_records,
      user_id, created_at, updated_at, started_at, completed_at
  FROM v3_data_imports
  WHERE NOT EXISTS (SELECT 1 FROM data_imports WHERE id = v3_data_imports.id)]]

-- ---------------------------------------------------------------------------------------------

local before_data, before_model, after_data

T.case("the fixture builds v3, main and deprecated tables deterministically, and refuses to run twice", function()
  local rc, out, err = load_fixture(test_url)
  T.eq(rc, 0, err)
  T.contains(out, "fixture loaded into public: client_accounts 3, users 5")
  T.contains(out, "v3_data_imports 12, v3_discovery_flows 10, v3_field_mappings 30, v3_raw_import_records 48")
  before_data, before_model = data(db), model(db)
  -- v3 rows already present in main (with other values), statuses needing the CASE
  T.eq(db:value "SELECT count(*) FROM v3_data_imports v JOIN data_imports d USING (id)", 4)
  T.eq(db:value "SELECT count(*) FROM v3_discovery_flows v JOIN discovery_flows d USING (id)", 3)
  T.eq(db:value "SELECT count(*) FROM v3_field_mappings v JOIN import_field_mappings d USING (id)", 5)
  T.eq(db:value "SELECT count(*) FROM v3_field_mappings WHERE is_approved AND is_rejected", 1)
  T.eq(db:value "SELECT count(*) FROM data_imports WHERE is_mock", 4)
  T.eq(db:value "SELECT last_value FROM discovery_assets_id_seq", 9)

  local rc2, _, err2 = load_fixture(test_url)
  T.eq(rc2, 1)
  T.contains(err2, "fixture: refusing to run: 18 objects already exist (client_accounts")
  T.eq(data(db), before_data, "the refused second run changed nothing")

  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  T.eq(data(conn), before_data, "a second load holds the same rows")
end)

T.case("up backs up, merges and drops; the seed's validation holds", function()
  local rc, out, err = run_weir(test_url, "up")
  T.eq(rc, 0, err)
  for _, ph in ipairs { "backup", "merge", "drop" } do T.contains(err, ID .. ":" .. ph .. " done") end
  T.contains(out, "backup: 14 tables, 246 rows copied into v3_backup")
  T.contains(out, "merge: data_imports: 12 v3 rows, 4 already present, 8 inserted (20 → 28 rows)")
  T.contains(out, "merge: discovery_flows: 10 v3 rows, 3 already present, 7 inserted (15 → 22 rows)")
  T.contains(out, "merge: import_field_mappings: 30 v3 rows, 5 already present, 25 inserted (40 → 65 rows)")
  seed_validation(db)
  -- counts reconcile: main after = main before + v3 rows not already present
  T.eq(count(db, "data_imports"), 20 + 12 - 4)
  T.eq(count(db, "discovery_flows"), 15 + 10 - 3)
  T.eq(count(db, "import_field_mappings"), 40 + 30 - 5)
  T.eq(count(db, "assets"), 25)
  -- no duplicates, and the main rows that were already there won over their v3 twins
  for _, t in ipairs { "data_imports", "discovery_flows", "import_field_mappings" } do
    T.eq(db:value(("SELECT count(*) = count(DISTINCT id) FROM %s"):format(t)), true, t)
  end
  T.eq(db:value "SELECT string_agg(filename, ',' ORDER BY filename) FROM data_imports WHERE id IN (SELECT id FROM v3_backup.v3_data_imports)",
    "main-1.csv,main-2.csv,main-3.csv,main-4.csv,v3-10.xlsx,v3-11.xlsx,v3-12.xlsx,v3-5.xlsx,v3-6.xlsx,v3-7.xlsx,v3-8.xlsx,v3-9.xlsx")
  T.eq(db:value "SELECT count(*) FROM import_field_mappings WHERE source_field LIKE 'main_col_%' AND status = 'approved'", 40)
  -- renamed columns
  local r = db:query("SELECT filename, file_size, mime_type, imported_by::text FROM data_imports WHERE id = md5('v3-import-5')::uuid")[1]
  T.eq({ r.filename, r.file_size, r.mime_type, r.imported_by },
    { "v3-5.xlsx", 10240, "application/vnd.ms-excel", db:value "SELECT md5('user-5')::uuid::text" })
  -- the CASE status mapping: approved (g % 3 = 0, and 30 which is both), rejected, suggested
  T.eq(db:value [[SELECT string_agg(status || '=' || n, ',' ORDER BY status) FROM (
                    SELECT status, count(*) n FROM import_field_mappings WHERE source_field LIKE 'v3_col_%' GROUP BY 1) s]],
    "approved=9,rejected=8,suggested=8")
  T.eq(db:value "SELECT status FROM import_field_mappings WHERE id = md5('v3-mapping-30')::uuid", "approved")
  T.eq(db:value "SELECT status FROM import_field_mappings WHERE id = md5('v3-mapping-7')::uuid", "rejected")
  T.eq(db:value "SELECT match_type || ' ' || suggested_by FROM import_field_mappings WHERE id = md5('v3-mapping-8')::uuid", "fuzzy gpt-v3.0")
  -- the backup holds what was dropped
  T.eq(count(db, "v3_backup.v3_raw_import_records"), 48)
  T.eq(count(db, "v3_backup.workflow_states"), 12)
  T.eq(db:value "SELECT count(*) FROM v3_backup.data_imports WHERE is_mock", 4)
  T.eq(db:value "SELECT row_count FROM v3_backup.manifest WHERE relation = 'import_field_mappings'", 40)
  T.eq(count(db, "v3_backup.merged_rows"), 8 + 7 + 25)
  after_data = data(db)
  local _, st = run_weir(test_url, "status")
  T.contains(st, "applied  " .. ID)
end)

T.case("merging again is idempotent: down to merge restores the pre-merge data, up gives the same result", function()
  local rc, _, err = run_weir(test_url, "down " .. ID .. ":merge")
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":drop rolled back")
  T.contains(err, ID .. ":merge rolled back")
  T.eq(phase_state(db, "backup"), "done")
  T.eq(data(db), before_data, "v3, deprecated tables, is_mock and sequences restored; merged rows deleted")
  -- the seed's statement, run by hand on top of a finished merge, inserts nothing
  rc, _, err = run_weir(test_url, "up --to " .. ID .. ":merge")
  T.eq(rc, 0, err)
  local merged = data(db)
  db:exec "BEGIN"
  local ok, e = pcall(function()
    db:exec(SEED_IMPORTS_INSERT)
    T.eq(data(db), merged, "a second run of the seed's INSERT inserted nothing")
  end)
  db:exec "ROLLBACK"
  if not ok then error(e, 0) end
  rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 0, err)
  T.eq(data(db), after_data, "the second merge gives exactly the first one's result")
  seed_validation(db)
end)

T.case("down to the start restores every table, its rows and the schema exactly", function()
  local rc, _, err = run_weir(test_url, "down " .. ID)
  T.eq(rc, 0, err)
  for _, ph in ipairs { "drop", "merge", "backup" } do
    T.contains(err, ID .. ":" .. ph .. " rolled back")
    T.eq(phase_state(db, ph), "rolled_back")
  end
  T.eq(db:value "SELECT to_regnamespace('v3_backup')", db.NULL)
  T.eq(data(db), before_data)
  same_schema(db, before_model, "after down")
  -- the restored serial sequences continue where they were
  T.eq(db:value "SELECT nextval('discovery_assets_id_seq')", 10)
  T.eq(db:value("SELECT count(*) FROM weir.checkpoints WHERE key LIKE $1", ID .. "/%"), 0)
end)

T.case("a partial manual run of the seed's script beforehand: NOT EXISTS skips what is there", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  conn:exec(SEED_IMPORTS_INSERT)
  T.eq(count(conn, "data_imports"), 28)
  local rc, out, err = run_weir(url, "up")
  T.eq(rc, 0, err)
  T.contains(out, "merge: data_imports: 12 v3 rows, 12 already present, 0 inserted (28 → 28 rows)")
  T.contains(out, "merge: import_field_mappings: 30 v3 rows, 5 already present, 25 inserted")
  seed_validation(conn)
  T.eq(count(conn, "data_imports"), 28)
end)

T.case("weir test --roundtrip passes, on a copy built by the fixture, leaving the database alone", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  local before = shell.pg_dump(url)
  local rc, _, err = run_weir(url, "test --roundtrip --fixture " .. q(ex.dir .. "/fixture.lua"))
  T.eq(rc, 0, err)
  T.contains(err, "starting from what " .. ex.dir .. "/fixture.lua builds")
  T.contains(err, "ok   " .. ID .. ": up, verify, down restores the schema")
  T.contains(err, "1 passed, 0 failed")
  T.eq(shell.pg_dump(url), before, "the database weir was pointed at is unchanged")
end)

T.case("drop refuses when a v3 row was written after the backup (it could not be restored)", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  T.eq((run_weir(url, "up --to " .. ID .. ":merge")), 0)
  conn:exec [[INSERT INTO v3_raw_import_records VALUES (md5('late')::uuid, md5('import-1')::uuid, 99, '{}')]]
  local rc, _, err = run_weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, ID .. ":drop: up failed: drop: v3_backup does not hold everything about to be dropped")
  T.contains(err, "v3_raw_import_records: 1 rows")
  T.eq(phase_state(conn, "drop"), "failed")
  for _, t in ipairs(V3) do T.ok(exists(conn, "public." .. t), t .. " still there") end
  T.eq(conn:value "SELECT count(*) FROM information_schema.columns WHERE column_name = 'is_mock' AND table_schema = 'public'", 3)
end)

T.case("merge's verify catches a wrong status mapping and a merge that is not idempotent", function()
  local cases = {
    { "wrong_case", "WHEN is_rejected THEN 'rejected'", "WHEN is_rejected THEN 'suggested'",
      "merged import_field_mappings: status from is_approved/is_rejected" },
    { "no_rename", "source_filename, file_size_bytes, file_type, source_system,",
      "'x' || source_filename, file_size_bytes, file_type, source_system,",
      "merged data_imports carry source_filename" },
  }
  for _, c in ipairs(cases) do
    local url, conn <close> = fresh_db()
    T.eq((load_fixture(url)), 0)
    local before = data(conn)
    local rc, _, err = run_weir(url, "up", broken_migration(c[1], c[2], c[3]))
    T.eq(rc, 1, c[1])
    T.contains(err, ID .. ":merge: up failed: ", c[1])
    T.contains(err, c[4], c[1])
    T.eq(phase_state(conn, "merge"), "failed", c[1])
    T.eq(data(conn), before, c[1] .. ": nothing merged")
  end
  -- without WHERE NOT EXISTS the overlapping ids collide (23505) and nothing is merged
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  local rc, _, err = run_weir(url, "up", broken_migration("no_not_exists",
    "WHERE NOT EXISTS (SELECT 1 FROM public.data_imports WHERE id = v3_data_imports.id)", ""))
  T.eq(rc, 1)
  T.contains(err, "23505")
  T.eq(count(conn, "data_imports"), 20)
end)

ex.drop_databases()
shell.cleanup()
T.done()
