-- Help in `weir repl`: `help` (an overview of the toolkit), `help(ddl.add_column)` and
-- `\help ddl.add_column` (a function's signature and description from grammar/*.lua, which is
-- built into weir, so help works wherever weir is installed), and \h SQL (syntax from psql or
-- PostgreSQL's manual pages, interpreter/cli/repl_help.cpp). Nothing here queries a database.
local M = {}

local OVERVIEW = [[
weir %s: Lua with `db` connected and the whole toolkit at hand.

  db:query(sql, ...)       rows (printed as a table), db:one, db:value, db:exec, db:tx(fn)
  schema.inspect(db)       the schema as a model; schema.diff(a, b), schema.script(changes)
  ddl.*  copy.*  ids.*     safe DDL helpers, batch copy and backfill, id mapping
  check.*  flags.*         validation and feature flags
  json.*  weir.*           JSON, connections (weir.connect), throwaway clusters (weir.cluster)
  SELECT ... ;             SQL (not Lua) runs as SQL up to a line ending in ";"

help(ddl)                  the functions of a module
help(ddl.add_column)       a function's signature and description (also \help ddl.add_column)
\h SELECT                  SQL syntax; \? lists the meta-commands; \q or Ctrl-D quits.
]]

---The overview `help` prints.
function M.overview() return string.format(OVERVIEW, weir.version) end

-- The modules help knows, each with the grammar file declaring it and the name its functions
-- are declared under there (db's methods are Connection's).
local MODULES = {
  db = { file = "db", owner = "Connection" }, weir = { file = "weir", owner = "weir" },
  json = { file = "json", owner = "json" }, schema = { file = "schema", owner = "schema" },
  ddl = { file = "ddl", owner = "ddl" }, copy = { file = "copy", owner = "copy" },
  ids = { file = "ids", owner = "ids" }, flags = { file = "flags", owner = "flags" },
  check = { file = "check", owner = "check" }, sql = { file = "sql", owner = "sql" },
}
local GLOBALS = { migration = "migration", phase = "migration" }

local grammar_of -- the terminal's grammar(name), set by lookup/help callers through `use`
local cache = {}

-- The declarations of grammar/NAME.lua: "owner.name" / "owner:name" / "name" -> { params, doc }.
local function declarations(file)
  if cache[file] then return cache[file] end
  local text = grammar_of and grammar_of(file)
  if not text then error("help: weir was built without grammar/" .. file .. ".lua", 0) end
  local entries, doc = {}, {}
  for line in (text .. "\n"):gmatch("(.-)\n") do
    if line:match("^%-%-%-") then
      doc[#doc + 1] = line:sub(4)
    else
      local owner, sep, name, params = line:match("^function ([%w_]+)([.:])([%w_]+)(%b())")
      if owner then
        entries[owner .. sep .. name] = { params = params, doc = doc }
      else
        local global, gparams = line:match("^function ([%w_]+)(%b())")
        if global then entries[global] = { params = gparams, doc = doc } end
      end
      doc = {}
    end
  end
  cache[file] = entries
  return entries
end

-- A declaration as help shows it: the signature (-> what it returns), its description, its
-- parameters.
local function describe(shown, entry)
  local text, params, returns = {}, {}, {}
  for _, l in ipairs(entry.doc) do
    local p = l:match("^@param%s+(.*)$")
    local r = l:match("^@return%s+(.*)$")
    if p then
      local name, rest = p:match("^(%S+)%s*(.*)$")
      params[#params + 1] = "  " .. name .. ": " .. rest
    elseif r then
      returns[#returns + 1] = r
    elseif not l:match("^@") then
      text[#text + 1] = "  " .. l:gsub("^ ", "")
    end
  end
  local sig = shown .. entry.params
  if #returns > 0 then
    local types = {}
    for i, r in ipairs(returns) do types[i] = r:match("^(%S+)") end
    sig = sig .. " -> " .. table.concat(types, ", ")
  end
  local out = { sig }
  for _, l in ipairs(text) do out[#out + 1] = l end
  if #params > 0 then
    out[#out + 1] = ""
    for _, p in ipairs(params) do out[#out + 1] = p end
  end
  for _, r in ipairs(returns) do out[#out + 1] = "  returns: " .. r end
  return table.concat(out, "\n") .. "\n"
end

-- Help on module `mod`: one line a function, its description's first sentence.
local function module_help(mod)
  local m = MODULES[mod]
  local entries = declarations(m.file)
  local names = {}
  for key in pairs(entries) do
    local owner, sep, name = key:match("^([%w_]+)([.:])([%w_]+)$")
    if owner == m.owner then names[#names + 1] = { shown = mod .. (mod == "db" and sep or ".") .. name, key = key } end
  end
  table.sort(names, function(a, b) return a.shown < b.shown end)
  local out = { mod .. ": help(" .. mod .. ".NAME) for one of these" }
  for _, n in ipairs(names) do
    local first = ""
    for _, l in ipairs(entries[n.key].doc) do
      if not l:match("^@") then
        first = l:gsub("^ ", ""):match("^(.-%.)%s") or l:gsub("^ ", "")
        break
      end
    end
    out[#out + 1] = string.format("  %-28s %s", n.shown .. entries[n.key].params:gsub("%b()", "()"), first)
  end
  return table.concat(out, "\n") .. "\n"
end

-- Help on a name as typed: "ddl.add_column", "db:query", "db.query", "ddl", "migration".
local function name_help(name)
  local mod, sep, fn = name:match("^([%w_]+)([.:])([%w_]+)$")
  if not mod then
    if MODULES[name] then return module_help(name) end
    if GLOBALS[name] then
      local e = declarations(GLOBALS[name])[name]
      if e then return describe(name, e) end
    end
    return nil
  end
  local m = MODULES[mod]
  if not m then return nil end
  local entries = declarations(m.file)
  local e = entries[m.owner .. ":" .. fn] or entries[m.owner .. "." .. fn]
  if not e then return nil end
  local method = entries[m.owner .. ":" .. fn] ~= nil
  return describe(mod .. (method and ":" or ".") .. fn, e)
end

-- The name of a function or module value: ddl.add_column, db:query …
local function name_of(v)
  for mod in pairs(MODULES) do
    local t = mod == "sql" and require("sql") or rawget(_G, mod)
    if t == v then return mod end
    if mod == "db" and type(t) == "userdata" then t = getmetatable(t).__index end
    if type(t) == "table" then
      for k, f in pairs(t) do
        if f == v then return mod .. (mod == "db" and ":" or ".") .. k end
      end
    end
  end
  for g in pairs(GLOBALS) do
    if rawget(_G, g) == v then return g end
  end
  return nil
end

---The functions grammar/FILE.lua declares as `owner.name` (called with a dot, not methods).
function M.dot_functions(file, owner)
  local out = {}
  local ok, entries = pcall(declarations, file)
  if not ok then return out end
  for key in pairs(entries) do
    local o, name = key:match("^([%w_]+)%.([%w_]+)$")
    if o == owner then out[name] = true end
  end
  return out
end

---Sets where grammar files come from (the REPL's terminal.grammar).
function M.use(terminal) grammar_of = terminal and terminal.grammar end

---The global `help` of a REPL session: help() the overview; help(ddl.add_column),
---help("db:query") or help(ddl) what grammar/ says about it.
function M.help(v)
  local text
  if v == nil then
    text = M.overview()
  else
    local name = type(v) == "string" and v or name_of(v)
    text = name and name_help(name)
    if not text then
      error("help: no help on " .. (type(v) == "string" and v or tostring(v)) ..
            " (try help(ddl), help(db.query), \\h SELECT)", 2)
    end
  end
  io.write(text)
end

---\h and \help: weir's own functions (`\help ddl.add_column`, `\help db`), else SQL syntax
---(`\h SELECT`, `\h alter table`), else what neither knows.
function M.lookup(arg, terminal)
  M.use(terminal)
  if arg and (arg:find("[.:]") or (MODULES[arg] and arg ~= "copy") or GLOBALS[arg]) then
    local text = name_help(arg)
    if text then return text end
  end
  local conn = rawget(_G, "db")
  local text, err = terminal.sql_help(arg or "", type(conn) == "userdata" and conn or nil)
  if not text and arg and name_help(arg) then return name_help(arg) end
  if not text then error(err, 0) end
  return text
end

return M
