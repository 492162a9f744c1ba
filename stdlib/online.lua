--- online: schema changes that keep the old and the new application working at once (the
--- `online` global; docs/online.md). A change is a list of operations; its phase functions run
--- its lifecycle:
---   start     a version schema of views in the new shape, shadow columns, sync triggers that
---             translate each write into the other shape, then the backfill of existing rows
---   complete  refuses while anything is inconsistent, then contracts under short locks
---   rollback  (before complete) removes what start added
---   reopen    (after complete) brings the old shape back, so `weir down` works at every point
--- The SQL each step runs is in stdlib/online_sql.lua.
---
--- Guarantee: while a change is started, no committed write through either shape is lost —
--- every INSERT, UPDATE, COPY or ON CONFLICT on a changed table leaves both shapes of the row
--- filled and agreeing (the sync trigger runs first in the same statement), and `complete`
--- drops the old shape only after checking, on every row, that the backfill reached it and that
--- its new columns equal up(old) or its old columns equal down(new). `rollback` keeps every
--- column the old shape has; `reopen` derives the old columns back from the new ones.
--- Proved by tests/lua/online_test.lua (every operation written through both shapes around
--- start, complete, reopen and rollback; complete refused while rows disagree) and
--- tests/cli/online_cli_test.lua (kill -9 mid-backfill, writers in both shapes all through the
--- backfill, weir up / down at every point).
local history = require "history"
local Q = require "online_sql"
local model = require "online_model"

local M = {}

local getinfo = debug.getinfo  -- captured before the sandbox removes `debug`

local refuse, error_line, fit, fnv1a, quoted = model.refuse, model.error_line, model.fit, model.fnv1a, model.quoted
local sorted_keys, resolve = model.sorted_keys, model.resolve

-- The operations (online.add_column and the others) and the version schema's name.
for kind, ctor in pairs(model.ops) do M[kind] = ctor end
M.version_schema = model.version_schema

local function where(level)
  local info = getinfo(level + 1, "Sl")
  if info and info.currentline and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline .. ": "
  end
  return ""
end

-- Runs SQL that carries the user's own text (a shadow column's type, create_table, sql) as if
-- from the operation's script line, so that `weir lint` and `weir plan` charge what they find in
-- it to that line rather than to this file.
local function exec_at(line, conn, sql)
  if not line then return conn:exec(sql) end
  local chunk = load(("\n"):rep(line[2] - 1) .. "local conn, sql = ... return conn:exec(sql)", "@" .. line[1], "t", {})
  return chunk(conn, sql)
end

-- ---------------------------------------------------------------------------------------------
-- Running: sessions, short-lock transactions with retries, state

local function runner_ctx() return require("runner").current() end

-- While `weir plan` or `weir lint` runs phases on a throwaway copy (the runner's context has a
-- `store`), the state of changes lives in memory, per connection: the later phases of the plan
-- see what the earlier ones started.
local memories = setmetatable({}, { __mode = "k" })
local function memory_of(conn)
  memories[conn] = memories[conn] or {}
  return memories[conn]
end

local function new_cx(ch, conn, step)
  if type(conn) ~= "userdata" then refuse(ch, "%s: expected a connection (the phase's db), got %s", step, type(conn)) end
  if conn:in_transaction() then
    refuse(ch, "%s commits its steps and batches one by one: run it from a phase with transaction = false", step)
  end
  local rc = runner_ctx()
  local cx = { ch = ch, conn = conn, step = step, schema = ch.opts.schema or (rc and rc.schema) or "weir",
    emit = rc and rc.emit or function() end, migration = rc and rc.migration, phase = rc and rc.phase,
    mem = rc and rc.store and memory_of(conn), notes = rc and rc.notes }
  if not cx.mem then history.ensure(conn, cx.schema) end
  return cx
end

local function say(cx, fmt, ...)
  require("progress").say(("online %s: " .. fmt):format(cx.ch.name, ...))
end

local function event(cx, type_, fields)
  fields = fields or {}
  fields.change = cx.ch.name
  fields.migration, fields.phase = cx.migration, cx.phase
  cx.emit(type_, fields)
end

local function backoff(attempt)
  return math.min(0.1 * 2 ^ (attempt - 1), 2) * (0.5 + math.random())
end

-- A lock not granted within lock_timeout (55P03), or a deadlock with an application's
-- transaction (40P01): the step is rolled back and tried again after a pause.
local function retryable(err)
  return type(err) == "table" and (err.sqlstate == "55P03" or err.sqlstate == "40P01")
end

-- Runs fn inside one transaction under the change's lock_timeout; a retryable failure rolls it
-- back and tries again after a pause, `retries` times.
local function transaction(cx, what, fn)
  local conn, ch = cx.conn, cx.ch
  local attempt = 0
  while true do
    attempt = attempt + 1
    conn:exec("BEGIN")
    local ok, err = pcall(function()
      if ch.opts.lock_timeout then conn:exec(Q.set_lock_timeout(ch.opts.lock_timeout)) end
      fn()
    end)
    if ok then
      conn:exec("COMMIT")
      return
    end
    if conn:transaction_status() ~= "closed" then pcall(conn.exec, conn, "ROLLBACK") end
    if retryable(err) and attempt <= ch.opts.retries then
      local pause = backoff(attempt)
      event(cx, "online_retry", { step = what, attempt = attempt, pause = pause, sqlstate = err.sqlstate,
        message = err.message })
      say(cx, "%s: %s (%s), retry %d/%d in %.1fs", what, err.message, err.sqlstate, attempt, ch.opts.retries, pause)
      weir.sleep(pause)
    else
      if type(err) == "table" and err.sqlstate then
        error(("%sonline change %s: %s failed: %s"):format(ch.where, ch.name, what, error_line(err) ..
          (err.query and (" in: " .. err.query:gsub("%s+", " "):sub(1, 300)) or "")), 0)
      end
      error(err, 0)
    end
  end
end

-- One statement outside a transaction (CREATE INDEX CONCURRENTLY, VALIDATE), with retries.
local function autocommit(cx, what, sql)
  local conn, ch = cx.conn, cx.ch
  local attempt = 0
  while true do
    attempt = attempt + 1
    local ok, err = pcall(conn.exec, conn, sql)
    if ok then return end
    if retryable(err) and attempt <= ch.opts.retries then
      local pause = backoff(attempt)
      event(cx, "online_retry", { step = what, attempt = attempt, pause = pause, sqlstate = err.sqlstate,
        message = err.message })
      say(cx, "%s: %s (%s), retry %d/%d in %.1fs", what, err.message, err.sqlstate, attempt, ch.opts.retries, pause)
      weir.sleep(pause)
    else
      error(("%sonline change %s: %s failed: %s"):format(ch.where, ch.name, what, error_line(err)), 0)
    end
  end
end

-- State: weir's state schema, or, while `weir plan` runs a phase, the plan's memory (a plan
-- never writes the target's state schema; on its schema-only copy the state tables are empty).
local function copy_of(v) return json.decode(json.encode(v)) end

local function read_state(cx)
  if cx.mem then
    local r = cx.mem["online:" .. cx.ch.name]
    return r and copy_of(r)
  end
  return cx.conn:one(Q.state_row(cx.conn, cx.schema), cx.ch.name)
end

local function insert_state(cx, m, tables, fp)
  if cx.mem then
    cx.mem["online:" .. cx.ch.name] = copy_of { name = cx.ch.name, state = "active", direction = "up",
      version_schemas = m.version_schemas, tables = tables, definition = m, fingerprint = fp }
    return
  end
  cx.conn:exec(Q.state_insert(cx.conn, cx.schema), cx.ch.name, db.array(m.version_schemas), db.array(tables),
    db.json(m), fp)
end

local function set_state(cx, state, direction)
  if cx.mem then
    local r = cx.mem["online:" .. cx.ch.name]
    r.state, r.direction = state, direction
    return
  end
  cx.conn:exec(Q.state_set(cx.conn, cx.schema), cx.ch.name, state, direction)
end

local function delete_state(cx)
  if cx.mem then
    cx.mem["online:" .. cx.ch.name] = nil
    return
  end
  cx.conn:exec(Q.state_delete(cx.conn, cx.schema), cx.ch.name)
end

-- Other changes, not complete, that name one of `tables`: { {name, table_name} }.
local function busy_tables(cx, tables)
  if cx.mem then
    local out = {}
    for k, r in pairs(cx.mem) do
      if type(k) == "string" and k:match("^online:") and r.name ~= cx.ch.name and r.state ~= "completed" then
        for _, a in ipairs(r.tables) do
          for _, b in ipairs(tables) do
            if a == b then out[#out + 1] = { name = r.name, table_name = a } end
          end
        end
      end
    end
    return out
  end
  return cx.conn:query(Q.state_tables_busy(cx.conn, cx.schema), cx.ch.name, db.array(tables))
end

local function checkpoint_key(ch, t) return "online/" .. ch.name .. "/" .. t.schema .. "." .. t.name end

local function get_checkpoint(cx, t)
  if cx.mem then
    local v = cx.mem[checkpoint_key(cx.ch, t)]
    return v and copy_of(v)
  end
  local v = cx.conn:value(Q.checkpoint_get(cx.conn, cx.schema), checkpoint_key(cx.ch, t))
  if v == nil or db.isnull(v) then return nil end
  return v
end

local function put_checkpoint(cx, t, value)
  if cx.mem then
    cx.mem[checkpoint_key(cx.ch, t)] = copy_of(value)
    return
  end
  cx.conn:exec(Q.checkpoint_put(cx.conn, cx.schema), checkpoint_key(cx.ch, t), db.json(value))
end

local function clear_checkpoints(cx, m)
  for _, t in ipairs(m.tables) do
    if cx.mem then
      cx.mem[checkpoint_key(cx.ch, t)] = nil
    else
      cx.conn:exec(Q.checkpoints_clear(cx.conn, cx.schema), checkpoint_key(cx.ch, t))
    end
  end
end

-- The backfill's bound for one table, read with the table locked and the trigger in place:
-- rows after it are written with the trigger, so they are in sync already.
local function record_bound(cx, t, direction)
  local conn = cx.conn
  local cp = { direction = direction, rows = 0, batches = 0, done = false }
  if t.key then
    local row = conn:one(Q.max_key(conn, t))
    if row then
      cp.bound = {}
      for i, k in ipairs(t.key) do cp.bound[i] = row[k] end
    else
      cp.done = true
    end
  else
    cp.bound_block = conn:value(Q.block_count(conn, t))
    cp.done = cp.bound_block == 0
  end
  put_checkpoint(cx, t, cp)
end

-- Whether a table has its synced column in a direction: after start when the backfill fills
-- new columns, after reopen when it fills old columns complete had dropped.
local function synced_present(t, direction)
  if not t.synced then return false end
  if direction == "up" then return t.backfill_up == true end
  return #t.drops > 0
end

-- A copy of `t` as the templates need it now: `synced` only when the column exists.
local function with_synced(t, present)
  local c = {}
  for k, v in pairs(t) do c[k] = v end
  if not present then c.synced = nil end
  return c
end

-- Creates the version schema's objects for the tables of `m` (the views, their defaults and
-- grants, COPY triggers) and each table's sync function and trigger. Inside a transaction.
local function build_new_shape(cx, m, direction)
  local conn = cx.conn
  for _, vs in ipairs(m.version_schemas) do
    if conn:value(Q.SCHEMA_EXISTS, vs) then
      refuse(cx.ch, "schema %s already exists: it is the version schema this change would create", vs)
    end
    conn:exec(Q.create_schema(conn, vs))
  end
  local granted = {}
  for _, t in ipairs(m.tables) do
    if t.has_view then
      if t.trigger then
        conn:exec(Q.sync_function(conn, with_synced(t, synced_present(t, direction)), cx.ch.name, direction))
        conn:exec(Q.sync_trigger(conn, t))
      end
      conn:exec(Q.create_view(conn, t))
      for _, d in ipairs(t.view_defaults) do conn:exec(Q.view_default(conn, t, d.column, d.sql)) end
      for _, g in ipairs(conn:query(Q.TABLE_GRANTS, t.oid)) do
        conn:exec(Q.grant_view(conn, t, g))
        local k = t.vschema .. "\0" .. g.grantee
        if not granted[k] then
          granted[k] = true
          conn:exec(Q.grant_schema_usage(conn, t.vschema, g.grantee))
        end
      end
      if t.copy_into then
        conn:exec(Q.insert_function(conn, t))
        conn:exec(Q.insert_trigger(conn, t))
      end
    end
  end
end

local function locked_tables(m)
  local out = {}
  for _, t in ipairs(m.tables) do
    if not t.created then out[#out + 1] = { t.schema, t.name } end
  end
  return out
end

local function table_names(m)
  local out = {}
  for _, t in ipairs(m.tables) do out[#out + 1] = t.schema .. "." .. t.name end
  return out
end

local function fingerprint(ch)
  local parts = {}
  for i, op in ipairs(ch.ops) do
    local o = {}
    for k, v in pairs(op) do
      if k ~= "where" and k ~= "line" then o[k] = v end
    end
    parts[i] = json.encode(o)
  end
  parts[#parts + 1] = json.encode { copy_into = ch.copy_into or false }
  return ("%08x"):format(fnv1a(table.concat(parts, "\n")))
end

-- ---------------------------------------------------------------------------------------------
-- Backfill

local function backfill(cx, m)
  local conn, ch = cx.conn, cx.ch
  local total = { rows = 0, batches = 0, seconds = 0 }
  local t0 = weir.clock()
  for _, t in ipairs(m.tables) do
    local cp = t.synced and t.has_view and get_checkpoint(cx, t)
    if cp and not cp.done then
      local label = t.schema .. "." .. t.name
      local estimate = conn:value("SELECT reltuples::bigint FROM pg_catalog.pg_class WHERE oid = $1::bigint::oid", t.oid)
      local per_block = nil
      if not t.key then
        local pages = conn:value("SELECT relpages FROM pg_catalog.pg_class WHERE oid = $1::bigint::oid", t.oid)
        per_block = (pages > 0 and estimate > 0) and math.max(1, estimate // pages) or 50
      end
      -- progress (docs/progress.md): the rows of this run against the planner's estimate of
      -- the rows still to do
      local counter = require("progress").counter { label = ("online %s: backfill %s"):format(ch.name, label),
        unit = "rows", total = estimate > cp.rows and (estimate - cp.rows) or nil }
      while true do
        local hi, lo
        if t.key then
          local row = conn:one(Q.next_batch_end(conn, t, cp.last, cp.bound, ch.opts.batch))
          if row then
            hi = {}
            for i, k in ipairs(t.key) do hi[i] = row[k] end
          end
        else
          lo = cp.last_block or 0
          if lo < cp.bound_block then
            hi = math.min(cp.bound_block, lo + math.max(1, ch.opts.batch // per_block))
          end
        end
        if not hi then break end
        local n = 0
        transaction(cx, "backfill " .. label, function()
          conn:exec(Q.backfill_marker(conn, ch.name))
          if t.key then
            n = conn:exec(Q.backfill_batch(conn, t, cp.direction, cp.last, hi))
          else
            n = conn:exec(Q.backfill_blocks(conn, t, cp.direction, lo, hi))
          end
          local next_cp = {}
          for k, v in pairs(cp) do next_cp[k] = v end
          if t.key then next_cp.last = hi else next_cp.last_block = hi end
          next_cp.rows, next_cp.batches = cp.rows + n, cp.batches + 1
          put_checkpoint(cx, t, next_cp)
        end)
        if t.key then cp.last = hi else cp.last_block = hi end
        cp.rows, cp.batches = cp.rows + n, cp.batches + 1
        total.rows, total.batches = total.rows + n, total.batches + 1
        event(cx, "online_backfill", { table = label, batch = cp.batches, rows = n,
          last = t.key and json.array(hi) or hi })
        counter:add(n)
        if ch.opts.pause_ms > 0 then weir.sleep(ch.opts.pause_ms / 1000) end
      end
      cp.done = true
      put_checkpoint(cx, t, cp)
      counter:finish()
    end
  end
  total.seconds = weir.clock() - t0
  return total
end

-- ---------------------------------------------------------------------------------------------
-- Checks before complete and rollback change anything

local function examples(rows)
  local keys = {}
  for i, r in ipairs(rows) do keys[i] = r.key end
  return table.concat(keys, ", ")
end

local function key_label(t) return t.key and table.concat(t.key, ",") or "ctid" end

local function preflight_complete(cx, m, row)
  local conn = cx.conn
  local problems = {}
  for _, t in ipairs(m.tables) do
    if t.has_view then
      local label = t.schema .. "." .. t.name
      if row.direction == "up" and synced_present(t, "up") then
        local rows = conn:query(Q.unsynced_rows(conn, t))
        if #rows > 0 then
          problems[#problems + 1] = ("%s: %d rows not backfilled yet (%s %s): run the backfill to the end first"):format(
            label, rows[1].total, key_label(t), examples(rows))
        end
      end
      for _, p in ipairs(t.pairs) do
        if p.S and p.D and p.up and p.down then
          local tt = with_synced(t, synced_present(t, row.direction))
          local rows = conn:query(Q.pair_mismatch(conn, tt, p))
          if #rows > 0 then
            problems[#problems + 1] = ("%s: %d rows where %s is not up(old) and %s is not down(new) (%s %s)"):format(
              label, rows[1].total, p.name, p.D, key_label(t), examples(rows))
          end
        end
      end
      for _, d in ipairs(t.drops) do
        local col
        for _, c in ipairs(conn:query(Q.COLUMNS, t.oid)) do if c.name == d.column then col = c end end
        if col then
          local deps = conn:query(Q.COLUMN_DEPENDENTS, t.oid, col.num, db.array(m.version_schemas))
          for _, dep in ipairs(deps) do
            problems[#problems + 1] = ("%s.%s is dropped by complete, but %s depends on it"):format(label, d.column, dep.object)
          end
        end
      end
    end
    for _, c in ipairs(t.constraints) do
      local rows, what
      local tt = with_synced(t, false)
      if c.kind == "not_null" then
        rows, what = conn:query(Q.null_rows(conn, tt, c.column)), ("where %s is NULL"):format(c.column)
      elseif c.kind == "check" then
        rows, what = conn:query(Q.check_violations(conn, tt, c.check)), ("that fail CHECK (%s)"):format(c.check)
      elseif c.kind == "unique" then
        rows, what = conn:query(Q.duplicates(conn, tt, c.columns)),
          ("duplicate values of (%s)"):format(table.concat(c.columns, ", "))
      elseif c.kind == "foreign_key" then
        local ref_from = quoted(conn, c.ref_view and c.ref_view[1] or c.ref_final[1], c.ref_view and c.ref_view[2] or c.ref_final[2])
        if c.ref_columns then
          rows = conn:query(Q.orphans(conn, tt, c.columns, ref_from, c.ref_columns))
        else
          local pk = conn:query(Q.PRIMARY_KEY, conn:value("SELECT pg_catalog.to_regclass($1)::oid::bigint",
            quoted(conn, c.ref_final[1], c.ref_final[2])) or 0)
          local refcols = {}
          for i, r in ipairs(pk) do refcols[i] = r.name end
          rows = #refcols == #c.columns and conn:query(Q.orphans(conn, tt, c.columns, ref_from, refcols)) or {}
        end
        what = ("whose (%s) has no match in %s"):format(table.concat(c.columns, ", "), c.ref_final[2])
      end
      if rows and #rows > 0 then
        local unit = c.kind == "unique" and "values" or "rows"
        problems[#problems + 1] = ("%s.%s: constraint %s: %d %s %s (%s %s)"):format(t.schema, t.new_name, c.name,
          rows[1].total, c.kind == "unique" and "duplicated" or unit, what,
          c.kind == "unique" and "e.g." or key_label(t), examples(rows))
      end
    end
  end
  return problems
end

-- ---------------------------------------------------------------------------------------------
-- The steps

local function constraint_sql(conn, t, c)
  if c.kind == "check" then return Q.check_definition(c.check) end
  if c.kind == "not_null" then return Q.not_null_check(conn, c.column) end
  if c.kind == "foreign_key" then
    return Q.foreign_key_definition(conn, c.columns, c.ref_final, c.ref_columns, c.on_delete, c.on_update)
  end
end

local function nn_check_name(ch, t, c) return fit("_weir_" .. ch.name .. "_nn_" .. c.column) end

local function ensure_indexes(cx, m)
  local conn = cx.conn
  for _, t in ipairs(m.tables) do
    for _, ix in ipairs(t.indexes) do
      local have = conn:one(Q.INDEX_IN, t.schema, ix.name)
      if have and not have.valid then
        autocommit(cx, "drop invalid index " .. ix.name, Q.drop_index(conn, t.schema, ix.name, true))
        have = nil
      end
      if not have then
        local phys = with_synced(t, false)
        autocommit(cx, "create index " .. ix.name, Q.create_index(conn, phys, ix.name, ix.phys_columns, ix))
      end
    end
  end
end

local plan_notes  -- below, with describe

local function start(ch, conn)
  local cx = new_cx(ch, conn, "start")
  local row = read_state(cx)
  local m
  if row then
    if row.fingerprint ~= fingerprint(ch) then
      refuse(ch, "it is %s with other operations than the script now gives (roll it back and start again, " ..
        "or restore the script)", row.state)
    end
    if row.state ~= "active" then return { state = row.state } end
    m = row.definition
  else
    m = resolve(conn, ch)
    local busy = busy_tables(cx, table_names(m))
    if #busy > 0 then
      refuse(ch, "table %s is part of change %s, which is not complete: complete or roll it back first",
        busy[1].table_name, busy[1].name)
    end
    for _, t in ipairs(m.tables) do
      if t.trigger then
        for _, tr in ipairs(conn:query(Q.BEFORE_TRIGGERS, t.oid, t.trigger)) do
          if tr.fires_first then
            refuse(ch, "trigger %s on %s.%s would fire before weir's sync trigger %s (PostgreSQL fires BEFORE " ..
              "triggers in name order), so it would see rows with one shape missing: rename it", tr.name,
              t.schema, t.name, t.trigger)
          end
        end
      end
    end
    transaction(cx, "start", function()
      local locks = {}
      for _, t in ipairs(m.tables) do
        if t.trigger or t.synced or (t.shadows and #t.shadows > 0) then locks[#locks + 1] = { t.schema, t.name } end
      end
      if #locks > 0 then conn:exec(Q.lock_tables(conn, locks)) end
      for _, t in ipairs(m.tables) do
        if t.created then exec_at(t.line, conn, Q.create_table(conn, t.schema, t.name, t.columns_sql)) end
      end
      for _, s in ipairs(m.sql) do
        if s.at == "start" then exec_at(s.line, conn, s.up) end
      end
      for _, t in ipairs(m.tables) do
        if t.has_view then
          for _, s in ipairs(t.shadows) do exec_at(s.line, conn, Q.add_column(conn, t, s.phys, s.type)) end
          if t.synced and t.backfill_up then conn:exec(Q.add_column(conn, t, t.synced, "boolean")) end
        end
      end
      build_new_shape(cx, m, "up")
      for _, t in ipairs(m.tables) do
        if t.has_view and t.synced and t.backfill_up then record_bound(cx, t, "up") end
      end
      insert_state(cx, m, table_names(m), fingerprint(ch))
    end)
    m = read_state(cx).definition
    plan_notes(cx, m, "start")
    event(cx, "online_started", { version_schemas = json.array(m.version_schemas) })
    say(cx, "started: version schema %s", table.concat(m.version_schemas, ", "))
  end
  ensure_indexes(cx, m)
  local stats = { state = "active", version_schemas = m.version_schemas }
  if not ch.opts.separate_backfill then
    stats.backfill = backfill(cx, m)
    if stats.backfill.rows > 0 then say(cx, "backfilled %d rows in %d batches", stats.backfill.rows, stats.backfill.batches) end
  end
  return stats
end

local function run_backfill(ch, conn)
  local cx = new_cx(ch, conn, "backfill")
  local row = read_state(cx)
  if not row then refuse(ch, "backfill: the change is not started (run start first)") end
  if row.state ~= "active" and row.state ~= "reopening" then return { rows = 0, batches = 0, seconds = 0 } end
  local st = backfill(cx, row.definition)
  if st.rows > 0 then say(cx, "backfilled %d rows in %d batches", st.rows, st.batches) end
  return st
end

-- Why complete's renames and drops are safe, said where `weir lint` and `weir plan` read them.
local MOVED = "online complete: clients use this name already, through the version schema"
local RETIRED = "online complete: the old shape is retired; the new shape holds its values (checked on every row)"
local OWN = "online complete: weir's own bookkeeping column"

local function complete(ch, conn)
  local cx = new_cx(ch, conn, "complete")
  local row = read_state(cx)
  if not row then refuse(ch, "complete: the change is not started (run start first)") end
  if row.state == "completed" then return { state = "completed" } end
  local m = row.definition
  if row.state == "active" or row.state == "reopening" then
    plan_notes(cx, m, "complete")
    local problems = preflight_complete(cx, m, row)
    if #problems > 0 then
      event(cx, "online_refused", { step = "complete", problems = json.array(problems) })
      refuse(ch, "complete refused, nothing was changed: %s", table.concat(problems, "; "))
    end
    -- unique constraints: their index built first, without blocking writes
    for _, t in ipairs(m.tables) do
      for _, c in ipairs(t.constraints) do
        if c.kind == "unique" then
          local have = conn:one(Q.INDEX_IN, t.schema, c.name)
          if have and not have.valid then
            autocommit(cx, "drop invalid index " .. c.name, Q.drop_index(conn, t.schema, c.name, true))
            have = nil
          end
          if not have then
            autocommit(cx, "create unique index " .. c.name,
              Q.create_index(conn, t, c.name, c.phys_columns, { unique = true }))
          end
        end
      end
    end
    transaction(cx, "complete", function()
      conn:exec(Q.lock_tables(conn, locked_tables(m)))
      for _, vs in ipairs(m.version_schemas) do conn:exec(Q.drop_schema(conn, vs)) end
      for _, t in ipairs(m.tables) do
        if t.has_view then
          for _, d in ipairs(t.drops) do conn:exec(Q.drop_column(conn, t, d.column, RETIRED)) end
          if t.synced then conn:exec(Q.drop_column(conn, t, t.synced, OWN)) end
          for _, s in ipairs(t.shadows) do
            conn:exec(Q.rename_column(conn, t.schema, t.name, s.phys, s.final, MOVED))
            if s.default_sql then conn:exec(Q.set_default(conn, t.schema, t.name, s.final, s.default_sql)) end
          end
          for _, r in ipairs(t.renames) do conn:exec(Q.rename_column(conn, t.schema, t.name, r.from, r.to, MOVED)) end
          for _, d in ipairs(t.defaults) do conn:exec(Q.set_default(conn, t.schema, t.name, d.column, d.sql)) end
        end
      end
      for _, t in ipairs(m.tables) do
        if t.dropped then
          conn:exec(Q.rename_table(conn, t.schema, t.name, t.retired, RETIRED))
        elseif t.new_name ~= t.name then
          conn:exec(Q.rename_table(conn, t.schema, t.name, t.new_name, MOVED))
        end
      end
      for _, t in ipairs(m.tables) do
        for _, c in ipairs(t.constraints) do
          if c.kind == "unique" then
            conn:exec(Q.add_unique_using_index(conn, t.schema, t.new_name, c.name, c.name))
          elseif c.kind == "not_null" then
            if not c.was_not_null then
              conn:exec(Q.add_constraint(conn, t.schema, t.new_name, nn_check_name(ch, t, c), constraint_sql(conn, t, c)))
            end
          else
            conn:exec(Q.add_constraint(conn, t.schema, t.new_name, c.name, constraint_sql(conn, t, c)))
          end
        end
      end
      for _, s in ipairs(m.sql) do
        if s.at == "complete" then exec_at(s.line, conn, s.up) end
      end
      set_state(cx, "contracted", row.direction)
    end)
  end
  -- contracted: validate outside the exclusive lock (SHARE UPDATE EXCLUSIVE: reads and writes go on)
  for _, t in ipairs(m.tables) do
    for _, c in ipairs(t.constraints) do
      if c.kind == "check" or c.kind == "foreign_key" then
        autocommit(cx, "validate " .. c.name, Q.validate_constraint(conn, t.schema, t.new_name, c.name))
      elseif c.kind == "not_null" and not c.was_not_null then
        local nn = nn_check_name(ch, t, c)
        local k = conn:one(Q.CONSTRAINT, t.schema, t.new_name, nn)
        if k then
          autocommit(cx, "validate " .. nn, Q.validate_constraint(conn, t.schema, t.new_name, nn))
          -- PostgreSQL skips the scan: the validated check proves it
          transaction(cx, "set not null " .. c.column, function()
            conn:exec(Q.set_not_null(conn, t.schema, t.new_name, c.column))
            conn:exec(Q.drop_constraint(conn, t.schema, t.new_name, nn))
          end)
        end
      end
    end
  end
  for _, ix in ipairs(m.drop_indexes) do
    autocommit(cx, "drop index " .. ix.name, Q.drop_index(conn, ix.schema, ix.name, true))
  end
  transaction(cx, "record complete", function()
    clear_checkpoints(cx, m)
    set_state(cx, "completed", row.direction)
  end)
  event(cx, "online_completed", {})
  say(cx, "completed: the tables have the new shape; version schema %s dropped", table.concat(m.version_schemas, ", "))
  return { state = "completed" }
end

local function rollback(ch, conn)
  local cx = new_cx(ch, conn, "rollback")
  local row = read_state(cx)
  if not row then return { state = "none" } end
  if row.state == "completed" or row.state == "contracted" then
    refuse(ch, "rollback: complete has run; reopen it first (weir down runs complete's down before start's)")
  end
  local m = row.definition
  if row.state == "reopening" then
    local missing = {}
    for _, t in ipairs(m.tables) do
      if t.has_view and synced_present(t, "down") then
        local rows = conn:query(Q.unsynced_rows(conn, t))
        if #rows > 0 then missing[#missing + 1] = ("%s.%s: %d rows"):format(t.schema, t.name, rows[1].total) end
      end
    end
    refuse(ch, "rollback refused, nothing was changed: reopen has not finished deriving the old shape%s; run reopen again",
      #missing > 0 and (" (" .. table.concat(missing, ", ") .. ")") or "")
  end
  transaction(cx, "rollback", function()
    local locks = locked_tables(m)
    if #locks > 0 then conn:exec(Q.lock_tables(conn, locks)) end
    for _, vs in ipairs(m.version_schemas) do conn:exec(Q.drop_schema(conn, vs)) end
    for _, t in ipairs(m.tables) do
      for _, ix in ipairs(t.indexes) do conn:exec(Q.drop_index(conn, t.schema, ix.name, false)) end
      if t.has_view then
        for _, s in ipairs(t.shadows) do conn:exec(Q.drop_column(conn, t, s.phys)) end
        if t.synced then conn:exec(Q.drop_column(conn, t, t.synced)) end
      end
    end
    for i = #m.sql, 1, -1 do
      local s = m.sql[i]
      if s.at == "start" and s.down then conn:exec(s.down) end
    end
    for i = #m.tables, 1, -1 do
      local t = m.tables[i]
      if t.created then conn:exec(Q.drop_table(conn, t.schema, t.name)) end
    end
    clear_checkpoints(cx, m)
    delete_state(cx)
  end)
  event(cx, "online_rolled_back", {})
  say(cx, "rolled back: the tables have the old shape only")
  return { state = "none" }
end

-- Restores the constraints and indexes the old shape had on a column complete dropped.
local function restore_column_objects(cx, t, d)
  local conn = cx.conn
  if d.not_null then
    local nn = fit("_weir_" .. cx.ch.name .. "_nn_" .. d.column)
    if conn:value(Q.COLUMN_NOT_NULL, t.schema, t.name, d.column) == false then
      if not conn:one(Q.CONSTRAINT, t.schema, t.name, nn) then
        transaction(cx, "not null check " .. d.column, function()
          conn:exec(Q.add_constraint(conn, t.schema, t.name, nn, Q.not_null_check(conn, d.column)))
        end)
      end
      autocommit(cx, "validate " .. nn, Q.validate_constraint(conn, t.schema, t.name, nn))
      transaction(cx, "set not null " .. d.column, function()
        conn:exec(Q.set_not_null(conn, t.schema, t.name, d.column))
        conn:exec(Q.drop_constraint(conn, t.schema, t.name, nn))
      end)
    end
  end
  for _, k in ipairs(d.constraints) do
    if not conn:one(Q.CONSTRAINT, t.schema, t.name, k.name) then
      if k.definition:match("^UNIQUE") or k.definition:match("^PRIMARY KEY") then
        transaction(cx, "constraint " .. k.name, function()
          conn:exec(Q.add_constraint_valid(conn, t.schema, t.name, k.name, k.definition))
        end)
      else
        transaction(cx, "constraint " .. k.name, function()
          conn:exec(Q.add_constraint(conn, t.schema, t.name, k.name, k.definition))
        end)
        autocommit(cx, "validate " .. k.name, Q.validate_constraint(conn, t.schema, t.name, k.name))
      end
    end
  end
  for _, ix in ipairs(d.indexes) do
    local have = conn:one(Q.INDEX_IN, t.schema, ix.name)
    if have and not have.valid then
      autocommit(cx, "drop invalid index " .. ix.name, Q.drop_index(conn, t.schema, ix.name, true))
      have = nil
    end
    if not have then autocommit(cx, "create index " .. ix.name, Q.recreate_index(ix.definition)) end
  end
end

local function reopen(ch, conn)
  local cx = new_cx(ch, conn, "reopen")
  local row = read_state(cx)
  if not row then refuse(ch, "reopen: the change was never started, so there is nothing to reopen") end
  if row.state == "active" then return { state = "active" } end
  local m = row.definition
  if row.state == "completed" or row.state == "contracted" then
    transaction(cx, "reopen", function()
      conn:exec(Q.lock_tables(conn, (function()
        local out = {}
        for _, t in ipairs(m.tables) do
          if not t.created then out[#out + 1] = { t.schema, t.dropped and t.retired or t.new_name } end
        end
        return out
      end)()))
      for i = #m.sql, 1, -1 do
        local s = m.sql[i]
        if s.at == "complete" and s.down then conn:exec(s.down) end
      end
      for _, t in ipairs(m.tables) do
        for _, c in ipairs(t.constraints) do
          if c.kind == "not_null" then
            if not c.was_not_null then
              conn:exec(Q.drop_constraint(conn, t.schema, t.new_name, nn_check_name(ch, t, c)))
              conn:exec(Q.drop_not_null(conn, t.schema, t.new_name, c.column))
            end
          else
            conn:exec(Q.drop_constraint(conn, t.schema, t.new_name, c.name))
          end
        end
        if t.dropped then
          conn:exec(Q.rename_table(conn, t.schema, t.retired, t.name))
        elseif t.new_name ~= t.name then
          conn:exec(Q.rename_table(conn, t.schema, t.new_name, t.name))
        end
      end
      for _, t in ipairs(m.tables) do
        if t.has_view then
          for _, d in ipairs(t.defaults) do conn:exec(Q.set_default(conn, t.schema, t.name, d.column, d.old_sql)) end
          for _, r in ipairs(t.renames) do conn:exec(Q.rename_column(conn, t.schema, t.name, r.to, r.from)) end
          for _, s in ipairs(t.shadows) do
            if s.default_sql then conn:exec(Q.set_default(conn, t.schema, t.name, s.final, nil)) end
            conn:exec(Q.rename_column(conn, t.schema, t.name, s.final, s.phys))
          end
          -- with its default, so existing rows hold it (a column with `down` is derived by the
          -- backfill next; a volatile default makes PostgreSQL rewrite the table here)
          for _, d in ipairs(t.drops) do conn:exec(Q.add_column(conn, t, d.column, d.type, d.default_sql)) end
          if synced_present(t, "down") then conn:exec(Q.add_column(conn, t, t.synced, "boolean")) end
        end
      end
      build_new_shape(cx, m, "down")
      for _, t in ipairs(m.tables) do
        if t.has_view and synced_present(t, "down") then record_bound(cx, t, "down") end
      end
      set_state(cx, "reopening", "down")
    end)
    event(cx, "online_reopened", { version_schemas = json.array(m.version_schemas) })
    say(cx, "reopened: version schema %s; deriving the old shape", table.concat(m.version_schemas, ", "))
  end
  -- reopening: the old columns from the new ones, then what the old shape had on them
  local st = backfill(cx, m)
  if st.rows > 0 then say(cx, "backfilled %d rows in %d batches", st.rows, st.batches) end
  for _, t in ipairs(m.tables) do
    if t.has_view then
      for _, d in ipairs(t.drops) do restore_column_objects(cx, t, d) end
    end
  end
  for _, ix in ipairs(m.drop_indexes) do
    local have = conn:one(Q.INDEX_IN, ix.schema, ix.name)
    if have and not have.valid then
      autocommit(cx, "drop invalid index " .. ix.name, Q.drop_index(conn, ix.schema, ix.name, true))
      have = nil
    end
    if not have then autocommit(cx, "create index " .. ix.name, Q.recreate_index(ix.definition)) end
  end
  transaction(cx, "record reopen", function() set_state(cx, "active", "down") end)
  return { state = "active" }
end

-- ---------------------------------------------------------------------------------------------
-- Looking at a change: status and describe

local function table_status(cx, m)
  local out = {}
  for _, t in ipairs(m.tables) do
    local e = { table = t.schema .. "." .. t.name, new_name = t.new_name, version_schema = t.vschema or db.NULL }
    local cp = t.synced and t.has_view and get_checkpoint(cx, t)
    if cp then
      e.backfill = { direction = cp.direction, done = cp.done == true, rows = cp.rows or 0, batches = cp.batches or 0 }
    end
    out[#out + 1] = e
  end
  return out
end

local function status(ch, conn)
  if type(conn) ~= "userdata" then refuse(ch, "status: expected a connection, got %s", type(conn)) end
  local rc = runner_ctx()
  local schema = ch.opts.schema or (rc and rc.schema) or "weir"
  if not conn:value(Q.STATE_TABLE_EXISTS, quoted(conn, schema, "online_changes")) then
    return { name = ch.name, state = "not started" }
  end
  local cx = { ch = ch, conn = conn, schema = schema }
  local row = read_state(cx)
  if not row then return { name = ch.name, state = "not started" } end
  return { name = ch.name, state = row.state, direction = row.direction, version_schemas = row.version_schemas,
    started_at = row.started_at, completed_at = row.completed_at, tables = table_status(cx, row.definition) }
end

---What the change does, as lines of text: the version schema and its views, the shadow
---columns, triggers and backfill of start, and what complete does. Reads the catalog (or the
---recorded change once started); changes nothing.
local function describe_model(ch, conn, m)
  local lines = { ("online change %s"):format(ch.name) }
  local function add(fmt, ...) lines[#lines + 1] = fmt:format(...) end
  for _, t in ipairs(m.tables) do
    local label = t.schema .. "." .. t.name
    if t.created then
      add("  start:    creates table %s", label)
    elseif t.dropped then
      add("  complete: renames table %s to %s (kept for reopen)", label, t.retired)
    else
      local cols = {}
      for _, e in ipairs(t.shape) do cols[#cols + 1] = e.phys == e.name and e.name or (e.phys .. " AS " .. e.name) end
      add("  start:    view %s.%s (%s) over %s%s", t.vschema, t.new_name, table.concat(cols, ", "), label,
        t.copy_into and ", with an INSTEAD OF INSERT trigger for COPY" or "")
      for _, s in ipairs(t.shadows) do add("  start:    shadow column %s.%s %s", label, s.phys, s.type) end
      if t.trigger then
        local dirs = {}
        for _, p in ipairs(t.pairs) do
          if p.up then dirs[#dirs + 1] = ("%s ← up(%s)"):format(p.name, p.up) end
          if p.down then dirs[#dirs + 1] = ("%s ← down(%s)"):format(p.D, p.down) end
        end
        add("  start:    trigger %s on %s (BEFORE INSERT OR UPDATE, fires first): %s", Q.ident(conn, t.trigger),
          label, table.concat(dirs, "; "))
      end
      if t.synced and t.backfill_up then
        add("  start:    backfill %s by %s in batches of %d, rows that exist when the trigger goes in", label,
          key_label(t), ch.opts.batch)
      end
      for _, ix in ipairs(t.indexes) do add("  start:    index %s (concurrently)", ix.name) end
      for _, d in ipairs(t.drops) do add("  complete: drops column %s.%s", label, d.column) end
      for _, s in ipairs(t.shadows) do add("  complete: renames %s.%s to %s", label, s.phys, s.final) end
      for _, r in ipairs(t.renames) do add("  complete: renames %s.%s to %s", label, r.from, r.to) end
      if t.new_name ~= t.name then add("  complete: renames table %s to %s", label, t.new_name) end
    end
    for _, c in ipairs(t.constraints) do
      if c.kind == "not_null" then
        add("  complete: NOT NULL on %s.%s.%s (a CHECK added NOT VALID and validated first, so no scan under the lock)",
          t.schema, t.new_name, c.column)
      else
        add("  complete: %s %s on %s.%s (%s)", (c.kind:gsub("_", " ")), c.name, t.schema, t.new_name,
          c.kind == "unique" and "index built concurrently, then added with it" or "NOT VALID, then validated")
      end
    end
  end
  for _, ix in ipairs(m.drop_indexes) do add("  complete: drops index %s.%s (concurrently)", ix.schema, ix.name) end
  for _, s in ipairs(m.sql) do add("  %s: sql %s", s.at, (s.up:gsub("%s+", " "))) end
  return lines
end

local function describe(ch, conn)
  local m
  local rc = runner_ctx()
  local schema = ch.opts.schema or (rc and rc.schema) or "weir"
  if conn:value(Q.STATE_TABLE_EXISTS, quoted(conn, schema, "online_changes")) then
    local row = read_state { ch = ch, conn = conn, schema = schema }
    if row then m = row.definition end
  end
  return describe_model(ch, conn, m or resolve(conn, ch))
end

-- Under `weir plan`: what this step does, for the plan's entry of the phase (its SQL shows the
-- statements; these lines add what a copy without data cannot show, like the backfill).
function plan_notes(cx, m, step)
  if not cx.notes then return end
  for i, line in ipairs(describe_model(cx.ch, cx.conn, m)) do
    if i == 1 then
      cx.notes[#cx.notes + 1] = line .. ", " .. step .. ":"
    elseif line:match("^  " .. step .. ":") then
      cx.notes[#cx.notes + 1] = "  " .. line:gsub("^  " .. step .. ":%s*", "")
    end
  end
end

-- ---------------------------------------------------------------------------------------------
-- The change

local CHANGE_MT = { __name = "weir.online.Change" }
local OPTION_KEYS = { batch = "number", pause_ms = "number", lock_timeout = "number|string", retries = "number",
  copy_into = "boolean|table", separate_backfill = "boolean", schema = "string" }

local function duration_ms(v)
  if type(v) == "number" then return v end
  local n, unit = v:match("^%s*(%d+%.?%d*)%s*(%a*)%s*$")
  local f = ({ [""] = 1, ms = 1, s = 1000, min = 60000 })[unit or "?"]
  if not n or not f then return nil end
  return math.floor(tonumber(n) * f)
end

---Declares a change: `online.change "NAME" { options..., operations... }`.
---@param name string
function M.change(name)
  local at = where(2)
  if type(name) ~= "string" or not name:match("^[a-z][a-z0-9_]*$") then
    error(("%sonline.change: the name must be lower-case letters, digits and '_' (it names the version schema), got %s")
      :format(at, type(name) == "string" and ("%q"):format(name) or type(name)), 0)
  end
  return function(spec)
    local function bad(fmt, ...) error(("%sonline.change %s: " .. fmt):format(at, name, ...), 0) end
    if type(spec) ~= "table" then bad("expected a table of operations after online.change %q", name) end
    local ops, opts = {}, { batch = 1000, pause_ms = 0, retries = 8 }
    for k, v in pairs(spec) do
      if math.type(k) == "integer" then
        if not model.is_operation(v) then
          bad("entry %d is not an operation (write online.add_column { ... } and the like)", k)
        end
      elseif OPTION_KEYS[k] then
        if not OPTION_KEYS[k]:find(type(v), 1, true) then
          bad("%s must be a %s, got %s", k, OPTION_KEYS[k]:gsub("|", " or "), type(v))
        end
        opts[k] = v
      else
        bad("unknown key '%s' (expected operations and %s)", tostring(k), table.concat(sorted_keys(OPTION_KEYS), ", "))
      end
    end
    for i = 1, #spec do ops[i] = spec[i] end
    if #ops == 0 then bad("has no operations") end
    for _, k in ipairs { "batch", "retries" } do
      if math.type(opts[k]) ~= "integer" or opts[k] < (k == "batch" and 1 or 0) then
        bad("%s must be a %s integer", k, k == "batch" and "positive" or "non-negative")
      end
    end
    if opts.pause_ms < 0 then bad("pause_ms must not be negative") end
    if opts.lock_timeout then
      local ms = duration_ms(opts.lock_timeout)
      if not ms or ms < 1 then bad("lock_timeout must be milliseconds or a duration like \"500ms\" or \"2s\"") end
      opts.lock_timeout = ms
    end
    local copy_into = opts.copy_into
    if type(copy_into) == "table" then
      local set = {}
      for i, v in ipairs(copy_into) do
        if type(v) ~= "string" then bad("copy_into[%d] must be a table name", i) end
        set[v] = true
      end
      copy_into = set
    elseif copy_into == false then
      copy_into = nil
    end
    local ch = setmetatable({ name = name, where = at, ops = ops, opts = opts, copy_into = copy_into }, CHANGE_MT)
    ch.start = function(conn) return start(ch, conn) end
    ch.backfill = function(conn) return run_backfill(ch, conn) end
    ch.complete = function(conn) return complete(ch, conn) end
    ch.rollback = function(conn) return rollback(ch, conn) end
    ch.reopen = function(conn) return reopen(ch, conn) end
    ch.status = function(conn) return status(ch, conn) end
    ch.describe = function(conn) return describe(ch, conn) end
    return ch
  end
end

---Every change recorded in `schema` (weir's state schema), for `weir status`: a list of
---{ name, state, direction, version_schemas, tables, started_at, completed_at,
---backfill = { rows, done }, summary } (summary: one line for people); empty when none was
---ever started.
function M.status_rows(conn, schema)
  schema = schema or "weir"
  if not conn:value(Q.STATE_TABLE_EXISTS, quoted(conn, schema, "online_changes")) then return {} end
  local out = {}
  for _, r in ipairs(conn:query(Q.state_rows(conn, schema))) do
    local b = conn:one(Q.backfill_summary(conn, schema), "online/" .. r.name .. "/")
    local e = { name = r.name, state = r.state, direction = r.direction, version_schemas = r.version_schemas,
      tables = r.tables, started_at = r.started_at, completed_at = r.completed_at,
      backfill = { rows = b.rows, done = b.done } }
    if r.state == "completed" then
      e.summary = ("%s: completed %s"):format(r.name, r.completed_at)
    else
      e.summary = ("%s: %s, version schema %s (%s)%s"):format(r.name,
        r.state == "contracted" and "completing" or r.state, table.concat(r.version_schemas, ", "),
        table.concat(r.tables, ", "), b.done and ((" — backfill done, %d rows"):format(b.rows))
          or ((" — backfill not finished, %d rows so far"):format(b.rows)))
    end
    out[#out + 1] = e
  end
  return out
end

return M
