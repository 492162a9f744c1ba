-- Seed 001 requirement by requirement, each test on a database of its own: the fixture, the
-- migration up to the phase that implements the requirement, then what the seed asks for,
-- checked with plain queries (independent of the migration's own verify).
--
--   weir test                                     from this directory (weir.lua: DATABASE_URL)
--   FP_COMPAT_VIEWS=on FP_GRANT_ROLE=app weir test   with the compatibility views, grants to `app`
--
-- The grants tests take the role weir.lua's var grant_role names as they find it: when it
-- exists they check the seed's GRANTs (and write as that role), when it does not they check
-- that nothing is granted. weir's CI runs this suite both ways.

local ID = "001_feature_planner_schema"
local ROLE = weir.var("grant_role", "authenticated")
local COMPAT = weir.var("compat_views", "off") == "on"
local FLAG = "feature_planner_compat_views"

local TABLES = {
  "feature_plans", "feature_refinements", "file_discovery_sessions", "discovered_files",
  "implementation_plan_generations", "plan_steps", "plan_step_templates", "plan_execution_logs",
}
local ENUMS = {
  "complexity", "confidence_level", "estimated_scope", "execution_step", "file_discovery_status",
  "file_priority", "implementation_plan_status", "plan_status", "refinement_status", "risk_level",
  "technical_complexity",
}

local function role_exists() return db:value("SELECT to_regrole($1) IS NOT NULL", ROLE) end

-- How many of the 8 tables and of the 11 enums are in `schema`.
local function placed(schema)
  return { db:value([[SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace($1)
                       AND relkind = 'r' AND relname = ANY ($2::text[])]], schema, db.array(TABLES)),
           db:value([[SELECT count(*) FROM pg_type WHERE typnamespace = to_regnamespace($1)
                       AND typtype = 'e' AND typname = ANY ($2::text[])]], schema, db.array(ENUMS)) }
end

-- What a move must keep, schema names taken out: rows (count and md5), columns, indexes and
-- constraints with their definitions, owned sequences with their positions, enum labels.
local function snapshot(schema)
  local s = {}
  for _, t in ipairs(TABLES) do
    s["rows " .. t] = db:value(("SELECT count(*) || ':' || md5(string_agg(x::text, ',' ORDER BY x::text)) FROM %s.%s x")
      :format(schema, t))
  end
  local function add(sql)
    for _, r in ipairs(db:query(sql, schema, db.array(TABLES))) do
      s[#s + 1] = (r.item:gsub("feature_planner%.", ""):gsub("public%.", ""))
    end
  end
  add [[SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text ||
               coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') || ' ' || a.attidentity::text AS item
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE c.relnamespace = to_regnamespace($1) AND c.relname = ANY ($2::text[]) AND a.attnum > 0
           AND NOT a.attisdropped ORDER BY 1]]
  add [[SELECT pg_get_indexdef(x.indexrelid) AS item FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid
         WHERE c.relnamespace = to_regnamespace($1) AND c.relname = ANY ($2::text[]) ORDER BY 1]]
  add [[SELECT c.relname || '.' || k.conname || ': ' || pg_get_constraintdef(k.oid) || ' ' || k.convalidated::text AS item
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
         WHERE c.relnamespace = to_regnamespace($1) AND c.relname = ANY ($2::text[]) ORDER BY 1]]
  add [[SELECT c.relname || ' owns ' || s.relname || ' at ' || pg_sequence_last_value(s.oid) AS item
          FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_class c ON c.oid = d.refobjid
         WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
           AND c.relnamespace = to_regnamespace($1) AND c.relname = ANY ($2::text[]) ORDER BY 1]]
  for _, r in ipairs(db:query([[SELECT t.typname::text AS name, string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS labels
                                  FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
                                 WHERE t.typnamespace = to_regnamespace($1) GROUP BY 1]], schema)) do
    s["enum " .. r.name] = r.labels
  end
  return s
end

local function checkpoint(key) return db:value("SELECT value FROM weir.checkpoints WHERE key = $1", ID .. "/" .. key) end

-- The privileges ROLE holds in `schema` (schema, tables, views, sequences), as "object privilege".
local function privileges(schema)
  local out = {}
  for _, r in ipairs(db:query([[
      SELECT 'schema ' || privilege_type AS p FROM pg_namespace n, aclexplode(n.nspacl) a
       WHERE n.nspname = $2 AND a.grantee = to_regrole($1)
      UNION ALL
      SELECT c.relname || ' ' || privilege_type || CASE WHEN is_grantable THEN '*' ELSE '' END
        FROM pg_class c, aclexplode(c.relacl) a
       WHERE c.relnamespace = to_regnamespace($2) AND a.grantee = to_regrole($1)
       ORDER BY 1]], ROLE, schema)) do
    out[#out + 1] = r.p
  end
  return out
end

describe("seed 001", function()
  it("5.1: census records the counts, the sample export and the query plans before the move", function()
    expect(project.fixture()):to_contain("fixture loaded into public: users 40, feature_plans 120")
    local out = project.up(ID .. ":census")
    expect(out):to_contain("census: 8 of 8 tables (1701 rows) and 11 of 11 enums found in public")
    local latest = db:query "SELECT id::text AS id, md5(p::text) AS md5 FROM public.feature_plans p ORDER BY created_at DESC, id LIMIT 5"
    local sample = checkpoint "census/sample"
    expect(#sample):to_be(5)
    for i, r in ipairs(latest) do expect({ sample[i].id, sample[i].md5 }):to_equal({ r.id, r.md5 }) end
    expect(out):to_contain("census: sample of the latest feature_plans: " .. latest[1].id:sub(1, 8))
    expect(checkpoint "census/census".tables.plan_steps.rows):to_be(450)
    expect(checkpoint "census/plans".completed_with_refinements.indexes)
      :to_equal({ "feature_plans_status_idx", "feature_refinements_plan_id_idx" })
  end)

  it("the move puts the 8 tables and 11 enums in feature_planner with everything they had", function()
    project.fixture()
    local before = snapshot "public"
    local out = project.up(ID .. ":move")
    expect(out):to_contain("moved 11 enums and 8 tables (1701 rows) to feature_planner")
    expect(placed "feature_planner"):to_equal({ 8, 11 })
    expect(placed "public"):to_equal({ 0, 0 })
    expect(snapshot "feature_planner"):to_equal(before)
    expect(db:value "SELECT pg_typeof(status)::text FROM feature_planner.feature_plans LIMIT 1"):to_be("feature_planner.plan_status")
    -- the sample export: the same latest rows, identical
    for _, r in ipairs(checkpoint "census/sample") do
      expect(db:value("SELECT md5(p::text) FROM feature_planner.feature_plans p WHERE id = $1", r.id)):to_be(r.md5)
    end
    -- the unqualified names are gone from public (the application must qualify, or use compat)
    expect(db:value "SELECT to_regclass('feature_plans')"):to_be_nil()
  end)

  it("the 3 foreign keys to public.users work across the schemas, and the ones within too", function()
    project.fixture()
    project.up(ID .. ":move")
    expect(db:value [[SELECT string_agg(c.relname || '.' || k.conname, ',' ORDER BY c.relname) FROM pg_constraint k
                        JOIN pg_class c ON c.oid = k.conrelid
                       WHERE k.confrelid = 'public.users'::regclass AND c.relnamespace = 'feature_planner'::regnamespace
                         AND k.convalidated]])
      :to_be("discovered_files.discovered_files_added_by_user_id_users_id_fk,feature_plans.feature_plans_user_id_users_id_fk,"
        .. "plan_step_templates.plan_step_templates_user_id_users_id_fk")
    expect(function()
      db:exec("INSERT INTO feature_planner.feature_plans (user_id, original_request) VALUES (gen_random_uuid(), 'x')")
    end):to_raise("23503")
    expect(function()
      db:exec("INSERT INTO feature_planner.plan_steps (plan_generation_id, step_number, title) VALUES (gen_random_uuid(), 1, 't')")
    end):to_raise("23503")
    -- ON DELETE CASCADE from public.users reaches into feature_planner
    local victim = db:value [[SELECT u.id FROM public.users u
                               WHERE EXISTS (SELECT 1 FROM feature_planner.feature_plans p WHERE p.user_id = u.id)
                                 AND NOT EXISTS (SELECT 1 FROM feature_planner.discovered_files f WHERE f.added_by_user_id = u.id)
                               ORDER BY u.id LIMIT 1]]
    db:exec("DELETE FROM public.users WHERE id = $1", victim)
    expect(db:value("SELECT count(*) FROM feature_planner.feature_plans WHERE user_id = $1", victim)):to_be(0)
  end)

  it("5.5: the seed's queries use the same indexes after the move as before", function()
    project.fixture()
    local out = project.up(ID .. ":performance")
    expect(out):to_contain("performance: completed_with_refinements uses feature_plans_status_idx, feature_refinements_plan_id_idx")
    local before, after = checkpoint "census/plans", checkpoint "performance/plans"
    expect(after):to_equal(before)
    expect(#after.user_plans.indexes > 0):to_be(true)
  end)

  it("the seed's grants go to the grant role when it exists, and down gives back exactly what it had", function()
    project.fixture()
    if role_exists() then
      db:exec("GRANT SELECT ON public.feature_plans TO " .. ROLE)  -- held before: travels with the table
      local before = privileges "public"
      local out = project.up(ID .. ":grants")
      expect(out):to_contain("granted ALL on schema feature_planner, its tables and sequences to " .. ROLE)
      expect(privileges "feature_planner"):to_contain("schema USAGE")
      expect(privileges "feature_planner"):to_contain("schema CREATE")
      expect(privileges "feature_planner"):to_contain("plan_steps_id_seq USAGE")
      expect(privileges "feature_planner"):to_contain("discovered_files TRUNCATE")
      -- the role can now use the tables, sequences included
      db:exec("SET ROLE " .. ROLE)
      local ok, err = pcall(function()
        db:exec [[INSERT INTO feature_planner.plan_steps (plan_generation_id, step_number, title)
                  SELECT id, 42, 'as the role' FROM feature_planner.implementation_plan_generations LIMIT 1]]
        db:exec "UPDATE feature_planner.feature_plans SET current_step = 1 WHERE status = 'draft'"
      end)
      db:exec "RESET ROLE"
      if not ok then error(err, 0) end
      project.down(ID .. ":grants")
      expect(privileges "feature_planner"):to_equal(before)
      expect(before):to_equal({ "feature_plans SELECT" })
    else
      local out = project.up(ID .. ":grants")
      expect(out):to_contain("no role " .. ROLE .. ": nothing to grant")
      expect(checkpoint "grants/granted"):to_be(false)
      expect(db:value "SELECT count(*) FROM pg_class c, aclexplode(c.relacl) a WHERE c.relnamespace = 'feature_planner'::regnamespace AND a.grantee <> c.relowner")
        :to_be(0)
    end
  end)

  it("the compatibility window: views in public the application writes through, until the flag is turned off", function()
    project.fixture()
    if COMPAT then
      expect(project.up(ID .. ":compat")):to_contain("compat: 8 views in public over feature_planner")
      -- the application, still on search_path public and the old names
      db:exec "SET search_path = public"
      local id = db:value [[INSERT INTO feature_plans (user_id, original_request) SELECT id, 'through the view' FROM users
                            ORDER BY id LIMIT 1 RETURNING id]]
      expect(db:value("SELECT status::text FROM feature_planner.feature_plans WHERE id = $1", id)):to_be("draft")
      db:exec [[INSERT INTO discovered_files (discovery_session_id, file_path, priority, relevance_score)
                SELECT id, 'new.ts', 'low', 5 FROM file_discovery_sessions ORDER BY id LIMIT 1]]
      expect(db:value "SELECT id > 375 FROM feature_planner.discovered_files WHERE file_path = 'new.ts'"):to_be(true)
      db:exec("UPDATE feature_plans SET status = 'refining' WHERE id = $1", id)
      expect(db:value("SELECT status::text FROM feature_planner.feature_plans WHERE id = $1", id)):to_be("refining")
      db:exec("DELETE FROM feature_plans WHERE id = $1", id)
      expect(db:value("SELECT count(*) FROM feature_planner.feature_plans WHERE id = $1", id)):to_be(0)
      db:exec "RESET search_path"
      -- security_invoker: whoever writes through a view needs the table's own privileges
      expect(db:value "SELECT reloptions::text FROM pg_class WHERE oid = 'public.plan_steps'::regclass")
        :to_be("{security_invoker=true}")
      if role_exists() then
        db:exec("SET ROLE " .. ROLE)
        local ok, err = pcall(function()
          db:exec [[INSERT INTO public.plan_step_templates (name, category, title) VALUES ('via view', 'docs', 't')]]
        end)
        db:exec "RESET ROLE"
        if not ok then error(err, 0) end
        db:exec("REVOKE INSERT ON feature_planner.plan_step_templates FROM " .. ROLE)
        db:exec("SET ROLE " .. ROLE)
        ok, err = pcall(db.exec, db, [[INSERT INTO public.plan_step_templates (name, category, title) VALUES ('no', 'docs', 't')]])
        db:exec "RESET ROLE"
        expect(ok):to_be(false)
        expect(err.sqlstate):to_be("42501")
        db:exec("GRANT INSERT ON feature_planner.plan_step_templates TO " .. ROLE)
      end
      -- the views stay until the flag is off
      expect(function() project.up() end):to_raise("requires feature flag '" .. FLAG .. "' to be off")
      expect(db:value "SELECT to_regclass('public.feature_plans') IS NOT NULL"):to_be(true)
      flags.disable(db, FLAG)
      expect(project.up()):to_contain("drop_compat: dropped the views in public")
      expect(db:value "SELECT to_regclass('public.feature_plans')"):to_be_nil()
    else
      expect(project.up()):to_contain("compat: compat_views is off: no views")
      expect(db:value "SELECT to_regclass('public.feature_plans')"):to_be_nil()
      expect(flags.enabled(db, FLAG)):to_be(false)
    end
  end)

  it("down moves everything back to public exactly and drops the schema; up again moves it again", function()
    project.fixture()
    local before = snapshot "public"
    if COMPAT then
      project.up(ID .. ":compat")
      flags.disable(db, FLAG)
    end
    project.up()
    local out = project.down(ID)
    expect(out):to_contain("moved 8 tables (1701 rows) and 11 enums back to public")
    expect(placed "public"):to_equal({ 8, 11 })
    expect(snapshot "public"):to_equal(before)
    expect(db:value "SELECT to_regnamespace('feature_planner')"):to_be_nil()
    expect(db:value "SELECT count(*) FROM pg_class WHERE relkind = 'v' AND relnamespace = 'public'::regnamespace"):to_be(0)
    if COMPAT then
      project.up(ID .. ":compat")  -- turns the flag on again, with the views
      flags.disable(db, FLAG)
    end
    project.up()
    expect(snapshot "feature_planner"):to_equal(before)
  end)

  it("the seed's easy removal: DROP SCHEMA feature_planner CASCADE takes the planner and nothing else", function()
    project.fixture()
    if COMPAT then
      project.up(ID .. ":compat")
      flags.disable(db, FLAG)
    end
    project.up()
    local users = db:value "SELECT count(*) || ':' || md5(string_agg(u::text, ',' ORDER BY u.id)) FROM public.users u"
    db:exec "DROP SCHEMA feature_planner CASCADE"
    expect(db:value "SELECT count(*) || ':' || md5(string_agg(u::text, ',' ORDER BY u.id)) FROM public.users u"):to_be(users)
    expect(db:value([[SELECT count(*) FROM pg_class WHERE relname = ANY ($1::text[])]], db.array(TABLES))):to_be(0)
    expect(db:value "SELECT count(*) FROM pg_constraint WHERE confrelid = 'public.users'::regclass"):to_be(0)
  end)
end)
