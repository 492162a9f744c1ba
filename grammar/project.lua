---@meta weir-project
-- LuaLS definitions for the project file `weir.lua` (see docs/migrations.md). It runs with
-- only the base, string, table and math libraries plus `env`, and returns a weir.Project.

---A reference to an environment variable, read when weir reads the file. With the variable
---empty or unset and no default, using the setting is an error naming the variable.
---@class weir.EnvRef

---@param name string the environment variable
---@param default? string used when the variable is empty or unset
---@return weir.EnvRef
function env(name, default) end

---@alias weir.Duration number|string a number (ms for timeouts, seconds for lock_wait) or "500ms", "2s", "5min", "1h"

---@class weir.Project
---@field migrations? string the migrations directory, relative to weir.lua (--dir)
---@field schema? string the schema holding weir's state (--schema)
---@field db? string|weir.EnvRef the default connection (--db)
---@field connections? table<string, string|weir.EnvRef> named connections: weir.connection(NAME), --db NAME
---@field lock_timeout? weir.Duration lock_timeout of every statement (--lock-timeout)
---@field statement_timeout? weir.Duration statement_timeout of every statement (--statement-timeout)
---@field lock_wait? weir.Duration how long to wait for another runner's lock (--lock-wait)
---@field retries? integer retries of a phase that hit lock_timeout (--retries)
---@field events? string event log file, relative to weir.lua, or "-" for stdout (--events)
---@field fixture? string a script, relative to weir.lua, that builds the database the migrations start from — tables and rows — run by `weir test --roundtrip` on the empty copy it checks the migrations on (--fixture); `weir run --db URL FILE` runs it by hand
---@field vars? table<string, string|number|weir.EnvRef> values scripts read with weir.var(NAME): a schema name, a batch size, a directory — so one migration runs unchanged in several setups
---@field ids? "sequential"|"timestamp" how `weir new` numbers migrations: 001_name (the default) or 20250314093000_name (--timestamp)
---@field pg_bindir? string where throwaway clusters find initdb and postgres, relative to weir.lua (--pg-bindir; $WEIR_PG_BINDIR wins over it)
---@field pg_version? integer|string the PostgreSQL major version of throwaway clusters: /usr/lib/postgresql/N/bin (--pg-version; $WEIR_PG_VERSION wins over it)
