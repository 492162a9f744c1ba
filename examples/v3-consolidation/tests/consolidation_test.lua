-- Seed 002 requirement by requirement, each test on a database of its own: the fixture, then
-- the migration up to the phase that implements the requirement, then what the seed asks for,
-- checked with plain queries (independent of the migration's own verify).
--
--   weir test                          from this directory (weir.lua: DATABASE_URL, the schema)
--   V3_SCHEMA=migration weir test      the same in schema `migration`
--
-- The archive is restored into a second database on the same server, reached with the test
-- connection's host, port and user (a password comes from $PGPASSWORD or ~/.pgpass).

local SCHEMA = weir.var("schema", "public")
local ID = "001_v3_consolidation"
local function S(t) return SCHEMA .. "." .. t end

local V3 = { "v3_data_imports", "v3_discovery_flows", "v3_field_mappings", "v3_raw_import_records" }
local DEPRECATED = { "workflow_states", "discovery_assets", "mapping_learning_patterns",
  "data_quality_issues", "workflow_progress", "import_processing_steps" }
local REQUIRED = { "client_accounts", "users", "engagements", "crewai_flow_state_extensions",
  "discovery_flows", "assets", "data_imports", "import_field_mappings" }

local function count(rel) return db:value("SELECT count(*) FROM " .. rel) end
local function exists(rel) return db:value("SELECT to_regclass($1) IS NOT NULL", rel) end

-- Every base table of the schema → row count and md5 of its rows; every sequence → position.
local function data()
  local s = {}
  for _, r in ipairs(db:query([[SELECT c.relname::text AS t, c.relkind::text AS k FROM pg_class c
                                 WHERE c.relnamespace = to_regnamespace($1) AND c.relkind IN ('r', 'S')]], SCHEMA)) do
    if r.k == "r" then
      s[r.t] = db:value(("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM %s t")
        :format(S(r.t)))
    else
      s[r.t] = db:value(("SELECT last_value || ':' || is_called FROM %s"):format(S(r.t)))
    end
  end
  return s
end

-- Every column of the schema's tables with its type, nullability and default, in order.
local function columns()
  local out = {}
  for _, r in ipairs(db:query([[
      SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' ||
             coalesce(column_default, '') AS c
        FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position]], SCHEMA)) do
    out[#out + 1] = r.c
  end
  return out
end

local function checkpoint(key) return db:value("SELECT value FROM weir.checkpoints WHERE key = $1", ID .. "/" .. key) end

-- A connection to a new database `name` on the test's server.
local function other_database(name)
  local i = db:info()
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  db:exec("CREATE DATABASE " .. name)
  local conn = weir.connect(("host=%s port=%s user=%s dbname=%s"):format(i.host, i.port, i.user, name))
  return conn, function()
    conn:close()
    db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  end
end

-- The seed's statement, as someone running migrate_v3_data.py would have (the schema set).
local SEED_IMPORTS_INSERT = ([[
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
  WHERE NOT EXISTS (SELECT 1 FROM data_imports WHERE id = v3_data_imports.id)]])

describe("seed 002 in schema " .. SCHEMA, function()
  it("the fixture has what the seed starts from", function()
    expect(project.fixture()):to_contain("fixture loaded into " .. SCHEMA .. ": client_accounts 3, users 5")
    expect(db:value("SELECT count(*) FROM " .. S "v3_data_imports" .. " v JOIN " .. S "data_imports" .. " d USING (id)")):to_be(4)
    expect(db:value("SELECT count(*) FROM " .. S "v3_field_mappings" .. " WHERE is_approved AND is_rejected")):to_be(1)
    for _, c in ipairs { "data_imports.is_mock", "data_imports.file_hash", "data_imports.import_config",
                         "discovery_flows.is_mock", "discovery_flows.assessment_package", "assets.is_mock", "assets.raw_data" } do
      local t, col = c:match("^(.-)%.(.*)$")
      expect(db:value(("SELECT count(*) FROM %s WHERE %s IS NOT NULL AND %s::text NOT IN ('false')"):format(S(t), col, col)) > 0)
        :to_be(true)
    end
  end)

  it("Task 1.1: analyze reports every table with its columns, size and comment, and the V3 row counts", function()
    project.fixture()
    local out = project.up(ID .. ":analyze")
    expect(out):to_contain("analyze: 18 tables in " .. SCHEMA)
    expect(out):to_contain("analyze: V3 rows: v3_data_imports 12, v3_discovery_flows 10, v3_field_mappings 30, v3_raw_import_records 48")
    expect(out:match("analyze:   data_imports +26 columns +%d+ kB  uploaded files and their processing state")):to_be_truthy()
    local report = checkpoint("analyze/report")
    expect(#report.tables):to_be(18)
    expect(report.sizes.schema > 0 and report.sizes.database > report.sizes.schema):to_be(true)
  end)

  it("Task 1.2: backup writes a pg_dump archive of one snapshot, which restores on another database", function()
    project.fixture()
    local out = project.up(ID .. ":backup")
    local b = checkpoint("backup/backup")
    expect(out):to_contain("backup: " .. b.file .. " (")
    expect(out):to_contain(b.scope == "tables" and " kB, 18 tables); " or " kB, the whole database); ")
    expect(out):to_contain("246 rows of 14 tables copied into v3_backup")
    expect(#b.tables):to_be(18)  -- the 14 it changes or drops, and the 4 they reference
    -- the in-database copy holds what the manifest says, which is what the tables hold
    for _, t in ipairs { "data_imports", "v3_raw_import_records", "workflow_states" } do
      local m = db:one("SELECT row_count, fingerprint FROM v3_backup.manifest WHERE relation = $1", S(t))
      expect(count("v3_backup." .. t)):to_be(m.row_count)
      expect(db:value(("SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM %s x"):format(S(t)))):to_be(m.fingerprint)
    end
    expect(db:value("SELECT last_value FROM v3_backup.manifest WHERE relation = $1", S "discovery_assets_id_seq")):to_be(9)
    -- the seed's verify_restore.sh: restore on a separate database, run integrity checks
    local other, drop = other_database(db:value "SELECT current_database()" .. "_restore")
    local ok, err = pcall(function()
      -- (an archive of tables holds no CREATE SCHEMA; one of the whole database does)
      if SCHEMA ~= "public" and b.scope == "tables" then other:exec("CREATE SCHEMA " .. SCHEMA) end
      weir.restore { db = other, file = b.file }
      for _, m in ipairs(db:query "SELECT relation, row_count, fingerprint FROM v3_backup.manifest WHERE fingerprint IS NOT NULL") do
        local f = other:one(("SELECT count(*) AS n, coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') AS md5 FROM %s x")
          :format(m.relation))
        expect({ m.relation, f.n, f.md5 }):to_equal({ m.relation, m.row_count, m.fingerprint })
      end
      expect(other:value("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = to_regnamespace($1)", SCHEMA))
        :to_be(db:value("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = to_regnamespace($1)", SCHEMA))
      expect(other:value("SELECT last_value FROM " .. S "discovery_assets_id_seq")):to_be(9)
    end)
    drop()
    if not ok then error(err, 0) end
  end)

  it("Task 1.2: the backup reads a snapshot and holds no lock that blocks writers", function()
    project.fixture()
    project.up(ID .. ":analyze")
    -- a writer holding ROW EXCLUSIVE on a table the backup copies, all through the backup: a
    -- SHARE lock would wait for it (and fail on lock_timeout)
    local writer <close> = db:clone()
    writer:exec "BEGIN"
    writer:exec("INSERT INTO " .. S "workflow_progress" .. " VALUES (gen_random_uuid(), gen_random_uuid(), 1)")
    local out = project.up(ID .. ":backup")
    writer:exec "ROLLBACK"
    expect(out):to_contain("001_v3_consolidation:backup done")
    expect(count("v3_backup.workflow_progress")):to_be(5)
  end)

  it("Task 1.3: merge copies every V3 row with the seed's renames and CASE; main rows win", function()
    project.fixture()
    local out = project.up(ID .. ":merge")
    expect(out):to_contain("merge: data_imports: 12 v3 rows, 4 already present, 8 inserted (20 → 28 rows)")
    expect(out):to_contain("merge: discovery_flows: 10 v3 rows, 3 already present, 7 inserted (15 → 22 rows)")
    expect(out):to_contain("merge: import_field_mappings: 30 v3 rows, 5 already present, 25 inserted (40 → 65 rows)")
    local r = db:one("SELECT filename, file_size, mime_type, imported_by::text AS by FROM " .. S "data_imports" ..
      " WHERE id = md5('v3-import-5')::uuid")
    expect({ r.filename, r.file_size, r.mime_type, r.by })
      :to_equal({ "v3-5.xlsx", 10240, "application/vnd.ms-excel", db:value "SELECT md5('user-5')::uuid::text" })
    expect(db:value("SELECT string_agg(status || '=' || n, ',' ORDER BY status) FROM (SELECT status, count(*) n FROM " ..
      S "import_field_mappings" .. " WHERE source_field LIKE 'v3_col_%' GROUP BY 1) s")):to_be("approved=9,rejected=8,suggested=8")
    expect(db:value("SELECT status FROM " .. S "import_field_mappings" .. " WHERE id = md5('v3-mapping-30')::uuid")):to_be("approved")
    expect(db:value("SELECT string_agg(filename, ',' ORDER BY filename) FROM " .. S "data_imports" ..
      " WHERE id IN (SELECT id FROM v3_backup.v3_data_imports) AND filename LIKE 'main-%'"))
      :to_be("main-1.csv,main-2.csv,main-3.csv,main-4.csv")
    -- the seed's statement run again inserts nothing (WHERE NOT EXISTS)
    db:exec("SET search_path = " .. SCHEMA)
    expect(select(3, db:query(SEED_IMPORTS_INSERT))):to_be("INSERT 0 0")
    db:exec "RESET search_path"
  end)

  it("Tasks 1.4 and 3.1: drop removes the V3 and deprecated tables and the deprecated columns; the seed's validation holds", function()
    project.fixture()
    local raw = db:value("SELECT count(*) FROM " .. S "assets" .. " WHERE raw_data IS NOT NULL")
    local raw_md5 = db:value("SELECT md5(string_agg(id || raw_data::text, ',' ORDER BY id)) FROM " .. S "assets")
    local out = project.up(ID .. ":drop")
    expect(out):to_contain(("raw_data of %d assets moved to asset_raw_data"):format(raw))
    expect(out):to_contain("drop: 6 deprecated and 4 v3 tables (")
    -- validate_consolidated_schema.py, checks 1 to 5
    expect(db:value("SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE 'v3\\_%'", SCHEMA)):to_be(0)
    for _, t in ipairs(REQUIRED) do expect(exists(S(t))):to_be(true) end
    for _, t in ipairs(DEPRECATED) do expect(exists(S(t))):to_be(false) end
    expect(db:value([[SELECT string_agg(table_name::text, ',' ORDER BY table_name) FROM information_schema.columns
                       WHERE table_schema = $1 AND column_name = 'master_flow_id'
                         AND table_name IN ('discovery_flows', 'assets', 'data_imports')]], SCHEMA))
      :to_be("assets,data_imports,discovery_flows")
    expect(db:value("SELECT count(*) FROM information_schema.columns WHERE table_schema = $1 AND column_name = 'is_mock'", SCHEMA)):to_be(0)
    expect(db:value([[SELECT count(*) FROM information_schema.columns WHERE table_schema = $1
                       AND column_name IN ('file_hash', 'import_config', 'assessment_package', 'raw_data')]], SCHEMA)):to_be(1)
    expect(db:value("SELECT md5(string_agg(asset_id || raw_data::text, ',' ORDER BY asset_id)) FROM " .. S "asset_raw_data")):to_be(raw_md5)
    -- "clean up any orphaned sequences": the serial ones went with their tables
    expect(db:value("SELECT count(*) FROM pg_class WHERE relkind = 'S' AND relnamespace = to_regnamespace($1)", SCHEMA)):to_be(0)
  end)

  it("Task 2.1: the consolidated schema's enums, client_accounts columns and master flow linkage", function()
    project.fixture()
    project.up(ID .. ":schema")
    expect(db:value("SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = $1::regtype", S "asset_type"))
      :to_be("server,application,database,network,storage")
    expect(db:value("SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = $1::regtype", S "flow_status"))
      :to_be("initialized,in_progress,completed,failed,cancelled")
    expect(db:value("SELECT pg_typeof(asset_type)::text FROM " .. S "assets" .. " LIMIT 1")):to_be(SCHEMA == "public" and "asset_type" or S "asset_type")
    expect(function() db:exec("UPDATE " .. S "assets" .. " SET asset_type = 'mainframe'") end):to_raise("22P02")
    expect(function() db:exec("UPDATE " .. S "discovery_flows" .. " SET status = 'active'") end):to_raise("22P02")
    local c = db:one("SELECT subscription_tier, settings, is_active, created_at IS NOT NULL AS dated FROM " .. S "client_accounts" .. " LIMIT 1")
    expect({ c.subscription_tier, json.encode(c.settings), c.is_active, c.dated }):to_equal({ "standard", "{}", true, true })
    expect(function()
      db:exec("UPDATE " .. S "assets" .. " SET master_flow_id = gen_random_uuid()")
    end):to_raise("23503")
  end)

  it("Task 2.2: the seed's indexes exist, and the seed's queries use them", function()
    project.fixture()
    project.up(ID .. ":indexes")
    expect(db:value([[SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes
                       WHERE schemaname = $1 AND indexname LIKE 'ix\_%']], SCHEMA))
      :to_be("ix_assets_asset_type,ix_assets_client_account_id,ix_assets_client_engagement,ix_assets_engagement_id,"
        .. "ix_assets_environment,ix_assets_master_flow_id,ix_assets_six_r_strategy,ix_assets_technology_stack,"
        .. "ix_discovery_flows_master_flow_id,ix_discovery_flows_phases")
    expect(db:value("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_assets_technology_stack'")):to_contain("USING gin (technology_stack)")
    -- the seed's performance test: a tenant with 10,000 assets beside the fixture's three
    db:exec(("INSERT INTO %s (id, name, slug) VALUES (md5('bulk')::uuid, 'Bulk', 'bulk')"):format(S "client_accounts"))
    db:exec(([[INSERT INTO %s (id, client_account_id, name, asset_type, environment, technology_stack)
               SELECT gen_random_uuid(), md5('bulk')::uuid, 'bulk-' || g, 'server', 'production', '["linux"]'
                 FROM generate_series(1, 10000) g]]):format(S "assets"))
    db:exec("ANALYZE " .. S "assets")
    db:exec("ANALYZE " .. S "discovery_flows")
    local function plan(sql) return table.concat((function()
      local l = {}
      for _, r in ipairs(db:query("EXPLAIN " .. sql)) do l[#l + 1] = r["QUERY PLAN"] end
      return l
    end)(), "\n") end
    expect(plan(("SELECT * FROM %s WHERE client_account_id = md5('client-1')::uuid AND environment = 'production' LIMIT 100")
      :format(S "assets"))):to_contain("ix_assets_client")
    expect(plan(("SELECT * FROM %s WHERE technology_stack @> '[\"oracle\"]'"):format(S "assets"))):to_contain("ix_assets_technology_stack")
    db:exec "SET enable_seqscan = off"  -- discovery_flows has 22 rows: only this makes an index worth it
    expect(plan(("SELECT * FROM %s WHERE phases @> '{\"inventory\": \"in_progress\"}'"):format(S "discovery_flows")))
      :to_contain("ix_discovery_flows_phases")
    db:exec "RESET enable_seqscan"
  end)

  it("Tasks 2.3 and 6.3: validate reports index and FK counts and sizes; deployment_health answers", function()
    project.fixture()
    local out = project.up()
    expect(out):to_contain("validate: 9 tables in " .. SCHEMA .. "; indexes/foreign keys: client_accounts 2/0, users 2/0, engagements 1/1")
    expect(out):to_contain("assets 9/4")
    expect(out:match("validate: " .. SCHEMA .. ": %d+ kB before, %d+ kB after %(%d+ kB dropped by this migration%)")):to_be_truthy()
    expect(out):to_contain("of which")
    local report = checkpoint("validate/report")
    expect(report.total_tables):to_be(9)
    expect(report.indexes.assets):to_be(9)
    expect(report.constraints.discovery_flows):to_be(5)
    expect(report.sizes.after.schema < report.sizes.before.schema):to_be(true)
    local function health()
      local h = {}
      for _, r in ipairs(db:query("SELECT metric, value FROM " .. S "deployment_health")) do h[r.metric] = r.value end
      return h
    end
    expect(health()):to_equal({ table_count = 10, active_flows = 4, recent_errors = 0 })
    db:exec(("UPDATE %s SET error_message = 'agent crashed', created_at = now() WHERE id = md5('flow-1')::uuid"):format(S "discovery_flows"))
    expect(health().recent_errors):to_be(1)
  end)

  it("down from the end restores every table, row, column and sequence; up again gives the same result", function()
    project.fixture()
    local before, before_cols = data(), columns()
    project.up()
    local after = data()
    local out = project.down(ID)
    expect(out):to_contain(ID .. ":analyze rolled back")
    expect(out):to_contain("backup: kept the archive ")
    expect(data()):to_equal(before)
    expect(columns()):to_equal(before_cols)
    expect(db:value "SELECT to_regnamespace('v3_backup')"):to_be_nil()
    expect(db:value("SELECT nextval($1)", S "discovery_assets_id_seq")):to_be(10)
    db:exec("SELECT setval($1, 9)", S "discovery_assets_id_seq")
    project.up()
    local again = data()
    after.client_accounts, again.client_accounts = nil, nil  -- created_at is added with now()'s value
    expect(again):to_equal(after)
  end)

  it("drop refuses to lose a row or a value written after the backup, and says what to do", function()
    project.fixture()
    project.up(ID .. ":merge")
    db:exec(("INSERT INTO %s VALUES (md5('late')::uuid, md5('import-1')::uuid, 99, '{}')"):format(S "v3_raw_import_records"))
    expect(function() project.up() end)
      :to_raise("drop: v3_backup does not hold everything about to be dropped (written since the backup?): v3_raw_import_records: 1 rows")
    for _, t in ipairs(V3) do expect(exists(S(t))):to_be(true) end
    db:exec(("DELETE FROM %s WHERE id = md5('late')::uuid"):format(S "v3_raw_import_records"))
    -- a new row whose deprecated columns hold their defaults loses nothing: fine
    db:exec(([[INSERT INTO %s (id, client_account_id, filename, created_at)
               VALUES (md5('new')::uuid, md5('client-1')::uuid, 'new.csv', now())]]):format(S "data_imports"))
    -- one that still writes a deprecated column is refused
    db:exec(("UPDATE %s SET file_hash = 'abc' WHERE id = md5('import-2')::uuid"):format(S "data_imports"))
    expect(function() project.up() end):to_raise("data_imports's dropped columns: 1 rows")
    db:exec(("UPDATE %s SET file_hash = NULL WHERE id = md5('import-2')::uuid"):format(S "data_imports"))
    project.up()
    expect(db:value("SELECT count(*) FROM " .. S "data_imports" .. " WHERE id = md5('new')::uuid")):to_be(1)
  end)

  it("schema refuses values that are not labels of the seed's enums, naming them", function()
    project.fixture()
    db:exec(("UPDATE %s SET asset_type = 'mainframe' WHERE id = md5('asset-3')::uuid"):format(S "assets"))
    expect(function() project.up() end):to_raise("schema: assets.asset_type holds values that are not labels of asset_type: mainframe")
    expect(db:value("SELECT state FROM weir.phases WHERE phase = 'drop'")):to_be("done")
    expect(db:value("SELECT to_regtype($1)", S "asset_type")):to_be_nil()
  end)
end)
