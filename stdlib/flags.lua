--- flags: feature flags stored in the database (the `flags` global). A flag is a switch
--- (`enabled`) with an optional percentage rollout over subjects (an org id, a user id) and
--- per-subject overrides; every change is recorded in weir.flag_history with who and when.
--- The application asks the same question in SQL: SELECT weir.flag_enabled('name', 'subject').
--- Migration phases gate on flags: requires = { flag_on = "name" } / { flag_off = "name" }.
local history = require "history"

local F = {}

local ensured = setmetatable({}, { __mode = "k" })  -- connection -> state schema ensured

local function schema_of(opts)
  if opts and opts.schema then return opts.schema end
  local ctx = require("runner").current()
  return ctx and ctx.schema or "weir"
end

-- Argument checks: a wrong type is one line naming the script's line that called flags.FN
-- (the stdlib position is re-pointed there, lua/where.hpp), never a failure further in.
local function refuse(fn, fmt, ...) error("flags." .. fn .. ": " .. fmt:format(...), 3) end

local function kind(v)
  if v == "" then return "an empty string" end
  if math.type(v) == "float" then return "a float" end
  return type(v)
end

-- The options each function takes, and the type of each.
local OPTIONS = {
  define = { description = "string", default = "boolean", schema = "string" },
  enabled = { subject = "subject", default = "boolean", schema = "string" },
}

local function check_opts(fn, opts)
  if opts == nil then return end
  if type(opts) ~= "table" then refuse(fn, "options must be a table, got %s", type(opts)) end
  local known = OPTIONS[fn] or { schema = "string" }
  for k, v in pairs(opts) do
    local want = known[k]
    if not want then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      refuse(fn, "unknown option '%s' (known: %s)", tostring(k), table.concat(names, ", "))
    end
    if want == "subject" then
      if type(v) ~= "string" and math.type(v) ~= "integer" then
        refuse(fn, "subject must be a string or an integer, got %s", kind(v))
      end
    elseif type(v) ~= want or v == "" then
      refuse(fn, "%s must be a %s%s, got %s", k, want == "string" and "non-empty " or "", want, kind(v))
    end
  end
end

local function prepare(fn, conn, name, opts, nameless)
  if type(conn) ~= "userdata" then refuse(fn, "expected a connection first, got %s", type(conn)) end
  if not nameless and (type(name) ~= "string" or name == "") then
    refuse(fn, "expected a flag name, got %s", kind(name))
  end
  check_opts(fn, opts)
  local schema = schema_of(opts)
  if not ensured[conn] or ensured[conn] ~= schema then
    history.ensure(conn, schema)
    ensured[conn] = schema
  end
  return conn:quote_ident(schema)
end

local function current(conn, S, name)
  return conn:one("SELECT name, description, enabled, percent FROM " .. S .. ".flags WHERE name = $1", name)
end

local function must_exist(fn, conn, S, name)
  local f = current(conn, S, name)
  if not f then error(("flags.%s: no flag named '%s' (define it with flags.define)"):format(fn, name), 3) end
  return f
end

local function record(conn, S, name, change, old, new)
  conn:exec("INSERT INTO " .. S .. ".flag_history (name, change, old, new) VALUES ($1, $2, $3, $4)",
    name, change, old and db.json(old) or db.NULL, new and db.json(new) or db.NULL)
end

local function state(f) return { enabled = f.enabled, percent = f.percent } end

---Defines a flag (idempotent: an existing flag keeps its state). opts: description, default
---(its initial `enabled`, default false), schema. Returns true when it was created.
function F.define(conn, name, opts)
  local S = prepare("define", conn, name, opts)
  opts = opts or {}
  return conn:tx(function()
    if current(conn, S, name) then return false end
    conn:exec("INSERT INTO " .. S .. ".flags (name, description, enabled) VALUES ($1, $2, $3)",
      name, opts.description or db.NULL, opts.default == true)
    record(conn, S, name, "define", nil, { enabled = opts.default == true, percent = 100 })
    return true
  end)
end

local function set(fn, conn, name, opts, column, value)
  local S = prepare(fn, conn, name, opts)
  conn:tx(function()
    local f = must_exist(fn, conn, S, name)
    local old = state(f)
    if f[column] == value then return end
    conn:exec("UPDATE " .. S .. ".flags SET " .. column .. " = $2, updated_at = now() WHERE name = $1", name, value)
    local new = state(f)
    new[column] = value
    record(conn, S, name, fn, old, new)
  end)
end

---Turns a flag on (for everyone in its rollout percentage).
function F.enable(conn, name, opts) set("enable", conn, name, opts, "enabled", true) end

---Turns a flag off for everyone (overrides still apply).
function F.disable(conn, name, opts) set("disable", conn, name, opts, "enabled", false) end

---Rolls an enabled flag out to `percent` (0-100) of subjects, chosen by a stable hash of the
---flag and the subject: a subject that is in stays in as the percentage grows.
function F.set_percent(conn, name, percent, opts)
  if math.type(percent) ~= "integer" or percent < 0 or percent > 100 then
    refuse("set_percent", "percent must be an integer from 0 to 100, got %s",
      type(percent) == "number" and tostring(percent) or kind(percent))
  end
  set("set_percent", conn, name, opts, "percent", percent)
end

---Forces the flag on (true) or off (false) for one subject, or removes the override (nil).
function F.override(conn, name, subject, value, opts)
  if type(subject) ~= "string" and math.type(subject) ~= "integer" then
    refuse("override", "subject must be a string or an integer, got %s", kind(subject))
  end
  if value ~= nil and type(value) ~= "boolean" then
    refuse("override", "value must be true, false or nil (to remove the override), got %s", kind(value))
  end
  local S = prepare("override", conn, name, opts)
  subject = tostring(subject)
  conn:tx(function()
    must_exist("override", conn, S, name)
    local old = conn:value("SELECT enabled FROM " .. S .. ".flag_overrides WHERE name = $1 AND subject = $2", name, subject)
    if old == nil then old = db.NULL end
    if value == nil then
      conn:exec("DELETE FROM " .. S .. ".flag_overrides WHERE name = $1 AND subject = $2", name, subject)
    else
      conn:exec("INSERT INTO " .. S .. [[.flag_overrides (name, subject, enabled) VALUES ($1, $2, $3)
                 ON CONFLICT (name, subject) DO UPDATE SET enabled = excluded.enabled]], name, subject, value == true)
    end
    record(conn, S, name, "override", { subject = subject, enabled = old },
      { subject = subject, enabled = value == nil and db.NULL or (value == true) })
  end)
end

---Whether the flag is on (for opts.subject, when given): the same answer as the SQL function
---weir.flag_enabled(name, subject). An undefined flag is neither on nor off: it raises, unless
---opts.default (a boolean) says what to answer — the same rule as `requires = { flag_on/flag_off }`,
---which blocks on an undefined flag (docs/flags.md says why).
function F.enabled(conn, name, opts)
  local S = prepare("enabled", conn, name, opts)
  opts = opts or {}
  local subject = opts.subject ~= nil and tostring(opts.subject) or db.NULL
  local r = conn:one("SELECT EXISTS (SELECT 1 FROM " .. S .. ".flags WHERE name = $1) AS defined, " ..
    S .. ".flag_enabled($1, $2) AS on", name, subject)
  if not r.defined then
    if opts.default ~= nil then return opts.default end
    error(("flags.enabled: no flag named '%s' (define it with flags.define, or pass default = true or false)"):format(name), 2)
  end
  return r.on == true
end

---Every flag: { name, description, enabled, percent, overrides }.
function F.list(conn, opts)
  local S = prepare("list", conn, nil, opts, true)
  return (conn:query("SELECT f.name, f.description, f.enabled, f.percent, " ..
    "(SELECT count(*) FROM " .. S .. ".flag_overrides o WHERE o.name = f.name) AS overrides FROM " .. S ..
    ".flags f ORDER BY f.name"))
end

---A flag's audit trail, oldest first: { at, actor, change, old, new }.
function F.history(conn, name, opts)
  local S = prepare("history", conn, name, opts)
  return (conn:query("SELECT at::text AS at, actor, change, old, new FROM " .. S ..
    ".flag_history WHERE name = $1 ORDER BY id", name))
end

return F
