-- The round-trip property of schema.diff on every pair of tests/schema/pairs.sql: applying
-- diff(A, B) to A leaves nothing to diff against B, and the same from B back to A. Each side
-- lives in a database of its own, with rows where the pair has them.
local T = require "testing"
local read = T.read

local src = assert(os.getenv "WEIR_SOURCE_DIR")
local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")

-- { {name=, from=, to=}, ... } in file order
local function load_pairs(file)
  local pairs_, current, side = {}, nil, nil
  for line in (read(src .. "/tests/schema/" .. (file or "pairs.sql")) .. "\n"):gmatch("(.-)\n") do
    local name = line:match("^==== (.+)$")
    if name then
      current = { name = name, from = "", to = "" }
      pairs_[#pairs_ + 1] = current
      side = nil
    elseif line == "---- from" then
      side = "from"
    elseif line == "---- to" then
      side = "to"
    elseif current and side then
      current[side] = current[side] .. line .. "\n"
    end
  end
  return pairs_
end

local function fresh(name, sql)
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  db:exec("CREATE DATABASE " .. name)
  local conn = weir.connect((base_url:gsub("/postgres%?", "/" .. name .. "?")))
  conn:exec("SET client_min_messages = warning")
  if sql:match("%S") then conn:exec(sql) end
  return conn
end

local function describe(changes)
  local lines = {}
  for _, c in ipairs(changes) do lines[#lines + 1] = "  " .. c.kind .. " " .. c.object .. ": " .. c.sql end
  return table.concat(lines, "\n")
end

-- Applies diff(from, to) on `conn` (holding `from`) and returns what still differs.
local function converge(conn, to_model, opts)
  local changes = schema.diff(schema.inspect(conn), to_model, opts)
  local ok, err = pcall(schema.apply, conn, changes)
  if not ok then
    error(("applying the diff failed: %s\nscript:\n%s"):format(
      type(err) == "table" and (err.sqlstate .. " " .. err.message .. " in: " .. (err.query or "")) or tostring(err),
      describe(changes)), 0)
  end
  return schema.diff(schema.inspect(conn), to_model), changes
end

-- The values of the columns both sides have (same table, name and type; not a generated
-- column whose expression changes), table by table: a diff must not lose them.
local function shared_values(conn, ma, mb)
  local out, bt = {}, {}
  for _, t in ipairs(mb.tables) do bt[t.schema .. "." .. t.name] = t end
  for _, t in ipairs(ma.tables) do
    local u = bt[t.schema .. "." .. t.name]
    if u then
      local bc = {}
      for _, c in ipairs(u.columns) do bc[c.name] = c end
      for _, c in ipairs(t.columns) do
        local d = bc[c.name]
        if d and d.type == c.type and (d.generated == json.null or d.generated == c.generated) then
          local vals = {}
          for _, r in ipairs(conn:query(('SELECT coalesce(%s::text, \'<null>\') AS v FROM ONLY %s.%s ORDER BY 1')
              :format('"' .. c.name .. '"', '"' .. t.schema .. '"', '"' .. t.name .. '"'))) do
            vals[#vals + 1] = r.v
          end
          out[t.schema .. "." .. t.name .. "." .. c.name] = table.concat(vals, ",")
        end
      end
    end
  end
  return out
end

-- WEIR_PAIRS_FILE: another file of tests/schema/ (a pair being written), instead of pairs.sql
local corpus = load_pairs(os.getenv "WEIR_PAIRS_FILE")
local only = os.getenv "WEIR_PAIRS"  -- a Lua pattern: run only the pairs whose name matches

T.case("the corpus has at least 40 pairs", function()
  T.ok(#corpus >= 40, "pairs: " .. #corpus)
end)

for _, p in ipairs(corpus) do
  if only and not p.name:match(only) then goto next end
  T.case("round trip: " .. p.name, function()
    local a <close> = fresh("rt_a", p.from)
    local b <close> = fresh("rt_b", p.to)
    local ma, mb = schema.inspect(a), schema.inspect(b)
    T.eq(schema.inspect(a), ma, "inspecting twice gives the same model")
    T.ok(#schema.diff(ma, mb) > 0, "the two sides differ")
    local kept_a, kept_b = shared_values(a, ma, mb), shared_values(b, mb, ma)
    local left, applied = converge(a, mb)
    T.eq(#left, 0, "A → B left differences:\n" .. describe(left) .. "\nafter applying:\n" .. describe(applied))
    T.eq(schema.compare(schema.inspect(a), mb), { differences = {}, not_compared = {} },
      "A → B: the whole models are equal")
    T.eq(shared_values(a, ma, mb), kept_a, "A → B keeps the values of the columns both sides have")
    local back, applied_back = converge(b, ma)
    T.eq(#back, 0, "B → A left differences:\n" .. describe(back) .. "\nafter applying:\n" .. describe(applied_back))
    T.eq(schema.compare(schema.inspect(b), ma), { differences = {}, not_compared = {} },
      "B → A: the whole models are equal")
    T.eq(shared_values(b, mb, ma), kept_b, "B → A keeps the values of the columns both sides have")
  end)
  ::next::
end

-- Renames: with {renames = true} nothing is dropped and the rows stay; without, every drop
-- that a rename would replace says so in a note.
for _, p in ipairs(load_pairs "renames.sql") do
  if only and not p.name:match(only) then goto next end
  T.case("renames: " .. p.name, function()
    for _, dir in ipairs { { p.from, p.to }, { p.to, p.from } } do
      local a <close> = fresh("rt_a", dir[1])
      local b <close> = fresh("rt_b", dir[2])
      local ma, mb = schema.inspect(a), schema.inspect(b)
      local plain = schema.diff(ma, mb)
      local notes = 0
      for _, c in ipairs(plain) do
        if c.note then
          notes = notes + 1
          T.ok(c.kind:match "^drop " and c.note:match "ALTER .* keeps it and its data", c.note)
        end
      end
      T.ok(notes > 0, "the drops say a rename would do:\n" .. describe(plain))
      local function rows(conn)
        local n = 0
        for _, t in ipairs(schema.inspect(conn).tables) do
          n = n + conn:value('SELECT count(*) FROM "' .. t.schema .. '"."' .. t.name .. '"')
        end
        return n
      end
      local rows_before = rows(a)
      local left, applied = converge(a, mb, { renames = true })
      T.eq(#left, 0, "left differences:\n" .. describe(left) .. "\nafter applying:\n" .. describe(applied))
      local renamed = 0
      for _, c in ipairs(applied) do
        T.ok(not c.kind:match "^drop table" and not c.kind:match "^drop column", "no data dropped:\n" .. describe(applied))
        if c.kind:match "^rename " or c.kind:match "^move " then renamed = renamed + 1 end
      end
      T.ok(renamed > 0, describe(applied))
      T.eq(schema.compare(schema.inspect(a), mb), { differences = {}, not_compared = {} })
      T.eq(rows(a), rows_before, "the rows stay")
    end
  end)
  ::next::
end

db:exec "DROP DATABASE IF EXISTS rt_a WITH (FORCE)"
db:exec "DROP DATABASE IF EXISTS rt_b WITH (FORCE)"
T.done()
