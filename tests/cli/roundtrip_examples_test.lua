-- weir test --roundtrip on every example's migrations: each migration goes up (verifying),
-- down (restoring the inspected schema) and up again -- on a fresh database holding the
-- example's fixture when it has one.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local src = assert(os.getenv "WEIR_SOURCE_DIR")

local examples = require("example").new("quickstart", "rt_example")
local function database() return (examples.fresh_db()) end

local function roundtrip(example, url, env)
  local dir = src .. "/examples/" .. example
  return sh("cd " .. q(dir) .. " && " .. (env or "") .. " " .. q(weir_bin) .. " test --roundtrip --db " .. q(url) ..
    " --dir migrations")
end

local function fixture(example, url, script)
  local rc, _, err = require("example").new(example).script(url, script or "fixture.lua")
  assert(rc == 0, err)
end

T.case("quickstart", function()
  local url = database()
  local rc, _, err = roundtrip("quickstart", url)
  T.eq(rc, 0, err)
  T.contains(err, "ok   001_projects: up, verify, down restores the schema")
end)

T.case("feature-planner-schema (seed 001)", function()
  local url = database()
  fixture("feature-planner-schema", url)
  local rc, _, err = roundtrip("feature-planner-schema", url)
  T.eq(rc, 0, err)
  T.contains(err, "1 passed, 0 failed")
end)

T.case("migration-tool-tables (seed 004)", function()
  local url = database()
  fixture("migration-tool-tables", url)
  local rc, _, err = roundtrip("migration-tool-tables", url)
  T.eq(rc, 0, err)
  T.contains(err, "3 passed, 0 failed")
end)

T.case("legacy-dispatch (seed 003)", function()
  local url = database()
  local legacy = database()
  fixture("legacy-dispatch", legacy, "generate.lua")
  local rc, _, err = roundtrip("legacy-dispatch", url, "LEGACY_URL=" .. q(legacy))
  T.eq(rc, 0, err)
  T.contains(err, "1 passed, 0 failed")
end)

T.case("voice-plan (seed 000), with its rollout over (shadow mode off, a dual-write period done) so complete may run", function()
  local url = database()
  fixture("voice-plan", url)
  local rc0, _, err0 = sh(q(weir_bin) .. " run --db " .. q(url) .. " -e " .. q('flags.define(db, "shadow_mode"); ' ..
    'flags.define(db, "dual_write", { default = true }); flags.disable(db, "dual_write")'))
  assert(rc0 == 0, err0)
  local rc, _, err = roundtrip("voice-plan", url)
  T.eq(rc, 0, err)
  T.contains(err, "1 passed, 0 failed")
end)

T.case("v3-consolidation (seed 002)", function()
  local url = database()
  fixture("v3-consolidation", url)
  local rc, _, err = roundtrip("v3-consolidation", url)
  T.eq(rc, 0, err)
  T.contains(err, "1 passed, 0 failed")
end)

examples.drop_databases()
shell.cleanup()
T.done()
