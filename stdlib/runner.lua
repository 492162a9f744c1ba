--- runner: applies, rolls back and reports migrations — the phase state machine.
---
--- A transactional phase runs up, verify and its `done` record in one transaction; on error
--- the transaction rolls back and a `failed` record is written afterwards on the runner's own
--- session. A non-transactional phase records `running`, runs up and verify in autocommit,
--- then records `done`; a crash leaves `running`, which status shows as interrupted and the
--- next `up` re-runs. Two runners never interleave: a session-level advisory lock, polled with
--- pg_try_advisory_lock on a dedicated session, is held for the whole command.
local history = require "history"
local migration = require "migration"

local R = {}

local current_ctx  -- the phase running now, for weir.checkpoint

---The running phase's context ({db, schema, migration, phase, emit}), or nil.
function R.current() return current_ctx end

local LOCK_CLASS = 0x77656972  -- "weir"

local function say(fmt, ...) io.stderr:write("weir: ", string.format(fmt, ...), "\n") end

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

local function new_context(opts)
  local ctx = {
    opts = opts,
    schema = opts.schema or "weir",
    db = db,
    retries = tonumber(opts.retries) or 5,
  }
  ctx.events_file = open_events(opts.events)
  -- The runner's own session: the lock, events, and records written outside a phase's
  -- transaction (failures, running markers).
  ctx.state = weir.connect(opts.url or "")
  ctx.state:exec("SET application_name = 'weir " .. (opts.command or "") .. "'")
  function ctx.emit(type_, fields)
    fields = fields or {}
    local mig, ph = fields.migration, fields.phase
    fields.migration, fields.phase = nil, nil
    local ok, seq, ts = pcall(history.event, ctx.state, ctx.schema, type_, mig, ph, fields)
    if not ok then seq, ts = db.NULL, db.NULL end
    if ctx.events_file then
      ctx.events_file:write(json.encode { seq = seq, ts = ts, type = type_, migration = mig or db.NULL,
        phase = ph or db.NULL, details = fields }, "\n")
      ctx.events_file:flush()
    end
  end
  return ctx
end

local function close_context(ctx)
  if ctx.events_file and ctx.events_file ~= io.stdout then ctx.events_file:close() end
  ctx.state:close()
end

local function describe_holder(ctx, key2)
  local h = ctx.state:one([[
    SELECT a.pid, coalesce(a.application_name, '') AS app, coalesce(a.usename::text, '') AS usr,
           coalesce(host(a.client_addr), 'local') AS addr, a.backend_start::text AS since
      FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.granted]],
    LOCK_CLASS, key2)
  if not h then return "another session (it has just released it)" end
  return string.format("backend pid %d ('%s', user %s from %s, connected since %s)", h.pid, h.app, h.usr, h.addr, h.since)
end

local function acquire_lock(ctx)
  local key2 = ctx.state:value("SELECT pg_catalog.hashtext($1)", ctx.schema)
  local wait = tonumber(ctx.opts.lock_wait) or 60
  local deadline = weir.clock() + wait
  local announced = false
  while true do
    if ctx.state:value("SELECT pg_catalog.pg_try_advisory_lock($1, $2)", LOCK_CLASS, key2) then
      ctx.lock_key = key2
      return
    end
    if weir.clock() >= deadline then
      error(string.format("another weir holds the migration lock on schema %s: %s; gave up after %gs (--lock-wait)",
        ctx.schema, describe_holder(ctx, key2), wait), 0)
    end
    if not announced then
      say("waiting for the migration lock, held by %s", describe_holder(ctx, key2))
      announced = true
    end
    weir.sleep(0.2)
  end
end

local function configure_session(ctx)
  local lock_ms = tonumber(ctx.opts.lock_timeout_ms) or 2000
  local stmt_ms = tonumber(ctx.opts.statement_timeout_ms) or 0
  db:exec(string.format("SET lock_timeout = %d", lock_ms))
  db:exec(string.format("SET statement_timeout = %d", stmt_ms))
  -- Lets the server notice within a second that weir died mid-statement and roll back.
  pcall(db.exec, db, "SET client_connection_check_interval = 1000")
end

-- ---------------------------------------------------------------------------------------------
-- Running phases

local function error_text(e)
  if type(e) == "table" and e.sqlstate then
    local t = e.sqlstate .. " " .. e.message
    if e.detail then t = t .. " (detail: " .. e.detail .. ")" end
    return t .. " in: " .. (e.query or ""):gsub("%s+", " ")
  end
  return tostring(e)
end

local function is_lock_timeout(e) return type(e) == "table" and e.sqlstate == "55P03" end

local function call_verify(ph, conn)
  if not ph.verify then return end
  local ok, msg = ph.verify(conn)
  if ok == false then error("verify failed" .. (msg and (": " .. tostring(msg)) or ""), 0) end
end

local function backoff(attempt)
  local base = 0.2 * 2 ^ (attempt - 1)
  return math.min(base, 5) * (0.5 + math.random())
end

-- Runs one phase in `direction` ("up" or "down"). Returns true, or false and the error text.
local function run_phase(ctx, mig, ph, direction)
  local label = mig.id .. ":" .. ph.name
  local fn = direction == "up" and ph.up or ph.down
  local attempt = 0
  while true do
    attempt = attempt + 1
    ctx.emit(direction == "up" and "phase_start" or "rollback_start",
      { migration = mig.id, phase = ph.name, attempt = attempt, transaction = ph.transaction })
    local t0 = weir.clock()
    current_ctx = { db = db, schema = ctx.schema, migration = mig.id, phase = ph.name, emit = ctx.emit }
    local ok, err
    if ph.transaction then
      ok, err = pcall(db.tx, db, function()
        fn(db)
        if direction == "up" then call_verify(ph, db) end
        if db:transaction_status() ~= "open" then
          error("the phase ended its transaction itself (COMMIT/ROLLBACK inside a transactional phase)", 0)
        end
        history.touch_migration(db, ctx.schema, mig, mig.checksum)
        history.set_phase(db, ctx.schema, mig.id, ph, direction == "up" and "done" or "rolled_back")
        if direction == "down" then history.clear_checkpoints(db, ctx.schema, mig.id, ph.name) end
      end)
    else
      history.touch_migration(ctx.state, ctx.schema, mig, mig.checksum)
      if direction == "up" then history.set_phase(ctx.state, ctx.schema, mig.id, ph, "running") end
      ok, err = pcall(function()
        fn(db)
        if direction == "up" then call_verify(ph, db) end
        if db:in_transaction() then
          db:exec("ROLLBACK")
          error("the phase left a transaction open (BEGIN without COMMIT)", 0)
        end
      end)
      if ok then
        history.set_phase(ctx.state, ctx.schema, mig.id, ph, direction == "up" and "done" or "rolled_back")
        if direction == "down" then history.clear_checkpoints(ctx.state, ctx.schema, mig.id, ph.name) end
      end
    end
    current_ctx = nil
    local took = weir.clock() - t0
    if ok then
      history.settle_migration(ctx.state, ctx.schema, mig)
      ctx.emit(direction == "up" and "phase_done" or "rollback_done",
        { migration = mig.id, phase = ph.name, seconds = took })
      say("%s %s (%.2fs)", label, direction == "up" and "done" or "rolled back", took)
      return true
    end
    if is_lock_timeout(err) and attempt <= ctx.retries then
      local pause = backoff(attempt)
      ctx.emit("retry", { migration = mig.id, phase = ph.name, attempt = attempt, sqlstate = err.sqlstate,
        message = err.message, pause = pause })
      say("%s: lock not available (55P03), retry %d/%d in %.1fs", label, attempt, ctx.retries, pause)
      weir.sleep(pause)
    else
      local text = error_text(err)
      local where = type(err) == "table" and err.where or ""
      text = full_paths(text, mig.path)
      local full = full_paths(string.format("%s: %s failed: %s%s", label, direction, where, text), mig.path)
      if direction == "up" then
        pcall(history.set_phase, ctx.state, ctx.schema, mig.id, ph, "failed", text)
      else
        pcall(ctx.state.exec, ctx.state, "UPDATE " .. ctx.state:quote_ident(ctx.schema) ..
          ".phases SET error = $3 WHERE migration = $1 AND phase = $2", mig.id, ph.name, "down failed: " .. text)
      end
      ctx.emit(direction == "up" and "phase_failed" or "rollback_failed",
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
    local ok, v, why = pcall(req.check, db)
    if not ok then return "requirement check raised: " .. tostring(v) end
    if not v then return "requirement check not met" .. (why and (": " .. tostring(why)) or "") end
  end
  for _, key in ipairs { "flag_on", "flag_off" } do
    if req[key] then
      local exists = ctx.state:value("SELECT to_regclass($1) IS NOT NULL", ctx.schema .. ".flags")
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
  pcall(close_context, ctx)
  if not ok then error(err, 0) end
  return code
end

function R.up(opts)
  local list, by_id = R.load_all(opts.dir)
  return with_lock(opts, function(ctx)
    local recorded, phases = history.load(ctx.state, ctx.schema)
    local changed, _ = drift(ctx, list, recorded)
    if #changed > 0 then
      for _, m in ipairs(changed) do
        say("%s was changed after it was applied (checksum differs)", m.path)
      end
      say("refusing to run: review the changes, then accept them with `weir repair`")
      return 1
    end
    local ran = 0
    ctx.emit("run_start", { command = "up", to = opts.to or db.NULL })
    for _, e in ipairs(R.pending(list, by_id, phases, opts.to)) do
      local m, p = e.m, e.p
      if e.state == "running" then say("%s:%s was interrupted; running it again", m.id, p.name) end
      local unmet = requirement_unmet(ctx, m, p, phases, by_id)
      if unmet then
        ctx.emit("blocked", { migration = m.id, phase = p.name, reason = unmet })
        say("%s:%s cannot run: %s", m.id, p.name, unmet)
        return 1
      end
      local ok, err = run_phase(ctx, m, p, "up")
      if not ok then
        say("%s", err)
        return 1
      end
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
    local done = {}  -- applied phases, in the order they were applied
    for _, m in ipairs(list) do
      for _, p in ipairs(m.phases) do
        if state_of(phases, m.id, p.name) == "done" then done[#done + 1] = { m = m, p = p } end
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
        say("%s:%s has no down function: nothing was rolled back", e.m.id, e.p.name)
        return 1
      end
    end
    if #todo == 0 then
      say("nothing to roll back")
      return 0
    end
    ctx.emit("run_start", { command = "down", target = opts.target or db.NULL, steps = opts.steps or db.NULL })
    for _, e in ipairs(todo) do
      local ok, err = run_phase(ctx, e.m, e.p, "down")
      if not ok then
        say("%s", err)
        return 1
      end
    end
    ctx.emit("run_done", { command = "down", phases = #todo })
    return 0
  end)
end

local function status_rows(ctx, list, recorded, phases)
  local changed, missing = drift(ctx, list, recorded)
  local is_changed = {}
  for _, m in ipairs(changed) do is_changed[m.id] = true end
  local out = {}
  for _, m in ipairs(list) do
    local r = recorded[m.id]
    local entry = { id = m.id, file = m.path, description = m.description or db.NULL,
      changed = is_changed[m.id] or false, applied_at = r and r.applied_at or db.NULL, phases = {} }
    local all_done = true
    for _, p in ipairs(m.phases) do
      local pr = phases[m.id] and phases[m.id][p.name] or {}
      local st = pr.state or "pending"
      if st == "running" then st = "interrupted" end
      if st ~= "done" then all_done = false end
      entry.phases[#entry.phases + 1] = { name = p.name, state = st, transaction = p.transaction,
        started_at = pr.started_at or db.NULL, finished_at = pr.finished_at or db.NULL, error = pr.error or db.NULL }
    end
    entry.state = all_done and "applied" or "pending"
    out[#out + 1] = entry
  end
  return out, missing
end

function R.status(opts)
  local list = R.load_all(opts.dir)
  local ctx = new_context(opts)
  local ok, res = pcall(function()
    local exists = ctx.state:value("SELECT to_regclass($1) IS NOT NULL", ctx.schema .. ".phases")
    local recorded, phases = {}, {}
    if exists then recorded, phases = history.load(ctx.state, ctx.schema) end
    local rows, missing = status_rows(ctx, list, recorded, phases)
    -- Copies (copy.table) with their success rate.
    local copies = json.array()
    if ctx.state:value("SELECT to_regclass($1) IS NOT NULL", ctx.schema .. ".copies") then
      for _, c in ipairs(ctx.state:query("SELECT name, rows_read, rows_written, rows_quarantined, " ..
        "finished_at IS NOT NULL AS finished FROM " .. ctx.state:quote_ident(ctx.schema) .. ".copies ORDER BY name")) do
        local handled = c.rows_written + c.rows_quarantined
        c.success_rate = handled > 0 and (c.rows_written / handled) or 1.0
        copies[#copies + 1] = c
      end
    end
    local changes = require("online").status_rows(ctx.state, ctx.schema)  -- online changes (docs/online.md)
    if opts.json then
      io.stdout:write(json.encode { migrations = rows, missing_files = missing, copies = copies,
        online = json.array(changes) }, "\n")
    else
      for _, m in ipairs(rows) do
        io.stdout:write(string.format("%-8s %s%s%s\n", m.state, m.id,
          m.changed and "  [CHANGED since applied]" or "",
          m.description ~= db.NULL and ("  — " .. m.description) or ""))
        for _, p in ipairs(m.phases) do
          io.stdout:write(string.format("    %-12s %s%s%s\n", p.state, p.name,
            p.transaction and "" or " (non-transactional)",
            p.error ~= db.NULL and ("\n                 error: " .. p.error) or ""))
        end
      end
      for _, id in ipairs(missing) do
        io.stdout:write(string.format("%-8s %s  [applied, but its file is missing]\n", "missing", id))
      end
      for _, c in ipairs(copies) do
        io.stdout:write(string.format("copy     %s: %d read, %d written, %d quarantined (%.2f%% success)%s\n", c.name,
          c.rows_read, c.rows_written, c.rows_quarantined, c.success_rate * 100, c.finished and "" or " — not finished"))
      end
      for _, c in ipairs(changes) do io.stdout:write("online   ", c.summary, "\n") end
    end
    local drifted = #missing > 0
    for _, m in ipairs(rows) do drifted = drifted or m.changed end
    return drifted and 1 or 0
  end)
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

local TEMPLATE = [==[
-- %s: %s
-- Phases run in the order written. Each has `up`, optionally `down` (rollback) and `verify`.
-- A transactional phase (the default) commits its work and its record together, or nothing.
-- Set `transaction = false` for CREATE INDEX CONCURRENTLY or long batched backfills; such a
-- phase must be safe to run again after a crash.
return migration "%s" {
  description = "%s",

  phase "expand" {
    up = function(db)
      -- db:exec [[CREATE TABLE ... ]]
    end,
    down = function(db)
      -- undo what up did
    end,
    verify = function(db)
      -- raise (or return false, "why") when up did not do what it should
    end,
  },
}
]==]

function R.new(opts)
  local name = opts.name or ""
  if not name:match("^[%w_]+$") then
    error("new: NAME must be letters, digits and '_' (e.g. add_due_date), got '" .. name .. "'", 0)
  end
  local dir = opts.dir
  local names = list_dir(dir)
  if not names then error(string.format("migrations directory %s does not exist (create it, or use --dir)", dir), 0) end
  local max, width = 0, 3
  for _, n in ipairs(names) do
    local digits = n:match("^(%d+)")
    if digits then
      max = math.max(max, tonumber(digits))
      width = math.max(width, #digits)
    end
  end
  local id = string.format("%0" .. width .. "d_%s", max + 1, name)
  local path = dir .. "/" .. id .. ".lua"
  local f = assert(io.open(path, "w"))
  local title = name:gsub("_", " ")
  f:write(string.format(TEMPLATE, id, title, id, title))
  f:close()
  io.stdout:write(path, "\n")
  return 0
end

---Entry point from the command line: opts.command selects the command. Returns an exit code.
function R.main(opts)
  if opts.command == "plan" then return require("plan").plan(opts) end
  local fn = R[opts.command]
  if not fn then error("runner: unknown command " .. tostring(opts.command), 0) end
  return fn(opts)
end

return R
