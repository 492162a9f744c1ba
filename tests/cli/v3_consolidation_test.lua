-- examples/v3-consolidation (seed 002) as its README runs it: the example's own suite (`weir
-- test`, in schema public and in schema migration), the README's commands from the example's
-- directory on a fresh database and on one taken up and down before, `weir plan` writing
-- nothing, `weir test --roundtrip`, and the ways the migration must refuse or fail.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local weir_bin = assert(os.getenv "WEIR")
local ID = "001_v3_consolidation"
local tmp = shell.tmpdir()
local backups = tmp .. "/backups"

local ex = require("example").new("v3-consolidation", "v3c")
local fresh_db = ex.fresh_db

-- `weir ARGS` from the example's directory (weir.lua read), against `url`, the archives in
-- `backups`, with `env` (e.g. V3_SCHEMA=migration) on top.
local function weir(url, args, env)
  return sh("cd " .. q(ex.dir) .. " && DATABASE_URL=" .. q(url) .. " V3_BACKUP_DIR=" .. q(backups) .. " " ..
    (env or "") .. " " .. q(weir_bin) .. " " .. args)
end

-- Every base table of `schema` → md5 of all its rows; every sequence → position.
local function data(conn, schema)
  local s = {}
  for _, r in ipairs(conn:query([[SELECT c.relname::text AS t, c.relkind::text AS k FROM pg_class c
                                   WHERE c.relnamespace = to_regnamespace($1) AND c.relkind IN ('r', 'S')]], schema)) do
    if r.k == "r" then
      s[r.t] = conn:value(("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM %s.%s t")
        :format(schema, r.t))
    else
      s[r.t] = conn:value(("SELECT last_value || ':' || is_called FROM %s.%s"):format(schema, r.t))
    end
  end
  return s
end

local function same_schema(conn, before, what)
  local changes = schema.diff(require("example").inspect(conn), before)
  if #changes > 0 then error(what .. ": schema differs; to restore it:\n" .. schema.script(changes), 2) end
end

local function archives() return (select(2, sh("ls " .. q(backups) .. " 2>/dev/null | sort"))) end
local function phase_state(conn, ph)
  return conn:value("SELECT state FROM weir.phases WHERE migration = $1 AND phase = $2", ID, ph)
end

-- A copy of the migration with one substring replaced (the first occurrence).
local function broken_migration(name, from, to)
  local dir = tmp .. "/" .. name
  assert(os.execute("mkdir -p " .. q(dir)))
  local text = T.read(ex.migrations .. "/" .. ID .. ".lua")
  local at = assert(text:find(from, 1, true), "not in the migration any more: " .. from)
  shell.write(dir .. "/" .. ID .. ".lua", text:sub(1, at - 1) .. to .. text:sub(at + #from))
  return dir
end

-- ---------------------------------------------------------------------------------------------

for _, c in ipairs { { "public", "tables" }, { "migration", "database" } } do
  local schema_name, scope = c[1], c[2]
  T.case("the example's own suite passes with `weir test`, in schema " .. schema_name .. ", archiving the " .. scope, function()
    local rc, _, err = weir(select(1, fresh_db()), "test", "V3_SCHEMA=" .. schema_name .. " V3_BACKUP_SCOPE=" .. scope)
    T.eq(rc, 0, err)
    T.contains(err, "ok   tests/consolidation_test.lua: seed 002 in schema " .. schema_name .. " › Task 1.2: backup writes a pg_dump archive")
    T.contains(err, "12 passed, 0 failed")
  end)
end

T.case("the fixture is deterministic, refuses to run twice, and takes the schema from weir.lua", function()
  local url, conn <close> = fresh_db()
  local rc, out, err = weir(url, "run fixture.lua")
  T.eq(rc, 0, err)
  T.contains(out, "fixture loaded into public: client_accounts 3, users 5")
  T.contains(out, "v3_data_imports 12, v3_discovery_flows 10, v3_field_mappings 30, v3_raw_import_records 48")
  local before = data(conn, "public")
  local rc2, _, err2 = weir(url, "run fixture.lua")
  T.eq(rc2, 1)
  T.contains(err2, "fixture: refusing to run: 18 objects already exist in public (client_accounts")
  T.eq(data(conn, "public"), before, "the refused second run changed nothing")
  local url2, conn2 <close> = fresh_db()
  T.eq((weir(url2, "run fixture.lua", "V3_SCHEMA=migration")), 0)
  T.eq(data(conn2, "migration"), before, "the same rows in schema migration")
  T.eq(conn2:value "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", 0)
  local rc3, _, err3 = weir(url2, "run fixture.lua", "V3_SCHEMA='Mig ration'")
  T.eq(rc3, 1)
  T.contains(err3, 'fixture: schema "Mig ration": expected a lower-case SQL identifier')
end)

-- The README's commands, twice: on a fresh database, then on the same one after up and down.
local url, conn, before_data, before_model
for round, label in ipairs { "a fresh database", "one taken up and down before" } do
  T.case("the README's commands work as written on " .. label, function()
    if round == 1 then
      url, conn = fresh_db()
      assert(os.execute("rm -rf " .. q(backups)))
      local rc, _, err = weir(url, "run fixture.lua")
      T.eq(rc, 0, err)
      before_data, before_model = data(conn, "public"), require("example").inspect(conn)
    end
    local dump, kept = shell.pg_dump(url), archives()
    local rc, out, err = weir(url, "plan")
    T.eq(rc, 0, err)
    T.contains(out, "── " .. ID .. ":backup  (non-transactional")
    T.ok(out:find("AccessExclusiveLock%s+public.v3_raw_import_records — blocks reads and writes"), out)
    T.contains(out, "drops:     index public.data_quality_issues_pkey")
    T.contains(out, "`weir up` would succeed")
    T.contains(err, "weir plan: weir.dump would write " .. backups .. "/" .. ID .. "-")
    T.eq(shell.pg_dump(url), dump, "plan changed nothing")
    T.eq(archives(), kept, "plan wrote no archive")

    rc, out, err = weir(url, "up")
    T.eq(rc, 0, err)
    for _, ph in ipairs { "analyze", "backup", "merge", "drop", "schema", "indexes", "validate" } do
      T.contains(err, ID .. ":" .. ph .. " done")
    end
    T.contains(out, "backup: " .. backups .. "/" .. ID .. "-")
    T.eq(select(2, archives():gsub("\n", "")), select(2, kept:gsub("\n", "")) + 1, "up wrote one archive")
    local _, st = weir(url, "status")
    T.contains(st, "applied  " .. ID)

    rc, _, err = weir(url, "down " .. ID .. ":merge")
    T.eq(rc, 0, err)
    T.contains(err, ID .. ":merge rolled back")
    T.eq(phase_state(conn, "backup"), "done")
    T.eq(conn:value "SELECT count(*) FROM public.v3_raw_import_records", 48)
    rc, _, err = weir(url, "up")
    T.eq(rc, 0, err)
    rc, _, err = weir(url, "down " .. ID)
    T.eq(rc, 0, err)
    T.eq(conn:value "SELECT to_regnamespace('v3_backup')", db.NULL)
    T.eq(data(conn, "public"), before_data, "down restores every row and sequence")
    same_schema(conn, before_model, "after down")

    rc, _, err = weir(url, "test --roundtrip")
    T.eq(rc, 0, err)
    T.contains(err, "starting from what fixture.lua builds")
    T.contains(err, "ok   " .. ID .. ": up, verify, down restores the schema")
    T.eq(data(conn, "public"), before_data, "the roundtrip ran on a copy")
  end)
end

T.case("a partial manual run of the seed's script beforehand: NOT EXISTS skips what is there", function()
  local url, conn <close> = fresh_db()
  T.eq((weir(url, "run fixture.lua")), 0)
  conn:exec [[
    INSERT INTO data_imports (id, client_account_id, engagement_id, master_flow_id, filename, file_size, mime_type,
        source_system, status, import_name, import_type, description, error_message, error_details,
        progress_percentage, total_records, processed_records, failed_records, imported_by, created_at,
        updated_at, started_at, completed_at)
    SELECT id, client_account_id, engagement_id, master_flow_id, source_filename, file_size_bytes, file_type,
        source_system, status, import_name, import_type, description, error_message, error_details,
        progress_percentage, total_records, processed_records, failed_records, user_id, created_at, updated_at,
        started_at, completed_at
      FROM v3_data_imports WHERE NOT EXISTS (SELECT 1 FROM data_imports WHERE id = v3_data_imports.id)]]
  local rc, out, err = weir(url, "up --to " .. ID .. ":merge")
  T.eq(rc, 0, err)
  T.contains(out, "merge: data_imports: 12 v3 rows, 12 already present, 0 inserted (28 → 28 rows)")
  T.contains(out, "merge: import_field_mappings: 30 v3 rows, 5 already present, 25 inserted")
end)

T.case("merge's verify catches a wrong status mapping, a lost rename and a merge that is not idempotent", function()
  local cases = {
    { "wrong_case", "WHEN is_rejected THEN 'rejected'", "WHEN is_rejected THEN 'suggested'",
      "merged import_field_mappings: status from is_approved/is_rejected" },
    { "no_rename", "source_filename, file_size_bytes, file_type, source_system,",
      "'x' || source_filename, file_size_bytes, file_type, source_system,",
      "merged data_imports carry source_filename" },
    { "no_not_exists", "WHERE NOT EXISTS (SELECT 1 FROM @S.data_imports WHERE id = v3_data_imports.id)", "", "23505" },
  }
  for _, c in ipairs(cases) do
    local url, conn <close> = fresh_db()
    T.eq((weir(url, "run fixture.lua")), 0)
    local before = data(conn, "public")
    local rc, _, err = weir(url, "up --dir " .. q(broken_migration(c[1], c[2], c[3])))
    T.eq(rc, 1, c[1])
    T.contains(err, ID .. ":merge: up failed: ", c[1])
    T.contains(err, c[4], c[1])
    T.eq(phase_state(conn, "merge"), "failed", c[1])
    T.eq(conn:value "SELECT count(*) FROM public.data_imports", 20, c[1] .. ": nothing merged")
    T.eq(data(conn, "public").v3_data_imports, before.v3_data_imports)
  end
end)

T.case("analyze refuses a database that is not the one the migration was written for", function()
  local url, conn <close> = fresh_db()
  T.eq((weir(url, "run fixture.lua")), 0)
  conn:exec "DROP TABLE workflow_progress"
  conn:exec "CREATE SCHEMA v3_backup"
  local rc, _, err = weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, ID .. ":analyze: up failed: verify failed: not found: public.workflow_progress")
  conn:exec "CREATE TABLE workflow_progress (id uuid PRIMARY KEY, flow_id uuid NOT NULL, progress integer NOT NULL)"
  rc, _, err = weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, "schema v3_backup exists already (a backup left by an earlier run?)")
  T.eq(phase_state(conn, "backup"), nil, "nothing after analyze ran")
end)

ex.drop_databases()
shell.cleanup()
T.done()
