-- weir inspect and weir diff as a user runs them: URLs, .sql files, migrations directories;
-- the printed script, applied with psql, makes the schemas equal.
local T = require "testing"
local shell = require "shell"
local shape = require "shape"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local project = require "project"

local function weir(args) return sh(q(weir_bin) .. " " .. args) end

local function write(name, text)
  local path = tmp .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

-- psql from the server's bindir, stopping at the first error, each statement on its own
local function psql_file(url, path)
  return sh("bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); \"$bindir/psql\" -X -q " ..
    "-v ON_ERROR_STOP=1 --dbname=" .. q(url) .. " -f " .. q(path))
end

local FROM = [[
CREATE TABLE accounts (id int PRIMARY KEY, email varchar(100), balance int);
CREATE INDEX accounts_email ON accounts (email);
INSERT INTO accounts VALUES (1, 'a@x', 10), (2, 'b@x', 20);
]]
local TO = [[
CREATE TYPE tier AS ENUM ('free', 'paid');
CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL UNIQUE, balance numeric, tier tier DEFAULT 'free');
CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account bigint REFERENCES accounts, at timestamptz DEFAULT now());
CREATE INDEX audit_account ON audit (account);
CREATE VIEW rich AS SELECT id, email FROM accounts WHERE balance > 100;
]]

T.case("weir inspect: a readable summary, and --json that conforms to its schema", function()
  local p = project.new("sc")
  p.conn:exec(TO)
  local rc, out, err = weir("inspect --db " .. q(p.url))
  T.eq(rc, 0, err)
  T.contains(out, "enum public.tier (free, paid)")
  T.contains(out, "table public.accounts: 4 columns, 2 constraints, 2 indexes, 0 triggers, 0 policies")
  T.contains(out, "  email                    text  not null")
  T.contains(out, "view public.rich")
  local rc2, out2 = weir("inspect --json --db " .. q(p.url))
  T.eq(rc2, 0)
  local model = json.decode(out2)
  T.eq(shape.check(shape.load("schema-model.schema.json"), model), {})
  T.eq(#model.tables, 2)
end)

T.case("weir inspect lists collations, aggregates, inheritance, default privileges and what it does not model", function()
  local p = project.new("sc")
  p.conn:exec([[
    CREATE COLLATION bytes (locale = 'C');
    CREATE AGGREGATE total(int) (SFUNC = int4pl, STYPE = int);
    CREATE TABLE parent (a int);
    CREATE TABLE child (b int) INHERITS (parent);
    ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM PUBLIC;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO PUBLIC;
    CREATE RULE quiet AS ON DELETE TO parent DO INSTEAD NOTHING;
  ]])
  local rc, out, err = weir("inspect --db " .. q(p.url))
  T.eq(rc, 0, err)
  T.contains(out, "collation public.bytes (libc)")
  T.contains(out, "aggregate public.total(integer)")
  T.contains(out, "; inherits public.parent")
  T.contains(out, "default privileges for postgres in public on tables: PUBLIC:SELECT")
  T.contains(out, "not modelled: rule quiet on public.parent")
end)

T.case("weir diff notes a rename; --renames writes it and keeps the rows", function()
  local a, b = project.new("sc", {}), project.new("sc", {})
  a.conn:exec("CREATE TABLE accounts (id int PRIMARY KEY, email text); INSERT INTO accounts VALUES (1, 'a')")
  b.conn:exec("CREATE TABLE users (id int PRIMARY KEY, email text)")
  local rc, out = weir("diff " .. q(a.url) .. " " .. q(b.url))
  T.eq(rc, 0)
  T.contains(out, "DROP TABLE public.accounts;")
  T.contains(out, "--   note: table public.accounts differs from public.users only by its name or schema: "
    .. "`ALTER TABLE public.accounts RENAME TO users` keeps it and its data")
  local rc2, out2 = weir("diff --renames " .. q(a.url) .. " " .. q(b.url))
  T.eq(rc2, 0)
  T.contains(out2, "ALTER TABLE public.accounts RENAME TO users;")
  T.ok(not out2:find("DROP TABLE"), out2)
  T.eq(psql_file(a.url, write("renames.sql", out2)), 0)
  T.eq(a.conn:value("SELECT count(*) FROM users"), 1)
  T.eq((weir("diff --check " .. q(a.url) .. " " .. q(b.url))), 0)
end)

T.case("weir diff URL URL prints a script that, applied, makes them equal", function()
  local a, b = project.new("sc", {}), project.new("sc", {})
  a.conn:exec(FROM)
  b.conn:exec(TO)
  local rc, script, err = weir("diff " .. q(a.url) .. " " .. q(b.url))
  T.eq(rc, 0, err)
  T.contains(script, "-- alter column type: public.accounts.id\n--   hazard: rewrites table")
  T.contains(script, "CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key ON public.accounts USING btree (email);")
  T.contains(script, "ADD CONSTRAINT audit_account_fkey FOREIGN KEY (account) REFERENCES public.accounts(id);")
  T.contains(err, "changes,")
  local rc_check = weir("diff --check " .. q(a.url) .. " " .. q(b.url))
  T.eq(rc_check, 1, "--check: they differ")
  local rc2, _, err2 = psql_file(a.url, write("d1.sql", script))
  T.eq(rc2, 0, err2)
  local rc3, out3, err3 = weir("diff --check " .. q(a.url) .. " " .. q(b.url))
  T.eq(rc3, 0, err3)
  T.eq(out3, "")
  T.contains(err3, "no differences")
  T.eq(a.value "SELECT count(*) FROM accounts", 2, "the rows survived")
end)

T.case("weir diff a.sql b.sql: each file in a throwaway cluster; the script makes them equal", function()
  local fa, fb = write("from.sql", FROM), write("to.sql", TO)
  local rc, script, err = weir("diff " .. q(fa) .. " " .. q(fb))
  T.eq(rc, 0, err)
  local p = project.new("sc")
  p.conn:exec(FROM)
  local rc2, _, err2 = psql_file(p.url, write("d2.sql", script))
  T.eq(rc2, 0, err2)
  T.eq((weir("diff --check " .. q(p.url) .. " " .. q(fb))), 0)
  local rc3, out3 = weir("diff --json " .. q(fa) .. " " .. q(fb))
  T.eq(rc3, 0)
  local doc = json.decode(out3)
  T.eq(shape.check(shape.load("schema-diff.schema.json"), doc), {})
  T.eq(doc.equal, false)
  local concurrent = 0
  for _, c in ipairs(doc.changes) do
    if c.sql:find("CONCURRENTLY") then
      concurrent = concurrent + 1
      T.eq(c.transaction, false, c.sql)
    end
  end
  T.ok(concurrent > 0, "index builds on existing tables are concurrent")
end)

T.case("weir diff DB migrations/ --check tells whether the database drifted from its migrations", function()
  local p = project.new("sc", { ["001_accounts.lua"] = [[
return migration "001_accounts" {
  phase "create" {
    up = function(db) db:exec "CREATE TABLE accounts (id bigint PRIMARY KEY, email text)" end,
    down = function(db) db:exec "DROP TABLE accounts" end,
  },
}
]] })
  T.eq((p.weir("up")), 0)
  local rc, out, err = weir("diff --check " .. q(p.url) .. " " .. q(p.dir .. "/migrations"))
  T.eq(rc, 0, err)
  T.eq(out, "", "weir's own state schema is left out")
  p.conn:exec "ALTER TABLE accounts ADD COLUMN hotfix text"
  local rc2, out2 = weir("diff --check " .. q(p.url) .. " " .. q(p.dir .. "/migrations"))
  T.eq(rc2, 1)
  T.contains(out2, "ALTER TABLE public.accounts DROP COLUMN hotfix;")
end)

T.case("--base: migrations that alter pre-existing tables are built on top of a base schema", function()
  local p = project.new("sc", { ["001_alter.lua"] = [[
return migration "001_alter" {
  phase "add" {
    up = function(db) db:exec "ALTER TABLE legacy ADD COLUMN note text" end,
    down = function(db) db:exec "ALTER TABLE legacy DROP COLUMN note" end,
  },
}
]] })
  p.conn:exec "CREATE TABLE legacy (id bigint PRIMARY KEY)"
  T.eq((p.weir("up")), 0)
  local base = write("base.sql", "CREATE TABLE legacy (id bigint PRIMARY KEY);\n")
  local rc, _, err = weir("diff --check " .. q(p.url) .. " " .. q(p.dir .. "/migrations"))
  T.eq(rc, 1, "without the base, the migration cannot run")
  T.contains(err, "42P01")
  local rc2, out2, err2 = weir("diff --check --base " .. q(base) .. " " .. q(p.url) .. " " .. q(p.dir .. "/migrations"))
  T.eq(rc2, 0, err2)
  T.eq(out2, "")
end)

T.case("bad sources are one line each", function()
  local bad = write("bad.sql", "CREATE TABLE ok (id int);\nCREATE TABLE broken (id int,);\n")
  local rc, out, err = weir("diff " .. q(bad) .. " " .. q(write("e.sql", "")))
  T.eq(rc, 1)
  T.eq(out, "")
  T.contains(err, bad .. ":2: 42601 syntax error at or near \")\"")
  T.eq(select(2, err:gsub("\n", "")), 1, err)
  local rc2, _, err2 = weir("diff " .. q(tmp .. "/missing.sql") .. " " .. q(bad))
  T.eq(rc2, 1)
  T.contains(err2, "missing.sql: No such file or directory")
  local rc3, _, err3 = weir("diff postgresql://nobody@127.0.0.1:1/x " .. q(write("ok.sql", "CREATE TABLE x (id int);")))
  T.eq(rc3, 1)
  T.contains(err3, "weir: cannot connect to postgresql://nobody@127.0.0.1:1/x")
  local rc4, _, err4 = weir("diff onlyone.sql")
  T.eq(rc4, 2)
  T.contains(err4, "diff: expected FROM and TO")
end)

shell.cleanup()
T.done()
