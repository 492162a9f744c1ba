--- A small assertion harness for weir's own script suites (tests/lua, tests/cli).
--- Each suite calls T.case(name, fn) for every case and T.done() at the end, which prints
--- "N passed, N failed" and exits 1 when anything failed.
local T = {}

local passed, failed = 0, 0

local function show(v, depth)
  depth = depth or 0
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" or depth > 3 then return tostring(v) end
  local parts, n = {}, #v
  for i = 1, n do parts[#parts + 1] = show(v[i], depth + 1) end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. show(v[k], depth + 1) end
  return "{" .. table.concat(parts, ", ") .. "}"
end
T.show = show

local function deep_equal(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then
    -- NaN is the one value not equal to itself
    return type(a) == "number" and type(b) == "number" and a ~= a and b ~= b
  end
  for k, v in pairs(a) do
    if not deep_equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end
T.deep_equal = deep_equal

--- Fails unless `actual` deeply equals `expected` (and, for numbers, has the same math.type).
function T.eq(actual, expected, what)
  local same = deep_equal(actual, expected)
  if same and type(actual) == "number" and math.type(actual) ~= math.type(expected) then
    same = false
  end
  if not same then
    error(string.format("%sexpected %s (%s), got %s (%s)", what and (what .. ": ") or "",
      show(expected), math.type(expected) or type(expected), show(actual),
      math.type(actual) or type(actual)), 2)
  end
end

function T.ok(value, what)
  if not value then error((what or "expected a true value") .. ", got " .. show(value), 2) end
  return value
end

--- Fails unless `text` contains `needle` (plain text, not a pattern).
function T.contains(text, needle, what)
  if type(text) ~= "string" or not text:find(needle, 1, true) then
    error(string.format("%sexpected text containing %q, got %s", what and (what .. ": ") or "",
      needle, show(text)), 2)
  end
end

function T.not_contains(text, needle, what)
  if type(text) == "string" and text:find(needle, 1, true) then
    error(string.format("%sexpected text without %q, got %s", what and (what .. ": ") or "",
      needle, show(text)), 2)
  end
end

--- The whole text of a file; fails naming it when it cannot be read.
function T.read(path)
  local f = assert(io.open(path))
  local text = f:read("a")
  f:close()
  return text
end

--- Calls fn(...) and returns the error it raised; fails if it did not raise. The arguments after
--- fn go to fn: check a message with T.contains(T.raises(fn), "message").
function T.raises(fn, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error, but the call succeeded", 2) end
  return err
end

function T.case(name, fn)
  local ok, err = xpcall(fn, function(e)
    local text = type(e) == "table" and tostring(e) or tostring(e)
    return text
  end)
  if ok then
    passed = passed + 1
    print("ok     " .. name)
  else
    failed = failed + 1
    print("FAILED " .. name .. "\n       " .. tostring(err):gsub("\n", "\n       "))
  end
end

function T.done()
  print(string.format("%d passed, %d failed", passed, failed))
  if failed > 0 or passed == 0 then os.exit(1) end
end

return T
