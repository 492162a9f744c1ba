---@meta
-- LuaLS definitions of the `schema` global (checked against the binary by
-- tests/lua/api_surface_test.lua). The model's JSON Schema is grammar/schema-model.schema.json.

---@class schema
schema = {}

---A schema model: lists of schemas, extensions, enums, domains, composites, sequences, tables
---(each with columns, constraints, indexes, triggers, policies, grants), views (materialized
---ones with indexes) and functions, every list in a fixed order. Definitions are
---schema-qualified SQL as PostgreSQL prints them (pg_get_constraintdef, pg_get_indexdef …).
---@alias schema.Model table

---One change of a diff.
---@class schema.Change
---@field kind string "create table", "add column", "alter column type", "create index", …
---@field object string what it concerns, qualified: "public.users.email"
---@field sql string one statement
---@field hazards string[] "deletes data", "rewrites table", "takes ACCESS EXCLUSIVE lock on an existing table", "builds index", "not reversible without a data plan", …
---@field transaction boolean false: must run outside a transaction block (CREATE INDEX CONCURRENTLY, ADD VALUE)
---@field note? string for the reviewer: a drop that a rename would replace says so ("`ALTER TABLE … RENAME TO …` keeps it and its data")

---What schema.compare returns (and `weir diff --check` adds to the changes).
---@class schema.Comparison
---@field differences string[] places where the whole models differ ("tables public.t.columns a.default"), expressions in canonical spelling
---@field not_compared string[] objects of kinds weir does not model, on either side ("rule r on public.t")

---Reads the schema of the database behind `conn` with a fixed set of catalog queries, in a
---read-only snapshot (or, inside a transaction, in a savepoint that is rolled back).
---`display = true` writes names in definitions, types and defaults as the session's
---search_path sees them and pretty-prints expressions, as psql's \d does (for display; such
---a model is not portable and not for diffs).
---@param conn weir.Connection
---@param opts? {schemas?: string[], exclude_schemas?: string[], display?: boolean}
---@return schema.Model
function schema.inspect(conn, opts) end

---The ordered changes that turn model `from` into model `to`: drops first (dependents before
---what they depend on), then creates (dependencies first), sorted by the models' dependency
---graph; online on existing tables. `renames = true`: what differs only by name or schema is
---renamed or moved (ALTER … RENAME / SET SCHEMA) instead of dropped and created; otherwise the
---drop carries a note saying so.
---@param from schema.Model
---@param to schema.Model
---@param opts? {renames?: boolean}
---@return schema.Change[]
function schema.diff(from, to, opts) end

---The two whole models side by side, whatever the diff makes of them: every place where they
---differ, and the objects of kinds weir does not model (which it cannot compare).
---@param from schema.Model
---@param to schema.Model
---@return schema.Comparison
function schema.compare(from, to) end

---Connects to both URLs, inspects them at the same time (two threads), and diffs: what
---`weir diff` runs. Raises one line when a connection fails. The second result compares the
---two whole models (schema.compare).
---@param from_url string
---@param to_url string
---@param opts? {schemas?: string[], exclude_schemas?: string[], renames?: boolean}
---@return schema.Change[]
---@return schema.Comparison
function schema.diff_urls(from_url, to_url, opts) end

---The changes as an SQL script, each preceded by comments naming it and its hazards.
---@param changes schema.Change[]
---@return string
function schema.script(changes) end

---Runs the changes on `conn` in order; returns how many ran. Inside a transaction block it
---raises before running anything if a change must run outside one.
---@param conn weir.Connection
---@param changes schema.Change[]
---@return integer
function schema.apply(conn, changes) end
