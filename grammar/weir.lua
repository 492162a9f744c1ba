---@meta
-- LuaLS definitions of the `weir` global (checked against the binary by
-- tests/lua/api_surface_test.lua).

---@class weir
weir = {}

---The weir version, e.g. "0.1.0".
---@type string
weir.version = nil

---Opens a new connection to `url` (a postgresql:// URL or a key=value conninfo string).
---Close it with :close() or hold it in a `<close>` local. Raises one line without the
---password when the server cannot be reached.
---@param url string
---@return weir.Connection
function weir.connect(url) end

---The connection given on the command line as --connect NAME=URL, opened on first use and
---the same object on every call.
---@param name string
---@return weir.Connection
function weir.connection(name) end

---The script's command-line arguments: arg[0] is the script, arg[1..n] what followed it.
---@type table<integer, string>
arg = nil

---A throwaway PostgreSQL cluster, stopped and removed on close (or when weir exits, even
---by kill -9).
---@class weir.Cluster
local Cluster = {}

---Its URL (a Unix socket in its directory; user postgres, database postgres).
---@return string
function Cluster:url() end

---Stops the server and removes its directory. Closing twice is harmless.
function Cluster:close() end

---Starts a throwaway PostgreSQL (initdb in $TMPDIR; the server runs as the `postgres` OS user
---when weir runs as root). With `schema_from`, its `postgres` database gets a schema-only copy
---(privileges and owners kept, no data; pg_dump + psql) of the database at that URL, plus the
---rows of the schemas listed in `with_data` (which must exist there); the roles the copy's
---owners and grants name are made from pg_dumpall --roles-only --no-role-passwords of the source. Hold it in a `<close>` local.
---Raises one line naming the step that failed.
---@param opts? {schema_from?: string, with_data?: string[]}
---@return weir.Cluster
function weir.cluster(opts) end

---A session-level advisory lock on a connection of its own, kept alive by a background thread
---(what keeps two `weir up` apart). The session gets idle_session_timeout = 0, and every
---`keepalive` seconds (default 1) the thread asks the server whether it still holds the lock;
---when the session is gone (pg_terminate_backend, a restart, the network) the lock is marked
---lost and the statement this process is running is cancelled at once. Hold it in a `<close>`
---local or call :release().
---@class weir.SessionLock
local SessionLock = {}

---pg_try_advisory_lock(key1, key2) on the lock's session: true when held (the keeper starts).
---@return boolean
function SessionLock:try() end

---Asks the server now: true while held; false and why once it is lost.
---@return boolean held
---@return string? why
function SessionLock:check() end

---Why the lock was lost as the keeper last saw it (no round trip), or nil while it is held.
---@return string?
function SessionLock:lost() end

---The backend pid of the lock's session.
---@return integer
function SessionLock:pid() end

---Stops the keeper, unlocks and closes the session. Releasing twice is harmless.
function SessionLock:release() end

---Opens the session for an advisory lock on (key1, key2), two 32-bit integers; take it with :try().
---@param url string
---@param key1 integer
---@param key2 integer
---@param opts? {application_name?: string, keepalive?: number}
---@return weir.SessionLock
function weir.session_lock(url, key1, key2, opts) end

---A time limit: when `seconds` have passed, the statement this process is waiting on (on any
---connection) is cancelled, once (SQLSTATE 57014). Hold it in a `<close>` local or :close() it.
---@class weir.Deadline
local Deadline = {}

---Whether the time ran out (also after close, as it stood then).
---@return boolean
function Deadline:expired() end

---Stops the clock: nothing is cancelled after this returns. Closing twice is harmless.
function Deadline:close() end

---Starts a time limit of `seconds` (weir's phase `timeout` is one): from 0 to 2147483.647
---(24.8 days, the longest duration weir takes anywhere); a longer one raises.
---@param seconds number
---@return weir.Deadline
function weir.deadline(seconds) end

---Reads a duration the way weir.lua, the command line and a phase's `timeout` do (one rule,
---docs/migrations.md): a number of seconds, or a string with a unit — "500ms", "1.5s",
---"10 min", "2h" (one space allowed before the unit, none around the value). The result is a
---whole number of milliseconds from 0 to 24.8 days, given in seconds (an integer when whole);
---otherwise nil and why
---("is not a duration: …", "is too long: …", "is not a whole number of milliseconds").
---@param value number|string
---@return number|nil seconds
---@return string|nil why
function weir.duration(value) end
---Copies the schema of the database at `from` (privileges kept, owners too when the user at `to`
---is a superuser; no data), plus the rows of the schemas listed in `with_data`, into the
---existing database at `to` (every role the owners and grants name must exist on its server), with pg_dump and psql
---of the server binaries weir finds (as weir.cluster does). Every setting of either URL
---(password and sslpassword too) reaches pg_dump and psql in a service file read from a pipe,
---never on their command lines or on disk. Raises one line naming the step that failed,
---passwords masked.
---@param opts {from: string, to: string, with_data?: string[]}
function weir.copy_schema(opts) end

---Writes a pg_dump archive (custom format: restore it with pg_restore or weir.restore) of the
---tables listed ("schema.table" each, every one must exist; none: the whole database), read
---through `db`'s database, to `file` (relative to the working directory; its directory is
---created when missing). The archive is private to this OS user (0600) and appears under its
---name only once complete; an existing `file` is never replaced (an error). With `snapshot`
---(pg_export_snapshot() of a transaction kept open meanwhile) the rows are those that
---transaction sees. The password and the other settings reach pg_dump in a service file read
---from a pipe, never on its command line.
---Returns the archive's size in bytes. Under `weir plan` nothing is written (0 is returned).
---@param opts {db: weir.Connection, file: string, tables?: string[], snapshot?: string}
---@return integer bytes
function weir.dump(opts) end

---Restores a pg_dump archive (custom format) into `db`'s database with pg_restore, all of it or
---nothing (--single-transaction --exit-on-error; no owners or privileges). The password reaches
---pg_restore in a service file read from a pipe only. Under `weir plan` nothing is restored.
---@param opts {db: weir.Connection, file: string}
function weir.restore(opts) end

---A value of weir.lua's `vars` (always a string: numbers come as Lua writes them), so that one
---script runs unchanged in several setups (`vars = { schema = env("APP_SCHEMA", "public") }`).
---When weir.lua has no such var, `default`; without one, an error naming the var. A var whose
---`env "X"` is unset (and has no default there) is an error even with a `default` here.
---@param name string
---@param default? string
---@return string
function weir.var(name, default) end

---Pauses the script for `seconds` (fractions allowed; at most 2147483.647, 24.8 days).
---@param seconds number
function weir.sleep(seconds) end

---Monotonic seconds since an arbitrary point, for measuring durations.
---@return number
function weir.clock() end

---The names in a directory, sorted (without "." and ".."); nil and a message when it cannot be read.
---@param path string
---@return string[]|nil names
---@return string? error
function weir.list_dir(path) end

---Inside a running migration phase: stores (two arguments) or reads (one argument) a
---resumable progress value. Stored values are written in the phase's transaction, so they
---commit or roll back with its work. Keys are per phase; rolling the phase back clears them.
---Outside a phase it raises.
---@param key string
---@param value? any JSON-compatible value
---@return any
function weir.checkpoint(key, value) end

---Inside a running migration phase: reads the checkpoint `key` that another phase of the same
---migration stored (a later phase reading an earlier one's census). nil when absent.
---@param phase string
---@param key string
---@return any
function weir.checkpoint_of(phase, key) end
