-- SQL text as `weir repl` reads it, the way psql's lexer does: whether a chunk is SQL (an SQL
-- keyword first, or a close misspelling of one), where it ends (a `;` outside quotes, comments
-- and dollar-quoted bodies), psql's variables in it (:name, :'name', :"name"), and which
-- statements can be read through a cursor. Pure functions of text; nothing here talks to a
-- database or prints.
local M = {}

-- The words an SQL statement starts with.
M.START = {}
for w in ([[abort alter analyze begin call checkpoint close cluster comment commit copy create
  deallocate declare delete discard do drop end execute explain fetch grant import insert listen
  load lock merge move notify prepare reassign refresh reindex release reset revoke rollback
  savepoint security select set show start table truncate unlisten update vacuum values with]]):gmatch("%a+") do
  M.START[w] = true
end

---Whether `chunk` starts with an SQL keyword.
function M.looks_like_sql(chunk)
  local first = chunk:match("^%s*(%a+)")
  return first ~= nil and M.START[first:lower()] == true
end

-- Whether two words are one edit apart: a letter left out, added, changed, or two swapped.
local function one_edit(a, b)
  if a == b then return false end
  local la, lb = #a, #b
  if math.abs(la - lb) > 1 then return false end
  local i = 1
  while i <= la and i <= lb and a:sub(i, i) == b:sub(i, i) do i = i + 1 end
  if la == lb then
    if a:sub(i + 1) == b:sub(i + 1) then return true end -- one letter changed
    return a:sub(i, i + 1) == b:sub(i + 1, i + 1) .. b:sub(i, i) and a:sub(i + 2) == b:sub(i + 2)
  end
  if la > lb then return a:sub(i + 1) == b:sub(i) end
  return a:sub(i) == b:sub(i + 1)
end

---The SQL keyword `word` is a misspelling of (one edit away, at least four letters), or nil.
function M.misspelled(word)
  word = word:lower()
  if #word < 4 or M.START[word] then return nil end
  for keyword in pairs(M.START) do
    if #keyword >= 4 and one_edit(word, keyword) then return keyword end
  end
  return nil
end

---Whether text that is not Lua is SQL: its first word is an SQL keyword or a close misspelling
---of one (`selct 1;` goes to the server, which says where the syntax error is).
function M.not_lua_is_sql(chunk)
  local first = chunk:match("^%s*([%a_][%w_]*)")
  return first ~= nil and (M.START[first:lower()] == true or M.misspelled(first) ~= nil)
end

-- The dollar-quote tag starting at i in s ($$, $body$), or nil; not inside a name like a$b$.
local function dollar_tag(s, i)
  if s:sub(i - 1, i - 1):match("[%w_$]") then return nil end
  return s:match("^(%$[%a_]?[%w_]*%$)", i)
end

---Reads SQL text as psql's lexer does, skipping quotes, comments and dollar-quoted bodies:
---returns whether the text ends inside one of them, the last significant character outside
---them, and where the first backslash outside them is (a meta-command ending the SQL).
function M.scan(chunk)
  local i, n, last, backslash = 1, #chunk, nil, nil
  local depth = 0 -- /* */ comments nest
  -- psql's heuristic for a function body of BEGIN ATOMIC … END: in CREATE [OR REPLACE]
  -- FUNCTION|PROCEDURE, outside parentheses, BEGIN (and CASE inside it) opens a block END
  -- closes, and a `;` inside one does not end the statement
  local words, parens, blocks = {}, 0, 0
  while i <= n do
    local c = chunk:sub(i, i)
    if depth > 0 then
      if chunk:sub(i, i + 1) == "*/" then depth, i = depth - 1, i + 1
      elseif chunk:sub(i, i + 1) == "/*" then depth, i = depth + 1, i + 1 end
    elseif chunk:sub(i, i + 1) == "/*" then
      depth, i = 1, i + 1
    elseif chunk:sub(i, i + 1) == "--" then
      i = (chunk:find("\n", i, true) or n + 1) - 1
    elseif c == "'" or c == '"' then
      -- E'…' strings take backslash escapes; every quoted text takes a doubled quote
      local escapes = c == "'" and (" " .. chunk:sub(1, i - 1)):match("[^%w_$][eE]$") ~= nil
      local j = i + 1
      while true do
        local ch = chunk:sub(j, j)
        if ch == "" then return true, last, backslash end
        if escapes and ch == "\\" then
          j = j + 1
        elseif ch == c then
          if chunk:sub(j + 1, j + 1) ~= c then break end
          j = j + 1
        end
        j = j + 1
      end
      i, last = j, c
    elseif c == "$" and dollar_tag(chunk, i) then
      local tag = dollar_tag(chunk, i)
      local close = chunk:find(tag, i + #tag, true)
      if not close then return true, last, backslash end
      i, last = close + #tag - 1, "$"
    elseif c == "\\" then
      backslash = i -- the rest is a meta-command
      break
    elseif c:match("[%a_\128-\255]") then
      local word = chunk:match("^[%w_$\128-\255]+", i):lower()
      if #words < 4 then words[#words + 1] = word end
      local w1, w2, w4 = words[1], words[2], words[4]
      local routine = w1 == "create" and (w2 == "function" or w2 == "procedure" or
                      (w2 == "or" and words[3] == "replace" and (w4 == "function" or w4 == "procedure")))
      if routine and parens == 0 then
        if word == "begin" or (word == "case" and blocks > 0) then
          blocks = blocks + 1
        elseif word == "end" and blocks > 0 then
          blocks = blocks - 1
        end
      end
      i, last = i + #word - 1, "w"
    elseif c == "(" or c == ")" then
      parens = math.max(0, parens + (c == "(" and 1 or -1))
      last = c
    elseif c == ";" then
      if parens == 0 and blocks == 0 then
        last, words = ";", {}
      else
        last = "w" -- inside a body: the statement goes on
      end
    elseif not c:match("%s") then
      last = c
    end
    i = i + 1
  end
  return depth > 0, last, backslash
end

---Whether SQL text ends with a `;` outside quotes, comments and dollar-quoted bodies (as psql
---decides when a statement is complete).
function M.complete(chunk)
  local inside, last = M.scan(chunk)
  return not inside and last == ";"
end

---Whether a new chunk is SQL before trying it as Lua: `begin;`, `select (1);` and `vacuum;`
---are valid Lua too, but a line starting with an SQL keyword means SQL unless what follows the
---word is Lua's (a field, a method, an index, an assignment, a string or table call, or a call
---not ended by `;`, as in `select('#', ...)`); `do` is SQL only with a body ($$ or ').
function M.prefers_sql(chunk)
  local first, after = chunk:match("^%s*([%a_][%w_]*)(.*)$")
  if not first or not M.START[first:lower()] then return false end
  if first:lower() == "do" then
    return after:match("^%s*[%$']") ~= nil or after:match("^%s+[Ll][Aa][Nn][Gg]") ~= nil
  end
  local next_char = after:match("^%s*(.?)")
  if next_char:find("^[.:%[=\"'{]") then return false end
  if next_char == "(" and not M.complete(chunk) then return false end
  return true
end

---psql's variables in SQL text: `:name` becomes the value, `:'name'` the value as a literal,
---`:"name"` as an identifier — outside quotes, comments and dollar-quoted bodies, never in a
---`::` cast; a name that is not set stays as typed. `quote` = {literal = fn, ident = fn}.
function M.interpolate(text, vars, quote)
  if not text:find(":", 1, true) then return text end
  local out, i, n, from = {}, 1, #text, 1
  local depth = 0
  local function replace(at, stop, value)
    out[#out + 1] = text:sub(from, at - 1)
    out[#out + 1] = value
    from = stop + 1
  end
  while i <= n do
    local c = text:sub(i, i)
    if depth > 0 then
      if text:sub(i, i + 1) == "*/" then depth, i = depth - 1, i + 1
      elseif text:sub(i, i + 1) == "/*" then depth, i = depth + 1, i + 1 end
    elseif text:sub(i, i + 1) == "/*" then
      depth, i = 1, i + 1
    elseif text:sub(i, i + 1) == "--" then
      i = (text:find("\n", i, true) or n + 1) - 1
    elseif c == "'" or c == '"' then
      local escapes = c == "'" and (" " .. text:sub(1, i - 1)):match("[^%w_$][eE]$") ~= nil
      local j = i + 1
      while j <= n do
        local ch = text:sub(j, j)
        if escapes and ch == "\\" then
          j = j + 1
        elseif ch == c then
          if text:sub(j + 1, j + 1) ~= c then break end
          j = j + 1
        end
        j = j + 1
      end
      i = j
    elseif c == "$" and dollar_tag(text, i) then
      local tag = dollar_tag(text, i)
      local close = text:find(tag, i + #tag, true)
      i = close and (close + #tag - 1) or n
    elseif c == ":" then
      if text:sub(i + 1, i + 1) == ":" then
        i = i + 1 -- a cast
      else
        local q, name = text:match("^([\"']?)([%w_\128-\255]+)", i + 1)
        local closes = name and (q == "" or text:sub(i + 1 + #q + #name, i + 1 + #q + #name) == q)
        if name and closes and vars[name] ~= nil then
          local value = vars[name]
          if q == "'" then value = quote.literal(value)
          elseif q == '"' then value = quote.ident(value) end
          local stop = i + #name + (q == "" and 0 or 2)
          replace(i, stop, value)
          i = stop
        end
      end
    end
    i = i + 1
  end
  if #out == 0 then return text end
  out[#out + 1] = text:sub(from)
  return table.concat(out)
end

local ESCAPES = { n = "\n", t = "\t", b = "\b", r = "\r", f = "\f" }

---The arguments of a meta-command as psql's backslash lexer splits them: at spaces outside
---quotes; 'single quotes' removed (with '' and the escapes \n \t \b \r \f \ooo \xhh inside);
---"double quotes" kept; :name, :'name' and :"name" replaced as in SQL (`quote` as for
---interpolate); `command` replaced by the command's output when `run` (a function) is given,
---an error otherwise.
function M.meta_args(text, vars, quote, run)
  local args, i, n = {}, 1, #text
  while true do
    i = text:find("%S", i)
    if not i then return args end
    local buf = {}
    while i <= n and not text:sub(i, i):match("%s") do
      local c = text:sub(i, i)
      if c == "'" then
        local j = i + 1
        while j <= n do
          local ch = text:sub(j, j)
          if ch == "'" then
            if text:sub(j + 1, j + 1) ~= "'" then break end
            buf[#buf + 1] = "'"
            j = j + 2
          elseif ch == "\\" and j < n then
            local e = text:sub(j + 1, j + 1)
            local oct = text:match("^[0-7][0-7]?[0-7]?", j + 1)
            local hex = text:match("^x(%x%x?)", j + 1)
            if ESCAPES[e] then
              buf[#buf + 1], j = ESCAPES[e], j + 2
            elseif oct then
              buf[#buf + 1], j = string.char(tonumber(oct, 8) % 256), j + 1 + #oct
            elseif hex then
              buf[#buf + 1], j = string.char(tonumber(hex, 16)), j + 2 + #hex
            else
              buf[#buf + 1], j = e, j + 2
            end
          else
            buf[#buf + 1] = ch
            j = j + 1
          end
        end
        i = j + 1
      elseif c == '"' then
        local j = i + 1
        while j <= n do
          if text:sub(j, j) == '"' then
            if text:sub(j + 1, j + 1) ~= '"' then break end
            j = j + 1
          end
          j = j + 1
        end
        buf[#buf + 1] = text:sub(i, j)
        i = j + 1
      elseif c == "`" then
        local j = text:find("`", i + 1, true) or (n + 1)
        local command = text:sub(i + 1, j - 1)
        if not run then error("`" .. command .. "`: running shell commands needs weir repl --unsafe", 0) end
        buf[#buf + 1] = (run(command):gsub("\n$", ""))
        i = j + 1
      elseif c == ":" then
        local q, name = text:match("^([\"']?)([%w_\128-\255]+)", i + 1)
        local closes = name and (q == "" or text:sub(i + 1 + #q + #name, i + 1 + #q + #name) == q)
        if closes then -- a name that is not set stays as typed, quotes and all
          local value = vars[name]
          if value == nil then value = ":" .. q .. name .. q
          elseif q == "'" then value = quote.literal(value)
          elseif q == '"' then value = quote.ident(value) end
          buf[#buf + 1] = value
          i = i + 1 + #name + (q == "" and 0 or 2)
        else
          buf[#buf + 1] = ":"
          i = i + 1
        end
      else
        local j = text:find("[%s'\"`:]", i) or (n + 1)
        buf[#buf + 1] = text:sub(i, j - 1)
        i = j
      end
    end
    args[#args + 1] = table.concat(buf)
  end
end

---psql's test for reading a statement through a cursor under FETCH_COUNT: it starts (after
---spaces, comments and opening parentheses) with the word SELECT or VALUES.
function M.is_select_command(text)
  local s = text
  while true do
    local before = s
    s = s:gsub("^%s+", ""):gsub("^%-%-[^\n]*", ""):gsub("^/%*.-%*/", ""):gsub("^%(", "")
    if s == before then break end
  end
  local word = (s:match("^%a+") or ""):lower()
  return word == "select" or word == "values"
end

---Whether a parsed statement can be read through a cursor: a query (SELECT, VALUES, TABLE, a
---WITH of queries only) that creates nothing (no SELECT … INTO).
function M.cursor_safe(st)
  if st.kind ~= "SelectStmt" or type(st.tree) ~= "table" or st.tree.intoClause then return false end
  local with = st.tree.withClause
  if with and with ~= json.null then
    for _, cte in ipairs(with.ctes or {}) do
      local query = cte.CommonTableExpr and cte.CommonTableExpr.ctequery
      if type(query) ~= "table" or not query.SelectStmt then return false end
    end
  end
  return true
end

return M
