--- weir: the engine's functions for scripts. The C++ module "weir.core" gives connect,
--- connection, sleep, clock and version; this file adds what is written in Lua.
local core = require "weir.core"

---Stores (two arguments) or reads (one argument) a resumable progress value for the running
---migration phase. A stored value is written in the phase's transaction, so it commits or
---rolls back with the phase's work. Keys are per migration.
---@param key string
---@param value? any JSON-compatible value (nil reads)
---@return any
function core.checkpoint(key, ...)
  if type(key) ~= "string" or key == "" then
    error("weir.checkpoint: expected a non-empty string key, got " .. type(key), 2)
  end
  local ctx = require("runner").current()
  if not ctx then
    error("weir.checkpoint: only available while a migration phase runs", 2)
  end
  local full = ctx.migration .. "/" .. ctx.phase .. "/" .. key
  if ctx.store then  -- weir plan: progress lives in memory, the target is not written
    if select("#", ...) == 0 then return ctx.store[full] end
    ctx.store[full] = (...)
    return (...)
  end
  local S = ctx.db:quote_ident(ctx.schema)
  if select("#", ...) == 0 then
    local v = ctx.db:value("SELECT value FROM " .. S .. ".checkpoints WHERE key = $1", full)
    if v == nil or db.isnull(v) then return nil end
    return v
  end
  local value = ...
  ctx.db:exec("INSERT INTO " .. S .. [[.checkpoints (key, value, updated_at)
                VALUES ($1, $2, now())
                ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = now()]],
    full, db.json(value == nil and db.NULL or value))
  ctx.emit("checkpoint", { key = key })
  return value
end

---Reads the checkpoint `key` that phase `phase` of the running migration stored (a later
---phase reading what an earlier one recorded, e.g. a census). Read-only; nil when absent.
---@param phase string
---@param key string
---@return any
function core.checkpoint_of(phase, key)
  if type(phase) ~= "string" or phase == "" or type(key) ~= "string" or key == "" then
    error("weir.checkpoint_of: expected a phase name and a key", 2)
  end
  local ctx = require("runner").current()
  if not ctx then
    error("weir.checkpoint_of: only available while a migration phase runs", 2)
  end
  local full = ctx.migration .. "/" .. phase .. "/" .. key
  if ctx.store then return ctx.store[full] end
  local v = ctx.db:value("SELECT value FROM " .. ctx.db:quote_ident(ctx.schema) .. ".checkpoints WHERE key = $1", full)
  if v == nil or db.isnull(v) then return nil end
  return v
end

-- Under `weir plan` a phase runs for real but must leave nothing behind: a dump or a restore
-- it would make is only announced (on stderr, where plan sends what scripts print).
local function planning()
  local ctx = require("runner").current()
  return ctx ~= nil and ctx.store ~= nil
end

local function check_opts(fn, opts, known)
  if type(opts) ~= "table" then error(fn .. ": expected a table of options, got " .. type(opts), 3) end
  for k in pairs(opts) do
    if not known[k] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      error(("%s: unknown option '%s' (known: %s)"):format(fn, tostring(k), table.concat(names, ", ")), 3)
    end
  end
  if type(opts.db) ~= "userdata" then
    error(fn .. ": db must be a connection (db = db)", 3)
  end
  if type(opts.file) ~= "string" or opts.file == "" then
    error(fn .. ": file must be a non-empty string, got " .. (opts.file == "" and "an empty one" or type(opts.file)), 3)
  end
end

local core_dump, core_restore = core.dump, core.restore

---Writes a pg_dump archive (custom format) of `tables` ("schema.table" each; none: the whole
---database) read through `db`'s database to `file`, which must not exist; returns its size in
---bytes. Under `weir plan` nothing is written (returns 0). See docs/scripts.md.
---@param opts {db: weir.Connection, file: string, tables?: string[], snapshot?: string}
---@return integer bytes
function core.dump(opts)
  check_opts("weir.dump", opts, { db = true, file = true, tables = true, snapshot = true })
  if opts.tables ~= nil and type(opts.tables) ~= "table" then
    error("weir.dump: tables must be a list of strings, got " .. type(opts.tables), 2)
  end
  if planning() then
    io.stderr:write(("weir plan: weir.dump would write %s (%s); nothing is written while planning\n"):format(
      opts.file, opts.tables and table.concat(opts.tables, ", ") or "the whole database"))
    return 0
  end
  return core_dump(opts)
end

---Restores a pg_dump archive (custom format) into `db`'s database, all of it or nothing
---(pg_restore --single-transaction --exit-on-error, no owners or privileges). Under `weir
---plan` nothing is restored.
---@param opts {db: weir.Connection, file: string}
function core.restore(opts)
  check_opts("weir.restore", opts, { db = true, file = true })
  if planning() then
    io.stderr:write(("weir plan: weir.restore would restore %s; nothing is restored while planning\n"):format(opts.file))
    return
  end
  core_restore(opts)
end

return core
