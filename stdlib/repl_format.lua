-- How the REPL shows Lua values: db:query results as tables for the C++ printer (the server's
-- text of each value, as psql shows it), other values pretty-printed (sorted keys, nesting,
-- cycles marked, db.NULL as NULL), and the display widths the error caret is placed by. Pure
-- functions from values to text; nothing here writes or queries. The tables themselves are
-- printed by interpreter/cli/repl_print.cpp in psql's formats.
local M = {}

local NULL = json.null

-- Types psql aligns to the right.
local NUMERIC = {
  int2 = true, int4 = true, int8 = true, float4 = true, float8 = true, numeric = true,
  oid = true, money = true, xid = true, xid8 = true, cid = true,
}
M.NUMERIC = NUMERIC

-- The terminal's measure of text (terminal.width from cmd_repl.cpp: wcwidth() of each
-- character), once the REPL has set it; until then one column a character.
local measure = nil

---Measures text with `fn(text [, at_least])` (the REPL's terminal.width) from now on.
function M.set_width(fn) measure = fn end

---The columns `s` takes on a terminal: 2 for CJK and most emoji, 0 for a combining mark (psql
---aligns by the same). `s` is text as printed: no tabs or control characters.
local function width(s, at_least)
  if not s:find("[\128-\255]") then return #s end
  if measure then return measure(s, at_least) end
  return utf8.len(s) or #s
end
M.width = width

---The columns libpq puts before the caret under `LINE n:` for the text `s` in front of an error
---position: as width, but every character at least 1 (a combining mark, a tab, a control
---character count 1, as libpq counts them).
function M.caret_width(s) return width(s, 1) end

-- PostgreSQL's text for an array value (as psql shows it): {1,2,"a b",NULL}.
local function array_text(v, null)
  local parts = {}
  for i = 1, #v do
    local e = v[i]
    if type(e) == "table" and e ~= NULL then
      parts[i] = array_text(e, null)
    elseif e == NULL then
      parts[i] = "NULL"
    else
      local s = type(e) == "boolean" and (e and "t" or "f") or tostring(e)
      if s == "" or s:find('[%s,{}"\\]') or s:upper() == "NULL" then
        s = '"' .. s:gsub('[\\"]', "\\%0") .. '"'
      end
      parts[i] = s
    end
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

---The text of one query value in a table cell, as psql prints it.
---@param v any
---@param typ string the column's type name (pg_type spelling)
---@param null string what NULL shows as
function M.cell(v, typ, null)
  if v == NULL or v == nil then return null end
  local t = type(v)
  if t == "boolean" then return v and "t" or "f" end
  if t == "table" then
    if typ and typ:sub(1, 1) == "_" then return array_text(v, null) end
    return json.encode(v)
  end
  if typ == "bytea" then
    return "\\x" .. (v:gsub(".", function(c) return string.format("%02x", c:byte()) end))
  end
  if t == "number" and math.type(v) == "float" then
    if v ~= v then return "NaN" end
    if v == math.huge then return "Infinity" end
    if v == -math.huge then return "-Infinity" end
    for digits = 15, 17 do
      local s = string.format("%." .. digits .. "g", v)
      if tonumber(s) == v then return s end
    end
  end
  return tostring(v)
end

---A db:query result (rows keyed by column name, and its columns) as a table for the REPL's
---printer (repl_print.hpp): each value as the server's text, numbers right-aligned as psql
---aligns them, NULL left for the printer to show as \pset null says.
---@param rows table[]
---@param columns {name: string, type: string}[]
function M.result(rows, columns)
  local headers, right, cells = {}, {}, {}
  for c, col in ipairs(columns) do
    headers[c] = col.name
    right[c] = NUMERIC[col.type] or false
  end
  for r, row in ipairs(rows) do
    local line = {}
    for c, col in ipairs(columns) do
      local v = row[col.name]
      line[c] = (v == nil or v == NULL) and NULL or M.cell(v, col.type)
    end
    cells[r] = line
  end
  return { headers = headers, right = right, rows = cells }
end

local IDENT = "^[%a_][%w_]*$"
local KEYWORDS = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do KEYWORDS[w] = true end

local function key_text(k)
  if type(k) == "string" and k:match(IDENT) and not KEYWORDS[k] then return k end
  if type(k) == "string" then return "[" .. string.format("%q", k) .. "]" end
  return "[" .. tostring(k) .. "]"
end

local function sorted_keys(t)
  local keys = {}
  local n = #t
  for k in pairs(t) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    if ta == "string" or ta == "number" then return a < b end
    return tostring(a) < tostring(b)
  end)
  return keys, n
end

local function scalar(v)
  if v == NULL then return "NULL" end
  if type(v) == "string" then return (string.format("%q", v):gsub("\\\n", "\\n")) end
  return tostring(v)
end

-- Text of `v` at `indent`, never wider than about 100 columns when it can help it.
local function pretty(v, indent, seen)
  if type(v) ~= "table" or v == NULL then return scalar(v) end
  local mt = getmetatable(v)
  if type(mt) == "table" and mt.__tostring then return tostring(v) end
  if seen[v] then return "<cycle: " .. tostring(v) .. ">" end
  seen[v] = true
  local keys, n = sorted_keys(v)
  local items = {}
  for i = 1, n do items[#items + 1] = pretty(v[i], indent .. "  ", seen) end
  for _, k in ipairs(keys) do
    items[#items + 1] = key_text(k) .. " = " .. pretty(v[k], indent .. "  ", seen)
  end
  seen[v] = nil
  if #items == 0 then return "{}" end
  local flat = "{ " .. table.concat(items, ", ") .. " }"
  if #flat + #indent <= 100 and not flat:find("\n") then return flat end
  return "{\n" .. indent .. "  " .. table.concat(items, ",\n" .. indent .. "  ") .. "\n" .. indent .. "}"
end

---A Lua value as the REPL prints it: strings as they are at the top level, tables
---pretty-printed with sorted keys (cycles shown as <cycle: …>), db.NULL as NULL.
function M.value(v)
  if type(v) == "string" then return v end
  return pretty(v, "", {})
end

return M
