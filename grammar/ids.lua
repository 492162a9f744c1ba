---@meta
-- LuaLS definitions of the `ids` global (checked against the binary by
-- tests/lua/api_surface_test.lua). See docs/copy.md.

---@class ids
ids = {}

---The UUID for `legacy_id` in `namespace`: version 5 (SHA-1) of the namespace and the id, the
---same on every run and machine; nil for nil or db.NULL. Inside a copy.table transform the
---mapping is recorded in weir.id_map with the batch.
---@param namespace string
---@param legacy_id string|integer|nil
---@return string|nil
function ids.map(namespace, legacy_id) end

---The UUID ids.map gives `legacy_id` (a foreign key's translation), computed without a query.
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
