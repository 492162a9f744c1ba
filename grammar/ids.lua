---@meta
-- LuaLS definitions of the `ids` global (checked against the binary by
-- tests/lua/api_surface_test.lua). See docs/copy.md.

---@class ids
ids = {}

---The UUID for `legacy_id` in `namespace`: version 5 (SHA-1) of the namespace and the id, the
---same on every run and machine; nil for nil or db.NULL. In a namespace with imported mappings
---(ids.import), the imported UUID for the legacy ids it has. Inside a copy.table transform the
---mapping is recorded in weir.id_map with the batch.
---@param namespace string
---@param legacy_id string|integer|nil
---@return string|nil
function ids.map(namespace, legacy_id) end

---The UUID ids.map gives `legacy_id` (a foreign key's translation), computed without a query;
---in an imported namespace read from the batch cache (copy.table's ids option, ids.prefetch),
---else with one query, on the copy's target or the running migration's db.
---@param namespace string
---@param legacy_id string|integer|nil
---@return string|nil
function ids.lookup(namespace, legacy_id) end

---Records mappings outside a copy in weir.id_map on `conn` (one statement); returns the UUIDs.
---`schema`: weir's state schema (default: the running migration's, or weir).
---@param conn weir.Connection
---@param namespace string
---@param legacy_ids (string|integer)[]
---@param schema? string
---@return string[]
function ids.record(conn, namespace, legacy_ids, schema) end

---The legacy id a UUID was mapped from, read from weir.id_map on `conn`; nil if unknown.
---`schema`: weir's state schema (default: the running migration's, or weir).
---@param conn weir.Connection
---@param namespace string
---@param uuid string
---@param schema? string
---@return string|nil
function ids.legacy(conn, namespace, uuid, schema) end

---Whether `legacy_id`'s UUID in `namespace` came from ids.import (it differs from the derived
---one, which only an import can cause). Read as ids.lookup reads it.
---@param namespace string
---@param legacy_id string|integer|nil
---@return boolean
function ids.imported(namespace, legacy_id) end

---The UUIDs ids.lookup gives a list of legacy ids, in order: one query on `conn` for an
---imported namespace, none otherwise.
---@param conn weir.Connection
---@param namespace string
---@param legacy_ids (string|integer)[]
---@param schema? string
---@return string[]
function ids.resolve(conn, namespace, legacy_ids, schema) end

---Reads the imported namespaces' mappings of these keys ({ [namespace] = {legacy ids} }) from
---weir.id_map on `conn` in one query, so that ids.map, ids.lookup and ids.imported answer them
---from memory (until the next prefetch). copy.table's `ids` option calls it per batch. Returns
---how many keys it looked up (0 when no namespace is imported).
---@param conn weir.Connection
---@param keys_by_namespace table<string, (string|integer)[]>
---@param schema? string
---@return integer
function ids.prefetch(conn, keys_by_namespace, schema) end

---@class ids.ImportSource
---@field query? string a SELECT of two columns: legacy id, UUID; or:
---@field table? string a table ("schema.table" or "table") holding the mapping, with:
---@field legacy? string its legacy id column
---@field new? string its UUID column
---@field where? string which of its rows (e.g. "entity_type = 'office'")
---@field from? weir.Connection where the query or table is read (default: conn)
---@field schema? string weir's state schema on conn (default: the running migration's, or weir)

---@class ids.ImportStats
---@field rows integer rows the source gave
---@field imported integer mappings added to weir.id_map
---@field already integer legacy ids weir.id_map had already, with the same UUID

---Imports another tool's legacy id → UUID mapping into weir.id_map on `conn`, in one
---transaction, so that ids.map and ids.lookup give those UUIDs (the namespace is imported from
---then on). Refuses, importing nothing, a mapping with NULLs, a legacy id with two UUIDs, a
---UUID with two legacy ids, or one that contradicts weir.id_map. Importing again adds what is
---new. The mapping is never held in Lua memory (from another connection it is streamed).
---@param conn weir.Connection
---@param namespace string
---@param source ids.ImportSource
---@return ids.ImportStats
function ids.import(conn, namespace, source) end

---Forgets every mapping of `namespace` in weir.id_map on `conn` (recorded or imported) and its
---import record. Returns how many mappings it removed.
---@param conn weir.Connection
---@param namespace string
---@param schema? string
---@return integer
function ids.forget(conn, namespace, schema) end
