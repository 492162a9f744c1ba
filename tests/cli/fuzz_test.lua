-- Fuzzing what scripts can hand to weir's loaders and JSON decoder, bounded to a few seconds:
-- precompiled chunks (string.dump of real functions) with random bytes changed, loaded through
-- every path (load in each mode, loadfile, dofile, require of a file), and deep, truncated or
-- mutated JSON (json.decode, json.validate, json.encode of deep tables), and long strings under
-- every checked format and pattern, pathological patterns among them (json.validate). weir must
-- end with an
-- exit code of its own — 0, or 1 with one error — never a signal (a shell status above 128:
-- SIGSEGV, SIGABRT). Each child weir runs many cases under pcall and ends with an uncaught one.
-- The seed is printed with any failure; WEIR_FUZZ_SEED=N replays it.
-- Runs with --unsafe because it spawns weir itself through io.popen.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh
local tmp = shell.tmpdir()

local weir = assert(os.getenv "WEIR")
local seed = tonumber(os.getenv "WEIR_FUZZ_SEED") or os.time()

-- The child: CASES mutated chunks through every loader, then one more required uncaught.
local BYTECODE_CHILD = [[
local seed, cases, dir = tonumber(arg[1]), tonumber(arg[2]), arg[3]
math.randomseed(seed)
package.path = dir .. "/?.lua;" .. package.path
local sources = {
  function(a, b) local t = {} for i = 1, 10 do t[i] = (a or 1) * i end return t, b end,
  function(s) return (tostring(s):gsub("%a", function(c) return c:upper() end)) end,
  function(n) local co = coroutine.wrap(function() for i = 1, n or 3 do coroutine.yield(i) end end) return co() end,
  function(...) local x <const> = select("#", ...) return setmetatable({ x }, { __index = string }) end,
}
local function mutated()
  local chunk = string.dump(sources[math.random(#sources)], math.random(2) == 1)
  local bytes = { chunk:byte(1, -1) }
  for _ = 1, math.random(1, 8) do
    local i = math.random(math.random(3) == 1 and 1 or 13, #bytes)  -- the header now and then
    bytes[i] = math.random(0, 255)
  end
  if math.random(6) == 1 then  -- truncated
    for i = #bytes, math.random(#bytes), -1 do bytes[i] = nil end
  end
  return string.char(table.unpack(bytes))
end
-- A chunk starting with ESC is bytecode and must be refused; with its first byte mutated (or
-- truncated to nothing) it is text, which may even compile.
local refused, total = 0, 0
local function try(binary, f, ...)
  local ok, fn = pcall(f, ...)
  if binary then
    total = total + 1
    if ok and type(fn) == "function" then error("a mutated precompiled chunk loaded", 0) end
    refused = refused + 1
  end
end
for n = 1, cases do
  local chunk = mutated()
  local name = "fz_" .. seed .. "_" .. n
  local path = dir .. "/" .. name .. ".lua"
  local f = assert(io.open(path, "wb"))
  f:write(chunk)
  f:close()
  local binary = chunk:sub(1, 1) == "\27"
  try(binary, load, chunk)
  try(binary, load, chunk, "=fuzz", "b")
  try(binary, load, chunk, "=fuzz", "bt")
  local reader = chunk
  try(binary, load, function() local c = reader reader = nil return c end, "=fuzz", "b")
  try(binary, loadfile, path)
  try(binary, loadfile, path, "b")
  if binary then  -- text that compiles would run
    try(binary, dofile, path)
    try(binary, require, name)
  end
  os.remove(path)
end
print(("refused %d of %d"):format(refused, total))
local path = dir .. "/fz_last.lua"
local f = assert(io.open(path, "wb"))
local last
repeat last = mutated() until last:sub(1, 1) == "\27"
f:write(last)
f:close()
require "fz_last"
]]

-- The child: deep, truncated and mutated JSON, then one too deep to decode, uncaught.
local JSON_CHILD = [[
local seed, cases = tonumber(arg[1]), tonumber(arg[2])
math.randomseed(seed)
local function deep(n, open, close) return open:rep(n) .. "1" .. close:rep(n) end
local samples = {
  function() return deep(math.random(1, 200000), "[", "]") end,
  function() return deep(math.random(900, 1100), '{"k":', "}") end,
  function() return deep(math.random(1, 50000), '[{"a":', "}]") end,
  function() return json.encode { id = 1, tags = { "a", "b" }, nested = { x = { y = { 1, 2, { z = json.null } } } } } end,
  function() return ('"' .. string.rep("\\", math.random(1, 9)) .. '[[[["'):rep(math.random(1, 100)) end,
}
local decoded = 0
for _ = 1, cases do
  local text = samples[math.random(#samples)]()
  local bytes = { text:byte(1, math.min(#text, 4000)) }
  local mutate = math.random(3)
  if mutate == 1 then
    text = text:sub(1, math.random(0, #text))  -- truncated
  elseif mutate == 2 and #bytes > 0 then
    for _ = 1, math.random(1, 6) do bytes[math.random(#bytes)] = math.random(0, 255) end
    text = string.char(table.unpack(bytes)) .. text:sub(#bytes + 1)
  end
  local ok, v = pcall(json.decode, text)
  if ok then
    decoded = decoded + 1
    pcall(json.encode, v)
    pcall(json.validate, v, { items = { ["$ref"] = "#" } })
  end
  pcall(json.validate, 1, text)
end
local t = {}
local inner = t
for _ = 1, math.random(1001, 100000) do inner[1] = {} inner = inner[1] end
print("decoded " .. decoded .. " of " .. cases, pcall(json.encode, t))
json.decode(deep(100000, "[", "]"))
]]

-- The child: long strings through every format weir checks, patterns (pathological ones among
-- them, which must stop at the match limit with an error), long $id and $ref; then one
-- pathological pattern uncaught. A crash (std::regex recursed per character) or a hang (it
-- backtracked for hours, ignoring SIGTERM) fails the case.
local SCHEMA_CHILD = [==[
local seed, cases = tonumber(arg[1]), tonumber(arg[2])
math.randomseed(seed)
local formats = { "uri", "email", "date-time", "date", "time", "ipv4", "ipv6", "hostname", "uuid", "regex" }
local patterns = { "^(a|b)*$", "^[a-z0-9:/._-]+$", "(a|b)+c", "^\\s*\\S+$", "^.*$", "^(?:https?://)?([^/]+)(/.*)?$" }
local slow = { "^(a|aa)+$", "^(a+)+$", "^(\\w+\\s?)*$", "^(a|a?)+$" }
local function long()
  local unit = ({ "a", "ab", "1.", ":/", "\n", "\u{00e9}", "%2", "@", "-" })[math.random(9)]
  return ("https://"):sub(1, math.random(0, 8)) .. unit:rep(math.random(1, 100000))
end
local limited, answered = 0, 0
for _ = 1, cases do
  local text, schema = long(), nil
  local pick = math.random(5)
  if pick == 1 then
    schema = { format = formats[math.random(#formats)] }
  elseif pick == 2 then
    schema = { pattern = patterns[math.random(#patterns)] }
  elseif pick == 3 then
    schema = { patternProperties = { [patterns[math.random(#patterns)]] = { format = "uri" } } }
    text = { [text] = text }
  elseif pick == 4 then
    schema = { [math.random(2) == 1 and "$id" or "$ref"] = text }
  else
    schema = { pattern = slow[math.random(#slow)] }
    text = ("a"):rep(math.random(30, 60)) .. "!"
  end
  local ok, err = pcall(json.validate, text, schema)
  if ok then
    answered = answered + 1
  elseif tostring(err):find("gave up after 10000000 backtracking steps", 1, true) then
    limited = limited + 1
  elseif not tostring(err):find("^json%.validate: ") then
    error("unexpected error: " .. tostring(err), 0)
  end
end
print(("answered %d, limited %d"):format(answered, limited))
json.validate({ name = ("a"):rep(50) .. "!" }, { properties = { name = { pattern = "^(a|aa)+$" } } })
]==]

local function child(name, code, args)
  local path = shell.write(tmp .. "/" .. name .. ".lua", code)
  return sh("cd " .. q(tmp) .. " && DATABASE_URL= timeout -k 5 120 " .. q(weir) .. " run " .. (args.flags or "") ..
    q(path) .. " " .. args.seed .. " " .. args.cases .. " " .. q(tmp))
end

T.case("mutated bytecode through load, loadfile, dofile and require: refused, never a crash", function()
  for i, flags in ipairs { "", "--unsafe " } do
    local s = seed + i
    local rc, out, err = child("bytecode", BYTECODE_CHILD, { seed = s, cases = 400, flags = flags })
    local what = ("seed %d %s: "):format(s, flags) .. err
    T.eq(rc, 1, what)
    T.ok(out:match("^refused (%d+) of %1\n$"), "every case refused: " .. out .. what)
    T.contains(err, "error loading module 'fz_last'", what)
  end
end)

T.case("deep, truncated and mutated JSON: errors, never a crash", function()
  local rc, out, err = child("json", JSON_CHILD, { seed = seed, cases = 150 })
  local what = ("seed %d: "):format(seed) .. err
  T.eq(rc, 1, what)
  T.contains(out, "false\tjson.encode: table nested deeper than 1000 levels", what)
  T.contains(err, "json.decode: JSON nested deeper than 1000 levels (at byte 1001)", what)
end)

T.case("long strings and pathological patterns through json.validate: answers or one-line errors", function()
  local rc, out, err = child("schema", SCHEMA_CHILD, { seed = seed, cases = 60 })
  local what = ("seed %d: "):format(seed) .. err
  T.eq(rc, 1, what)
  T.ok(out:match("^answered %d+, limited %d+\n$"), out .. what)
  T.contains(err, 'json.validate: pattern "^(a|aa)+$" at /name: gave up after 10000000 backtracking steps', what)
end)

shell.cleanup()
T.done()
