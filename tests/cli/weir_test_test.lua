-- weir test: describe/it/expect files, each test in its own database; JUnit and TAP output;
-- --roundtrip proving migrations reversible (and catching one that is not).
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir_bin = assert(os.getenv "WEIR")
local url = assert(os.getenv "WEIR_TEST_BASE_URL")

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
  T.eq(db:value "SELECT count(*) FROM pg_database WHERE datname LIKE 'weir_test%'", 0, "the test databases are gone")
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
  T.contains(err2, "FAIL 003_leaky: down does not restore the schema; this would (what up left behind):")
  T.contains(err2, "DROP TABLE public.c;")
  T.contains(err2, "2 passed, 1 failed")
end)

local function weir_test(args)
  return sh("cd " .. q(tmp .. "/suite") .. " && " .. q(weir_bin) .. " test " .. args .. " --db " .. q(url))
end

T.case("a missing path or no test files fail in one line", function()
  local rc, out, err = weir_test("/nonexistent/path")
  T.eq({ rc, out, err }, { 1, "", "weir: /nonexistent/path does not exist\n" })
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
  T.eq(db:value "SELECT count(*) FROM pg_database WHERE datname LIKE 'weir_test%'", 0, "no test database is left")
end)

T.case("weir test --help says what a file without tests and --junit do", function()
  local rc, out = sh(q(weir_bin) .. " test --help")
  T.eq(rc, 0)
  T.contains(out, "one that defines no it(...) stops\nthe run before any test (exit 1)")
  T.contains(out, "(created before any test runs;\n                        removed if the run does not complete)")
end)

T.case("--junit: a path that cannot be written fails before any test runs", function()
  local rc, out, err = weir_test("--junit /nonexistent-dir/x.xml tests/accounts_test.lua")
  T.eq({ rc, out, err }, { 1, "", "weir: --junit: /nonexistent-dir/x.xml: No such file or directory\n" })
  T.eq(io.open("/nonexistent-dir/x.xml"), nil)
  rc, out, err = weir_test("--junit " .. q(tmp) .. " tests/accounts_test.lua")
  T.eq({ rc, out, err }, { 1, "", "weir: --junit: " .. tmp .. ": Is a directory\n" })
  T.eq(db:value "SELECT count(*) FROM pg_database WHERE datname LIKE 'weir_test%'", 0, "no test database was made")
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
  -- what the cut run could not drop
  db:exec "DROP DATABASE IF EXISTS weir_test_2 WITH (FORCE)"
  db:exec "DROP DATABASE IF EXISTS weir_test_template WITH (FORCE)"
  -- the same suite without the closing test completes and writes its report
  write(tmp .. "/suite/cut/none_test.lua", "it('first', function() end)")
  rc, _, err = weir_test("--junit " .. q(junit) .. " cut")
  T.eq(rc, 0, err)
  T.contains(io.open(junit):read("a"), '<testsuites tests="1" failures="0">')
  assert(os.execute("rm -rf " .. q(tmp .. "/suite/cut")))
end)

shell.cleanup()
T.done()
