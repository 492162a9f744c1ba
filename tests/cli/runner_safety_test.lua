-- The runner's safety guarantees under hostile conditions: state schemas that need quoting,
-- phase time limits, a lost migration lock (idle_session_timeout, pg_terminate_backend),
-- concurrent index builds that leave INVALID indexes, an interrupted non-transactional down,
-- and what lock_timeout retries cost the readers of a table.
local T = require "testing"

local weir_bin = assert(os.getenv "WEIR")
local shell = require "shell"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local function project(files) return require("project").new("safe", files) end

-- Starts `weir ARGS` in the background in the project directory; returns its pid and the
-- files its stderr and exit code go to.
local function background(p, args, tag)
  tag = tag or "bg"
  local err, rcfile, pidfile = p.dir .. "/" .. tag .. ".err", p.dir .. "/" .. tag .. ".rc", p.dir .. "/" .. tag .. ".pid"
  os.remove(rcfile)
  -- nothing of the background job may hold sh's pipe open, or sh waits for the job to end
  sh("cd " .. q(p.dir) .. " && ( (" .. q(weir_bin) .. " " .. args .. " --db " .. q(p.url) .. " 2>" .. q(err) ..
    " >/dev/null; " .. shell.save_rc(rcfile) .. ") </dev/null >/dev/null 2>&1 & echo $! > " .. q(pidfile) .. " )")
  local job = { err = err, rcfile = rcfile }
  -- the pid of weir itself: the subshell's only child
  local sub = io.open(pidfile):read("l")
  local deadline = weir.clock() + 10
  repeat
    local f = io.popen("pgrep -P " .. sub .. " -x weir")
    job.pid = f:read("l")
    f:close()
    if not job.pid then weir.sleep(0.02) end
  until job.pid or weir.clock() > deadline or io.open(rcfile)
  function job.ended() return io.open(rcfile) ~= nil end
  ---Waits for the job to end: its exit code and stderr.
  function job.wait()
    local d = weir.clock() + 120
    while not io.open(rcfile) do
      assert(weir.clock() < d, "weir " .. args .. " did not end")
      weir.sleep(0.05)
    end
    local rc = tonumber(io.open(rcfile):read("l"))
    return rc, io.open(err):read("a")
  end
  return job
end

-- Polls `sql` on the project's database until it returns true.
local function wait_for(p, sql, what)
  local deadline = weir.clock() + 30
  while p.value(sql) ~= true do
    assert(weir.clock() < deadline, "timed out waiting for " .. (what or sql))
    weir.sleep(0.05)
  end
end

-- ---------------------------------------------------------------------------------------------
-- Item: state schemas whose names need quoting

T.case("a state schema that needs quoting (--schema Ops, --schema my-state) works everywhere", function()
  for _, schema in ipairs { "Ops", "my-state" } do
    local p = project { ["001_cp.lua"] = [[
return migration "001_cp" {
  phase "fill" {
    transaction = false,
    up = function(db)
      db:exec "CREATE TABLE IF NOT EXISTS filled (n int)"
      local done = weir.checkpoint("done") or 0
      db:exec("INSERT INTO filled VALUES ($1)", done + 1)
      weir.checkpoint("done", done + 1)
      assert(weir.checkpoint("done") == done + 1)
    end,
    down = function(db) db:exec "DROP TABLE filled" end,
  },
  phase "use" {
    requires = { flag_off = "old_path" },
    up = function(db) db:exec("CREATE TABLE used (n int)"); db:exec("INSERT INTO used VALUES ($1)", weir.checkpoint_of("fill", "done")) end,
    down = function(db) db:exec "DROP TABLE used" end,
  },
}
]] }
    local s = q(schema)
    local rc0, _, err0 = sh(q(weir_bin) .. " run --db " .. q(p.url) .. " -e " ..
      q(('flags.define(db, "old_path", { schema = %q })'):format(schema)))
    T.eq(rc0, 0, err0)
    local rc, _, err = p.weir("up --schema " .. s)
    T.eq(rc, 0, schema .. ": " .. err)
    T.eq(p.value "SELECT n FROM used", 1)
    T.eq(p.value(('SELECT value FROM %s.checkpoints WHERE key = $1'):format(p.conn:quote_ident(schema)), "001_cp/fill/done"), 1)
    local rc2, out2, err2 = p.weir("status --schema " .. s)
    T.eq(rc2, 0, err2)
    T.contains(out2, "applied  001_cp")
    T.eq((p.weir("down --steps 2 --schema " .. s)), 0)
    T.eq(p.value "SELECT to_regclass('filled')", db.NULL)
    T.eq(p.value(('SELECT count(*) FROM %s.checkpoints'):format(p.conn:quote_ident(schema))), 0)
  end
end)

-- ---------------------------------------------------------------------------------------------
-- Item: the migration lock is kept for the whole run, and a lost lock stops the run

-- The backend holding weir's migration lock in the project's database, or nil.
local function lock_holder(p)
  local pid = p.value([[SELECT l.pid FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                         WHERE l.locktype = 'advisory' AND l.classid = 2003134834 AND l.granted
                           AND d.datname = current_database()]])
  return pid
end

T.case("idle_session_timeout on the database does not end weir's lock mid-phase; a second up waits", function()
  local p = project { ["001_long.lua"] = [[
return migration "001_long" {
  phase "slow" {
    transaction = false,
    up = function(db)
      db:exec "INSERT INTO runs VALUES (pg_backend_pid())"
      for _ = 1, 300 do  -- until the test says go (at most 30 s)
        if db:value "SELECT count(*) FROM go" > 0 then break end
        db:exec "SELECT pg_sleep(0.1)"
      end
    end,
  },
}
]] }
  p.conn:exec "CREATE TABLE runs (pid int); CREATE TABLE go (x int)"
  -- new sessions of this database are ended after 1 s idle (the test's own session predates it)
  p.conn:exec("ALTER DATABASE " .. p.name .. " SET idle_session_timeout = '1s'")
  local a = background(p, "up", "a")
  wait_for(p, "SELECT count(*) = 1 FROM runs", "the phase to start")
  -- a session that idles from now on: once the server has ended it, weir's sessions that were
  -- idle as long would have been ended too
  local canary = weir.connect(p.url)
  local canary_pid = canary:value "SELECT pg_backend_pid()"
  wait_for(p, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = " .. canary_pid, "the canary to be ended")
  T.ok(lock_holder(p), "the migration lock is still held")
  local rc_b, _, err_b = p.weir("up --lock-wait 0")
  T.eq(rc_b, 1, err_b)
  T.contains(err_b, "another weir holds the migration lock on schema weir")
  T.contains(err_b, "'weir up (migration lock)'")
  p.conn:exec "INSERT INTO go VALUES (1)"
  local rc_a, err_a = a.wait()
  T.eq(rc_a, 0, err_a)
  T.eq(p.value "SELECT count(*) FROM runs", 1, "the phase ran once")
  T.eq(p.phase_state("001_long", "slow"), "done")
  p.conn:exec("ALTER DATABASE " .. p.name .. " RESET idle_session_timeout")
end)

local TERMINATED = [[
return migration "001_t" {
  phase "tx" {
    up = function(db)
      db:exec "CREATE TABLE tx_made (x int)"
      db:exec "INSERT INTO attempts VALUES ('tx')"
      db:exec "SELECT pg_sleep(CASE WHEN (SELECT count(*) FROM killed) = 0 THEN 30 ELSE 0 END)"
    end,
  },
  phase "notx" {
    transaction = false,
    up = function(db)
      db:exec "INSERT INTO attempts VALUES ('notx')"
      db:exec "SELECT pg_sleep(CASE WHEN (SELECT count(*) FROM killed) < 2 THEN 30 ELSE 0 END)"
      db:exec "CREATE TABLE IF NOT EXISTS notx_made (x int)"
    end,
  },
}
]]

T.case("pg_terminate_backend of the lock's session stops the phase at once, naming the cause", function()
  local p = project { ["001_t.lua"] = TERMINATED }
  p.conn:exec "CREATE TABLE attempts (phase text); CREATE TABLE killed (x int)"
  local sleeping = "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database() " ..
    "AND query LIKE 'SELECT pg_sleep(CASE%' AND state = 'active'"
  -- a transactional phase: rolled back, nothing recorded
  local events = p.dir .. "/events.jsonl"
  local a = background(p, "up --events " .. q(events), "a")
  wait_for(p, sleeping, "the tx phase to sleep")
  T.eq(p.value("SELECT pg_terminate_backend($1)", lock_holder(p)), true)
  p.conn:exec "INSERT INTO killed VALUES (1)"
  local rc, err = a.wait()
  T.eq(rc, 1, err)
  -- the lock_lost event docs/migrations.md lists: in the --events file and in weir.events
  local lost
  for line in io.lines(events) do
    local e = json.decode(line)
    if e.type == "lock_lost" then lost = e end
  end
  T.ok(lost, "a lock_lost event in the --events file")
  T.eq({ lost.migration, lost.phase }, { "001_t", "tx" })
  T.contains(lost.details.error, "the migration lock was lost: its session (backend pid")
  T.eq(p.value "SELECT count(*) FROM weir.events WHERE type = 'lock_lost' AND migration = '001_t' AND phase = 'tx'", 1)
  T.contains(err, "001_t:tx: up stopped: the migration lock was lost: its session (backend pid")
  T.contains(err, "another weir may be running now")
  T.contains(err, "the phase's transaction was rolled back")
  T.eq(p.value "SELECT to_regclass('tx_made')", db.NULL)
  T.eq(p.phase_state("001_t", "tx"), nil, "nothing recorded")
  -- a non-transactional phase: left running (interrupted), not done
  local b = background(p, "up", "b")
  wait_for(p, "SELECT count(*) > 0 FROM attempts WHERE phase = 'notx'", "the notx phase to start")
  wait_for(p, sleeping, "the notx phase to sleep")
  T.eq(p.value("SELECT pg_terminate_backend($1)", lock_holder(p)), true)
  p.conn:exec "INSERT INTO killed VALUES (2)"
  local rc2, err2 = b.wait()
  T.eq(rc2, 1, err2)
  T.contains(err2, "001_t:notx: up stopped: the migration lock was lost")
  T.eq(p.phase_state("001_t", "tx"), "done")
  T.eq(p.phase_state("001_t", "notx"), "running")
  T.eq(p.value "SELECT to_regclass('notx_made')", db.NULL, "the phase stopped at its statement")
  local _, out = p.weir("status")
  T.contains(out, "interrupted  notx")
  local rc3, _, err3 = p.weir("up")
  T.eq(rc3, 0, err3)
  T.eq(p.phase_state("001_t", "notx"), "done")
end)

-- ---------------------------------------------------------------------------------------------
-- Item: the phase key `timeout`

T.case("a phase's timeout cancels it when it runs longer, and the phase fails saying so", function()
  local p = project { ["001_slow.lua"] = [[
return migration "001_slow" {
  phase "quick" { timeout = 60, up = function(db) db:exec "CREATE TABLE quick (x int)" end },
  phase "tx" {
    timeout = 1,
    up = function(db)
      db:exec "CREATE TABLE tx_made (x int)"
      db:exec "SELECT pg_sleep(30)"
    end,
  },
}
]] }
  local rc, _, err = p.weir("up")
  T.eq(rc, 1, err)
  T.eq(p.phase_state("001_slow", "quick"), "done")
  T.contains(err, "001_slow:tx: up failed: timed out: the phase ran longer than its timeout of 1s")
  T.eq(p.phase_state("001_slow", "tx"), "failed")
  T.contains(p.value "SELECT error FROM weir.phases WHERE phase = 'tx'", "timed out")
  T.eq(p.value "SELECT to_regclass('tx_made')", db.NULL, "rolled back")
  -- a non-transactional phase that swallows every error still stops at its next statement
  local p2 = project { ["001_stubborn.lua"] = [[
return migration "001_stubborn" {
  phase "loop" {
    transaction = false,
    timeout = "500ms",
    up = function(db)
      db:exec "CREATE TABLE IF NOT EXISTS progress (n int)"
      for i = 1, 60 do
        pcall(db.exec, db, "SELECT pg_sleep(1)")
        pcall(db.exec, db, "INSERT INTO progress VALUES ($1)", i)
      end
    end,
  },
}
]] }
  local rc2, _, err2 = p2.weir("up")
  T.eq(rc2, 1, err2)
  T.contains(err2, "001_stubborn:loop: up failed: timed out: the phase ran longer than its timeout of 0.5s")
  T.eq(p2.value "SELECT count(*) FROM progress", 0, "nothing ran after the time was up")
  T.eq(p2.phase_state("001_stubborn", "loop"), "failed")
end)

T.case("at a phase's timeout its other connections are stopped too; their open transactions end with weir", function()
  -- A phase that works on a connection of its own (weir.connect) is held to its timeout there
  -- as on `db`: before, only the statement running at the deadline was cancelled, and the loop
  -- went on inserting on the other connection for as long as it liked.
  local p = project {}
  p.write("001_other.lua", ([[
return migration "001_other" {
  phase "loop" {
    transaction = false,
    timeout = "500ms",
    up = function(db)
      local other = weir.connect(%q)
      other:exec "CREATE TABLE IF NOT EXISTS other_progress (n int)"
      local pending = weir.connect(%q)
      pending:exec "BEGIN"
      pending:exec "INSERT INTO other_progress VALUES (0)"
      for i = 1, 60 do
        pcall(other.exec, other, "SELECT pg_sleep(1)")
        pcall(other.exec, other, "INSERT INTO other_progress VALUES ($1)", i)
      end
    end,
  },
}
]]):format(p.url, p.url))
  local rc, _, err = p.weir("up")
  T.eq(rc, 1, err)
  T.contains(err, "001_other:loop: up failed: timed out: the phase ran longer than its timeout of 0.5s")
  T.eq(p.phase_state("001_other", "loop"), "failed")
  T.eq(p.value "SELECT to_regclass('other_progress') IS NOT NULL", true, "what it committed stays")
  T.eq(p.value "SELECT count(*) FROM other_progress WHERE n > 0", 0, "no statement ran after the time was up")
  T.eq(p.value "SELECT count(*) FROM other_progress WHERE n = 0", 0,
    "a transaction it left open on a connection of its own ended with weir: the server rolled it back")
  T.eq(p.value "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()", 0,
    "no session of weir's left")
end)

T.case("a phase timeout that is not a positive duration is refused at load time with FILE:LINE", function()
  for _, c in ipairs {
    { "-1", "timeout -1 is not a duration: expected a number of seconds" },
    { "0", "timeout 0 is not a time limit: a phase's timeout is more than 0" },
    { '"soon"', 'timeout "soon" is not a duration' },
    { '"10 parsecs"', 'timeout "10 parsecs" is not a duration' },
    { "true", "timeout true is a boolean, not a duration" },
    { "1e99", "timeout 1e+99 is too long: at most 24.8 days" },
  } do
    local p = project { ["001_t.lua"] = 'return migration "001_t" {\n  phase "a" { timeout = ' .. c[1] ..
      ', up = function(db) end },\n}\n' }
    local rc, _, err = p.weir("up")
    T.eq(rc, 1, c[1])
    T.contains(err, "001_t.lua:2: phase 'a': " .. c[2])
  end
end)

-- ---------------------------------------------------------------------------------------------
-- Item: concurrent index builds never leave a phase done with an INVALID index

local INDEXED = [[
return migration "001_ix" {
  phase "expand" {
    up = function(db) db:exec "CREATE TABLE things (id int PRIMARY KEY, name text)" end,
    down = function(db) db:exec "DROP TABLE things" end,
  },
  phase "index" {
    transaction = false,
    up = function(db)
      db:exec "CREATE INDEX CONCURRENTLY IF NOT EXISTS things_name_idx ON things (name)"
      db:exec "CREATE TABLE IF NOT EXISTS after_build AS SELECT current_setting('lock_timeout') AS lock_timeout"
    end,
    down = function(db) db:exec "DROP INDEX CONCURRENTLY IF EXISTS things_name_idx" end,
  },
}
]]

local INDEX_VALID = "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('things_name_idx')"
-- weir's CREATE INDEX CONCURRENTLY, waiting for an older transaction to finish
local BUILD_WAITING = [[SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database()
  AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock']]

T.case("CREATE INDEX CONCURRENTLY waits for older transactions without lock_timeout, and ends valid", function()
  local p = project { ["001_ix.lua"] = INDEXED }
  T.eq((p.weir("up --to 001_ix:expand")), 0)
  -- a transaction older than the build, as a long report or an idle-in-transaction client is
  local holder = weir.connect(p.url)
  holder:exec "BEGIN"
  holder:value "SELECT count(*) FROM things"
  local a = background(p, "up --lock-timeout 100 --retries 2", "a")
  -- the build has waited many times lock_timeout (with the timeout it would have been
  -- cancelled, and retried, and skipped its INVALID leftover)
  local deadline = weir.clock() + 60
  while not (a.ended() or p.value(BUILD_WAITING .. " AND now() - query_start > interval '1 s'")) do
    assert(weir.clock() < deadline, "the build neither waited nor ended")
    weir.sleep(0.05)
  end
  holder:exec "COMMIT"
  local rc, err = a.wait()
  T.eq(rc, 0, err)
  T.eq(p.value(INDEX_VALID), true, "the index is valid")
  T.eq(p.phase_state("001_ix", "index"), "done")
  T.eq(p.value "SELECT lock_timeout FROM after_build", "100ms", "lock_timeout is back after the build")
end)

T.case("an INVALID index left by a killed or terminated build is found: the phase is not done", function()
  for _, how in ipairs { "kill -9", "pg_terminate_backend" } do
    local p = project { ["001_ix.lua"] = INDEXED }
    T.eq((p.weir("up --to 001_ix:expand")), 0)
    local holder = weir.connect(p.url)
    holder:exec "BEGIN"
    holder:value "SELECT count(*) FROM things"
    local a = background(p, "up", "a")
    wait_for(p, BUILD_WAITING, "the build to start")
    if how == "kill -9" then
      sh("kill -9 " .. a.pid)
    else
      p.value([[SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()
                 AND query LIKE 'CREATE INDEX CONCURRENTLY%']])
    end
    a.wait()
    -- the server ends the build (weir's session is gone or was ended): an INVALID leftover
    wait_for(p, "SELECT NOT " .. BUILD_WAITING:gsub("^SELECT ", ""), "the build to end")
    holder:exec "COMMIT"
    T.eq(p.value(INDEX_VALID), false, how .. ": the build left an INVALID index")
    local rc, _, err = p.weir("up")
    T.eq(rc, 1, how .. ": " .. err)
    T.contains(err, "001_ix:index: up failed: left INVALID index public.things_name_idx on public.things")
    T.contains(err, "DROP INDEX CONCURRENTLY public.things_name_idx")
    T.eq(p.phase_state("001_ix", "index"), "failed", how)
    local _, out = p.weir("status")
    T.contains(out, "failed       index (non-transactional)")
    -- what the message says to do
    p.conn:exec "DROP INDEX CONCURRENTLY public.things_name_idx"
    local rc2, _, err2 = p.weir("up")
    T.eq(rc2, 0, err2)
    T.eq(p.value(INDEX_VALID), true)
  end
end)

T.case("ddl.create_index in a non-transactional phase replaces the leftover and passes the check", function()
  local p = project { ["001_ix.lua"] = (INDEXED:gsub(
    'db:exec "CREATE INDEX CONCURRENTLY IF NOT EXISTS things_name_idx ON things %(name%)"',
    'ddl.create_index(db, "things", "name")')) }
  T.eq((p.weir("up --to 001_ix:expand")), 0)
  p.conn:exec "INSERT INTO things VALUES (1, 'a'), (2, 'a')"
  -- an INVALID leftover of the same name: a failed unique build
  T.ok(not pcall(p.conn.exec, p.conn, "CREATE UNIQUE INDEX CONCURRENTLY things_name_idx ON things (name)"))
  T.eq(p.value(INDEX_VALID), false)
  local rc, _, err = p.weir("up")
  T.eq(rc, 0, err)
  T.eq(p.value(INDEX_VALID), true)
end)

-- ---------------------------------------------------------------------------------------------
-- Item: an interrupted non-transactional down is recorded, not left `done`

T.case("kill -9 during a non-transactional down: status shows it interrupted; down finishes it, up re-applies it", function()
  local p = project { ["001_nd.lua"] = [[
return migration "001_nd" {
  phase "data" {
    transaction = false,
    up = function(db)
      db:exec "CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY)"
      db:exec "INSERT INTO items SELECT g FROM generate_series(1, 10) g ON CONFLICT DO NOTHING"
    end,
    down = function(db)
      db:exec "DELETE FROM items WHERE id <= 5"
      db:exec "INSERT INTO downs VALUES (1)"
      db:exec "SELECT pg_sleep(CASE WHEN (SELECT count(*) FROM downs) = 1 THEN 30 ELSE 0 END)"
      db:exec "DROP TABLE IF EXISTS items"
    end,
    verify = function(db) return db:value "SELECT count(*) FROM items" == 10, "expected 10 items" end,
  },
}
]] }
  p.conn:exec "CREATE TABLE downs (x int)"
  local function kill_during_down()
    T.eq((p.weir("up")), 0)
    p.conn:exec "TRUNCATE downs"
    local a = background(p, "down 001_nd", "down")
    wait_for(p, [[SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = current_database()
                   AND query LIKE 'SELECT pg_sleep(CASE%' AND state = 'active']], "the down to sleep")
    sh("kill -9 " .. a.pid)
    a.wait()
    T.eq(p.value "SELECT count(*) FROM items", 5, "half undone")
  end
  kill_during_down()
  T.eq(p.phase_state("001_nd", "data"), "rolling_back")
  local _, out = p.weir("status")
  T.contains(out, "pending  001_nd")
  T.contains(out, "interrupted  data (non-transactional) — while rolling back")
  local _, json_out = p.weir("status --json")
  local ph = json.decode(json_out).migrations[1].phases[1]
  T.eq({ ph.state, ph.interrupted_in }, { "interrupted", "down" })
  -- weir down finishes the rollback
  local rc, _, err = p.weir("down 001_nd")
  T.eq(rc, 0, err)
  T.contains(err, "001_nd:data was interrupted while rolling back; running down again to finish it")
  T.eq(p.phase_state("001_nd", "data"), "rolled_back")
  T.eq(p.value "SELECT to_regclass('items')", db.NULL)
  -- or weir up applies it again, whole
  kill_during_down()
  local rc2, _, err2 = p.weir("up")
  T.eq(rc2, 0, err2)
  T.contains(err2, "001_nd:data was interrupted while rolling back; running up again to apply it whole")
  T.eq(p.phase_state("001_nd", "data"), "done")
  T.eq(p.value "SELECT count(*) FROM items", 10)
end)

-- ---------------------------------------------------------------------------------------------
-- Item: lock_timeout defaults short enough that readers barely notice a retry

T.case("by default a statement waits 500 ms for its lock, then weir retries up to 10 times with jittered backoff", function()
  local p = project { ["001_alter.lua"] = [[
return migration "001_alter" {
  phase "alter" {
    up = function(db)
      db:exec "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout"
      db:exec "ALTER TABLE busy ADD COLUMN c int"
    end,
  },
}
]] }
  p.conn:exec "CREATE TABLE busy (x int)"
  local holder = weir.connect(p.url)
  holder:exec "BEGIN"
  holder:value "SELECT count(*) FROM busy"
  local a = background(p, "up --events " .. q(p.dir .. "/ev.jsonl"), "a")
  local deadline = weir.clock() + 30
  repeat
    local f = io.open(p.dir .. "/ev.jsonl")
    local text = f and f:read("a") or ""
    if f then f:close() end
    assert(weir.clock() < deadline, "weir never retried")
    weir.sleep(0.05)
  until text:find('"type":"retry"', 1, true)
  holder:exec "COMMIT"
  local rc, err = a.wait()
  T.eq(rc, 0, err)
  T.contains(err, "lock not available (55P03), retry 1/10 in ")
  T.eq(p.value "SELECT lock_timeout FROM seen", "500ms")
  local first = p.value "SELECT payload FROM weir.events WHERE type = 'retry' ORDER BY id LIMIT 1"
  T.ok(first.pause >= 0.5 and first.pause <= 1.5, "the first pause is 1 s with jitter: " .. first.pause)
end)

shell.cleanup()
T.done()
