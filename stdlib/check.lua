--- check: schema assertions and data checks (the `check` global).
---
--- Each check returns true when it holds. When it does not, it raises "check.NAME: what is
--- wrong" -- so inside a phase's verify a failing check fails the phase -- unless it runs
--- inside check.run(fn), which collects every result into a report instead.
local C = {}

local collecting = nil  -- the report check.run is filling

-- Called as `return (outcome(...))`: the parentheses keep the check's own frame (no tail call),
-- so error level 3 is the line that called the check.
local function outcome(name, ok, message)
  if collecting then
    collecting.results[#collecting.results + 1] = { check = name, ok = ok, message = message }
    if ok then collecting.passed = collecting.passed + 1 else collecting.failed = collecting.failed + 1 end
    return ok
  end
  if not ok then error("check." .. name .. ": " .. message, 3) end
  return true
end

local util = require "weir_util"

-- The table name `name` quoted for `conn`, as every query of the check names it (so `Orders`
-- is the table created as "Orders", not `orders`); a name that is not `name` or `schema.name`
-- raises "check.CHECK: [ROLE ]"x" is not a valid table name ..." at the line that called the
-- check (level 3: here <- the check <- its caller; one more for each helper in between), even
-- inside check.run: it is a mistake in the script, not a check that does not hold. Call it
-- before any query.
local function table_sql(conn, check, name, role, level)
  local sql, bad = util.table_sql(conn, name)
  if not sql then error("check." .. check .. ": " .. (role and (role .. " ") or "") .. bad, level or 3) end
  return sql
end

-- A name that is not a table's (a schema, an enum, a constraint…): a non-empty string, else
-- "check.CHECK: expected WHAT (a non-empty string), got …" at the line that called the check,
-- even inside check.run (a mistake in the script). Call it before any query.
local function name_arg(check, what, v)
  if type(v) ~= "string" or v == "" then
    error(("check.%s: expected %s (a non-empty string), got %s"):format(check, what,
      v == "" and "an empty string" or type(v)), 3)
  end
end

-- Whether the relation `sql_name` (quoted by table_sql) exists.
local exists = util.relation_exists

local function no_table(name) return "table " .. name .. " does not exist" end

-- `tbl` is quoted (table_sql).
local function column(conn, tbl, col)
  return conn:one([[
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = pg_catalog.to_regclass($1) AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped]],
    tbl, col)
end

-- "integer" and "int4", "timestamptz" and "timestamp with time zone" name one type.
local function same_type(conn, a, b)
  if a == b then return true end
  local ok, v = pcall(conn.value, conn, "SELECT $1::regtype = $2::regtype", a, b)
  return ok and v == true
end

-- ---- schema assertions (after pgTAP) ---------------------------------------------------

function C.has_schema(conn, name)
  name_arg("has_schema", "a schema name", name)
  local ok = conn:value("SELECT pg_catalog.to_regnamespace($1) IS NOT NULL", name)
  return (outcome("has_schema", ok, ok and ("schema " .. name) or ("schema " .. name .. " does not exist")))
end

function C.has_table(conn, name)
  local t = table_sql(conn, "has_table", name)
  local ok = conn:value("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = pg_catalog.to_regclass($1) AND relkind IN ('r', 'p'))", t)
  return (outcome("has_table", ok, ok and ("table " .. name) or ("table " .. name .. " does not exist")))
end

function C.hasnt_table(conn, name)
  local ok = not exists(conn, table_sql(conn, "hasnt_table", name))
  return (outcome("hasnt_table", ok, ok and ("no table " .. name) or ("table " .. name .. " still exists")))
end

function C.has_view(conn, name)
  local t = table_sql(conn, "has_view", name)
  local ok = conn:value("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = pg_catalog.to_regclass($1) AND relkind IN ('v', 'm'))", t)
  return (outcome("has_view", ok, ok and ("view " .. name) or ("view " .. name .. " does not exist")))
end

---has_column(db, table, column [, type])
function C.has_column(conn, tbl, col, type_)
  local c = column(conn, table_sql(conn, "has_column", tbl), col)
  if not c then return (outcome("has_column", false, ("column %s.%s does not exist"):format(tbl, col))) end
  if type_ and not same_type(conn, c.type, type_) then
    return (outcome("has_column", false, ("column %s.%s is %s, expected %s"):format(tbl, col, c.type, type_)))
  end
  return (outcome("has_column", true, ("column %s.%s"):format(tbl, col)))
end

function C.hasnt_column(conn, tbl, col)
  local ok = column(conn, table_sql(conn, "hasnt_column", tbl), col) == nil
  return (outcome("hasnt_column", ok, ok and ("no column %s.%s"):format(tbl, col) or ("column %s.%s still exists"):format(tbl, col)))
end

function C.col_type_is(conn, tbl, col, type_)
  local c = column(conn, table_sql(conn, "col_type_is", tbl), col)
  if not c then return (outcome("col_type_is", false, ("column %s.%s does not exist"):format(tbl, col))) end
  local ok = same_type(conn, c.type, type_)
  return (outcome("col_type_is", ok, ok and ("%s.%s is %s"):format(tbl, col, type_) or ("column %s.%s is %s, expected %s"):format(tbl, col, c.type, type_)))
end

function C.col_not_null(conn, tbl, col)
  local c = column(conn, table_sql(conn, "col_not_null", tbl), col)
  if not c then return (outcome("col_not_null", false, ("column %s.%s does not exist"):format(tbl, col))) end
  return (outcome("col_not_null", c.not_null, c.not_null and ("%s.%s is NOT NULL"):format(tbl, col) or ("column %s.%s allows NULL"):format(tbl, col)))
end

---has_index(db, table, name) or has_index(db, table, {columns...})
function C.has_index(conn, tbl, what)
  local t = table_sql(conn, "has_index", tbl)
  local rows = conn:query([[
    SELECT i.relname::text AS name,
           ARRAY(SELECT a.attname::text FROM unnest(x.indkey) WITH ORDINALITY k(n, o)
                   JOIN pg_catalog.pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.o) AS columns
      FROM pg_catalog.pg_index x JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
     WHERE x.indrelid = pg_catalog.to_regclass($1) AND x.indisvalid]], t)
  for _, r in ipairs(rows) do
    if type(what) == "string" and r.name == what then return (outcome("has_index", true, "index " .. what)) end
    if type(what) == "table" and table.concat(r.columns, ",") == table.concat(what, ",") then
      return (outcome("has_index", true, ("index on %s (%s)"):format(tbl, table.concat(what, ", "))))
    end
  end
  local wanted = type(what) == "table" and ("(" .. table.concat(what, ", ") .. ")") or what
  return (outcome("has_index", false, ("no valid index %s on %s"):format(wanted, tbl)))
end

function C.has_pk(conn, tbl)
  local t = table_sql(conn, "has_pk", tbl)
  local ok = conn:value("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = pg_catalog.to_regclass($1) AND contype = 'p')", t)
  return (outcome("has_pk", ok, ok and ("primary key on " .. tbl) or (tbl .. " has no primary key")))
end

---fk_ok(db, table, columns, ref_table, ref_columns): a validated foreign key exists.
function C.fk_ok(conn, tbl, cols, ref, ref_cols)
  local t, r = table_sql(conn, "fk_ok", tbl), table_sql(conn, "fk_ok", ref)
  cols = type(cols) == "table" and cols or { cols }
  ref_cols = type(ref_cols) == "table" and ref_cols or { ref_cols }
  local ok = conn:value([[
    SELECT EXISTS (
      SELECT 1 FROM pg_catalog.pg_constraint k
       WHERE k.contype = 'f' AND k.convalidated AND k.conrelid = pg_catalog.to_regclass($1)
         AND k.confrelid = pg_catalog.to_regclass($3)
         AND ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY c(n, o)
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = c.n ORDER BY c.o) = $2::text[]
         AND ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY c(n, o)
                     JOIN pg_catalog.pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = c.n ORDER BY c.o) = $4::text[])]],
    t, db.array(cols), r, db.array(ref_cols))
  local what = ("%s(%s) → %s(%s)"):format(tbl, table.concat(cols, ", "), ref, table.concat(ref_cols, ", "))
  return (outcome("fk_ok", ok, ok and ("foreign key " .. what) or ("no validated foreign key " .. what)))
end

function C.has_enum(conn, name)
  name_arg("has_enum", "an enum name", name)
  local ok = conn:value("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_type WHERE oid = pg_catalog.to_regtype($1) AND typtype = 'e')", name)
  return (outcome("has_enum", ok, ok and ("enum " .. name) or ("enum " .. name .. " does not exist")))
end

function C.enum_has_labels(conn, name, labels)
  name_arg("enum_has_labels", "an enum name", name)
  if type(labels) ~= "table" then
    error(("check.enum_has_labels: expected a list of labels, got %s"):format(type(labels)), 2)
  end
  local have = conn:value("SELECT array_agg(enumlabel::text ORDER BY enumsortorder) FROM pg_catalog.pg_enum WHERE enumtypid = pg_catalog.to_regtype($1)", name)
  if have == nil or db.isnull(have) then return (outcome("enum_has_labels", false, "enum " .. name .. " does not exist")) end
  local ok = table.concat(have, "\0") == table.concat(labels, "\0")
  return (outcome("enum_has_labels", ok, ok and ("enum %s (%s)"):format(name, table.concat(labels, ", ")) or
    ("enum %s has (%s), expected (%s)"):format(name, table.concat(have, ", "), table.concat(labels, ", "))))
end

function C.has_policy(conn, tbl, policy)
  local t = table_sql(conn, "has_policy", tbl)
  name_arg("has_policy", "a policy name", policy)
  local ok = conn:value("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_policy WHERE polrelid = pg_catalog.to_regclass($1) AND polname = $2)", t, policy)
  return (outcome("has_policy", ok, ok and ("policy %s on %s"):format(policy, tbl) or ("no policy %s on %s"):format(policy, tbl)))
end

function C.rls_enabled(conn, tbl)
  local t = table_sql(conn, "rls_enabled", tbl)
  local on = conn:value("SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = pg_catalog.to_regclass($1)", t)
  if on == nil then return (outcome("rls_enabled", false, no_table(tbl))) end
  return (outcome("rls_enabled", on, on and ("row-level security on " .. tbl) or ("row-level security is not enabled on " .. tbl)))
end

---has_constraint(db, table, name): a validated constraint of that name (any kind: CHECK,
---UNIQUE, PRIMARY KEY, FOREIGN KEY, EXCLUDE).
function C.has_constraint(conn, tbl, name)
  local t = table_sql(conn, "has_constraint", tbl)
  name_arg("has_constraint", "a constraint name", name)
  local valid = conn:value("SELECT convalidated FROM pg_catalog.pg_constraint WHERE conrelid = pg_catalog.to_regclass($1) AND conname = $2", t, name)
  if valid == nil then return (outcome("has_constraint", false, ("no constraint %s on %s"):format(name, tbl))) end
  return (outcome("has_constraint", valid, valid and ("constraint %s on %s"):format(name, tbl) or
    ("constraint %s on %s is NOT VALID"):format(name, tbl)))
end

---has_trigger(db, table, name): an enabled trigger of that name.
function C.has_trigger(conn, tbl, name)
  local t = table_sql(conn, "has_trigger", tbl)
  name_arg("has_trigger", "a trigger name", name)
  local enabled = conn:value([[SELECT tgenabled <> 'D' FROM pg_catalog.pg_trigger
                                WHERE tgrelid = pg_catalog.to_regclass($1) AND tgname = $2 AND NOT tgisinternal]], t, name)
  if enabled == nil then return (outcome("has_trigger", false, ("no trigger %s on %s"):format(name, tbl))) end
  return (outcome("has_trigger", enabled, enabled and ("trigger %s on %s"):format(name, tbl) or
    ("trigger %s on %s is disabled"):format(name, tbl)))
end

---has_function(db, signature): a function or procedure, by its signature as SQL names it
---("public.set_updated_at()", "cleanup(interval)"; unqualified: on the search_path).
function C.has_function(conn, signature)
  if type(signature) ~= "string" or not signature:find("%(.*%)%s*$") then
    error("check.has_function: " .. string.format("%q", tostring(signature)) ..
      " is not a function signature (expected name(argument types))", 2)
  end
  -- to_regprocedure raises for a type that does not exist: inside a transaction (a phase's
  -- verify), in a savepoint, so the transaction goes on
  local sp = conn:in_transaction()
  if sp then conn:exec "SAVEPOINT weir_check_has_function" end
  local ok, found = pcall(conn.value, conn, "SELECT pg_catalog.to_regprocedure($1) IS NOT NULL", signature)
  if sp then
    if not ok then conn:exec "ROLLBACK TO SAVEPOINT weir_check_has_function" end
    conn:exec "RELEASE SAVEPOINT weir_check_has_function"
  end
  if not ok then
    local why = type(found) == "table" and found.message or tostring(found)
    return (outcome("has_function", false, ("function %s does not exist (%s)"):format(signature, why)))
  end
  return (outcome("has_function", found, found and ("function " .. signature) or ("function " .. signature .. " does not exist")))
end

-- ---- data checks ------------------------------------------------------------------------
-- Every table is looked up before it is queried: a table that does not exist is a check that
-- does not hold ("table app.nope does not exist"), not an SQL error.

-- The options table of row_counts / checksum, and its source and target quoted on their
-- connections (errors at the caller of the check: level 3).
local function sides(check, o)
  if type(o) ~= "table" then error("check." .. check .. ": expected a table of options {source = ..., target = ...}", 3) end
  local src, dst = o.from or db, o.to or db
  for _, role in ipairs { "source", "target" } do
    if o[role] == nil then error("check." .. check .. ": " .. role .. " is required (a table: name or schema.name)", 3) end
  end
  local s = table_sql(src, check, o.source, "source", 4)
  local t = table_sql(dst, check, o.target, "target", 4)
  return src, dst, s, t
end

-- The message for the first of the tables (conn, quoted, name, ...) that does not exist, or nil.
local function missing(...)
  local args = { ... }
  for i = 1, #args, 3 do
    if not exists(args[i], args[i + 1]) then return no_table(args[i + 2]) end
  end
  return nil
end

---row_counts{from=, source=, where=, to=, target=, target_where=}: equal row counts.
function C.row_counts(o)
  local src, dst, s, t = sides("row_counts", o)
  local gone = missing(src, s, o.source, dst, t, o.target)
  if gone then return (outcome("row_counts", false, gone)) end
  local a = src:value("SELECT count(*) FROM " .. s .. (o.where and (" WHERE " .. o.where) or ""))
  local b = dst:value("SELECT count(*) FROM " .. t .. (o.target_where and (" WHERE " .. o.target_where) or ""))
  return (outcome("row_counts", a == b, a == b and ("%s and %s: %d rows"):format(o.source, o.target, a) or
    ("%s has %d rows, %s has %d"):format(o.source, a, o.target, b)))
end

---checksum{from=, source=, to=, target=, key=, columns=, chunk=}: the chosen columns are equal
---row for row; a mismatch names the first key range (chunk) that differs.
function C.checksum(o)
  local src, dst, s, t = sides("checksum", o)
  if type(o.columns) ~= "table" or #o.columns == 0 then
    error("check.checksum: columns is required (a list of the column names to compare)", 2)
  end
  local key = o.key or "id"
  local chunk = o.chunk or 10000
  local gone = missing(src, s, o.source, dst, t, o.target)
  if gone then return (outcome("checksum", false, gone)) end
  local cols = {}
  for i, c in ipairs(o.columns) do cols[i] = src:quote_ident(c) .. "::text" end
  local function sums(conn, tbl)
    local out = {}
    local sql = ("SELECT (row_number() OVER (ORDER BY %s) - 1) / %d AS chunk, %s::text AS k, md5(concat_ws('|', %s)) AS h FROM %s")
      :format(conn:quote_ident(key), chunk, conn:quote_ident(key), table.concat(cols, ", "), tbl)
    for _, r in ipairs(conn:query("SELECT chunk, min(k) AS lo, max(k) AS hi, md5(string_agg(h, '' ORDER BY k)) AS sum, count(*) AS n FROM (" ..
      sql .. ") s GROUP BY chunk ORDER BY chunk")) do
      out[#out + 1] = r
    end
    return out
  end
  local a, b = sums(src, s), sums(dst, t)
  for i = 1, math.max(#a, #b) do
    local x, y = a[i], b[i]
    if not x or not y or x.sum ~= y.sum or x.n ~= y.n then
      local r = x or y
      return (outcome("checksum", false, ("%s and %s differ in the chunk of %s %s..%s"):format(o.source, o.target, key, r.lo, r.hi)))
    end
  end
  return (outcome("checksum", true, ("%s and %s are equal over %s"):format(o.source, o.target, table.concat(o.columns, ", "))))
end

---no_orphans(db, table, column, parent_table, parent_column)
function C.no_orphans(conn, tbl, col, parent, parent_col)
  local t, p = table_sql(conn, "no_orphans", tbl), table_sql(conn, "no_orphans", parent)
  local gone = missing(conn, t, tbl, conn, p, parent)
  if gone then return (outcome("no_orphans", false, gone)) end
  local n = conn:value(("SELECT count(*) FROM %s c WHERE c.%s IS NOT NULL AND NOT EXISTS (SELECT 1 FROM %s p WHERE p.%s = c.%s)")
    :format(t, conn:quote_ident(col), p, conn:quote_ident(parent_col or "id"), conn:quote_ident(col)))
  return (outcome("no_orphans", n == 0, n == 0 and ("every %s.%s has its %s"):format(tbl, col, parent) or
    ("%d rows of %s point at a missing %s (%s)"):format(n, tbl, parent, col)))
end

function C.not_null(conn, tbl, col)
  local t = table_sql(conn, "not_null", tbl)
  if not exists(conn, t) then return (outcome("not_null", false, no_table(tbl))) end
  local n = conn:value(("SELECT count(*) FROM %s WHERE %s IS NULL"):format(t, conn:quote_ident(col)))
  return (outcome("not_null", n == 0, n == 0 and ("%s.%s has no NULLs"):format(tbl, col) or ("%d rows of %s have %s NULL"):format(n, tbl, col)))
end

---unique(db, table, columns)
function C.unique(conn, tbl, cols)
  local t = table_sql(conn, "unique", tbl)
  if not exists(conn, t) then return (outcome("unique", false, no_table(tbl))) end
  cols = type(cols) == "table" and cols or { cols }
  local q = {}
  for i, c in ipairs(cols) do q[i] = conn:quote_ident(c) end
  local n = conn:value(("SELECT count(*) FROM (SELECT 1 FROM %s GROUP BY %s HAVING count(*) > 1) d"):format(t, table.concat(q, ", ")))
  return (outcome("unique", n == 0, n == 0 and ("%s (%s) is unique"):format(tbl, table.concat(cols, ", ")) or
    ("%d values of %s (%s) appear more than once"):format(n, tbl, table.concat(cols, ", "))))
end

---accepted_values(db, table, column, {values...})
function C.accepted_values(conn, tbl, col, values)
  local t = table_sql(conn, "accepted_values", tbl)
  if not exists(conn, t) then return (outcome("accepted_values", false, no_table(tbl))) end
  local bad = conn:query(("SELECT DISTINCT %s::text AS v FROM %s WHERE %s IS NOT NULL AND NOT (%s::text = ANY ($1::text[])) ORDER BY 1 LIMIT 5")
    :format(conn:quote_ident(col), t, conn:quote_ident(col), conn:quote_ident(col)), db.array(values))
  local shown = {}
  for i, r in ipairs(bad) do shown[i] = r.v end
  return (outcome("accepted_values", #bad == 0, #bad == 0 and ("%s.%s has only accepted values"):format(tbl, col) or
    ("%s.%s has values outside the accepted ones: %s"):format(tbl, col, table.concat(shown, ", "))))
end

---acyclic(db, edge_table, from_column, to_column): no cycle; a failure shows one.
function C.acyclic(conn, tbl, from_col, to_col)
  local e = table_sql(conn, "acyclic", tbl)
  if not exists(conn, e) then return (outcome("acyclic", false, no_table(tbl))) end
  local f, t = conn:quote_ident(from_col), conn:quote_ident(to_col)
  local cycle = conn:value(([[
    WITH RECURSIVE walk(start, node, path, cycle) AS (
      SELECT e.%s::text, e.%s::text, ARRAY[e.%s::text, e.%s::text], e.%s = e.%s FROM %s e
      UNION ALL
      SELECT w.start, e.%s::text, w.path || e.%s::text, e.%s::text = ANY (w.path)
        FROM walk w JOIN %s e ON e.%s::text = w.node WHERE NOT w.cycle)
    SELECT array_to_string(path, ' → ') FROM walk WHERE cycle LIMIT 1]]):format(f, t, f, t, f, t, e,
    t, t, t, e, f))
  local ok = cycle == nil or db.isnull(cycle)
  return (outcome("acyclic", ok, ok and (tbl .. " has no cycle") or (tbl .. " has a cycle: " .. cycle)))
end

---sql(db, query, message, ...): the query (with bound parameters `...`) returns true.
function C.sql(conn, query, message, ...)
  local ok = conn:value(query, ...) == true
  return (outcome("sql", ok, ok and (message or query) or (message or ("not true: " .. query))))
end

---json_schema(db, table, column, schema [, key]): every value of the column is valid.
function C.json_schema(conn, tbl, col, schema, key)
  if not json.validate then error("check.json_schema: json.validate is not available", 2) end
  local t = table_sql(conn, "json_schema", tbl)
  if not exists(conn, t) then return (outcome("json_schema", false, no_table(tbl))) end
  key = key or "id"
  local shown, failed, checked = {}, 0, 0
  for r in conn:rows(("SELECT %s::text AS k, %s AS v FROM %s WHERE %s IS NOT NULL"):format(conn:quote_ident(key),
    conn:quote_ident(col), t, conn:quote_ident(col))) do
    checked = checked + 1
    local ok, errors = json.validate(r.v, schema)
    if not ok then
      failed = failed + 1
      if #shown < 5 then
        local e = errors[1]
        shown[#shown + 1] = ("%s %s: %s %s"):format(key, r.k, e.pointer == "" and "/" or e.pointer, e.message)
      end
    end
  end
  return (outcome("json_schema", failed == 0, failed == 0 and ("%d values of %s.%s match the schema"):format(checked, tbl, col) or
    ("%d of %d values of %s.%s do not match: %s"):format(failed, checked, tbl, col, table.concat(shown, "; "))))
end

-- ---- reports ----------------------------------------------------------------------------

local Report = {}
Report.__index = Report

---The report as a readable table.
function Report:text()
  local lines = {}
  for _, r in ipairs(self.results) do
    lines[#lines + 1] = ("%-4s %-16s %s"):format(r.ok and "ok" or "FAIL", r.check, r.message)
  end
  lines[#lines + 1] = ("%d passed, %d failed"):format(self.passed, self.failed)
  return table.concat(lines, "\n") .. "\n"
end

---The report as JSON text.
function Report:json()
  return json.encode { passed = self.passed, failed = self.failed, ok = self.failed == 0, results = json.array(self.results) }
end

---Prints the report (json = true: as JSON) and returns the exit code: 0, or 1 if a check failed.
function Report:print(opts)
  io.stdout:write(opts and opts.json and (self:json() .. "\n") or self:text())
  return self.failed == 0 and 0 or 1
end

---Runs `fn` with every check collecting into a report instead of raising; returns it:
---{passed, failed, ok, results = {check, ok, message}} with :text(), :json(), :print().
function C.run(fn)
  local outer = collecting
  local report = setmetatable({ passed = 0, failed = 0, results = {} }, Report)
  collecting = report
  local ok, err = pcall(fn)
  collecting = outer
  if not ok then
    report.results[#report.results + 1] = { check = "error", ok = false, message = tostring(err) }
    report.failed = report.failed + 1
  end
  report.ok = report.failed == 0
  return report
end

return C
