-- weir plan agrees with weir up on every example (examples/*/ with a migrations directory): on a
-- fresh database (with the example's fixture), plan's verdict is what up then does; and again
-- once the database has weir's state from an up and a down to the start. Each example's
-- outcome is stated, so the two cannot agree by both failing for a reason of the test's own.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local src = assert(os.getenv "WEIR_SOURCE_DIR")

-- What `weir up` does on each example, from a fresh database set up as below: true (every
-- phase applied), or the one reason plan must give for it stopping (voice-plan's complete waits
-- for the rollout to be over: shadow_mode, which its flags phase defines on, turned off, and a
-- dual-write period done).
local EXPECT = {
  ["quickstart"] = true,
  ["feature-planner-schema"] = true,
  ["migration-tool-tables"] = true,
  ["legacy-dispatch"] = true,
  ["v3-consolidation"] = true,
  ["voice-plan"] = "shadow_mode is on",
  ["voice-plan, the rollout over first (roundtrip.lua)"] = true,
}

local examples = {}
for _, name in ipairs(weir.list_dir(src .. "/examples")) do
  if weir.list_dir(src .. "/examples/" .. name .. "/migrations") then examples[#examples + 1] = name end
end
T.ok(#examples >= 6, "found the examples")

-- A fresh database for `name`: its fixture loaded (fixture.lua, into the new database; for
-- legacy-dispatch, generate.lua into the legacy one; for the voice-plan variant, roundtrip.lua,
-- the fixture with the rollout's flags as they stand once it is over). Returns its URL and the
-- environment weir needs for it.
local function prepare(name, variant)
  local ex = require("example").new(name, "pe_" .. name:gsub("%W", "_"))
  local url = ex.fresh_db()
  local env = ""
  if name == "legacy-dispatch" then
    local legacy = ex.fresh_db(ex.made[#ex.made] .. "_legacy")
    local rc, _, err = ex.script(legacy, "generate.lua")
    assert(rc == 0, err)
    env = "LEGACY_URL=" .. q(legacy) .. " "
  elseif io.open(ex.dir .. "/fixture.lua") then
    local rc, _, err = ex.script(url, variant and "roundtrip.lua" or "fixture.lua")
    assert(rc == 0, err)
  end
  if name == "v3-consolidation" then  -- its backup phase writes a pg_dump archive: not into the source tree
    env = "V3_BACKUP_DIR=" .. q(tmp .. "/v3-backups") .. " "
  end
  local function weir(args)
    return sh("cd " .. q(ex.dir) .. " && " .. env .. q(weir_bin) .. " " .. args .. " --db " .. q(url))
  end
  return ex, weir
end

local function first_migration(name)
  local files = weir.list_dir(src .. "/examples/" .. name .. "/migrations")
  table.sort(files)
  return (files[1]:gsub("%.lua$", ""))
end

-- plan, then up: the verdict of one is the outcome of the other, for the expected reason.
local function agree(label, weir, expected)
  local prc, pout, perr = weir("plan")
  T.ok(prc == 0 or prc == 1, label .. ": plan gave a verdict (exit " .. tostring(prc) .. "): " .. perr)
  T.contains(pout, prc == 0 and "`weir up` would succeed" or "`weir up` would FAIL", label)
  local urc, _, uerr = weir("up")
  T.eq(urc, prc, label .. ": plan said " .. (prc == 0 and "succeed" or "FAIL") .. ", up exited " ..
    tostring(urc) .. "\n--- plan:\n" .. pout .. perr .. "\n--- up:\n" .. uerr)
  T.eq(urc, expected == true and 0 or 1, label .. ": up's outcome\n" .. uerr)
  if expected ~= true then
    T.contains(pout, expected, label .. ": plan's reason")
    T.not_contains(pout, "FAILS:", label .. ": no phase fails in plan\n" .. pout)
  end
end

for _, name in ipairs(examples) do
  local variants = { { name } }
  if name == "voice-plan" then variants[2] = { name .. ", the rollout over first (roundtrip.lua)", true } end
  for _, v in ipairs(variants) do
    local label, variant = v[1], v[2]
    T.case(label .. ": plan agrees with up on a fresh database, and after up and down", function()
      T.ok(EXPECT[label] ~= nil, "an outcome for " .. label .. " in EXPECT (a new example?)")
      local ex, weir = prepare(name, variant)
      agree(label .. " (fresh)", weir, EXPECT[label])
      local rc, _, err = weir("down " .. first_migration(name))
      T.eq(rc, 0, "down to the start: " .. err)
      agree(label .. " (after up and down)", weir, EXPECT[label])
      ex.drop_databases()
    end)
  end
end

shell.cleanup()
T.done()
