-- Values weir cannot send or read as the script wrote them are refused in one line, never
-- guessed: db.array of a table that is not a sequence, a statement with more parameters than
-- PostgreSQL's protocol counts, a JSON number beyond a double. Before: a hole became NULL (or
-- cut the array short), named keys were dropped, 65,536 parameters read "connection lost", and
-- 1e400 raised "[json.exception.out_of_range.406] …".
local T = require "testing"

local function line_of(msg) return (msg:match("^[^\n]*")) end

T.case("db.array refuses a table that is not a sequence", function()
  local cases = {
    { { 1, nil, 3 }, "db.array: not a sequence: element 2 of 3 is nil (a hole); write db.NULL for a NULL element" },
    { { [2] = 5 }, "db.array: not a sequence: element 1 of 2 is nil (a hole)" },
    { { 1, 2, x = 3 }, "db.array: not a sequence: it has the key 'x' (an array takes elements 1..n only; a table with named keys goes in db.json)" },
    { { [0] = 1, 2 }, "db.array: not a sequence: it has the key 0" },
    { { [1.5] = 1 }, "db.array: not a sequence: it has the key 1.5" },
    { { { 1, 2 }, { 3, nil, 4 } }, "db.array: not a sequence: element 2 of 3 is nil" },
  }
  for i, c in ipairs(cases) do
    local ok, err = pcall(function() return db:value("SELECT $1::int[]", db.array(c[1])) end)
    T.eq(ok, false, "case " .. i)
    T.contains(err, c[2], "case " .. i)
    T.ok(err:find("refusals_test.lua:%d+: db:value: parameter %$1: "), "names the line: " .. err)
    T.eq(line_of(err), err, "one line")
  end
  T.eq(db:value("SELECT $1::int[]", db.array { 1, db.NULL, 3 }), { 1, db.NULL, 3 }, "db.NULL is an element")
  T.eq(db:value("SELECT $1::int[]", db.array {}), {}, "an empty table is an empty array")
end)

T.case("more than 65535 parameters: one line naming the limit, and the connection still works", function()
  local n = 65536
  local placeholders, args = {}, {}
  for i = 1, n do placeholders[i] = "$" .. i; args[i] = i end
  local sql = "SELECT count(*) FROM (VALUES (" .. table.concat(placeholders, "::int), (") .. "::int)) v"
  local ok, err = pcall(function() return db:value(sql, table.unpack(args, 1, n)) end)
  T.eq(ok, false)
  T.contains(err, "db:value: 65536 parameters, more than the 65535 PostgreSQL takes in one statement")
  T.not_contains(err, "connection lost")
  T.eq(line_of(err), err, "one line")
  local sql_max = "SELECT count(*) FROM (VALUES (" .. table.concat(placeholders, "::int), (", 1, 65535) .. "::int)) v"
  T.eq(db:value(sql_max, table.unpack(args, 1, 65535)), 65535, "65535 is allowed")
  T.eq(db:value "SELECT 1", 1)
end)

T.case("json.decode of a number beyond a double is a clear error, not inf", function()
  for _, c in ipairs {
    { "1e99999", "json.decode: number out of range at byte 1: 1e99999 is beyond what a double holds" },
    { "-1e99999", "json.decode: number out of range at byte 1: -1e99999" },
    { '{"a": [1, 1e309]}', "json.decode: number out of range at byte 11: 1e309" },
  } do
    local ok, err = pcall(json.decode, c[1])
    T.eq(ok, false, c[1])
    T.contains(err, c[2], c[1])
    T.not_contains(err, "json.exception", c[1])
  end
  T.eq(json.decode "1e-99999", 0.0, "too small for a double reads as 0")
  T.eq(json.decode "1.7976931348623157e308", 1.7976931348623157e308)
  local ok, err = pcall(function() return db:value "SELECT '[1e400]'::jsonb" end)
  T.eq(ok, false)
  T.contains(err, "JSON value from the server: number out of range at byte 2: 100000000000")  -- jsonb writes 1e400 out
  T.eq(db:value "SELECT ('[1e400]'::jsonb -> 0)::numeric = 1e400", true, "read as numeric it is kept")
end)

T.done()
