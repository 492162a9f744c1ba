---@meta
-- LuaLS definitions of the `copy` global (checked against the binary by
-- tests/lua/api_surface_test.lua). See docs/copy.md.

---@class copy
copy = {}

---@class copy.Options
---@field from? weir.Connection where rows come from (default: db)
---@field source? string the source table ("schema.table" or "table", taken exactly as written); or:
---@field query? string a SELECT whose rows are copied (it must return the key columns)
---@field to? weir.Connection where rows go (default: db)
---@field target string the target table ("schema.table" or "table", taken exactly as written)
---@field key? string|string[] the source column(s) batches are cut on (keyset, never OFFSET; default "id"); rows with a NULL key are refused before any work
---@field columns? string[] target columns to fill (default: the target's columns the source has; with a transform, those the returned rows have)
---@field batch? integer rows per batch, each its own target transaction (default 50000 without a transform, 5000 with one)
---@field transform? fun(row: table): table|table[]|nil a row → a row, a list of rows, or nil to skip; raising makes the row a bad row (see on_error)
---@field ids? table<string, string> source column = ids namespace ({ id = "order", patient_id = "patient" }): the legacy ids the transform will pass to ids.map/ids.lookup, resolved for imported namespaces in one query per batch (ids.prefetch); needs a transform
---@field mode? "insert"|"upsert"|"update" upsert and update match on the target's primary key
---@field on_error? "quarantine"|"fail"|"abort" a bad row (the transform raises, the target rejects it): quarantine (default) sets it aside in weir.quarantine and goes on; fail stops the copy at it, its batch rolled back ("abort": the older name of fail)
---@field checkpoint? string makes the copy resumable: the last key is committed with each batch
---@field since? string a column (updated_at) for incremental re-sync: each run copies the rows changed since the last one (use with mode = "upsert" and a checkpoint)
---@field where? string an extra condition on the source rows
---@field shared? boolean share the copy with other processes running it (needs a checkpoint): ranges claimed with FOR UPDATE SKIP LOCKED
---@field ranges? integer how many key ranges a shared copy is split into (default 16, or 4 per worker)
---@field workers? integer run the copy in this many weir processes sharing the ranges (no transform; needs a checkpoint)
---@field pause_ms? integer pause between batches
---@field throttle? string an SQL condition on the source; while it is true the copy waits (e.g. replication lag)
---@field name? string the copy's name in weir.copies and weir.quarantine (default: checkpoint or target)
---@field schema? string weir's state schema on the target (default: the running migration's, or weir)

---@class copy.Stats
---@field read integer source rows read
---@field written integer rows written to the target
---@field quarantined integer rows put in weir.quarantine
---@field skipped integer rows the transform skipped (returned nil)
---@field batches integer batches committed
---@field seconds number
---@field resumed_from string[]|"done"|weir.NULL the key a resumed copy continued after ("done": it had finished)

---Copies rows from a table or query on one connection to a table on another (or the same),
---in keyset batches; each batch's rows, quarantined rows, id mappings and checkpoint commit in
---one target transaction, so a copy killed at any moment resumes exactly after the last
---committed batch. Without a transform the rows go COPY to COPY (binary when the types allow)
---and never reach Lua.
---@param opts copy.Options
---@return copy.Stats
function copy.table(opts) end

---In-place backfill of a live table in keyset batches, each its own short transaction:
---`set(row)` returns the new values of the row (or nil to leave it).
---Each run is recorded in weir.copies (kind "update"), so weir status shows it.
---@param opts {db?: weir.Connection, table: string, key?: string|string[], where?: string, set: fun(row: table): table|nil, batch?: integer, checkpoint?: string, name?: string, pause_ms?: integer, schema?: string}
---@return copy.Stats
function copy.update(opts) end

---The rows in weir.quarantine on `conn` (of one copy, or all): { id, copy, source_key, row, error, at }.
---@param conn weir.Connection
---@param name? string
---@param schema? string
---@return table[]
function copy.quarantine(conn, name, schema) end

---Forgets the copy.table and the copy.update named `name` on their target `conn`: every
---checkpoint they kept (all ranges), their counters, quarantined rows and ranges; the next
---copy.table or copy.update of that name starts from the beginning. Written rows stay (undo
---them yourself, e.g. in the phase's down).
---@param conn weir.Connection
---@param name string
---@param schema? string
function copy.reset(conn, name, schema) end

---Inside a copy.table transform: the id mappings the running batch will record (used by ids.map),
---with fields conn and schema (the target and weir's state schema there) and copy (a table naming the running
---copy.table call: ids.prefetch reads which namespaces are imported once per copy).
---@return table[]|nil
function copy.pending_ids() end
