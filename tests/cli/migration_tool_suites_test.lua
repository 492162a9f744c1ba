-- examples/migration-tool-tables as its README runs it, from its directory with DATABASE_URL
-- set: its own `weir test` suites (tests/ in the example), and `weir up`, `status`, `plan`,
-- `down` and `weir test --roundtrip` on a database where the migrations are applied, and on
-- one where they were applied and rolled back.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")

local ex = require("example").new("migration-tool-tables", "mtool_suites")

-- `weir ARGS` from the example's directory, DATABASE_URL=url (none when url is nil).
local function weir(url, args)
  return sh("cd " .. q(ex.dir) .. " && DATABASE_URL=" .. q(url or "") .. " " .. q(weir_bin) .. " " .. args)
end

T.case("the example's weir test suites pass, run from its directory", function()
  -- on a throwaway cluster of their own: the suites that count weir test's databases in the
  -- shared cluster (weir_test_test.lua) must not see these
  local rc, out, err = weir(nil, "test --ephemeral")
  T.eq(rc, 0, err)
  T.eq(out, "")
  T.not_contains(err, "FAIL")
  local passed = tonumber(err:match("(%d+) passed, 0 failed"))
  T.ok(passed and passed >= 30, "the suites ran: " .. err)
  for _, file in ipairs { "jobs", "events", "rls", "schema", "maintenance", "flags" } do
    T.contains(err, "ok   tests/" .. file .. "_test.lua: ")
  end
end)

-- (On a fresh database, `weir plan` and `weir test --roundtrip` run in plan_examples_test.lua,
-- roundtrip_examples_test.lua and migration_tool_test.lua.)
T.case("up, status, test --roundtrip, down, plan: on a database with the migrations applied, then rolled back", function()
  local url = ex.fresh_db()
  local _
  local rc, out, err = weir(url, "run fixture.lua")
  T.eq(rc, 0, err)
  T.contains(out, "fixture loaded")
  rc, _, err = weir(url, "up")
  T.eq(rc, 0, err)
  T.contains(err, "008_rollout_flags:canary_health done")
  -- applied
  rc, out = weir(url, "status")
  T.eq(rc, 0)
  T.not_contains(out, "pending")
  rc, out, err = weir(url, "plan")
  T.eq(rc, 0, err)
  T.contains(out .. err, "nothing to plan: every phase is applied")
  rc, _, err = weir(url, "test --roundtrip --no-fixture")
  T.eq(rc, 0, err)
  T.contains(err, "starting from the database's schema and weir's state")
  T.contains(err, "rolled back 008_rollout_flags on the copy (the database has it applied)")
  T.contains(err, "ok   006_analytics_enterprise_verification: up, verify, down restores the schema; up rebuilds the schema the database has")
  T.contains(err, "8 passed, 0 failed")
  -- rolled back
  rc, _, err = weir(url, "down 001_migration_retries_links")
  T.eq(rc, 0, err)
  T.contains(err, "001_migration_retries_links:pgcrypto rolled back")
  rc, out, err = weir(url, "plan")
  T.eq(rc, 0, err)
  T.contains(out, "20 pending phases")
  T.contains(out, "`weir up` would succeed")
  rc, _, err = weir(url, "test --roundtrip --no-fixture")
  T.eq(rc, 0, err)
  T.contains(err, "8 passed, 0 failed")
  rc, _, err = weir(url, "up")
  T.eq(rc, 0, err)
  rc, out = weir(url, "status")
  T.eq(rc, 0)
  T.not_contains(out, "pending")
end)

ex.drop_databases()
shell.cleanup()
T.done()
