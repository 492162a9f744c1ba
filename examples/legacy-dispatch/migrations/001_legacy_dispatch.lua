-- Seed 003: the legacy dispatch database (integer ids, free text, naive local timestamps, no
-- foreign keys) into the new UUID-keyed schema, with zero data loss accounted for row by row —
-- on an empty new database, or continuing what the team's earlier tooling already moved there.
--
-- Runs on the NEW database; the legacy one is the named connection `legacy` (weir.lua reads it
-- from $LEGACY_URL) and is only ever read.
--
--   schema     the new schema: uuid keys, foreign keys, CHECKs, NOT NULLs, timestamptz; a table
--              that already exists (the earlier tooling made it) is adopted when its columns
--              have the shape this migration writes, and refused, naming the differences, when not
--   rls        row-level security as the Supabase application needs it: staff and doctors see
--              their office's rows, admins the whole organization's; auth.uid() is Supabase's,
--              or a stand-in reading the JWT claims setting where there is no Supabase
--   adopt      continues the earlier tooling's migration: its migration_mappings (legacy id →
--              uuid) into weir.id_map with ids.import, and its sync marks (migration_control);
--              nothing on an empty database
--   cleanup    drops the profiles and products columns nothing uses any more, keeping their
--              values in a backup table so that down puts them back
--   offices    ┐
--   products   │ one phase per entity, in dependency order: copy.table from the legacy table
--   profiles   │ through a Lua transform (ids.map for the row's own id, ids.lookup for every
--   doctors    │ foreign key — the earlier tooling's uuids where it has them, read per batch —,
--   patients   │ clean-up of the legacy mess), in keyset batches that commit with their
--   orders     │ checkpoint; rows the transform or the new schema rejects go to weir.quarantine;
--   comments   ┘ rows the earlier tooling moved and nobody changed since are left as they are.
--              verify accounts for every legacy row (below).
--   sync       incremental pass: the same copies again, in the same order, picking up only the
--              rows whose changed_at moved since the last pass (copy.table `since`); then the
--              rows deleted in the legacy database, soft-deleted (deleted_at) or deleted here
--              as weir.lua's vars.deletions says
--   report     per-table counts, the quarantined rows with their errors, deletions, the
--              success rate; verify fails below 99.5 % (the seed's target)
--
-- Vars (weir.lua's `vars`, read with weir.var; the environment overrides them there):
--   batch      rows per copy batch, 500 to 2000 (the seed's range); $DISPATCH_BATCH
--   deletions  "soft" or "delete"; $DISPATCH_DELETIONS
--
-- Re-syncing later (the legacy application keeps running until cutover):
--   weir down 001_legacy_dispatch:sync && weir up
-- rolls back report and sync (which undo nothing: the synced rows belong to the entity phases)
-- and runs them again: one more incremental pass, then a fresh report.
--
-- How every legacy row is accounted for (verify of each entity phase, and the report):
-- each legacy row whose changed_at is at or before the copy's last pass mark is exactly one of
--   migrated     its uuid is in the new table, live, in its current version (same updated_at),
--                with every foreign key equal to what the transform makes of the legacy row (so
--                comments keep their order, author and parent, orders their patient, doctor
--                and office …)
--   skipped      a row the new schema does not keep on purpose (system comments)
--   quarantined  in weir.quarantine under this copy, with the error
-- and anything else fails the phase, naming the legacy ids. Rows changed after the mark are
-- left to the next pass.

local MIN_SUCCESS = 0.995  -- the seed: 99.5 % of the rows that should arrive do
local LEGACY_TZ = "America/New_York"  -- the legacy server stored local wall-clock times
local STATE = "weir"       -- weir's state schema (--schema); copy keeps its checkpoints there
local REPORT_ROWS = 50     -- quarantined rows listed by the report (weir.quarantine has them all)
local MAPPINGS = "migration_mappings"  -- the earlier tooling's legacy id → uuid table
local CONTROL = "migration_control"    -- … and its per-entity sync marks
local BACKUP = "dispatch_cleanup_backup"  -- where cleanup keeps the values of what it drops

-- weir.lua's vars, checked here: a bad value stops every command, naming it. The defaults apply
-- only where no weir.lua sets them (the example's weir.lua does, from the environment).
local batch_var = weir.var("batch", "1000")
local BATCH = math.tointeger(tonumber(batch_var))
if not BATCH or BATCH < 500 or BATCH > 2000 then
  error(("vars.batch (weir.lua, or $DISPATCH_BATCH) must be a whole number from 500 to 2000, the seed's " ..
    "batch sizes; got %q"):format(batch_var))
end
local DELETIONS = weir.var("deletions", "soft")
if DELETIONS ~= "soft" and DELETIONS ~= "delete" then
  error(("vars.deletions (weir.lua, or $DISPATCH_DELETIONS) must be \"soft\" (set deleted_at) or \"delete\"; " ..
    "got %q"):format(DELETIONS))
end

-- ---------------------------------------------------------------------------------------------
-- Cleaning helpers for the transforms. A transform raises (error(..., 0)) to quarantine a row.

local function val(v)
  if v == nil or db.isnull(v) then return nil end
  return v
end

local function reject(fmt, ...) error(fmt:format(...), 0) end

-- trimmed text, nil when NULL or blank
local function text(v)
  v = val(v)
  if v == nil then return nil end
  v = tostring(v):match("^%s*(.-)%s*$")
  return v ~= "" and v or nil
end

-- a naive legacy timestamp, as a timestamptz input in the legacy server's zone
local function ts(v)
  v = val(v)
  return v and (v .. " " .. LEGACY_TZ)
end

-- (617) 555-0100, 617-555-0100, +1 6175550100, 1.617.555.0100 → +16175550100; unusable → nil
local function phone(v)
  local digits = (text(v) or ""):gsub("%D", "")
  if #digits == 11 and digits:sub(1, 1) == "1" then digits = digits:sub(2) end
  return #digits == 10 and ("+1" .. digits) or nil
end

local ROLES = { admin = "admin", staff = "staff", doctor = "doctor", dr = "doctor" }
local ACTIVE = { Y = true, y = true, ["1"] = true, N = false, n = false, ["0"] = false }
local STATUS = {
  pending = "pending", ["in progress"] = "in_progress", ["in-progress"] = "in_progress",
  in_progress = "in_progress", done = "completed", completed = "completed",
  cancelled = "cancelled", canceled = "cancelled",
}

-- 'YYYY-MM-DD' or 'MM/DD/YYYY' → 'YYYY-MM-DD' (an impossible date is left to the date column)
local function birth_date(id, v)
  local s = text(v) or reject("patient %d has no date of birth", id)
  local m, d, y = s:match("^(%d%d?)/(%d%d?)/(%d%d%d%d)$")
  if m then return ("%s-%02d-%02d"):format(y, tonumber(m), tonumber(d)) end
  if s:match("^%d%d%d%d%-%d%d%-%d%d$") then return s end
  reject("patient %d: unreadable date of birth %q", id, s)
end

local function order_meta(id, v)
  local s = text(v)
  if not s then return json.decode("{}") end
  local ok, m = pcall(json.decode, s)
  if not ok or type(m) ~= "table" then reject("order %d: meta is not a JSON object: %s", id, s) end
  return m
end

-- ---------------------------------------------------------------------------------------------
-- The seven copies, in dependency order. Each reads a query over its legacy table that adds
-- changed_at (updated_at, or created_at for rows never edited: the `since` column) and, where
-- the legacy row has no office, where to find one. `ids` names the source columns whose legacy
-- ids the transform translates, and their namespaces: copy.table reads a batch's keys of the
-- adopted namespaces in one query. Every target has deleted_at, which the copy leaves NULL (a
-- row that exists in the legacy database is not deleted).

local ENTITIES = {
  {
    phase = "offices", source = "dispatch_offices", target = "offices", ns = "office",
    query = [[SELECT o.*, COALESCE(o.updated_at, o.created_at) AS changed_at FROM dispatch_offices o]],
    columns = { "id", "code", "name", "city", "phone", "created_at", "updated_at", "deleted_at" },
    refs = {}, ids = { id = "office" },
    transform = function(r)
      local code = text(r.code) or reject("office %d has no code", r.id)
      return {
        id = ids.map("office", r.id),
        code = code:upper(),
        name = text(r.name) or code:upper(),
        city = text(r.city),
        phone = phone(r.phone),
        created_at = ts(r.created_at),
        updated_at = ts(r.changed_at),
      }
    end,
  },
  {
    phase = "products", source = "dispatch_products", target = "products", ns = "product",
    query = [[SELECT p.*, COALESCE(p.updated_at, p.created_at) AS changed_at FROM dispatch_products p]],
    columns = { "id", "sku", "name", "price", "active", "created_at", "updated_at", "deleted_at" },
    refs = {}, ids = { id = "product" },
    transform = function(r)
      local sku = text(r.sku) or reject("product %d has no SKU", r.id)
      local active = ACTIVE[text(r.active) or ""]
      if active == nil then reject("product %d: active flag %q is neither yes nor no", r.id, tostring(val(r.active))) end
      return {
        id = ids.map("product", r.id),
        sku = sku:upper(),
        name = text(r.name) or sku:upper(),
        price = val(r.price) or reject("product %d has no price", r.id),
        active = active,
        created_at = ts(r.created_at),
        updated_at = ts(r.changed_at),
      }
    end,
  },
  {
    phase = "profiles", source = "dispatch_profiles", target = "profiles", ns = "profile",
    query = [[SELECT p.*, COALESCE(p.updated_at, p.created_at) AS changed_at FROM dispatch_profiles p]],
    columns = { "id", "office_id", "email", "full_name", "role", "phone", "created_at", "updated_at", "deleted_at" },
    refs = { "office_id" }, ids = { id = "profile", office_id = "office" },
    transform = function(r)
      local role = text(r.role)
      local email = text(r.email) or reject("profile %d has no email", r.id)
      return {
        id = ids.map("profile", r.id),
        office_id = ids.lookup("office", r.office_id),  -- NULL: staff not assigned to an office
        email = email:lower(),
        full_name = text((text(r.first_name) or "") .. " " .. (text(r.last_name) or ""))
          or reject("profile %d has no name", r.id),
        role = ROLES[(role or ""):lower()] or reject("profile %d: unknown role %q", r.id, tostring(role)),
        phone = phone(r.phone),
        created_at = ts(r.created_at),
        updated_at = ts(r.changed_at),
      }
    end,
  },
  {
    phase = "doctors", source = "dispatch_doctors", target = "doctors", ns = "doctor",
    query = [[SELECT d.*, COALESCE(d.updated_at, d.created_at) AS changed_at FROM dispatch_doctors d]],
    columns = { "id", "profile_id", "office_id", "license_no", "specialty", "active", "created_at", "updated_at",
      "deleted_at" },
    refs = { "profile_id", "office_id" }, ids = { id = "doctor", profile_id = "profile", office_id = "office" },
    transform = function(r)
      local active = ACTIVE[text(r.active) or ""]
      if active == nil then reject("doctor %d: active flag %q is neither yes nor no", r.id, tostring(val(r.active))) end
      return {
        id = ids.map("doctor", r.id),
        profile_id = ids.lookup("profile", r.profile_id),
        office_id = ids.lookup("office", r.office_id) or reject("doctor %d has no office", r.id),
        license_no = text(r.license_no) or reject("doctor %d has no license number", r.id),
        specialty = text(r.specialty),
        active = active,
        created_at = ts(r.created_at),
        updated_at = ts(r.changed_at),
      }
    end,
  },
  {
    phase = "patients", source = "dispatch_patients", target = "patients", ns = "patient",
    -- a patient without an office belongs to its primary doctor's office
    query = [[SELECT p.*, COALESCE(p.office_id, d.office_id) AS resolved_office_id,
                     COALESCE(p.updated_at, p.created_at) AS changed_at
                FROM dispatch_patients p LEFT JOIN dispatch_doctors d ON d.id = p.doctor_id]],
    columns = { "id", "office_id", "primary_doctor_id", "first_name", "last_name", "date_of_birth", "email",
      "phone", "created_at", "updated_at", "deleted_at" },
    refs = { "office_id", "primary_doctor_id" },
    ids = { id = "patient", resolved_office_id = "office", doctor_id = "doctor" },
    transform = function(r)
      return {
        id = ids.map("patient", r.id),
        office_id = ids.lookup("office", r.resolved_office_id)
          or reject("patient %d has no office, and no primary doctor with one", r.id),
        primary_doctor_id = ids.lookup("doctor", r.doctor_id),
        first_name = text(r.first_name) or reject("patient %d has no first name", r.id),
        last_name = text(r.last_name) or reject("patient %d has no last name", r.id),
        date_of_birth = birth_date(r.id, r.dob),
        email = text(r.email) and text(r.email):lower(),
        phone = phone(r.phone),
        created_at = ts(r.created_at),
        updated_at = ts(r.changed_at),
      }
    end,
  },
  {
    phase = "orders", source = "dispatch_orders", target = "orders", ns = "order",
    -- an order without an office is the patient's office's, else the patient's doctor's
    query = [[SELECT o.*, COALESCE(o.office_id, p.office_id, pd.office_id) AS resolved_office_id,
                     COALESCE(o.updated_at, o.created_at) AS changed_at
                FROM dispatch_orders o
                LEFT JOIN dispatch_patients p ON p.id = o.patient_id
                LEFT JOIN dispatch_doctors pd ON pd.id = p.doctor_id]],
    columns = { "id", "patient_id", "doctor_id", "office_id", "status", "amount", "meta", "ordered_at",
      "created_at", "updated_at", "deleted_at" },
    refs = { "patient_id", "doctor_id", "office_id" },
    ids = { id = "order", patient_id = "patient", doctor_id = "doctor", resolved_office_id = "office" },
    transform = function(r)
      local status = text(r.status)
      return {
        id = ids.map("order", r.id),
        patient_id = ids.lookup("patient", r.patient_id),
        doctor_id = ids.lookup("doctor", r.doctor_id),
        office_id = ids.lookup("office", r.resolved_office_id) or reject("order %d has no office", r.id),
        status = STATUS[(status or ""):lower()] or reject("order %d: unknown status %q", r.id, tostring(status)),
        amount = val(r.amount) or reject("order %d has no amount", r.id),
        meta = order_meta(r.id, r.meta),
        ordered_at = ts(r.ordered_at) or ts(r.created_at),
        created_at = ts(r.created_at),
        updated_at = ts(r.changed_at),
      }
    end,
  },
  {
    phase = "comments", source = "dispatch_comments", target = "comments", ns = "comment",
    query = [[SELECT c.*, COALESCE(c.updated_at, c.created_at) AS changed_at FROM dispatch_comments c]],
    columns = { "id", "order_id", "author_id", "parent_id", "body", "created_at", "updated_at", "deleted_at" },
    refs = { "order_id", "author_id", "parent_id" },
    ids = { id = "comment", order_id = "order", author_id = "profile", parent_id = "comment" },
    -- system comments ("[auto] status changed", no author) are not kept: the new application
    -- derives them from the order's history
    skip = function(r)
      return val(r.author_id) == nil and (text(r.body) or ""):match("^%[auto%]") ~= nil
    end,
    transform = function(r)
      return {
        id = ids.map("comment", r.id),
        order_id = ids.lookup("order", r.order_id),  -- a deleted order: the FK rejects the row
        author_id = ids.lookup("profile", r.author_id) or reject("comment %d has no author", r.id),
        parent_id = ids.lookup("comment", r.parent_id),
        body = text(r.body) or reject("comment %d is empty", r.id),
        created_at = ts(r.created_at),
        updated_at = ts(r.changed_at),
      }
    end,
  },
}

for _, e in ipairs(ENTITIES) do
  local transform, skip = e.transform, e.skip
  if skip then
    e.transform = function(r)
      if skip(r) then return nil end
      return transform(r)
    end
  end
end

local function entity_by_phase(name)
  for _, e in ipairs(ENTITIES) do
    if e.phase == name then return e end
  end
end

local function legacy() return weir.connection("legacy") end

-- ---------------------------------------------------------------------------------------------
-- The new schema. Each table's CREATE statement is also the shape an existing table must have
-- to be adopted (below); an index is named so that an adopted table gets the ones it lacks.

local ORDER_STATUS = { "pending", "in_progress", "completed", "cancelled" }

local TABLES = {
  { name = "offices", create = [[
    CREATE TABLE offices (
      id          uuid PRIMARY KEY,
      code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9]+$'),
      name        text NOT NULL,
      city        text,
      phone       text CHECK (phone ~ '^\+1[0-9]{10}$'),
      created_at  timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL,
      deleted_at  timestamptz
    )]], indexes = {} },
  { name = "products", create = [[
    CREATE TABLE products (
      id          uuid PRIMARY KEY,
      sku         text NOT NULL UNIQUE CHECK (sku ~ '^[A-Z0-9-]+$'),
      name        text NOT NULL,
      price       numeric(10,2) NOT NULL CHECK (price >= 0),
      active      boolean NOT NULL,
      created_at  timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL,
      deleted_at  timestamptz
    )]], indexes = {} },
  { name = "profiles", create = [[
    CREATE TABLE profiles (
      id          uuid PRIMARY KEY,
      office_id   uuid REFERENCES offices,
      email       text NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '_%@_%'),
      full_name   text NOT NULL,
      role        text NOT NULL CHECK (role IN ('admin', 'staff', 'doctor')),
      phone       text CHECK (phone ~ '^\+1[0-9]{10}$'),
      created_at  timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL,
      deleted_at  timestamptz
    )]], indexes = { { "profiles_office_id_idx", "profiles (office_id)" } } },
  { name = "doctors", create = [[
    CREATE TABLE doctors (
      id          uuid PRIMARY KEY,
      profile_id  uuid NOT NULL UNIQUE REFERENCES profiles,
      office_id   uuid NOT NULL REFERENCES offices,
      license_no  text NOT NULL UNIQUE CHECK (license_no <> ''),
      specialty   text,
      active      boolean NOT NULL,
      created_at  timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL,
      deleted_at  timestamptz
    )]], indexes = { { "doctors_office_id_idx", "doctors (office_id)" } } },
  { name = "patients", create = [[
    CREATE TABLE patients (
      id                uuid PRIMARY KEY,
      office_id         uuid NOT NULL REFERENCES offices,
      primary_doctor_id uuid REFERENCES doctors,
      first_name        text NOT NULL,
      last_name         text NOT NULL,
      date_of_birth     date NOT NULL CHECK (date_of_birth > '1900-01-01'),
      email             text,
      phone             text CHECK (phone ~ '^\+1[0-9]{10}$'),
      created_at        timestamptz NOT NULL,
      updated_at        timestamptz NOT NULL,
      deleted_at        timestamptz
    )]], indexes = { { "patients_office_id_idx", "patients (office_id)" },
                     { "patients_primary_doctor_id_idx", "patients (primary_doctor_id)" } } },
  { name = "orders", create = [[
    CREATE TABLE orders (
      id          uuid PRIMARY KEY,
      patient_id  uuid NOT NULL REFERENCES patients,
      doctor_id   uuid REFERENCES doctors,
      office_id   uuid NOT NULL REFERENCES offices,
      status      order_status NOT NULL,
      amount      numeric(10,2) NOT NULL CHECK (amount >= 0),
      meta        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(meta) = 'object'),
      ordered_at  timestamptz NOT NULL,
      created_at  timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL,
      deleted_at  timestamptz
    )]], indexes = { { "orders_patient_id_idx", "orders (patient_id)" }, { "orders_doctor_id_idx", "orders (doctor_id)" },
                     { "orders_office_id_idx", "orders (office_id)" } } },
  { name = "comments", create = [[
    CREATE TABLE comments (
      id          uuid PRIMARY KEY,
      order_id    uuid NOT NULL REFERENCES orders,
      author_id   uuid NOT NULL REFERENCES profiles,
      parent_id   uuid REFERENCES comments CHECK (parent_id <> id),
      body        text NOT NULL CHECK (body <> ''),
      created_at  timestamptz NOT NULL,
      updated_at  timestamptz NOT NULL,
      deleted_at  timestamptz
    )]], indexes = { { "comments_order_id_idx", "comments (order_id)" },
                     { "comments_author_id_idx", "comments (author_id)" },
                     { "comments_parent_id_idx", "comments (parent_id)" } } },
}

local SHAPE = "dispatch_expected_shape"  -- a scratch schema, inside the phase's transaction only

-- What is wrong with an existing table, compared with the one its CREATE makes (built in the
-- scratch schema): a list of problems, and the expected nullable columns it lacks (to add).
local function shape_problems(db, name)
  local problems, missing = {}, {}
  local cols = db:query([[
    SELECT e.attname::text AS col, pg_catalog.format_type(e.atttypid, e.atttypmod) AS want,
           pg_catalog.format_type(a.atttypid, a.atttypmod) AS have, e.attnotnull AS want_not_null,
           a.attnotnull AS have_not_null, a.attname IS NOT NULL AS present,
           (a.atttypid = e.atttypid AND a.atttypmod = e.atttypmod) AS same_type
      FROM pg_catalog.pg_attribute e
      LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = $2::regclass AND a.attname = e.attname
                                          AND a.attnum > 0 AND NOT a.attisdropped
     WHERE e.attrelid = $1::regclass AND e.attnum > 0 AND NOT e.attisdropped
     ORDER BY e.attnum]], SHAPE .. "." .. name, "public." .. name)
  for _, c in ipairs(cols) do
    if not c.present then
      if c.want_not_null then
        problems[#problems + 1] = ("%s has no column %s (%s NOT NULL)"):format(name, c.col, c.want)
      else
        missing[#missing + 1] = { col = c.col, type = c.want }
      end
    elseif not c.same_type then
      problems[#problems + 1] = ("%s.%s is %s, this migration writes %s"):format(name, c.col, c.have, c.want)
    elseif c.want_not_null ~= c.have_not_null then
      problems[#problems + 1] = ("%s.%s is %s, this migration expects %s"):format(name, c.col,
        c.have_not_null and "NOT NULL" or "nullable", c.want_not_null and "NOT NULL" or "nullable")
    end
  end
  local pk = db:value([[
    SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = $1::regclass AND i.indisprimary]], "public." .. name)
  if db.isnull(pk) or #pk ~= 1 or pk[1] ~= "id" then
    problems[#problems + 1] = ("%s has no primary key on id (the upsert needs it)"):format(name)
  end
  return problems, missing
end

local function create_schema(db)
  local state = { created = {}, adopted = {}, added_columns = {}, added_indexes = {}, created_type = false }
  local labels = db:value([[SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e
                             WHERE e.enumtypid = pg_catalog.to_regtype('public.order_status')]])
  if db.isnull(labels) then
    if db:value "SELECT pg_catalog.to_regtype('public.order_status') IS NOT NULL" then
      error("public.order_status exists and is not an enum", 0)
    end
    db:exec("CREATE TYPE public.order_status AS ENUM ('" .. table.concat(ORDER_STATUS, "', '") .. "')")
    state.created_type = true
  elseif table.concat(labels, ",") ~= table.concat(ORDER_STATUS, ",") then
    error(("cannot adopt the existing type order_status: its labels are %s, this migration writes %s")
      :format(table.concat(labels, ", "), table.concat(ORDER_STATUS, ", ")), 0)
  end
  -- the expected tables, in a scratch schema, to compare existing ones with
  local path = db:value "SELECT current_setting('search_path')"
  db:exec("CREATE SCHEMA " .. SHAPE)
  db:exec("SELECT set_config('search_path', $1, true)", SHAPE .. ", public")
  for _, t in ipairs(TABLES) do db:exec(t.create) end
  db:exec("SELECT set_config('search_path', $1, true)", "public")
  -- every existing table is checked before anything is made
  local problems, lacking, exists = {}, {}, {}
  for _, t in ipairs(TABLES) do
    if db:value("SELECT pg_catalog.to_regclass($1) IS NOT NULL", "public." .. t.name) then
      local p, missing = shape_problems(db, t.name)
      for _, x in ipairs(p) do problems[#problems + 1] = x end
      exists[t.name], lacking[t.name] = true, missing
    end
  end
  db:exec("DROP SCHEMA " .. SHAPE .. " CASCADE")
  if #problems > 0 then
    error("cannot adopt the existing tables, which differ from what this migration writes: " ..
      table.concat(problems, "; "), 0)
  end
  for _, t in ipairs(TABLES) do
    if exists[t.name] then
      state.adopted[#state.adopted + 1] = t.name
      for _, m in ipairs(lacking[t.name]) do
        db:exec(("ALTER TABLE public.%s ADD COLUMN %s %s"):format(t.name, m.col, m.type))
        state.added_columns[#state.added_columns + 1] = { t.name, m.col }
      end
      for _, ix in ipairs(t.indexes) do
        if not db:value("SELECT pg_catalog.to_regclass($1) IS NOT NULL", "public." .. ix[1]) then
          db:exec(("CREATE INDEX %s ON public.%s"):format(ix[1], ix[2]))
          state.added_indexes[#state.added_indexes + 1] = ix[1]
        end
      end
    else
      db:exec(t.create)
      for _, ix in ipairs(t.indexes) do db:exec(("CREATE INDEX %s ON public.%s"):format(ix[1], ix[2])) end
      state.created[#state.created + 1] = t.name
    end
  end
  db:exec("SELECT set_config('search_path', $1, true)", path)
  return state
end

local function drop_schema(db, state)
  -- the tables it created, children first; on adopted ones, the columns and indexes it added
  local created = {}
  for _, n in ipairs(state.created) do created[n] = true end
  for i = #TABLES, 1, -1 do
    if created[TABLES[i].name] then db:exec("DROP TABLE public." .. TABLES[i].name) end
  end
  for _, idx in ipairs(state.added_indexes) do db:exec("DROP INDEX IF EXISTS public." .. idx) end
  for _, c in ipairs(state.added_columns) do db:exec(("ALTER TABLE public.%s DROP COLUMN %s"):format(c[1], c[2])) end
  if state.created_type then db:exec "DROP TYPE public.order_status" end
end

-- ---------------------------------------------------------------------------------------------
-- Row-level security, as the Supabase application reads these tables (role `authenticated`,
-- the user's id from auth.uid()): staff and doctors see their own office's rows, admins every
-- office of the organization; soft-deleted rows are hidden; the catalog is readable by all.
-- Writes: patients and orders within one's office, one's own comments, one's own profile (not
-- its role or office). The migration itself runs as the tables' owner, which RLS does not
-- restrict. Where there is no Supabase (no auth.uid()), a stand-in reads the `sub` claim of
-- the request.jwt.claims setting, as PostgREST sets it; the roles are created if missing.

local VISIBLE_OFFICE = "office_id = dispatch_office_id() OR dispatch_is_admin()"
local ORDER_VISIBLE = "EXISTS (SELECT 1 FROM orders o WHERE o.id = comments.order_id)"
local RLS = {
  { table = "offices", grants = { "SELECT" }, select = "id = dispatch_office_id() OR dispatch_is_admin()" },
  { table = "products", grants = { "SELECT" }, select = "true" },
  { table = "profiles", grants = { "SELECT", "UPDATE" },
    select = "office_id = dispatch_office_id() OR id = auth.uid() OR dispatch_is_admin()",
    update = { "id = auth.uid()",
      "id = auth.uid() AND role = dispatch_role() AND office_id IS NOT DISTINCT FROM dispatch_office_id()" } },
  { table = "doctors", grants = { "SELECT" }, select = VISIBLE_OFFICE },
  { table = "patients", grants = { "SELECT", "INSERT", "UPDATE" }, select = VISIBLE_OFFICE,
    insert = VISIBLE_OFFICE, update = { VISIBLE_OFFICE, VISIBLE_OFFICE } },
  { table = "orders", grants = { "SELECT", "INSERT", "UPDATE" }, select = VISIBLE_OFFICE,
    insert = VISIBLE_OFFICE, update = { VISIBLE_OFFICE, VISIBLE_OFFICE } },
  { table = "comments", grants = { "SELECT", "INSERT", "UPDATE", "DELETE" }, select = ORDER_VISIBLE,
    insert = "author_id = auth.uid() AND " .. ORDER_VISIBLE,
    update = { "author_id = auth.uid()", "author_id = auth.uid() AND " .. ORDER_VISIBLE },
    delete = "author_id = auth.uid() OR dispatch_is_admin()" },
}

local RLS_FUNCTIONS = [[
  -- the signed-in user's office, role and admin flag (SECURITY DEFINER: read past profiles' own policies)
  CREATE FUNCTION public.dispatch_office_id() RETURNS uuid LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$ SELECT office_id FROM profiles WHERE id = auth.uid() AND deleted_at IS NULL $$;
  CREATE FUNCTION public.dispatch_role() RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$ SELECT role FROM profiles WHERE id = auth.uid() AND deleted_at IS NULL $$;
  CREATE FUNCTION public.dispatch_is_admin() RETURNS boolean LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = public, pg_temp
    AS $$ SELECT coalesce((SELECT role = 'admin' FROM profiles WHERE id = auth.uid() AND deleted_at IS NULL), false) $$;
  REVOKE EXECUTE ON FUNCTION public.dispatch_office_id(), public.dispatch_role(), public.dispatch_is_admin() FROM PUBLIC;
  GRANT EXECUTE ON FUNCTION public.dispatch_office_id(), public.dispatch_role(), public.dispatch_is_admin() TO authenticated;
]]

local AUTH_STANDIN = [[
  CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE
    AS $$ SELECT nullif(nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub', '')::uuid $$;
  COMMENT ON FUNCTION auth.uid() IS 'stand-in for Supabase''s auth.uid() (001_legacy_dispatch:rls): the sub claim of request.jwt.claims';
  GRANT USAGE ON SCHEMA auth TO authenticated, anon;
  GRANT EXECUTE ON FUNCTION auth.uid() TO authenticated, anon;
]]

local function enable_rls(db)
  local state = { auth_schema = false, auth_uid = false, rls_was_on = {}, granted = {} }
  for _, role in ipairs { "authenticated", "anon" } do
    -- roles belong to the cluster: made when missing (another database may be making it too)
    db:exec(([[DO $$ BEGIN CREATE ROLE %s NOLOGIN; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$]])
      :format(role))
  end
  if db:value "SELECT pg_catalog.to_regprocedure('auth.uid()') IS NULL" then
    if not db:value "SELECT pg_catalog.to_regnamespace('auth') IS NOT NULL" then
      db:exec "CREATE SCHEMA auth"
      state.auth_schema = true
    end
    db:exec(AUTH_STANDIN)
    state.auth_uid = true
  end
  db:exec(RLS_FUNCTIONS)
  for _, r in ipairs(RLS) do
    local t = "public." .. r.table
    if db:value("SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = $1::regclass", t) then
      state.rls_was_on[#state.rls_was_on + 1] = r.table
    end
    db:exec("ALTER TABLE " .. t .. " ENABLE ROW LEVEL SECURITY")
    local function policy(cmd, using, check)
      db:exec(("CREATE POLICY dispatch_%s ON %s FOR %s TO authenticated%s%s"):format(cmd:lower(), t, cmd,
        using and (" USING (" .. using .. ")") or "", check and (" WITH CHECK (" .. check .. ")") or ""))
    end
    policy("SELECT", "deleted_at IS NULL AND (" .. r.select .. ")")
    if r.insert then policy("INSERT", nil, r.insert) end
    if r.update then policy("UPDATE", "deleted_at IS NULL AND (" .. r.update[1] .. ")", r.update[2]) end
    if r.delete then policy("DELETE", r.delete) end
    -- only the privileges authenticated lacks (Supabase grants some by default): down revokes these
    for _, priv in ipairs(r.grants) do
      if not db:value([[SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c, aclexplode(c.relacl) a
                         WHERE c.oid = $1::regclass AND a.grantee = 'authenticated'::regrole AND a.privilege_type = $2)]],
        t, priv) then
        db:exec(("GRANT %s ON %s TO authenticated"):format(priv, t))
        state.granted[#state.granted + 1] = { r.table, priv }
      end
    end
  end
  return state
end

local function disable_rls(db, state)
  local was_on = {}
  for _, t in ipairs(state.rls_was_on) do was_on[t] = true end
  for _, g in ipairs(state.granted) do db:exec(("REVOKE %s ON public.%s FROM authenticated"):format(g[2], g[1])) end
  for _, r in ipairs(RLS) do
    for _, cmd in ipairs { "select", "insert", "update", "delete" } do
      db:exec(("DROP POLICY IF EXISTS dispatch_%s ON public.%s"):format(cmd, r.table))
    end
    if not was_on[r.table] then db:exec("ALTER TABLE public." .. r.table .. " DISABLE ROW LEVEL SECURITY") end
  end
  db:exec "DROP FUNCTION public.dispatch_office_id(), public.dispatch_role(), public.dispatch_is_admin()"
  if state.auth_uid then
    db:exec "REVOKE USAGE ON SCHEMA auth FROM authenticated, anon"
    db:exec "DROP FUNCTION auth.uid()"
  end
  if state.auth_schema then db:exec "DROP SCHEMA auth" end
end

-- ---------------------------------------------------------------------------------------------
-- Adopting what the earlier tooling moved: its mapping per entity (migration_mappings:
-- entity_type, legacy_id, new_id) and its sync marks (migration_control: entity_type,
-- last_synced_at — the legacy changed_at up to which its last pass went).

local function adopt(db)
  local adopted = {}
  local has_mappings = db:value("SELECT pg_catalog.to_regclass($1) IS NOT NULL", MAPPINGS)
  local has_control = db:value("SELECT pg_catalog.to_regclass($1) IS NOT NULL", CONTROL)
  for _, e in ipairs(ENTITIES) do
    local rows = db:value("SELECT count(*) FROM " .. e.target)
    if rows > 0 then
      if not has_mappings then
        error(("%s holds %d rows, and there is no %s table to say which legacy rows they are"):format(e.target,
          rows, MAPPINGS), 0)
      end
      -- every row must be one of the mapping's, or weir could neither update nor account for it
      local stray = db:value(("SELECT count(*) FROM %s t WHERE NOT EXISTS (SELECT 1 FROM %s m WHERE m.entity_type = $1 " ..
        "AND m.new_id = t.id)"):format(e.target, MAPPINGS), e.ns)
      if stray > 0 then
        error(("%d rows of %s have an id that %s does not map to a legacy %s; weir cannot tell which legacy rows " ..
          "they are"):format(stray, e.target, MAPPINGS, e.ns), 0)
      end
      -- the mapping of the rows the table holds (a mapped row deleted since is copied again)
      local st = ids.import(db, e.ns, { table = MAPPINGS, legacy = "legacy_id", new = "new_id",
        where = ("entity_type = %s AND new_id IN (SELECT id FROM %s)"):format(db:quote_literal(e.ns), e.target) })
      local mark = has_control and db:value(("SELECT last_synced_at::text FROM %s WHERE entity_type = $1"):format(CONTROL),
        e.ns) or nil
      if mark ~= nil and db.isnull(mark) then mark = nil end
      adopted[e.ns] = { rows = rows, imported = st.imported, mark = mark }
      print(("adopt: %-9s %d rows, %d mappings imported from %s%s"):format(e.target, rows, st.imported, MAPPINGS,
        mark and (", synced up to " .. mark .. " (" .. CONTROL .. ")") or ""))
    end
  end
  if next(adopted) == nil then print("adopt: the new tables are empty: nothing to continue") end
  return adopted
end

local function adopted_of(e)
  local a = weir.checkpoint_of("adopt", "adopted")
  return a and a[e.ns] or nil
end

-- ---------------------------------------------------------------------------------------------
-- Cleanup: the columns of profiles and products nothing uses any more (the earlier tooling
-- carried them over from the legacy schema). Each is dropped only when nothing depends on it
-- (no index, constraint, view, policy or trigger — a DROP COLUMN would take an index or
-- constraint with it silently); their values are kept in BACKUP, so down adds the columns back
-- (at the end of the table: PostgreSQL has no other place) with their values, default and NOT
-- NULL. On a new database that never had them, nothing to do.

local UNUSED = {
  { table = "profiles", columns = { "fax", "pager", "legacy_role" } },
  { table = "products", columns = { "legacy_sku", "legacy_category", "old_price" } },
}

local function drop_unused(db)
  local dropped = {}
  for _, u in ipairs(UNUSED) do
    local cols = db:query([[
      SELECT a.attname::text AS name, a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
             a.attnotnull AS not_null, pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default_expr
        FROM pg_catalog.pg_attribute a
        LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE a.attrelid = $1::regclass AND a.attname = ANY ($2::text[]) AND NOT a.attisdropped
       ORDER BY a.attnum]], "public." .. u.table, db.array(u.columns))
    if #cols > 0 then
      local names = {}
      for i, c in ipairs(cols) do
        names[i] = c.name
        local users = db:value([[
          SELECT string_agg(pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), ', ')
            FROM pg_catalog.pg_depend d
           WHERE d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = $1::regclass AND d.refobjsubid = $2
             AND d.classid <> 'pg_catalog.pg_attrdef'::regclass]], "public." .. u.table, c.attnum)
        if not db.isnull(users) then
          error(("%s.%s is not unused: %s depends on it"):format(u.table, c.name, users), 0)
        end
      end
      local list = table.concat(names, ", ")
      db:exec("CREATE SCHEMA IF NOT EXISTS " .. BACKUP)
      local kept = db:exec(("CREATE TABLE %s.%s AS SELECT id, %s FROM public.%s WHERE num_nonnulls(%s) > 0")
        :format(BACKUP, u.table, list, u.table, list))
      db:exec(("ALTER TABLE public.%s %s"):format(u.table, (("DROP COLUMN " .. table.concat(names, ", DROP COLUMN ")))))
      local saved = {}
      for i, c in ipairs(cols) do
        saved[i] = { name = c.name, type = c.type, not_null = c.not_null,
          default = not db.isnull(c.default_expr) and c.default_expr or nil }
      end
      dropped[#dropped + 1] = { table = u.table, columns = saved }
      print(("cleanup: dropped %s.%s (values of %d rows kept in %s.%s)"):format(u.table, list, kept, BACKUP, u.table))
    end
  end
  if #dropped == 0 then print("cleanup: no unused column to drop") end
  return dropped
end

local function restore_unused(db, dropped)
  for _, d in ipairs(dropped or {}) do
    local adds, sets = {}, {}
    for i, c in ipairs(d.columns) do
      adds[i] = "ADD COLUMN " .. c.name .. " " .. c.type
      sets[i] = c.name .. " = b." .. c.name
    end
    db:exec(("ALTER TABLE public.%s %s"):format(d.table, table.concat(adds, ", ")))
    db:exec(("UPDATE public.%s t SET %s FROM %s.%s b WHERE b.id = t.id"):format(d.table, table.concat(sets, ", "),
      BACKUP, d.table))
    for _, c in ipairs(d.columns) do
      if c.default then db:exec(("ALTER TABLE public.%s ALTER COLUMN %s SET DEFAULT %s"):format(d.table, c.name, c.default)) end
      if c.not_null then db:exec(("ALTER TABLE public.%s ALTER COLUMN %s SET NOT NULL"):format(d.table, c.name)) end
    end
    db:exec(("DROP TABLE %s.%s"):format(BACKUP, d.table))
  end
  db:exec("DROP SCHEMA IF EXISTS " .. BACKUP)
end

-- ---------------------------------------------------------------------------------------------
-- Copying

-- One pass of an entity's copy. The checkpoint (named after the legacy table) is shared by the
-- entity phase and the sync phase: each run continues an unfinished pass, or starts a new one
-- over the rows whose changed_at moved since the last. Upsert, so a pass that re-reads a row
-- (a re-run after a crash between the copy's end and the phase's `done`, a row changed again,
-- a row the earlier tooling moved) replaces it instead of failing on the primary key.
--
-- On an adopted table, a row the earlier tooling moved (its uuid is imported) and that has not
-- changed since that tooling's last sync is left as it is (the copy reads it, and skips it):
-- the migration continues rather than writing 1.2M rows again.
-- The first pass into a table this migration created writes with plain COPY (mode "insert"):
-- the table holds no row of this copy yet, and each batch commits with its checkpoint, so no
-- row comes twice and there is nothing to merge — while an upsert stages every batch in a
-- temporary table (created, merged, truncated: about 10 ms a batch, and again for every part
-- of a batch written again to quarantine a bad row; and the merge's errors name no line, so
-- such a batch is halved, see docs/copy.md). Every later pass (sync, a re-sync),
-- and every pass into an adopted table, upserts. A row someone else put in the table in the
-- meantime is not overwritten: the insert fails on the primary key and the row is quarantined.
local function first_pass(db, e)
  local cp = db:value("SELECT value FROM " .. STATE .. ".checkpoints WHERE key = $1", "copy/" .. e.source)
  return cp == nil or db.isnull(cp) or cp.since_from == nil or db.isnull(cp.since_from)
end

local function run_copy(db, e)
  local a = adopted_of(e)
  local mark, kept, last_kept = a and a.mark, 0, nil
  local transform = e.transform
  if mark then
    transform = function(r)
      local changed = val(r.changed_at)
      if changed and tostring(changed) <= mark and ids.imported(e.ns, r.id) then
        -- counted once: rows come in key order, and a batch written again row by row (to
        -- quarantine a bad one) passes its rows through here a second time
        if last_kept == nil or r.id > last_kept then
          kept, last_kept = kept + 1, r.id
        end
        return nil
      end
      return e.transform(r)
    end
  end
  local s = copy.table {
    from = legacy(), query = e.query,
    to = db, target = e.target,
    key = "id",
    columns = e.columns,
    batch = BATCH,
    transform = transform,
    ids = e.ids,
    mode = (not a and first_pass(db, e)) and "insert" or "upsert",
    on_error = "quarantine",
    checkpoint = e.source,
    since = "changed_at",
  }
  local resumed = ""
  if type(s.resumed_from) == "table" then resumed = ", resumed after id " .. table.concat(s.resumed_from, ",") end
  print(("%-18s → %-9s read %d, written %d, quarantined %d, skipped %d, %d batches, %.2fs%s%s"):format(
    e.source, e.target, s.read, s.written, s.quarantined, s.skipped - kept, s.batches, s.seconds, resumed,
    kept > 0 and (", " .. kept .. " moved earlier and unchanged") or ""))
  return s
end

-- What the copy has finished: the changed_at up to which its last complete pass went.
local function pass_mark(db, e)
  local cp = db:value("SELECT value FROM " .. STATE .. ".checkpoints WHERE key = $1", "copy/" .. e.source)
  if cp == nil or db.isnull(cp) or not cp.done or cp.since_from == nil or db.isnull(cp.since_from) then
    return nil
  end
  return cp.since_from
end

-- ---------------------------------------------------------------------------------------------
-- Deletions: a legacy row deleted after it was copied moves no changed_at, so no copy pass sees
-- it. After the copies, the sync phase streams each legacy table's ids (COPY, in chunks of
-- CHUNK_IDS, into a temporary table here) and finds the live rows of the new table whose legacy
-- row is gone (weir.id_map says which legacy row a uuid is). "soft" sets their deleted_at (the
-- RLS policies hide them; a legacy row that comes back clears it); "delete" deletes them,
-- children before parents, keeping — and reporting — a row that live rows still reference.

local CHUNK_IDS = 50000

local function legacy_ids(db, e)
  db:exec "CREATE TEMP TABLE IF NOT EXISTS dispatch_legacy_ids (id text PRIMARY KEY)"
  db:exec "TRUNCATE dispatch_legacy_ids"
  local last = 0
  while true do
    local data, n = legacy():copy_out(("COPY (SELECT id FROM %s WHERE id > %d ORDER BY id LIMIT %d) TO STDOUT")
      :format(e.source, last, CHUNK_IDS))
    if n == 0 then break end
    db:copy_in("COPY dispatch_legacy_ids FROM STDIN", data)
    last = math.tointeger(tonumber(data:match("(%d+)\n$")))
  end
end

local GONE = [[
  FROM weir.id_map m
 WHERE m.namespace = $1 AND m.new_id = t.id AND t.deleted_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM dispatch_legacy_ids l WHERE l.id = m.legacy_id)]]

local function propagate_deletions(db)
  local out = {}
  for i = #ENTITIES, 1, -1 do
    local e = ENTITIES[i]
    legacy_ids(db, e)
    local r = { deleted = 0, kept = 0 }
    if DELETIONS == "soft" then
      r.deleted = db:exec("UPDATE " .. e.target .. " t SET deleted_at = now() " .. GONE, e.ns)
    else
      -- what still references a row: every foreign key to the table (single-column here)
      local refs = db:query([[
        SELECT k.conrelid::regclass::text AS child, a.attname::text AS col
          FROM pg_catalog.pg_constraint k
          JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
         WHERE k.contype = 'f' AND k.confrelid = $1::regclass]], "public." .. e.target)
      local referenced = {}
      for j, f in ipairs(refs) do
        referenced[j] = ("EXISTS (SELECT 1 FROM %s c WHERE c.%s = t.id)"):format(f.child, f.col)
      end
      local held = #referenced > 0 and ("(" .. table.concat(referenced, " OR ") .. ")") or "false"
      -- again until nothing more goes: a reply deleted with its parent held the parent back
      local delete = "DELETE FROM " .. e.target .. " t USING weir.id_map m WHERE NOT " .. held ..
        GONE:gsub("^%s*FROM weir.id_map m%s*WHERE", " AND")
      repeat
        local n = db:exec(delete, e.ns)
        r.deleted = r.deleted + n
      until n == 0
      r.kept = db:value("SELECT count(*) FROM " .. e.target .. " t, weir.id_map m WHERE " .. held ..
        GONE:gsub("^%s*FROM weir.id_map m%s*WHERE", " AND"), e.ns)
    end
    if r.deleted > 0 or r.kept > 0 then
      local what = DELETIONS == "soft" and "soft-deleted here (deleted_at)" or ("deleted here" ..
        (r.kept > 0 and (", " .. r.kept .. " kept: rows here still reference them") or ""))
      print(("%-18s → %-9s %d rows deleted in the legacy database: %s"):format(e.source, e.target,
        r.deleted + r.kept, what))
    end
    out[e.source] = r
  end
  db:exec "DROP TABLE dispatch_legacy_ids"
  return out
end

-- ---------------------------------------------------------------------------------------------
-- Accounting (see the top): every legacy row up to the copy's mark is migrated, skipped or
-- quarantined; migrated rows carry the foreign keys the transform gives them. Streams the
-- legacy table in chunks (bounded memory): per chunk, the uuids of its keys (one query for the
-- adopted namespaces, ids.prefetch), the transform, and one COPY of what each row should be
-- into a temporary table here; then one join of that table with the new one finds every row
-- that is not plainly migrated (a handful), which are looked at one by one. One pass over each
-- table, whatever its size, instead of a lookup per chunk (each of which hashed the whole table).

local CHUNK = 2000

-- a value as a field of COPY's text format
local function copy_field(v)
  if v == nil then return "\\N" end
  v = tostring(v)
  if v:find("[\\\t\n\r]") then
    v = v:gsub("[\\\t\n\r]", { ["\\"] = "\\\\", ["\t"] = "\\t", ["\n"] = "\\n", ["\r"] = "\\r" })
  end
  return v
end

local function audit(db, e)
  local a = {
    copy = e.source, target = e.target, legacy = 0, migrated = 0, skipped = 0, quarantined = 0,
    resolved = 0, stale = 0, missing = {}, mismatched = {}, outstanding = {},
  }
  local mark = pass_mark(db, e)
  if not mark then
    a.missing[1] = "the copy has not finished a pass (no checkpoint copy/" .. e.source .. ")"
    return a
  end
  a.mark = mark
  local quarantined = {}
  for _, q in ipairs(copy.quarantine(db, e.source)) do
    local k = type(q.source_key) == "table" and q.source_key[1] or q.source_key
    quarantined[tostring(k)] = q   -- the latest entry for the key wins
  end
  -- what each legacy row should be: its uuid, the updated_at and foreign keys the transform
  -- gives it (or why it raises), and whether it is in the quarantine
  local cols = { "ord bigint", "id uuid", "key text", "has_want boolean", "want text", "why text", "q boolean" }
  for _, ref in ipairs(e.refs) do cols[#cols + 1] = "want_" .. ref .. " text" end
  db:exec "DROP TABLE IF EXISTS pg_temp.dispatch_audit"
  db:exec("CREATE TEMP TABLE dispatch_audit (" .. table.concat(cols, ", ") .. ")")
  local copy_sql = "COPY pg_temp.dispatch_audit FROM STDIN"

  local rows, ord, width = {}, 0, 7 + #e.refs
  local imported = weir.checkpoint_of("adopt", "adopted") or {}
  local function flush()
    if #rows == 0 then return end
    -- the keys of the namespaces adopt imported (the others need no query)
    local wanted = {}
    for col, ns in pairs(e.ids) do
      if imported[ns] then
        local list = wanted[ns] or {}
        wanted[ns] = list
        for _, r in ipairs(rows) do
          if val(r[col]) then list[#list + 1] = r[col] end
        end
      end
    end
    if next(wanted) then ids.prefetch(db, wanted) end
    local lines = {}
    for _, r in ipairs(rows) do
      if e.skip and e.skip(r) then
        a.skipped = a.skipped + 1
      else
        local ok, out = pcall(e.transform, r)
        local want = ok and out or nil
        ord = ord + 1
        -- (only the error text can hold a tab, newline or backslash: the rest are numbers,
        -- uuids and timestamps)
        local f = { ord, ids.lookup(e.ns, r.id), r.id, want and "t" or "f",
          want and want.updated_at or "\\N", not ok and copy_field(out) or "\\N",
          quarantined[tostring(r.id)] and "t" or "f" }
        for i, ref in ipairs(e.refs) do f[7 + i] = want and want[ref] or "\\N" end
        lines[#lines + 1] = table.concat(f, "\t", 1, width)
      end
    end
    rows = {}
    if #lines > 0 then db:copy_in(copy_sql, table.concat(lines, "\n") .. "\n") end
  end

  for r in legacy():rows("SELECT * FROM (" .. e.query .. ") s WHERE changed_at <= $1::timestamp ORDER BY id", mark) do
    a.legacy = a.legacy + 1
    rows[#rows + 1] = r
    if #rows >= CHUNK then flush() end
  end
  flush()

  -- plainly migrated: the new table has it, live, in this version, with these foreign keys,
  -- and it is not in the quarantine
  local same = { "t.id IS NOT NULL", "t.deleted_at IS NULL", "a.has_want", "t.updated_at = a.want::timestamptz", "NOT a.q" }
  local select = { "a.key", "a.has_want", "a.why", "a.q", "t.id IS NOT NULL AS found", "t.deleted_at IS NULL AS live",
    "t.updated_at = a.want::timestamptz AS current" }
  for _, ref in ipairs(e.refs) do
    same[#same + 1] = ("t.%s::text IS NOT DISTINCT FROM a.want_%s"):format(ref, ref)
    select[#select + 1] = ("t.%s::text AS %s, a.want_%s"):format(ref, ref, ref)
  end
  local from = " FROM pg_temp.dispatch_audit a LEFT JOIN " .. e.target .. " t ON t.id = a.id"
  local clean = "(" .. table.concat(same, " AND ") .. ")"
  local others = db:query("SELECT " .. table.concat(select, ", ") .. from .. " WHERE " .. clean ..
    " IS NOT TRUE ORDER BY a.ord")
  a.migrated = ord - #others  -- every row in the temporary table is either plainly migrated or one of these
  for _, c in ipairs(others) do
    local q = quarantined[c.key]
    local has_want = c.has_want
    if c.found and not c.live then
      a.mismatched[#a.mismatched + 1] = ("%s id %s: %s has it deleted, the legacy database does not"):format(e.source,
        c.key, e.target)
    elseif c.found and has_want and c.current == true then
      a.migrated = a.migrated + 1
      if q then a.resolved = a.resolved + 1 end
      for _, ref in ipairs(e.refs) do
        local got, want = val(c[ref]), val(c["want_" .. ref])
        if got ~= want then
          a.mismatched[#a.mismatched + 1] = ("%s id %s: %s.%s is %s, expected %s"):format(e.source, c.key,
            e.target, ref, tostring(got or "NULL"), tostring(want or "NULL"))
        end
      end
    elseif q then
      -- quarantined; when the new table has the row, it is an older version (the latest was rejected)
      a.quarantined = a.quarantined + 1
      if c.found then a.stale = a.stale + 1 end
      a.outstanding[#a.outstanding + 1] = { copy = e.source, key = c.key, error = q.error, stale = c.found }
    elseif c.found and has_want then
      a.mismatched[#a.mismatched + 1] = ("%s id %s: %s has an older version of it (a change no pass copied)")
        :format(e.source, c.key, e.target)
    else
      local why = val(c.why)
      a.missing[#a.missing + 1] = ("%s id %s%s"):format(e.source, c.key,
        why and (" (the transform raises: " .. why .. ")") or (" (not in " .. e.target .. ")"))
    end
  end
  db:exec "DROP TABLE pg_temp.dispatch_audit"
  -- live rows of the new table that no legacy row (up to the mark) accounts for: deleted in the
  -- legacy database after the last deletion pass, or changed since
  a.extra = db:value("SELECT count(*) FROM " .. e.target .. " WHERE deleted_at IS NULL") - a.migrated - a.stale
  a.deleted = db:value("SELECT count(*) FROM " .. e.target .. " WHERE deleted_at IS NOT NULL")
  return a
end

local function listed(items, n)
  n = n or 5
  local out = table.concat(items, "; ", 1, math.min(#items, n))
  if #items > n then out = out .. ("; … and %d more"):format(#items - n) end
  return out
end

-- verify's verdict on an audit: true, or false and what is wrong
local function accounted(a)
  local problems = {}
  if #a.missing > 0 then
    problems[#problems + 1] = ("%d legacy rows neither migrated, skipped nor quarantined: %s"):format(
      #a.missing, listed(a.missing))
  end
  if #a.mismatched > 0 then
    problems[#problems + 1] = ("%d rows differ from the legacy ones: %s"):format(#a.mismatched, listed(a.mismatched))
  end
  if #problems > 0 then return false, table.concat(problems, "; ") end
  return true
end

-- ---------------------------------------------------------------------------------------------
-- Rolling back an entity phase: take out the rows it wrote, and forget its copy (checkpoint,
-- counters, quarantined rows, id mappings), so that `up` copies it again from the start.

-- On a table this migration created: TRUNCATE (fast, whatever the size). It needs every table
-- that references this one, directly or not, in the same statement: they must be empty already
-- (their phases come later, so `weir down` has rolled them back first), and are checked, so
-- nothing else is ever emptied.
local function empty_table(db, e)
  local refs = db:query([[
    WITH RECURSIVE r(tbl) AS (
      SELECT $1::regclass::oid
      UNION
      SELECT k.conrelid FROM pg_catalog.pg_constraint k JOIN r ON k.confrelid = r.tbl WHERE k.contype = 'f'
    )
    SELECT tbl::regclass::text AS tbl FROM r WHERE tbl <> $1::regclass::oid ORDER BY 1]], e.target)
  local names = { e.target }
  for _, r in ipairs(refs) do
    if db:value("SELECT EXISTS (SELECT 1 FROM " .. r.tbl .. ")") then
      error(("cannot empty %s: %s still has rows (roll back its phase first)"):format(e.target, r.tbl), 0)
    end
    names[#names + 1] = r.tbl
  end
  db:exec("TRUNCATE " .. table.concat(names, ", "))
end

local function entity_phase(name, after)
  local e = entity_by_phase(name)
  return phase(name) {
    description = ("copy %s into %s (uuid keys, foreign keys translated)"):format(e.source, e.target),
    transaction = false,  -- copy.table commits each batch with its checkpoint
    requires = after,
    up = function(db) run_copy(db, e) end,
    verify = function(db) return accounted(audit(db, e)) end,
    down = function(db)
      local adopted = adopted_of(e)
      db:tx(function()
        if adopted then
          -- the earlier tooling's rows stay (in the version the last pass left); the rows this
          -- migration added go: their ids are not in its mapping
          db:exec(("DELETE FROM %s t WHERE NOT EXISTS (SELECT 1 FROM %s m WHERE m.entity_type = $1 AND m.new_id = t.id)")
            :format(e.target, MAPPINGS), e.ns)
        else
          empty_table(db, e)
          ids.forget(db, e.ns)  -- (an adopted namespace's mappings go with the adopt phase)
        end
        copy.reset(db, e.source)
      end)
    end,
  }
end

-- ---------------------------------------------------------------------------------------------
-- The report

local function report(db)
  local audits, total = {}, { legacy = 0, migrated = 0, skipped = 0, quarantined = 0, resolved = 0 }
  local outstanding = {}
  for _, e in ipairs(ENTITIES) do
    local a = audit(db, e)
    audits[#audits + 1] = a
    for k in pairs(total) do total[k] = total[k] + a[k] end
    for _, q in ipairs(a.outstanding) do outstanding[#outstanding + 1] = q end
  end
  local function rate(a)
    local due = a.migrated + a.quarantined
    return due > 0 and a.migrated / due or 1.0
  end
  local lines = { "legacy-dispatch migration report",
    ("  %-18s %8s %9s %8s %12s %9s"):format("copy", "legacy", "migrated", "skipped", "quarantined", "success") }
  local tables = {}
  for _, a in ipairs(audits) do
    lines[#lines + 1] = ("  %-18s %8d %9d %8d %12d %8.2f%%"):format(a.copy, a.legacy, a.migrated, a.skipped,
      a.quarantined, rate(a) * 100)
    tables[a.copy] = { legacy = a.legacy, migrated = a.migrated, skipped = a.skipped, quarantined = a.quarantined,
      resolved = a.resolved, extra = a.extra, deleted = a.deleted, missing = #a.missing, mismatched = #a.mismatched,
      rate = rate(a) }
  end
  lines[#lines + 1] = ("  %-18s %8d %9d %8d %12d %8.2f%%"):format("total", total.legacy, total.migrated,
    total.skipped, total.quarantined, rate(total) * 100)
  if #outstanding > 0 then
    lines[#lines + 1] = ("quarantined (%d rows; fix them in the legacy database and re-sync, see README):"):format(#outstanding)
    for i, q in ipairs(outstanding) do
      if i > REPORT_ROWS then
        lines[#lines + 1] = ("  … and %d more: copy.quarantine(db) lists them all"):format(#outstanding - REPORT_ROWS)
        break
      end
      lines[#lines + 1] = ("  %s id %s%s: %s"):format(q.copy, q.key, q.stale and " (an older version was migrated)" or "",
        q.error)
    end
  end
  local adopted = weir.checkpoint_of("adopt", "adopted") or {}
  local carried = {}
  for _, e in ipairs(ENTITIES) do
    if adopted[e.ns] then carried[#carried + 1] = ("%s %d"):format(e.target, adopted[e.ns].rows) end
  end
  if #carried > 0 then
    lines[#lines + 1] = ("continued from the earlier tooling (%s): %s rows adopted"):format(MAPPINGS,
      table.concat(carried, ", "))
  end
  local deletions = weir.checkpoint_of("sync", "deletions") or {}
  local soft, gone, held = {}, {}, {}
  for _, a in ipairs(audits) do
    if a.deleted > 0 then soft[#soft + 1] = ("%s %d"):format(a.target, a.deleted) end
    local d = deletions[a.copy]
    if DELETIONS == "delete" and d and d.deleted > 0 then gone[#gone + 1] = ("%s %d"):format(a.target, d.deleted) end
    if d and d.kept > 0 then held[#held + 1] = ("%s %d"):format(a.target, d.kept) end
  end
  if #soft > 0 then lines[#lines + 1] = "deleted in the legacy database, soft-deleted here: " .. table.concat(soft, ", ") end
  if #gone > 0 then lines[#lines + 1] = "deleted in the legacy database, deleted here by the last pass: " .. table.concat(gone, ", ") end
  if #held > 0 then
    lines[#lines + 1] = "deleted in the legacy database, kept here because live rows reference them: " .. table.concat(held, ", ")
  end
  for _, a in ipairs(audits) do
    if a.extra > 0 then
      lines[#lines + 1] = ("%d rows of %s match no legacy row: deleted in the legacy database, or changed after this pass")
        :format(a.extra, a.target)
    end
  end
  if total.resolved > 0 then
    lines[#lines + 1] = ("%d rows quarantined earlier have arrived since"):format(total.resolved)
  end
  print(table.concat(lines, "\n"))
  local problems = {}
  for _, a in ipairs(audits) do
    local ok, why = accounted(a)
    if not ok then problems[#problems + 1] = a.copy .. ": " .. why end
  end
  return {
    tables = tables, legacy = total.legacy, migrated = total.migrated, skipped = total.skipped,
    quarantined = total.quarantined, resolved = total.resolved, rate = rate(total),
    problems = problems,
  }
end

-- ---------------------------------------------------------------------------------------------

return migration "001_legacy_dispatch" {
  description = "seed 003: legacy dispatch_* tables into the UUID-keyed schema, continuing the earlier tooling's " ..
    "migration, with quarantine, incremental sync and deletions",

  phase "schema" {
    description = "the new schema (uuid keys, foreign keys, CHECKs, timestamptz); existing tables of that shape adopted",
    up = function(db) weir.checkpoint("tables", create_schema(db)) end,
    verify = function(db)
      for _, t in ipairs(TABLES) do
        if not db:value("SELECT to_regclass($1) IS NOT NULL", "public." .. t.name) then
          return false, "table " .. t.name .. " is missing"
        end
      end
      return true
    end,
    down = function(db) drop_schema(db, weir.checkpoint("tables")) end,
  },

  phase "rls" {
    description = "row-level security per office (admins: the organization), for the Supabase roles",
    requires = { "schema" },
    up = function(db) weir.checkpoint("rls", enable_rls(db)) end,
    verify = function(db)
      local off = db:value([[SELECT string_agg(relname::text, ', ') FROM pg_catalog.pg_class
                              WHERE oid = ANY ($1::regclass[]) AND NOT relrowsecurity]],
        db.array { "offices", "products", "profiles", "doctors", "patients", "orders", "comments" })
      if not db.isnull(off) then return false, "row-level security is off on " .. off end
      return true
    end,
    down = function(db) disable_rls(db, weir.checkpoint("rls")) end,
  },

  phase "adopt" {
    description = "continue the earlier tooling's migration: its migration_mappings into weir.id_map, its sync marks",
    requires = { "schema" },
    up = function(db) weir.checkpoint("adopted", adopt(db)) end,
    down = function(db)
      for ns in pairs(weir.checkpoint("adopted") or {}) do ids.forget(db, ns) end
    end,
  },

  phase "cleanup" {
    description = "drop the unused columns of profiles and products (their values kept for down)",
    requires = { "schema" },
    up = function(db) weir.checkpoint("dropped", drop_unused(db)) end,
    verify = function(db)
      for _, u in ipairs(UNUSED) do
        for _, c in ipairs(u.columns) do
          if db:value([[SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = $1::regclass
                         AND attname = $2 AND NOT attisdropped)]], "public." .. u.table, c) then
            return false, u.table .. "." .. c .. " is still there"
          end
        end
      end
      return true
    end,
    down = function(db) restore_unused(db, weir.checkpoint("dropped")) end,
  },

  entity_phase("offices", { "adopt" }),
  entity_phase("products", { "adopt" }),
  entity_phase("profiles", { "offices" }),
  entity_phase("doctors", { "profiles", "offices" }),
  entity_phase("patients", { "doctors", "offices" }),
  entity_phase("orders", { "patients", "doctors", "offices" }),
  entity_phase("comments", { "orders", "profiles" }),

  -- Rows changed in the legacy database since the last pass, in the same order (a new order's
  -- patient arrives before the order); then the rows deleted there. Nothing to undo: what it
  -- wrote belongs to the entity phases, whose rollback takes their rows out.
  phase "sync" {
    description = "incremental pass: rows whose changed_at moved since the last pass, upserted in dependency order; " ..
      "legacy deletions propagated",
    transaction = false,
    requires = { "comments" },
    up = function(db)
      for _, e in ipairs(ENTITIES) do run_copy(db, e) end
      weir.checkpoint("deletions", propagate_deletions(db))
    end,
    -- Every pass finished. Accounting for the rows is the report's (it always runs next, and
    -- reads every table once, not twice).
    verify = function(db)
      for _, e in ipairs(ENTITIES) do
        if not pass_mark(db, e) then return false, "the copy of " .. e.source .. " has not finished its pass" end
      end
      return true
    end,
    down = function() end,
  },

  phase "report" {
    description = "quarantine report and success rate (verify: at least 99.5 %)",
    requires = { "sync" },
    up = function(db)
      weir.checkpoint("report", report(db))
    end,
    verify = function()
      local r = weir.checkpoint("report")
      if #r.problems > 0 then return false, table.concat(r.problems, "; ") end
      if r.rate < MIN_SUCCESS then
        return false, ("success rate %.2f%% is below %.1f%%: %d of %d rows quarantined"):format(r.rate * 100,
          MIN_SUCCESS * 100, r.quarantined, r.migrated + r.quarantined)
      end
      return true
    end,
    down = function() end,
  },
}
