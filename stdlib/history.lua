--- history: weir's state in the database (schema `weir` by default), created on first use and
--- versioned so later releases can upgrade it. All SQL about applied migrations lives here.
local H = {}

H.VERSION = 6

-- Each entry upgrades the state schema from version i-1 to i. Never edit a released entry:
-- append a new one.
local UPGRADES = {
  [[
  CREATE TABLE %s.migrations (
    id          text PRIMARY KEY,
    checksum    text NOT NULL,
    description text,
    applied_at  timestamptz,
    applied_by  text,
    duration    interval,
    baseline    boolean NOT NULL DEFAULT false
  );
  CREATE TABLE %s.phases (
    migration   text NOT NULL,
    phase       text NOT NULL,
    position    int NOT NULL,
    state       text NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed', 'rolled_back')),
    started_at  timestamptz,
    finished_at timestamptz,
    error       text,
    attempts    int NOT NULL DEFAULT 0,
    PRIMARY KEY (migration, phase)
  );
  CREATE TABLE %s.checkpoints (
    key        text PRIMARY KEY,
    value      jsonb,
    updated_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE %s.events (
    id        bigserial PRIMARY KEY,
    seq       bigint NOT NULL,
    ts        timestamptz NOT NULL DEFAULT clock_timestamp(),
    type      text NOT NULL,
    migration text,
    phase     text,
    payload   jsonb NOT NULL DEFAULT '{}'
  );
  CREATE INDEX ON %s.events (migration, seq);
  ]],
  -- 2: the copy module's state
  [[
  CREATE TABLE %s.copies (
    name        text PRIMARY KEY,
    rows_read   bigint NOT NULL DEFAULT 0,
    rows_written bigint NOT NULL DEFAULT 0,
    rows_quarantined bigint NOT NULL DEFAULT 0,
    started_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
  );
  CREATE TABLE %s.quarantine (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    copy        text NOT NULL,
    source_key  jsonb,
    row         jsonb,
    error       text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
  );
  CREATE INDEX ON %s.quarantine (copy);
  CREATE TABLE %s.id_map (
    namespace   text NOT NULL,
    legacy_id   text NOT NULL,
    new_id      uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace, legacy_id)
  );
  CREATE TABLE %s.copy_ranges (
    copy        text NOT NULL,
    range_no    bigint NOT NULL,
    lo          jsonb,
    hi          jsonb,
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done')),
    claimed_by  text,
    claimed_at  timestamptz,
    rows        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (copy, range_no)
  );
  ]],
  -- 3: feature flags, and the function the application asks them with
  [[
  CREATE TABLE %s.flags (
    name        text PRIMARY KEY,
    description text,
    enabled     boolean NOT NULL DEFAULT false,
    percent     int NOT NULL DEFAULT 100 CHECK (percent BETWEEN 0 AND 100),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE %s.flag_overrides (
    name        text NOT NULL REFERENCES %s.flags ON DELETE CASCADE,
    subject     text NOT NULL,
    enabled     boolean NOT NULL,
    PRIMARY KEY (name, subject)
  );
  CREATE TABLE %s.flag_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       text NOT NULL DEFAULT current_user,
    change      text NOT NULL,
    old         jsonb,
    new         jsonb
  );
  CREATE INDEX ON %s.flag_history (name, id);
  -- On for `subject` when: an override says so; else the flag is enabled and either fully
  -- rolled out or the subject's stable bucket (0-99, from a hash of flag and subject) is
  -- below the percentage -- so a subject that is in stays in as the percentage grows.
  CREATE FUNCTION %s.flag_enabled(flag text, subject text DEFAULT NULL) RETURNS boolean
  LANGUAGE sql STABLE AS $weir$
    SELECT coalesce(
      (SELECT o.enabled FROM %s.flag_overrides o WHERE o.name = flag AND o.subject = flag_enabled.subject),
      (SELECT f.enabled AND (f.percent >= 100 OR (flag_enabled.subject IS NOT NULL AND
              mod(abs(hashtextextended(flag || '/' || flag_enabled.subject, 0)), 100) < f.percent))
         FROM %s.flags f WHERE f.name = flag),
      false)
  $weir$;
  ]],
  -- 4: copy.update runs are recorded too: the kind of each copy, and the checkpoint it keeps
  -- (copy.reset forgets it even when it is named differently from the copy)
  [[
  ALTER TABLE %s.copies
    ADD COLUMN kind text NOT NULL DEFAULT 'table' CHECK (kind IN ('table', 'update')),
    ADD COLUMN checkpoint text,
    DROP CONSTRAINT copies_pkey,
    ADD PRIMARY KEY (kind, name);
  ]],
  -- 5: a non-transactional down records 'rolling_back' while it runs, as up records 'running'
  [[
  ALTER TABLE %s.phases DROP CONSTRAINT phases_state_check;
  ALTER TABLE %s.phases ADD CONSTRAINT phases_state_check
    CHECK (state IN ('pending', 'running', 'done', 'failed', 'rolled_back', 'rolling_back'));
  ]],
  -- 6: online schema changes (stdlib/online.lua): one row per change that start created, with
  -- what it resolved to (definition), so complete, rollback and reopen act on exactly that
  [[
  CREATE TABLE %s.online_changes (
    name            text PRIMARY KEY,
    state           text NOT NULL CHECK (state IN ('active', 'contracted', 'completed', 'reopening')),
    direction       text NOT NULL DEFAULT 'up' CHECK (direction IN ('up', 'down')),
    version_schemas text[] NOT NULL,
    tables          text[] NOT NULL,
    definition      jsonb NOT NULL,
    fingerprint     text NOT NULL,
    started_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
  );
  ]],
}

---Creates or upgrades the state schema. Call with the migration lock held.
function H.ensure(conn, schema)
  local s = conn:quote_ident(schema)
  conn:tx(function()
    -- Two sessions ensuring at once (two copy workers) take turns.
    conn:exec("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($1))", "weir state " .. schema)
    conn:exec("CREATE SCHEMA IF NOT EXISTS " .. s)
    conn:exec("CREATE TABLE IF NOT EXISTS " .. s .. ".state_version (version int NOT NULL)")
    local v = conn:value("SELECT max(version) FROM " .. s .. ".state_version")
    v = (v == nil or db.isnull(v)) and 0 or v
    if v > H.VERSION then
      error(string.format("the state schema %s is at version %d, newer than this weir understands (%d): upgrade weir",
        schema, v, H.VERSION), 0)
    end
    for i = v + 1, H.VERSION do
      conn:exec((UPGRADES[i]:gsub("%%s", s)))
      conn:exec("INSERT INTO " .. s .. ".state_version VALUES ($1)", i)
    end
  end)
end

---Whether the state schema has table `name` (the schema quoted: "Ops" and "my-state" work).
function H.has_table(conn, schema, name)
  return conn:value("SELECT pg_catalog.to_regclass($1) IS NOT NULL", conn:quote_ident(schema) .. "." .. name) == true
end

---A timestamptz expression as SQL text of an RFC 3339 UTC time ("2026-05-01T12:00:03.123456Z"),
---or NULL: how every time weir reports (status, events) is written.
function H.rfc3339(expr)
  return "pg_catalog.to_char((" .. expr .. ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
end

---The server's time now, as RFC 3339 UTC text (what a phase records as its start).
function H.now(conn)
  return conn:value("SELECT " .. H.rfc3339("pg_catalog.clock_timestamp()"))
end

---Everything recorded: migrations[id] = row, phases[id][phase] = row. Times are RFC 3339 UTC
---text; durations are seconds (duration_seconds).
function H.load(conn, schema)
  local s = conn:quote_ident(schema)
  local migrations, phases = {}, {}
  for _, r in ipairs(conn:query("SELECT id, checksum, description, " .. H.rfc3339("applied_at") ..
      " AS applied_at, applied_by, pg_catalog.date_part('epoch', duration)::float8 AS duration_seconds, baseline FROM " ..
      s .. ".migrations")) do
    migrations[r.id] = r
  end
  for _, r in ipairs(conn:query("SELECT migration, phase, position, state, " .. H.rfc3339("started_at") ..
      " AS started_at, " .. H.rfc3339("finished_at") .. " AS finished_at, " ..
      "pg_catalog.date_part('epoch', finished_at - started_at)::float8 AS duration_seconds, error, attempts FROM " ..
      s .. ".phases ORDER BY migration, position")) do
    phases[r.migration] = phases[r.migration] or {}
    phases[r.migration][r.phase] = r
  end
  return migrations, phases
end

---Records the migration row (first phase run, or a repaired checksum).
function H.touch_migration(conn, schema, mig, checksum)
  conn:exec("INSERT INTO " .. conn:quote_ident(schema) .. [[.migrations (id, checksum, description)
    VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET checksum = excluded.checksum,
    description = excluded.description]], mig.id, checksum, mig.description)
end

---Sets a phase's state (and error), creating its row when needed. `started_at` (RFC 3339
---text, H.now) is when this run of the phase began: a run records its own start, read before
---it ran (nil keeps the recorded one). A finishing state (done, failed, rolled_back) records
---the time now as finished_at. `attempts` is added to the phase's count of runs of `up`.
function H.set_phase(conn, schema, mig_id, phase, state, err, started_at, attempts)
  local s = conn:quote_ident(schema)
  conn:exec("INSERT INTO " .. s .. [[.phases AS p (migration, phase, position, state, started_at, finished_at, error, attempts)
    VALUES ($1, $2, $3, $4, coalesce($6::timestamptz, pg_catalog.clock_timestamp()),
            CASE WHEN $4 IN ('done', 'failed', 'rolled_back') THEN pg_catalog.clock_timestamp() END, $5, $7)
    ON CONFLICT (migration, phase) DO UPDATE SET
      state = excluded.state, position = excluded.position, error = excluded.error,
      started_at = coalesce($6::timestamptz, p.started_at, excluded.started_at),
      finished_at = excluded.finished_at,
      attempts = p.attempts + $7]],
    mig_id, phase.name, phase.index, state, err, started_at or db.NULL, attempts or 0)
end

---Forgets the checkpoints of a phase (when it is rolled back, its progress means nothing).
function H.clear_checkpoints(conn, schema, mig_id, phase_name)
  local prefix = mig_id .. "/" .. phase_name .. "/"
  conn:exec("DELETE FROM " .. conn:quote_ident(schema) .. ".checkpoints WHERE left(key, length($1)) = $1", prefix)
end

---Marks a migration applied when every phase is done, unapplied otherwise.
function H.settle_migration(conn, schema, mig)
  local s = conn:quote_ident(schema)
  conn:exec("UPDATE " .. s .. [[.migrations m SET
      applied_at = CASE WHEN d.all_done THEN coalesce(m.applied_at, now()) END,
      applied_by = CASE WHEN d.all_done THEN coalesce(m.applied_by, current_user) END,
      duration   = CASE WHEN d.all_done THEN d.took END
    FROM (SELECT count(*) FILTER (WHERE state = 'done') = $2 AS all_done,
                 max(finished_at) - min(started_at) AS took
            FROM ]] .. s .. [[.phases WHERE migration = $1) d
    WHERE m.id = $1]], mig.id, #mig.phases)
end

---Appends an event; returns its seq (monotonic per migration) and timestamp (RFC 3339 UTC).
function H.event(conn, schema, type_, mig_id, phase_name, payload)
  local s = conn:quote_ident(schema)
  local row = conn:one("INSERT INTO " .. s .. [[.events (seq, type, migration, phase, payload)
      SELECT coalesce(max(seq), 0) + 1, $1, $2, $3, $4 FROM ]] .. s .. [[.events
       WHERE migration IS NOT DISTINCT FROM $2
    RETURNING seq, ]] .. H.rfc3339("ts") .. " AS ts", type_, mig_id, phase_name, db.json(payload or json.object()))
  return row.seq, row.ts
end

return H
