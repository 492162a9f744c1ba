---@meta
-- LuaLS definitions of the migration DSL (stdlib/migration.lua).

---@class weir.Requires
---@field [integer] string phases that must be done: "PHASE" (same migration) or "MIGRATION:PHASE"
---@field sql? string a query that must return true
---@field check? fun(db: weir.Connection): boolean, string? a function that must return true (or false, why)
---@field flag_on? string a feature flag that must be on (an undefined flag blocks the phase)
---@field flag_off? string a feature flag that must be off (an undefined flag blocks the phase)

---@class weir.PhaseSpec
---@field up fun(db: weir.Connection) required
---@field down? fun(db: weir.Connection) rollback; `weir down` refuses to start without it
---@field verify? fun(db: weir.Connection): boolean?, string? raises (or returns false, why) when up did not do its job
---@field transaction? boolean default true; false runs in autocommit (CREATE INDEX CONCURRENTLY, long backfills)
---@field requires? weir.Requires
---@field description? string
---@field timeout? number|string the longest one run of the phase (up and verify, or down) may take: seconds, or "500ms", "90s", "10min", "2h"; then its statement is cancelled and the phase fails

---@class weir.MigrationSpec
---@field description? string
---@field [integer] weir.Phase

---@class weir.Phase
---@class weir.Migration

---Declares a phase: `phase "expand" { up = function(db) … end, down = …, verify = … }`.
---@param name string
---@return fun(spec: weir.PhaseSpec): weir.Phase
function phase(name) end

---Declares a migration; a migration script returns it:
---`return migration "034_voice_planning" { description = "…", phase "expand" { … } }`.
---The id must equal the file name without .lua.
---@param id string
---@return fun(spec: weir.MigrationSpec): weir.Migration
function migration(id) end
