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

return core
