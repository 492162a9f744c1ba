---@meta
-- LuaLS definitions of the `ddl` global: safe DDL helpers written in Lua over a connection
-- (stdlib/ddl.lua; reference in docs/ddl.md; checked against the binary by
-- tests/lua/api_surface_test.lua).
--
-- Every helper is idempotent: it reads the catalogs first and does nothing when the change is
-- already there, returning true when it ran DDL and false when there was nothing to do. Names
-- are quoted with db:quote_ident; tables, indexes, views and enums may be "schema.name".
-- Expressions (defaults, CHECKs, WHERE, view bodies) are SQL text. No helper COMMITs; only the
-- concurrent index builds need to run outside a transaction. Misuse and refusals raise one line
-- "ddl.NAME: …" at the caller's FILE:LINE; SQL errors raise weir.Error.

---@class ddl
ddl = {}

---@class ddl.AddColumnOpts
---@field default? string|number|boolean an SQL expression ("'draft'", "now()"), or a number or boolean literal
---@field not_null? boolean only with a non-volatile default (else refused: it would scan or rewrite the table)
---@field if_not_exists? boolean default true: no-op when the column exists with the same type

---Adds a column: `ALTER TABLE t ADD COLUMN c TYPE [DEFAULT d] [NOT NULL]`, catalog-only (no
---rewrite). Refuses what would rewrite or scan the table under ACCESS EXCLUSIVE: NOT NULL
---without a default, a volatile default (gen_random_uuid(), random(), nextval() of serial
---types …), identity and stored generated columns, a domain type with constraints — as the
---server decides on a temporary probe table. No-op when the column exists with the same type;
---raises when it exists with another.
---@param db weir.Connection
---@param table string "name" or "schema.name"
---@param column string
---@param type string SQL type ("timestamptz", "numeric(10,2)", "text[]")
---@param opts? ddl.AddColumnOpts
---@return boolean changed
function ddl.add_column(db, table, column, type, opts) end

---Drops a column (`ALTER TABLE t DROP COLUMN IF EXISTS c`); no-op when it is gone.
---@param db weir.Connection
---@param table string
---@param column string
---@return boolean changed
function ddl.drop_column(db, table, column) end

---Renames a column. No-op when already renamed (`from` gone, `to` present); raises when both
---or neither exist.
---@param db weir.Connection
---@param table string
---@param from string
---@param to string
---@return boolean changed
function ddl.rename_column(db, table, from, to) end

---@class ddl.IndexOpts
---@field name? string default TABLE_COL1_COL2_idx (clipped to 63 bytes with a hash); required for expressions
---@field unique? boolean
---@field where? string predicate of a partial index (SQL)
---@field using? string access method: "btree", "gin", "gist", "hash", "brin" …
---@field include? string|string[] INCLUDE columns
---@field concurrently? boolean default true outside a transaction; inside one it must be given: false builds under a SHARE lock (writes blocked), true raises

---Creates an index, CONCURRENTLY outside a transaction. Inside one it raises unless
---opts.concurrently = false asks for the plain build, which blocks writes. No-op when a valid
---index of that name exists on the table; an INVALID leftover of a failed concurrent build is
---dropped and built again; a concurrent build that fails drops its own leftover.
---@param db weir.Connection
---@param table string
---@param columns string|string[]|{sql: string}[] column names, or {sql = "lower(email)"} expressions
---@param opts? ddl.IndexOpts
---@return boolean changed
---@return string name the index name (generated when not given)
function ddl.create_index(db, table, columns, opts) end

---Drops an index (`DROP INDEX [CONCURRENTLY] IF EXISTS`), concurrently by default when not
---inside a transaction; no-op when it is gone.
---@param db weir.Connection
---@param name string "index" or "schema.index"
---@param opts? {concurrently?: boolean}
---@return boolean changed
function ddl.drop_index(db, name, opts) end

---@class ddl.ForeignKeyOpts
---@field name? string default TABLE_COL1_COL2_fkey
---@field on_delete? "cascade"|"restrict"|"no action"|"set null"|"set default"
---@field on_update? "cascade"|"restrict"|"no action"|"set null"|"set default"
---@field validate? boolean default true; false leaves it NOT VALID (a later call validates it)

---Adds a foreign key NOT VALID (brief lock, no scan), then VALIDATE CONSTRAINT (a scan that
---lets reads and writes go on). When it exists NOT VALID, only validates; when valid, no-op.
---@param db weir.Connection
---@param table string
---@param columns string|string[]
---@param ref_table string
---@param ref_columns? string|string[] default: the referenced table's primary key
---@param opts? ddl.ForeignKeyOpts
---@return boolean changed
---@return string name the constraint name
function ddl.add_foreign_key(db, table, columns, ref_table, ref_columns, opts) end

---Adds a CHECK constraint NOT VALID, then validates it (same pattern and idempotency as
---add_foreign_key).
---@param db weir.Connection
---@param table string
---@param name string
---@param expression string SQL boolean expression
---@param opts? {validate?: boolean}
---@return boolean changed
function ddl.add_check(db, table, name, expression, opts) end

---Sets NOT NULL without a full scan under ACCESS EXCLUSIVE (PostgreSQL 12+): adds
---CHECK (col IS NOT NULL) NOT VALID, validates it, SET NOT NULL (proved by the check), drops
---the check. Picks up where a crashed run stopped; no-op when the column is NOT NULL already.
---@param db weir.Connection
---@param table string
---@param column string
---@return boolean changed
function ddl.set_not_null(db, table, column) end

---Creates an enum type. No-op when it exists with the same labels in the same order; raises
---naming the difference otherwise.
---@param db weir.Connection
---@param name string "enum" or "schema.enum"
---@param values string[]
---@return boolean changed
function ddl.create_enum(db, name, values) end

---Adds a label to an enum (`ALTER TYPE … ADD VALUE IF NOT EXISTS … [BEFORE|AFTER …]`); no-op
---when it is there. The new label cannot be used in the transaction that added it (55P04):
---use it in a later phase.
---@param db weir.Connection
---@param enum string
---@param value string
---@param opts? {before?: string, after?: string}
---@return boolean changed
function ddl.add_enum_value(db, enum, value, opts) end

---`CREATE OR REPLACE VIEW name AS select_sql`. With recreate = true, `DROP VIEW IF EXISTS`
---and `CREATE VIEW` in one statement string (for column changes OR REPLACE refuses; fails
---rather than cascade when other objects depend on the view). Always runs; returns true.
---@param db weir.Connection
---@param name string
---@param select_sql string
---@param opts? {recreate?: boolean}
---@return boolean changed
function ddl.create_view(db, name, select_sql, opts) end

---Drops a view (`DROP VIEW IF EXISTS`, no CASCADE); no-op when it is gone.
---@param db weir.Connection
---@param name string
---@return boolean changed
function ddl.drop_view(db, name) end

---Renames a table within its schema. No-op when already renamed; raises when both or neither
---exist.
---@param db weir.Connection
---@param from string "table" or "schema.table"
---@param to string a bare name
---@return boolean changed
function ddl.rename_table(db, from, to) end

---@class ddl.MoveSummary
---@field tables string[] tables this call moved
---@field enums string[] enums this call moved
---@field already {tables: string[], enums: string[]} found in the target already, skipped
---@field schema_created boolean this call created the target schema

---Moves tables and enums from one schema to another with ALTER TABLE/TYPE … SET SCHEMA
---(catalog-only: data, indexes, constraints, FKs, owned sequences and grants follow). Creates
---the schema when missing, locks every table to move in one LOCK TABLE first, and runs in one
---transaction (the caller's, or its own). Objects already in the target are skipped; one in
---neither schema (or in both) is refused.
---@param db weir.Connection
---@param objects {tables?: string[], enums?: string[]} bare names
---@param schema string the target schema
---@param opts? {from?: string} the source schema, default "public"
---@return boolean changed
---@return ddl.MoveSummary summary
function ddl.move_to_schema(db, objects, schema, opts) end
