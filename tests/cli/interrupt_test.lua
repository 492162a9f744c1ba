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

shell.cleanup()
T.done()
