-- examples/quickstart as its README runs it, from its directory with DATABASE_URL: plan, up,
-- status, down of the last phase, down of everything, its own suite (`weir test`) and `weir
-- test --roundtrip` — on a fresh database, then again on the same database after that up and
-- down.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local ex = require("example").new("quickstart", "qs")
local ID = "001_projects"

local function weir(url, args)
  return sh("cd " .. q(ex.dir) .. " && DATABASE_URL=" .. q(url) .. " " .. q(weir_bin) .. " " .. args)
end

local url, conn = ex.fresh_db()
local before = require("example").inspect(conn)

for _, label in ipairs { "a fresh database", "the same database after an up and a down" } do
  T.case("the README's commands work as written on " .. label, function()
    local dump = shell.pg_dump(url)
    local rc, out, err = weir(url, "plan")
    T.eq(rc, 0, err)
    T.contains(out, "3 pending phases")
    T.contains(out, "CREATE INDEX CONCURRENTLY IF NOT EXISTS projects_owner_idx ON projects (owner)")
    T.contains(out, "`weir up` would succeed")
    T.eq(shell.pg_dump(url), dump, "plan changed nothing")

    rc, out, err = weir(url, "up")
    T.eq(rc, 0, err)
    for _, ph in ipairs { "expand", "index", "backfill" } do T.contains(err, ID .. ":" .. ph .. " done") end
    T.contains(out, "backfilled 1000 slugs")
    T.eq(conn:value "SELECT count(*) FROM projects WHERE slug IS NOT NULL", 1000)
    rc, out = weir(url, "status")
    T.eq(rc, 0)
    T.contains(out, "applied  " .. ID)

    rc, _, err = weir(url, "down " .. ID .. ":backfill")
    T.eq(rc, 0, err)
    T.contains(err, ID .. ":backfill rolled back")
    T.eq(conn:value "SELECT count(*) FROM information_schema.columns WHERE column_name = 'slug'", 0)
    rc, _, err = weir(url, "down " .. ID)
    T.eq(rc, 0, err)
    T.eq(conn:value "SELECT to_regclass('projects')", db.NULL)
    local changes = schema.diff(require("example").inspect(conn), before)
    T.eq(#changes, 0, "down restores the schema:\n" .. schema.script(changes))

    rc, _, err = weir(url, "test")
    T.eq(rc, 0, err)
    T.contains(err, "ok   tests/projects_test.lua: 001_projects › expand creates projects with 1000 seeded rows")
    T.contains(err, "6 passed, 0 failed")

    dump = shell.pg_dump(url)
    rc, _, err = weir(url, "test --roundtrip")
    T.eq(rc, 0, err)
    T.contains(err, "ok   " .. ID .. ": up, verify, down restores the schema")
    T.contains(err, "1 passed, 0 failed")
    T.eq(shell.pg_dump(url), dump, "the roundtrip ran on a copy")
  end)
end

conn:close()
ex.drop_databases()
shell.cleanup()
T.done()
