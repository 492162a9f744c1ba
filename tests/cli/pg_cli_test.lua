-- `weir pg`: a cluster whose server stopped (stop --keep, a killed postmaster) starts again with
-- its data, on its old port; status and list say what runs; stop of a missing directory is a
-- no-op. Throwaway clusters run the PostgreSQL chosen by --pg-bindir, --pg-version,
-- $WEIR_PG_BINDIR, $WEIR_PG_VERSION or weir.lua, and a choice that is not installed is one
-- line naming the versions that are.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local _ -- the values a case does not look at

local weir_bin = assert(os.getenv "WEIR")
local tmp = shell.tmpdir()
-- The clusters' list lives in the state directory: a private one keeps this suite's apart.
local state = tmp .. "/state"
local W = "XDG_STATE_HOME=" .. q(state) .. " " .. q(weir_bin) .. " "

local installed_bin = select(2, sh("ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1")):gsub("\n", "")
local installed = installed_bin:match("/(%d+)/bin$")

local function pg(args) return sh(W .. "pg " .. args) end

T.case("stop --keep, then start: the same cluster again, its data and its port", function()
  local dir = tmp .. "/kept"
  local rc, url, err = pg("start --dir " .. q(dir))
  T.eq(rc, 0, err)
  url = url:gsub("\n$", "")
  local conn = weir.connect(url)
  conn:exec "CREATE TABLE survives (x int); INSERT INTO survives VALUES (42)"
  conn:close()
  local out
  rc, out, err = pg("status " .. q(dir))
  T.eq({ rc, err }, { 0, "" })
  T.contains(out, dir .. ": running\n  url:      " .. url .. "\n  version:  PostgreSQL " .. installed .. " (" .. installed_bin .. ")")
  rc, out = pg("list")
  T.contains(out, "running  PostgreSQL " .. installed .. "  " .. dir .. "  " .. url)

  rc, out, err = pg("stop --keep " .. q(dir))
  T.eq({ rc, out, err }, { 0, "", "" })
  rc, out = pg("status " .. q(dir))
  T.eq(rc, 1, "status of a stopped cluster exits 1")
  T.contains(out, dir .. ": stopped\n")
  rc, _, err = pg("url " .. q(dir))
  T.eq(rc, 1)
  T.contains(err, "is not running")
  rc, out = pg("list")
  T.contains(out, "stopped  PostgreSQL " .. installed .. "  " .. dir)

  rc, out, err = pg("start " .. q(dir))
  T.eq({ rc, out }, { 0, url .. "\n" }, err)
  T.contains(err, "PostgreSQL started again in " .. dir)
  conn = weir.connect(url)
  T.eq(conn:value "SELECT x FROM survives", 42)
  conn:close()
  rc, out, err = pg("start --dir " .. q(dir))
  T.eq({ rc, out }, { 0, url .. "\n" })
  T.contains(err, "already running")
  T.eq((pg("stop " .. q(dir))), 0)
  rc, out = pg("list")
  T.ok(not out:find(dir, 1, true), "a removed cluster leaves the list: " .. out)
end)

T.case("a cluster whose postmaster was killed (-9) starts again: stale pid and socket files go", function()
  local dir = tmp .. "/killed"
  local rc, url, err = pg("start --dir " .. q(dir))
  T.eq(rc, 0, err)
  url = url:gsub("\n$", "")
  local conn = weir.connect(url)
  conn:exec "CREATE TABLE committed (x int); INSERT INTO committed VALUES (7)"
  -- synchronous_commit is off: the last fraction of a second of commits may not have reached
  -- the WAL on disk when the server dies; a checkpoint makes sure these have
  conn:exec "CHECKPOINT"
  conn:close()
  local pid = io.open(dir .. "/data/postmaster.pid"):read("l")
  T.eq((sh("kill -9 " .. pid)), 0)
  -- wait until the postmaster is gone (a zombie counts as gone) and its backends with it
  local deadline = weir.clock() + 10
  while select(2, pg("status " .. q(dir))):find(": running") and weir.clock() < deadline do weir.sleep(0.05) end
  local out
  rc, out, err = pg("start " .. q(dir))
  T.eq(rc, 0, err)
  T.contains(err, "started again")
  conn = weir.connect(out:gsub("\n$", ""))
  T.eq(conn:value "SELECT x FROM committed", 7)
  conn:close()
  T.eq((pg("stop " .. q(dir))), 0)
end)

T.case("pg stop: a missing directory is nothing to stop; a foreign one is refused", function()
  local rc, out, err = pg("stop " .. q(tmp .. "/never-was"))
  T.eq({ rc, out }, { 0, "" })
  T.eq(err, "weir: " .. tmp .. "/never-was does not exist: no cluster to stop\n")
  local foreign = tmp .. "/foreign"
  assert(os.execute("mkdir -p " .. q(foreign) .. " && touch " .. q(foreign .. "/precious")))
  rc, out, err = pg("stop " .. q(foreign))
  T.eq(rc, 1)
  T.contains(err, "is not a weir cluster")
  T.ok(io.open(foreign .. "/precious"), "nothing removed")
  rc, _, err = pg("start " .. q(foreign))
  T.eq(rc, 1)
  T.contains(err, "is not empty")
  rc, _, err = pg("stop --keep")
  T.eq(rc, 2)
  T.contains(err, "pg stop: missing DIR")
  rc, _, err = pg("url --keep " .. q(foreign))
  T.eq(rc, 2)
  T.contains(err, "--keep goes with pg stop")
end)

T.case("--pg-version and --pg-bindir choose the server; one not installed names the installed", function()
  local rc, out, err = sh(W .. "run --ephemeral --pg-version " .. installed .. " -e 'print(db:value \"SHOW server_version_num\")'")
  T.eq(rc, 0, err)
  T.eq(out:sub(1, #installed), installed)
  local want = "(installed: " .. installed .. " in " .. installed_bin
  rc, out, err = sh(W .. "run --ephemeral --pg-version 99 -e 'print(1)'")
  T.eq({ rc, out }, { 2, "" })
  T.contains(err, "weir: --pg-version: PostgreSQL 99 is not installed " .. want)
  rc, _, err = sh(W .. "run --ephemeral --pg-version abc -e 'print(1)'")
  T.eq(rc, 2)
  T.contains(err, "'abc' is not a PostgreSQL version")
  rc, _, err = sh(W .. "up --pg-bindir " .. q(tmp) .. " --ephemeral")
  T.eq(rc, 2)
  T.contains(err, "weir: --pg-bindir: " .. tmp .. " has no initdb and postgres programs " .. want)
  rc, _, err = sh("WEIR_PG_BINDIR=" .. q(tmp) .. " " .. W .. "run --ephemeral -e 'print(1)'")
  T.eq(rc, 1)
  T.contains(err, "weir: pg cluster: $WEIR_PG_BINDIR: " .. tmp .. " has no initdb and postgres programs")
  rc, _, err = sh("WEIR_PG_VERSION=98 " .. W .. "run --ephemeral -e 'print(1)'")
  T.eq(rc, 1)
  T.contains(err, "$WEIR_PG_VERSION: PostgreSQL 98 is not installed " .. want)
  -- weir.lua's choice, which the environment and the flags override
  local proj = tmp .. "/proj"
  assert(os.execute("mkdir -p " .. q(proj)))
  shell.write(proj .. "/weir.lua", "return { pg_version = 97 }")
  rc, _, err = sh("cd " .. q(proj) .. " && " .. W .. "run --ephemeral -e 'print(1)'")
  T.eq(rc, 1)
  T.eq(err, "weir: weir.lua: pg_version: PostgreSQL 97 is not installed " .. want ..
    "); install postgresql-97 or give --pg-bindir\n")
  rc, out, err = sh("cd " .. q(proj) .. " && " .. W .. "run --ephemeral --pg-version " .. installed .. " -e 'print(1)'")
  T.eq({ rc, out, err }, { 0, "1\n", "" }, "the flag wins over weir.lua")
  rc, out, err = sh("cd " .. q(proj) .. " && WEIR_PG_VERSION=" .. installed .. " " .. W .. "run --ephemeral -e 'print(1)'")
  T.eq({ rc, out, err }, { 0, "1\n", "" }, "the environment wins over weir.lua")
end)

T.case("the chosen bindir is the one whose programs run, for --ephemeral, pg start and weir.cluster", function()
  -- a bindir whose postgres notes that it ran, then runs the real one
  local bindir, seen = tmp .. "/bin", tmp .. "/seen"
  assert(os.execute("mkdir -p " .. q(bindir) .. " && chmod 755 " .. q(tmp) .. " && ln -s " ..
    q(installed_bin .. "/initdb") .. " " .. q(bindir .. "/initdb")))
  shell.write(bindir .. "/postgres", "#!/bin/sh\necho ran >> " .. seen .. "\nexec " .. installed_bin .. "/postgres \"$@\"\n")
  assert(os.execute("chmod 755 " .. q(bindir .. "/postgres") .. " && touch " .. q(seen) .. " && chmod 666 " .. q(seen)))
  local function runs() return #(io.open(seen):read("a"):gsub("[^\n]", "")) end
  local rc, _, err = sh(W .. "run --ephemeral --pg-bindir " .. q(bindir) .. " -e 'print(1)'")
  T.eq(rc, 0, err)
  T.eq(runs(), 1, "--ephemeral ran the chosen postgres")
  rc, _, err = sh("WEIR_PG_BINDIR=" .. q(bindir) .. " " .. W .. "run --unsafe -e " ..
    q("local c <close> = weir.cluster(); print(c:url())"))
  T.eq(rc, 0, err)
  T.eq(runs(), 2, "weir.cluster in a script ran it too")
  local dir = tmp .. "/chosen"
  rc, _, err = pg("start --pg-bindir " .. q(bindir) .. " --dir " .. q(dir))
  T.eq(rc, 0, err)
  T.eq(runs(), 3, "pg start ran it")
  local out
  rc, out = pg("status " .. q(dir))
  T.contains(out, "(" .. bindir .. ")")
  T.eq((pg("stop --keep " .. q(dir))), 0)
  rc, _, err = pg("start " .. q(dir))
  T.eq(rc, 0, err)
  T.eq(runs(), 4, "started again with the bindir it was made with")
  T.eq((pg("stop " .. q(dir))), 0)
end)

shell.cleanup()
T.done()
