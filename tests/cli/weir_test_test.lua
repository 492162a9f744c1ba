-- weir test: describe/it/expect files, each test in its own database; JUnit and TAP output;
-- --roundtrip proving migrations reversible (and catching one that is not).
-- test: own cluster (it counts and drops weir test's databases on the whole server)
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local url = assert(os.getenv "WEIR_TEST_BASE_URL")
-- Databases of `weir test` runs over test files (this suite has a server of its own; a
-- roundtrip's copies, weir_test_*_roundtrip, are counted apart).
local TEST_DBS = "datname LIKE 'weir_test%' AND datname NOT LIKE '%\\_roundtrip'"

local function write(path, text)
  assert(os.execute("mkdir -p " .. q(path:match("^(.*)/"))))
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

write(tmp .. "/suite/tests/accounts_test.lua", [[
describe("accounts", function()
  it("creates a table", function()
    db:exec "CREATE TABLE accounts (id int)"
    expect(db:value "SELECT count(*) FROM accounts"):to_be(0)
  end)
  it("does not see the table of the test before", function()
    expect(db:value "SELECT to_regclass('accounts')"):to_be_nil()
  end)
  it("compares tables deeply", function()
    expect({ 1, { a = "x" } }):to_equal({ 1, { a = "x" } })
    expect("hello world"):to_contain("lo wo")
    expect(function() db:exec "SELECT 1/0" end):to_raise("22012")
  end)
end)
]])
write(tmp .. "/suite/tests/nested/broken_test.lua", [[
describe("broken", function()
  it("names the expectation and the line", function()
    expect(1 + 1):to_equal(3)
  end)
  it("reports an SQL error", function()
    db:exec "SELECT * FROM missing_table"
  end)
end)
]])

T.case("each test runs in a fresh database; failures name the expectation and FILE:LINE", function()
  local rc, _, err = sh("cd " .. q(tmp .. "/suite") .. " && " .. q(weir_bin) .. " test --db " .. q(url))
  T.eq(rc, 1)
  T.contains(err, "ok   tests/accounts_test.lua: accounts › creates a table")
  T.contains(err, "ok   tests/accounts_test.lua: accounts › does not see the table of the test before")
  T.contains(err, "FAIL tests/nested/broken_test.lua: broken › names the expectation and the line\n     expected 3, got 2\n     at tests/nested/broken_test.lua:3")
  T.contains(err, "42P01 relation \"missing_table\" does not exist")
  T.contains(err, "3 passed, 2 failed")
  T.eq(db:value("SELECT count(*) FROM pg_database WHERE " .. TEST_DBS), 0, "the test databases are gone")
end)

T.case("os.exit in a test ends weir test with its code, after dropping the test databases", function()
  write(tmp .. "/exits/tests/exit_test.lua", [[
describe("exits", function()
  it("passes", function() expect(1):to_be(1) end)
  it("calls os.exit", function() pcall(os.exit, 5) end)
  it("never runs", function() print("NEVER") end)
end)
]])
  local rc, out, err = sh("cd " .. q(tmp .. "/exits") .. " && " .. q(weir_bin) .. " test --db " .. q(url))
  T.eq(rc, 5, err)
  T.not_contains(out .. err, "NEVER")
  T.not_contains(out .. err, "userdata")
  T.contains(err, "weir: os.exit(5) ended the command")
  T.eq(db:value("SELECT count(*) FROM pg_database WHERE " .. TEST_DBS), 0, "the test databases are gone")
end)

T.case("a passing suite exits 0; --junit writes XML; --tap prints TAP", function()
  local junit = tmp .. "/junit.xml"
  local rc, _, err = sh("cd " .. q(tmp .. "/suite") .. " && " .. q(weir_bin) .. " test tests/accounts_test.lua --junit " ..
    q(junit) .. " --db " .. q(url))
  T.eq(rc, 0, err)
  T.contains(err, "3 passed, 0 failed")
  -- well-formed XML with the JUnit structure CI systems read (xmllint from libxml2-utils)
  T.eq((sh("xmllint --noout " .. q(junit))), 0, "JUnit output parses as XML")
  local _, count = sh("xmllint --xpath 'count(/testsuites/testsuite/testcase)' " .. q(junit))
  T.eq(count:match("%S+"), "3")
  local _, failures = sh("xmllint --xpath 'string(/testsuites/@failures)' " .. q(junit))
  T.eq(failures:match("%S+"), "0")
  local xml = io.open(junit):read("a")
  T.contains(xml, '<testsuites tests="3" failures="0">')
  T.contains(xml, '<testcase classname="tests/accounts_test.lua" name="accounts › creates a table"')
  local rc2, out2 = sh("cd " .. q(tmp .. "/suite") .. " && " .. q(weir_bin) .. " test --tap --db " .. q(url))
  T.eq(rc2, 1)
  T.contains(out2, "TAP version 13\n1..5\nok 1 - tests/accounts_test.lua: accounts › creates a table")
  T.contains(out2, "not ok 4 - tests/nested/broken_test.lua: broken › names the expectation and the line\n  ---\n  message: \"expected 3, got 2\"")
end)

T.case("--roundtrip: up, verify, down restores the inspected schema, up again", function()
  local good = tmp .. "/good"
  write(good .. "/migrations/001_a.lua", [[
return migration "001_a" {
  phase "t" {
    up = function(db) db:exec "CREATE TABLE a (id bigint PRIMARY KEY)" end,
    down = function(db) db:exec "DROP TABLE a" end,
    verify = function(db) check.has_table(db, "a") end,
  },
}
]])
  write(good .. "/migrations/002_b.lua", [[
return migration "002_b" {
  phase "col" {
    up = function(db) db:exec "ALTER TABLE a ADD COLUMN b text" end,
    down = function(db) db:exec "ALTER TABLE a DROP COLUMN b" end,
  },
}
]])
  local rc, _, err = sh("cd " .. q(good) .. " && " .. q(weir_bin) .. " test --roundtrip --ephemeral")
  T.eq(rc, 0, err)
  T.contains(err, "ok   001_a: up, verify, down restores the schema")
  T.contains(err, "ok   002_b: up, verify, down restores the schema")
  T.contains(err, "2 passed, 0 failed")
  write(good .. "/migrations/003_leaky.lua", [[
return migration "003_leaky" {
  phase "p" {
    up = function(db) db:exec "CREATE TABLE c (id int); CREATE INDEX c_id ON c (id)" end,
    down = function(db) db:exec "DROP INDEX c_id" end,
  },
}
]])
  local rc2, _, err2 = sh("cd " .. q(good) .. " && " .. q(weir_bin) .. " test --roundtrip --ephemeral")
  T.eq(rc2, 1)
  T.contains(err2, "FAIL 003_leaky: down does not restore the schema; what down would also have to do:")
  T.contains(err2, "DROP TABLE public.c;")
  T.contains(err2, "2 passed, 1 failed")
end)

-- ---------------------------------------------------------------------------------------------
-- --roundtrip works on a copy, never on the database it is pointed at

local src = assert(os.getenv "WEIR_SOURCE_DIR")
local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")

local function fresh(name)
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  db:exec("CREATE DATABASE " .. name)
  return (base_url:gsub("/postgres%?", "/" .. name .. "?"))
end

-- Whether the copy a roundtrip named on its stderr still exists.
local function copy_left(err)
  local name = err:match("roundtrip on a new database (weir_test_%d+_%x+_roundtrip)")
  assert(name, "the roundtrip names its copy: " .. err)
  return db:value("SELECT count(*) FROM pg_database WHERE datname = $1", name) > 0
end

T.case("--roundtrip never touches the database's migrations: quickstart applied stays applied, with its rows", function()
  local qs = src .. "/examples/quickstart"
  local target = fresh("rt_applied")
  local rc, _, err = sh("cd " .. q(qs) .. " && " .. q(weir_bin) .. " up --db " .. q(target))
  T.eq(rc, 0, err)
  local before = shell.pg_dump(target)
  -- the three ways a database is configured: --db, $DATABASE_URL, weir.lua's db
  local project = tmp .. "/rt_project"
  assert(os.execute("mkdir -p " .. q(project) .. " && cp -r " .. q(qs .. "/migrations") .. " " .. q(project)))
  write(project .. "/weir.lua", "return { migrations = 'migrations', db = env 'RT_TARGET' }\n")
  for _, how in ipairs {
    "cd " .. q(qs) .. " && DATABASE_URL= " .. q(weir_bin) .. " test --roundtrip --db " .. q(target),
    "cd " .. q(qs) .. " && DATABASE_URL=" .. q(target) .. " " .. q(weir_bin) .. " test --roundtrip",
    "cd " .. q(project) .. " && DATABASE_URL= RT_TARGET=" .. q(target) .. " " .. q(weir_bin) .. " test --roundtrip",
  } do
    local rc2, out2, err2 = sh(how)
    T.eq(rc2, 0, how .. "\n" .. err2)
    T.eq(out2, "", "the report is on stderr")
    T.contains(err2, "roundtrip on a new database weir_test_")
    T.contains(err2, "starting from the database's schema and weir's state")
    T.contains(err2, "rolled back 001_projects on the copy (the database has it applied)")
    T.contains(err2, "ok   001_projects: up, verify, down restores the schema; up rebuilds the schema the database has")
    T.contains(err2, "1 passed, 0 failed")
    T.eq(shell.pg_dump(target), before, "the database is as it was: " .. how)
    T.eq(copy_left(err2), false, "the copy is dropped")
  end
  -- a URL whose query names the database: the copy's URL would reach the database itself
  local rc3, _, err3 = sh("cd " .. q(qs) .. " && " .. q(weir_bin) .. " test --roundtrip --db " ..
    q(base_url .. "&dbname=rt_applied"))
  T.eq(rc3, 1, err3)
  T.contains(err3, "weir: the URL made for the copy reaches database rt_applied, not weir_test_")
  T.eq(shell.pg_dump(target), before, "the database is as it was")
  local conn <close> = weir.connect(target)
  T.eq(conn:value "SELECT count(*) FROM projects", 1000)
  T.eq(conn:value "SELECT count(*) FROM weir.phases WHERE state = 'done'", 3)
end)

T.case("--roundtrip fails when up does not rebuild what the database has (an applied script edited)", function()
  local dir = tmp .. "/rt_drift"
  write(dir .. "/migrations/001_t.lua", [[
return migration "001_t" {
  phase "t" {
    up = function(db) db:exec "CREATE TABLE t (id int)" end,
    down = function(db) db:exec "DROP TABLE t" end,
  },
}
]])
  local target = fresh("rt_drift")
  local rc, _, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " up --db " .. q(target))
  T.eq(rc, 0, err)
  -- the database was changed by hand after 001_t: down then up on the copy cannot give it back
  local conn <close> = weir.connect(target)
  conn:exec "ALTER TABLE t ADD COLUMN extra text"
  local rc2, _, err2 = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --roundtrip --db " .. q(target))
  T.eq(rc2, 1, err2)
  T.contains(err2, "FAIL 001_t: up after down does not rebuild the schema the database has; the database also has:")
  T.contains(err2, "ADD COLUMN extra text")
  T.contains(err2, "0 passed, 1 failed")
  T.eq(conn:value "SELECT count(*) FROM information_schema.columns WHERE table_name = 't'", 2, "the database kept its column")
  T.eq(copy_left(err2), false, "the copy is dropped")
end)

T.case("--roundtrip with a fixture runs the migrations on its rows: verify sees them, down must keep them", function()
  local dir = tmp .. "/rt_fixture"
  write(dir .. "/fixture.lua", [[
db:exec "CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL)"
db:exec "INSERT INTO accounts SELECT g, g * 10 FROM generate_series(1, 3) g"
print("fixture: 3 accounts")
]])
  write(dir .. "/weir.lua", "return { migrations = 'migrations', fixture = 'fixture.lua' }\n")
  write(dir .. "/migrations/001_cents.lua", [[
return migration "001_cents" {
  phase "cents" {
    up = function(db) db:exec "ALTER TABLE accounts ADD COLUMN cents bigint; UPDATE accounts SET cents = balance * 100" end,
    down = function(db) db:exec "ALTER TABLE accounts DROP COLUMN cents" end,
    verify = function(db)
      return db:value "SELECT count(*) FROM accounts WHERE cents IS NOT NULL" == 3, "expected the fixture's 3 accounts"
    end,
  },
}
]])
  local target = fresh("rt_fixture")
  local rc, out, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --roundtrip --db " .. q(target))
  T.eq(rc, 0, err)
  T.eq(out, "")
  T.contains(err, "starting from what fixture.lua builds")
  T.contains(err, "fixture: 3 accounts")
  T.contains(err, "ok   001_cents: up, verify, down restores the schema")
  local conn <close> = weir.connect(target)
  T.eq(conn:value "SELECT to_regclass('accounts') IS NULL", true, "the fixture ran on the copy only")
  -- a down that loses rows
  write(dir .. "/migrations/002_purge.lua", [[
return migration "002_purge" {
  phase "p" {
    up = function(db) db:exec "CREATE TABLE archive (id int)" end,
    down = function(db) db:exec "DROP TABLE archive; DELETE FROM accounts WHERE id = 1" end,
  },
}
]])
  local rc2, _, err2 = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --roundtrip --db " .. q(target))
  T.eq(rc2, 1, err2)
  T.contains(err2, "FAIL 002_purge: down does not restore the row counts: public.accounts 3 → 2")
  T.contains(err2, "1 passed, 1 failed")
  -- --no-fixture: the database's own (empty) schema, where 001's verify finds no accounts
  local rc3, _, err3 = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --roundtrip --no-fixture --db " .. q(target))
  T.eq(rc3, 1, err3)
  T.contains(err3, "starting from the database's schema")
  -- a fixture that fails says so, in one line, and the copy is dropped
  local rc4, _, err4 = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --roundtrip --fixture nope.lua --db " .. q(target))
  T.eq(rc4, 1)
  T.contains(err4, "weir: fixture nope.lua cannot be read")
  T.eq(copy_left(err4), false, "the copy is dropped")
  local rc5, _, err5 = sh(q(weir_bin) .. " test --fixture x.lua --db " .. q(target))
  T.eq({ rc5, err5 }, { 2, "weir: test: --fixture and --no-fixture go with --roundtrip (see weir test --help)\n" })
end)

T.case("--roundtrip for a role that cannot create databases uses a throwaway cluster", function()
  local target = fresh("rt_nocreate")
  db:exec "DROP ROLE IF EXISTS rt_plain"
  db:exec "CREATE ROLE rt_plain LOGIN NOCREATEDB"
  db:exec "ALTER DATABASE rt_nocreate OWNER TO rt_plain"
  local plain = target:gsub("//postgres@", "//rt_plain@")
  local dir = tmp .. "/rt_plain"
  write(dir .. "/migrations/001_t.lua", [[
return migration "001_t" {
  phase "t" {
    up = function(db) db:exec "CREATE TABLE t (id int)" end,
    down = function(db) db:exec "DROP TABLE t" end,
  },
}
]])
  local rc, _, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --roundtrip --db " .. q(plain))
  T.eq(rc, 0, err)
  T.contains(err, "cannot create a database on the server (42501")
  T.contains(err, "roundtrip on a throwaway cluster")
  T.contains(err, "ok   001_t: up, verify, down restores the schema")
  db:exec "DROP DATABASE rt_nocreate WITH (FORCE)"
  db:exec "DROP ROLE rt_plain"
end)

T.case("--roundtrip stopped by SIGINT or killed: the copy is dropped, at once or by the next run", function()
  local dir = tmp .. "/rt_slow"
  write(dir .. "/migrations/001_slow.lua", [[
return migration "001_slow" {
  phase "s" {
    up = function(db) db:exec "SELECT pg_sleep(60)" end,
    down = function() end,
  },
}
]])
  local target = fresh("rt_slow")
  local sleeping = "for _ = 1, 400 do if db:value(\"SELECT count(*) > 0 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' " ..
    "AND datname LIKE 'weir_test_%_roundtrip'\") then return end weir.sleep(0.05) end error('never ready')"
  local function run_and(signal)
    local rc, out = sh("( cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --roundtrip --db " .. q(target) ..
      " 2>" .. q(tmp .. "/rt.err") .. " & pid=$!; " .. q(weir_bin) .. " run --db " .. q(url) .. " -e " .. q(sleeping) ..
      " && kill -" .. signal .. " $pid; wait $pid; echo \"rc=$?\" )")
    T.eq(rc, 0)
    return tonumber(out:match("rc=(%d+)")), io.open(tmp .. "/rt.err"):read("a")
  end
  local code, err = run_and("INT")
  T.eq(code, 130, err)
  T.contains(err, "0 passed, 0 failed (interrupted by SIGINT)")
  T.eq(copy_left(err), false, "the copy is dropped")
  code, err = run_and("KILL")
  T.eq(code, 137)
  T.eq(copy_left(err), true, "a killed run leaves its copy")
  local killed = err:match("(weir_test_%d+_%x+_roundtrip)")
  for _ = 1, 100 do  -- until the server has noticed the killed run's session is gone
    if db:value "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name LIKE 'weir test %'" then break end
    weir.sleep(0.05)
  end
  write(dir .. "/migrations/001_slow.lua", [[
return migration "001_slow" { phase "s" { up = function() end, down = function() end } }
]])
  local rc, _, err2 = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --roundtrip --db " .. q(target))
  T.eq(rc, 0, err2)
  T.contains(err2, "weir test: dropped " .. killed .. ", left by a run that has ended")
  T.eq(db:value("SELECT count(*) FROM pg_database WHERE datname = $1", killed), 0, "the next run dropped it")
  T.eq(copy_left(err2), false, "and its own copy")
  db:exec "DROP DATABASE rt_slow WITH (FORCE)"
end)

local function weir_test(args)
  return sh("cd " .. q(tmp .. "/suite") .. " && " .. q(weir_bin) .. " test " .. args .. " --db " .. q(url))
end

T.case("project runs weir.lua's fixture and migrations on each test's own database", function()
  local dir = tmp .. "/project"
  write(dir .. "/weir.lua", [[return { migrations = "db", fixture = "fixture.lua", vars = { n = 3 } }]])
  write(dir .. "/fixture.lua", [[
db:exec "CREATE TABLE accounts (id int PRIMARY KEY)"
db:exec("INSERT INTO accounts SELECT generate_series(1, $1::int)", weir.var "n")
print("fixture: " .. db:value "SELECT count(*) FROM accounts" .. " accounts")
]])
  write(dir .. "/db/001_flag.lua", [[
return migration "001_flag" {
  phase "add" {
    up = function(db) db:exec "ALTER TABLE accounts ADD COLUMN flag boolean NOT NULL DEFAULT false"; print("added flag") end,
    down = function(db) db:exec "ALTER TABLE accounts DROP COLUMN flag" end,
  },
  phase "set" {
    requires = { "add" },
    up = function(db) db:exec "UPDATE accounts SET flag = id % 2 = 1" end,
    down = function(db) db:exec "UPDATE accounts SET flag = false" end,
    verify = function(db) return db:value "SELECT count(*) FROM accounts WHERE flag" == 2, "two flagged" end,
  },
}
]])
  write(dir .. "/tests/flow_test.lua", [[
describe("the project", function()
  it("loads the fixture and takes the migrations up and down", function()
    expect(project.fixture()):to_equal("fixture: 3 accounts\n")
    local out = project.up("001_flag:add")
    expect(out):to_contain("added flag")
    expect(out):to_contain("001_flag:add done")
    expect(db:value "SELECT state FROM weir.phases WHERE phase = 'add'"):to_be("done")
    project.up()
    expect(db:value "SELECT count(*) FROM accounts WHERE flag"):to_be(2)
    expect(project.down("001_flag")):to_contain("001_flag:add rolled back")
    expect(db:value "SELECT count(*) FROM information_schema.columns WHERE column_name = 'flag'"):to_be(0)
  end)
  it("starts again from an empty database", function()
    expect(db:value "SELECT to_regclass('accounts')"):to_be_nil()
    project.fixture()
    db:exec "DELETE FROM accounts WHERE id = 3"
    expect(function() project.up() end):to_raise("verify failed: two flagged")
    expect(db:value "SELECT state FROM weir.phases WHERE phase = 'set'"):to_be("failed")
  end)
  it("is refused outside a migration's arguments", function()
    expect(function() project.down() end):to_raise("project.down: expected MIGRATION[:PHASE]")
  end)
end)
]])
  local rc, out, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --db " .. q(url))
  T.eq(rc, 0, err)
  T.eq(out, "", "what the scripts print is returned to the test, not shown")
  T.contains(err, "3 passed, 0 failed")
  T.not_contains(err, "added flag")
end)

T.case("project.up raises a failing phase's error at the test's line; down stops at a phase; never on --db's database", function()
  local dir = tmp .. "/project_failing"
  write(dir .. "/weir.lua", [[return { migrations = "db" }]])
  write(dir .. "/db/001_ledger.lua", [[
return migration "001_ledger" {
  phase "table" {
    up = function(db) db:exec "CREATE TABLE ledger_probe (id int PRIMARY KEY)" end,
    down = function(db) db:exec "DROP TABLE ledger_probe" end,
  },
  phase "rows" {
    up = function(db) db:exec "INSERT INTO ledger_probe VALUES (1), (2)" end,
    down = function(db) db:exec "DELETE FROM ledger_probe" end,
  },
  phase "broken" { up = function(db) db:exec "SELECT * FROM nowhere" end },
}
]])
  write(dir .. "/tests/ledger_test.lua", [[
describe("ledger", function()
  it("down to a phase keeps the phases before it", function()
    project.up("001_ledger:rows")
    project.down("001_ledger:rows")
    expect(db:value "SELECT count(*) FROM ledger_probe"):to_be(0)
    expect(db:value "SELECT state FROM weir.phases WHERE phase = 'table'"):to_be("done")
  end)
  it("a failing phase", function()
    project.up()
  end)
end)
project.up()
]])
  local rc, out, err = sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " test --db " .. q(url))
  T.eq(rc, 1, err)
  T.eq(out, "")
  T.contains(err, "FAIL tests/ledger_test.lua: (loading)\n" ..
    "     tests/ledger_test.lua:12: project: only inside it(...), where db is the test's database\n")
  T.contains(err, "ok   tests/ledger_test.lua: ledger › down to a phase keeps the phases before it\n")
  T.contains(err, "FAIL tests/ledger_test.lua: ledger › a failing phase\n     tests/ledger_test.lua:9: project.up failed:\n")
  T.contains(err, "weir: 001_ledger:broken: up failed: db/001_ledger.lua:10: 42P01 relation \"nowhere\" does not exist " ..
    "in: SELECT * FROM nowhere\n")
  T.contains(err, "1 passed, 2 failed")
  -- the file's top level ran nothing on the database weir test was pointed at
  T.eq(db:value "SELECT to_regclass('ledger_probe') IS NULL", true)
end)

T.case("a missing path or no test files fail in one line", function()
  local rc, out, err = weir_test("/nonexistent/path")
  T.eq({ rc, out, err }, { 1, "", "weir: /nonexistent/path does not exist\n" })
  -- said before connecting: a server that cannot be reached is not the first complaint
  rc, out, err = sh(q(weir_bin) .. " test /nonexistent/path --db " .. q("postgresql://nobody@/nodb?host=/nonexistent"))
  T.eq({ rc, out, err }, { 1, "", "weir: /nonexistent/path does not exist\n" })
  -- the default path too: a project without tests/ is told so, before connecting
  assert(os.execute("mkdir -p " .. q(tmp .. "/no_tests_here")))
  rc, out, err = sh("cd " .. q(tmp .. "/no_tests_here") .. " && " .. q(weir_bin) .. " test --db " ..
                    q("postgresql://nobody@/nodb?host=/nonexistent"))
  T.eq({ rc, out, err }, { 1, "", "weir: tests does not exist\n" })
  assert(os.execute("mkdir -p " .. q(tmp .. "/empty/sub")))
  rc, out, err = weir_test(q(tmp .. "/empty"))
  T.eq({ rc, out, err }, { 1, "", "weir: no *_test.lua files in " .. tmp .. "/empty\n" })
end)

T.case("a file that defines no it(...) stops the run before any test", function()
  write(tmp .. "/suite/later/pending_test.lua", [[
describe("pending", function()
  -- nothing yet
end)
]])
  local rc, out, err = weir_test("later/pending_test.lua")
  T.eq({ rc, out, err }, { 1, "", "weir: no tests ran: later/pending_test.lua defines no it(...)\n" })
  -- with other files: none of their tests runs either
  rc, out, err = weir_test("tests/accounts_test.lua later")
  T.eq({ rc, out, err }, { 1, "", "weir: no tests ran: later/pending_test.lua defines no it(...)\n" })
  write(tmp .. "/suite/later/empty_test.lua", "")
  rc, out, err = weir_test("later")
  T.eq({ rc, out, err }, { 1, "",
    "weir: no tests ran: later/empty_test.lua, later/pending_test.lua define no it(...)\n" })
  -- a file that fails to load is a failure of its own, reported with the others
  write(tmp .. "/suite/later/empty_test.lua", "error('boom')")
  write(tmp .. "/suite/later/pending_test.lua", "it('passes', function() end)")
  rc, out, err = weir_test("later")
  T.eq(rc, 1)
  T.contains(err, "FAIL later/empty_test.lua: (loading)\n     later/empty_test.lua:1: boom")
  T.contains(err, "ok   later/pending_test.lua: passes")
  T.contains(err, "1 passed, 1 failed")
  assert(os.execute("rm -rf " .. q(tmp .. "/suite/later")))
  T.eq(db:value("SELECT count(*) FROM pg_database WHERE " .. TEST_DBS), 0, "no test database is left")
end)

T.case("weir test --help says what a file without tests and --junit do", function()
  local rc, out = sh(q(weir_bin) .. " test --help")
  T.eq(rc, 0)
  T.contains(out, "one that defines no it(...) stops\nthe run before any test (exit 1)")
  T.contains(out, "(created before any test runs;\n                        removed if the run does not complete)")
  T.contains(out, "Ctrl-C (SIGINT) or SIGTERM stops the run: the running test fails as interrupted")
  T.contains(out, "A run's databases are weir_test_<run>_*, so runs can share a server")
end)

T.case("--junit: a path that cannot be written fails before any test runs", function()
  local rc, out, err = weir_test("--junit /nonexistent-dir/x.xml tests/accounts_test.lua")
  T.eq({ rc, out, err }, { 1, "", "weir: --junit: /nonexistent-dir/x.xml: No such file or directory\n" })
  T.eq(io.open("/nonexistent-dir/x.xml"), nil)
  rc, out, err = weir_test("--junit " .. q(tmp) .. " tests/accounts_test.lua")
  T.eq({ rc, out, err }, { 1, "", "weir: --junit: " .. tmp .. ": Is a directory\n" })
  T.eq(db:value("SELECT count(*) FROM pg_database WHERE " .. TEST_DBS), 0, "no test database was made")
end)

T.case("--junit: a run that does not complete leaves no report, not even an old one", function()
  local junit = tmp .. "/cut.xml"
  local function stale()
    local f = assert(io.open(junit, "w"))
    f:write("<testsuites/>\n")
    f:close()
  end
  -- the run stops before its tests: a file without tests
  write(tmp .. "/suite/cut/none_test.lua", "describe('none', function() end)")
  stale()
  local rc, _, err = weir_test("--junit " .. q(junit) .. " cut")
  T.eq({ rc, err }, { 1, "weir: no tests ran: cut/none_test.lua defines no it(...)\n" })
  T.eq(io.open(junit), nil, "no report")
  -- a path that is not a regular file (a pipe here; /dev/stdout alike) is written, never removed
  local fifo = tmp .. "/report.fifo"
  assert(os.execute("mkfifo " .. q(fifo)))
  rc, _, err = sh("cd " .. q(tmp .. "/suite") .. " && (cat " .. q(fifo) .. " >/dev/null &) && " .. q(weir_bin) ..
                  " test --junit " .. q(fifo) .. " cut --db " .. q(url))
  T.eq({ rc, err }, { 1, "weir: no tests ran: cut/none_test.lua defines no it(...)\n" })
  T.eq((sh("test -p " .. q(fifo))), 0, "the pipe is still there")
  -- the run stops in the middle: a test closes the connection weir runs the suite on
  write(tmp .. "/suite/cut/none_test.lua", [[
it("first", function() end)
it("closes weir's own connection", function() _G.db:close() end)
it("never runs", function() end)
]])
  stale()
  rc, _, err = weir_test("--junit " .. q(junit) .. " cut")
  T.eq(rc, 1)
  T.ok(err:match("^weir: [^\n]*attempt to use a closed connection\n$"), err)
  T.eq(io.open(junit), nil, "no report")
  -- its databases are dropped all the same, on a connection of their own
  T.eq(db:value("SELECT count(*) FROM pg_database WHERE " .. TEST_DBS), 0, "no test database is left")
  -- the same suite without the closing test completes and writes its report
  write(tmp .. "/suite/cut/none_test.lua", "it('first', function() end)")
  rc, _, err = weir_test("--junit " .. q(junit) .. " cut")
  T.eq(rc, 0, err)
  T.contains(io.open(junit):read("a"), '<testsuites tests="1" failures="0">')
  assert(os.execute("rm -rf " .. q(tmp .. "/suite/cut")))
end)

local function test_dbs()
  return db:value("SELECT count(*) FROM pg_database WHERE " .. TEST_DBS)
end

T.case("two runs against one server at once both pass, each in databases of its own", function()
  -- each run's first test waits until the other run's template and test database exist too,
  -- then keeps its own a while
  write(tmp .. "/suite/both/overlap_test.lua", [[
it("runs while the other run does", function()
  local seen = 0
  for _ = 1, 400 do
    seen = db:value "SELECT count(*) FROM pg_database WHERE datname LIKE 'weir_test_%' AND datname NOT LIKE '%\\_roundtrip'"
    if seen >= 4 then break end
    weir.sleep(0.05)
  end
  expect(seen >= 4):to_be(true)
  weir.sleep(1)  -- long enough for the other run to see this one's databases too
end)
it("has a database of its own", function()
  db:exec "CREATE TABLE mine (id int)"
  expect(db:value "SELECT count(*) FROM mine"):to_be(0)
end)
]])
  -- the second starts once the first's databases exist: it must not take them for leftovers
  local run = "cd " .. q(tmp .. "/suite") .. " && " .. q(weir_bin) .. " test both --db " .. q(url)
  local started = "for _ = 1, 400 do if db:value(\"SELECT count(*) >= 2 FROM pg_database WHERE " .. TEST_DBS .. "\") " ..
    "then return end weir.sleep(0.05) end error('the first run never started')"
  local rc, out = sh("( " .. run .. " 2>" .. q(tmp .. "/a.err") .. " & a=$!; " ..
    q(weir_bin) .. " run --db " .. q(url) .. " -e " .. q(started) .. "; " ..
    run .. " 2>" .. q(tmp .. "/b.err") .. " & b=$!; wait $a; echo \"a=$?\"; wait $b; echo \"b=$?\" )")
  T.eq(rc, 0)
  local a, b = io.open(tmp .. "/a.err"):read("a"), io.open(tmp .. "/b.err"):read("a")
  T.eq(out, "a=0\nb=0\n", a .. b)
  T.contains(a, "2 passed, 0 failed")
  T.contains(b, "2 passed, 0 failed")
  T.eq(test_dbs(), 0, "no test database is left")
  assert(os.execute("rm -rf " .. q(tmp .. "/suite/both")))
end)

-- Starts `weir test ARGS` in the background, waits until `ready` (SQL, true once the run is where
-- it should be), sends `signal`; returns weir's exit code, stdout and stderr.
local function signal_run(args, ready, signal)
  local wait = ("for _ = 1, 400 do if db:value(%q) then return end weir.sleep(0.05) end error('never ready')"):format(ready)
  local rc, out = sh("( cd " .. q(tmp .. "/suite") .. " && " .. q(weir_bin) .. " test " .. args .. " --db " .. q(url) ..
    " >" .. q(tmp .. "/sig.out") .. " 2>" .. q(tmp .. "/sig.err") .. " & pid=$!; " ..
    q(weir_bin) .. " run --db " .. q(url) .. " -e " .. q(wait) .. " && kill -" .. signal .. " $pid; wait $pid; echo \"rc=$?\" )")
  T.eq(rc, 0)
  return tonumber(out:match("rc=(%d+)")), io.open(tmp .. "/sig.out"):read("a"), io.open(tmp .. "/sig.err"):read("a")
end

write(tmp .. "/suite/stop/a_test.lua", [[
it("first", function() db:exec "CREATE TABLE t (id int)" end)
it("sleeps", function() db:exec "SELECT pg_sleep(60)" end)
it("never runs", function() end)
]])
write(tmp .. "/suite/stop/c_test.lua", [[
it("never runs either", function() end)
]])
write(tmp .. "/suite/stop/b_test.lua", [[
it("spins", function()
  db:exec "SET application_name = 'weir-test-spinning'"
  while true do end
end)
it("never runs after it", function() end)
]])

T.case("SIGINT stops the run: the test fails as interrupted, no other runs, exit 130, no database left", function()
  local junit = tmp .. "/int.xml"
  local rc, out, err = signal_run("stop/a_test.lua stop/c_test.lua --junit " .. q(junit),
    "SELECT count(*) > 0 FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'", "INT")
  T.eq(rc, 130, err)
  T.eq(out, "")
  T.eq(err, "ok   stop/a_test.lua: first\n" ..
    "FAIL stop/a_test.lua: sleeps\n     interrupted by SIGINT\n" ..
    "1 passed, 1 failed, 2 not run (interrupted by SIGINT)\n")
  T.eq(test_dbs(), 0, "no test database is left")
  -- the JUnit report has the tests that ran
  T.eq((sh("xmllint --noout " .. q(junit))), 0, "JUnit output parses as XML")
  local xml = io.open(junit):read("a")
  T.contains(xml, '<testsuites tests="2" failures="1">')
  T.contains(xml, '<testcase classname="stop/a_test.lua" name="first"')
  T.contains(xml, '<testcase classname="stop/a_test.lua" name="sleeps"')
  T.contains(xml, '<failure message="interrupted by SIGINT">')
  T.not_contains(xml, "never runs")
end)

T.case("SIGTERM stops a test busy in Lua the same way, exit 143; TAP ends with Bail out!", function()
  local rc, out, err = signal_run("stop/b_test.lua --tap",
    "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'weir-test-spinning'", "TERM")
  T.eq(rc, 143, err)
  T.eq(out, "TAP version 13\n1..1\nnot ok 1 - stop/b_test.lua: spins\n  ---\n  message: \"interrupted by SIGTERM\"\n  ...\n" ..
    "Bail out! interrupted by SIGTERM\n")
  T.eq(err, "0 passed, 1 failed, 1 not run (interrupted by SIGTERM)\n")
  T.eq(test_dbs(), 0, "no test database is left")
end)

T.case("a signal while weir itself makes a test's database stops the run the same way", function()
  -- The first test waits until the watcher holds a session on the run's template, so that the
  -- next CREATE DATABASE waits for it (up to 5 s) and the signal comes while weir's own
  -- statement runs, not a test's. Each side waits for the other: no timing assumed.
  write(tmp .. "/suite/stop/slow_test.lua", [[
it("first", function()
  db:exec "SET application_name = 'weir-test-first'"
  for _ = 1, 600 do
    if db:value "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname LIKE 'weir_test_%_template'" then return end
    db:exec "SELECT pg_sleep(0.05)"
  end
  error("the watcher never connected to the template")
end)
it("second", function() end)
]])
  local watcher = ([[
    for _ = 1, 600 do -- the first test runs, so its own database is made already
      if db:value "SELECT count(*) > 0 FROM pg_stat_activity WHERE application_name = 'weir-test-first'" then break end
      weir.sleep(0.05)
    end
    local tpl = db:value "SELECT datname::text FROM pg_database WHERE datname LIKE 'weir_test_%%_template'"
    local on_template = weir.connect((%q):gsub("/postgres%%?", "/" .. tpl .. "?"))
    for _ = 1, 600 do
      if db:value "SELECT count(*) > 0 FROM pg_stat_activity WHERE query LIKE 'CREATE DATABASE weir_test_%%' AND state = 'active'" then
        os.execute("kill -INT " .. arg[1])
        weir.sleep(1)
        return
      end
      weir.sleep(0.05)
    end
    error("weir test never waited for its template")]]):format(url)
  local junit = tmp .. "/create.xml"
  local rc, out = sh("( cd " .. q(tmp .. "/suite") .. " && " .. q(weir_bin) .. " test stop/slow_test.lua --junit " .. q(junit) ..
    " --db " .. q(url) .. " 2>" .. q(tmp .. "/sig.err") .. " & pid=$!; " ..
    q(weir_bin) .. " run --unsafe --db " .. q(url) .. " -e " .. q(watcher) .. " $pid; wait $pid; echo \"rc=$?\" )")
  T.eq(rc, 0)
  local err = io.open(tmp .. "/sig.err"):read("a")
  T.eq(out, "rc=130\n", err)
  T.eq(err, "ok   stop/slow_test.lua: first\nFAIL stop/slow_test.lua: second\n     interrupted by SIGINT\n" ..
    "1 passed, 1 failed, 0 not run (interrupted by SIGINT)\n")
  T.contains(io.open(junit):read("a"), '<testsuites tests="2" failures="1">')
  T.eq(test_dbs(), 0, "no test database is left")
end)

T.case("a run drops what runs that have ended left behind, never a live run's databases", function()
  -- a killed run's: no session is named after it any more
  db:exec "CREATE DATABASE weir_test_4242_deadbeef_template"
  db:exec "CREATE DATABASE weir_test_4242_deadbeef_3"
  -- a live run's: its session is still connected
  local live = weir.connect(url)
  live:exec "SET application_name = 'weir test 4343_cafebabe'"
  db:exec "CREATE DATABASE weir_test_4343_cafebabe_template"
  -- an earlier weir's fixed names: nothing tells whose they are
  db:exec "CREATE DATABASE weir_test_template"
  local rc, _, err = weir_test("tests/accounts_test.lua")
  T.eq(rc, 0, err)
  T.contains(err, "weir test: dropped weir_test_4242_deadbeef_3, weir_test_4242_deadbeef_template, left by a run that has ended\n")
  local left = {}
  for _, r in ipairs(db:query("SELECT datname::text AS d FROM pg_database WHERE " .. TEST_DBS .. " ORDER BY 1")) do
    left[#left + 1] = r.d
  end
  T.eq(left, { "weir_test_4343_cafebabe_template", "weir_test_template" })
  -- once that run has ended, the next run drops its database too
  live:close()
  for _ = 1, 100 do
    if db:value "SELECT count(*) = 0 FROM pg_stat_activity WHERE application_name = 'weir test 4343_cafebabe'" then break end
    weir.sleep(0.05)
  end
  rc, _, err = weir_test("tests/accounts_test.lua")
  T.eq(rc, 0, err)
  T.contains(err, "weir test: dropped weir_test_4343_cafebabe_template, left by a run that has ended\n")
  T.eq(db:value("SELECT count(*) FROM pg_database WHERE " .. TEST_DBS), 1)
  db:exec "DROP DATABASE weir_test_template"
end)

shell.cleanup()
T.done()
