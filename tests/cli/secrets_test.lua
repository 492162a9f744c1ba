-- Secrets never reach a message, a record or another process's command line: passwords of
-- connection targets of any shape are masked in every message (the --connect usage error
-- too); `weir plan` hands pg_dump and psql every setting (password and sslpassword too) in a
-- service file read from a pipe, never in their argv (seen through pg_dump and psql wrappers
-- found by weir's own bindir lookup); a password spliced into SQL is '***' in plan's output and in what a failed phase leaves in weir.phases, weir.events, the
-- --events file, `weir status` and weir up's stderr.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")

local SECRET = "S3cret-pw-4711"

local function run_weir(args, env) return sh((env or "DATABASE_URL=") .. " " .. q(weir_bin) .. " " .. args) end

-- ---------------------------------------------------------------------------------------------
-- 16: masking whatever the shape

T.case("a target of any shape is shown with its password masked", function()
  local shapes = {
    "postgresql+psycopg2://u:" .. SECRET .. "@127.0.0.1:1/db",
    "jdbc:postgresql://127.0.0.1:1/db?user=u&password=" .. SECRET,
    "jdbc:postgresql://u:" .. SECRET .. "@127.0.0.1:1/db",
    "PostgreSQL://u:" .. SECRET .. "@127.0.0.1:1/db",
    "postgress://u:" .. SECRET .. "@127.0.0.1:1/db",
    "postgresql//u:" .. SECRET .. "@127.0.0.1:1/db",
    "postgresql://u@127.0.0.1:1/db?%70assword=" .. SECRET,
    "postgresql://u@127.0.0.1:1/db?sslpassword=" .. SECRET .. "&sslmode=disable",
    "host=127.0.0.1 port=1 password=" .. SECRET,
    "host=127.0.0.1 port=1 PASSWORD=" .. SECRET,
    "host=127.0.0.1 port=1 password='" .. SECRET .. "'",
  }
  for _, target in ipairs(shapes) do
    for _, how in ipairs { "--db", "DATABASE_URL" } do
      local rc, out, err
      if how == "--db" then
        rc, out, err = run_weir("run --db " .. q(target) .. " -e 'print(1)'")
      else
        rc, out, err = run_weir("run -e 'print(1)'", "DATABASE_URL=" .. q(target))
      end
      T.eq(rc, 1, target .. " via " .. how)
      T.contains(err, "cannot connect to ", target)
      T.contains(err, "***", target .. " via " .. how .. ": masked")
      T.not_contains(out .. err, SECRET, target .. " via " .. how)
    end
  end
end)

T.case("the --connect usage error masks the URL, and a URL is never taken as a NAME", function()
  for _, spec in ipairs {
    "postgresql://u:" .. SECRET .. "@127.0.0.1:1/db",
    "postgresql://u:" .. SECRET .. "@127.0.0.1:1/db?sslmode=disable",
    "jdbc:postgresql://127.0.0.1:1/db?password=" .. SECRET,
  } do
    local rc, _, err = run_weir("run --connect " .. q(spec) .. " -e 'weir.connection(\"x\")'")
    T.eq(rc, 2, spec)
    T.contains(err, "--connect expects NAME=URL", spec)
    T.contains(err, "***", spec)
    T.not_contains(err, SECRET, spec)
  end
end)

-- ---------------------------------------------------------------------------------------------
-- 15: pg_dump's command line

-- A bindir whose pg_dump and psql record their argv, PGPASSWORD and the service file weir hands
-- them (read from PGSERVICEFILE, then served again from a file for the real program), then run
-- the real ones; weir finds it through `pg_config --bindir`, as it finds the real one.
local real_bindir = (select(2, sh("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1")):gsub("%s+$", ""))
local bindir = tmp .. "/bin"
assert(os.execute("mkdir -p " .. q(bindir) .. " && chmod 755 " .. q(tmp) .. " " .. q(bindir)))
for _, prog in ipairs { "initdb", "postgres" } do
  assert(os.execute("ln -s " .. q(real_bindir .. "/" .. prog) .. " " .. q(bindir .. "/" .. prog)))
end
for _, prog in ipairs { "pg_dump", "psql" } do
  local calls = q(tmp .. "/calls")
  shell.write(bindir .. "/" .. prog, ([[#!/bin/sh
n=$(ls %s | grep -c '^argv' || true)
printf '%%s\n' %s "$@" > %s/argv.$n
printf '%%s' "${PGPASSWORD-(unset)}" > %s/env.$n
printf '%%s' "${PGSERVICEFILE-(unset)}" > %s/servicefile.$n
if [ -n "$PGSERVICEFILE" ]; then
  cat "$PGSERVICEFILE" > %s/service.$n
  PGSERVICEFILE=%s/service.$n
  export PGSERVICEFILE
fi
exec %s/%s "$@"
]]):format(calls, prog, calls, calls, calls, calls, calls, q(real_bindir), prog))
  assert(os.execute("chmod 755 " .. q(bindir .. "/" .. prog)))
end
shell.write(bindir .. "/pg_config", "#!/bin/sh\necho " .. q(bindir) .. "\n")
assert(os.execute("chmod 755 " .. q(bindir .. "/pg_config")))

local function calls()
  local out = {}
  for i = 0, 9 do
    local f = io.open(tmp .. "/calls/argv." .. i)
    if not f then break end
    local service = io.open(tmp .. "/calls/service." .. i)
    out[#out + 1] = { argv = f:read("a"), env = T.read(tmp .. "/calls/env." .. i),
      servicefile = T.read(tmp .. "/calls/servicefile." .. i), service = service and service:read("a") or "" }
    f:close()
    if service then service:close() end
  end
  return out
end

local pw_db = "secrets_pw"
db:exec("DROP DATABASE IF EXISTS " .. pw_db .. " WITH (FORCE)")
db:exec("DROP ROLE IF EXISTS secrets_owner")
db:exec("CREATE ROLE secrets_owner LOGIN SUPERUSER PASSWORD '" .. SECRET .. "'")
db:exec("CREATE DATABASE " .. pw_db .. " OWNER secrets_owner")
local pw_url = base_url:gsub("/postgres%?", "/" .. pw_db .. "?"):gsub("//postgres@", "//secrets_owner:" .. SECRET .. "@")
T.ok(pw_url:find(SECRET, 1, true) and pw_url:find(pw_db, 1, true), "the URL has the password: " .. pw_url)

local project = tmp .. "/pwproject"
assert(os.execute("mkdir -p " .. q(project .. "/migrations")))
shell.write(project .. "/migrations/001_index.lua", [[
return migration "001_index" {
  phase "table" { up = function(db) db:exec "CREATE TABLE t (id int)" end },
  phase "index" {
    transaction = false,
    up = function(db) db:exec "CREATE INDEX CONCURRENTLY t_id_idx ON t (id)" end,
  },
}
]])

local SSL_SECRET = "K3y-pass-0815"

for _, how in ipairs { "--db", "DATABASE_URL" } do
  T.case("plan hands pg_dump and psql every setting in a service file, none on their command line (" .. how .. ")", function()
    assert(os.execute("rm -rf " .. q(tmp .. "/calls") .. " && mkdir -p " .. q(tmp .. "/calls")))
    -- sslpassword has no environment variable in libpq: it went on pg_dump's command line
    local url = pw_url .. "&sslpassword=" .. SSL_SECRET .. "&application_name=weir%20plan"
    local cmd = "cd " .. q(project) .. " && PATH=" .. q(bindir) .. ":$PATH "
    local rc, out, err
    if how == "--db" then
      rc, out, err = sh(cmd .. "DATABASE_URL= " .. q(weir_bin) .. " plan --db " .. q(url))
    else
      rc, out, err = sh(cmd .. "DATABASE_URL=" .. q(url) .. " " .. q(weir_bin) .. " plan")
    end
    T.eq(rc, 0, err)
    T.contains(out, "001_index:index  (non-transactional: run on a schema-only copy")
    local seen = calls()
    T.ok(#seen >= 2, "the wrappers ran (weir found them): " .. err)
    local dumps = 0
    for _, c in ipairs(seen) do
      T.not_contains(c.argv, SECRET, "argv")
      T.not_contains(c.argv, SSL_SECRET, "argv")
      T.not_contains(c.argv, "host=", "no setting in argv: " .. c.argv)
      T.contains(c.argv, "--dbname=service=weir", "the settings are in the service file")
      T.eq(c.env, "(unset)", "no PGPASSWORD: the password is in the service file")
      T.ok(c.servicefile:match("^/dev/fd/%d+$"), "read from a pipe, never a file: " .. c.servicefile)
      T.contains(c.service, "[weir]\n")
      if c.argv:match("^pg_dump\n") then
        dumps = dumps + 1
        T.contains(c.argv, "--schema-only", "the recorded call is pg_dump's")
        T.contains(c.service, "user=secrets_owner\n")
        T.contains(c.service, "password=" .. SECRET .. "\n")
        T.contains(c.service, "sslpassword=" .. SSL_SECRET .. "\n")
        T.contains(c.service, "application_name=weir plan\n")
        T.contains(c.service, "dbname=" .. pw_db .. "\n")
      end
    end
    T.ok(dumps >= 1, "pg_dump ran")
    T.not_contains(out .. err, SECRET)
    T.not_contains(out .. err, SSL_SECRET)
  end)
end

-- ---------------------------------------------------------------------------------------------
-- 17: secrets spliced into SQL

local function project_db(name)
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  db:exec("CREATE DATABASE " .. name)
  local url = base_url:gsub("/postgres%?", "/" .. name .. "?")
  local dir = tmp .. "/" .. name
  assert(os.execute("mkdir -p " .. q(dir .. "/migrations")))
  return url, dir
end

T.case("plan prints role and user-mapping passwords as '***'", function()
  local url, dir = project_db("secrets_plan")
  shell.write(dir .. "/migrations/001_roles.lua", ([==[
return migration "001_roles" {
  phase "roles" {
    up = function(db)
      db:exec "CREATE ROLE secrets_app LOGIN PASSWORD '%s'"
      db:exec("ALTER ROLE secrets_app WITH ENCRYPTED PASSWORD '%s' VALID UNTIL 'infinity'")
      db:exec [[
        CREATE FOREIGN DATA WRAPPER secrets_fdw;
        CREATE SERVER secrets_srv FOREIGN DATA WRAPPER secrets_fdw OPTIONS (host 'h');
        CREATE USER MAPPING FOR secrets_app SERVER secrets_srv OPTIONS (user 'app', password '%s');
        ALTER USER MAPPING FOR secrets_app SERVER secrets_srv OPTIONS (SET password '%s');
        ALTER SERVER secrets_srv OPTIONS (ADD password '%s');
      ]]
    end,
  },
}
]==]):format(SECRET, SECRET, SECRET, SECRET, SECRET))
  for _, args in ipairs { "plan", "plan --json" } do
    local rc, out, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " " .. args .. " --db " .. q(url))
    T.eq(rc, 0, err)
    T.contains(out, "CREATE ROLE secrets_app LOGIN PASSWORD '***'", args)
    T.contains(out, "OPTIONS (user 'app', password '***')", args)
    T.contains(out, "OPTIONS (SET password '***')", args)
    T.contains(out, "OPTIONS (ADD password '***')", args)
    T.not_contains(out .. err, SECRET, args)
  end
  T.eq(db:value("SELECT count(*) FROM pg_roles WHERE rolname = 'secrets_app'"), 0, "the plan created no role")
end)

-- The ways a password is written into a failing statement: plain, with a comment between
-- PASSWORD and the literal (the scanner returns comments as tokens), spliced by format() or by
-- concatenation in a DO block.
local FAILING_SQL = {
  { "plain", [[db:exec "ALTER ROLE secrets_missing_role PASSWORD '%s'"]], "PASSWORD '***'" },
  { "block comment", [[db:exec [=[ALTER ROLE secrets_missing_role PASSWORD /* rotated */ '%s']=] ]],
    "PASSWORD /* rotated */ '***'" },
  { "line comment", [[db:exec "ALTER ROLE secrets_missing_role PASSWORD -- rotated\n '%s'"]],
    "PASSWORD -- rotated '***'" },
  { "format()", [[db:exec [=[DO $$ BEGIN EXECUTE format('ALTER ROLE %%I PASSWORD %%L', 'secrets_missing_role', '%s'); END $$]=] ]],
    "PASSWORD %L', '***', '***')" },
  { "concatenation", [[db:exec [=[DO $$ BEGIN EXECUTE 'ALTER ROLE secrets_missing_role PASSWORD ' || quote_literal('%s'); END $$]=] ]],
    "PASSWORD ' || quote_literal('***')" },
}

for i, form in ipairs(FAILING_SQL) do
  T.case("a failed phase records and shows its SQL with the password as '***' (" .. form[1] .. ")", function()
    local url, dir = project_db("secrets_up" .. i)
    shell.write(dir .. "/migrations/001_role.lua", ([[
return migration "001_role" {
  phase "password" {
    up = function(db) %s end,
  },
}
]]):format(form[2]:format(SECRET)))
    local events = tmp .. "/events" .. i .. ".jsonl"
    local rc, out, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " up --events " .. q(events) .. " --db " .. q(url))
    T.eq(rc, 1, err)
    T.contains(err, "42704")
    T.contains(err, form[3])
    T.not_contains(out .. err, SECRET, "weir up's output")
    local conn <close> = weir.connect(url)
    local recorded = conn:value("SELECT error FROM weir.phases WHERE migration = '001_role'")
    T.contains(recorded, form[3], "weir.phases.error")
    T.not_contains(recorded, SECRET, "weir.phases.error")
    T.eq(conn:value("SELECT count(*) FROM weir.events WHERE type = 'phase_failed'"), 1)
    T.eq(conn:value("SELECT count(*) FROM weir.events WHERE payload::text LIKE '%' || $1 || '%'", SECRET), 0,
      "weir.events")
    local lines = T.read(events)
    T.contains(lines, "phase_failed")
    T.not_contains(lines, SECRET, "the --events file")
    local src, sout, serr = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " status --db " .. q(url))
    T.eq(src, 0, serr)
    T.contains(sout, form[3], "weir status")
    T.not_contains(sout .. serr, SECRET, "weir status")
    local jrc, jout = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " status --json --db " .. q(url))
    T.eq(jrc, 0)
    T.not_contains(jout, SECRET, "weir status --json")
    local prc, pout, perr = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " plan --db " .. q(url))
    T.eq(prc, 1, "plan says the phase would fail")
    T.not_contains(pout .. perr, SECRET, "weir plan")
    conn:close()
    db:exec("DROP DATABASE IF EXISTS secrets_up" .. i .. " WITH (FORCE)")
  end)
end

T.case("an SQL error shown by weir run has the password as '***'", function()
  local rc, out, err = run_weir("run --db " .. q(base_url) .. " -e " ..
    q("db:exec(\"ALTER ROLE secrets_missing_role PASSWORD '" .. SECRET .. "'\")"))
  T.eq(rc, 1)
  T.contains(err, "42704")
  T.contains(err, "PASSWORD '***'")
  T.not_contains(out .. err, SECRET)
end)

for _, n in ipairs { pw_db, "secrets_plan" } do db:exec("DROP DATABASE IF EXISTS " .. n .. " WITH (FORCE)") end
db:exec("DROP ROLE IF EXISTS secrets_owner")
shell.cleanup()
T.done()
