--- ids: legacy ids → UUIDs (the `ids` global). ids.map gives a deterministic UUID (version 5,
--- from the namespace and the legacy id), so the same legacy row maps to the same UUID on every
--- run and machine, and foreign keys translate without a lookup query: ids.lookup computes the
--- same UUID. Mappings made inside a copy.table transform are recorded in weir.id_map with the
--- batch that wrote them (one INSERT per batch); outside a copy, ids.record writes them.
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

-- Misuse of ids.record and ids.legacy, raised at their caller's line (level 3: this function,
-- the ids function, its caller).
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
  if legacy_id ~= nil and not db.isnull(legacy_id) and t ~= "string" and t ~= "number" then
    error(("ids.%s: a legacy id must be a string or a number, got %s"):format(fn, t), 3)
  end
end

local function text_of(legacy_id)
  if math.type(legacy_id) == "float" and legacy_id == math.floor(legacy_id) then
    return string.format("%d", legacy_id)
  end
  return tostring(legacy_id)
end

---The UUID for `legacy_id` in `namespace` ("office", "order" …); nil for nil or db.NULL.
---Inside a copy.table transform, the mapping is recorded in weir.id_map with the batch.
---@return string|nil
function I.map(namespace, legacy_id)
  check("map", namespace, legacy_id)
  if legacy_id == nil or db.isnull(legacy_id) then return nil end
  local legacy = text_of(legacy_id)
  local id = core.uuid_v5(namespace_uuid(namespace), legacy)
  local pending = copy_module().pending_ids()
  if pending then pending[#pending + 1] = { namespace, legacy, id } end
  return id
end

---The UUID ids.map gives `legacy_id` in `namespace` (a foreign key's translation), computed
---without a query; nil for nil or db.NULL.
---@return string|nil
function I.lookup(namespace, legacy_id)
  check("lookup", namespace, legacy_id)
  if legacy_id == nil or db.isnull(legacy_id) then return nil end
  return core.uuid_v5(namespace_uuid(namespace), text_of(legacy_id))
end

---Records mappings outside a copy (e.g. rows inserted by hand): ids.record(conn, namespace,
---{legacy ids}) writes each mapping to weir.id_map (one statement) and returns the UUIDs.
function I.record(conn, namespace, legacy_ids, schema)
  check_args("record", conn, schema)
  check("record", namespace, nil)
  if type(legacy_ids) ~= "table" then
    error(("ids.record: legacy ids must be a list of strings or numbers, got %s"):format(type(legacy_ids)), 2)
  end
  local legacy, new = {}, {}
  for i, l in ipairs(legacy_ids) do
    if type(l) ~= "string" and type(l) ~= "number" then
      error(("ids.record: legacy ids must be a list of strings or numbers, got a %s at %d"):format(type(l), i), 2)
    end
    legacy[i] = text_of(l)
    new[i] = I.lookup(namespace, l)
  end
  local sch = state_schema(schema)
  require("history").ensure(conn, sch)
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

return I
