-- The rows a copy.table transform sees, read with COPY binary and decoded in C++ (copy.core's
-- read plan), against a real server: for every type each value is the one COPY text gave
-- before (and db:query gives), NULLs, arrays, json, numeric exactness, bytea, timestamps
-- included; json columns left in the COPY bytes until read (lazy rows) read, assign, iterate
-- and encode as the eager row does; and what is read goes back with core.write unchanged.
local T = require "testing"
local core = require "copy.core"

db:exec [[
  DROP TABLE IF EXISTS cb_types, cb_out, cb_legacy, cb_dup_a, cb_dup_b;
  DROP TYPE IF EXISTS cb_mood;
  DROP DOMAIN IF EXISTS cb_pos;
  CREATE TYPE cb_mood AS ENUM ('sad', 'happy');
  CREATE DOMAIN cb_pos AS int CHECK (VALUE > 0);
  CREATE TABLE cb_types (
    id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, o oid, f4 float4, f8 float8, n numeric,
    n2 numeric(10,2), b bool, t text, vc varchar(10), c char(5), nm name, ch "char", by bytea,
    u uuid, j json, jb jsonb, d date, tm time, ttz timetz, ts timestamp, tstz timestamptz,
    iv interval, mood cb_mood, pos cb_pos, ai int[], at text[], an numeric[], ab bool[],
    af float8[], af4 float4[], aby bytea[], au uuid[], ajb jsonb[], a2 int[][], ats timestamptz[],
    amood cb_mood[], ai8 int8[], ai2 int2[]);
  CREATE TABLE cb_out (LIKE cb_types);
  INSERT INTO cb_types (id) VALUES (2);  -- every other column NULL
  INSERT INTO cb_types VALUES (
    1, 7, -42, 9007199254740993, 12345, 0.1, 0.1, 123.4500, 99.50, true,
    E'tab\there, newline\nthere, back\\slash, zero-width ‍, é', 'short', 'ab', 'a_name', 'x',
    '\x00ff5c090a', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',
    '{ "b" : [1, 2.5, null, "x"],  "a": {} }',
    '{"b": [1, 2.5, null, "x\ty"], "a": {}, "e": [], "n": -0.5, "t": true}',
    '2020-02-29', '04:05:06.789', '04:05:06+02', '2020-01-01 00:00:37.123456',
    '2020-01-01 00:00:37+00', '1 year 2 mons 3 days 04:05:06.789', 'happy', 5,
    '{1,NULL,3}', ARRAY['a b', '', NULL, 'NULL', 'x,y', 'q"uote', E'back\\slash', '{}'],
    '{1.50,NaN,-0.001}', '{t,f,NULL}', '{1.5,-Infinity,NaN}', '{0.1,3.4e38}',
    ARRAY['\x00ff'::bytea, NULL], '{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}',
    ARRAY['{"a": 1}'::jsonb, '[]', NULL], '{{1,2},{3,4}}',
    '{"2020-01-01 00:00:00+00",infinity}', '{sad,happy}', '{-9223372036854775808}', '{-32768,32767}');
  INSERT INTO cb_types (id, i2, i4, i8, o, f4, f8, n, n2, b, t, c, by, j, jb, d, ts, tstz, iv, ai, at,
                        a2, af)
  VALUES (3, -32768, 2147483647, -9223372036854775808, 4294967295, 'NaN', '-Infinity', 'NaN', -0.01,
          false, '', '', '', '[null]', '"just a string"', 'infinity', '-infinity', '1999-12-31 23:59:59.999999+00',
          '-1 days +00:00:00.000001', '{}', '{}', '[0:1]={7,8}', '{}');
  INSERT INTO cb_types (id, f4, f8, n) VALUES
    (4, '1e-45', '-0', '123456789012345678901234567890.000000000000000000001'),
    (5, '-Infinity', '5e-324', 'Infinity'), (6, '3.4028235e38', '1.7976931348623157e308', '-Infinity'),
    (7, '-0', '2.2250738585072014e-308', '0.0000'), (8, '1', '0.30000000000000004', '10000'),
    (9, '16777217', '1e22', '-0.000000000000000000000000000001'), (10, NULL, NULL, '1e-20'),
    (11, NULL, NULL, '99990000.00010000');
]]

local SQL = "SELECT * FROM cb_types ORDER BY id"
local plan = core.read_plan(db, SQL)

-- Strict equality: same types (integer or float), floats bit for bit (-0, NaN), tables with the
-- same metatable (json's array and object markers), NULL as the same sentinel.
local function same(a, b, path, row)
  if type(a) ~= type(b) then return false, path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) == "number" then
    if math.type(a) ~= math.type(b) then return false, path .. ": " .. math.type(a) .. " vs " .. math.type(b) end
    if math.type(a) == "float" and ("%a"):format(a) ~= ("%a"):format(b) then
      return false, path .. (": %a vs %a"):format(a, b)
    end
    return true
  end
  if type(a) ~= "table" then
    if a == b then return true end
    return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b)
  end
  if not row and getmetatable(a) ~= getmetatable(b) then return false, path .. ": metatables differ" end
  for k, v in pairs(a) do
    local ok, why = same(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, why end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. ": missing" end
  end
  return true
end

local function check_same(a, b, what, row)
  local ok, why = same(a, b, what, row)
  T.ok(ok, why)
end

T.case("every column reads as it did with COPY text, and as db:query gives it", function()
  T.contains(plan:list(), '"tstz"::text AS "tstz"', "dates and times are printed by the server")
  T.contains(plan:list(), '"mood"::text AS "mood"', "an enum is printed by the server")
  T.not_contains(plan:list(), '"n"::text', "numeric is decoded from its binary form")
  local binary, names = core.read(db, "SELECT " .. plan:list() .. " FROM cb_types ORDER BY id", plan)
  local text = core.read(db, SQL)
  local query = db:query(SQL)
  T.eq(#binary, 11)
  T.eq(#names, 41)
  for i = 1, #text do
    check_same(binary[i], text[i], "row " .. i .. " (binary vs text)")
    check_same(binary[i], query[i], "row " .. i .. " (binary vs db:query)")
  end
  -- a few values spelt out, so a shared mistake of both paths shows too
  local r = binary[1]
  T.eq(r.i8, 9007199254740993)
  T.eq(r.n, "123.4500")
  T.eq(r.n2, "99.50")
  T.eq(r.f4, 0.1)
  T.eq(r.by, "\0\255\\\t\n")
  T.eq(r.u, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
  T.eq(r.c, "ab   ")
  T.eq(r.tstz, "2020-01-01 00:00:37+00")
  T.eq(r.ts, "2020-01-01 00:00:37.123456")
  T.eq(r.a2, { { 1, 2 }, { 3, 4 } })
  T.ok(db.isnull(r.ai[2]), "a NULL element is db.NULL")
  T.eq(r.aby[1], "\0\255")
  T.eq(binary[4].n, "123456789012345678901234567890.000000000000000000001")
  T.eq(binary[9].n, "-0.000000000000000000000000000001")
  T.eq(binary[11].n, "99990000.00010000")
  T.eq(binary[3].a2, { 7, 8 }, "lower bounds are dropped, as in the text form")
  T.ok(db.isnull(binary[2].jb), "a NULL column is db.NULL")
end)

T.case("fetch and take read the same rows on a thread of their own", function()
  local sql = "SELECT " .. plan:list() .. " FROM cb_types ORDER BY id"
  local pending = core.fetch(db, sql)
  local rows = core.take(pending, plan)
  check_same(rows, (core.read(db, sql, plan)), "rows")
  T.raises(core.take, pending, plan)
  -- the connection waits for a read in flight before anything else runs on it
  local p2 = core.fetch(db, sql)
  T.eq(db:value("SELECT count(*) FROM cb_types"), 11)
  T.eq(#core.take(p2, plan), 11)
  core.discard(core.fetch(db, sql))
  T.eq(db:value("SELECT 1"), 1)
  local ok, err = pcall(core.take, core.fetch(db, "SELECT nope FROM cb_types"), plan)
  T.ok(not ok)
  T.eq(err.sqlstate, "42703")
end)

T.case("lazy rows: json columns decoded when read, the same values as the eager row", function()
  local sql = "SELECT " .. plan:list() .. " FROM cb_types ORDER BY id"
  local eager = core.read(db, sql, plan)
  local lazy = core.read(db, sql, plan, true)
  -- not decoded yet
  T.eq(rawget(lazy[1], "jb"), nil)
  local seen = {}
  core.columns_of(lazy, seen)
  T.ok(seen.jb and seen.j and seen.id and seen.ajb, "columns_of lists the pending columns")
  T.eq(rawget(lazy[1], "jb"), nil, "columns_of decodes nothing")
  -- reading
  check_same(lazy[1].jb, eager[1].jb, "jb")
  T.ok(rawget(lazy[1], "jb") ~= nil, "a read column is stored in the row")
  check_same(lazy[3].j, eager[3].j, "j")
  -- pairs decodes the rest
  local keys = 0
  for _ in pairs(lazy[2]) do keys = keys + 1 end
  T.eq(keys, 41)
  check_same(lazy[2], eager[2], "row 2 after pairs", true)
  -- json.encode and db.json see the pending columns
  local narrow = core.read_plan(db, "SELECT id, j, jb FROM cb_types")
  local nsql = "SELECT " .. narrow:list() .. " FROM cb_types ORDER BY id"
  local e, l = core.read(db, nsql, narrow), core.read(db, nsql, narrow, true)
  T.eq(json.encode(l[1]), json.encode(e[1]))
  T.eq(db:value("SELECT $1::jsonb", db.json(l[3])), db:value("SELECT $1::jsonb", db.json(e[3])))
  -- assigning replaces the pending value; nil removes it
  lazy[6].jb = { x = 1 }
  T.eq(lazy[6].jb, { x = 1 })
  lazy[7].j = nil
  T.eq(lazy[7].j, nil)
  local n = 0
  for k in pairs(lazy[7]) do
    if k == "j" then n = n + 1 end
  end
  T.eq(n, 0, "a removed column stays removed")
  -- the row's metatable cannot be replaced (its pending columns would be lost)
  T.ok(not pcall(setmetatable, lazy[8], {}), "setmetatable on a lazy row raises")
end)

T.case("what is read goes back unchanged with core.write (pending jsonb as the server sent it)", function()
  local sql = "SELECT " .. plan:list() .. " FROM cb_types ORDER BY id"
  local cols = {}
  for _, c in ipairs(db:query("SELECT attname FROM pg_attribute WHERE attrelid = 'cb_types'::regclass AND attnum > 0 ORDER BY attnum")) do
    cols[#cols + 1] = c.attname
  end
  local function compare()
    -- json has no equality: compare it as jsonb, everything else by its text form
    local diff = db:value [[
      SELECT count(*) FROM (
        (SELECT id, (to_jsonb(r) - 'j')::text, j::jsonb FROM cb_types r
         EXCEPT SELECT id, (to_jsonb(r) - 'j')::text, j::jsonb FROM cb_out r)
        UNION ALL
        (SELECT id, (to_jsonb(r) - 'j')::text, j::jsonb FROM cb_out r
         EXCEPT SELECT id, (to_jsonb(r) - 'j')::text, j::jsonb FROM cb_types r)) d]]
    T.eq(diff, 0)
  end
  for _, lazy in ipairs { false, true } do
    db:exec "TRUNCATE cb_out"
    local rows = core.read(db, sql, plan, lazy)
    -- a JSON string read into Lua is a string, and a string given to a json column is JSON
    -- text (as always): to write the string itself back, db.json
    if not lazy then rows[3].jb = db.json(rows[3].jb) end
    local wplan = core.write_plan(db, "cb_out", cols)
    T.eq(core.write(db, "cb_out", cols, rows, wplan), 11)
    compare()
    if lazy then T.eq(rawget(rows[1], "jb"), nil, "a pending jsonb column was written without decoding it") end
  end
  -- a big number inside json survives exactly when the column is not read
  db:exec "TRUNCATE cb_out"
  db:exec [[UPDATE cb_types SET jb = '{"big": 123456789012345678901234567890}' WHERE id = 11]]
  local rows = core.read(db, sql, plan, true)
  core.write(db, "cb_out", cols, rows)
  T.eq(db:value("SELECT jb->>'big' FROM cb_out WHERE id = 11"), "123456789012345678901234567890")
  db:exec "UPDATE cb_types SET jb = NULL WHERE id = 11"
  -- the write plan must be of the same columns
  T.ok(not pcall(core.write, db, "cb_out", { "id" }, {}, core.write_plan(db, "cb_out", { "id", "t" })))
  -- a bad value raises before the COPY starts, naming the column
  local ok, err = pcall(core.write, db, "cb_out", { "id", "t" }, { { id = 99, t = "a\0b" } })
  T.ok(not ok)
  T.contains(tostring(err), 'column "t": string contains a zero byte')
  T.eq(db:value("SELECT 1"), 1, "the connection is usable after it")
end)

T.case("copy.table with a transform: untouched, changed and whole-row json, reading the source per row", function()
  db:exec [[CREATE TABLE cb_legacy (id int PRIMARY KEY, jb jsonb, j json, legacy jsonb, note text)]]
  local seen_src = 0
  local st = copy.table {
    from = db, query = "SELECT id, j, jb, t FROM cb_types", to = db, target = "cb_legacy", batch = 3,
    transform = function(row)
      -- a query on the source while copy.table reads the next batch ahead on it
      seen_src = seen_src + db:value("SELECT count(*) FROM cb_types WHERE id = $1", row.id)
      local out = { id = row.id, jb = row.id % 2 == 0 and row.jb or db.NULL, legacy = db.json(row) }
      if row.id == 1 then out.note = row.jb.b[4] end
      return out
    end,
  }
  T.eq(st.written, 11)
  T.eq(seen_src, 11)
  T.eq(db:value("SELECT note FROM cb_legacy WHERE id = 1"), "x\ty")
  T.eq(db:value("SELECT count(*) FROM cb_legacy l JOIN cb_types t USING (id) WHERE t.jb IS NOT NULL AND l.legacy->'jb' IS DISTINCT FROM t.jb"), 0,
    "db.json(row) carries the json columns the transform never read")
  T.eq(db:value("SELECT count(*) FROM cb_legacy l JOIN cb_types t USING (id) WHERE t.id % 2 = 0 AND l.jb IS DISTINCT FROM t.jb"), 0)
  -- the source row itself, changed in one column: its jsonb goes back as it came
  db:exec "TRUNCATE cb_out"
  st = copy.table { from = db, source = "cb_types", to = db, target = "cb_out", batch = 4,
    transform = function(row) row.t = "changed" return row end }
  T.eq(st.written, 11)
  T.eq(db:value("SELECT count(*) FROM cb_out o JOIN cb_types t USING (id) WHERE o.jb IS DISTINCT FROM t.jb OR o.t <> 'changed'"), 0)
end)

-- The columns of a table, in order (without those named in `except`).
local function columns_of(tbl, except)
  local out = {}
  for _, c in ipairs(db:query("SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum", tbl)) do
    if not (except and except[c.attname]) then out[#out + 1] = c.attname end
  end
  return out
end

-- Rows of `a` and `b` (by id) that differ in any of `cols` (json compared as jsonb, the rest by
-- text).
local function differing(a, b, cols)
  local exprs = {}
  for _, c in ipairs(cols) do
    -- an array's lower bounds are not kept through Lua (nor were they with COPY text)
    exprs[#exprs + 1] = c == "j" and "j::jsonb::text" or c == "a2" and [[regexp_replace(a2::text, '^\[[^=]*\]=', '')]]
      or (db:quote_ident(c) .. "::text")
  end
  local list = table.concat(exprs, ", ")
  return db:value(("SELECT count(*) FROM ((SELECT id, %s FROM %s EXCEPT SELECT id, %s FROM %s) UNION ALL (SELECT id, %s FROM %s EXCEPT SELECT id, %s FROM %s)) d")
    :format(list, a, list, b, list, b, list, a))
end

T.case("core.write: COPY binary, the source's bytes for every column the transform left alone", function()
  local sql = "SELECT " .. plan:list() .. " FROM cb_types ORDER BY id"
  T.contains(plan:list(), '"tstz"::text AS "tstz"')
  T.contains(plan:list(), ', "tstz"', "a date or time column also comes in binary, for passing through")
  -- an enum array has no binary form weir writes: without it the rows go in binary
  local cols = columns_of("cb_types", { amood = true })
  db:exec "TRUNCATE cb_out"
  local rows = core.read(db, sql, plan, true)
  T.eq(rawget(rows[1], "id"), nil, "a lazy row holds no column before it is read")
  local n, how = core.write(db, "cb_out", cols, rows, core.write_plan(db, "cb_out", cols))
  T.eq(n, 11)
  T.eq(how, "binary")
  T.eq(differing("cb_types", "cb_out", cols), 0)
  T.eq(rawget(rows[1], "tstz"), nil, "nothing was decoded to write it")
  T.eq(db:value("SELECT j::text FROM cb_out WHERE id = 1"), db:value("SELECT j::text FROM cb_types WHERE id = 1"),
    "a json column the transform did not read keeps its exact text")
  -- with the enum array: COPY text, the same rows
  local all = columns_of("cb_types")
  db:exec "TRUNCATE cb_out"
  rows = core.read(db, sql, plan, true)
  n, how = core.write(db, "cb_out", all, rows)
  T.eq(how, "text")
  T.eq(differing("cb_types", "cb_out", all), 0)
end)

T.case("core.write: values the transform set go in binary exactly as COPY text gave them", function()
  db:exec [[DROP TABLE IF EXISTS cb_out2; CREATE TABLE cb_out2 (LIKE cb_types)]]
  local sql = "SELECT " .. plan:list() .. " FROM cb_types ORDER BY id"
  local cols = columns_of("cb_types", { amood = true })
  local function change(rows)
    for _, r in ipairs(rows) do
      if r.id == 1 or r.id == 2 then
        r.i2, r.i4, r.i8, r.o = -7, 2147483647, 9007199254740993, 4294967295
        r.f8, r.n, r.n2, r.b = -0.1, "-12.50", 7, false
        r.t, r.vc, r.c = "new\ttext, \\N and é", "v", "xy"
        r.by, r.u = "\0\1\\N", "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A12"
        r.j, r.jb = { a = { 1, 2.5 } }, { x = json.null, y = "z" }
        r.mood, r.pos = "sad", 9
        r.d = r.d        -- read and returned as it was
        r.ts = nil       -- set to nil: NULL
        r.iv = r.id == 1 and r.iv or db.NULL
      end
      if r.id == 3 then r.f8, r.n, r.t, r.jb = 12, 42, 17, 5 end  -- integers into float, numeric, text, jsonb
    end
    return rows
  end
  -- lazy rows go in binary; eager rows (plain tables: their dates are strings) in text, as ever
  db:exec "TRUNCATE cb_out"
  local _, how = core.write(db, "cb_out", cols, change(core.read(db, sql, plan, true)))
  T.eq(how, "binary")
  local _, how2 = core.write(db, "cb_out2", cols, change(core.read(db, sql, plan)))
  T.eq(how2, "text")
  T.eq(differing("cb_out", "cb_out2", cols), 0)
  local r = db:query("SELECT * FROM cb_out WHERE id = 1")[1]
  T.eq(r.i8, 9007199254740993)
  T.eq(r.n, "-12.50")
  T.eq(r.n2, "7.00")
  T.eq(r.t, "new\ttext, \\N and é")
  T.eq(r.by, "\0\1\\N")
  T.eq(r.u, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12")
  T.eq(r.c, "xy   ")
  T.ok(db.isnull(r.ts), "a column set to nil is NULL")
  T.eq(r.d, "2020-02-29")
  T.eq(db:value("SELECT count(*) FROM cb_out o JOIN cb_types t USING (id) WHERE id > 3 AND o.n IS DISTINCT FROM t.n"), 0)
  -- a float into a float4 column has no binary form here: the batch goes as text
  db:exec "TRUNCATE cb_out"
  local rows = core.read(db, sql, plan, true)
  rows[1].f4 = 0.5
  _, how = core.write(db, "cb_out", cols, rows)
  T.eq(how, "text")
  T.eq(db:value("SELECT f4 FROM cb_out WHERE id = 1"), 0.5)
  -- a float4 read and returned as it was passes through
  db:exec "TRUNCATE cb_out"
  rows = core.read(db, sql, plan, true)
  for _, row in ipairs(rows) do row.f4 = row.f4 end
  _, how = core.write(db, "cb_out", cols, rows)
  T.eq(how, "binary")
  T.eq(differing("cb_types", "cb_out", cols), 0)
end)

T.case("core.write: rows sure to go in binary are sent as they are encoded", function()
  -- built-in types only (no enum or domain): every value's binary form is known before the COPY
  local cols = columns_of("cb_types", { mood = true, pos = true, amood = true })
  local bsql = "SELECT " .. table.concat(cols, ", ") .. " FROM cb_types"
  local bplan = core.read_plan(db, bsql)
  local sql = "SELECT " .. bplan:list() .. " FROM cb_types ORDER BY id"
  db:exec [[DROP TABLE IF EXISTS cb_out2; CREATE TABLE cb_out2 (LIKE cb_types)]]
  local function change(rows)
    for _, r in ipairs(rows) do
      r.t = r.t and not db.isnull(r.t) and (r.t .. "!") or "was null"
      r.i8 = r.id * 1000
      r.jb = { id = r.id }
      local _ = r.tstz, r.n  -- read, not changed
    end
    return rows
  end
  db:exec "TRUNCATE cb_out"
  local n, how = core.write(db, "cb_out", cols, change(core.read(db, sql, bplan, true)))
  T.eq(n, 11)
  T.eq(how, "binary, streamed")
  local _, how2 = core.write(db, "cb_out2", cols, change(core.read(db, sql, bplan)))
  T.eq(how2, "text")
  T.eq(differing("cb_out", "cb_out2", cols), 0)
  T.eq(db:value("SELECT t FROM cb_out WHERE id = 2"), "was null")
  -- a json value that does not encode raises its error, the COPY ended on the way
  db:exec "TRUNCATE cb_out"
  local rows = core.read(db, sql, bplan, true)
  rows[5].jb = { f = print }
  local ok, err = pcall(core.write, db, "cb_out", cols, rows)
  T.ok(not ok)
  T.contains(tostring(err), "function")
  T.eq(db:value("SELECT count(*) FROM cb_out"), 0, "none of the rows went in")
  -- the server's error names the row's line, as with any COPY
  rows = core.read(db, sql, bplan, true)
  rows[3].i4 = nil
  db:exec "ALTER TABLE cb_out ALTER COLUMN i4 SET NOT NULL"
  ok, err = pcall(core.write, db, "cb_out", cols, rows)
  db:exec "ALTER TABLE cb_out ALTER COLUMN i4 DROP NOT NULL"
  T.ok(not ok)
  T.eq(err.sqlstate, "23502")
  T.eq(db:value("SELECT 1"), 1, "the connection is usable after it")
end)

T.case("core.write: decimals into numeric in binary, with the scale their text has", function()
  db:exec [[DROP TABLE IF EXISTS cb_num; CREATE TABLE cb_num (id int, n numeric, n2 numeric(10,2), u uuid)]]
  local cases = { "0", "-0", "0.0001", "-0.001", ".5", "5.", "+3", "007.0700", "123456789.123456789",
    "99990000.00010000", "10000", "-99999999.995", "1.005", "123456789012345678901234567890.000000000000000000001" }
  local rows = {}
  for i, s in ipairs(cases) do rows[i] = { id = i, n = s, n2 = #s > 12 and "1" or s } end
  local _, how = core.write(db, "cb_num", { "id", "n", "n2" }, rows)
  T.eq(how, "binary")
  for i, s in ipairs(cases) do
    local r = db:query("SELECT n::text AS n, n2::text AS n2, $2::numeric::text AS want, $3::numeric(10,2)::text AS want2 FROM cb_num WHERE id = $1",
      i, s, rows[i].n2)[1]
    T.eq(r.n, r.want, s)
    T.eq(r.n2, r.want2, s .. " as numeric(10,2)")
  end
  -- other spellings are the server's to read: the batch goes as text
  db:exec "TRUNCATE cb_num"
  _, how = core.write(db, "cb_num", { "id", "n", "u" }, { { id = 1, n = "1e5", u = "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}" } })
  T.eq(how, "text")
  T.eq(db:value("SELECT n::text FROM cb_num"), "100000")
  -- a number too wide for numeric(10,2) fails in binary as in text
  local ok, err = pcall(core.write, db, "cb_num", { "id", "n2" }, { { id = 2, n2 = "123456789.5" } })
  T.ok(not ok)
  T.eq(err.sqlstate, "22003")
end)

T.case("a transform's value of the wrong type is a bad row with the error it always had", function()
  db:exec [[DROP TABLE IF EXISTS cb_bad; CREATE TABLE cb_bad (LIKE cb_types)]]
  local st = copy.table {
    from = db, source = "cb_types", to = db, target = "cb_bad", name = "cb_wrong_type", batch = 20,
    transform = function(row)
      if row.id == 7 then row.i4 = "abc" end    -- a string into an int column
      if row.id == 8 then row.i2 = 40000 end    -- an integer out of int2's range
      if row.id == 9 then row.u = "not-a-uuid" end
      if row.id == 11 then row.b = 2 end         -- a number into a bool column
      return row
    end,
  }
  T.eq(st.written, 7)
  T.eq(st.quarantined, 4)
  local errors = {}
  for _, q in ipairs(copy.quarantine(db, "cb_wrong_type")) do errors[#errors + 1] = q.error end
  table.sort(errors)
  T.contains(errors[1], '22003 value "40000" is out of range for type smallint')
  T.contains(errors[2], '22P02 invalid input syntax for type boolean: "2"')
  T.contains(errors[3], '22P02 invalid input syntax for type integer: "abc"')
  T.contains(errors[4], '22P02 invalid input syntax for type uuid: "not-a-uuid"')
  T.eq(differing("cb_types", "cb_bad", columns_of("cb_types")), 4, "the other rows went in as they came")
  -- a zero byte in a string stops the copy in one line naming the column, as before
  db:exec "TRUNCATE cb_bad"
  local ok, err = pcall(copy.table, {
    from = db, source = "cb_types", to = db, target = "cb_bad", name = "cb_zero",
    transform = function(row) row.t = "a\0b" return row end,
  })
  T.ok(not ok)
  T.contains(tostring(err), 'column "t": string contains a zero byte')
  T.not_contains(tostring(err), "\n")
end)

T.case("a source with two columns of one name is read as before (COPY text, the last one wins)", function()
  db:exec [[CREATE TABLE cb_dup_a (id int PRIMARY KEY, v text);
            CREATE TABLE cb_dup_b (id int PRIMARY KEY, v text);
            INSERT INTO cb_dup_a SELECT g, 'a' || g FROM generate_series(1, 5) g]]
  local st = copy.table {
    from = db, query = "SELECT a.id, a.v, b.v FROM cb_dup_a a LEFT JOIN (SELECT id, 'b' || id AS v FROM cb_dup_a) b USING (id)",
    to = db, target = "cb_dup_b",
    transform = function(row) return { id = row.id, v = row.v } end,
  }
  T.eq(st.written, 5)
  T.eq(db:value("SELECT string_agg(v, ',' ORDER BY id) FROM cb_dup_b"), "b1,b2,b3,b4,b5")
end)

T.case("a transform that returns something other than a row has a bad row, not a shorter batch", function()
  db:exec "TRUNCATE cb_dup_b"
  local st = copy.table {
    from = db, source = "cb_dup_a", to = db, target = "cb_dup_b", name = "cb_not_a_row",
    transform = function(row) return row.id == 3 and "three" or { id = row.id, v = row.v } end,
  }
  T.eq(st.written, 4)
  T.eq(st.quarantined, 1)
  T.contains(copy.quarantine(db, "cb_not_a_row")[1].error, "returned a string, not a row")
  T.eq(db:value("SELECT string_agg(id::text, ',' ORDER BY id) FROM cb_dup_b"), "1,2,4,5")
end)

T.case("a transform returning a list with an element that is not a row has a bad row, not lost rows", function()
  db:exec "TRUNCATE cb_dup_b"
  local st = copy.table {
    from = db, source = "cb_dup_a", to = db, target = "cb_dup_b", name = "cb_list_not_rows",
    transform = function(row)
      if row.id == 2 then return { { id = 2, v = "x" }, "junk", { id = 20, v = "y" } } end
      return { id = row.id, v = row.v }
    end,
  }
  T.eq(st.written, 4)
  T.eq(st.quarantined, 1)
  local q = copy.quarantine(db, "cb_list_not_rows")
  T.eq(#q, 1)
  T.contains(q[1].error, "returned a list whose element 2 is a string, not a row")
  T.eq(db:value("SELECT string_agg(id::text, ',' ORDER BY id) FROM cb_dup_b"), "1,3,4,5")
end)

T.case("a bad row holding an infinite or NaN float is quarantined, its value kept as PostgreSQL spells it", function()
  db:exec [[CREATE TABLE cb_inf_a (id int PRIMARY KEY, f float8, fa float8[]);
            CREATE TABLE cb_inf_b (id int PRIMARY KEY, f float8 CHECK (f < 100), fa float8[]);
            INSERT INTO cb_inf_a VALUES (1, 1, NULL), (2, '-Infinity', NULL), (3, 'Infinity', '{1,-Infinity}'),
                                        (4, 'NaN', NULL), (5, 5, NULL)]]
  local st = copy.table {
    from = db, source = "cb_inf_a", to = db, target = "cb_inf_b", name = "cb_inf",
    transform = function(row) return { id = row.id, f = row.f, fa = row.fa } end,
  }
  T.eq(st.written, 3)
  T.eq(st.quarantined, 2)
  local q = copy.quarantine(db, "cb_inf")
  T.eq(#q, 2)
  T.eq(db:value("SELECT string_agg(row->>'f', ',' ORDER BY id) FROM weir.quarantine WHERE copy = 'cb_inf'"),
       "Infinity,NaN")
  T.eq(db:value("SELECT row->'fa'->>1 FROM weir.quarantine WHERE copy = 'cb_inf' AND row->>'f' = 'Infinity'"),
       "-Infinity", "inside an array too")
  T.eq(db:value("SELECT string_agg(id::text, ',' ORDER BY id) FROM cb_inf_b"), "1,2,5")
end)

T.done()
