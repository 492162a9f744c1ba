-- examples/voice-plan (seed 000) end to end, on its online change: the fixture; weir plan; weir
-- up through the rollout's order (shadow mode, then a dual-write period, both over before
-- complete); the old application (the tables) and the new one (the version schema first on its
-- search_path) writing at every point — before start, after start with no row backfilled yet,
-- after the backfill, after complete, after reopen, after rollback — and every write checked in
-- every shape that exists there; a plan draft the schema rejects quarantined with its reason;
-- validate catching an invalid plan and a cycle; weir test --roundtrip; down to the start.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local weir_bin = assert(os.getenv "WEIR")
local test_url = assert(os.getenv "WEIR_TEST_URL")
local src = assert(os.getenv "WEIR_SOURCE_DIR")
local EXAMPLE = src .. "/examples/voice-plan"
local ID = "001_voice_plan"
local VS = "public_voice_plan"
shell.tmpdir()

-- ---------------------------------------------------------------------------------------------
-- Helpers

local ex = require("example").new("voice-plan", "vplan")
local run_weir, weir_run, fresh_db = ex.weir, ex.eval, ex.fresh_db
local function load_fixture(url) return ex.script(url, "fixture.lua") end

local model = require("example").inspect

local function no_diff(a, b, what)
  local changes = schema.diff(a, b)
  if #changes > 0 then error((what or "schemas differ") .. ":\n" .. schema.script(changes), 2) end
end

local function phase_states(conn)
  local out = {}
  for _, r in ipairs(conn:query("SELECT phase, state FROM weir.phases WHERE migration = $1 ORDER BY position", ID)) do
    out[#out + 1] = r.phase .. "=" .. r.state
  end
  return out
end

-- md5 of the rows of the fixture's tables over the fixture's own columns
local function data_md5(conn)
  return conn:value [[
    SELECT md5(concat_ws('|',
      (SELECT string_agg(concat_ws(',', id, organization_id, name, description, priority, created_at), ';' ORDER BY id) FROM projects),
      (SELECT string_agg(concat_ws(',', id, project_id, name, deadline, status, priority, progress_percentage), ';' ORDER BY id) FROM milestones),
      (SELECT string_agg(concat_ws(',', id, milestone_id, title, status, priority, estimated_hours, blocked_by), ';' ORDER BY id) FROM tasks)))]]
end

-- The two applications, and what each wrote. milestones: name → { at (epoch of its date), app,
-- row (a row it inserted, not a fixture row it updated) }; tasks: title → { app }. Each inserted
-- row is `pre` while the backfill has not reached it (it was written when there was no new shape),
-- and `kept` while the new application's own values in the new columns are there (rollback drops
-- those columns; what comes back is up's value).
local old_app = weir.connect(test_url)
local new_app = weir.connect(test_url)
new_app:exec("SET search_path = " .. VS .. ", public")
local milestones, tasks = {}, {}
local backfilled = false
local epoch = 1900000000

local function shapes()
  local has = function(col)
    return db:value([[SELECT count(*) = 1 FROM pg_attribute WHERE attrelid = 'public.milestones'::regclass
                       AND attname = $1 AND NOT attisdropped]], col)
  end
  local active = db:value("SELECT to_regnamespace($1) IS NOT NULL", VS)
  -- the old shape: the tables with deadline; the new one: the version schema, or after complete
  -- the tables themselves (its search_path falls through to public)
  return { old = has("deadline"), new = active or has("due_date") }
end

local function after_rollback()
  for _, e in pairs(milestones) do e.pre, e.kept = true, false end
  for _, e in pairs(tasks) do e.pre, e.kept = true, false end
  backfilled = false
end

local function write(point)
  local s = shapes()
  local project = db:value "SELECT id FROM public.projects WHERE name = 'Project 1'"
  if s.old then
    epoch = epoch + 86400
    old_app:exec([[INSERT INTO milestones (project_id, name, deadline) VALUES ($1, $2, to_timestamp($3))]],
      project, "old " .. point, epoch)
    milestones["old " .. point] = { at = epoch, app = "old", row = true, pre = not s.new }
    epoch = epoch + 86400
    old_app:exec("UPDATE milestones SET deadline = to_timestamp($1) WHERE name = 'Milestone 1.1'", epoch)
    milestones["Milestone 1.1"] = { at = epoch }
    old_app:exec("INSERT INTO tasks (project_id, title) VALUES ($1, $2)", project, "old task " .. point)
    tasks["old task " .. point] = { app = "old", pre = not s.new }
  end
  if s.new then
    epoch = epoch + 86400
    new_app:exec([[INSERT INTO milestones (project_id, name, due_date, ai_generated, confidence_score)
                   VALUES ($1, $2, to_timestamp($3), true, 0.5)]], project, "new " .. point, epoch)
    milestones["new " .. point] = { at = epoch, app = "new", row = true, kept = true }
    epoch = epoch + 86400
    new_app:exec("UPDATE milestones SET due_date = to_timestamp($1) WHERE name = 'Milestone 2.1'", epoch)
    milestones["Milestone 2.1"] = { at = epoch }
    new_app:exec([[INSERT INTO tasks (project_id, title, dependency_links) VALUES ($1, $2, '["x"]')]], project,
      "new task " .. point)
    tasks["new task " .. point] = { app = "new", kept = true }
  end
  return s
end

-- What the new shape shows in an added column of an inserted row: the new application's own
-- value, NULL before the backfill reached the row, else up's value.
local function expected_new(e, own, missing, up)
  if e.app == "new" and e.kept then return own end
  if e.pre and not backfilled then return missing end
  return up
end

-- Every write so far, in every shape there is now.
local function check_all(point)
  local s = shapes()
  local n = 0
  for name, e in pairs(milestones) do
    if s.old then
      T.eq(old_app:value("SELECT extract(epoch FROM deadline)::bigint FROM milestones WHERE name = $1", name), e.at,
        point .. ": the old shape has " .. name)
    end
    if s.new then
      T.eq(new_app:value("SELECT extract(epoch FROM due_date)::bigint FROM milestones WHERE name = $1", name), e.at,
        point .. ": the new shape has " .. name)
      if e.row then
        T.eq(new_app:value("SELECT coalesce(ai_generated::text || ' ' || confidence_score::text, 'null') FROM milestones WHERE name = $1",
          name), expected_new(e, "true 0.50", "null", "false 0.00"), point .. ": the new columns of " .. name)
      end
    end
    n = n + 1
  end
  for title, e in pairs(tasks) do
    if s.old then T.eq(old_app:value("SELECT count(*) FROM tasks WHERE title = $1", title), 1, point .. ": " .. title) end
    if s.new then
      T.eq(new_app:value("SELECT coalesce(dependency_links::text, 'null') FROM tasks WHERE title = $1", title),
        expected_new(e, '["x"]', "null", "[]"), point .. ": the new shape's dependency_links of " .. title)
    end
  end
  return n
end

local function flags_eval(url, code) return weir_run(url, code) end

-- ---------------------------------------------------------------------------------------------
-- The main path on the suite's own database.

local before_model, before_md5

T.case("the fixture builds projects, milestones (with deadline) and tasks, and refuses to run twice", function()
  local rc, out, err = load_fixture(test_url)
  T.eq(rc, 0, err)
  T.contains(out, "fixture loaded into public: projects 6, milestones 18 (12 with a deadline), tasks 72 (36 blocked)")
  before_model = model(db)
  before_md5 = data_md5(db)
  local rc2, _, err2 = load_fixture(test_url)
  T.eq(rc2, 1)
  T.contains(err2, "fixture: refusing to run: 3 tables already exist (public.projects, public.milestones, public.tasks)")
  T.eq(data_md5(db), before_md5)
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  T.eq(data_md5(conn), before_md5, "deterministic: a second database holds the same rows")
end)

T.case("plan shows the version schema, the sync triggers and the backfill, and changes nothing", function()
  local rc, out, err = run_weir(test_url, "plan")
  T.eq(rc, 1, err)  -- complete waits for the rollout
  T.contains(out, "── " .. ID .. ":start  (non-transactional")
  T.contains(out, "   online change voice_plan, start:\n")
  T.contains(out, "view public_voice_plan.milestones (id, project_id, name, description, deadline AS due_date,")
  T.contains(out, [[trigger "!weir_sync_voice_plan" on public.tasks (BEFORE INSERT OR UPDATE, fires first)]])
  T.contains(out, "backfill public.tasks by id in batches of 500")
  T.contains(out, "blocked: requirement check not met: shadow_mode is on")
  T.eq(db:value "SELECT to_regnamespace('public_voice_plan') IS NULL AND to_regnamespace('weir') IS NULL", true)
  no_diff(model(db), before_model, "plan changed the schema")
  T.eq(data_md5(db), before_md5)
end)

T.case("before start: the old application writes the tables", function()
  T.eq(write("before start"), { old = true, new = false })
  T.ok(check_all("before start") > 0)
end)

T.case("after start, before the backfill: both applications write; every write is in both shapes", function()
  local rc, out, err = run_weir(test_url, "up --to " .. ID .. ":start")
  T.eq(rc, 0, err)
  T.contains(out, "flags: defined voice_capture, plan_orchestration, plan_commit, shadow_mode, dual_write")
  T.eq(db:value "SELECT weir.flag_enabled('shadow_mode')", true, "the seed's defaults")
  T.eq(db:value "SELECT weir.flag_enabled('dual_write')", false)
  T.eq(db:value "SELECT count(*) FROM public_voice_plan.milestones WHERE confidence_score IS NULL", 19,
    "no row backfilled yet")
  T.eq(write("after start"), { old = true, new = true })
  check_all("after start")
end)

T.case("after the backfill, the import and validate: both applications write; every write is in both shapes", function()
  local rc, out, err = run_weir(test_url, "up --to " .. ID .. ":validate")
  T.eq(rc, 0, err)
  T.contains(err, "weir: online voice_plan: backfilled ")
  T.contains(out, "import: 36 task dependencies; 6 plan drafts imported, 0 quarantined")
  T.eq(db:value "SELECT count(*) FROM public_voice_plan.milestones WHERE confidence_score IS NULL", 0)
  backfilled = true
  T.eq(db:value "SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_tasks_dependencies' AND indexdef LIKE '%USING gin%'", 1)
  local plan = db:value "SELECT plan_json FROM plan_sessions ORDER BY created_at LIMIT 1"
  T.eq(plan.schema_version, "1.0.0")
  T.eq(#plan.milestones, 3)
  write("after backfill")
  check_all("after backfill")
end)

T.case("complete waits for shadow mode, then a dual-write period, to be over", function()
  local rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 1)
  T.contains(err, ID .. ":complete cannot run: requirement check not met: shadow_mode is on")
  T.eq((flags_eval(test_url, 'flags.disable(db, "shadow_mode")')), 0)
  rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 1)
  T.contains(err, "dual_write was never on: the new application has not written yet")
  T.eq((flags_eval(test_url, 'flags.enable(db, "dual_write")')), 0)
  write("dual write")
  rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 1)
  T.contains(err, "dual_write is on: the old application may still be writing")
end)

T.case("after complete: due_date, the CHECKs validated, RLS; the temporary flags gone; every write in the new shape", function()
  T.eq((flags_eval(test_url, 'flags.disable(db, "dual_write")')), 0)
  local rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":complete done")
  T.contains(err, ID .. ":retire_flags done")
  T.eq(phase_states(db), { "flags=done", "start=done", "backfill=done", "import=done", "validate=done", "complete=done",
    "retire_flags=done" })
  T.eq(shapes(), { old = false, new = true })
  T.eq(db:value [[SELECT string_agg(conrelid::regclass::text || '.' || conname, ',' ORDER BY conrelid::regclass::text || '.' || conname)
                    FROM pg_constraint WHERE contype = 'c' AND convalidated AND conname LIKE 'chk_%']],
    "milestones.chk_confidence_range,plan_sessions.chk_confidence_range,plan_sessions.chk_processing_time," ..
    "projects.chk_confidence_range,tasks.chk_confidence_range,tasks.chk_estimate_hours")
  T.eq(db:value "SELECT count(*) FROM pg_policies WHERE tablename IN ('plan_sessions', 'voice_intents')", 2)
  T.eq(db:value "SELECT count(*) FROM weir.flags WHERE name IN ('shadow_mode', 'dual_write')", 0)
  T.eq(db:value "SELECT count(*) FROM weir.flag_history WHERE change = 'remove'", 2, "their audit trail stays")
  check_all("after complete")
  write("after complete")
  check_all("after complete")
  local e = T.raises(db.exec, db, "UPDATE tasks SET estimated_hours = 5000 WHERE estimated_hours IS NOT NULL")
  T.eq(e.sqlstate, "23514")
  local _, out = run_weir(test_url, "status")
  T.contains(out, "online   voice_plan: completed ")
end)

T.case("after reopen (down of complete): both shapes again, every write in both", function()
  local rc, _, err = run_weir(test_url, "down " .. ID .. ":complete")
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":retire_flags rolled back")
  T.contains(err, ID .. ":complete rolled back")
  T.eq(shapes(), { old = true, new = true })
  T.eq(db:value "SELECT count(*) FROM pg_policies WHERE tablename IN ('plan_sessions', 'voice_intents')", 0)
  check_all("after reopen")
  write("after reopen")
  check_all("after reopen")
end)

T.case("after rollback (down of start): the old shape only, with every write the new application made to it", function()
  local rc, _, err = run_weir(test_url, "down " .. ID .. ":start")
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":start rolled back")
  T.eq(shapes(), { old = true, new = false })
  T.eq(db:value "SELECT to_regclass('public.plan_sessions')", db.NULL, "the new tables went with it")
  after_rollback()
  check_all("after rollback")
  write("after rollback")
  check_all("after rollback")
end)

T.case("down to the start restores the inspected schema; up again goes all the way", function()
  local rc, _, err = run_weir(test_url, "down " .. ID)
  T.eq(rc, 0, err)
  no_diff(model(db), before_model, "down left the schema different from the fixture's")
  T.eq((flags_eval(test_url, 'flags.disable(db, "shadow_mode"); flags.enable(db, "dual_write"); ' ..
    'flags.disable(db, "dual_write")')), 0)
  rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":retire_flags done")
  backfilled = true
  check_all("up again")
end)

-- ---------------------------------------------------------------------------------------------
-- On databases of their own.

T.case("a plan draft the schema rejects is quarantined with its reason; the import goes on", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  conn:exec [[
    INSERT INTO projects (id, organization_id, name) VALUES ('00000000-0000-0000-0000-0000000000a1', md5('org-1')::uuid, 'P');
    INSERT INTO milestones (id, project_id, name) VALUES ('00000000-0000-0000-0000-0000000000a2',
      '00000000-0000-0000-0000-0000000000a1', 'Short one');
    INSERT INTO tasks (project_id, milestone_id, title) VALUES ('00000000-0000-0000-0000-0000000000a1',
      '00000000-0000-0000-0000-0000000000a2', 't')]]
  local rc, out, err = run_weir(url, "up --to " .. ID .. ":validate")
  T.eq(rc, 0, err)
  T.contains(out, "import: 36 task dependencies; 6 plan drafts imported, 1 quarantined")
  local qrow = conn:one "SELECT source_key::text AS key, error FROM weir.quarantine WHERE copy = 'plan_drafts'"
  T.contains(qrow.error, "the draft of project 00000000-0000-0000-0000-0000000000a1 does not match plan-draft v1.0.0 at /project/title")
  T.eq(phase_states(conn)[4], "import=done")
  local _, status = run_weir(url, "status")
  T.contains(status, "copy     plan_drafts: 7 read, 6 written, 1 quarantined")
end)

T.case("validate fails on a plan_json that breaks the plan-draft schema, and on a dependency cycle", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  local rc, _, err = run_weir(url, "up --to " .. ID .. ":import")
  T.eq(rc, 0, err)
  conn:exec [[INSERT INTO plan_sessions (id, organization_id, transcript, plan_json) VALUES
    ('00000000-0000-0000-0000-0000000000aa', md5('org-1')::uuid, 'bad',
     '{"schema_version": "0.9", "project": {"title": "ab", "description": ""},
       "milestones": [{"title": "M one", "tasks": [{"title": "t", "status": "later", "priority": "low"}]}]}')]]
  rc, _, err = run_weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, ID .. ":validate: up failed: ")
  T.contains(err, "check.json_schema: 1 of 7 values of plan_sessions.plan_json do not match")
  T.contains(err, "/milestones/0/tasks/0/status")
  conn:exec "DELETE FROM plan_sessions WHERE id = '00000000-0000-0000-0000-0000000000aa'"
  conn:exec [[INSERT INTO task_dependencies (task_id, depends_on_task_id)
              VALUES (md5('task-1-1-1')::uuid, md5('task-1-1-2')::uuid)]]
  rc, _, err = run_weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, "check.acyclic")
  conn:exec "DELETE FROM task_dependencies WHERE task_id = md5('task-1-1-1')::uuid"
  rc, _, err = run_weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, ID .. ":validate done")
  T.contains(err, "requirement check not met: shadow_mode is on")
end)

T.case("weir test --roundtrip passes from weir.lua's fixture, roundtrip.lua (the fixture, the rollout over)", function()
  local url = fresh_db()
  local rc, _, err = sh("cd " .. q(EXAMPLE) .. " && " .. q(weir_bin) .. " test --roundtrip --db " .. q(url) .. " --dir migrations")
  T.eq(rc, 0, err)
  T.contains(err, "starting from what roundtrip.lua builds")
  T.contains(err, "rollout over: shadow_mode off, dual_write on, then off")
  T.contains(err, "ok   " .. ID .. ": up, verify, down restores the schema")
end)

T.case("from the plain fixture, with the rollout not over, --roundtrip stops at complete", function()
  local url = fresh_db()
  local rc, _, err = sh("cd " .. q(EXAMPLE) .. " && " .. q(weir_bin) .. " test --roundtrip --fixture fixture.lua --db " ..
    q(url) .. " --dir migrations")
  T.eq(rc, 1)
  T.contains(err, "shadow_mode is on")
  T.contains(err, "FAIL " .. ID .. ": up failed")
end)

old_app:close()
new_app:close()
ex.drop_databases()
shell.cleanup()
T.done()
