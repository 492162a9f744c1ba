-- Seed 002, phases 1 and 2 ("Database Consolidation", "Schema Implementation"): analyse, back
-- up, merge the V3 tables into the main ones, drop the V3 and deprecated tables and columns,
-- give the consolidated schema its enums, columns and performance indexes, and validate.
--
--   analyze   the seed's current-state report (tables, columns, sizes, comments; V3 row
--             counts) and the database's size before                        down: nothing
--   backup    one snapshot of the tables the migration changes or drops (and those they
--             reference): a pg_dump archive of them, or of the whole database (weir.dump), and a
--             copy of the 14 changed or dropped ones in schema v3_backup, batch by batch
--             (copy.table), with row counts, fingerprints and sequence positions in
--             v3_backup.manifest
--                                                    down: drops v3_backup (the archive stays)
--   merge     the seed's three INSERT … SELECT … WHERE NOT EXISTS, with its column renames and
--             the CASE status mapping; every inserted id is recorded in v3_backup.merged_rows
--                                                    down: deletes exactly those rows
--   drop      the deprecated columns (is_mock, file_hash, import_config, assessment_package;
--             assets.raw_data moves to asset_raw_data), the 6 deprecated and the 4 V3 tables
--                                                    down: recreates them from the DDL below
--             and the backup, columns and values included
--   schema    the consolidated schema: enums asset_type and flow_status (and the columns that
--             take them), client_accounts' columns, assets.master_flow_id's foreign key
--                                                    down: back to text, columns dropped
--   indexes   the seed's 10 performance indexes (8 btree, 2 GIN), built concurrently
--                                                    down: dropped concurrently
--   validate  the seed's validation script and report (index and FK counts, sizes before and
--             after), and its deployment_health view      down: drops the view
--
-- The schema is weir.lua's var `schema` (env V3_SCHEMA; `public` without weir.lua): the seed's
-- application lives in `migration`, and nothing below names a schema but through SCHEMA.

local ID = "001_v3_consolidation"
local SCHEMA = weir.var("schema", "public")
if not SCHEMA:match("^[a-z_][a-z0-9_]*$") then
  error(("schema %q (weir.lua's var schema): expected a lower-case SQL identifier"):format(SCHEMA), 0)
end
local BACKUP = "v3_backup"                              -- the in-database copy
local BACKUP_DIR = weir.var("backup_dir", "backups")    -- where the pg_dump archive goes
-- what the archive holds: "tables" (those the migration changes or drops, and those they
-- reference) or "database" (the seed's full backup: every table, as long as that takes)
local BACKUP_SCOPE = weir.var("backup_scope", "tables")
if BACKUP_SCOPE ~= "tables" and BACKUP_SCOPE ~= "database" then
  error(("backup_scope %q (weir.lua's var backup_scope): expected tables or database"):format(BACKUP_SCOPE), 0)
end
local BATCH = 5000                                      -- rows per batch of the in-database copy

-- SQL with @S. standing for the schema.
local function Q(sql) return (sql:gsub("@S%.", SCHEMA .. ".")) end
local function S(t) return SCHEMA .. "." .. t end

-- (main table, v3 table) pairs the merge fills, in foreign-key order
local MERGED = {
  { "data_imports", "v3_data_imports" },
  { "discovery_flows", "v3_discovery_flows" },
  { "import_field_mappings", "v3_field_mappings" },
}
local V3 = { "v3_data_imports", "v3_discovery_flows", "v3_field_mappings", "v3_raw_import_records" }
local DEPRECATED = { "workflow_states", "discovery_assets", "mapping_learning_patterns",
  "data_quality_issues", "workflow_progress", "import_processing_steps" }
-- the seed's "required tables"
local REQUIRED = { "client_accounts", "users", "engagements", "crewai_flow_state_extensions",
  "discovery_flows", "assets", "data_imports", "import_field_mappings" }
-- the columns the seed's model updates remove (Task 3.1), last in each table, with the value a
-- row gets when down adds the column back; assets.raw_data moves to asset_raw_data instead
local DROPPED_COLUMNS = {
  { table = "data_imports", columns = {
    { "is_mock", "boolean NOT NULL DEFAULT false", "false" },
    { "file_hash", "text", "NULL" },
    { "import_config", "jsonb", "NULL" } } },
  { table = "discovery_flows", columns = {
    { "is_mock", "boolean NOT NULL DEFAULT false", "false" },
    { "assessment_package", "jsonb", "NULL" } } },
  { table = "assets", columns = {
    { "is_mock", "boolean NOT NULL DEFAULT false", "false" } } },
}
-- every table the in-database backup copies: what merge changes, what drop changes or drops
local BACKED_UP = { "data_imports", "discovery_flows", "import_field_mappings", "assets" }
for _, t in ipairs(DEPRECATED) do BACKED_UP[#BACKED_UP + 1] = t end
for _, t in ipairs(V3) do BACKED_UP[#BACKED_UP + 1] = t end
-- serial sequences that go with their tables (the seed's DROP SEQUENCE is then a no-op)
local SEQUENCES = { "workflow_states_id_seq", "discovery_assets_id_seq" }
-- the seed's consolidated enums, and the columns that take them
local ENUMS = {
  { name = "asset_type", labels = { "server", "application", "database", "network", "storage" },
    table = "assets", column = "asset_type" },
  { name = "flow_status", labels = { "initialized", "in_progress", "completed", "failed", "cancelled" },
    table = "discovery_flows", column = "status" },
}
-- client_accounts as the seed's consolidated migration defines it: the columns it lacks
local CLIENT_ACCOUNT_COLUMNS = {
  { "description", "text" }, { "industry", "varchar(100)" }, { "company_size", "varchar(50)" },
  { "headquarters_location", "varchar(255)" }, { "primary_contact_name", "varchar(255)" },
  { "primary_contact_email", "varchar(255)" }, { "primary_contact_phone", "varchar(50)" },
  { "subscription_tier", "varchar(50)", "'standard'" }, { "max_users", "integer" },
  { "max_engagements", "integer" }, { "storage_quota_gb", "integer" }, { "api_quota_monthly", "integer" },
  { "settings", "jsonb", "'{}'" }, { "branding", "jsonb", "'{}'" }, { "agent_preferences", "jsonb", "'{}'" },
  { "created_at", "timestamptz", "now()" }, { "updated_at", "timestamptz" }, { "is_active", "boolean", "true" },
}
-- the seed's 002_performance_indexes: name, table, columns, method
local INDEXES = {
  { "ix_assets_client_account_id", "assets", { "client_account_id" } },
  { "ix_assets_engagement_id", "assets", { "engagement_id" } },
  { "ix_assets_master_flow_id", "assets", { "master_flow_id" } },
  { "ix_discovery_flows_master_flow_id", "discovery_flows", { "master_flow_id" } },
  { "ix_assets_asset_type", "assets", { "asset_type" } },
  { "ix_assets_environment", "assets", { "environment" } },
  { "ix_assets_six_r_strategy", "assets", { "six_r_strategy" } },
  { "ix_assets_client_engagement", "assets", { "client_account_id", "engagement_id" } },
  { "ix_assets_technology_stack", "assets", { "technology_stack" }, "gin" },
  { "ix_discovery_flows_phases", "discovery_flows", { "phases" }, "gin" },
}

-- The seed's merge statements, verbatim but for the schema and the recording of what they
-- insert. Each is idempotent: a V3 row whose id is already in the main table is skipped (and
-- the main row, which may hold newer values, is left as it is).
local MERGE_SQL = {
  data_imports = [[
    WITH ins AS (
      INSERT INTO @S.data_imports (
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
        FROM @S.v3_data_imports
       WHERE NOT EXISTS (SELECT 1 FROM @S.data_imports WHERE id = v3_data_imports.id)
      RETURNING id)
    INSERT INTO v3_backup.merged_rows SELECT 'data_imports', id FROM ins]],
  discovery_flows = [[
    WITH ins AS (
      INSERT INTO @S.discovery_flows (
          id, flow_id, master_flow_id, client_account_id, engagement_id,
          data_import_id, user_id, status, progress_percentage,
          flow_type, current_phase, phases_completed, flow_state,
          error_message, error_phase, error_details,
          created_at, updated_at, started_at, completed_at)
      SELECT id, flow_id, master_flow_id, client_account_id, engagement_id,
             data_import_id, user_id, status, progress_percentage,
             flow_type, current_phase, phases_completed, flow_state,
             error_message, error_phase, error_details,
             created_at, updated_at, started_at, completed_at
        FROM @S.v3_discovery_flows
       WHERE NOT EXISTS (SELECT 1 FROM @S.discovery_flows WHERE id = v3_discovery_flows.id)
      RETURNING id)
    INSERT INTO v3_backup.merged_rows SELECT 'discovery_flows', id FROM ins]],
  import_field_mappings = [[
    WITH ins AS (
      INSERT INTO @S.import_field_mappings (
          id, data_import_id, client_account_id, master_flow_id,
          source_field, target_field, match_type, confidence_score,
          status, suggested_by, approved_by, approved_at,
          transformation_rules, is_validated, created_at, updated_at)
      SELECT id, data_import_id, client_account_id, master_flow_id,
             source_field, target_field, mapping_type, confidence_score,
             CASE WHEN is_approved THEN 'approved'
                  WHEN is_rejected THEN 'rejected'
                  ELSE 'suggested' END AS status,
             ai_model_version, approved_by, approved_at,
             transformation_logic, is_validated, created_at, updated_at
        FROM @S.v3_field_mappings
       WHERE NOT EXISTS (SELECT 1 FROM @S.import_field_mappings WHERE id = v3_field_mappings.id)
      RETURNING id)
    INSERT INTO v3_backup.merged_rows SELECT 'import_field_mappings', id FROM ins]],
}

-- The V3 and deprecated tables as the fixture (the application) has them: drop's down
-- recreates them from this before copying their rows back from v3_backup. The primary keys,
-- foreign keys, defaults and serial sequences are what a copy of the rows cannot keep.
local DROPPED_DDL = [[
CREATE TABLE @S.v3_data_imports (
  id                  uuid PRIMARY KEY,
  client_account_id   uuid NOT NULL,
  engagement_id       uuid,
  master_flow_id      uuid,
  source_filename     text NOT NULL,
  file_size_bytes     bigint,
  file_type           text,
  source_system       text,
  status              text NOT NULL,
  import_name         text,
  import_type         text,
  description         text,
  error_message       text,
  error_details       jsonb,
  progress_percentage numeric(5,2) NOT NULL DEFAULT 0,
  total_records       integer,
  processed_records   integer,
  failed_records      integer,
  user_id             uuid,
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz,
  started_at          timestamptz,
  completed_at        timestamptz,
  is_mock             boolean NOT NULL DEFAULT false,
  file_hash           text,
  import_config       jsonb
);
CREATE TABLE @S.v3_discovery_flows (
  id                  uuid PRIMARY KEY,
  flow_id             uuid NOT NULL,
  master_flow_id      uuid,
  client_account_id   uuid NOT NULL,
  engagement_id       uuid,
  data_import_id      uuid REFERENCES @S.v3_data_imports (id),
  user_id             uuid,
  status              text NOT NULL,
  progress_percentage numeric(5,2) NOT NULL DEFAULT 0,
  flow_type           text NOT NULL DEFAULT 'discovery',
  current_phase       text,
  phases_completed    text[] NOT NULL DEFAULT '{}',
  flow_state          jsonb NOT NULL DEFAULT '{}',
  error_message       text,
  error_phase         text,
  error_details       jsonb,
  created_at          timestamptz NOT NULL,
  updated_at          timestamptz,
  started_at          timestamptz,
  completed_at        timestamptz
);
CREATE TABLE @S.v3_field_mappings (
  id                   uuid PRIMARY KEY,
  data_import_id       uuid NOT NULL REFERENCES @S.v3_data_imports (id),
  client_account_id    uuid NOT NULL,
  master_flow_id       uuid,
  source_field         text NOT NULL,
  target_field         text,
  mapping_type         text,
  confidence_score     numeric(4,3),
  is_approved          boolean NOT NULL DEFAULT false,
  is_rejected          boolean NOT NULL DEFAULT false,
  ai_model_version     text,
  approved_by          uuid,
  approved_at          timestamptz,
  transformation_logic jsonb,
  is_validated         boolean NOT NULL DEFAULT false,
  created_at           timestamptz NOT NULL,
  updated_at           timestamptz
);
CREATE TABLE @S.v3_raw_import_records (
  id             uuid PRIMARY KEY,
  data_import_id uuid NOT NULL REFERENCES @S.v3_data_imports (id),
  row_number     integer NOT NULL,
  raw_data       jsonb NOT NULL
);

CREATE TABLE @S.workflow_states (
  id         serial PRIMARY KEY,
  flow_id    uuid NOT NULL,
  state      text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE @S.discovery_assets (
  id                serial PRIMARY KEY,
  discovery_flow_id uuid REFERENCES @S.discovery_flows (id),
  name              text NOT NULL
);
CREATE TABLE @S.mapping_learning_patterns (
  id      uuid PRIMARY KEY,
  pattern text NOT NULL,
  weight  numeric(4,3) NOT NULL
);
CREATE TABLE @S.data_quality_issues (
  id             uuid PRIMARY KEY,
  data_import_id uuid,
  issue          text NOT NULL
);
CREATE TABLE @S.workflow_progress (
  id       uuid PRIMARY KEY,
  flow_id  uuid NOT NULL,
  progress integer NOT NULL
);
CREATE TABLE @S.import_processing_steps (
  id             uuid PRIMARY KEY,
  data_import_id uuid,
  step           text NOT NULL
);
]]

-- The seed's monitoring view (Task 6.3), in the migration's schema.
local HEALTH_VIEW = [[
SELECT 'table_count' AS metric, count(*) AS value
  FROM information_schema.tables
 WHERE table_schema = '@S'
UNION ALL
SELECT 'active_flows', count(*)
  FROM @S.crewai_flow_state_extensions
 WHERE flow_status IN ('active', 'processing')
UNION ALL
SELECT 'recent_errors', count(*)
  FROM @S.discovery_flows
 WHERE error_message IS NOT NULL
   AND created_at > now() - interval '1 hour']]

-- ---------------------------------------------------------------------------------------------
-- Helpers

local function count(db, rel) return db:value("SELECT count(*) FROM " .. rel) end
local function exists(db, rel) return db:value("SELECT to_regclass($1) IS NOT NULL", rel) end
local function pretty(db, bytes) return db:value("SELECT pg_size_pretty($1::bigint)", bytes) end

-- Row count and an md5 of every row's text, as `conn` sees the table.
local function fingerprint(conn, rel)
  return conn:one(("SELECT count(*) AS n, coalesce(md5(string_agg(x::text, ',' ORDER BY x::text)), '') AS md5 FROM %s x")
    :format(rel))
end

-- Total size (with indexes and TOAST) of the schema's tables, and of the database.
local function sizes(db)
  return {
    schema = db:value([[SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
                         WHERE c.relnamespace = to_regnamespace($1) AND c.relkind IN ('r', 'p', 'm')]], SCHEMA),
    backup = db:value([[SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
                         WHERE c.relnamespace = to_regnamespace($1) AND c.relkind = 'r']], BACKUP),
    database = db:value "SELECT pg_database_size(current_database())",
  }
end

-- The tables `tables` reference through foreign keys, recursively, with `tables` themselves:
-- what a pg_dump archive of them needs to restore on its own.
local function with_referenced(db, tables)
  local rels = {}
  for i, t in ipairs(tables) do rels[i] = S(t) end
  local rows = db:query([[
    WITH RECURSIVE r(oid) AS (
      SELECT to_regclass(t)::oid FROM unnest($1::text[]) t
      UNION
      SELECT k.confrelid FROM pg_constraint k JOIN r ON k.conrelid = r.oid WHERE k.contype = 'f')
    SELECT n.nspname || '.' || c.relname AS name FROM r JOIN pg_class c ON c.oid = r.oid
      JOIN pg_namespace n ON n.oid = c.relnamespace ORDER BY 1]], db.array(rels))
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.name end
  return out
end

-- Rows of a table about to lose columns that hold a value the backup does not have (a value
-- other than the one down gives a row, written after the backup was taken).
local function unbacked_column_values(db, spec)
  local cols, defaults = {}, {}
  for i, c in ipairs(spec.columns) do cols[i], defaults[i] = c[1], c[3] end
  local l, b = {}, {}
  for i, c in ipairs(cols) do l[i], b[i] = "l." .. c, "b." .. c end
  return db:value(([[
    SELECT count(*) FROM %s l
     WHERE (%s) IS DISTINCT FROM (%s)
       AND NOT EXISTS (SELECT 1 FROM %s.%s b WHERE b.id = l.id AND (%s) IS NOT DISTINCT FROM (%s))]]):format(
    S(spec.table), table.concat(l, ", "), table.concat(defaults, ", "), BACKUP, spec.table,
    table.concat(b, ", "), table.concat(l, ", ")))
end

-- The seed's validate_consolidated_schema.py, checks 1 to 5; nil or what fails.
local function seed_validation(db)
  local problems = {}
  local tables = {}
  for _, r in ipairs(db:query([[SELECT table_name::text AS t FROM information_schema.tables
                                 WHERE table_schema = $1 AND table_type = 'BASE TABLE']], SCHEMA)) do
    tables[r.t] = true
  end
  for t in pairs(tables) do
    if t:match("^v3_") then problems[#problems + 1] = "V3 table still exists: " .. t end
  end
  for _, t in ipairs(REQUIRED) do
    if not tables[t] then problems[#problems + 1] = "required table missing: " .. t end
  end
  for _, t in ipairs(DEPRECATED) do
    if tables[t] then problems[#problems + 1] = "deprecated table still exists: " .. t end
  end
  for _, t in ipairs { "discovery_flows", "assets", "data_imports" } do
    if not db:value([[SELECT EXISTS (SELECT 1 FROM information_schema.columns
                       WHERE table_schema = $1 AND table_name = $2 AND column_name = 'master_flow_id')]], SCHEMA, t) then
      problems[#problems + 1] = "master_flow_id missing from " .. t
    end
  end
  for _, r in ipairs(db:query([[SELECT table_name::text AS t FROM information_schema.columns
                                 WHERE table_schema = $1 AND column_name = 'is_mock' ORDER BY 1]], SCHEMA)) do
    problems[#problems + 1] = "is_mock field still exists in " .. r.t
  end
  table.sort(problems)
  if #problems > 0 then return table.concat(problems, "; ") end
  return nil
end

-- ---------------------------------------------------------------------------------------------

return migration "001_v3_consolidation" {
  description = "seed 002: back up, merge v3_* into the main tables, drop what is deprecated, enums, indexes, validation",

  -- Task 1.1: the current-state report, and what the migration expects to find.
  phase "analyze" {
    description = "current-state report: tables, columns, sizes, comments, V3 row counts; sizes before",
    up = function(db)
      local tables = db:query([[
        SELECT c.relname::text AS table_name,
               (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
                                                     AND NOT a.attisdropped) AS column_count,
               pg_total_relation_size(c.oid) AS bytes,
               pg_size_pretty(pg_total_relation_size(c.oid)) AS size,
               coalesce(obj_description(c.oid, 'pg_class'), '') AS comment
          FROM pg_class c
         WHERE c.relnamespace = to_regnamespace($1) AND c.relkind IN ('r', 'p')
         ORDER BY 1]], SCHEMA)
      local v3_rows = {}
      for _, t in ipairs(V3) do v3_rows[t] = exists(db, S(t)) and count(db, S(t)) or db.NULL end
      local before = sizes(db)
      weir.checkpoint("report", { tables = tables, v3_rows = v3_rows, sizes = before })
      print(("analyze: %d tables in %s (%s), database %s"):format(#tables, SCHEMA, pretty(db, before.schema),
        pretty(db, before.database)))
      for _, r in ipairs(tables) do
        print(("analyze:   %-30s %3d columns  %10s  %s"):format(r.table_name, r.column_count, r.size, r.comment))
      end
      local parts = {}
      for _, t in ipairs(V3) do parts[#parts + 1] = t .. " " .. tostring(v3_rows[t]) end
      print("analyze: V3 rows: " .. table.concat(parts, ", "))
    end,
    -- the database this migration was written for: every table it merges, changes or drops
    -- is there, and nothing of the backup schema it creates
    verify = function(db)
      local missing = {}
      for _, list in ipairs { REQUIRED, V3, DEPRECATED } do
        for _, t in ipairs(list) do
          if not exists(db, S(t)) then missing[#missing + 1] = S(t) end
        end
      end
      if #missing > 0 then return false, "not found: " .. table.concat(missing, ", ") end
      if db:value("SELECT to_regnamespace($1) IS NOT NULL", BACKUP) then
        return false, ("schema %s exists already (a backup left by an earlier run?): drop it or keep it elsewhere first"):format(BACKUP)
      end
      return true
    end,
    down = function() end,  -- read-only: weir drops its checkpoint
  },

  -- Task 1.2. One snapshot for everything: a transaction on a session of its own exports it,
  -- pg_dump reads through it, and copy.table reads the live tables through that session batch
  -- by batch (each batch its own short transaction on the backup side). Nothing takes more
  -- than ACCESS SHARE on a live table (which only DDL waits for), and the archive, the copy and
  -- the manifest hold the same rows: those of one moment. Rows written after that moment are
  -- not in the backup; drop refuses to remove any of them.
  phase "backup" {
    description = "pg_dump archive and in-database copy (v3_backup) of one snapshot; counts, fingerprints, sequences",
    transaction = false,
    requires = { "analyze" },
    up = function(db)
      local done = weir.checkpoint("backup")
      if done then
        print(("backup: taken already (%s)"):format(done.file))
        return
      end
      -- (again) from the start: what an interrupted run copied came from a snapshot now gone
      db:exec("CREATE SCHEMA IF NOT EXISTS " .. BACKUP)
      for _, t in ipairs(BACKED_UP) do
        db:exec(("DROP TABLE IF EXISTS %s.%s"):format(BACKUP, t))
        db:exec(("CREATE TABLE %s.%s (LIKE %s)"):format(BACKUP, t, S(t)))
      end
      db:exec(("DROP TABLE IF EXISTS %s.manifest"):format(BACKUP))
      db:exec(([[CREATE TABLE %s.manifest (relation text PRIMARY KEY, row_count bigint, fingerprint text,
                                          last_value bigint, is_called boolean)]]):format(BACKUP))

      local snap <close> = db:clone()
      snap:exec "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
      local snapshot = snap:value "SELECT pg_export_snapshot()"
      local dumped = with_referenced(snap, BACKED_UP)
      local stamp = snap:value [[SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.US"Z"')]]
      local file = ("%s/%s-%s-%s.dump"):format(BACKUP_DIR, ID, snap:value "SELECT current_database()", stamp)
      local bytes = weir.dump { db = db, file = file, snapshot = snapshot,
        tables = BACKUP_SCOPE == "tables" and dumped or nil }

      local rows = 0
      for _, t in ipairs(BACKED_UP) do
        local st = copy.table { from = snap, to = db, source = S(t), target = BACKUP .. "." .. t, key = "id",
          batch = BATCH, on_error = "fail", name = BACKUP .. "." .. t }
        rows = rows + st.written
      end
      local manifest = {}
      for _, rel in ipairs(dumped) do
        local f = fingerprint(snap, rel)
        manifest[#manifest + 1] = { rel, f.n, f.md5 }
      end
      local seqs = {}
      for _, s in ipairs(SEQUENCES) do seqs[s] = snap:one("SELECT last_value, is_called FROM " .. S(s)) end
      snap:exec "COMMIT"
      for _, m in ipairs(manifest) do
        db:exec(("INSERT INTO %s.manifest (relation, row_count, fingerprint) VALUES ($1, $2, $3)"):format(BACKUP),
          m[1], m[2], m[3])
      end
      for _, s in ipairs(SEQUENCES) do
        db:exec(("INSERT INTO %s.manifest (relation, last_value, is_called) VALUES ($1, $2, $3)"):format(BACKUP),
          S(s), seqs[s].last_value, seqs[s].is_called)
      end
      weir.checkpoint("backup", { file = file, bytes = bytes, tables = dumped, scope = BACKUP_SCOPE })
      print(("backup: %s (%s, %s); %d rows of %d tables copied into %s"):format(file, pretty(db, bytes),
        BACKUP_SCOPE == "tables" and (#dumped .. " tables") or "the whole database", rows, #BACKED_UP, BACKUP))
    end,
    verify = function(db)
      local done = weir.checkpoint("backup")
      if not done then return false, "backup recorded nothing" end
      check.has_schema(db, BACKUP)
      for _, t in ipairs(BACKED_UP) do
        local f = fingerprint(db, BACKUP .. "." .. t)
        local m = db:one(("SELECT row_count, fingerprint FROM %s.manifest WHERE relation = $1"):format(BACKUP), S(t))
        if not m or m.row_count ~= f.n or m.fingerprint ~= f.md5 then
          return false, ("%s.%s does not hold the %s rows of the snapshot"):format(BACKUP, t, m and m.row_count or "?")
        end
      end
      if done.bytes > 0 then  -- (0: planned, not written)
        local f = io.open(done.file, "rb")
        if not f then return false, "the archive " .. done.file .. " is gone" end
        local size = f:seek("end")
        f:close()
        if size ~= done.bytes then
          return false, ("the archive %s has %d bytes, %d were written"):format(done.file, size, done.bytes)
        end
      end
      return true
    end,
    -- Drops the in-database copy (without CASCADE: anything else put into v3_backup makes this
    -- fail). The pg_dump archive is kept: weir never deletes a backup file.
    down = function(db)
      local done = weir.checkpoint("backup")
      for _, t in ipairs(BACKED_UP) do
        db:exec(("DROP TABLE IF EXISTS %s.%s"):format(BACKUP, t))
        copy.reset(db, BACKUP .. "." .. t)
      end
      db:exec(("DROP TABLE IF EXISTS %s.manifest"):format(BACKUP))
      db:exec("DROP SCHEMA IF EXISTS " .. BACKUP)
      if done and done.bytes > 0 then print("backup: kept the archive " .. done.file) end
    end,
  },

  -- Task 1.3.
  phase "merge" {
    description = "INSERT … SELECT … WHERE NOT EXISTS from v3_* into the main tables (renames, CASE status)",
    requires = { "backup" },
    up = function(db)
      -- the V3 side must not change while it is read (SHARE blocks its writers for this one
      -- transaction); the main tables stay writable: a concurrent insert of the same id fails
      -- this phase with 23505, rolled back whole, and `weir up` can simply run it again
      db:exec(Q "LOCK TABLE @S.v3_data_imports, @S.v3_discovery_flows, @S.v3_field_mappings IN SHARE MODE")
      db:exec(("CREATE TABLE %s.merged_rows (tbl text NOT NULL, id uuid NOT NULL, PRIMARY KEY (tbl, id))"):format(BACKUP))
      local rec = {}
      for _, p in ipairs(MERGED) do
        local main, v3 = p[1], p[2]
        local r = {
          before = count(db, S(main)),
          v3 = count(db, S(v3)),
          new = db:value(("SELECT count(*) FROM %s v WHERE NOT EXISTS (SELECT 1 FROM %s m WHERE m.id = v.id)")
            :format(S(v3), S(main))),
        }
        db:exec(Q(MERGE_SQL[main]))
        r.inserted = db:value(("SELECT count(*) FROM %s.merged_rows WHERE tbl = $1"):format(BACKUP), main)
        rec[main] = r
        print(("merge: %s: %d v3 rows, %d already present, %d inserted (%d → %d rows)"):format(
          main, r.v3, r.v3 - r.new, r.inserted, r.before, count(db, S(main))))
      end
      weir.checkpoint("counts", rec)
    end,
    -- the seed's "migration verification report": no row lost, none doubled, renames and CASE
    verify = function(db)
      local rec = weir.checkpoint("counts")
      for _, p in ipairs(MERGED) do
        local main, v3 = p[1], p[2]
        local r = rec[main]
        check.sql(db, ("SELECT count(*) = %d FROM %s"):format(r.before + r.new, S(main)),
          ("%s: %d rows before + %d v3 rows not already present"):format(main, r.before, r.new))
        check.sql(db, ("SELECT count(*) = %d FROM %s.merged_rows WHERE tbl = '%s'"):format(r.new, BACKUP, main),
          ("%s: %d merged rows recorded"):format(main, r.new))
        check.sql(db, ("SELECT NOT EXISTS (SELECT 1 FROM %s v WHERE NOT EXISTS (SELECT 1 FROM %s m WHERE m.id = v.id))")
          :format(S(v3), S(main)), ("every %s row is in %s"):format(v3, main))
        check.unique(db, S(main), { "id" })
      end
      check.sql(db, Q [[
        SELECT NOT EXISTS (
          SELECT 1 FROM @S.data_imports d
            JOIN v3_backup.merged_rows r ON r.tbl = 'data_imports' AND r.id = d.id
            JOIN @S.v3_data_imports v ON v.id = d.id
           WHERE (d.filename, d.file_size, d.mime_type, d.imported_by)
                 IS DISTINCT FROM (v.source_filename, v.file_size_bytes, v.file_type, v.user_id))]],
        "merged data_imports carry source_filename, file_size_bytes, file_type, user_id")
      check.sql(db, Q [[
        SELECT NOT EXISTS (
          SELECT 1 FROM @S.import_field_mappings m
            JOIN v3_backup.merged_rows r ON r.tbl = 'import_field_mappings' AND r.id = m.id
            JOIN @S.v3_field_mappings v ON v.id = m.id
           WHERE m.status IS DISTINCT FROM CASE WHEN v.is_approved THEN 'approved'
                                                WHEN v.is_rejected THEN 'rejected' ELSE 'suggested' END
              OR m.match_type IS DISTINCT FROM v.mapping_type
              OR m.suggested_by IS DISTINCT FROM v.ai_model_version
              OR m.transformation_rules IS DISTINCT FROM v.transformation_logic)]],
        "merged import_field_mappings: status from is_approved/is_rejected, renamed columns")
      check.accepted_values(db, S "import_field_mappings", "status", { "suggested", "approved", "rejected" })
      return true
    end,
    -- Deletes exactly the rows merge inserted (children first). Rows the application wrote
    -- since are kept; one that references a merged row (an asset on a merged flow) makes the
    -- DELETE fail on its foreign key, and the rollback of this phase is undone whole.
    down = function(db)
      for i = #MERGED, 1, -1 do
        local main = MERGED[i][1]
        db:exec(("DELETE FROM %s WHERE id IN (SELECT id FROM %s.merged_rows WHERE tbl = '%s')")
          :format(S(main), BACKUP, main))
      end
      db:exec(("DROP TABLE %s.merged_rows"):format(BACKUP))
    end,
  },

  -- Task 1.4 and the column removals of Task 3.1.
  -- HAZARDS: this phase deletes data. The seed's DROP … CASCADE would also silently drop any
  -- view or foreign key that depends on these tables; here there is no CASCADE, so such a
  -- dependent makes the phase fail instead (2BP01) and nothing is dropped. Before dropping, up
  -- checks, under ACCESS EXCLUSIVE locks (one pass over each table), that v3_backup holds every
  -- row about to be deleted and every non-default value of a column about to go: a row written
  -- since the backup would otherwise be lost for good. The owned serial sequences go with their
  -- tables; down sets them back. DROP COLUMN is catalog-only (no rewrite).
  phase "drop" {
    description = "drop is_mock, file_hash, import_config, assessment_package, raw_data (→ asset_raw_data), the 6 deprecated and 4 v3 tables",
    requires = { "merge" },
    up = function(db)
      local dropped, rels = {}, {}
      for _, t in ipairs(DEPRECATED) do dropped[#dropped + 1] = S(t) end
      for _, t in ipairs(V3) do dropped[#dropped + 1] = S(t) end
      for i, rel in ipairs(dropped) do rels[i] = rel end
      for _, spec in ipairs(DROPPED_COLUMNS) do rels[#rels + 1] = S(spec.table) end
      db:exec("LOCK TABLE " .. table.concat(rels, ", ") .. " IN ACCESS EXCLUSIVE MODE")
      local missing = {}
      for _, rel in ipairs(dropped) do
        local t = rel:match("[^.]+$")
        local n = db:value(("SELECT count(*) FROM (TABLE %s EXCEPT ALL TABLE %s.%s) x"):format(rel, BACKUP, t))
        if n > 0 then missing[#missing + 1] = ("%s: %d rows"):format(t, n) end
      end
      for _, spec in ipairs(DROPPED_COLUMNS) do
        local n = unbacked_column_values(db, spec)
        if n > 0 then missing[#missing + 1] = ("%s's dropped columns: %d rows"):format(spec.table, n) end
      end
      if #missing > 0 then
        error("drop: " .. BACKUP .. " does not hold everything about to be dropped (written since the backup?): " ..
          table.concat(missing, ", ") .. "; roll back to analyze and run again", 0)
      end
      local freed = db:value([[SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0)::bigint
                                 FROM unnest($1::text[]) t]], db.array(dropped))
      -- assets.raw_data: "move to separate table if needed"
      db:exec(Q [[
        CREATE TABLE @S.asset_raw_data (
          asset_id uuid PRIMARY KEY REFERENCES @S.assets (id) ON DELETE CASCADE,
          raw_data jsonb NOT NULL
        );
        INSERT INTO @S.asset_raw_data SELECT id, raw_data FROM @S.assets WHERE raw_data IS NOT NULL;
        ALTER TABLE @S.assets DROP COLUMN raw_data;]])
      local moved = count(db, S "asset_raw_data")
      for _, spec in ipairs(DROPPED_COLUMNS) do
        local drops = {}
        for i, c in ipairs(spec.columns) do drops[i] = "DROP COLUMN " .. c[1] end
        db:exec(("ALTER TABLE %s %s"):format(S(spec.table), table.concat(drops, ", ")))
      end
      for _, t in ipairs(DEPRECATED) do db:exec("DROP TABLE " .. S(t)) end
      for i = #V3, 1, -1 do db:exec("DROP TABLE " .. S(V3[i])) end  -- children first
      weir.checkpoint("dropped", { freed = freed, raw_data = moved })
      print(("drop: is_mock, file_hash, import_config, assessment_package; raw_data of %d assets moved to asset_raw_data"):format(moved))
      print(("drop: %d deprecated and %d v3 tables (%s)"):format(#DEPRECATED, #V3, pretty(db, freed)))
    end,
    -- the seed's validate_consolidated_schema.py, plus: the backup still holds the dropped rows
    verify = function(db)
      local problems = seed_validation(db)
      if problems then return false, problems end
      for _, spec in ipairs(DROPPED_COLUMNS) do
        for _, c in ipairs(spec.columns) do check.hasnt_column(db, S(spec.table), c[1]) end
      end
      check.hasnt_column(db, S "assets", "raw_data")
      check.sql(db, ("SELECT count(*) = %d FROM %s"):format(weir.checkpoint("dropped").raw_data, S "asset_raw_data"),
        "asset_raw_data holds the raw_data of every asset that had one")
      for _, list in ipairs { DEPRECATED, V3 } do
        for _, t in ipairs(list) do
          check.sql(db, ("SELECT count(*) = (SELECT row_count FROM %s.manifest WHERE relation = '%s') FROM %s.%s")
            :format(BACKUP, S(t), BACKUP, t), BACKUP .. "." .. t .. " holds the rows counted at backup")
        end
      end
      return true
    end,
    -- Recreates the tables from DROPPED_DDL, copies their rows back from v3_backup (parents
    -- first), puts the serial sequences back where they were, adds the columns back (last, as
    -- they were) with the backed-up values (rows written since get the default), and raw_data
    -- from asset_raw_data.
    down = function(db)
      db:exec(Q(DROPPED_DDL))
      for _, t in ipairs(V3) do db:exec(("INSERT INTO %s SELECT * FROM %s.%s"):format(S(t), BACKUP, t)) end
      for _, t in ipairs(DEPRECATED) do db:exec(("INSERT INTO %s SELECT * FROM %s.%s"):format(S(t), BACKUP, t)) end
      for _, s in ipairs(SEQUENCES) do
        db:exec(("SELECT setval($1::text::regclass, last_value, is_called) FROM %s.manifest WHERE relation = $1::text"):format(BACKUP), S(s))
      end
      for _, spec in ipairs(DROPPED_COLUMNS) do
        local adds, sets, differs = {}, {}, {}
        for i, c in ipairs(spec.columns) do
          adds[i] = ("ADD COLUMN %s %s"):format(c[1], c[2])
          sets[i] = ("%s = b.%s"):format(c[1], c[1])
          differs[i] = ("b.%s IS DISTINCT FROM %s"):format(c[1], c[3])
        end
        db:exec(("ALTER TABLE %s %s"):format(S(spec.table), table.concat(adds, ", ")))
        db:exec(("UPDATE %s m SET %s FROM %s.%s b WHERE b.id = m.id AND (%s)"):format(S(spec.table),
          table.concat(sets, ", "), BACKUP, spec.table, table.concat(differs, " OR ")))
      end
      db:exec(Q [[
        ALTER TABLE @S.assets ADD COLUMN raw_data jsonb;
        UPDATE @S.assets a SET raw_data = r.raw_data FROM @S.asset_raw_data r WHERE r.asset_id = a.id;
        DROP TABLE @S.asset_raw_data;]])
    end,
  },

  -- Task 2.1: what the seed's consolidated schema has that the database lacks. Converting a
  -- column to an enum rewrites its table (and its indexes) under ACCESS EXCLUSIVE: fine for
  -- the sizes of this application's tables, `weir plan` shows it; values outside the labels
  -- make up refuse, naming them.
  phase "schema" {
    description = "enums asset_type and flow_status (assets.asset_type, discovery_flows.status), client_accounts' columns, assets.master_flow_id FK",
    requires = { "drop" },
    up = function(db)
      local created = {}
      for _, e in ipairs(ENUMS) do
        local wrong = db:value(("SELECT string_agg(DISTINCT %s, ', ') FROM %s WHERE %s <> ALL ($1::text[])")
          :format(e.column, S(e.table), e.column), db.array(e.labels))
        if not db.isnull(wrong) then
          error(("schema: %s.%s holds values that are not labels of %s: %s"):format(e.table, e.column, e.name, wrong), 0)
        end
        created[e.name] = not db:value("SELECT to_regtype($1) IS NOT NULL", S(e.name))
        ddl.create_enum(db, S(e.name), e.labels)
        db:exec(("ALTER TABLE %s ALTER COLUMN %s TYPE %s USING %s::%s"):format(S(e.table), e.column, S(e.name),
          e.column, S(e.name)))
      end
      local added = {}
      for _, c in ipairs(CLIENT_ACCOUNT_COLUMNS) do
        if ddl.add_column(db, S "client_accounts", c[1], c[2], { default = c[3] }) then added[#added + 1] = c[1] end
      end
      ddl.add_foreign_key(db, S "assets", { "master_flow_id" }, S "crewai_flow_state_extensions", { "flow_id" },
        { name = "assets_master_flow_id_fkey" })
      weir.checkpoint("created", { enums = created, columns = added })
      print(("schema: enums asset_type, flow_status; %d client_accounts columns; assets.master_flow_id → crewai_flow_state_extensions.flow_id")
        :format(#added))
    end,
    verify = function(db)
      for _, e in ipairs(ENUMS) do
        check.enum_has_labels(db, S(e.name), e.labels)
        check.col_type_is(db, S(e.table), e.column, S(e.name))
      end
      for _, c in ipairs(CLIENT_ACCOUNT_COLUMNS) do check.has_column(db, S "client_accounts", c[1]) end
      check.fk_ok(db, S "assets", { "master_flow_id" }, S "crewai_flow_state_extensions", { "flow_id" })
      return true
    end,
    down = function(db)
      local created = weir.checkpoint("created")
      db:exec(("ALTER TABLE %s DROP CONSTRAINT IF EXISTS assets_master_flow_id_fkey"):format(S "assets"))
      for _, c in ipairs(created.columns) do ddl.drop_column(db, S "client_accounts", c) end
      for _, e in ipairs(ENUMS) do
        db:exec(("ALTER TABLE %s ALTER COLUMN %s TYPE text USING %s::text"):format(S(e.table), e.column, e.column))
        if created.enums[e.name] then db:exec("DROP TYPE " .. S(e.name)) end
      end
    end,
  },

  -- Task 2.2: the seed's indexes, built without blocking writes.
  phase "indexes" {
    description = "the seed's 10 performance indexes (8 btree, 2 GIN on jsonb), CONCURRENTLY",
    transaction = false,
    requires = { "schema" },
    up = function(db)
      for _, ix in ipairs(INDEXES) do
        ddl.create_index(db, S(ix[2]), ix[3], { name = ix[1], using = ix[4] })
      end
      print(("indexes: %d built concurrently"):format(#INDEXES))
    end,
    verify = function(db)
      for _, ix in ipairs(INDEXES) do
        local r = db:one([[
          SELECT x.indisvalid AS valid, am.amname::text AS method, c.relname::text AS tbl,
                 ARRAY(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(n, o)
                         JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.o) AS cols
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam
            JOIN pg_class c ON c.oid = x.indrelid
           WHERE x.indexrelid = to_regclass($1)]], S(ix[1]))
        if not r then return false, "index " .. S(ix[1]) .. " does not exist" end
        if not r.valid then return false, "index " .. S(ix[1]) .. " is INVALID" end
        if r.tbl ~= ix[2] or table.concat(r.cols, ",") ~= table.concat(ix[3], ",") or r.method ~= (ix[4] or "btree") then
          return false, ("index %s is %s on %s (%s), not %s on %s (%s)"):format(ix[1], r.method, r.tbl,
            table.concat(r.cols, ", "), ix[4] or "btree", ix[2], table.concat(ix[3], ", "))
        end
      end
      return true
    end,
    down = function(db)
      for i = #INDEXES, 1, -1 do ddl.drop_index(db, S(INDEXES[i][1])) end
    end,
  },

  -- Tasks 2.3 and 6.3: the seed's validation report and its health view.
  phase "validate" {
    description = "deployment_health view; validation report: tables, index and FK counts, sizes before and after",
    requires = { "indexes" },
    up = function(db)
      ddl.create_view(db, S "deployment_health", (Q(HEALTH_VIEW):gsub("'@S'", "'" .. SCHEMA .. "'")))
      local report = { total_tables = 0, indexes = {}, constraints = {} }
      report.total_tables = db:value([[SELECT count(*) FROM information_schema.tables
                                        WHERE table_schema = $1 AND table_type = 'BASE TABLE']], SCHEMA)
      for _, t in ipairs(REQUIRED) do
        report.indexes[t] = db:value("SELECT count(*) FROM pg_index WHERE indrelid = $1::regclass", S(t))
        report.constraints[t] = db:value("SELECT count(*) FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f'", S(t))
      end
      local before = weir.checkpoint_of("analyze", "report")
      local after = sizes(db)
      report.sizes = { before = before and before.sizes, after = after }
      weir.checkpoint("report", report)
      local parts = {}
      for _, t in ipairs(REQUIRED) do
        parts[#parts + 1] = ("%s %d/%d"):format(t, report.indexes[t], report.constraints[t])
      end
      print(("validate: %d tables in %s; indexes/foreign keys: %s"):format(report.total_tables, SCHEMA,
        table.concat(parts, ", ")))
      if before then
        local b = before.sizes
        print(("validate: %s: %s before, %s after (%s dropped by this migration)"):format(SCHEMA,
          pretty(db, b.schema), pretty(db, after.schema), pretty(db, weir.checkpoint_of("drop", "dropped").freed)))
        print(("validate: database: %s before, %s after, of which %s is the backup schema %s (drop it once the release is accepted)")
          :format(pretty(db, b.database), pretty(db, after.database), pretty(db, after.backup), BACKUP))
      end
      print("validate: report " .. json.encode(report))
    end,
    verify = function(db)
      local problems = seed_validation(db)
      if problems then return false, problems end
      check.has_view(db, S "deployment_health")
      check.sql(db, ("SELECT array_agg(metric ORDER BY metric) = ARRAY['active_flows', 'recent_errors', 'table_count'] FROM %s")
        :format(S "deployment_health"), "deployment_health reports table_count, active_flows, recent_errors")
      return true
    end,
    down = function(db) ddl.drop_view(db, S "deployment_health") end,
  },
}
