-- A stdlib helper called wrongly fails naming the script line that called it, never an
-- internal stdlib/FILE.lua:LINE: through weir run (the error line), a pcall or xpcall in the
-- script, and weir up (the phase's failure). With --traceback the stdlib position stays, for
-- a bug in weir itself. Before the fix each of these named stdlib/….lua.
-- Runs with --unsafe because it spawns weir itself through io.popen.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir = assert(os.getenv "WEIR")
local url = assert(os.getenv "WEIR_TEST_URL")

-- Misuses across modules, each a runtime error or an SQL error inside the helper.
local MISUSES = {
  "check.has_schema(db)",
  "check.enum_has_labels(db)",
  "flags.define(db)",
  "flags.list(db, 42)",
  "flags.enable()",
  "ids.legacy()",
  "copy.quarantine()",
}

local function script(name, text) return shell.write(tmp .. "/" .. name, text) end

T.case("weir run: the error line names the script's line, the traceback still shows the stdlib", function()
  for i, call in ipairs(MISUSES) do
    local path = script("misuse" .. i .. ".lua", "local x = 1\n" .. call .. "\n")
    local rc, _, err = sh("timeout 60 " .. q(weir) .. " run --db " .. q(url) .. " " .. q(path))
    T.eq(rc, 1, call .. ": " .. err)
    local first = err:match("^[^\n]*")
    T.contains(first, path .. ":2: ", call)
    T.not_contains(first, "stdlib/", call)
  end
end)

T.case("pcall and a script's xpcall handler see the error re-pointed", function()
  local path = script("caught.lua", [[
local ok, e = pcall(function()
  check.has_schema(db)
end)
print(e)
xpcall(function()
  flags.list(db, 42)
end, function(m) print(m) end)
local ok2, e2 = pcall(flags.enable)
print(e2)
]])
  local rc, out, err = sh("timeout 60 " .. q(weir) .. " run --db " .. q(url) .. " " .. q(path))
  T.eq(rc, 0, err)
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  T.contains(lines[1], path .. ":2: ")
  T.contains(lines[2], path .. ":6: ")
  T.not_contains(lines[3], "stdlib/", "called directly by pcall: no script line to name, and no stdlib one")
  T.not_contains(out, "stdlib/")
end)

T.case("weir up: a phase's failure names the migration's line, in a transaction or not", function()
  local p = require("project").new("misuse", {
    ["001_misuse.lua"] = [[
return migration "001_misuse" {
  phase "tx" {
    up = function(db)
      check.has_schema(db)
    end,
    down = function(db) end,
  },
}
]],
  })
  local rc, _, err = p.weir("up")
  T.eq(rc, 1, err)
  T.contains(err, "001_misuse:tx: up failed: ")
  T.contains(err, "migrations/001_misuse.lua:4: ")
  T.not_contains(err, "stdlib/")
  local status_rc, status_out = p.weir("status")
  T.eq(status_rc, 0)
  T.not_contains(status_out, "stdlib/", "the recorded error too")

  p.write("001_misuse.lua", [[
return migration "001_misuse" {
  phase "tx" {
    transaction = false,
    up = function(db)
      flags.define(db)
    end,
    down = function(db) end,
  },
}
]])
  p.weir("repair")
  rc, _, err = p.weir("up")
  T.eq(rc, 1, err)
  T.contains(err, "migrations/001_misuse.lua:5: 23502 ")
  T.not_contains(err, "stdlib/")
end)

T.case("--traceback keeps the stdlib position", function()
  local path = script("traced.lua", "local x = 1\ncheck.has_schema(db)\n")
  local rc, _, err = sh("timeout 60 " .. q(weir) .. " run --traceback --db " .. q(url) .. " " .. q(path))
  T.eq(rc, 1)
  T.ok(err:match("^stdlib/check%.lua:%d+: "), "the stdlib line: " .. err)
end)

T.case("errors of the script's own code keep their position", function()
  local path = script("own.lua", "local function f() error('mine') end\nlocal ok, e = pcall(f)\nprint(e)\n" ..
    "print(select(2, pcall(error, 'bare')))\nprint(select(2, pcall(json.decode, '[')))\nf()\n")
  local rc, out, err = sh("timeout 60 " .. q(weir) .. " run " .. q(path))
  T.eq(rc, 1)
  T.eq(out, path .. ":1: mine\nbare\njson.decode: invalid JSON at byte 2: " ..
    "syntax error while parsing value - unexpected end of input; expected '[', '{', or a literal\n")
  T.contains(err, path .. ":1: mine\n")
end)

shell.cleanup()
T.done()
