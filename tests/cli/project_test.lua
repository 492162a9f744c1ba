-- The project file weir.lua: defaults for every command, overridden by flags; env "VAR"
-- references; one-line errors for bad files.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")

local MIGRATION = [[
return migration "001_settings" {
  phase "record" {
    up = function(db)
      db:exec "CREATE TABLE seen (lock_timeout text, statement_timeout text)"
      db:exec "INSERT INTO seen SELECT current_setting('lock_timeout'), current_setting('statement_timeout')"
    end,
    down = function(db) db:exec "DROP TABLE seen" end,
  },
}
]]

-- A project whose migrations live in db/migrations, configured by `config` (a function of the
-- project's URL returning the text of weir.lua).
local function project(config)
  local p = require("project").new("proj")
  assert(os.execute("mkdir -p " .. q(p.dir .. "/db/migrations")))
  local f = assert(io.open(p.dir .. "/db/migrations/001_settings.lua", "w"))
  f:write(MIGRATION)
  f:close()
  function p.config(text)
    local cf = assert(io.open(p.dir .. "/weir.lua", "w"))
    cf:write(text)
    cf:close()
  end
  -- weir without --db: everything comes from weir.lua
  function p.bare(args, env)
    return sh("cd " .. q(p.dir) .. " && " .. (env or "") .. " " .. q(weir_bin) .. " " .. args)
  end
  if config then p.config(config(p.url)) end
  return p
end

T.case("weir.lua supplies the migrations directory, schema, database and timeouts", function()
  local p = project(function(url)
    return ([[
-- project settings
return {
  migrations = "db/migrations",
  schema = "deploy_state",
  db = env("PROJ_URL", %q),
  lock_timeout = "1500ms",
  statement_timeout = "2min",
  lock_wait = 5,
  retries = 2,
}
]]):format(url)
  end)
  local rc, _, err = p.bare("up", "PROJ_URL=")  -- empty counts as unset: the default applies
  T.eq(rc, 0, err)
  T.contains(err, "001_settings:record done")
  T.eq(p.value "SELECT count(*) FROM deploy_state.phases WHERE state = 'done'", 1)
  T.eq(p.value "SELECT to_regnamespace('weir') IS NULL", true)
  local row = p.conn:one "SELECT * FROM seen"
  T.eq(row.lock_timeout, "1500ms")
  T.eq(row.statement_timeout, "2min")
  local rc2, out = p.bare("status")
  T.eq(rc2, 0)
  T.contains(out, "applied  001_settings")
end)

T.case("command-line flags override weir.lua", function()
  local p = project(function(url)
    return ([[return { migrations = "db/migrations", db = %q, lock_timeout = 1500 }]]):format(url)
  end)
  local rc, _, err = p.bare("up --schema other_state --lock-timeout 700")
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT count(*) FROM other_state.phases", 1)
  T.eq(p.value "SELECT lock_timeout FROM seen", "700ms")
  -- --dir beats migrations: an empty directory has nothing pending
  assert(os.execute("mkdir -p " .. q(p.dir .. "/empty")))
  local rc2, out2 = p.bare("status --dir empty --schema other_state")
  T.eq(rc2, 1, "the applied migration's file is missing from --dir")
  T.contains(out2, "001_settings  [applied, but its file is missing]")
end)

T.case("bad safety-rail flags are usage errors naming the option and the value; nothing runs", function()
  local p = project(function(url) return ([[return { migrations = "db/migrations", db = %q }]]):format(url) end)
  for _, c in ipairs {
    { "--statement-timeout abc", "--statement-timeout: 'abc' is not a duration" },
    { "--statement-timeout 15minutes", "--statement-timeout: '15minutes' is not a duration" },
    { "--statement-timeout=-5", "--statement-timeout: '-5' is not a duration" },
    { "--lock-timeout 0.5", "--lock-timeout: '0.5' is not a whole number of milliseconds" },
    { "--lock-timeout 1e99", "--lock-timeout: '1e99' is not a duration" },
    { "--lock-timeout 99999999999", "--lock-timeout: '99999999999' is too long: at most 24.8 days (2147483647ms" },
    { "--lock-wait abc", "--lock-wait: 'abc' is not a duration: expected a number of seconds" },
    { "--retries -1", "--retries: '-1' is not a count" },
    { "--retries 1.5", "--retries: '1.5' is not a count" },
    { "--retries 99999999999", "--retries: '99999999999' is not a count" },
  } do
    -- plan takes the statement rails only: it waits for no lock and retries nothing
    local plan_takes = not c[1]:match("^%-%-lock%-wait") and not c[1]:match("^%-%-retries")
    for _, command in ipairs(plan_takes and { "up", "plan", "down --steps 1" } or { "up", "down --steps 1" }) do
      local rc, out, err = p.bare(command .. " " .. c[1])
      T.eq(rc, 2, command .. " " .. c[1] .. ": " .. err)
      T.eq(out, "")
      T.contains(err, "weir: " .. c[2], c[1])
      T.eq(select(2, err:gsub("\n", "")), 1, "one line: " .. err)
    end
  end
  T.eq(p.value "SELECT to_regclass('public.seen') IS NULL", true, "nothing ran")
end)

T.case("good safety-rail flags take effect in the phase's session, units and all", function()
  local p = project(function(url) return ([[return { migrations = "db/migrations", db = %q }]]):format(url) end)
  for _, c in ipairs {
    { "--statement-timeout 15min --lock-timeout 500ms", "500ms", "15min" },
    { "--statement-timeout 500ms --lock-timeout 1.5s", "1500ms", "500ms" },
    { "--statement-timeout=90s --lock-timeout=250 --lock-wait 2min --retries 0", "250ms", "90s" },
    { "--statement-timeout 1h --lock-timeout 0", "0", "1h" },
  } do
    local rc, _, err = p.bare("up " .. c[1])
    T.eq(rc, 0, c[1] .. ": " .. err)
    local row = p.conn:one "SELECT * FROM seen"
    T.eq(row.lock_timeout, c[2], c[1])
    T.eq(row.statement_timeout, c[3], c[1])
    rc, _, err = p.bare("down --steps 1")
    T.eq(rc, 0, err)
  end
end)

T.case("--db NAME picks a connection of weir.lua; weir.connection reaches the others", function()
  local p = project(function(url)
    return ([[return { connections = { app = %q, reports = %q } }]]):format(url, url)
  end)
  local rc, out, err = p.bare([[run --db app -e 'print(db:value "SELECT 40 + 2", weir.connection("reports"):value "SELECT current_database()")']])
  T.eq(rc, 0, err)
  T.eq(out, "42\t" .. p.name .. "\n")
end)

T.case("--config names the file; relative paths in it are relative to it", function()
  local p = project()
  local cf = assert(io.open(p.dir .. "/db/settings.lua", "w"))
  cf:write(([[return { migrations = "migrations", db = %q }]]):format(p.url))
  cf:close()
  local rc, _, err = sh("cd / && " .. q(weir_bin) .. " up --config " .. q(p.dir .. "/db/settings.lua"))
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT count(*) FROM seen", 1)
end)

T.case("an env reference without a value fails in one line, only when it is used", function()
  local p = project(function(url)
    return ([[return { db = %q, connections = { legacy = env "WEIR_TEST_UNSET_LEGACY" } }]]):format(url)
  end)
  local rc, out = p.bare([[run -e 'print(db:value "SELECT 1")']])
  T.eq(rc, 0)
  T.eq(out, "1\n")
  local rc2, _, err2 = p.bare([[run -e 'weir.connection("legacy")']])
  T.eq(rc2, 1)
  T.contains(err2, "weir.lua: connections.legacy reads $WEIR_TEST_UNSET_LEGACY, which is not set")
  p.config([[return { db = env "WEIR_TEST_UNSET_DB" }]])
  local rc3, _, err3 = p.bare("status")
  T.eq(rc3, 1)
  T.eq(err3, "weir: weir.lua: db reads $WEIR_TEST_UNSET_DB, which is not set\n")
end)

T.case("vars reach weir.var in migrations, scripts and fixtures; env references are read when weir starts", function()
  local p = project(function(url)
    return ([[return { migrations = "db/migrations", db = %q,
                       vars = { schema = env("PROJ_SCHEMA", "public"), batch = 500, where = "text with spaces" } }]]):format(url)
  end)
  local show = [[run -e 'print(weir.var "schema", weir.var "batch", weir.var "where", weir.var("absent", "fallback"))']]
  local rc, out, err = p.bare(show)
  T.eq(rc, 0, err)
  T.eq(out, "public\t500\ttext with spaces\tfallback\n")
  rc, out, err = p.bare(show, "PROJ_SCHEMA=app")
  T.eq(rc, 0, err)
  T.eq(out, "app\t500\ttext with spaces\tfallback\n")
  -- a migration reads it when it is loaded, and in its phases
  local f = assert(io.open(p.dir .. "/db/migrations/002_var.lua", "w"))
  f:write([[
local SCHEMA = weir.var "schema"
return migration "002_var" {
  phase "make" {
    up = function(db) db:exec("CREATE SCHEMA " .. SCHEMA .. "; CREATE TABLE " .. SCHEMA .. ".t (x int)") end,
    down = function(db) db:exec("DROP TABLE " .. SCHEMA .. ".t; DROP SCHEMA " .. SCHEMA) end,
  },
}
]])
  f:close()
  local _
  rc, _, err = p.bare("up", "PROJ_SCHEMA=app")
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT to_regclass('app.t') IS NOT NULL", true)
  rc, _, err = p.bare("down 002_var", "PROJ_SCHEMA=app")
  T.eq(rc, 0, err)
  T.eq(p.value "SELECT to_regnamespace('app') IS NULL", true)
  -- a var weir.lua does not set, without a default: one line naming it and what is set
  rc, _, err = p.bare([[run -e 'weir.var "shcema"']])
  T.eq(rc, 1)
  T.contains(err, "weir.var: no var 'shcema' in weir.lua (it sets batch, schema, where); set it in weir.lua's vars, or pass a default")
  -- an env reference without a value: an error when used, even with a default in the script
  p.config(([[return { db = %q, vars = { schema = env "WEIR_TEST_UNSET_SCHEMA" } }]]):format(p.url))
  rc, out = p.bare([[run -e 'print(db:value "SELECT 1")']])
  T.eq(rc, 0)
  T.eq(out, "1\n")
  rc, _, err = p.bare([[run -e 'weir.var("schema", "public")']])
  T.eq(rc, 1)
  T.eq(err:match("^[^\n]*"), "(command line):1: weir.var: weir.lua: vars.schema reads $WEIR_TEST_UNSET_SCHEMA, which is not set")
end)

T.case("bad project files are rejected in one line naming the file", function()
  local p = project()
  local cases = {
    { "return { migratons = 'x' }", "weir: weir.lua: unknown setting 'migratons' (known: migrations," },
    { "return {\n  schema = ,\n}", "weir: weir.lua:2: unexpected symbol near ','" },
    { "return { retries = 'many' }", "weir: weir.lua: retries must be a non-negative integer" },
    { "return { retries = -1 }", "weir: weir.lua: retries must be a non-negative integer" },
    { "return { retries = 1e99 }", "weir: weir.lua: retries must be a non-negative integer" },
    { "return { lock_timeout = '2 weeks' }", "weir: weir.lua: lock_timeout: '2 weeks' is not a duration: expected a number of milliseconds" },
    { "return { lock_timeout = 0.5 }", "weir: weir.lua: lock_timeout: 0.5 is not a whole number of milliseconds" },
    { "return { lock_timeout = 1e99 }", "weir: weir.lua: lock_timeout: 1e+99 is too long: at most 24.8 days (2147483647ms" },
    { "return { statement_timeout = '15minutes' }", "weir: weir.lua: statement_timeout: '15minutes' is not a duration" },
    { "return { statement_timeout = '-1s' }", "weir: weir.lua: statement_timeout: '-1s' is not a duration" },
    { "return { lock_wait = 'abc' }", "weir: weir.lua: lock_wait: 'abc' is not a duration: expected a number of seconds" },
    { "return { lock_wait = {} }", "weir: weir.lua: lock_wait: a table is not a duration" },
    { "return { db = 42 }", "weir: weir.lua: db must be a URL string or env \"NAME\", got number" },
    { "return { vars = 'schema' }", "weir: weir.lua: vars must be a table of NAME = value" },
    { "return { vars = env 'X' }", "weir: weir.lua: vars must be a table of NAME = value" },
    { "return { vars = { 'public' } }", "weir: weir.lua: var names must be strings" },
    { "return { vars = { schema = true } }", "weir: weir.lua: vars.schema must be a string, a number or env \"NAME\", got boolean" },
    { "return 'settings'", "weir: weir.lua: must return a table of settings, got string" },
    { "return { migrations = io.read() }", "weir: weir.lua:1: attempt to index a nil value (global 'io')" },
  }
  for _, c in ipairs(cases) do
    p.config(c[1])
    local rc, _, err = p.bare("status")
    T.eq(rc, 1, c[1])
    T.contains(err, c[2])
    T.eq(select(2, err:gsub("\n", "")), 1, "one line: " .. err)
  end
  local rc, _, err = p.bare("status --config missing.lua")
  T.eq(rc, 2)
  T.contains(err, "--config: missing.lua does not exist")
end)

T.case("an error in weir.lua that quotes a secret shows it masked", function()
  -- Lua's messages quote the token they stopped at and the values they were given: an unfinished
  -- string holding a URL or a password, a value weir.lua rejects, an error() a file raises.
  local p = project()
  local cases = {
    { 'return { db = "postgresql://bob:Hunter2secret@localhost/x }', "unfinished string near" },
    { 'local url = "postgres://bob:Hunter2secret@localhost/x"\nreturn { db = url, lock_wait = url }', "is not a duration" },
    { 'local password = "Hunter2secret\nreturn {}', "unfinished string near" },
    { 'local db_password = "Hunter2secret"\nreturn { retries = db_password }', "retries must be" },
    { 'local pw = { password = "Hunter2secret" }\nreturn { lock_timeout = pw.password }', "is not a duration" },
    { 'return { db = "host=x passwd=Hunter2secret dbname=y }', "unfinished string near" },
    { "return { db = 'host=x password=Hunter2secret dbname=y', lock_wait = 'host=x password=Hunter2secret' }", "is not a duration" },
    { 'return { lock_timeout = "jdbc:postgresql://h/x?user=u&password=Hunter2secret" }', "is not a duration" },
    { 'return { statement_timeout = "https://deploy:Hunter2secret@ci.example.com/hook" }', "is not a duration" },
    { 'error("cannot reach mysql://root:Hunter2secret@db/app")', "cannot reach" },
    { 'return { connections = { a = "postgresql://u:Hunter2secret@h/x" }, schema = }', "unexpected symbol" },
  }
  for _, c in ipairs(cases) do
    p.config(c[1] .. "\n")
    local rc, out, err = p.bare("status")
    T.eq(rc, 1, c[1])
    T.contains(err, c[2], c[1])
    T.not_contains(out .. err, "Hunter2secret", c[1])
    T.eq(select(2, err:gsub("\n", "")), 1, "one line: " .. err)
  end
end)

T.case("the settings weir.lua accepts are the ones grammar/project.lua declares", function()
  local p = project()
  p.config("return { nonsense = 1 }")
  local _, _, err = p.bare("status")
  local known = {}
  for name in err:match("%(known: ([^)]*)%)"):gmatch("[%w_]+") do known[#known + 1] = name end
  table.sort(known)
  local declared = {}
  for line in io.lines(assert(os.getenv "WEIR_SOURCE_DIR") .. "/grammar/project.lua") do
    local name = line:match("^%-%-%-@field ([%w_]+)%?")
    if name then declared[#declared + 1] = name end
  end
  table.sort(declared)
  T.eq(known, declared)
end)

shell.cleanup()
T.done()
