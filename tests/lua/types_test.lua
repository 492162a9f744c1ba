-- Every PostgreSQL type weir maps, in both directions, against a real server.
local T = require "testing"

local function v(sql, ...) return db:value(sql, ...) end

T.case("integers are Lua integers", function()
  T.eq(v "SELECT 7::int2", 7)
  T.eq(v "SELECT 2147483647::int4", 2147483647)
  T.eq(v "SELECT 9223372036854775807::int8", math.maxinteger)
  T.eq(v "SELECT (-9223372036854775807 - 1)::int8", math.mininteger)
  T.eq(v "SELECT 4294967295::oid", 4294967295)
  T.eq(math.type(v "SELECT 1::int4"), "integer")
end)

T.case("floats are Lua floats, including NaN and infinities", function()
  T.eq(v "SELECT 0.5::float4", 0.5)
  T.eq(v "SELECT 0.1::float8", 0.1)
  T.eq(v "SELECT 'Infinity'::float8", math.huge)
  T.eq(v "SELECT '-Infinity'::float8", -math.huge)
  local nan = v "SELECT 'NaN'::float8"
  T.ok(nan ~= nan, "NaN")
  T.eq(math.type(v "SELECT 3::float8"), "float")
end)

T.case("numeric keeps every digit as a string", function()
  T.eq(v "SELECT 12345678901234567890.123456789012345678901::numeric",
    "12345678901234567890.123456789012345678901")
  T.eq(v "SELECT 1.50::numeric(10,2)", "1.50")
  T.eq(v "SELECT 'NaN'::numeric", "NaN")
  T.eq(v("SELECT $1::numeric", "0.1000000000000000000001"), "0.1000000000000000000001")
end)

T.case("booleans", function()
  T.eq(v "SELECT true", true)
  T.eq(v "SELECT false", false)
  T.eq(v("SELECT $1::bool", false), false)
  T.eq(v("SELECT NOT $1", true), false)
end)

T.case("text types are strings", function()
  T.eq(v "SELECT 'héllo ✓'::text", "héllo ✓")
  T.eq(v "SELECT 'ab'::varchar(5)", "ab")
  T.eq(v "SELECT 'ab'::char(4)", "ab  ")
  T.eq(v "SELECT 'pg_class'::name", "pg_class")
  T.eq(v("SELECT $1::text", ""), "")
end)

T.case("json and jsonb become Lua tables", function()
  local j = v [[SELECT '{"a": [1, 2.5, "x", null, true], "b": {"c": {}}, "d": []}'::jsonb]]
  T.eq(j.a[1], 1)
  T.eq(math.type(j.a[1]), "integer")
  T.eq(j.a[2], 2.5)
  T.eq(j.a[3], "x")
  T.ok(db.isnull(j.a[4]), "JSON null is db.NULL")
  T.eq(j.a[5], true)
  T.eq(#j.a, 5)
  T.eq(v [=[SELECT '[1, [2, [3]]]'::json]=], { 1, { 2, { 3 } } })
  T.eq(v [[SELECT '"just a string"'::jsonb]], "just a string")
  T.eq(v [[SELECT '42'::json]], 42)
end)

T.case("json round-trips, keeping empty arrays and objects apart", function()
  local doc = v [[SELECT '{"arr": [], "obj": {}, "n": null}'::jsonb]]
  local back = v("SELECT $1::jsonb::text", db.json(doc))
  T.eq(back, [[{"n": null, "arr": [], "obj": {}}]])
  T.eq(v("SELECT $1::jsonb", db.json { x = { 1, 2, { y = "z" } } }), { x = { 1, 2, { y = "z" } } })
  T.eq(v("SELECT ($1::jsonb)->>'k'", db.json { k = "it's \"quoted\"" }), "it's \"quoted\"")
  T.eq(v("SELECT $1::json::text", db.json { 1, 2, 3 }), "[1, 2, 3]", "db.json binds as jsonb")
end)

T.case("arrays become sequences of converted elements", function()
  T.eq(v "SELECT ARRAY[1, 2, 3]::int4[]", { 1, 2, 3 })
  T.eq(math.type(v("SELECT ARRAY[5]::int8[]")[1]), "integer")
  local t = v [=[SELECT ARRAY['a', 'b,c', 'd"e', 'f\g', '{h}', 'NULL', NULL, '', ' sp ']]=]
  T.eq(t[1], "a"); T.eq(t[2], "b,c"); T.eq(t[3], 'd"e'); T.eq(t[4], "f\\g"); T.eq(t[5], "{h}")
  T.eq(t[6], "NULL", "the string NULL stays a string")
  T.ok(db.isnull(t[7]), "a NULL element is db.NULL")
  T.eq(t[8], ""); T.eq(t[9], " sp ")
  T.eq(#t, 9)
  T.eq(v "SELECT ARRAY[[1, 2], [3, 4]]", { { 1, 2 }, { 3, 4 } })
  T.eq(v "SELECT '{}'::int[]", {})
  T.eq(v "SELECT ARRAY[true, false]", { true, false })
  T.eq(v "SELECT ARRAY[1.5, 2]::float8[]", { 1.5, 2.0 })
  T.eq(v "SELECT ARRAY[1.10, 2]::numeric[]", { "1.10", "2" })
  T.eq(v [=[SELECT ARRAY['{"a":1}'::jsonb, '[2]'::jsonb]]=], { { a = 1 }, { 2 } })
  T.eq(v "SELECT '[0:1]={7,8}'::int[]", { 7, 8 })
  T.eq(v [=[SELECT ARRAY['\x00ff'::bytea]]=], { "\0\255" })
  T.eq(v [=[SELECT ARRAY['2024-01-02'::date]]=], { "2024-01-02" })
end)

T.case("user types: enums, domains, arrays of them", function()
  db:exec [[
    DROP TYPE IF EXISTS mood CASCADE;
    DROP DOMAIN IF EXISTS posint CASCADE;
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
  ]]
  T.eq(v "SELECT 'happy'::mood", "happy")
  T.eq(v "SELECT ARRAY['sad', 'ok']::mood[]", { "sad", "ok" })
  T.eq(v "SELECT 5::posint", 5)
  T.eq(math.type(v "SELECT 5::posint"), "integer")
  T.eq(v "SELECT ARRAY[1, 2]::posint[]", { 1, 2 })
  T.eq(v "SELECT '(1,2),(3,4)'::box", "(3,4),(1,2)")
  T.eq(v "SELECT ARRAY['(1,2),(3,4)'::box, '(0,0),(1,1)'::box]", { "(3,4),(1,2)", "(1,1),(0,0)" })
end)

T.case("bytea is raw bytes both ways", function()
  local all = {}
  for i = 0, 255 do all[#all + 1] = string.char(i) end
  all = table.concat(all)
  T.eq(v("SELECT $1::bytea", db.bytea(all)), all)
  T.eq(v("SELECT length($1::bytea)", db.bytea(all)), 256)
  T.eq(v [[SELECT '\x41420043'::bytea]], "AB\0C")
  T.eq(v("SELECT $1::bytea", db.bytea "\\x41"), "\\x41", "bytes that look like hex stay bytes")
end)

T.case("uuid, dates, times, intervals and inet come back as text", function()
  T.eq(v "SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
  T.eq(v "SELECT '2024-02-29'::date", "2024-02-29")
  T.eq(v "SELECT '13:45:01.5'::time", "13:45:01.5")
  T.eq(v "SELECT '2024-02-29 13:45:01'::timestamp", "2024-02-29 13:45:01")
  T.eq(v "SELECT '2024-02-29 13:45:01+00'::timestamptz AT TIME ZONE 'UTC'", "2024-02-29 13:45:01")
  db:exec "SET TimeZone = 'UTC'"
  T.eq(v "SELECT '2024-02-29 13:45:01+02'::timestamptz", "2024-02-29 11:45:01+00")
  T.eq(v "SELECT '1 day 2 hours'::interval", "1 day 02:00:00")
  T.eq(v "SELECT '192.168.0.1/24'::inet", "192.168.0.1/24")
  T.eq(v("SELECT $1::uuid", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
  T.eq(v("SELECT $1::date + 1", "2024-12-31"), "2025-01-01")
end)

T.case("SQL NULL is db.NULL, and nil binds as NULL", function()
  local n = v "SELECT NULL::int"
  T.ok(db.isnull(n))
  T.ok(n == db.NULL)
  T.eq(tostring(db.NULL), "NULL")
  T.ok(db.isnull(v("SELECT $1::text", nil)))
  T.ok(db.isnull(v("SELECT $1::int", db.NULL)))
  T.eq(v("SELECT $1::int IS NULL", nil), true)
  T.eq(db.isnull(0), false)
  local row = db:one "SELECT 1 AS a, NULL::text AS b"
  T.ok(db.isnull(row.b), "a NULL column is present in the row as db.NULL")
end)

T.case("db:query_text gives each row's values as the server's text, in column order, with columns and tag", function()
  local rows, cols, tag = db:query_text([[SELECT '{"b":1, "a":2}'::json AS j, ARRAY[1, NULL] AS a,
    true AS t, '\x00ff'::bytea AS b, 12::int AS i, 0.1::float8 AS f, NULL::int AS n, $1::int AS p]], 7)
  T.eq(tag, "SELECT 1")
  T.eq(#rows, 1)
  local r = rows[1]
  T.eq({ r[1], r[2], r[3], r[4], r[5], r[6], r[8] }, { '{"b":1, "a":2}', "{1,NULL}", "t", "\\x00ff", "12", "0.1", "7" })
  T.ok(r[7] == db.NULL)
  T.eq(#r, 8)
  T.eq(cols[1], { name = "j", type = "json" })
  T.eq(cols[5], { name = "i", type = "int4" })
  -- columns of the same name keep their own values
  rows, cols = db:query_text("SELECT 1, 2, 'x' AS a, 'y' AS a")
  T.eq(rows[1], { "1", "2", "x", "y" })
  T.eq({ cols[1].name, cols[2].name, cols[3].name, cols[4].name }, { "?column?", "?column?", "a", "a" })
  local _, _, ins = db:query_text("CREATE TEMP TABLE qt (x int)")
  T.eq(ins, "CREATE TABLE")
  T.eq(T.raises(function() db:query_text("SELECT nosuch") end).sqlstate, "42703")
end)

T.case("parameters keep their Lua types", function()
  T.eq(v("SELECT $1", 42), 42)
  T.eq(math.type(v("SELECT $1", 42)), "integer")
  T.eq(v("SELECT $1", 5000000000), 5000000000)
  T.eq(v("SELECT $1 + 1", math.maxinteger - 1), math.maxinteger)
  T.eq(v("SELECT $1", 0.1), 0.1)
  T.eq(v("SELECT $1", 1e300), 1e300)
  T.eq(v("SELECT $1", true), true)
  T.eq(v("SELECT substr('abcdef', $1, $2)", 2, 3), "bcd")
  T.eq(v("SELECT $1::int[]", db.array { 1, 2, db.NULL, 4 }), { 1, 2, db.NULL, 4 })
  T.eq(v("SELECT $1::text[]", db.array { "a,b", "{c}", 'd"e', "NULL", "" }), { "a,b", "{c}", 'd"e', "NULL", "" })
  T.eq(v("SELECT $1::int[]", db.array { { 1, 2 }, { 3, 4 } }), { { 1, 2 }, { 3, 4 } })
  T.eq(v("SELECT 3 = ANY($1::int[])", db.array { 1, 2, 3 }), true)
  T.eq(v("SELECT $1::bool[]", db.array { true, false }), { true, false })
end)

T.case("a table round-trips every type through INSERT and SELECT", function()
  db:exec [[
    CREATE TABLE everything (
      id int8 PRIMARY KEY, small int2, f4 float4, f8 float8, n numeric, b bool, t text,
      vc varchar(20), j json, jb jsonb, ia int4[], ta text[], by bytea, u uuid, d date,
      ts timestamp, tz timestamptz, iv interval, ip inet)
  ]]
  local row = {
    id = 9007199254740993, small = -32768, f4 = 1.5, f8 = -2.25, n = "-0.000000000000000000001",
    b = false, t = "line1\nline2\t'quoted'", vc = "vc", j = { k = { 1, 2 } }, jb = { deep = { er = true } },
    ia = { 3, 1, 2 }, ta = { "x", "y z" }, by = "\0\1\2\255", u = "123e4567-e89b-12d3-a456-426614174000",
    d = "1999-12-31", ts = "2000-01-01 00:00:00.123456", tz = "2000-01-01 00:00:00+00", iv = "00:00:01",
    ip = "::1",
  }
  db:exec("SET TimeZone = 'UTC'")
  local n = db:exec([[INSERT INTO everything VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
                       $13, $14, $15, $16, $17, $18, $19)]],
    row.id, row.small, row.f4, row.f8, row.n, row.b, row.t, row.vc, db.json(row.j), db.json(row.jb),
    db.array(row.ia), db.array(row.ta), db.bytea(row.by), row.u, row.d, row.ts, row.tz, row.iv, row.ip)
  T.eq(n, 1, "affected rows")
  local back = db:one("SELECT * FROM everything WHERE id = $1", row.id)
  for k, expected in pairs(row) do T.eq(back[k], expected, k) end
end)

T.done()
