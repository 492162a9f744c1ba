-- The suites' own assertions check what they claim. T.raises(fn, ...) passes the arguments
-- after fn to fn, so in T.raises(function() ... end, "message") the message is silently
-- ignored: write T.contains(T.raises(function() ... end), "message") instead.
local T = require "testing"
local read = T.read

local src = assert(os.getenv "WEIR_SOURCE_DIR", "WEIR_SOURCE_DIR")

-- "file:line" for every T.raises whose first argument is a closure without parameters and
-- that is given further arguments (which that closure cannot look at).
local function ignored_arguments(name, text)
  -- parentheses inside short strings would unbalance %b(): blank them out
  text = text:gsub("(['\"])([^\n]-)%1", function(q, body) return q .. body:gsub("[()]", " ") .. q end)
  local found = {}
  local pos = 1
  while true do
    local s, e = text:find("T%.raises%s*%b()", pos)
    if not s then break end
    local args = text:sub(text:find("(", s, true) + 1, e - 1)
    if args:match("^%s*function%s*%(%s*%)") and not args:match("end%s*$") then
      local _, line = text:sub(1, s):gsub("\n", "")
      found[#found + 1] = name .. ":" .. (line + 1)
    end
    pos = e + 1
  end
  return found
end

T.case("the check itself: a message after a closure is found, a checked one is not", function()
  T.eq(ignored_arguments("x.lua", 'local a = 1\nT.raises(function() f("(") end, "boom")\n'), { "x.lua:2" })
  T.eq(ignored_arguments("x.lua", 'T.raises(function()\n  g()\nend,\n  "boom")'), { "x.lua:1" })
  T.eq(ignored_arguments("x.lua", 'T.contains(T.raises(function() f() end), "boom")'), {})
  T.eq(ignored_arguments("x.lua", 'T.contains(T.raises(db.value, db, "SELECT 1"), "boom")'), {})
  T.eq(ignored_arguments("x.lua", 'T.raises(function(a) f(a) end, 1)'), {})
end)

T.case("no suite passes arguments to a T.raises closure that ignores them", function()
  local found = {}
  for _, dir in ipairs { "tests/lua", "tests/cli" } do
    for _, n in ipairs(assert(weir.list_dir(src .. "/" .. dir))) do
      if n:match("%.lua$") and n ~= "suite_lint_test.lua" then
        for _, where in ipairs(ignored_arguments(dir .. "/" .. n, read(src .. "/" .. dir .. "/" .. n))) do
          found[#found + 1] = where
        end
      end
    end
  end
  T.eq(found, {}, "T.raises(function() ... end, message) ignores message; use T.contains(T.raises(fn), message)")
end)

T.done()
