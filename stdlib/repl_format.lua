-- How the REPL prints: psql's aligned and expanded tables (title, centred headers, numbers
-- right-aligned, multi-line cells marked with "+", footers, a row count) and Lua values
-- pretty-printed (sorted keys, nesting, cycles marked, db.NULL as NULL). Pure functions from
-- values to text; nothing here writes or queries.
local M = {}

local NULL = json.null

-- Types psql aligns to the right.
local NUMERIC = {
  int2 = true, int4 = true, int8 = true, float4 = true, float8 = true, numeric = true,
  oid = true, money = true, xid = true, cid = true,
}

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

local function pad(s, n)
  return s .. string.rep(" ", n - width(s))
end

-- Bytes that do not print as themselves: control characters but the newline, and 0xC2 (the
-- lead byte of U+0080 to U+009F, the C1 controls).
local SPECIAL = "[%z\1-\9\11-\31\127\194]"

-- One line of a value as psql prints it (mbprint.c's pg_wcsformat): a tab becomes spaces up to
-- the next multiple of 8 columns, a carriage return shows as \r, another control character as
-- \x01 (\x7F for DEL), one of U+0080 to U+009F as \u0085.
local function visible(line)
  if not line:find(SPECIAL) then return line end
  local out, col, from, pos = {}, 0, 1, 1
  while true do
    local at = line:find(SPECIAL, pos)
    if not at then break end
    local b, b2 = line:byte(at, at + 1)
    local len, shown = 1, nil
    if b == 194 then
      if b2 and b2 >= 0x80 and b2 <= 0x9F then len, shown = 2, string.format("\\u%04X", b2) end
    elseif b == 9 then
      shown = "\t"
    elseif b == 13 then
      shown = "\\r"
    else
      shown = string.format("\\x%02X", b)
    end
    if shown then
      local text = line:sub(from, at - 1)
      col = col + width(text)
      if shown == "\t" then shown = string.rep(" ", 8 - col % 8) end
      out[#out + 1] = text
      out[#out + 1] = shown
      col = col + #shown
      from = at + len
    end
    pos = at + len
  end
  out[#out + 1] = line:sub(from)
  return table.concat(out)
end

-- The lines of a value (split at "\n" only: a "\r" before it shows, as in psql), each visible.
local function lines_of(text)
  local out = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do out[#out + 1] = visible(line) end
  return out
end

-- A cell as aligned() keeps it: the text itself when it is one plain line (most cells: no
-- table made), else its lines.
local function cell_lines(text)
  if not text:find("[\n%z\1-\31\127\194]") then return text end
  return lines_of(text)
end

-- A cell's text: NULL (db.NULL, or nothing) shows as `null`.
local function text_of(v, null)
  if v == nil or v == NULL then return null end
  return v
end

local function line_count(ls) return type(ls) == "string" and 1 or #ls end

local function line_at(ls, h)
  if type(ls) == "string" then return h == 1 and ls or nil end
  return ls[h]
end

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

---psql's aligned format with border 1.
---@param headers string[]
---@param rows string[][] cell texts
---@param opts {title?: string, right?: boolean[], footers?: string[], count?: boolean}
---@return string
function M.aligned(headers, rows, opts)
  opts = opts or {}
  local right = opts.right or {}
  local ncols = #headers
  local widths = {}
  local shown = {}  -- the headers as printed
  for c = 1, ncols do
    shown[c] = visible(headers[c])
    widths[c] = width(shown[c])
  end
  local null = opts.null or ""
  for _, row in ipairs(rows) do -- widths first; the cells are split again to print (no copy kept)
    for c = 1, ncols do
      local ls = cell_lines(text_of(row[c], null))
      for h = 1, line_count(ls) do
        local w = width(line_at(ls, h))
        if w > widths[c] then widths[c] = w end
      end
    end
  end
  local out = {}
  local total = 3 * ncols - 1
  for c = 1, ncols do total = total + widths[c] end
  if opts.title then
    local tw = width(visible(opts.title)) -- printed as it is, measured as psql does
    out[#out + 1] = (tw >= total and "" or string.rep(" ", (total - tw) // 2)) .. opts.title
  end
  local head, rule = {}, {}
  for c = 1, ncols do
    local space = widths[c] - width(shown[c])
    head[c] = string.rep(" ", space // 2) .. shown[c] .. string.rep(" ", (space + 1) // 2)
    rule[c] = string.rep("-", widths[c] + 2)
  end
  out[#out + 1] = " " .. table.concat(head, " | ") .. " "
  out[#out + 1] = table.concat(rule, "+")
  local parts, cells = {}, {}
  for r = 1, #rows do
    local row = rows[r]
    for c = 1, ncols do cells[c] = cell_lines(text_of(row[c], null)) end
    local height = 1
    for c = 1, ncols do
      local n = line_count(cells[c])
      if n > height then height = n end
    end
    for h = 1, height do
      for c = 1, ncols do
        local ls = cells[c]
        local line = line_at(ls, h)
        local text = line or ""
        local more = h < line_count(ls) -- this cell continues on the next line
        local s
        if c == ncols and not line then
          s = ""  -- past the last column's own lines: psql pads nothing
        elseif right[c] then
          s = string.rep(" ", widths[c] - width(text)) .. text
        elseif c < ncols or more then
          s = pad(text, widths[c])
        else
          s = text
        end
        if c < ncols then
          s = s .. (more and "+" or " ")
        elseif more then
          s = s .. "+"
        end
        parts[c] = s
      end
      out[#out + 1] = " " .. table.concat(parts, "| ")
    end
  end
  for _, f in ipairs(opts.footers or {}) do out[#out + 1] = f end
  if opts.count then
    out[#out + 1] = #rows == 1 and "(1 row)" or ("(" .. #rows .. " rows)")
  end
  return table.concat(out, "\n") .. "\n\n"
end

---psql's expanded format (\x): one block per record.
---@param headers string[]
---@param rows string[][]
---@return string
function M.expanded(headers, rows, opts)
  opts = opts or {}
  if #rows == 0 then return "(0 rows)\n\n" end
  local null = opts.null or ""
  local hw, dw = 0, 0
  local shown = {}  -- the headers as printed
  for c, h in ipairs(headers) do
    shown[c] = visible(h)
    hw = math.max(hw, width(shown[c]))
  end
  for _, row in ipairs(rows) do
    for c = 1, #headers do
      for _, l in ipairs(lines_of(text_of(row[c], null))) do dw = math.max(dw, width(l)) end
    end
  end
  local out = {}
  if opts.title then out[#out + 1] = opts.title end
  for r, row in ipairs(rows) do
    -- "-[ RECORD n ]" then rules to the header's and the data's width, as psql draws them.
    local label = "-[ RECORD " .. r .. " ]"
    local line = label
    local len = #label -- psql counts "[ RECORD n ]" and one rule character
    if len < hw then line = line .. string.rep("-", hw - len) end
    len = len - hw
    for _, piece in ipairs { "-", "+", "-" } do
      if len <= 0 then line = line .. piece end
      len = len - 1
    end
    if len < 0 then len = 0 end
    if len < dw then line = line .. string.rep("-", dw - len) end
    out[#out + 1] = line
    for c, h in ipairs(shown) do
      local ls = lines_of(text_of(row[c], null))
      for i, l in ipairs(ls) do
        -- a value of several lines: each but the last padded and marked with "+" after it
        out[#out + 1] = pad(i == 1 and h or "", hw) .. " | " .. (i < #ls and pad(l, dw) .. "+" or l)
      end
    end
  end
  return table.concat(out, "\n") .. "\n\n"
end

---A query result (db:query's rows and columns) as text.
---@param rows table[]
---@param columns {name: string, type: string}[]
---@param opts {expanded?: boolean, null?: string, title?: string, text?: boolean} text: the
---values are the server's text already (from db:query_text)
function M.result(rows, columns, opts)
  local headers, right, cells = {}, {}, {}
  for c, col in ipairs(columns) do
    headers[c] = col.name
    right[c] = NUMERIC[col.type] or false
  end
  if opts.text then
    -- db:query_text rows are the server's texts by position already: printed as they are, no
    -- copy (a large result stays one copy in memory); NULL shows as opts.null
    cells = rows
  else
    for r, row in ipairs(rows) do
      local line = {}
      for c, col in ipairs(columns) do line[c] = M.cell(row[col.name], col.type, opts.null) end
      cells[r] = line
    end
  end
  if opts.expanded then return M.expanded(headers, cells, opts) end
  return M.aligned(headers, cells, { title = opts.title, right = right, count = true, null = opts.null })
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
