--- ids: legacy ids → UUIDs (the `ids` global). ids.map gives a deterministic UUID (version 5,
--- from the namespace and the legacy id), so the same legacy row maps to the same UUID on every
--- run and machine, and foreign keys translate without a lookup query: ids.lookup computes the
--- same UUID. Mappings made inside a copy.table transform are recorded in weir.id_map with the
--- batch that wrote them (one INSERT per batch); outside a copy, ids.record writes them.
---
--- A destination another tool already filled keeps its UUIDs: ids.import brings that tool's
--- legacy id → UUID mapping into weir.id_map (refusing one that contradicts itself or what weir
--- has), and from then on the namespace is *imported*: ids.map and ids.lookup give the imported
--- UUID for those legacy ids and the derived one for the others. That needs the mapping, so for
--- an imported namespace they read weir.id_map on the database they run against (the copy's
--- target, else the running migration's db): from the batch cache that copy.table's `ids`
--- option (or ids.prefetch) fills with one query per batch, else one query per call. The
--- mapping itself never comes into Lua memory. Namespaces without imports cost no query; which
--- namespaces are imported is read once per copy.table (at its first batch).
--- Tests: tests/lua/ids_import_test.lua.
local core = require "copy.core"

local I = {}

-- weir's own namespace for namespaces: ns UUID = uuid_v5(ROOT, namespace name)
local ROOT = "6f1d6a0e-2f0b-5c59-9a55-7765697200a1"
local namespaces = {}

local function namespace_uuid(namespace)
  local u = namespaces[namespace]
  if not u then
    u = core.uuid_v5(ROOT, namespace)
    namespaces[namespace] = u
  end
  return u
end

-- copy requires nothing of ids, but is loaded after it: looked up once, on first use (ids.map
-- runs once per row of a copy).
local copy_mod
local function copy_module()
  copy_mod = copy_mod or require "copy"
  return copy_mod
end

local function state_schema(schema)
  if schema ~= nil then return schema end
  local ctx = require("runner").current()
  return ctx and ctx.schema or "weir"
end

-- Misuse of the functions that take a connection, raised at their caller's line (level 3:
-- this function, the ids function, its caller).
local function check_args(fn, conn, schema)
  if not require("weir_util").is_connection(conn) then
    error(("ids.%s: argument #1 must be a connection (db), got %s"):format(fn, type(conn)), 3)
  end
  if schema ~= nil and (type(schema) ~= "string" or schema == "") then
    error(("ids.%s: schema must be a non-empty string, got %s"):format(fn, type(schema)), 3)
  end
end

local function check(fn, namespace, legacy_id)
  if type(namespace) ~= "string" or namespace == "" then
    error(("ids.%s: expected a namespace name, got %s"):format(fn, namespace == "" and "an empty string" or type(namespace)), 3)
  end
  local t = type(legacy_id)
  if t ~= "string" and t ~= "number" and legacy_id ~= nil and not db.isnull(legacy_id) then
    error(("ids.%s: a legacy id must be a string or a number, got %s"):format(fn, t), 3)
  end
end

local function text_of(legacy_id)
  if type(legacy_id) == "string" then return legacy_id end
  if math.type(legacy_id) == "float" and legacy_id == math.floor(legacy_id) then
    return string.format("%d", legacy_id)
  end
  return tostring(legacy_id)
end

-- A list of legacy ids (strings or numbers) as their texts; raises at the caller's caller.
local function texts_of(fn, legacy_ids)
  if type(legacy_ids) ~= "table" then
    error(("ids.%s: legacy ids must be a list of strings or numbers, got %s"):format(fn, type(legacy_ids)), 3)
  end
  local out = {}
  for i, l in ipairs(legacy_ids) do
    if type(l) ~= "string" and type(l) ~= "number" then
      error(("ids.%s: legacy ids must be a list of strings or numbers, got a %s at %d"):format(fn, type(l), i), 3)
    end
    out[i] = text_of(l)
  end
  return out
end

-- Derived UUIDs, remembered: a transform translates the same parent ids again and again (an
-- order's patient, a comment's author), and a SHA-1 costs more than a table lookup. Bounded:
-- a namespace's memory is dropped whole when it reaches MEMO_MAX entries.
local MEMO_MAX = 10000  -- about 1.5 MB per namespace at most
local memo = {}  -- namespace -> { n = count, [legacy text] = uuid }

local function derived(namespace, legacy)
  local m = memo[namespace]
  if not m then
    m = { n = 0 }
    memo[namespace] = m
  end
  local u = m[legacy]
  if u then return u end
  u = core.uuid_v5(namespace_uuid(namespace), legacy)
  if m.n >= MEMO_MAX then
    m = { n = 0 }
    memo[namespace] = m
  end
  m[legacy], m.n = u, m.n + 1
  return u
end

-- ---------------------------------------------------------------------------------------------
-- Imported namespaces. ids.import records each namespace it filled in weir.checkpoints under
-- ids/import/NAMESPACE; which namespaces have one is read once per connection and state schema
-- (again by ids.resolve, ids.prefetch, ids.import and ids.forget on that connection).

local IMPORT_KEY = "ids/import/"

local imports_of = setmetatable({}, { __mode = "k" })  -- connection -> { [schema] = { [ns] = true } }
local read_for = setmetatable({}, { __mode = "k" })    -- connection -> the copy that read imports_of last

local function imported_namespaces(conn, sch, fresh)
  local per = imports_of[conn]
  if not per then
    per = {}
    imports_of[conn] = per
  end
  if per[sch] and not fresh then return per[sch] end
  local set = {}
  local cp = conn:quote_ident(sch) .. ".checkpoints"
  if conn:value("SELECT pg_catalog.to_regclass($1) IS NOT NULL", cp) then
    for _, r in ipairs(conn:query("SELECT substr(key, $1) AS ns FROM " .. cp .. " WHERE starts_with(key, $2)",
      #IMPORT_KEY + 1, IMPORT_KEY)) do
      set[r.ns] = true
    end
  end
  per[sch] = set
  return set
end

-- The batch cache: { conn, schema, map = { [ns] = { [legacy text] = uuid text or false } } },
-- filled by ids.prefetch (copy.table's `ids` option calls it once per batch). Mappings never
-- change once recorded (weir.id_map keeps the first; ids.import refuses a contradiction; only
-- ids.forget removes them, and it empties the cache), so entries stay true after their batch.
local cache = nil

-- Where ids.map/ids.lookup read an imported namespace's mapping: the running copy batch's
-- target, else the running migration phase's connection; nil outside both.
local runner_mod
local function context()
  local pending = copy_module().pending_ids()
  if pending and pending.conn then return pending.conn, pending.schema end
  runner_mod = runner_mod or require "runner"
  local ctx = runner_mod.current()
  if ctx then return ctx.db, ctx.schema end
  return nil
end

-- The UUID of `legacy` (text) in `namespace`, and whether it was read from weir.id_map (true:
-- recorded there, so the caller need not record it again).
local function resolve_one(namespace, legacy)
  local conn, sch = context()
  -- (a copy's or a phase's connection is open; the last prefetch's may have been closed since)
  if cache and conn == nil and cache.conn:transaction_status() == "closed" then cache = nil end
  if cache and (conn == nil or rawequal(conn, cache.conn)) then
    local m = cache.map[namespace]
    if m then
      local v = m[legacy]
      if v then return v, true end
      if v == false then return derived(namespace, legacy), false end
    end
    if conn == nil then conn, sch = cache.conn, cache.schema end
  end
  if conn and imported_namespaces(conn, sch)[namespace] then
    local v = conn:value("SELECT new_id::text FROM " .. conn:quote_ident(sch) ..
      ".id_map WHERE namespace = $1 AND legacy_id = $2", namespace, legacy)
    if v ~= nil and not db.isnull(v) then return v, true end
  end
  return derived(namespace, legacy), false
end

-- nil or db.NULL (after check: anything else is a string or a number)
local function absent(legacy_id)
  local t = type(legacy_id)
  return t ~= "string" and t ~= "number"
end

---The UUID for `legacy_id` in `namespace` ("office", "order" …); nil for nil or db.NULL.
---Inside a copy.table transform, the mapping is recorded in weir.id_map with the batch.
---@return string|nil
function I.map(namespace, legacy_id)
  check("map", namespace, legacy_id)
  if absent(legacy_id) then return nil end
  local legacy = text_of(legacy_id)
  local id, recorded = resolve_one(namespace, legacy)
  if not recorded then
    local pending = copy_module().pending_ids()
    if pending then pending[#pending + 1] = { namespace, legacy, id } end
  end
  return id
end

---The UUID ids.map gives `legacy_id` in `namespace` (a foreign key's translation): computed
---without a query, or for an imported namespace read as ids.map reads it; nil for nil or db.NULL.
---@return string|nil
function I.lookup(namespace, legacy_id)
  check("lookup", namespace, legacy_id)
  if absent(legacy_id) then return nil end
  return (resolve_one(namespace, text_of(legacy_id)))
end

---Whether `legacy_id`'s UUID in `namespace` came from ids.import: it is not the one weir would
---derive (only an import can give a legacy id another UUID). Read as ids.lookup reads it.
---@return boolean
function I.imported(namespace, legacy_id)
  check("imported", namespace, legacy_id)
  if absent(legacy_id) then return false end
  local legacy = text_of(legacy_id)
  local id, recorded = resolve_one(namespace, legacy)
  return recorded and id ~= derived(namespace, legacy)
end

---Records mappings outside a copy (e.g. rows inserted by hand): ids.record(conn, namespace,
---{legacy ids}) writes each mapping to weir.id_map (one statement) and returns the UUIDs.
function I.record(conn, namespace, legacy_ids, schema)
  check_args("record", conn, schema)
  check("record", namespace, nil)
  local legacy = texts_of("record", legacy_ids)
  local sch = state_schema(schema)
  require("history").ensure(conn, sch)
  local new = I.resolve(conn, namespace, legacy, sch)
  conn:exec("INSERT INTO " .. conn:quote_ident(sch) .. [[.id_map (namespace, legacy_id, new_id)
             SELECT $1, l, n FROM unnest($2::text[], $3::uuid[]) AS u(l, n) ON CONFLICT DO NOTHING]],
    namespace, db.array(legacy), db.array(new))
  return new
end

---The legacy id a UUID came from (reading weir.id_map on `conn`), or nil.
function I.legacy(conn, namespace, uuid, schema)
  check_args("legacy", conn, schema)
  check("legacy", namespace, nil)
  local hex = type(uuid) == "string" and uuid:gsub("^{(.*)}$", "%1"):gsub("-", "")
  if not (hex and #hex == 32 and hex:match("^%x+$")) then
    error(("ids.legacy: expected a UUID, got %s"):format(type(uuid) == "string" and json.encode(uuid) or type(uuid)), 2)
  end
  local S = conn:quote_ident(state_schema(schema))
  if conn:value("SELECT pg_catalog.to_regclass($1) IS NULL", S .. ".id_map") then return nil end
  local v = conn:value("SELECT legacy_id FROM " .. S .. ".id_map WHERE namespace = $1 AND new_id = $2::uuid",
    namespace, uuid)
  if v == nil or db.isnull(v) then return nil end
  return v
end

---The UUIDs of a list of legacy ids in `namespace`, in order, as ids.lookup gives them: one
---query on `conn` when the namespace is imported, none otherwise.
---@return string[]
function I.resolve(conn, namespace, legacy_ids, schema)
  check_args("resolve", conn, schema)
  check("resolve", namespace, nil)
  local legacy = texts_of("resolve", legacy_ids)
  local sch = state_schema(schema)
  local out = {}
  for i, l in ipairs(legacy) do out[i] = derived(namespace, l) end
  if #legacy == 0 or not imported_namespaces(conn, sch, true)[namespace] then return out end
  for _, r in ipairs(conn:query("SELECT u.i, m.new_id::text AS id FROM unnest($2::text[]) WITH ORDINALITY AS u(l, i) " ..
    "JOIN " .. conn:quote_ident(sch) .. ".id_map m ON m.namespace = $1 AND m.legacy_id = u.l", namespace, db.array(legacy))) do
    out[r.i] = r.id
  end
  return out
end

---Makes ids.map, ids.lookup and ids.imported answer these keys from memory: keys_by_namespace
---is { [namespace] = {legacy ids} }; the imported namespaces among them are read from
---weir.id_map on `conn` in one query (the others need none). Replaces the previous prefetch.
---copy.table's `ids` option calls it once per batch. Returns how many keys it looked up.
---@return integer
function I.prefetch(conn, keys_by_namespace, schema)
  check_args("prefetch", conn, schema)
  if type(keys_by_namespace) ~= "table" then
    error(("ids.prefetch: expected a table of namespace = {legacy ids}, got %s"):format(type(keys_by_namespace)), 2)
  end
  local sch = state_schema(schema)
  -- Called by copy.table for each batch: which namespaces are imported is read at its first
  -- batch only (the copy's pending ids name the copy); called directly, read again every time.
  local pending = copy_module().pending_ids()
  local run = pending and rawequal(pending.conn, conn) and pending.copy or nil
  local imported = imported_namespaces(conn, sch, not (run and read_for[conn] == run))
  if run then read_for[conn] = run end
  local map, ns_list, legacy_list = {}, {}, {}
  for namespace, list in pairs(keys_by_namespace) do
    if type(namespace) ~= "string" or namespace == "" then
      error(("ids.prefetch: namespace names must be non-empty strings, got %s"):format(type(namespace)), 2)
    end
    if not imported[namespace] then
      -- nothing to read: only the list is checked
      if type(list) ~= "table" then
        error(("ids.prefetch: legacy ids must be a list of strings or numbers, got %s"):format(type(list)), 2)
      end
      for i, l in ipairs(list) do
        if type(l) ~= "string" and type(l) ~= "number" then
          error(("ids.prefetch: legacy ids must be a list of strings or numbers, got a %s at %d"):format(type(l), i), 2)
        end
      end
    else
      local texts = texts_of("prefetch", list)
      local m = {}
      map[namespace] = m
      for _, l in ipairs(texts) do
        if m[l] == nil then
          m[l] = false
          ns_list[#ns_list + 1], legacy_list[#legacy_list + 1] = namespace, l
        end
      end
    end
  end
  if #ns_list > 0 then
    for _, r in ipairs(conn:query("SELECT m.namespace, m.legacy_id, m.new_id::text AS id FROM unnest($1::text[], $2::text[]) " ..
      "AS u(ns, l) JOIN " .. conn:quote_ident(sch) .. ".id_map m ON m.namespace = u.ns AND m.legacy_id = u.l",
      db.array(ns_list), db.array(legacy_list))) do
      map[r.namespace][r.legacy_id] = r.id
    end
  end
  cache = { conn = conn, schema = sch, map = map }
  return #ns_list
end

-- ---------------------------------------------------------------------------------------------
-- Importing another tool's mapping

local IMPORT_KEYS = { query = "string", table = "string", legacy = "string", new = "string", where = "string",
  from = "connection", schema = "string" }

local function import_error(fmt, ...) error({ import_error = fmt:format(...) }) end

-- Up to three examples of a check's offending rows, as "a: b" texts.
local function examples(rows)
  local out = {}
  for i, r in ipairs(rows) do out[i] = r.ex end
  return table.concat(out, "; ")
end

---Brings another tool's legacy id → UUID mapping into weir.id_map, so that ids.map and
---ids.lookup give those UUIDs. `source`: { query = "SELECT legacy, uuid …" } (two columns) or
---{ table = NAME, legacy = COLUMN, new = COLUMN, where = SQL }; `from`: the connection it is
---read on (default `conn`); `schema`: weir's state schema. One transaction; refuses a mapping
---with NULLs, a legacy id with two UUIDs, a UUID with two legacy ids, or one that contradicts
---weir.id_map. Returns { rows, imported, already }.
function I.import(conn, namespace, source)
  check_args("import", conn, nil)
  check("import", namespace, nil)
  local util = require("weir_util")
  if type(source) ~= "table" then
    error(("ids.import: expected a table { query = SQL } or { table = NAME, legacy = COLUMN, new = COLUMN }, got %s")
      :format(type(source)), 2)
  end
  for k, v in pairs(source) do
    local want = IMPORT_KEYS[k]
    if not want then
      error(("ids.import: unknown option %s (expected query, table, legacy, new, where, from, schema)"):format(tostring(k)), 2)
    end
    local ok = want == "connection" and util.is_connection(v) or (want == "string" and type(v) == "string" and v ~= "")
    if not ok then
      error(("ids.import: %s must be a %s, got %s"):format(k, want == "connection" and "connection" or "non-empty string",
        type(v)), 2)
    end
  end
  local from = source.from or conn
  local select_sql, described
  if source.query and source.table then
    error("ids.import: give either query or table, not both", 2)
  elseif source.query then
    if source.legacy or source.new or source.where then
      error("ids.import: legacy, new and where go with table; a query selects its two columns itself", 2)
    end
    select_sql, described = source.query, "a query"
  elseif source.table then
    if not (source.legacy and source.new) then error("ids.import: table needs legacy and new (the two columns)", 2) end
    local tbl, why = util.table_sql(from, source.table)
    if not tbl then error("ids.import: table " .. why, 2) end
    select_sql = "SELECT " .. from:quote_ident(source.legacy) .. ", " .. from:quote_ident(source.new) .. " FROM " .. tbl ..
      (source.where and (" WHERE " .. source.where) or "")
    described = source.table
  else
    error("ids.import: give query (SELECT legacy_id, uuid …) or table with legacy and new", 2)
  end
  local sch = state_schema(source.schema)
  local S = conn:quote_ident(sch)
  local inner = "SELECT * FROM (" .. select_sql .. ") AS weir_import(legacy, new)"

  local _, cols = from:query("SELECT * FROM (" .. select_sql .. ") AS weir_import LIMIT 0")
  if #cols ~= 2 then
    error(("ids.import: the mapping must have two columns (legacy id, UUID), %s has %d"):format(described, #cols), 2)
  end
  require("history").ensure(conn, sch)
  local ok, res = pcall(conn.tx, conn, function()
    conn:exec("DROP TABLE IF EXISTS pg_temp.weir_ids_import")
    conn:exec("CREATE TEMP TABLE weir_ids_import (legacy_id text, new_id uuid)")
    if rawequal(from, conn) then
      conn:exec("INSERT INTO pg_temp.weir_ids_import SELECT legacy::text, new::uuid FROM (" .. inner .. ") s")
    else
      -- another database: streamed in chunks, never held whole
      local ls, ns = {}, {}
      local function flush()
        if #ls == 0 then return end
        conn:exec("INSERT INTO pg_temp.weir_ids_import SELECT * FROM unnest($1::text[], $2::uuid[])", db.array(ls), db.array(ns))
        ls, ns = {}, {}
      end
      for r in from:rows("SELECT legacy::text AS l, new::text AS n FROM (" .. inner .. ") s") do
        ls[#ls + 1], ns[#ns + 1] = r.l, r.n
        if #ls >= 10000 then flush() end
      end
      flush()
    end
    local T = "pg_temp.weir_ids_import"
    local total = conn:value("SELECT count(*) FROM " .. T)
    local nulls = conn:value("SELECT count(*) FROM " .. T .. " WHERE legacy_id IS NULL OR new_id IS NULL")
    if nulls > 0 then import_error("%d rows of %s have a NULL legacy id or UUID", nulls, described) end
    local function offending(what, sql, ...)
      local rows = conn:query("SELECT count(*) OVER () AS n, ex FROM (" .. sql .. ") x ORDER BY ex LIMIT 3", ...)
      if #rows > 0 then import_error("%d %s (%s)", rows[1].n, what, examples(rows)) end
    end
    offending("legacy ids have more than one UUID in " .. described,
      "SELECT legacy_id || ': ' || string_agg(DISTINCT new_id::text, ', ' ORDER BY new_id::text) AS ex FROM " .. T ..
      " GROUP BY legacy_id HAVING count(DISTINCT new_id) > 1")
    offending("UUIDs are given to more than one legacy id in " .. described,
      "SELECT new_id || ': ' || string_agg(DISTINCT legacy_id, ', ' ORDER BY legacy_id) AS ex FROM " .. T ..
      " GROUP BY new_id HAVING count(DISTINCT legacy_id) > 1")
    offending("legacy ids already have another UUID in weir.id_map",
      "SELECT DISTINCT t.legacy_id || ': ' || m.new_id || ' in weir.id_map, ' || t.new_id || ' imported' AS ex FROM " ..
      T .. " t JOIN " .. S .. ".id_map m ON m.namespace = $1 AND m.legacy_id = t.legacy_id AND m.new_id <> t.new_id",
      namespace)
    offending("UUIDs already belong to another legacy id in weir.id_map",
      "SELECT DISTINCT t.new_id || ': legacy id ' || m.legacy_id || ' in weir.id_map, ' || t.legacy_id || ' imported' AS ex FROM " ..
      T .. " t JOIN " .. S .. ".id_map m ON m.namespace = $1 AND m.new_id = t.new_id AND m.legacy_id <> t.legacy_id",
      namespace)
    local imported = conn:value("WITH i AS (INSERT INTO " .. S .. ".id_map (namespace, legacy_id, new_id) " ..
      "SELECT DISTINCT $1, legacy_id, new_id FROM " .. T .. " ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM i", namespace)
    local distinct = conn:value("SELECT count(DISTINCT legacy_id) FROM " .. T)
    conn:exec("DROP TABLE " .. T)
    conn:exec("INSERT INTO " .. S .. [[.checkpoints AS c (key, value, updated_at)
                VALUES ($1, jsonb_build_object('rows', $2::bigint, 'source', $3::text, 'imported_at', now()), now())
                ON CONFLICT (key) DO UPDATE SET updated_at = now(), value = jsonb_build_object(
                  'rows', (c.value->>'rows')::bigint + $2::bigint, 'source', $3::text, 'imported_at', now())]],
      IMPORT_KEY .. namespace, imported, described)
    return { rows = total, imported = imported, already = distinct - imported }
  end)
  imports_of[conn] = nil
  cache = nil
  if not ok then
    if type(res) == "table" and res.import_error then
      error(("ids.import: namespace %s: %s; nothing was imported"):format(namespace, res.import_error), 2)
    end
    error(res, 0)
  end
  return res
end

---Forgets every mapping of `namespace` in weir.id_map on `conn` — recorded by copies, by
---ids.record or by ids.import — and its import record. Returns how many mappings it removed.
---@return integer
function I.forget(conn, namespace, schema)
  check_args("forget", conn, schema)
  check("forget", namespace, nil)
  local sch = state_schema(schema)
  local S = conn:quote_ident(sch)
  imports_of[conn] = nil
  cache = nil
  if conn:value("SELECT pg_catalog.to_regclass($1) IS NULL", S .. ".id_map") then return 0 end
  local n = conn:exec("DELETE FROM " .. S .. ".id_map WHERE namespace = $1", namespace)
  conn:exec("DELETE FROM " .. S .. ".checkpoints WHERE key = $1", IMPORT_KEY .. namespace)
  return n
end

return I
