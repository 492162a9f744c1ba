--- test_runner: `weir test` -- runs *_test.lua files written with describe/it/expect, each test
--- in a fresh database cloned from an empty template (so tests cannot leak into each other),
--- and `weir test --roundtrip`, which proves every migration reversible on a copy of the
--- database (never on the database itself).
local runner = require "runner"
local history = require "history"
local core = require "copy.core"
local util = require "weir_util"

local M = {}

local function say(fmt, ...) io.stderr:write(string.format(fmt, ...), "\n") end

-- ---- expectations -------------------------------------------------------------------------

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" and v ~= db.NULL then
    local ok, text = pcall(json.encode, v)
    if ok then return text end
  end
  return tostring(v)
end

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

-- An expectation failure: raised as text at the test's line (error level 3: fail ← the
-- expectation method ← the test), marked so the runner tells it from an error in the test.
local MARK = "\0expect\0"

local function fail(message) error(MARK .. message, 3) end

local Expect = {}
Expect.__index = Expect

function Expect:to_be(expected)
  if self.actual ~= expected then fail(("expected %s, got %s"):format(show(expected), show(self.actual))) end
end
function Expect:to_equal(expected)
  if not deep_equal(self.actual, expected) then fail(("expected %s, got %s"):format(show(expected), show(self.actual))) end
end
function Expect:to_be_truthy()
  if not self.actual or self.actual == db.NULL then fail(("expected a true value, got %s"):format(show(self.actual))) end
end
function Expect:to_be_nil()
  if self.actual ~= nil and self.actual ~= db.NULL then fail(("expected nil, got %s"):format(show(self.actual))) end
end
function Expect:to_contain(part)
  local a = self.actual
  if type(a) == "string" then
    if not a:find(part, 1, true) then fail(("expected %s to contain %s"):format(show(a), show(part))) end
  elseif type(a) == "table" then
    for _, v in ipairs(a) do
      if deep_equal(v, part) then return end
    end
    fail(("expected %s to contain %s"):format(show(a), show(part)))
  else
    fail("to_contain: expected a string or a list, got " .. type(a))
  end
end
function Expect:to_raise(pattern)
  if type(self.actual) ~= "function" then fail("to_raise: expect(...) needs a function") end
  local ok, err = pcall(self.actual)
  if ok then fail("expected an error" .. (pattern and (" matching " .. show(pattern)) or "") .. ", nothing was raised") end
  local text = type(err) == "table" and (err.sqlstate and (err.sqlstate .. " " .. err.message) or err.message) or tostring(err)
  if pattern and not tostring(text):find(pattern, 1, true) then
    fail(("expected an error containing %s, got %s"):format(show(pattern), show(text)))
  end
end

local function expect(actual) return setmetatable({ actual = actual }, Expect) end

-- ---- databases for tests --------------------------------------------------------------------

-- The target of `conn` with its database replaced by `name`.
local function with_database(target, name)
  if target:match("^postgres") then
    local scheme, rest = target:match("^(postgres[a-z]*://)(.*)$")
    local authority, path_and_query = rest:match("^([^/?]*)(.*)$")
    local query = path_and_query:match("(%?.*)$") or ""
    return scheme .. authority .. "/" .. name .. query
  end
  return target .. " dbname=" .. name
end

-- ---- running test files ---------------------------------------------------------------------

local function collect(paths)
  local files = {}
  local function walk(path)
    local names = weir.list_dir(path)
    if names then
      for _, n in ipairs(names) do walk(path .. "/" .. n) end
    elseif path:match("_test%.lua$") then
      files[#files + 1] = path
    end
  end
  for _, p in ipairs(paths) do walk(p) end -- cmd_test.cpp has checked that they exist
  table.sort(files)
  return files
end

local function xml(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

-- `project` in test files: the project's fixture and migrations (weir.lua's `fixture` and
-- `migrations`, or --dir) run on the test's own database, in this process, as `weir run
-- fixture.lua`, `weir up` and `weir down` would run them there. What they print and what weir
-- says is returned as one text (or, when weir fails, raised with it), not shown.
local load_fixture  -- (defined with --roundtrip below)

local function project_api(opts, env)
  local P = {}
  -- Runs fn with the global `db` (which migrations and fixtures use) on the test's database
  -- and with print and io.stderr captured; returns fn's results and the captured text.
  local function on_test_db(fn)
    -- the file's own db, set while a test runs: outside one, env.db would be the global db,
    -- the database weir test creates the tests' databases from, which the project must not touch
    local conn = rawget(env, "db")
    if conn == nil then error("project: only inside it(...), where db is the test's database", 3) end
    local parts = {}
    local sink = {
      write = function(self, ...)
        for i = 1, select("#", ...) do parts[#parts + 1] = tostring((select(i, ...))) end
        return self
      end,
      flush = function(self) return self end,
    }
    local saved_db, saved_print, saved_stderr = rawget(_G, "db"), print, io.stderr
    rawset(_G, "db", conn)
    rawset(_G, "print", function(...)
      local t = table.pack(...)
      for i = 1, t.n do t[i] = tostring(t[i]) end
      parts[#parts + 1] = table.concat(t, "\t", 1, t.n) .. "\n"
    end)
    io.stderr = sink
    local res = table.pack(pcall(fn, conn))
    io.stderr = saved_stderr
    rawset(_G, "print", saved_print)
    rawset(_G, "db", saved_db)
    local text = table.concat(parts)
    if not res[1] then
      local e = res[2]
      if type(e) == "table" and e.sqlstate then e = runner.error_text(e) end
      error((text ~= "" and (text .. "\n") or "") .. tostring(e), 0)
    end
    return text, table.unpack(res, 2, res.n)
  end
  local function run_opts(conn, extra)
    local o = { dir = opts.dir, schema = opts.schema, url = core.target_of(conn), lock_wait = opts.lock_wait,
      lock_timeout_ms = opts.lock_timeout_ms, statement_timeout_ms = opts.statement_timeout_ms,
      retries = opts.retries }
    for k, v in pairs(extra) do o[k] = v end
    return o
  end
  -- P.up and P.down tail-call this, so level 2 is their caller: the test's line.
  local function command(name, fn)
    local text, code = on_test_db(fn)
    if code ~= 0 then error(("project.%s failed:\n%s"):format(name, (text:gsub("\n$", ""))), 2) end
    return text
  end

  ---Runs the project's fixture (or `path`) on the test's database.
  function P.fixture(path)
    path = path or opts.fixture
    if type(path) ~= "string" or path == "" then
      error("project.fixture: weir.lua names no fixture; pass the path", 2)
    end
    return (on_test_db(function() load_fixture(path, "on the test's database") end))
  end

  ---`weir up [--to TO]` on the test's database.
  function P.up(to)
    return command("up", function(conn) return runner.up(run_opts(conn, { command = "up", to = to })) end)
  end

  ---`weir down TARGET` on the test's database.
  function P.down(target)
    if type(target) ~= "string" or target == "" then error("project.down: expected MIGRATION[:PHASE]", 2) end
    return command("down", function(conn) return runner.down(run_opts(conn, { command = "down", target = target })) end)
  end
  return P
end

-- Runs a test file's top level, which declares its tests with describe/it. Returns
-- { file, env, tests, load_error }.
local function load_test_file(file, opts)
  local loaded = { file = file, tests = {} }
  local tests, stack = loaded.tests, {}
  local env = setmetatable({}, { __index = _G })
  env.describe = function(name, fn)
    stack[#stack + 1] = name
    fn()
    stack[#stack] = nil
  end
  env.it = function(name, fn)
    local full = table.concat(stack, " › ") .. (#stack > 0 and " › " or "") .. name
    tests[#tests + 1] = { name = full, fn = fn }
  end
  env.expect = expect
  env.project = project_api(opts, env)
  loaded.env = env
  local chunk, err = loadfile(file, "t", env)
  if not chunk then
    loaded.load_error = err
  else
    local ok, lerr = pcall(chunk)
    if not ok then loaded.load_error = tostring(lerr) end
  end
  return loaded
end

-- ---- the run's databases ----------------------------------------------------------------
-- A run's databases are weir_test_<run>_template and weir_test_<run>_<n> (a roundtrip's copy:
-- weir_test_<run>_roundtrip), where <run> is the backend pid of the run's own session and 8
-- random hex digits; while the run lasts, that session's application_name is "weir test <run>". So runs against one server never share a
-- database, and a run can tell what a run that has ended left behind (no session carries its
-- name any more) from a live run's databases, which it never touches.

local LEFTOVERS = [[
  SELECT d.datname::text AS name FROM pg_catalog.pg_database d
   WHERE d.datname ~ '^weir_test_[0-9]+_[0-9a-f]{8}_(template|roundtrip|[0-9]+)$'
     AND pg_catalog.pg_has_role(d.datdba, 'MEMBER')
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a
                      WHERE a.application_name = 'weir test ' || substring(d.datname from '^weir_test_([0-9]+_[0-9a-f]{8})_'))
   ORDER BY 1]]

local function mark_session(conn, run)
  conn:value("SELECT pg_catalog.set_config('application_name', $1, false)", "weir test " .. run)
end

-- Drops the databases of runs that have ended without dropping them (killed, or their machine
-- gone) that this role may drop, saying which on stderr.
local function drop_leftovers(admin)
  local dropped = {}
  for _, r in ipairs(admin:query(LEFTOVERS)) do
    local ok, err = pcall(admin.exec, admin, "DROP DATABASE IF EXISTS " .. r.name .. " WITH (FORCE)")
    if ok then
      dropped[#dropped + 1] = r.name
    else
      say("weir test: could not drop %s, left by a run that has ended: %s", r.name, util.error_line(err))
    end
  end
  if #dropped > 0 then say("weir test: dropped %s, left by a run that has ended", table.concat(dropped, ", ")) end
end

local SIGNALS = { [2] = "SIGINT", [15] = "SIGTERM" }
local function interrupted_by(sig) return "interrupted by " .. (SIGNALS[sig] or ("signal " .. sig)) end

local function run_loaded_files(opts, files, junit)
  -- every file is loaded before any test runs: a file that declares no test stops the run
  local loaded, empty = {}, {}
  for i, file in ipairs(files) do
    loaded[i] = load_test_file(file, opts)
    if not loaded[i].load_error and #loaded[i].tests == 0 then empty[#empty + 1] = file end
  end
  if #empty > 0 then
    error(("no tests ran: %s %s no it(...)"):format(table.concat(empty, ", "), #empty == 1 and "defines" or "define"), 0)
  end
  local total = 0
  for _, l in ipairs(loaded) do total = total + #l.tests + (l.load_error and 1 or 0) end

  local admin = db
  local target = core.target_of(admin)
  local id = admin:one("SELECT pg_catalog.pg_backend_pid() AS pid, substr(md5(random()::text || clock_timestamp()::text), 1, 8) AS r")
  local run = id.pid .. "_" .. id.r
  mark_session(admin, run)  -- before any database of the run exists
  local template = "weir_test_" .. run .. "_template"
  local made, made_order = {}, {}  -- databases of the run not dropped yet (perhaps not made: interrupted)
  local results = {}
  local conn  -- the running test's connection

  -- A test's result is in `results` from before its database is made, as interrupted, until it
  -- is done: a signal at any moment leaves it there as the test that was interrupted.
  local function run_all()
    drop_leftovers(admin)
    made[template] = true
    made_order[#made_order + 1] = template
    admin:exec("CREATE DATABASE " .. template)
    local n = 0
    for _, l in ipairs(loaded) do
      local file, env, tests = l.file, l.env, l.tests
      local file_result = { file = file, tests = {} }
      results[#results + 1] = file_result
      if l.load_error then
        file_result.tests[1] = { name = "(loading)", ok = false, message = l.load_error, done = true }
      end
      for _, t in ipairs(tests) do
        n = n + 1
        local name = "weir_test_" .. run .. "_" .. n
        local r = { name = t.name, ok = false, t0 = weir.clock() }
        file_result.tests[#file_result.tests + 1] = r
        made[name] = true
        made_order[#made_order + 1] = name
        admin:exec("CREATE DATABASE " .. name .. " TEMPLATE " .. template)
        conn = weir.connect(with_database(target, name))
        env.db = conn
        local ok2, terr = xpcall(t.fn, function(e)
          if type(e) == "string" then
            local where, message = e:match("^(.-): " .. MARK .. "(.*)$")
            if where then return { message = message, where = where } end
            return { message = e, where = "" }
          end
          local text = type(e) == "table" and e.sqlstate and ((e.where or "") .. e.sqlstate .. " " .. e.message) or tostring(e)
          return { message = text, where = "" }
        end, conn)
        r.seconds = weir.clock() - r.t0
        if type(terr) ~= "table" then terr = { message = tostring(terr), where = "" } end
        r.ok, r.message, r.where = ok2, not ok2 and terr.message or nil, not ok2 and terr.where or nil
        local sig = core.interrupted()
        if sig then  -- also when the test caught the error the signal raised in it
          r.ok, r.message, r.where = false, interrupted_by(sig), nil
        end
        r.done = true
        conn:close()
        conn = nil
        admin:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
        made[name] = nil
        if sig then return end
      end
    end
  end

  local ok, err = core.interruptible(run_all)
  -- From here on a signal stops nothing: it is recorded (a second one ends weir at once), so
  -- the run's databases are dropped and the report written whatever happens.
  local sig = core.interrupted()
  if conn then pcall(conn.close, conn) end
  local cleaner  -- a connection of its own, if the run's can no longer be used
  for i = #made_order, 1, -1 do
    local name = made_order[i]
    if made[name] then
      local dropped, derr = pcall(admin.exec, admin, "DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
      if not dropped then
        if not cleaner then
          local c_ok, c = pcall(weir.connect, target)
          if c_ok then
            cleaner = c
            pcall(mark_session, cleaner, run)
          end
        end
        if cleaner then dropped, derr = pcall(cleaner.exec, cleaner, "DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)") end
      end
      if not dropped then say("weir test: could not drop database %s: %s", name, util.error_line(derr)) end
    end
  end
  if cleaner then pcall(cleaner.close, cleaner) end
  if not ok and not sig then error(err, 0) end
  if sig then
    for _, f in ipairs(results) do
      for _, t in ipairs(f.tests) do
        if not t.done then t.ok, t.message, t.seconds = false, interrupted_by(sig), weir.clock() - t.t0 end
      end
    end
  end

  -- report
  local passed, failed, k = 0, 0, 0
  local tap = { "TAP version 13" }
  local out = io.stderr
  for _, f in ipairs(results) do
    for _, t in ipairs(f.tests) do
      k = k + 1
      if t.ok then
        passed = passed + 1
        if not opts.tap then out:write(("ok   %s: %s\n"):format(f.file, t.name)) end
        tap[#tap + 1] = ("ok %d - %s: %s"):format(k, f.file, t.name)
      else
        failed = failed + 1
        if not opts.tap then
          out:write(("FAIL %s: %s\n     %s%s\n"):format(f.file, t.name, t.message,
            (t.where and t.where ~= "") and ("\n     at " .. t.where) or ""))
        end
        tap[#tap + 1] = ("not ok %d - %s: %s"):format(k, f.file, t.name)
        tap[#tap + 1] = "  ---"
        tap[#tap + 1] = "  message: " .. string.format("%q", t.message or "")
        if t.where and t.where ~= "" then tap[#tap + 1] = "  at: " .. t.where end
        tap[#tap + 1] = "  ..."
      end
    end
  end
  if opts.tap then
    table.insert(tap, 2, "1.." .. k)
    if sig then tap[#tap + 1] = "Bail out! " .. interrupted_by(sig) end
    io.stdout:write(table.concat(tap, "\n"), "\n")
  end
  if junit then
    local x = { '<?xml version="1.0" encoding="UTF-8"?>', ('<testsuites tests="%d" failures="%d">'):format(k, failed) }
    for _, f in ipairs(results) do
      local fails = 0
      for _, t in ipairs(f.tests) do if not t.ok then fails = fails + 1 end end
      x[#x + 1] = ('  <testsuite name="%s" tests="%d" failures="%d">'):format(xml(f.file), #f.tests, fails)
      for _, t in ipairs(f.tests) do
        x[#x + 1] = ('    <testcase classname="%s" name="%s" time="%.3f">'):format(xml(f.file), xml(t.name), t.seconds or 0)
        if not t.ok then
          x[#x + 1] = ('      <failure message="%s">%s</failure>'):format(xml(t.message), xml((t.where or "")))
        end
        x[#x + 1] = "    </testcase>"
      end
      x[#x + 1] = "  </testsuite>"
    end
    x[#x + 1] = "</testsuites>"
    local wok, werr = junit:write(table.concat(x, "\n"), "\n")
    if wok then wok, werr = junit:close() end
    if not wok then error("--junit: " .. opts.junit .. ": " .. tostring(werr), 0) end
  end
  out:write(("%d passed, %d failed%s\n"):format(passed, failed,
    sig and (", %d not run (%s)"):format(total - k, interrupted_by(sig)) or ""))
  sig = core.interrupted()  -- also one that came during the cleanup or the report
  if sig then return 128 + sig end
  return failed == 0 and 0 or 1
end

local function run_files(opts)
  local paths = {}
  for p in opts.paths:gmatch("[^\n]+") do paths[#paths + 1] = p end
  local files = collect(paths)
  if #files == 0 then error("no *_test.lua files in " .. table.concat(paths, ", "), 0) end
  -- the JUnit file is created before anything runs, so a path that cannot be written fails
  -- at once; a run that does not complete removes it rather than leave a partial report
  local junit
  if opts.junit then
    local ferr
    junit, ferr = io.open(opts.junit, "w")
    if not junit then error("--junit: " .. ferr, 0) end
  end
  local ok, code = pcall(run_loaded_files, opts, files, junit)
  if not ok then
    if junit then
      pcall(junit.close, junit)
      if opts.junit_removable then os.remove(opts.junit) end -- a regular file (cmd_test.cpp)
    end
    error(code, 0)
  end
  return code
end

-- ---- --roundtrip ------------------------------------------------------------------------------
-- What a roundtrip proves, for each migration M of the directory, in order, on a copy:
--   up M succeeds (its verifies pass); down M succeeds; afterwards the inspected schema (weir's
--   state schema aside) is exactly what it was before up M, and every table that was there
--   before has as many rows as before; up M again succeeds (the next migration builds on it).
-- Migrations the database has applied (its weir state is copied too) are rolled back on the
-- copy first, latest first; for each of them up must then rebuild exactly the schema the copy
-- had with it applied. The database itself is only read: the copy is a new database on the
-- same server (schema from pg_dump, or what the fixture builds), or a throwaway cluster when
-- the role cannot create databases; it is dropped afterwards, whatever happens.

local ROW_COUNT_TABLES = [[
  SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) AS name
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
     AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
     AND n.nspname <> $1
   ORDER BY 1]]

local function row_counts(conn, state)
  local out = {}
  for _, t in ipairs(conn:query(ROW_COUNT_TABLES, state)) do
    out[t.name] = conn:value("SELECT count(*) FROM " .. t.name)
  end
  return out
end

-- "public.t 100 → 0" for each table of `before` whose count changed (tables down dropped are
-- the schema comparison's to report).
local function count_changes(before, after)
  local out = {}
  for name, n in pairs(before) do
    if after[name] and after[name] ~= n then out[#out + 1] = ("%s %d → %d"):format(name, n, after[name]) end
  end
  table.sort(out)
  return out
end

-- The database's encoding and collation, for a copy that sorts and compares as it does.
local function create_copy_sql(admin, name)
  local d = admin:one [[
    SELECT pg_catalog.pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype
      FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()]]
  return ("CREATE DATABASE %s TEMPLATE template0 ENCODING %s LC_COLLATE %s LC_CTYPE %s"):format(name,
    admin:quote_literal(d.encoding), admin:quote_literal(d.collate), admin:quote_literal(d.ctype))
end

-- Runs the fixture script on the copy: its globals are the script environment, `db` the copy.
function load_fixture(path, where)
  local f = io.open(path)
  if not f then error("fixture " .. path .. " cannot be read", 0) end
  f:close()
  local env = setmetatable({ arg = { [0] = path } }, { __index = _G })
  local chunk, err = loadfile(path, "t", env)
  if not chunk then error("fixture: " .. err, 0) end
  local ok, ferr = pcall(chunk)
  if not ok then
    local text = type(ferr) == "table" and ferr.sqlstate and runner.error_text(ferr) or tostring(ferr)
    error("fixture " .. path .. " failed " .. (where or "on the copy") .. ": " .. text, 0)
  end
end

-- fn(...), its error without the stdlib line it was raised from (weir.cluster and
-- weir.copy_schema name their caller's line; here that is weir's own).
local function plainly(fn, ...)
  local ok, res = pcall(fn, ...)
  if not ok then error(util.error_line(res), 0) end
  return res
end

-- The migrations the database at `conn` has applied (a phase of it done, running, failed or
-- rolling back in its state schema) that have no file in `list`, sorted. A roundtrip that starts
-- from that database cannot roll them back or run them again, and their work is in every schema
-- it compares with: it would prove nothing about them, and less than it says about the rest.
local function applied_without_file(conn, state, list)
  if not conn:value("SELECT pg_catalog.to_regclass($1) IS NOT NULL", conn:quote_ident(state) .. ".phases") then
    return {}
  end
  local present = {}
  for _, m in ipairs(list) do present[m.id] = true end
  local out = {}
  for _, r in ipairs(conn:query("SELECT DISTINCT migration FROM " .. conn:quote_ident(state) ..
      ".phases WHERE state <> 'rolled_back' ORDER BY 1")) do
    if not present[r.migration] then out[#out + 1] = r.migration end
  end
  return out
end

local function roundtrip(opts)
  local list = runner.load_all(opts.dir)
  local state = opts.schema or "weir"
  local fixture = opts.fixture ~= "" and opts.fixture or nil
  local admin = db
  local source = opts.url or ""
  local target = core.target_of(admin)
  local id = admin:one("SELECT pg_catalog.pg_backend_pid() AS pid, substr(md5(random()::text || clock_timestamp()::text), 1, 8) AS r")
  local run = id.pid .. "_" .. id.r
  mark_session(admin, run)  -- before the copy exists: a later run can tell it from a live one
  local copy_name = "weir_test_" .. run .. "_roundtrip"
  local made_db, cluster, conn
  local restore_print = runner.print_to_stderr()  -- stdout stays empty; the report is on stderr

  local function model() return schema.inspect(db, { exclude_schemas = { state } }) end
  local base = { dir = opts.dir, schema = state, lock_wait = opts.lock_wait, lock_timeout_ms = opts.lock_timeout_ms,
    statement_timeout_ms = opts.statement_timeout_ms, retries = opts.retries }
  local function with(extra)
    local o = {}
    for k, v in pairs(base) do o[k] = v end
    for k, v in pairs(extra) do o[k] = v end
    return o
  end
  local passed, failed = 0, 0
  local function fail(fmt, ...)
    if core.interrupted() then return end  -- what a signal stopped is not a finding
    failed = failed + 1
    say("FAIL " .. fmt, ...)
  end

  local function work()
    if not fixture then
      local missing = applied_without_file(admin, state, list)
      if #missing > 0 then
        error(("--roundtrip: the database has applied %s, but %s file is missing from %s: " ..
          "the roundtrip starts from the database, and cannot roll back or rebuild what it cannot read; " ..
          "put the file back (weir status lists what is missing), or start from a fixture (--fixture FILE)")
          :format(table.concat(missing, ", "), #missing == 1 and "its" or "their", opts.dir), 0)
      end
    end
    drop_leftovers(admin)
    -- The copy: on the same server when this role may create a database, else a throwaway cluster.
    local has_state = not fixture and
      admin:value("SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)", state)
    local with_data = has_state and { state } or nil
    local where
    made_db = true
    local created, cerr = pcall(admin.exec, admin, create_copy_sql(admin, copy_name))
    if created then
      base.url = with_database(target, copy_name)
      conn = weir.connect(base.url)
      if conn:value("SELECT pg_catalog.current_database()") ~= copy_name then
        -- (a dbname in the URL's query wins over its path): nothing is written but to the copy
        error("the URL made for the copy reaches database " .. conn:value("SELECT pg_catalog.current_database()") ..
          ", not " .. copy_name .. "; give --db without a dbname parameter", 0)
      end
      if not fixture then plainly(weir.copy_schema, { from = source, to = base.url, with_data = with_data }) end
      where = "a new database " .. copy_name .. " on the same server"
    elseif core.interrupted() then
      error(cerr, 0)
    else
      made_db = false
      say("weir test --roundtrip: cannot create a database on the server (%s); using a throwaway cluster",
        util.error_line(cerr))
      cluster = plainly(weir.cluster, not fixture and { schema_from = source, with_data = with_data } or nil)
      base.url = cluster:url()
      conn = weir.connect(base.url)
      where = "a throwaway cluster"
    end
    rawset(_G, "db", conn)  -- the runner and the scripts' global `db`: the copy, never the database
    if fixture then
      say("roundtrip on %s, starting from what %s builds", where, fixture)
      load_fixture(fixture)
    else
      say("roundtrip on %s, starting from the database's schema%s", where, has_state and " and weir's state" or "")
    end

    -- What the database has applied: rolled back on the copy, latest first.
    local applied_model = {}
    if conn:value("SELECT to_regclass($1) IS NOT NULL", conn:quote_ident(state) .. ".phases") then
      local _, phases = history.load(conn, state)
      for i = #list, 1, -1 do
        local m = list[i]
        local done, all = 0, true
        for _, p in ipairs(m.phases) do
          if phases[m.id] and phases[m.id][p.name] and phases[m.id][p.name].state == "done" then
            done = done + 1
          else
            all = false
          end
        end
        if done > 0 then
          local applied = all and model() or nil
          if runner.down(with { command = "down", target = m.id }) ~= 0 then
            fail("%s: down failed, rolling back on the copy what the database has applied", m.id)
            return
          end
          applied_model[m.id] = applied
          say("rolled back %s on the copy (the database has it applied)", m.id)
        end
      end
    end

    for _, m in ipairs(list) do
      local before, before_rows = model(), row_counts(conn, state)
      if runner.up(with { command = "up", to = m.id }) ~= 0 then
        fail("%s: up failed", m.id)
        return
      end
      local after_up = model()
      if applied_model[m.id] then
        local missing = schema.diff(after_up, applied_model[m.id])
        if #missing > 0 then
          fail("%s: up after down does not rebuild the schema the database has; the database also has:", m.id)
          io.stderr:write(schema.script(missing))
          return
        end
      end
      if runner.down(with { command = "down", target = m.id }) ~= 0 then
        fail("%s: down failed", m.id)
        return
      end
      local left = schema.diff(model(), before)
      if #left > 0 then
        fail("%s: down does not restore the schema; what down would also have to do:", m.id)
        io.stderr:write(schema.script(left))
        return
      end
      local counts = count_changes(before_rows, row_counts(conn, state))
      if #counts > 0 then
        fail("%s: down does not restore the row counts: %s", m.id, table.concat(counts, ", "))
        return
      end
      say("ok   %s: up, verify, down restores the schema%s", m.id, applied_model[m.id] and
        "; up rebuilds the schema the database has" or "")
      passed = passed + 1
      if runner.up(with { command = "up", to = m.id }) ~= 0 then
        fail("%s: up again after down failed", m.id)
        return
      end
    end
  end

  local ok, err = core.interruptible(work)
  -- From here on signals are held: the copy is dropped whatever happens.
  local sig = core.interrupted()
  rawset(_G, "db", admin)
  restore_print()
  if conn then pcall(conn.close, conn) end
  if cluster then pcall(cluster.close, cluster) end
  if made_db then
    local dropped, derr = pcall(admin.exec, admin, "DROP DATABASE IF EXISTS " .. copy_name .. " WITH (FORCE)")
    if not dropped then
      local c_ok, cleaner = pcall(weir.connect, target)
      if c_ok then
        dropped, derr = pcall(cleaner.exec, cleaner, "DROP DATABASE IF EXISTS " .. copy_name .. " WITH (FORCE)")
        pcall(cleaner.close, cleaner)
      end
    end
    if not dropped then say("weir test: could not drop database %s: %s", copy_name, util.error_line(derr)) end
  end
  if sig then
    say("%d passed, %d failed (%s)", passed, failed, interrupted_by(sig))
    return 128 + sig
  end
  if not ok then error(err, 0) end
  say("%d passed, %d failed", passed, failed)
  return failed == 0 and 0 or 1
end

function M.main(opts)
  if opts.roundtrip then return roundtrip(opts) end
  return run_files(opts)
end

return M
