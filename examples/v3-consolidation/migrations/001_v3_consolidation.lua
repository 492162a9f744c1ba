-- Seed 002, phase 1 ("Database Consolidation"): back up, merge the V3 tables into the main ones,
-- drop the V3 and deprecated tables, and verify with the seed's validation script.
--
--   backup  CREATE SCHEMA v3_backup; a copy of every table the migration changes or drops
--           (CREATE TABLE v3_backup.x AS TABLE public.x), row counts and sequence positions
--           recorded in a checkpoint                         down: drops the backup schema
--   merge   the seed's three INSERT … SELECT … WHERE NOT EXISTS, with its column renames and
--           the CASE status mapping; every inserted id is recorded in v3_backup.merged_rows
--                                                            down: deletes exactly those rows
--   drop    is_mock from data_imports and assets, the 6 deprecated and the 4 V3 tables
--                                                            down: recreates them from the DDL
--           below and copies their rows (and is_mock values) back from v3_backup
--
-- Everything lives in `public` here (the seed's application uses a schema named `migration`;
-- nothing below depends on which).

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
-- main tables that lose their is_mock column
local IS_MOCK = { "data_imports", "assets" }
-- every table the backup copies: what merge changes, and what drop drops
local BACKED_UP = { "data_imports", "discovery_flows", "import_field_mappings", "assets" }
for _, t in ipairs(DEPRECATED) do BACKED_UP[#BACKED_UP + 1] = t end
for _, t in ipairs(V3) do BACKED_UP[#BACKED_UP + 1] = t end
-- serial sequences that go with their tables (the seed's DROP SEQUENCE is then a no-op)
local SEQUENCES = { "workflow_states_id_seq", "discovery_assets_id_seq" }

-- The seed's merge statements, verbatim but for the recording of what they insert. Each is
-- idempotent: a V3 row whose id is already in the main table is skipped (and the main row,
-- which may hold newer values, is left as it is).
local MERGE_SQL = {
  data_imports = [[
    WITH ins AS (
      INSERT INTO public.data_imports (
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
        FROM public.v3_data_imports
       WHERE NOT EXISTS (SELECT 1 FROM public.data_imports WHERE id = v3_data_imports.id)
      RETURNING id)
    INSERT INTO v3_backup.merged_rows SELECT 'data_imports', id FROM ins]],
  discovery_flows = [[
    WITH ins AS (
      INSERT INTO public.discovery_flows (
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
        FROM public.v3_discovery_flows
       WHERE NOT EXISTS (SELECT 1 FROM public.discovery_flows WHERE id = v3_discovery_flows.id)
      RETURNING id)
    INSERT INTO v3_backup.merged_rows SELECT 'discovery_flows', id FROM ins]],
  import_field_mappings = [[
    WITH ins AS (
      INSERT INTO public.import_field_mappings (
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
        FROM public.v3_field_mappings
       WHERE NOT EXISTS (SELECT 1 FROM public.import_field_mappings WHERE id = v3_field_mappings.id)
      RETURNING id)
    INSERT INTO v3_backup.merged_rows SELECT 'import_field_mappings', id FROM ins]],
}

-- The V3 and deprecated tables as the fixture (the application) has them: drop's down
-- recreates them from this before copying their rows back from v3_backup. The primary keys,
-- foreign keys, defaults and serial sequences are what `CREATE TABLE … AS` cannot keep.
local DROPPED_DDL = [[
CREATE TABLE public.v3_data_imports (
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
CREATE TABLE public.v3_discovery_flows (
  id                  uuid PRIMARY KEY,
  flow_id             uuid NOT NULL,
  master_flow_id      uuid,
  client_account_id   uuid NOT NULL,
  engagement_id       uuid,
  data_import_id      uuid REFERENCES public.v3_data_imports (id),
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
CREATE TABLE public.v3_field_mappings (
  id                   uuid PRIMARY KEY,
  data_import_id       uuid NOT NULL REFERENCES public.v3_data_imports (id),
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
CREATE TABLE public.v3_raw_import_records (
  id             uuid PRIMARY KEY,
  data_import_id uuid NOT NULL REFERENCES public.v3_data_imports (id),
  row_number     integer NOT NULL,
  raw_data       jsonb NOT NULL
);

CREATE TABLE public.workflow_states (
  id         serial PRIMARY KEY,
  flow_id    uuid NOT NULL,
  state      text NOT NULL,
  created_at timestamptz NOT NULL
);
CREATE TABLE public.discovery_assets (
  id                serial PRIMARY KEY,
  discovery_flow_id uuid REFERENCES public.discovery_flows (id),
  name              text NOT NULL
);
CREATE TABLE public.mapping_learning_patterns (
  id      uuid PRIMARY KEY,
  pattern text NOT NULL,
  weight  numeric(4,3) NOT NULL
);
CREATE TABLE public.data_quality_issues (
  id             uuid PRIMARY KEY,
  data_import_id uuid,
  issue          text NOT NULL
);
CREATE TABLE public.workflow_progress (
  id       uuid PRIMARY KEY,
  flow_id  uuid NOT NULL,
  progress integer NOT NULL
);
CREATE TABLE public.import_processing_steps (
  id             uuid PRIMARY KEY,
  data_import_id uuid,
  step           text NOT NULL
);
]]

local function count(db, rel) return db:value("SELECT count(*) FROM " .. rel) end

return migration "001_v3_consolidation" {
  description = "seed 002: back up, merge v3_* into the main tables, drop v3 and deprecated tables",

  phase "backup" {
    description = "copy the 14 affected tables into schema v3_backup; record row counts and sequences",
    up = function(db)
      -- no IF NOT EXISTS: a v3_backup left from an earlier attempt fails here (42P06) rather
      -- than being mixed with this one
      db:exec "CREATE SCHEMA v3_backup"
      -- SHARE: writers wait until the copies are taken, so all 14 copies are of one moment
      local rels = {}
      for _, t in ipairs(BACKED_UP) do rels[#rels + 1] = "public." .. t end
      db:exec("LOCK TABLE " .. table.concat(rels, ", ") .. " IN SHARE MODE")
      local counts, seqs = {}, {}
      for _, t in ipairs(BACKED_UP) do
        db:exec(("CREATE TABLE v3_backup.%s AS TABLE public.%s"):format(t, t))
        counts[t] = count(db, "public." .. t)
      end
      for _, s in ipairs(SEQUENCES) do
        local r = db:query("SELECT last_value, is_called FROM public." .. s)[1]
        seqs[s] = { last_value = r.last_value, is_called = r.is_called }
      end
      -- the record lives next to the copies (later phases and their rollbacks read it there;
      -- weir's checkpoints are per phase) and, for `weir status` readers, in a checkpoint
      db:exec [[CREATE TABLE v3_backup.manifest (relation text PRIMARY KEY, row_count bigint,
                                                  last_value bigint, is_called boolean)]]
      for _, t in ipairs(BACKED_UP) do
        db:exec("INSERT INTO v3_backup.manifest (relation, row_count) VALUES ($1, $2)", t, counts[t])
      end
      for _, s in ipairs(SEQUENCES) do
        db:exec("INSERT INTO v3_backup.manifest (relation, last_value, is_called) VALUES ($1, $2, $3)",
          s, seqs[s].last_value, seqs[s].is_called)
      end
      weir.checkpoint("counts", counts)
      weir.checkpoint("sequences", seqs)
      local total = 0
      for _, n in pairs(counts) do total = total + n end
      print(("backup: %d tables, %d rows copied into v3_backup"):format(#BACKED_UP, total))
    end,
    verify = function(db)
      check.has_schema(db, "v3_backup")
      local counts = weir.checkpoint("counts")
      for _, t in ipairs(BACKED_UP) do
        check.has_table(db, "v3_backup." .. t)
        check.row_counts { source = "public." .. t, target = "v3_backup." .. t }
        check.sql(db, ("SELECT count(*) = %d FROM v3_backup.%s"):format(counts[t], t),
          ("v3_backup.%s holds the %d rows recorded"):format(t, counts[t]))
      end
      return true
    end,
    -- Without CASCADE: anything else put into v3_backup makes this fail, and nothing is dropped.
    down = function(db)
      for _, t in ipairs(BACKED_UP) do db:exec("DROP TABLE v3_backup." .. t) end
      db:exec "DROP TABLE v3_backup.manifest"
      db:exec "DROP SCHEMA v3_backup"
    end,
  },

  phase "merge" {
    description = "INSERT … SELECT … WHERE NOT EXISTS from v3_* into the main tables (renames, CASE status)",
    requires = { "backup" },
    up = function(db)
      -- the V3 side must not change while it is read (SHARE blocks its writers); the main
      -- tables stay writable: a concurrent insert of the same id fails this phase with 23505,
      -- rolled back whole, and `weir up` can simply run it again
      db:exec "LOCK TABLE public.v3_data_imports, public.v3_discovery_flows, public.v3_field_mappings IN SHARE MODE"
      db:exec "CREATE TABLE v3_backup.merged_rows (tbl text NOT NULL, id uuid NOT NULL, PRIMARY KEY (tbl, id))"
      local rec = {}
      for _, p in ipairs(MERGED) do
        local main, v3 = p[1], p[2]
        local r = {
          before = count(db, "public." .. main),
          v3 = count(db, "public." .. v3),
          new = db:value(("SELECT count(*) FROM public.%s v WHERE NOT EXISTS (SELECT 1 FROM public.%s m WHERE m.id = v.id)")
            :format(v3, main)),
        }
        db:exec(MERGE_SQL[main])
        r.inserted = db:value("SELECT count(*) FROM v3_backup.merged_rows WHERE tbl = $1", main)
        rec[main] = r
        print(("merge: %s: %d v3 rows, %d already present, %d inserted (%d → %d rows)"):format(
          main, r.v3, r.v3 - r.new, r.inserted, r.before, count(db, "public." .. main)))
      end
      weir.checkpoint("counts", rec)
    end,
    verify = function(db)
      local rec = weir.checkpoint("counts")
      for _, p in ipairs(MERGED) do
        local main, v3 = p[1], p[2]
        local r = rec[main]
        -- main rows after = main rows before + v3 rows not already present
        check.sql(db, ("SELECT count(*) = %d FROM public.%s"):format(r.before + r.new, main),
          ("%s: %d rows before + %d v3 rows not already present"):format(main, r.before, r.new))
        check.sql(db, ("SELECT count(*) = %d FROM v3_backup.merged_rows WHERE tbl = '%s'"):format(r.new, main),
          ("%s: %d merged rows recorded"):format(main, r.new))
        -- every v3 row is now in the main table, and none twice
        check.sql(db, ("SELECT NOT EXISTS (SELECT 1 FROM public.%s v WHERE NOT EXISTS (SELECT 1 FROM public.%s m WHERE m.id = v.id))")
          :format(v3, main), ("every %s row is in %s"):format(v3, main))
        check.unique(db, "public." .. main, { "id" })
      end
      -- the renamed columns carry the v3 values
      check.sql(db, [[
        SELECT NOT EXISTS (
          SELECT 1 FROM public.data_imports d
            JOIN v3_backup.merged_rows r ON r.tbl = 'data_imports' AND r.id = d.id
            JOIN public.v3_data_imports v ON v.id = d.id
           WHERE (d.filename, d.file_size, d.mime_type, d.imported_by)
                 IS DISTINCT FROM (v.source_filename, v.file_size_bytes, v.file_type, v.user_id))]],
        "merged data_imports carry source_filename, file_size_bytes, file_type, user_id")
      -- the CASE status mapping
      check.sql(db, [[
        SELECT NOT EXISTS (
          SELECT 1 FROM public.import_field_mappings m
            JOIN v3_backup.merged_rows r ON r.tbl = 'import_field_mappings' AND r.id = m.id
            JOIN public.v3_field_mappings v ON v.id = m.id
           WHERE m.status IS DISTINCT FROM CASE WHEN v.is_approved THEN 'approved'
                                                WHEN v.is_rejected THEN 'rejected' ELSE 'suggested' END
              OR m.match_type IS DISTINCT FROM v.mapping_type
              OR m.suggested_by IS DISTINCT FROM v.ai_model_version
              OR m.transformation_rules IS DISTINCT FROM v.transformation_logic)]],
        "merged import_field_mappings: status from is_approved/is_rejected, renamed columns")
      check.accepted_values(db, "public.import_field_mappings", "status", { "suggested", "approved", "rejected" })
      return true
    end,
    -- Deletes exactly the rows merge inserted (children first). Rows the application wrote
    -- since are kept; one that references a merged row (an asset on a merged flow) makes the
    -- DELETE fail on its foreign key, and the rollback of this phase is undone whole.
    down = function(db)
      for i = #MERGED, 1, -1 do
        local main = MERGED[i][1]
        db:exec(("DELETE FROM public.%s WHERE id IN (SELECT id FROM v3_backup.merged_rows WHERE tbl = '%s')")
          :format(main, main))
      end
      db:exec "DROP TABLE v3_backup.merged_rows"
    end,
  },

  -- HAZARDS: this phase deletes data. The seed's DROP … CASCADE would also silently drop any
  -- view or foreign key that depends on these tables; here there is no CASCADE, so such a
  -- dependent makes the phase fail instead (2BP01) and nothing is dropped. Before dropping, up
  -- checks that v3_backup holds every row it is about to delete (a row written to a V3 or
  -- deprecated table after the backup would otherwise be lost for good, and down could not
  -- bring it back). The owned serial sequences are dropped with their tables; down sets them
  -- back to where they were. DROP COLUMN takes ACCESS EXCLUSIVE briefly on data_imports and
  -- assets (catalog-only, no rewrite).
  phase "drop" {
    description = "drop is_mock, the 6 deprecated and the 4 v3 tables (no CASCADE; all rows are in v3_backup)",
    requires = { "merge" },
    up = function(db)
      local rels = {}
      for _, t in ipairs(DEPRECATED) do rels[#rels + 1] = "public." .. t end
      for _, t in ipairs(V3) do rels[#rels + 1] = "public." .. t end
      for _, t in ipairs(IS_MOCK) do rels[#rels + 1] = "public." .. t end
      db:exec("LOCK TABLE " .. table.concat(rels, ", ") .. " IN ACCESS EXCLUSIVE MODE")
      local missing = {}
      local dropped = {}
      for _, t in ipairs(DEPRECATED) do dropped[#dropped + 1] = t end
      for _, t in ipairs(V3) do dropped[#dropped + 1] = t end
      for _, t in ipairs(dropped) do
        local n = db:value(("SELECT count(*) FROM (TABLE public.%s EXCEPT ALL TABLE v3_backup.%s) x"):format(t, t))
        if n > 0 then missing[#missing + 1] = ("%s: %d rows"):format(t, n) end
      end
      for _, t in ipairs(IS_MOCK) do
        local n = db:value(([[SELECT count(*) FROM public.%s m
          WHERE NOT EXISTS (SELECT 1 FROM v3_backup.merged_rows r WHERE r.tbl = '%s' AND r.id = m.id)
            AND NOT EXISTS (SELECT 1 FROM v3_backup.%s b WHERE b.id = m.id AND b.is_mock = m.is_mock)]]):format(t, t, t))
        if n > 0 then missing[#missing + 1] = ("%s.is_mock: %d rows"):format(t, n) end
      end
      if #missing > 0 then
        error("drop: v3_backup does not hold everything about to be dropped (written since the backup?): " ..
          table.concat(missing, ", ") .. "; roll back to backup and run again", 0)
      end
      for _, t in ipairs(IS_MOCK) do db:exec(("ALTER TABLE public.%s DROP COLUMN is_mock"):format(t)) end
      for _, t in ipairs(DEPRECATED) do db:exec("DROP TABLE public." .. t) end
      for i = #V3, 1, -1 do db:exec("DROP TABLE public." .. V3[i]) end  -- children first
      print(("drop: is_mock from %s; %d deprecated and %d v3 tables"):format(
        table.concat(IS_MOCK, ", "), #DEPRECATED, #V3))
    end,
    -- the seed's validate_consolidated_schema.py, plus: the backup still holds the dropped rows
    verify = function(db)
      -- 1. no V3 tables
      for _, t in ipairs(V3) do check.hasnt_table(db, "public." .. t) end
      check.sql(db, [[SELECT NOT EXISTS (SELECT 1 FROM information_schema.tables
                       WHERE table_schema = 'public' AND table_name LIKE 'v3\_%')]], "no v3_* table in public")
      -- 2. required tables
      for _, t in ipairs(REQUIRED) do check.has_table(db, "public." .. t) end
      -- 3. removed tables
      for _, t in ipairs(DEPRECATED) do check.hasnt_table(db, "public." .. t) end
      -- 4. master_flow_id columns
      for _, t in ipairs { "discovery_flows", "assets", "data_imports" } do
        check.has_column(db, "public." .. t, "master_flow_id", "uuid")
      end
      -- 5. no is_mock anywhere in public
      for _, r in ipairs(db:query [[SELECT table_name::text AS t FROM information_schema.tables
                                     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1]]) do
        check.hasnt_column(db, "public." .. r.t, "is_mock")
      end
      -- the dropped rows are all still in v3_backup (down restores from there)
      for _, list in ipairs { DEPRECATED, V3 } do
        for _, t in ipairs(list) do
          check.sql(db, ("SELECT count(*) = (SELECT row_count FROM v3_backup.manifest WHERE relation = '%s') FROM v3_backup.%s")
            :format(t, t), "v3_backup." .. t .. " holds the rows counted at backup")
        end
      end
      return true
    end,
    -- Recreates the tables from DROPPED_DDL, copies their rows back from v3_backup (parents
    -- first), puts the serial sequences back where they were, and re-adds is_mock with the
    -- backed-up values (rows merged in since get the column default, false).
    down = function(db)
      db:exec(DROPPED_DDL)
      for _, t in ipairs(V3) do
        db:exec(("INSERT INTO public.%s SELECT * FROM v3_backup.%s"):format(t, t))
      end
      for _, t in ipairs(DEPRECATED) do
        db:exec(("INSERT INTO public.%s SELECT * FROM v3_backup.%s"):format(t, t))
      end
      for _, s in ipairs(SEQUENCES) do
        db:exec([[SELECT setval($1::regclass, last_value, is_called) FROM v3_backup.manifest WHERE relation = $2]],
          "public." .. s, s)
      end
      for _, t in ipairs(IS_MOCK) do
        db:exec(("ALTER TABLE public.%s ADD COLUMN is_mock boolean NOT NULL DEFAULT false"):format(t))
        db:exec(("UPDATE public.%s m SET is_mock = b.is_mock FROM v3_backup.%s b WHERE b.id = m.id AND b.is_mock")
          :format(t, t))
      end
    end,
  },
}
