-- test: own cluster (it counts weir test's roundtrip copies on the whole server)
-- weir test --roundtrip on a database that has applied a migration whose file is no longer in
-- the project: the copy starts from that database, so the missing migration's work is in every
-- "before" the roundtrip compares with and nothing can roll it back. The run fails naming it
-- (before the fix it printed "1 passed, 0 failed" and exited 0). Migrations the database
-- rolled back, and a run that starts from a fixture, are not held against it.
local T = require "testing"
local shell = require "shell"
shell.tmpdir()

local A = [[
return migration "001_a" {
  phase "p" {
    up = function(db) db:exec "CREATE TABLE rt_a (id int)" end,
    down = function(db) db:exec "DROP TABLE rt_a" end,
  },
}
]]
local B = [[
return migration "002_b" {
  phase "p" {
    up = function(db) db:exec "CREATE TABLE rt_b (id int)" end,
    down = function(db) db:exec "DROP TABLE rt_b" end,
  },
}
]]

local function dropped_copies(p)
  return p.value("SELECT count(*) FROM pg_catalog.pg_database WHERE datname LIKE 'weir\\_test\\_%\\_roundtrip'")
end

T.case("an applied migration whose file is missing fails the roundtrip, named", function()
  local p = require("project").new("rtmiss", { ["001_a.lua"] = A, ["002_b.lua"] = B })
  local rc, _, err = p.weir("up")
  T.eq(rc, 0, err)
  os.remove(p.dir .. "/migrations/002_b.lua")
  rc, _, err = p.weir("test --roundtrip")
  T.eq(rc, 1, err)
  T.contains(err, "002_b")
  T.contains(err, "file is missing")
  T.not_contains(err, "0 failed")
  T.eq(p.value "SELECT to_regclass('rt_b') IS NOT NULL", true, "the database itself is untouched")
  T.eq(dropped_copies(p), 0, "no copy left behind")
end)

T.case("a migration the database rolled back may be gone from the project", function()
  local p = require("project").new("rtgone", { ["001_a.lua"] = A, ["002_b.lua"] = B })
  local rc, _, err = p.weir("up")
  T.eq(rc, 0, err)
  rc, _, err = p.weir("down 002_b")
  T.eq(rc, 0, err)
  os.remove(p.dir .. "/migrations/002_b.lua")
  rc, _, err = p.weir("test --roundtrip")
  T.eq(rc, 0, err)
  T.contains(err, "1 passed, 0 failed")
end)

T.case("with a fixture the roundtrip starts from it, not from the database's history", function()
  local p = require("project").new("rtfix", { ["001_a.lua"] = A, ["002_b.lua"] = B })
  local rc, _, err = p.weir("up")
  T.eq(rc, 0, err)
  os.remove(p.dir .. "/migrations/002_b.lua")
  shell.write(p.dir .. "/fixture.lua", "db:exec 'CREATE TABLE seed (id int)'\n")
  rc, _, err = p.weir("test --roundtrip --fixture fixture.lua")
  T.eq(rc, 0, err)
  T.contains(err, "1 passed, 0 failed")
end)

shell.cleanup()
T.done()
