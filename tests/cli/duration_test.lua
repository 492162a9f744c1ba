-- One duration rule everywhere (pg/duration.hpp, docs/migrations.md): the command line
-- (--lock-wait), weir.lua (lock_wait), a phase's `timeout` and weir.duration accept and refuse
-- the same texts, all in seconds when no unit is written; values past 24.8 days are refused
-- (they overflowed a clock: a phase timeout of 1e99 timed out at once); weir.deadline and
-- weir.sleep refuse them too. An empty --schema is refused as weir.lua refuses it.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local url = assert(os.getenv "WEIR_TEST_URL")

local ACCEPTED = { "500ms", "1.5s", "90s", "10min", "10 min", "1.5 s", "1h", "2h", "90", "0.5", "1.25",
  "2147483647ms", "596h", "35791min" }
local REFUSED = { " 5s", "5s ", "5 ", "5  s", "\t5s", "1e3", "1e3s", "-1", "-1s", "+5s", "abc", "", "5S", "5 sec",
  "10 mins", "10minutes", "99999999999h", "2147483648ms", "597h", "0.0005", "0.5ms", "1.5.2s", "0x10", ".",
  "s", "5;s" }

local dir = tmp .. "/project"
assert(os.execute("mkdir -p " .. q(dir .. "/migrations")))

local function write(path, text) shell.write(dir .. "/" .. path, text) end

local function status(extra, command)
  return sh("cd " .. q(dir) .. " && DATABASE_URL= " .. q(weir_bin) .. " " .. (command or "status") .. " --db " ..
    q(url) .. " " .. (extra or ""))
end

-- Whether each place takes `text`: the exit code tells (2: usage error, 1: refused at load).
local function verdicts(text)
  os.remove(dir .. "/weir.lua")
  os.remove(dir .. "/migrations/001_d.lua")
  local cli = status("--lock-wait " .. q(text), "up")  -- an empty directory: nothing to do
  write("weir.lua", ("return { lock_wait = %q }"):format(text))
  local project, _, perr = status()
  os.remove(dir .. "/weir.lua")
  write("migrations/001_d.lua", ('return migration "001_d" {\n  phase "a" { timeout = %q, up = function(db) end },\n}\n'):format(text))
  local phase, _, pherr = status()
  os.remove(dir .. "/migrations/001_d.lua")
  local ok = weir.duration(text) ~= nil
  return { cli = cli == 0, project = project == 0, phase = phase == 0, duration = ok }, perr .. pherr
end

T.case("the command line, weir.lua, a phase's timeout and weir.duration accept the same durations", function()
  for _, text in ipairs(ACCEPTED) do
    local v, err = verdicts(text)
    T.eq(v, { cli = true, project = true, phase = true, duration = true }, ("%q: %s"):format(text, err))
  end
end)

T.case("... and refuse the same ones, each in one line naming the value", function()
  for _, text in ipairs(REFUSED) do
    local v = verdicts(text)
    T.eq(v, { cli = false, project = false, phase = false, duration = false }, ("%q"):format(text))
  end
  local rc, _, err = status("--lock-wait 99999999999h", "up")
  T.eq(rc, 2)
  T.contains(err, "weir: --lock-wait: '99999999999h' is too long: at most 24.8 days (2147483647ms, " ..
    "PostgreSQL's limit for its timeouts)")
  T.eq(select(2, err:gsub("\n", "")), 1, "one line: " .. err)
end)

T.case("huge numbers are refused as phase timeouts, never a timeout at once", function()
  for _, n in ipairs { "1e99", "2^63", "9.3e15", "math.huge", "0/0", "2147484" } do
    write("migrations/001_d.lua", ('return migration "001_d" {\n  phase "a" { timeout = %s, up = function(db) end },\n}\n'):format(n))
    local rc, _, err = status()
    T.eq(rc, 1, n)
    T.contains(err, "001_d.lua:2: phase 'a': timeout ", n)
    T.ok(err:find("is too long: at most 24.8 days", 1, true) or err:find("is not a duration", 1, true), n .. ": " .. err)
    T.eq(select(2, err:gsub("\n", "")), 1, "one line: " .. err)
  end
  os.remove(dir .. "/migrations/001_d.lua")
  -- the longest timeout allowed runs the phase to its end
  write("migrations/001_d.lua", 'return migration "001_d" {\n  phase "a" { timeout = 2147483, up = function(db) db:exec "SELECT 1" end },\n}\n')
  local rc, _, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " up --db " .. q(url))
  T.eq(rc, 0, err)
  T.contains(err, "001_d:a done")
  sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " down 001_d --db " .. q(url))
  os.remove(dir .. "/migrations/001_d.lua")
end)

T.case("weir.deadline and weir.sleep refuse what no duration allows", function()
  for _, n in ipairs { 1e99, 2 ^ 63, 9.3e15, 2147484 } do
    T.contains(T.raises(weir.deadline, n), "too long: at most 2147483.647 (24.8 days)")
    T.contains(T.raises(weir.sleep, n), "too long: at most 2147483.647 (24.8 days)")
  end
  local d <close> = weir.deadline(2147483)
  T.eq(d:expired(), false, "the longest deadline does not expire at once")
  T.eq(weir.duration(1.5), 1.5)
  T.eq(weir.duration("10 min"), 600)
  T.eq({ weir.duration(" 5s") }, { nil, "is not a duration: expected a number of seconds, or a number with ms, s, min or h: 500ms, 1.5s, 15min, 1h" })
end)

T.case("an empty --schema is a usage error, as an empty schema in weir.lua is an error", function()
  for _, command in ipairs { "status", "up", "plan", "inspect", "diff --base x" } do
    local rc, out, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " " .. command .. " --schema '' --db " .. q(url))
    T.eq(rc, 2, command .. ": " .. err)
    T.eq(out, "")
    T.contains(err, "weir: --schema: '' is not a schema name: expected a non-empty name", command)
    T.eq(select(2, err:gsub("\n", "")), 1, "one line: " .. err)
  end
  write("weir.lua", "return { schema = '' }")
  local rc, _, err = status()
  T.eq(rc, 1)
  T.contains(err, "schema must be a non-empty string")
  os.remove(dir .. "/weir.lua")
end)

shell.cleanup()
T.done()
