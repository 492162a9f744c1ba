-- examples/legacy-dispatch (seed 003) end to end on an empty new database: generate the legacy
-- database, weir up the migration into the suite's database, check what arrived (uuid keys,
-- translated foreign keys, cleaned values), what was quarantined and the success rate, and
-- what row-level security lets the application's role see and write; change the legacy
-- database (updates, inserts, a deletion) and run the incremental phase again; roll everything
-- back. Then the ways it must fail: a lost row, a changed relation, a transform that drops rows
-- silently, a legacy change that no pass copied, a success rate under 99.5 % (and how a fix plus
-- a re-sync recovers from it), and vars outside the seed's range. Continuing the earlier
-- tooling's migration, legacy deletions in "delete" mode and the example's own `weir test`
-- suite: legacy_dispatch_adopt_test.lua.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local weir_bin = assert(os.getenv "WEIR")
local test_url = assert(os.getenv "WEIR_TEST_URL")
local src = assert(os.getenv "WEIR_SOURCE_DIR")
local EXAMPLE = src .. "/examples/legacy-dispatch"
local MIGRATIONS = EXAMPLE .. "/migrations"
local ID = "001_legacy_dispatch"
local tmp = shell.tmpdir()

local TARGETS = { "offices", "products", "profiles", "doctors", "patients", "orders", "comments" }

-- ---------------------------------------------------------------------------------------------
-- Helpers

local ex = require("example").new("legacy-dispatch")
local fresh_db = ex.fresh_db

local function generate(url, scale) return ex.script(url, "generate.lua", scale and tostring(scale)) end

-- weir ARGS in the example's directory (its weir.lua names the `legacy` connection), on the
-- new database `url`, with $LEGACY_URL = legacy_url (and `env`, more variables).
local function run_weir(args, url, legacy_url, dir, env)
  return sh("cd " .. q(EXAMPLE) .. " && LEGACY_URL=" .. q(legacy_url) .. " " .. (env or "") .. " " .. q(weir_bin) .. " " ..
    args .. " --db " .. q(url) .. (dir and (" --dir " .. q(dir)) or ""))
end

local function phase_state(conn, ph)
  return conn:value("SELECT state FROM weir.phases WHERE migration = $1 AND phase = $2", ID, ph)
end

local function counts(conn)
  local out = {}
  for _, t in ipairs(TARGETS) do out[t] = conn:value("SELECT count(*) FROM " .. t) end
  return out
end

-- The quarantine as "copy:legacy id" → error (the latest entry per row).
local function quarantine(conn)
  local out = {}
  for _, r in ipairs(copy.quarantine(conn)) do
    out[r.copy .. ":" .. tostring(r.source_key[1])] = r.error
  end
  return out
end

local function keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- A copy of the migrations directory with the first occurrence of `anchor` in the script
-- replaced by `replacement`.
local function broken_migration(name, anchor, replacement)
  local dir = tmp .. "/" .. name
  assert(os.execute("mkdir -p " .. q(dir)))
  local text = assert(io.open(MIGRATIONS .. "/" .. ID .. ".lua")):read("a")
  local at = assert(text:find(anchor, 1, true), "anchor " .. anchor .. " is gone from the migration: update this test")
  text = text:sub(1, at - 1) .. replacement .. text:sub(at + #anchor)
  local f = assert(io.open(dir .. "/" .. ID .. ".lua", "w"))
  f:write(text)
  f:close()
  return dir
end

-- Every legacy order's relations, "order:patient:doctor:office", as the legacy database has
-- them (an order without an office takes its patient's, else the patient's doctor's) …
local LEGACY_ORDER_RELATIONS = [[
  SELECT string_agg(concat_ws(':', o.id, o.patient_id, coalesce(o.doctor_id::text, '-'),
                              COALESCE(o.office_id, p.office_id, pd.office_id)), ',' ORDER BY o.id)
    FROM dispatch_orders o
    LEFT JOIN dispatch_patients p ON p.id = o.patient_id
    LEFT JOIN dispatch_doctors pd ON pd.id = p.doctor_id
   WHERE NOT (o.id = ANY ($1::int[]))]]
-- … and as the new database has them, translated back through weir.id_map.
local NEW_ORDER_RELATIONS = [[
  SELECT string_agg(concat_ws(':', mo.legacy_id, mp.legacy_id, coalesce(md.legacy_id, '-'), mf.legacy_id),
                    ',' ORDER BY mo.legacy_id::int)
    FROM orders o
    JOIN weir.id_map mo ON mo.namespace = 'order' AND mo.new_id = o.id
    JOIN weir.id_map mp ON mp.namespace = 'patient' AND mp.new_id = o.patient_id
    LEFT JOIN weir.id_map md ON md.namespace = 'doctor' AND md.new_id = o.doctor_id
    JOIN weir.id_map mf ON mf.namespace = 'office' AND mf.new_id = o.office_id]]
-- Comments: "comment:order:author:parent".
local LEGACY_COMMENT_RELATIONS = [[
  SELECT string_agg(concat_ws(':', c.id, c.order_id, c.author_id, coalesce(c.parent_id::text, '-')), ',' ORDER BY c.id)
    FROM dispatch_comments c
   WHERE c.author_id IS NOT NULL AND EXISTS (SELECT 1 FROM dispatch_orders o WHERE o.id = c.order_id)
     AND NOT (c.id = ANY ($1::int[]))]]
local NEW_COMMENT_RELATIONS = [[
  SELECT string_agg(concat_ws(':', mc.legacy_id, mo.legacy_id, ma.legacy_id, coalesce(mp.legacy_id, '-')),
                    ',' ORDER BY mc.legacy_id::int)
    FROM comments c
    JOIN weir.id_map mc ON mc.namespace = 'comment' AND mc.new_id = c.id
    JOIN weir.id_map mo ON mo.namespace = 'order' AND mo.new_id = c.order_id
    JOIN weir.id_map ma ON ma.namespace = 'profile' AND ma.new_id = c.author_id
    LEFT JOIN weir.id_map mp ON mp.namespace = 'comment' AND mp.new_id = c.parent_id
   WHERE NOT (mc.legacy_id = ANY ($1::text[]))]]

local BAD_ORDERS = { 600, 777, 1313, 1777, 1850 }

local EXPECTED_QUARANTINE = {
  ["dispatch_profiles:200"] = "23505 duplicate key value violates unique constraint \"profiles_email_key\"",
  ["dispatch_profiles:400"] = "Key (email)=(user399@dispatch.example) already exists",
  ["dispatch_doctors:25"] = "transform raised: doctor 25 has no license number",
  ["dispatch_patients:123"] = "22008 date/time field value out of range: \"1973-02-30\"",
  ["dispatch_patients:523"] = "22008",
  ["dispatch_patients:923"] = "22008",
  ["dispatch_orders:600"] = "23514 new row for relation \"orders\" violates check constraint \"orders_amount_check\"",
  ["dispatch_orders:777"] = "transform raised: order 777: unknown status \"lost\"",
  ["dispatch_orders:1313"] = "transform raised: order 1313: meta is not a JSON object: {\"rush\": tru",
  ["dispatch_orders:1777"] = "unknown status \"lost\"",
  ["dispatch_orders:1850"] = "orders_amount_check",
  ["dispatch_comments:999"] = "23503 insert or update on table \"comments\" violates foreign key constraint \"comments_order_id_fkey\"",
  ["dispatch_comments:1999"] = "comments_order_id_fkey",
  ["dispatch_comments:2999"] = "comments_order_id_fkey",
  ["dispatch_comments:3999"] = "comments_order_id_fkey",
}

-- ---------------------------------------------------------------------------------------------
-- The main path: the suite's database is the new one.

local legacy_url, legacy = fresh_db("ldisp_legacy")
local new = db  -- connected to test_url

T.case("the generator builds the legacy database deterministically, with its bad rows, and refuses to run twice", function()
  local rc, out, err = generate(legacy_url)
  T.eq(rc, 0, err)
  T.contains(out, "legacy dispatch generated (scale 1): dispatch_offices 20, dispatch_products 40, dispatch_profiles 400, " ..
    "dispatch_doctors 50, dispatch_patients 1000, dispatch_orders 2495, dispatch_comments 4000")
  T.contains(out, "8005 rows, 15 of them bad on purpose, 80 system comments")
  -- integer serial ids, text, naive timestamps, no foreign keys
  T.eq(legacy:value [[SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                       WHERE attrelid = 'dispatch_orders'::regclass AND attname = 'id']], "integer")
  T.eq(legacy:value [[SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                       WHERE attrelid = 'dispatch_orders'::regclass AND attname = 'created_at']], "timestamp without time zone")
  T.eq(legacy:value "SELECT count(*) FROM pg_constraint WHERE contype = 'f'", 0)
  -- the mess
  T.eq(legacy:value "SELECT count(*) FROM dispatch_profiles WHERE office_id IS NULL", 16)
  T.eq(legacy:value "SELECT count(*) FROM dispatch_orders WHERE office_id IS NULL", 81)
  T.eq(legacy:value "SELECT count(DISTINCT status) FROM dispatch_orders", 11)
  T.eq(legacy:value "SELECT count(DISTINCT role) FROM dispatch_profiles", 9)
  T.eq(legacy:value "SELECT count(*) FROM dispatch_patients WHERE dob LIKE '__/__/____'", 332)
  T.eq(legacy:value "SELECT email FROM dispatch_profiles WHERE id = 200", " USER199@DISPATCH.EXAMPLE")
  T.eq(legacy:value "SELECT count(*) FROM dispatch_comments WHERE parent_id IS NOT NULL", 641)
  T.eq(legacy:value [[SELECT array_agg(order_id ORDER BY id) FROM dispatch_comments c
                       WHERE NOT EXISTS (SELECT 1 FROM dispatch_orders o WHERE o.id = c.order_id)]], { 250, 750, 1250, 1750 })
  -- refuses to pile a second copy on top
  local rc2, _, err2 = generate(legacy_url)
  T.eq(rc2, 1)
  T.contains(err2, "generate.lua: refusing to run: dispatch_offices, dispatch_products, dispatch_profiles, dispatch_doctors, " ..
    "dispatch_patients, dispatch_orders, dispatch_comments already exist")
  -- the same rows in another database; SCALE multiplies them
  local function digest(conn)
    local out = {}
    for _, t in ipairs { "dispatch_offices", "dispatch_products", "dispatch_profiles", "dispatch_doctors",
      "dispatch_patients", "dispatch_orders", "dispatch_comments" } do
      out[t] = conn:value("SELECT md5(string_agg(t::text, ',' ORDER BY t.id)) FROM " .. t .. " t")
    end
    return out
  end
  local url2, conn2 <close> = fresh_db("ldisp_twin")
  T.eq((generate(url2)), 0)
  T.eq(digest(conn2), digest(legacy))
  local url3, conn3 <close> = fresh_db("ldisp_scale")
  local rc3, out3, err3 = generate(url3, "2")
  T.eq(rc3, 0, err3)
  T.contains(out3, "dispatch_orders 4990, dispatch_comments 8000")
  T.eq((generate(url3, "zero")), 1)
end)

T.case("up copies the six tables in dependency order into the uuid-keyed schema, quarantining the bad rows", function()
  local rc, out, err = run_weir("up", test_url, legacy_url)
  T.eq(rc, 0, err)
  -- phases in dependency order
  local last = 0
  for _, ph in ipairs { "schema", "rls", "adopt", "cleanup", "offices", "products", "profiles", "doctors", "patients",
    "orders", "comments", "sync", "report" } do
    local at = err:find(ID .. ":" .. ph .. " done", 1, true)
    T.ok(at and at > last, ph .. " done after the phases before it: " .. err)
    last = at
  end
  T.contains(out, "dispatch_orders    → orders    read 2495, written 2490, quarantined 5, skipped 0, 3 batches")
  T.contains(out, "dispatch_comments  → comments  read 4000, written 3916, quarantined 4, skipped 80, 4 batches")
  T.contains(out, "dispatch_products  → products  read 40, written 40, quarantined 0, skipped 0, 1 batches")
  T.contains(out, "adopt: the new tables are empty: nothing to continue")
  T.contains(out, "cleanup: no unused column to drop")
  -- the first sync pass, right after the copy, finds nothing changed
  T.contains(out, "dispatch_orders    → orders    read 0, written 0, quarantined 0, skipped 0, 0 batches")
  T.eq(counts(new), { offices = 20, products = 40, profiles = 398, doctors = 49, patients = 997, orders = 2490, comments = 3916 })

  -- the new schema: uuid keys (version 5, deterministic), foreign keys, timestamptz
  for _, t in ipairs(TARGETS) do
    T.eq(new:value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'id'", t), "uuid", t)
    T.eq(new:value("SELECT count(*) FROM " .. t .. " WHERE substr(id::text, 15, 1) <> '5'"), 0, t .. " ids are UUIDv5")
    T.eq(new:value("SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = $1::regclass AND attname = 'created_at'", t),
      "timestamp with time zone", t)
  end
  T.eq(new:value "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace AND convalidated", 11)
  T.eq(new:value("SELECT new_id::text FROM weir.id_map WHERE namespace = 'order' AND legacy_id = '1'"), ids.lookup("order", 1))
  T.eq(new:value("SELECT count(*) FROM orders WHERE id = $1::uuid", ids.lookup("order", 1)), 1)

  -- foreign keys translated: every relation of every migrated order and comment, read back
  -- through weir.id_map, is the legacy one
  T.eq(new:value(NEW_ORDER_RELATIONS), legacy:value(LEGACY_ORDER_RELATIONS, db.array(BAD_ORDERS)))
  T.eq(new:value(NEW_COMMENT_RELATIONS, db.array { "0" }), legacy:value(LEGACY_COMMENT_RELATIONS, db.array { 0 }))
  -- comments keep their threads: 641 replies, each on its parent's order; no orphans
  T.eq(new:value "SELECT count(*) FROM comments WHERE parent_id IS NOT NULL", 641)
  T.eq(new:value "SELECT count(*) FROM comments c JOIN comments p ON p.id = c.parent_id WHERE p.order_id <> c.order_id", 0)
  T.eq(new:value "SELECT count(*) FROM comments c WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = c.order_id)", 0)
  T.eq(new:value "SELECT count(*) FROM comments WHERE body LIKE '[auto]%'", 0, "system comments are skipped")

  -- the mess, cleaned
  local function one(sql, ...) return new:one(sql, ...) end
  T.eq(new:value "SELECT count(*) FROM offices WHERE code !~ '^OF[0-9]{3}$'", 0)
  T.eq(new:value "SELECT count(*) FROM products WHERE sku !~ '^SKU-[0-9]{4}$'", 0)
  T.eq(new:value "SELECT count(*) FROM products WHERE active", 30)
  T.eq(one("SELECT code, phone FROM offices WHERE id = $1::uuid", ids.lookup("office", 1)), { code = "OF001", phone = "+12024976217" })
  T.eq(new:value "SELECT array_agg(DISTINCT role ORDER BY role) FROM profiles", { "admin", "doctor", "staff" })
  T.eq(new:value "SELECT count(*) FROM profiles WHERE role = 'doctor'", 50)
  T.eq(new:value "SELECT count(*) FROM profiles WHERE office_id IS NULL", 14)
  T.eq(new:value("SELECT active FROM doctors WHERE id = $1::uuid", ids.lookup("doctor", 5)), false)
  T.eq(new:value("SELECT date_of_birth::text FROM patients WHERE id = $1::uuid", ids.lookup("patient", 3)), "1995-06-12")
  local doctor27_office = legacy:value "SELECT office_id FROM dispatch_doctors WHERE id = 27"
  T.eq(new:value("SELECT office_id::text FROM patients WHERE id = $1::uuid", ids.lookup("patient", 40)),
    ids.lookup("office", doctor27_office), "a patient without an office gets its doctor's")
  local patient914_office = legacy:value "SELECT office_id FROM dispatch_patients WHERE id = 914"
  T.eq(new:value("SELECT office_id::text FROM orders WHERE id = $1::uuid", ids.lookup("order", 30)),
    ids.lookup("office", patient914_office), "an order without an office gets its patient's")
  T.eq(one([[SELECT status::text, amount::text, meta::text, (created_at AT TIME ZONE 'UTC')::text AS created_utc
               FROM orders WHERE id = $1::uuid]], ids.lookup("order", 2)),
    { status = "pending", amount = "463.67", meta = '{"items": [2, 2], "channel": "portal"}', created_utc = "2018-01-01 14:02:00" })
  T.eq(one("SELECT status::text, meta::text FROM orders WHERE id = $1::uuid", ids.lookup("order", 3)),
    { status = "in_progress", meta = "{}" })
  T.eq(new:value [[SELECT string_agg(status::text || '=' || n, ',' ORDER BY status) FROM
                    (SELECT status, count(*) AS n FROM orders GROUP BY 1) s]],
    "pending=743,in_progress=499,completed=748,cancelled=500")
  T.eq(new:value("SELECT body FROM comments WHERE id = $1::uuid", ids.lookup("comment", 4)),
    "Called the patient about order 1159, will follow up.")

  -- the quarantine: exactly the 15 planted rows, each with a readable error and its row
  local qr = quarantine(new)
  T.eq(keys(qr), keys(EXPECTED_QUARANTINE))
  for k, want in pairs(EXPECTED_QUARANTINE) do T.contains(qr[k], want, k) end
  T.eq(new:value "SELECT count(*) FROM weir.quarantine WHERE row IS NULL OR source_key IS NULL", 0)

  -- the report and its success rate
  T.contains(out, "legacy-dispatch migration report")
  T.contains(out, "  dispatch_orders        2495      2490        0            5    99.80%")
  T.contains(out, "  total                  8005      7910       80           15    99.81%")
  T.contains(out, "quarantined (15 rows; fix them in the legacy database and re-sync, see README):")
  T.contains(out, "  dispatch_doctors id 25: transform raised: doctor 25 has no license number")
  local r = new:value("SELECT value FROM weir.checkpoints WHERE key = $1", ID .. "/report/report")
  T.eq({ r.legacy, r.migrated, r.skipped, r.quarantined, r.resolved }, { 8005, 7910, 80, 15, 0 })
  T.ok(math.abs(r.rate - 7910 / 7925) < 1e-9, "rate " .. tostring(r.rate))
  T.eq(r.tables.dispatch_comments.quarantined, 4)

  -- weir status: every phase done, and the copies with their success rate
  local rc2, st, err2 = run_weir("status", test_url, legacy_url)
  T.eq(rc2, 0, err2)
  T.contains(st, "applied  " .. ID)
  T.contains(st, "done         report")
  T.contains(st, "copy     dispatch_orders: 2495 read, 2490 written, 5 quarantined (99.80% success)")
end)

T.case("a second up has nothing to do", function()
  local before = counts(new)
  local rc, out, err = run_weir("up", test_url, legacy_url)
  T.eq(rc, 0, err)
  T.not_contains(out, "read ")
  T.eq(counts(new), before)
end)

T.case("the incremental phase picks up rows changed in the legacy database after the first copy", function()
  T.eq(legacy:value "SELECT count(*) FROM dispatch_comments WHERE parent_id IN (12, 14)", 0, "no replies to 12 and 14")
  local body12 = new:value("SELECT body FROM comments WHERE id = $1::uuid", ids.lookup("comment", 12))
  local untouched = new:value("SELECT updated_at::text FROM orders WHERE id = $1::uuid", ids.lookup("order", 13))
  legacy:exec [[
    UPDATE dispatch_orders SET status = 'done' WHERE id IN (10, 11, 12);
    UPDATE dispatch_orders SET amount = 12.50 WHERE id = 600;          -- a quarantined row, fixed
    UPDATE dispatch_patients SET last_name = 'Renamed' WHERE id = 5;
    UPDATE dispatch_comments SET body = 'edited' WHERE id = 1;
    INSERT INTO dispatch_patients (id, office_id, doctor_id, first_name, last_name, dob)
      VALUES (1001, NULL, 4, 'New', 'Patient', '04/05/1990');
    INSERT INTO dispatch_orders (id, patient_id, doctor_id, office_id, status, amount, meta)
      VALUES (2501, 1001, 4, NULL, 'In-Progress', 99.99, '{"channel": "app"}');
    INSERT INTO dispatch_comments (id, order_id, author_id, body) VALUES (4001, 2501, 1, 'first on the new order');
    INSERT INTO dispatch_comments (id, order_id, author_id, parent_id, body) VALUES (4002, 2501, 2, 4001, 'a reply');
    INSERT INTO dispatch_comments (id, order_id, author_id, body) VALUES (4003, 2501, NULL, '[auto] created');
    DELETE FROM dispatch_comments WHERE id = 2;                         -- soft-deleted here by the sync
    UPDATE dispatch_comments SET body = '  ' WHERE id = 12;             -- turns bad: the transform raises
    UPDATE dispatch_comments SET parent_id = 14 WHERE id = 14;          -- turns bad: CHECK (parent_id <> id)
  ]]
  -- rolling back sync (and report) undoes nothing …
  local before = counts(new)
  local rc, _, err = run_weir("down " .. ID .. ":sync", test_url, legacy_url)
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":report rolled back")
  T.contains(err, ID .. ":sync rolled back")
  T.eq(phase_state(new, "comments"), "done")
  T.eq(counts(new), before)
  -- … and up runs one more pass
  local rc2, out, err2 = run_weir("up", test_url, legacy_url)
  T.eq(rc2, 0, err2)
  T.contains(out, "dispatch_offices   → offices   read 0, written 0")
  T.contains(out, "dispatch_patients  → patients  read 2, written 2, quarantined 0, skipped 0, 1 batches")
  T.contains(out, "dispatch_orders    → orders    read 5, written 5, quarantined 0, skipped 0, 1 batches")
  T.contains(out, "dispatch_comments  → comments  read 6, written 3, quarantined 2, skipped 1, 1 batches")
  T.contains(out, "dispatch_comments  → comments  1 rows deleted in the legacy database: soft-deleted here (deleted_at)")
  T.eq(counts(new), { offices = 20, products = 40, profiles = 398, doctors = 49, patients = 998, orders = 2492, comments = 3918 })
  T.eq(new:value("SELECT array_agg(status::text ORDER BY status) FROM orders WHERE id = ANY ($1::uuid[])",
    db.array { ids.lookup("order", 10), ids.lookup("order", 11), ids.lookup("order", 12) }),
    { "completed", "completed", "completed" })
  T.eq(new:value("SELECT amount::text FROM orders WHERE id = $1::uuid", ids.lookup("order", 600)), "12.50")
  T.eq(new:value("SELECT last_name FROM patients WHERE id = $1::uuid", ids.lookup("patient", 5)), "Renamed")
  T.eq(new:value("SELECT body FROM comments WHERE id = $1::uuid", ids.lookup("comment", 1)), "edited")
  T.eq(new:value("SELECT updated_at::text FROM orders WHERE id = $1::uuid", ids.lookup("order", 13)), untouched)
  -- the new rows, with their relations: the new patient's office is its doctor's, the new
  -- order's office the patient's, the reply's parent the first comment
  local doctor4_office = legacy:value "SELECT office_id FROM dispatch_doctors WHERE id = 4"
  T.eq(new:one("SELECT office_id::text, date_of_birth::text FROM patients WHERE id = $1::uuid", ids.lookup("patient", 1001)),
    { office_id = ids.lookup("office", doctor4_office), date_of_birth = "1990-04-05" })
  T.eq(new:one("SELECT patient_id::text, office_id::text, status::text FROM orders WHERE id = $1::uuid", ids.lookup("order", 2501)),
    { patient_id = ids.lookup("patient", 1001), office_id = ids.lookup("office", doctor4_office), status = "in_progress" })
  T.eq(new:one("SELECT order_id::text, parent_id::text FROM comments WHERE id = $1::uuid", ids.lookup("comment", 4002)),
    { order_id = ids.lookup("order", 2501), parent_id = ids.lookup("comment", 4001) })
  T.eq(new:value(NEW_ORDER_RELATIONS), legacy:value(LEGACY_ORDER_RELATIONS, db.array { 777, 1313, 1777, 1850 }))
  -- (comment 2, deleted in the legacy database, stays in the new one, soft-deleted; 12 and 14
  -- keep their older versions, below)
  T.eq(new:value(NEW_COMMENT_RELATIONS, db.array { "2", "12", "14" }), legacy:value(LEGACY_COMMENT_RELATIONS, db.array { 12, 14 }))
  -- the report: order 600 arrived; 14 rows still quarantined
  T.contains(out, "  dispatch_orders        2496      2492        0            4    99.84%")
  T.contains(out, "  total                  8009      7912       81           16    99.80%")
  T.contains(out, "1 rows quarantined earlier have arrived since")
  -- rows that turned bad after they were migrated: quarantined, the older version stays
  T.contains(out, "  dispatch_comments id 12 (an older version was migrated): transform raised: comment 12 is empty")
  T.contains(out, "  dispatch_comments id 14 (an older version was migrated): 23514 new row for relation \"comments\" violates check constraint \"comments_check\"")
  T.eq(new:value("SELECT body FROM comments WHERE id = $1::uuid", ids.lookup("comment", 12)), body12)
  -- the deleted comment: soft-deleted, and hidden from the application (even from an admin)
  T.contains(out, "deleted in the legacy database, soft-deleted here: comments 1")
  T.not_contains(out, "match no legacy row")
  T.eq(new:value("SELECT deleted_at IS NOT NULL FROM comments WHERE id = $1::uuid", ids.lookup("comment", 2)), true)
  local admin = new:value "SELECT id::text FROM profiles WHERE role = 'admin' ORDER BY email LIMIT 1"
  local seen
  pcall(new.tx, new, function()
    new:exec "SET LOCAL ROLE authenticated"
    new:exec("SELECT set_config('request.jwt.claims', $1, true)", json.encode { sub = admin })
    seen = new:value("SELECT count(*) || '/' || count(*) FILTER (WHERE id = $1::uuid) FROM comments", ids.lookup("comment", 2))
    error("rolled back")
  end)
  T.eq(seen, (new:value "SELECT count(*) FROM comments WHERE deleted_at IS NULL") .. "/0")
  T.not_contains(out, "dispatch_orders id 600:")

  -- with nothing changed, another pass reads nothing
  T.eq((run_weir("down " .. ID .. ":sync", test_url, legacy_url)), 0)
  local rc3, out3, err3 = run_weir("up", test_url, legacy_url)
  T.eq(rc3, 0, err3)
  for _, line in ipairs { "dispatch_patients  → patients  read 0", "dispatch_orders    → orders    read 0",
    "dispatch_comments  → comments  read 0" } do
    T.contains(out3, line)
  end
end)

T.case("down returns the new database to where it started, and up then copies everything again", function()
  local rc, _, err = run_weir("down " .. ID, test_url, legacy_url)
  T.eq(rc, 0, err)
  T.contains(err, ID .. ":offices rolled back")
  T.contains(err, ID .. ":schema rolled back")
  T.eq(new:value "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace", 0)
  T.eq(new:value "SELECT count(*) FROM pg_type WHERE typnamespace = 'public'::regnamespace", 0)
  T.eq(new:value "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace", 0)
  T.eq(new:value "SELECT to_regnamespace('auth')", db.NULL, "the auth.uid() stand-in and its schema are gone")
  for _, t in ipairs { "quarantine", "id_map", "copies", "checkpoints" } do
    T.eq(new:value("SELECT count(*) FROM weir." .. t), 0, "weir." .. t .. " is empty")
  end
  T.eq(new:value("SELECT count(*) FROM weir.phases WHERE migration = $1 AND state <> 'rolled_back'", ID), 0)

  local rc2, out, err2 = run_weir("up", test_url, legacy_url)
  T.eq(rc2, 0, err2)
  T.contains(out, "dispatch_orders    → orders    read 2496, written 2492, quarantined 4")
  T.eq(counts(new), { offices = 20, products = 40, profiles = 398, doctors = 49, patients = 998, orders = 2492, comments = 3915 })
  T.contains(out, "  total                  8009      7912       81           16    99.80%")
end)

-- ---------------------------------------------------------------------------------------------
-- Failures, each on a legacy and a new database of its own.

local function fresh_pair()
  local lurl, lconn = fresh_db("ldisp_legacy")
  local nurl, nconn = fresh_db("ldisp_new")
  local rc, _, err = generate(lurl)
  assert(rc == 0, err)
  return lurl, lconn, nurl, nconn
end

T.case("verify catches a lost row, a changed relation and a transform that drops rows silently", function()
  local cases = {
    { "lost_row", "up = function(db) run_copy(db, e) end,",
      [[up = function(db) run_copy(db, e)
          if e.phase == "orders" then db:exec("DELETE FROM orders WHERE id = $1::uuid", ids.lookup("order", 42)) end
        end,
      ]],
      "orders: up failed: verify failed: 1 legacy rows neither migrated, skipped nor quarantined: dispatch_orders id 42 (not in orders)" },
    { "lost_parent", "up = function(db) run_copy(db, e) end,",
      [[up = function(db) run_copy(db, e)
          if e.phase == "comments" then db:exec("UPDATE comments SET parent_id = NULL WHERE id = $1::uuid", ids.lookup("comment", 87)) end
        end,
      ]],
      "comments: up failed: verify failed: 1 rows differ from the legacy ones: dispatch_comments id 87: comments.parent_id is NULL, expected " },
    { "dropping_transform", "local status = text(r.status)",
      "if r.id == 42 then return nil end\n      local status = text(r.status)",
      "orders: up failed: verify failed: 1 legacy rows neither migrated, skipped nor quarantined: dispatch_orders id 42 (not in orders)" },
  }
  T.ok(legacy:value "SELECT parent_id IS NOT NULL FROM dispatch_comments WHERE id = 87", "comment 87 is a reply")
  for _, c in ipairs(cases) do
    local lurl, lconn, nurl, nconn = fresh_pair()
    local _l <close> = lconn
    local _n <close> = nconn
    local rc, _, err = run_weir("up", nurl, lurl, broken_migration(c[1], c[2], c[3]))
    T.eq(rc, 1, c[1])
    T.contains(err, ID .. ":" .. c[4], c[1])
    local failed = c[1] == "lost_parent" and "comments" or "orders"
    T.eq(phase_state(nconn, failed), "failed", c[1])
    T.eq(nconn:value("SELECT count(*) FROM weir.phases WHERE migration = $1 AND state = 'done'", ID),
      failed == "orders" and 9 or 10, c[1] .. ": the phases before it are done, none after")
  end
end)

T.case("the report catches a change no pass copied (a late commit with an older timestamp)", function()
  local lurl, lconn, nurl, nconn = fresh_pair()
  local _l <close> = lconn
  local _n <close> = nconn
  T.eq((run_weir("up", nurl, lurl)), 0)
  -- a legacy transaction that took its timestamp before the last pass began and committed after
  -- it: the change is older than the pass's mark, so no later pass reads it
  lconn:exec [[
    ALTER TABLE dispatch_orders DISABLE TRIGGER dispatch_orders_touch;
    UPDATE dispatch_orders SET status = 'cancelled', updated_at = COALESCE(updated_at, created_at) + interval '1 second'
     WHERE id = 14;
    ALTER TABLE dispatch_orders ENABLE TRIGGER dispatch_orders_touch;
  ]]
  T.eq((run_weir("down " .. ID .. ":sync", nurl, lurl)), 0)
  local rc, out, err = run_weir("up", nurl, lurl)
  T.eq(rc, 1, out)
  T.contains(out, "dispatch_orders    → orders    read 0, written 0")
  T.contains(err, ID .. ":report: up failed: verify failed: dispatch_orders: 1 rows differ from the legacy ones: " ..
    "dispatch_orders id 14: orders has an older version of it (a change no pass copied)")
end)

T.case("the report fails the migration below 99.5 % success, and a fix plus a re-sync passes it", function()
  local lurl, lconn, nurl, nconn = fresh_pair()
  local _l <close> = lconn
  local _n <close> = nconn
  -- 45 more orders with a status that means nothing: they, and their comments, are quarantined
  T.eq(lconn:exec "UPDATE dispatch_orders SET status = 'lost' WHERE id % 50 = 0", 45)
  -- (with batches of 500 from the environment, as an operator would set them)
  local rc, out, err = run_weir("up", nurl, lurl, nil, "DISPATCH_BATCH=500")
  T.eq(rc, 1, out)
  T.ok(out:match("dispatch_orders    → orders    read 2495, written %d+, quarantined %d+, skipped 0, 5 batches"), out)
  T.ok(out:match("dispatch_comments  → comments  read 4000, written %d+, quarantined %d+, skipped 80, 8 batches"), out)
  local rate = err:match(ID .. ":report: up failed: verify failed: success rate (%d+%.%d+)%% is below 99%.5%%")
  T.ok(rate and tonumber(rate) < 99.5, err)
  T.eq(phase_state(nconn, "sync"), "done")
  T.eq(phase_state(nconn, "report"), "failed")
  local qr = quarantine(nconn)
  T.contains(qr["dispatch_orders:50"], "unknown status \"lost\"")
  local orphaned = 0
  for k, e in pairs(qr) do
    if k:match("^dispatch_comments:") and e:find("comments_order_id_fkey", 1, true) then orphaned = orphaned + 1 end
  end
  T.ok(orphaned > 4, "comments on the quarantined orders are quarantined too: " .. orphaned)
  T.contains(out, "dispatch_orders id 50: transform raised: order 50: unknown status \"lost\"")

  -- fix the orders in the legacy database, touch their comments (a comment is re-read only
  -- when it changes), and re-sync
  lconn:exec [[
    UPDATE dispatch_orders SET status = 'pending' WHERE status = 'lost' AND id % 50 = 0;
    UPDATE dispatch_comments SET body = body WHERE order_id % 50 = 0;
  ]]
  T.eq((run_weir("down " .. ID .. ":sync", nurl, lurl)), 0)
  local rc2, out2, err2 = run_weir("up", nurl, lurl)
  T.eq(rc2, 0, err2)
  T.contains(out2, "  total                  8005      7910       80           15    99.81%")
  T.contains(out2, "rows quarantined earlier have arrived since")
  T.eq(phase_state(nconn, "report"), "done")
end)

T.case("the batch size and the deletion mode come from weir.lua's vars or the environment, within the seed's range", function()
  local where = "weir: " .. "migrations/" .. ID .. ".lua:"
  for _, c in ipairs {
    { "DISPATCH_BATCH=5000", "vars.batch (weir.lua, or $DISPATCH_BATCH) must be a whole number from 500 to 2000, " ..
      "the seed's batch sizes; got \"5000\"" },
    { "DISPATCH_BATCH=499", "must be a whole number from 500 to 2000, the seed's batch sizes; got \"499\"" },
    { "DISPATCH_BATCH=1e3x", "got \"1e3x\"" },
    { "DISPATCH_DELETIONS=hard", "vars.deletions (weir.lua, or $DISPATCH_DELETIONS) must be \"soft\" (set deleted_at) " ..
      "or \"delete\"; got \"hard\"" },
  } do
    local rc, _, err = run_weir("status", test_url, legacy_url, nil, c[1])
    T.eq(rc, 1, c[1])
    T.contains(err, where, c[1])
    T.contains(err, c[2], c[1])
    T.eq(select(2, err:gsub("\n", "")), 1, "one line: " .. err)
  end
  local rc, _, err = run_weir("status", test_url, legacy_url, nil, "DISPATCH_BATCH=2000 DISPATCH_DELETIONS=delete")
  T.eq(rc, 0, err)
end)

ex.drop_databases()
shell.cleanup()
T.done()
