-- Seed 003: the legacy dispatch database (integer ids, free text, naive local timestamps, no
-- foreign keys) into the new UUID-keyed schema, with zero data loss accounted for row by row.
--
-- Runs on the NEW database; the legacy one is the named connection `legacy` (weir.lua reads it
-- from $LEGACY_URL) and is only ever read.
--
--   schema     the new schema: uuid keys, foreign keys, CHECKs, NOT NULLs, timestamptz
--   offices    ┐
--   profiles   │ one phase per entity, in dependency order: copy.table from the legacy table
--   doctors    │ through a Lua transform (ids.map for the row's own id, ids.lookup for every
--   patients   │ foreign key, clean-up of the legacy mess), in keyset batches that commit with
--   orders     │ their checkpoint; rows the transform or the new schema rejects go to
--   comments   ┘ weir.quarantine. verify accounts for every legacy row (below).
--   sync       incremental pass: the same six copies again, in the same order, picking up only
--              the rows whose changed_at moved since the last pass (copy.table `since`)
--   report     per-table counts, the quarantined rows with their errors, the success rate;
--              verify fails below 99.5 % (the seed's target)
--
-- Re-syncing later (the legacy application keeps running until cutover):
--   weir down 001_legacy_dispatch:sync && weir up
-- rolls back report and sync (which undo nothing: the synced rows belong to the entity phases)
-- and runs them again: one more incremental pass, then a fresh report.
--
-- How every legacy row is accounted for (verify of each entity phase, and the report):
-- each legacy row whose changed_at is at or before the copy's last pass mark is exactly one of
--   migrated     its uuid is in the new table, in its current version (same updated_at), with
--                every foreign key equal to what the transform makes of the legacy row (so
--                comments keep their order, author and parent, orders their patient, doctor
--                and office …)
--   skipped      a row the new schema does not keep on purpose (system comments)
--   quarantined  in weir.quarantine under this copy, with the error
-- and anything else fails the phase, naming the legacy ids. Rows changed after the mark are
-- left to the next pass.

local BATCH = 1000         -- rows per copy batch (one target transaction each, with its checkpoint)
local MIN_SUCCESS = 0.995  -- the seed: 99.5 % of the rows that should arrive do
local LEGACY_TZ = "America/New_York"  -- the legacy server stored local wall-clock times
local STATE = "weir"       -- weir's state schema (--schema); copy keeps its checkpoints there
local REPORT_ROWS = 50     -- quarantined rows listed by the report (weir.quarantine has them all)

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
-- The six copies, in dependency order. Each reads a query over its legacy table that adds
-- changed_at (updated_at, or created_at for rows never edited: the `since` column) and, where
-- the legacy row has no office, where to find one.

local ENTITIES = {
  {
    phase = "offices", source = "dispatch_offices", target = "offices", ns = "office",
    query = [[SELECT o.*, COALESCE(o.updated_at, o.created_at) AS changed_at FROM dispatch_offices o]],
    columns = { "id", "code", "name", "city", "phone", "created_at", "updated_at" },
    refs = {},
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
    phase = "profiles", source = "dispatch_profiles", target = "profiles", ns = "profile",
    query = [[SELECT p.*, COALESCE(p.updated_at, p.created_at) AS changed_at FROM dispatch_profiles p]],
    columns = { "id", "office_id", "email", "full_name", "role", "phone", "created_at", "updated_at" },
    refs = { "office_id" },
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
    columns = { "id", "profile_id", "office_id", "license_no", "specialty", "active", "created_at", "updated_at" },
    refs = { "profile_id", "office_id" },
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
      "phone", "created_at", "updated_at" },
    refs = { "office_id", "primary_doctor_id" },
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
      "created_at", "updated_at" },
    refs = { "patient_id", "doctor_id", "office_id" },
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
    columns = { "id", "order_id", "author_id", "parent_id", "body", "created_at", "updated_at" },
    refs = { "order_id", "author_id", "parent_id" },
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

local function legacy() return weir.connection("legacy") end

-- ---------------------------------------------------------------------------------------------
-- Copying

-- One pass of an entity's copy. The checkpoint (named after the legacy table) is shared by the
-- entity phase and the sync phase: each run continues an unfinished pass, or starts a new one
-- over the rows whose changed_at moved since the last. Upsert, so a pass that re-reads a row
-- (a re-run after a crash between the copy's end and the phase's `done`, a row changed again)
-- replaces it instead of failing on the primary key.
local function run_copy(db, e)
  local s = copy.table {
    from = legacy(), query = e.query,
    to = db, target = e.target,
    key = "id",
    columns = e.columns,
    batch = BATCH,
    transform = e.transform,
    mode = "upsert",
    on_error = "quarantine",
    checkpoint = e.source,
    since = "changed_at",
  }
  local resumed = ""
  if type(s.resumed_from) == "table" then resumed = ", resumed after id " .. table.concat(s.resumed_from, ",") end
  print(("%-18s → %-9s read %d, written %d, quarantined %d, skipped %d, %d batches, %.2fs%s"):format(
    e.source, e.target, s.read, s.written, s.quarantined, s.skipped, s.batches, s.seconds, resumed))
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
-- Accounting (see the top): every legacy row up to the copy's mark is migrated, skipped or
-- quarantined; migrated rows carry the foreign keys the transform gives them. Streams the
-- legacy table in chunks (bounded memory) and looks the uuids up in the new table per chunk.

local CHUNK = 2000

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
  -- per chunk: the new rows of these uuids, their foreign keys, and whether their updated_at
  -- is the one the legacy row has now (else the new table holds an older version of it)
  local select = { "t.id::text AS id", "t.updated_at = w.want::timestamptz AS current" }
  for _, ref in ipairs(e.refs) do select[#select + 1] = "t." .. ref .. "::text AS " .. ref end
  local lookup = "SELECT " .. table.concat(select, ", ") .. " FROM unnest($1::uuid[], $2::text[]) AS w(id, want) JOIN " ..
    e.target .. " t ON t.id = w.id"

  local chunk = {}
  local function flush()
    if #chunk == 0 then return end
    local uuids, wants, found = {}, {}, {}
    for i, c in ipairs(chunk) do
      uuids[i] = c.uuid
      wants[i] = c.want and c.want.updated_at or db.NULL
    end
    for _, t in ipairs(db:query(lookup, db.array(uuids), db.array(wants))) do found[t.id] = t end
    for _, c in ipairs(chunk) do
      local t, q = found[c.uuid], quarantined[tostring(c.key)]
      if t and c.want and t.current == true then
        a.migrated = a.migrated + 1
        if q then a.resolved = a.resolved + 1 end
        for _, ref in ipairs(e.refs) do
          local got = val(t[ref])
          if got ~= c.want[ref] then
            a.mismatched[#a.mismatched + 1] = ("%s id %s: %s.%s is %s, expected %s"):format(e.source, c.key,
              e.target, ref, tostring(got or "NULL"), tostring(c.want[ref] or "NULL"))
          end
        end
      elseif q then
        -- quarantined; when the new table has the row, it is an older version (the latest was rejected)
        a.quarantined = a.quarantined + 1
        if t then a.stale = a.stale + 1 end
        a.outstanding[#a.outstanding + 1] = { copy = e.source, key = c.key, error = q.error, stale = t ~= nil }
      elseif t and c.want then
        a.mismatched[#a.mismatched + 1] = ("%s id %s: %s has an older version of it (a change no pass copied)")
          :format(e.source, c.key, e.target)
      else
        a.missing[#a.missing + 1] = ("%s id %s%s"):format(e.source, c.key,
          c.why and (" (the transform raises: " .. c.why .. ")") or (" (not in " .. e.target .. ")"))
      end
    end
    chunk = {}
  end

  for r in legacy():rows("SELECT * FROM (" .. e.query .. ") s WHERE changed_at <= $1::timestamp ORDER BY id", mark) do
    a.legacy = a.legacy + 1
    if e.skip and e.skip(r) then
      a.skipped = a.skipped + 1
    else
      local ok, out = pcall(e.transform, r)
      chunk[#chunk + 1] = { key = r.id, uuid = ids.lookup(e.ns, r.id), want = ok and out or nil,
        why = not ok and tostring(out) or nil }
      if #chunk >= CHUNK then flush() end
    end
  end
  flush()
  -- rows of the new table that no legacy row (up to the mark) accounts for: deleted in the
  -- legacy database after they were copied (no changed_at moves on a DELETE), or changed since
  a.extra = db:value("SELECT count(*) FROM " .. e.target) - a.migrated - a.stale
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

local function entity_by_phase(name)
  for _, e in ipairs(ENTITIES) do
    if e.phase == name then return e end
  end
end

-- ---------------------------------------------------------------------------------------------
-- Rolling back an entity phase: empty its table, and forget its copy (checkpoint, counters,
-- quarantined rows, id mappings), so that `up` copies it again from the start.

-- TRUNCATE (fast, whatever the size) needs every table that references this one, directly or
-- not, in the same statement: they must be empty already (their phases come later, so `weir
-- down` has rolled them back first), and are checked, so nothing else is ever emptied.
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

local function forget_copy(db, e)
  db:exec("DELETE FROM " .. STATE .. ".checkpoints WHERE key = $1", "copy/" .. e.source)
  db:exec("DELETE FROM " .. STATE .. ".copies WHERE name = $1", e.source)
  db:exec("DELETE FROM " .. STATE .. ".quarantine WHERE copy = $1", e.source)
  db:exec("DELETE FROM " .. STATE .. ".id_map WHERE namespace = $1", e.ns)
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
      db:tx(function()
        empty_table(db, e)
        forget_copy(db, e)
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
      resolved = a.resolved, extra = a.extra, missing = #a.missing, mismatched = #a.mismatched, rate = rate(a) }
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
  description = "seed 003: legacy dispatch_* tables into the UUID-keyed schema, with quarantine and incremental sync",

  phase "schema" {
    description = "the new schema: uuid keys, foreign keys, CHECKs, NOT NULLs, timestamptz",
    up = function(db)
      db:exec [[
        CREATE TYPE order_status AS ENUM ('pending', 'in_progress', 'completed', 'cancelled');

        CREATE TABLE offices (
          id          uuid PRIMARY KEY,
          code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Z0-9]+$'),
          name        text NOT NULL,
          city        text,
          phone       text CHECK (phone ~ '^\+1[0-9]{10}$'),
          created_at  timestamptz NOT NULL,
          updated_at  timestamptz NOT NULL
        );

        CREATE TABLE profiles (
          id          uuid PRIMARY KEY,
          office_id   uuid REFERENCES offices,
          email       text NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '_%@_%'),
          full_name   text NOT NULL,
          role        text NOT NULL CHECK (role IN ('admin', 'staff', 'doctor')),
          phone       text CHECK (phone ~ '^\+1[0-9]{10}$'),
          created_at  timestamptz NOT NULL,
          updated_at  timestamptz NOT NULL
        );
        CREATE INDEX ON profiles (office_id);

        CREATE TABLE doctors (
          id          uuid PRIMARY KEY,
          profile_id  uuid NOT NULL UNIQUE REFERENCES profiles,
          office_id   uuid NOT NULL REFERENCES offices,
          license_no  text NOT NULL UNIQUE CHECK (license_no <> ''),
          specialty   text,
          active      boolean NOT NULL,
          created_at  timestamptz NOT NULL,
          updated_at  timestamptz NOT NULL
        );
        CREATE INDEX ON doctors (office_id);

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
          updated_at        timestamptz NOT NULL
        );
        CREATE INDEX ON patients (office_id);
        CREATE INDEX ON patients (primary_doctor_id);

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
          updated_at  timestamptz NOT NULL
        );
        CREATE INDEX ON orders (patient_id);
        CREATE INDEX ON orders (doctor_id);
        CREATE INDEX ON orders (office_id);

        CREATE TABLE comments (
          id          uuid PRIMARY KEY,
          order_id    uuid NOT NULL REFERENCES orders,
          author_id   uuid NOT NULL REFERENCES profiles,
          parent_id   uuid REFERENCES comments CHECK (parent_id <> id),
          body        text NOT NULL CHECK (body <> ''),
          created_at  timestamptz NOT NULL,
          updated_at  timestamptz NOT NULL
        );
        CREATE INDEX ON comments (order_id);
        CREATE INDEX ON comments (author_id);
        CREATE INDEX ON comments (parent_id);
      ]]
    end,
    verify = function(db)
      for _, e in ipairs(ENTITIES) do
        if not db:value("SELECT to_regclass($1) IS NOT NULL", e.target) then return false, "table " .. e.target .. " is missing" end
      end
      return true
    end,
    down = function(db)
      db:exec "DROP TABLE comments, orders, patients, doctors, profiles, offices"
      db:exec "DROP TYPE order_status"
    end,
  },

  entity_phase("offices", { "schema" }),
  entity_phase("profiles", { "offices" }),
  entity_phase("doctors", { "profiles", "offices" }),
  entity_phase("patients", { "doctors", "offices" }),
  entity_phase("orders", { "patients", "doctors", "offices" }),
  entity_phase("comments", { "orders", "profiles" }),

  -- Rows changed in the legacy database since the last pass, in the same order (a new order's
  -- patient arrives before the order). Nothing to undo: what it wrote belongs to the entity
  -- phases, whose rollback empties the tables. Deletions in the legacy database are not seen
  -- (no changed_at to move): see the README.
  phase "sync" {
    description = "incremental pass: rows whose changed_at moved since the last pass, upserted in dependency order",
    transaction = false,
    requires = { "comments" },
    up = function(db)
      for _, e in ipairs(ENTITIES) do run_copy(db, e) end
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
