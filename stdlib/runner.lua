--- runner: applies, rolls back and reports migrations — the phase state machine.
---
--- A transactional phase runs up, verify and its `done` record in one transaction; on error
--- the transaction rolls back and a `failed` record is written afterwards on the runner's own
--- session. A non-transactional phase records `running`, runs up and verify in autocommit,
--- then records `done`; a crash leaves `running`, which status shows as interrupted and the
--- next `up` re-runs. A non-transactional `down` records `rolling_back` the same way.
---
--- Two runners never interleave: a session-level advisory lock, polled with pg_try_advisory_lock
--- on a session of its own (weir.session_lock), is held for the whole command; a background
--- thread keeps that session from idling and notices within a second when it is gone. While a
--- phase runs, a statement hook on `db` (package.loaded["db.hooks"]) stops the phase at its next
--- statement when the lock is lost or the phase's `timeout` passed, and runs concurrent index
--- builds without lock_timeout; before a phase is recorded, the lock is checked with a round
--- trip, and a non-transactional phase is checked for INVALID indexes it left behind.
local history = require "history"
local migration = require "migration"
local sql = require "sql"
local hooks = require "db.hooks"
-- call(f, ...): a script's function (up, down, verify, a requirement's check), so that an error
-- raised after it tail-called a helper (return flags.define(…)) names its line (lua/where.hpp)
local call = require("weir.protected").call
local progress = require "progress"

local R = {}
R.call = call

local current_ctx  -- the phase running now, for weir.checkpoint

---The running phase's context ({db, schema, migration, phase, emit}), or nil.
function R.current() return current_ctx end

local LOCK_CLASS = 0x77656972  -- "weir"

-- The defaults of --lock-timeout and --retries, kept here only (docs/migrations.md says what
-- they cost; scripts/bench-lock-retry measures it). While a statement waits for its lock, every
-- query on the table queues behind it: each attempt may stall the table's readers for up to
-- lock_timeout, and nothing is blocked during the pauses between attempts.
R.DEFAULT_LOCK_TIMEOUT_MS = 500
R.DEFAULT_RETRIES = 10
R.BACKOFF_FIRST, R.BACKOFF_MAX = 1, 10  -- seconds: 1, 2, 4, 8, 10, 10 … each ×0.5–1.5

-- Every JSON document weir prints (status, plan, lint, up/down --json) and every event carries
-- this; it changes only when a field changes meaning or goes away (grammar/*.schema.json).
R.FORMAT_VERSION = 1

local function say(fmt, ...) progress.say(fmt, ...) end

-- ---------------------------------------------------------------------------------------------
-- Loading scripts

local function numeric_prefix(id) return tonumber(id:match("^(%d+)")) end

local function id_less(a, b)
  local na, nb = numeric_prefix(a), numeric_prefix(b)
  if na and nb and na ~= nb then return na < nb end
  if (na == nil) ~= (nb == nil) then return na ~= nil end
  return a < b
end

local function list_dir(dir)
  local all = weir.list_dir(dir)
  if not all then return nil end
  local names = {}
  for _, name in ipairs(all) do
    if name:match("%.lua$") then names[#names + 1] = name end
  end
  return names
end

local read_file = require("weir_util").read_file

-- Lua shortens long chunk names to "...<tail>" in messages; put the script's path back.
local function full_paths(text, path)
  if type(text) ~= "string" then return text end
  return (text:gsub("%.%.%.([^:\n]+):(%d+):", function(tail, line)
    if path:sub(-#tail) == tail then return path .. ":" .. line .. ":" end
  end))
end
R.full_paths = full_paths
R.id_less = id_less

---Loads every migration script of `dir`, validating all before anything runs.
function R.load_all(dir)
  local names = list_dir(dir)
  if not names then error(string.format("migrations directory %s does not exist (create it, or use --dir)", dir), 0) end
  local list, by_id = {}, {}
  for _, name in ipairs(names) do
    local path = dir .. "/" .. name
    local stem = name:gsub("%.lua$", "")
    local text = read_file(path)
    local chunk, err = load(text, "@" .. path, "t")
    if not chunk then error(full_paths(err, path), 0) end
    local ok, m = pcall(chunk)
    if not ok then error(full_paths(type(m) == "string" and m or tostring(m), path), 0) end
    if not migration.is_migration(m) then
      error(path .. ": the script must return migration \"" .. stem .. "\" { ... }", 0)
    end
    if m.id ~= stem then
      error(full_paths(string.format("%smigration id '%s' does not match its file name %s (expected '%s')", m.where, m.id, name, stem), path), 0)
    end
    m.path, m.text = path, text
    list[#list + 1] = m
    by_id[m.id] = m
  end
  table.sort(list, function(a, b) return id_less(a.id, b.id) end)
  for i, m in ipairs(list) do m.order = i end
  return list, by_id
end

-- ---------------------------------------------------------------------------------------------
-- The run context: sessions, lock, events

local function checksum(conn, text)
  return conn:value("SELECT encode(sha256($1::bytea), 'hex')", db.bytea(text))
end

local function open_events(path)
  if not path or path == "" then return nil end
  if path == "-" then return io.stdout end
  local f, err = io.open(path, "a")
  if not f then error("--events: " .. err, 0) end
  return f
end

-- weir's own sessions stay connected however long a phase keeps them idle: a server (or role,
-- or database) idle_session_timeout must not end them mid-run. Servers before 14 have none.
local function never_idle_out(conn)
  pcall(conn.exec, conn, "SET idle_session_timeout = 0")
end

local function new_context(opts)
  local ctx = {
    opts = opts,
    schema = opts.schema or "weir",
    db = db,
    retries = tonumber(opts.retries) or R.DEFAULT_RETRIES,
  }
  ctx.events_file = open_events(opts.events)
  -- The runner's own session: events, and records written outside a phase's transaction
  -- (failures, running markers). The migration lock has a session of its own (acquire_lock).
  ctx.state = weir.connect(opts.url or "")
  ctx.state:exec("SET application_name = 'weir " .. (opts.command or "") .. "'")
  never_idle_out(ctx.state)
  ctx.collected = opts.collect  -- up/down --json: the events, printed at the end
  function ctx.emit(type_, fields)
    fields = json.object(fields or {})
    local mig, ph = fields.migration, fields.phase
    fields.migration, fields.phase = nil, nil
    local ok, seq, ts = pcall(history.event, ctx.state, ctx.schema, type_, mig, ph, fields)
    if not ok then
      -- the state schema could not record it (its session is gone): the stream still gets it
      seq, ts = db.NULL, os.date("!%Y-%m-%dT%H:%M:%SZ")
    end
    local e = { format_version = R.FORMAT_VERSION, seq = seq, ts = ts, type = type_,
      migration = mig or db.NULL, phase = ph or db.NULL, details = fields }
    if ctx.events_file then
      ctx.events_file:write(json.encode(e), "\n")
      ctx.events_file:flush()
    end
    if ctx.collected then ctx.collected[#ctx.collected + 1] = e end
  end
  return ctx
end

local function close_context(ctx)
  if ctx.events_file and ctx.events_file ~= io.stdout then ctx.events_file:close() end
  if ctx.lock then ctx.lock:release() end
  ctx.state:close()
end

local function describe_holder(ctx, key2)
  local h = ctx.state:one([[
    SELECT a.pid, coalesce(a.application_name, '') AS app, coalesce(a.usename::text, '') AS usr,
           coalesce(host(a.client_addr), 'local') AS addr, a.backend_start::text AS since
      FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.granted
       -- an advisory lock belongs to its database: the same key elsewhere is another migration
       AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())]],
    LOCK_CLASS, key2)
  if not h then return "another session (it has just released it)" end
  return string.format("backend pid %d ('%s', user %s from %s, connected since %s)", h.pid, h.app, h.usr, h.addr, h.since)
end

local function acquire_lock(ctx)
  local key2 = ctx.state:value("SELECT pg_catalog.hashtext($1)", ctx.schema)
  local wait = tonumber(ctx.opts.lock_wait) or 60
  local deadline = weir.clock() + wait
  local announced = false
  ctx.lock = weir.session_lock(ctx.opts.url or "", LOCK_CLASS, key2,
    { application_name = "weir " .. (ctx.opts.command or "") .. " (migration lock)" })
  while true do
    if ctx.lock:try() then
      ctx.lock_key = key2
      if announced then announced.task:done() end
      return
    end
    if weir.clock() >= deadline then
      if announced then announced.task:done() end
      error(string.format("another weir holds the migration lock on schema %s: %s; gave up after %gs (--lock-wait)",
        ctx.schema, describe_holder(ctx, key2), wait), 0)
    end
    if not announced then
      say("%s for the migration lock, held by %s", progress.paint("waiting", "waiting"), describe_holder(ctx, key2))
      announced = { task = progress.task("waiting for the migration lock") }
    end
    weir.sleep(0.2)
  end
end

local function configure_session(ctx)
  local lock_ms = tonumber(ctx.opts.lock_timeout_ms) or R.DEFAULT_LOCK_TIMEOUT_MS
  local stmt_ms = tonumber(ctx.opts.statement_timeout_ms) or 0
  db:exec(string.format("SET lock_timeout = %d", lock_ms))
  db:exec(string.format("SET statement_timeout = %d", stmt_ms))
  never_idle_out(db)
  -- Lets the server notice within a second that weir died mid-statement and roll back.
  pcall(db.exec, db, "SET client_connection_check_interval = 1000")
end

-- ---------------------------------------------------------------------------------------------
-- Running phases

local function error_text(e)
  if type(e) == "table" and e.sqlstate then
    -- a password in the SQL (ALTER ROLE … PASSWORD '…') reaches no record, event or message
    local query, message, detail = require("sql").redact(e.query or "", e.message, e.detail)
    local t = e.sqlstate .. " " .. message
    if detail then t = t .. " (detail: " .. detail .. ")" end
    return t .. " in: " .. query:gsub("%s+", " ")
  end
  return tostring(e)
end

local function is_lock_timeout(e) return type(e) == "table" and e.sqlstate == "55P03" end

local function call_verify(ph, conn)
  if not ph.verify then return end
  local ok, msg = call(ph.verify, conn)
  if ok == false then error("verify failed" .. (msg and (": " .. tostring(msg)) or ""), 0) end
end

-- The pause after the attempt-th lock timeout: exponential, capped, with jitter so that two
-- runners (or weir and an application retrying the same way) do not keep colliding.
local function backoff(attempt)
  local base = R.BACKOFF_FIRST * 2 ^ (attempt - 1)
  return math.min(base, R.BACKOFF_MAX) * (0.5 + math.random())
end

-- ---------------------------------------------------------------------------------------------
-- Watching a phase: the lock, its timeout, concurrent index builds

-- Why a phase was stopped by the runner rather than by its own code: a lost lock ("lost") or
-- its timeout ("timeout"). Raised from the statement hook, so it also stops a script that
-- swallows the first one: every later statement raises it again.
local Stop = { __tostring = function(e) return e.text end }
local function stop(kind, text) return setmetatable({ stop = kind, text = text }, Stop) end
local function stopped(e, kind) return getmetatable(e) == Stop and e.stop == kind end

local function lock_lost_text(why)
  return "the migration lock was lost: " .. why
end

local function timeout_text(ph)
  return string.format("timed out: the phase ran longer than its timeout of %gs (the statement " ..
    "running then was cancelled)", ph.timeout)
end

-- Statements that only end or undo work: let through even when the phase is being stopped, so
-- db:tx can roll back.
local function undoes(text)
  if type(text) ~= "string" then return false end
  local word = (text:match("^%s*(%a+)") or ""):upper()
  return word == "ROLLBACK" or word == "ABORT" or word == "RELEASE"
end

local CONCURRENTLY = "[Cc][Oo][Nn][Cc][Uu][Rr][Rr][Ee][Nn][Tt][Ll][Yy]"

-- The concurrent index statements in `text`, read with PostgreSQL's parser: CREATE INDEX
-- CONCURRENTLY, REINDEX (CONCURRENTLY) and DROP INDEX CONCURRENTLY, as {kind, relation, object}.
-- Text that does not mention CONCURRENTLY is not parsed; text that does not parse is the
-- server's to reject.
local function concurrent_statements(text)
  if type(text) ~= "string" or not text:find(CONCURRENTLY) then return {} end
  local ok, stmts = pcall(sql.parse, text)
  if not ok then return {} end
  local out = {}
  for _, st in ipairs(stmts) do
    local t = st.tree or {}
    if st.kind == "IndexStmt" and t.concurrent then
      out[#out + 1] = { kind = "create", relation = t.relation }
    elseif st.kind == "ReindexStmt" then
      for _, param in ipairs(t.params or {}) do
        if param.DefElem and param.DefElem.defname == "concurrently" then
          out[#out + 1] = { kind = "reindex", relation = t.relation, object = t.kind }
        end
      end
    elseif st.kind == "DropStmt" and t.concurrent then
      out[#out + 1] = { kind = "drop" }
    end
  end
  return out
end

local function range_var_sql(conn, rv)
  if type(rv) ~= "table" or not rv.relname then return nil end
  return (rv.schemaname and (conn:quote_ident(rv.schemaname) .. ".") or "") .. conn:quote_ident(rv.relname)
end

-- The table a concurrent build works on (its oid), or nil: the table of CREATE INDEX and
-- REINDEX TABLE, the index's table for REINDEX INDEX.
local function build_table(conn, st)
  local name = range_var_sql(conn, st.relation)
  if not name then return nil end
  if st.kind == "create" or (st.kind == "reindex" and st.object == "REINDEX_OBJECT_TABLE") then
    local oid = conn:value("SELECT pg_catalog.to_regclass($1)::pg_catalog.oid", name)
    return not db.isnull(oid) and oid or nil
  elseif st.kind == "reindex" and st.object == "REINDEX_OBJECT_INDEX" then
    return conn:value([[SELECT x.indrelid FROM pg_catalog.pg_index x
                         WHERE x.indexrelid = pg_catalog.to_regclass($1)]], name)
  end
  return nil
end

-- When the transaction began (to the microsecond, whatever the session's TimeZone or DateStyle):
-- the same at the end of a transactional phase, or the phase ended it and began another.
local TX_START = "SELECT EXTRACT(epoch FROM pg_catalog.now())::pg_catalog.text"

-- What the runner watches while one run of a phase is in progress.
local function start_watch(ctx, ph)
  local w = { tables = {}, relaxed = false, busy = false }
  if ph.timeout then w.deadline = weir.deadline(ph.timeout) end
  -- Every other connection the phase uses (weir.connect, weir.connection, a helper's) is held
  -- to the same deadline and lock: its next statement is refused once either is gone, as
  -- `db`'s is. The runner's own session records the outcome, and is left alone.
  hooks.others = function(_, text)
    if undoes(text) then return end
    local why = ctx.lock:lost()
    if why then error(stop("lost", lock_lost_text(why)), 0) end
    if w.deadline and w.deadline:expired() then error(stop("timeout", timeout_text(ph)), 0) end
  end
  hooks[ctx.state] = false
  -- Called by db before each statement of the phase on `db`.
  hooks[db] = function(conn, text)
    if w.busy then return end
    if w.guard then  -- a transactional phase's code: the transaction is weir's (plan's rule too)
      local statement, refusal = sql.transaction_control(text)
      if statement then error(refusal, 3) end
    end
    if undoes(text) then return end
    local why = ctx.lock:lost()
    if why then error(stop("lost", lock_lost_text(why)), 0) end
    if w.deadline and w.deadline:expired() then error(stop("timeout", timeout_text(ph)), 0) end
    local concurrent = concurrent_statements(text)
    if #concurrent == 0 and not w.relaxed then return end
    w.busy = true
    local ok, err = pcall(function()
      if #concurrent > 0 and not conn:in_transaction() then
        -- A concurrent build waits for every older transaction to finish under lock_timeout too:
        -- the short timeout meant for ACCESS EXCLUSIVE statements would cancel it half-way and
        -- leave an INVALID index. Its own lock (SHARE UPDATE EXCLUSIVE) queues no reader or
        -- writer, so it may wait; statement_timeout and the phase's timeout still bound it.
        if not w.relaxed then
          w.lock_timeout = conn:value "SELECT pg_catalog.current_setting('lock_timeout')"
          conn:exec("SET lock_timeout = 0")
          w.relaxed = true
        end
        for _, st in ipairs(concurrent) do
          local oid = build_table(conn, st)
          if oid then w.tables[#w.tables + 1] = oid end
        end
      elseif w.relaxed then
        conn:exec("SELECT pg_catalog.set_config('lock_timeout', $1, false)", w.lock_timeout)
        w.relaxed = false
      end
    end)
    w.busy = false
    if not ok then error(err, 0) end
  end
  return w
end

-- Ends the watch (idempotent): no hook, no deadline, lock_timeout as configured. Raises when
-- the phase ran out of time.
local function end_watch(ctx, w, ph)
  hooks[db] = nil
  hooks.others = nil
  hooks[ctx.state] = nil
  local expired = false
  if w.deadline then
    w.deadline:close()
    expired = w.deadline:expired()
  end
  if w.relaxed and db:transaction_status() == "idle" then
    w.relaxed = false
    db:exec("SELECT pg_catalog.set_config('lock_timeout', $1, false)", w.lock_timeout)
  end
  if expired then error(stop("timeout", timeout_text(ph)), 0) end
end

-- Raises unless this runner still holds the migration lock (asked with a round trip).
local function confirm_lock(ctx)
  local held, why = ctx.lock:check()
  if not held then error(stop("lost", lock_lost_text(why)), 0) end
end

-- INVALID indexes (pg_index.indisvalid = false) that are not being built right now by another
-- session: oid, name (schema-qualified), table.
local INVALID_INDEXES = [[
  SELECT x.indexrelid::pg_catalog.int8 AS oid, x.indrelid::pg_catalog.int8 AS table_oid,
         pg_catalog.format('%I.%I', n.nspname, c.relname) AS name,
         pg_catalog.format('%I.%I', tn.nspname, t.relname) AS table_name
    FROM pg_catalog.pg_index x
    JOIN pg_catalog.pg_class c ON c.oid = x.indexrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
    JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
   WHERE NOT x.indisvalid
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_progress_create_index p
                      WHERE p.index_relid = x.indexrelid AND p.pid <> pg_catalog.pg_backend_pid())
   ORDER BY 3]]

local function invalid_indexes(conn) return conn:query(INVALID_INDEXES) end

-- After a non-transactional run: refuses to call the phase done while it left an INVALID
-- index — one on a table it built an index on concurrently, or one that was not there when the
-- phase started. Such an index is what a cancelled, failed or killed CREATE INDEX CONCURRENTLY
-- leaves, and CREATE INDEX … IF NOT EXISTS would skip it on every later run.
local function refuse_invalid_indexes(ctx, w, before)
  local built, was = {}, {}
  for _, oid in ipairs(w.tables) do built[oid] = true end
  for _, r in ipairs(before) do was[r.oid] = true end
  local left = {}
  for _, r in ipairs(invalid_indexes(ctx.state)) do
    if built[r.table_oid] or not was[r.oid] then left[#left + 1] = r end
  end
  if #left == 0 then return end
  local names = {}
  for i, r in ipairs(left) do names[i] = r.name .. " on " .. r.table_name end
  error(string.format("left INVALID index %s: a concurrent index build that failed, was cancelled or " ..
    "was interrupted leaves one behind (unusable for reads, still updated by every write), and " ..
    "CREATE INDEX ... IF NOT EXISTS skips it; drop it (DROP INDEX CONCURRENTLY %s) and run the phase " ..
    "again — ddl.create_index replaces such a leftover itself", table.concat(names, ", "), left[1].name), 0)
end

-- Runs one phase in `direction` ("up" or "down"). Returns true, or false, the error text and
-- whether the migration lock was lost (then nothing more may be recorded).
local function run_phase(ctx, mig, ph, direction)
  local label = mig.id .. ":" .. ph.name
  local fn = direction == "up" and ph.up or ph.down
  local up = direction == "up"
  -- the INVALID indexes there were before the phase's first attempt
  local before = not ph.transaction and invalid_indexes(ctx.state) or nil
  -- When this run of the phase began, read before it runs: its record's started_at (a run
  -- records its own start, also when an earlier one failed).
  local started_at = history.now(ctx.state)
  say("%s %s", label, up and "started" or "rolling back")
  local task = progress.task(label)
  -- Events raised inside the phase (checkpoints, copies) carry its migration and phase.
  local function emit_here(type_, fields)
    fields = fields or {}
    if fields.migration == nil then fields.migration = mig.id end
    if fields.phase == nil then fields.phase = ph.name end
    ctx.emit(type_, fields)
  end
  local attempt = 0
  while true do
    attempt = attempt + 1
    ctx.emit(up and "phase_start" or "rollback_start",
      { migration = mig.id, phase = ph.name, attempt = attempt, transaction = ph.transaction })
    local t0 = weir.clock()
    current_ctx = { db = db, schema = ctx.schema, migration = mig.id, phase = ph.name, emit = emit_here }
    local w
    local ok, err
    if ph.transaction then
      ok, err = pcall(db.tx, db, function()
        local began = db:value(TX_START)
        w = start_watch(ctx, ph)
        w.guard = true  -- until fn and verify are over: what follows is weir's (db:tx's COMMIT/ROLLBACK)
        local ran, e = pcall(function()
          call(fn, db)
          if up then call_verify(ph, db) end
        end)
        w.guard = false
        if not ran then error(e, 0) end
        if db:transaction_status() == "failed" then
          error("a statement failed inside the phase and the error was caught", 0)
        end
        if db:transaction_status() ~= "open" or db:value(TX_START) ~= began then
          error("the phase ended its transaction itself (COMMIT/ROLLBACK inside a transactional phase)", 0)
        end
        end_watch(ctx, w, ph)
        confirm_lock(ctx)
        history.touch_migration(db, ctx.schema, mig, mig.checksum)
        -- every attempt of this run counts: the ones before this were rolled back unrecorded
        history.set_phase(db, ctx.schema, mig.id, ph, up and "done" or "rolled_back", nil, started_at,
          up and attempt or 0)
        if not up then history.clear_checkpoints(db, ctx.schema, mig.id, ph.name) end
      end)
    else
      ok, err = pcall(function()
        confirm_lock(ctx)
        history.touch_migration(ctx.state, ctx.schema, mig, mig.checksum)
        history.set_phase(ctx.state, ctx.schema, mig.id, ph, up and "running" or "rolling_back", nil, started_at,
          up and 1 or 0)
        w = start_watch(ctx, ph)
        call(fn, db)
        if up then call_verify(ph, db) end
        if db:in_transaction() then
          db:exec("ROLLBACK")
          error("the phase left a transaction open (BEGIN without COMMIT)", 0)
        end
        end_watch(ctx, w, ph)
        refuse_invalid_indexes(ctx, w, before)
        confirm_lock(ctx)
        history.set_phase(ctx.state, ctx.schema, mig.id, ph, up and "done" or "rolled_back")
        if not up then history.clear_checkpoints(ctx.state, ctx.schema, mig.id, ph.name) end
      end)
    end
    if w then
      local ended, e2 = pcall(end_watch, ctx, w, ph)
      if not ended and ok then ok, err = false, e2 end
    end
    current_ctx = nil
    local took = weir.clock() - t0
    if ok then
      history.settle_migration(ctx.state, ctx.schema, mig)
      ctx.emit(up and "phase_done" or "rollback_done",
        { migration = mig.id, phase = ph.name, seconds = took, attempts = attempt })
      say("%s %s (%.2fs)", label, progress.paint("ok", up and "done" or "rolled back"), task:done())
      return true
    end
    -- Whatever the phase's own error, a lost lock is the reason it stopped: another weir may be
    -- running now, so nothing more is written to the state schema.
    local lost = ctx.lock:lost()
    if lost or stopped(err, "lost") then
      say("%s %s (%.2fs)", label, progress.paint("failed", "stopped"), task:done())
      local text = stopped(err, "lost") and err.text or lock_lost_text(lost)
      ctx.emit("lock_lost", { migration = mig.id, phase = ph.name, error = text })
      return false, string.format("%s: %s stopped: %s; another weir may be running now, so this " ..
        "one stops without recording anything more (%s)", label, direction, text, ph.transaction and
        "the phase's transaction was rolled back" or
        "weir status shows the phase interrupted until it runs again"), true
    end
    if not stopped(err, "timeout") and w and w.deadline and w.deadline:expired() then
      -- the cancelled statement's 57014 (or what the script made of it): say why it came
      err = stop("timeout", timeout_text(ph))
    end
    if is_lock_timeout(err) and attempt <= ctx.retries then
      local pause = backoff(attempt)
      ctx.emit("retry", { migration = mig.id, phase = ph.name, attempt = attempt, sqlstate = err.sqlstate,
        message = err.message, pause = pause })
      say("%s: lock not available (55P03), retry %d/%d in %.1fs", label, attempt, ctx.retries, pause)
      task:set(("lock not available (55P03), retry %d/%d in %.1fs"):format(attempt, ctx.retries, pause))
      weir.sleep(pause)
      task:set("")
    else
      local text = error_text(err)
      local where = type(err) == "table" and err.where or ""
      text = full_paths(text, mig.path)
      local full = full_paths(string.format("%s: %s failed: %s%s", label, direction, where, text), mig.path)
      say("%s %s (%.2fs)", label, progress.paint("failed", "failed"), task:done())
      if up then
        -- a transactional run left no record: its start and attempts are recorded now
        pcall(history.set_phase, ctx.state, ctx.schema, mig.id, ph, "failed", text,
          ph.transaction and started_at or nil, ph.transaction and attempt or 0)
      else
        pcall(ctx.state.exec, ctx.state, "UPDATE " .. ctx.state:quote_ident(ctx.schema) ..
          ".phases SET error = $3 WHERE migration = $1 AND phase = $2", mig.id, ph.name, "down failed: " .. text)
      end
      ctx.emit(up and "phase_failed" or "rollback_failed",
        { migration = mig.id, phase = ph.name, error = text, sqlstate = type(err) == "table" and err.sqlstate or db.NULL })
      return false, full
    end
  end
end

-- ---------------------------------------------------------------------------------------------
-- Planning what to run

local function parse_target(spec, by_id, what)
  if not spec or spec == "" then return nil end
  local id, ph = spec:match("^([^:]+):(.+)$")
  id = id or spec
  local m = by_id[id]
  if not m then error(string.format("%s: no migration '%s' in the migrations directory", what, id), 0) end
  if ph then
    for _, p in ipairs(m.phases) do
      if p.name == ph then return m, p end
    end
    error(string.format("%s: migration '%s' has no phase '%s'", what, id, ph), 0)
  end
  return m, nil
end

local function state_of(phases, mig_id, ph_name)
  local r = phases[mig_id] and phases[mig_id][ph_name]
  return r and r.state or "pending"
end

-- Checksums of changed applied scripts, and applied migrations whose files are gone.
local function drift(ctx, list, recorded)
  local changed, missing = {}, {}
  local present = {}
  for _, m in ipairs(list) do
    present[m.id] = true
    m.checksum = checksum(ctx.state, m.text)
    local r = recorded[m.id]
    if r and r.checksum ~= m.checksum then changed[#changed + 1] = m end
  end
  for id in pairs(recorded) do
    if not present[id] then missing[#missing + 1] = id end
  end
  table.sort(missing, id_less)
  return changed, missing
end

local function requirement_unmet(ctx, mig, ph, phases, by_id)
  for _, ref in ipairs(ph.requires) do
    local mid, pname = ref:match("^([^:]+):(.+)$")
    if not mid then mid, pname = mig.id, ref end
    if not by_id[mid] then return string.format("requires %s, but there is no migration '%s'", ref, mid) end
    if state_of(phases, mid, pname) ~= "done" then
      return string.format("requires phase %s:%s to be done (it is %s)", mid, pname, state_of(phases, mid, pname))
    end
  end
  local req = ph.requires
  if req.sql then
    local ok, v = pcall(db.value, db, req.sql)
    if not ok then return "requirement query failed: " .. error_text(v) end
    if v ~= true then return "requires (" .. req.sql .. ") to be true" end
  end
  if req.check then
    local ok, v, why = pcall(call, req.check, db)
    if not ok then return "requirement check raised: " .. tostring(v) end
    if not v then return "requirement check not met" .. (why and (": " .. tostring(why)) or "") end
  end
  for _, key in ipairs { "flag_on", "flag_off" } do
    if req[key] then
      local exists = history.has_table(ctx.state, ctx.schema, "flags")
      local on = nil  -- no flags table: the flag is not defined (for flag_off too)
      if exists then
        on = ctx.state:value("SELECT enabled FROM " .. ctx.state:quote_ident(ctx.schema) ..
          ".flags WHERE name = $1", req[key])
      end
      if on == nil or db.isnull(on) then return "requires feature flag '" .. req[key] .. "', which is not defined" end
      if (key == "flag_on") ~= on then
        return string.format("requires feature flag '%s' to be %s", req[key], key == "flag_on" and "on" or "off")
      end
    end
  end
  return nil
end

---The phases `weir up [--to SPEC]` would run, in order: { {m=, p=, state=}, ... }.
function R.pending(list, by_id, phases, to)
  local stop_m, stop_p = parse_target(to, by_id, "--to")
  local out = {}
  for _, m in ipairs(list) do
    if stop_m and m.order > stop_m.order then break end
    for _, p in ipairs(m.phases) do
      if stop_m and m == stop_m and stop_p and p.index > stop_p.index then break end
      local st = state_of(phases, m.id, p.name)
      if st ~= "done" then out[#out + 1] = { m = m, p = p, state = st } end
    end
  end
  return out
end

-- Pieces `weir plan` (stdlib/plan.lua) shares with the runner.
R.drift, R.requirement_unmet, R.configure_session, R.error_text, R.say =
  drift, requirement_unmet, configure_session, error_text, say

---Sends what scripts `print` to stderr (for commands whose stdout is a document: plan, diff).
---Returns the function that restores `print`.
function R.print_to_stderr()
  local original = print
  rawset(_G, "print", function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    io.stderr:write(table.concat(parts, "\t", 1, parts.n), "\n")
  end)
  return function() rawset(_G, "print", original) end
end

---Sets (or clears, with nil) the context weir.checkpoint works in.
function R.set_current(ctx) current_ctx = ctx end

-- ---------------------------------------------------------------------------------------------
-- Commands

local function with_lock(opts, fn)
  local ctx = new_context(opts)
  local ok, err = pcall(function()
    acquire_lock(ctx)
    history.ensure(ctx.state, ctx.schema)
    configure_session(ctx)
    return fn(ctx)
  end)
  local code = ok and err or nil
  progress.reset()  -- a live line an error unwound past
  pcall(close_context, ctx)
  if not ok then error(err, 0) end
  return code
end

-- Says why the run stops (stderr) and keeps it for --json's `error`; returns exit code 1.
local function stop_run(opts, fmt, ...)
  local text = select("#", ...) > 0 and fmt:format(...) or fmt
  say("%s", text)
  opts.failure = opts.failure and (opts.failure .. "\n" .. text) or text
  return 1
end

function R.up(opts)
  local list, by_id = R.load_all(opts.dir)
  return with_lock(opts, function(ctx)
    local recorded, phases = history.load(ctx.state, ctx.schema)
    local changed, _ = drift(ctx, list, recorded)
    if #changed > 0 then
      for _, m in ipairs(changed) do
        stop_run(opts, "%s was changed after it was applied (checksum differs)", m.path)
      end
      return stop_run(opts, "refusing to run: review the changes, then accept them with `weir repair`")
    end
    local ran = 0
    ctx.emit("run_start", { command = "up", to = opts.to or db.NULL })
    for _, e in ipairs(R.pending(list, by_id, phases, opts.to)) do
      local m, p = e.m, e.p
      if e.state == "running" then say("%s:%s was interrupted; running it again", m.id, p.name) end
      if e.state == "rolling_back" then
        say("%s:%s was interrupted while rolling back; running up again to apply it whole", m.id, p.name)
      end
      local unmet = requirement_unmet(ctx, m, p, phases, by_id)
      if unmet then
        ctx.emit("blocked", { migration = m.id, phase = p.name, reason = unmet })
        return stop_run(opts, "%s:%s cannot run: %s", m.id, p.name, unmet)
      end
      local ok, err = run_phase(ctx, m, p, "up")
      if not ok then return stop_run(opts, "%s", err) end
      phases[m.id] = phases[m.id] or {}
      phases[m.id][p.name] = { state = "done" }
      ran = ran + 1
    end
    ctx.emit("run_done", { command = "up", phases = ran })
    if ran == 0 then say("nothing to do: every phase is applied") end
    return 0
  end)
end

function R.down(opts)
  local list, by_id = R.load_all(opts.dir)
  return with_lock(opts, function(ctx)
    local recorded, phases = history.load(ctx.state, ctx.schema)
    -- applied phases, in the order they were applied; a down that was interrupted is finished
    local done = {}
    for _, m in ipairs(list) do
      for _, p in ipairs(m.phases) do
        local st = state_of(phases, m.id, p.name)
        if st == "done" or st == "rolling_back" then done[#done + 1] = { m = m, p = p, state = st } end
      end
    end
    local todo = {}
    if opts.steps then
      local n = tonumber(opts.steps)
      for i = #done, math.max(1, #done - n + 1), -1 do todo[#todo + 1] = done[i] end
    else
      local tm, tp = parse_target(opts.target, by_id, "down")
      for i = #done, 1, -1 do
        local e = done[i]
        local after = e.m.order > tm.order or (e.m == tm and (not tp or e.p.index >= tp.index))
        if after then todo[#todo + 1] = e end
      end
    end
    local changed = drift(ctx, list, recorded)
    for _, m in ipairs(changed) do
      say("%s was changed after it was applied; rolling back with the current file", m.path)
    end
    for _, e in ipairs(todo) do
      if not e.p.down then
        return stop_run(opts, "%s:%s has no down function: nothing was rolled back", e.m.id, e.p.name)
      end
    end
    if #todo == 0 then
      say("nothing to roll back")
      return 0
    end
    ctx.emit("run_start", { command = "down", target = opts.target or db.NULL, steps = opts.steps or db.NULL })
    for _, e in ipairs(todo) do
      if e.state == "rolling_back" then
        say("%s:%s was interrupted while rolling back; running down again to finish it", e.m.id, e.p.name)
      end
      local ok, err = run_phase(ctx, e.m, e.p, "down")
      if not ok then return stop_run(opts, "%s", err) end
    end
    ctx.emit("run_done", { command = "down", phases = #todo })
    return 0
  end)
end

-- Why the next phase `weir up` would run cannot run now (the requirement it fails: a phase not
-- done, a flag, its sql or check, checked as `weir up` checks them), or nil. The sql and check
-- run in a transaction that is rolled back, under the run's lock and statement timeouts:
-- status changes nothing and waits on no lock for long.
local function next_blocked(ctx, list, by_id, phases)
  local next_up = R.pending(list, by_id, phases, nil)[1]
  if not next_up or #next_up.p.requires == 0 and not next_up.p.requires.sql and not next_up.p.requires.check
      and not next_up.p.requires.flag_on and not next_up.p.requires.flag_off then
    return next_up, nil
  end
  db:exec("BEGIN")
  local ok, unmet = pcall(function()
    db:exec(string.format("SET LOCAL lock_timeout = %d", tonumber(ctx.opts.lock_timeout_ms) or R.DEFAULT_LOCK_TIMEOUT_MS))
    db:exec(string.format("SET LOCAL statement_timeout = %d", tonumber(ctx.opts.statement_timeout_ms) or 0))
    return requirement_unmet(ctx, next_up.m, next_up.p, phases, by_id)
  end)
  pcall(db.exec, db, "ROLLBACK")
  if not ok then unmet = "cannot tell whether its requirements are met: " .. error_text(unmet) end
  return next_up, unmet
end

local function status_rows(ctx, list, by_id, recorded, phases)
  local changed, missing = drift(ctx, list, recorded)
  local is_changed = {}
  for _, m in ipairs(changed) do is_changed[m.id] = true end
  local next_up, blocked = next_blocked(ctx, list, by_id, phases)
  local out = {}
  for _, m in ipairs(list) do
    local r = recorded[m.id] or {}
    local entry = { id = m.id, file = m.path, description = m.description or db.NULL,
      changed = is_changed[m.id] or false, applied_at = r.applied_at or db.NULL,
      applied_by = r.applied_by or db.NULL, duration_seconds = r.duration_seconds or db.NULL,
      baseline = r.baseline == true, phases = json.array() }
    local all_done = true
    for _, p in ipairs(m.phases) do
      local pr = phases[m.id] and phases[m.id][p.name] or {}
      local st = pr.state or "pending"
      -- a non-transactional up or down that did not finish: interrupted, and in which direction
      local direction = db.NULL
      if st == "running" or st == "rolling_back" then
        direction = st == "running" and "up" or "down"
        st = "interrupted"
      end
      if st ~= "done" then all_done = false end
      local is_next = next_up and next_up.m == m and next_up.p == p
      entry.phases[#entry.phases + 1] = { name = p.name, state = st, transaction = p.transaction,
        interrupted_in = direction,
        started_at = pr.started_at or db.NULL, finished_at = pr.finished_at or db.NULL,
        duration_seconds = pr.duration_seconds or db.NULL, attempts = pr.attempts or 0,
        error = pr.error or db.NULL, blocked = is_next and blocked or db.NULL }
    end
    entry.state = all_done and "applied" or "pending"
    out[#out + 1] = entry
  end
  return out, missing
end

-- "2026-05-01 12:00:03 UTC" from RFC 3339 text.
local function when_text(t)
  local d, hms = tostring(t):match("^(%d+%-%d+%-%d+)T(%d+:%d+:%d+)")
  return d and (d .. " " .. hms .. " UTC") or tostring(t)
end

local function seconds_text(secs)
  if secs < 60 then return ("%.2fs"):format(secs) end
  return progress.duration(secs)
end

local function print_status(rows, missing, copies, changes)
  local w = function(...) io.stdout:write(...) end
  for _, m in ipairs(rows) do
    w(string.format("%-8s %s%s%s%s\n", m.state, m.id,
      m.baseline and "  [baseline: recorded as applied, not run]" or "",
      m.changed and "  [CHANGED since applied]" or "",
      m.description ~= db.NULL and ("  — " .. m.description) or ""))
    if m.applied_at ~= db.NULL then
      w(string.format("         applied %s%s%s\n", when_text(m.applied_at),
        m.applied_by ~= db.NULL and (" by " .. m.applied_by) or "",
        (m.duration_seconds ~= db.NULL and not m.baseline) and (", took " .. seconds_text(m.duration_seconds)) or ""))
    end
    local width = 0  -- the phases' timings line up
    for _, p in ipairs(m.phases) do
      width = math.max(width, #p.name + (p.transaction and 0 or #" (non-transactional)"))
    end
    for _, p in ipairs(m.phases) do
      local timing = ""
      if p.state ~= "pending" and p.duration_seconds ~= db.NULL and not m.baseline then
        timing = seconds_text(p.duration_seconds)
      end
      if p.attempts > 1 then timing = timing .. (timing == "" and "" or ", ") .. p.attempts .. " attempts" end
      local name = p.name .. (p.transaction and "" or " (non-transactional)")
      if timing ~= "" then name = name .. string.rep(" ", width - #name) .. "  " .. timing end
      w(string.format("    %-12s %s%s%s%s\n", p.state, name,
        p.interrupted_in == "down" and " — while rolling back: weir down finishes it, weir up re-applies it" or "",
        p.error ~= db.NULL and ("\n                 error: " .. p.error) or "",
        p.blocked ~= db.NULL and ("\n                 blocked: " .. p.blocked) or ""))
    end
  end
  for _, id in ipairs(missing) do
    w(string.format("%-8s %s  [applied, but its file is missing]\n", "missing", id))
  end
  for _, c in ipairs(copies) do
    w(string.format("%-8s %s: %d read, %d written, %d quarantined (%.2f%% success)%s\n",
      c.kind == "update" and "update" or "copy", c.name,
      c.rows_read, c.rows_written, c.rows_quarantined, c.success_rate * 100, c.finished and "" or " — not finished"))
  end
  for _, c in ipairs(changes) do w("online   ", c.summary, "\n") end
end

function R.status(opts)
  local list, by_id = R.load_all(opts.dir)
  local ctx = new_context(opts)
  -- a requirement's check may print: with --json, stdout is the document only
  local restore_print = opts.json and R.print_to_stderr() or function() end
  local ok, res = pcall(function()
    local exists = history.has_table(ctx.state, ctx.schema, "phases")
    local recorded, phases = {}, {}
    if exists then recorded, phases = history.load(ctx.state, ctx.schema) end
    local rows, missing = status_rows(ctx, list, by_id, recorded, phases)
    -- Copies (copy.table, and copy.update: kind "update") with their success rate; a state
    -- schema from before copies had a kind has only copy.table's.
    local copies = json.array()
    if history.has_table(ctx.state, ctx.schema, "copies") then
      for _, c in ipairs(ctx.state:query("SELECT coalesce(to_jsonb(c)->>'kind', 'table') AS kind, name, rows_read, " ..
        "rows_written, rows_quarantined, finished_at IS NOT NULL AS finished FROM " ..
        ctx.state:quote_ident(ctx.schema) .. ".copies c ORDER BY name, 1")) do
        local handled = c.rows_written + c.rows_quarantined
        c.success_rate = handled > 0 and (c.rows_written / handled) or 1.0
        copies[#copies + 1] = c
      end
    end
    local changes = require("online").status_rows(ctx.state, ctx.schema)  -- online changes (docs/online.md)
    if opts.json then
      io.stdout:write(json.encode { format_version = R.FORMAT_VERSION, migrations = json.array(rows),
        missing_files = json.array(missing), copies = copies, online = json.array(changes) }, "\n")
    else
      print_status(rows, missing, copies, changes)
    end
    local drifted = #missing > 0
    for _, m in ipairs(rows) do drifted = drifted or m.changed end
    return drifted and 1 or 0
  end)
  restore_print()
  pcall(close_context, ctx)
  if not ok then error(res, 0) end
  return res
end

function R.repair(opts)
  local list = R.load_all(opts.dir)
  return with_lock(opts, function(ctx)
    local recorded = history.load(ctx.state, ctx.schema)
    local changed = drift(ctx, list, recorded)
    for _, m in ipairs(changed) do
      history.touch_migration(ctx.state, ctx.schema, m, m.checksum)
      say("accepted the current %s (new checksum %s)", m.path, m.checksum:sub(1, 12))
    end
    local n = ctx.state:exec("UPDATE " .. ctx.state:quote_ident(ctx.schema) ..
      ".phases SET state = 'pending', error = NULL WHERE state = 'failed'")
    if n > 0 then say("cleared %d failed phase record(s)", n) end
    ctx.emit("repair", { checksums = #changed, failed_cleared = n })
    if #changed == 0 and n == 0 then say("nothing to repair") end
    return 0
  end)
end

function R.baseline(opts)
  local list, by_id = R.load_all(opts.dir)
  local target = parse_target(opts.target, by_id, "baseline")
  return with_lock(opts, function(ctx)
    local recorded, phases = history.load(ctx.state, ctx.schema)
    drift(ctx, list, recorded)
    for _, m in ipairs(list) do
      if m.order > target.order then break end
      if recorded[m.id] or phases[m.id] then
        say("%s already has recorded state; baseline only adopts untouched migrations", m.id)
        return 1
      end
    end
    ctx.state:tx(function()
      for _, m in ipairs(list) do
        if m.order > target.order then break end
        history.touch_migration(ctx.state, ctx.schema, m, m.checksum)
        ctx.state:exec("UPDATE " .. ctx.state:quote_ident(ctx.schema) .. ".migrations SET baseline = true WHERE id = $1", m.id)
        for _, p in ipairs(m.phases) do history.set_phase(ctx.state, ctx.schema, m.id, p, "done") end
        history.settle_migration(ctx.state, ctx.schema, m)
        say("%s recorded as applied (baseline, not run)", m.id)
      end
    end)
    ctx.emit("baseline", { to = target.id })
    return 0
  end)
end

-- `weir up|down` with --json or --events -: stdout carries only JSON, so what scripts print
-- goes to stderr; with --json the run's events are one document at the end, also when the run
-- failed before any phase (a script that does not load: `error` says why, `events` is empty).
local function run_with_output(fn, opts)
  if opts.json and opts.events == "-" then
    error(opts.command .. ": --json and events = \"-\" both write to stdout", 0)
  end
  local restore = (opts.json or opts.events == "-") and R.print_to_stderr() or nil
  opts.collect = opts.json and json.array() or nil
  local ok, code = pcall(fn, opts)
  if restore then restore() end
  if opts.json then
    local failure = opts.failure
    if not ok then failure = type(code) == "table" and error_text(code) or tostring(code) end
    io.stdout:write(json.encode { format_version = R.FORMAT_VERSION, command = opts.command,
      ok = ok and code == 0, exit_code = ok and code or 1, error = failure or db.NULL,
      events = opts.collect }, "\n")
    io.stdout:flush()
  end
  if not ok then error(code, 0) end
  return code
end

---Entry point from the command line: opts.command selects the command. Returns an exit code.
function R.main(opts)
  progress.configure { mode = opts.progress, interval = opts.progress_interval }
  if opts.command == "plan" then return require("plan").plan(opts) end
  local fn = R[opts.command]
  if not fn then error("runner: unknown command " .. tostring(opts.command), 0) end
  if opts.command == "up" or opts.command == "down" then return run_with_output(fn, opts) end
  return fn(opts)
end

return R
