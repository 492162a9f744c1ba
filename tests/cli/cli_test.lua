-- The weir command line as a user meets it: exit codes, messages, the sandbox, connections.
-- Runs with --unsafe because it spawns weir itself through io.popen.
local T = require "testing"

local weir = assert(os.getenv "WEIR", "WEIR must name the weir binary")
local url = assert(os.getenv "WEIR_TEST_URL")
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local function weir_run(args) return sh("DATABASE_URL= " .. q(weir) .. " " .. args) end

local function script(name, text)
  local path = tmp .. "/" .. name
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

T.case("--version and --help exit 0", function()
  local rc, out = weir_run("--version")
  T.eq(rc, 0)
  T.ok(out:match("^weir %d+%.%d+%.%d+\n$"), "version line: " .. out)
  rc, out = weir_run("--help")
  T.eq(rc, 0)
  T.contains(out, "Usage: weir COMMAND")
  T.contains(out, "run ")
  T.contains(out, "pg ")
end)

T.case("per-command --help", function()
  local rc, out = weir_run("run --help")
  T.eq(rc, 0)
  T.contains(out, "Usage: weir run")
  T.contains(out, "--ephemeral")
  rc, out = weir_run("pg --help")
  T.eq(rc, 0)
  T.contains(out, "weir pg start")
end)

T.case("usage errors exit 2 with one line", function()
  for _, args in ipairs { "", "frobnicate", "--bogus", "run", "run --bogus x.lua", "pg", "pg fly",
    "run --connect nourl x.lua", "run --db" } do
    local rc, out, err = weir_run(args)
    T.eq(rc, 2, "weir " .. args)
    T.eq(out, "", "nothing on stdout for weir " .. args)
    T.contains(err, "weir: ", "weir " .. args)
    T.eq(select(2, err:gsub("\n", "")), 1, "one line for weir " .. args)
  end
end)

T.case("a syntax error names FILE:LINE and exits 1", function()
  local path = script("syntax.lua", "local a = 1\nlocal b = 2\nlocal c = = 3\n")
  local rc, _, err = weir_run("run " .. q(path))
  T.eq(rc, 1)
  T.contains(err, path .. ":3:")
  T.contains(err, "unexpected symbol near '='")
end)

T.case("a runtime error prints FILE:LINE: message and a traceback", function()
  local path = script("boom.lua", "local function f()\n  error('boom')\nend\nf()\n")
  local rc, _, err = weir_run("run " .. q(path))
  T.eq(rc, 1)
  T.contains(err, path .. ":2: boom")
  T.contains(err, "stack traceback:")
  T.contains(err, path .. ":4: in main chunk")
end)

T.case("an uncaught SQL error names SQLSTATE, message, query and script line", function()
  local path = script("sql.lua", "db:exec('SELECT 1')\ndb:query('SELECT * FROM nowhere')\n")
  local rc, _, err = weir_run("run --db " .. q(url) .. " " .. q(path))
  T.eq(rc, 1)
  T.contains(err, path .. ':2: 42P01 relation "nowhere" does not exist in: SELECT * FROM nowhere')
end)

T.case("errors inside the stdlib point at @stdlib chunk names", function()
  local rc, _, err = weir_run("run --db " .. q(url) .. " -e 'db:tx(function() error(\"inner\") end)'")
  T.eq(rc, 1)
  T.contains(err, "inner")
  T.contains(err, "stdlib/db.lua:")
end)

T.case("the sandbox removes os.execute, io.popen, package.loadlib and debug", function()
  for _, probe in ipairs {
    "os.execute('true')", "io.popen('true')", "package.loadlib('x', 'y')", "debug.traceback()",
  } do
    local rc, _, err = weir_run("run -e " .. q(probe))
    T.eq(rc, 1, probe)
    T.ok(err:find("attempt to call a nil value", 1, true) or err:find("undefined global 'debug'", 1, true),
      probe .. " is blocked: " .. err)
  end
end)

T.case("the sandbox refuses C modules and bytecode", function()
  local rc, _, err = weir_run("run -e " .. q("require 'lpeg'"))
  T.eq(rc, 1)
  T.contains(err, "module 'lpeg' not found")
  T.not_contains(err, ".so'", "no C searcher ran")
  rc, _, err = weir_run("run -e " .. q("assert(load(string.dump(function() end)))"))
  T.eq(rc, 1)
  T.contains(err, "load: is a precompiled (binary) chunk; weir loads Lua source only")
end)

T.case("--unsafe allows os.execute and io.popen", function()
  local rc, out = weir_run("run --unsafe -e " .. q("print(os.execute('true')); print(io.popen('echo hi'):read('l'))"))
  T.eq(rc, 0)
  T.contains(out, "true\texit\t0")
  T.contains(out, "hi")
end)

T.case("strict globals: unknown reads raise, top-level declarations are allowed", function()
  local rc, _, err = weir_run("run -e " .. q("print(undefined_thing)"))
  T.eq(rc, 1)
  T.contains(err, "undefined global 'undefined_thing'")
  local path = script("strict.lua", "counter = 1\nlocal function bump() newname = 2 end\nbump()\n")
  rc, _, err = weir_run("run " .. q(path))
  T.eq(rc, 1)
  T.contains(err, path .. ":2: assignment to undeclared global 'newname'")
  rc = weir_run("run -e " .. q("declared = nil; declared = 5; assert(declared == 5)"))
  T.eq(rc, 0)
end)

T.case("os.exit sets the exit code", function()
  T.eq((weir_run("run -e 'os.exit(3)'")), 3)
  T.eq((weir_run("run -e 'os.exit(false)'")), 1)
  T.eq((weir_run("run -e 'os.exit(true)'")), 0)
end)

T.case("os.exit ends weir through pcall, xpcall and coroutines, closing what is open", function()
  for _, c in ipairs {
    { "pcall(os.exit, 4)", 4 },
    { "print(pcall(function() os.exit(5) end))", 5 },
    { "xpcall(function() os.exit(6) end, function(e) print('handler saw', e) return 'swallowed' end)", 6 },
    { "print(coroutine.resume(coroutine.create(function() os.exit(7) end)))", 7 },
    { "coroutine.wrap(function() pcall(os.exit, 8) end)()", 8 },
    { "local co = coroutine.create(function() coroutine.yield() end) coroutine.resume(co) " ..
      "pcall(function() os.exit(9) end)", 9 },
    { "for i = 1, 3 do pcall(os.exit, 10 + i) end", 11 },
    { "pcall(error, 'x') pcall(os.exit, false)", 1 },
  } do
    local rc, out, err = weir_run("run -e " .. q(c[1] .. "; print('continued')"))
    T.eq(rc, c[2], c[1] .. ": " .. err)
    T.not_contains(out, "continued", c[1])
    T.not_contains(out .. err, "userdata", c[1])
    T.not_contains(out, "handler saw", c[1] .. ": a script's handler is not called for it")
  end
  -- to-be-closed variables are closed on the way out, and see os.exit(N), not a userdata
  local rc, out = weir_run("run -e " .. q("local x <close> = setmetatable({}, { __close = function(_, e) " ..
    "print('closed', e) end }) pcall(os.exit, 12)"))
  T.eq(rc, 12)
  T.eq(out, "closed\tos.exit(12)\n")
end)

T.case("script arguments arrive in arg and ...", function()
  local path = script("args.lua", "print(arg[0], arg[1], arg[2], #arg, select('#', ...), ...)\n")
  local rc, out = weir_run("run " .. q(path) .. " one 'two words'")
  T.eq(rc, 0)
  T.eq(out, path .. "\tone\ttwo words\t2\t2\tone\ttwo words\n")
  rc, out = weir_run("run -e 'print(...)' a b")
  T.eq(out, "a\tb\n")
end)

T.case("a missing script file is one clear line, before any server is asked for", function()
  local rc, out, err = weir_run("run /nonexistent/x.lua")
  T.eq({ rc, out, err }, { 1, "", "weir: /nonexistent/x.lua: No such file or directory\n" })
  -- no throwaway server is started, no connection tried (a bad URL is not reached)
  rc, out, err = weir_run("run --ephemeral /nonexistent/x.lua")
  T.eq({ rc, out, err }, { 1, "", "weir: /nonexistent/x.lua: No such file or directory\n" })
  rc, out, err = weir_run("run --db " .. q("postgresql://nobody@/nodb?host=/nonexistent") .. " /nonexistent/x.lua")
  T.eq({ rc, out, err }, { 1, "", "weir: /nonexistent/x.lua: No such file or directory\n" })
end)

T.case("a bad URL fails in one line and never shows the password", function()
  for _, bad in ipairs {
    "postgresql://alice:hunter2secret@127.0.0.1:1/app",
    "postgresql://alice:hunter2secret@127.0.0.1:notaport/app",
    "postgresql://alice:hunter2secret@/app?host=/nonexistent&sslmode=bogus",
    "host=127.0.0.1 port=1 user=alice password=hunter2secret",
  } do
    local rc, out, err = weir_run("run --db " .. q(bad) .. " -e 'print(1)'")
    T.eq(rc, 1, bad)
    T.not_contains(out .. err, "hunter2secret", bad)
    T.contains(err, "weir: cannot connect to ", bad)
    T.eq(select(2, err:gsub("\n", "")), 1, "one line for " .. bad)
  end
  local rc, _, err = sh("DATABASE_URL=" .. q("postgresql://bob:pa55word-x@127.0.0.1:1/db") .. " " .. q(weir) .. " run -e 'print(1)'")
  T.eq(rc, 1)
  T.contains(err, "postgresql://bob:***@127.0.0.1:1/db")
  T.not_contains(err, "pa55word-x")
end)

T.case("DATABASE_URL and --db select the database", function()
  local rc, out = sh("DATABASE_URL=" .. q(url) .. " " .. q(weir) .. " run -e 'print(db:value(\"SELECT current_database()\"))'")
  T.eq(rc, 0)
  T.eq(out, "t_cli_test\n")
end)

T.case("--connect NAME=URL is reachable as weir.connection(NAME)", function()
  local code = "local o = weir.connection('other'); print(o:value('SELECT 41 + 1'), o == weir.connection('other'))"
  local rc, out, err = weir_run("run --connect other=" .. q(url) .. " -e " .. q(code))
  T.eq(rc, 0, err)
  T.eq(out, "42\ttrue\n")
end)

T.case("without any database configured, scripts that do not query still run", function()
  local rc, out = sh("env -u PGHOST -u PGPORT DATABASE_URL= PGHOST=/nonexistent " .. q(weir) .. " run -e 'print(1 + 1)'")
  T.eq(rc, 0)
  T.eq(out, "2\n")
  local rc2, _, err = sh("DATABASE_URL= PGHOST=/nonexistent " .. q(weir) .. " run -e 'db:value(\"SELECT 1\")'")
  T.eq(rc2, 1)
  T.contains(err, "cannot connect to (libpq defaults)")
end)

T.case("--ephemeral runs against a throwaway cluster and removes it", function()
  local rc, out, err = weir_run("run --ephemeral -e " .. q("print(db:info().host); print(db:value('SHOW fsync'))"))
  T.eq(rc, 0, err)
  local dir, fsync = out:match("^(.-)\n(.-)\n$")
  T.eq(fsync, "off")
  T.ok(dir and #dir > 0, "a socket directory")
  T.eq((sh("test -e " .. q(dir))), 1, "the cluster directory is gone")
end)

T.case("SIGINT stops a script, rolls back, and removes the ephemeral cluster", function()
  local code = "print(db:info().host); io.stdout:flush(); db:exec('BEGIN'); while true do end"
  local rc, out = sh("( " .. q(weir) .. " run --ephemeral -e " .. q(code) .. " > " .. tmp .. "/int.out & pid=$!; " ..
    -- until it has printed (its cluster is up and it runs), however long that takes under load:
    -- a SIGINT before then would not be the one this case is about
    "while [ ! -s " .. tmp .. "/int.out ] && kill -0 $pid 2>/dev/null; do sleep 0.1; done; kill -INT $pid; wait $pid; echo \"inner=$?\" )")
  T.eq(rc, 0)
  T.contains(out, "inner=130")
  local f = io.open(tmp .. "/int.out")
  local dir = f:read("l")
  f:close()
  T.ok(dir and #dir > 0, "printed its dir")
  T.eq((sh("test -e " .. q(dir))), 1, "the cluster directory is gone")
end)

T.case("--stdlib-dir loads the stdlib from a source tree", function()
  local src = assert(os.getenv "WEIR_SOURCE_DIR", "WEIR_SOURCE_DIR")
  local dev = tmp .. "/stdlib"
  assert(os.execute("mkdir -p " .. q(dev) .. " && cp " .. q(src) .. "/stdlib/*.lua " .. q(dev)))
  local f = io.open(dev .. "/db.lua", "a")
  f:write("\ncore.dev_marker = 'from the source tree'\n")
  f:close()
  local ok_f = io.open(dev .. "/db.lua")
  local text = ok_f:read("a")
  ok_f:close()
  local patched = text:gsub("return core\n", "", 1) .. "return core\n"
  ok_f = io.open(dev .. "/db.lua", "w")
  ok_f:write(patched)
  ok_f:close()
  local rc, out, err = weir_run("run --stdlib-dir " .. q(dev) .. " -e 'print(db.dev_marker)'")
  T.eq(rc, 0, err)
  T.eq(out, "from the source tree\n")
  rc, out = sh("WEIR_STDLIB_DIR=" .. q(dev) .. " " .. q(weir) .. " run -e 'print(db.dev_marker)'")
  T.eq(out, "from the source tree\n")
  rc, out = weir_run("run -e 'print(db.dev_marker)'")
  T.eq(out, "nil\n", "the embedded copy is untouched")
end)

T.case("weir pg start / url / stop manage a cluster that outlives the command", function()
  local dir = tmp .. "/cluster"
  local rc, out, err = weir_run("pg start --dir " .. q(dir))
  T.eq(rc, 0, err)
  local started = out:match("^(%S+)\n$")
  T.contains(started, "postgresql://")
  T.contains(err, "weir pg stop " .. dir)
  local rc2, url2 = weir_run("pg url " .. q(dir))
  T.eq(rc2, 0)
  T.eq(url2, started .. "\n")
  T.eq(select(2, weir_run("pg url --dir " .. q(dir))), started .. "\n", "--dir works as with start")
  local rc3, out3 = weir_run("run --db " .. q(started) .. " -e 'print(db:value(\"SELECT 1\"))'")
  T.eq(rc3, 0)
  T.eq(out3, "1\n")
  T.eq((weir_run("pg stop " .. q(dir))), 0)
  T.eq((sh("test -e " .. q(dir))), 1, "stop removed the directory")
  local rc4, _, err4 = weir_run("pg url " .. q(dir))
  T.eq(rc4, 1)
  T.contains(err4, "weir: pg cluster:")
end)

shell.cleanup()
T.done()
