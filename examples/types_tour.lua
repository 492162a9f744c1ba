-- A tour of weir's typed values: every PostgreSQL type weir maps, read back and checked.
--
--   weir run --ephemeral examples/types_tour.lua
--
-- Prints one line per type with the Lua value it became, and exits 1 if any check fails.

local failures = 0

local function show(v)
  if db.isnull(v) then return "db.NULL" end
  if type(v) == "string" then
    local q = string.format("%q", v):gsub("\\\n", "\\n")
    if not utf8.len(v) then  -- raw bytes: show every non-ASCII byte as an escape
      q = q:gsub("[\128-\255]", function(c) return "\\" .. c:byte() end)
    end
    return q
  end
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for i = 1, #v do parts[#parts + 1] = show(v[i]) end
  local keys = {}
  for k in pairs(v) do if math.type(k) ~= "integer" then keys[#keys + 1] = k end end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. " = " .. show(v[k]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then
    return a == b and math.type(a) == math.type(b) or (a ~= a and b ~= b)
  end
  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function check(label, sql, expected, ...)
  local ok, got = pcall(db.value, db, sql, ...)
  local good = ok and same(got, expected)
  if not good then failures = failures + 1 end
  local kind = ok and (math.type(got) or (db.isnull(got) and "NULL") or type(got)) or "error"
  print(string.format("%-4s %-26s %-8s %s", good and "ok" or "FAIL", label, kind,
    ok and show(got) or tostring(got)))
  if ok and not good then print("     expected " .. show(expected)) end
end

print("server: " .. db:value "SHOW server_version")
db:exec "SET TimeZone = 'UTC'"
print "\n-- from the server"
check("int2", "SELECT 32767::int2", 32767)
check("int4", "SELECT (-2147483648)::int4", -2147483648)
check("int8", "SELECT 9223372036854775807::int8", math.maxinteger)
check("oid", "SELECT 'pg_class'::regclass::oid", 1259)
check("float4", "SELECT 1.5::float4", 1.5)
check("float8", "SELECT 0.1::float8", 0.1)
check("float8 infinity", "SELECT 'Infinity'::float8", math.huge)
check("numeric (exact)", "SELECT 3.14159265358979323846264338327950288::numeric",
  "3.14159265358979323846264338327950288")
check("bool", "SELECT true", true)
check("text", "SELECT 'weir ✓'::text", "weir ✓")
check("varchar", "SELECT 'v'::varchar(10)", "v")
check("char(n)", "SELECT 'c'::char(3)", "c  ")
check("name", "SELECT 'pg_class'::name", "pg_class")
check("json", [[SELECT '{"a": [1, 2.5, null]}'::json]], { a = { 1, 2.5, db.NULL } })
check("jsonb", [[SELECT '{"nested": {"ok": true}}'::jsonb]], { nested = { ok = true } })
check("int4[]", "SELECT ARRAY[1, NULL, 3]", { 1, db.NULL, 3 })
check("text[] with quoting", [=[SELECT ARRAY['a,b', 'c"d', 'NULL']]=], { "a,b", 'c"d', "NULL" })
check("int4[][] (2-D)", "SELECT ARRAY[[1, 2], [3, 4]]", { { 1, 2 }, { 3, 4 } })
check("jsonb[]", [=[SELECT ARRAY['[1]'::jsonb]]=], { { 1 } })
check("bytea", [[SELECT '\x00ff41'::bytea]], "\0\255A")
check("uuid", "SELECT '5a2f0e44-5c9d-4f76-9a5e-1b2c3d4e5f60'::uuid", "5a2f0e44-5c9d-4f76-9a5e-1b2c3d4e5f60")
check("date", "SELECT '2025-03-01'::date", "2025-03-01")
check("time", "SELECT '08:30'::time", "08:30:00")
check("timestamp", "SELECT '2025-03-01 08:30'::timestamp", "2025-03-01 08:30:00")
check("timestamptz", "SELECT '2025-03-01 08:30+00'::timestamptz", "2025-03-01 08:30:00+00")
check("interval", "SELECT '90 minutes'::interval", "01:30:00")
check("inet", "SELECT '10.0.0.1'::inet", "10.0.0.1")
check("NULL", "SELECT NULL::text", db.NULL)

print "\n-- to the server (bound parameters)"
check("integer", "SELECT $1", 42, 42)
check("big integer", "SELECT $1", 1 << 40, 1 << 40)
check("float", "SELECT $1", 0.1, 0.1)
check("string", "SELECT $1::text", "it's; DROP TABLE x", "it's; DROP TABLE x")
check("boolean", "SELECT $1", false, false)
check("nil", "SELECT $1::int", db.NULL, nil)
check("db.NULL", "SELECT $1::int", db.NULL, db.NULL)
check("db.json", "SELECT $1::jsonb", { k = { 1, 2 } }, db.json { k = { 1, 2 } })
check("db.array", "SELECT $1::int[]", { 1, 2, 3 }, db.array { 1, 2, 3 })
check("db.bytea", "SELECT $1::bytea", "\0\1\2", db.bytea "\0\1\2")
check("string as numeric", "SELECT $1::numeric * 2", "0.2000000000000000000002", "0.1000000000000000000001")

print(string.format("\n%d checks failed", failures))
os.exit(failures == 0)
