-- copy.table under fire, as a user runs it: weir killed with SIGKILL at random points and
-- re-run, its target session terminated mid-copy; afterwards the target equals the source row
-- for row, with nothing doubled.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")

local ROWS = 100000

local function database(name)
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  db:exec("CREATE DATABASE " .. name)
  local url = base_url:gsub("/postgres%?", "/" .. name .. "?")
  return weir.connect(url), url
end

local src, src_url = database("kill_src")
src:exec(([[
  CREATE TABLE orders (id serial PRIMARY KEY, office_id int, patient_name text, status text,
                       amount numeric(10,2), created_at timestamptz, meta jsonb);
  INSERT INTO orders (office_id, patient_name, status, amount, created_at, meta)
  SELECT g %% 50, 'patient ' || g, (ARRAY['new', 'sent', 'done'])[g %% 3 + 1], g / 100.0,
         '2026-01-01'::timestamptz + g * interval '1 minute', jsonb_build_object('g', g)
    FROM generate_series(1, %d) g;
]]):format(ROWS))

local TARGET = [[
  DROP TABLE IF EXISTS orders;
  CREATE TABLE orders (id bigint PRIMARY KEY, office_id int, patient_name text, status text,
                       amount numeric(10,2), created_at timestamptz, meta jsonb);
]]

local SCRIPT = tmp .. "/copy.lua"
do
  local f = assert(io.open(SCRIPT, "w"))
  f:write([[
local src <close> = weir.connect(arg[1])
local st = copy.table { from = src, source = "orders", target = "orders", batch = 500,
                        checkpoint = arg[2], pause_ms = 20 }
print(json.encode(st))
]])
  f:close()
end

local SUM = "SELECT count(*) AS n, count(DISTINCT id) AS ids, md5(string_agg(t::text, '|' ORDER BY id)) AS sum FROM orders t"

local function run_cmd(dst_url, name)
  return q(weir_bin) .. " run --db " .. q(dst_url) .. " " .. q(SCRIPT) .. " " .. q(src_url) .. " " .. q(name)
end

T.case("SIGKILL at three random points, then a run to the end: row for row, nothing doubled", function()
  local dst, dst_url = database("kill_dst")
  dst:exec(TARGET)
  math.randomseed(os.time())
  local points = {}
  for i = 1, 3 do
    local pause = 0.3 + math.random() * 0.7
    points[#points + 1] = string.format("%.2fs", pause)
    local pidfile = tmp .. "/pid" .. i
    sh("(" .. run_cmd(dst_url, "kill") .. " >/dev/null 2>&1 & echo $! > " .. q(pidfile) .. ")")
    weir.sleep(pause)
    local pid = io.open(pidfile):read("l")
    sh("kill -9 " .. pid .. "; while kill -0 " .. pid .. " 2>/dev/null; do sleep 0.05; done")
    weir.sleep(0.2)  -- the server notices the dead client and rolls its batch back
    local n = dst:value "SELECT count(*) FROM orders"
    T.eq(n % 500, 0, "after the kill at " .. points[i] .. " only whole batches are there: " .. n)
    T.eq(dst:value "SELECT count(DISTINCT id) FROM orders", n)
    local last = dst:value "SELECT value->'last'->>0 FROM weir.checkpoints WHERE key = 'copy/kill'"
    if n > 0 then T.eq(tonumber(last), n, "the checkpoint is the last committed key") end
  end
  local before = dst:value "SELECT count(*) FROM orders"
  T.ok(before < ROWS, "the kills interrupted the copy (" .. table.concat(points, ", ") .. "): " .. before)
  local rc, out, err = sh(run_cmd(dst_url, "kill"))
  T.eq(rc, 0, err)
  local st = json.decode(out)
  T.eq(st.written, ROWS - before)
  T.eq(st.resumed_from ~= json.null, before > 0)
  local a, b = dst:one(SUM), src:one(SUM)
  T.eq({ a.n, a.ids, a.sum }, { b.n, b.ids, b.sum })
  -- weir status reports the copy and its success rate
  assert(os.execute("mkdir -p " .. q(tmp .. "/nomigrations")))
  local _, status = sh(q(weir_bin) .. " status --dir " .. q(tmp .. "/nomigrations") .. " --db " .. q(dst_url))
  T.contains(status, "copy     kill: ")
  T.contains(status, " 0 quarantined (100.00% success)")
  dst:close()
end)

-- The same copy at batch = 1000 with nothing between batches: the source is read ahead as
-- key-ordered statements of many batches, cut into batches as the rows come, and each batch goes
-- to the target as one query (BEGIN, its COPYs, the checkpoint and the counters, COMMIT).
local SCRIPT_FAST = tmp .. "/copy_fast.lua"
do
  local f = assert(io.open(SCRIPT_FAST, "w"))
  f:write([[
local src <close> = weir.connect(arg[1])
local st = copy.table { from = src, source = "orders", target = "orders", batch = 1000, checkpoint = arg[2] }
print(json.encode(st))
]])
  f:close()
end

-- Kills weir running `script` (named `name`) again and again, each time a random moment after
-- it committed a batch, then runs it to the end: only whole batches of 1,000 rows, the
-- checkpoint at the last committed key and the counters exact after every kill; the target
-- equal to `expected` (the source's rows as the script writes them) at the end. `after_kill`
-- checks more after each kill.
local function kill_again_and_again(script, name, dbname, expected, after_kill)
  local dst, dst_url = database(dbname)
  dst:exec(TARGET)
  local cmd = q(weir_bin) .. " run --db " .. q(dst_url) .. " " .. q(script) .. " " .. q(src_url) .. " " .. name
  math.randomseed(os.time() + 7)
  local landed, points, before = 0, {}, 0
  for i = 1, 40 do
    local pidfile = tmp .. "/" .. name .. "pid" .. i
    sh("(" .. cmd .. " >/dev/null 2>&1 & echo $! > " .. q(pidfile) .. ")")
    -- once this run has committed a batch, a random moment later (batches are a few ms each)
    local deadline = weir.clock() + 20
    while weir.clock() < deadline and dst:value "SELECT count(*) FROM orders" == before do weir.sleep(0.005) end
    local pause = math.random() * 0.02
    points[#points + 1] = string.format("+%.3fs", pause)
    weir.sleep(pause)
    local pid = io.open(pidfile):read("l")
    sh("kill -9 " .. pid .. " 2>/dev/null; while kill -0 " .. pid .. " 2>/dev/null; do sleep 0.02; done")
    weir.sleep(0.1)  -- the server notices the dead client and rolls its batch back
    local n = dst:value "SELECT count(*) FROM orders"
    before = n
    local what = "after kill " .. i .. " (" .. points[i] .. ")"
    T.eq(n % 1000, 0, what .. " only whole batches are there: " .. n)
    T.eq(dst:value "SELECT count(DISTINCT id) FROM orders", n, what)
    local cp = dst:value("SELECT value FROM weir.checkpoints WHERE key = $1", "copy/" .. name)
    if n > 0 and n < ROWS then
      T.eq(tonumber(cp.last[1]), n, what .. ": the checkpoint is the last committed key")
      landed = landed + 1
    end
    if n > 0 then
      T.eq(dst:value("SELECT rows_written FROM weir.copies WHERE name = $1", name), n, what .. ": counted once")
    end
    if after_kill then after_kill(dst, n, what) end
    if n == ROWS then break end
  end
  T.ok(landed >= 10, "kills landed mid-copy: " .. landed .. " (" .. table.concat(points, ", ") .. ")")
  local rc, _, err = sh(cmd)
  T.eq(rc, 0, err)
  local a, b = dst:one(SUM), src:one(expected)
  T.eq({ a.n, a.ids, a.sum }, { b.n, b.ids, b.sum })
  T.eq(dst:value("SELECT rows_written FROM weir.copies WHERE name = $1", name), ROWS)
  if after_kill then after_kill(dst, ROWS, "at the end") end
  dst:close()
end

T.case("SIGKILL again and again at batch = 1000, read ahead: whole batches, exact checkpoint and counters", function()
  kill_again_and_again(SCRIPT_FAST, "fast", "kill_dst7", SUM)
end)

-- With a transform, batch N is written on a thread while batch N+1 is read and transformed; a
-- statement the transform runs on the target (here: one row in `seen` for every 100th order)
-- waits for batch N and belongs to batch N+1's transaction, so it lands exactly when its
-- batch does.
local SCRIPT_PIPE = tmp .. "/copy_pipe.lua"
do
  local f = assert(io.open(SCRIPT_PIPE, "w"))
  f:write([[
local src <close> = weir.connect(arg[1])
db:exec "CREATE TABLE IF NOT EXISTS seen (id bigint, xid bigint DEFAULT pg_catalog.txid_current())"
local st = copy.table { from = src, source = "orders", target = "orders", batch = 1000, checkpoint = arg[2],
  transform = function(row)
    if row.id % 100 == 0 then db:exec("INSERT INTO seen (id) VALUES ($1)", row.id) end
    row.patient_name = string.upper(row.patient_name)
    return row
  end }
print(json.encode(st))
]])
  f:close()
end

T.case("SIGKILL again and again with a transform that writes to the target too: its statements land with their batch", function()
  local expected = "SELECT count(*) AS n, count(DISTINCT id) AS ids, md5(string_agg(t::text, '|' ORDER BY id)) AS sum " ..
    "FROM (SELECT id, office_id, upper(patient_name) AS patient_name, status, amount, created_at, meta FROM orders) t"
  kill_again_and_again(SCRIPT_PIPE, "pipe", "kill_dst8", expected, function(dst, n, what)
    if dst:value "SELECT pg_catalog.to_regclass('seen') IS NULL" then return end
    T.eq(dst:value "SELECT count(*) FROM seen", n // 100, what .. ": one row in seen per copied 100th order")
    T.eq(dst:value "SELECT count(*) FROM seen s LEFT JOIN orders o USING (id) WHERE o.id IS NULL", 0,
      what .. ": seen names only copied orders")
  end)
end)

T.case("the target session terminated mid-copy: one line naming the batch; the re-run resumes", function()
  local dst, dst_url = database("kill_dst2")
  dst:exec(TARGET)
  local errfile = tmp .. "/term.err"
  sh("(" .. run_cmd(dst_url, "term") .. " >/dev/null 2>" .. q(errfile) .. "; " .. shell.save_rc(tmp .. "/term.rc") ..
    ") >/dev/null 2>&1 &")
  -- wait for some batches, then end weir's session on the target
  local deadline = weir.clock() + 20
  while dst:value "SELECT count(*) FROM orders" < 20000 and weir.clock() < deadline do weir.sleep(0.05) end
  local killed = dst:value([[SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                              WHERE datname = current_database() AND pid <> pg_backend_pid()]])
  T.ok(killed >= 1, "terminated weir's session")
  deadline = weir.clock() + 20
  while not io.open(tmp .. "/term.rc") and weir.clock() < deadline do weir.sleep(0.05) end
  weir.sleep(0.1)
  T.eq(tonumber(io.open(tmp .. "/term.rc"):read("l")), 1)
  local err = io.open(errfile):read("a")
  T.contains(err, "copy.table term: batch ")
  T.ok(err:find("batch %d+ %(id after %d+ through %d+%) failed: ") ~= nil, err)
  T.not_contains(err:match("^[^\n]*"), "stdlib/")
  local n = dst:value "SELECT count(*) FROM orders"
  T.eq(n % 500, 0)
  local rc, _, err2 = sh(run_cmd(dst_url, "term"))
  T.eq(rc, 0, err2)
  local a, b = dst:one(SUM), src:one(SUM)
  T.eq({ a.n, a.ids, a.sum }, { b.n, b.ids, b.sum })
  dst:close()
end)

T.case("two processes share one copy through weir.copy_ranges; one killed, the other finishes its ranges", function()
  local dst, dst_url = database("kill_dst3")
  dst:exec(TARGET)
  local shared = tmp .. "/shared.lua"
  local f = assert(io.open(shared, "w"))
  f:write([[
local src <close> = weir.connect(arg[1])
local st = copy.table { from = src, source = "orders", target = "orders", batch = 500, checkpoint = "shared",
                        shared = true, ranges = 8, pause_ms = 10 }
print(json.encode(st))
]])
  f:close()
  local function cmd(n)
    return q(weir_bin) .. " run --db " .. q(dst_url) .. " " .. q(shared) .. " " .. q(src_url) ..
      " >" .. q(tmp .. "/out" .. n) .. " 2>" .. q(tmp .. "/err" .. n) .. "; " .. shell.save_rc(tmp .. "/rc" .. n)
  end
  -- a third process, killed while it holds a range: its range goes back to the others
  sh("(" .. q(weir_bin) .. " run --db " .. q(dst_url) .. " " .. q(shared) .. " " .. q(src_url) ..
    " >/dev/null 2>&1 & echo $! > " .. q(tmp .. "/pid3") .. ")")
  weir.sleep(0.5)
  local victim = io.open(tmp .. "/pid3"):read("l")
  sh("kill -9 " .. victim)
  sh("(" .. cmd(1) .. ") >/dev/null 2>&1 &")
  sh("(" .. cmd(2) .. ") >/dev/null 2>&1 &")
  local deadline = weir.clock() + 60
  while not (io.open(tmp .. "/rc1") and io.open(tmp .. "/rc2")) and weir.clock() < deadline do weir.sleep(0.1) end
  weir.sleep(0.1)
  local total = 0
  for n = 1, 2 do
    T.eq(tonumber(io.open(tmp .. "/rc" .. n):read("l")), 0, io.open(tmp .. "/err" .. n):read("a"))
    local st = json.decode(io.open(tmp .. "/out" .. n):read("a"))
    T.ok(st.ranges >= 1, "process " .. n .. " copied a range")
    total = total + st.ranges
  end
  T.ok(total >= 7 and total <= 8, "the ranges were shared (" .. total .. " by the two survivors)")
  T.eq(dst:value "SELECT count(*) FROM weir.copy_ranges WHERE copy = 'shared' AND state = 'done'", 8)
  T.eq(dst:value "SELECT value->>'done' FROM weir.checkpoints WHERE key = 'copy/shared'", "true")
  local a, b = dst:one(SUM), src:one(SUM)
  T.eq({ a.n, a.ids, a.sum }, { b.n, b.ids, b.sum })
  dst:close()
end)

-- workers = 3 with every batch held at the target (a trigger waits for an advisory lock the test
-- holds): the parent and its two workers are all mid-copy when the parent is signalled.
local WORKERS = tmp .. "/workers.lua"
shell.write(WORKERS, [[
local src <close> = weir.connect(arg[1])
local st = copy.table { from = src, source = "orders", target = "orders", batch = 500, checkpoint = "wk", workers = 3 }
print(json.encode(st))
]])

local HOLD = [[
  CREATE FUNCTION hold_batch() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NULL; END$$;
  CREATE TRIGGER hold_batch AFTER INSERT ON orders FOR EACH STATEMENT EXECUTE FUNCTION hold_batch();
]]

-- Whether process `pid` has ended (gone, or a zombie nobody has reaped yet).
local function ended(pid)
  local f = io.open("/proc/" .. pid .. "/stat")
  if not f then return true end
  local stat = f:read("a")
  f:close()
  return stat:match("^%d+ %b() (%a)") == "Z"
end

local function children_of(pid)
  local _, out = sh("cat /proc/[0-9]*/stat 2>/dev/null | awk '$4 == " .. pid .. " { print $1 }'")
  local list = {}
  for p in out:gmatch("%d+") do list[#list + 1] = p end
  return list
end

local function wait_until(what, fn, seconds)
  local deadline = weir.clock() + (seconds or 60)
  while not fn() do
    if weir.clock() > deadline then error("gave up waiting: " .. what, 2) end
    weir.sleep(0.05)
  end
end

-- Starts the workers copy held at its first batches; returns the parent's pid, its workers'
-- pids, the lock holder and the files of its exit code and temporary directory.
local function start_held_copy(dst, dst_url, tag)
  local holder = weir.connect(dst_url)
  holder:exec "SELECT pg_advisory_lock(4242)"
  local tmpdir = tmp .. "/tmp_" .. tag
  assert(os.execute("mkdir -p " .. q(tmpdir)))
  local rcfile, pidfile = tmp .. "/rc_" .. tag, tmp .. "/pid_" .. tag
  sh("(TMPDIR=" .. q(tmpdir) .. " " .. q(weir_bin) .. " run --db " .. q(dst_url) .. " " .. q(WORKERS) .. " " ..
    q(src_url) .. " >/dev/null 2>" .. q(tmp .. "/err_" .. tag) .. " & echo $! > " .. q(pidfile) ..
    "; wait $!; " .. shell.save_rc(rcfile) .. ") >/dev/null 2>&1 &")
  wait_until("the copy's three processes holding at the lock", function()
    return dst:value [[SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                        AND wait_event_type = 'Lock' AND wait_event = 'advisory']] == 3
  end)
  local pid = io.open(pidfile):read("l")
  local workers = children_of(pid)
  T.eq(#workers, 2, "two worker processes")
  return pid, workers, holder, rcfile, tmpdir
end

local function finish_and_compare(dst, dst_url, holder)
  -- every batch waited for the lock: none was committed, and no process is left to commit one
  holder:exec "SELECT pg_advisory_unlock(4242)"
  holder:close()
  wait_until("the stopped batches to end", function()
    return dst:value [[SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                        AND pid <> pg_backend_pid()]] == 0
  end)
  T.eq(dst:value "SELECT count(*) FROM orders", 0)
  local rc, out, err = sh(q(weir_bin) .. " run --db " .. q(dst_url) .. " " .. q(WORKERS) .. " " .. q(src_url))
  T.eq(rc, 0, err)
  T.eq(json.decode(out).written, ROWS)
  local a, b = dst:one(SUM), src:one(SUM)
  T.eq({ a.n, a.ids, a.sum }, { b.n, b.ids, b.sum })
end

T.case("workers die with a parent killed by SIGKILL, and leave no file behind; a re-run finishes", function()
  local dst, dst_url = database("kill_dst5")
  dst:exec(TARGET)
  dst:exec(HOLD)
  local pid, workers, holder, _, tmpdir = start_held_copy(dst, dst_url, "kill")
  sh("kill -9 " .. pid)
  wait_until("the killed parent to end", function() return ended(pid) end)
  wait_until("workers " .. table.concat(workers, ", ") .. " to end with their parent", function()
    return ended(workers[1]) and ended(workers[2])
  end, 30)
  local _, files = sh("ls -A " .. q(tmpdir))
  T.eq(files, "", "no file left in TMPDIR")
  finish_and_compare(dst, dst_url, holder)
  dst:close()
end)

T.case("SIGTERM to the parent stops its workers too (exit 143), and leaves no file behind", function()
  local dst, dst_url = database("kill_dst6")
  dst:exec(TARGET)
  dst:exec(HOLD)
  local pid, workers, holder, rcfile, tmpdir = start_held_copy(dst, dst_url, "term")
  sh("kill -TERM " .. pid)
  local code
  wait_until("the parent to exit after SIGTERM", function()
    local f = io.open(rcfile)
    code = f and tonumber(f:read("l"))
    if f then f:close() end
    return code ~= nil
  end)
  T.eq(code, 143)
  T.ok(ended(workers[1]) and ended(workers[2]), "no worker outlives the parent")
  local _, files = sh("ls -A " .. q(tmpdir))
  T.eq(files, "", "no file left in TMPDIR")
  finish_and_compare(dst, dst_url, holder)
  dst:close()
end)

T.case("a progress line drawn in place on a terminal, never off one (docs/progress.md)", function()
  local dst, dst_url = database("kill_dst4")
  dst:exec(TARGET)
  -- pauses between batches: each count is drawn (the line is redrawn at most ten times a second)
  local cmd = q(weir_bin) .. " run --db " .. q(dst_url) .. " -e " ..
    q('local src <close> = weir.connect(arg[1]); copy.table { from = src, source = "orders", target = "orders", ' ..
      'batch = 20000, pause_ms = 150 }') .. " " .. q(src_url)
  local _, _, err = sh(cmd)
  T.not_contains(err, "\r", "no terminal: nothing drawn in place")
  T.not_contains(err, "\27[", "no terminal: no escape sequence")
  dst:exec "TRUNCATE orders"
  src:exec "ANALYZE orders"  -- the ETA comes from the planner's row estimate
  -- `script` gives the command a terminal
  local rc, out = sh("script -qec " .. q(cmd) .. " /dev/null")
  T.eq(rc, 0, out)
  -- Every live line is drawn in place: a carriage return, the line, an erase to its end. Which
  -- batch the first count shows depends on the machine (a count less than 100 ms after the
  -- previous drawing waits for the next), but each batch after a pause of 150 ms is drawn, so
  -- the counts shown rise, batch by batch; the total is the closing line's.
  local counts, etas, drawn = {}, 0, 0
  for line in out:gmatch "\r([^\r]*)" do
    if line:match "^weir: copy orders %(" then
      drawn = drawn + 1
      T.ok(line:sub(-3) == "\27[K", "a live line ends with an erase to the end of the line: " .. ("%q"):format(line))
      -- "N/TOTAL rows (P%)" while the count is within the planner's estimate, "N rows" past it
      local n = line:match "^weir: copy orders %(%d+s%): ([%d,]+)/[%d,]+ rows" or
        line:match "^weir: copy orders %(%d+s%): ([%d,]+) rows"
      if n then
        n = tonumber((n:gsub(",", "")))
        T.ok(n % 20000 == 0 and n <= ROWS, "a count at the end of a batch: " .. line)
        T.ok(#counts == 0 or n >= counts[#counts], "counts never go back: " .. ("%q"):format(out))
        counts[#counts + 1] = n
        if line:find("rows/s, ETA ", 1, true) then etas = etas + 1 end
      end
    end
  end
  T.ok(drawn > 0 and #counts >= 2 and counts[1] < counts[#counts], "counts rising, drawn in place: " .. ("%q"):format(out))
  T.ok(etas >= 1, "a line before the end gives rows/s and an ETA: " .. ("%q"):format(out))
  T.contains(out, "\r\27[Kweir: copy orders: 100,000 rows in ")
  dst:close()
end)

src:close()
for _, name in ipairs { "kill_src", "kill_dst", "kill_dst2", "kill_dst3", "kill_dst4", "kill_dst5", "kill_dst6",
  "kill_dst7" } do
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
end
shell.cleanup()
T.done()
