-- JSON nests at most 1000 levels wherever weir reads or writes it (json.decode, json.encode,
-- json.validate, json/jsonb columns, db.array's nested tables): deeper input is one error line,
-- never a crash. Each case here crashed weir (SIGSEGV) before the limit.
local T = require "testing"

local function nested(depth, open, close)
  open, close = open or "[", close or "]"
  return open:rep(depth) .. "1" .. close:rep(depth)
end

-- `depth` tables, each the only element of the one around it; the innermost holds 1.
local function nested_table(depth)
  local t = {}
  local inner = t
  for _ = 2, depth do
    inner[1] = {}
    inner = inner[1]
  end
  inner[1] = 1
  return t
end

T.case("json.decode: 1000 levels decode, 1001 and 100,000 are one error with the byte offset", function()
  local v = json.decode(nested(1000))
  local depth = 0
  while type(v) == "table" do depth, v = depth + 1, v[1] end
  T.eq(depth, 1000)
  T.eq(T.raises(json.decode, nested(1001)), "json.decode: JSON nested deeper than 1000 levels (at byte 1001)")
  local err = T.raises(json.decode, nested(100000, '{"k":', "}"))
  T.contains(err, "json.decode: JSON nested deeper than 1000 levels (at byte 5001)")
end)

T.case("json.encode: what decodes re-encodes; deeper tables and cycles are refused", function()
  T.eq(json.encode(json.decode(nested(1000))), nested(1000))
  T.eq(json.encode(nested_table(1000)), nested(1000))
  T.contains(T.raises(json.encode, nested_table(1001)), "json.encode: table nested deeper than 1000 levels")
  T.contains(T.raises(json.encode, nested_table(100000)), "json.encode: table nested deeper than 1000 levels")
  local cyclic = {}
  cyclic.self = { cyclic }
  T.contains(T.raises(json.encode, cyclic), "json.encode: cannot encode a table that contains itself")
  local wide = {}  -- breadth is not depth
  for i = 1, 100000 do wide[i] = { i } end
  T.eq(#json.decode(json.encode(wide)), 100000)
end)

T.case("json.validate: deep schema text and deep values are refused, the limit validates", function()
  T.contains(T.raises(json.validate, 1, nested(100000, '{"not":', "}")),
    "json.validate: schema: JSON nested deeper than 1000 levels (at byte 7001)")
  T.contains(T.raises(json.validate, nested_table(100000), { type = "array" }),
    "json.validate: value: table nested deeper than 1000 levels")
  T.eq(json.validate(nested_table(1000), { items = { ["$ref"] = "#" }, type = { "array", "integer" } }), true)
  local ok, errors = json.validate(json.decode(nested(1000)), { items = { ["$ref"] = "#" }, type = "array" })
  T.eq(ok, false)
  T.eq(errors[1].keyword, "type")
  T.eq(errors[1].pointer, ("/0"):rep(1000), "the innermost 1")
end)

T.case("jsonb columns: 1000 levels read as tables; deeper is an error naming the column", function()
  local v = db:value("SELECT $1::jsonb", nested(1000))
  T.eq(json.encode(v), nested(1000))
  local err = T.raises(db.one, db, "SELECT $1::jsonb AS deep", nested(1001))
  T.contains(err, 'column "deep": JSON value from the server: JSON nested deeper than 1000 levels')
  T.eq(db:value("SELECT length($1::jsonb::text)", nested(1001)), 2 * 1001 + 1, "::text still reads it")
end)

T.case("db.array: tables nested more than 200 levels are refused before anything is sent", function()
  T.contains(T.raises(db.value, db, "SELECT $1::int[]", db.array(nested_table(100000))), "db.array: nested too deeply")
  T.contains(T.raises(db.value, db, "SELECT $1::int[]", db.array(nested_table(201))), "db.array: nested too deeply")
  T.eq(db:value("SELECT $1::int[]", db.array({ { 1, 2 }, { 3, 4 } })), { { 1, 2 }, { 3, 4 } })
end)

T.done()
