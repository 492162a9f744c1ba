-- Seed 004, part 3: the later ALTERs of migration_projects — an existing, live table —
-- AI-time budget and deterministic-retry columns, their CHECK constraints, and the partial
-- unique index that stops a retry from starting a second active migration of the same site.
--
-- Phases, each short and each reversible:
--   columns       ADD COLUMN × 10 and ADD CONSTRAINT … CHECK … NOT VALID × 5, in one ALTER TABLE.
--                 Catalog-only (PostgreSQL 11+ stores a constant default once instead of
--                 writing it into every row, and NOT VALID skips the scan): a brief
--                 ACCESS EXCLUSIVE lock, no rewrite, no scan. New rows are checked from here on.
--   validate      VALIDATE CONSTRAINT × 5: scans the existing rows under SHARE UPDATE EXCLUSIVE,
--                 which lets reads and writes go on. A phase of its own so that the scan does
--                 not run while `columns`' ACCESS EXCLUSIVE lock is still held.
--   dedupe_index  CREATE UNIQUE INDEX CONCURRENTLY (transaction = false): built without blocking
--                 writes. Checks for existing duplicates first, and never leaves an INVALID
--                 index behind.
--
-- Changes from the seed's SQL, and why:
--   * The four columns with a default that are counters or budgets (ai_time_consumed_seconds,
--     retry_count, soft_budget_seconds, hard_budget_seconds) are NOT NULL: `retry_count + 1`
--     on a NULL stays NULL, and a NULL budget would slip past every CHECK (a CHECK passes on
--     NULL). With a constant default, NOT NULL costs nothing on PostgreSQL 11+. The seed's types
--     (integer seconds, integer seed, text versions) are kept: none is a key or a counter that
--     can outgrow 2^31.
--   * The dedupe index is on (user_id, normalized_source_url), not normalized_source_url
--     alone: the seed decides on per-user dedupe ("user_id in unique index") and its test plan
--     requires that two users migrating the same domain at once are allowed; the seed's SQL
--     listing would forbid exactly that.
--   * `ALTER COLUMN normalized_source_url SET NOT NULL` stays out, as in the seed (commented
--     out there until a backfill exists).

local TABLE = "public.migration_projects"
local INDEX = "idx_migration_projects_normalized_url_active"
local ACTIVE = { "analyzing", "questionnaire", "processing" }

-- name, type, default (or nil), not null
local COLUMNS = {
  { "ai_time_consumed_seconds", "integer", "0", true },
  { "estimated_ai_time_seconds", "integer" },
  { "retry_count", "integer", "0", true },
  { "last_retry_at", "timestamp with time zone" },
  { "soft_budget_seconds", "integer", "1800", true },   -- 30 min
  { "hard_budget_seconds", "integer", "3600", true },   -- 60 min
  { "run_seed", "integer" },
  { "prompt_hash", "text" },
  { "tool_contract_version", "text", "'1.0.0'::text" },
  { "model_version", "text", "'claude-3-5-sonnet-20241022'::text" },
}

-- The CHECKs, added NOT VALID (by `columns`, and again by `validate`'s down).
local CHECKS = { "ck_ai_time_nonneg", "ck_ai_estimate_nonneg", "ck_retry_nonneg", "ck_budget_positive", "ck_budget_hierarchy" }
local ADD_CHECKS_NOT_VALID = [[
  ALTER TABLE public.migration_projects
    ADD CONSTRAINT ck_ai_time_nonneg CHECK (ai_time_consumed_seconds >= 0) NOT VALID,
    ADD CONSTRAINT ck_ai_estimate_nonneg CHECK (estimated_ai_time_seconds >= 0) NOT VALID,
    ADD CONSTRAINT ck_retry_nonneg CHECK (retry_count >= 0) NOT VALID,
    ADD CONSTRAINT ck_budget_positive CHECK (soft_budget_seconds > 0 AND hard_budget_seconds > 0) NOT VALID,
    ADD CONSTRAINT ck_budget_hierarchy CHECK (soft_budget_seconds <= hard_budget_seconds) NOT VALID
]]

---The CHECK constraints of the table that are ours: name → validated.
local function checks_present(db)
  local out = {}
  for _, r in ipairs(db:query([[
    SELECT conname::text AS name, convalidated FROM pg_catalog.pg_constraint
     WHERE conrelid = $1::regclass AND contype = 'c' AND conname = ANY ($2::text[])]], TABLE, db.array(CHECKS))) do
    out[r.name] = r.convalidated
  end
  return out
end

---Problems with the ten columns (type, default, nullability), as a list.
local function column_problems(db)
  local out = {}
  for _, c in ipairs(COLUMNS) do
    local r = db:one([[
      SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull,
             pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS dflt
        FROM pg_catalog.pg_attribute a
        LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attrelid = $1::regclass AND a.attname = $2 AND NOT a.attisdropped]], TABLE, c[1])
    if not r then
      out[#out + 1] = "no column " .. c[1]
    else
      local dflt = not db.isnull(r.dflt) and r.dflt or nil
      if r.type ~= c[2] then out[#out + 1] = ("%s is %s, expected %s"):format(c[1], r.type, c[2]) end
      if dflt ~= c[3] then out[#out + 1] = ("%s defaults to %s, expected %s"):format(c[1], tostring(dflt), tostring(c[3])) end
      if r.attnotnull ~= (c[4] == true) then
        out[#out + 1] = ("%s is %s, expected %s"):format(c[1], r.attnotnull and "NOT NULL" or "nullable",
          c[4] and "NOT NULL" or "nullable")
      end
    end
  end
  return out
end

-- The index's state: nil (absent), or {valid, unique, def}.
local function index_state(db)
  return db:one([[
    SELECT x.indisvalid AS valid, x.indisunique AS unique, pg_catalog.pg_get_indexdef(x.indexrelid) AS def
      FROM pg_catalog.pg_index x
     WHERE x.indexrelid = to_regclass($1) AND x.indrelid = $2::regclass]], "public." .. INDEX, TABLE)
end

local function active_list()
  local q = {}
  for i, s in ipairs(ACTIVE) do q[i] = "'" .. s .. "'" end
  return table.concat(q, ", ")
end

return migration "003_migration_projects_budgets" {
  description = "seed 004: migration_projects budget and retry columns, CHECKs (NOT VALID, then VALIDATE), per-user active-URL dedupe index",

  phase "columns" {
    description = "add 10 columns and 5 CHECKs NOT VALID (catalog-only: no rewrite, no scan)",
    up = function(db)
      db:exec [[
        ALTER TABLE public.migration_projects
          ADD COLUMN ai_time_consumed_seconds integer NOT NULL DEFAULT 0,
          ADD COLUMN estimated_ai_time_seconds integer,
          ADD COLUMN retry_count integer NOT NULL DEFAULT 0,
          ADD COLUMN last_retry_at timestamptz,
          ADD COLUMN soft_budget_seconds integer NOT NULL DEFAULT 1800,  -- 30 min
          ADD COLUMN hard_budget_seconds integer NOT NULL DEFAULT 3600,  -- 60 min
          ADD COLUMN run_seed integer,
          ADD COLUMN prompt_hash text,
          ADD COLUMN tool_contract_version text DEFAULT '1.0.0',
          ADD COLUMN model_version text DEFAULT 'claude-3-5-sonnet-20241022'
      ]]
      db:exec(ADD_CHECKS_NOT_VALID)
    end,
    verify = function(db)
      local problems = column_problems(db)
      local present = checks_present(db)
      for _, name in ipairs(CHECKS) do
        if present[name] == nil then problems[#problems + 1] = "no constraint " .. name end
      end
      if #problems > 0 then return false, TABLE .. ": " .. table.concat(problems, "; ") end
      return true
    end,
    -- Dropping the columns drops their CHECKs with them; drop the CHECKs first anyway, so that
    -- a CHECK someone else added over these columns makes the rollback fail instead of vanishing.
    down = function(db)
      local cons, cols = {}, {}
      for i, name in ipairs(CHECKS) do cons[i] = "DROP CONSTRAINT " .. name end
      for i = #COLUMNS, 1, -1 do cols[#cols + 1] = "DROP COLUMN " .. COLUMNS[i][1] end
      db:exec("ALTER TABLE " .. TABLE .. "\n  " .. table.concat(cons, ",\n  "))
      db:exec("ALTER TABLE " .. TABLE .. "\n  " .. table.concat(cols, ",\n  ") .. " RESTRICT")
    end,
  },

  phase "validate" {
    description = "VALIDATE the 5 CHECKs (scan under SHARE UPDATE EXCLUSIVE: reads and writes go on)",
    requires = { "columns" },
    up = function(db)
      for _, name in ipairs(CHECKS) do
        db:exec(("ALTER TABLE %s VALIDATE CONSTRAINT %s"):format(TABLE, name))
      end
    end,
    verify = function(db)
      local present, bad = checks_present(db), {}
      for _, name in ipairs(CHECKS) do
        if present[name] ~= true then
          bad[#bad + 1] = name .. (present[name] == nil and " is missing" or " is NOT VALID")
        end
      end
      if #bad > 0 then return false, TABLE .. ": " .. table.concat(bad, ", ") end
      return true
    end,
    -- Back to what `columns` left: the same CHECKs, NOT VALID (there is no "unvalidate"; drop
    -- and re-add is catalog-only).
    down = function(db)
      local parts = {}
      for i, name in ipairs(CHECKS) do parts[i] = "DROP CONSTRAINT " .. name end
      db:exec("ALTER TABLE " .. TABLE .. "\n  " .. table.concat(parts, ",\n  "))
      db:exec(ADD_CHECKS_NOT_VALID)
    end,
  },

  phase "dedupe_index" {
    description = "CREATE UNIQUE INDEX CONCURRENTLY on (user_id, normalized_source_url) of active migrations",
    transaction = false,  -- CREATE INDEX CONCURRENTLY cannot run inside a transaction
    up = function(db)
      -- A build interrupted earlier (weir killed, a duplicate inserted meanwhile) leaves an
      -- INVALID index of this name that IF NOT EXISTS would silently accept: drop it first.
      local st = index_state(db)
      if st and not st.valid then
        db:exec("DROP INDEX CONCURRENTLY IF EXISTS public." .. INDEX)
      end
      -- Existing duplicates would make the build fail after a full scan; name them up front.
      local dups = db:query(([[
        SELECT user_id::text AS user_id, normalized_source_url AS url, count(*) AS n
          FROM %s
         WHERE status IN (%s) AND normalized_source_url IS NOT NULL
         GROUP BY 1, 2 HAVING count(*) > 1 ORDER BY 3 DESC, 1, 2 LIMIT 5]]):format(TABLE, active_list()))
      if #dups > 0 then
        local list = {}
        for i, d in ipairs(dups) do list[i] = ("user %s has %d active migrations of %s"):format(d.user_id, d.n, d.url) end
        error(("%s: cannot build %s: active migrations duplicate (user_id, normalized_source_url): %s — " ..
          "finish or cancel the extra ones first"):format(TABLE, INDEX, table.concat(list, "; ")), 0)
      end
      local ok, err = pcall(db.exec, db, ([[
        CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS %s
          ON %s (user_id, normalized_source_url)
          WHERE status IN (%s)]]):format(INDEX, TABLE, active_list()))
      if not ok then
        -- A failed concurrent build (a duplicate written during it: 23505) leaves an INVALID
        -- index that slows every write and enforces nothing: remove it before reporting.
        pcall(db.exec, db, "DROP INDEX CONCURRENTLY IF EXISTS public." .. INDEX)
        error(err, 0)
      end
    end,
    verify = function(db)
      local st = index_state(db)
      if not st then return false, "index " .. INDEX .. " does not exist" end
      if not st.valid then return false, "index " .. INDEX .. " is INVALID" end
      if not st.unique then return false, "index " .. INDEX .. " is not unique" end
      if not st.def:find("(user_id, normalized_source_url) WHERE", 1, true) then
        return false, "index " .. INDEX .. " has another definition: " .. st.def
      end
      for _, s in ipairs(ACTIVE) do
        if not st.def:find("'" .. s .. "'", 1, true) then
          return false, ("index %s does not cover status %s: %s"):format(INDEX, s, st.def)
        end
      end
      return true
    end,
    down = function(db)
      db:exec("DROP INDEX CONCURRENTLY IF EXISTS public." .. INDEX)
    end,
  },
}
