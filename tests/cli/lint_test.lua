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
  T.eq(err, "weir: lint: 1 file, " .. #BAD .. " findings\n", "a summary on stderr, nothing else")
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

T.case("--json prints one document: findings of {file, line, rule, message, statement}", function()
  write("json.sql", "SELECT 1;\n\n-- a comment\nDROP TABLE legacy_sessions;\n")
  local rc, out = lint("--json json.sql")
  T.eq(rc, 1)
  local doc = json.decode(out).findings
  T.eq(#doc, 1)
  T.eq(doc[1].file, "json.sql")
  T.eq(doc[1].line, 4)
  T.eq(doc[1].rule, "drop-table")
  T.eq(doc[1].statement, "DROP TABLE legacy_sessions")
  T.contains(doc[1].message, "deletes its data")
  write("clean.sql", "SELECT 1;\n")
  local rc2, out2 = lint("clean.sql --json")
  T.eq(rc2, 0)
  T.eq(out2, '{"failures":[],"files":["clean.sql"],"findings":[],"format_version":1}\n', "empty lists are []")
end)

T.case("syntax errors: FILE:LINE: syntax error: ..., exit 1", function()
  write("broken.sql", "SELECT 1;\n\nCREATE TABEL x (id bigint);\n")
  local rc, out = lint("broken.sql")
  T.eq(rc, 1)
  T.eq(out, "broken.sql:3: syntax error: at or near \"TABEL\"\n")
  local _, jout = lint("--json broken.sql")
  T.eq(json.decode(jout).findings[1].rule, "syntax-error")
end)

T.case("usage errors exit 2; --help and --rules exit 0", function()
  local rc, _, err = lint("")
  T.eq(rc, 2)
  T.contains(err, "weir: lint: no file given, and no migrations directory migrations (give FILE.sql, MIGRATION.lua, a directory or -)")
  rc, _, err = lint("notes.txt")
  T.eq(rc, 2)
  T.contains(err, "expected a .sql file, a .lua migration or a directory")
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
  local full = json.decode(out)
  T.eq(#full.failures, 1, out)
  T.eq(full.failures[1].file, "tx/migrations/001_idx.lua")
  T.contains(full.failures[1].message, "001_idx:index failed on the throwaway cluster")
  local doc = full.findings
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

-- ---------------------------------------------------------------------------------------------
-- What to lint, formats, the summary, weir.lua

local src = assert(os.getenv "WEIR_SOURCE_DIR", "WEIR_SOURCE_DIR")

-- A migration whose phase says (on stderr: what scripts print) which cluster and database it
-- runs in, and creates a table named after it.
local function where_migration(id)
  return ([[
return migration "%s" {
  phase "make" {
    up = function(db)
      print("ran %s in " .. db:value "SELECT current_setting('data_directory') || ' ' || current_database()")
      db:exec "CREATE TABLE t_%s (id bigint PRIMARY KEY)"
    end,
  },
}
]]):format(id, id, id)
end

local function ran(err)
  local out = {}
  for id, dir, database in err:gmatch("ran (%S+) in (%S+) (%S+)") do out[#out + 1] = { id = id, dir = dir, db = database } end
  return out
end

T.case("no file: the project's migrations, on one cluster, each phase run once; a summary on stderr", function()
  write("proj/weir.lua", 'return { migrations = "db/migrations" }\n')
  write("proj/db/migrations/001_a.lua", where_migration("001_a"))
  write("proj/db/migrations/002_b.lua", where_migration("002_b"))
  write("proj/db/migrations/003_c.lua", where_migration("003_c") ..
    "-- a later migration may index what an earlier one made\n")
  local rc, out, err = sh("cd " .. q(tmp .. "/proj") .. " && DATABASE_URL= " .. q(weir) .. " lint")
  T.eq(rc, 0, err)
  T.eq(out, "")
  T.contains(err, "weir: lint: 3 files, 0 findings\n")
  local runs = ran(err)
  -- each migration ran once, in order: the later ones found the earlier ones applied already
  T.eq(#runs, 3, err)
  T.eq({ runs[1].id, runs[2].id, runs[3].id }, { "001_a", "002_b", "003_c" })
  T.eq({ runs[2].dir, runs[3].dir }, { runs[1].dir, runs[1].dir }, "one cluster")
  T.eq({ runs[2].db, runs[3].db }, { runs[1].db, runs[1].db }, "one database for the directory")
  -- without weir.lua's setting, ./migrations; with neither, a usage error
  write("proj2/migrations/001_a.lua", where_migration("001_a"))
  rc, out, err = sh("cd " .. q(tmp .. "/proj2") .. " && " .. q(weir) .. " lint")
  T.eq(rc, 0, err)
  T.contains(err, "weir: lint: 1 file, 0 findings\n")
end)

T.case("directories, files and stdin together: one cluster; another directory or an order out of sequence gets its own database", function()
  write("one/migrations/001_a.lua", where_migration("001_a"))
  write("one/migrations/002_b.lua", where_migration("002_b"))
  write("one/migrations/schema.sql", "CREATE INDEX accounts_email_idx ON accounts (email);\n")
  write("two/migrations/001_x.lua", where_migration("001_x"))
  local rc, out, err = sh("cd " .. q(tmp) .. " && printf 'DROP TABLE legacy_sessions;\\n' | " .. q(weir) ..
    " lint one/migrations/ two/migrations/001_x.lua - one/migrations/002_b.lua")
  T.eq(rc, 1, err)
  -- the directory's migrations in order, then its .sql; the file; stdin as <stdin>
  T.eq(out, "one/migrations/schema.sql:1: index-not-concurrent: CREATE INDEX accounts_email_idx on existing table accounts " ..
    "blocks writes to it until the index is built; use CREATE INDEX CONCURRENTLY (outside a transaction)\n" ..
    "<stdin>:1: drop-table: DROP TABLE legacy_sessions deletes its data and breaks every client still using it; " ..
    "stop using it first, keep a backup or a renamed copy until you are sure, and drop it in a later contract phase\n")
  T.contains(err, "weir: lint: 5 files, 2 findings\n", "002_b given twice counts once")
  local runs = ran(err)
  T.eq(#runs, 3, err)
  T.eq({ runs[1].id, runs[2].id, runs[3].id }, { "001_a", "002_b", "001_x" })
  for _, r in ipairs(runs) do T.eq(r.dir, runs[1].dir, "one cluster for the whole run") end
  T.eq(runs[2].db, runs[1].db)
  T.ok(runs[3].db ~= runs[1].db, "another directory: another database")
  -- out of order: 002 first (001 applied before it), then 001 needs a database without 002
  rc, out, err = lint("one/migrations/002_b.lua one/migrations/001_a.lua")
  T.eq(rc, 0, err)
  runs = ran(err)
  T.eq({ runs[1].id, runs[2].id, runs[3].id }, { "001_a", "002_b", "001_a" }, err)
  T.eq(runs[2].db, runs[1].db)
  T.ok(runs[3].db ~= runs[1].db, "001_a again, in a database where 002_b did not run")
  -- - twice is a usage error
  rc, out, err = lint("- -")
  T.eq(rc, 2)
  T.contains(err, "- (stdin) given twice")
end)

T.case("--format json conforms to grammar/lint.schema.json; gcc and github lines", function()
  write("fmt/a.sql", "SELECT 1;\nDROP TABLE legacy_sessions;\nCREATE TABEL x (id bigint);\n")
  write("fmt/b,c.sql", "ALTER TABLE accounts DROP COLUMN legacy_code;\n")
  local rc, out = lint("--format json fmt/a.sql fmt/b,c.sql")
  T.eq(rc, 1)
  local doc = json.decode(out)
  local ok, errs = json.validate(doc, T.read(src .. "/grammar/lint.schema.json"))
  T.ok(ok, json.encode(errs))
  T.eq(doc.format_version, 1)
  T.eq(doc.files, { "fmt/a.sql", "fmt/b,c.sql" })
  T.eq(#doc.findings, 2)
  T.eq(doc.findings[1].rule, "syntax-error")
  rc, out = lint("--format gcc fmt/b,c.sql")
  T.eq(rc, 1)
  T.eq(out, "fmt/b,c.sql:1: error: DROP COLUMN accounts.legacy_code deletes its data and breaks every client " ..
    "(and view or function) still using it; stop using it first, and drop it in a later contract phase [drop-column]\n")
  local err
  rc, out = lint("--format github fmt/b,c.sql")
  T.eq(rc, 1)
  -- properties escape , and :, the message % and newlines
  T.eq(out, "::error file=fmt/b%2Cc.sql,line=1,title=weir lint%3A drop-column::DROP COLUMN accounts.legacy_code " ..
    "deletes its data and breaks every client (and view or function) still using it; stop using it first, and drop " ..
    "it in a later contract phase\n")
  rc, out, err = lint("--format xml fmt/b,c.sql")
  T.eq(rc, 2)
  T.contains(err, "lint: --format 'xml' is not one of text, json, gcc, github, sarif")
end)

T.case("--format sarif is SARIF 2.1.0: its shape, every rule, results at their lines, failed migrations", function()
  write("sarif/x y.sql", "SELECT 1;\nDROP TABLE legacy_sessions;\n")
  write("sarif/migrations/001_idx.lua", [[
return migration "001_idx" {
  phase "t" { up = function(db) db:exec "CREATE TABLE things (id bigint PRIMARY KEY, name text)" end },
  phase "i" { up = function(db) db:exec "CREATE INDEX CONCURRENTLY things_name_idx ON things (name)" end },
}
]])
  local rc, out, err = lint("--format sarif 'sarif/x y.sql' sarif/migrations/001_idx.lua")
  T.eq(rc, 1, err)
  local doc = json.decode(out)
  local ok, errs = json.validate(doc, T.read(src .. "/tests/support/sarif-2.1.0-subset.schema.json"))
  T.ok(ok, json.encode(errs))
  T.eq(doc.version, "2.1.0")
  local run = doc.runs[1]
  T.eq(run.tool.driver.name, "weir")
  T.ok(#run.tool.driver.rules >= 19, "every rule and syntax-error")
  T.eq(#run.results, 2)
  for _, r in ipairs(run.results) do
    T.eq(run.tool.driver.rules[r.ruleIndex + 1].id, r.ruleId, "ruleIndex points at its rule")
  end
  local first = run.results[1]
  T.eq(first.ruleId, "drop-table")
  T.eq(first.locations[1].physicalLocation.artifactLocation.uri, "sarif/x%20y.sql")
  T.eq(first.locations[1].physicalLocation.region.startLine, 2)
  T.eq(run.results[2].ruleId, "concurrently-in-transaction")
  T.eq(run.results[2].locations[1].physicalLocation.region.startLine, 3)
  T.eq(run.invocations[1].executionSuccessful, false)
  T.contains(run.invocations[1].toolExecutionNotifications[1].message.text, "001_idx:i failed on the throwaway cluster")
end)

T.case("weir.lua is read only when lint needs it: a broken one does not stop `weir lint x.sql`", function()
  write("broken/weir.lua", "return {\n")
  write("broken/x.sql", "DROP TABLE legacy_sessions;\n")
  write("broken/migrations/001_a.lua", where_migration("001_a"))
  local function in_broken(args) return sh("cd " .. q(tmp .. "/broken") .. " && " .. q(weir) .. " lint " .. args) end
  local rc, out, err = in_broken("x.sql")
  T.eq(rc, 1, err)
  T.contains(out, "x.sql:1: drop-table:")
  rc, out, err = in_broken("- < x.sql")
  T.eq(rc, 1, err)
  -- migrations, --db NAME and the default directory need it: its error, one line
  for _, args in ipairs { "migrations/001_a.lua", "", "--db prod x.sql" } do
    rc, out, err = in_broken(args)
    T.eq({ rc, out }, { 1, "" }, args)
    T.contains(err, "weir: weir.lua:2: ", args)
  end
end)

T.case("lint --help lists every option lint accepts, and --config", function()
  local _, help = lint("--help")
  T.contains(help, "  --format text|json|gcc|github|sarif\n", "--format, its value names each format")
  for _, opt in ipairs { "--json", "--rules", "--db URL|NAME", "--connect NAME=URL", "--config FILE",
    "--stdlib-dir DIR", "--unsafe", "-v, --verbose", "--traceback", "-h, --help" } do
    T.contains(help, "  " .. opt .. " ", opt)
  end
  T.contains(help, "Usage: weir lint [OPTIONS] [FILE.sql|MIGRATION.lua|DIR|-]...")
  -- each one listed is accepted (exit 0 on a clean file), and --ephemeral is not
  write("ok.sql", "SELECT 1;\n")
  write("cfg.lua", "return {}\n")
  for _, args in ipairs { "--format text", "--json", "--config cfg.lua", "--connect x=postgresql:///nowhere",
    "--stdlib-dir " .. q(src .. "/stdlib"), "--unsafe", "-v", "--verbose", "--traceback" } do
    local rc, _, err = lint(args .. " ok.sql")
    T.eq(rc, 0, args .. ": " .. err)
  end
  local rc, _, err = lint("--ephemeral ok.sql")
  T.eq(rc, 2)
  T.contains(err, "unknown option '--ephemeral'")
end)

T.done()
