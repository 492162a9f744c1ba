-- Starting a project: `weir init` writes what a project starts from and never overwrites;
-- `weir new` creates migrations/ and numbers ids sequentially or by time, and the runner's
-- order of mixed ids is the documented one; the LuaLS settings give each directory the
-- grammar/ definitions of what runs there.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local _ -- the values a case does not look at

local weir_bin = assert(os.getenv "WEIR")
local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")
local src = assert(os.getenv "WEIR_SOURCE_DIR")
local tmp = shell.tmpdir()

local count = 0
local function fresh_db()
  count = count + 1
  local name = "init_" .. count
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  db:exec("CREATE DATABASE " .. name)
  return (base_url:gsub("/postgres%?", "/" .. name .. "?")), name
end

-- weir in `dir`, with nothing but DATABASE_URL (when given) set for it
local function weir_in(dir, args, url)
  return sh("cd " .. q(dir) .. " && env -u PGHOST -u PGPORT -u PGDATABASE DATABASE_URL=" .. q(url or "") .. " " ..
    q(weir_bin) .. " " .. args)
end

local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local function files_in(dir)
  local _, out = sh("cd " .. q(dir) .. " && find . -mindepth 1 | sort")
  return out
end

T.case("acceptance: weir init, weir new and weir up in an empty directory with only a database URL", function()
  local dir = tmp .. "/first"
  assert(os.execute("mkdir " .. q(dir)))
  local url = fresh_db()
  local rc, out, err = weir_in(dir, "init")
  T.eq({ rc, err }, { 0, "" })
  T.eq(out, table.concat({
    "wrote   weir.lua", "created migrations/", "created tests/", "wrote   tests/example_test.lua",
    "wrote   .luarc.json", "wrote   migrations/.luarc.json", "wrote   tests/.luarc.json",
    "wrote   weir.code-workspace",
    "Next: `weir new NAME` writes a migration; `weir up --db URL` applies it (or",
    "with $DATABASE_URL set, or db in weir.lua).", "" }, "\n"))
  rc, out, err = weir_in(dir, "new add_notes")
  T.eq({ rc, out, err }, { 0, "migrations/001_add_notes.lua\n", "" })
  -- the template's phase does nothing; give it work, as a user would
  local path = dir .. "/migrations/001_add_notes.lua"
  local text = read(path):gsub("%-%- db:exec %[%[CREATE TABLE %.%.%. %]%]", 'db:exec "CREATE TABLE notes (id bigint PRIMARY KEY)"')
  text = text:gsub("%-%- undo what up did", 'db:exec "DROP TABLE notes"')
  shell.write(path, text)
  rc, out, err = weir_in(dir, "up", url)
  T.eq(rc, 0, err)
  T.contains(err, "001_add_notes:expand done")
  local conn <close> = weir.connect(url)
  T.eq(conn:value "SELECT to_regclass('notes') IS NOT NULL", true)
  rc, out, err = weir_in(dir, "status", url)
  T.eq(rc, 0, err)
  T.contains(out, "001_add_notes")
  rc, out, err = weir_in(dir, "test", url)
  T.eq(rc, 0, err)
  T.contains(err, "2 passed, 0 failed")
  rc, out, err = weir_in(dir, "down 001_add_notes", url)
  T.eq(rc, 0, err)
  T.eq(conn:value "SELECT to_regclass('notes')", db.NULL)
end)

T.case("weir init never overwrites, says what it kept, and makes DIR", function()
  local dir = tmp .. "/second/project"
  local rc, out, err = weir_in(tmp, "init second/project")
  T.eq({ rc, err }, { 0, "" })
  T.contains(out, "created second/project/\nwrote   second/project/weir.lua\n")
  T.contains(out, "Next: cd second/project, then `weir new NAME`")
  shell.write(dir .. "/weir.lua", "return { migrations = 'migrations' } -- mine\n")
  local before = files_in(dir)
  os.remove(dir .. "/tests/example_test.lua")
  rc, out, err = weir_in(dir, "init")
  T.eq({ rc, err }, { 0, "" })
  T.contains(out, "kept    weir.lua\nkept    migrations/\nkept    tests/\nwrote   tests/example_test.lua\n")
  T.contains(out, "kept    .luarc.json\n")
  T.eq(read(dir .. "/weir.lua"), "return { migrations = 'migrations' } -- mine\n", "weir.lua kept as it was")
  T.eq(files_in(dir), before, "nothing else appeared")
  -- a file where a directory goes: said, not clobbered
  local odd = tmp .. "/odd"
  assert(os.execute("mkdir -p " .. q(odd) .. " && echo x > " .. q(odd .. "/migrations")))
  rc, out, err = weir_in(odd, "init")
  T.eq(rc, 1)
  T.contains(err, "weir: migrations exists and is not a directory")
  T.eq(read(odd .. "/migrations"), "x\n")
end)

T.case("the written weir.lua loads, and every setting it mentions is one weir.lua takes", function()
  local dir = tmp .. "/third"
  T.eq((weir_in(tmp, "init third")), 0)
  local text = read(dir .. "/weir.lua")
  -- uncomment every setting: the file must still load
  local all = text:gsub("\n  %-%- ([%w_]+ = )", "\n  %1")
  shell.write(dir .. "/weir.lua", all)
  local rc, _, err = sh("cd " .. q(dir) .. " && LEGACY_URL=x DATABASE_URL=postgresql://nowhere/x " .. q(weir_bin) ..
    " completion ids")
  T.eq({ rc, err }, { 0, "" }, "the uncommented weir.lua loads: " .. all)
  local keys = {}
  for key in all:gmatch("\n  ([%w_]+) = ") do keys[#keys + 1] = key end
  T.ok(#keys >= 7, "weir.lua shows the settings: " .. table.concat(keys, ", "))
end)

T.case("the LuaLS settings give each directory the definitions of what runs there", function()
  local dir = tmp .. "/third"
  local function library(file)
    local conf = json.decode(read(dir .. "/" .. file))
    T.eq(conf["runtime.version"], "Lua 5.4", file)
    local names = {}
    for _, path in ipairs(conf["workspace.library"]) do
      T.ok(read(path), file .. " lists " .. path .. ", which exists")
      names[#names + 1] = path:match("[^/]+$")
    end
    table.sort(names)
    return names, conf
  end
  -- which grammar files declare the scoped globals
  local declares = {}
  local _, listing = sh("ls " .. q(src .. "/grammar") .. "/*.lua")
  local scripts = {}
  for path in listing:gmatch("[^\n]+") do
    local text = read(path)
    local name = path:match("[^/]+$")
    for fn in text:gmatch("\nfunction ([%w_]+)%(") do declares[fn] = name end
    if not text:match("^%-%-%-@meta weir%-") then scripts[#scripts + 1] = name end
  end
  table.sort(scripts)
  T.eq(declares.describe, "test.lua")
  T.eq(declares.it, "test.lua")
  T.eq(declares.expect, "test.lua")
  T.eq(declares.env, "project.lua")
  T.ok(read(src .. "/grammar/test.lua"):match("^%-%-%-@meta weir%-test\n"), "test.lua is scoped to tests")
  T.ok(read(src .. "/grammar/project.lua"):match("^%-%-%-@meta weir%-project\n"), "project.lua is scoped to weir.lua")

  local migrations = library("migrations/.luarc.json")
  T.eq(migrations, scripts, "migrations get every module, no describe, no env")
  local tests = library("tests/.luarc.json")
  local expected = { table.unpack(scripts) }
  expected[#expected + 1] = "test.lua"
  table.sort(expected)
  T.eq(tests, expected, "tests get the modules and describe/it/expect, no env")
  local root, conf = library(".luarc.json")
  T.eq(root, { "project.lua" }, "weir.lua gets env and its settings' types")
  T.eq(conf["workspace.ignoreDir"], { "migrations", "tests" }, "the root leaves the other two scopes alone")
  local ws = json.decode(read(dir .. "/weir.code-workspace"))
  T.eq(ws.folders, { { path = "." }, { path = "migrations" }, { path = "tests" } })
end)

T.case("weir new creates migrations/, numbers after the highest, and refuses a bad NAME", function()
  local dir = tmp .. "/new"
  assert(os.execute("mkdir -p " .. q(dir)))
  local rc, out, err = weir_in(dir, "new first")
  T.eq({ rc, out, err }, { 0, "migrations/001_first.lua\n", "weir: created migrations/\n" })
  T.ok(read(dir .. "/migrations/001_first.lua"):find('return migration "001_first"', 1, true))
  shell.write(dir .. "/migrations/0041_wide.lua", "")
  rc, out = weir_in(dir, "new next")
  T.eq({ rc, out }, { 0, "migrations/0042_next.lua\n" })
  rc, out, err = weir_in(dir, "new --dir db/changes other")
  T.eq({ rc, out, err }, { 0, "db/changes/001_other.lua\n", "weir: created db/changes/\n" })
  for _, bad in ipairs { "'bad name'", "'semi;colon'", "'dash-ed'" } do
    rc, out, err = weir_in(dir, "new " .. bad)
    T.eq({ rc, out }, { 2, "" }, bad)
    T.contains(err, "NAME must be letters, digits and '_'", bad)
  end
  rc, out, err = weir_in(dir, "new")
  T.eq(rc, 2)
  T.contains(err, "new: missing NAME")
  rc, out, err = weir_in(dir, "new --timestamp --sequential x")
  T.eq(rc, 2)
  T.contains(err, "--timestamp and --sequential cannot be used together")
end)

T.case("timestamp ids: --timestamp or ids = \"timestamp\", always after what is there", function()
  local dir = tmp .. "/stamps"
  assert(os.execute("mkdir -p " .. q(dir .. "/migrations")))
  shell.write(dir .. "/migrations/002_seq.lua", "")
  local before = os.date("!%Y%m%d%H%M%S")
  local rc, out = weir_in(dir, "new --timestamp stamped")
  local after = os.date("!%Y%m%d%H%M%S")
  T.eq(rc, 0)
  local stamp = out:match("^migrations/(%d+)_stamped%.lua\n$")
  T.ok(stamp and #stamp == 14, out)
  T.ok(stamp >= before and stamp <= after, stamp .. " is the UTC time of the call")
  shell.write(dir .. "/weir.lua", 'return { ids = "timestamp" }')
  rc, out = weir_in(dir, "new by_config")
  T.ok(rc == 0 and out:match("^migrations/%d%d%d%d%d%d%d%d%d%d%d%d%d%d_by_config%.lua\n$"), out)
  -- --sequential: one past the highest number there, so after the timestamps too
  local highest = 0
  for n in select(2, sh("ls " .. q(dir .. "/migrations"))):gmatch("(%d+)_") do highest = math.max(highest, tonumber(n)) end
  rc, out = weir_in(dir, "new --sequential by_flag")
  T.eq({ rc, out }, { 0, "migrations/" .. (highest + 1) .. "_by_flag.lua\n" })
  T.ok(highest + 1 > tonumber(stamp), "sequential after timestamps still sorts last")
  -- a migration from a clock ahead of ours: the new one still sorts after it
  shell.write(dir .. "/migrations/29991231235959_future.lua", "")
  rc, out = weir_in(dir, "new later")
  T.eq({ rc, out }, { 0, "migrations/29991231235960_later.lua\n" })
  shell.write(dir .. "/weir.lua", 'return { ids = "uuid" }')
  local err
  rc, out, err = weir_in(dir, "new x")
  T.eq({ rc, out }, { 1, "" })
  T.eq(err, "weir: weir.lua: ids must be \"sequential\" or \"timestamp\", got 'uuid'\n")
end)

T.case("mixed ids run in the documented order: by leading number, then the whole id", function()
  local dir = tmp .. "/order"
  assert(os.execute("mkdir -p " .. q(dir .. "/migrations")))
  local url = fresh_db()
  local ids = { "20240102030405_stamped", "010_ten", "2_two", "20240102030405_again", "unnumbered", "001_one" }
  for _, id in ipairs(ids) do
    shell.write(dir .. "/migrations/" .. id .. ".lua", ([[
return migration "%s" { phase "p" { up = function(db) db:exec("INSERT INTO ran (id) VALUES ($1)", "%s") end } }
]]):format(id, id))
  end
  local conn <close> = weir.connect(url)
  conn:exec "CREATE TABLE ran (n serial, id text)"
  local rc, _, err = weir_in(dir, "up", url)
  T.eq(rc, 0, err)
  local order = {}
  for _, r in ipairs(conn:query "SELECT id FROM ran ORDER BY n") do order[#order + 1] = r.id end
  T.eq(order, { "001_one", "2_two", "010_ten", "20240102030405_again", "20240102030405_stamped", "unnumbered" })
  -- a timestamp migration merged after later ones were applied still runs (pending is pending)
  shell.write(dir .. "/migrations/20230101000000_late.lua", [[
return migration "20230101000000_late" { phase "p" { up = function(db) db:exec("INSERT INTO ran (id) VALUES ('late')") end } }
]])
  rc, _, err = weir_in(dir, "up", url)
  T.eq(rc, 0, err)
  T.eq(conn:value "SELECT id FROM ran ORDER BY n DESC LIMIT 1", "late")
end)

shell.cleanup()
T.done()
