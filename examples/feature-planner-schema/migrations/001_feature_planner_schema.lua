-- Seed 001: move the feature planner (a dev-only tool) out of `public` into its own schema
-- `feature_planner`: 8 tables and 11 enums, with their data, indexes, constraints, sequences
-- and the 3 foreign keys to public.users; the seed's grants; the seed's checks before and after
-- (record counts, a sample of rows, the query plans of its two queries); and, optionally, a
-- compatibility window of views in public for the application that still says `feature_plans`.
--
-- Why ALTER ... SET SCHEMA (ddl.move_to_schema) and not "create new tables, INSERT ... SELECT,
-- drop the old ones" (the plan's draft SQL):
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
-- follow by OID; code does not. Either deploy the application change (Drizzle `schema:
-- 'feature_planner'`) together with this migration, or turn on the compatibility views
-- (weir.lua's var compat_views, $FP_COMPAT_VIEWS=on) and deploy it at leisure.
--
-- Phases:
--   census       read-only preflight: everything to move is in public, nothing in the way in
--                feature_planner; records counts, the seed's sample export (the 5 latest
--                feature_plans) and the plans of the seed's two queries.
--   move         locks the 8 tables, takes its own census and sample under the lock, moves
--                enums and tables, and verifies the result against them. down moves back.
--   performance  the seed's post-move query check: the same two queries use the same indexes
--                as before the move.
--   grants       the seed's GRANTs (ALL on the schema, its tables and sequences) to the role
--                weir.lua's var grant_role names (authenticated), when it exists; down puts
--                back exactly the privileges the role had.
--   compat       with compat_views on: an insertable security_invoker view in public for each
--                moved table, granted to that role, and the flag feature_planner_compat_views on.
--   drop_compat  drops those views — only once the flag is off (the application deployed).
--
-- Each phase is transactional: a failure anywhere (a name already taken in feature_planner,
-- a lock not obtained, 55P03, retried by weir) rolls the whole phase back, so the database is
-- never left with half the tables moved.

local SCHEMA = "feature_planner"
local ROLE = weir.var("grant_role", "authenticated")
if not ROLE:match("^[a-z_][a-z0-9_]*$") then
  error(("grant_role %q (weir.lua's var grant_role): expected a lower-case role name"):format(ROLE), 0)
end
local COMPAT_VAR = weir.var("compat_views", "off")
if COMPAT_VAR ~= "on" and COMPAT_VAR ~= "off" then
  error(("compat_views %q (weir.lua's var compat_views): expected on or off"):format(COMPAT_VAR), 0)
end
local COMPAT = COMPAT_VAR == "on"
local COMPAT_FLAG = "feature_planner_compat_views"

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


-- The seed's pre-migration sample export: the 5 latest feature_plans, each with an md5 of its
-- whole row (enum labels and all, so the same rows compare equal in either schema).
local function sample(db, schema)
  return db:query(([[
    SELECT p.id::text AS id, p.created_at::text AS created_at, p.status::text AS status,
           md5(p::text) AS md5
      FROM %s.feature_plans p ORDER BY p.created_at DESC, p.id LIMIT 5]]):format(db:quote_ident(schema)))
end

-- The seed's two query checks (5.5), with the user of the latest plan; $S is the schema.
local QUERIES = {
  user_plans = [[
    SELECT * FROM $S.feature_plans
     WHERE user_id = (SELECT user_id FROM $S.feature_plans ORDER BY created_at DESC, id LIMIT 1)
     ORDER BY created_at DESC LIMIT 10]],
  completed_with_refinements = [[
    SELECT fp.*, fr.refined_request
      FROM $S.feature_plans fp
      LEFT JOIN $S.feature_refinements fr ON fr.plan_id = fp.id
     WHERE fp.status = 'completed'
     ORDER BY fp.created_at DESC]],
}

-- Each query's plan (EXPLAIN, no costs, schema names taken out) and the indexes it uses. The
-- planner is asked to avoid sequential scans: a dev tool's tables are small enough that it
-- would otherwise read them whole, and the check is that the indexes are there to be used.
local function query_plans(db, schema)
  local out = {}
  db:exec "SET LOCAL enable_seqscan = off"
  for name, sql in pairs(QUERIES) do
    local lines, used = {}, {}
    for _, r in ipairs(db:query("EXPLAIN (COSTS OFF) " .. sql:gsub("%$S", db:quote_ident(schema)))) do
      local line = r["QUERY PLAN"]:gsub(schema .. "%.", "")
      lines[#lines + 1] = line
      for ix in line:gmatch("Scan using ([%w_]+)") do used[ix] = true end
      for ix in line:gmatch("Bitmap Index Scan on ([%w_]+)") do used[ix] = true end
    end
    out[name] = { plan = table.concat(lines, "\n"), indexes = sorted(used) }
  end
  db:exec "RESET enable_seqscan"
  return out
end

-- The privileges `role` holds on the schema and on each of its tables, views and sequences:
-- { ["schema"] = {"USAGE", ...}, ["table feature_plans"] = {"SELECT*", ...} } (* = grantable).
local function privileges_of(db, role, schema)
  local out = {}
  for _, r in ipairs(db:query([[
    SELECT 'schema' AS obj, a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END AS p
      FROM pg_namespace n, aclexplode(n.nspacl) a
     WHERE n.nspname = $2 AND a.grantee = to_regrole($1)
    UNION ALL
    SELECT CASE c.relkind WHEN 'S' THEN 'sequence ' ELSE 'table ' END || c.relname,
           a.privilege_type || CASE WHEN a.is_grantable THEN '*' ELSE '' END
      FROM pg_class c, aclexplode(c.relacl) a
     WHERE c.relnamespace = to_regnamespace($2) AND c.relkind IN ('r', 'p', 'v', 'S') AND a.grantee = to_regrole($1)
     ORDER BY 1, 2]], role, schema)) do
    out[r.obj] = out[r.obj] or {}
    table.insert(out[r.obj], r.p)
  end
  return out
end

local function role_exists(db) return db:value("SELECT to_regrole($1) IS NOT NULL", ROLE) end

local function view_sql(t)
  return ("CREATE VIEW public.%s WITH (security_invoker = true) AS SELECT * FROM %s.%s"):format(t, SCHEMA, t)
end

-- The compatibility views (and their grants to ROLE when it exists).
local function create_views(db)
  if db:value "SELECT current_setting('server_version_num')::int < 150000" then
    error("compat views need PostgreSQL 15 or later (security_invoker); turn compat_views off", 0)
  end
  for _, t in ipairs(TABLES) do
    db:exec(view_sql(t))
    db:exec(("COMMENT ON VIEW public.%s IS 'compatibility view: %s.%s moved to schema %s; dropped by 001_feature_planner_schema:drop_compat'")
      :format(t, "public", t, SCHEMA))
    if role_exists(db) then db:exec(("GRANT ALL ON public.%s TO %s"):format(t, ROLE)) end
  end
end

local function drop_views(db)
  for i = #TABLES, 1, -1 do ddl.drop_view(db, "public." .. TABLES[i]) end
end

-- ---------------------------------------------------------------------------------------------

return migration "001_feature_planner_schema" {
  description = "seed 001: move the feature planner's 8 tables and 11 enums from public to schema feature_planner",

  -- Read-only preflight (the seed's 5.1). Fails early, before any exclusive lock is taken, when
  -- the database is not in the state this migration was written for. Its census (row counts,
  -- index/constraint/sequence names), the sample and the query plans are kept in
  -- weir.checkpoints under 001_feature_planner_schema/census/…; "move" takes its own census
  -- under its locks, "performance" compares with these plans.
  phase "census" {
    description = "preflight: everything in public, nothing in the way in feature_planner; counts, sample, query plans",
    up = function(db)
      local c = census(db, "public")
      weir.checkpoint("census", c)
      local ok_tables = #sorted(c.tables) == #TABLES
      weir.checkpoint("sample", ok_tables and sample(db, "public") or {})
      weir.checkpoint("plans", ok_tables and query_plans(db, "public") or {})
      print(("census: %d of %d tables (%d rows) and %d of %d enums found in public"):format(
        #sorted(c.tables), #TABLES, total_rows(c), #sorted(c.enums), #ENUMS))
      if ok_tables then
        local ids = {}
        for i, r in ipairs(weir.checkpoint("sample")) do ids[i] = r.id:sub(1, 8) .. " (" .. r.status .. ")" end
        print("census: sample of the latest feature_plans: " .. table.concat(ids, ", "))
      end
    end,
    -- Nothing to undo: the phase changes nothing (weir deletes its checkpoints on rollback).
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

  -- The move itself (ddl.move_to_schema). One transaction: either all 19 objects are in
  -- feature_planner, or none.
  phase "move" {
    description = "ALTER TYPE/TABLE ... SET SCHEMA feature_planner (catalog-only: data, indexes, constraints, FKs follow)",
    requires = { "census" },
    up = function(db)
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
      local rows = sample(db, "public")
      local _, moved = ddl.move_to_schema(db, { tables = TABLES, enums = ENUMS }, SCHEMA)
      weir.checkpoint("before", { schema_created = moved.schema_created, census = before, sample = rows })
      print(("moved %d enums and %d tables (%d rows) to feature_planner"):format(#moved.enums, #moved.tables, total_rows(before)))
    end,

    -- The seed's post-migration checks (5.3), each failure naming what differs.
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
      -- the sample: the same latest rows, each identical
      local now = sample(db, SCHEMA)
      for i, r in ipairs(rec.sample) do
        if not now[i] or now[i].id ~= r.id or now[i].md5 ~= r.md5 then
          return false, ("sample row %d (feature_plans %s) differs after the move"):format(i, r.id)
        end
      end
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
      ddl.move_to_schema(db, { tables = TABLES, enums = ENUMS }, "public", { from = SCHEMA })
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

  -- The seed's 5.5: the same queries, the same indexes. Read-only.
  phase "performance" {
    description = "the seed's two queries use the same indexes in feature_planner as they did in public",
    requires = { "move" },
    up = function(db)
      local after = query_plans(db, SCHEMA)
      weir.checkpoint("plans", after)
      for _, name in ipairs(sorted(QUERIES)) do
        print(("performance: %s uses %s"):format(name, table.concat(after[name].indexes, ", ")))
      end
    end,
    verify = function(db)
      local before, after = weir.checkpoint_of("census", "plans"), weir.checkpoint("plans")
      for _, name in ipairs(sorted(QUERIES)) do
        local b, a = before[name], after[name]
        if not b then return false, "census recorded no plan for " .. name end
        if #a.indexes == 0 then return false, name .. " uses no index in " .. SCHEMA .. ":\n" .. a.plan end
        -- the indexes, not the whole plan: a join's method follows the tables' statistics, which
        -- autovacuum may gather again between the census and now (a hash join for a nested loop)
        local bi, ai = table.concat(b.indexes, ", "), table.concat(a.indexes, ", ")
        if ai ~= bi then
          return false, ("%s uses %s after the move, %s before:\nbefore:\n%s\nafter:\n%s"):format(name,
            ai, bi, b.plan, a.plan)
        end
      end
      return true
    end,
    down = function() end,  -- read-only
  },

  -- The seed's GRANTs, to the role weir.lua's var grant_role names (Supabase's `authenticated`
  -- by default), when it exists: USAGE and ALL on the schema, ALL on every table and sequence
  -- in it. That widens what the role may do to whatever ALL is on each object (privileges it had
  -- travel with the tables anyway); the seed asks for it. up records what the role held before,
  -- down revokes everything and grants that back, so a rollback leaves exactly the privileges
  -- there were.
  phase "grants" {
    description = "GRANT USAGE, ALL ON SCHEMA feature_planner and ALL ON ALL TABLES/SEQUENCES in it TO the grant role (when it exists)",
    requires = { "move" },
    up = function(db)
      if not role_exists(db) then
        weir.checkpoint("granted", false)
        print(("no role %s: nothing to grant"):format(ROLE))
        return
      end
      weir.checkpoint("granted", { role = ROLE, before = privileges_of(db, ROLE, SCHEMA) })
      db:exec(([[GRANT USAGE ON SCHEMA %s TO %s;
                GRANT ALL ON SCHEMA %s TO %s;
                GRANT ALL ON ALL TABLES IN SCHEMA %s TO %s;
                GRANT ALL ON ALL SEQUENCES IN SCHEMA %s TO %s]]):format(SCHEMA, ROLE, SCHEMA, ROLE, SCHEMA, ROLE, SCHEMA, ROLE))
      print(("granted ALL on schema %s, its tables and sequences to %s"):format(SCHEMA, ROLE))
    end,
    verify = function(db)
      local g = weir.checkpoint("granted")
      if not g then
        if role_exists(db) then return false, ("role %s exists but was not granted anything"):format(ROLE) end
        return true
      end
      local missing = {}
      for _, p in ipairs { "USAGE", "CREATE" } do
        if not db:value("SELECT has_schema_privilege($1, $2, $3)", g.role, SCHEMA, p) then
          missing[#missing + 1] = p .. " on schema " .. SCHEMA
        end
      end
      for _, k in ipairs {
        { "r", "has_table_privilege", { "SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER" } },
        { "S", "has_sequence_privilege", { "USAGE", "SELECT", "UPDATE" } },
      } do
        for _, p in ipairs(k[3]) do
          -- (the CASE keeps the privilege function away from relations of other kinds)
          local lacking = db:value(([[SELECT string_agg(c.relname, ', ' ORDER BY c.relname) FROM pg_class c
                                       WHERE c.relnamespace = to_regnamespace($2)
                                         AND CASE WHEN c.relkind = $3::"char" THEN NOT %s($1, c.oid, $4) END]]):format(k[2]),
            g.role, SCHEMA, k[1], p)
          if not db.isnull(lacking) then missing[#missing + 1] = p .. " on " .. lacking end
        end
      end
      if #missing > 0 then return false, ("role %s lacks %s"):format(g.role, table.concat(missing, "; ")) end
      return true
    end,
    down = function(db)
      local g = weir.checkpoint("granted")
      if not g then return end
      db:exec(([[REVOKE ALL ON ALL SEQUENCES IN SCHEMA %s FROM %s;
                REVOKE ALL ON ALL TABLES IN SCHEMA %s FROM %s;
                REVOKE ALL ON SCHEMA %s FROM %s]]):format(SCHEMA, g.role, SCHEMA, g.role, SCHEMA, g.role))
      for obj, privs in pairs(g.before) do
        local kind, name = obj:match("^(%S+) ?(.*)$")
        local target = kind == "schema" and ("SCHEMA " .. SCHEMA) or
          ((kind == "sequence" and "SEQUENCE " or "TABLE ") .. SCHEMA .. "." .. name)
        for _, p in ipairs(privs) do
          local grantable = p:sub(-1) == "*"
          db:exec(("GRANT %s ON %s TO %s%s"):format(grantable and p:sub(1, -2) or p, target, g.role,
            grantable and " WITH GRANT OPTION" or ""))
        end
      end
    end,
  },

  -- The compatibility window. With compat_views on, each moved table gets a view of the same
  -- name in public: a simple SELECT * view, so PostgreSQL makes it insertable, updatable and
  -- deletable, with the table's defaults (identity and serial too); security_invoker, so that
  -- whoever reads or writes through it needs the privileges on the table itself (the view adds
  -- none; RLS on the table applies to them). An application that still says `feature_plans`
  -- with search_path public keeps working until it is deployed with the new names; then turn
  -- the flag off (`flags.disable(db, "feature_planner_compat_views")`) and `weir up` drops them.
  phase "compat" {
    description = "with compat_views on: insertable security_invoker views in public for the moved tables, flag feature_planner_compat_views on",
    requires = { "grants" },
    up = function(db)
      flags.define(db, COMPAT_FLAG, { description = "views in public for the tables 001_feature_planner_schema moved; turn off to drop them" })
      if COMPAT then
        create_views(db)
        flags.enable(db, COMPAT_FLAG)
        print(("compat: %d views in public over %s (drop them: turn %s off, then weir up)"):format(#TABLES, SCHEMA, COMPAT_FLAG))
      else
        flags.disable(db, COMPAT_FLAG)
        print("compat: compat_views is off: no views")
      end
    end,
    verify = function(db)
      if not COMPAT then return true end
      for _, t in ipairs(TABLES) do
        local v = db:one([[SELECT c.reloptions::text AS opts, v.is_insertable_into AS ins
                             FROM pg_class c JOIN information_schema.views v
                               ON v.table_schema = 'public' AND v.table_name = c.relname
                            WHERE c.oid = to_regclass($1) AND c.relkind = 'v']], "public." .. t)
        if not v then return false, "view public." .. t .. " does not exist" end
        if v.ins ~= "YES" then return false, "view public." .. t .. " is not insertable" end
        if not tostring(v.opts):find("security_invoker=true", 1, true) then
          return false, "view public." .. t .. " is not security_invoker"
        end
      end
      return true
    end,
    down = function(db)
      if COMPAT then drop_views(db) end
    end,
  },

  -- The end of the window: the views go once the flag is off (with compat_views off there are
  -- none, and nothing waits).
  phase "drop_compat" {
    description = "drop the compatibility views (waits for flag feature_planner_compat_views to be off)",
    requires = COMPAT and { "compat", flag_off = COMPAT_FLAG } or { "compat" },
    up = function(db)
      if COMPAT then
        drop_views(db)
        print("drop_compat: dropped the views in public")
      end
    end,
    verify = function(db)
      for _, t in ipairs(TABLES) do
        if db:value("SELECT to_regclass($1) IS NOT NULL", "public." .. t) then
          return false, "public." .. t .. " still exists"
        end
      end
      return true
    end,
    down = function(db)
      if COMPAT then create_views(db) end
    end,
  },
}
