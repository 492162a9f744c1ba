-- Tab completion of SQL for `weir repl` (stdlib/repl_complete.lua calls it), at pgcli's level:
-- keywords that fit where the cursor is (a statement's first word, after SELECT, FROM, WHERE,
-- JOIN … ON, INSERT INTO t (, ALTER TABLE t …), the relations after FROM/JOIN/UPDATE/INTO, the
-- columns of the relations the statement names (through their aliases: `from t m where m.`),
-- functions (completed with "("), schemas, types after `::`, an enum column's labels after `=`.
-- Names are written as SQL needs them (quoted when they must be) and match what was typed
-- case-sensitively, with or without its opening quote. Pure lookups over the names
-- repl_complete.names() read from the catalogs; nothing here queries or prints.
local M = {}

-- ---- typed names ---------------------------------------------------------------------------

-- Where the quoted text whose body starts at `j` in `s` closes (a doubled quote is part of it);
-- nil when it is still open at the end of `s`.
local function closing_quote(s, j, q)
  while true do
    local k = s:find(q, j, true)
    if not k then return nil end
    if s:sub(k + 1, k + 1) ~= q then return k end
    j = k + 2
  end
end

---Where the (possibly qualified, possibly quoted) name being typed at the end of SQL text `s`
---starts, and whether the cursor is inside a string literal (then the string's start too).
function M.name_start(s)
  local i, n, tok = 1, #s, 1
  while i <= n do
    local c = s:sub(i, i)
    if c == "'" then
      local j = closing_quote(s, i + 1, "'")
      if not j then return nil, i end
      i, tok = j + 1, j + 1
    elseif c == '"' then
      if i > tok and s:sub(i - 1, i - 1) ~= "." then tok = i end
      local k = closing_quote(s, i + 1, '"')
      if not k then return tok end -- the name ends open, in quotes
      i = k + 1
    elseif s:sub(i, i + 1) == "--" then
      local nl = s:find("\n", i, true)
      if not nl then return nil end
      i, tok = nl + 1, nl + 1
    elseif c:match("[%w_$.\128-\255]") then
      i = i + 1
    else
      i, tok = i + 1, i + 1
    end
  end
  return tok
end

---The parts of a typed name: { text (unquoted, "" unescaped), quoted, at (offset in t) }; nil
---when it is not one (`"a"b`).
function M.split_name(t)
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

-- ---- the statement around the cursor -------------------------------------------------------

-- The tokens of SQL text: { kind = "word" | "quoted" | "string" | "number" | "op", text, low }.
-- Comments are skipped; an unterminated quote ends the text.
local function tokens(s)
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif s:sub(i, i + 1) == "--" then
      i = (s:find("\n", i, true) or n) + 1
    elseif s:sub(i, i + 1) == "/*" then
      i = (select(2, s:find("*/", i + 2, true)) or n) + 1
    elseif c == "'" or c == '"' then
      local j = closing_quote(s, i + 1, c) or n
      local text = s:sub(i, j)
      out[#out + 1] = { kind = c == "'" and "string" or "quoted", text = text,
                        low = c == '"' and text:sub(2, -2):gsub('""', '"') or text }
      i = j + 1
    elseif c:match("[%a_\128-\255]") then
      local w = s:match("^[%w_$\128-\255]+", i)
      out[#out + 1] = { kind = "word", text = w, low = w:lower() }
      i = i + #w
    elseif c:match("%d") then
      local w = s:match("^[%d.]+", i)
      out[#out + 1] = { kind = "number", text = w, low = w }
      i = i + #w
    else
      local op = s:match("^::", i) or s:match("^[<>!=]=", i) or s:match("^<>", i) or c
      out[#out + 1] = { kind = "op", text = op, low = op }
      i = i + #op
    end
  end
  return out
end

-- Words that end a relation in a FROM list (so they are no alias).
local CLAUSE = {}
for w in ([[where join left right inner outer full cross natural on using group order limit
  offset having union intersect except set values select returning window for default lateral
  as only fetch into from and or not when then else end]]):gmatch("%a+") do
  CLAUSE[w] = true
end

-- A (possibly qualified) name at tokens[i]: its parts' texts (unquoted, folded when unquoted)
-- and the index after it.
local function qualified(toks, i)
  local parts = {}
  while toks[i] and (toks[i].kind == "word" or toks[i].kind == "quoted") do
    parts[#parts + 1] = toks[i].low
    if not (toks[i + 1] and toks[i + 1].text == "." ) then return parts, i + 1 end
    i = i + 2
  end
  return parts, i
end

---The relations a statement names, with their aliases: { parts = {schema?, name}, alias? }.
local function scope(toks)
  local out = {}
  local i = 1
  while i <= #toks do
    local t = toks[i]
    local w = t.kind == "word" and t.low
    if w == "from" or w == "join" or w == "update" or w == "into" or (w == "table" and i == 1) then
      local j = i + 1
      while true do
        if toks[j] and toks[j].kind == "word" and (toks[j].low == "only" or toks[j].low == "lateral") then j = j + 1 end
        if not toks[j] or (toks[j].kind ~= "word" and toks[j].kind ~= "quoted") or
           (toks[j].kind == "word" and CLAUSE[toks[j].low]) then break end
        local parts, k = qualified(toks, j)
        local rel = { parts = parts }
        if toks[k] and toks[k].kind == "word" and toks[k].low == "as" then k = k + 1 end
        if toks[k] and ((toks[k].kind == "word" and not CLAUSE[toks[k].low]) or toks[k].kind == "quoted") then
          rel.alias = toks[k].low
          k = k + 1
        end
        out[#out + 1] = rel
        j = k
        if w ~= "from" or not (toks[j] and toks[j].text == ",") then break end
        j = j + 1
      end
      i = j
    else
      i = i + 1
    end
  end
  return out
end

-- The relation of the catalog names a scope entry means.
local function find_relation(names, parts)
  for _, r in ipairs(names.relations) do
    if #parts == 2 and r.schema == parts[1] and r.name == parts[2] then return r end
    if #parts == 1 and r.visible and r.name == parts[1] then return r end
  end
end

-- The relation a qualifier (an alias, or a relation's name) means in this statement's scope.
local function qualifier_relation(names, rels, part)
  for _, rel in ipairs(rels) do
    local r = find_relation(names, rel.parts)
    if r and (rel.alias == part.text or (rel.alias and not part.quoted and rel.alias == part.text:lower())) then
      return r
    end
  end
  for _, rel in ipairs(rels) do
    local r = find_relation(names, rel.parts)
    if r and not rel.alias and names_it(part, r.name) then return r end
  end
end

-- ---- keywords ---------------------------------------------------------------------------------

local function words(s)
  local out = {}
  for w in s:gmatch("[^,]+") do out[#out + 1] = w:match("^%s*(.-)%s*$") end
  return out
end

local KEYWORDS = {
  start = words [[SELECT, INSERT INTO, UPDATE, DELETE FROM, WITH, TABLE, VALUES, CREATE, ALTER, DROP,
    TRUNCATE, BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE, EXPLAIN, ANALYZE, VACUUM, GRANT, REVOKE,
    COPY, SET, SHOW, RESET, COMMENT ON, REFRESH MATERIALIZED VIEW, REINDEX, CLUSTER, LOCK, DO, CALL,
    PREPARE, EXECUTE, DEALLOCATE, DECLARE, FETCH, CLOSE, LISTEN, NOTIFY, START TRANSACTION]],
  select = words [[DISTINCT, CASE, WHEN, THEN, ELSE, END, AS, FROM, NOT, NULL, TRUE, FALSE, EXISTS,
    CAST, INTERVAL]],
  from_done = words [[WHERE, JOIN, INNER JOIN, LEFT JOIN, RIGHT JOIN, FULL JOIN, CROSS JOIN,
    NATURAL JOIN, ON, USING, AS, GROUP BY, ORDER BY, HAVING, LIMIT, OFFSET, UNION, UNION ALL,
    INTERSECT, EXCEPT, WINDOW, FOR UPDATE, RETURNING, SET]],
  condition = words [[AND, OR, NOT, IS, NULL, IS NULL, IS NOT NULL, IN, LIKE, ILIKE, BETWEEN, EXISTS,
    TRUE, FALSE, ANY, ALL, CASE, WHEN, THEN, ELSE, END, GROUP BY, ORDER BY, LIMIT, OFFSET, HAVING,
    RETURNING]],
  order = words [[ASC, DESC, NULLS FIRST, NULLS LAST, LIMIT, OFFSET, USING]],
  objects = words [[TABLE, INDEX, UNIQUE INDEX, VIEW, MATERIALIZED VIEW, SCHEMA, SEQUENCE, FUNCTION,
    PROCEDURE, TYPE, DOMAIN, EXTENSION, TRIGGER, ROLE, DATABASE, POLICY, PUBLICATION, SUBSCRIPTION,
    OR REPLACE, TEMPORARY TABLE, UNLOGGED TABLE, FOREIGN TABLE, EVENT TRIGGER, STATISTICS]],
  alter_table = words [[ADD, ADD COLUMN, ADD CONSTRAINT, ALTER, ALTER COLUMN, DROP, DROP COLUMN,
    DROP CONSTRAINT, RENAME, RENAME TO, RENAME COLUMN, RENAME CONSTRAINT, OWNER TO, SET SCHEMA,
    SET TABLESPACE, SET LOGGED, SET UNLOGGED, ENABLE, DISABLE, ENABLE ROW LEVEL SECURITY,
    DISABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY, REPLICA IDENTITY, VALIDATE CONSTRAINT,
    ATTACH PARTITION, DETACH PARTITION, CLUSTER ON, INHERIT, NO INHERIT]],
  alter_column = words [[TYPE, SET DATA TYPE, SET DEFAULT, DROP DEFAULT, SET NOT NULL, DROP NOT NULL,
    SET STATISTICS, SET STORAGE, ADD GENERATED, DROP IDENTITY, DROP EXPRESSION]],
  insert_into = words [[VALUES, SELECT, DEFAULT VALUES, OVERRIDING, ON CONFLICT]],
}

-- psql's COMP_KEYWORD_CASE preserve-upper: as typed when something is, else upper case.
local function keyword_case(kw, typed)
  if typed ~= "" and typed == typed:lower() then return kw:lower() end
  return kw
end

-- ---- what fits where the cursor is ------------------------------------------------------------

-- The last keyword that decides what comes next, looking back from the end of `toks`: its
-- index and text.
local DECIDERS = {}
for w in ([[select from join where on and or having set update into table truncate values
  returning using order group by create alter drop insert delete with when then else case
  limit offset distinct not in is like ilike between column constraint index view sequence
  schema type function only lateral]]):gmatch("%a+") do
  DECIDERS[w] = true
end

local function last_keyword(toks)
  local depth = 0
  for i = #toks, 1, -1 do
    local t = toks[i]
    if t.text == ")" then depth = depth + 1
    elseif t.text == "(" then
      if depth == 0 then return i, "(" end
      depth = depth - 1
    elseif depth == 0 and t.kind == "word" and DECIDERS[t.low] then
      return i, t.low
    end
  end
  return nil, nil
end

---What to offer for the word being typed at the end of `before` (the statement up to the
---cursor) given the rest of the line after the cursor: a list of kinds ("keywords:NAME",
---"relations", "columns", "functions", "types", "labels", "schemas"), the enum type for
---"labels", and the relation for "columns_of".
function M.context(before, after)
  local toks = tokens(before)
  local all = tokens(before .. " " .. (after or ""))
  local rels = scope(all)
  if #toks == 0 then return { kinds = { "keywords:start" }, rels = rels } end
  local last = toks[#toks]
  if last.text == "::" then return { kinds = { "types" }, rels = rels } end
  local i, kw = last_keyword(toks)
  local prev = toks[#toks]
  local ctx = { rels = rels }
  -- an enum column compared: col = | col <> | col IN (
  local function compared_column(at)
    local t = toks[at]
    if not t or (t.kind ~= "word" and t.kind ~= "quoted") then return nil end
    local parts = { { text = t.low, quoted = t.kind == "quoted" } }
    if toks[at - 1] and toks[at - 1].text == "." and toks[at - 2] then
      table.insert(parts, 1, { text = toks[at - 2].low, quoted = toks[at - 2].kind == "quoted" })
    end
    return parts
  end
  if prev.text == "=" or prev.text == "<>" or prev.text == "!=" then
    ctx.compared = compared_column(#toks - 1)
  elseif prev.text == "(" and toks[#toks - 1] and toks[#toks - 1].low == "in" then
    ctx.compared = compared_column(#toks - 2)
  end
  if kw == nil then
    ctx.kinds = { "keywords:start" }
  elseif kw == "(" then
    local before_paren = toks[i - 1]
    local rel = before_paren and toks[i - 2] and toks[i - 2].low == "into" and before_paren
    if before_paren and (before_paren.kind == "word" or before_paren.kind == "quoted") and
       toks[i - 2] and (toks[i - 2].low == "into" or toks[i - 2].text == "." and toks[i - 4] and toks[i - 4].low == "into") then
      ctx.kinds = { "columns_of_insert" } -- INSERT INTO t (
      ctx.insert = rel or before_paren
    else
      ctx.kinds = { "columns", "functions", "keywords:select" }
    end
  elseif kw == "from" or kw == "join" or kw == "update" or kw == "into" or kw == "table" or kw == "truncate" or
         kw == "only" or kw == "lateral" then
    if i == #toks or (toks[#toks].text == "," and kw == "from") then
      ctx.kinds = { "relations" }
      if kw == "join" or kw == "from" then ctx.kinds[#ctx.kinds + 1] = "functions_from" end
    elseif kw == "into" and toks[i - 1] and toks[i - 1].low == "insert" then
      ctx.kinds = { "keywords:insert_into" }
    elseif kw == "update" and (i == 1) then
      ctx.kinds = { "keywords:from_done" }
    else
      ctx.kinds = { "keywords:from_done" }
    end
  elseif kw == "select" or kw == "distinct" or kw == "returning" or kw == "by" or kw == "case" or
         kw == "when" or kw == "then" or kw == "else" or kw == "values" then
    ctx.kinds = { "columns", "functions", "keywords:" .. ((kw == "by") and "order" or "select") }
    if kw == "by" and prev.low ~= "by" and prev.text ~= "," then ctx.kinds = { "keywords:order" } end
    if kw == "select" or kw == "distinct" then ctx.kinds[#ctx.kinds + 1] = "keywords:from_done" end
  elseif kw == "where" or kw == "on" or kw == "and" or kw == "or" or kw == "having" or kw == "not" or
         kw == "in" or kw == "is" or kw == "like" or kw == "ilike" or kw == "between" or kw == "using" then
    ctx.kinds = { "columns", "functions", "keywords:condition" }
  elseif kw == "set" then
    ctx.kinds = { "columns", "functions", "keywords:condition" }
  elseif kw == "create" or kw == "drop" then
    ctx.kinds = { "keywords:objects" }
  elseif kw == "alter" then
    if i == #toks then
      ctx.kinds = { "keywords:objects" }
    end
  elseif kw == "column" and toks[i - 1] and toks[i - 1].low == "alter" and i < #toks then
    ctx.kinds = { "keywords:alter_column" }
  elseif kw == "column" or kw == "constraint" then
    ctx.kinds = { "columns" }
  elseif kw == "index" or kw == "view" or kw == "sequence" or kw == "schema" or kw == "type" or
         kw == "function" then
    local head = toks[i - 1] and toks[i - 1].low
    if head == "alter" or head == "drop" then
      ctx.kinds = kw == "schema" and { "schemas" } or kw == "function" and { "functions" } or
                  kw == "type" and { "types" } or { "relations" }
    end
  elseif kw == "limit" or kw == "offset" then
    ctx.kinds = { "keywords:order" }
  elseif kw == "with" then
    ctx.kinds = { "keywords:start" }
  elseif kw == "insert" then
    ctx.kinds = { "keywords:into" }
  elseif kw == "delete" then
    ctx.kinds = { "keywords:delete" }
  end
  -- ALTER TABLE t …: the table, then what to do to it (and to its columns)
  for j = #toks, 1, -1 do
    if toks[j].low == "table" and toks[j - 1] and toks[j - 1].low == "alter" then
      local parts, k = qualified(toks, j + 1)
      if #parts == 0 then
        ctx.kinds = { "relations" }
      elseif k == #toks + 1 then
        ctx.kinds = { "keywords:alter_table" }
      else
        ctx.kinds = { "keywords:alter_table", "keywords:alter_column", "columns" }
        ctx.rels = { { parts = parts } }
      end
      break
    end
  end
  ctx.kinds = ctx.kinds or { "columns", "functions", "keywords:condition" }
  return ctx
end

KEYWORDS.into = { "INTO" }
KEYWORDS.delete = { "FROM" }

---Candidates for the SQL word being typed at the end of `before` (the current statement up to
---the cursor; `after`: the rest of the line), each the whole word as it should read, and where
---that word starts in `before`. `names`: repl_complete.names(); `kind` forces one
---("relations", "schemas", "all") as the meta-commands want.
function M.candidates(before, after, names, kind)
  local tok, string_at = M.name_start(before)
  if not tok then
    -- inside a string: an enum's labels after `col = '`
    if not string_at or not names then return {}, nil end
    local ctx = M.context(before:sub(1, string_at - 1), after)
    if not ctx.compared then return {}, nil end
    local out = M.labels(names, ctx, before:sub(string_at))
    return out, string_at
  end
  local typed_text = before:sub(tok)
  local parts = M.split_name(typed_text)
  if not parts or (not names and kind ~= "start") then return {}, tok end
  local last = parts[#parts]
  local prefix = before:sub(tok, tok + last.at - 2) -- the qualifiers, as typed
  local out, seen = {}, {}
  local function add(cand)
    if not seen[cand] then
      seen[cand] = true
      out[#out + 1] = cand
    end
  end
  -- a name: offered when it starts with what was typed (as typed, or folded when unquoted)
  local function offer(name, q, suffix)
    if name:sub(1, #last.text) ~= last.text then return end
    add(prefix .. (last.quoted and quoted(name) or q) .. (suffix or ""))
  end
  local ctx
  if kind == "start" then
    ctx = { kinds = { "keywords:start" }, rels = {} }
    names = { relations = {}, schemas = {}, columns = {} }
  elseif kind == "relations" then
    ctx = { kinds = { "relations" }, rels = {} }
  elseif kind == "schemas" then
    ctx = { kinds = { "schemas" }, rels = {} }
  elseif kind == "all" then
    ctx = { kinds = { "relations", "columns" }, rels = {} }
  else
    ctx = M.context(before:sub(1, tok - 1), after)
  end
  local want = {}
  for _, k in ipairs(ctx.kinds) do want[k] = true end
  if #parts == 1 then
    if want.relations or want.columns or want.functions_from then
      for _, r in ipairs(names.relations) do
        if r.visible and (want.relations or want.functions_from or kind == "all") then offer(r.name, r.q) end
      end
    end
    if want.relations or want.schemas or want.functions_from or want.functions or want.types then
      for _, sc in ipairs(names.schemas) do offer(sc.name, sc.q, ".") end
    end
    if want.columns or want.columns_of_insert then
      local cols = {}
      local target = ctx.insert and find_relation(names, { ctx.insert.low })
      local scoped = false
      for _, rel in ipairs(target and { { parts = { ctx.insert.low } } } or ctx.rels) do
        local r = find_relation(names, rel.parts)
        if r then
          scoped = true
          for _, c in ipairs(r.columns) do cols[#cols + 1] = c end
          if rel.alias and not target then offer(rel.alias, rel.alias, ".") end
        end
      end
      if not scoped and not want.columns_of_insert then cols = names.columns end
      for _, c in ipairs(cols) do offer(c.name, c.q) end
    end
    if (want.functions or want.functions_from) and last.text ~= "" then -- thousands: not unasked
      for _, f in ipairs(names.functions or {}) do
        if f.visible then offer(f.name, f.q, "(") end
      end
    end
    if want.types then
      for _, t in ipairs(names.types or {}) do
        if t.visible then offer(t.name, t.q) end
      end
    end
    if ctx.compared and last.text == "" then
      for _, l in ipairs(M.labels(names, ctx, "")) do add(l) end
    end
    if not last.quoted then
      -- a keyword of several words goes on from the words typed before it: ADD CO -> COLUMN
      local typed = last.text
      local prior = {}
      for w in before:sub(1, tok - 1):gmatch("[%a_]+") do prior[#prior + 1] = w:lower() end
      for k in pairs(want) do
        local list = k:match("^keywords:(.+)$")
        for _, kw in ipairs(list and KEYWORDS[list] or {}) do
          local ws = {}
          for w in kw:gmatch("%S+") do ws[#ws + 1] = w end
          for j = #ws, 1, -1 do
            local fits = ws[j]:sub(1, #typed):lower() == typed:lower()
            for m = 1, j - 1 do
              if prior[#prior - (j - 1) + m] ~= ws[m]:lower() then fits = false end
            end
            if fits then
              add(keyword_case(table.concat(ws, " ", j), typed))
              break
            end
          end
        end
      end
    end
  elseif #parts == 2 then
    local q = parts[1]
    local alias_rel = (want.columns or kind == "all" or want.columns_of_insert) and
                      qualifier_relation(names, ctx.rels, q)
    if alias_rel then
      for _, c in ipairs(alias_rel.columns) do offer(c.name, c.q) end
    end
    for _, r in ipairs(names.relations) do
      if names_it(q, r.schema) and (want.relations or want.functions_from or kind == "all") then offer(r.name, r.q) end
      if not alias_rel and (want.columns or kind == "all") and r.visible and names_it(q, r.name) then
        for _, c in ipairs(r.columns) do offer(c.name, c.q) end
      end
    end
    if want.functions or want.functions_from then
      for _, f in ipairs(names.functions or {}) do
        if names_it(q, f.schema) then offer(f.name, f.q, "(") end
      end
    end
    if want.types then
      for _, t in ipairs(names.types or {}) do
        if t.schema and names_it(q, t.schema) then offer(t.typname or t.name, t.qtyp or t.q) end
      end
    end
  elseif #parts == 3 and (want.columns or kind == "all") then
    for _, r in ipairs(names.relations) do
      if names_it(parts[1], r.schema) and names_it(parts[2], r.name) then
        for _, c in ipairs(r.columns) do offer(c.name, c.q) end
      end
    end
  end
  table.sort(out)
  return out, tok
end

---The labels of the enum a compared column (ctx.compared) has, quoted as SQL literals, that
---start with `typed` (which may begin with its quote).
function M.labels(names, ctx, typed)
  local parts = ctx.compared
  local col = parts[#parts]
  local types = {}
  local function consider(r)
    for _, c in ipairs(r.columns) do
      if (c.name == col.text or (not col.quoted and c.name == col.text:lower())) and c.type then
        types[c.type] = true
      end
    end
  end
  if #parts == 2 then
    local r = qualifier_relation(names, ctx.rels, parts[1])
    if r then consider(r) end
  else
    for _, rel in ipairs(ctx.rels) do
      local r = find_relation(names, rel.parts)
      if r then consider(r) end
    end
  end
  local out = {}
  for t in pairs(types) do
    for _, label in ipairs((names.enums or {})[t] or {}) do
      local lit = "'" .. label:gsub("'", "''") .. "'"
      if lit:sub(1, #typed) == typed then out[#out + 1] = lit end
    end
  end
  table.sort(out)
  return out
end

return M
