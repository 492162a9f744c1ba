-- weir.dump and weir.restore: a pg_dump archive of named tables, written whole or not at all,
-- private, never replacing a file; restored into another database all or nothing; the password
-- and the other settings handed to pg_dump and pg_restore in a service file read from a pipe,
-- never on their command lines nor in PGPASSWORD (seen through wrappers weir finds by its own
-- bindir lookup); a snapshot pins the rows; weir plan writes nothing; misuse is one line at the
-- script's line.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()
local _

local weir_bin = assert(os.getenv "WEIR")
local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")
local SECRET = "Dump-pw-0815"

-- pg_dump and pg_restore wrappers recording argv, PGPASSWORD and the service file weir hands
-- them on a pipe (kept in a file for the real program, which reads it after the wrapper did),
-- then running the real ones.
local real_bindir = (select(2, sh("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1")):gsub("%s+$", ""))
local bindir = tmp .. "/bin"
local calls = tmp .. "/calls"
assert(os.execute("mkdir -p " .. q(bindir) .. " " .. q(calls) .. " && chmod 755 " .. q(tmp) .. " " .. q(bindir)))
for _, prog in ipairs { "initdb", "postgres", "psql" } do
  assert(os.execute("ln -s " .. q(real_bindir .. "/" .. prog) .. " " .. q(bindir .. "/" .. prog)))
end
for _, prog in ipairs { "pg_dump", "pg_restore" } do
  shell.write(bindir .. "/" .. prog, ([[#!/bin/sh
n=$(ls %s | grep -c '^argv' || true)
printf '%%s\n' "$@" > %s/argv.$n
printf '%%s' "${PGPASSWORD-(unset)}" > %s/env.$n
if [ -n "$PGSERVICEFILE" ]; then
  cat "$PGSERVICEFILE" > %s/service.$n
  PGSERVICEFILE=%s/service.$n
  export PGSERVICEFILE
fi
exec %s/%s "$@"
]]):format(q(calls), q(calls), q(calls), q(calls), q(calls), q(real_bindir), prog))
  assert(os.execute("chmod 755 " .. q(bindir .. "/" .. prog)))
end
shell.write(bindir .. "/pg_config", "#!/bin/sh\necho " .. q(bindir) .. "\n")
assert(os.execute("chmod 755 " .. q(bindir .. "/pg_config")))

local function recorded()
  local out = {}
  for i = 0, 20 do
    local f = io.open(calls .. "/argv." .. i)
    if not f then break end
    local svc = io.open(calls .. "/service." .. i)
    out[#out + 1] = { argv = f:read("a"), env = T.read(calls .. "/env." .. i), service = svc and svc:read("a") or "" }
    if svc then svc:close() end
    f:close()
  end
  return out
end

-- Two databases owned by a role with a password: the source, and one to restore into.
db:exec "DROP DATABASE IF EXISTS dump_src WITH (FORCE)"
db:exec "DROP DATABASE IF EXISTS dump_dst WITH (FORCE)"
db:exec "DROP ROLE IF EXISTS dump_owner"
db:exec("CREATE ROLE dump_owner LOGIN SUPERUSER PASSWORD '" .. SECRET .. "'")
db:exec "CREATE DATABASE dump_src OWNER dump_owner"
local function url_of(name)
  return (base_url:gsub("/postgres%?", "/" .. name .. "?"):gsub("//postgres@", "//dump_owner:" .. SECRET .. "@"))
end
local src_url, dst_url = url_of "dump_src", url_of "dump_dst"
local src <close> = weir.connect(src_url)
src:exec [[
  CREATE SCHEMA app;
  CREATE TABLE app.parents (id int PRIMARY KEY, name text NOT NULL);
  CREATE TABLE app.children (id serial PRIMARY KEY, parent_id int NOT NULL REFERENCES app.parents (id), note text);
  CREATE INDEX children_parent_idx ON app.children (parent_id);
  COMMENT ON TABLE app.children IS 'kept with the table';
  CREATE TABLE app.other (x int);
  INSERT INTO app.parents SELECT g, 'p' || g FROM generate_series(1, 5) g;
  INSERT INTO app.children (parent_id, note) SELECT 1 + g % 5, 'c' || g FROM generate_series(1, 20) g;
  INSERT INTO app.other VALUES (1);
]]

-- `weir run --unsafe?` of CODE with the wrappers first on PATH, from `tmp`.
local function run(code, env)
  return sh("cd " .. q(tmp) .. " && PATH=" .. q(bindir) .. ":$PATH " .. (env or "") .. " " .. q(weir_bin) ..
    " run --db " .. q(src_url) .. " -e " .. q(code))
end
local function fresh_dst()
  db:exec "DROP DATABASE IF EXISTS dump_dst WITH (FORCE)"
  db:exec "CREATE DATABASE dump_dst OWNER dump_owner"
  local c = weir.connect(dst_url)
  c:exec "CREATE SCHEMA app"
  return c
end
local function mode_of(path) return (select(2, sh("stat -c %a " .. q(path))):gsub("%s+$", "")) end
local function files(dir) return (select(2, sh("ls -A " .. q(dir) .. " 2>/dev/null"))) end

T.case("weir.dump writes the named tables to a private archive; weir.restore loads it into another database", function()
  assert(os.execute("rm -f " .. q(calls) .. "/*"))
  local rc, out, err = run([[
    print(weir.dump { db = db, file = "out/app.dump", tables = { "app.parents", "app.children" } })]])
  T.eq(rc, 0, err)
  local bytes = tonumber(out)
  T.ok(bytes and bytes > 1000, "the size in bytes: " .. out)
  T.eq(tonumber((select(2, sh("stat -c %s " .. q(tmp .. "/out/app.dump"))))), bytes)
  T.eq(mode_of(tmp .. "/out/app.dump"), "600", "the archive is private")
  T.eq(mode_of(tmp .. "/out"), "700", "its new directory too")
  T.eq(files(tmp .. "/out"), "app.dump\n", "no temporary file left")
  local dst <close> = fresh_dst()
  rc, _, err = run(([[weir.restore { db = weir.connect(%q), file = "out/app.dump" }]]):format(dst_url))
  T.eq(rc, 0, err)
  for _, t in ipairs { "app.parents", "app.children" } do
    local sql = "SELECT count(*) || ':' || md5(string_agg(x::text, ',' ORDER BY x::text)) FROM " .. t .. " x"
    T.eq(dst:value(sql), src:value(sql), t .. " restored with its rows")
  end
  T.eq(dst:value "SELECT to_regclass('app.other')", db.NULL, "only the tables named")
  T.eq(dst:value "SELECT obj_description('app.children'::regclass, 'pg_class')", "kept with the table")
  T.eq(dst:value "SELECT count(*) FROM pg_indexes WHERE schemaname = 'app'", 3, "indexes and keys")
  T.eq(dst:value "SELECT nextval('app.children_id_seq')", 21, "the owned sequence, where it was")
  local seen = recorded()
  T.eq(#seen, 2, "pg_dump, then pg_restore")
  T.contains(seen[1].argv, "--format=custom")
  T.contains(seen[1].argv, '--table="app"."parents"')
  T.contains(seen[2].argv, "--single-transaction")
  for _, c in ipairs(seen) do
    T.contains(c.argv, "--dbname=service=weir", "the settings are in the service file")
    T.not_contains(c.argv, SECRET, "the command line")
    T.not_contains(c.argv, "dump_owner", "the command line")
    T.eq(c.env, "(unset)", "no PGPASSWORD in the environment")
    T.contains(c.service, "user=dump_owner", "the service file")
    T.contains(c.service, "password=" .. SECRET, "the service file")
  end
end)

T.case("an existing file is never replaced, and a failed dump leaves no file", function()
  shell.write(tmp .. "/keep.dump", "precious")
  local rc, _, err = run([[weir.dump { db = db, file = "keep.dump", tables = { "app.parents" } }]])
  T.eq(rc, 1)
  T.eq(err:match("^[^\n]*"), "(command line):1: weir.dump: keep.dump exists already; a dump never replaces a file")
  T.eq(T.read(tmp .. "/keep.dump"), "precious")
  rc, _, err = run([[weir.dump { db = db, file = "gone/x.dump", tables = { "app.parents", "app.nope" } }]])
  T.eq(rc, 1)
  T.contains(err, "(command line):1: weir.dump: pg_dump failed: pg_dump: error: no matching tables were found for pattern")
  T.contains(err, "nope")
  T.eq(files(tmp .. "/gone"), "", "no archive, no temporary file")
  T.not_contains(err, SECRET)
end)

T.case("a snapshot pins the rows the archive holds", function()
  local rc, out, err = run([[
    local s = db:clone()
    s:exec "BEGIN ISOLATION LEVEL REPEATABLE READ"
    local id = s:value "SELECT pg_export_snapshot()"
    db:exec "INSERT INTO app.parents VALUES (100, 'after the snapshot')"
    weir.dump { db = db, file = "snap.dump", tables = { "app.parents" }, snapshot = id }
    s:exec "COMMIT"
    db:exec "DELETE FROM app.parents WHERE id = 100"
    print(s:value "SELECT count(*) FROM app.parents")]])
  T.eq(rc, 0, err)
  local dst <close> = fresh_dst()
  rc, _, err = run(([[weir.restore { db = weir.connect(%q), file = "snap.dump" }]]):format(dst_url))
  T.eq(rc, 0, err)
  T.eq(dst:value "SELECT count(*) FROM app.parents", 5, "the row inserted after the snapshot is not in it")
  T.eq(out, "5\n")
end)

T.case("weir.restore is all or nothing", function()
  local dst <close> = fresh_dst()
  dst:exec "CREATE TABLE app.children (id int)"  -- in the way of the archive's second table
  local rc, _, err = run(([[weir.restore { db = weir.connect(%q), file = "out/app.dump" }]]):format(dst_url))
  T.eq(rc, 1)
  T.contains(err, "(command line):1: weir.restore: pg_restore of out/app.dump failed: pg_restore: error:")
  T.contains(err, 'relation "children" already exists')
  T.not_contains(err, SECRET)
  T.eq(dst:value "SELECT to_regclass('app.parents')", db.NULL, "nothing of it was restored")
  rc, _, err = run(([[weir.restore { db = weir.connect(%q), file = "missing.dump" }]]):format(dst_url))
  T.eq(rc, 1)
  T.eq(err:match("^[^\n]*"), "(command line):1: weir.restore: cannot read missing.dump: No such file or directory")
end)

T.case("misuse is one line at the script's line, before anything runs", function()
  local cases = {
    { [[weir.dump { db = db, tables = { "app.parents" } }]], "weir.dump: file must be a non-empty string, got nil" },
    { [[weir.dump { file = "x.dump" }]], "weir.dump: db must be a connection (db = db)" },
    { [[weir.dump { db = "postgres://", file = "x.dump" }]], "weir.dump: db must be a connection (db = db)" },
    { [[weir.dump { db = db, file = "x.dump", table = { "app.parents" } }]], "weir.dump: unknown option 'table' (known: db, file, snapshot, tables)" },
    { [[weir.dump { db = db, file = "x.dump", tables = "app.parents" }]], "weir.dump: tables must be a list of strings, got string" },
    { [[weir.dump { db = db, file = "x.dump", tables = { "parents" } }]], "weir.dump: table parents must be written schema.table" },
    { [[weir.dump { db = db, file = "x.dump", tables = { 42 } }]], "weir.dump: tables must be a list of strings" },
    { [[weir.dump "x.dump"]], "weir.dump: expected a table of options, got string" },
    { [[weir.restore { db = db }]], "weir.restore: file must be a non-empty string, got nil" },
    { [[weir.restore { db = db, file = "" }]], "weir.restore: file must be a non-empty string, got an empty one" },
    { [[weir.restore { db = db, file = "x.dump", into = "y" }]], "weir.restore: unknown option 'into' (known: db, file)" },
  }
  for _, c in ipairs(cases) do
    local rc, _, err = run("\n" .. c[1])
    T.eq(rc, 1, c[1])
    T.eq(err:match("^[^\n]*"), "(command line):2: " .. c[2], c[1])
  end
  T.eq(files(tmp):find("x.dump", 1, true), nil, "no file was written")
end)

T.case("under weir plan a dump is announced, not written", function()
  local project = tmp .. "/plan"
  assert(os.execute("mkdir -p " .. q(project .. "/migrations")))
  shell.write(project .. "/migrations/001_keep.lua", [[
return migration "001_keep" {
  phase "keep" {
    up = function(db) weir.dump { db = db, file = "kept.dump", tables = { "app.parents" } } end,
    down = function() end,
  },
  phase "later" {
    transaction = false,
    up = function(db) weir.dump { db = db, file = "later.dump", tables = { "app.parents" } } end,
    down = function() end,
  },
}
]])
  local rc, out, err = sh("cd " .. q(project) .. " && " .. q(weir_bin) .. " plan --db " .. q(src_url))
  T.eq(rc, 0, err)
  T.contains(out, "`weir up` would succeed")
  T.contains(err, "weir plan: weir.dump would write kept.dump (app.parents); nothing is written while planning")
  T.contains(err, "weir plan: weir.dump would write later.dump (app.parents)")
  T.eq(files(project), "migrations\n", "no archive written")
  rc, _, err = sh("cd " .. q(project) .. " && " .. q(weir_bin) .. " up --db " .. q(src_url))
  T.eq(rc, 0, err)
  T.eq(files(project), "kept.dump\nlater.dump\nmigrations\n", "up writes them")
end)

src:close()
db:exec "DROP DATABASE IF EXISTS dump_src WITH (FORCE)"
db:exec "DROP DATABASE IF EXISTS dump_dst WITH (FORCE)"
db:exec "DROP ROLE IF EXISTS dump_owner"
shell.cleanup()
T.done()
