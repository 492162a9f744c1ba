-- weir lint: .sql files and .lua migrations, FILE:LINE: rule: message, context (objects
-- created earlier are new), `-- weir:ignore` and malformed ignores, --json, exit codes,
-- syntax errors with their line.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir = assert(os.getenv "WEIR")

local function write(name, text)
  local path = tmp .. "/" .. name
  assert(os.execute("mkdir -p " .. q(path:match("^(.*)/"))))
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

-- weir lint ARGS, run in the temporary directory (no database configured)
local function lint(args)
  return sh("cd " .. q(tmp) .. " && DATABASE_URL= " .. q(weir) .. " lint " .. args)
end

local function project(files) return require("project").new("lint", files) end

-- Every rule's bad example, one per line-numbered block: rule -> line where it starts.
local BAD = {
  { "index-not-concurrent", "CREATE INDEX accounts_email_idx ON accounts (email);" },
  { "drop-index-not-concurrent", "DROP INDEX accounts_old_idx;" },
  { "concurrently-in-transaction", "BEGIN;\nCREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);\nCOMMIT;" },
  { "constraint-not-valid", "ALTER TABLE orders ADD CONSTRAINT orders_account_fk\n  FOREIGN KEY (account_id) REFERENCES accounts (id);" },
  { "set-not-null", "ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;" },
  { "not-null-without-default", "ALTER TABLE accounts ADD COLUMN plan text NOT NULL;" },
  { "volatile-default", "ALTER TABLE accounts ADD COLUMN token uuid DEFAULT gen_random_uuid();" },
  { "alter-column-type", "ALTER TABLE accounts ALTER COLUMN balance TYPE numeric(20, 2);" },
  { "drop-column", "ALTER TABLE accounts DROP COLUMN legacy_code;" },
  { "drop-table", "DROP TABLE legacy_sessions;" },
  { "rename-column", "ALTER TABLE accounts RENAME COLUMN email TO email_address;" },
  { "rename-table", "ALTER TABLE accounts RENAME TO customers;" },
  { "constraint-builds-index", "ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE (email);" },
  { "timestamp-without-time-zone", "CREATE TABLE events (id bigint, at timestamp);" },
  { "prefer-bigint", "CREATE TABLE events2 (id serial PRIMARY KEY, kind text);" },
  { "prefer-text", "CREATE TABLE people (name varchar(100));" },
  { "enum-value-position", "ALTER TYPE mood ADD VALUE 'ecstatic';" },
  { "bad-ignore", "-- weir:ignore no-such-rule\nSELECT 1;" },
}

local GOOD = [[
CREATE INDEX CONCURRENTLY accounts_email_idx ON accounts (email);
DROP INDEX CONCURRENTLY accounts_old_idx;
ALTER TABLE orders ADD CONSTRAINT orders_account_fk
  FOREIGN KEY (account_id) REFERENCES accounts (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT orders_account_fk;
ALTER TABLE accounts ADD CONSTRAINT accounts_email_not_null CHECK (email IS NOT NULL) NOT VALID;
ALTER TABLE accounts VALIDATE CONSTRAINT accounts_email_not_null;
ALTER TABLE accounts ALTER COLUMN email SET NOT NULL;
ALTER TABLE accounts ADD COLUMN plan text NOT NULL DEFAULT 'free';
ALTER TABLE accounts ADD COLUMN created_at timestamptz DEFAULT now();
ALTER TABLE accounts ADD COLUMN balance_exact numeric(20, 2);
CREATE VIEW customers AS SELECT * FROM accounts;
CREATE UNIQUE INDEX CONCURRENTLY accounts_email_key ON accounts (email);
ALTER TABLE accounts ADD CONSTRAINT accounts_email_key UNIQUE USING INDEX accounts_email_key;
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz, kind text,
  name text CHECK (length(name) <= 100));
ALTER TYPE mood ADD VALUE 'ecstatic' AFTER 'happy';
-- weir:ignore drop-table -- archived in TICKET-42
DROP TABLE legacy_sessions;
]]

T.case("a .sql file: each rule's bad example is reported at its line; exit 1", function()
  local parts, line_of = {}, {}
  local line = 1
  for _, b in ipairs(BAD) do
    parts[#parts + 1] = b[2]
    line_of[b[1]] = b[1] == "concurrently-in-transaction" and line + 1 or line
    local _, n = b[2]:gsub("\n", "")
    line = line + n + 2
  end
  write("bad.sql", table.concat(parts, "\n\n") .. "\n")
  local rc, out, err = lint("bad.sql")
  T.eq(rc, 1, err)
  T.eq(err, "")
  for _, b in ipairs(BAD) do
    T.ok(out:find("bad.sql:" .. line_of[b[1]] .. ": " .. b[1] .. ": ", 1, true),
      b[1] .. " at line " .. line_of[b[1]] .. " in:\n" .. out)
  end
  local count = select(2, out:gsub("\n", ""))
  T.eq(count, #BAD, out)
end)

T.case("a .sql file of the good examples is clean: exit 0, no output", function()
  write("good.sql", GOOD)
  local rc, out, err = lint("good.sql")
  T.eq(out, "")
  T.eq(rc, 0, err)
end)

T.case("objects created earlier in the file are new and safe to change", function()
  write("context.sql", [[
CREATE TABLE plan_sessions (id bigint PRIMARY KEY, org_id bigint);
CREATE INDEX plan_sessions_org_idx ON plan_sessions (org_id);
ALTER TABLE accounts ADD COLUMN plan text DEFAULT 'free';
ALTER TABLE accounts ALTER COLUMN plan SET NOT NULL;
CREATE INDEX accounts_plan_idx ON accounts (plan);
]])
  local rc, out = lint("context.sql")
  T.eq(rc, 1)
  T.eq(out, "context.sql:5: index-not-concurrent: CREATE INDEX accounts_plan_idx on existing table " ..
    "accounts blocks writes to it until the index is built; use CREATE INDEX CONCURRENTLY " ..
    "(outside a transaction)\n")
end)

T.case("-- weir:ignore suppresses one statement; a malformed one suppresses nothing", function()
  write("ignore.sql", [[
-- weir:ignore drop-table -- archived in TICKET-42
DROP TABLE a;
DROP TABLE b;
DROP TABLE c; -- weir:ignore drop-table, drop-column
-- weir:ignore drop-tabel
DROP TABLE d;
-- weir:ignore
DROP TABLE e;
]])
  local rc, out = lint("ignore.sql")
  T.eq(rc, 1)
  local lines = {}
  for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
  T.eq(#lines, 5, out)
  T.contains(lines[1], "ignore.sql:3: drop-table: DROP TABLE b ")
  T.eq(lines[2], "ignore.sql:5: bad-ignore: malformed `-- weir:ignore` (it suppresses nothing): unknown rule 'drop-tabel'")
  T.contains(lines[3], "ignore.sql:6: drop-table: DROP TABLE d ")
  T.contains(lines[4], "ignore.sql:7: bad-ignore: malformed `-- weir:ignore` (it suppresses nothing): it names no rule")
  T.contains(lines[5], "ignore.sql:8: drop-table: DROP TABLE e ")
end)

T.case("--json prints one array of {file, line, rule, message, statement}", function()
  write("json.sql", "SELECT 1;\n\n-- a comment\nDROP TABLE legacy_sessions;\n")
  local rc, out = lint("--json json.sql")
  T.eq(rc, 1)
  local doc = json.decode(out)
  T.eq(#doc, 1)
  T.eq(doc[1].file, "json.sql")
  T.eq(doc[1].line, 4)
  T.eq(doc[1].rule, "drop-table")
  T.eq(doc[1].statement, "DROP TABLE legacy_sessions")
  T.contains(doc[1].message, "deletes its data")
  write("clean.sql", "SELECT 1;\n")
  local rc2, out2 = lint("clean.sql --json")
  T.eq(rc2, 0)
  T.eq(json.decode(out2), {})
end)

T.case("syntax errors: FILE:LINE: syntax error: ..., exit 1", function()
  write("broken.sql", "SELECT 1;\n\nCREATE TABEL x (id bigint);\n")
  local rc, out = lint("broken.sql")
  T.eq(rc, 1)
  T.eq(out, "broken.sql:3: syntax error: at or near \"TABEL\"\n")
  local _, jout = lint("--json broken.sql")
  T.eq(json.decode(jout)[1].rule, "syntax-error")
end)

T.case("usage errors exit 2; --help and --rules exit 0", function()
  local rc, _, err = lint("")
  T.eq(rc, 2)
  T.contains(err, "weir: lint: missing FILE.sql or MIGRATION.lua")
  rc, _, err = lint("notes.txt")
  T.eq(rc, 2)
  T.contains(err, "expected a .sql file or a .lua migration")
  local out
  rc, out, err = lint("missing.sql") -- not a usage error: the file is not there
  T.eq({ rc, out, err }, { 1, "", "weir: missing.sql: No such file or directory\n" })
  write("ok.sql", "SELECT 1;\n")
  rc, _, err = lint("--frobnicate ok.sql")
  T.eq(rc, 2)
  T.contains(err, "unknown option '--frobnicate'")
  rc, out = lint("--help")
  T.eq(rc, 0)
  T.contains(out, "Usage: weir lint")
  rc, out = lint("--rules")
  T.eq(rc, 0)
  T.contains(out, "index-not-concurrent ")
  T.contains(out, "bad-ignore ")
  T.eq(select(2, out:gsub("\n", "")), 18)
end)

-- ---------------------------------------------------------------------------------------------
-- Migrations

local BASE = [[
return migration "001_base" {
  phase "tables" {
    up = function(db)
      db:exec "CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text)"
    end,
  },
}
]]

local PLANS = [==[
return migration "002_plans" {
  phase "expand" {
    up = function(db)
      db:exec [[CREATE TABLE plan_sessions (id bigint PRIMARY KEY, org_id bigint)]]
      db:exec "ALTER TABLE accounts ADD COLUMN plan text"
      -- weir:ignore drop-column -- never read since v2, TICKET-7
      db:exec "ALTER TABLE accounts DROP COLUMN email"
      db:exec "CREATE INDEX accounts_plan_idx ON accounts (plan)"
    end,
  },
  phase "indexes" {
    transaction = false,
    up = function(db)
      db:exec "CREATE INDEX plan_sessions_org_idx ON plan_sessions (org_id)"
      db:exec "CREATE INDEX CONCURRENTLY accounts_plan2_idx ON accounts (plan)" -- weir:ignore rename-colum
      local function rename(t, a, b)
        db:exec(string.format("ALTER TABLE %s RENAME COLUMN %s TO %s", t, a, b))
      end
      rename("plan_sessions", "org_id", "organization_id")
      rename("accounts", "plan", "tier")
      rename("accounts", "id", "account_id")
    end,
  },
}
]==]

T.case("a migration: its phases run on a throwaway cluster, findings at the Lua line", function()
  write("mig/migrations/001_base.lua", BASE)
  write("mig/migrations/002_plans.lua", PLANS)
  local rc, out, err = lint("mig/migrations/002_plans.lua")
  T.eq(rc, 1, err)
  local lines = {}
  for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
  T.eq(#lines, 3, out)
  -- accounts exists (001 created it before), plan_sessions and accounts.plan are new (created
  -- in expand): only the index on accounts is flagged, not the one on plan_sessions, and the
  -- Lua comment above the DROP COLUMN suppresses it
  T.contains(lines[1], "mig/migrations/002_plans.lua:8: index-not-concurrent: CREATE INDEX accounts_plan_idx on existing table accounts")
  -- a malformed Lua ignore is reported at its line and suppresses nothing
  T.eq(lines[2], "mig/migrations/002_plans.lua:15: bad-ignore: malformed `-- weir:ignore` (it suppresses nothing): unknown rule 'rename-colum'")
  -- a statement run by a local helper: the line of the db:exec that ran it; renaming columns
  -- of the new table, or the new column, is fine
  T.contains(lines[3], "mig/migrations/002_plans.lua:17: rename-column: renaming existing column accounts.id to account_id")
  T.not_contains(out, "drop-column")
  T.not_contains(out, "plan_sessions")
end)

T.case("a migration: CONCURRENTLY in a transactional phase is flagged, its failure reported", function()
  write("tx/migrations/001_idx.lua", [[
return migration "001_idx" {
  phase "tables" {
    up = function(db) db:exec "CREATE TABLE things (id bigint PRIMARY KEY, name text)" end,
  },
  phase "index" {
    up = function(db)
      db:exec "CREATE INDEX CONCURRENTLY things_name_idx ON things (name)"
    end,
  },
  phase "never" {
    up = function(db) db:exec "DROP TABLE things" end,
  },
}
]])
  local rc, out, err = lint("--json tx/migrations/001_idx.lua")
  T.eq(rc, 1)
  local doc = json.decode(out)
  T.eq(#doc, 1, out)
  T.eq(doc[1].file, "tx/migrations/001_idx.lua")
  T.eq(doc[1].line, 7)
  T.eq(doc[1].rule, "concurrently-in-transaction")
  T.contains(doc[1].message, "(a transactional phase)")
  T.eq(doc[1].statement, "CREATE INDEX CONCURRENTLY things_name_idx ON things (name)")
  T.contains(err, "001_idx:index failed on the throwaway cluster")
  T.contains(err, "the phases after it were not linted")
end)

T.case("a clean migration exits 0; the same phase made non-transactional is clean", function()
  write("clean/migrations/001_ok.lua", [[
return migration "001_ok" {
  phase "tables" {
    up = function(db)
      print("scripts' output goes to stderr")
      db:exec "CREATE TABLE things (id bigint PRIMARY KEY, name text)"
    end,
  },
  phase "index" {
    transaction = false,
    up = function(db) db:exec "CREATE INDEX CONCURRENTLY things_name_idx ON things (name)" end,
  },
}
]])
  local rc, out, err = lint("clean/migrations/001_ok.lua")
  T.eq(out, "")
  T.eq(rc, 0, err)
  T.contains(err, "scripts' output goes to stderr")
end)

T.case("a migration with --db: that database's tables are existing, and it is left unchanged", function()
  local p = project {
    ["001_base.lua"] = [[
return migration "001_base" {
  phase "customers" {
    up = function(db) db:exec "CREATE TABLE customers (id bigint PRIMARY KEY, email text)" end,
  },
}
]],
    ["002_widen.lua"] = [[
return migration "002_widen" {
  phase "widen" {
    up = function(db)
      db:exec "ALTER TABLE orders ALTER COLUMN total TYPE bigint"
      db:exec "CREATE TABLE order_notes (id bigint PRIMARY KEY, order_id bigint, note text)"
      db:exec "CREATE INDEX order_notes_order_idx ON order_notes (order_id)"
      db:exec "CREATE INDEX customers_email_idx ON customers (email)"
    end,
  },
}
]],
  }
  p.conn:exec "CREATE TABLE orders (id bigint PRIMARY KEY, total int NOT NULL)"
  local function check()
    local before = p.dump()
    local rc, out, err = p.weir("lint migrations/002_widen.lua")
    T.eq(rc, 1, err)
    T.eq(select(2, out:gsub("\n", "")), 2, out)
    -- orders is the database's; customers comes from 001, applied to the copy when the
    -- database has not applied it yet
    T.contains(out, "migrations/002_widen.lua:4: alter-column-type: changing the type of existing column orders.total to bigint")
    T.contains(out, "migrations/002_widen.lua:7: index-not-concurrent: CREATE INDEX customers_email_idx on existing table customers")
    T.ok(p.dump() == before, "lint changed the --db database")
  end
  check()
  T.eq((p.weir("up --to 001_base")), 0)
  check()
end)

T.done()
