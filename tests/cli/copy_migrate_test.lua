-- copy.update and copy.table inside migrations, as a user runs them: misuse names the user's
-- file:line.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")

local function project(files) return require("project").new("copymig", files) end

T.case("misuse inside a migration names the migration's file and line, not weir's", function()
  local MIGRATION = [[
return migration "001_bad" {
  phase "copy" {
    transaction = false,
    up = function(db)
      db:exec "CREATE TABLE IF NOT EXISTS t (id int PRIMARY KEY)"
      %s
    end,
    down = function(db) db:exec "DROP TABLE t" end,
  },
}
]]
  for call, expected in pairs {
    ['copy.table { source = "t", target = "t", checkpoint = true }'] =
      "copy.table: checkpoint must be a non-empty string, got boolean",
    ['copy.update { table = "t", set = function() end, pause_ms = "soon" }'] =
      "copy.update: pause_ms must be a number of milliseconds (0 or more), got string",
    ['copy.reset("t")'] = "copy.reset: argument #1 must be a connection (db), got string",
    ['ids.record(db, "n", 7)'] = "ids.record: legacy ids must be a list of strings or numbers, got number",
  } do
    local p = project { ["001_bad.lua"] = MIGRATION:format(call) }
    local rc, _, err = p.weir("up")
    T.eq(rc, 1)
    T.contains(err, "migrations/001_bad.lua:6: " .. expected)
    T.not_contains(err, "stdlib/")
  end
end)

shell.cleanup()
T.done()
