-- The application's database as it stands BEFORE seed 002's consolidation: the main tables
-- next to their V3 twins (`v3_*`), and six deprecated tables, all in one schema — `public`, or
-- the one weir.lua's var `schema` names (the seed's application uses `migration`):
--
--   weir run fixture.lua                        (from this directory: weir.lua gives the URL)
--   V3_SCHEMA=migration weir run fixture.lua    (the same database in schema `migration`)
--
-- Deterministic: fixed uuids from md5, fixed timestamps, generate_series (no random()), so two
-- loads hold identical rows. What the rows exercise:
--   * some V3 rows share their id with a main row (4 imports, 3 flows, 5 field mappings); the
--     main row holds different values, so the merge's WHERE NOT EXISTS must keep it untouched;
--   * v3_field_mappings carries is_approved / is_rejected, which the merge maps to a status with
--     a CASE (one row has both set: approved wins, as in the seed's CASE order);
--   * v3_data_imports uses the old column names (source_filename, file_size_bytes, file_type,
--     user_id) and the fields the seed deletes (is_mock, file_hash, import_config);
--   * the main tables still have the columns the seed removes: is_mock (data_imports,
--     discovery_flows, assets), file_hash and import_config (data_imports), assessment_package
--     (discovery_flows), raw_data (assets) — last in each table, some rows holding values;
--   * assets.asset_type and discovery_flows.status are text holding only the labels of the
--     seed's enums asset_type and flow_status; assets have six_r_strategy and technology_stack
--     (jsonb), discovery_flows phases (jsonb), which the seed's indexes cover;
--   * workflow_states and discovery_assets have serial ids (the seed drops their sequences).
-- Not idempotent: it refuses to run when any of its tables (or the backup schema) exists.

local SCHEMA = weir.var("schema", "public")
if not SCHEMA:match("^[a-z_][a-z0-9_]*$") then
  error(("fixture: schema %q: expected a lower-case SQL identifier"):format(SCHEMA), 0)
end
local function Q(sql) return (sql:gsub("@S%.", SCHEMA .. ".")) end

local MAIN = { "client_accounts", "users", "engagements", "crewai_flow_state_extensions",
  "data_imports", "discovery_flows", "import_field_mappings", "assets" }
local V3 = { "v3_data_imports", "v3_discovery_flows", "v3_field_mappings", "v3_raw_import_records" }
local DEPRECATED = { "workflow_states", "discovery_assets", "mapping_learning_patterns",
  "data_quality_issues", "workflow_progress", "import_processing_steps" }

local found = {}
for _, list in ipairs { MAIN, V3, DEPRECATED } do
  for _, t in ipairs(list) do
    if db:value("SELECT to_regclass($1) IS NOT NULL", SCHEMA .. "." .. t) then found[#found + 1] = t end
  end
end
if db:value "SELECT to_regnamespace('v3_backup') IS NOT NULL" then found[#found + 1] = "schema v3_backup" end
if #found > 0 then
  error(("fixture: refusing to run: %d object%s already exist in %s (%s). Load it into an empty database."):format(
    #found, #found == 1 and "" or "s", SCHEMA,
    table.concat(found, ", ", 1, math.min(#found, 6)) .. (#found > 6 and ", …" or "")), 0)
end

db:tx(function()
  if SCHEMA ~= "public" then db:exec("CREATE SCHEMA IF NOT EXISTS " .. SCHEMA) end
  -- -------------------------------------------------------------------------------------------
  -- Main tables (kept by the consolidation).
  db:exec(Q [[
    CREATE TABLE @S.client_accounts (
      id   uuid PRIMARY KEY,
      name text NOT NULL,
      slug text NOT NULL UNIQUE
    );
    CREATE TABLE @S.users (
      id    uuid PRIMARY KEY,
      email text NOT NULL UNIQUE
    );
    CREATE TABLE @S.engagements (
      id                uuid PRIMARY KEY,
      client_account_id uuid NOT NULL REFERENCES @S.client_accounts (id),
      name              text NOT NULL
    );
    CREATE TABLE @S.crewai_flow_state_extensions (
      id                uuid PRIMARY KEY,
      flow_id           uuid NOT NULL UNIQUE,
      client_account_id uuid NOT NULL REFERENCES @S.client_accounts (id),
      flow_type         text NOT NULL,
      flow_status       text NOT NULL
    );
    CREATE TABLE @S.data_imports (
      id                  uuid PRIMARY KEY,
      client_account_id   uuid NOT NULL REFERENCES @S.client_accounts (id),
      engagement_id       uuid REFERENCES @S.engagements (id),
      master_flow_id      uuid REFERENCES @S.crewai_flow_state_extensions (flow_id),
      filename            text NOT NULL,
      file_size           bigint,
      mime_type           text,
      source_system       text,
      status              text NOT NULL DEFAULT 'pending',
      import_name         text,
      import_type         text,
      description         text,
      error_message       text,
      error_details       jsonb,
      progress_percentage numeric(5,2) NOT NULL DEFAULT 0,
      total_records       integer,
      processed_records   integer,
      failed_records      integer,
      imported_by         uuid REFERENCES @S.users (id),
      created_at          timestamptz NOT NULL,
      updated_at          timestamptz,
      started_at          timestamptz,
      completed_at        timestamptz,
      is_mock             boolean NOT NULL DEFAULT false,
      file_hash           text,
      import_config       jsonb
    );
    CREATE INDEX data_imports_client_account_id_idx ON @S.data_imports (client_account_id);
    CREATE TABLE @S.discovery_flows (
      id                  uuid PRIMARY KEY,
      flow_id             uuid NOT NULL,
      master_flow_id      uuid REFERENCES @S.crewai_flow_state_extensions (flow_id),
      client_account_id   uuid NOT NULL REFERENCES @S.client_accounts (id),
      engagement_id       uuid REFERENCES @S.engagements (id),
      data_import_id      uuid REFERENCES @S.data_imports (id),
      user_id             uuid REFERENCES @S.users (id),
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
      completed_at        timestamptz,
      phases              jsonb NOT NULL DEFAULT '{}',
      is_mock             boolean NOT NULL DEFAULT false,
      assessment_package  jsonb
    );
    CREATE TABLE @S.import_field_mappings (
      id                   uuid PRIMARY KEY,
      data_import_id       uuid NOT NULL REFERENCES @S.data_imports (id),
      client_account_id    uuid NOT NULL REFERENCES @S.client_accounts (id),
      master_flow_id       uuid,
      source_field         text NOT NULL,
      target_field         text,
      match_type           text,
      confidence_score     numeric(4,3),
      status               text NOT NULL DEFAULT 'suggested'
                           CHECK (status IN ('suggested', 'approved', 'rejected')),
      suggested_by         text,
      approved_by          uuid REFERENCES @S.users (id),
      approved_at          timestamptz,
      transformation_rules jsonb,
      is_validated         boolean NOT NULL DEFAULT false,
      created_at           timestamptz NOT NULL,
      updated_at           timestamptz
    );
    CREATE TABLE @S.assets (
      id                uuid PRIMARY KEY,
      client_account_id uuid NOT NULL REFERENCES @S.client_accounts (id),
      engagement_id     uuid REFERENCES @S.engagements (id),
      master_flow_id    uuid,
      discovery_flow_id uuid REFERENCES @S.discovery_flows (id),
      name              text NOT NULL,
      asset_type        text NOT NULL,
      environment       text,
      six_r_strategy    text,
      technology_stack  jsonb NOT NULL DEFAULT '[]',
      is_mock           boolean NOT NULL DEFAULT false,
      raw_data          jsonb
    );
    COMMENT ON TABLE @S.client_accounts IS 'tenants: every other table is scoped by client_account_id';
    COMMENT ON TABLE @S.crewai_flow_state_extensions IS 'master flows: the orchestration every flow hangs off';
    COMMENT ON TABLE @S.data_imports IS 'uploaded files and their processing state';
    COMMENT ON TABLE @S.discovery_flows IS 'one discovery run per import';
    COMMENT ON TABLE @S.assets IS 'discovered infrastructure';
  ]])

  -- -------------------------------------------------------------------------------------------
  -- V3 tables and deprecated tables: the same DDL as in migrations/001_v3_consolidation.lua
  -- (whose drop phase recreates them on down). The tests compare schemas, so a drift shows.
  db:exec(Q [[
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
  ]])

  -- -------------------------------------------------------------------------------------------
  -- Rows. Ids: md5('<kind>-' || n)::uuid; V3-only rows use md5('v3-<kind>-' || n).
  db:exec(Q [[
    INSERT INTO @S.client_accounts
    SELECT md5('client-' || g)::uuid, 'Client ' || g, 'client-' || g FROM generate_series(1, 3) g;
    INSERT INTO @S.users
    SELECT md5('user-' || g)::uuid, 'user' || g || '@example.com' FROM generate_series(1, 5) g;
    INSERT INTO @S.engagements
    SELECT md5('engagement-' || g)::uuid, md5('client-' || ((g - 1) % 3 + 1))::uuid, 'Engagement ' || g
      FROM generate_series(1, 4) g;
    INSERT INTO @S.crewai_flow_state_extensions
    SELECT md5('master-row-' || g)::uuid, md5('master-' || g)::uuid, md5('client-' || ((g - 1) % 3 + 1))::uuid,
           'discovery', (ARRAY['active', 'completed', 'processing'])[g % 3 + 1]
      FROM generate_series(1, 6) g;

    -- main: 20 imports, 15 flows, 40 field mappings, 25 assets
    INSERT INTO @S.data_imports (id, client_account_id, engagement_id, master_flow_id, filename, file_size,
      mime_type, source_system, status, import_name, import_type, total_records, processed_records,
      failed_records, imported_by, created_at, updated_at, is_mock)
    SELECT md5('import-' || g)::uuid, md5('client-' || ((g - 1) % 3 + 1))::uuid,
           md5('engagement-' || ((g - 1) % 4 + 1))::uuid, md5('master-' || ((g - 1) % 6 + 1))::uuid,
           'main-' || g || '.csv', 1000 * g, 'text/csv', 'cmdb', 'completed', 'Import ' || g, 'cmdb',
           10 * g, 10 * g, 0, md5('user-' || ((g - 1) % 5 + 1))::uuid,
           timestamptz '2025-01-01 00:00+00' + g * interval '1 hour',
           timestamptz '2025-01-02 00:00+00' + g * interval '1 hour', g % 5 = 0
      FROM generate_series(1, 20) g;
    UPDATE @S.data_imports SET file_hash = md5('main-file-' || filename),
                                import_config = jsonb_build_object('delimiter', ';', 'header', true)
     WHERE total_records % 30 = 0;
    INSERT INTO @S.discovery_flows (id, flow_id, master_flow_id, client_account_id, engagement_id,
      data_import_id, user_id, status, progress_percentage, current_phase, phases_completed, flow_state, created_at,
      phases, is_mock, assessment_package)
    SELECT md5('flow-' || g)::uuid, md5('flow-id-' || g)::uuid, md5('master-' || ((g - 1) % 6 + 1))::uuid,
           md5('client-' || ((g - 1) % 3 + 1))::uuid, md5('engagement-' || ((g - 1) % 4 + 1))::uuid,
           md5('import-' || g)::uuid, md5('user-' || ((g - 1) % 5 + 1))::uuid,
           'completed', 100, 'inventory', ARRAY['import', 'mapping', 'inventory'], jsonb_build_object('main', g),
           timestamptz '2025-01-03 00:00+00' + g * interval '1 hour',
           jsonb_build_object('import', 'completed', 'mapping', 'completed',
                              'inventory', CASE WHEN g % 4 = 0 THEN 'in_progress' ELSE 'completed' END),
           g % 6 = 0, CASE WHEN g % 3 = 0 THEN jsonb_build_object('package', 'wave-' || g) END
      FROM generate_series(1, 15) g;
    INSERT INTO @S.import_field_mappings (id, data_import_id, client_account_id, master_flow_id, source_field,
      target_field, match_type, confidence_score, status, suggested_by, created_at)
    SELECT md5('mapping-' || g)::uuid, md5('import-' || ((g - 1) % 20 + 1))::uuid,
           md5('client-' || ((g - 1) % 3 + 1))::uuid, md5('master-' || ((g - 1) % 6 + 1))::uuid,
           'main_col_' || g, 'field_' || g, 'exact', 0.9, 'approved', 'main-model',
           timestamptz '2025-01-04 00:00+00' + g * interval '1 minute'
      FROM generate_series(1, 40) g;
    INSERT INTO @S.assets
    SELECT md5('asset-' || g)::uuid, md5('client-' || ((g - 1) % 3 + 1))::uuid,
           md5('engagement-' || ((g - 1) % 4 + 1))::uuid, md5('master-' || ((g - 1) % 6 + 1))::uuid,
           md5('flow-' || ((g - 1) % 15 + 1))::uuid, 'host-' || g,
           (ARRAY['server', 'application', 'database', 'network', 'storage'])[(g - 1) % 5 + 1],
           CASE WHEN g % 2 = 0 THEN 'production' ELSE 'staging' END,
           (ARRAY['rehost', 'replatform', 'refactor', 'retire', 'retain', NULL])[(g - 1) % 6 + 1],
           jsonb_build_array((ARRAY['linux', 'windows'])[g % 2 + 1],
                             (ARRAY['postgres', 'oracle', 'nginx', 'java'])[g % 4 + 1]),
           g % 7 = 0,
           CASE WHEN g % 4 <> 0 THEN jsonb_build_object('hostname', 'host-' || g, 'cpu', g % 8 + 1) END
      FROM generate_series(1, 25) g;

    -- V3: 12 imports (1-4 share ids with main imports 1-4), 10 flows (1-3 with main flows 1-3),
    -- 30 field mappings (1-5 with main mappings 1-5), 48 raw records
    INSERT INTO @S.v3_data_imports
    SELECT CASE WHEN g <= 4 THEN md5('import-' || g) ELSE md5('v3-import-' || g) END::uuid,
           md5('client-' || ((g - 1) % 3 + 1))::uuid, md5('engagement-' || ((g - 1) % 4 + 1))::uuid,
           md5('master-' || ((g - 1) % 6 + 1))::uuid,
           'v3-' || g || '.xlsx', 2048 * g, 'application/vnd.ms-excel', 'servicenow',
           CASE WHEN g % 3 = 0 THEN 'failed' ELSE 'completed' END, 'V3 import ' || g, 'cmdb',
           'imported through the v3 API', CASE WHEN g % 3 = 0 THEN 'parse error' END,
           CASE WHEN g % 3 = 0 THEN jsonb_build_object('row', g) END,
           CASE WHEN g % 3 = 0 THEN 40 ELSE 100 END, 20 * g, 20 * g - g % 3, g % 3,
           md5('user-' || ((g - 1) % 5 + 1))::uuid,
           timestamptz '2025-02-01 00:00+00' + g * interval '1 hour',
           timestamptz '2025-02-02 00:00+00' + g * interval '1 hour',
           timestamptz '2025-02-01 00:05+00' + g * interval '1 hour',
           CASE WHEN g % 3 <> 0 THEN timestamptz '2025-02-01 00:30+00' + g * interval '1 hour' END,
           g % 4 = 0, md5('file-' || g), jsonb_build_object('delimiter', ',')
      FROM generate_series(1, 12) g;
    INSERT INTO @S.v3_discovery_flows
    SELECT CASE WHEN g <= 3 THEN md5('flow-' || g) ELSE md5('v3-flow-' || g) END::uuid,
           md5('v3-flow-id-' || g)::uuid, md5('master-' || ((g - 1) % 6 + 1))::uuid,
           md5('client-' || ((g - 1) % 3 + 1))::uuid, md5('engagement-' || ((g - 1) % 4 + 1))::uuid,
           CASE WHEN g <= 4 THEN md5('import-' || g) ELSE md5('v3-import-' || g) END::uuid,
           md5('user-' || ((g - 1) % 5 + 1))::uuid,
           CASE WHEN g % 2 = 0 THEN 'in_progress' ELSE 'initialized' END, 10 * g, 'discovery',
           'field_mapping', ARRAY['import'], jsonb_build_object('v3', g),
           CASE WHEN g = 7 THEN 'agent timeout' END, CASE WHEN g = 7 THEN 'field_mapping' END,
           CASE WHEN g = 7 THEN '{"retries": 3}'::jsonb END,
           timestamptz '2025-02-03 00:00+00' + g * interval '1 hour', NULL,
           timestamptz '2025-02-03 00:01+00' + g * interval '1 hour', NULL
      FROM generate_series(1, 10) g;
    -- is_approved / is_rejected: g % 3 = 0 approved, g % 3 = 1 rejected, g % 3 = 2 neither;
    -- mapping 30 has both set (the CASE takes approved first)
    INSERT INTO @S.v3_field_mappings
    SELECT CASE WHEN g <= 5 THEN md5('mapping-' || g) ELSE md5('v3-mapping-' || g) END::uuid,
           CASE WHEN (g - 1) % 12 + 1 <= 4 THEN md5('import-' || ((g - 1) % 12 + 1))
                ELSE md5('v3-import-' || ((g - 1) % 12 + 1)) END::uuid,
           md5('client-' || ((g - 1) % 3 + 1))::uuid, md5('master-' || ((g - 1) % 6 + 1))::uuid,
           'v3_col_' || g, CASE WHEN g % 3 = 2 THEN NULL ELSE 'field_' || g END,
           CASE WHEN g % 2 = 0 THEN 'fuzzy' ELSE 'exact' END, round((0.5 + g / 100.0)::numeric, 3),
           g % 3 = 0, g % 3 = 1 OR g = 30, 'gpt-v3.' || (g % 4),
           CASE WHEN g % 3 = 0 THEN md5('user-1')::uuid END,
           CASE WHEN g % 3 = 0 THEN timestamptz '2025-02-05 00:00+00' + g * interval '1 minute' END,
           jsonb_build_object('trim', g % 2 = 0), g % 3 = 0,
           timestamptz '2025-02-04 00:00+00' + g * interval '1 minute', NULL
      FROM generate_series(1, 30) g;
    INSERT INTO @S.v3_raw_import_records
    SELECT md5('v3-raw-' || g)::uuid,
           CASE WHEN (g - 1) % 12 + 1 <= 4 THEN md5('import-' || ((g - 1) % 12 + 1))
                ELSE md5('v3-import-' || ((g - 1) % 12 + 1)) END::uuid,
           (g - 1) / 12 + 1, jsonb_build_object('hostname', 'raw-' || g)
      FROM generate_series(1, 48) g;

    -- deprecated tables
    INSERT INTO @S.workflow_states (flow_id, state, created_at)
    SELECT md5('flow-' || ((g - 1) % 15 + 1))::uuid, 'state-' || g, timestamptz '2025-01-05 00:00+00' + g * interval '1 minute'
      FROM generate_series(1, 12) g;
    INSERT INTO @S.discovery_assets (discovery_flow_id, name)
    SELECT md5('flow-' || ((g - 1) % 15 + 1))::uuid, 'legacy-asset-' || g FROM generate_series(1, 9) g;
    DELETE FROM @S.discovery_assets WHERE id = 9;  -- the sequence is ahead of max(id)
    INSERT INTO @S.mapping_learning_patterns
    SELECT md5('pattern-' || g)::uuid, 'pattern ' || g, g / 10.0 FROM generate_series(1, 6) g;
    INSERT INTO @S.data_quality_issues
    SELECT md5('issue-' || g)::uuid, md5('import-' || g)::uuid, 'issue ' || g FROM generate_series(1, 7) g;
    INSERT INTO @S.workflow_progress
    SELECT md5('progress-' || g)::uuid, md5('flow-' || g)::uuid, 10 * g FROM generate_series(1, 5) g;
    INSERT INTO @S.import_processing_steps
    SELECT md5('step-' || g)::uuid, md5('import-' || ((g - 1) % 20 + 1))::uuid, 'step ' || g FROM generate_series(1, 8) g;
  ]])
end)

local counts = {}
for _, list in ipairs { MAIN, V3, DEPRECATED } do
  for _, t in ipairs(list) do
    counts[#counts + 1] = t .. " " .. db:value("SELECT count(*) FROM " .. SCHEMA .. "." .. t)
  end
end
print("fixture loaded into " .. SCHEMA .. ": " .. table.concat(counts, ", "))
