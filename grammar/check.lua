---@meta
-- LuaLS definitions of the `check` global (checked against the binary by
-- tests/lua/api_surface_test.lua). See docs/check.md.

-- Table names (every `tbl`, `name` of has_table/hasnt_table/has_view, `ref`, `parent`, and
-- row_counts/checksum's `source` and `target`) are "name" or "schema.name", taken exactly as
-- written (quoted, not folded to lower case); anything else raises
-- 'check.NAME: "a.b.c" is not a valid table name (expected name or schema.name)', even inside
-- check.run. A data check on a table that does not exist fails: "table NAME does not exist".

---@class check
check = {}

---check.has_schema: raises "check.has_schema: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.has_schema(conn, name) end

---check.has_table: raises "check.has_table: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.has_table(conn, name) end

---check.hasnt_table: raises "check.hasnt_table: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.hasnt_table(conn, name) end

---check.has_view: raises "check.has_view: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.has_view(conn, name) end

---has_column(db, table, column [, type])
---@return boolean
function check.has_column(conn, tbl, col, type_) end

---check.hasnt_column: raises "check.hasnt_column: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.hasnt_column(conn, tbl, col) end

---check.col_type_is: raises "check.col_type_is: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.col_type_is(conn, tbl, col, type_) end

---check.col_not_null: raises "check.col_not_null: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.col_not_null(conn, tbl, col) end

---has_index(db, table, name) or has_index(db, table, {columns...})
---@return boolean
function check.has_index(conn, tbl, what) end

---check.has_pk: raises "check.has_pk: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.has_pk(conn, tbl) end

---fk_ok(db, table, columns, ref_table, ref_columns): a validated foreign key exists.
---@return boolean
function check.fk_ok(conn, tbl, cols, ref, ref_cols) end

---check.has_enum: raises "check.has_enum: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.has_enum(conn, name) end

---check.enum_has_labels: raises "check.enum_has_labels: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.enum_has_labels(conn, name, labels) end

---check.has_policy: raises "check.has_policy: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.has_policy(conn, tbl, policy) end

---check.rls_enabled: row-level security is enabled on the table; raises "check.rls_enabled: …" when not (inside check.run: recorded).
---@return boolean
function check.rls_enabled(conn, tbl) end

---check.has_constraint: a validated constraint of that name on the table (any kind); raises "check.has_constraint: …" when not (inside check.run: recorded).
---@return boolean
function check.has_constraint(conn, tbl, name) end

---check.has_trigger: an enabled trigger of that name on the table; raises "check.has_trigger: …" when not (inside check.run: recorded).
---@return boolean
function check.has_trigger(conn, tbl, name) end

---check.has_function: a function or procedure with that signature ("schema.name(argument types)"); raises "check.has_function: …" when not (inside check.run: recorded).
---@return boolean
function check.has_function(conn, signature) end

---row_counts{from=, source=, where=, to=, target=, target_where=}: equal row counts.
---@return boolean
function check.row_counts(o) end

---checksum{from=, source=, to=, target=, key=, columns=, chunk=}: the chosen columns are equal
---row for row; a mismatch names the first key range (chunk) that differs.
---@return boolean
function check.checksum(o) end

---no_orphans(db, table, column, parent_table, parent_column)
---@return boolean
function check.no_orphans(conn, tbl, col, parent, parent_col) end

---check.not_null: raises "check.not_null: …" when it does not hold (inside check.run: recorded).
---@return boolean
function check.not_null(conn, tbl, col) end

---unique(db, table, columns)
---@return boolean
function check.unique(conn, tbl, cols) end

---accepted_values(db, table, column, {values...})
---@return boolean
function check.accepted_values(conn, tbl, col, values) end

---acyclic(db, edge_table, from_column, to_column): no cycle; a failure shows one.
---@return boolean
function check.acyclic(conn, tbl, from_col, to_col) end

---sql(db, query, message, ...): the query (with bound parameters `...`) returns true.
---@return boolean
function check.sql(conn, query, message, ...) end

---json_schema(db, table, column, schema [, key]): every value of the column is valid.
---@return boolean
function check.json_schema(conn, tbl, col, schema, key) end

---Runs `fn` with every check collecting into a report instead of raising; returns it:
---{passed, failed, ok, results = {check, ok, message}} with :text(), :json(), :print().
---@param fn fun()
---@return {passed: integer, failed: integer, ok: boolean, results: table[], text: fun(self): string, json: fun(self): string, print: fun(self, opts?: {json?: boolean}): integer}
function check.run(fn) end
