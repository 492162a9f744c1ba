---@meta
-- LuaLS definitions of the `online` global: schema changes that keep the old and the new
-- application shape working at once (stdlib/online.lua, its SQL in stdlib/online_sql.lua;
-- reference in docs/online.md; checked against the binary by tests/lua/api_surface_test.lua).
--
-- A change is a list of operations, declared when the migration script loads (bad keys and
-- types are refused there, at the script's FILE:LINE). Tables and columns are named as the
-- operations before have left them (after rename_table users → accounts, later operations say
-- accounts). Expressions (up, down, check, default) are SQL text: `up` reads the row in the
-- old shape by its old column names, `down` reads it in the new shape by the new names.

---@class online
online = {}

---@class online.Operation

---@class online.Change
---@field name string
---@field start fun(db: weir.Connection): table creates the version schema, shadow columns and sync triggers, then backfills (unless separate_backfill)
---@field backfill fun(db: weir.Connection): table runs (or resumes) the backfill; returns {rows, batches, seconds}
---@field complete fun(db: weir.Connection): table refuses while anything is inconsistent, then contracts to the new shape
---@field rollback fun(db: weir.Connection): table before complete: removes everything start added
---@field reopen fun(db: weir.Connection): table after complete: brings the old shape back (version schema, triggers, old columns)
---@field status fun(db: weir.Connection): table {name, state, direction, version_schemas, tables = {{table, backfill}}}
---@field describe fun(db: weir.Connection): string[] what start and complete do, one line each

---@class online.ChangeOptions
---@field batch? integer rows per backfill batch (default 1000), each its own transaction with its checkpoint
---@field pause_ms? integer pause between backfill batches (default 0)
---@field lock_timeout? integer|string lock_timeout of each short-lock step and batch ("500ms", "2s"; default: the session's, 2 s under weir up)
---@field retries? integer retries of a step or batch refused a lock (55P03), with backoff (default 8)
---@field copy_into? boolean|string[] views (all, or these tables' new names) that accept COPY … FROM through an INSTEAD OF INSERT trigger; INSERT … ON CONFLICT through them then fails (PostgreSQL)
---@field separate_backfill? boolean start does not backfill; call change.backfill from a phase of its own
---@field schema? string weir's state schema (default: the runner's, else "weir")

---Declares a change: `online.change "NAME" { options…, operation, operation, … }`. NAME is
---lower-case letters, digits and `_`; it names the version schema `<schema>_<NAME>`.
---@param name string
---@return fun(spec: online.ChangeOptions|online.Operation[]): online.Change
function online.change(name) end

---Adds a column. The new shape sees it (a shadow column `_weir_<change>_<column>` until
---complete renames it); rows the old shape writes get `up` (default: `default`).
---@param o {table: string, column: string, type: string, default?: string|number|boolean, not_null?: boolean, up?: string, check?: string, unique?: boolean}
---@return online.Operation
function online.add_column(o) end

---Drops a column from the new shape; complete drops it. `down` fills it for rows the new
---shape writes (required when it is NOT NULL without a default).
---@param o {table: string, column: string, down?: string}
---@return online.Operation
function online.drop_column(o) end

---Renames a column: the version view shows it under the new name; complete renames it.
---@param o {table: string, from: string, to: string}
---@return online.Operation
function online.rename_column(o) end

---Changes a column. A new type (or `up`) makes a shadow column kept in step by `up` (new
---value from the old row) and `down` (old value from the new row), swapped in at complete.
---not_null, check and unique become constraints at complete (NOT VALID, then validated;
---unique through a concurrent index); default applies to the new shape at once.
---@param o {table: string, column: string, type?: string, up?: string, down?: string, not_null?: boolean, default?: string|number|boolean, check?: string, unique?: boolean}
---@return online.Operation
function online.alter_column(o) end

---Makes a column NOT NULL at complete (a validated CHECK first, so no long lock). With `up`
---(e.g. "coalesce(x, 0)") the new shape never sees NULL, through a shadow column.
---@param o {table: string, column: string, up?: string, down?: string}
---@return online.Operation
function online.set_not_null(o) end

---A CHECK constraint, added NOT VALID at complete and validated outside the exclusive lock.
---@param o {table: string, name: string, check: string}
---@return online.Operation
function online.add_check(o) end

---A UNIQUE constraint at complete: its index built CONCURRENTLY, then ADD CONSTRAINT USING INDEX.
---@param o {table: string, columns: string|string[], name?: string}
---@return online.Operation
function online.add_unique(o) end

---A foreign key, added NOT VALID at complete and validated outside the exclusive lock.
---@param o {table: string, columns: string|string[], references: string, ref_columns?: string|string[], name?: string, on_delete?: string, on_update?: string}
---@return online.Operation
function online.add_foreign_key(o) end

---Creates a table at start (`columns` is the SQL between CREATE TABLE's parentheses). Only the
---new shape uses it; rollback drops it with its rows.
---@param o {table: string, columns: string}
---@return online.Operation
function online.create_table(o) end

---Drops a table from the new shape: complete renames it to `_weir_<change>_<table>` (its rows
---kept, so reopen can bring it back); drop that yourself once you no longer need to go back.
---@param o {table: string}
---@return online.Operation
function online.drop_table(o) end

---Renames a table: the version schema shows it under the new name; complete renames it.
---@param o {from: string, to: string}
---@return online.Operation
function online.rename_table(o) end

---Creates an index CONCURRENTLY at start, on columns named in the new shape.
---@param o {table: string, columns: string|string[], name?: string, unique?: boolean, using?: string}
---@return online.Operation
function online.create_index(o) end

---Drops an index CONCURRENTLY at complete; reopen builds it again.
---@param o {index: string}
---@return online.Operation
function online.drop_index(o) end

---Raw SQL: `up` at start (or at complete with at = "complete"), `down` at rollback (or reopen).
---@param o {up: string, down?: string, at?: "start"|"complete"}
---@return online.Operation
function online.sql(o) end

---The version schema a change gives tables of `schema`: `<schema>_<change>` (clipped to 63
---bytes with a hash when longer). Applications opt in with `SET search_path = <it>, <schema>`.
---@param schema string
---@param change string
---@return string
function online.version_schema(schema, change) end

---Every change recorded in weir's state schema (for `weir status`): a list of
---{ name, state, direction, version_schemas, tables, started_at, completed_at,
---backfill = { rows, done }, summary } (summary: the line `weir status` prints); empty when none.
---@param conn weir.Connection
---@param schema? string default "weir"
---@return table[]
function online.status_rows(conn, schema) end
