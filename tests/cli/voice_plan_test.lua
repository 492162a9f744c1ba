-- examples/voice-plan (seed 000) end to end: the fixture; weir up stopping before cleanup while
-- dual_write is on; cleanup once it is off; the validate phase catching an invalid plan_json and
-- a dependency cycle; weir test --roundtrip; down to the start restoring the inspected schema.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local weir_bin = assert(os.getenv "WEIR")
local test_url = assert(os.getenv "WEIR_TEST_URL")
local src = assert(os.getenv "WEIR_SOURCE_DIR")
local EXAMPLE = src .. "/examples/voice-plan"
local MIGRATIONS = EXAMPLE .. "/migrations"
local ID = "001_voice_plan"
local PHASES = { "expand", "indexes", "backfill", "flags", "validate", "cleanup" }
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
  -- deterministic: a second database holds the same rows
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  T.eq(data_md5(conn), before_md5)
end)

T.case("plan shows every phase and changes nothing", function()
  local _, out, err = run_weir(test_url, "plan")
  for _, ph in ipairs(PHASES) do T.contains(out, "── " .. ID .. ":" .. ph .. "  (", err) end
  T.contains(out, "── " .. ID .. ":indexes  (non-transactional")
  T.contains(out, "CREATE INDEX CONCURRENTLY")
  -- the flags phase defines dual_write on, so plan (like up) stops before cleanup
  T.contains(out, "blocked: requires feature flag 'dual_write' to be off")
  T.eq(db:value "SELECT to_regclass('public.plan_sessions')", db.NULL)
  no_diff(model(db), before_model, "plan changed the schema")
  T.eq(data_md5(db), before_md5)
end)

T.case("up runs expand … validate, then stops before cleanup while dual_write is on", function()
  local rc, out, err = run_weir(test_url, "up")
  T.eq(rc, 1, err)
  for _, ph in ipairs { "expand", "indexes", "backfill", "flags", "validate" } do
    T.contains(err, ID .. ":" .. ph .. " done")
  end
  T.contains(err, ID .. ":cleanup cannot run: requires feature flag 'dual_write' to be off")
  T.contains(out, "flags: defined voice_capture, plan_orchestration, plan_commit, shadow_mode, dual_write")
  T.eq(phase_states(db), { "expand=done", "indexes=done", "backfill=done", "flags=done", "validate=done" })
  -- the expand state: both columns, the compat view, the new tables
  T.eq(db:value "SELECT count(*) FROM milestones WHERE due_date IS DISTINCT FROM deadline", 0)
  T.eq(db:value "SELECT count(*) FROM milestones_compat WHERE due_date IS NOT NULL AND deadline_legacy IS NOT NULL", 12)
  T.eq(db:value "SELECT count(*) FROM task_dependencies", 36)
  T.eq(db:value "SELECT count(*) FROM plan_sessions", 6)
  T.eq(db:value "SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_tasks_dependencies' AND indexdef LIKE '%USING gin (dependency_links)'", 1)
  T.eq(db:value "SELECT bool_and(indisvalid) FROM pg_index WHERE indexrelid::regclass::text LIKE 'idx_%'", true)
  -- an imported plan is a valid plan-draft document
  local plan = db:value "SELECT plan_json FROM plan_sessions ORDER BY created_at LIMIT 1"
  T.eq(plan.schema_version, "1.0.0")
  T.eq(#plan.milestones, 3)
  T.eq(#plan.milestones[1].tasks, 4)
  T.eq(plan.milestones[3].due_date, db.NULL)
  T.eq(db:value "SELECT weir.flag_enabled('dual_write')", true)
  T.eq(db:value "SELECT weir.flag_enabled('plan_commit')", false)
  -- up again: still blocked, nothing re-run
  local rc2, _, err2 = run_weir(test_url, "up")
  T.eq(rc2, 1)
  T.contains(err2, "requires feature flag 'dual_write' to be off")
  T.not_contains(err2, "expand done")
end)

T.case("turning dual_write off lets cleanup drop deadline and the view, add the CHECKs and RLS policies", function()
  local rc, _, err = weir_run(test_url, 'flags.disable(db, "dual_write")')
  T.eq(rc, 0, err)
  rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":cleanup done")
  T.eq(phase_states(db), { "expand=done", "indexes=done", "backfill=done", "flags=done", "validate=done", "cleanup=done" })
  T.eq(db:value "SELECT count(*) FROM information_schema.columns WHERE table_name = 'milestones' AND column_name = 'deadline'", 0)
  T.eq(db:value "SELECT to_regclass('public.milestones_compat')", db.NULL)
  T.eq(db:value [[SELECT string_agg(conrelid::regclass::text || '.' || conname, ',' ORDER BY conrelid::regclass::text || '.' || conname)
                    FROM pg_constraint WHERE contype = 'c' AND convalidated AND conname LIKE 'chk_%']],
    "milestones.chk_confidence_range,plan_sessions.chk_confidence_range,plan_sessions.chk_processing_time," ..
    "projects.chk_confidence_range,tasks.chk_confidence_range,tasks.chk_estimate_hours")
  T.eq(db:value "SELECT count(*) FROM pg_policies WHERE tablename IN ('plan_sessions', 'voice_intents')", 2)
  local e = T.raises(db.exec, db, "UPDATE tasks SET estimated_hours = 5000 WHERE estimated_hours IS NOT NULL")
  T.eq(e.sqlstate, "23514")
  -- status
  local rc2, out = run_weir(test_url, "status")
  T.eq(rc2, 0)
  T.contains(out, "applied  " .. ID)
  T.contains(out, "done         cleanup")
end)

T.case("down of cleanup alone brings back deadline (from due_date) and milestones_compat; up again", function()
  db:exec "UPDATE milestones SET due_date = due_date + interval '1 day' WHERE name = 'Milestone 1.1'"
  local rc, _, err = run_weir(test_url, "down " .. ID .. ":cleanup")
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":cleanup rolled back")
  T.not_contains(err, ID .. ":validate rolled back")
  T.eq(db:value "SELECT count(*) FROM milestones WHERE deadline IS DISTINCT FROM due_date", 0)
  T.eq(db:value "SELECT count(*) FROM milestones_compat WHERE deadline_legacy IS NOT NULL", 12)
  T.eq(db:value "SELECT count(*) FROM pg_policies WHERE tablename IN ('plan_sessions', 'voice_intents')", 0)
  T.eq(db:value "SELECT count(*) FROM pg_constraint WHERE contype = 'c' AND conname LIKE 'chk_%'", 0)
  db:exec "UPDATE milestones SET due_date = due_date - interval '1 day', deadline = deadline - interval '1 day' WHERE name = 'Milestone 1.1'"
  rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":cleanup done")
end)

T.case("down to the start restores the inspected schema and the fixture's data", function()
  local rc, _, err = run_weir(test_url, "down " .. ID)
  T.eq(rc, 0, err)
  for _, ph in ipairs(PHASES) do T.contains(err, ID .. ":" .. ph .. " rolled back") end
  no_diff(model(db), before_model, "down left the schema different from the fixture's")
  T.eq(data_md5(db), before_md5, "deadline values came back")
  -- the flags stay, in the state they were left in
  T.eq(db:value "SELECT weir.flag_enabled('dual_write')", false)
  -- and up again goes all the way (dual_write is off)
  rc, _, err = run_weir(test_url, "up")
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":cleanup done")
end)

-- ---------------------------------------------------------------------------------------------
-- The validate phase on a database of its own.

T.case("validate fails on a plan_json that breaks the plan-draft schema, and on a dependency cycle", function()
  local url, conn <close> = fresh_db()
  T.eq((load_fixture(url)), 0)
  local rc, _, err = run_weir(url, "up --to " .. ID .. ":flags")
  T.eq(rc, 0, err)

  -- an invalid draft: wrong schema_version, a two-letter title, a task with an unknown status
  conn:exec [[INSERT INTO plan_sessions (id, organization_id, transcript, plan_json) VALUES
    ('00000000-0000-0000-0000-0000000000aa', md5('org-1')::uuid, 'bad',
     '{"schema_version": "0.9", "project": {"title": "ab", "description": ""},
       "milestones": [{"title": "M one", "tasks": [{"title": "t", "status": "later", "priority": "low"}]}]}')]]
  rc, _, err = run_weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, ID .. ":validate: up failed: ")
  T.contains(err, "00000000-0000-0000-0000-0000000000aa")
  T.contains(err, "check.json_schema: 1 of 7 values of plan_sessions.plan_json do not match")
  T.contains(err, "/milestones/0/tasks/0/status")
  T.eq(phase_states(conn)[5], "validate=failed")
  conn:exec "DELETE FROM plan_sessions WHERE id = '00000000-0000-0000-0000-0000000000aa'"

  -- a cycle: task 1.1.2 depends on 1.1.1 (from blocked_by); make 1.1.1 depend on 1.1.2
  conn:exec [[INSERT INTO task_dependencies (task_id, depends_on_task_id)
              VALUES (md5('task-1-1-1')::uuid, md5('task-1-1-2')::uuid)]]
  rc, _, err = run_weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, ID .. ":validate: up failed: ")
  T.contains(err, "check.acyclic")
  T.contains(err, "→")
  conn:exec "DELETE FROM task_dependencies WHERE task_id = md5('task-1-1-1')::uuid"

  -- repaired: validate passes; cleanup still waits for dual_write
  rc, _, err = run_weir(url, "up")
  T.eq(rc, 1)
  T.contains(err, ID .. ":validate done")
  T.contains(err, "requires feature flag 'dual_write' to be off")
end)

T.case("weir test --roundtrip passes from weir.lua's fixture, roundtrip.lua (the fixture, dual_write off)", function()
  -- defined off before the migration: flags.define in the flags phase keeps an existing flag's state
  local url = fresh_db()
  local rc, _, err = sh("cd " .. q(EXAMPLE) .. " && " .. q(weir_bin) .. " test --roundtrip --db " .. q(url) .. " --dir migrations")
  T.eq(rc, 0, err)
  T.contains(err, "starting from what roundtrip.lua builds")
  T.contains(err, "dual_write defined off")
  T.contains(err, "ok   " .. ID .. ": up, verify, down restores the schema")
  T.contains(err, "1 passed, 0 failed")
end)

T.case("from the plain fixture, without the flag turned off, --roundtrip stops at cleanup", function()
  local url = fresh_db()
  local rc, _, err = sh("cd " .. q(EXAMPLE) .. " && " .. q(weir_bin) .. " test --roundtrip --fixture fixture.lua --db " ..
    q(url) .. " --dir migrations")
  T.eq(rc, 1)
  T.contains(err, "requires feature flag 'dual_write' to be off")
  T.contains(err, "FAIL " .. ID .. ": up failed")
end)

ex.drop_databases()
shell.cleanup()
T.done()
