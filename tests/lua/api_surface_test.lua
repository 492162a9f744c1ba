-- The API exported to Lua must be exactly what grammar/ declares: a function exported but not
-- declared, or declared but not exported, fails here.
local T = require "testing"
local read = T.read

local src = assert(os.getenv "WEIR_SOURCE_DIR", "WEIR_SOURCE_DIR")

-- Declarations: `function Owner:name(`, `function Owner.name(`, `Owner.name =`.
local function declared(file, owner)
  local names = {}
  for line in read(src .. "/grammar/" .. file):gmatch("[^\n]+") do
    local o, n = line:match("^function ([%w_]+)[:.]([%w_]+)%(")
    if not o then o, n = line:match("^([%w_]+)%.([%w_]+) =") end
    if o == owner then names[n] = true end
  end
  return names
end

local function exported(t)
  local names = {}
  for k in pairs(t) do names[k] = true end
  return names
end

local function compare(kind, actual, declared_names)
  local missing, stale = {}, {}
  for n in pairs(actual) do if not declared_names[n] then missing[#missing + 1] = n end end
  for n in pairs(declared_names) do if not actual[n] then stale[#stale + 1] = n end end
  table.sort(missing)
  table.sort(stale)
  T.eq(missing, {}, kind .. " exported but not declared in grammar/")
  T.eq(stale, {}, kind .. " declared in grammar/ but not exported")
end

T.case("repl: the meta-commands \\? offers are the ones grammar/repl.lua declares", function()
  local declared_names = {}
  for name in read(src .. "/grammar/repl.lua"):gmatch("%-%-%-| '\\\\([^']+)'") do
    declared_names[name] = true
  end
  T.ok(next(declared_names) ~= nil, "grammar/repl.lua declares meta-commands")
  local offered = {}
  for _, name in ipairs(require("repl").meta_commands()) do offered[name] = true end
  compare("repl meta-command", offered, declared_names)
end)

T.case("db: every Connection method and helper is declared", function()
  local methods = getmetatable(db).__index
  compare("db", exported(methods), declared("db.lua", "Connection"))
end)

T.case("weir: every function and field is declared", function()
  compare("weir", exported(weir), declared("weir.lua", "weir"))
end)

T.case("json: every function and field is declared", function()
  compare("json", exported(json), declared("json.lua", "json"))
end)

T.case("check: every function is declared", function()
  compare("check", exported(check), declared("check.lua", "check"))
end)

T.case("flags: every function is declared", function()
  compare("flags", exported(flags), declared("flags.lua", "flags"))
end)

T.case("copy and ids: every function is declared", function()
  compare("copy", exported(copy), declared("copy.lua", "copy"))
  compare("ids", exported(ids), declared("ids.lua", "ids"))
end)

T.case("schema: every function is declared", function()
  compare("schema", exported(schema), declared("schema.lua", "schema"))
end)

T.case("ddl: every function is declared", function()
  compare("ddl", exported(ddl), declared("ddl.lua", "ddl"))
end)

T.case("online: every function is declared", function()
  compare("online", exported(online), declared("online.lua", "online"))
end)

T.case("sql: every function is declared", function()
  compare("sql", exported(require "sql"), declared("sql.lua", "sql"))
end)

T.case("the globals weir adds are declared, and no others exist", function()
  local text = ""
  for _, f in ipairs { "db.lua", "weir.lua", "json.lua", "ddl.lua", "migration.lua", "schema.lua", "copy.lua", "ids.lua", "flags.lua", "check.lua", "online.lua" } do
    text = text .. read(src .. "/grammar/" .. f)
  end
  local standard = {}
  for _, g in ipairs { "_G", "_VERSION", "assert", "collectgarbage", "coroutine", "dofile", "error",
    "getmetatable", "io", "ipairs", "load", "loadfile", "math", "next", "os", "package", "pairs",
    "pcall", "print", "rawequal", "rawget", "rawlen", "rawset", "require", "select", "setmetatable",
    "string", "table", "tonumber", "tostring", "type", "utf8", "warn", "xpcall" } do
    standard[g] = true
  end
  for g in pairs(_G) do
    if not standard[g] then
      T.ok(text:find("\n" .. g .. " = ", 1, true) or text:find("\nfunction " .. g .. "%(") ,
        "global " .. g .. " declared in grammar/")
    end
  end
end)

T.done()
