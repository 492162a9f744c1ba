-- weir test --roundtrip on every example's migrations, as a user runs it from the example's
-- directory: each migration goes up (verifying), down (restoring the inspected schema and the
-- row counts) and up again -- on a copy holding what the example's fixture (weir.lua's
-- `fixture`) builds, rows included; the database it is pointed at stays empty.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local src = assert(os.getenv "WEIR_SOURCE_DIR")

local examples = require("example").new("quickstart", "rt_example")
local function database() return (examples.fresh_db()) end

local function roundtrip(example, url, env)
  local dir = src .. "/examples/" .. example
  return sh("cd " .. q(dir) .. " && " .. (env or "") .. " " .. q(weir_bin) .. " test --roundtrip --db " .. q(url))
end

-- The database weir was pointed at has no table of its own afterwards: everything ran on the
-- copy, which is gone.
local function untouched(url, err)
  local conn <close> = weir.connect(url)
  T.eq(conn:value "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')", 0,
    "the database weir was pointed at")
  local copy = err:match("roundtrip on a new database (weir_test_%d+_%x+_roundtrip)")
  T.ok(copy, "the roundtrip names its copy: " .. err)
  T.eq(db:value("SELECT count(*) FROM pg_database WHERE datname = $1", copy), 0, "the copy is dropped")
end

T.case("quickstart (no fixture: the database's own schema)", function()
  local url = database()
  local rc, out, err = roundtrip("quickstart", url)
  T.eq(rc, 0, err)
  T.eq(out, "")
  T.contains(err, "starting from the database's schema")
  T.contains(err, "ok   001_projects: up, verify, down restores the schema")
  untouched(url, err)
end)

for _, c in ipairs {
  { "feature-planner-schema", "feature-planner-schema (seed 001)", "fixture.lua", 1 },
  { "migration-tool-tables", "migration-tool-tables (seed 004)", "fixture.lua", 8 },
  -- its backup phase writes a pg_dump archive: into a directory of the test's, not the source tree
  { "v3-consolidation", "v3-consolidation (seed 002)", "fixture.lua", 1, "V3_BACKUP_DIR=" .. q(tmp .. "/v3-backups") },
  { "voice-plan", "voice-plan (seed 000), its roundtrip fixture defining dual_write off", "roundtrip.lua", 1 },
} do
  local example, label, fixture, count, env = c[1], c[2], c[3], c[4], c[5]
  T.case(label .. ", from its fixture with its rows", function()
    local url = database()
    local rc, _, err = roundtrip(example, url, env)
    T.eq(rc, 0, err)
    T.contains(err, "starting from what " .. fixture .. " builds")
    T.contains(err, ("%d passed, 0 failed"):format(count))
    untouched(url, err)
  end)
end

T.case("legacy-dispatch (seed 003): an empty new database, the legacy one read through $LEGACY_URL", function()
  local url = database()
  local legacy = database()
  local rc0, _, err0 = require("example").new("legacy-dispatch").script(legacy, "generate.lua")
  assert(rc0 == 0, err0)
  local rc, _, err = roundtrip("legacy-dispatch", url, "LEGACY_URL=" .. q(legacy))
  T.eq(rc, 0, err)
  T.contains(err, "1 passed, 0 failed")
  untouched(url, err)
end)

examples.drop_databases()
shell.cleanup()
T.done()
