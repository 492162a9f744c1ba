-- Tab completion for `weir repl` (stdlib/repl.lua calls it for cmd_repl.cpp): meta-command
-- names, Lua globals, keywords and fields, the names of the connected database (cached until
-- reload) written as SQL needs them, and file names after \i and \copy … from|to. Pure
-- lookups: nothing here prints.
local M = {}

local cache = nil -- { schemas, relations, columns }

local LUA_KEYWORDS = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}

local function list(v) return v ~= json.null and v or {} end

---The names of the connected database (cached; `true` reloads, `false` forgets them):
---schemas {name, q}, relations {schema, name, q, qschema, visible, columns}, columns {name, q}
---(each column name once); q is the name as SQL needs it (quote_ident).
function M.names(reload)
  if reload == false then
    cache = nil
    return nil
  end
  if cache and not reload then return cache end
  local n = { schemas = {}, relations = {}, columns = {} }
  local seen_col = {}
  for _, r in ipairs(db:query([[
SELECT n.nspname AS schema, pg_catalog.quote_ident(n.nspname) AS qschema,
       c.relname AS name, pg_catalog.quote_ident(c.relname) AS q,
       pg_catalog.pg_table_is_visible(c.oid) AS visible,
       (SELECT pg_catalog.array_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns,
       (SELECT pg_catalog.array_agg(pg_catalog.quote_ident(a.attname) ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS qcolumns
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema'
   AND n.nspname !~ '^pg_toast'
 ORDER BY 1, 3]])) do
    local rel = { schema = r.schema, qschema = r.qschema, name = r.name, q = r.q, visible = r.visible,
                  columns = {} }
    local qcols = list(r.qcolumns)
    for i, col in ipairs(list(r.columns)) do
      local c = { name = col, q = qcols[i] }
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

local function keys_of(t)
  local out = {}
  if type(t) == "table" then
    for k in pairs(t) do
      if type(k) == "string" and k:match("^[%a_][%w_]*$") then out[#out + 1] = k end
    end
  end
  return out
end

-- Where the quoted text whose body starts at `j` in `s` closes: the first match of `pat` that
-- does not begin the escape `esc` (two characters, skipped: `""` in an SQL name, `\x` in a Lua
-- string); nil when the text is still open at the end of `s`.
local function closing_quote(s, j, pat, esc)
  while true do
    local k = s:find(pat, j)
    if not k then return nil end
    if s:sub(k, k + #esc - 1) ~= esc then return k end
    j = k + 2
  end
end

-- ---- SQL names ----------------------------------------------------------------------------

-- Where the (possibly qualified, possibly quoted) name being typed at the end of SQL text `s`
-- starts; nil inside a string literal.
local function name_start(s)
  local i, n, tok = 1, #s, 1
  while i <= n do
    local c = s:sub(i, i)
    if c == "'" then
      local j = s:find("'", i + 1, true)
      if not j then return nil end
      i, tok = j + 1, j + 1
    elseif c == '"' then
      if i > tok and s:sub(i - 1, i - 1) ~= "." then tok = i end
      local k = closing_quote(s, i + 1, '"', '""')
      if not k then return tok end -- the name ends open, in quotes
      i = k + 1
    elseif c:match("[%w_$.\128-\255]") then
      i = i + 1
    else
      i, tok = i + 1, i + 1
    end
  end
  return tok
end

-- The parts of a typed name: { text (unquoted, "" unescaped), quoted, at (offset in t) }; nil
-- when it is not one (`"a"b`).
local function split_name(t)
  local parts, i = {}, 1
  while true do
    local part = { at = i }
    if t:sub(i, i) == '"' then
      local j, buf = i + 1, {}
      i = #t + 1
      while true do
        local k = t:find('"', j, true)
        if not k then
          buf[#buf + 1] = t:sub(j)
          break
        end
        buf[#buf + 1] = t:sub(j, k - 1)
        if t:sub(k + 1, k + 1) ~= '"' then
          i = k + 1
          break
        end
        buf[#buf + 1] = '"'
        j = k + 2
      end
      part.text, part.quoted = table.concat(buf), true
    else
      local k = t:find(".", i, true) or (#t + 1)
      part.text, part.quoted = t:sub(i, k - 1), false
      i = k
    end
    parts[#parts + 1] = part
    if i > #t then return parts end
    if t:sub(i, i) ~= "." then return nil end
    i = i + 1
    if i > #t then
      parts[#parts + 1] = { at = i, text = "", quoted = false }
      return parts
    end
  end
end

-- A name typed as a qualifier names `name` (case-sensitively as typed; unquoted, also as
-- PostgreSQL folds it).
local function names_it(part, name)
  return part.text == name or (not part.quoted and part.text:lower() == name)
end

local function quoted(name) return '"' .. name:gsub('"', '""') .. '"' end

local CLAUSE = {}
for w in ([[select from where join on using set group order having limit offset values returning
  into update table truncate only with window union intersect except]]):gmatch("%a+") do
  CLAUSE[w] = true
end

-- After these a relation is named.
local RELATION_BEFORE = { from = true, join = true, into = true, update = true, table = true,
  truncate = true, only = true }

-- Which names fit at the end of SQL text `before` (up to the name being typed): "relations"
-- after FROM, JOIN, INTO, UPDATE, TABLE (and after a comma in a FROM list), else "all".
local function sql_kind(before)
  local prev = before:match("([%a_]+)%s*$")
  if prev and before:match("%s$") and RELATION_BEFORE[prev:lower()] then return "relations" end
  if before:match(",%s*$") then
    local last
    for w in before:gmatch("[%a_]+") do
      if CLAUSE[w:lower()] then last = w:lower() end
    end
    if last == "from" then return "relations" end
  end
  return "all"
end

-- Candidates for SQL text `s` (its name being typed ends it) of kind "all", "relations" or
-- "schemas": each the whole name as SQL needs it. Also gives where that name starts in `s`.
local function sql_candidates(s, kind)
  local tok = name_start(s)
  if not tok then return {}, nil end
  if kind == nil then kind = sql_kind(s:sub(1, tok - 1)) end
  local parts = split_name(s:sub(tok))
  local ok, n = pcall(M.names)
  if not parts or not ok then return {}, tok end
  local last = parts[#parts]
  local prefix = s:sub(tok, tok + last.at - 2) -- the qualifiers, as typed
  local out, seen = {}, {}
  local function offer(name, q, suffix)
    if name:sub(1, #last.text) ~= last.text then return end
    local cand = prefix .. (last.quoted and quoted(name) or q) .. (suffix or "")
    if not seen[cand] then
      seen[cand] = true
      out[#out + 1] = cand
    end
  end
  if #parts == 1 then
    if kind ~= "schemas" then
      for _, r in ipairs(n.relations) do
        if r.visible then offer(r.name, r.q) end
      end
    end
    for _, sc in ipairs(n.schemas) do offer(sc.name, sc.q, ".") end
    if kind == "all" then
      for _, c in ipairs(n.columns) do offer(c.name, c.q) end
    end
  elseif #parts == 2 and kind ~= "schemas" then
    local q = parts[1]
    for _, r in ipairs(n.relations) do
      if names_it(q, r.schema) then offer(r.name, r.q) end
      if kind == "all" and r.visible and names_it(q, r.name) then
        for _, c in ipairs(r.columns) do offer(c.name, c.q) end
      end
    end
  elseif #parts == 3 and kind == "all" then
    for _, r in ipairs(n.relations) do
      if names_it(parts[1], r.schema) and names_it(parts[2], r.name) then
        for _, c in ipairs(r.columns) do offer(c.name, c.q) end
      end
    end
  end
  table.sort(out)
  return out, tok
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
      local k = closing_quote(s, i + 1, "[\\" .. c .. "]", "\\")
      if not k then return i, c end
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
  di = "relations", ds = "relations", dn = "schemas" }

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
    if #cands == 1 and cands[1]:match("[./]$") then append = "" end
    return rel, append
  end
  local cmd, args = upto:match("^%s*\\(%S+)%s+()")
  if cmd then
    local base = cmd:gsub("[+S]+$", "")
    if cmd == "i" then
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
        local cands, tok = sql_candidates(upto:sub(args), what == "relations" and "relations" or nil)
        return finish(tok and args + tok - 1, cands, " ")
      end
      return {}, ""
    end
    local cands, tok = sql_candidates(upto:sub(args), META_KIND[base] or "all")
    return finish(tok and args + tok - 1, cands, " ")
  end
  if ctx.sql or (not ctx.pending and ctx.looks_like_sql(before)) then
    -- the lines of the statement read so far tell what came before (a FROM on an earlier line)
    local prefix = ctx.sql and ctx.pending_text and (ctx.pending_text .. "\n") or ""
    local cands, tok = sql_candidates(prefix .. upto)
    return finish(tok and tok - #prefix, cands, "")
  end
  local open = open_lua_string(upto)
  if open then
    local from = open + 1
    local cands, tok = sql_candidates(upto:sub(from))
    return finish(tok and from + tok - 1, cands, "")
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
