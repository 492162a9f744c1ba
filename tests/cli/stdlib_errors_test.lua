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
  T.contains(err, "migrations/001_misuse.lua:5: flags.define: expected a flag name, got nil")
  T.not_contains(err, "stdlib/")
end)

T.case("a phase that ends in a tail call to a helper: the error names the phase function's line", function()
  -- `return helper(…)` leaves no frame of the phase function on the stack when the helper
  -- fails; without a script line to name, the error named stdlib/… or nothing at all. The
  -- line named is the one defining the phase function (up = function(db), line 4).
  local CALLS = {
    { "return copy.table { from = db }", "copy.table: target (the table to write) is required" },
    { "return flags.define(db, 'x', { default = 'yes' })", "flags.define: default must be a boolean, got string" },
    { "return flags.list(db, 42)", "flags.list: options must be a table, got number" },
    { "return flags.enabled(db, 42)", "flags.enabled: expected a flag name, got number" },
    { "return db:tx(function() return flags.enable(db) end)", "flags.enable: expected a flag name, got nil" },
    { "return check.enum_has_labels(db)", "" },
    { "return weir.checkpoint(42)", "weir.checkpoint: expected a non-empty string key, got number" },
  }
  for i, c in ipairs(CALLS) do
    for _, tx in ipairs { "true", "false" } do
      local id = string.format("%03d_tail", i)
      local p = require("project").new("tail", { [id .. ".lua"] = string.format([[
return migration "%s" {
  phase "a" {
    transaction = %s,
    up = function(db)
      %s
    end,
    down = function(db) end,
  },
}
]], id, tx, c[1]) })
      local rc, _, err = p.weir("up")
      T.eq(rc, 1, c[1] .. ": " .. err)
      T.contains(err, id .. ":a: up failed: migrations/" .. id .. ".lua:4: " .. c[2], c[1] .. " (transaction = " .. tx .. ")")
      T.not_contains(err, "stdlib/", c[1])
      if tx == "true" then
        local _, pout, perr = p.weir("plan")
        T.contains(pout .. perr, "migrations/" .. id .. ".lua:4: " .. c[2], "plan: " .. c[1])
        T.not_contains(pout .. perr, "stdlib/", "plan: " .. c[1])
      end
    end
  end
end)

T.case("a verify that ends in a tail call names its line too", function()
  local p = require("project").new("tailv", { ["001_v.lua"] = [[
return migration "001_v" {
  phase "a" {
    up = function(db) end,
    verify = function(db)
      return flags.enabled(db, "missing")
    end,
    down = function(db) end,
  },
}
]] })
  local rc, _, err = p.weir("up")
  T.eq(rc, 1, err)
  T.contains(err, "migrations/001_v.lua:4: flags.enabled: no flag named 'missing'")
  T.not_contains(err, "stdlib/")
end)

T.case("an error the phase raises without a position keeps it that way", function()
  local p = require("project").new("tailn", { ["001_n.lua"] = [[
return migration "001_n" {
  phase "a" {
    up = function(db)
      error("no position here", 0)
    end,
  },
}
]] })
  local rc, _, err = p.weir("up")
  T.eq(rc, 1, err)
  T.contains(err, "001_n:a: up failed: no position here\n")
end)

T.case("flags.* called with wrong types: one line naming the caller's line", function()
  local MISTAKES = {
    { "flags.define(db)", "flags.define: expected a flag name, got nil" },
    { "flags.define(db, 'x', 42)", "flags.define: options must be a table, got number" },
    { "flags.define(db, 'x', { description = 42 })", "flags.define: description must be a non-empty string, got number" },
    { "flags.define(db, 'x', { defualt = true })", "flags.define: unknown option 'defualt' (known: default, description, schema)" },
    { "flags.enable(db)", "flags.enable: expected a flag name, got nil" },
    { "flags.disable('x')", "flags.disable: expected a connection first, got string" },
    { "flags.set_percent(db, 'x', 12.5)", "flags.set_percent: percent must be an integer from 0 to 100, got 12.5" },
    { "flags.set_percent(db, 'x', '50')", "flags.set_percent: percent must be an integer from 0 to 100, got string" },
    { "flags.override(db, 'x', {}, true)", "flags.override: subject must be a string or an integer, got table" },
    { "flags.override(db, 'x', 'org-1', 'yes')", "flags.override: value must be true, false or nil (to remove the override), got string" },
    { "flags.enabled(db, 'x', { subject = {} })", "flags.enabled: subject must be a string or an integer, got table" },
    { "flags.enabled(db, 'x', 'org-1')", "flags.enabled: options must be a table, got string" },
    { "flags.list(db, { schema = 42 })", "flags.list: schema must be a non-empty string, got number" },
    { "flags.history(db, 42)", "flags.history: expected a flag name, got number" },
  }
  for i, c in ipairs(MISTAKES) do
    local path = script("flags_misuse" .. i .. ".lua", "flags.define(db, 'x')\n" .. c[1] .. "\n")
    local rc, _, err = sh("timeout 60 " .. q(weir) .. " run --db " .. q(url) .. " " .. q(path))
    T.eq(rc, 1, c[1] .. ": " .. err)
    T.eq(err:match("^[^\n]*"), path .. ":2: " .. c[2], c[1])
  end
end)

T.case("--traceback keeps the stdlib position", function()
  local path = script("traced.lua", "local x = 1\ncheck.sql(db)\n")
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
