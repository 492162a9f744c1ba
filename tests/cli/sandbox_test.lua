-- Scripts cannot crash weir: no precompiled bytecode through any loading path (Lua 5.4 does
-- not verify it), no finalizer a script can call by hand, and finalizers that are harmless
-- when called twice. Each case ends in a one-line error and exit 1, never a signal (an exit
-- status above 128 from the shell).
-- Runs with --unsafe because it spawns weir itself through io.popen.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir = assert(os.getenv "WEIR")
local url = assert(os.getenv "WEIR_TEST_URL")

local function weir_in(dir, args) return sh("cd " .. q(dir) .. " && DATABASE_URL= timeout 60 " .. q(weir) .. " " .. args) end
local function weir_run(args) return weir_in(tmp, args) end

-- A valid precompiled chunk (it would print "bytecode ran"), and a crafted one whose LOADK
-- reads constant 131071 of a function that has 2: loaded, it crashed weir with SIGSEGV.
local CHUNK = string.dump(load("print('bytecode ran') return { loaded = true }"))
local function crafted()
  local f = string.dump(load("local x = 'hello' print(x) return x"))
  local at = assert(f:find("\3\0\0\0", 1, true), "LOADK 0 0 in the dumped code")
  return f:sub(1, at - 1) .. "\3\128\255\255" .. f:sub(at + 4)
end
shell.write(tmp .. "/valid_chunk.lua", CHUNK)
shell.write(tmp .. "/patched_chunk.lua", crafted())

-- The refusal names what was loaded: `name` (a file, a chunk name, "load").
local function refused(rc, out, err, what, name)
  T.eq(rc, 1, what .. ": exit 1, not a signal (" .. err .. ")")
  T.not_contains(out, "bytecode ran", what)
  T.contains(err, (name or "") .. ": is a precompiled (binary) chunk; weir loads Lua source only", what)
  T.not_contains(err, "attempt to load a binary chunk", what)
end

T.case("require refuses a precompiled module, valid or patched, with and without --unsafe", function()
  for _, name in ipairs { "valid_chunk", "patched_chunk" } do
    for _, mode in ipairs { "", "--unsafe " } do
      local what = mode .. "require '" .. name .. "'"
      local rc, out, err = weir_run("run " .. mode .. "-e " .. q("require '" .. name .. "'"))
      refused(rc, out, err, what, "./" .. name .. ".lua")
      T.contains(err, "error loading module '" .. name .. "' from file './" .. name .. ".lua'", what)
    end
  end
end)

T.case("load, loadfile and dofile refuse bytecode whatever mode the script asks for", function()
  local probes = {
    { "assert(load(string.dump(function() print('bytecode ran') end), 'x', 'b'))()", "x" },
    { "assert(load(string.dump(function() print('bytecode ran') end), '@chunk.lua', 'bt'))()", "chunk.lua" },
    { "local s = string.dump(function() print('bytecode ran') end) " ..
      "assert(load(function() local r = s; s = nil; return r end, '=reader', 'b'))()", "reader" },
    { "assert(load(string.dump(function() print('bytecode ran') end)))()", "load" },
    { "assert(loadfile('valid_chunk.lua', 'b'))()", "valid_chunk.lua" },
    { "assert(loadfile('patched_chunk.lua'))()", "patched_chunk.lua" },
    { "dofile('valid_chunk.lua')", "valid_chunk.lua" },
    { "dofile('patched_chunk.lua')", "patched_chunk.lua" },
  }
  for _, probe in ipairs(probes) do
    for _, mode in ipairs { "", "--unsafe " } do
      local rc, out, err = weir_run("run " .. mode .. "-e " .. q(probe[1]))
      refused(rc, out, err, mode .. probe[1], probe[2])
    end
  end
end)

T.case("a migration that requires a precompiled module: weir status fails with one line, no crash", function()
  local dir = tmp .. "/proj"
  assert(os.execute("mkdir -p " .. q(dir .. "/migrations")))
  shell.write(dir .. "/helper.lua", crafted())
  shell.write(dir .. "/migrations/001_uses_helper.lua", [[
local helper = require "helper"
return migration "001_uses_helper" { phase "a" { up = function(db) end, down = function(db) end } }
]])
  for _, command in ipairs { "status", "up", "plan" } do
    local rc, _, err = weir_in(dir, command .. " --db " .. q(url))
    T.eq(rc, 1, command .. ": " .. err)
    T.contains(err, "./helper.lua: is a precompiled (binary) chunk; weir loads Lua source only", command)
  end
end)

T.case("a precompiled script, migration or weir.lua is refused naming the file", function()
  local dir = tmp .. "/binary_proj"
  assert(os.execute("mkdir -p " .. q(dir .. "/migrations")))
  local rc, out, err = weir_run("run valid_chunk.lua")
  refused(rc, out, err, "weir run", "valid_chunk.lua")
  rc, out, err = weir_run("run --unsafe patched_chunk.lua")
  refused(rc, out, err, "weir run --unsafe", "patched_chunk.lua")
  shell.write(dir .. "/migrations/001_x.lua", crafted())
  for _, command in ipairs { "status", "plan", "up", "lint migrations/001_x.lua" } do
    rc, out, err = weir_in(dir, command .. " --db " .. q(url))
    refused(rc, out, err, command, "weir: migrations/001_x.lua")
    T.eq(select(2, err:gsub("\n", "")), 1, command .. ": one line: " .. err)
  end
  os.remove(dir .. "/migrations/001_x.lua")
  shell.write(dir .. "/weir.lua", CHUNK)
  rc, out, err = weir_in(dir, "status --db " .. q(url))
  refused(rc, out, err, "weir.lua", "weir: weir.lua")
end)

T.case("modules in source form still load through require", function()
  shell.write(tmp .. "/plain_module.lua", "return { answer = 42 }")
  local rc, out, err = weir_run("run -e " .. q("print(require('plain_module').answer)"))
  T.eq(rc, 0, err)
  T.eq(out, "42\n")
  local rc2, _, err2 = weir_run("run -e " .. q("require('no_such_module')"))
  T.eq(rc2, 1)
  T.contains(err2, "module 'no_such_module' not found")
  T.contains(err2, "no file './no_such_module.lua'", "the file searcher still lists what it tried")
end)

T.case("getmetatable on any of weir's userdata gives no finalizer", function()
  local code = [[
    local c = weir.connect(os.getenv("URL"))
    local _, cur = c:rows("SELECT 1")
    local cl = weir.cluster()
    local lock = weir.session_lock(os.getenv("URL"), 1, 2)
    local deadline = weir.deadline(60)
    local worker = require("copy.core").spawn("", "")
    for what, v in pairs { connection = c, cursor = cur, null = db.NULL, cluster = cl,
                           lock = lock, deadline = deadline, worker = worker } do
      local mt = getmetatable(v)
      assert(type(mt) == "table", what)
      assert(mt.__gc == nil and mt.__close == nil, what .. " shows its finalizer")
      print(what, mt.__name)
    end
    assert(getmetatable(c).__index.query, "methods stay listed")
    cl:close()
  ]]
  local rc, out, err = sh("URL=" .. q(url) .. " timeout 120 " .. q(weir) .. " run -e " .. q(code))
  T.eq(rc, 0, err)
  T.contains(out, "connection\tweir.Connection\n")
  T.contains(out, "cursor\tweir.Cursor\n")
  T.contains(out, "null\tNULL\n")
  T.contains(out, "cluster\tweir.Cluster\n")
  T.contains(out, "lock\tweir.SessionLock\n")
  T.contains(out, "deadline\tweir.Deadline\n")
  T.contains(out, "worker\tweir.CopyWorker\n")
end)

T.case("the old way in: getmetatable(conn).__gc(conn) then a collection no longer aborts", function()
  for _, code in ipairs {
    "local c = weir.connect(os.getenv('URL')); getmetatable(c).__gc(c); c = nil; collectgarbage()",
    "local _, cur = db:rows('SELECT 1'); getmetatable(cur).__gc(cur); cur = nil; collectgarbage()",
  } do
    local rc, _, err = sh("URL=" .. q(url) .. " timeout 60 " .. q(weir) .. " run --db " .. q(url) .. " -e " .. q(code))
    T.eq(rc, 1, code .. ": " .. err)
    T.contains(err, "attempt to call a nil value")
  end
end)

T.case("finalizers are idempotent: __gc twice (through debug, --unsafe), then use and collect", function()
  local code = [[
    local gc = function(v) debug.getmetatable(v).__gc(v) end
    local c = weir.connect(os.getenv("URL"))
    local it, cur = c:rows("SELECT g FROM generate_series(1, 3) g")
    it(cur)
    gc(cur); gc(cur)
    gc(c); gc(c)
    print(pcall(c.value, c, "SELECT 1"))
    print(it(cur))
    print(tostring(c), c:transaction_status())
    local cl = weir.cluster()
    gc(cl); gc(cl)
    print(pcall(cl.url, cl))
    local lock = weir.session_lock(os.getenv("URL"), 1, 2)
    gc(lock); gc(lock)
    print(pcall(lock.try, lock))
    local deadline = weir.deadline(60)
    gc(deadline); gc(deadline)
    print("deadline expired:", deadline:expired())
    local worker = require("copy.core").spawn("", "")
    gc(worker); gc(worker)
    c, cur, cl, lock, deadline, worker = nil, nil, nil, nil, nil, nil
    collectgarbage(); collectgarbage()
    print("survived")
  ]]
  local rc, out, err = sh("URL=" .. q(url) .. " timeout 120 " .. q(weir) .. " run --unsafe -e " .. q(code))
  T.eq(rc, 0, err)
  T.contains(out, "attempt to use a closed connection")
  T.contains(out, "weir.Connection (closed)\tclosed\n")
  T.contains(out, "attempt to use a closed cluster")
  T.contains(out, "attempt to use a released lock")
  T.contains(out, "deadline expired:\tfalse\n")
  T.contains(out, "survived\n")
end)

shell.cleanup()
T.done()
