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
  sh("cd " .. q(p.dir) .. " && ( (" .. q(weir_bin) .. " " .. args .. " --db " .. q(p.url) .. " 2>" .. q(err) ..
    " >/dev/null; echo $? > " .. q(rcfile) .. ") & echo $! > " .. q(pidfile) .. " )")
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

shell.cleanup()
T.done()
