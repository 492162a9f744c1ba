-- Tab completion for `weir repl` (stdlib/repl.lua calls it for cmd_repl.cpp): meta-command
-- names, Lua globals, keywords and fields, and the names of the connected database (cached
-- until reload). Pure lookups: nothing here prints.
local M = {}

local cache = nil -- { schemas, relations, columns }

local LUA_KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}

---The names of the connected database (cached; `true` reloads, `false` forgets them).
function M.names(reload)
  if reload == false then
    cache = nil
    return nil
  end
  if cache and not reload then return cache end
  local n = { schemas = {}, relations = {}, columns = {} }
  local seen_col = {}
  for _, r in ipairs(db:query([[
SELECT n.nspname AS schema, c.relname AS name, pg_catalog.pg_table_is_visible(c.oid) AS visible,
       (SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema'
   AND n.nspname !~ '^pg_toast'
 ORDER BY 1, 2]])) do
    if r.visible then n.relations[#n.relations + 1] = r.name end
    n.relations[#n.relations + 1] = r.schema .. "." .. r.name
    for _, col in ipairs(r.columns ~= json.null and r.columns or {}) do
      if not seen_col[col] then
        seen_col[col] = true
        n.columns[#n.columns + 1] = col
      end
    end
  end
  for _, r in ipairs(db:query([[
SELECT nspname FROM pg_catalog.pg_namespace
 WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' ORDER BY 1]])) do
    n.schemas[#n.schemas + 1] = r.nspname
  end
  cache = n
  return n
end


local function add_matching(out, seen, word, list, suffix)
  for _, name in ipairs(list) do
    local cand = name .. (suffix or "")
    if cand:sub(1, #word) == word and not seen[cand] then
      seen[cand] = true
      out[#out + 1] = cand
    end
  end
end

local function keys_of(t)
  local out = {}
  if type(t) == "table" then
    for k in pairs(t) do
      if type(k) == "string" and k:match("^[%a_][%w_]*$") then out[#out + 1] = k end
    end
  end
  return out
end

local function sql_names(out, seen, word)
  local ok, n = pcall(M.names)
  if not ok then return end
  add_matching(out, seen, word, n.relations)
  add_matching(out, seen, word, n.schemas, ".")
  add_matching(out, seen, word, n.columns)
end

-- Fields offered after `expr.` or `expr:`: a table's keys, a connection's methods.
local function fields_of(path)
  local v = _G
  for part in path:gmatch("[^.:]+") do
    if type(v) ~= "table" and type(v) ~= "userdata" then return {} end
    local ok, nv = pcall(function() return v[part] end)
    if not ok or nv == nil then return {} end
    v = nv
  end
  if type(v) == "userdata" then
    local mt = getmetatable(v)
    local index = type(mt) == "table" and mt.__index
    return keys_of(type(index) == "table" and index or nil)
  end
  return keys_of(v)
end

---Candidates for the word at [start, stop) of `line` (0-based offsets, as libedit gives).
---ctx: meta (meta-command names without "\\"), sql (an SQL chunk is being read), pending (a
---chunk is being read), looks_like_sql (fn: whether text starts as SQL).
---@return string[] candidates, string append what follows a unique match
function M.complete(line, start, stop, ctx)
  local word = line:sub(start + 1, stop)
  local before = line:sub(1, start)
  local out, seen = {}, {}
  if before:match("^%s*$") and word:sub(1, 1) == "\\" then
    local names = {}
    for _, m in ipairs(ctx.meta) do names[#names + 1] = "\\" .. m end
    add_matching(out, seen, word, names)
    table.sort(out)
    return out, " "
  end
  local in_string = select(2, before:gsub("'", "")) % 2 == 1 or select(2, before:gsub('"', "")) % 2 == 1
  if before:match("^%s*\\") or in_string or ctx.sql or (not ctx.pending and ctx.looks_like_sql(before)) then
    sql_names(out, seen, word)
    table.sort(out)
    return out, before:match("^%s*\\") and " " or ""
  end
  local path, sep, partial = word:match("^(.*)([.:])([%w_]*)$")
  if path then
    local names = fields_of(path)
    table.sort(names)
    for _, k in ipairs(names) do
      if k:sub(1, #partial) == partial then out[#out + 1] = path .. sep .. k end
    end
    return out, ""
  end
  local globals = keys_of(_G)
  table.sort(globals)
  add_matching(out, seen, word, globals)
  add_matching(out, seen, word, LUA_KEYWORDS)
  return out, ""
end


return M
