-- The migration runner end to end: weir up/down/status/repair/baseline/new against real
-- databases, including the failure cases (kill -9, terminated sessions, concurrent runners).
local T = require "testing"

local weir_bin = assert(os.getenv "WEIR")
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local function project(files) return require("project").new("mig", files) end

-- A session of another database of the shared cluster (suites run in parallel): the cases that
-- end sessions must leave it alone.
local function bystander()
  return weir.connect(assert(os.getenv "WEIR_TEST_URL"))
end

local THINGS = [[
return migration "001_things" {
  description = "a table, an index, some rows",
  phase "expand" {
    up = function(db) db:exec "CREATE TABLE things (id int PRIMARY KEY, name text)" end,
    down = function(db) db:exec "DROP TABLE things" end,
    verify = function(db) assert(db:value "SELECT to_regclass('things') IS NOT NULL", "things missing") end,
  },
  phase "index" {
    transaction = false,
    up = function(db) db:exec "CREATE INDEX CONCURRENTLY IF NOT EXISTS things_name_idx ON things (name)" end,
    down = function(db) db:exec "DROP INDEX CONCURRENTLY IF EXISTS things_name_idx" end,
  },
  phase "fill" {
    requires = { "index" },
    up = function(db)
      db:exec "INSERT INTO things SELECT g, 'n' || g FROM generate_series(1, 10) g"
      weir.checkpoint("filled", 10)
    end,
    down = function(db) db:exec "DELETE FROM things" end,
    verify = function(db) return db:value "SELECT count(*) FROM things" == 10, "expected 10 rows" end,
  },
}
]]

T.case("up applies every phase in order; status shows them; down reverses them", function()
  local p = project { ["001_things.lua"] = THINGS }
  local rc, _, err = p.weir("up --events " .. q(p.dir .. "/events.jsonl"))
  T.eq(rc, 0, err)
  T.contains(err, "001_things:expand done")
  T.eq(p.value "SELECT count(*) FROM things", 10)
  T.eq(p.value "SELECT to_regclass('things_name_idx') IS NOT NULL", true)
  T.eq(p.value "SELECT value FROM weir.checkpoints WHERE key = '001_things/fill/filled'", 10)
  T.eq(p.value "SELECT applied_at IS NOT NULL FROM weir.migrations WHERE id = '001_things'", true)
  local rc2, out = p.weir("status")
  T.eq(rc2, 0)
  T.contains(out, "applied  001_things")
  T.contains(out, "done         index (non-transactional)")
  local rc3, json_out = p.weir("status --json")
  T.eq(rc3, 0)
  local st = json.decode(json_out)
  T.eq(st.migrations[1].phases[3].state, "done")
  -- events: one JSON object per line, seq increasing per migration
  local seqs, checkpoint = {}, nil
  for line in io.lines(p.dir .. "/events.jsonl") do
    local e = json.decode(line)
    if e.migration == "001_things" then seqs[#seqs + 1] = e.seq end
    if e.type == "checkpoint" then checkpoint = e end
  end
  T.eq(#seqs, 7, "start and done for three phases, and fill's checkpoint")
  T.eq({ checkpoint.migration, checkpoint.phase, checkpoint.details.key }, { "001_things", "fill", "filled" },
    "a checkpoint event names its migration and phase")
  for i = 2, #seqs do T.ok(seqs[i] > seqs[i - 1], "seq increases") end
  T.eq(p.value "SELECT count(*) FROM weir.events WHERE type = 'phase_done'", 3)
  -- again: nothing to do
  local rc4, _, err4 = p.weir("up")
  T.eq(rc4, 0)
  T.contains(err4, "nothing to do")
  -- down one phase, then everything
  T.eq((p.weir("down 001_things:fill")), 0)
  T.eq(p.value "SELECT count(*) FROM things", 0)
  T.eq(p.phase_state("001_things", "fill"), "rolled_back")
  T.eq(p.value "SELECT count(*) FROM weir.checkpoints", 0, "rollback cleared the phase's checkpoints")
  T.eq(p.value "SELECT applied_at IS NULL FROM weir.migrations WHERE id = '001_things'", true)
  T.eq((p.weir("down --steps 2")), 0)
  T.eq(p.value "SELECT to_regclass('things')", db.NULL)
  -- and up again
  T.eq((p.weir("up")), 0)
  T.eq(p.value "SELECT count(*) FROM things", 10)
end)

T.case("up --to stops after the named phase", function()
  local p = project { ["001_things.lua"] = THINGS }
  T.eq((p.weir("up --to 001_things:index")), 0)
  T.eq(p.phase_state("001_things", "index"), "done")
  T.eq(p.phase_state("001_things", "fill"), nil)
  local rc, _, err = p.weir("up --to 009_nope")
  T.eq(rc, 1)
  T.contains(err, "--to: no migration '009_nope'")
  rc, _, err = p.weir("up --to 001_things:nope")
  T.eq(rc, 1)
  T.contains(err, "--to: migration '001_things' has no phase 'nope'")
end)

T.case("a failing phase leaves no trace but a failed record naming statement and SQLSTATE", function()
  local p = project { ["001_bad.lua"] = [[
return migration "001_bad" {
  phase "half" {
    up = function(db)
      db:exec "CREATE TABLE half_done (x int)"
      db:exec "INSERT INTO half_done VALUES ('not a number')"
    end,
  },
}
]] }
  local rc, _, err = p.weir("up")
  T.eq(rc, 1)
  T.contains(err, "001_bad:half: up failed: migrations/001_bad.lua:5:")
  T.contains(err, "22P02 invalid input syntax for type integer")
  T.contains(err, "in: INSERT INTO half_done VALUES ('not a number')")
  T.eq(p.value "SELECT to_regclass('half_done')", db.NULL, "nothing of the phase remains")
  T.eq(p.phase_state("001_bad", "half"), "failed")
  T.contains(p.value "SELECT error FROM weir.phases WHERE phase = 'half'", "22P02")
  local _, out = p.weir("status")
  T.contains(out, "failed       half")
  T.contains(out, "error: 22P02")
end)

T.case("a failing verify rolls its transactional phase back", function()
  local p = project { ["001_v.lua"] = [[
return migration "001_v" {
  phase "make" {
    up = function(db) db:exec "CREATE TABLE v (x int)" end,
    verify = function(db) return db:value "SELECT count(*) FROM v" > 0, "v is empty" end,
  },
}
]] }
  local rc, _, err = p.weir("up")
  T.eq(rc, 1)
  T.contains(err, "verify failed: v is empty")
  T.eq(p.value "SELECT to_regclass('v')", db.NULL)
  T.eq(p.phase_state("001_v", "make"), "failed")
end)

T.case("malformed scripts are rejected at load time with FILE:LINE, before anything runs", function()
  local cases = {
    { [[return migration "001_x" { }]], "has no phases" },
    { 'return migration "001_x" {\n  phase "a" { up = function() end },\n  phase "a" { up = function() end },\n}', "001_x.lua:3: migration '001_x': duplicate phase name 'a'" },
    { 'return migration "001_x" {\n  phase "a" { down = function() end },\n}', "001_x.lua:2: phase 'a': has no up function" },
    { 'return migration "001_x" {\n  phase "a" { up = function() end, upp = 1 },\n}', "001_x.lua:2: phase 'a': unknown key 'upp'" },
    { 'return migration "001_y" {\n  phase "a" { up = function() end },\n}', "does not match its file name" },
    { 'return migration "001_x" {\n  phase "a" { up = function() end \n}', "001_x.lua:" },
    { 'return 42', "must return migration" },
  }
  for _, c in ipairs(cases) do
    local p = project { ["001_x.lua"] = c[1], ["000_first.lua"] = [[
return migration "000_first" { phase "p" { up = function(db) db:exec "CREATE TABLE first_ran (x int)" end } }
]] }
    local rc, _, err = p.weir("up")
    T.eq(rc, 1, c[2])
    T.contains(err, c[2])
    T.eq(p.value "SELECT to_regclass('first_ran')", db.NULL, "nothing ran: " .. c[2])
  end
  local p = project { ["001_x.lua"] = 'return migration "001_x" {\n  phase "a" { down = function() end },\n}' }
  local _, _, err = p.weir("up")
  T.contains(err, "phase 'a': has no up function")
end)

T.case("an unmet requirement stops the run before the phase, naming what is missing", function()
  local p = project { ["001_r.lua"] = [[
return migration "001_r" {
  phase "a" { up = function(db) db:exec "CREATE TABLE ra (x int)" end },
  phase "b" { requires = { sql = "SELECT false" }, up = function(db) db:exec "CREATE TABLE rb (x int)" end },
}
]], ["002_s.lua"] = [[
return migration "002_s" {
  phase "c" { requires = { "001_r:b" }, up = function(db) end },
}
]] }
  local rc, _, err = p.weir("up")
  T.eq(rc, 1)
  T.contains(err, "001_r:b cannot run: requires (SELECT false) to be true")
  T.eq(p.phase_state("001_r", "a"), "done")
  T.eq(p.value "SELECT to_regclass('rb')", db.NULL)
end)

T.case("a changed applied script stops up; status shows it; repair accepts it", function()
  local p = project { ["001_things.lua"] = THINGS }
  T.eq((p.weir("up")), 0)
  p.write("001_things.lua", THINGS .. "-- edited after applying\n")
  local rc, _, err = p.weir("up")
  T.eq(rc, 1)
  T.contains(err, "migrations/001_things.lua was changed after it was applied")
  local rc2, out = p.weir("status")
  T.eq(rc2, 1)
  T.contains(out, "[CHANGED since applied]")
  T.eq((p.weir("repair")), 0)
  T.eq((p.weir("up")), 0)
  T.eq((p.weir("status")), 0)
end)

T.case("down refuses to start when a phase has no down", function()
  local p = project { ["001_nd.lua"] = [[
return migration "001_nd" {
  phase "a" { up = function(db) db:exec "CREATE TABLE nd_a (x int)" end, down = function(db) db:exec "DROP TABLE nd_a" end },
  phase "b" { up = function(db) db:exec "CREATE TABLE nd_b (x int)" end },
}
]] }
  T.eq((p.weir("up")), 0)
  local rc, _, err = p.weir("down 001_nd")
  T.eq(rc, 1)
  T.contains(err, "001_nd:b has no down function: nothing was rolled back")
  T.eq(p.value "SELECT to_regclass('nd_a') IS NOT NULL", true)
  T.eq(p.phase_state("001_nd", "a"), "done")
end)

T.case("baseline records migrations as applied without running them", function()
  local p = project { ["001_things.lua"] = THINGS, ["002_more.lua"] = [[
return migration "002_more" { phase "p" { up = function(db) db:exec "CREATE TABLE more (x int)" end } }
]] }
  T.eq((p.weir("baseline 001_things")), 0)
  T.eq(p.value "SELECT to_regclass('things')", db.NULL, "baseline did not run it")
  T.eq(p.value "SELECT baseline FROM weir.migrations WHERE id = '001_things'", true)
  T.eq((p.weir("up")), 0)
  T.eq(p.value "SELECT to_regclass('more') IS NOT NULL", true)
  T.eq(p.value "SELECT to_regclass('things')", db.NULL)
end)

T.case("new writes the next numbered template, which loads", function()
  local p = project { ["007_seven.lua"] = [[
return migration "007_seven" { phase "p" { up = function() end } }
]] }
  local rc, out = sh("cd " .. q(p.dir) .. " && " .. q(weir_bin) .. " new add_due_date")
  T.eq(rc, 0)
  T.eq(out, "migrations/008_add_due_date.lua\n")
  T.eq((p.weir("up")), 0)
  T.eq(p.phase_state("008_add_due_date", "expand"), "done")
  local rc2, _, err2 = sh("cd " .. q(p.dir) .. " && " .. q(weir_bin) .. " new 'bad name'")
  T.eq(rc2, 2, "a bad NAME is a usage error")
  T.contains(err2, "NAME must be letters")
end)

T.case("a statement blocked by a lock is retried with backoff and then succeeds", function()
  local p = project { ["001_lk.lua"] = [[
return migration "001_lk" {
  phase "alter" { up = function(db) db:exec "ALTER TABLE busy ADD COLUMN y int" end },
}
]] }
  p.conn:exec "CREATE TABLE busy (x int)"
  local holder = weir.connect(p.url)
  holder:exec "BEGIN"
  holder:exec "LOCK TABLE busy IN ACCESS SHARE MODE"
  local other <close> = bystander()
  other:exec "BEGIN"
  other:exec "SELECT 1"  -- idle in transaction, as the holder is
  -- release the lock a little after weir's first lock_timeout (200 ms here): end the
  -- holder's session, and only that one
  local rc, _, err = sh("( sleep 1.0; " .. q(weir_bin) .. " run --db " .. q(p.url) ..
    " -e 'db:exec(\"SELECT pg_terminate_backend(" .. holder:value "SELECT pg_backend_pid()" .. ")\")' ) & " ..
    "cd " .. q(p.dir) .. " && " .. q(weir_bin) .. " up --lock-timeout 200 --retries 8 --db " .. q(p.url) .. " --events " .. q(p.dir .. "/ev.jsonl"))
  T.eq(rc, 0, err)
  T.eq(other:value "SELECT 1", 1, "a session of another database survived")
  other:exec "COMMIT"
  T.contains(err, "lock not available (55P03), retry 1/8")
  T.eq(p.value "SELECT count(*) FROM information_schema.columns WHERE table_name = 'busy' AND column_name = 'y'", 1)
  T.ok(p.value "SELECT count(*) FROM weir.events WHERE type = 'retry'" >= 1, "retry events recorded")
end)

T.case("lock_timeout retries are bounded: the phase fails after the last one", function()
  local p = project { ["001_lk.lua"] = [[
return migration "001_lk" { phase "alter" { up = function(db) db:exec "ALTER TABLE busy ADD COLUMN y int" end } }
]] }
  p.conn:exec "CREATE TABLE busy (x int)"
  local holder <close> = weir.connect(p.url)
  holder:exec "BEGIN; LOCK TABLE busy IN ACCESS SHARE MODE"
  local rc, _, err = p.weir("up --lock-timeout 100 --retries 2")
  T.eq(rc, 1)
  T.contains(err, "retry 2/2")
  T.contains(err, "55P03")
  T.eq(p.phase_state("001_lk", "alter"), "failed")
end)

local SLOW = [[
return migration "001_slow" {
  phase "tx" {
    up = function(db)
      db:exec "CREATE TABLE slow_made (x int)"
      db:exec "SELECT pg_sleep(%s)"
    end,
  },
  phase "notx" {
    transaction = false,
    up = function(db)
      db:exec "CREATE TABLE IF NOT EXISTS notx_made (x int)"
      db:exec "SELECT pg_sleep(%s)"
    end,
  },
}
]]

-- The sessions of the project's database (only: other suites share the cluster) that are in
-- the slow phase's pg_sleep(30), and how many there are.
local SLEEPING_PIDS = [[SELECT pid FROM pg_stat_activity WHERE datname = current_database()
                         AND state = 'active' AND query LIKE 'SELECT pg_sleep(30)%']]
local SLEEPING = "SELECT count(*) FROM (" .. SLEEPING_PIDS .. ") s"

-- Starts `weir up` in the background, waits until `ready_sql` is true, kills it with SIGKILL.
local function kill_during(p, ready_sql)
  local pidfile = p.dir .. "/pid"
  sh("cd " .. q(p.dir) .. " && (" .. q(weir_bin) .. " up --db " .. q(p.url) .. " >/dev/null 2>&1 & echo $! > " .. q(pidfile) .. ")")
  local pid = io.open(pidfile):read("l")
  local deadline = weir.clock() + 20
  while not p.value(ready_sql) do
    assert(weir.clock() < deadline, "the phase never started")
    weir.sleep(0.05)
  end
  sh("kill -9 " .. pid)
  weir.sleep(0.3)
end

T.case("kill -9 during a transactional phase leaves nothing; the next up completes it", function()
  local p = project()
  p.write("001_slow.lua", SLOW:format("30", "0"))
  kill_during(p, "SELECT (" .. SLEEPING .. ") > 0")
  -- the server notices the dead client (client_connection_check_interval) and rolls back
  local deadline = weir.clock() + 10
  while p.value(SLEEPING) > 0 do
    assert(weir.clock() < deadline, "the orphaned statement kept running")
    weir.sleep(0.1)
  end
  T.eq(p.value "SELECT to_regclass('slow_made')", db.NULL, "no object of the phase exists")
  T.eq(p.value "SELECT count(*) FROM weir.phases WHERE phase = 'tx'", 0)
  p.write("001_slow.lua", SLOW:format("0", "0"))
  local rc, _, err = p.weir("repair")
  T.eq(rc, 0, err)
  T.eq((p.weir("up")), 0)
  T.eq(p.phase_state("001_slow", "tx"), "done")
end)

T.case("kill -9 during a non-transactional phase shows it interrupted; the next up completes it", function()
  local p = project()
  p.write("001_slow.lua", SLOW:format("0", "30"))
  kill_during(p, "SELECT (" .. SLEEPING .. ") > 0")
  local _, out = p.weir("status")
  T.contains(out, "interrupted  notx")
  p.write("001_slow.lua", SLOW:format("0", "0"))
  T.eq((p.weir("repair")), 0)
  local rc, _, err = p.weir("up")
  T.eq(rc, 0, err)
  T.contains(err, "001_slow:notx was interrupted; running it again")
  T.eq(p.phase_state("001_slow", "notx"), "done")
  T.eq(p.value "SELECT attempts FROM weir.phases WHERE phase = 'notx'", 2)
end)

T.case("pg_terminate_backend of weir's session mid-phase: failed, nothing partial, next up succeeds", function()
  local p = project()
  p.write("001_slow.lua", SLOW:format("30", "0"))
  -- a session elsewhere in the cluster whose last query reads the same
  local other <close> = bystander()
  other:exec "SELECT pg_sleep(30) WHERE false"
  -- ends the sessions of the project's database in pg_sleep(30) once there is one: weir's
  local killer = assert(io.open(p.dir .. "/killer.lua", "w"))
  killer:write(([=[
local deadline = weir.clock() + 20
while db:value [[SELECT count(pg_terminate_backend(pid)) FROM (%s) s]] == 0 do
  assert(weir.clock() < deadline, "weir up never reached pg_sleep(30)")
  weir.sleep(0.05)
end
]=]):format(SLEEPING_PIDS))
  killer:close()
  local bg = "cd " .. q(p.dir) .. " && " .. q(weir_bin) .. " up --db " .. q(p.url)
  local rc, _, err = sh("( " .. q(weir_bin) .. " run --db " .. q(p.url) .. " " .. q(p.dir .. "/killer.lua") ..
    " >" .. q(p.dir .. "/killer.out") .. " 2>&1 ) & " .. bg)
  T.eq(rc, 1)
  T.eq(other:value "SELECT 1", 1, "a session of another database survived")
  T.contains(err, "001_slow:tx: up failed")
  T.eq(p.phase_state("001_slow", "tx"), "failed")
  T.eq(p.value "SELECT to_regclass('slow_made')", db.NULL)
  p.write("001_slow.lua", SLOW:format("0", "0"))
  T.eq((p.weir("repair")), 0)
  T.eq((p.weir("up")), 0)
  T.eq(p.phase_state("001_slow", "tx"), "done")
end)

T.case("two weir up started together apply every phase exactly once", function()
  local p = project { ["001_once.lua"] = [[
return migration "001_once" {
  phase "a" { up = function(db)
    db:exec "CREATE TABLE IF NOT EXISTS runs (phase text)"
    db:exec "INSERT INTO runs VALUES ('a')"
    db:exec "SELECT pg_sleep(0.5)"
  end },
  phase "b" { transaction = false, up = function(db) db:exec "INSERT INTO runs VALUES ('b')" end },
}
]] }
  local cmd = "cd " .. q(p.dir) .. " && " .. q(weir_bin) .. " up --db " .. q(p.url)
  local rc, out = sh("(" .. cmd .. " 2>" .. q(p.dir .. "/one") .. "; echo \"one=$?\") & (" .. cmd ..
    " 2>" .. q(p.dir .. "/two") .. "; echo \"two=$?\") & wait")
  T.eq(rc, 0)
  T.contains(out, "one=0")
  T.contains(out, "two=0")
  T.eq(p.value "SELECT string_agg(phase, ',' ORDER BY phase) FROM runs", "a,b")
  local both = io.open(p.dir .. "/one"):read("a") .. io.open(p.dir .. "/two"):read("a")
  T.contains(both, "waiting for the migration lock")
end)

T.case("a second runner gives up after --lock-wait, naming the holder", function()
  local p = project { ["001_things.lua"] = THINGS }
  local holder <close> = weir.connect(p.url)
  holder:exec "SET application_name = 'someone else'"
  holder:value("SELECT pg_advisory_lock($1, hashtext('weir'))", 0x77656972)
  local rc, _, err = p.weir("up --lock-wait 0.5")
  T.eq(rc, 1)
  T.contains(err, "another weir holds the migration lock on schema weir")
  T.contains(err, "'someone else'")
  T.eq(select(2, err:gsub("weir: another", "")), 1)
end)

T.case("the holder named is the one in this database: the same lock key held in other databases is not it", function()
  -- advisory locks belong to a database: weir migrating two databases of one cluster at once
  -- holds the same key twice, and neither is the other's holder
  local others = {}
  for i = 1, 3 do
    local o = project { ["001_things.lua"] = THINGS }
    local c = weir.connect(o.url)
    c:exec("SET application_name = 'weir of another database " .. i .. "'")
    c:value("SELECT pg_advisory_lock($1, hashtext('weir'))", 0x77656972)
    others[i] = c
  end
  local p = project { ["001_things.lua"] = THINGS }
  local holder <close> = weir.connect(p.url)
  holder:exec "SET application_name = 'someone else'"
  holder:value("SELECT pg_advisory_lock($1, hashtext('weir'))", 0x77656972)
  local rc, _, err = p.weir("up --lock-wait 0.5")
  for _, c in ipairs(others) do c:close() end
  T.eq(rc, 1)
  T.contains(err, "waiting for the migration lock, held by backend pid " .. holder:value "SELECT pg_backend_pid()")
  T.contains(err, "'someone else'")
  T.not_contains(err, "another database")
end)

T.case("usage errors of the migration commands exit 2", function()
  local p = project { ["001_things.lua"] = THINGS }
  for _, args in ipairs { "down", "down 001_things --steps 1", "down --steps x", "baseline", "up --bogus", "status extra" } do
    local rc = p.weir(args)
    T.eq(rc, 2, args)
  end
  local rc, _, err = sh("cd " .. q(tmp) .. " && " .. q(weir_bin) .. " status --dir nowhere --db " .. q(p.url))
  T.eq(rc, 1)
  T.contains(err, "migrations directory nowhere does not exist")
end)

T.case("examples/quickstart goes up, verifies, goes down and up again", function()
  local src = assert(os.getenv "WEIR_SOURCE_DIR")
  local p = project()
  assert(os.execute("cp " .. q(src) .. "/examples/quickstart/migrations/*.lua " .. q(p.dir .. "/migrations/")))
  local rc, _, err = p.weir("up")
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT count(*) FROM projects WHERE slug IS NOT NULL", 1000)
  T.eq((p.weir("down 001_projects")), 0)
  T.eq(p.value "SELECT to_regclass('projects')", db.NULL)
  T.eq((p.weir("up")), 0)
  T.eq((p.weir("status")), 0)
end)

-- Statements that would end or replace a transactional phase's transaction, as a phase sends
-- them: refused before they reach the server, so nothing the phase did is committed or lost.
local TX_CONTROL = {
  { [[db:exec "CREATE TABLE sneaky (x int)"; db:exec "COMMIT"]], "COMMIT" },
  { [[db:exec "CREATE TABLE sneaky (x int)"; db:exec "ROLLBACK; BEGIN"]], "ROLLBACK" },
  { [[db:exec "CREATE TABLE sneaky (x int)"; db:exec "COMMIT; BEGIN"; db:exec "SELECT 1/0"]], "COMMIT" },
  { [[db:exec "CREATE TABLE sneaky (x int); END; BEGIN"]], "END" },
  { [[db:exec "CREATE TABLE sneaky (x int)"; db:exec "abort"]], "abort" },
  { [[db:exec "CREATE TABLE sneaky (x int)"; db:exec "BEGIN"]], "BEGIN" },
  { [[db:exec "CREATE TABLE sneaky (x int)"; db:exec "START TRANSACTION ISOLATION LEVEL SERIALIZABLE"]], "START TRANSACTION" },
  { [[db:exec "CREATE TABLE sneaky (x int)"; db:exec "COMMIT AND CHAIN"]], "COMMIT AND CHAIN" },
  { [[db:exec "CREATE TABLE sneaky (x int)"; db:exec "PREPARE TRANSACTION 'weir_t'"]], "PREPARE TRANSACTION" },
  { [[db:exec "CREATE TABLE sneaky (x int)"; db:query("ROLLBACK")]], "ROLLBACK" },
  { [[db:exec "CREATE TABLE sneaky (x int)"; db:exec("/* done */ COMMIT -- now\n")]], "COMMIT" },
  { [[db:tx(function() db:exec "CREATE TABLE sneaky (x int)"; db:exec "COMMIT" end)]], "COMMIT" },
  { [[ddl.add_column(db, "nosuch", "x", "int"); db:exec "COMMIT"]], nil },
}

T.case("a transactional phase cannot end or replace its transaction: refused before it runs", function()
  for i, c in ipairs(TX_CONTROL) do
    local id = string.format("%03d_tx", i)
    local p = project { [id .. ".lua"] = string.format([[
return migration "%s" {
  phase "commits" { up = function(db) %s end },
}
]], id, c[1]) }
    local rc, out, err = p.weir("up")
    T.eq(rc, 1, c[1] .. ": " .. out .. err)
    if c[2] then
      T.contains(err, "migrations/" .. id .. ".lua:2: refusing to run `" .. c[2], c[1])
      T.contains(err, "a transactional phase runs in the transaction weir records it in", c[1])
      -- one line (beside the progress lines saying the phase started and failed)
      local failed = err:match("[^\n]*up failed:[^\n]*")
      T.contains(failed, "refusing to run `" .. c[2], "one line: " .. err)
      T.contains(failed, "a transactional phase runs in the transaction weir records it in", "one line: " .. err)
      T.eq(select(2, err:gsub("refusing to run", "")), 1, "said once: " .. err)
    end
    T.eq(p.value "SELECT to_regclass('sneaky')", db.NULL, c[1] .. ": nothing committed")
    T.eq(p.value "SELECT count(*) FROM pg_prepared_xacts", 0, c[1])
    T.eq(p.phase_state(id, "commits"), "failed", c[1])
    -- plan refuses it with the same words
    local prc, pout = p.weir("plan")
    T.eq(prc, 1, c[1])
    if c[2] then T.contains(pout, "refusing to run `" .. c[2], c[1]) end
  end
end)

T.case("savepoints are a transactional phase's own: SAVEPOINT, ROLLBACK TO, RELEASE and db:tx", function()
  local p = project { ["001_sp.lua"] = [[
return migration "001_sp" {
  phase "savepoints" {
    up = function(db)
      db:exec "CREATE TABLE kept (x int)"
      db:exec "SAVEPOINT a; INSERT INTO kept VALUES (1); ROLLBACK TO SAVEPOINT a; RELEASE a"
      db:exec "SAVEPOINT b"
      db:exec "INSERT INTO kept VALUES (2)"
      db:exec "ROLLBACK TO b"
      pcall(db.tx, db, function() db:exec "INSERT INTO kept VALUES (3)"; error("undo") end)
      db:tx(function() db:exec "INSERT INTO kept VALUES (4)" end)
      db:exec "SELECT 'COMMIT; BEGIN' AS text_not_a_statement"
    end,
  },
}
]] }
  local rc, _, err = p.weir("up")
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT array_agg(x ORDER BY x) FROM kept", { 4 })
  T.eq(p.phase_state("001_sp", "savepoints"), "done")
end)

T.case("a phase that gets past the statement check and replaces its transaction is still caught", function()
  -- the hook is weir's; a hostile phase can remove it, and the end-of-phase check (when the
  -- transaction began) still refuses to record it done
  local p = project { ["001_tx.lua"] = [[
return migration "001_tx" {
  phase "replaces" {
    up = function(db)
      db:exec "CREATE TABLE lost_t (id int)"
      package.loaded["db.hooks"][db] = nil
      db:exec "ROLLBACK; BEGIN"
    end,
  },
}
]] }
  local rc, _, err = p.weir("up")
  T.eq(rc, 1, err)
  T.contains(err, "ended its transaction itself")
  T.eq(p.phase_state("001_tx", "replaces"), "failed")
end)

T.case("os.exit in a phase ends weir up with its code: a transactional phase rolls back, a non-transactional one is left interrupted", function()
  local p = project { ["001_exit.lua"] = [[
return migration "001_exit" {
  phase "tx" { up = function(db) db:exec "CREATE TABLE exit_t (id int)"; pcall(os.exit, 3) end },
}
]] }
  local rc, out, err = p.weir("up")
  T.eq(rc, 3, err)
  T.not_contains(out .. err, "userdata")
  T.contains(err, "weir: os.exit(3) ended the command")
  T.eq(p.value "SELECT to_regclass('exit_t')", db.NULL, "rolled back")
  T.eq(p.phase_state("001_exit", "tx"), nil, "nothing recorded: the phase is still pending")
  local p2 = project { ["001_exit.lua"] = [[
return migration "001_exit" {
  phase "first" { up = function(db) db:exec "CREATE TABLE exit_t (id int)" end },
  phase "auto" { transaction = false, up = function(db) db:exec "INSERT INTO exit_t VALUES (1)"; os.exit(4) end },
  phase "never" { up = function(db) db:exec "CREATE TABLE never_t (id int)" end },
}
]] }
  rc, out, err = p2.weir("up")
  T.eq(rc, 4, err)
  T.eq(p2.phase_state("001_exit", "first"), "done")
  T.eq(p2.phase_state("001_exit", "auto"), "running")
  T.eq(p2.value "SELECT count(*) FROM exit_t", 1, "autocommit work stays")
  T.eq(p2.value "SELECT to_regclass('never_t')", db.NULL, "the run stopped")
  local _, sout = p2.weir("status")
  T.contains(sout, "interrupted  auto")
end)

T.case("a phase that leaves a transaction open fails and is rolled back", function()
  local p2 = project { ["001_open.lua"] = [[
return migration "001_open" {
  phase "opens" { transaction = false, up = function(db) db:exec "BEGIN"; db:exec "CREATE TABLE dangling (x int)" end },
}
]] }
  local rc, _, err = p2.weir("up")
  T.eq(rc, 1)
  T.contains(err, "left a transaction open")
  T.eq(p2.value "SELECT to_regclass('dangling')", db.NULL, "the open transaction was rolled back")
  T.eq(p2.phase_state("001_open", "opens"), "failed")
end)

T.case("a state schema from a newer weir is refused", function()
  local p = project { ["001_things.lua"] = THINGS }
  T.eq((p.weir("up --to 001_things:expand")), 0)
  p.conn:exec "INSERT INTO weir.state_version VALUES (99)"
  local rc, _, err = p.weir("up")
  T.eq(rc, 1)
  T.contains(err, "the state schema weir is at version 99, newer than this weir understands")
  T.eq(p.phase_state("001_things", "index"), nil)
end)

T.case("an unwritable --events file is one line, before anything runs", function()
  local p = project { ["001_things.lua"] = THINGS }
  local rc, _, err = p.weir("up --events /nonexistent/dir/ev.jsonl")
  T.eq(rc, 1)
  T.contains(err, "weir: --events: /nonexistent/dir/ev.jsonl: No such file or directory")
  T.eq(p.value "SELECT to_regclass('things')", db.NULL)
end)

T.case("errors name the script's whole path, however long", function()
  local p = project()
  local dir = p.dir .. "/a-directory-name-long-enough-that-lua-would-shorten-it/migrations"
  assert(os.execute("mkdir -p " .. q(dir)))
  local f = assert(io.open(dir .. "/001_long.lua", "w"))
  f:write('return migration "001_long" {\n  phase "p" { up = function(db) db:exec "SELECT 1/0" end },\n}\n')
  f:close()
  local rc, _, err = p.weir("up --dir " .. q(dir))
  T.eq(rc, 1)
  T.contains(err, "001_long:p: up failed: " .. dir .. "/001_long.lua:2: 22012 division by zero")
  f = assert(io.open(dir .. "/001_long.lua", "w"))
  f:write('return migration "001_long" {\n  phase "p" { up = function(db) end,\n}\n')
  f:close()
  local rc2, _, err2 = p.weir("up --dir " .. q(dir))
  T.eq(rc2, 1)
  T.contains(err2, dir .. "/001_long.lua:")
end)

T.case("requires flag_on / flag_off gate phases on weir.flags", function()
  local p = project { ["001_gated.lua"] = [[
return migration "001_gated" {
  phase "backfill" {
    requires = { flag_on = "dual_write" },
    up = function(db) db:exec "CREATE TABLE backfilled (id int)" end,
    down = function(db) db:exec "DROP TABLE backfilled" end,
  },
  phase "contract" {
    requires = { flag_off = "dual_write" },
    up = function(db) db:exec "CREATE TABLE contracted (id int)" end,
    down = function(db) db:exec "DROP TABLE contracted" end,
  },
}
]] }
  local rc, _, err = p.weir("up")
  T.eq(rc, 1)
  T.contains(err, "001_gated:backfill cannot run: requires feature flag 'dual_write', which is not defined")
  -- flag_off on an undefined flag is not met either, also for plan on a database without weir's state
  local p2 = project { ["001_off.lua"] = [[
return migration "001_off" {
  phase "contract" { requires = { flag_off = "dual_write" }, up = function(db) db:exec "SELECT 1" end },
}
]] }
  local rc_plan, out_plan = p2.weir("plan")
  T.eq(rc_plan, 1)
  T.contains(out_plan, "blocked: requires feature flag 'dual_write', which is not defined")
  local rc_up, _, err_up = p2.weir("up")
  T.eq(rc_up, 1)
  T.contains(err_up, "001_off:contract cannot run: requires feature flag 'dual_write', which is not defined")
  local function run(code) return (sh(q(weir_bin) .. " run --db " .. q(p.url) .. " -e " .. q(code))) end
  T.eq(run 'flags.define(db, "dual_write"); flags.enable(db, "dual_write")', 0)
  local rc2, _, err2 = p.weir("up")
  T.eq(rc2, 1)
  T.contains(err2, "001_gated:backfill done")
  T.contains(err2, "001_gated:contract cannot run: requires feature flag 'dual_write' to be off")
  T.eq(run 'flags.disable(db, "dual_write")', 0)
  local rc3, _, err3 = p.weir("up")
  T.eq(rc3, 0, err3)
  T.eq(p.value "SELECT to_regclass('contracted') IS NOT NULL", true)
end)

T.case("weir.checkpoint_of reads what an earlier phase of the migration recorded", function()
  local p = project { ["001_census.lua"] = [[
return migration "001_census" {
  phase "census" {
    up = function(db) weir.checkpoint("rows", 42) end,
    down = function() end,
  },
  phase "use" {
    up = function(db)
      db:exec("CREATE TABLE seen (n int)")
      db:exec("INSERT INTO seen VALUES ($1)", weir.checkpoint_of("census", "rows"))
      assert(weir.checkpoint_of("census", "missing") == nil)
    end,
    down = function(db) db:exec "DROP TABLE seen" end,
  },
}
]] }
  local rc, _, err = p.weir("up")
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT n FROM seen", 42)
end)

shell.cleanup()
T.done()
