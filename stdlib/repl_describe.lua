-- The REPL's psql-style describe commands: \d and \d NAME, \dt \dv \dm \di \ds \dn \dT \df \du.
-- Lists are catalog queries written like psql's describe.c (pg_catalog-qualified, the same
-- columns and order). \d NAME of a table reads schema.inspect's model in display form, so
-- columns, indexes, constraints, triggers and policies print as psql prints them.
-- Each function returns the text to show and whether it found what was asked for.
local fmt = require "repl_format"

local M = {}

-- psql's name patterns: "." splits schema from name, * and ? are wildcards, unquoted letters
-- fold to lower case, "…" quotes, $ is literal; other regular-expression syntax passes.
local function pattern_regexes(pattern)
  local parts, cur, quoted = {}, {}, false
  local i = 1
  while i <= #pattern do
    local ch = pattern:sub(i, i)
    if ch == '"' then
      if quoted and pattern:sub(i + 1, i + 1) == '"' then
        cur[#cur + 1] = '"'
        i = i + 1
      else
        quoted = not quoted
      end
    elseif quoted then
      cur[#cur + 1] = ch:find("[%^%$%.%[%]%(%)%*%+%?|{}\\]") and ("\\" .. ch) or ch
    elseif ch == "." then
      parts[#parts + 1] = table.concat(cur)
      cur = {}
    elseif ch == "*" then
      cur[#cur + 1] = ".*"
    elseif ch == "?" then
      cur[#cur + 1] = "."
    elseif ch == "$" then
      cur[#cur + 1] = "\\$"
    else
      cur[#cur + 1] = ch:lower()
    end
    i = i + 1
  end
  parts[#parts + 1] = table.concat(cur)
  local name = parts[#parts]
  local schema = #parts >= 2 and parts[#parts - 1] or nil
  local function anchored(re)
    if re == nil or re == "" or re == ".*" then return nil end
    return "^(" .. re .. ")$"
  end
  return anchored(schema), anchored(name), schema ~= nil
end

-- SQL conditions (and parameters) for a pattern over a schema column and a name column;
-- without a schema part the object must be visible on the search_path (`visible`).
local function pattern_filter(pattern, schema_col, name_col, visible, params)
  local conds = {}
  if not pattern then return conds end
  local schema_re, name_re, has_schema = pattern_regexes(pattern)
  if name_re then
    params[#params + 1] = name_re
    conds[#conds + 1] = name_col .. " OPERATOR(pg_catalog.~) $" .. #params .. " COLLATE pg_catalog.default"
  end
  if schema_re then
    params[#params + 1] = schema_re
    conds[#conds + 1] = schema_col .. " OPERATOR(pg_catalog.~) $" .. #params .. " COLLATE pg_catalog.default"
  elseif visible and not has_schema then
    conds[#conds + 1] = visible
  end
  return conds
end

-- The conditions of a list: `base`, then the pattern's; without a pattern, psql's default:
-- objects outside the system schemas that are visible on the search_path.
local function list_conditions(base, pattern, schema_col, name_col, visible, params)
  local conds = base
  if pattern then
    for _, c in ipairs(pattern_filter(pattern, schema_col, name_col, visible, params)) do
      conds[#conds + 1] = c
    end
  else
    conds[#conds + 1] = schema_col .. " <> 'pg_catalog' AND " .. schema_col .. " !~ '^pg_toast' AND " ..
                        schema_col .. " <> 'information_schema'"
    conds[#conds + 1] = visible
  end
  return conds
end

local function where(conds)
  return #conds == 0 and "" or ("\n WHERE " .. table.concat(conds, "\n   AND "))
end

-- A query's rows as a psql table, or the "Did not find" line.
-- psql says "Did not find …" only for relations (`none`); other lists print empty.
local function listing(sql, params, title, none)
  local rows, columns = db:query(sql, table.unpack(params))
  if #rows == 0 and none then return none .. "\n", false end
  local headers, cells = {}, {}
  for c, col in ipairs(columns) do headers[c] = col.name end
  for r, row in ipairs(rows) do
    local line = {}
    for c, col in ipairs(columns) do line[c] = fmt.cell(row[col.name], col.type, "") end
    cells[r] = line
  end
  return fmt.aligned(headers, cells, { title = title, count = true }), true
end

local function not_found(what, pattern)
  if pattern then return string.format('Did not find any %s named "%s".', what, pattern) end
  return "Did not find any " .. what .. "s."
end

local RELKIND_NAME = [[CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view'
         WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence'
         WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table'
         WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END]]

---\d, \dt, \dv, \dm, \di, \ds: a list of relations of the given kinds.
---@param kinds string relkind letters, e.g. "rp"
function M.relations(kinds, pattern)
  local letters = {}
  for ch in kinds:gmatch(".") do letters[#letters + 1] = ch end
  local params = { db.array(letters) }
  local conds = list_conditions({ "c.relkind::text = ANY($1::text[])" }, pattern, "n.nspname",
                                "c.relname", "pg_catalog.pg_table_is_visible(c.oid)", params)
  local indexes = kinds:find("i") ~= nil
  local sql = [[
SELECT n.nspname AS "Schema", c.relname AS "Name", ]] .. RELKIND_NAME .. [[ AS "Type",
       pg_catalog.pg_get_userbyid(c.relowner) AS "Owner"]] ..
      (indexes and ', c2.relname AS "Table"' or "") .. [[

  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace]] ..
      (indexes and [[

  LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
  LEFT JOIN pg_catalog.pg_class c2 ON i.indrelid = c2.oid]] or "") ..
      where(conds) .. "\n ORDER BY 1, 2"
  return listing(sql, params, "List of relations", not_found("relation", pattern))
end

---\dn: schemas.
function M.schemas(pattern)
  local params = {}
  local conds = pattern_filter(pattern, "NULL", "n.nspname", nil, params)
  if not pattern then
    conds[#conds + 1] = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
  end
  local sql = [[
SELECT n.nspname AS "Name", pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"
  FROM pg_catalog.pg_namespace n]] .. where(conds) .. "\n ORDER BY 1"
  return listing(sql, params, "List of schemas", nil)
end

---\dT: data types (not arrays, not table row types).
function M.types(pattern)
  local params = {}
  local conds = list_conditions({
    "(t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid))",
    "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid)",
  }, pattern, "n.nspname", "t.typname", "pg_catalog.pg_type_is_visible(t.oid)", params)
  local sql = [[
SELECT n.nspname AS "Schema", pg_catalog.format_type(t.oid, NULL) AS "Name",
       pg_catalog.obj_description(t.oid, 'pg_type') AS "Description"
  FROM pg_catalog.pg_type t
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace]] .. where(conds) ..
      "\n ORDER BY 1, 2"
  return listing(sql, params, "List of data types", nil)
end

---\df: functions and procedures.
function M.functions(pattern)
  local params = {}
  local conds = list_conditions({}, pattern, "n.nspname", "p.proname",
                                "pg_catalog.pg_function_is_visible(p.oid)", params)
  local sql = [[
SELECT n.nspname AS "Schema", p.proname AS "Name",
       pg_catalog.pg_get_function_result(p.oid) AS "Result data type",
       pg_catalog.pg_get_function_arguments(p.oid) AS "Argument data types",
       CASE p.prokind WHEN 'a' THEN 'agg' WHEN 'w' THEN 'window' WHEN 'p' THEN 'proc'
            ELSE 'func' END AS "Type"
  FROM pg_catalog.pg_proc p
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace]] .. where(conds) ..
      "\n ORDER BY 1, 2, 4"
  return listing(sql, params, "List of functions", nil)
end

---\du: roles with their attributes.
function M.roles(pattern)
  local params = {}
  local conds = pattern_filter(pattern, "NULL", "r.rolname", nil, params)
  if not pattern then conds[#conds + 1] = "r.rolname !~ '^pg_'" end
  local rows = db:query([[
SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
       r.rolconnlimit, r.rolvaliduntil::text AS valid_until, r.rolreplication, r.rolbypassrls,
       ARRAY(SELECT b.rolname FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles b ON m.roleid = b.oid
              WHERE m.member = r.oid ORDER BY 1) AS member_of
  FROM pg_catalog.pg_roles r]] .. where(conds) .. "\n ORDER BY 1", table.unpack(params))
  if #rows == 0 then return not_found("role", pattern) .. "\n", false end
  local cells = {}
  for i, r in ipairs(rows) do
    local attrs = {}
    local function add(cond, text) if cond then attrs[#attrs + 1] = text end end
    add(r.rolsuper, "Superuser")
    add(not r.rolinherit, "No inheritance")
    add(r.rolcreaterole, "Create role")
    add(r.rolcreatedb, "Create DB")
    add(not r.rolcanlogin, "Cannot login")
    add(r.rolreplication, "Replication")
    add(r.rolbypassrls, "Bypass RLS")
    if r.rolconnlimit >= 0 then
      attrs[#attrs + 1] = r.rolconnlimit == 1 and "1 connection" or (r.rolconnlimit .. " connections")
    end
    if r.valid_until ~= json.null then attrs[#attrs + 1] = "Password valid until " .. r.valid_until end
    cells[i] = { r.rolname, table.concat(attrs, ", "), fmt.cell(r.member_of, "_name", "") }
  end
  return fmt.aligned({ "Role name", "Attributes", "Member of" }, cells,
                     { title = "List of roles", count = false }), true
end

-- ---- \d NAME -------------------------------------------------------------------------------

local function column_row(col)
  local default = col.default ~= json.null and col.default or ""
  if col.identity ~= json.null and col.identity then
    default = "generated " .. col.identity .. " as identity"
  elseif col.generated ~= json.null and col.generated then
    default = "generated always as (" .. col.generated .. ") stored"
  end
  local collation = ""
  if col.collation ~= json.null and col.collation then
    -- the model names it schema-qualified and quoted; psql shows the bare name
    collation = col.collation:match('%.?"([^"]*)"$') or col.collation:match("([^.]+)$")
  end
  return { col.name, col.type, collation, col.not_null and "not null" or "", default }
end

local COLUMN_HEADERS = { "Column", "Type", "Collation", "Nullable", "Default" }

-- Columns of any relation, straight from the catalogs (views and sequences are not in the
-- model's tables list), in the model's shape.
local function catalog_columns(oid)
  return (db:query([[
SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       (SELECT co.collname FROM pg_catalog.pg_collation co, pg_catalog.pg_type t
         WHERE co.oid = a.attcollation AND t.oid = a.atttypid
           AND a.attcollation <> t.typcollation) AS collation,
       a.attnotnull AS not_null,
       CASE WHEN a.attgenerated = '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) END AS default,
       CASE WHEN a.attgenerated = 's' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) END AS generated,
       CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END AS identity
  FROM pg_catalog.pg_attribute a
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum]], oid))
end

-- "name" PRIMARY KEY, btree (id) — as psql lists an index under its table.
local function index_line(ix, constraints)
  local con = ix.constraint ~= json.null and ix.constraint and constraints[ix.constraint]
  local def = ix.definition
  local parts = { '"' .. ix.name .. '"' }
  if con and con.type == "exclusion" then
    parts[#parts + 1] = con.definition
  else
    if ix.primary then
      parts[#parts + 1] = "PRIMARY KEY,"
    elseif ix.unique then
      local backs = ix.constraint ~= json.null and ix.constraint
      parts[#parts + 1] = backs and "UNIQUE CONSTRAINT," or "UNIQUE,"
    end
    parts[#parts + 1] = def:match(" USING (.*)$") or def
    if con and con.deferrable then parts[#parts + 1] = "DEFERRABLE" end
    if con and con.deferred then parts[#parts + 1] = "INITIALLY DEFERRED" end
  end
  if ix.clustered then parts[#parts + 1] = "CLUSTER" end
  if not ix.valid then parts[#parts + 1] = "INVALID" end
  if ix.replica_identity then parts[#parts + 1] = "REPLICA IDENTITY" end
  return "    " .. table.concat(parts, " ")
end

local function index_footers(footers, indexes, constraints, oid)
  if #indexes == 0 then return end
  -- CLUSTER and REPLICA IDENTITY are not in the model; psql shows them, so ask.
  local flags = {}
  for _, r in ipairs(db:query([[
SELECT c.relname, i.indisclustered, i.indisreplident
  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = $1::oid]], oid)) do
    flags[r.relname] = r
  end
  local sorted = {}
  for _, ix in ipairs(indexes) do
    local f = flags[ix.name] or {}
    sorted[#sorted + 1] = setmetatable({ clustered = f.indisclustered, replica_identity = f.indisreplident },
                                       { __index = ix })
  end
  table.sort(sorted, function(a, b)
    if a.primary ~= b.primary then return a.primary end
    return a.name < b.name
  end)
  footers[#footers + 1] = "Indexes:"
  for _, ix in ipairs(sorted) do footers[#footers + 1] = index_line(ix, constraints) end
end

local function constraint_footers(footers, title, list)
  if #list == 0 then return end
  table.sort(list, function(a, b) return a.name < b.name end)
  footers[#footers + 1] = title
  for _, c in ipairs(list) do
    footers[#footers + 1] = '    "' .. c.name .. '" ' .. c.definition
  end
end

local function referenced_by(footers, oid)
  local rows = db:query([[
SELECT c.conname, c.conrelid::pg_catalog.regclass::text AS ontable,
       pg_catalog.pg_get_constraintdef(c.oid, true) AS condef
  FROM pg_catalog.pg_constraint c
 WHERE c.confrelid = $1::oid AND c.contype = 'f' AND c.conparentid = 0
 ORDER BY c.conname]], oid)
  if #rows == 0 then return end
  footers[#footers + 1] = "Referenced by:"
  for _, r in ipairs(rows) do
    footers[#footers + 1] = string.format('    TABLE "%s" CONSTRAINT "%s" %s', r.ontable, r.conname, r.condef)
  end
end

local function policy_footers(footers, t)
  local policies = t.policies or {}
  local header
  if t.rls and t.rls_forced then
    header = "Policies (forced row security enabled):"
  elseif t.rls then
    header = "Policies:"
  elseif #policies > 0 then
    header = "Policies (row security disabled):"
  end
  if not header then return end
  if #policies == 0 then
    footers[#footers + 1] = (t.rls_forced and "Policies (forced row security enabled)"
                             or "Policies (row security enabled)") .. ": (none)"
    return
  end
  footers[#footers + 1] = header
  for _, p in ipairs(policies) do
    local line = '    POLICY "' .. p.name .. '"'
    if p.permissive == false then line = line .. " AS RESTRICTIVE" end
    if p.command and p.command ~= json.null and p.command ~= "ALL" and p.command ~= "all" then
      line = line .. " FOR " .. p.command:upper()
    end
    footers[#footers + 1] = line
    local roles = p.roles ~= json.null and p.roles or {}
    if #roles > 0 and not (#roles == 1 and roles[1]:lower() == "public") then
      footers[#footers + 1] = "      TO " .. table.concat(roles, ",")
    end
    if p.using and p.using ~= json.null then footers[#footers + 1] = "      USING (" .. p.using .. ")" end
    if p.check and p.check ~= json.null then
      footers[#footers + 1] = "      WITH CHECK (" .. p.check .. ")"
    end
  end
end

local TRIGGER_SECTIONS = {
  { "origin", "Triggers:" }, { "disabled", "Disabled user triggers:" },
  { "always", "Triggers firing always:" }, { "replica", "Triggers firing on replica only:" },
}

local function trigger_footers(footers, triggers)
  for _, section in ipairs(TRIGGER_SECTIONS) do
    local lines = {}
    for _, tg in ipairs(triggers or {}) do
      if tg.enabled == section[1] then
        lines[#lines + 1] = "    " .. (tg.definition:match("TRIGGER (.*)$") or tg.definition)
      end
    end
    if #lines > 0 then
      table.sort(lines)
      footers[#footers + 1] = section[2]
      for _, l in ipairs(lines) do footers[#footers + 1] = l end
    end
  end
end

local function find(list, schema_name, name)
  for _, x in ipairs(list or {}) do
    if x.schema == schema_name and x.name == name then return x end
  end
end

-- A partition's indexes follow its parent's, so the model leaves them out; psql lists them.
local function catalog_indexes(oid)
  return (db:query([[
SELECT c.relname AS name, pg_catalog.pg_get_indexdef(i.indexrelid, 0, true) AS definition,
       i.indisprimary AS primary, i.indisunique AS unique, i.indisvalid AS valid,
       (SELECT k.conname FROM pg_catalog.pg_constraint k
         WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid
           AND k.contype IN ('p', 'u', 'x')) AS constraint
  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = $1::oid]], oid))
end

local function describe_table(rel)
  local model = schema.inspect(db, { schemas = { rel.schema }, display = true })
  local t = find(model.tables, rel.schema, rel.name)
  if not t then return nil end -- system catalogs and foreign tables: see describe_other
  local rows = {}
  for i, col in ipairs(t.columns) do rows[i] = column_row(col) end
  local footers = {}
  local partition = t.partition_of and t.partition_of ~= json.null
  if partition then
    local parent = db:value("SELECT i.inhparent::pg_catalog.regclass::text FROM pg_catalog.pg_inherits i WHERE i.inhrelid = $1::oid", rel.oid)
    footers[#footers + 1] = "Partition of: " .. tostring(parent) .. " " .. tostring(t.partition_bound)
  end
  if t.partition_key and t.partition_key ~= json.null then
    footers[#footers + 1] = "Partition key: " .. t.partition_key
  end
  local by_name, checks, fks = {}, {}, {}
  for _, c in ipairs(t.constraints or {}) do
    by_name[c.name] = c
    if c.type == "check" then checks[#checks + 1] = c end
    if c.type == "foreign key" then fks[#fks + 1] = c end
  end
  index_footers(footers, partition and catalog_indexes(rel.oid) or t.indexes or {}, by_name, rel.oid)
  constraint_footers(footers, "Check constraints:", checks)
  constraint_footers(footers, "Foreign-key constraints:", fks)
  referenced_by(footers, rel.oid)
  policy_footers(footers, t)
  trigger_footers(footers, t.triggers)
  if t.kind == "partitioned" then
    local n = db:value("SELECT count(*) FROM pg_catalog.pg_inherits WHERE inhparent = $1::oid", rel.oid)
    footers[#footers + 1] = string.format("Number of partitions: %d (Use \\d+ to list them.)", n)
  end
  local kind = t.kind == "partitioned" and "Partitioned table" or "Table"
  if t.unlogged then kind = "Unlogged " .. kind:lower() end
  return fmt.aligned(COLUMN_HEADERS, rows, {
    title = string.format('%s "%s.%s"', kind, rel.schema, rel.name), footers = footers,
  })
end

local OTHER_TITLE = { r = "Table", p = "Partitioned table", f = "Foreign table", v = "View",
                      m = "Materialized view" }

-- Views, and tables the model leaves out (system catalogs, foreign tables): columns from the
-- catalogs; materialized views and catalogs list their indexes.
local function describe_other(rel)
  local rows = {}
  for i, col in ipairs(catalog_columns(rel.oid)) do rows[i] = column_row(col) end
  local footers = {}
  if rel.relkind == "r" then index_footers(footers, catalog_indexes(rel.oid), {}, rel.oid) end
  if rel.relkind == "m" then
    local model = schema.inspect(db, { schemas = { rel.schema }, display = true })
    local v = find(model.views, rel.schema, rel.name)
    index_footers(footers, v and v.indexes or {}, {}, rel.oid)
  end
  return fmt.aligned(COLUMN_HEADERS, rows, {
    title = string.format('%s "%s.%s"', OTHER_TITLE[rel.relkind], rel.schema, rel.name),
    footers = footers,
  })
end

local function describe_sequence(rel)
  local s = db:one([[
SELECT pg_catalog.format_type(s.seqtypid, NULL) AS type, s.seqstart::text AS start,
       s.seqmin::text AS min, s.seqmax::text AS max, s.seqincrement::text AS inc,
       CASE WHEN s.seqcycle THEN 'yes' ELSE 'no' END AS cycles, s.seqcache::text AS cache,
       (SELECT pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname) || '.' ||
               pg_catalog.quote_ident(a.attname)
          FROM pg_catalog.pg_depend d
          JOIN pg_catalog.pg_class c ON c.oid = d.refobjid
          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = s.seqrelid
           AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.deptype IN ('a', 'i')) AS owner,
       (SELECT d.deptype FROM pg_catalog.pg_depend d
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = s.seqrelid
           AND d.deptype IN ('a', 'i') LIMIT 1) AS deptype
  FROM pg_catalog.pg_sequence s WHERE s.seqrelid = $1::oid]], rel.oid)
  local footers = {}
  if s.owner ~= json.null then
    footers[1] = (s.deptype == "i" and "Sequence for identity column: " or "Owned by: ") .. s.owner
  end
  return fmt.aligned({ "Type", "Start", "Minimum", "Maximum", "Increment", "Cycles?", "Cache" },
                     { { s.type, s.start, s.min, s.max, s.inc, s.cycles, s.cache } }, {
    title = string.format('Sequence "%s.%s"', rel.schema, rel.name),
    right = { false, true, true, true, true, false, true }, footers = footers,
  })
end

local function describe_index(rel)
  local cols = db:query([[
SELECT a.attname AS name, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       CASE WHEN a.attnum <= i.indnkeyatts THEN 'yes' ELSE 'no' END AS key,
       pg_catalog.pg_get_indexdef(a.attrelid, a.attnum, true) AS definition
  FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_index i ON i.indexrelid = a.attrelid
 WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum]], rel.oid)
  local info = db:one([[
SELECT i.indisprimary, i.indisunique, i.indisvalid, i.indisclustered, i.indisreplident, am.amname,
       pg_catalog.pg_get_expr(i.indpred, i.indrelid, true) AS predicate,
       t.relnamespace::pg_catalog.regnamespace::text || '.' || t.relname AS tbl
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
  JOIN pg_catalog.pg_am am ON am.oid = c.relam
  JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
 WHERE i.indexrelid = $1::oid]], rel.oid)
  local rows = {}
  for i, c in ipairs(cols) do rows[i] = { c.name, c.type, c.key, c.definition } end
  local footers = {}
  local parent = db:value([[
SELECT i.inhparent::pg_catalog.regclass::text FROM pg_catalog.pg_inherits i
 WHERE i.inhrelid = $1::oid]], rel.oid)
  if parent then footers[#footers + 1] = "Partition of: " .. parent .. " " end
  local what = info.indisprimary and "primary key, " or (info.indisunique and "unique, " or "")
  local footer = what .. info.amname .. ', for table "' .. info.tbl .. '"'
  if info.predicate ~= json.null then footer = footer .. ", predicate (" .. info.predicate .. ")" end
  if not info.indisvalid then footer = footer .. ", invalid" end
  if info.indisclustered then footer = footer .. ", clustered" end
  if info.indisreplident then footer = footer .. ", replica identity" end
  footers[#footers + 1] = footer
  local kind = "Index"
  if rel.relkind == "I" then
    kind = "Partitioned index"
    local n = db:value("SELECT count(*) FROM pg_catalog.pg_inherits WHERE inhparent = $1::oid", rel.oid)
    footers[#footers + 1] = string.format("Number of partitions: %d (Use \\d+ to list them.)", n)
  end
  return fmt.aligned({ "Column", "Type", "Key?", "Definition" }, rows, {
    title = string.format('%s "%s.%s"', kind, rel.schema, rel.name), footers = footers,
  })
end

---\d NAME: every relation matching the pattern, described.
function M.describe(pattern)
  local params = {}
  local conds = { "c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'i', 'I')" }
  for _, c in ipairs(pattern_filter(pattern, "n.nspname", "c.relname",
                                    "pg_catalog.pg_table_is_visible(c.oid)", params)) do
    conds[#conds + 1] = c
  end
  local rels = db:query([[
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind
  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace]] .. where(conds) ..
                        "\n ORDER BY 2, 3", table.unpack(params))
  if #rels == 0 then return not_found("relation", pattern) .. "\n", false end
  local out = {}
  for _, rel in ipairs(rels) do
    local text
    if rel.relkind == "r" or rel.relkind == "p" or rel.relkind == "f" then
      text = describe_table(rel)
    elseif rel.relkind == "S" then
      text = describe_sequence(rel)
    elseif rel.relkind == "i" or rel.relkind == "I" then
      text = describe_index(rel)
    end
    out[#out + 1] = text or describe_other(rel)
  end
  return table.concat(out), true
end

M.pattern_regexes = pattern_regexes

return M
