---@meta
-- LuaLS definitions of the `db` global and every Connection (weir.connect, weir.connection).
-- This file is the declared surface: tests/lua/api_surface_test.lua fails when a function is
-- exported to Lua but not declared here, or declared here but not exported.

---A value as it comes back from PostgreSQL: integer (int2/int4/int8/oid), number
---(float4/float8), string (numeric kept exact; text; uuid/date/time/timestamp/interval/inet in
---their text form; bytea as raw bytes), boolean, table (json/jsonb, nested at most 1000
---levels — deeper raises, naming the column; arrays as sequences), or db.NULL for SQL NULL.
---@alias weir.Value integer|number|string|boolean|table|weir.NULL

---The SQL NULL sentinel. `tostring(db.NULL) == "NULL"`; test with `db.isnull(v)` or `v == db.NULL`.
---@class weir.NULL

---A value wrapped to bind as a parameter: db.json(t), db.array(t) or db.bytea(s).
---@class weir.Wrapped
---@field value any

---A row: column name → value. NULL columns are present, holding db.NULL.
---@alias weir.Row table<string, weir.Value>

---@class weir.Column
---@field name string column name
---@field type string type name as pg_type spells it (int4, text, _int4, mood …)

---An SQL error raised by any query method. `tostring(e)` gives one line:
---`FILE:LINE: SQLSTATE message (detail: …; hint: …) in: QUERY`.
---@class weir.Error
---@field sqlstate string five-character SQLSTATE, e.g. "23505"
---@field message string the primary message
---@field detail? string
---@field hint? string
---@field context? string where in PL/pgSQL it happened
---@field position? integer 1-based character offset into `query`
---@field severity string ERROR, FATAL or PANIC
---@field query string the statement as the script wrote it
---@field where string the script's FILE:LINE: that ran the statement

---@class weir.ConnectionInfo
---@field database string
---@field user string
---@field host string
---@field port string
---@field server_version string
---@field url string the URL with the password masked

---A PostgreSQL session. Parameters are always bound ($1, $2 …), never spliced: Lua integers,
---floats, strings and booleans bind as themselves; nil and db.NULL bind as NULL; db.json,
---db.array and db.bytea wrap tables and bytes; a plain table is refused.
---@class weir.Connection
local Connection = {}

---The SQL NULL sentinel.
---@type weir.NULL
Connection.NULL = nil

---Runs one statement; returns every row, the columns in order, and the command tag the
---server sent ("SELECT 3", "INSERT 0 1", "CREATE TABLE").
---@param sql string
---@param ... any parameters $1, $2 …
---@return weir.Row[] rows
---@return weir.Column[] columns
---@return string tag
function Connection:query(sql, ...) end

---Runs one statement like query, but each row is a sequence of the texts the server sent, in
---column order and unconverted (json as written, arrays as `{1,2}`, booleans as `t`/`f`,
---bytea as `\x…`); SQL NULL is db.NULL. Columns of the same name keep their own values. This
---is what the REPL shows for SQL, as psql does.
---@param sql string
---@param ... any parameters $1, $2 …
---@return (string|weir.NULL)[][] rows
---@return weir.Column[] columns
---@return string tag
function Connection:query_text(sql, ...) end

---Runs one `COPY … FROM STDIN` with all of its data (text, CSV or binary, as the statement's
---options say); returns the number of rows copied. Any other statement is refused before it
---runs. For large or transformed copies between databases use copy.table.
---@param sql string
---@param data string
---@return integer rows
function Connection:copy_in(sql, data) end

---Runs one `COPY … TO STDOUT`; returns everything it sent and the number of rows. Any other
---statement is refused before it runs.
---@param sql string
---@return string data
---@return integer rows
function Connection:copy_out(sql) end

---Runs one statement; returns its first row, or nil when there is none.
---@param sql string
---@param ... any
---@return weir.Row|nil
function Connection:one(sql, ...) end

---Runs one statement; returns the first column of its first row (db.NULL for SQL NULL),
---or nil when there is no row.
---@param sql string
---@param ... any
---@return weir.Value|nil
function Connection:value(sql, ...) end

---Runs SQL and returns the number of rows affected. Without parameters the SQL may hold
---several statements (run as one implicit transaction; the last count is returned).
---@param sql string
---@param ... any
---@return integer
function Connection:exec(sql, ...) end

---Streams rows through a server-side cursor, 1000 at a time, with bounded memory:
---`for row in db:rows(sql, ...) do … end`. Outside a transaction it opens one for the loop,
---committed when the loop ends and rolled back when it ends by an error.
---@param sql string
---@param ... any
---@return fun(): weir.Row|nil
function Connection:rows(sql, ...) end

---Runs fn(db) in a transaction: COMMIT when it returns (its results are returned), ROLLBACK
---when it raises (the error is re-raised unchanged). Nested calls use savepoints. If fn
---catches an SQL error and returns normally, the transaction is rolled back and tx raises.
---@generic R
---@param fn fun(db: weir.Connection): R
---@return R
function Connection:tx(fn) end

---Closes the session (an open transaction is rolled back). Idempotent; later use raises
---"attempt to use a closed connection". A `<close>` local does this at scope exit.
function Connection:close() end

---@return weir.ConnectionInfo
function Connection:info() end

---Records the SQL text of every query, one, value, exec and rows call on this connection
---while on (each recorded before it runs, so a failing statement is listed too).
---`trace(true)` starts a fresh record; `trace(false)` stops. Both return the statements
---recorded until then, in order (parameters are not included). With `forbid_commit`, a
---statement that would end or replace the transaction (COMMIT, ROLLBACK, BEGIN, PREPARE
---TRANSACTION …: sql.transaction_control) raises before it runs. `weir plan` uses both.
---The second result lists, for each statement, the "FILE:LINE" of the script line that ran
---it (the first frame outside weir's stdlib, so a ddl.* call is charged to its caller).
---@param on boolean
---@param opts? {forbid_commit?: boolean}
---@return string[] statements
---@return string[] where
function Connection:trace(on, opts) end

---A new session to the same database as this connection (same URL and credentials), connected
---now. Close it with :close() or a `<close>` local.
---@return weir.Connection
function Connection:clone() end

---True inside a transaction block (also an aborted one).
---@return boolean
function Connection:in_transaction() end

---"idle", "active", "open" (in a transaction), "failed" (aborted, awaiting rollback) or "closed".
---@return "idle"|"active"|"open"|"failed"|"closed"
function Connection:transaction_status() end

---Quotes an identifier for SQL text ('my table' → "my table").
---@param name string
---@return string
function Connection:quote_ident(name) end

---Quotes a string as an SQL literal. Prefer bound parameters; this is for DDL, which
---cannot take parameters.
---@param text string
---@return string
function Connection:quote_literal(text) end

---True when v is db.NULL.
---@param v any
---@return boolean
function Connection.isnull(v) end

---Wraps a Lua value to bind as jsonb. Decoded JSON remembers whether each table was an array
---or an object; other tables are arrays when they are non-empty sequences.
---@param value any
---@return weir.Wrapped
function Connection.json(value) end

---Wraps a Lua sequence to bind as an array literal (nested sequences are sub-arrays; use
---db.NULL for NULL elements). The server infers the element type: cast with $1::int[] etc.
---@param t table
---@return weir.Wrapped
function Connection.array(t) end

---Wraps a string to bind as bytea, byte for byte.
---@param bytes string
---@return weir.Wrapped
function Connection.bytea(bytes) end

---The connection scripts run against: --db URL, else $DATABASE_URL, else libpq's PG*
---variables and .pgpass; --ephemeral gives a throwaway cluster.
---@type weir.Connection
db = nil
