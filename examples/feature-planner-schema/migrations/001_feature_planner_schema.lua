-- Seed 001: move the feature planner (a dev-only tool) out of `public` into its own schema
-- `feature_planner`: 8 tables and 11 enums, with their data, indexes, constraints, sequences
-- and the 3 foreign keys to public.users.
--
-- Why ALTER ... SET SCHEMA and not "create new tables, INSERT ... SELECT, drop the old ones"
-- (the plan's draft SQL):
--   * SET SCHEMA only rewrites catalog rows. The table keeps its OID and its files, so the data,
--     the indexes, every constraint (PK, UNIQUE, CHECK, FK in both directions), the sequences
--     owned by serial/identity columns, defaults, grants and comments all follow the table.
--     Nothing is copied, so nothing can be lost or subtly re-typed on the way, and the time it
--     takes does not grow with the data.
--   * An enum moved with ALTER TYPE ... SET SCHEMA keeps its OID, so every column and default
--     that uses it refers to feature_planner.<enum> afterwards without being touched. (Dropping
--     and re-creating an enum would force a rewrite of every column that uses it.)
--   * Foreign keys are bound to OIDs: feature_plans → public.users keeps working across the
--     schema boundary, and public.users itself is never locked or altered.
--   * The draft's `DROP ... CASCADE` statements disappear: there is nothing left to drop, and a
--     CASCADE that silently takes a dependent view or FK with it is not something to ship.
--
-- What the move does NOT fix for you: SQL that names these tables without a schema and
-- relies on search_path (application queries, PL/pgSQL bodies kept as text). Views and FKs
-- follow by OID; code does not. Deploy the application change (Drizzle `schema:
-- 'feature_planner'`) together with this migration.
--
-- Phases:
--   census  read-only preflight: everything to move is in public, nothing in the way in
--           feature_planner; records what it saw (weir.checkpoints) for the operator.
--   move    locks the 8 tables, takes its own census under the lock, moves enums and tables,
--           and verifies the result against that census. down moves everything back.
--   grants  GRANT USAGE ON SCHEMA feature_planner TO authenticated, when that role exists.
--
-- Each phase is transactional: a failure anywhere (a name already taken in feature_planner,
-- 42P07; a lock not obtained, 55P03, retried by weir) rolls the whole phase back, so the
-- database is never left with half the tables moved.

local SCHEMA = "feature_planner"

-- Parents first (only matters for reading the output: SET SCHEMA does not care about order).
local TABLES = {
  "feature_plans", "feature_refinements", "file_discovery_sessions", "discovered_files",
  "implementation_plan_generations", "plan_steps", "plan_step_templates", "plan_execution_logs",
}
local ENUMS = {
  "complexity", "confidence_level", "estimated_scope", "execution_step", "file_discovery_status",
  "file_priority", "implementation_plan_status", "plan_status", "refinement_status", "risk_level",
  "technical_complexity",
}
-- The cross-schema foreign keys named in the seed: constraint → table that holds it.
local USER_FKS = {
  feature_plans_user_id_users_id_fk = "feature_plans",
  discovered_files_added_by_user_id_users_id_fk = "discovered_files",
  plan_step_templates_user_id_users_id_fk = "plan_step_templates",
}

-- ---------------------------------------------------------------------------------------------
-- Helpers

local function sorted(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

-- "public.feature_plans, public.feature_refinements, …" for LOCK TABLE.
local function qualified_tables(schema)
  local out = {}
  for i, t in ipairs(TABLES) do out[i] = schema .. "." .. t end
  return table.concat(out, ", ")
end

---What the feature-planner tables and enums look like in `schema`: per table its row count and
---the names of its indexes, constraints and owned sequences; per enum its labels. Objects that
---do not exist there are simply absent from the result.
local function census(db, schema)
  local out = { tables = {}, enums = {} }
  local nsp = db:value("SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1", schema)
  if nsp == nil then return out end
  local rows = db:query([[
    SELECT c.relname::text AS name,
           ARRAY(SELECT i.relname::text
                   FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
                  WHERE x.indrelid = c.oid ORDER BY 1) AS indexes,
           ARRAY(SELECT k.conname::text FROM pg_catalog.pg_constraint k
                  WHERE k.conrelid = c.oid ORDER BY 1) AS constraints,
           ARRAY(SELECT s.relname::text
                   FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_class s ON s.oid = d.objid
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass
                    AND d.refclassid = 'pg_catalog.pg_class'::regclass
                    AND d.refobjid = c.oid AND s.relkind = 'S' AND d.deptype IN ('a', 'i')
                  ORDER BY 1) AS sequences
      FROM pg_catalog.pg_class c
     WHERE c.relnamespace = $1 AND c.relkind IN ('r', 'p') AND c.relname = ANY ($2::text[])
  ]], nsp, db.array(TABLES))
  for _, r in ipairs(rows) do
    r.rows = db:value(("SELECT count(*) FROM %s.%s"):format(db:quote_ident(schema), db:quote_ident(r.name)))
    out.tables[r.name] = r
    r.name = nil
  end
  for _, r in ipairs(db:query([[
    SELECT t.typname::text AS name,
           (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
              FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) AS labels
      FROM pg_catalog.pg_type t
     WHERE t.typnamespace = $1 AND t.typtype = 'e' AND t.typname = ANY ($2::text[])
  ]], nsp, db.array(ENUMS))) do
    out.enums[r.name] = r.labels
  end
  return out
end

-- Adds to `out` what differs between two lists of names.
local function diff_names(out, tbl, what, before, after, when)
  local b, a = {}, {}
  for _, n in ipairs(before) do b[n] = true end
  for _, n in ipairs(after) do a[n] = true end
  for _, n in ipairs(before) do
    if not a[n] then out[#out + 1] = ("%s: %s %s is gone %s"):format(tbl, what, n, when) end
  end
  for _, n in ipairs(after) do
    if not b[n] then out[#out + 1] = ("%s: %s %s appeared %s"):format(tbl, what, n, when) end
  end
end

---Compares two censuses (schema-independent: names, counts, labels). Returns nil when they
---match, else one line naming every difference.
local function compare(before, after, when)
  local out = {}
  for _, t in ipairs(TABLES) do
    local b, a = before.tables[t], after.tables[t]
    if not b then
      out[#out + 1] = ("%s: was not in the census taken before"):format(t)
    elseif not a then
      out[#out + 1] = ("%s: not found %s"):format(t, when)
    else
      if b.rows ~= a.rows then
        out[#out + 1] = ("%s: %d rows before, %d %s"):format(t, b.rows, a.rows, when)
      end
      diff_names(out, t, "index", b.indexes, a.indexes, when)
      diff_names(out, t, "constraint", b.constraints, a.constraints, when)
      diff_names(out, t, "sequence", b.sequences, a.sequences, when)
    end
  end
  for _, e in ipairs(ENUMS) do
    if before.enums[e] ~= after.enums[e] then
      out[#out + 1] = ("enum %s: labels (%s) before, (%s) %s"):format(e, tostring(before.enums[e] or "missing"),
        tostring(after.enums[e] or "missing"), when)
    end
  end
  if #out == 0 then return nil end
  return table.concat(out, "; ")
end

local function total_rows(c)
  local n = 0
  for _, r in pairs(c.tables) do n = n + r.rows end
  return n
end

---Where each feature-planner table and enum lives now: { tables = {name = {schema…}}, enums = … }.
local function locations(db)
  local loc = { tables = {}, enums = {} }
  for _, r in ipairs(db:query([[
    SELECT c.relname::text AS name, n.nspname::text AS schema
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND c.relname = ANY ($1::text[]) AND n.nspname IN ('public', $2)
  ]], db.array(TABLES), SCHEMA)) do
    loc.tables[r.name] = loc.tables[r.name] or {}
    loc.tables[r.name][r.schema] = true
  end
  for _, r in ipairs(db:query([[
    SELECT t.typname::text AS name, n.nspname::text AS schema
      FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
     WHERE t.typtype = 'e' AND t.typname = ANY ($1::text[]) AND n.nspname IN ('public', $2)
  ]], db.array(ENUMS), SCHEMA)) do
    loc.enums[r.name] = loc.enums[r.name] or {}
    loc.enums[r.name][r.schema] = true
  end
  return loc
end

---Problems with where the objects are, as a list of strings: each table and enum must be in
---`want` and not in `other`.
local function placement_problems(db, want, other)
  local loc, out = locations(db), {}
  for _, kind in ipairs { "tables", "enums" } do
    for _, name in ipairs(kind == "tables" and TABLES or ENUMS) do
      local at = loc[kind][name] or {}
      local label = kind == "tables" and "table" or "enum"
      if not at[want] then out[#out + 1] = ("%s %s.%s does not exist"):format(label, want, name) end
      if at[other] then out[#out + 1] = ("%s %s.%s still exists"):format(label, other, name) end
    end
  end
  return out
end

-- ---------------------------------------------------------------------------------------------

return migration "001_feature_planner_schema" {
  description = "seed 001: move the feature planner's 8 tables and 11 enums from public to schema feature_planner",

  -- Read-only preflight. Fails early, before any exclusive lock is taken, when the database is not in the
  -- state this migration was written for. Its census (row counts, index/constraint/sequence
  -- names) is kept in weir.checkpoints under 001_feature_planner_schema/census/census as a
  -- record of what was there; "move" takes its own census under its locks (see there).
  phase "census" {
    description = "preflight: everything in public, nothing in the way in feature_planner; record counts",
    up = function(db)
      local c = census(db, "public")
      weir.checkpoint("census", c)
      print(("census: %d of %d tables (%d rows) and %d of %d enums found in public"):format(
        #sorted(c.tables), #TABLES, total_rows(c), #sorted(c.enums), #ENUMS))
    end,
    -- Nothing to undo: the phase changes nothing (weir deletes its checkpoint on rollback).
    down = function() end,
    verify = function(db)
      local problems = placement_problems(db, "public", SCHEMA)
      if not db:value "SELECT to_regclass('public.users') IS NOT NULL" then
        problems[#problems + 1] = "table public.users (the target of 3 foreign keys) does not exist"
      end
      -- SET SCHEMA also moves each table's indexes, owned sequences and row type (and its array
      -- type), and every enum's array type: a relation or type of any of those names in
      -- feature_planner would stop the move (42P07 / 42710).
      local c = weir.checkpoint("census")
      local names, types = {}, {}
      for _, e in ipairs(ENUMS) do types[#types + 1] = e; types[#types + 1] = "_" .. e end
      for t, r in pairs(c.tables) do
        names[#names + 1] = t
        types[#types + 1] = t; types[#types + 1] = "_" .. t
        for _, n in ipairs(r.indexes) do names[#names + 1] = n end
        for _, n in ipairs(r.sequences) do names[#names + 1] = n end
      end
      local taken = db:value([[
        SELECT string_agg(name, ', ' ORDER BY name) FROM (
          SELECT c.relname::text AS name FROM pg_catalog.pg_class c
           WHERE c.relnamespace = to_regnamespace($1)
             AND (c.relname = ANY ($2::text[]) OR c.relname = ANY ($3::text[]))
          UNION ALL
          SELECT 'type ' || t.typname FROM pg_catalog.pg_type t   -- (row types: listed as relations)
           WHERE t.typnamespace = to_regnamespace($1) AND t.typname = ANY ($3::text[]) AND t.typrelid = 0
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.oid = t.typelem AND e.typrelid <> 0)
        ) s
      ]], SCHEMA, db.array(names), db.array(types))
      if not db.isnull(taken) then
        problems[#problems + 1] = ("%s already holds %s"):format(SCHEMA, taken)
      end
      if #problems > 0 then return false, table.concat(problems, "; ") end
      return true
    end,
  },

  -- The move itself. One transaction: either all 19 objects are in feature_planner, or none.
  phase "move" {
    description = "ALTER TYPE/TABLE ... SET SCHEMA feature_planner (catalog-only: data, indexes, constraints, FKs follow)",
    requires = { "census" },
    up = function(db)
      local created = db:value("SELECT to_regnamespace($1) IS NULL", SCHEMA)
      db:exec "CREATE SCHEMA IF NOT EXISTS feature_planner"
      -- SET SCHEMA takes ACCESS EXCLUSIVE on each table anyway; taking all of them first, in
      -- one statement, means the census below sees exactly the rows that get moved (no writer
      -- can slip in between), and that we wait (under lock_timeout, retried by weir on 55P03)
      -- before doing anything rather than holding some tables while waiting for others.
      db:exec("LOCK TABLE " .. qualified_tables("public") .. " IN ACCESS EXCLUSIVE MODE")
      -- The census phase ran in an earlier transaction, possibly much earlier (`up --to`), and
      -- the application may have written since; comparing against it would fail for no reason.
      -- This census, under the locks, is the one verify compares with. count(*) is cheap on a
      -- dev tool's tables; for large tables drop it — the move is catalog-only either way.
      local before = census(db, "public")
      weir.checkpoint("before", { schema_created = created, census = before })
      for _, e in ipairs(ENUMS) do
        db:exec(("ALTER TYPE public.%s SET SCHEMA feature_planner"):format(e))
      end
      for _, t in ipairs(TABLES) do
        db:exec(("ALTER TABLE public.%s SET SCHEMA feature_planner"):format(t))
      end
      print(("moved %d enums and %d tables (%d rows) to feature_planner"):format(#ENUMS, #TABLES, total_rows(before)))
    end,

    -- The seed's post-migration checks, each failure naming what differs.
    verify = function(db)
      local rec = weir.checkpoint("before")
      if not rec then return false, "up recorded no census" end
      if not db:value("SELECT to_regnamespace($1) IS NOT NULL", SCHEMA) then
        return false, "schema feature_planner does not exist"
      end
      -- all 8 tables and 11 enums in feature_planner, none left in public
      local problems = placement_problems(db, SCHEMA, "public")
      if #problems > 0 then return false, table.concat(problems, "; ") end
      -- same rows, indexes, constraints, owned sequences and enum labels as before the move
      local diff = compare(rec.census, census(db, SCHEMA), "after the move")
      if diff then return false, diff end
      -- the 3 foreign keys to public.users, held by the moved tables, still validated
      if not db:value "SELECT to_regclass('public.users') IS NOT NULL" then
        return false, "table public.users no longer exists (the move must not touch it)"
      end
      local fks = {}
      for _, r in ipairs(db:query([[
        SELECT k.conname::text AS name, c.relname::text AS tbl, n.nspname::text AS schema, k.convalidated
          FROM pg_catalog.pg_constraint k
          JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE k.contype = 'f' AND k.confrelid = 'public.users'::regclass
      ]])) do fks[r.name] = r end
      for _, name in ipairs(sorted(USER_FKS)) do
        local fk = fks[name]
        if not fk then return false, ("foreign key %s to public.users is missing"):format(name) end
        if fk.schema ~= SCHEMA or fk.tbl ~= USER_FKS[name] then
          return false, ("foreign key %s is on %s.%s, expected %s.%s"):format(name, fk.schema, fk.tbl, SCHEMA, USER_FKS[name])
        end
        if not fk.convalidated then return false, ("foreign key %s is not validated"):format(name) end
      end
      -- every other foreign key of the moved tables points into feature_planner (nothing was
      -- left referring to a table in public except users)
      local stray = db:value([[
        SELECT string_agg(c.relname || '.' || k.conname || ' → ' || k.confrelid::regclass::text, ', ')
          FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
          JOIN pg_catalog.pg_class r ON r.oid = k.confrelid
         WHERE k.contype = 'f' AND c.relnamespace = to_regnamespace($1)
           AND r.relnamespace <> to_regnamespace($1) AND k.confrelid <> 'public.users'::regclass
      ]], SCHEMA)
      if not db.isnull(stray) then return false, "foreign keys pointing outside feature_planner: " .. stray end
      -- owned sequences (serial, identity) moved along, and enum columns use feature_planner's types
      local left = db:value([[
        SELECT string_agg(DISTINCT what, ', ') FROM (
          SELECT 'sequence ' || s.oid::regclass::text AS what
            FROM pg_catalog.pg_depend d
            JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
            JOIN pg_catalog.pg_class c ON c.oid = d.refobjid
           WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
             AND d.deptype IN ('a', 'i') AND c.relnamespace = to_regnamespace($1)
             AND s.relnamespace <> c.relnamespace
          UNION ALL
          SELECT 'column ' || c.relname || '.' || a.attname || ' of type ' || format_type(a.atttypid, NULL)
            FROM pg_catalog.pg_attribute a
            JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
            JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
           WHERE c.relnamespace = to_regnamespace($1) AND c.relkind IN ('r', 'p')
             AND a.attnum > 0 AND NOT a.attisdropped
             AND t.typtype = 'e' AND t.typnamespace <> to_regnamespace($1)
        ) s
      ]], SCHEMA)
      if not db.isnull(left) then return false, "left outside feature_planner: " .. left end
      return true
    end,

    -- Everything back to public, checked the same way, then the schema dropped — without
    -- CASCADE, so if anything else was created in feature_planner meanwhile the DROP fails
    -- (2BP01) and the whole rollback is undone instead of deleting someone's objects. A schema
    -- that existed before `up` is left in place.
    down = function(db)
      db:exec("LOCK TABLE " .. qualified_tables(SCHEMA) .. " IN ACCESS EXCLUSIVE MODE")
      local before = census(db, SCHEMA)
      for _, t in ipairs(TABLES) do
        db:exec(("ALTER TABLE feature_planner.%s SET SCHEMA public"):format(t))
      end
      for _, e in ipairs(ENUMS) do
        db:exec(("ALTER TYPE feature_planner.%s SET SCHEMA public"):format(e))
      end
      local problems = placement_problems(db, "public", SCHEMA)
      if #problems > 0 then error("moving back to public: " .. table.concat(problems, "; "), 0) end
      local diff = compare(before, census(db, "public"), "after moving back")
      if diff then error("moving back to public: " .. diff, 0) end
      local rec = weir.checkpoint("before")
      if rec == nil or rec.schema_created then
        db:exec "DROP SCHEMA feature_planner"
      end
      print(("moved %d tables (%d rows) and %d enums back to public"):format(#TABLES, total_rows(before), #ENUMS))
    end,
  },

  -- The seed ends with GRANTs to `authenticated` (a Supabase/Neon-style role). Only USAGE on the
  -- schema is needed: privileges on the tables and sequences travel with them (SET SCHEMA keeps
  -- their ACLs), so the seed's `GRANT ALL ON ALL TABLES/SEQUENCES` would widen access rather than
  -- preserve it, and could not be undone exactly. Skipped when the role does not exist;
  -- down revokes only what up granted.
  phase "grants" {
    description = "GRANT USAGE ON SCHEMA feature_planner TO authenticated (when the role exists)",
    requires = { "move" },
    up = function(db)
      local role = db:value "SELECT to_regrole('authenticated') IS NOT NULL"
      local granted = false
      if role and not db:value("SELECT has_schema_privilege('authenticated', $1, 'USAGE')", SCHEMA) then
        db:exec "GRANT USAGE ON SCHEMA feature_planner TO authenticated"
        granted = true
      end
      weir.checkpoint("granted", granted)
      print(role and (granted and "granted USAGE on feature_planner to authenticated"
                              or "authenticated already has USAGE on feature_planner")
                 or "no role authenticated: nothing to grant")
    end,
    down = function(db)
      if weir.checkpoint("granted") then
        db:exec "REVOKE USAGE ON SCHEMA feature_planner FROM authenticated"
      end
    end,
    verify = function(db)
      if db:value "SELECT to_regrole('authenticated') IS NOT NULL"
         and not db:value("SELECT has_schema_privilege('authenticated', $1, 'USAGE')", SCHEMA) then
        return false, "role authenticated has no USAGE on schema feature_planner"
      end
      return true
    end,
  },
}
