-- copy.table, copy.update and ids against two real databases: the data paths (binary, text,
-- transform), modes, resume, incremental re-sync, quarantine, and the one-line errors.
local T = require "testing"

local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")

local function database(name)
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  db:exec("CREATE DATABASE " .. name)
  return weir.connect((base_url:gsub("/postgres%?", "/" .. name .. "?")))
end

local src = database("copy_src")
src:exec [[
  CREATE TYPE status AS ENUM ('new', 'done');
  CREATE TABLE orders (id serial PRIMARY KEY, office_id int, patient_name text, status text,
                       amount numeric(10,2), created_at timestamptz NOT NULL DEFAULT '2026-01-01',
                       updated_at timestamptz NOT NULL DEFAULT '2026-01-01', meta jsonb, tags text[]);
  INSERT INTO orders (office_id, patient_name, status, amount, meta, tags)
  SELECT g % 7, 'patient ' || g || E'\ttab\\slash', CASE WHEN g % 3 = 0 THEN 'new' ELSE 'done' END,
         g * 1.25, jsonb_build_object('g', g, 'q', 'a"b'), ARRAY['x', 'y' || g]
    FROM generate_series(1, 2500) g;
  CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b));
  INSERT INTO pairs SELECT g % 10, 'k' || (g / 10), 'v' || g FROM generate_series(1, 300) g;
]]

local ORDERS = [[
  CREATE TABLE orders (id bigint PRIMARY KEY, office_id bigint, patient_name text NOT NULL,
                       status %s, amount numeric(12,2), created_at timestamptz,
                       updated_at timestamptz, meta jsonb, tags text[]);
]]

local function fresh_target(status_type)
  db:exec "DROP TABLE IF EXISTS orders, pairs CASCADE; DROP TYPE IF EXISTS status"
  db:exec "DROP SCHEMA IF EXISTS weir CASCADE"
  if status_type == "status" then db:exec "CREATE TYPE status AS ENUM ('new', 'done')" end
  db:exec(ORDERS:format(status_type or "text"))
end

local function checksum(conn, sql)
  return conn:value("SELECT md5(string_agg(x, '|' ORDER BY x)) FROM (" .. sql .. ") s(x)")
end
local ORDER_ROWS = "SELECT concat_ws(',', id, office_id, patient_name, status, amount, created_at, updated_at, meta, tags) FROM orders"

T.case("a table copies COPY to COPY, binary, row for row", function()
  fresh_target()
  local st = copy.table { from = src, source = "orders", target = "orders", batch = 700 }
  T.eq({ st.read, st.written, st.batches, st.quarantined }, { 2500, 2500, 4, 0 })
  T.eq(checksum(db, ORDER_ROWS), checksum(src, ORDER_ROWS))
end)

T.case("a target type the source lacks goes through COPY text", function()
  fresh_target("status")
  local st = copy.table { from = src, source = "orders", target = "orders" }
  T.eq(st.written, 2500)
  T.eq(db:value "SELECT count(*) FROM orders WHERE status = 'new'", 833)
  T.eq(checksum(db, ORDER_ROWS), checksum(src, ORDER_ROWS))
end)

T.case("with a checkpoint a finished copy does nothing the second time", function()
  fresh_target()
  local st = copy.table { from = src, source = "orders", target = "orders", checkpoint = "orders", batch = 1000 }
  T.eq(st.written, 2500)
  local again = copy.table { from = src, source = "orders", target = "orders", checkpoint = "orders" }
  T.eq({ again.written, again.resumed_from }, { 0, "done" })
  T.eq(db:value "SELECT count(*) FROM orders", 2500)
  T.eq(db:value "SELECT rows_written FROM weir.copies WHERE name = 'orders'", 2500)
end)

T.case("a query source, chosen columns and a composite key", function()
  db:exec "DROP TABLE IF EXISTS pairs; CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b))"
  local st = copy.table { from = src, query = "SELECT a, b, upper(v) AS v FROM pairs WHERE a < 5", target = "pairs",
    key = { "a", "b" }, columns = { "a", "b", "v" }, batch = 40 }
  T.eq(st.written, 150)
  T.eq(st.batches, 4)
  T.eq(db:value "SELECT v FROM pairs WHERE a = 1 AND b = 'k0'", "V1")
end)

T.case("a transform rewrites, splits and skips rows; bad rows go to quarantine", function()
  fresh_target()
  db:exec "ALTER TABLE orders ADD CHECK (amount < 3000)"
  local st = copy.table { from = src, source = "orders", target = "orders", batch = 600, checkpoint = "t",
    transform = function(r)
      if r.id % 500 == 0 then error("no office for order " .. r.id) end
      if r.id % 250 == 0 then return nil end
      r.patient_name = r.patient_name:upper()
      r.meta.copied = true
      if r.id == 7 then r.patient_name = db.NULL end  -- NOT NULL on the target: quarantined
      if r.id == 8 then
        local twin = { id = 100008, office_id = r.office_id, patient_name = "twin", status = r.status,
          amount = 1, meta = db.json { twin = true }, tags = { "t" } }
        return { r, twin }
      end
      return r
    end }
  -- 2500 read; 5 raise, 5 skipped, 1 rejected by NOT NULL, rows with amount >= 3000 (id >= 2400) rejected by CHECK
  local rejected_by_check = src:value "SELECT count(*) FROM orders WHERE amount * 1 >= 3000 AND id % 500 <> 0 AND id % 250 <> 0"
  T.eq(st.read, 2500)
  T.eq(st.skipped, 5)
  T.eq(st.quarantined, 5 + 1 + rejected_by_check)
  T.eq(st.written, 2500 - 5 - 5 - 1 - rejected_by_check + 1)
  T.eq(db:value "SELECT count(*) FROM orders", st.written)
  T.eq(db:value "SELECT patient_name FROM orders WHERE id = 1", "PATIENT 1\tTAB\\SLASH")
  T.eq(db:value "SELECT meta->>'copied' FROM orders WHERE id = 2", "true")
  T.eq(db:value "SELECT tags FROM orders WHERE id = 100008", { "t" })
  local q = copy.quarantine(db, "t")
  T.eq(#q, st.quarantined)
  local by_key = {}
  for _, e in ipairs(q) do by_key[e.source_key[1]] = e end
  T.contains(by_key[500].error, "transform raised: ")
  T.contains(by_key[500].error, "no office for order 500")
  T.contains(by_key[7].error, "23502 null value in column \"patient_name\"")
  T.eq(by_key[7].row.id, 7)
  T.contains(by_key[2400].error, "23514 new row for relation \"orders\" violates check constraint")
  T.eq(db:value "SELECT rows_quarantined FROM weir.copies WHERE name = 't'", st.quarantined)
end)

T.case("on_error = fail stops at the first bad row with its error; the checkpoint stays at the last good batch", function()
  fresh_target()
  db:exec "ALTER TABLE orders ADD CHECK (amount < 3000)"
  -- the target rejects a row: the batch is rolled back and the row named
  local ok, err = pcall(copy.table, { from = src, source = "orders", target = "orders", batch = 1000,
    checkpoint = "fail", on_error = "fail" })
  T.eq(ok, false)
  T.contains(err, "copy.table fail: batch 3 (id after 2000 through 2500) failed at id 2400: 23514 new row for " ..
    "relation \"orders\" violates check constraint")
  T.eq(db:value "SELECT count(*) FROM orders", 2000)
  T.eq(db:value "SELECT value->'last' FROM weir.checkpoints WHERE key = 'copy/fail'", { "2000" })
  T.eq(db:value "SELECT count(*) FROM weir.quarantine", 0)
  -- a transform raises: the first such row stops the copy (not quarantined)
  fresh_target()
  ok, err = pcall(copy.table, { from = src, source = "orders", target = "orders", batch = 300, checkpoint = "tf",
    on_error = "fail", transform = function(r)
      if r.id == 750 or r.id == 800 then error("no office for order " .. r.id) end
      return r
    end })
  T.eq(ok, false)
  T.contains(err, "copy.table tf: batch 3 (id after 600 through 900) failed at id 750: transform raised: ")
  T.contains(err, "no office for order 750")
  T.eq(db:value "SELECT count(*) FROM orders", 600)
  T.eq(db:value "SELECT value->'last' FROM weir.checkpoints WHERE key = 'copy/tf'", { "600" })
  T.eq(db:value "SELECT count(*) FROM weir.quarantine", 0)
  -- "abort" is the older name of the same thing
  fresh_target()
  db:exec "ALTER TABLE orders ADD CHECK (amount < 3000)"
  err = T.raises(copy.table, { from = src, source = "orders", target = "orders", batch = 1000, on_error = "abort" })
  T.contains(err, "copy.table orders: batch 3 (id after 2000 through 2500) failed at id 2400: 23514")
  T.eq(db:value "SELECT count(*) FROM orders", 2000)
end)

T.case("keys with tabs, backslashes and line breaks are cut and resumed exactly, binary and text", function()
  -- Without a transform each batch's last key is taken from the source's COPY stream (the key's
  -- text after the row's columns): a key misread there makes the resumed run skip or double rows.
  src:exec [[
    DROP TABLE IF EXISTS tkeys;
    CREATE TABLE tkeys (k text PRIMARY KEY, part int NOT NULL, v int NOT NULL);
    INSERT INTO tkeys SELECT (ARRAY[E'a\tb', E'c\\d', E'e\nf', E'g\rh', 'i''j', '', E'\\N', 'ü'])[g % 8 + 1] || g,
                             g % 2, g FROM generate_series(1, 640) g;
  ]]
  local bad = src:value "SELECT v FROM tkeys ORDER BY k OFFSET 420 LIMIT 1"  -- in batch 9 of 13
  for _, case in ipairs { { format = "binary", part = "int" }, { format = "text", part = "tkey_part" } } do
    db:exec "DROP TABLE IF EXISTS tkeys; DROP DOMAIN IF EXISTS tkey_part; DROP SCHEMA IF EXISTS weir CASCADE"
    db:exec "CREATE DOMAIN tkey_part AS int"  -- a type of the target's own: COPY text
    db:exec(("CREATE TABLE tkeys (k text PRIMARY KEY, part %s NOT NULL, v int NOT NULL CHECK (v <> %d))")
      :format(case.part, bad))
    local opts = { from = src, source = "tkeys", target = "tkeys", key = "k", batch = 50, checkpoint = "tk",
      on_error = "fail" }
    local err = T.raises(copy.table, opts)
    T.contains(err, "failed at k ", case.format)
    local n = db:value "SELECT count(*) FROM tkeys"
    T.eq(n, 400, case.format)
    -- the checkpoint is the last committed row's key, exactly
    T.eq(db:value "SELECT value->'last'->>0 FROM weir.checkpoints WHERE key = 'copy/tk'",
      db:value "SELECT max(k) FROM tkeys", case.format)
    db:exec "ALTER TABLE tkeys DROP CONSTRAINT tkeys_v_check"
    local st = copy.table(opts)
    T.eq(st.written, 640 - n, case.format)
    local sum = "SELECT md5(string_agg(k || ':' || part || ':' || v, '|' ORDER BY k)) FROM tkeys"
    T.eq(db:value(sum), src:value(sum), case.format)
  end
  db:exec "DROP TABLE tkeys; DROP DOMAIN tkey_part"
  src:exec "DROP TABLE tkeys"
end)

T.case("a composite key names the failing row by all its columns", function()
  db:exec "DROP TABLE IF EXISTS pairs; CREATE TABLE pairs (a int, b text, v text CHECK (v <> 'v42'), PRIMARY KEY (a, b))"
  local err = T.raises(copy.table, { from = src, source = "pairs", target = "pairs", key = { "a", "b" }, batch = 100,
    on_error = "fail" })
  T.contains(err, "failed at (a, b) = (2, k4): 23514")
  db:exec "DROP TABLE pairs"
end)

-- A failed batch finds its bad rows from the line the server's COPY error names (a foreign
-- key's: from the key it names), and falls back to halving where it names neither (an AFTER
-- trigger's error). Source ids 1..40 in batches of 10:
--   batch 1: 1 (CHECK, the first row), 10 (NOT NULL, the last row)
--   batch 2: 15 (unique, same u as 12), 17 (CHECK), 18 (NOT NULL): three in one batch
--   batch 3: 24 (foreign key: no line, found by its key), 27 (CHECK, named by its line)
--   batch 4: 33 (an AFTER trigger raises: no line, halved), 35 (unique against a row of
--            batch 2, already committed)
src:exec [[
  DROP TABLE IF EXISTS qrows;
  CREATE TABLE qrows (id int PRIMARY KEY, a int, b text, u text, pid int);
  INSERT INTO qrows SELECT g, g, 'b' || g, 'u' || g, 1 FROM generate_series(1, 40) g;
  UPDATE qrows SET a = -1 WHERE id IN (1, 17, 27);
  UPDATE qrows SET b = NULL WHERE id IN (10, 18);
  UPDATE qrows SET u = 'u12' WHERE id = 15;
  UPDATE qrows SET u = 'u13' WHERE id = 35;
  UPDATE qrows SET pid = 999 WHERE id = 24;
  UPDATE qrows SET b = 'refused' WHERE id = 33;
]]
local QUARANTINED = {
  [1] = "23514 new row for relation \"qrows\" violates check constraint \"qrows_a_check\"",
  [10] = "23502 null value in column \"b\" of relation \"qrows\" violates not-null constraint",
  [15] = "23505 duplicate key value violates unique constraint \"qrows_u_key\"",
  [17] = "23514 new row for relation \"qrows\" violates check constraint \"qrows_a_check\"",
  [18] = "23502 null value in column \"b\" of relation \"qrows\" violates not-null constraint",
  [24] = "23503 insert or update on table \"qrows\" violates foreign key constraint \"qrows_pid_fkey\"",
  [27] = "23514 new row for relation \"qrows\" violates check constraint \"qrows_a_check\"",
  [33] = "P0001 row 33 refused",
  [35] = "23505 duplicate key value violates unique constraint \"qrows_u_key\"",
}
local function fresh_qrows()
  db:exec [[
    DROP TABLE IF EXISTS qrows, qparents; DROP SCHEMA IF EXISTS weir CASCADE;
    DROP SEQUENCE IF EXISTS qrows_tried;
    CREATE TABLE qparents (id int PRIMARY KEY); INSERT INTO qparents VALUES (1);
    CREATE TABLE qrows (id bigint PRIMARY KEY, a int CHECK (a >= 0), b text NOT NULL, u text UNIQUE,
                        pid int REFERENCES qparents);
    -- counts every row the server is handed, rolled back or not
    CREATE SEQUENCE qrows_tried;
    CREATE OR REPLACE FUNCTION qrows_count() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN PERFORM nextval('qrows_tried'); RETURN NEW; END $$;
    CREATE TRIGGER qrows_count BEFORE INSERT ON qrows FOR EACH ROW EXECUTE FUNCTION qrows_count();
    -- raised at the end of the COPY: its error names no line
    CREATE OR REPLACE FUNCTION qrows_refuse() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN IF NEW.b = 'refused' THEN RAISE 'row % refused', NEW.id; END IF; RETURN NULL; END $$;
    CREATE TRIGGER qrows_refuse AFTER INSERT ON qrows FOR EACH ROW EXECUTE FUNCTION qrows_refuse();
  ]]
end
local function quarantined_by_key(name)
  local out = {}
  for _, e in ipairs(copy.quarantine(db, name)) do
    T.eq(out[e.source_key[1]], nil, "quarantined once")
    out[e.source_key[1]] = e
  end
  return out
end
local function check_quarantine(name, expected, dropped)
  local got = quarantined_by_key(name)
  for id, err in pairs(expected) do
    if not (dropped and dropped[id]) then
      T.ok(got[id], "row " .. id .. " quarantined")
      T.contains(got[id].error, err)
      T.eq(got[id].row.id, id)
    end
  end
  for id in pairs(got) do T.ok(expected[id], "row " .. id .. " is not bad but was quarantined") end
  -- every other row is written, once
  local missing = db:value [[SELECT string_agg(g::text, ',' ORDER BY g) FROM generate_series(1, 40) g
                              WHERE NOT EXISTS (SELECT FROM qrows WHERE id = g)]]
  local want = {}
  for id in pairs(expected) do want[#want + 1] = id end
  for id in pairs(dropped or {}) do if not expected[id] then want[#want + 1] = id end end
  table.sort(want)
  T.eq(missing, table.concat(want, ","))
end

T.case("a failed batch quarantines the rows its COPY errors name, and halves where none is named", function()
  fresh_qrows()
  local st = copy.table { from = src, source = "qrows", target = "qrows", batch = 10, checkpoint = "q" }
  T.eq({ st.read, st.written, st.quarantined, st.batches }, { 40, 31, 9, 4 })
  check_quarantine("q", QUARANTINED)
  T.eq(db:value "SELECT value->'last' FROM weir.checkpoints WHERE key = 'copy/q'", db.NULL)
  T.eq(db:value "SELECT (value->>'done')::bool FROM weir.checkpoints WHERE key = 'copy/q'", true)
  T.eq(db:value "SELECT rows_quarantined FROM weir.copies WHERE name = 'q'", 9)
  T.eq(db:value "SELECT rows_written FROM weir.copies WHERE name = 'q'", 31)
  -- quarantined in key order
  T.eq(db:value "SELECT string_agg(source_key->>0, ',' ORDER BY id) FROM weir.quarantine", "1,10,15,17,18,24,27,33,35")
end)

T.case("the bad row a COPY error names is the row written on that line, with a transform that drops and splits rows", function()
  fresh_qrows()
  -- dropped: 3, 14, 16 (before bad rows of their batch); 22 becomes two rows (22 and 122):
  -- every row after them is on another line than its place in the batch (10 on line 9, 15 on
  -- line 4, 17 on 5, 18 on 6, 24 on 5, 27 on 8)
  local st = copy.table { from = src, source = "qrows", target = "qrows", batch = 10, checkpoint = "qt",
    transform = function(r)
      if r.id == 3 or r.id == 14 or r.id == 16 then return nil end
      if r.id == 22 then
        local twin = { id = 122, a = 0, b = "twin", u = "u122", pid = 1 }
        return { r, twin }
      end
      return r
    end }
  T.eq({ st.read, st.skipped, st.quarantined }, { 40, 3, 9 })
  T.eq(st.written, 40 - 3 - 9 + 1)
  check_quarantine("qt", QUARANTINED, { [3] = true, [14] = true, [16] = true })
  T.eq(db:value "SELECT b FROM qrows WHERE id = 122", "twin")
end)

T.case("a failed batch is written again in few COPYs: the rows before the named line at once, then the rest", function()
  fresh_qrows()
  -- one bad row, the 5th of 10, after a transform (its batch is written from Lua in key order)
  db:exec "ALTER TABLE qrows DROP CONSTRAINT qrows_a_check, ADD CHECK (a <> 5)"
  local st = copy.table { from = src, source = "qrows", target = "qrows", batch = 10, where = "id <= 10 AND id > 1",
    transform = function(r)
      r.b, r.u, r.pid = "b", "u" .. r.id, 1
      return r
    end }
  T.eq({ st.read, st.written, st.quarantined }, { 9, 8, 1 })
  -- rows 2..10 the first time (stopped at 5: 4 rows), again (4), rows 2..4 (3), rows 6..10 (5).
  -- Read one line early or late, the bad row would be another, or found by halving (more rows).
  T.eq(db:value "SELECT last_value FROM qrows_tried", 4 + 4 + 3 + 5)
  T.eq(db:value "SELECT string_agg(source_key->>0, ',') FROM weir.quarantine", "5")
  -- a foreign key: the COPY fails at its end (all 9 rows), again (9), rows 2..4 (3), the row
  -- its error names alone (1), rows 6..10 (5)
  fresh_qrows()
  db:exec "SELECT setval('qrows_tried', 1, false)"
  st = copy.table { from = src, source = "qrows", target = "qrows", batch = 10, where = "id <= 10 AND id > 1",
    transform = function(r)
      r.a, r.b, r.u, r.pid = 0, "b", "u" .. r.id, r.id == 5 and 999 or 1
      return r
    end }
  T.eq({ st.read, st.written, st.quarantined }, { 9, 8, 1 })
  T.eq(db:value "SELECT last_value FROM qrows_tried", 9 + 9 + 3 + 1 + 5)
  T.eq(db:value "SELECT string_agg(source_key->>0, ',') FROM weir.quarantine", "5")
  -- after a batch with a bad row, the next is written under a savepoint at once: batches of 5,
  -- bad rows 3 and 8. Batch 1: 1..3 (stopped at 3), again 1..3, 1..2, 4..5; batch 2: 6..8
  -- (stopped at 8), 6..7, 9..10; batch 3 (clean): 11..15 at once; batch 4 as usual: 16..20
  fresh_qrows()
  db:exec "SELECT setval('qrows_tried', 1, false)"
  st = copy.table { from = src, source = "qrows", target = "qrows", batch = 5, where = "id <= 20",
    transform = function(r)
      r.a, r.b, r.u, r.pid = (r.id == 3 or r.id == 8) and -1 or 0, "b", "u" .. r.id, 1
      return r
    end }
  T.eq({ st.read, st.written, st.quarantined, st.batches }, { 20, 18, 2, 4 })
  T.eq(db:value "SELECT last_value FROM qrows_tried", (3 + 3 + 2 + 2) + (3 + 2 + 2) + 5 + 5)
  T.eq(db:value "SELECT string_agg(source_key->>0, ',' ORDER BY id) FROM weir.quarantine", "3,8")
  T.eq(db:value "SELECT count(*) FROM qrows", 18)
end)

T.case("on_error = fail names the first bad row in key order, a row the foreign key rejects included", function()
  fresh_qrows()
  local err = T.raises(copy.table, { from = src, source = "qrows", target = "qrows", batch = 10, on_error = "fail",
    checkpoint = "f2", where = "id > 10" })
  T.contains(err, "copy.table f2: batch 1 (id from the start through 20) failed at id 15: 23505")
  fresh_qrows()
  -- the COPY stops at 27 (a row check); 24's foreign key is checked at the end of the statement,
  -- and it comes first
  err = T.raises(copy.table, { from = src, source = "qrows", target = "qrows", batch = 10, on_error = "fail",
    checkpoint = "f3", where = "id > 20", transform = function(r) return r end })
  T.contains(err, "copy.table f3: batch 1 (id from the start through 30) failed at id 24: 23503")
  T.eq(db:value "SELECT count(*) FROM qrows", 0)
  T.eq(db:value "SELECT count(*) FROM weir.quarantine", 0)
  fresh_qrows()
  err = T.raises(copy.table, { from = src, source = "qrows", target = "qrows", batch = 10, on_error = "fail",
    where = "id > 1", transform = function(r) return r end })
  T.contains(err, "batch 1 (id from the start through 11) failed at id 10: 23502")
end)

T.case("upsert updates and inserts; update only updates", function()
  fresh_target()
  db:exec "INSERT INTO orders (id, patient_name, status) VALUES (1, 'old', 'x'), (999999, 'kept', 'x')"
  local st = copy.table { from = src, source = "orders", target = "orders", mode = "upsert", where = "id <= 100" }
  T.eq(st.written, 100)
  T.eq(db:value "SELECT patient_name FROM orders WHERE id = 1", "patient 1\ttab\\slash")
  T.eq(db:value "SELECT count(*) FROM orders", 101)
  db:exec "UPDATE orders SET status = 'stale'"
  local st2 = copy.table { from = src, source = "orders", target = "orders", mode = "update", columns = { "id", "status" } }
  T.eq(st2.read, 2500)
  T.eq(db:value "SELECT count(*) FROM orders", 101, "update inserts nothing")
  T.eq(db:value "SELECT count(*) FROM orders WHERE status = 'stale'", 1, "only the row the source lacks")
  -- a transform returning some columns updates only those
  copy.table { from = src, source = "orders", target = "orders", mode = "update", where = "id <= 100",
    transform = function(r) return { id = r.id, status = "via transform" } end }
  T.eq(db:value "SELECT count(*) FROM orders WHERE status = 'via transform' AND patient_name LIKE 'patient %'", 100)
end)

T.case("since: a second run re-copies only the rows changed since the first", function()
  fresh_target()
  local first = copy.table { from = src, source = "orders", target = "orders", mode = "upsert", since = "updated_at",
    checkpoint = "sync", where = "amount < 3000" }
  T.eq(first.written, 2399)
  src:exec "UPDATE orders SET patient_name = 'renamed', updated_at = '2026-02-01' WHERE id IN (10, 20, 30)"
  src:exec "INSERT INTO orders (id, patient_name, amount, updated_at) VALUES (5000, 'new one', 1, '2026-02-02')"
  local second = copy.table { from = src, source = "orders", target = "orders", mode = "upsert", since = "updated_at",
    checkpoint = "sync", where = "amount < 3000" }
  T.eq(second.read, 4)
  T.eq(second.written, 4)
  T.eq(db:value "SELECT count(*) FROM orders WHERE patient_name = 'renamed'", 3)
  T.eq(db:value "SELECT count(*) FROM orders", 2400)
  local third = copy.table { from = src, source = "orders", target = "orders", mode = "upsert", since = "updated_at",
    checkpoint = "sync", where = "amount < 3000" }
  T.eq(third.read, 0)
  src:exec "DELETE FROM orders WHERE id = 5000; UPDATE orders SET patient_name = 'patient ' || id || E'\ttab\\\\slash', updated_at = '2026-01-01' WHERE id IN (10, 20, 30)"
end)

T.case("a failed batch is resumed exactly: terminated target session, re-run", function()
  fresh_target()
  local url = (base_url:gsub("/postgres%?", "/" .. db:info().database .. "?"))
  local dst = weir.connect(url)
  local killer = weir.connect(url)
  local batches = 0
  local ok, err = pcall(copy.table, { from = src, source = "orders", to = dst, target = "orders", batch = 300,
    checkpoint = "resume", where = "amount < 3000",
    transform = function(r)
      if r.id == 1 then batches = batches + 1 end
      if r.id == 1201 then
        killer:exec("SELECT pg_terminate_backend($1)", dst:value "SELECT pg_backend_pid()")
      end
      return r
    end })
  T.eq(ok, false)
  T.contains(err, "copy.table resume: batch 5 (id after 1200 through 1500) failed:")
  T.eq(db:value "SELECT count(*) FROM orders", 1200)
  local dst2 <close> = weir.connect(url)
  local st = copy.table { from = src, source = "orders", to = dst2, target = "orders", batch = 300,
    checkpoint = "resume", where = "amount < 3000" }
  T.eq(st.resumed_from, { "1200" })
  T.eq(db:value "SELECT count(*) FROM orders", 2399)
  T.eq(db:value "SELECT count(DISTINCT id) FROM orders", 2399)
  killer:close()
end)

T.case("workers = 3: two more weir processes share the ranges; row for row", function()
  fresh_target()
  -- Each batch written takes 50 ms, so the first process cannot finish every range before the
  -- other two have started, however busy the machine is.
  db:exec [[CREATE FUNCTION slow_batch() RETURNS trigger LANGUAGE plpgsql AS
              $$BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END$$;
            CREATE TRIGGER slow_batch AFTER INSERT ON orders FOR EACH STATEMENT EXECUTE FUNCTION slow_batch()]]
  local st = copy.table { from = src, source = "orders", target = "orders", workers = 3, checkpoint = "w", batch = 100 }
  T.eq({ st.read, st.written, st.ranges }, { 2500, 2500, 16 })
  T.eq(db:value "SELECT count(*) FROM weir.copy_ranges WHERE copy = 'w' AND state = 'done'", 16)
  T.ok(db:value "SELECT count(DISTINCT claimed_by) FROM weir.copy_ranges WHERE copy = 'w'" >= 2, "more than one process claimed ranges")
  T.eq(checksum(db, ORDER_ROWS), checksum(src, ORDER_ROWS))
  db:exec "DROP TRIGGER slow_batch ON orders; DROP FUNCTION slow_batch()"
  T.contains(T.raises(function()
    copy.table { from = src, source = "orders", target = "orders", workers = 2, checkpoint = "w2", transform = function(r) return r end }
  end), "copy.table: workers > 1 needs no transform")
  T.contains(T.raises(function() copy.table { from = src, source = "orders", target = "orders", workers = 2 } end),
    "copy.table: workers need a checkpoint")
end)

T.case("copy.reset forgets a copy: the next run starts over", function()
  fresh_target()
  copy.table { from = src, source = "orders", target = "orders", checkpoint = "again", where = "id <= 10" }
  db:exec "DELETE FROM orders"
  T.eq(copy.table { from = src, source = "orders", target = "orders", checkpoint = "again", where = "id <= 10" }.written, 0)
  copy.reset(db, "again")
  T.eq(db:value "SELECT count(*) FROM weir.checkpoints WHERE key LIKE 'copy/again%'", 0)
  T.eq(copy.table { from = src, source = "orders", target = "orders", checkpoint = "again", where = "id <= 10" }.written, 10)
end)

T.case("copy.update backfills in keyset batches and resumes", function()
  fresh_target()
  copy.table { from = src, source = "orders", target = "orders", where = "amount < 3000" }
  db:exec "ALTER TABLE orders ADD COLUMN slug text"
  local st = copy.update { table = "orders", batch = 500, where = "slug IS NULL", checkpoint = "slug",
    set = function(r) if r.id % 2 == 0 then return { slug = "s" .. r.id } end end }
  T.eq({ st.read, st.written, st.skipped, st.batches }, { 2399, 1199, 1200, 5 })
  T.eq(db:value "SELECT slug FROM orders WHERE id = 42", "s42")
  T.eq(copy.update { table = "orders", set = function() end, checkpoint = "slug" }.resumed_from, "done")
  T.contains(T.raises(function() copy.update { table = "orders", set = function() return { nope = 1 } end } end),
    "copy.update orders: batch 1 (id from the start through 1000) failed: set returned column nope, which orders does not have")
end)

T.case("ids: deterministic UUIDv5, recorded with the batch, lookups without queries", function()
  T.eq(require("copy.core").uuid_v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com"),
    "2ed6657d-e927-568b-95e1-2665a8aea6a2")  -- RFC 4122 / Python uuid5(NAMESPACE_DNS, ...)
  T.eq(ids.map("office", 7), ids.lookup("office", 7))
  T.eq(ids.map("office", 7), ids.map("office", "7"))
  T.ok(ids.map("office", 7) ~= ids.map("doctor", 7), "namespaces differ")
  T.eq(ids.lookup("office", db.NULL), nil)
  fresh_target()
  db:exec "CREATE TABLE offices (id uuid PRIMARY KEY, legacy bigint)"
  db:exec "CREATE TABLE uorders (id uuid PRIMARY KEY, office uuid REFERENCES offices)"
  copy.table { from = src, query = "SELECT DISTINCT office_id AS id FROM orders", target = "offices", key = "id",
    transform = function(r) return { id = ids.map("office", r.id), legacy = r.id } end }
  copy.table { from = src, source = "orders", target = "uorders", batch = 1000,
    transform = function(r) return { id = ids.map("order", r.id), office = ids.lookup("office", r.office_id) } end }
  T.eq(db:value "SELECT count(*) FROM uorders u JOIN offices o ON o.id = u.office", 2500)
  T.eq(db:value "SELECT count(*) FROM weir.id_map WHERE namespace = 'order'", 2500)
  T.eq(ids.legacy(db, "order", ids.lookup("order", 42)), "42")
  T.eq(ids.record(db, "manual", { 1, 2 })[2], ids.lookup("manual", 2))
  T.contains(T.raises(function() ids.map("", 1) end), "ids.map: expected a namespace name, got an empty string")
  T.contains(T.raises(function() ids.map("x", {}) end), "ids.map: a legacy id must be a string or a number, got table")
end)

T.case("NULL keys are refused before any work, with their count, wherever they are", function()
  src:exec [[
    DROP TABLE IF EXISTS nk, nk2;
    CREATE TABLE nk (id int, v text);
    INSERT INTO nk SELECT g, 'v' || g FROM generate_series(1, 20) g;
    INSERT INTO nk VALUES (NULL, 'n1'), (NULL, 'n2');
    CREATE TABLE nk2 (a int, b int, v text);
    INSERT INTO nk2 SELECT g % 3, g, 'v' || g FROM generate_series(1, 20) g;
    INSERT INTO nk2 VALUES (1, NULL, 'n1'), (NULL, 7, 'n2'), (NULL, NULL, 'n3');
  ]]
  db:exec "DROP TABLE IF EXISTS nk, nk2; CREATE TABLE nk (id int, v text); CREATE TABLE nk2 (a int, b int, v text)"
  db:exec "DROP SCHEMA IF EXISTS weir CASCADE"
  -- the NULLs in the first batch (40 rows a batch) and after several batches (4 a batch)
  for _, batch in ipairs { 40, 4 } do
    local err = T.raises(function() copy.table { from = src, source = "nk", target = "nk", batch = batch, checkpoint = "nk" } end)
    T.ok(err:match("^[^\n]*copy_test%.lua:%d+: ") ~= nil, "at the caller's line: " .. err)
    T.contains(err, "copy.table nk: 2 source rows have a NULL key (id); keyset batches cannot reach them, " ..
      "so nothing was copied: leave them out with where = \"id IS NOT NULL\", or key the copy on columns without NULLs")
    T.not_contains(err, "stdlib/")
    T.eq(db:value "SELECT count(*) FROM nk", 0, "batch " .. batch)
  end
  -- a query source, and a composite key with a NULL in either column
  T.contains(T.raises(copy.table, { from = src, query = "SELECT id, v FROM nk WHERE id > 10 OR id IS NULL",
    target = "nk" }), "copy.table nk: 2 source rows have a NULL key (id)")
  for _, batch in ipairs { 100, 3 } do
    T.contains(T.raises(copy.table, { from = src, source = "nk2", target = "nk2", key = { "a", "b" }, batch = batch }),
      "copy.table nk2: 3 source rows have a NULL key (a, b); keyset batches cannot reach them, so nothing was " ..
      "copied: leave them out with where = \"a IS NOT NULL AND b IS NOT NULL\"")
  end
  T.eq(db:value "SELECT count(*) FROM nk2", 0)
  T.eq(db:value "SELECT to_regnamespace('weir')", db.NULL, "refused before any work: no state schema")
  -- counted under the copy's own condition: leaving them out is enough
  local st = copy.table { from = src, source = "nk", target = "nk", batch = 4, where = "id IS NOT NULL" }
  T.eq({ st.read, st.written }, { 20, 20 })
  st = copy.table { from = src, source = "nk2", target = "nk2", key = { "a", "b" }, batch = 3,
    where = "a IS NOT NULL AND b IS NOT NULL" }
  T.eq({ st.read, st.written }, { 20, 20 })
  -- copy.update: the same refusal, before set is called
  db:exec "INSERT INTO nk VALUES (NULL, 'x'), (NULL, 'y'), (NULL, 'z')"
  local calls = 0
  for _, batch in ipairs { 100, 4 } do
    T.contains(T.raises(copy.update, { table = "nk", batch = batch, checkpoint = "nk_up",
      set = function() calls = calls + 1; return { v = "changed" } end }),
      "copy.update nk_up: 3 rows of nk have a NULL key (id); keyset batches cannot reach them, so nothing was updated: " ..
      "leave them out with where = \"id IS NOT NULL\", or key the update on columns without NULLs")
  end
  db:exec "INSERT INTO nk2 VALUES (5, NULL, 'x')"
  T.contains(T.raises(copy.update, { table = "nk2", key = { "a", "b" }, set = function() calls = calls + 1 end }),
    "copy.update nk2: 1 row of nk2 has a NULL key (a, b); keyset batches cannot reach it, so nothing was updated: " ..
    "leave it out with where = \"a IS NOT NULL AND b IS NOT NULL\"")
  T.eq(calls, 0)
  T.eq(db:value "SELECT count(*) FROM nk WHERE v = 'changed'", 0)
  st = copy.update { table = "nk", batch = 4, where = "id IS NOT NULL", set = function() return { v = "changed" } end }
  T.eq(st.written, 20)
  src:exec "DROP TABLE nk, nk2"
  db:exec "DROP TABLE nk, nk2"
end)

T.case("misuse of copy and ids is one line at the caller's line, before any work", function()
  fresh_target()
  local function at_caller(expected, fn)
    local err = T.raises(fn)
    T.eq(type(err), "string", expected)
    T.ok(err:match("^[^\n]*copy_test%.lua:%d+: ") ~= nil, "at the caller's line: " .. err)
    T.not_contains(err, "stdlib/")
    T.contains(err, expected)
    T.not_contains(err, "\n", "one line: " .. err)
  end
  local function t(extra)
    local o = { from = src, source = "orders", target = "orders" }
    for k, v in pairs(extra) do o[k] = v end
    return function() copy.table(o) end
  end
  at_caller("copy.table: expected a table of options, got string", function() copy.table "orders" end)
  at_caller("copy.table: from must be a connection, got string", t { from = base_url })
  at_caller("copy.table: to must be a connection, got table", t { to = {} })
  at_caller("copy.table: checkpoint must be a non-empty string, got boolean", t { checkpoint = true })
  at_caller("copy.table: name must be a non-empty string, got table", t { name = {} })
  at_caller("copy.table: where must be a non-empty string, got number", t { where = 5 })
  at_caller("copy.table: query must be a non-empty string, got number", function()
    copy.table { from = src, query = 5, target = "orders" }
  end)
  at_caller("copy.table: pause_ms must be a number of milliseconds (0 or more), got string", t { pause_ms = "x" })
  at_caller("copy.table: pause_ms must be a number of milliseconds (0 or more), got -1", t { pause_ms = -1 })
  at_caller("copy.table: transform must be a function(row), got number", t { transform = 5 })
  at_caller("copy.table: columns must be a non-empty list of column names", t { columns = "patient_name" })
  at_caller("copy.table: columns must be a non-empty list of column names", t { columns = { "id", 5 } })
  at_caller("copy.table: key must be a column name or a non-empty list of column names", t { key = {} })
  at_caller("copy.table: key must be a column name or a non-empty list of column names", t { key = 5 })
  at_caller("copy.table: shared must be true or false, got string", t { shared = "yes", checkpoint = "x" })
  at_caller("copy.table: on_error must be quarantine or fail, got 'skip'", t { on_error = "skip" })
  at_caller("copy.table: unknown option 'batchsize'", t { batchsize = 5 })
  at_caller("copy.table: unknown option '1'", t { "orders" })
  at_caller("copy.update: expected a table of options, got nil", function() copy.update() end)
  at_caller("copy.update: db must be a connection, got string", function()
    copy.update { db = base_url, table = "orders", set = print }
  end)
  at_caller("copy.update: checkpoint must be a non-empty string, got number", function()
    copy.update { table = "orders", set = print, checkpoint = 5 }
  end)
  at_caller("copy.update: key must be a column name or a non-empty list of column names", function()
    copy.update { table = "orders", set = print, key = { 1 } }
  end)
  at_caller("copy.update: set must be a function(row) returning new values, got nil", function()
    copy.update { table = "orders" }
  end)
  at_caller("copy.reset: argument #1 must be a connection (db), got string", function() copy.reset("orders") end)
  at_caller("copy.reset: expected the copy's name, got number", function() copy.reset(db, 5) end)
  at_caller("copy.quarantine: argument #1 must be a connection (db), got nil", function() copy.quarantine() end)
  at_caller("copy.quarantine: name must be a non-empty string, got boolean", function() copy.quarantine(db, true) end)
  at_caller("ids.record: argument #1 must be a connection (db), got string", function() ids.record("x", "n", { 1 }) end)
  at_caller("ids.record: legacy ids must be a list of strings or numbers, got number", function() ids.record(db, "n", 5) end)
  at_caller("ids.record: legacy ids must be a list of strings or numbers, got a table at 2", function()
    ids.record(db, "n", { 1, {} })
  end)
  at_caller("ids.legacy: expected a UUID, got number", function() ids.legacy(db, "n", 5) end)
  at_caller("ids.legacy: expected a UUID, got \"nope\"", function() ids.legacy(db, "n", "nope") end)
  at_caller("ids.legacy: expected a namespace name, got nil", function() ids.legacy(db, nil, ids.lookup("n", 1)) end)
  -- an SQL error before the first batch is the server's error object, at the caller's line too
  local e = T.raises(function() copy.table { from = src, query = "SELEC 1", target = "orders" } end)
  T.eq(e.sqlstate, "42601")
  T.ok(tostring(e):match("^[^\n]*copy_test%.lua:%d+: 42601 ") ~= nil, tostring(e))
  T.eq(db:value "SELECT count(*) FROM orders", 0)
  T.eq(db:value "SELECT to_regnamespace('weir')", db.NULL, "no state schema was created")
end)

T.case("bad options are one line naming the problem", function()
  fresh_target()
  T.contains(T.raises(function() copy.table { from = src, source = "orders", target = "orders", batchsize = 5 } end),
    "copy.table: unknown option 'batchsize'")
  T.contains(T.raises(function() copy.table { from = src, source = "nope", target = "orders" } end),
    "copy.table: source table nope does not exist")
  T.contains(T.raises(function() copy.table { from = src, source = "orders", target = "nope" } end),
    "copy.table: target table nope does not exist")
  T.contains(T.raises(function() copy.table { from = src, source = "orders", target = "orders", key = "uid" } end),
    "copy.table: key column uid is not in the source")
  T.contains(T.raises(function() copy.table { from = src, source = "orders", target = "orders", mode = "merge" } end),
    "copy.table: mode must be insert, upsert or update, got 'merge'")
  T.contains(T.raises(function() copy.table { from = src, source = "orders", query = "SELECT 1", target = "orders" } end),
    "copy.table: give either source (a table) or query (a SELECT)")
end)

T.case("copy.update: an unknown option, a missing table or key column is one line, before any work", function()
  fresh_target()
  db:exec "INSERT INTO orders (id, patient_name) VALUES (1, 'a')"
  local calls = 0
  local function set() calls = calls + 1; return { patient_name = "changed" } end
  local err = T.raises(copy.update, { table = "orders", set = set, batchsize = 5 })
  T.eq(err, "copy.update: unknown option 'batchsize'")
  err = T.raises(copy.update, { table = "no_such_table", set = set })
  T.eq(err, "copy.update: table no_such_table does not exist")
  err = T.raises(copy.update, { table = "nope.orders", set = set })
  T.eq(err, "copy.update: table nope.orders does not exist")
  err = T.raises(copy.update, { table = "orders", key = { "id", "uid" }, set = set })
  T.eq(err, "copy.update: key column uid is not in orders")
  T.eq(calls, 0, "set was never called")
  T.eq(db:value "SELECT patient_name FROM orders WHERE id = 1", "a")
  T.eq(db:value "SELECT to_regnamespace('weir')", db.NULL, "no state schema was created")
end)

T.case("a malformed table name is one line naming it, before any work", function()
  fresh_target()
  db:exec "INSERT INTO orders (id, patient_name) VALUES (1, 'a')"
  local calls = 0
  local function set() calls = calls + 1; return { patient_name = "changed" } end
  for _, bad in ipairs { "a.b.c", "", "x;drop", ".orders", "public.", "orders ", 42 } do
    local shown = type(bad) == "string" and ('"' .. bad .. '"') or tostring(bad)
    T.eq(T.raises(copy.update, { table = bad, set = set }),
      "copy.update: " .. shown .. " is not a valid table name (expected name or schema.name)")
    T.eq(T.raises(copy.table, { from = src, source = bad, target = "orders" }),
      "copy.table: source " .. shown .. " is not a valid table name (expected name or schema.name)")
    T.eq(T.raises(copy.table, { from = src, source = "orders", target = bad }),
      "copy.table: target " .. shown .. " is not a valid table name (expected name or schema.name)")
  end
  T.eq(calls, 0, "set was never called")
  T.eq(db:value "SELECT count(*) FROM orders", 1)
  T.eq(db:value "SELECT to_regnamespace('weir')", db.NULL, "no state schema was created")
end)

T.case("table names are taken exactly as written, in the check as in the copy", function()
  fresh_target()
  -- found by a case-folding lookup, but not the table the copy would write
  T.eq(T.raises(copy.update, { table = "Orders", set = function() end }), "copy.update: table Orders does not exist")
  T.eq(T.raises(copy.table, { from = src, source = "Orders", target = "orders" }),
    "copy.table: source table Orders does not exist")
  T.eq(T.raises(copy.table, { from = src, source = "orders", target = "public.Orders" }),
    "copy.table: target table public.Orders does not exist")
  db:exec [[CREATE TABLE "Mixed" (id bigint PRIMARY KEY, patient_name text NOT NULL, slug text)]]
  T.eq(copy.table { from = src, source = "orders", target = "public.Mixed", where = "id <= 3" }.written, 3)
  T.eq(copy.update { table = "Mixed", set = function(r) return { slug = "s" .. r.id } end }.written, 3)
  T.eq(db:value [[SELECT string_agg(slug, ',' ORDER BY id) FROM "Mixed"]], "s1,s2,s3")
  db:exec [[DROP TABLE "Mixed"]]
end)

T.case("a key with repeated values: no row lost at a batch's end, a span's end, a failed batch or a resume", function()
  src:exec [[DROP TABLE IF EXISTS ev, ev2;
             CREATE TABLE ev (g int, id int, v int);
             INSERT INTO ev VALUES (1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 4, -1);
             CREATE TABLE ev2 (g int, id int);
             INSERT INTO ev2 SELECT i / 2, i FROM generate_series(1, 50003) i]]
  local function target()
    db:exec [[DROP TABLE IF EXISTS ev, ev2; DROP SCHEMA IF EXISTS weir CASCADE;
              CREATE TABLE ev (g int, id int PRIMARY KEY, v int CHECK (v > 0));
              CREATE TABLE ev2 (g int, id int PRIMARY KEY)]]
  end
  -- a failed batch that cuts key 1's rows
  target()
  local st = copy.table { from = src, source = "ev", target = "ev", key = "g", batch = 2 }
  T.eq({ st.written, st.quarantined }, { 3, 1 })
  T.eq(db:value "SELECT string_agg(id::text, ',' ORDER BY id) FROM ev", "1,2,3")
  -- no failure, a key's rows across the end of a span of 50,000 rows
  st = copy.table { from = src, source = "ev2", target = "ev2", key = "g", batch = 1000 }
  T.eq(st.written, 50003)
  T.eq(db:value "SELECT count(*) FROM ev2", 50003)
  -- resumed after a failure: the checkpoint never falls inside a key's rows
  target()
  local o = { from = src, source = "ev", target = "ev", key = "g", batch = 2, checkpoint = "ev", on_error = "fail" }
  T.ok(not pcall(copy.table, o))
  src:exec "UPDATE ev SET v = 4 WHERE id = 4"
  copy.table(o)
  T.eq(db:value "SELECT string_agg(id::text, ',' ORDER BY id) FROM ev", "1,2,3,4")
  src:exec "DROP TABLE ev, ev2"
  db:exec "DROP TABLE ev, ev2"
end)

T.case("an error that is no row's fault (serialization failure, statement_timeout) stops the copy at its batch instead of making rows bad", function()
  src:exec [[DROP TABLE IF EXISTS tr; CREATE TABLE tr (id int PRIMARY KEY, v text);
             INSERT INTO tr SELECT g, 'v' || g FROM generate_series(1, 30) g]]
  local function target(code)
    db:exec "DROP TABLE IF EXISTS tr; DROP SCHEMA IF EXISTS weir CASCADE; CREATE TABLE tr (id int PRIMARY KEY, v text)"
    db:exec(([[CREATE OR REPLACE FUNCTION tr_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.id = 15 THEN RAISE EXCEPTION 'refused %%', NEW.id USING ERRCODE = '%s'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER tr_refuse BEFORE INSERT ON tr FOR EACH ROW EXECUTE FUNCTION tr_refuse()]]):format(code))
  end
  for _, transform in ipairs { false, true } do
    for _, code in ipairs { "40001", "57014", "55P03" } do
      target(code)
      local o = { from = src, source = "tr", target = "tr", batch = 10, checkpoint = "tr" }
      if transform then o.transform = function(row) return row end end
      local ok, err = pcall(copy.table, o)
      T.ok(not ok, code)
      T.contains(tostring(err), "copy.table tr: batch 2 (id after 10 through 20) failed")
      T.contains(tostring(err), code .. " refused 15")
      T.eq(db:value "SELECT count(*) FROM weir.quarantine", 0, code .. ": nothing quarantined")
      T.eq(db:value "SELECT string_agg(id::text, ',' ORDER BY id) FROM tr", "1,2,3,4,5,6,7,8,9,10")
      T.eq(db:value "SELECT value->'last'->>0 FROM weir.checkpoints WHERE key = 'copy/tr'", "10")
    end
  end
  -- a row's own fault (an exception a trigger raises) is still a bad row
  target("P0001")
  local st = copy.table { from = src, source = "tr", target = "tr", batch = 10 }
  T.eq({ st.written, st.quarantined }, { 29, 1 })
  src:exec "DROP TABLE tr"
  db:exec "DROP TABLE tr; DROP FUNCTION tr_refuse()"
end)

src:close()
db:exec "DROP DATABASE IF EXISTS copy_src WITH (FORCE)"
T.case("with a transform, a batch that fails while the next is transformed is written again; the next is done once", function()
  -- No BEFORE INSERT trigger on the target, so batch N is written on a thread while batch N+1 is
  -- read and transformed (docs/copy.md). Rows 13 and 27 break a CHECK: batches 2 and 3 fail
  -- while the batch after each is transformed already.
  local psrc <close> = database("copy_psrc")
  psrc:exec [[
    CREATE TABLE prows (id int PRIMARY KEY, a int);
    INSERT INTO prows SELECT g, CASE WHEN g IN (13, 27) THEN -1 ELSE g END FROM generate_series(1, 40) g;
  ]]
  for _, touches in ipairs { false, true, "tx" } do
    db:exec [[
      DROP TABLE IF EXISTS prows, pseen; DROP SCHEMA IF EXISTS weir CASCADE;
      CREATE TABLE prows (id bigint PRIMARY KEY, a int CHECK (a >= 0), xid bigint DEFAULT pg_catalog.txid_current());
      CREATE TABLE pseen (id bigint, xid bigint DEFAULT pg_catalog.txid_current());
    ]]
    local what = touches == "tx" and "a transform writing to the target in db:tx" or
      touches and "a transform writing to the target" or "a transform of the row alone"
    local st = copy.table { from = psrc, source = "prows", target = "prows", batch = 10, checkpoint = "p",
      transform = function(r)
        if touches == "tx" then
          -- a savepoint in the batch's transaction, not a transaction of its own
          db:tx(function() db:exec("INSERT INTO pseen (id) VALUES ($1)", r.id) end)
        elseif touches then
          db:exec("INSERT INTO pseen (id) VALUES ($1)", r.id)
        end
        r.a = r.a * 2
        return r
      end }
    T.eq({ st.read, st.written, st.quarantined, st.batches }, { 40, 38, 2, 4 }, what)
    T.eq(db:value "SELECT string_agg(source_key->>0, ',' ORDER BY id) FROM weir.quarantine", "13,27", what)
    T.eq(db:value "SELECT count(*) FROM prows WHERE a = 2 * id", 38, what)
    T.eq(db:value "SELECT rows_written FROM weir.copies WHERE name = 'p'", 38, what)
    T.eq(db:value "SELECT rows_read FROM weir.copies WHERE name = 'p'", 40, what)
    if touches then
      -- each row's statement ran once, in the transaction that wrote its batch
      T.eq(db:value "SELECT count(*) FROM pseen", 40, what)
      T.eq(db:value "SELECT count(DISTINCT id) FROM pseen", 40, what)
      T.eq(db:value "SELECT count(*) FROM prows p JOIN pseen s USING (id) WHERE s.xid <> p.xid", 0, what)
    end
  end
end)

T.case("with a transform: rows a BEFORE INSERT trigger drops, a batch with no row to write, a timestamp key", function()
  local tsrc <close> = database("copy_tsrc")
  tsrc:exec [[
    CREATE TABLE trows (id int PRIMARY KEY, a int);
    INSERT INTO trows SELECT g, g FROM generate_series(1, 40) g;
    CREATE TABLE tstamps (ts timestamptz PRIMARY KEY, n int);
    -- around the end of summer time in Berlin: the session's text of these sorts otherwise
    INSERT INTO tstamps SELECT timestamptz '2020-10-24 23:00:00+00' + g * interval '15 minutes', g
      FROM generate_series(1, 24) g;
  ]]
  db:exec [[
    DROP TABLE IF EXISTS trows, tstamps; DROP SCHEMA IF EXISTS weir CASCADE;
    CREATE TABLE trows (id bigint PRIMARY KEY, a int);
    CREATE FUNCTION trows_even() RETURNS trigger LANGUAGE plpgsql AS
      $$ BEGIN IF NEW.id % 2 = 0 THEN RETURN NULL; END IF; RETURN NEW; END $$;
    CREATE TRIGGER trows_even BEFORE INSERT ON trows FOR EACH ROW EXECUTE FUNCTION trows_even();
    CREATE TABLE tstamps (ts timestamptz PRIMARY KEY, n int);
  ]]
  -- the trigger drops the even rows: the counters say what the target took
  local st = copy.table { from = tsrc, source = "trows", target = "trows", batch = 10, checkpoint = "t1",
    transform = function(r) return r end }
  T.eq({ st.read, st.written }, { 40, 20 })
  T.eq(db:value "SELECT count(*) FROM trows", 20)
  T.eq(db:value "SELECT rows_written FROM weir.copies WHERE name = 't1'", 20)
  db:exec "DROP TRIGGER trows_even ON trows; TRUNCATE trows"
  -- batch 2 (ids 11 to 20) has no row to write, alone and inside the caller's transaction
  for _, outer in ipairs { false, true } do
    db:exec "TRUNCATE trows; DROP SCHEMA IF EXISTS weir CASCADE"
    local function run()
      return copy.table { from = tsrc, source = "trows", target = "trows", batch = 10, checkpoint = "t2",
        transform = function(r)
          if r.id > 10 and r.id <= 20 then return nil end
          return r
        end }
    end
    local st2 = outer and db:tx(run) or run()
    local what = outer and "inside db:tx" or "alone"
    T.eq({ st2.read, st2.written, st2.skipped, st2.batches }, { 40, 30, 10, 4 }, what)
    T.eq(db:value "SELECT count(*) FROM trows", 30, what)
    T.eq(db:value "SELECT rows_read FROM weir.copies WHERE name = 't2'", 40, what)
  end
  -- a timestamptz key read in a session whose time zone changes its offset among the rows
  tsrc:exec "SET TimeZone = 'Europe/Berlin'"
  local st3 = copy.table { from = tsrc, source = "tstamps", target = "tstamps", key = "ts", batch = 5,
    checkpoint = "t3", transform = function(r) return r end }
  T.eq({ st3.read, st3.written }, { 24, 24 })
  T.eq(db:value "SELECT string_agg(n::text, ',' ORDER BY ts) FROM tstamps",
    tsrc:value "SELECT string_agg(n::text, ',' ORDER BY ts) FROM tstamps")
end)

T.done()
