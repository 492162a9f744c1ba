-- examples/legacy-dispatch (seed 003) on a new database the team's earlier tooling already
-- filled (earlier_tooling.lua: random UUIDs, migration_mappings, migration_control, legacy
-- columns nothing uses): weir up continues that migration — the tooling's UUIDs kept, the rows
-- it moved and nobody changed left untouched, new rows' foreign keys to its rows translated —,
-- a re-sync propagates legacy deletions in "delete" mode (a row still referenced is kept and
-- reported), and down returns the database to what the tooling left. Then the example's own
-- suite, `weir test` from its directory.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local weir_bin = assert(os.getenv "WEIR")
local ID = "001_legacy_dispatch"
shell.tmpdir()

local ex = require("example").new("legacy-dispatch", "ldadopt")
local legacy_url, legacy = ex.fresh_db("ldadopt_legacy")
local new_url, new = ex.fresh_db("ldadopt_new")

local function run_weir(args, env)
  return sh("cd " .. q(ex.dir) .. " && LEGACY_URL=" .. q(legacy_url) .. " " .. (env or "") .. " " .. q(weir_bin) .. " " ..
    args .. " --db " .. q(new_url))
end

local function mapped(entity, legacy_id)
  return new:value("SELECT new_id::text FROM migration_mappings WHERE entity_type = $1 AND legacy_id = $2", entity, legacy_id)
end

local function digest(sql) return new:value("SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (" .. sql .. ") t") end

local function counts()
  local out = {}
  for _, t in ipairs { "offices", "products", "profiles", "doctors", "patients", "orders", "comments" } do
    out[t] = new:value("SELECT count(*) FROM " .. t)
  end
  return out
end

-- Every order's and comment's relations as legacy ids, in the legacy database and in the new
-- one (read back through weir.id_map, which holds the imported mappings too).
local LEGACY_ORDERS = [[
  SELECT string_agg(concat_ws(':', o.id, o.patient_id, coalesce(o.doctor_id::text, '-'),
                              COALESCE(o.office_id, p.office_id, pd.office_id)), ',' ORDER BY o.id)
    FROM dispatch_orders o
    LEFT JOIN dispatch_patients p ON p.id = o.patient_id
    LEFT JOIN dispatch_doctors pd ON pd.id = p.doctor_id
   WHERE NOT (o.id = ANY ('{600, 777, 1313, 1777, 1850}'::int[]))]]
local NEW_ORDERS = [[
  SELECT string_agg(concat_ws(':', mo.legacy_id, mp.legacy_id, coalesce(md.legacy_id, '-'), mf.legacy_id),
                    ',' ORDER BY mo.legacy_id::int)
    FROM orders o
    JOIN weir.id_map mo ON mo.namespace = 'order' AND mo.new_id = o.id
    JOIN weir.id_map mp ON mp.namespace = 'patient' AND mp.new_id = o.patient_id
    LEFT JOIN weir.id_map md ON md.namespace = 'doctor' AND md.new_id = o.doctor_id
    JOIN weir.id_map mf ON mf.namespace = 'office' AND mf.new_id = o.office_id]]
local LEGACY_COMMENTS = [[
  SELECT string_agg(concat_ws(':', c.id, c.order_id, c.author_id, coalesce(c.parent_id::text, '-')), ',' ORDER BY c.id)
    FROM dispatch_comments c
   WHERE c.author_id IS NOT NULL AND EXISTS (SELECT 1 FROM dispatch_orders o WHERE o.id = c.order_id)]]
local NEW_COMMENTS = [[
  SELECT string_agg(concat_ws(':', mc.legacy_id, mo.legacy_id, ma.legacy_id, coalesce(mp.legacy_id, '-')),
                    ',' ORDER BY mc.legacy_id::int)
    FROM comments c
    JOIN weir.id_map mc ON mc.namespace = 'comment' AND mc.new_id = c.id
    JOIN weir.id_map mo ON mo.namespace = 'order' AND mo.new_id = c.order_id
    JOIN weir.id_map ma ON ma.namespace = 'profile' AND ma.new_id = c.author_id
    LEFT JOIN weir.id_map mp ON mp.namespace = 'comment' AND mp.new_id = c.parent_id]]

local tooling = {}  -- what the earlier tooling left, for the checks below

T.case("the earlier tooling's database: random UUIDs, its mapping and control tables, legacy columns", function()
  T.eq((ex.script(legacy_url, "generate.lua")), 0)
  local rc, _, err = run_weir("up --to " .. ID .. ":orders")
  T.eq(rc, 0, err)
  local rc2, out2, err2 = ex.script(new_url, "earlier_tooling.lua")
  T.eq(rc2, 0, err2)
  T.contains(out2, "earlier tooling's database: offices 20, products 40, profiles 398, doctors 49, patients 997, orders 1792 rows")
  T.eq(new:value "SELECT to_regnamespace('weir')", db.NULL)
  T.eq(new:value "SELECT count(*) FROM pg_policies", 0)
  T.eq(new:value "SELECT count(*) FROM migration_mappings", 20 + 40 + 398 + 49 + 997 + 1792)
  T.eq(new:value "SELECT count(*) FROM orders WHERE substr(id::text, 15, 1) = '4'", 1792, "random (version 4) UUIDs")
  T.eq(new:value("SELECT patient_id::text FROM orders WHERE id = $1::uuid", mapped("order", 2)),
    mapped("patient", legacy:value "SELECT patient_id FROM dispatch_orders WHERE id = 2"))
  tooling.counts = counts()
  tooling.mappings = digest "SELECT * FROM migration_mappings"
  tooling.fax = digest "SELECT id, fax, pager, legacy_role FROM profiles"
  tooling.old_price = digest "SELECT id, legacy_sku, legacy_category, old_price FROM products"
  tooling.xmin = {}  -- each order's row version: a row nothing writes keeps it
  for _, r in ipairs(new:query "SELECT id::text, xmin::text FROM orders") do tooling.xmin[r.id] = r.xmin end
end)

T.case("weir up continues it: the tooling's UUIDs kept, unchanged rows untouched, new rows tied to its rows", function()
  -- a column cleanup would drop is still in use: refused, naming what uses it; nothing dropped
  new:exec "CREATE INDEX profiles_fax_idx ON profiles (fax)"
  local rc, out0, err = run_weir("up")
  T.eq(rc, 1)
  T.contains(err, ID .. ":cleanup: up failed: profiles.fax is not unused: index profiles_fax_idx depends on it")
  -- (schema, rls and adopt are done by then)
  T.contains(out0, "adopt: orders    1792 rows, 1792 mappings imported from migration_mappings, synced up to ")
  T.contains(out0, "adopt: offices   20 rows, 20 mappings imported")
  T.eq(new:value "SELECT count(*) FROM information_schema.columns WHERE table_name = 'profiles' AND column_name = 'fax'", 1)
  new:exec "DROP INDEX profiles_fax_idx"

  -- meanwhile the legacy application changed two of the rows the tooling moved, and added some
  legacy:exec [[
    UPDATE dispatch_orders SET status = 'done' WHERE id = 10;
    UPDATE dispatch_patients SET last_name = 'Renamed' WHERE id = 5;
    INSERT INTO dispatch_patients (id, office_id, doctor_id, first_name, last_name, dob)
      VALUES (1001, NULL, 4, 'New', 'Patient', '04/05/1990');
    INSERT INTO dispatch_orders (id, patient_id, doctor_id, office_id, status, amount, meta)
      VALUES (2501, 5, 4, NULL, 'pending', 10, NULL), (2502, 1001, 4, NULL, 'pending', 11, NULL);
    INSERT INTO dispatch_comments (id, order_id, author_id, body) VALUES (4001, 12, 1, 'on an order moved earlier');
  ]]
  local rc2, out, err2 = run_weir("up")
  T.eq(rc2, 0, err2)
  T.contains(out, "cleanup: dropped profiles.fax, pager, legacy_role (values of 398 rows kept in dispatch_cleanup_backup.profiles)")
  T.contains(out, "cleanup: dropped products.legacy_sku, legacy_category, old_price (values of 40 rows kept in " ..
    "dispatch_cleanup_backup.products)")
  T.contains(out, "dispatch_offices   → offices   read 20, written 0, quarantined 0, skipped 0, 1 batches")
  T.contains(out, ", 20 moved earlier and unchanged")
  T.contains(out, ", 1791 moved earlier and unchanged")  -- orders: all but order 10
  T.contains(out, ", 996 moved earlier and unchanged")   -- patients: all but patient 5

  -- the tooling's rows keep their UUIDs; order 10 and patient 5 have their new values
  T.eq(new:value "SELECT count(*) FROM orders o JOIN migration_mappings m ON m.entity_type = 'order' AND m.new_id = o.id", 1792)
  T.eq(new:value("SELECT status::text FROM orders WHERE id = $1::uuid", mapped("order", 10)), "completed")
  T.eq(new:value("SELECT last_name FROM patients WHERE id = $1::uuid", mapped("patient", 5)), "Renamed")
  -- … and the others were not written at all (their row versions are the ones the tooling left)
  local rewritten = {}
  for id, xmin in pairs(tooling.xmin) do
    if new:value("SELECT xmin::text FROM orders WHERE id = $1::uuid", id) ~= xmin then
      rewritten[#rewritten + 1] = new:value("SELECT legacy_id FROM migration_mappings WHERE new_id = $1::uuid", id)
    end
  end
  T.eq(rewritten, { 10 }, "only order 10 was written")
  -- new rows get derived UUIDs, and their foreign keys the tooling's UUIDs of their parents
  T.eq(new:one("SELECT patient_id::text, substr(id::text, 15, 1) AS version FROM orders WHERE id = $1::uuid",
    ids.lookup("order", 2501)), { patient_id = mapped("patient", 5), version = "5" })
  T.eq(new:value("SELECT order_id::text FROM comments WHERE id = $1::uuid", ids.lookup("comment", 4001)), mapped("order", 12))
  T.eq(new:value("SELECT patient_id::text FROM orders WHERE id = $1::uuid", ids.lookup("order", 2502)), ids.lookup("patient", 1001))
  -- every relation of every order and comment is the legacy one
  T.eq(new:value(NEW_ORDERS), legacy:value(LEGACY_ORDERS))
  T.eq(new:value(NEW_COMMENTS), legacy:value(LEGACY_COMMENTS))
  -- the report accounts for everything, adopted rows included
  T.contains(out, "  total                  8009      7914       80           15    99.81%")
  T.contains(out, "continued from the earlier tooling (migration_mappings): offices 20, products 40, profiles 398, " ..
    "doctors 49, patients 997, orders 1792 rows adopted")
  T.eq(digest "SELECT * FROM migration_mappings", tooling.mappings, "the tooling's mapping is only read")
end)

T.case("a re-sync in delete mode deletes what the legacy database deleted, keeping what live rows reference", function()
  -- a comment nobody replied to, and an order (moved by the tooling) that still has comments
  local leaf = legacy:value [[SELECT min(c.id) FROM dispatch_comments c WHERE c.author_id IS NOT NULL AND c.id % 1000 <> 999
                               AND NOT EXISTS (SELECT 1 FROM dispatch_comments r WHERE r.parent_id = c.id)]]
  local order = legacy:value [[SELECT min(o.id) FROM dispatch_orders o WHERE o.id < 1800 AND o.id % 50 <> 0
                                AND (SELECT count(*) FROM dispatch_comments c WHERE c.order_id = o.id AND c.author_id IS NOT NULL) >= 2]]
  legacy:exec("DELETE FROM dispatch_comments WHERE id = $1", leaf)
  legacy:exec("DELETE FROM dispatch_orders WHERE id = $1", order)
  T.eq((run_weir("down " .. ID .. ":sync")), 0)
  local rc, out, err = run_weir("up", "DISPATCH_DELETIONS=delete")
  T.eq(rc, 0, err)
  T.contains(out, "dispatch_comments  → comments  1 rows deleted in the legacy database: deleted here")
  T.contains(out, "dispatch_orders    → orders    1 rows deleted in the legacy database: deleted here, 1 kept: " ..
    "rows here still reference them")
  T.contains(out, "deleted in the legacy database, deleted here by the last pass: comments 1")
  T.contains(out, "deleted in the legacy database, kept here because live rows reference them: orders 1")
  T.eq(new:value("SELECT count(*) FROM comments WHERE id = $1::uuid", ids.lookup("comment", leaf)), 0)
  T.eq(new:value("SELECT count(*) FROM orders WHERE id = $1::uuid", mapped("order", order)), 1)
  -- once its comments are deleted too, the next pass deletes the order
  legacy:exec("DELETE FROM dispatch_comments WHERE order_id = $1", order)
  T.eq((run_weir("down " .. ID .. ":sync")), 0)
  rc, out, err = run_weir("up", "DISPATCH_DELETIONS=delete")
  T.eq(rc, 0, err)
  T.contains(out, "dispatch_orders    → orders    1 rows deleted in the legacy database: deleted here\n")
  T.eq(new:value("SELECT count(*) FROM orders WHERE id = $1::uuid", mapped("order", order)), 0)
  T.eq(new:value "SELECT count(*) FROM orders WHERE deleted_at IS NOT NULL", 0, "nothing soft-deleted in delete mode")
  T.not_contains(out, "match no legacy row")
  tooling.deleted_order = order
end)

T.case("down returns the database to what the earlier tooling left", function()
  local rc, _, err = run_weir("down " .. ID)
  T.eq(rc, 0, err)
  -- the rows this migration added are gone; the tooling's stay (but the order deleted in
  -- delete mode, which down cannot bring back: soft mode can)
  local want = {}
  for k, v in pairs(tooling.counts) do want[k] = v end
  want.orders = want.orders - 1
  T.eq(counts(), want)
  T.eq(new:value("SELECT count(*) FROM orders WHERE id = $1::uuid", mapped("order", tooling.deleted_order)), 0)
  T.eq(digest "SELECT id, fax, pager, legacy_role FROM profiles", tooling.fax, "the dropped columns are back with their values")
  T.eq(digest "SELECT id, legacy_sku, legacy_category, old_price FROM products", tooling.old_price)
  T.eq(new:value [[SELECT column_default || ' ' || is_nullable FROM information_schema.columns
                    WHERE table_name = 'products' AND column_name = 'old_price']], "0 NO")
  T.eq(new:value "SELECT count(*) FROM weir.id_map", 0)
  T.eq(new:value "SELECT count(*) FROM weir.checkpoints", 0)
  T.eq(new:value "SELECT count(*) FROM pg_policies", 0)
  T.eq(new:value "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relrowsecurity", 0)
  T.eq(new:value "SELECT to_regnamespace('auth')", db.NULL)
  T.eq(new:value "SELECT to_regnamespace('dispatch_cleanup_backup')", db.NULL)
  T.eq(digest "SELECT * FROM migration_mappings", tooling.mappings)
end)

T.case("killed in the middle of a copy, the next up resumes after its last committed batch", function()
  local lurl, lconn = ex.fresh_db("ldadopt_kill_legacy")
  local nurl, nconn = ex.fresh_db("ldadopt_kill")
  local _l <close> = lconn
  local _n <close> = nconn
  T.eq((ex.script(lurl, "generate.lua")), 0)
  local function weir_on(args)
    return sh("cd " .. q(ex.dir) .. " && LEGACY_URL=" .. q(lurl) .. " DISPATCH_BATCH=500 " .. q(weir_bin) .. " " ..
      args .. " --db " .. q(nurl))
  end
  T.eq((weir_on("up --to " .. ID .. ":orders")), 0)
  -- the batch holding legacy comment 2001 waits, inside its transaction, on a lock this test holds
  nconn:exec [[
    CREATE FUNCTION test_hold() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.body LIKE 'Note 2001 %' THEN PERFORM pg_advisory_xact_lock(20010); END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER test_hold BEFORE INSERT ON comments FOR EACH ROW EXECUTE FUNCTION test_hold();
  ]]
  local holder <close> = weir.connect(nurl)
  holder:exec "SELECT pg_advisory_lock(20010)"
  local pidfile = shell.dir .. "/kill.pid"
  sh("(cd " .. q(ex.dir) .. " && LEGACY_URL=" .. q(lurl) .. " DISPATCH_BATCH=500 exec " .. q(weir_bin) .. " up --db " ..
    q(nurl) .. " --events " .. q(shell.dir .. "/events.jsonl") .. " >/dev/null 2>&1 & echo $! > " .. q(pidfile) .. ")")
  local pid = io.open(pidfile):read("l")
  local waiting = false
  for _ = 1, 600 do
    waiting = nconn:value [[SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                             AND wait_event_type = 'Lock' AND wait_event = 'advisory')]]
    if waiting then break end
    weir.sleep(0.1)
  end
  T.ok(waiting, "weir reached the held batch")
  sh("kill -9 " .. pid .. "; while kill -0 " .. pid .. " 2>/dev/null; do sleep 0.05; done")
  holder:exec "SELECT pg_advisory_unlock(20010)"
  local holder_pid = holder:value "SELECT pg_backend_pid()"
  for _ = 1, 100 do  -- the server notices the dead client and rolls its batch back
    if nconn:value([[SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                      AND pid <> pg_backend_pid() AND pid <> $1]], holder_pid) == 0 then
      break
    end
    weir.sleep(0.1)
  end
  local written = nconn:value "SELECT count(*) FROM comments"
  T.eq(written, nconn:value "SELECT rows_written FROM weir.copies WHERE name = 'dispatch_comments'", "whole batches only")
  T.ok(written > 0 and written < 3916, "the copy stopped half way: " .. written)
  T.eq(nconn:value "SELECT state FROM weir.phases WHERE phase = 'comments'", "running")
  -- the events written so far are JSON lines, one per batch among them
  local batches = 0
  for line in io.lines(shell.dir .. "/events.jsonl") do
    local e = json.decode(line)
    if e.type == "copy_batch" and e.phase == "comments" then batches = batches + 1 end
  end
  T.ok(batches >= 1, "copy_batch events for the comments batches committed")
  nconn:exec "DROP TRIGGER test_hold ON comments; DROP FUNCTION test_hold()"
  local rc, out, err = weir_on("up")
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":comments was interrupted; running it again")
  T.ok(out:match("dispatch_comments  → comments  read 2000, written %d+, quarantined 2, skipped 40, 4 batches, [%d.]+s, " ..
    "resumed after id 2000"), out)
  T.eq(nconn:value "SELECT count(*) FROM comments", 3916, "every comment once")
  T.contains(out, "  total                  8005      7910       80           15    99.81%")
end)

T.case("the example's own suite passes: weir test from its directory", function()
  -- on a throwaway cluster of its own (the legacy database stays on the suite's): the test
  -- databases a run makes on the shared server would be counted by weir_test_test, running
  -- alongside, as ones its own runs left behind
  local rc, _, err = sh("cd " .. q(ex.dir) .. " && LEGACY_URL=" .. q(legacy_url) .. " " .. q(weir_bin) .. " test --ephemeral")
  T.eq(rc, 0, err)
  T.contains(err, "ok   tests/rls_test.lua: row-level security › staff see their office, admins the organization, " ..
    "soft-deleted rows nobody")
  T.contains(err, "ok   tests/copy_test.lua: the migration from the legacy database")
  T.contains(err, "13 passed, 0 failed")
end)

ex.drop_databases()
shell.cleanup()
T.done()
