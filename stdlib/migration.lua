--- migration: the DSL a migration script is written in, and its load-time validation.
---
---   return migration "034_voice_planning" {
---     description = "…",
---     phase "expand" { up = fn, down = fn, verify = fn, transaction = true, requires = {…} },
---   }
---
--- Loading a script never touches the database. Anything malformed raises at load time with
--- the FILE:LINE of the offending `phase`/`migration` call and what is wrong.
local M = {}

-- Captured before the sandbox removes `debug`: only used to name the script line.
local getinfo = debug.getinfo

local PHASE_KEYS = { up = "function", down = "function", verify = "function",
  transaction = "boolean", requires = "table", description = "string", timeout = "duration" }
local MIGRATION_KEYS = { description = "string" }
local REQUIRE_KEYS = { sql = "string", check = "function", flag_on = "string", flag_off = "string" }

local PHASE_MT = { __name = "weir.Phase" }
local MIGRATION_MT = { __name = "weir.Migration" }

local function where(level)
  local info = getinfo(level + 1, "Sl")
  if info and info.currentline and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline .. ": "
  end
  return ""
end

local function fail(at, msg) error(at .. msg, 0) end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return table.concat(ks, ", ")
end

local duration = require("weir.core").duration

-- A phase's timeout in seconds, by weir.duration's rule (the one weir.lua and the command line
-- follow: pg/duration.hpp), and more than 0; nil and why otherwise.
local function seconds_of(v)
  local seconds, why = duration(v)
  if seconds == 0 then return nil, "is not a time limit: a phase's timeout is more than 0" end
  return seconds, why
end

-- Checks a spec's named keys against `allowed` (key -> Lua type); integer keys go to
-- `on_index(i, v)` when given, and are unknown keys otherwise.
local function check_keys(spec, allowed, at, what, expected, on_index)
  for k, v in pairs(spec) do
    if on_index and math.type(k) == "integer" then
      on_index(k, v)
    elseif not allowed[k] then
      fail(at, what .. ": unknown key '" .. tostring(k) .. "' (expected " .. expected .. ")")
    elseif allowed[k] == "duration" then
      local seconds, why = seconds_of(v)
      if not seconds then
        fail(at, what .. ": " .. k .. " " .. (type(v) == "string" and string.format("%q", v) or tostring(v)) ..
          " " .. why)
      end
    elseif type(v) ~= allowed[k] then
      fail(at, what .. ": " .. k .. " must be a " .. allowed[k] .. ", got " .. type(v))
    end
  end
end

local function check_name(kind, name, at)
  if type(name) ~= "string" or not name:match("^[%w_%-%.]+$") then
    fail(at, kind .. " name must be a string of letters, digits, '_', '-' or '.', got " ..
      (type(name) == "string" and string.format("%q", name) or type(name)))
  end
end

local function check_requires(req, at, pname)
  for k, v in pairs(req) do
    if math.type(k) == "integer" then
      if type(v) ~= "string" or v == "" then
        fail(at, "phase '" .. pname .. "': requires[" .. k .. "] must name a phase (\"PHASE\" or \"MIGRATION:PHASE\")")
      end
    elseif REQUIRE_KEYS[k] then
      if type(v) ~= REQUIRE_KEYS[k] then
        fail(at, "phase '" .. pname .. "': requires." .. k .. " must be a " .. REQUIRE_KEYS[k] .. ", got " .. type(v))
      end
    else
      fail(at, "phase '" .. pname .. "': unknown requirement '" .. tostring(k) ..
        "' (expected phase names, " .. sorted_keys(REQUIRE_KEYS) .. ")")
    end
  end
end

---Declares a phase: `phase "NAME" { up = fn, down = fn, verify = fn, transaction = bool, requires = {...},
---timeout = seconds or "10min" }`. `timeout` is kept in seconds.
---@param name string
function M.phase(name)
  local at = where(2)
  check_name("phase", name, at)
  return function(spec)
    if type(spec) ~= "table" then fail(at, "phase '" .. name .. "': expected a table after phase \"" .. name .. "\"") end
    check_keys(spec, PHASE_KEYS, at, "phase '" .. name .. "'", sorted_keys(PHASE_KEYS))
    if not spec.up then fail(at, "phase '" .. name .. "': has no up function") end
    if spec.requires then check_requires(spec.requires, at, name) end
    return setmetatable({
      name = name, up = spec.up, down = spec.down, verify = spec.verify,
      transaction = spec.transaction ~= false, requires = spec.requires or {},
      description = spec.description, timeout = spec.timeout and seconds_of(spec.timeout), where = at,
    }, PHASE_MT)
  end
end

---Declares a migration: `migration "ID" { description = "...", phase "a" {...}, phase "b" {...} }`.
---@param id string
function M.migration(id)
  local at = where(2)
  check_name("migration", id, at)
  return function(spec)
    if type(spec) ~= "table" then fail(at, "migration '" .. id .. "': expected a table") end
    local phases, seen = {}, {}
    check_keys(spec, MIGRATION_KEYS, at, "migration '" .. id .. "'", "description and phases",
      function(k, v)
        if getmetatable(v) ~= PHASE_MT then
          fail(at, "migration '" .. id .. "': entry " .. k .. " is not a phase (write phase \"NAME\" { ... })")
        end
      end)
    for i = 1, #spec do
      local p = spec[i]
      if seen[p.name] then fail(p.where, "migration '" .. id .. "': duplicate phase name '" .. p.name .. "'") end
      seen[p.name] = true
      p.index = i
      phases[i] = p
    end
    if #phases == 0 then fail(at, "migration '" .. id .. "': has no phases") end
    return setmetatable({ id = id, description = spec.description, phases = phases, where = at }, MIGRATION_MT)
  end
end

---True when `v` is a migration built by migration "ID" { ... }.
function M.is_migration(v) return getmetatable(v) == MIGRATION_MT end

return M
