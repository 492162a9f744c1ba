--- copy: batch copy and backfill (the `copy` global). The data path is C++ ("copy.core":
--- COPY to COPY without Lua, or COPY binary rows through a Lua transform and back); this file
--- drives the batches: keyset ranges on the key, one target transaction per batch holding the
--- rows, the checkpoint, the quarantined rows and the id mappings — so a copy killed at any
--- moment and run again continues after the last committed batch, with no row lost or doubled.
---
--- No row is lost without a word: a source row with a NULL key (which keyset batches cannot
--- reach) refuses the copy before any work; a bad row is either quarantined and counted (and
--- said on stderr) or, with on_error = "fail", stops the copy naming it. copy.reset forgets all
--- the state a copy or update kept. Tests: tests/lua/copy_test.lua, tests/cli/copy_migrate_test.lua.
local core = require "copy.core"
local history = require "history"
local progress = require "progress"
local util = require "weir_util"

local C = {}

local KNOWN = {
  from = true, source = true, query = true, to = true, target = true, key = true, columns = true,
  batch = true, transform = true, mode = true, on_error = true, checkpoint = true, since = true,
  pause_ms = true, throttle = true, name = true, schema = true, where = true, shared = true, ranges = true,
  workers = true, ids = true,
}

-- What a worker process runs: the same copy, sharing its ranges (see C.table's `workers`).
local WORKER = [[
local spec = json.decode(os.getenv("WEIR_COPY_SPEC"))  -- also tells copy.table it is a worker
local src <close> = weir.connect(spec.from)
local dst <close> = weir.connect(spec.to)
spec.opts.from, spec.opts.to = src, dst
print(json.encode(copy.table(spec.opts)))
]]

local error_line = util.error_line

-- ---------------------------------------------------------------------------------------------
-- Errors. Misuse, and a refusal found before any work, raise one line at the caller's FILE:LINE:
-- code anywhere inside raises a Refusal, and the public entry re-raises its text there. Other
-- errors (a failed batch: SQLSTATE, copy and batch) pass through as they are.

local Refusal = {}

local function refuse(fmt, ...)
  error(setmetatable({ text = fmt:format(...) }, Refusal), 0)
end

-- Registers C[name] = impl, wrapped so that refusals, and SQL errors raised outside a batch
-- (a source query that does not parse), name the caller's line.
local function public(name, impl)
  C[name] = function(...)
    local r = table.pack(pcall(impl, ...))
    if r[1] then return table.unpack(r, 2, r.n) end
    local e = r[2]
    if getmetatable(e) == Refusal then error(e.text, 2) end
    if type(e) == "table" and e.sqlstate and type(e.where) == "string" and e.where:find("stdlib/", 1, true) then
      -- level 1 is pcall, 2 this function, 3 the script that called copy.NAME
      local _, at = pcall(error, "", 3)
      e.where = at
    end
    error(e, 0)
  end
end

local function check_connection(fn, v, what)
  if not util.is_connection(v) then
    if what then refuse("%s: %s must be a connection, got %s", fn, what, type(v)) end
    refuse("%s: argument #1 must be a connection (db), got %s", fn, type(v))
  end
end

local function check_string(fn, o, k)
  local v = o[k]
  if v ~= nil and (type(v) ~= "string" or v == "") then
    refuse("%s: %s must be a non-empty string, got %s", fn, k, type(v) == "string" and "an empty string" or type(v))
  end
end

local function check_positive_integer(fn, o, k)
  local v = o[k]
  if v ~= nil and (math.type(v) ~= "integer" or v < 1) then refuse("%s: %s must be a positive integer", fn, k) end
end

local function check_pause(fn, o)
  local v = o.pause_ms
  if v == nil then return end
  if type(v) ~= "number" then refuse("%s: pause_ms must be a number of milliseconds (0 or more), got %s", fn, type(v)) end
  if not (v >= 0 and v < math.huge) then
    refuse("%s: pause_ms must be a number of milliseconds (0 or more), got %s", fn, tostring(v))
  end
end

local function check_known(fn, o, known)
  if type(o) ~= "table" then refuse("%s: expected a table of options, got %s", fn, type(o)) end
  for k in pairs(o) do
    if not known[k] then refuse("%s: unknown option '%s'", fn, tostring(k)) end
  end
end

-- A list of non-empty strings (column names), or nil.
local function names_or_nil(v)
  if type(v) ~= "table" or #v == 0 then return nil end
  for k, c in pairs(v) do
    if math.type(k) ~= "integer" or type(c) ~= "string" or c == "" then return nil end
  end
  return v
end

-- The key option as a list of column names (default { "id" }).
local function key_columns(fn, v)
  if v == nil then return { "id" } end
  if type(v) == "string" and v ~= "" then return { v } end
  local list = names_or_nil(v)
  if not list then refuse("%s: key must be a column name or a non-empty list of column names", fn) end
  return list
end

local function text_of(v)
  if v == nil or db.isnull(v) then return "NULL" end
  return tostring(v)
end

-- The keys a batch covers, for its error: "id from the start through 500",
-- "id after 500 through 1000", "id after 1000" (the last, open-ended one).
local function key_range(keys, last, hi)
  local function values(list)
    local out = {}
    for i, v in ipairs(list) do out[i] = text_of(v) end
    return table.concat(out, ",")
  end
  local text = table.concat(keys, ",") .. (last and (" after " .. values(last)) or " from the start")
  return hi and (text .. " through " .. values(hi)) or text
end

-- One row's key, for its error: "id 2400", "(a, b) = (2, k4)".
local function row_key(keys, values)
  local out = {}
  for i = 1, #keys do out[i] = text_of(values[i]) end
  if #keys == 1 then return keys[1] .. " " .. out[1] end
  return "(" .. table.concat(keys, ", ") .. ") = (" .. table.concat(out, ", ") .. ")"
end

-- The one row that stopped a copy with on_error = "fail": its key values and its error.
local RowFailure = {}

local function failure_text(err, keys)
  if getmetatable(err) == RowFailure then
    return " at " .. row_key(keys, err.key) .. ": " .. error_line(err.err)
  end
  return ": " .. error_line(err)
end

-- Keyset batches compare the key with > and <=, never true for a NULL: rows with a NULL in a key
-- column would be left behind without a word. So they are counted before any work (nothing to
-- count when `rel` is a table whose key columns are all NOT NULL), and any refuse the copy.
-- `from_sql` is what to count in, `conds` the copy's other conditions on it.
local function null_key_rows(conn, rel, from_sql, keys, conds)
  if rel and conn:value([[
      SELECT count(*) FILTER (WHERE a.attnotnull) = $3 FROM pg_catalog.pg_attribute a
       WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attname = ANY ($2::text[])]],
      rel, db.array(keys), #keys) then
    return 0
  end
  local nulls = {}
  for i, k in ipairs(keys) do nulls[i] = conn:quote_ident(k) .. " IS NULL" end
  local where = { "(" .. table.concat(nulls, " OR ") .. ")" }
  for _, c in ipairs(conds) do where[#where + 1] = c end
  return conn:value("SELECT count(*) FROM " .. from_sql .. " WHERE " .. table.concat(where, " AND "))
end

-- An identifier as SQL text: bare when PostgreSQL would read it back unchanged.
local function sql_name(name)
  if name:match("^[a-z_][a-z0-9_$]*$") then return name end
  return '"' .. name:gsub('"', '""') .. '"'
end

-- "copy.table NAME: 2 source rows have a NULL key (id); …"
local function refuse_null_keys(head, n, one_row, rows, keys, verb, noun)
  local not_null = {}
  for i, k in ipairs(keys) do not_null[i] = sql_name(k) .. " IS NOT NULL" end
  local one = n == 1
  refuse("%s: %d %s %s a NULL key (%s); keyset batches cannot reach %s, so nothing was %s: leave %s out " ..
    "with where = %s, or key the %s on columns without NULLs", head, n, one and one_row or rows,
    one and "has" or "have", table.concat(keys, ", "), one and "it" or "them", verb, one and "it" or "them",
    json.encode(table.concat(not_null, " AND ")), noun)
end

local function state_schema(o)
  if o.schema then return o.schema end
  local ctx = require("runner").current()
  return ctx and ctx.schema or "weir"
end

local list_of = util.list_of

-- How many rows to expect, for the progress line's % and ETA: the planner's estimate of
-- `SELECT … FROM from_where` (EXPLAIN; a savepoint keeps a failure from ending the caller's
-- transaction), or pg_class.reltuples of `rel` when there is no condition. nil when progress
-- is off, when weir plan or weir lint runs the phase (EXPLAIN would be one more statement in
-- what they show), or when the planner cannot tell.
local function expected_rows(conn, from_where, rel, plain_table)
  local ctx = require("runner").current()
  if progress.style() == "off" or (ctx and ctx.store) then return nil end
  if rel and plain_table then
    local n = conn:value("SELECT c.reltuples::bigint FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)", rel)
    return (math.type(n) == "integer" and n > 0) and n or nil
  end
  local in_tx = conn:in_transaction()
  if in_tx then conn:exec("SAVEPOINT weir_copy_estimate") end
  local ok, plan = pcall(conn.value, conn, "EXPLAIN (FORMAT JSON) SELECT 1 FROM " .. from_where)
  if in_tx then
    conn:exec(ok and "RELEASE SAVEPOINT weir_copy_estimate" or "ROLLBACK TO SAVEPOINT weir_copy_estimate")
    if not ok then conn:exec("RELEASE SAVEPOINT weir_copy_estimate") end
  end
  local n = ok and type(plan) == "table" and plan[1] and plan[1].Plan and plan[1].Plan["Plan Rows"]
  return (type(n) == "number" and n >= 1) and math.floor(n) or nil
end


-- The batch currently being written, for ids.map: mappings to record with it.
local current_batch
local stage_count = 0

---The pending id mappings of the running copy batch (used by the ids module), or nil; its
---fields conn and schema say where they go (and where ids reads imported mappings).
function C.pending_ids() return current_batch and current_batch.ids end

-- Target columns: name → {type, builtin, identity_always}, in table order.
local function target_columns(dst, target)
  local rows = dst:query([[
    SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
           t.typnamespace = 'pg_catalog'::regnamespace AS builtin,
           a.attidentity = 'a' AS identity_always
      FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
     WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attgenerated = ''
     ORDER BY a.attnum]], target)
  return rows
end

local function primary_key(dst, target)
  return dst:value([[
    SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey, a.attnum))
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
     WHERE i.indrelid = pg_catalog.to_regclass($1) AND i.indisprimary]], target)
end

-- Whether `keys` is unique in the table `source`: a valid unique index on some of its columns,
-- with no predicate or expression (its INCLUDE columns not counted).
local function unique_key(src, source, keys)
  return src:value([[
    SELECT EXISTS (
      SELECT FROM pg_catalog.pg_index i
       WHERE i.indrelid = pg_catalog.to_regclass($1) AND i.indisunique AND i.indisvalid
         AND i.indpred IS NULL AND i.indexprs IS NULL
         AND NOT EXISTS (
           SELECT FROM unnest((i.indkey::int2[])[0:i.indnkeyatts - 1]) AS k (attnum)
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE a.attname IS NULL OR NOT (a.attname::text = ANY ($2::text[]))))]], source, db.array(keys)) == true
end

-- SQLSTATE classes that say nothing about a row: the connection (08), a transaction rollback
-- (40: serialization failure, deadlock), resources (53), a lock or object state (55:
-- lock_timeout), an operator or timeout (57: statement_timeout, cancel, shutdown), the system
-- (58, XX).
local NOT_ROW_ERRORS = { ["08"] = true, ["40"] = true, ["53"] = true, ["55"] = true, ["57"] = true,
                         ["58"] = true, XX = true }

-- Whether a failed write's error may be a row's fault, so that its batch is written again to
-- find the bad rows; any other error stops the copy at its batch (a rerun resumes there) —
-- a lock_timeout must not make every row of a batch "bad".
local function row_error(err)
  return type(err) == "table" and type(err.sqlstate) == "string" and not NOT_ROW_ERRORS[err.sqlstate:sub(1, 2)]
end

local function literal_tuple(conn, values)
  local out = {}
  for i, v in ipairs(values) do out[i] = conn:quote_literal(v) end
  return table.concat(out, ", ")
end

local function fail(fmt, ...) refuse("copy.table: " .. fmt, ...) end

-- Checks copy.table's options before anything runs; returns the source and target connections.
local function check_table_options(o)
  check_known("copy.table", o, KNOWN)
  for _, k in ipairs { "from", "to" } do
    if o[k] ~= nil then check_connection("copy.table", o[k], k) end
  end
  for _, k in ipairs { "query", "checkpoint", "since", "where", "throttle", "name", "schema" } do
    check_string("copy.table", o, k)
  end
  for _, k in ipairs { "batch", "workers", "ranges" } do check_positive_integer("copy.table", o, k) end
  check_pause("copy.table", o)
  if o.transform ~= nil and type(o.transform) ~= "function" then
    fail("transform must be a function(row), got %s", type(o.transform))
  end
  if o.columns ~= nil and not names_or_nil(o.columns) then fail("columns must be a non-empty list of column names") end
  if o.ids ~= nil then
    if type(o.ids) ~= "table" or next(o.ids) == nil then
      fail("ids must be a table of source column = namespace, got %s", type(o.ids) == "table" and "an empty table" or type(o.ids))
    end
    for col, ns in pairs(o.ids) do
      if type(col) ~= "string" or type(ns) ~= "string" or ns == "" then
        fail("ids must be a table of source column = namespace (strings), got %s = %s", tostring(col), tostring(ns))
      end
    end
    if not o.transform then fail("ids goes with a transform (its ids.map and ids.lookup calls are what it serves)") end
  end
  if o.shared ~= nil and type(o.shared) ~= "boolean" then fail("shared must be true or false, got %s", type(o.shared)) end
  local on_error = o.on_error
  if on_error ~= nil and on_error ~= "quarantine" and on_error ~= "fail" and on_error ~= "abort" then
    fail("on_error must be quarantine or fail, got %s", type(on_error) == "string" and ("'" .. on_error .. "'") or type(on_error))
  end
  return o.from or db, o.to or db
end

---Copies rows from a table or query on one connection to a table on another (or the same).
---See docs/copy.md. Returns { read, written, quarantined, skipped, batches, seconds, resumed_from }.
local function copy_table(o)
  local src, dst = check_table_options(o)
  if not o.target then fail("target (the table to write) is required") end
  if (o.source == nil) == (o.query == nil) then fail("give either source (a table) or query (a SELECT)") end
  local source_sql, target_sql, bad
  if o.source ~= nil then
    source_sql, bad = util.table_sql(src, o.source)
    if not source_sql then fail("source %s", bad) end
  end
  target_sql, bad = util.table_sql(dst, o.target)
  if not target_sql then fail("target %s", bad) end
  local mode = o.mode or "insert"
  if mode ~= "insert" and mode ~= "upsert" and mode ~= "update" then
    fail("mode must be insert, upsert or update, got '%s'", tostring(mode))
  end
  -- "abort" is the earlier name of "fail"
  local on_error = (o.on_error == nil or o.on_error == "quarantine") and "quarantine" or "fail"
  -- Without a transform rows stream COPY to COPY and a batch costs no memory: larger batches
  -- spend less time between COPYs (commit, checkpoint, the next range's query).
  local batch = o.batch or (o.transform and 5000 or 50000)
  local keys = key_columns("copy.table", o.key)
  local name = o.name or o.checkpoint or o.target
  local shared = o.shared or o.ranges ~= nil
  if shared and not o.checkpoint then fail("shared needs a checkpoint (the name the sharing processes agree on)") end
  if shared and o.since then fail("since cannot be combined with shared") end
  local workers = o.workers or 1
  if workers > 1 then
    if o.transform then
      fail("workers > 1 needs no transform (a transform is this script's Lua code); with one, run the script " ..
        "in several processes with shared = true")
    end
    if not o.checkpoint then fail("workers need a checkpoint (the name the workers share)") end
    if o.since then fail("since cannot be combined with workers") end
    shared = true
  end
  local n_ranges = o.ranges or math.max(16, workers * 4)
  local schema = state_schema(o)
  local S = dst:quote_ident(schema)

  if o.source and not util.relation_exists(src, source_sql) then
    fail("source table %s does not exist", o.source)
  end
  if not util.relation_exists(dst, target_sql) then fail("target table %s does not exist", o.target) end
  local from_sql = o.source and (source_sql .. " AS weir_src") or ("(" .. o.query .. ") AS weir_src")

  -- Which columns go across: the option, else the target's columns the source also has.
  local _, src_cols = src:query("SELECT * FROM " .. from_sql .. " LIMIT 0")
  local has_src = {}
  for _, c in ipairs(src_cols) do has_src[c.name] = true end
  for _, k in ipairs(keys) do
    if not has_src[k] then fail("key column %s is not in the source", k) end
  end
  local tcols = target_columns(dst, target_sql)
  local tcol = {}
  for _, c in ipairs(tcols) do tcol[c.name] = c end
  local columns = o.columns
  if not columns then
    columns = {}
    for _, c in ipairs(tcols) do
      if has_src[c.name] or o.transform then columns[#columns + 1] = c.name end
    end
    if #columns == 0 then fail("the source and target have no column in common; give columns = {...}") end
  end
  for _, c in ipairs(columns) do
    if not tcol[c] then fail("column %s is not in the target table %s", c, o.target) end
    if not o.transform and not has_src[c] then fail("column %s is not in the source", c) end
  end
  local conflict = nil
  if mode ~= "insert" then
    local pk = primary_key(dst, target_sql)
    if pk == nil or db.isnull(pk) then fail("%s needs a primary key on %s", mode, o.target) end
    conflict = pk
  end

  -- Binary COPY when every column has a built-in type (cast on the source side); else text.
  local binary = true
  for _, c in ipairs(columns) do
    if not tcol[c].builtin then binary = false end
  end
  local select_list = {}
  for i, c in ipairs(columns) do
    select_list[i] = binary and (src:quote_ident(c) .. "::" .. tcol[c].type) or src:quote_ident(c)
  end
  -- How rows that reach Lua are read (a transform's, a failed batch's): COPY binary, decoded
  -- in C++ by the columns' types, asked once (here with a transform, else when first needed).
  local read_plan = o.transform and core.read_plan(src, "SELECT * FROM " .. from_sql) or nil
  local key_list = list_of(src, keys)
  -- The batch's last key, as text: the columns of the subquery `s` (an ORDER BY on the bare
  -- name would sort the text aliases).
  local key_text, desc = {}, {}
  for i, k in ipairs(keys) do
    key_text[i] = "s." .. src:quote_ident(k) .. "::text AS " .. src:quote_ident(k)
    desc[i] = "s." .. src:quote_ident(k) .. " DESC"
  end
  local desc_list = table.concat(desc, ", ")

  local nulls = null_key_rows(src, source_sql, from_sql, keys, o.where and { "(" .. o.where .. ")" } or {})
  if nulls > 0 then
    refuse_null_keys("copy.table " .. name, nulls, "source row", "source rows", keys, "copied", "copy")
  end

  -- State: checkpoint, counters.
  history.ensure(dst, schema)
  local cp_key = o.checkpoint and ("copy/" .. o.checkpoint) or nil
  local overall_cp_key = cp_key  -- a shared copy's ranges add #N to it
  local cp = {}
  if cp_key then
    local v = dst:value("SELECT value FROM " .. S .. ".checkpoints WHERE key = $1", cp_key)
    if v ~= nil and not db.isnull(v) then cp = v end
  end
  local stats = { read = 0, written = 0, quarantined = 0, skipped = 0, batches = 0, seconds = 0,
    resumed_from = cp.last and json.array(cp.last) or db.NULL }
  if cp.done and not o.since then
    stats.resumed_from = "done"
    return stats
  end
  if o.since then
    if cp.done or cp.since_next == nil then
      -- a new pass: from where the last one ended, up to what exists now
      cp.since_from = cp.since_next ~= nil and cp.since_next or cp.since_from
      if cp.done then cp.since_from = cp.since_next end
      cp.since_next = src:value("SELECT max(" .. src:quote_ident(o.since) .. ")::text FROM " .. from_sql)
      cp.last, cp.done = nil, false
      if db.isnull(cp.since_next) then cp.since_next = nil end
    end
  end

  local range_bound  -- shared: the upper end of the claimed range
  local function range_where(last, hi)
    local parts = {}
    local function cmp(op, values)
      if #keys == 1 then return key_list .. " " .. op .. " " .. literal_tuple(src, values) end
      return "(" .. key_list .. ") " .. op .. " (" .. literal_tuple(src, values) .. ")"
    end
    if last then parts[#parts + 1] = cmp(">", last) end
    if hi then
      parts[#parts + 1] = cmp("<=", hi)
    elseif range_bound then
      parts[#parts + 1] = cmp("<=", range_bound)
    end
    if o.where then parts[#parts + 1] = "(" .. o.where .. ")" end
    if o.since then
      local col = src:quote_ident(o.since)
      if cp.since_from and not db.isnull(cp.since_from) then
        parts[#parts + 1] = col .. " > " .. src:quote_literal(cp.since_from)
      end
      if cp.since_next then
        local upto = col .. " <= " .. src:quote_literal(cp.since_next)
        -- the first pass also takes rows whose `since` is NULL (later passes cannot see them change)
        if cp.since_from == nil or db.isnull(cp.since_from) then upto = "(" .. upto .. " OR " .. col .. " IS NULL)" end
        parts[#parts + 1] = upto
      end
    end
    return #parts > 0 and (" WHERE " .. table.concat(parts, " AND ")) or ""
  end

  -- The last key of the next batch after `last`, or nil when nothing is left.
  local function next_hi_sql(last)
    return "SELECT " .. table.concat(key_text, ", ") .. " FROM (SELECT " .. key_list .. " FROM " ..
      from_sql .. range_where(last, nil) .. " ORDER BY " .. key_list .. " LIMIT " .. batch .. ") s ORDER BY " ..
      desc_list .. " LIMIT 1"
  end
  local function next_hi(last)
    local row = src:one(next_hi_sql(last))
    if not row then return nil end
    local hi = {}
    for i, k in ipairs(keys) do hi[i] = row[k] end
    return hi
  end

  -- upsert/update stage rows in a temporary table of just the copied columns (no constraints:
  -- the target's apply when the rows are merged), one per copy.table call.
  stage_count = stage_count + 1
  local stage = "pg_temp.weir_copy_stage_" .. stage_count
  local function merge(cols)
    if mode == "insert" then return end
    local cl = list_of(dst, cols)
    local sets, match = {}, {}
    local is_key = {}
    for _, k in ipairs(conflict) do is_key[k] = true end
    for _, c in ipairs(cols) do
      if not is_key[c] then sets[#sets + 1] = dst:quote_ident(c) .. " = " .. (mode == "upsert" and "EXCLUDED." or "s.") .. dst:quote_ident(c) end
    end
    for _, k in ipairs(conflict) do match[#match + 1] = "t." .. dst:quote_ident(k) .. " = s." .. dst:quote_ident(k) end
    if mode == "upsert" then
      local override = ""
      for _, c in ipairs(cols) do
        if tcol[c].identity_always then override = " OVERRIDING SYSTEM VALUE" end
      end
      dst:exec("INSERT INTO " .. target_sql .. " (" .. cl .. ")" .. override .. " SELECT " .. cl .. " FROM " .. stage ..
        " ON CONFLICT (" .. list_of(dst, conflict) .. ")" ..
        (#sets > 0 and (" DO UPDATE SET " .. table.concat(sets, ", ")) or " DO NOTHING"))
    else
      if #sets > 0 then
        dst:exec("UPDATE " .. target_sql .. " t SET " .. table.concat(sets, ", ") .. " FROM " .. stage .. " s WHERE " ..
          table.concat(match, " AND "))
      end
    end
    dst:exec("TRUNCATE " .. stage)
  end
  local function prepare_stage()
    if mode == "insert" then return end
    -- ON COMMIT DROP: gone with the batch's transaction, never left behind
    dst:exec("CREATE TEMP TABLE IF NOT EXISTS weir_copy_stage_" .. stage_count .. " ON COMMIT DROP AS SELECT " ..
      list_of(dst, columns) .. " FROM " .. target_sql .. " WITH NO DATA")
  end
  local into = mode == "insert" and target_sql or stage

  -- The target columns' types, asked once per list of columns (not once per batch).
  local write_plans = {}
  local function write_rows(rows, cols)
    if #rows == 0 then return 0 end
    local id = table.concat(cols, "\0")
    local plan = write_plans[id]
    if not plan then
      plan = core.write_plan(dst, into, cols)
      write_plans[id] = plan
    end
    local n = core.write(dst, into, cols, rows, plan)
    merge(cols)
    return n
  end

  -- A failed batch's rows are written again under one savepoint, SAVEPOINT_PART: `part_savepoint`
  -- is nil (none open), "clean" (open, nothing written under it since) or "kept" (open over
  -- rows that stay). Rolled back to, it stays open; released with the batch.
  local SAVEPOINT_PART = "weir_copy_part"
  local part_savepoint = nil

  -- The open batch's quarantined rows, as SQL value lists: written in one INSERT with the
  -- batch's COMMIT (see one_batch), not one statement each. A batch rolled back drops them.
  local held, held_bytes = {}, 0
  local HELD_MAX = 4 * 1024 * 1024  -- past this, written at once (one statement)
  local function held_sql()
    if #held == 0 then return "" end
    local sql = "INSERT INTO " .. S .. ".quarantine (copy, source_key, row, error) VALUES " ..
      table.concat(held, ", ") .. ";\n"
    held, held_bytes = {}, 0
    return sql
  end
  local function write_held()
    if #held == 0 then return end
    -- never under the part savepoint: a later ROLLBACK TO would take the rows with it
    local release = part_savepoint and ("RELEASE SAVEPOINT " .. SAVEPOINT_PART .. "; ") or ""
    part_savepoint = nil
    dst:exec(release .. held_sql())
  end

  -- A row's values JSON has no number for (±Infinity, NaN: a float8 column's) as PostgreSQL
  -- spells them, so that a bad row holding one is still quarantined. The row (`top`) and plain
  -- tables inside it are copied when something in them changes.
  local function json_spelled(v, top)
    if type(v) == "number" then
      if v ~= v then return "NaN" end
      if v == math.huge then return "Infinity" end
      if v == -math.huge then return "-Infinity" end
      return v
    end
    if type(v) ~= "table" or db.isnull(v) then return v end
    local out, changed = {}, false
    for k, x in pairs(v) do
      local y = json_spelled(x)
      out[k] = y
      changed = changed or y ~= x
    end
    if not changed or (not top and getmetatable(v) ~= nil) then return v end
    return out
  end

  local function quarantine(key_values, row, err)
    local text = type(err) == "table" and err.sqlstate and (err.sqlstate .. " " .. err.message ..
      (err.detail and (" (detail: " .. err.detail .. ")") or "")) or tostring(err)
    core.materialize(row)  -- a row whose json columns were not read yet (core.read's lazy rows)
    -- the same JSON text db.json binds; a value JSON cannot hold, or a zero byte, fails as a
    -- parameter does
    local ok_row, row_json = pcall(json.encode, row)
    if not ok_row then ok_row, row_json = pcall(json.encode, json_spelled(row, true)) end
    local ok_key, key_json = pcall(json.encode, key_values)
    if not (ok_row and ok_key) or text:find("\0", 1, true) then
      write_held()
      local release = part_savepoint and ("RELEASE SAVEPOINT " .. SAVEPOINT_PART) or nil
      part_savepoint = nil
      if release then dst:exec(release) end
      dst:exec("INSERT INTO " .. S .. ".quarantine (copy, source_key, row, error) VALUES ($1, $2, $3, $4)",
        name, db.json(key_values), db.json(row), text)
    else
      local values = "(" .. dst:quote_literal(name) .. ", " .. dst:quote_literal(key_json) .. "::jsonb, " ..
        dst:quote_literal(row_json) .. "::jsonb, " .. dst:quote_literal(text) .. ")"
      held[#held + 1] = values
      held_bytes = held_bytes + #values
      if held_bytes > HELD_MAX then write_held() end
    end
    stats.quarantined = stats.quarantined + 1
  end

  local function key_of(row)
    local out = {}
    for i, k in ipairs(keys) do
      local v = row[k]
      out[i] = (v == nil or db.isnull(v)) and db.NULL or v
    end
    return out
  end

  -- Why a transform's non-nil result is neither a row nor a list of rows, or nil when it is
  -- one: the write would stop at anything else and lose the rows after it.
  local function not_a_row(res)
    if type(res) ~= "table" then
      return ("returned a %s, not a row (a table), a list of rows or nil"):format(type(res))
    end
    if type(res[1]) ~= "table" then return nil end
    for i = 2, #res do
      if type(res[i]) ~= "table" then
        return ("returned a list whose element %d is a %s, not a row"):format(i, type(res[i]))
      end
    end
    return nil
  end

  -- Transforms source rows: returns output rows, the source row of each (for its key, which
  -- only a failed batch needs), and the columns they fill.
  local function transformed(rows)
    local out, out_src, seen_cols, cols = {}, {}, {}, nil
    if o.ids and #rows > 0 then
      -- the batch's legacy ids, resolved in one query for the imported namespaces among them
      local wanted = {}
      for col, ns in pairs(o.ids) do
        local list = wanted[ns] or {}
        wanted[ns] = list
        for _, row in ipairs(rows) do
          local v = row[col]
          if v == nil then error(("ids names column %s, which the source rows do not have"):format(col), 0) end
          if not db.isnull(v) then list[#list + 1] = v end
        end
      end
      require("ids").prefetch(dst, wanted, schema)
    end
    for _, row in ipairs(rows) do
      local ok, res = pcall(o.transform, row)
      local wrong = ok and res ~= nil and not_a_row(res)
      if wrong then ok, res = false, wrong end  -- a bad row, never one the write would stop at
      if not ok then
        local text = "transform raised: " .. tostring(type(res) == "table" and res.message or res)
        if on_error == "fail" then error(setmetatable({ key = key_of(row), err = text }, RowFailure), 0) end
        quarantine(key_of(row), row, text)
      elseif res == nil then
        stats.skipped = stats.skipped + 1
      else
        if type(res) == "table" and res[1] ~= nil and type(res[1]) == "table" then
          for _, r in ipairs(res) do
            out[#out + 1] = r
            out_src[#out] = row
          end
        else
          out[#out + 1] = res
          out_src[#out] = row
        end
      end
    end
    if not o.columns then core.columns_of(out, seen_cols) end
    if o.columns then
      cols = o.columns
    else
      cols = {}
      for _, c in ipairs(tcols) do
        if seen_cols[c.name] then cols[#cols + 1] = c.name end
      end
      for k in pairs(seen_cols) do
        if not tcol[k] then
          error(("transform returned column %s, which the target %s does not have"):format(k, o.target), 0)
        end
      end
    end
    return out, out_src, cols
  end

  -- A batch's BEGIN that waits to go with the batch's first statement (its COPY): one round
  -- trip less per batch. Only for a BEGIN: a SAVEPOINT is sent at once.
  local deferred_begin = false
  -- `sql` (a statement or the BEGIN not sent yet) prefixed with what must run before it.
  local function after_begin(sql)
    if not deferred_begin then return sql end
    deferred_begin = false
    return "BEGIN; " .. sql
  end

  -- The key's columns of the source itself: an ORDER BY of a bare name would sort by the
  -- select list's column of that name, which is the key's text for a date or a time.
  local src_order_list = {}
  for i, k in ipairs(keys) do src_order_list[i] = "weir_src." .. src:quote_ident(k) end
  local src_order = table.concat(src_order_list, ", ")

  -- A batch's rows. The key range fixes which rows; rows that pass through Lua come in key
  -- order (parents before the replies that reference them when a failed batch is written in
  -- halves), while a COPY-to-COPY batch is one statement whose order does not matter, so the
  -- server may scan the range however is cheapest.
  local function source_select(last, hi, as_binary)
    local cols = as_binary and table.concat(select_list, ", ") or (read_plan and read_plan:list()) or "*"
    return "SELECT " .. cols .. " FROM " .. from_sql .. range_where(last, hi) ..
      (as_binary and "" or (" ORDER BY " .. src_order))
  end

  -- A batch's rows for Lua: COPY binary decoded in C++ (json columns left for the transform to
  -- read, see docs/copy.md), or COPY text when the source repeats a column name.
  local function read_rows(last, hi)
    read_plan = read_plan or core.read_plan(src, "SELECT * FROM " .. from_sql)
    return (core.read(src, source_select(last, hi, false), read_plan, o.transform ~= nil))
  end

  -- Read-ahead (transform path): the next batch's COPY runs on a thread of its own while Lua
  -- transforms and writes this one. `ahead` is { hi = …, pending = … } for the batch after
  -- `last`. Not with pause_ms or throttle (they ask for nothing to be read between batches).
  local ahead
  local read_ahead = o.transform ~= nil and read_plan ~= nil and read_plan:list() ~= nil and not o.pause_ms
    and not o.throttle
  local function drop_ahead()
    if ahead then
      core.discard(ahead.pending)
      ahead = nil
    end
  end

  local fmt = binary and " (FORMAT binary)" or ""
  local copy_in_sql = "COPY " .. into .. " (" .. list_of(dst, columns) .. ") FROM STDIN" .. fmt

  -- One batch, fast path: everything or an error.
  local function fast_batch(last, hi)
    if not o.transform then
      -- (with pause_ms or throttle: nothing is read between batches; else see run_plain)
      local n = core.pipe(src, "COPY (" .. source_select(last, hi, true) .. ") TO STDOUT" .. fmt, dst,
        after_begin(copy_in_sql))
      merge(columns)
      return n, n
    end
    local rows
    if ahead and ahead.hi == hi then
      local pending = ahead.pending
      ahead = nil
      rows = core.take(pending, read_plan, true)
    else
      drop_ahead()
      rows = read_rows(last, hi)
    end
    if read_ahead then
      local next = next_hi(hi)
      if next then ahead = { last = hi, hi = next, pending = core.fetch(src, source_select(hi, next, false)) } end
    end
    local out, _, cols = transformed(rows)
    return #rows, write_rows(out, cols)
  end

  -- The line of a COPY into `into` that a failed write's error names: PostgreSQL's context
  -- for an error while it takes a COPY's rows, "COPY orders, line 412[, column …]", the row
  -- that failed (a row check, NOT NULL, a type, a unique or exclusion index, a BEFORE
  -- trigger). nil when there is none (a foreign key or a deferred constraint, checked at the
  -- end of the statement; an AFTER trigger; an upsert's or update's merge), when it is named
  -- twice (a value that looks like one), or past `n`, the rows written.
  local into_rel = into:match("([^.]+)$"):gsub('^"(.*)"$', "%1")
  local function failed_line(err, n)
    local context = err.context
    if type(context) ~= "string" then return nil end
    local head = "COPY " .. into_rel .. ", line "
    local line, from = nil, 1
    while true do
      local at = context:find(head, from, true)
      if not at then break end
      if at == 1 or context:sub(at - 1, at - 1) == "\n" then
        local digits, after = context:match("^(%d+)(.?)", at + #head)
        if line or not digits or (after ~= "" and after ~= "," and after ~= ":" and after ~= "\n") then return nil end
        line = math.tointeger(tonumber(digits))
      end
      from = at + 1
    end
    if line and line >= 1 and line <= n then return line end
    return nil
  end

  -- The row of rows[first..last_i] a foreign key's error names by its key: the key is checked
  -- at the end of the COPY, so the error names no line but its detail says "Key (order_id)=(…)
  -- is not present in table …". A COPY into the target (mode insert) checks every row, in the
  -- order written, so the first row holding that key is the one that failed — unless the
  -- server saw another value than Lua has (a trigger changed it, a string it parsed): the row
  -- is written alone before it counts as bad. One column, an integer or a string; nil otherwise.
  local function failed_key_row(err, rows, first, last_i)
    local on_target = 'insert or update on table "' .. into_rel .. '" '
    if mode ~= "insert" or err.sqlstate ~= "23503" or type(err.detail) ~= "string" or type(err.message) ~= "string" or
      err.message:sub(1, #on_target) ~= on_target then
      return nil
    end
    local column, value = err.detail:match('^Key %(([%a_][%w_$]*)%)=%((.*)%) is not present in table "')
    if not column then
      column, value = err.detail:match('^Key %("([^"]+)"%)=%((.*)%) is not present in table "')
    end
    if not column then return nil end
    for i = first, last_i do
      local v = rows[i][column]
      if (type(v) == "string" or math.type(v) == "integer") and tostring(v) == value then return i - first + 1 end
    end
    return nil
  end

  -- One failed batch, written again: its bad rows quarantined (with on_error = "fail": the
  -- first one, in key order, raised as a RowFailure), the others written. Returns the rows
  -- read, the rows written and whether they went in with one COPY. `first_try`: no attempt
  -- failed before, so the batch's rows read ahead (if any) are the ones to write, and the
  -- next batch's are read ahead as fast_batch does.
  local function slow_batch(last, hi, first_try)
    local rows
    if first_try and ahead and ahead.hi == hi then
      local pending = ahead.pending
      ahead = nil
      rows = core.take(pending, read_plan, true)
    else
      -- the next batch's rows, read ahead by fast_batch (ahead.hi ~= hi), are still good
      if not (ahead and ahead.hi ~= hi) then drop_ahead() end
      rows = read_rows(last, hi)
    end
    if first_try and read_ahead then
      local next = next_hi(hi)
      if next then ahead = { last = hi, hi = next, pending = core.fetch(src, source_select(hi, next, false)) } end
    end
    local out, out_src, cols
    if o.transform then
      out, out_src, cols = transformed(rows)
    else
      out, out_src, cols = rows, rows, columns
    end
    local function reject(i, err)
      local key = key_of(out_src[i])
      if on_error == "fail" then error(setmetatable({ key = key, err = err }, RowFailure), 0) end
      quarantine(key, out[i], err)
    end
    -- out[first..last_i] in one COPY under the part savepoint: true and the rows written, or
    -- false and the SQL error (rolled back to the savepoint).
    local function attempt(first, last_i)
      if part_savepoint == nil then
        dst:exec("SAVEPOINT " .. SAVEPOINT_PART)
      elseif part_savepoint == "kept" then
        dst:exec("RELEASE SAVEPOINT " .. SAVEPOINT_PART .. "; SAVEPOINT " .. SAVEPOINT_PART)
      end
      part_savepoint = "clean"
      local ok, res = pcall(write_rows, table.move(out, first, last_i, 1, {}), cols)
      if ok then
        part_savepoint = "kept"
        return true, res
      end
      if not row_error(res) then error(res, 0) end
      dst:exec("ROLLBACK TO SAVEPOINT " .. SAVEPOINT_PART)
      return false, res
    end
    -- Writes out[first..last_i]; returns the rows written and whether they went in at once.
    -- A COPY that fails at line N: the rows before it went through the server's row checks,
    -- so they go in with one COPY; if they did (nothing checked at the end of the statement
    -- failed), row N failed after exactly those rows, as it would alone, and is the bad row;
    -- the rest is written the same way. A foreign key's error names a key instead: the row
    -- holding it is found the same way, then written alone — bad if it fails so. Where neither
    -- is named, the rows are halved until each bad row is alone (about 2·log2(rows) COPYs per
    -- bad row).
    local function write_range(first, last_i)
      local written, at_once = 0, true
      while first <= last_i do
        local ok, res = attempt(first, last_i)
        if ok then return written + res, at_once end
        at_once = false
        if first == last_i then
          reject(first, res)
          return written, false
        end
        local line = failed_line(res, last_i - first + 1)
        local by_key = false
        if not line then
          line = failed_key_row(res, out, first, last_i)
          by_key = line ~= nil
        end
        if not line then
          local mid = (first + last_i) // 2
          return written + write_range(first, mid) + write_range(mid + 1, last_i), false
        end
        local bad = first + line - 1
        local clean = true
        if bad > first then
          local w
          w, clean = write_range(first, bad - 1)
          written = written + w
        end
        if not clean then
          first = bad  -- the rows before it were not what row N was checked after: try it again
        elseif by_key then
          local alone, res2 = attempt(bad, bad)
          if alone then written = written + res2 else reject(bad, res2) end
          first = bad + 1
        else
          reject(bad, res)
          first = bad + 1
        end
      end
      return written, at_once
    end
    local written, at_once = 0, true
    if #out > 0 then written, at_once = write_range(1, #out) end
    return #rows, written, at_once
  end

  local function describe_range(last, hi)
    return ("batch %d (%s)"):format(stats.batches + 1, key_range(keys, last, hi))
  end

  local outer_tx = dst:in_transaction()
  local open_batch = false  -- a batch transaction (or savepoint) is open
  local function begin(deferrable)
    open_batch = true
    if deferrable and not outer_tx then
      deferred_begin = true
      return
    end
    dst:exec(outer_tx and "SAVEPOINT weir_copy_batch" or "BEGIN")
  end
  -- Ends the batch; `sql` (its checkpoint) goes in the same round trip.
  local function commit(sql)
    local finish = outer_tx and "RELEASE SAVEPOINT weir_copy_batch" or "COMMIT"
    dst:exec(after_begin(sql and (sql .. "; " .. finish) or finish))
    open_batch = false
  end
  local function rollback()
    if not open_batch then return end
    open_batch = false
    if deferred_begin then  -- nothing was sent
      deferred_begin = false
      return
    end
    if dst:transaction_status() == "closed" then return end
    pcall(dst.exec, dst, outer_tx and "ROLLBACK TO SAVEPOINT weir_copy_batch" or "ROLLBACK")
    if outer_tx then pcall(dst.exec, dst, "RELEASE SAVEPOINT weir_copy_batch") end
  end

  -- The checkpoint and the counters as SQL text (literals, no parameters), so that they go
  -- to the server with the batch's COMMIT in one round trip.
  local function progress_sql(read, written, q0)
    local sql = ""
    if cp_key then
      sql = "INSERT INTO " .. S .. ".checkpoints (key, value, updated_at) VALUES (" .. dst:quote_literal(cp_key) ..
        ", " .. dst:quote_literal(json.encode(cp)) .. [[::jsonb, now())
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now();
]]
    end
    return sql .. "INSERT INTO " .. S .. [[.copies AS c (kind, name, checkpoint, rows_read, rows_written, rows_quarantined)
              VALUES ('table', ]] .. dst:quote_literal(name) .. ", " ..
      (overall_cp_key and dst:quote_literal(overall_cp_key) or "NULL") .. ", " .. math.tointeger(read) .. ", " ..
      math.tointeger(written) .. ", " .. math.tointeger(stats.quarantined - q0) .. [[)
              ON CONFLICT (kind, name) DO UPDATE SET rows_read = c.rows_read + excluded.rows_read,
                rows_written = c.rows_written + excluded.rows_written,
                rows_quarantined = c.rows_quarantined + excluded.rows_quarantined,
                checkpoint = excluded.checkpoint, updated_at = now(), finished_at = NULL]]
  end
  local function save_progress(read, written, q0) dst:exec(progress_sql(read, written, q0)) end

  -- Rows that went to quarantine are said on stderr once the copy returns, whatever the
  -- terminal: a copy that set rows aside never looks like one that copied everything.
  local function summary()
    if stats.quarantined == 0 or os.getenv("WEIR_COPY_SPEC") then return end
    io.stderr:write(("weir: copy %s: %d written, %d quarantined — see %s.quarantine\n"):format(name, stats.written,
      stats.quarantined, sql_name(schema)))
  end

  local function flush_ids(batch_ids)
    local ns, legacy, new = {}, {}, {}
    for _, m in ipairs(batch_ids) do
      ns[#ns + 1], legacy[#legacy + 1], new[#new + 1] = m[1], m[2], m[3]
    end
    if #ns == 0 then return end
    dst:exec("INSERT INTO " .. S .. [[.id_map (namespace, legacy_id, new_id)
              SELECT * FROM unnest($1::text[], $2::text[], $3::uuid[]) ON CONFLICT DO NOTHING]],
      db.array(ns), db.array(legacy), db.array(new))
  end

  local ctx = require("runner").current()
  local t0 = weir.clock()
  local last = cp.last
  local ids_run = {}  -- names this copy to ids.prefetch, which reads the imported namespaces once per copy

  -- Whether the last batch held a row the target rejected. Bad rows of messy data come spread
  -- through a table, so with a transform the next batch then goes to slow_batch at once:
  -- written under a savepoint, it costs one statement more if it is clean, and spares a
  -- failing COPY of the whole batch, its rollback, and reading and transforming it again if it
  -- is not. (Without a transform a clean batch would lose its COPY-to-COPY path.)
  local last_had_bad = false

  -- One batch in one target transaction; returns rows read and written. Any error is raised
  -- as one line naming the copy and the batch (the batch is rolled back; the checkpoint still
  -- names the last committed one).
  local function one_batch(hi)
    local q0, s0 = stats.quarantined, stats.skipped
    held, held_bytes, part_savepoint = {}, 0, nil
    current_batch = { ids = { conn = dst, schema = schema, copy = ids_run } }
    local ok, read, written, at_once
    if last_had_bad and on_error == "quarantine" and o.transform then
      begin()
      prepare_stage()
      read, written, at_once = slow_batch(last, hi, true)
      last_had_bad = not at_once
    else
      begin(not o.transform and mode == "insert")  -- the BEGIN goes with the batch's COPY
      prepare_stage()
      ok, read, written = pcall(fast_batch, last, hi)
      last_had_bad = false
    end
    if ok == false then
      local err = read
      local sql_failure = row_error(err) and dst:transaction_status() ~= "closed"
      rollback()
      -- A failed batch is written again row by row, to quarantine its bad rows or, with
      -- on_error = "fail", to find the first one (then rolled back with the whole batch).
      if not sql_failure then error(err, 0) end
      stats.quarantined, stats.skipped = q0, s0
      held, held_bytes, part_savepoint = {}, 0, nil
      current_batch = { ids = { conn = dst, schema = schema, copy = ids_run } }
      begin()
      prepare_stage()
      read, written, at_once = slow_batch(last, hi, false)
      last_had_bad = not at_once
    end
    flush_ids(current_batch.ids)
    cp.last = hi
    -- the quarantined rows, the checkpoint and the counters go with the COMMIT (which releases
    -- the part savepoint, if any)
    commit(held_sql() .. progress_sql(read, written, q0))
    part_savepoint = nil
    return read, written
  end

  -- Progress (docs/progress.md): rows, rows/s and, when the planner can tell how many rows
  -- there are, % and ETA. A shared copy's ranges are counted by this process only.
  local counter = progress.counter { label = "copy " .. name, unit = "rows",
    total = expected_rows(src, from_sql .. range_where(last, nil), source_sql,
      o.source and not o.where and not o.since and not last and not shared) }
  local function quarantined_note() return stats.quarantined > 0 and (stats.quarantined .. " quarantined") or "" end

  local function batch_done(read, written, hi)
    stats.read, stats.written, stats.batches = stats.read + read, stats.written + written, stats.batches + 1
    last = hi
    if ctx then
      ctx.emit("copy_batch", { migration = ctx.migration, phase = ctx.phase, copy = name, kind = "table",
        batch = stats.batches, rows = read, written = written, last = json.array(hi) })
    end
    counter:add(read, quarantined_note())
  end

  -- One batch written before the next is transformed: its last key from `find_hi` (nil when
  -- nothing is left: returns false), then one_batch; errors name the batch.
  local function batch_in_turn(find_hi)
    local ok, hi = pcall(find_hi)
    if not ok then
      drop_ahead()
      error(("copy.table %s: %s failed: %s"):format(name, describe_range(last, nil), error_line(hi)), 0)
    end
    if not hi then return false end
    local ok2, read, written = pcall(one_batch, hi)
    current_batch = nil
    if not ok2 then
      drop_ahead()
      rollback()
      error(("copy.table %s: %s failed%s"):format(name, describe_range(last, hi), failure_text(read, keys)), 0)
    end
    batch_done(read, written, hi)
    return true
  end

  -- Pipelined batches (transform path, mode "insert"): while batch N goes to the target on a
  -- thread (its COPY, checkpoint, counters and COMMIT as one query, core.write_start), Lua
  -- reads and transforms batch N+1, so the target and the transform work at once. Exactly once
  -- as before: each batch's checkpoint commits with its rows, and a batch counts as done only
  -- once its COMMIT has answered. A statement the transform runs on the target waits for
  -- batch N and runs in batch N+1's transaction, as it would without the pipeline. When batch
  -- N fails, batch N+1's transform is thrown away (its rows read again), batch N is written
  -- again row by row (slow_batch), and the copy goes on from there. Not over one connection for
  -- source and target, and not with a BEFORE or INSTEAD OF INSERT row trigger on the target or
  -- a partition: its COPY's count, which the counters need before the COPY, may then differ
  -- from the rows sent.
  local function ids_sql(batch_ids)
    if #batch_ids == 0 then return "" end
    local values = {}
    for i, m in ipairs(batch_ids) do
      values[i] = "(" .. dst:quote_literal(m[1]) .. ", " .. dst:quote_literal(m[2]) .. ", " ..
        dst:quote_literal(m[3]) .. "::uuid)"
    end
    return "INSERT INTO " .. S .. ".id_map (namespace, legacy_id, new_id) VALUES " .. table.concat(values, ", ") ..
      " ON CONFLICT DO NOTHING;\n"
  end
  local pipelined = o.transform ~= nil and mode == "insert" and read_ahead and not rawequal(src, dst) and not dst:value([[
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                    WHERE (t.tgrelid = $1::regclass
                           OR t.tgrelid IN (SELECT relid FROM pg_catalog.pg_partition_tree($1::regclass)))
                      AND NOT t.tgisinternal AND t.tgenabled <> 'D'
                      AND t.tgtype & 5 = 5 AND t.tgtype & 66 <> 0)]], target_sql)
  local inflight  -- the batch being written: { writing, last, hi, read, written, q0, s0 }

  -- With a unique key of types whose Lua values are exact (integers, text, numeric, uuid), a
  -- batch is the next `batch` rows after the last key, its end the last row's key: no query for
  -- a batch's end. Otherwise (a key with repeated values would lose the rest of a value's rows
  -- at a batch's end; a date or time is the session's text of it, which need not sort as the
  -- value does) next_hi finds it.
  local EXACT_KEY = { int2 = true, int4 = true, int8 = true, oid = true, text = true, varchar = true, uuid = true,
    numeric = true }
  local limit_reads = false
  if pipelined and o.source and unique_key(src, source_sql, keys) then
    limit_reads = true
    for _, c in ipairs(src_cols) do
      for _, k in ipairs(keys) do
        if c.name == k and not EXACT_KEY[c.type] then limit_reads = false end
      end
    end
  end
  local function limit_select(after)
    local cols = read_plan:list()
    return "SELECT " .. cols .. " FROM " .. from_sql .. range_where(after, nil) .. " ORDER BY " .. src_order ..
      " LIMIT " .. batch
  end

  -- The batch after `last`, read and transformed (while `inflight` is written): what start_write
  -- needs, or nil when no row is left. `transforming_hi`: its last key, once known.
  local transforming_hi
  local opening = outer_tx and "SAVEPOINT weir_copy_batch" or "BEGIN"
  local guard  -- with no batch in flight: opens the batch's transaction if its transform uses the target
  local function transform_batch(last)
    transforming_hi = nil
    if not inflight then guard = core.begin_on_use(dst, opening) end
    local q0, s0 = stats.quarantined, stats.skipped
    held, held_bytes, part_savepoint = {}, 0, nil
    current_batch = { ids = { conn = dst, schema = schema, copy = ids_run } }
    local rows, hi
    if ahead and rawequal(ahead.last, last) then
      local a = ahead
      ahead = nil
      rows, hi = core.take(a.pending, read_plan, true), a.hi
    else
      drop_ahead()
      if limit_reads then
        rows = (core.read(src, limit_select(last), read_plan, true))
      else
        hi = next_hi(last)
        if not hi then return nil end
        rows = read_rows(last, hi)
      end
    end
    if not hi then
      if #rows == 0 then return nil end
      local row = rows[#rows]
      hi = {}
      -- (read before the transform changes the row; as text, as next_hi gives a key)
      for i, k in ipairs(keys) do hi[i] = tostring(row[k]) end
    end
    transforming_hi = hi
    if limit_reads then
      ahead = { last = hi, pending = core.fetch(src, limit_select(hi)) }
    else
      local next = next_hi(hi)
      if next then ahead = { last = hi, hi = next, pending = core.fetch(src, source_select(hi, next, false)) } end
    end
    local out, _, cols = transformed(rows)
    return { last = last, hi = hi, read = #rows, out = out, cols = cols, q0 = q0, s0 = s0 }
  end

  -- Sends batch `b` (transform_batch's) as one query on a thread; `began` when a statement
  -- of its transform opened its transaction already.
  local function start_write(b, began)
    local finish = outer_tx and "RELEASE SAVEPOINT weir_copy_batch" or "COMMIT"
    local was = cp.last
    cp.last = b.hi
    local after = ids_sql(current_batch.ids) .. held_sql() .. progress_sql(b.read, #b.out, b.q0) .. ";\n" .. finish
    cp.last = was
    open_batch = began
    local before = began and "" or (opening .. ";\n")
    if #b.out == 0 then
      -- nothing to COPY (every row skipped or quarantined): its accounting at once
      open_batch = true
      dst:exec(before .. after)
      open_batch = false
      cp.last = b.hi
      batch_done(b.read, 0, b.hi)
      return
    end
    local id = table.concat(b.cols, "\0")
    local plan = write_plans[id]
    if not plan then
      plan = core.write_plan(dst, into, b.cols)
      write_plans[id] = plan
    end
    b.written = #b.out
    b.writing = core.write_start(dst, into, b.cols, b.out, plan, before, after, opening)
    open_batch = true
    b.out = nil
    inflight = b
  end

  -- Waits for the batch in flight. True when it committed (and is counted done), or false when
  -- it failed and was written again row by row: what was transformed since is to be done again.
  local function finish_write()
    local b = inflight
    if not b then return true end
    inflight = nil
    local ok, n, began = pcall(core.write_finish, b.writing)
    if ok then
      open_batch, deferred_begin = began, false
      cp.last = b.hi
      batch_done(b.read, n, b.hi)
      return true
    end
    local err = n
    open_batch, deferred_begin = true, false
    local sql_failure = row_error(err) and dst:transaction_status() ~= "closed"
    rollback()
    drop_ahead()
    if not sql_failure then
      current_batch = nil
      error(("copy.table %s: %s failed%s"):format(name, describe_range(last, b.hi), failure_text(err, keys)), 0)
    end
    stats.quarantined, stats.skipped = b.q0, b.s0
    held, held_bytes, part_savepoint = {}, 0, nil
    current_batch = { ids = { conn = dst, schema = schema, copy = ids_run } }
    local ok2, read, written, at_once = pcall(function()
      begin()
      local r, w, a = slow_batch(b.last, b.hi, false)
      flush_ids(current_batch.ids)
      cp.last = b.hi
      commit(held_sql() .. progress_sql(r, w, b.q0))
      part_savepoint = nil
      return r, w, a
    end)
    current_batch = nil
    if not ok2 then
      rollback()
      error(("copy.table %s: %s failed%s"):format(name, describe_range(last, b.hi), failure_text(read, keys)), 0)
    end
    last_had_bad = not at_once
    batch_done(read, written, b.hi)
    return false
  end

  local function run_pipelined()
    while true do
      if last_had_bad and on_error == "quarantine" then
        -- as run_stream: the batch after one with a rejected row goes under a savepoint at once
        if finish_write() and not batch_in_turn(function()
          if ahead and rawequal(ahead.last, last) and ahead.hi then return ahead.hi end
          drop_ahead()
          return next_hi(last)
        end) then
          break
        end
      else
        local ok, b = pcall(transform_batch, inflight and inflight.hi or last)
        if finish_write() then
          if guard then
            local _, began = core.write_finish(guard)
            guard = nil
            if began then open_batch = true end
          end
          -- (otherwise the batch in flight failed and was written again: this one is read again)
          if not ok then
            current_batch = nil
            drop_ahead()
            rollback()
            error(("copy.table %s: %s failed%s"):format(name, describe_range(last, transforming_hi), failure_text(b, keys)), 0)
          end
          if not b then break end
          local ok2, err = pcall(start_write, b, open_batch)
          if not ok2 then
            current_batch = nil
            drop_ahead()
            rollback()
            error(("copy.table %s: %s failed%s"):format(name, describe_range(last, b.hi), failure_text(err, keys)), 0)
          end
        end
        current_batch = nil
      end
    end
    current_batch = nil
  end

  -- Without a transform, pause_ms or throttle, the source is read as key-ordered statements of
  -- `span` rows, a whole number of batches, on a thread that cuts them into batches as the rows
  -- come (core.batches, which also gives each batch's last key) and asks the next statement,
  -- after the last key, as soon as one has returned all its rows: the target takes batch after
  -- batch with no query on the source in between.
  -- A batch of 151 to 1,500 rows goes to the target in COPYs of about 125 rows: COPY FROM makes
  -- a slot per row it buffers (up to 1,000, made again by every COPY) at a cost that grows with
  -- the square of their number on PostgreSQL 15, so eight COPYs of 125 rows cost the server less
  -- than one of 1,000; from about 2,000 rows on, one COPY reuses its 1,000 slots enough to be
  -- the cheaper (measured: docs/copy.md).
  local span = batch * math.max(1, math.ceil(50000 / batch))
  local piece = 0
  if batch > 150 and batch <= 1500 then
    local n = (batch + 124) // 125
    piece = (batch + n - 1) // n
  end
  local key_text_cols, order = {}, {}
  for i, k in ipairs(keys) do
    order[i] = "weir_src." .. src:quote_ident(k)
    key_text_cols[i] = order[i] .. "::text"
  end
  local span_head = "COPY (SELECT " .. table.concat(select_list, ", ") .. ", " .. table.concat(key_text_cols, ", ") ..
    " FROM " .. from_sql
  local span_tail = " ORDER BY " .. table.concat(order, ", ") .. " LIMIT " .. span .. ") TO STDOUT" .. fmt
  local reader  -- the batches coming from the source
  local failed_hi  -- the last key of the batch that failed, once known
  local function drop_readers()
    if reader then core.drop_batches(reader) end
    reader = nil
  end
  local function start(after)
    local others = range_where(nil, nil)  -- where, since, a claimed range's end
    return core.batches(src, span_head .. range_where(after, nil) .. span_tail, binary, #keys, batch, piece, span,
      span_head .. (others ~= "" and (others .. " AND ") or " WHERE "), span_tail, key_list)
  end

  -- One batch from the reader in one target transaction: rows read and written, its last key,
  -- and whether the reader must start again after it (a failed batch, written again row by
  -- row, dropped what was read ahead).
  local function plain_batch()
    local q0, s0 = stats.quarantined, stats.skipped
    held, held_bytes, part_savepoint = {}, 0, nil
    current_batch = { ids = { conn = dst, schema = schema, copy = ids_run } }
    local ok, read, hi
    local rows, key, pieces
    if mode == "insert" and not outer_tx then rows, key, pieces = core.batch_complete(reader) end
    if rows then
      -- All its rows are here, so its last key and count are known: the whole batch is one
      -- query (BEGIN, its COPYs, the checkpoint and the counters, COMMIT), one round trip
      -- plus one per COPY.
      local was = cp.last
      cp.last = key
      local sql = "BEGIN;\n" .. string.rep(copy_in_sql .. ";\n", pieces) .. progress_sql(rows, rows, q0) .. ";\nCOMMIT"
      open_batch = true
      ok, read, hi = pcall(core.batch_send_whole, reader, dst, sql)
      if ok then
        open_batch = false
        return read, read, hi, false
      end
      cp.last = was
    else
      begin(mode == "insert")  -- the BEGIN goes with the batch's COPY
      prepare_stage()
      ok, read, hi = pcall(function()
        local n, last_key = core.batch_send(reader, dst, after_begin(copy_in_sql), copy_in_sql)
        merge(columns)
        return n, last_key
      end)
    end
    local written = read
    if not ok then
      local err = read
      hi = core.batch_key(reader)
      failed_hi = hi
      local sql_failure = row_error(err) and dst:transaction_status() ~= "closed"
      rollback()
      if not sql_failure or not hi then error(err, 0) end
      drop_readers()
      stats.quarantined, stats.skipped = q0, s0
      held, held_bytes, part_savepoint = {}, 0, nil
      current_batch = { ids = { conn = dst, schema = schema, copy = ids_run } }
      begin()
      prepare_stage()
      read, written = slow_batch(last, hi, false)
    end
    flush_ids(current_batch.ids)
    cp.last = hi
    -- as one_batch: the quarantined rows, the checkpoint and the counters with the COMMIT
    commit(held_sql() .. progress_sql(read, written, q0))
    part_savepoint = nil
    return read, written, hi, not ok
  end

  local function run_plain()
    reader = start(last)
    while true do
      local ok, ready = pcall(core.batch_ready, reader)
      if not ok then
        drop_readers()
        error(("copy.table %s: %s failed: %s"):format(name, describe_range(last, nil), error_line(ready)), 0)
      end
      if not ready then break end  -- nothing left after `last`
      failed_hi = nil
      local ok2, read, written, hi, restart = pcall(plain_batch)
      current_batch = nil
      if not ok2 then
        drop_readers()
        rollback()
        error(("copy.table %s: %s failed%s"):format(name, describe_range(last, failed_hi), failure_text(read, keys)), 0)
      end
      batch_done(read, written, hi)
      if restart then reader = start(last) end
    end
    drop_readers()
  end

  local function run_stream()
    -- The plain reader cuts a batch after any row, so the key must be unique (a batch of
    -- next_hi's ends on a whole key value); and it reads on while the target writes, so not
    -- over the target's own connection (the reader would have to read the whole source first).
    if not o.transform and not o.pause_ms and not o.throttle and src ~= dst and o.source and
      unique_key(src, source_sql, keys) then
      return run_plain()
    end
    if pipelined then return run_pipelined() end
    while batch_in_turn(function()
      if ahead then return ahead.hi end  -- already known: its rows are being read
      if o.throttle then
        while src:value(o.throttle) == true do weir.sleep(1) end
      end
      return next_hi(last)
    end) do
      if o.pause_ms then weir.sleep(o.pause_ms / 1000) end
    end
  end

  if not shared then
    run_stream()
  else
    -- Ranges of the key, planned once (by whichever process comes first), claimed one at a
    -- time with FOR UPDATE SKIP LOCKED on a session of our own and held until the range is
    -- done: a process that dies releases its range, and the next claimer resumes it from the
    -- range's checkpoint.
    local R = S .. ".copy_ranges"
    begin()
    dst:exec("SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext($1))", "weir copy " .. name)
    if dst:value("SELECT count(*) FROM " .. R .. " WHERE copy = $1", name) == 0 then
      local bounds = src:query("SELECT DISTINCT ON (s.weir_tile) " .. table.concat(key_text, ", ") .. " FROM (SELECT " ..
        key_list .. ", pg_catalog.ntile(" .. n_ranges .. ") OVER (ORDER BY " .. key_list .. ") AS weir_tile FROM " ..
        from_sql .. range_where(nil, nil) .. ") s ORDER BY s.weir_tile, " .. desc_list)
      local lo = db.NULL
      for i, b in ipairs(bounds) do
        local hi = {}
        for j, k in ipairs(keys) do hi[j] = b[k] end
        local hi_value = i == #bounds and db.NULL or db.json(json.array(hi))
        dst:exec("INSERT INTO " .. R .. " (copy, range_no, lo, hi) VALUES ($1, $2, $3, $4)", name, i, lo, hi_value)
        lo = db.json(json.array(hi))
      end
    end
    commit()
    -- workers: N-1 more weir processes on the same ranges, each with its own connections,
    -- started with the claim loop so that whatever stops this one stops them (core.join)
    local crew = {}
    local function start_workers()
      local opts = {}
      for _, k in ipairs { "source", "query", "target", "key", "columns", "batch", "mode", "on_error", "checkpoint",
        "where", "pause_ms", "throttle", "name", "schema" } do
        opts[k] = o[k]
      end
      opts.schema, opts.shared, opts.ranges = schema, true, n_ranges
      local spec = json.encode { from = core.target_of(src), to = core.target_of(dst), opts = opts }
      for i = 1, workers - 1 do crew[i] = core.spawn(WORKER, spec) end
    end
    local claim <close> = dst:clone()
    local overall_key = cp_key
    stats.ranges = 0
    local function claim_loop()
      if workers > 1 then start_workers() end
      local me = "backend " .. claim:value "SELECT pg_catalog.pg_backend_pid()"
      while true do
        claim:exec("BEGIN")
        local r = claim:one("SELECT range_no, lo, hi FROM " .. R .. " WHERE copy = $1 AND state <> 'done' " ..
          "ORDER BY range_no LIMIT 1 FOR UPDATE SKIP LOCKED", name)
        if not r then
          claim:exec("ROLLBACK")
          break
        end
        claim:exec("UPDATE " .. R .. " SET state = 'running', claimed_by = $3, claimed_at = now() " ..
          "WHERE copy = $1 AND range_no = $2", name, r.range_no, me)
        cp_key = overall_key .. "#" .. r.range_no
        cp = {}
        local v = dst:value("SELECT value FROM " .. S .. ".checkpoints WHERE key = $1", cp_key)
        if v ~= nil and not db.isnull(v) then cp = v end
        last = cp.last or (not db.isnull(r.lo) and r.lo or nil)
        range_bound = not db.isnull(r.hi) and r.hi or nil
        local written0 = stats.written
        if not cp.done then run_stream() end
        cp.done, cp.last = true, nil
        begin()
        save_progress(0, 0, stats.quarantined)
        commit()
        claim:exec("UPDATE " .. R .. " SET state = 'done', rows = rows + $3 WHERE copy = $1 AND range_no = $2",
          name, r.range_no, stats.written - written0)
        claim:exec("COMMIT")
        stats.ranges = stats.ranges + 1
      end
    end
    local ok_loop, loop_err = pcall(claim_loop)
    -- Wait for the workers; when this process failed or was asked to stop, stop them first
    -- (SIGTERM: each rolls back its batch), so none outlives it.
    local failures = {}
    for i, w in ipairs(core.join(crew, not ok_loop)) do
      local ok, st = pcall(json.decode, w.output)
      if w.code == 0 and ok and type(st) == "table" then
        for _, k in ipairs { "read", "written", "quarantined", "skipped", "batches", "ranges" } do
          stats[k] = (stats[k] or 0) + (st[k] or 0)
        end
      else
        failures[#failures + 1] = ("worker %d exited with %d"):format(i, w.code)
      end
    end
    if not ok_loop then error(loop_err, 0) end
    cp_key, cp, range_bound = overall_key, {}, nil
    if #failures > 0 then
      error(("copy.table %s: %s (their errors are above); run again to resume"):format(name,
        table.concat(failures, ", ")), 0)
    end
    local open = dst:value("SELECT count(*) FROM " .. R .. " WHERE copy = $1 AND state <> 'done'", name)
    if open > 0 then
      -- other processes are still on their ranges; the last one to finish closes the copy
      stats.open_ranges = open
      stats.seconds = weir.clock() - t0
      counter:finish()
      summary()
      return stats
    end
  end
  -- Finished: the checkpoint says so (a re-run does nothing; with `since`, the next run
  -- starts a new pass from here).
  begin()
  cp.done, cp.last = true, nil
  if o.since then cp.since_from = cp.since_next end
  save_progress(0, 0, stats.quarantined)
  dst:exec("UPDATE " .. S .. ".copies SET finished_at = now() WHERE kind = 'table' AND name = $1", name)
  commit()
  stats.seconds = weir.clock() - t0
  counter:finish()
  summary()
  return stats
end
public("table", copy_table)

local UPDATE_KNOWN = { db = true, table = true, key = true, where = true, set = true, batch = true,
  checkpoint = true, pause_ms = true, schema = true, name = true }

---In-place backfill: `set(row)` returns new values for the row (or nil), applied in keyset
---batches of `batch` rows, each batch one short transaction with its checkpoint and its counters
---(weir.copies, kind 'update').
local function copy_update(o)
  local fn = "copy.update"
  check_known(fn, o, UPDATE_KNOWN)
  if o.db ~= nil then check_connection(fn, o.db, "db") end
  for _, k in ipairs { "where", "checkpoint", "schema", "name" } do check_string(fn, o, k) end
  check_positive_integer(fn, o, "batch")
  check_pause(fn, o)
  if o.table == nil then refuse("copy.update: table is required") end
  local conn = o.db or db
  local t, bad = util.table_sql(conn, o.table)
  if not t then refuse("copy.update: %s", bad) end
  if type(o.set) ~= "function" then
    refuse("copy.update: set must be a function(row) returning new values, got %s", type(o.set))
  end
  local keys = key_columns(fn, o.key)
  local batch = o.batch or 1000
  if not util.relation_exists(conn, t) then refuse("copy.update: table %s does not exist", o.table) end
  local name = o.name or o.checkpoint or o.table
  local schema = state_schema(o)
  local S = conn:quote_ident(schema)
  local key_list = list_of(conn, keys)
  local types = {}
  for _, c in ipairs(target_columns(conn, t)) do types[c.name] = c.type end
  for _, k in ipairs(keys) do
    if not types[k] then refuse("copy.update: key column %s is not in %s", k, o.table) end
  end
  local nulls = null_key_rows(conn, t, t, keys, o.where and { "(" .. o.where .. ")" } or {})
  if nulls > 0 then
    refuse_null_keys("copy.update " .. name, nulls, "row of " .. o.table, "rows of " .. o.table, keys, "updated", "update")
  end
  history.ensure(conn, schema)
  local cp_key = o.checkpoint and ("update/" .. o.checkpoint) or nil
  local cp = {}
  if cp_key then
    local v = conn:value("SELECT value FROM " .. S .. ".checkpoints WHERE key = $1", cp_key)
    if v ~= nil and not db.isnull(v) then cp = v end
  end
  local stats = { read = 0, written = 0, quarantined = 0, skipped = 0, batches = 0, seconds = 0,
    resumed_from = cp.last and json.array(cp.last) or db.NULL }
  if cp.done then
    stats.resumed_from = "done"
    return stats
  end
  -- The checkpoint (when there is one) and the run's counters, in the batch's transaction.
  local function save_progress(read, written, finished)
    if cp_key then
      conn:exec("INSERT INTO " .. S .. [[.checkpoints (key, value, updated_at) VALUES ($1, $2, now())
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()]], cp_key, db.json(cp))
    end
    conn:exec("INSERT INTO " .. S .. [[.copies AS c (kind, name, checkpoint, rows_read, rows_written, finished_at)
               VALUES ('update', $1, $2, $3, $4, CASE WHEN $5 THEN now() END)
               ON CONFLICT (kind, name) DO UPDATE SET rows_read = c.rows_read + excluded.rows_read,
                 rows_written = c.rows_written + excluded.rows_written, checkpoint = excluded.checkpoint,
                 updated_at = now(), finished_at = excluded.finished_at]],
      name, cp_key or db.NULL, read, written, finished)
  end
  local function range(last, hi)
    local parts = {}
    local function cmp(op, values)
      return "(" .. key_list .. ") " .. op .. " (" .. literal_tuple(conn, values) .. ")"
    end
    if last then parts[#parts + 1] = cmp(">", last) end
    if hi then parts[#parts + 1] = cmp("<=", hi) end
    if o.where then parts[#parts + 1] = "(" .. o.where .. ")" end
    return #parts > 0 and (" WHERE " .. table.concat(parts, " AND ")) or ""
  end
  local key_text, desc = {}, {}
  for i, k in ipairs(keys) do
    key_text[i] = "s." .. conn:quote_ident(k) .. "::text AS " .. conn:quote_ident(k)
    desc[i] = "s." .. conn:quote_ident(k) .. " DESC"
  end
  local outer_tx = conn:in_transaction()
  local t0 = weir.clock()
  local last = cp.last
  local counter = progress.counter { label = "update " .. name, unit = "rows",
    total = expected_rows(conn, t .. range(last, nil), t, not o.where and not last) }
  while true do
    local row = conn:one("SELECT " .. table.concat(key_text, ", ") .. " FROM (SELECT " .. key_list .. " FROM " .. t ..
      range(last, nil) .. " ORDER BY " .. key_list .. " LIMIT " .. batch .. ") s ORDER BY " .. table.concat(desc, ", ") .. " LIMIT 1")
    if not row then break end
    local hi = {}
    for i, k in ipairs(keys) do hi[i] = row[k] end
    conn:exec(outer_tx and "SAVEPOINT weir_update_batch" or "BEGIN")
    local read, written = 0, 0
    local ok, err = pcall(function()
      local rows = conn:query("SELECT * FROM " .. t .. range(last, hi) .. " ORDER BY " .. key_list .. " FOR UPDATE")
      local changes, cols, seen = {}, {}, {}
      for _, r in ipairs(rows) do
        local new = o.set(r)
        if new ~= nil then
          local change = {}
          for _, k in ipairs(keys) do change[k] = r[k] end
          for c, v in pairs(new) do
            if not types[c] then error(("set returned column %s, which %s does not have"):format(c, o.table), 0) end
            change[c] = v
            if not seen[c] then
              seen[c] = true
              cols[#cols + 1] = c
            end
          end
          changes[#changes + 1] = change
        else
          stats.skipped = stats.skipped + 1
        end
      end
      if #changes > 0 then
        table.sort(cols)
        local defs, sets, match = {}, {}, {}
        local is_key = {}
        for _, k in ipairs(keys) do
          is_key[k] = true
          defs[#defs + 1] = conn:quote_ident(k) .. " " .. types[k]
          match[#match + 1] = "t." .. conn:quote_ident(k) .. " = v." .. conn:quote_ident(k)
        end
        for _, c in ipairs(cols) do
          if not is_key[c] then
            defs[#defs + 1] = conn:quote_ident(c) .. " " .. types[c]
            sets[#sets + 1] = conn:quote_ident(c) .. " = v." .. conn:quote_ident(c)
          end
        end
        written = conn:exec("UPDATE " .. t .. " AS t SET " .. table.concat(sets, ", ") ..
          " FROM pg_catalog.jsonb_to_recordset($1::jsonb) AS v(" .. table.concat(defs, ", ") .. ") WHERE " ..
          table.concat(match, " AND "), db.json(json.array(changes)))
      end
      read = #rows
      cp.last = hi
      save_progress(read, written, false)
    end)
    if not ok then
      pcall(conn.exec, conn, outer_tx and "ROLLBACK TO SAVEPOINT weir_update_batch" or "ROLLBACK")
      error(("copy.update %s: batch %d (%s) failed: %s"):format(name, stats.batches + 1,
        key_range(keys, last, hi), error_line(err)), 0)
    end
    conn:exec(outer_tx and "RELEASE SAVEPOINT weir_update_batch" or "COMMIT")
    stats.read, stats.written, stats.batches = stats.read + read, stats.written + written, stats.batches + 1
    last = hi
    local ctx = require("runner").current()
    if ctx then
      ctx.emit("copy_batch", { migration = ctx.migration, phase = ctx.phase, copy = name, kind = "update",
        batch = stats.batches, rows = read, written = written, last = json.array(hi) })
    end
    counter:add(read)
    if o.pause_ms then weir.sleep(o.pause_ms / 1000) end
  end
  cp.done, cp.last = true, nil
  conn:tx(function() save_progress(0, 0, true) end)
  stats.seconds = weir.clock() - t0
  counter:finish()
  return stats
end
public("update", copy_update)

-- The state schema `schema` (default: the running migration's) on `conn`, quoted, if weir's copy
-- state exists there (its `copies` table); else nil.
local function copy_state(conn, schema)
  local sch = schema or state_schema {}
  if conn:value("SELECT pg_catalog.to_regclass($1) IS NULL", conn:quote_ident(sch) .. ".copies") then return nil end
  return conn:quote_ident(sch), sch
end

---Forgets a copy or an in-place update named `name` on `conn` (its target): every checkpoint
---it recorded (all ranges), its counters, quarantined rows and ranges, so the next copy.table
---or copy.update with that name starts from the beginning. The rows already written stay.
local function reset(conn, name, schema)
  check_connection("copy.reset", conn)
  if type(name) ~= "string" or name == "" then refuse("copy.reset: expected the copy's name, got %s", type(name)) end
  if schema ~= nil and (type(schema) ~= "string" or schema == "") then
    refuse("copy.reset: schema must be a non-empty string, got %s", type(schema))
  end
  local S, sch = copy_state(conn, schema)
  if not S then return end
  history.ensure(conn, sch)
  conn:tx(function()
    -- The checkpoints the copies named `name` recorded, and those named after it (copy/NAME,
    -- update/NAME): a shared copy's ranges are the checkpoint's key followed by #N.
    conn:exec("DELETE FROM " .. S .. ".checkpoints k USING (SELECT checkpoint FROM " .. S .. [[.copies
                 WHERE name = $1 AND checkpoint IS NOT NULL
               UNION VALUES ('copy/' || $1), ('update/' || $1)) c(key)
               WHERE k.key = c.key OR left(k.key, length(c.key) + 1) = c.key || '#']], name)
    conn:exec("DELETE FROM " .. S .. ".copies WHERE name = $1", name)
    conn:exec("DELETE FROM " .. S .. ".quarantine WHERE copy = $1", name)
    conn:exec("DELETE FROM " .. S .. ".copy_ranges WHERE copy = $1", name)
  end)
end
public("reset", reset)

---The quarantined rows of `conn`'s state schema (of one copy, or all): a list of
---{ id, copy, source_key, row, error, at }.
local function quarantined(conn, name, schema)
  check_connection("copy.quarantine", conn)
  check_string("copy.quarantine", { name = name, schema = schema }, "name")
  check_string("copy.quarantine", { name = name, schema = schema }, "schema")
  local S = copy_state(conn, schema)
  if not S then return {} end
  if name then
    return (conn:query("SELECT id, copy, source_key, row, error, at::text AS at FROM " .. S ..
      ".quarantine WHERE copy = $1 ORDER BY id", name))
  end
  return (conn:query("SELECT id, copy, source_key, row, error, at::text AS at FROM " .. S .. ".quarantine ORDER BY id"))
end
public("quarantine", quarantined)

return C
