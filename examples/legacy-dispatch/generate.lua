-- The LEGACY database of the legacy-dispatch example (seed 003): six dispatch_* tables with
-- integer serial ids, free-text fields and naive local timestamps, as an old dispatch
-- application left them.
--
--   weir run --db LEGACY_URL examples/legacy-dispatch/generate.lua [SCALE]
--
-- SCALE (default 1) multiplies every row count: at 1, 20 offices, 40 products, 400 profiles,
-- 50 doctors, 1,000 patients, 2,500 orders (5 of them deleted again) and 4,000 comments.
--
-- Deterministic: every value comes from generate_series and md5 of the row number, no random(),
-- so two databases generated at the same scale hold identical rows.
--
-- The mess the migration has to cope with (transformed, not rejected):
--   * timestamps are `timestamp without time zone`, in the office's local time (America/New_York);
--     updated_at is NULL on rows never edited since the column was added
--   * office codes and product SKUs in mixed case with stray spaces; phone numbers in five formats
--   * profile roles spelled 'Admin', ' staff', 'DOCTOR', 'dr' …
--   * NULL office ids on profiles (unassigned staff), patients (take the primary doctor's office)
--     and orders (take the patient's office, else the patient's doctor's office)
--   * doctors' and products' active flag as 'Y' / 'y' / '1' / 'N'
--   * patients' dates of birth as text, 'YYYY-MM-DD' or 'MM/DD/YYYY'
--   * order statuses in ten spellings ('PENDING ', 'In-Progress', 'canceled' …)
--   * order meta as JSON in a text column, or NULL
--   * system comments ('[auto] …', no author), which the new schema does not keep (skipped)
--   * replies: comments whose parent_id is an earlier comment on the same order
--
-- And the bad rows (at SCALE 1, 15 of 8,005; they end up in weir.quarantine):
--   profiles 200, 400        email duplicates profile 199/399 up to case and spaces (unique index)
--   doctors 25               empty license number (the transform raises)
--   patients 123, 523, 923   date of birth 'YYYY-02-30' (the new date column rejects it)
--   orders 777, 1777         status 'lost', which means nothing (the transform raises)
--   orders 600, 1850         negative amount (CHECK amount >= 0)
--   order 1313               meta is truncated JSON (the transform raises)
--   comments 999 … 3999      (every 1000th, minus one) point to orders 250, 750, 1250, 1750 that
--                            the legacy application hard-deleted (no FK in the legacy schema)
-- No good row references a bad one, so nothing else is lost with them.
--
-- The legacy application bumps updated_at on every UPDATE (a trigger here), which is what the
-- migration's incremental phase relies on to find rows changed after the first copy.
--
-- Like a real legacy database, it has no foreign keys. The generator refuses to run when any
-- dispatch_* table already exists.

local scale = math.tointeger(tonumber(arg[1] or "1"))
if not scale or scale < 1 then
  error("generate.lua: SCALE must be a positive integer, got " .. tostring(arg[1]), 0)
end

local TABLES = { "dispatch_offices", "dispatch_products", "dispatch_profiles", "dispatch_doctors",
  "dispatch_patients", "dispatch_orders", "dispatch_comments" }

local found = {}
for _, t in ipairs(TABLES) do
  if db:value("SELECT to_regclass($1) IS NOT NULL", t) then found[#found + 1] = t end
end
if #found > 0 then
  error(("generate.lua: refusing to run: %s already exist%s. Generate into an empty database."):format(
    table.concat(found, ", "), #found == 1 and "s" or ""), 0)
end

local N = {
  offices = 20 * scale, products = 40 * scale, profiles = 400 * scale, doctors = 50 * scale, patients = 1000 * scale,
  orders = 2500 * scale, comments = 4000 * scale,
}

-- A deterministic pseudo-random integer in [0, 2^28) for row `expr` of stream `tag`.
local function h(tag, expr)
  return ("(('x' || substr(md5('%s:' || (%s)::text), 1, 7))::bit(28)::int)"):format(tag, expr)
end

-- SQL that names the bad rows of each table (so the generator can report them and so the
-- choice of parents below can step around them).
local BAD_PROFILE = "(%s %% 200 = 0)"
local BAD_DOCTOR = "(%s %% 50 = 25)"
local BAD_PATIENT = "(%s %% 400 = 123)"
local BAD_ORDER = "(%s %% 1000 = 777 OR %s %% 1250 = 600 OR %s %% 2500 = 1313)"
local DELETED_ORDER = "(%s %% 500 = 250)"

-- A good parent id near `expr` (1-based, at most n): the bad ids are isolated, so the next id is good.
local function good(expr, bad)
  local x = "(" .. expr .. ")"
  local test = bad:format(x, x, x)
  return ("CASE WHEN %s THEN %s - 1 ELSE %s END"):format(test, x, x)
end

local function sql(s) return (s:gsub("{(%w+)}", function(k) return tostring(N[k]) end)) end

db:tx(function()
  db:exec [[
    CREATE TABLE dispatch_offices (
      id          serial PRIMARY KEY,
      code        varchar(16),
      name        text,
      city        text,
      phone       text,
      created_at  timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'America/New_York'),
      updated_at  timestamp
    );
    CREATE TABLE dispatch_products (
      id          serial PRIMARY KEY,
      sku         varchar(32),
      name        text,
      price       numeric(10,2),
      active      char(1),
      created_at  timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'America/New_York'),
      updated_at  timestamp
    );
    CREATE TABLE dispatch_profiles (
      id          serial PRIMARY KEY,
      office_id   integer,
      email       text,
      first_name  text,
      last_name   text,
      role        text,
      phone       text,
      created_at  timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'America/New_York'),
      updated_at  timestamp
    );
    CREATE TABLE dispatch_doctors (
      id          serial PRIMARY KEY,
      profile_id  integer NOT NULL,
      office_id   integer,
      license_no  text,
      specialty   text,
      active      char(1),
      created_at  timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'America/New_York'),
      updated_at  timestamp
    );
    CREATE TABLE dispatch_patients (
      id          serial PRIMARY KEY,
      office_id   integer,
      doctor_id   integer,
      first_name  text,
      last_name   text,
      dob         text,
      email       text,
      phone       text,
      created_at  timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'America/New_York'),
      updated_at  timestamp
    );
    CREATE TABLE dispatch_orders (
      id          serial PRIMARY KEY,
      patient_id  integer NOT NULL,
      doctor_id   integer,
      office_id   integer,
      status      text,
      amount      numeric(10,2),
      meta        text,
      ordered_at  timestamp,
      created_at  timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'America/New_York'),
      updated_at  timestamp
    );
    CREATE TABLE dispatch_comments (
      id          serial PRIMARY KEY,
      order_id    integer NOT NULL,
      author_id   integer,
      parent_id   integer,
      body        text,
      created_at  timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'America/New_York'),
      updated_at  timestamp
    );
  ]]

  -- A phone number in one of five formats, from a 10-digit number.
  local function phone(tag, g)
    local n = "(2000000000 + " .. h(tag, g) .. " % 7000000000)"
    return ([[CASE %s %% 5
      WHEN 0 THEN '(' || substr(%s::text, 1, 3) || ') ' || substr(%s::text, 4, 3) || '-' || substr(%s::text, 7)
      WHEN 1 THEN substr(%s::text, 1, 3) || '-' || substr(%s::text, 4, 3) || '-' || substr(%s::text, 7)
      WHEN 2 THEN '+1 ' || %s::text
      WHEN 3 THEN %s::text
      ELSE '1.' || substr(%s::text, 1, 3) || '.' || substr(%s::text, 4, 3) || '.' || substr(%s::text, 7) END]]):format(
      g, n, n, n, n, n, n, n, n, n, n, n)
  end

  -- Offices. Created 2016, edited now and then.
  db:exec(sql([[
    INSERT INTO dispatch_offices (id, code, name, city, phone, created_at, updated_at)
    SELECT g,
           CASE g % 4 WHEN 0 THEN lower('OF' || lpad(g::text, 3, '0'))
                      WHEN 1 THEN ' OF' || lpad(g::text, 3, '0') || ' '
                      ELSE 'OF' || lpad(g::text, 3, '0') END,
           (ARRAY['Northside', 'Riverside', 'Downtown', 'Lakeview', 'Hillcrest'])[1 + g % 5] || ' Dispatch ' || g,
           (ARRAY['Boston', 'Hartford', 'Albany', 'Newark', 'Trenton', 'Providence'])[1 + g % 6],
           ]] .. phone("office-phone", "g") .. [[,
           timestamp '2016-01-04 09:00:00' + g * interval '3 days',
           CASE WHEN g % 3 = 0 THEN NULL
                ELSE timestamp '2019-06-01 12:00:00' + ]] .. h("office-upd", "g") .. [[ % 100000 * interval '1 minute' END
      FROM generate_series(1, {offices}) g]]))

  -- Products: the catalog every office orders from.
  db:exec(sql([[
    INSERT INTO dispatch_products (id, sku, name, price, active, created_at, updated_at)
    SELECT g,
           CASE g % 3 WHEN 0 THEN lower('SKU-' || lpad(g::text, 4, '0'))
                      WHEN 1 THEN ' SKU-' || lpad(g::text, 4, '0')
                      ELSE 'SKU-' || lpad(g::text, 4, '0') END,
           (ARRAY['Wheelchair transport', 'Ambulance call', 'Lab pickup', 'Courier', 'Home visit'])[1 + g % 5] || ' ' || g,
           round((]] .. h("product-price", "g") .. [[ % 50000) / 100.0, 2),
           (ARRAY['Y', 'y', '1', 'N'])[1 + g % 4],
           timestamp '2016-01-10 09:00:00' + g * interval '1 day',
           CASE WHEN g % 2 = 0 THEN NULL
                ELSE timestamp '2020-03-01 12:00:00' + ]] .. h("product-upd", "g") .. [[ % 100000 * interval '1 minute' END
      FROM generate_series(1, {products}) g]]))

  -- Profiles: staff, admins and the doctors' own profiles (every 8th, from 5).
  db:exec(sql([[
    INSERT INTO dispatch_profiles (id, office_id, email, first_name, last_name, role, phone, created_at, updated_at)
    SELECT g,
           CASE WHEN g % 25 = 0 THEN NULL ELSE 1 + ]] .. h("profile-office", "g") .. [[ % {offices} END,
           CASE WHEN ]] .. BAD_PROFILE:format("g") .. [[ THEN ' USER' || (g - 1) || '@DISPATCH.EXAMPLE'
                ELSE 'user' || g || '@dispatch.example' END,
           (ARRAY['Ann', 'Bob', 'Carla', 'Dmitri', 'Eve', 'Farid', 'Grace', 'Hugo', 'Ines'])[1 + g % 9],
           (ARRAY['Adams', 'Baker', 'Chen', 'Diaz', 'Evans', 'Fischer', 'Garcia'])[1 + g % 7] || ' ' || g,
           CASE WHEN (g + 3) % 8 = 0 THEN (ARRAY['doctor', 'Doctor', 'DOCTOR', 'dr'])[1 + (g / 8) % 4]
                WHEN g % 10 = 1 THEN (ARRAY['Admin', 'admin '])[1 + (g / 10) % 2]
                ELSE (ARRAY['staff', 'Staff', ' STAFF', 'staff'])[1 + g % 4] END,
           CASE WHEN g % 6 = 0 THEN NULL ELSE ]] .. phone("profile-phone", "g") .. [[ END,
           timestamp '2016-02-01 08:00:00' + g * interval '7 hours',
           CASE WHEN g % 4 = 0 THEN NULL
                ELSE timestamp '2018-01-01 08:00:00' + ]] .. h("profile-upd", "g") .. [[ % 1000000 * interval '1 minute' END
      FROM generate_series(1, {profiles}) g]]))

  -- Doctors: doctor g is profile 8g-3.
  db:exec(sql([[
    INSERT INTO dispatch_doctors (id, profile_id, office_id, license_no, specialty, active, created_at, updated_at)
    SELECT g, 8 * g - 3,
           1 + ]] .. h("doctor-office", "g") .. [[ % {offices},
           CASE WHEN ]] .. BAD_DOCTOR:format("g") .. [[ THEN '' ELSE 'LIC-' || lpad((10000 + g)::text, 6, '0') END,
           CASE WHEN g % 6 = 0 THEN NULL
                ELSE (ARRAY['general', 'cardiology', 'dermatology', 'pediatrics', 'orthopedics'])[1 + g % 5] END,
           (ARRAY['N', 'y', '1', 'Y', 'Y'])[1 + g % 5],
           timestamp '2016-03-01 08:00:00' + g * interval '2 days',
           CASE WHEN g % 2 = 0 THEN NULL ELSE timestamp '2020-01-01 08:00:00' + g * interval '5 days' END
      FROM generate_series(1, {doctors}) g]]))

  -- Patients. Every 40th has no office of its own (its primary doctor's office applies), and
  -- every 7th (but not those) has no primary doctor.
  db:exec(sql([[
    INSERT INTO dispatch_patients (id, office_id, doctor_id, first_name, last_name, dob, email, phone, created_at, updated_at)
    SELECT g,
           CASE WHEN g % 40 = 0 THEN NULL ELSE 1 + ]] .. h("patient-office", "g") .. [[ % {offices} END,
           CASE WHEN g % 7 = 0 AND g % 40 <> 0 THEN NULL
                ELSE ]] .. good("1 + " .. h("patient-doctor", "g") .. " % {doctors}", BAD_DOCTOR) .. [[ END,
           (ARRAY['Liam', 'Olivia', 'Noah', 'Emma', 'Ava', 'Mateo', 'Sofia', 'Yuki', 'Amara', 'Jonas'])[1 + g % 10],
           (ARRAY['Smith', 'Jones', 'Brown', 'Miller', 'Wilson', 'Moore', 'Taylor', 'Lee'])[1 + g % 8] || '-' || g,
           CASE WHEN ]] .. BAD_PATIENT:format("g") .. [[ THEN (1950 + g % 50)::text || '-02-30'
                WHEN g % 3 = 0 THEN to_char(date '1940-01-01' + ]] .. h("patient-dob", "g") .. [[ % 25000, 'MM/DD/YYYY')
                ELSE to_char(date '1940-01-01' + ]] .. h("patient-dob", "g") .. [[ % 25000, 'YYYY-MM-DD') END,
           CASE WHEN g % 5 = 0 THEN NULL ELSE 'patient' || g || '@mail.example' END,
           CASE WHEN g % 9 = 0 THEN NULL ELSE ]] .. phone("patient-phone", "g") .. [[ END,
           timestamp '2017-01-01 08:00:00' + g * interval '150 minutes',
           CASE WHEN g % 3 = 1 THEN NULL
                ELSE timestamp '2021-01-01 08:00:00' + ]] .. h("patient-upd", "g") .. [[ % 1000000 * interval '1 minute' END
      FROM generate_series(1, {patients}) g]]))

  -- Orders.
  db:exec(sql([[
    INSERT INTO dispatch_orders (id, patient_id, doctor_id, office_id, status, amount, meta, ordered_at, created_at, updated_at)
    SELECT g,
           ]] .. good("1 + " .. h("order-patient", "g") .. " % {patients}", BAD_PATIENT) .. [[,
           CASE WHEN g % 9 = 0 THEN NULL
                ELSE ]] .. good("1 + " .. h("order-doctor", "g") .. " % {doctors}", BAD_DOCTOR) .. [[ END,
           CASE WHEN g % 30 = 0 THEN NULL ELSE 1 + ]] .. h("order-office", "g") .. [[ % {offices} END,
           CASE WHEN g % 1000 = 777 THEN 'lost'
                ELSE (ARRAY['pending', 'Pending', 'PENDING ', 'in progress', 'In-Progress', 'done',
                            'completed', 'Completed', 'cancelled', 'canceled'])[1 + g % 10] END,
           CASE WHEN g % 1250 = 600 THEN -12.50
                ELSE round((]] .. h("order-amount", "g") .. [[ % 100000) / 100.0, 2) END,
           CASE WHEN g % 2500 = 1313 THEN '{"rush": tru'
                WHEN g % 3 = 0 THEN NULL
                WHEN g % 3 = 1 THEN '{"rush": ' || (g % 2 = 0)::text || ', "channel": "fax"}'
                ELSE '{"channel": "portal", "items": [' || (g % 7) || ', ' || (g % 11) || ']}' END,
           timestamp '2018-01-01 07:00:00' + g * interval '61 minutes',
           timestamp '2018-01-01 07:00:00' + g * interval '61 minutes',
           CASE WHEN g % 4 = 0 THEN NULL
                ELSE timestamp '2022-01-01 07:00:00' + ]] .. h("order-upd", "g") .. [[ % 1000000 * interval '1 minute' END
      FROM generate_series(1, {orders}) g]]))

  -- Comments: on good orders, except every 1000th-minus-one, which points to an order the
  -- legacy application deleted (below); every 50th (from 7) is a system comment without author.
  db:exec(sql([[
    INSERT INTO dispatch_comments (id, order_id, author_id, body, created_at, updated_at)
    SELECT g, o.id,
           CASE WHEN g % 50 = 7 THEN NULL
                ELSE ]] .. good("1 + " .. h("comment-author", "g") .. " % {profiles}", BAD_PROFILE) .. [[ END,
           CASE WHEN g % 50 = 7 THEN '[auto] status changed'
                WHEN g % 4 = 0 THEN '  Called the patient about order ' || o.id || ', will follow up.  '
                ELSE 'Note ' || g || ' on order ' || o.id END,
           timestamp '2018-01-02 07:00:00' + o.id * interval '61 minutes' + g * interval '1 second',
           CASE WHEN g % 5 = 0 THEN timestamp '2023-01-01 07:00:00' + g * interval '1 minute' END
      FROM generate_series(1, {comments}) g
     CROSS JOIN LATERAL (SELECT ]] .. good("1 + " .. h("comment-order", "g") .. " % {orders}", BAD_ORDER) .. [[ AS id) a
     CROSS JOIN LATERAL (
       SELECT CASE WHEN g % 1000 = 999 THEN 250 + 500 * ((g / 1000) % 5)
                   ELSE ]] .. good("a.id", DELETED_ORDER) .. [[ END AS id) o]]))

  -- Every third comment by a person replies to the one before it on the same order.
  db:exec [[
    UPDATE dispatch_comments c SET parent_id = p.prev
      FROM (SELECT id, lag(id) OVER (PARTITION BY order_id ORDER BY id) AS prev
              FROM dispatch_comments WHERE author_id IS NOT NULL AND id % 1000 <> 999) p
     WHERE c.id = p.id AND c.id % 3 = 0 AND p.prev IS NOT NULL
  ]]

  -- The orders the legacy application hard-deleted, leaving their comments behind.
  db:exec("DELETE FROM dispatch_orders WHERE " .. DELETED_ORDER:format("id"))

  for _, t in ipairs(TABLES) do
    db:exec(("SELECT setval(pg_get_serial_sequence('%s', 'id'), (SELECT max(id) FROM %s))"):format(t, t))
  end

  -- The legacy application stamps every change.
  db:exec [[
    CREATE FUNCTION dispatch_touch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.updated_at := now() AT TIME ZONE 'America/New_York';
      RETURN NEW;
    END $$;
  ]]
  for _, t in ipairs(TABLES) do
    db:exec(("CREATE TRIGGER %s_touch BEFORE UPDATE ON %s FOR EACH ROW EXECUTE FUNCTION dispatch_touch()"):format(t, t))
  end
end)

local counts = {}
for _, t in ipairs(TABLES) do
  counts[#counts + 1] = ("%s %d"):format(t, db:value("SELECT count(*) FROM " .. t))
end
local bad = db:value(([[
  SELECT (SELECT count(*) FROM dispatch_profiles WHERE %s)
       + (SELECT count(*) FROM dispatch_doctors WHERE %s)
       + (SELECT count(*) FROM dispatch_patients WHERE %s)
       + (SELECT count(*) FROM dispatch_orders WHERE %s)
       + (SELECT count(*) FROM dispatch_comments c WHERE NOT EXISTS (SELECT 1 FROM dispatch_orders o WHERE o.id = c.order_id))
]]):format(BAD_PROFILE:format("id"), BAD_DOCTOR:format("id"), BAD_PATIENT:format("id"),
  BAD_ORDER:format("id", "id", "id")))
local system = db:value "SELECT count(*) FROM dispatch_comments WHERE author_id IS NULL"
local total = db:value [[
  SELECT (SELECT count(*) FROM dispatch_offices) + (SELECT count(*) FROM dispatch_products)
       + (SELECT count(*) FROM dispatch_profiles)
       + (SELECT count(*) FROM dispatch_doctors) + (SELECT count(*) FROM dispatch_patients)
       + (SELECT count(*) FROM dispatch_orders) + (SELECT count(*) FROM dispatch_comments)]]
print(("legacy dispatch generated (scale %d): %s"):format(scale, table.concat(counts, ", ")))
print(("%d rows, %d of them bad on purpose, %d system comments"):format(total, bad, system))
