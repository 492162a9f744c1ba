--- plan: what `weir up` would do, worked out without changing the target.
---
--- Transactional phases run for real on the target inside one transaction that is always
--- rolled back: each in a savepoint, with its SQL traced (a statement that would end the
--- transaction is refused before it runs), and with the relation locks it took and the
--- relations it created, dropped, renamed or rewrote read from pg_locks and pg_class before the
--- rollback. Non-transactional phases cannot run inside that transaction; they run on a
--- schema-only copy of the target in a throwaway cluster (after the pending phases before
--- them), where their statements and rewrites are observed and their locks are inferred from
--- the statements with PostgreSQL's parser.
local runner = require "runner"
local history = require "history"
local sql = require "sql"
local util = require "weir_util"

local P = {}

local say = runner.say

-- Lock modes, weakest first, and what each one stops other sessions from doing.
local MODES = {
  { "AccessShareLock", "conflicts only with ACCESS EXCLUSIVE" },
  { "RowShareLock", "blocks EXCLUSIVE and ACCESS EXCLUSIVE" },
  { "RowExclusiveLock", "blocks CREATE INDEX (non-concurrent) and stronger" },
  { "ShareUpdateExclusiveLock", "blocks DDL, VACUUM and other index builds; not reads or writes" },
  { "ShareLock", "blocks writes" },
  { "ShareRowExclusiveLock", "blocks writes" },
  { "ExclusiveLock", "blocks writes; only reads go on" },
  { "AccessExclusiveLock", "blocks reads and writes" },
}
local RANK, BLOCKS = {}, {}
for i, m in ipairs(MODES) do RANK[m[1]], BLOCKS[m[1]] = i, m[2] end

local KINDS = { r = "table", i = "index", S = "sequence", v = "view", m = "materialized view",
  c = "composite type", f = "foreign table", p = "partitioned table", I = "partitioned index" }

-- User relations (not catalogs, toast or temp, not weir's own state).
local RELATIONS = [[
  SELECT c.oid::bigint AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
         c.relfilenode::bigint AS filenode, coalesce(i.indrelid, 0)::bigint AS table_oid
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%'
     AND n.nspname <> $1]]

-- Relation locks this session holds on user objects (oids below 16384 are the system's).
local LOCKS = [[
  SELECT relation::bigint AS oid, mode FROM pg_catalog.pg_locks
   WHERE pid = pg_catalog.pg_backend_pid() AND locktype = 'relation' AND granted
     AND relation >= 16384]]

local SEQUENCES = [[
  SELECT schemaname || '.' || sequencename AS name, last_value FROM pg_catalog.pg_sequences
   WHERE schemaname NOT LIKE 'pg\_%' AND schemaname <> $1]]

local function snapshot(conn, schema)
  local rels, locks, seqs = {}, {}, {}
  for _, r in ipairs(conn:query(RELATIONS, schema)) do rels[r.oid] = r end
  -- Reading a sequence's last_value locks it (ROW EXCLUSIVE): read them before the locks, so
  -- that weir's own reading never shows up as the phase's.
  local in_tx = conn:in_transaction()
  if in_tx then conn:exec("SAVEPOINT weir_plan_sequences") end
  local ok, rows = pcall(conn.query, conn, SEQUENCES, schema)  -- needs SELECT on each sequence
  if in_tx then
    conn:exec(ok and "RELEASE SAVEPOINT weir_plan_sequences" or "ROLLBACK TO SAVEPOINT weir_plan_sequences")
  end
  if ok then
    for _, s in ipairs(rows) do seqs[s.name] = db.isnull(s.last_value) and 0 or s.last_value end
  end
  for _, l in ipairs(conn:query(LOCKS)) do locks[l.oid .. " " .. l.mode] = l end
  return { rels = rels, locks = locks, seqs = seqs }
end

local function qualified(r) return r.schema .. "." .. r.name end
local function kind_of(r) return KINDS[r.kind] or ("relkind " .. r.kind) end

-- What changed between two snapshots: created, dropped, renamed, rewritten relations, the
-- strongest new lock per relation, and sequences advanced (nextval is not rolled back).
local function compare(before, after)
  local out = { creates = json.array(), drops = json.array(), renames = json.array(),
    rewrites = json.array(), locks = json.array(), sequences = json.array() }
  for oid, r in pairs(after.rels) do
    local b = before.rels[oid]
    if not b then
      out.creates[#out.creates + 1] = kind_of(r) .. " " .. qualified(r)
    else
      if qualified(b) ~= qualified(r) then
        out.renames[#out.renames + 1] = kind_of(r) .. " " .. qualified(b) .. " → " .. qualified(r)
      end
      if b.filenode ~= r.filenode and b.filenode ~= 0 then
        out.rewrites[#out.rewrites + 1] = kind_of(r) .. " " .. qualified(b)
      end
    end
  end
  for oid, b in pairs(before.rels) do
    if not after.rels[oid] then out.drops[#out.drops + 1] = kind_of(b) .. " " .. qualified(b) end
  end
  -- Dropped and created again under the same name (an index on a column whose type changed):
  -- a rebuild, which is a rewrite.
  local dropped = {}
  for _, d in ipairs(out.drops) do dropped[d] = true end
  local creates = json.array()
  for _, c in ipairs(out.creates) do
    if dropped[c] then
      out.rewrites[#out.rewrites + 1] = c
      dropped[c] = "rebuilt"
    else
      creates[#creates + 1] = c
    end
  end
  local drops = json.array()
  for _, d in ipairs(out.drops) do
    if dropped[d] ~= "rebuilt" then drops[#drops + 1] = d end
  end
  out.creates, out.drops = creates, drops
  local strongest = {}
  for key, l in pairs(after.locks) do
    local r = before.rels[l.oid]  -- locks on relations the phase created matter to no one
    if not before.locks[key] and r then
      local cur = strongest[l.oid]
      if not cur or RANK[l.mode] > RANK[cur] then strongest[l.oid] = l.mode end
    end
  end
  for oid, mode in pairs(strongest) do
    local r = before.rels[oid]
    -- An index lock follows from its table's, so it is listed only when stronger (DROP INDEX,
    -- REINDEX take ACCESS EXCLUSIVE on the index itself).
    local table_mode = strongest[r.table_oid]
    if r.table_oid == 0 or mode == "AccessExclusiveLock" and not (table_mode and RANK[table_mode] >= RANK[mode]) then
      out.locks[#out.locks + 1] = { relation = qualified(r), kind = kind_of(r), mode = mode,
        blocks = BLOCKS[mode] or "", observed = true }
    end
  end
  for name, v in pairs(after.seqs) do
    if before.seqs[name] and before.seqs[name] ~= v then
      out.sequences[#out.sequences + 1] = string.format("%s %s → %s", name, tostring(before.seqs[name]), tostring(v))
    end
  end
  for _, list in pairs(out) do
    table.sort(list, function(a, b)
      if type(a) == "table" then return RANK[a.mode] > RANK[b.mode] or (a.mode == b.mode and a.relation < b.relation) end
      return a < b
    end)
  end
  return out
end

-- ---------------------------------------------------------------------------------------------
-- Locks of statements that ran outside a transaction, inferred from their parse trees.

local function relname(rv)
  if type(rv) ~= "table" or not rv.relname then return nil end
  return (rv.schemaname and (rv.schemaname .. ".") or "") .. rv.relname
end

local function infer(stmt)
  local t, k = stmt.tree or {}, stmt.kind
  if k == "IndexStmt" then
    return relname(t.relation), t.concurrent and "ShareUpdateExclusiveLock" or "ShareLock"
  elseif k == "ReindexStmt" then
    local name = relname(t.relation) or t.name
    local concurrent = false
    for _, p in ipairs(t.params or {}) do
      local d = p.DefElem
      if d and d.defname == "concurrently" then concurrent = true end
    end
    return name, concurrent and "ShareUpdateExclusiveLock" or "AccessExclusiveLock"
  elseif k == "DropStmt" then
    local names = {}
    for _, o in ipairs(t.objects or {}) do
      local parts = {}
      for _, s in ipairs(o.List and o.List.items or {}) do
        if s.String then parts[#parts + 1] = s.String.sval end
      end
      if #parts > 0 then names[#names + 1] = table.concat(parts, ".") end
    end
    return table.concat(names, ", "), t.concurrent and "ShareUpdateExclusiveLock" or "AccessExclusiveLock"
  elseif k == "VacuumStmt" then
    local full = false
    for _, o in ipairs(t.options or {}) do
      if o.DefElem and o.DefElem.defname == "full" then full = true end
    end
    local rels = {}
    for _, r in ipairs(t.rels or {}) do
      rels[#rels + 1] = r.VacuumRelation and relname(r.VacuumRelation.relation)
    end
    return table.concat(rels, ", "), full and "AccessExclusiveLock" or "ShareUpdateExclusiveLock"
  elseif k == "AlterTableStmt" then
    local mode = "ShareUpdateExclusiveLock"
    for _, c in ipairs(t.cmds or {}) do
      local sub = c.AlterTableCmd and c.AlterTableCmd.subtype or ""
      local m
      if sub == "AT_ValidateConstraint" or sub == "AT_SetStatistics" or sub == "AT_ClusterOn"
        or sub == "AT_SetRelOptions" then
        m = "ShareUpdateExclusiveLock"
      elseif sub == "AT_AddConstraint" and c.AlterTableCmd.def and c.AlterTableCmd.def.Constraint
        and c.AlterTableCmd.def.Constraint.contype == "CONSTR_FOREIGN" then
        m = "ShareRowExclusiveLock"
      else
        m = "AccessExclusiveLock"
      end
      if RANK[m] > RANK[mode] then mode = m end
    end
    return relname(t.relation), mode
  elseif k == "InsertStmt" or k == "UpdateStmt" or k == "DeleteStmt" or k == "MergeStmt" then
    return relname(t.relation), "RowExclusiveLock"
  elseif k == "RefreshMatViewStmt" then
    return relname(t.relation), t.concurrent and "ExclusiveLock" or "AccessExclusiveLock"
  elseif k == "LockStmt" then
    local rels = {}
    for _, r in ipairs(t.relations or {}) do rels[#rels + 1] = relname(r.RangeVar) end
    return table.concat(rels, ", "), MODES[t.mode or 8] and MODES[t.mode or 8][1]
  elseif k == "TruncateStmt" or k == "ClusterStmt" then
    local rels = {}
    for _, r in ipairs(t.relations or {}) do rels[#rels + 1] = relname(r.RangeVar) end
    if t.relation then rels[#rels + 1] = relname(t.relation) end
    return table.concat(rels, ", "), "AccessExclusiveLock"
  end
  return nil
end

-- One entry per relation and mode; none on weir's own state (`schema`), whose tables the
-- observed locks leave out too, nor on the session's temporary tables.
local function inferred_locks(statements, schema)
  local out, seen = {}, {}
  for _, s in ipairs(statements) do
    local name, mode = infer(s)
    local key = name and mode and (name .. " " .. mode)
    if key and name ~= "" and not seen[key] and name:sub(1, #schema + 1) ~= schema .. "."
      and not name:match("^pg_temp[%w_]*%.") then
      seen[key] = true
      out[#out + 1] = { relation = name, kind = db.NULL, mode = mode, blocks = BLOCKS[mode], observed = false,
        statement = s.text }
    end
  end
  return out
end

-- The kind ("table", "index" …) of the relation `name` written in SQL names on `conn` now, or
-- db.NULL (a list of names, a relation the statement dropped).
local function relation_kind(conn, name)
  local ok, k = pcall(conn.value, conn, "SELECT c.relkind::text FROM pg_catalog.pg_class c " ..
    "WHERE c.oid = pg_catalog.to_regclass($1)", name)
  if ok and type(k) == "string" then return KINDS[k] or ("relkind " .. k) end
  return db.NULL
end

-- The relation a name written in SQL refers to in a snapshot: "schema.name", or "name" found
-- in public first, else in exactly one schema.
local function lookup(rels, name)
  local found
  for oid, r in pairs(rels) do
    if qualified(r) == name then return oid end
    if r.name == name then
      if r.schema == "public" then return oid end
      found = found == nil and oid or false
    end
  end
  return found or nil
end

-- Locks the plan's transaction cannot observe for this phase because an earlier planned phase
-- already holds them (on a real `weir up` each phase has its own transaction and takes them
-- again): inferred from the statements instead.
local function add_held_locks(changes, before, statements, schema)
  local listed = {}
  for i, l in ipairs(changes.locks) do listed[l.relation] = i end
  local held = {}
  for _, l in pairs(before.locks) do held[l.oid] = true end
  for _, l in ipairs(inferred_locks(statements, schema)) do
    local oid = lookup(before.rels, l.relation)
    if oid and held[oid] then
      l.relation, l.kind = qualified(before.rels[oid]), kind_of(before.rels[oid])
      l.held = true
      local at = listed[l.relation]
      if not at then
        changes.locks[#changes.locks + 1] = l
        listed[l.relation] = #changes.locks
      elseif RANK[l.mode] > RANK[changes.locks[at].mode] then
        changes.locks[at] = l
      end
    end
  end
end

-- Splits traced SQL strings into statements with their kinds (text PostgreSQL cannot parse
-- is kept whole: the server is the one to reject it). The text shown is redacted: a password
-- spliced into SQL (ALTER ROLE … PASSWORD '…') is printed as '***'.
local function split(traced)
  local out = {}
  for _, text in ipairs(traced) do
    local ok, stmts = pcall(sql.parse, text)
    if ok and #stmts > 0 then
      for _, s in ipairs(stmts) do
        s.text = sql.redact(s.text)
        out[#out + 1] = s
      end
    else
      out[#out + 1] = { text = sql.redact(text), kind = "", tree = {} }
    end
  end
  return out
end

-- ---------------------------------------------------------------------------------------------
-- Running one phase for the plan

local function verify_result(ph, conn, path)
  if not ph.verify then return { state = "none" } end
  local ok, res, msg = pcall(runner.call, ph.verify, conn)
  if not ok then return { state = "failed", message = runner.full_paths(runner.error_text(res), path) } end
  if res == false then return { state = "failed", message = msg and tostring(msg) or "verify returned false" } end
  return { state = "passed" }
end

-- Runs up (traced) and verify of `e` on `conn`, with weir.checkpoint kept in `store`.
-- Returns the entry fields: statements, verify, error, and the before/after comparison.
local function simulate(e, conn, schema, store, guard)
  local m, p = e.m, e.p
  local ctx = { db = conn, schema = schema, migration = m.id, phase = p.name, store = store,
    emit = function() end, notes = {} }  -- notes: lines stdlib modules add (online: docs/online.md)
  runner.set_current(ctx)
  local before = snapshot(conn, schema)
  conn:trace(true, { forbid_commit = guard })
  local ok, err = pcall(runner.call, p.up, conn)
  local traced = conn:trace(false)
  local result = { statements = json.array(split(traced)), notes = #ctx.notes > 0 and json.array(ctx.notes) or nil }
  if ok and conn:transaction_status() == "failed" then
    ok, err = false, "a statement failed inside the phase and the error was caught"
  end
  if ok then
    conn:trace(true, { forbid_commit = guard })
    result.verify = verify_result(p, conn, m.path)
    conn:trace(false)
    if conn:transaction_status() ~= "failed" then
      result.changes = compare(before, snapshot(conn, schema))
      add_held_locks(result.changes, before, result.statements, schema)
    end
  else
    local where = type(err) == "table" and err.where or ""
    result.error = runner.full_paths(where .. runner.error_text(err), m.path)
  end
  runner.set_current(nil)
  return result
end

-- ---------------------------------------------------------------------------------------------
-- Output

local function sql_lines(text)
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = line end
  local indent
  for i = 2, #lines do
    local lead = lines[i]:match("^(%s*)%S")
    if lead and (not indent or #lead < indent) then indent = #lead end
  end
  for i = 2, #lines do lines[i] = lines[i]:sub((indent or 0) + 1) end
  while #lines > 1 and lines[#lines]:match("^%s*$") do lines[#lines] = nil end
  return lines
end

-- A plain SELECT (no INTO, no row locks, no data-modifying CTE): shown only with --all-sql.
local function read_only(s)
  if s.kind ~= "SelectStmt" then return false end
  local t = s.tree or {}
  if t.intoClause or t.lockingClause then return false end
  if t.withClause then
    for _, cte in ipairs(t.withClause.ctes or {}) do
      local q = cte.CommonTableExpr and cte.CommonTableExpr.ctequery
      if q and not q.SelectStmt then return false end
    end
  end
  return true
end

local function print_entry(out, e, all_sql)
  local where = e.ran_on == "target" and "transactional: run on the target, then rolled back"
    or e.ran_on == "shadow" and not e.transaction and "non-transactional: run on a schema-only copy in a throwaway cluster"
    or e.ran_on == "shadow" and "transactional, after a non-transactional phase: run on the schema-only copy"
    or "not run"
  out:write(string.format("\n── %s:%s  (%s)\n", e.migration, e.phase, where))
  if e.note then out:write("   note: ", e.note, "\n") end
  if e.blocked then out:write("   blocked: ", e.blocked, "\n") return end
  if not e.statements then return end
  out:write("   SQL:\n")
  if #e.statements == 0 then out:write("     (none)\n") end
  local hidden = 0
  for i, s in ipairs(e.statements) do
    if not all_sql and read_only(s) then
      hidden = hidden + 1
    else
      local lines = sql_lines(s.text)
      out:write(string.format("     %d. %s\n", i, lines[1]))
      for j = 2, #lines do out:write("        ", lines[j], "\n") end
    end
  end
  if hidden > 0 then
    out:write(string.format("     (and %d read-only quer%s; --all-sql lists them)\n", hidden, hidden == 1 and "y" or "ies"))
  end
  for _, n in ipairs(e.notes or {}) do out:write("   ", n, "\n") end
  local c = e.changes
  if c then
    local function list(label, items)
      if #items > 0 then out:write(string.format("   %-10s %s\n", label, table.concat(items, ", "))) end
    end
    list("creates:", c.creates)
    list("drops:", c.drops)
    -- Indexes and sequences that moved with a table are counted, not listed.
    local moves, renames, carried = {}, {}, {}
    for _, r in ipairs(c.renames) do
      local kind, from_schema, to_schema = r:match("^(%a+) ([^.]+)%.%S+ → ([^.]+)%.")
      if kind == "table" then moves[from_schema .. " " .. to_schema] = true end
      to_schema = to_schema and from_schema .. " " .. to_schema
      renames[#renames + 1] = { text = r, kind = kind, move = to_schema }
    end
    local shown = {}
    for _, r in ipairs(renames) do
      if (r.kind == "index" or r.kind == "sequence") and r.move and moves[r.move] then
        carried[r.kind] = (carried[r.kind] or 0) + 1
      else
        shown[#shown + 1] = r.text
      end
    end
    if carried.index or carried.sequence then
      local parts = {}
      if carried.index then parts[#parts + 1] = carried.index .. " index" .. (carried.index > 1 and "es" or "") end
      if carried.sequence then parts[#parts + 1] = carried.sequence .. " sequence" .. (carried.sequence > 1 and "s" or "") end
      shown[#shown + 1] = "(and " .. table.concat(parts, " and ") .. " with their tables)"
    end
    list("renames:", shown)
    out:write(string.format("   %-10s %s\n", "rewrites:", #c.rewrites > 0 and table.concat(c.rewrites, ", ") or "none"))
    list("advances:", c.sequences)
    if #c.locks == 0 then
      out:write("   locks:     none on existing relations\n")
    else
      out:write("   locks:\n")
      for _, l in ipairs(c.locks) do
        out:write(string.format("     %-25s %s%s — %s\n", l.mode, l.relation,
          l.held and " (inferred from the statement: an earlier phase of this plan already holds a lock on it)"
            or l.observed and "" or " (inferred from the statement)", l.blocks))
      end
    end
  end
  if e.error then
    out:write("   FAILS:     ", e.error, "\n")
  elseif e.verify then
    local v = e.verify
    local text = v.state == "none" and "none defined" or v.state
    if v.message then text = text .. ": " .. v.message end
    if e.ran_on == "shadow" and v.state ~= "none" then
      text = text .. " (on the schema-only copy, which holds none of the target's rows)"
    end
    out:write("   verify:    ", text, "\n")
  end
end

-- ---------------------------------------------------------------------------------------------
-- The command

local function plan_with(opts, state, list, by_id)
  local schema = opts.schema or "weir"
  local recorded, phases = {}, {}
  if history.has_table(state, schema, "phases") then
    recorded, phases = history.load(state, schema)
  end
  local changed = runner.drift({ state = state, schema = schema }, list, recorded)
  if #changed > 0 then
    for _, m in ipairs(changed) do say("%s was changed after it was applied (checksum differs)", m.path) end
    say("`weir up` would refuse to run: review the changes, then accept them with `weir repair`")
    return 1
  end
  local pending = runner.pending(list, by_id, phases, opts.to)
  local entries = {}
  for _, e in ipairs(pending) do
    entries[#entries + 1] = { migration = e.m.id, phase = e.p.name, transaction = e.p.transaction,
      interrupted = e.state == "running" or nil, src = e }
  end

  local simulated = {}  -- phases as they would stand after the planned ones: requires sees them
  for mid, ps in pairs(phases) do
    simulated[mid] = {}
    for name, r in pairs(ps) do simulated[mid][name] = r end
  end
  local stopped  -- why the phases after the current one are not planned
  local unsure  -- phases could not be planned for a reason of the plan's own: no verdict
  -- Whether entry `e` gets planned: not after a phase that stops `weir up`, and only with its
  -- requirements met (flags read through `conn`, where the earlier planned phases ran).
  local function admit(e, conn)
    if stopped then
      e.note = "not planned: " .. stopped
      return false
    end
    local m, p = e.src.m, e.src.p
    local unmet = runner.requirement_unmet({ opts = opts, state = conn, schema = schema }, m, p, simulated, by_id)
    if unmet then
      e.blocked = unmet
      stopped = m.id .. ":" .. p.name .. " is blocked, and `weir up` stops there"
      return false
    end
    return true
  end
  -- Records what planning `e` found; false when `weir up` would stop at it.
  local function settle(e, r)
    for k, v in pairs(r) do e[k] = v end
    if e.error or (e.verify and e.verify.state == "failed") then
      stopped = e.migration .. ":" .. e.phase .. " fails, and `weir up` stops there"
      return false
    end
    simulated[e.migration] = simulated[e.migration] or {}
    simulated[e.migration][e.phase] = { state = "done" }
    return true
  end

  -- Pass 1: the transactional phases before the first non-transactional one, on the target, in
  -- one transaction that is always rolled back.
  local first_shadow  -- the first non-transactional entry: it and every phase after it go to the copy
  for i, e in ipairs(entries) do
    if not e.transaction then
      first_shadow = i
      break
    end
  end
  local ctx = { opts = opts, state = state, schema = schema }
  runner.configure_session(ctx)
  local store = {}
  db:exec("BEGIN")
  local ok, err = pcall(function()
    -- `weir up` creates (or upgrades) weir's state schema before any phase runs, and phases
    -- that use it (copy, flags, weir.checkpoint) expect it: so does the plan, inside its
    -- transaction, which is rolled back.
    history.ensure(db, schema)
    for i = 1, (first_shadow or #entries + 1) - 1 do
      local e = entries[i]
      db:trace(true, { forbid_commit = true })
      -- flags are read in the plan's transaction, so flags earlier planned phases define count
      local go = admit(e, db)
      db:trace(false)
      if go then
        e.ran_on = "target"
        db:exec("SAVEPOINT weir_plan")
        if not settle(e, simulate(e.src, db, schema, store, true)) then
          db:exec("ROLLBACK TO SAVEPOINT weir_plan")
        end
        db:exec("RELEASE SAVEPOINT weir_plan")
      end
    end
  end)
  if db:transaction_status() ~= "closed" then pcall(db.exec, db, "ROLLBACK") end
  if not ok then error(err, 0) end

  -- Pass 2: from the first non-transactional phase on, every phase runs on a schema-only copy
  -- of the target (brought to where the phases of pass 1 leave it), in order: the target
  -- cannot show what a phase after an autocommitted one finds.
  if first_shadow and not stopped then
    local first = entries[first_shadow]
    say("copying the target's schema into a throwaway cluster for %s:%s and the phases after it",
      first.migration, first.phase)
    -- The copy has weir's state as the target has it (its rows too: the state version,
    -- checkpoints, flags, id maps), so the phases find what they find on `weir up`.
    local has_state = state:value("SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = $1)", schema)
    local made, cluster = pcall(weir.cluster, { schema_from = opts.url or "", with_data = has_state and { schema } or nil })
    if not made then error(util.error_line(cluster), 0) end  -- without weir's own line
    local _ <close> = cluster
    local shadow <close> = weir.connect(cluster:url())
    history.ensure(shadow, schema)
    local global_db = db
    rawset(_G, "db", shadow)  -- scripts that use the global `db` must not reach the target
    local shadow_store = {}
    local ok2, err2 = pcall(function()
      runner.configure_session({ opts = opts })
      for i = 1, first_shadow - 1 do
        local e = entries[i]
        runner.set_current { db = shadow, schema = schema, migration = e.migration, phase = e.phase,
          store = shadow_store, emit = function() end }
        local ok3, err3 = pcall(shadow.tx, shadow, function() e.src.p.up(shadow) end)
        runner.set_current(nil)
        if not ok3 then
          unsure = true
          stopped = "replaying " .. e.migration .. ":" .. e.phase .. " on the schema-only copy failed: " ..
            runner.error_text(err3)
          break
        end
      end
      for i = first_shadow, #entries do
        local e = entries[i]
        if admit(e, shadow) then
          e.ran_on = "shadow"
          if e.transaction then
            shadow:exec("BEGIN")
            local good = settle(e, simulate(e.src, shadow, schema, shadow_store, true))
            if good then
              local committed, cerr = pcall(shadow.exec, shadow, "COMMIT")  -- deferred constraints
              if not committed then
                settle(e, { error = "at COMMIT: " .. runner.error_text(cerr) })
              end
            end
            if shadow:in_transaction() then pcall(shadow.exec, shadow, "ROLLBACK") end
          else
            local r = simulate(e.src, shadow, schema, shadow_store, false)
            if r.changes then
              for _, l in ipairs(inferred_locks(r.statements, schema)) do
                l.kind = relation_kind(shadow, l.relation)
                r.changes.locks[#r.changes.locks + 1] = l
              end
            end
            settle(e, r)
          end
        end
      end
    end)
    rawset(_G, "db", global_db)
    if not ok2 then error(err2, 0) end
  end
  for _, e in ipairs(entries) do
    if not e.ran_on and not e.blocked and not e.note then e.note = "not planned: " .. (stopped or "?") end
  end

  -- Report
  local failed = unsure or false
  for _, e in ipairs(entries) do
    e.src = nil
    if e.blocked or e.error or (e.verify and e.verify.state == "failed") then failed = true end
  end
  if opts.json then
    for _, e in ipairs(entries) do
      for _, s in ipairs(e.statements or {}) do s.tree = nil end
    end
    io.stdout:write(json.encode { format_version = runner.FORMAT_VERSION, pending = #entries,
      would_succeed = not failed, phases = json.array(entries) }, "\n")
  else
    local out = io.stdout
    if #entries == 0 then
      out:write("nothing to plan: every phase is applied\n")
      return 0
    end
    out:write(string.format("%d pending phase%s\n", #entries, #entries == 1 and "" or "s"))
    for _, e in ipairs(entries) do print_entry(out, e, opts.all_sql) end
    out:write(string.format("\n%s; the target was not changed (the plan's transaction was rolled back)\n",
      unsure and "weir cannot tell whether `weir up` would succeed (see the notes)"
        or failed and "`weir up` would FAIL" or "`weir up` would succeed"))
  end
  return failed and 1 or 0
end

---`weir plan [--to ID[:PHASE]] [--json]`. Returns the exit code: 0 when every pending phase
---would apply and verify, 1 otherwise.
function P.plan(opts)
  local list, by_id = runner.load_all(opts.dir)
  local state = weir.connect(opts.url or "")
  state:exec("SET application_name = 'weir plan'")
  -- The plan is the output on stdout; what scripts print while planning goes to stderr.
  local restore_print = runner.print_to_stderr()
  local ok, res = pcall(plan_with, opts, state, list, by_id)
  restore_print()
  state:close()
  if not ok then error(res, 0) end
  return res
end

return P
