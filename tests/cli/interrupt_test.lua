-- One Ctrl-C (SIGINT) or SIGTERM stops a script whatever it is doing, and weir exits 130 or
-- 143: a loop in a coroutine, a loop that swallows errors with pcall or xpcall, weir.sleep,
-- a query, and weir up in a phase. Each script says "ready" from inside the code the signal
-- must stop, then the test sends exactly one signal; `timeout` only ends a weir that would
-- otherwise never stop (exit 124, a failure).
-- Runs with --unsafe because it spawns weir itself through io.popen.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir = assert(os.getenv "WEIR")
local url = assert(os.getenv "WEIR_TEST_URL")

local READY = 'io.stdout:write("ready\\n") io.stdout:flush() '

-- Runs `weir ARGS` in `dir`, sends `sig` once it printed "ready"; returns its exit code,
-- stdout and stderr.
local function stopped(args, sig, dir)
  local out, err = tmp .. "/out", tmp .. "/err"
  os.remove(out)
  local rc = sh("cd " .. q(dir or tmp) .. " && { DATABASE_URL=" .. q(url) .. " timeout 60 " .. q(weir) .. " " .. args ..
    " > " .. q(out) .. " 2> " .. q(err) .. " & pid=$!; " ..
    "until grep -q ready " .. q(out) .. " 2>/dev/null || ! kill -0 $pid 2>/dev/null; do sleep 0.05; done; " ..
    "kill -" .. sig .. " $(pgrep -P $pid) 2>/dev/null; wait $pid; }")
  return rc, T.read(out), T.read(err)
end

local function run_e(code) return "run -e " .. q(code) end

T.case("a loop inside a coroutine (create/resume and wrap) stops on one signal", function()
  local rc, _, err = stopped(run_e("local co = coroutine.create(function() " .. READY ..
    "while true do end end) print(coroutine.resume(co))"), "INT")
  T.eq(rc, 130, err)
  T.eq(err, "interrupted\n")
  rc, _, err = stopped(run_e("local f = coroutine.wrap(function() local g = coroutine.wrap(function() " .. READY ..
    "while true do end end) g() end) f()"), "TERM")
  T.eq(rc, 143, err)
  T.eq(err, "interrupted\n")
end)

T.case("a loop that swallows errors with pcall or xpcall stops on one signal", function()
  local rc, out, err, _ = stopped(run_e("local said = false while true do pcall(function() " ..
    "if not said then said = true " .. READY .. "end for i = 1, 1000 do end end) end print('went on')"), "INT")
  T.eq(rc, 130, err)
  T.not_contains(out, "went on")
  rc, _, err = stopped(run_e(READY .. "while true do xpcall(function() while true do end end, " ..
    "function(e) return e end) end"), "TERM")
  T.eq(rc, 143, err)
  rc, _, err = stopped(run_e(READY .. "while true do xpcall(function() while true do end end, " ..
    "function(e) while true do end end) end"), "TERM")
  T.eq(rc, 143, "a message handler that never returns is not called for the interrupt: " .. err)
  rc, _, err = stopped(run_e("while true do local co = coroutine.create(function() " .. READY ..
    "while true do end end) coroutine.resume(co) end"), "INT")
  T.eq(rc, 130, "coroutine.resume does not swallow it either: " .. err)
end)

T.case("weir.sleep stops at once, also in a pcall loop", function()
  local rc, _, err = stopped(run_e(READY .. "while true do pcall(weir.sleep, 30) end"), "INT")
  T.eq(rc, 130, err)
  rc, _, err = stopped(run_e(READY .. "weir.sleep(600)"), "TERM")
  T.eq(rc, 143, err)
  T.contains(err, "interrupted")
end)

T.case("a query in a pcall loop is cancelled and the loop stops", function()
  local rc, _, err = stopped(run_e(READY .. "while true do pcall(db.exec, db, 'SELECT pg_sleep(30)') end"), "TERM")
  T.eq(rc, 143, err)
end)

T.case("weir up stops in a phase on one SIGTERM (143) or SIGINT (130); nothing is left half done", function()
  local p = require("project").new("intr", {
    ["001_spin.lua"] = [[
return migration "001_spin" {
  phase "spin" {
    up = function(db)
      db:exec "CREATE TABLE spun (id int)"
      local said = false
      while true do
        pcall(function()
          if not said then said = true ]] .. READY .. [[ end
          for i = 1, 1000 do end
        end)
      end
    end,
    down = function(db) db:exec "DROP TABLE spun" end,
  },
}
]],
  })
  for sig, code in pairs { TERM = 143, INT = 130 } do
    local rc, _, err = stopped("up --db " .. q(p.url), sig, p.dir)
    T.eq(rc, code, sig .. ": " .. err)
    T.contains(err, "weir: interrupted")
    T.ok(p.phase_state("001_spin", "spin") ~= "done", "the phase is not recorded done")
  end
end)

-- Runs `weir ARGS`, and once it printed "ready" sends the signals in `sigs` one after another
-- (`pause` seconds apart); returns its exit code, stdout and stderr.
local function signalled(args, sigs, pause)
  local out, err = tmp .. "/out", tmp .. "/err"
  os.remove(out)
  local kills = {}
  for _, sig in ipairs(sigs) do kills[#kills + 1] = "kill -" .. sig .. " $w 2>/dev/null" end
  local rc = sh("cd " .. q(tmp) .. " && { DATABASE_URL=" .. q(url) .. " timeout -k 5 120 " .. q(weir) .. " " .. args ..
    " > " .. q(out) .. " 2> " .. q(err) .. " & pid=$!; " ..
    "until grep -q ready " .. q(out) .. " 2>/dev/null || ! kill -0 $pid 2>/dev/null; do sleep 0.05; done; " ..
    "w=$(pgrep -P $pid); " .. table.concat(kills, "; sleep " .. (pause or 0) .. "; ") .. "; wait $pid; }")
  return rc, T.read(out), T.read(err)
end

-- Code that never returns to Lua's hooks after "ready": a loop in a __gc finalizer (Lua runs
-- no hook there) or a string pattern that backtracks in C.
local DEAF = {
  gc = "setmetatable({}, { __gc = function() while true do end end }) " .. READY .. "collectgarbage()",
  pattern = READY .. "print(('a'):rep(5000):find('a*a*a*a*a*a*a*a*b'))",
}

T.case("a script deaf to the first signal is ended 5 s after it with 128+signal", function()
  for name, code in pairs(DEAF) do
    for sig, want in pairs { TERM = 143, INT = 130 } do
      local rc, _, err = signalled(run_e(code), { sig })
      T.eq(rc, want, name .. " " .. sig .. ": " .. err)
      T.contains(err, "weir: the script did not stop within 5 s of SIG" .. sig .. ": exiting at once", name)
    end
  end
end)

T.case("a second signal ends weir at once with 128+signal", function()
  local rc, _, err = signalled(run_e(DEAF.gc), { "TERM", "INT" }, 0.2)
  T.eq(rc, 130, err)
  T.contains(err, "weir: a second SIGINT: exiting at once")
end)

T.case("what weir could not clean up is cleaned up for it: the open transaction rolls back, the throwaway cluster goes", function()
  db:exec "DROP TABLE IF EXISTS deaf_rows"
  db:exec "CREATE TABLE deaf_rows (id int)"
  local script = shell.write(tmp .. "/deaf.lua", [[
    local conn = weir.connect(os.getenv("WEIR_TEST_URL"))
    conn:exec "SET application_name = 'weir_deaf_test'"
    conn:exec "BEGIN"
    conn:exec "INSERT INTO deaf_rows VALUES (1)"
    local cluster = weir.cluster()
    io.stdout:write(cluster:url(), "\n")
    ]] .. DEAF.gc)
  local rc, out, err = signalled("run --unsafe " .. q(script), { "TERM" })
  T.eq(rc, 143, err)
  local dir = out:match("host=([^&\n]+)")
  T.ok(dir, "the cluster's URL: " .. out)
  -- the server notices the closed connection and ends its transaction; the watchdog removes the
  -- cluster (both bounded here only by the test's own attempts)
  local gone, removed = false, false
  for _ = 1, 300 do
    gone = gone or db:value("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'weir_deaf_test'") == 0
    removed = removed or not io.open(dir .. "/data/PG_VERSION")
    if gone and removed then break end
    _G.weir.sleep(0.1)
  end
  T.ok(gone, "the session is gone")
  T.eq(db:value "SELECT count(*) FROM deaf_rows", 0, "its transaction was rolled back")
  T.ok(removed, "the cluster in " .. dir .. " was removed")
  T.eq(select(2, sh("pgrep -f " .. q("-D " .. dir) .. " || true")), "", "no server left running")
  db:exec "DROP TABLE deaf_rows"
end)

T.case("weir.connect to a server that accepts TCP and never answers stops on one signal", function()
  -- a socket that listens and never accepts: the handshake completes, nothing ever replies
  local listener = shell.write(tmp .. "/silent.py", [[
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(600)
]])
  local portfile = tmp .. "/silent.port"
  local _, pid = sh("python3 " .. q(listener) .. " > " .. q(portfile) .. " 2>/dev/null & echo $!")
  pid = pid:match("%d+")
  local port
  for _ = 1, 100 do
    local f = io.open(portfile)
    port = f and (f:read("a") or ""):match("^(%d+)\n")
    if f then f:close() end
    if port then break end
    _G.weir.sleep(0.1)
  end
  T.ok(port, "the listener is up")
  local target = "host=127.0.0.1 port=" .. port .. " dbname=x user=x"
  for _, c in ipairs {
    { "weir.connect", READY .. "weir.connect(" .. ("%q"):format(target .. " connect_timeout=0") .. ")" },
    { "weir.connection", READY .. "weir.connection('silent'):exec('SELECT 1')" },
    { "in a pcall loop", READY .. "while true do pcall(weir.connect, " .. ("%q"):format(target) .. ") end" },
  } do
    local rc, _, err = signalled("run --connect " .. q("silent=" .. target .. " connect_timeout=0") .. " -e " .. q(c[2]), { "TERM" })
    T.eq(rc, 143, c[1] .. ": " .. err)
    T.not_contains(err, "did not stop within", c[1] .. ": stopped by the signal, not the last resort")
  end
  sh("kill " .. pid)
end)

shell.cleanup()
T.done()
