-- The REPL's psql-style describe commands: \d and \d NAME, \dt \dv \dm \di \ds \dn \dT \df \du,
-- each with psql 15's verbose form (`verbose`: the command ended in "+").
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
  -- database.schema.name is allowed for the current database only, as in psql
  if #parts > 3 then error("improper qualified name (too many dotted names): " .. pattern, 0) end
  if #parts == 3 and parts[1] ~= db:info().database then
    error("cross-database references are not implemented: " .. pattern, 0)
  end
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

-- The server's version number, asked once per connection (\c changes `db`).
local version, version_of
local function server_version()
  if version_of ~= db then
    version, version_of = db:value("SELECT pg_catalog.current_setting('server_version_num')::int"), db
  end
  return version
end

local function not_found(what, pattern)
  if pattern then return string.format('Did not find any %s named "%s".', what, pattern) end
  return "Did not find any " .. what .. "s."
end

local RELKIND_NAME = [[CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view'
         WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence'
         WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table'
         WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END]]

---\d, \dt, \dv, \dm, \di, \ds: a list of relations of the given kinds. `verbose` (\dt+ …) adds
---psql's Persistence, Access method (where tables, materialized views or indexes are listed),
---Size (pg_table_size) and Description columns.
---@param kinds string relkind letters, e.g. "rp"
function M.relations(kinds, pattern, verbose)
  local letters = {}
  for ch in kinds:gmatch(".") do letters[#letters + 1] = ch end
  local params = { db.array(letters) }
  local conds = list_conditions({ "c.relkind::text = ANY($1::text[])" }, pattern, "n.nspname",
                                "c.relname", "pg_catalog.pg_table_is_visible(c.oid)", params)
  local indexes = kinds:find("i") ~= nil
  local access_method = verbose and kinds:find("[rmi]") ~= nil
  local extra = ""
  if verbose then
    extra = [[,
       CASE c.relpersistence WHEN 'p' THEN 'permanent' WHEN 't' THEN 'temporary'
            WHEN 'u' THEN 'unlogged' END AS "Persistence"]] ..
        (access_method and ',\n       am.amname AS "Access method"' or "") .. [[,
       pg_catalog.pg_size_pretty(pg_catalog.pg_table_size(c.oid)) AS "Size",
       pg_catalog.obj_description(c.oid, 'pg_class') AS "Description"]]
  end
  local sql = [[
SELECT n.nspname AS "Schema", c.relname AS "Name", ]] .. RELKIND_NAME .. [[ AS "Type",
       pg_catalog.pg_get_userbyid(c.relowner) AS "Owner"]] ..
      (indexes and ', c2.relname AS "Table"' or "") .. extra .. [[

  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace]] ..
      (access_method and "\n  LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam" or "") ..
      (indexes and [[

  LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
  LEFT JOIN pg_catalog.pg_class c2 ON i.indrelid = c2.oid]] or "") ..
      where(conds) .. "\n ORDER BY 1, 2"
  return listing(sql, params, "List of relations", not_found("relation", pattern))
end

-- An ACL column as psql shows it: one grant a line.
local function acl(column)
  return "pg_catalog.array_to_string(" .. column .. ", E'\\n')"
end

---\dn: schemas; `verbose` (\dn+) adds Access privileges and Description.
function M.schemas(pattern, verbose)
  local params = {}
  local conds = pattern_filter(pattern, "NULL", "n.nspname", nil, params)
  if not pattern then
    conds[#conds + 1] = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
  end
  local sql = [[
SELECT n.nspname AS "Name", pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"]] ..
      (verbose and (",\n       " .. acl("n.nspacl") .. [[ AS "Access privileges",
       pg_catalog.obj_description(n.oid, 'pg_namespace') AS "Description"]]) or "") .. [[

  FROM pg_catalog.pg_namespace n]] .. where(conds) .. "\n ORDER BY 1"
  return listing(sql, params, "List of schemas", nil)
end

---\dT: data types (not arrays, not table row types); `verbose` (\dT+) adds Internal name,
---Size, Elements (an enum's labels, one a line), Owner and Access privileges.
function M.types(pattern, verbose)
  local params = {}
  local conds = list_conditions({
    "(t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid))",
    "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid)",
  }, pattern, "n.nspname", "t.typname", "pg_catalog.pg_type_is_visible(t.oid)", params)
  local extra = ""
  if verbose then
    extra = [[
       t.typname AS "Internal name",
       CASE WHEN t.typrelid <> 0 THEN 'tuple' WHEN t.typlen < 0 THEN 'var'
            ELSE t.typlen::pg_catalog.text END AS "Size",
       pg_catalog.array_to_string(ARRAY(SELECT e.enumlabel FROM pg_catalog.pg_enum e
                                         WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder),
                                  E'\n') AS "Elements",
       pg_catalog.pg_get_userbyid(t.typowner) AS "Owner",
       ]] .. acl("t.typacl") .. [[ AS "Access privileges",
]]
  end
  local sql = [[
SELECT n.nspname AS "Schema", pg_catalog.format_type(t.oid, NULL) AS "Name",
]] .. extra .. [[
       pg_catalog.obj_description(t.oid, 'pg_type') AS "Description"
  FROM pg_catalog.pg_type t
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace]] .. where(conds) ..
      "\n ORDER BY 1, 2"
  return listing(sql, params, "List of data types", nil)
end

---\df: functions and procedures; `verbose` (\df+) adds Volatility, Parallel, Owner, Security,
---Access privileges, Language, Source code (the SQL body of a BEGIN ATOMIC or RETURN function)
---and Description.
function M.functions(pattern, verbose)
  local params = {}
  local conds = list_conditions({}, pattern, "n.nspname", "p.proname",
                                "pg_catalog.pg_function_is_visible(p.oid)", params)
  local extra = ""
  if verbose then
    extra = [[,
       CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable'
            WHEN 'v' THEN 'volatile' END AS "Volatility",
       CASE p.proparallel WHEN 'r' THEN 'restricted' WHEN 's' THEN 'safe'
            WHEN 'u' THEN 'unsafe' END AS "Parallel",
       pg_catalog.pg_get_userbyid(p.proowner) AS "Owner",
       CASE WHEN p.prosecdef THEN 'definer' ELSE 'invoker' END AS "Security",
       ]] .. acl("p.proacl") .. [[ AS "Access privileges",
       l.lanname AS "Language",
       ]] .. (server_version() >= 140000 and "COALESCE(pg_catalog.pg_get_function_sqlbody(p.oid), p.prosrc)" or "p.prosrc") ..
        [[ AS "Source code",
       pg_catalog.obj_description(p.oid, 'pg_proc') AS "Description"]]
  end
  local sql = [[
SELECT n.nspname AS "Schema", p.proname AS "Name",
       pg_catalog.pg_get_function_result(p.oid) AS "Result data type",
       pg_catalog.pg_get_function_arguments(p.oid) AS "Argument data types",
       CASE p.prokind WHEN 'a' THEN 'agg' WHEN 'w' THEN 'window' WHEN 'p' THEN 'proc'
            ELSE 'func' END AS "Type"]] .. extra .. [[

  FROM pg_catalog.pg_proc p
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace]] ..
      (verbose and "\n  LEFT JOIN pg_catalog.pg_language l ON l.oid = p.prolang" or "") .. where(conds) ..
      "\n ORDER BY 1, 2, 4"
  return listing(sql, params, "List of functions", nil)
end

---\du: roles with their attributes; `verbose` (\du+) adds Description.
function M.roles(pattern, verbose)
  local params = {}
  local conds = pattern_filter(pattern, "NULL", "r.rolname", nil, params)
  if not pattern then conds[#conds + 1] = "r.rolname !~ '^pg_'" end
  local rows = db:query([[
SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
       r.rolconnlimit, r.rolvaliduntil::text AS valid_until, r.rolreplication, r.rolbypassrls,
       ARRAY(SELECT b.rolname FROM pg_catalog.pg_auth_members m
               JOIN pg_catalog.pg_roles b ON m.roleid = b.oid
              WHERE m.member = r.oid ORDER BY 1) AS member_of,
       pg_catalog.shobj_description(r.oid, 'pg_authid') AS description
  FROM pg_catalog.pg_roles r]] .. where(conds) .. "\n ORDER BY 1", table.unpack(params))
  local cells = {} -- no match prints the empty table, as psql's \du does
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
    -- the connection limit and the password's expiry go on lines of their own
    local text = table.concat(attrs, ", ")
    local function line(more) text = text == "" and more or (text .. "\n" .. more) end
    if r.rolconnlimit >= 0 then
      line(r.rolconnlimit == 0 and "No connections" or r.rolconnlimit == 1 and "1 connection"
           or (r.rolconnlimit .. " connections"))
    end
    if r.valid_until ~= json.null then line("Password valid until " .. r.valid_until) end
    cells[i] = { r.rolname, text, fmt.cell(r.member_of, "_name", "") }
    if verbose then cells[i][4] = fmt.cell(r.description, "text", "") end
  end
  local headers = { "Role name", "Attributes", "Member of" }
  if verbose then headers[4] = "Description" end
  return fmt.aligned(headers, cells,
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
  local line = "    " .. table.concat(parts, " ")
  if ix.tablespace and ix.tablespace ~= json.null then line = line .. ', tablespace "' .. ix.tablespace .. '"' end
  return line
end

local function index_footers(footers, indexes, constraints, oid)
  if #indexes == 0 then return end
  -- CLUSTER and REPLICA IDENTITY are not in the model; psql shows them, so ask.
  local flags = {}
  for _, r in ipairs(db:query([[
SELECT c.relname, i.indisclustered, i.indisreplident,
       (SELECT t.spcname FROM pg_catalog.pg_tablespace t WHERE t.oid = c.reltablespace) AS tablespace
  FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = $1::oid]], oid)) do
    flags[r.relname] = r
  end
  local sorted = {}
  for _, ix in ipairs(indexes) do
    local f = flags[ix.name] or {}
    sorted[#sorted + 1] = setmetatable({ clustered = f.indisclustered, replica_identity = f.indisreplident,
                                         tablespace = f.tablespace },
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

-- psql's grouped footers (triggers, rules): for each section { heading, fits(item) } in order,
-- the heading once, then `line(item)` for each item that fits.
local function section_footers(footers, sections, items, line)
  for _, section in ipairs(sections) do
    local heading = false
    for _, item in ipairs(items) do
      if section[2](item) then
        if not heading then
          footers[#footers + 1] = section[1]
          heading = true
        end
        footers[#footers + 1] = "    " .. line(item)
      end
    end
  end
end

-- psql's trigger sections, in its order; each takes the triggers whose tgenabled (and
-- tgisinternal) fit.
local TRIGGER_SECTIONS = {
  { "Triggers:", function(t) return t.enabled == "O" end },
  { "Disabled user triggers:", function(t) return t.enabled == "D" and not t.internal end },
  { "Disabled internal triggers:", function(t) return t.enabled == "D" and t.internal end },
  { "Triggers firing always:", function(t) return t.enabled == "A" end },
  { "Triggers firing on replica only:", function(t) return t.enabled == "R" end },
}

-- A relation's triggers, as psql lists them (from the catalogs: the model leaves out the ones a
-- partition inherits, which psql marks ", ON TABLE parent"), user triggers and disabled internal
-- ones, by name.
local function trigger_footers(footers, oid)
  local parent = server_version() >= 130000 and [[
       CASE WHEN t.tgparentid <> 0 THEN
         (SELECT u.tgrelid::pg_catalog.regclass::pg_catalog.text
            FROM pg_catalog.pg_trigger u,
                 pg_catalog.pg_partition_ancestors(t.tgrelid) WITH ORDINALITY AS a(relid, depth)
           WHERE u.tgname = t.tgname AND u.tgrelid = a.relid AND u.tgparentid = 0
           ORDER BY a.depth LIMIT 1) END]] or "NULL::text"
  local triggers = db:query([[
SELECT pg_catalog.pg_get_triggerdef(t.oid, true) AS definition, t.tgenabled::text AS enabled,
       t.tgisinternal AS internal, ]] .. parent .. [[ AS parent
  FROM pg_catalog.pg_trigger t
 WHERE t.tgrelid = $1::oid AND (NOT t.tgisinternal OR t.tgenabled = 'D')
 ORDER BY t.tgname]], oid)
  section_footers(footers, TRIGGER_SECTIONS, triggers, function(t)
    local def = t.definition
    local at = def:find(" TRIGGER ", 1, true)
    if at then def = def:sub(at + 9) end
    if t.parent ~= json.null then def = def .. ", ON TABLE " .. t.parent end
    return def
  end)
end

-- Extended statistics, as psql lists them: kinds only when some but not all were asked for.
local function statistics_footers(footers, oid)
  local rows = db:query([[
SELECT s.stxrelid::pg_catalog.regclass::text AS rel,
       s.stxnamespace::pg_catalog.regnamespace::text AS nsp, s.stxname,
       pg_catalog.pg_get_statisticsobjdef_columns(s.oid) AS columns,
       'd' = ANY(s.stxkind) AS ndistinct, 'f' = ANY(s.stxkind) AS dependencies,
       'm' = ANY(s.stxkind) AS mcv, s.stxstattarget::text AS target
  FROM pg_catalog.pg_statistic_ext s
 WHERE s.stxrelid = $1::oid
 ORDER BY 2, 3]], oid)
  if #rows == 0 then return end
  footers[#footers + 1] = "Statistics objects:"
  for _, r in ipairs(rows) do
    local line = string.format('    "%s.%s"', r.nsp, r.stxname)
    local kinds = {}
    if r.ndistinct then kinds[#kinds + 1] = "ndistinct" end
    if r.dependencies then kinds[#kinds + 1] = "dependencies" end
    if r.mcv then kinds[#kinds + 1] = "mcv" end
    if #kinds > 0 and #kinds < 3 then line = line .. " (" .. table.concat(kinds, ", ") .. ")" end
    line = line .. " ON " .. r.columns .. " FROM " .. r.rel
    if r.target ~= json.null and r.target ~= "-1" then line = line .. "; STATISTICS " .. r.target end
    footers[#footers + 1] = line
  end
end

local function rule_enabled(letter) return function(r) return r.enabled == letter end end

local RULE_SECTIONS = {
  { "Rules:", rule_enabled "O" }, { "Disabled rules:", rule_enabled "D" },
  { "Rules firing always:", rule_enabled "A" }, { "Rules firing on replica only:", rule_enabled "R" },
}

local function rule_footers(footers, oid)
  local rows = db:query([[
SELECT r.rulename, pg_catalog.rtrim(pg_catalog.pg_get_ruledef(r.oid, true), ';') AS def,
       r.ev_enabled::text AS enabled
  FROM pg_catalog.pg_rewrite r
 WHERE r.ev_class = $1::oid ORDER BY 1]], oid)
  section_footers(footers, RULE_SECTIONS, rows, function(r) return (r.def:gsub("^CREATE RULE ", "")) end)
end

local function publication_footers(footers, oid)
  local sql
  if server_version() >= 150000 then
    sql = [[
SELECT p.pubname, NULL AS filter, NULL AS columns
  FROM pg_catalog.pg_publication p
  JOIN pg_catalog.pg_publication_namespace pn ON p.oid = pn.pnpubid
  JOIN pg_catalog.pg_class pc ON pc.relnamespace = pn.pnnspid
 WHERE pc.oid = $1::oid AND pg_catalog.pg_relation_is_publishable($1::oid)
UNION
SELECT p.pubname, pg_catalog.pg_get_expr(pr.prqual, c.oid),
       CASE WHEN pr.prattrs IS NOT NULL THEN
         (SELECT pg_catalog.string_agg(a.attname, ', ')
            FROM pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::pg_catalog.int2[], 1)) s,
                 pg_catalog.pg_attribute a
           WHERE a.attrelid = pr.prrelid AND a.attnum = pr.prattrs[s]) END
  FROM pg_catalog.pg_publication p
  JOIN pg_catalog.pg_publication_rel pr ON p.oid = pr.prpubid
  JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
 WHERE pr.prrelid = $1::oid
UNION
SELECT p.pubname, NULL, NULL
  FROM pg_catalog.pg_publication p
 WHERE p.puballtables AND pg_catalog.pg_relation_is_publishable($1::oid)
 ORDER BY 1]]
  else
    sql = [[
SELECT p.pubname, NULL AS filter, NULL AS columns
  FROM pg_catalog.pg_publication p JOIN pg_catalog.pg_publication_rel pr ON p.oid = pr.prpubid
 WHERE pr.prrelid = $1::oid
UNION ALL
SELECT p.pubname, NULL, NULL FROM pg_catalog.pg_publication p
 WHERE p.puballtables AND pg_catalog.pg_relation_is_publishable($1::oid)
 ORDER BY 1]]
  end
  local rows = db:query(sql, oid)
  if #rows == 0 then return end
  footers[#footers + 1] = "Publications:"
  for _, r in ipairs(rows) do
    local line = '    "' .. r.pubname .. '"'
    if r.columns ~= json.null then line = line .. " (" .. r.columns .. ")" end
    if r.filter ~= json.null then line = line .. " WHERE " .. r.filter end
    footers[#footers + 1] = line
  end
end

-- A table's child tables or partitions (an index's partitions): how many, or with \d+ the list,
-- as psql prints them (each partition with its bound; DEFAULT last).
local function children_footers(footers, oid, partitioned, verbose)
  local children = db:query([[
SELECT c.oid::pg_catalog.regclass::text AS name, c.relkind::text AS relkind,
       ]] .. (server_version() >= 140000 and "i.inhdetachpending" or "false") .. [[ AS detach_pending,
       pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_inherits i ON c.oid = i.inhrelid
 WHERE i.inhparent = $1::oid
 ORDER BY pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT',
          c.oid::pg_catalog.regclass::pg_catalog.text]], oid)
  if partitioned and #children == 0 then
    footers[#footers + 1] = "Number of partitions: 0"
  elseif not verbose then
    if #children > 0 then
      footers[#footers + 1] = string.format("Number of %s: %d (Use \\d+ to list them.)",
                                            partitioned and "partitions" or "child tables", #children)
    end
  else
    local label = partitioned and "Partitions" or "Child tables"
    for i, ch in ipairs(children) do
      local line = (i == 1 and label .. ": " or string.rep(" ", #label) .. "  ") .. ch.name
      if ch.bound ~= json.null then line = line .. " " .. ch.bound end
      -- (psql 15 marks partitioned children; it has no mark for foreign ones)
      if ch.relkind == "p" or ch.relkind == "I" then line = line .. ", PARTITIONED" end
      if ch.detach_pending then line = line .. " (DETACH PENDING)" end
      footers[#footers + 1] = line .. (i < #children and "," or "")
    end
  end
end

-- After the triggers: the parents a table inherits from (partitions name theirs at the top),
-- its children or partitions, the type of a typed table.
local function inheritance_footers(footers, oid, partitioned, verbose)
  local parents = db:query([[
SELECT c.oid::pg_catalog.regclass::text AS name
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_inherits i ON c.oid = i.inhparent
 WHERE i.inhrelid = $1::oid AND c.relkind <> 'p' AND c.relkind <> 'I'
 ORDER BY i.inhseqno]], oid)
  for i, p in ipairs(parents) do
    local line = (i == 1 and "Inherits: " or string.rep(" ", #"Inherits") .. "  ") .. p.name
    footers[#footers + 1] = line .. (i < #parents and "," or "")
  end
  children_footers(footers, oid, partitioned, verbose)
  local typed = db:value([[
SELECT c.reloftype::pg_catalog.regtype::text FROM pg_catalog.pg_class c
 WHERE c.oid = $1::oid AND c.reloftype <> 0]], oid)
  if typed then footers[#footers + 1] = "Typed table of type: " .. typed end
end

-- ---- \d+ NAME: psql's verbose extras --------------------------------------------------------

local STORAGE = { p = "plain", m = "main", x = "extended", e = "external" }
local COMPRESSION = { p = "pglz", l = "lz4", [""] = "" }

local function has(kinds, relkind) return kinds:find(relkind, 1, true) ~= nil end

-- The columns \d+ adds, as psql 15 chooses them by relkind: Storage always; Compression for
-- tables and materialized views; Stats target where ANALYZE keeps statistics (tables, indexes,
-- materialized views); Description where columns take comments (not indexes, TOAST tables).
-- Appends them to `headers` and to each row (rows[i] describes the column named names[i]).
local function add_verbose_columns(headers, rows, names, oid, relkind)
  local compression = has("rpm", relkind) and server_version() >= 140000
  local stats = has("rimIfp", relkind)
  local descr = has("rvmfcp", relkind)
  local out = { table.unpack(headers) }
  out[#out + 1] = "Storage"
  if compression then out[#out + 1] = "Compression" end
  if stats then out[#out + 1] = "Stats target" end
  if descr then out[#out + 1] = "Description" end
  local by_name = {}
  for _, r in ipairs(db:query([[
SELECT a.attname, a.attstorage::text AS storage,
       ]] .. (compression and "a.attcompression::text" or "''") .. [[ AS compression,
       CASE WHEN a.attstattarget = -1 THEN NULL ELSE a.attstattarget END AS stats,
       pg_catalog.col_description(a.attrelid, a.attnum) AS description
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped]], oid)) do
    local cells = { STORAGE[r.storage] or "???" }
    if compression then cells[#cells + 1] = COMPRESSION[r.compression] or "???" end
    if stats then cells[#cells + 1] = fmt.cell(r.stats, "int4", "") end
    if descr then cells[#cells + 1] = fmt.cell(r.description, "text", "") end
    by_name[r.attname] = cells
  end
  for i, row in ipairs(rows) do
    for _, cell in ipairs(by_name[names[i]] or {}) do row[#row + 1] = cell end
  end
  return out
end

-- A partition's constraint, under its "Partition of:" line.
local function partition_constraint_footer(footers, oid)
  local def = db:value("SELECT pg_catalog.pg_get_partition_constraintdef($1::oid)", oid)
  if def == nil or def == json.null or def == "" then
    footers[#footers + 1] = "No partition constraint"
  else
    footers[#footers + 1] = "Partition constraint: " .. def
  end
end

-- A view's or materialized view's definition, then a view's own rules (not _RETURN).
local function view_footers(footers, oid)
  footers[#footers + 1] = "View definition:"
  footers[#footers + 1] = db:value("SELECT pg_catalog.pg_get_viewdef($1::oid, true)", oid)
  local rules = db:query([[
SELECT pg_catalog.rtrim(pg_catalog.pg_get_ruledef(r.oid, true), ';') AS def
  FROM pg_catalog.pg_rewrite r
 WHERE r.ev_class = $1::oid AND r.rulename <> '_RETURN' ORDER BY r.rulename]], oid)
  if #rules == 0 then return end
  footers[#footers + 1] = "Rules:"
  for _, r in ipairs(rules) do footers[#footers + 1] = " " .. r.def:gsub("^CREATE RULE ", "") end
end

-- "Tablespace: NAME" when a relation is not in the database's default tablespace; `known`: its
-- tablespace already read (db.NULL for the default), else it is asked for.
local function tablespace_footer(footers, oid, known)
  local name = known
  if name == nil then
    name = db:value([[
SELECT t.spcname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_tablespace t ON t.oid = c.reltablespace
 WHERE c.oid = $1::oid]], oid)
  end
  if name and name ~= json.null then footers[#footers + 1] = 'Tablespace: "' .. name .. '"' end
end

-- The last footers, in psql's order: with \d+ Replica Identity when it is not the default; the
-- tablespace (a plain index names its own earlier); with \d+ the access method (for the
-- relkinds psql ends a table's footers with) and the storage options (reloptions, the TOAST
-- table's as "toast.NAME").
local function tail_footers(footers, rel, verbose)
  local kind = rel.relkind
  if not verbose then
    if has("rmpIt", kind) then tablespace_footer(footers, rel.oid) end
    return
  end
  local info = db:one([[
SELECT c.relreplident::text AS replident, am.amname, ts.spcname,
       pg_catalog.array_to_string(c.reloptions ||
         ARRAY(SELECT 'toast.' || x FROM pg_catalog.unnest(tc.reloptions) x), ', ') AS options
  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_class tc ON tc.oid = c.reltoastrelid
  LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
  LEFT JOIN pg_catalog.pg_tablespace ts ON ts.oid = c.reltablespace
 WHERE c.oid = $1::oid]], rel.oid)
  local ident = info.replident
  local catalog = rel.schema == "pg_catalog"
  if has("rm", kind) and ident ~= "i" and ((not catalog and ident ~= "d") or (catalog and ident ~= "n")) then
    footers[#footers + 1] = "Replica Identity: " ..
                            (ident == "f" and "FULL" or ident == "n" and "NOTHING" or "???")
  end
  if has("rmpIt", kind) then tablespace_footer(footers, rel.oid, info.spcname) end
  if has("rmfpIt", kind) and info.amname ~= json.null then
    footers[#footers + 1] = "Access method: " .. info.amname
  end
  if info.options ~= json.null and info.options ~= "" then
    footers[#footers + 1] = "Options: " .. info.options
  end
end

local function find(list, schema_name, name)
  for _, x in ipairs(list or {}) do
    if x.schema == schema_name and x.name == name then return x end
  end
end

local function catalog_checks(oid)
  return (db:query([[
SELECT r.conname AS name, pg_catalog.pg_get_constraintdef(r.oid, true) AS definition
  FROM pg_catalog.pg_constraint r
 WHERE r.conrelid = $1::oid AND r.contype = 'c']], oid))
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

-- schema.inspect's model of a schema in display form, read once per \d command (a pattern can
-- match many relations of one schema); M.describe empties it.
local models = {}
local function model_of(schema_name)
  local m = models[schema_name]
  if not m then
    m = schema.inspect(db, { schemas = { schema_name }, display = true })
    models[schema_name] = m
  end
  return m
end

local function describe_table(rel, verbose)
  local model = model_of(rel.schema)
  local t = find(model.tables, rel.schema, rel.name)
  if not t then return nil end -- system catalogs and foreign tables: see describe_other
  local rows, names = {}, {}
  for i, col in ipairs(t.columns) do rows[i], names[i] = column_row(col), col.name end
  local headers = COLUMN_HEADERS
  if verbose then headers = add_verbose_columns(headers, rows, names, rel.oid, rel.relkind) end
  local footers = {}
  local partition = t.partition_of and t.partition_of ~= json.null
  if partition then
    local parent = db:value("SELECT i.inhparent::pg_catalog.regclass::text FROM pg_catalog.pg_inherits i WHERE i.inhrelid = $1::oid", rel.oid)
    footers[#footers + 1] = "Partition of: " .. tostring(parent) .. " " .. tostring(t.partition_bound)
    if verbose then partition_constraint_footer(footers, rel.oid) end
  end
  if t.partition_key and t.partition_key ~= json.null then
    footers[#footers + 1] = "Partition key: " .. t.partition_key
  end
  local by_name, fks = {}, {}
  for _, c in ipairs(t.constraints or {}) do
    by_name[c.name] = c
    if c.type == "foreign key" then fks[#fks + 1] = c end
  end
  index_footers(footers, partition and catalog_indexes(rel.oid) or t.indexes or {}, by_name, rel.oid)
  -- from the catalogs: the model leaves out the checks a child inherits, psql lists them
  constraint_footers(footers, "Check constraints:", catalog_checks(rel.oid))
  constraint_footers(footers, "Foreign-key constraints:", fks)
  referenced_by(footers, rel.oid)
  policy_footers(footers, t)
  statistics_footers(footers, rel.oid)
  rule_footers(footers, rel.oid)
  publication_footers(footers, rel.oid)
  trigger_footers(footers, rel.oid)
  inheritance_footers(footers, rel.oid, t.kind == "partitioned", verbose)
  tail_footers(footers, rel, verbose)
  local kind = t.kind == "partitioned" and "Partitioned table" or "Table"
  if t.unlogged then kind = "Unlogged " .. kind:lower() end
  return fmt.aligned(headers, rows, {
    title = string.format('%s "%s.%s"', kind, rel.schema, rel.name), footers = footers,
  })
end

-- ---- foreign tables (the model leaves them out) ----

local function options_text(column)
  return "pg_catalog.array_to_string(ARRAY(SELECT pg_catalog.quote_ident(option_name) || ' ' || " ..
         "pg_catalog.quote_literal(option_value) FROM pg_catalog.pg_options_to_table(" .. column .. ")), ', ')"
end

-- A foreign table's columns take an "FDW options" column after Default.
local function foreign_columns(headers, rows, names, oid)
  local by_name = {}
  for _, r in ipairs(db:query([[
SELECT a.attname, CASE WHEN a.attfdwoptions IS NULL THEN '' ELSE '(' || ]] .. options_text("a.attfdwoptions") ..
                              [[ || ')' END AS options
  FROM pg_catalog.pg_attribute a
 WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped]], oid)) do
    by_name[r.attname] = r.options
  end
  for i, row in ipairs(rows) do row[#row + 1] = by_name[names[i]] or "" end
  local out = { table.unpack(headers) }
  out[#out + 1] = "FDW options"
  return out
end

-- A foreign partition names its parent and bound first.
local function foreign_partition_footers(footers, oid, verbose)
  local p = db:one([[
SELECT i.inhparent::pg_catalog.regclass::text AS parent, pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS bound
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_inherits i ON i.inhrelid = c.oid
 WHERE c.oid = $1::oid AND c.relispartition]], oid)
  if not p then return end
  footers[#footers + 1] = "Partition of: " .. p.parent .. " " .. p.bound
  if verbose then partition_constraint_footer(footers, oid) end
end

-- "Server: NAME" and the table's own FDW options.
local function server_footers(footers, oid)
  local s = db:one([[
SELECT s.srvname, ]] .. options_text("f.ftoptions") .. [[ AS options
  FROM pg_catalog.pg_foreign_table f JOIN pg_catalog.pg_foreign_server s ON s.oid = f.ftserver
 WHERE f.ftrelid = $1::oid]], oid)
  if not s then return end
  footers[#footers + 1] = "Server: " .. s.srvname
  if s.options ~= json.null and s.options ~= "" then
    footers[#footers + 1] = "FDW options: (" .. s.options .. ")"
  end
end

local OTHER_TITLE = { r = "Table", p = "Partitioned table", f = "Foreign table", v = "View",
                      m = "Materialized view", c = "Composite type", t = "TOAST table" }

-- Views, and tables the model leaves out (system catalogs, foreign tables): columns from the
-- catalogs; materialized views and catalogs list their indexes.
local function describe_other(rel, verbose)
  local rows, names = {}, {}
  local headers = COLUMN_HEADERS
  for i, col in ipairs(catalog_columns(rel.oid)) do rows[i], names[i] = column_row(col), col.name end
  local footers = {}
  if rel.relkind == "t" then
    -- a TOAST table: names and types only, then the table it belongs to
    headers = { "Column", "Type" }
    for _, r in ipairs(rows) do r[3], r[4], r[5] = nil, nil, nil end
  end
  if rel.relkind == "f" then headers = foreign_columns(headers, rows, names, rel.oid) end
  if verbose then headers = add_verbose_columns(headers, rows, names, rel.oid, rel.relkind) end
  if rel.relkind == "f" then foreign_partition_footers(footers, rel.oid, verbose) end
  if rel.relkind == "t" then
    local owner = db:one([[
SELECT n.nspname, c.relname FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.reltoastrelid = $1::oid]], rel.oid)
    if owner then footers[#footers + 1] = string.format('Owning table: "%s.%s"', owner.nspname, owner.relname) end
  end
  if rel.relkind == "r" or rel.relkind == "t" then
    index_footers(footers, catalog_indexes(rel.oid), {}, rel.oid)
  end
  if rel.relkind == "m" then
    local v = find(model_of(rel.schema).views, rel.schema, rel.name)
    index_footers(footers, v and v.indexes or {}, {}, rel.oid)
  end
  if verbose and (rel.relkind == "v" or rel.relkind == "m") then view_footers(footers, rel.oid) end
  if rel.relkind == "f" then
    constraint_footers(footers, "Check constraints:", catalog_checks(rel.oid))
    statistics_footers(footers, rel.oid)
    rule_footers(footers, rel.oid)
  end
  if rel.relkind == "v" or rel.relkind == "f" then trigger_footers(footers, rel.oid) end
  if rel.relkind == "f" then
    server_footers(footers, rel.oid)
    inheritance_footers(footers, rel.oid, false, verbose)
  end
  tail_footers(footers, rel, verbose)
  return fmt.aligned(headers, rows, {
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
    title = string.format('%s "%s.%s"', rel.unlogged and "Unlogged sequence" or "Sequence", rel.schema,
                          rel.name),
    right = { false, true, true, true, true, false, true }, footers = footers,
  })
end


local function describe_index(rel, verbose)
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
       t.relname AS tbl,
       c.relpersistence = 'u' AS unlogged,
       ]] .. (server_version() >= 150000 and "i.indnullsnotdistinct" or "false") .. [[ AS nulls_not_distinct,
       (NOT i.indimmediate) AND COALESCE(k.condeferrable, false) AS deferrable,
       (NOT i.indimmediate) AND COALESCE(k.condeferred, false) AS deferred
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
  JOIN pg_catalog.pg_am am ON am.oid = c.relam
  JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
  LEFT JOIN pg_catalog.pg_constraint k -- the constraint the index backs, if any
    ON k.conrelid = i.indrelid AND k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')
 WHERE i.indexrelid = $1::oid]], rel.oid)
  local rows, names = {}, {}
  for i, c in ipairs(cols) do rows[i], names[i] = { c.name, c.type, c.key, c.definition }, c.name end
  local headers = { "Column", "Type", "Key?", "Definition" }
  if verbose then headers = add_verbose_columns(headers, rows, names, rel.oid, rel.relkind) end
  local footers = {}
  local parent = db:value([[
SELECT i.inhparent::pg_catalog.regclass::text FROM pg_catalog.pg_inherits i
 WHERE i.inhrelid = $1::oid]], rel.oid)
  if parent then
    footers[#footers + 1] = "Partition of: " .. parent .. " "
    if verbose then partition_constraint_footer(footers, rel.oid) end
  end
  local what = ""
  if info.indisprimary then
    what = "primary key, "
  elseif info.indisunique then
    what = "unique" .. (info.nulls_not_distinct and " nulls not distinct" or "") .. ", "
  end
  -- psql names the table in the index's schema, unquoted
  local footer = what .. info.amname .. ', for table "' .. rel.schema .. "." .. info.tbl .. '"'
  if info.predicate ~= json.null then footer = footer .. ", predicate (" .. info.predicate .. ")" end
  if info.indisclustered then footer = footer .. ", clustered" end
  if not info.indisvalid then footer = footer .. ", invalid" end
  if info.deferrable then footer = footer .. ", deferrable" end
  if info.deferred then footer = footer .. ", initially deferred" end
  if info.indisreplident then footer = footer .. ", replica identity" end
  footers[#footers + 1] = footer
  if rel.relkind == "i" then tablespace_footer(footers, rel.oid) end
  local kind = info.unlogged and "Unlogged index" or "Index"
  if rel.relkind == "I" then
    kind = info.unlogged and "Unlogged partitioned index" or "Partitioned index"
    children_footers(footers, rel.oid, true, verbose)
  end
  tail_footers(footers, rel, verbose)
  return fmt.aligned(headers, rows, {
    title = string.format('%s "%s.%s"', kind, rel.schema, rel.name), footers = footers,
  })
end

---\d NAME: every relation matching the pattern, described.
function M.describe(pattern, verbose)
  local params = {}
  local conds = {} -- every kind, as psql: composite types and TOAST tables too
  for _, c in ipairs(pattern_filter(pattern, "n.nspname", "c.relname",
                                    "pg_catalog.pg_table_is_visible(c.oid)", params)) do
    conds[#conds + 1] = c
  end
  local rels = db:query([[
SELECT c.oid::int8 AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
       c.relpersistence = 'u' AS unlogged
  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace]] .. where(conds) ..
                        "\n ORDER BY 2, 3", table.unpack(params))
  if #rels == 0 then return not_found("relation", pattern) .. "\n", false end
  local out = {}
  models = {}
  for _, rel in ipairs(rels) do
    local text
    -- the model holds the tables of user schemas; foreign tables and catalogs: describe_other
    local system = rel.schema == "pg_catalog" or rel.schema == "information_schema"
    if (rel.relkind == "r" or rel.relkind == "p") and not system then
      text = describe_table(rel, verbose)
    elseif rel.relkind == "S" then
      text = describe_sequence(rel) -- \d+ adds nothing to a sequence
    elseif rel.relkind == "i" or rel.relkind == "I" then
      text = describe_index(rel, verbose)
    end
    out[#out + 1] = text or describe_other(rel, verbose)
  end
  models = {}
  return table.concat(out), true
end

M.pattern_regexes = pattern_regexes

return M
