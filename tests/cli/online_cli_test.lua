-- online changes run by weir up / weir down as a user runs them: weir killed with SIGKILL in
-- the middle of the backfill and run again (every row backfilled exactly once, consistent);
-- writers inserting and updating in both shapes all through the backfill, which still ends
-- and loses none of their writes; complete gated by a flag, refused with the script's line
-- while a row is inconsistent; weir down from every point back to the start.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()
local project = require "project"

local weir_bin = assert(os.getenv "WEIR")

local CHANGE = [[
local due = online.change "due_date" { batch = %d, pause_ms = %d,
  online.rename_column { table = "milestones", from = "deadline", to = "due_date" },
  online.alter_column  { table = "milestones", column = "due_date", type = "timestamptz",
                         up = "deadline::timestamptz", down = "(due_date AT TIME ZONE 'UTC')::date" },
}
return migration "001_due_date" {
  phase "flags"    { up = function(db) flags.define(db, "dual_write", { default = true }) end, down = function() end },
  phase "start"    { transaction = false, up = due.start, down = due.rollback },
  phase "complete" { transaction = false, requires = { flag_off = "dual_write" },
                     up = due.complete, down = due.reopen },
}
]]

local function setup(name, rows, batch, pause)
  local p = project.new(name, { ["001_due_date.lua"] = CHANGE:format(batch, pause) })
  p.conn:exec("SET timezone = 'UTC'")
  p.conn:exec(([[
    CREATE TABLE milestones (id bigserial PRIMARY KEY, name text NOT NULL, deadline date);
    INSERT INTO milestones (name, deadline)
    SELECT 'm' || g, date '2026-01-01' + (g %% 700) FROM generate_series(1, %d) g;
    ALTER DATABASE %s SET timezone = 'UTC']]):format(rows, p.name))
  return p
end

local function disable_dual_write(p)
  return (sh(q(weir_bin) .. " run --db " .. q(p.url) .. " -e " .. q('flags.disable(db, "dual_write")')))
end

local function synced(p)
  return p.value [[SELECT count(*) FROM milestones WHERE "_weir_due_date$synced"]]
end

T.case("SIGKILL in the middle of the backfill: the next weir up resumes after the last batch; every row once", function()
  local p = setup("onl_kill", 20000, 500, 30)
  local pidfile = tmp .. "/kill.pid"
  sh("(cd " .. q(p.dir) .. " && " .. q(weir_bin) .. " up --db " .. q(p.url) ..
    " >/dev/null 2>&1 & echo $! > " .. q(pidfile) .. ")")
  local pid = io.open(pidfile):read("l")
  local deadline = weir.clock() + 30
  local cp = function()
    if not p.value "SELECT to_regclass('weir.checkpoints') IS NOT NULL" then return nil end
    return p.value [[SELECT (value->>'rows')::int FROM weir.checkpoints WHERE key = 'online/due_date/public.milestones']]
  end
  while (cp() == nil or cp() < 2000) and weir.clock() < deadline do weir.sleep(0.02) end
  sh("kill -9 " .. pid .. "; while kill -0 " .. pid .. " 2>/dev/null; do sleep 0.02; done")
  weir.sleep(0.3)  -- the server notices the dead client and rolls its open batch back
  local done_rows = cp()
  T.ok(done_rows >= 2000 and done_rows < 20000, "killed mid-backfill after " .. tostring(done_rows) .. " rows")
  T.eq(done_rows % 500, 0, "only whole batches")
  T.eq(synced(p), done_rows, "the checkpoint names exactly the rows backfilled")
  T.eq(p.phase_state("001_due_date", "start"), "running")
  local _, status = p.weir("status")
  T.contains(status, "interrupted  start (non-transactional)")
  -- an old-shape write to a row not backfilled yet syncs that row at once
  p.conn:exec "UPDATE milestones SET deadline = '2030-01-01' WHERE id = 19999"
  T.eq(p.value "SELECT _weir_due_date_due_date::date::text FROM milestones WHERE id = 19999", "2030-01-01")

  local rc, _, err = p.weir("up")
  T.eq(rc, 1, "stops at complete: dual_write is on")
  T.contains(err, "001_due_date:start was interrupted; running it again")
  T.contains(err, ("weir: online due_date: backfilled %d rows in "):format(20000 - done_rows - 1))
  T.contains(err, "001_due_date:complete cannot run: requires feature flag 'dual_write' to be off")
  T.eq(synced(p), 20000)
  local _, st = p.weir("status")
  T.contains(st, "online   due_date: active, version schema public_due_date (public.milestones) — backfill done, 19999 rows")  -- one row was synced by the update above
  T.eq(p.value [[SELECT count(*) FROM milestones WHERE _weir_due_date_due_date IS DISTINCT FROM deadline::timestamptz]], 0)
  p.conn:close()
end)

T.case("writers in both shapes all through the backfill: it ends while they write, and none of their writes is lost", function()
  local p = setup("onl_load", 30000, 1000, 0)
  -- the old application inserts and updates the table; the new one writes through the version
  -- schema once it exists; both record what they wrote in a side table
  p.conn:exec [[CREATE TABLE inserted (name text PRIMARY KEY, day date);
                CREATE TABLE updated (id bigint PRIMARY KEY, name text, day date)]]
  local writer = tmp .. "/writer.lua"
  shell.write(writer, [=[
local shape, stop = arg[1], arg[2]
if shape == "new" then
  while not db:value "SELECT to_regclass('public_due_date.milestones') IS NOT NULL" do weir.sleep(0.01) end
  db:exec "SET search_path = public_due_date, public"
end
local col = shape == "old" and "deadline" or "due_date"
local n = 0
while not io.open(stop) do
  n = n + 1
  local name, day = shape .. n, ("2027-%02d-%02d"):format(n % 12 + 1, n % 28 + 1)
  -- the two writers update disjoint halves of the existing rows
  local id = (shape == "old" and 1 or 15001) + n * 7 % 15000
  db:tx(function()
    db:exec("INSERT INTO milestones (name, " .. col .. ") VALUES ($1, $2::date)", name, day)
    db:exec("UPDATE milestones SET " .. col .. " = $1::date, name = $2 WHERE id = $3", day, name .. "u", id)
    db:exec("INSERT INTO public.inserted VALUES ($1, $2)", name, day)
    db:exec([[INSERT INTO public.updated VALUES ($1, $2, $3)
              ON CONFLICT (id) DO UPDATE SET name = excluded.name, day = excluded.day]], id, name .. "u", day)
  end)
end
print(n)
]=])
  local stop = tmp .. "/stop"
  os.remove(stop)
  for _, shape in ipairs { "old", "new" } do
    sh("(" .. q(weir_bin) .. " run --db " .. q(p.url) .. " " .. q(writer) .. " " .. shape .. " " .. q(stop) ..
      " >" .. q(tmp .. "/" .. shape .. ".out") .. " 2>" .. q(tmp .. "/" .. shape .. ".err") .. "; " ..
      shell.save_rc(tmp .. "/" .. shape .. ".rc") .. ") >/dev/null 2>&1 &")
  end
  local writes = function() return p.value "SELECT count(*) FROM inserted" end
  local deadline = weir.clock() + 20
  while writes() < 20 and weir.clock() < deadline do weir.sleep(0.02) end
  local before = writes()
  local rc, _, err = p.weir("up --to 001_due_date:start")
  T.eq(rc, 0, err)
  local during = writes()
  T.ok(not io.open(tmp .. "/old.rc") and not io.open(tmp .. "/new.rc"), "the writers were still writing")
  T.ok(during > before, ("they wrote during the backfill (%d → %d rows)"):format(before, during))
  T.contains(err, "weir: online due_date: backfilled ")
  weir.sleep(0.3)  -- and after it
  shell.write(stop, "")
  deadline = weir.clock() + 20
  while not (io.open(tmp .. "/old.rc") and io.open(tmp .. "/new.rc")) and weir.clock() < deadline do weir.sleep(0.05) end
  for _, shape in ipairs { "old", "new" } do
    T.eq(io.open(tmp .. "/" .. shape .. ".rc"):read("l"), "0", io.open(tmp .. "/" .. shape .. ".err"):read("a"))
    T.ok(tonumber(io.open(tmp .. "/" .. shape .. ".out"):read("l")) > 0, shape .. " wrote")
  end
  -- every write, in both shapes
  local function missing(from, col)
    return p.value(([[
      SELECT (SELECT count(*) FROM inserted e
               WHERE NOT EXISTS (SELECT 1 FROM %s m WHERE m.name = e.name AND m.%s::date = e.day))
           + (SELECT count(*) FROM updated e
               WHERE NOT EXISTS (SELECT 1 FROM %s m WHERE m.id = e.id AND m.name = e.name AND m.%s::date = e.day))]]):
      format(from, col, from, col))
  end
  T.eq(missing("public.milestones", "deadline"), 0, "old shape")
  T.eq(missing("public_due_date.milestones", "due_date"), 0, "new shape")
  T.eq(p.value [[SELECT count(*) FROM milestones
                  WHERE _weir_due_date_due_date IS DISTINCT FROM deadline::timestamptz]], 0, "the shapes agree")
  -- complete, once dual_write is off
  T.eq(disable_dual_write(p), 0)
  rc, _, err = p.weir("up")
  T.eq(rc, 0, err)
  T.eq(missing("public.milestones", "due_date"), 0, "after complete")
  p.conn:close()
end)

T.case("weir up / down: complete refused names the script line; down from complete and from start restore the table", function()
  local p = setup("onl_cycle", 1000, 400, 0)
  local before = p.value "SELECT md5(string_agg(id || name || coalesce(deadline::text, ''), ',' ORDER BY id)) FROM milestones"
  -- plan: start's views, trigger and backfill, complete's contract; the target untouched
  local rc, out, err = p.weir("plan")
  T.eq(rc, 1, err)  -- complete is blocked: the flags phase defines dual_write on
  T.contains(out, "   online change due_date, start:\n     view public_due_date.milestones (id, name, " ..
    "_weir_due_date_due_date AS due_date) over public.milestones\n")
  T.contains(out, [[trigger "!weir_sync_due_date" on public.milestones (BEFORE INSERT OR UPDATE, fires first): ]] ..
    "due_date ← up(deadline::timestamptz); deadline ← down((due_date AT TIME ZONE 'UTC')::date)")
  T.contains(out, "     backfill public.milestones by id in batches of 400, rows that exist when the trigger goes in\n")
  T.contains(out, "CREATE VIEW public_due_date.milestones WITH (security_invoker = true) AS")
  T.eq(p.value "SELECT count(*) FROM pg_namespace WHERE nspname IN ('weir', 'public_due_date')", 0, "nothing written")
  rc, out, err = p.weir("up")
  T.eq(rc, 1)
  T.contains(err, "001_due_date:start done")
  -- a write that bypassed the trigger: complete must not drop the old column over it
  p.conn:exec [[ALTER TABLE milestones DISABLE TRIGGER ALL;
                UPDATE milestones SET deadline = '1999-09-09' WHERE id = 42;
                ALTER TABLE milestones ENABLE TRIGGER ALL]]
  T.eq(disable_dual_write(p), 0)
  rc, out, err = p.weir("up")
  T.eq(rc, 1)
  T.contains(err, "001_due_date:complete: up failed: migrations/001_due_date.lua:1: online change due_date: " ..
    "complete refused, nothing was changed: public.milestones: 1 rows where due_date is not up(old) and " ..
    "deadline is not down(new) (id 42)")
  T.not_contains(err, "stdlib/")
  T.eq(p.value "SELECT count(*) FROM pg_attribute WHERE attrelid = 'milestones'::regclass AND attname = 'deadline'", 1)
  p.conn:exec "UPDATE milestones SET deadline = deadline WHERE id = 42"  -- no change: still refused
  T.eq((p.weir("up")), 1)
  p.conn:exec "UPDATE milestones SET deadline = '2000-01-01' WHERE id = 42; UPDATE milestones SET deadline = date '2026-01-01' + 42 WHERE id = 42"
  rc, out, err = p.weir("up")
  T.eq(rc, 0, err)
  T.contains(err, "001_due_date:complete done")
  local _, st = p.weir("status --json")
  local changes = json.decode(st).online
  T.eq(#changes, 1)
  T.eq({ changes[1].name, changes[1].state, changes[1].version_schemas[1] }, { "due_date", "completed", "public_due_date" })
  p.conn:exec "INSERT INTO milestones (name, due_date) VALUES ('after', '2031-01-01 00:00+00')"
  -- down to before start: reopen, then rollback
  rc, out, err = p.weir("down 001_due_date:start")
  T.eq(rc, 0, err)
  T.contains(err, "001_due_date:complete rolled back")
  T.contains(err, "001_due_date:start rolled back")
  T.eq(p.value "SELECT deadline::text FROM milestones WHERE name = 'after'", "2031-01-01")
  p.conn:exec "DELETE FROM milestones WHERE name = 'after'"
  T.eq(p.value "SELECT md5(string_agg(id || name || coalesce(deadline::text, ''), ',' ORDER BY id)) FROM milestones",
    before, "the table as it was, bar the row written meanwhile")
  T.eq(p.value "SELECT count(*) FROM pg_namespace WHERE nspname = 'public_due_date'", 0)
  T.eq(p.value "SELECT count(*) FROM pg_attribute WHERE attrelid = 'milestones'::regclass AND attname LIKE '\\_weir%'", 0)
  p.conn:close()
end)

T.case("weir lint: weir's own statements are not findings; the user's SQL in an operation is charged to its line", function()
  local p = setup("onl_lint", 10, 10, 0)
  local rc, out, err = sh(q(weir_bin) .. " lint " .. q(p.dir .. "/migrations/001_due_date.lua") .. " --db " .. q(p.url))
  T.eq(rc, 0, out .. err)
  T.eq(out, "", "the rename, the new type, complete's drops and renames: no finding")
  p.write("002_seen.lua", [=[
local seen = online.change "seen" {
  online.add_column { table = "milestones", column = "seen_at", type = "timestamp" },
}
return migration "002_seen" {
  phase "start" { transaction = false, up = seen.start, down = seen.rollback },
}
]=])
  p.write("003_bare.lua", [=[
return migration "003_bare" {
  phase "rename" { up = function(db) db:exec "ALTER TABLE milestones RENAME COLUMN name TO title" end },
}
]=])
  rc, out, err = sh(q(weir_bin) .. " lint " .. q(p.dir .. "/migrations/002_seen.lua") .. " " ..
    q(p.dir .. "/migrations/003_bare.lua") .. " --db " .. q(p.url))
  T.eq(rc, 1, err)
  T.contains(out, "migrations/002_seen.lua:2: timestamp-without-time-zone: column public.milestones._weir_seen_seen_at is timestamp")
  T.contains(out, "migrations/003_bare.lua:2: rename-column: renaming existing column milestones.name to title")
  T.contains(out, "(online.rename_column does it, docs/online.md)")
  T.not_contains(out, "stdlib/")
  p.conn:close()
end)

for _, n in ipairs { "onl_kill_1", "onl_load_2", "onl_cycle_3", "onl_lint_4" } do
  pcall(db.exec, db, "DROP DATABASE IF EXISTS " .. n .. " WITH (FORCE)")
end
shell.cleanup()
T.done()
