---@meta
-- LuaLS definitions of the `flags` global (checked against the binary by
-- tests/lua/api_surface_test.lua). See docs/flags.md.

---@class flags
flags = {}

---Defines a flag (idempotent: an existing flag keeps its state); returns true when created.
---@param conn weir.Connection
---@param name string
---@param opts? {description?: string, default?: boolean, schema?: string}
---@return boolean
function flags.define(conn, name, opts) end

---Turns a flag on (for the subjects in its rollout percentage).
---@param conn weir.Connection
---@param name string
---@param opts? {schema?: string}
function flags.enable(conn, name, opts) end

---Turns a flag off for everyone (per-subject overrides still apply).
---@param conn weir.Connection
---@param name string
---@param opts? {schema?: string}
function flags.disable(conn, name, opts) end

---Rolls an enabled flag out to `percent` (0-100) of subjects by a stable hash of flag and
---subject: a subject that is in stays in as the percentage grows.
---@param conn weir.Connection
---@param name string
---@param percent integer
---@param opts? {schema?: string}
function flags.set_percent(conn, name, percent, opts) end

---Forces the flag on (true) or off (false) for one subject; nil removes the override.
---@param conn weir.Connection
---@param name string
---@param subject string|integer
---@param value boolean|nil
---@param opts? {schema?: string}
function flags.override(conn, name, subject, value, opts) end

---Whether the flag is on (for opts.subject): the same answer as the SQL function
---weir.flag_enabled(name, subject) for a defined flag. An undefined flag raises
---`flags.enabled: no flag named 'x' …` unless opts.default says what to answer (the rule
---`requires = { flag_on/flag_off }` follows too: an undefined flag blocks the phase).
---@param conn weir.Connection
---@param name string
---@param opts? {subject?: string|integer, schema?: string, default?: boolean}
---@return boolean
function flags.enabled(conn, name, opts) end

---Every flag: { name, description, enabled, percent, overrides }.
---@param conn weir.Connection
---@param opts? {schema?: string}
---@return table[]
function flags.list(conn, opts) end

---A flag's audit trail, oldest first: { at, actor, change, old, new }.
---@param conn weir.Connection
---@param name string
---@param opts? {schema?: string}
---@return table[]
function flags.history(conn, name, opts) end
