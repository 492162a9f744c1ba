-- Tab completion for `weir repl` (stdlib/repl.lua calls it for cmd_repl.cpp): meta-command
-- names, SQL (stdlib/repl_complete_sql.lua: keywords in context, relations, columns through
-- aliases, functions, types, enum labels), Lua globals, keywords and fields, and file names after
-- \i and \copy … from|to. The names of the connected database are read once and cached until
-- reload. Pure lookups: nothing here prints.
local sqlc = require "repl_complete_sql"

local M = {}

local cache = nil -- { schemas, relations, columns, functions, types, enums }

local LUA_KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}

local function list(v) return v ~= json.null and v or {} end

---The names of the connected database (cached; `true` reloads, `false` forgets them):
---schemas {name, q}, relations {schema, name, q, qschema, visible, columns = {name, q, type}},
---columns {name, q} (each name once), functions {schema, name, q, visible} (each once), types
---{schema, name, q, visible} and enums (type -> labels in order); q is the name as SQL needs it.
function M.names(reload)
  if reload == false then
    cache = nil
    return nil
  end
  if cache and not reload then return cache end
  local n = { schemas = {}, relations = {}, columns = {}, functions = {}, types = {}, enums = {} }
  local seen_col = {}
  for _, r in ipairs(db:query([[
SELECT n.nspname AS schema, pg_catalog.quote_ident(n.nspname) AS qschema,
       c.relname AS name, pg_catalog.quote_ident(c.relname) AS q,
       pg_catalog.pg_table_is_visible(c.oid) AS visible,
       (SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       (SELECT pg_catalog.array_agg(pg_catalog.quote_ident(a.attname) ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS qcolumns,
       (SELECT pg_catalog.array_agg(a.atttypid::pg_catalog.regtype::pg_catalog.text ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS types
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema'
   AND n.nspname !~ '^pg_toast'
 ORDER BY 1, 3]])) do
    local rel = { schema = r.schema, qschema = r.qschema, name = r.name, q = r.q, visible = r.visible,
                  columns = {} }
    local qcols, types = list(r.qcolumns), list(r.types)
    for i, col in ipairs(list(r.columns)) do
      local c = { name = col, q = qcols[i], type = types[i] }
      rel.columns[#rel.columns + 1] = c
      if not seen_col[col] then
        seen_col[col] = true
        n.columns[#n.columns + 1] = c
      end
    end
    n.relations[#n.relations + 1] = rel
  end
  for _, r in ipairs(db:query([[
SELECT nspname AS name, pg_catalog.quote_ident(nspname) AS q FROM pg_catalog.pg_namespace
 WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' ORDER BY 1]])) do
    n.schemas[#n.schemas + 1] = { name = r.name, q = r.q }
  end
  -- functions and procedures (not aggregates' support functions alone: every name once a schema)
  for _, r in ipairs(db:query([[
SELECT DISTINCT n.nspname AS schema, p.proname AS name, pg_catalog.quote_ident(p.proname) AS q,
       pg_catalog.bool_or(pg_catalog.pg_function_is_visible(p.oid)) OVER (PARTITION BY n.nspname, p.proname) AS visible
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname <> 'information_schema' AND n.nspname !~ '^pg_toast'
   AND (n.nspname <> 'pg_catalog' OR p.proname ~ '^[a-z][a-z0-9_]*$')
 ORDER BY 1, 2]])) do
    n.functions[#n.functions + 1] = r
  end
  -- types as format_type names them (integer, timestamp with time zone) and by their own names
  -- (int4, timestamptz); not arrays nor the row types of tables
  for _, r in ipairs(db:query([[
SELECT n.nspname AS schema, pg_catalog.format_type(t.oid, NULL) AS name, t.typname,
       pg_catalog.quote_ident(t.typname) AS qtyp, pg_catalog.pg_type_is_visible(t.oid) AS visible
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE (t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid))
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid)
   AND t.typname !~ '^(_|pg_)' AND n.nspname <> 'information_schema' AND t.typtype <> 'p'
 ORDER BY 2]])) do
    local shown = r.visible and r.name or r.typname -- a type off the search_path is named after its schema
    n.types[#n.types + 1] = { schema = r.schema, name = shown, q = r.visible and r.name or r.qtyp, visible = r.visible,
                              typname = r.typname, qtyp = r.qtyp }
    if r.typname ~= r.name and r.visible then -- int4, timestamptz: as typed, keywords too (timestamp)
      n.types[#n.types + 1] = { schema = r.schema, name = r.typname, visible = true,
                                q = r.typname:match("^[%l_][%l%d_]*$") and r.typname or r.qtyp }
    end
  end
  for _, r in ipairs(db:query([[
SELECT e.enumtypid::pg_catalog.regtype::pg_catalog.text AS type, e.enumlabel AS label
  FROM pg_catalog.pg_enum e ORDER BY 1, e.enumsortorder]])) do
    n.enums[r.type] = n.enums[r.type] or {}
    table.insert(n.enums[r.type], r.label)
  end
  cache = n
  return n
end

-- The names that start with `word`, each once.
local function add_matching(out, seen, word, names)
  for _, name in ipairs(names) do
    if name:sub(1, #word) == word and not seen[name] then
      seen[name] = true
      out[#out + 1] = name
    end
  end
end

-- ---- file names ---------------------------------------------------------------------------

local function is_dir(path)
  local f = io.open(path .. "/")
  if f then f:close() end
  return f ~= nil
end

-- Files and directories (with a trailing /) whose path starts with `typed`; in single quotes
-- (`'` typed first, as \copy takes a file name) when `quote`.
local function file_candidates(typed, quote)
  local dir, base = typed:match("^(.*/)([^/]*)$")
  if not dir then dir, base = "", typed end
  local names = weir.list_dir(dir == "" and "." or dir) or {}
  local out = {}
  for _, name in ipairs(names) do
    if name:sub(1, #base) == base and (name:sub(1, 1) ~= "." or base:sub(1, 1) == ".") then
      local path = dir .. name
      local d = is_dir(path)
      if d then path = path .. "/" end
      if quote or path:find("[%s']") then
        out[#out + 1] = "'" .. path:gsub("'", "''") .. (d and "" or "'")
      else
        out[#out + 1] = path
      end
    end
  end
  return out
end

-- \copy's argument up to the cursor: what is being typed there. Gives "file", the file name
-- typed so far and "from" or "to"; "relations" (the table); "sql" (inside the query's or the
-- column list's parentheses); or nil.
local function copy_part(arg)
  local words, depth, i, n = {}, 0, 1, #arg
  local cur -- the word being scanned: { at, depth }
  while i <= n do
    local c = arg:sub(i, i)
    if c:match("%s") and depth == 0 then
      cur = nil
      i = i + 1
    else
      if not cur then
        cur = { at = i }
        words[#words + 1] = cur
      end
      if c == "'" or c == '"' then
        i = (arg:find(c, i + 1, true) or n) + 1
      else
        if c == "(" then depth = depth + 1 elseif c == ")" and depth > 0 then depth = depth - 1 end
        i = i + 1
      end
    end
  end
  if depth > 0 then return "sql" end
  if not cur then words[#words + 1] = { at = n + 1 } end
  local w = words[#words]
  if #words == 1 then return "relations" end
  local prev = arg:sub(words[#words - 1].at, w.at - 1):match("^(%S+)")
  prev = prev and prev:lower()
  if #words >= 3 and (prev == "from" or prev == "to") then return "file", arg:sub(w.at), prev end
  return nil
end

-- ---- Lua --------------------------------------------------------------------------------

-- Where the Lua string left open at the end of `s` starts (its quote), and its quote; nil when
-- none is open.
local function open_lua_string(s)
  local i, n = 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c == "'" or c == '"' then
      local k = i + 1
      while k <= n and s:sub(k, k) ~= c do k = k + (s:sub(k, k) == "\\" and 2 or 1) end
      if k > n then return i, c end
      i = k + 1
    elseif s:match("^%[=*%[", i) then
      local eq = s:match("^%[(=*)%[", i)
      local k = s:find("]" .. eq .. "]", i, true)
      if not k then return i + #eq + 1, "[" end
      i = k + #eq + 2
    elseif s:sub(i, i + 1) == "--" then
      return nil
    else
      i = i + 1
    end
  end
  return nil
end

-- The value a Lua path evaluates to without running anything: names, `.field` and `[constant]`
-- from the globals, through tables and through the methods table of userdata; nil for anything
-- else (a call, an operator), so completion never runs code.
local function value_of(path)
  local v = _G
  local i, n = 1, #path
  local first = true
  while i <= n do
    local key, stop
    if first then
      key = path:match("^[%a_][%w_]*", i)
      stop = key and i + #key
    elseif path:sub(i, i) == "." then
      key = path:match("^[%a_][%w_]*", i + 1)
      stop = key and i + 1 + #key
    elseif path:sub(i, i) == "[" then
      local num = path:match("^%[%s*(%d+)%s*%]", i)
      local str, q
      if num then
        key, stop = tonumber(num), select(2, path:find("^%[%s*%d+%s*%]", i)) + 1
      else
        q, str = path:match("^%[%s*([\"'])([%w_ ]*)%1%s*%]", i)
        if str then key, stop = str, select(2, path:find("^%[%s*([\"'])[%w_ ]*%1%s*%]", i)) + 1 end
      end
    end
    if key == nil then return nil end
    first = false
    if type(v) == "table" then
      local mt = getmetatable(v)
      if mt and mt.__index and type(mt.__index) ~= "table" and rawget(v, key) == nil then return nil end
      v = v == _G and rawget(_G, key) or v[key]
    elseif type(v) == "userdata" then
      local mt = getmetatable(v)
      local index = type(mt) == "table" and mt.__index
      if type(index) ~= "table" then return nil end
      v = index[key]
    else
      return nil
    end
    if v == nil then return nil end
    i = stop
  end
  return v
end

-- Where the Lua expression that ends `s` starts: names, `.`, `:` and `[…]` back from the end;
-- nil when a call's `)` ends it.
local function lua_expr_start(s)
  local i = #s
  while i >= 1 do
    local c = s:sub(i, i)
    if c:match("[%w_.:]") then
      i = i - 1
    elseif c == "]" then
      local depth = 0
      repeat
        local ch = s:sub(i, i)
        if ch == "]" then depth = depth + 1 elseif ch == "[" then depth = depth - 1 end
        i = i - 1
      until depth == 0 or i < 1
    elseif c == ")" then
      return nil
    else
      break
    end
  end
  return i + 1
end

-- Fields offered after `expr.` (every string key) or `expr:` (methods: keys holding functions).
local function fields_of(path, sep)
  local v = value_of(path)
  local t = v
  if type(v) == "userdata" then
    local mt = getmetatable(v)
    t = type(mt) == "table" and type(mt.__index) == "table" and mt.__index or nil
  end
  local out = {}
  if type(t) ~= "table" or t == json.null then return out end
  -- a connection's value helpers (db.json, db.array …) are functions but no methods
  local helpers = {}
  if sep == ":" and type(v) == "userdata" and (getmetatable(v) or {}).__name == "weir.Connection" then
    helpers = require("repl_help").dot_functions("db", "Connection")
  end
  local function add(k, val)
    if type(k) == "string" and k:match("^[%a_][%w_]*$") and (sep == "." or (type(val) == "function" and not helpers[k])) then
      out[#out + 1] = k
    end
  end
  for k, val in pairs(t) do add(k, val) end
  -- a table's methods may come from its metatable's __index table (objects made with setmetatable)
  local mt = type(v) == "table" and getmetatable(v)
  if sep == ":" and type(mt) == "table" and type(mt.__index) == "table" then
    for k, val in pairs(mt.__index) do if t[k] == nil then add(k, val) end end
  end
  return out
end

-- Candidates for the whole text from `from` (1-based, in line) to the cursor, made relative
-- to libedit's word, which starts at `start` (0-based) and may begin before or after it.
local function relative(line, start, from, cands)
  local out = {}
  if from > start + 1 then
    local lead = line:sub(start + 1, from - 1)
    for _, c in ipairs(cands) do out[#out + 1] = lead .. c end
  else
    local typed = line:sub(from, start)
    for _, c in ipairs(cands) do
      if c:sub(1, #typed) == typed then out[#out + 1] = c:sub(#typed + 1) end
    end
  end
  return out
end

-- Which names a meta-command takes: \d and the relation lists a relation, \dn a schema.
local META_KIND = { d = "relations", dt = "relations", dv = "relations", dm = "relations",
  di = "relations", ds = "relations", dE = "relations", dp = "relations", z = "relations",
  dn = "schemas" }

-- The names, or nil when they cannot be read (no database).
local function names_or_nil()
  local ok, n = pcall(M.names)
  return ok and n or nil
end

-- Back from the cursor to the start of the statement being typed (after the last `;` outside
-- quotes and comments).
local function statement_start(s)
  local i, n, start = 1, #s, 1
  while i <= n do
    local c = s:sub(i, i)
    if c == "'" or c == '"' then
      local k = s:find(c, i + 1, true)
      if not k then return start end
      i = k + 1
    elseif s:sub(i, i + 1) == "--" then
      i = (s:find("\n", i, true) or n) + 1
    elseif c == ";" then
      start, i = i + 1, i + 1
    else
      i = i + 1
    end
  end
  return start
end

---Candidates for the word at [start, stop) of `line` (0-based offsets, as libedit gives: its
---word breaks at spaces, quotes and punctuation, so a candidate is what replaces that word).
---ctx: meta (meta-command names without "\\"), sql (an SQL chunk is being read), pending (a
---chunk is being read), pending_text (that chunk's lines), looks_like_sql (fn: whether text
---starts as SQL).
---@return string[] candidates, string append what follows a unique match
function M.complete(line, start, stop, ctx)
  local word = line:sub(start + 1, stop)
  local before = line:sub(1, start)
  local upto = line:sub(1, stop)
  local after = line:sub(stop + 1)
  local out, seen = {}, {}
  if before:match("^%s*$") and word:sub(1, 1) == "\\" then
    local names = {}
    for _, m in ipairs(ctx.meta) do names[#names + 1] = "\\" .. m end
    add_matching(out, seen, word, names)
    table.sort(out)
    return out, " "
  end
  local function finish(from, cands, append)
    if not from then return {}, "" end
    local rel = relative(line, start, from, cands)
    if #cands == 1 and cands[1]:match("[./(]$") then append = "" end
    return rel, append
  end
  local cmd, args = upto:match("^%s*\\(%S+)%s+()")
  if cmd then
    local base = cmd:gsub("[+S]+$", "")
    if cmd == "i" or cmd == "ir" or cmd == "o" then
      return finish(args, file_candidates(upto:sub(args), false), " ")
    elseif cmd == "copy" then
      local what, typed, dir = copy_part(upto:sub(args))
      if what == "file" then
        local cands = file_candidates(typed:gsub("^'", ""):gsub("''", "'"), typed:sub(1, 1) == "'")
        local std = dir == "from" and "stdin" or "stdout"
        if std:sub(1, #typed) == typed then cands[#cands + 1] = std end
        table.sort(cands)
        return finish(#upto - #typed + 1, cands, " ")
      elseif what == "relations" or what == "sql" then
        local cands, tok = sqlc.candidates(upto:sub(args), "", names_or_nil(), what == "relations" and "relations" or nil)
        return finish(tok and args + tok - 1, cands, " ")
      end
      return {}, ""
    elseif cmd == "h" or cmd == "help" or cmd == "sf" or cmd == "ef" or cmd == "df" or cmd == "dfS" then
      if cmd == "h" or cmd == "help" then return {}, "" end
    end
    local cands, tok = sqlc.candidates(upto:sub(args), "", names_or_nil(), META_KIND[base] or "all")
    return finish(tok and args + tok - 1, cands, " ")
  end
  if ctx.sql or (not ctx.pending and ctx.looks_like_sql(before)) then
    -- the lines of the statement read so far tell what came before (a FROM on an earlier line)
    local prefix = ctx.sql and ctx.pending_text and (ctx.pending_text .. "\n") or ""
    local text = prefix .. upto
    local from = statement_start(text)
    local cands, tok = sqlc.candidates(text:sub(from), after, names_or_nil())
    return finish(tok and tok + from - 1 - #prefix, cands, "")
  end
  local open = open_lua_string(upto)
  if open then
    local from = open + 1
    local cands, tok = sqlc.candidates(upto:sub(from), after:match("^[^\"'%]]*") or "", names_or_nil())
    return finish(tok and from + tok - 1, cands, "")
  end
  -- a field or method of the Lua expression ending at the cursor (`t.rows[1].`): libedit's word
  -- stops at brackets, so the expression is found here
  local expr_at = lua_expr_start(upto)
  if not expr_at then return {}, "" end -- a call's result: never run to complete it
  local path, sep, partial = upto:sub(expr_at):match("^(.*)([.:])([%w_]*)$")
  if path then
    if path == "" then return {}, "" end
    local names = fields_of(path, sep)
    table.sort(names)
    local cands = {}
    for _, k in ipairs(names) do
      if k:sub(1, #partial) == partial then cands[#cands + 1] = path .. sep .. k end
    end
    return finish(expr_at, cands, "")
  end
  -- a first word: Lua's globals and keywords, and the SQL a statement starts with
  if not ctx.pending and before:match("^%s*$") then
    local cands = sqlc.candidates(word, after, nil, "start")
    for _, c in ipairs(cands) do
      if not seen[c] then
        seen[c] = true
        out[#out + 1] = c
      end
    end
  end
  local globals = {}
  for k in pairs(_G) do
    if type(k) == "string" and k:match("^[%a_][%w_]*$") then globals[#globals + 1] = k end
  end
  table.sort(globals)
  add_matching(out, seen, word, globals)
  add_matching(out, seen, word, LUA_KEYWORDS)
  return out, ""
end

return M
