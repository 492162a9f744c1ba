-- weir plan: the SQL, locks, rewrites and verify result of each pending phase, worked out
-- without changing the target (proved with pg_dump before and after).
local T = require "testing"
local shell = require "shell"
shell.tmpdir()

local function project(files) return require("project").new("plan", files) end

local FIXTURE = [[
CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL, note text);
CREATE INDEX accounts_balance_idx ON accounts (balance);
INSERT INTO accounts SELECT g, g * 10, 'n' || g FROM generate_series(1, 50) g;
]]

local WIDEN = [[
return migration "001_widen" {
  phase "widen" {
    up = function(db)
      db:exec "ALTER TABLE accounts ALTER COLUMN balance TYPE bigint"
      db:exec "UPDATE accounts SET note = upper(note) WHERE id <= 10"
    end,
    down = function(db) db:exec "ALTER TABLE accounts ALTER COLUMN balance TYPE int" end,
    verify = function(db)
      return db:value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute " ..
        "WHERE attrelid = 'accounts'::regclass AND attname = 'balance'") == "bigint",
        "balance is not bigint"
    end,
  },
  phase "audit" {
    up = function(db)
      db:exec "CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, what text)"
      db:exec "INSERT INTO audit (what) SELECT 'account ' || id FROM accounts"
      db:exec "ALTER TABLE accounts ADD COLUMN flagged boolean"
    end,
    down = function(db) db:exec "DROP TABLE audit; ALTER TABLE accounts DROP COLUMN flagged" end,
  },
  phase "index" {
    transaction = false,
    up = function()
      -- the global `db`: plan must point it at the copy, not at the target
      db:exec "CREATE INDEX CONCURRENTLY IF NOT EXISTS accounts_note_idx ON accounts (note)"
    end,
    down = function(db) db:exec "DROP INDEX CONCURRENTLY IF EXISTS accounts_note_idx" end,
    verify = function(db)
      return db:value "SELECT to_regclass('accounts_note_idx') IS NOT NULL", "index missing"
    end,
  },
}
]]

local function with_fixture(files)
  local p = project(files)
  p.conn:exec(FIXTURE)
  return p
end

T.case("plan shows each phase's SQL, locks, rewrites and verify, and changes nothing", function()
  local p = with_fixture { ["001_widen.lua"] = WIDEN }
  local before = p.dump()
  local rc, out, err = p.weir("plan")
  T.eq(rc, 0, err)
  T.contains(out, "3 pending phases")
  T.contains(out, "001_widen:widen  (transactional: run on the target, then rolled back)")
  T.contains(out, "1. ALTER TABLE accounts ALTER COLUMN balance TYPE bigint")
  T.contains(out, "2. UPDATE accounts SET note = upper(note) WHERE id <= 10")
  T.ok(out:find("rewrites:%s+index public.accounts_balance_idx, index public.accounts_pkey, table public.accounts"),
    "the type change rewrites the table and its indexes:\n" .. out)
  T.ok(out:find("AccessExclusiveLock%s+public.accounts — blocks reads and writes"), out)
  T.contains(out, "verify:    passed")
  -- audit: creates a table, takes locks on accounts again (held since widen in the plan's
  -- transaction, so inferred), adds a column without a rewrite
  T.contains(out, "creates:   index public.audit_pkey, sequence public.audit_id_seq, table public.audit")
  T.contains(out, "an earlier phase of this plan already holds a lock on it")
  -- the non-transactional phase ran on the copy
  T.contains(out, "001_widen:index  (non-transactional: run on a schema-only copy in a throwaway cluster)")
  T.ok(out:find("ShareUpdateExclusiveLock%s+accounts %(inferred from the statement%)"), out)
  T.contains(out, "creates:   index public.accounts_note_idx")
  T.contains(out, "verify:    passed (on the schema-only copy, which holds none of the target's rows)")
  T.contains(out, "`weir up` would succeed; the target was not changed")
  T.contains(err, "copying the target's schema into a throwaway cluster")
  -- nothing changed: schema and data identical, no state schema, no index built
  T.ok(p.dump() == before, "pg_dump of the target differs after plan")
  T.eq(p.value "SELECT to_regnamespace('weir') IS NULL", true)
  T.eq(p.value "SELECT to_regclass('accounts_note_idx') IS NULL", true)
end)

T.case("plan --json is one machine-readable document", function()
  local p = with_fixture { ["001_widen.lua"] = WIDEN }
  local rc, out, err = p.weir("plan --json --to 001_widen:widen")
  T.eq(rc, 0, err)
  local doc = json.decode(out)
  T.eq(doc.pending, 1)
  T.eq(doc.would_succeed, true)
  local ph = doc.phases[1]
  T.eq(ph.phase, "widen")
  T.eq(ph.ran_on, "target")
  T.eq(ph.statements[1].kind, "AlterTableStmt")
  T.eq(ph.statements[2].kind, "UpdateStmt")
  T.eq(ph.verify.state, "passed")
  T.eq(#ph.changes.creates, 0)
  T.eq(ph.changes.locks[1].mode, "AccessExclusiveLock")
  T.eq(ph.changes.locks[1].relation, "public.accounts")
  T.eq(ph.changes.locks[1].observed, true)
end)

T.case("plan after up lists only pending phases; nothing pending says so", function()
  local p = with_fixture { ["001_widen.lua"] = WIDEN }
  T.eq((p.weir("up --to 001_widen:audit")), 0)
  local rc, out = p.weir("plan")
  T.eq(rc, 0)
  T.contains(out, "1 pending phase\n")
  T.not_contains(out, "001_widen:widen")
  T.eq((p.weir("up")), 0)
  local rc2, out2 = p.weir("plan")
  T.eq(rc2, 0)
  T.contains(out2, "nothing to plan: every phase is applied")
end)

T.case("a failing phase: plan names the SQLSTATE and statement, exits 1, changes nothing", function()
  local p = with_fixture { ["001_bad.lua"] = [[
return migration "001_bad" {
  phase "ok" { up = function(db) db:exec "CREATE TABLE made (id int)" end },
  phase "bad" { up = function(db) db:exec "INSERT INTO accounts VALUES (1, 1, 'duplicate')" end },
  phase "after" { up = function(db) db:exec "CREATE TABLE later (id int)" end },
}
]] }
  local before = p.dump()
  local rc, out = p.weir("plan")
  T.eq(rc, 1)
  T.contains(out, "FAILS:     migrations/001_bad.lua:3: 23505 duplicate key value violates unique constraint \"accounts_pkey\"")
  T.contains(out, "note: not planned: 001_bad:bad fails, and `weir up` stops there")
  T.contains(out, "`weir up` would FAIL")
  T.ok(p.dump() == before, "pg_dump of the target differs after plan")
end)

T.case("a failing verify is reported and exits 1", function()
  local p = with_fixture { ["001_v.lua"] = [[
return migration "001_v" {
  phase "p" {
    up = function(db) db:exec "DELETE FROM accounts WHERE id > 40" end,
    verify = function(db) return db:value "SELECT count(*) FROM accounts" == 50, "rows went missing" end,
  },
}
]] }
  local rc, out = p.weir("plan")
  T.eq(rc, 1)
  T.contains(out, "verify:    failed: rows went missing")
  T.eq(p.value "SELECT count(*) FROM accounts", 50)
end)

T.case("a phase that would COMMIT is stopped before the COMMIT runs", function()
  local p = with_fixture { ["001_c.lua"] = [[
return migration "001_c" {
  phase "p" { up = function(db) db:exec "CREATE TABLE sneaky (id int); COMMIT" end },
}
]] }
  local rc, out = p.weir("plan")
  T.eq(rc, 1)
  T.contains(out, "refusing to run `COMMIT`")
  T.eq(p.value "SELECT to_regclass('sneaky') IS NULL", true)
  T.eq(p.value "SELECT to_regnamespace('weir') IS NULL", true)
end)

T.case("plan evaluates requires against the phases before it", function()
  local p = with_fixture { ["001_r.lua"] = [[
return migration "001_r" {
  phase "a" { up = function(db) db:exec "CREATE TABLE a (id int)" end },
  phase "b" { requires = { "a", sql = "SELECT to_regclass('a') IS NOT NULL" },
              up = function(db) db:exec "INSERT INTO a VALUES (1)" end },
  phase "c" { requires = { sql = "SELECT count(*) = 0 FROM accounts" },
              up = function(db) db:exec "SELECT 1" end },
}
]] }
  local rc, out = p.weir("plan")
  T.eq(rc, 1)
  T.contains(out, "1. INSERT INTO a VALUES (1)")
  T.contains(out, "blocked: requires (SELECT count(*) = 0 FROM accounts) to be true")
end)

T.case("plan refuses, like up, when an applied script changed", function()
  local p = with_fixture { ["001_widen.lua"] = WIDEN }
  T.eq((p.weir("up --to 001_widen:widen")), 0)
  p.write("001_widen.lua", WIDEN .. "\n-- edited\n")
  local rc, _, err = p.weir("plan")
  T.eq(rc, 1)
  T.contains(err, "migrations/001_widen.lua was changed after it was applied")
end)

T.case("a script error at load time names file:line and plans nothing", function()
  local p = with_fixture { ["001_s.lua"] = "return migration \"001_s\" {\n  phase \"x\" { up = function( end },\n}\n" }
  local rc, out, err = p.weir("plan")
  T.eq(rc, 1)
  T.eq(out, "")
  T.contains(err, "migrations/001_s.lua:2:")
end)

T.case("the quickstart example plans, goes up with its verifies, and comes down", function()
  local src = assert(os.getenv "WEIR_SOURCE_DIR")
  local f = assert(io.open(src .. "/examples/quickstart/migrations/001_projects.lua"))
  local p = project { ["001_projects.lua"] = f:read("a") }
  f:close()
  local rc, out, err = p.weir("plan")
  T.eq(rc, 0, err)
  T.contains(out, "── 001_projects:index  (non-transactional: run on a schema-only copy in a throwaway cluster)")
  T.contains(err, "backfilled 1000 slugs")  -- what the script prints goes to stderr during plan
  T.contains(out, "(and 1 read-only query; --all-sql lists them)")
  T.not_contains(out, "SELECT max(id) FROM projects")
  local _, all = p.weir("plan --all-sql")
  T.contains(all, "3. SELECT max(id) FROM projects")
  local rc2, _, err2 = p.weir("up")
  T.eq(rc2, 0, err2)
  T.eq(p.value "SELECT count(*) FROM projects WHERE slug IS NOT NULL", 1000)
  local rc3, _, err3 = p.weir("down 001_projects")
  T.eq(rc3, 0, err3)
  T.eq(p.value "SELECT to_regclass('projects') IS NULL", true)
end)

shell.cleanup()
T.done()
