-- The REPL's psql-style describe commands: \d and \d NAME, \dt \dv \dm \di \ds \dn \dT \df \du,
-- each with psql 15's verbose form (`verbose`: the command ended in "+").
-- Lists are catalog queries written like psql's describe.c (pg_catalog-qualified, the same
-- columns and order). \d NAME of a table reads schema.inspect's model in display form, so
-- columns, indexes, constraints, triggers and policies print as psql prints them.
-- Each function returns the text to show and whether it found what was asked for.
local fmt = require "repl_format"

local M = {}

-- psql's name patterns: "." splits schema from name, * and ? are wildcards, unquoted letters
-- fold to lower case, "…" quotes, $ and [] are literal; other regular-expression syntax
-- passes, unless `escape` (operator names, where + and | are the name).
local function pattern_regexes(pattern, escape)
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
    elseif escape and ch:find("[%^%$%.%[%]%(%)%*%+%?|{}\\]") then
      cur[#cur + 1] = "\\" .. ch
    elseif ch == "[" and pattern:sub(i + 1, i + 1) == "]" then -- an array type: int[]
      cur[#cur + 1] = "\\["
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
local function pattern_filter(pattern, schema_col, name_col, visible, params, escape)
  local conds = {}
  if not pattern then return conds end
  local schema_re, name_re, has_schema = pattern_regexes(pattern, escape)
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
-- objects visible on the search_path, outside the system schemas unless `system` (psql's S
-- modifier, \dtS).
local function list_conditions(base, pattern, schema_col, name_col, visible, params, system, escape)
  local conds = base
  if pattern then
    for _, c in ipairs(pattern_filter(pattern, schema_col, name_col, visible, params, escape)) do
      conds[#conds + 1] = c
    end
  else
    if not system then
      conds[#conds + 1] = schema_col .. " <> 'pg_catalog' AND " .. schema_col .. " !~ '^pg_toast' AND " ..
                          schema_col .. " <> 'information_schema'"
    end
    conds[#conds + 1] = visible
  end
  return conds
end

local function where(conds)
  return #conds == 0 and "" or ("\n WHERE " .. table.concat(conds, "\n   AND "))
end

-- A query's rows as a table to print (the server's text of each value, numbers right-aligned
-- as psql aligns them), or the "Did not find" line. psql says "Did not find …" only for
-- relations (`none`); other lists print empty.
local function listing(sql, params, title, none)
  local rows, columns = db:query_text(sql, table.unpack(params))
  if #rows == 0 and none then return none, false end
  local headers, right = {}, {}
  for c, col in ipairs(columns) do
    headers[c] = col.name
    right[c] = fmt.NUMERIC[col.type] or false
  end
  return { title = title, headers = headers, right = right, rows = rows, count = true }, true
end
M.listing = listing

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

---\d, \dt, \dv, \dm, \di, \ds, \dE: a list of relations of the given kinds. `verbose` (\dt+ …)
---adds psql's Persistence, Access method (where tables, materialized views or indexes are
---listed), Size (pg_table_size) and Description columns; `system` (\dtS) lists the system
---schemas' relations too (and TOAST tables where tables are listed).
---@param kinds string relkind letters, e.g. "rp"
function M.relations(kinds, pattern, verbose, system)
  if (system or pattern) and kinds:find("r", 1, true) then kinds = kinds .. "t" end
  local letters = {}
  for ch in kinds:gmatch(".") do letters[#letters + 1] = ch end
  local params = { db.array(letters) }
  local conds = list_conditions({ "c.relkind::text = ANY($1::text[])" }, pattern, "n.nspname",
                                "c.relname", "pg_catalog.pg_table_is_visible(c.oid)", params, system)
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

---\dn: schemas (`system`: pg_* and information_schema too); `verbose` (\dn+) adds Access
---privileges and Description.
function M.schemas(pattern, verbose, system)
  local params = {}
  local conds = pattern_filter(pattern, "NULL", "n.nspname", nil, params)
  if not pattern and not system then
    conds[#conds + 1] = "n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
  end
  local sql = [[
SELECT n.nspname AS "Name", pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"]] ..
      (verbose and (",\n       " .. acl("n.nspacl") .. [[ AS "Access privileges",
       pg_catalog.obj_description(n.oid, 'pg_namespace') AS "Description"]]) or "") .. [[

  FROM pg_catalog.pg_namespace n]] .. where(conds) .. "\n ORDER BY 1"
  return listing(sql, params, "List of schemas", nil)
end

-- Type names the SQL grammar takes that are neither pg_type's nor format_type's, as psql maps
-- them before matching (`\dT int` finds integer, `\dT int[]` integer[]).
local TYPE_ALIASES = {
  decimal = "numeric", float = "double precision", int = "integer",
  ["bool[]"] = "boolean[]", ["decimal[]"] = "numeric[]", ["float[]"] = "double precision[]",
  ["float4[]"] = "real[]", ["float8[]"] = "double precision[]", ["int[]"] = "integer[]",
  ["int2[]"] = "smallint[]", ["int4[]"] = "integer[]", ["int8[]"] = "bigint[]",
  ["time[]"] = "time without time zone[]", ["timetz[]"] = "time with time zone[]",
  ["timestamp[]"] = "timestamp without time zone[]", ["timestamptz[]"] = "timestamp with time zone[]",
  ["varbit[]"] = "bit varying[]", ["varchar[]"] = "character varying[]",
}

---\dT: data types (not arrays, not table row types); the pattern matches the internal name or
---the one format_type gives (`integer`); `verbose` (\dT+) adds Internal name, Size, Elements (an
---enum's labels, one a line), Owner and Access privileges; `system` (\dTS) the built-in types.
function M.types(pattern, verbose, system)
  local params = {}
  if pattern then pattern = TYPE_ALIASES[pattern:lower()] or pattern end
  local base = { "(t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid))" }
  if not (pattern and pattern:find("[]", 1, true)) then -- array types only when asked for: int[]
    base[2] = "NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type el WHERE el.oid = t.typelem AND el.typarray = t.oid)"
  end
  local conds = list_conditions(base, pattern, "n.nspname", "t.typname", "pg_catalog.pg_type_is_visible(t.oid)",
                                params, system)
  if pattern then -- psql: the name or its format_type spelling
    local name_re = select(2, pattern_regexes(pattern))
    for i, c in ipairs(conds) do
      if name_re and c:find("^t%.typname OPERATOR") then
        local n = c:match("%$(%d+)")
        conds[i] = "(" .. c .. "\n        OR pg_catalog.format_type(t.oid, NULL) OPERATOR(pg_catalog.~) $" .. n ..
                   " COLLATE pg_catalog.default)"
      end
    end
  end
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
---and Description; `system` (\dfS) the built-in ones too.
function M.functions(pattern, verbose, system)
  local params = {}
  local conds = list_conditions({}, pattern, "n.nspname", "p.proname",
                                "pg_catalog.pg_function_is_visible(p.oid)", params, system)
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

---\du: roles with their attributes; `verbose` (\du+) adds Description; `system` (\duS) the
---pg_* roles too.
function M.roles(pattern, verbose, system)
  local params = {}
  local conds = pattern_filter(pattern, "NULL", "r.rolname", nil, params)
  if not pattern and not system then conds[#conds + 1] = "r.rolname !~ '^pg_'" end
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
  return { title = "List of roles", headers = headers, rows = cells, count = false }, true
end

---\l: databases; `verbose` (\l+) adds Size (or "No Access"), Tablespace and Description.
function M.databases(pattern, verbose)
  local params = {}
  local conds = pattern_filter(pattern, "NULL", "d.datname", nil, params)
  local v15 = server_version() >= 150000
  local sql = [[
SELECT d.datname AS "Name",
       pg_catalog.pg_get_userbyid(d.datdba) AS "Owner",
       pg_catalog.pg_encoding_to_char(d.encoding) AS "Encoding",
       d.datcollate AS "Collate",
       d.datctype AS "Ctype",]] .. (v15 and [[

       d.daticulocale AS "ICU Locale",
       CASE d.datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' END AS "Locale Provider",]] or "") .. [[

       ]] .. acl("d.datacl") .. [[ AS "Access privileges"]] .. (verbose and [[,
       CASE WHEN pg_catalog.has_database_privilege(d.datname, 'CONNECT')
            THEN pg_catalog.pg_size_pretty(pg_catalog.pg_database_size(d.datname))
            ELSE 'No Access' END AS "Size",
       t.spcname AS "Tablespace",
       pg_catalog.shobj_description(d.oid, 'pg_database') AS "Description"]] or "") .. [[

  FROM pg_catalog.pg_database d]] ..
      (verbose and "\n  JOIN pg_catalog.pg_tablespace t ON d.dattablespace = t.oid" or "") .. where(conds) ..
      "\n ORDER BY 1"
  return listing(sql, params, "List of databases", nil)
end

---\dx: installed extensions. `verbose` (\dx+): the objects of each matching extension, one
---table each ("Objects in extension …"); none matching is psql's "Did not find" then.
function M.extensions(pattern, verbose)
  local params = {}
  local conds = pattern_filter(pattern, "NULL", "e.extname", nil, params)
  if not verbose then
    return listing([[
SELECT e.extname AS "Name", e.extversion AS "Version", n.nspname AS "Schema", c.description AS "Description"
  FROM pg_catalog.pg_extension e
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
  LEFT JOIN pg_catalog.pg_description c
    ON c.objoid = e.oid AND c.classoid = 'pg_catalog.pg_extension'::pg_catalog.regclass]] ..
      where(conds) .. "\n ORDER BY 1", params, "List of installed extensions", nil)
  end
  local exts = db:query("SELECT e.extname, e.oid::int8 AS oid FROM pg_catalog.pg_extension e" .. where(conds) ..
                        "\n ORDER BY 1", table.unpack(params))
  if #exts == 0 then return not_found("extension", pattern), false end
  local out = {}
  for _, e in ipairs(exts) do
    out[#out + 1] = (listing([[
SELECT pg_catalog.pg_describe_object(classid, objid, 0) AS "Object description"
  FROM pg_catalog.pg_depend
 WHERE refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass AND refobjid = $1::oid AND deptype = 'e'
 ORDER BY 1]], { e.oid }, string.format('Objects in extension "%s"', e.extname)))
  end
  return out, true
end

---\dp and \z: access privileges of tables, views, materialized views, sequences and foreign
---tables, their columns' and their row security policies. Without a schema in the pattern the
---system schemas are left out, as psql leaves them out.
function M.privileges(pattern)
  local params = {}
  local visible = "n.nspname !~ '^pg_' AND pg_catalog.pg_table_is_visible(c.oid)"
  local conds = { "c.relkind IN ('r','v','m','S','f','p')" }
  for _, c in ipairs(pattern_filter(pattern, "n.nspname", "c.relname", visible, params)) do conds[#conds + 1] = c end
  if not pattern then conds[#conds + 1] = visible end
  local sql = [[
SELECT n.nspname AS "Schema",
       c.relname AS "Name",
       CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
            WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' END AS "Type",
       ]] .. acl("c.relacl") .. [[ AS "Access privileges",
       pg_catalog.array_to_string(ARRAY(
         SELECT attname || E':\n  ' || pg_catalog.array_to_string(attacl, E'\n  ')
           FROM pg_catalog.pg_attribute a
          WHERE attrelid = c.oid AND NOT attisdropped AND attacl IS NOT NULL), E'\n') AS "Column privileges",
       pg_catalog.array_to_string(ARRAY(
         SELECT polname
                || CASE WHEN NOT polpermissive THEN E' (RESTRICTIVE)' ELSE '' END
                || CASE WHEN polcmd != '*' THEN E' (' || polcmd::pg_catalog.text || E'):' ELSE E':' END
                || CASE WHEN polqual IS NOT NULL
                        THEN E'\n  (u): ' || pg_catalog.pg_get_expr(polqual, polrelid) ELSE E'' END
                || CASE WHEN polwithcheck IS NOT NULL
                        THEN E'\n  (c): ' || pg_catalog.pg_get_expr(polwithcheck, polrelid) ELSE E'' END
                || CASE WHEN polroles <> '{0}'
                        THEN E'\n  to: ' || pg_catalog.array_to_string(
                               ARRAY(SELECT rolname FROM pg_catalog.pg_roles
                                      WHERE oid = ANY (polroles) ORDER BY 1), E', ')
                        ELSE E'' END
           FROM pg_catalog.pg_policy pol
          WHERE polrelid = c.oid), E'\n') AS "Policies"
  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace]] .. where(conds) .. "\n ORDER BY 1, 2"
  return listing(sql, params, "Access privileges", nil)
end

---\dD: domains; `verbose` (\dD+) adds Access privileges and Description; `system` (\dDS) the
---built-in ones too.
function M.domains(pattern, verbose, system)
  local params = {}
  local conds = list_conditions({ "t.typtype = 'd'" }, pattern, "n.nspname", "t.typname",
                                "pg_catalog.pg_type_is_visible(t.oid)", params, system)
  local sql = [[
SELECT n.nspname AS "Schema",
       t.typname AS "Name",
       pg_catalog.format_type(t.typbasetype, t.typtypmod) AS "Type",
       (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type bt
         WHERE c.oid = t.typcollation AND bt.oid = t.typbasetype
           AND t.typcollation <> bt.typcollation) AS "Collation",
       CASE WHEN t.typnotnull THEN 'not null' END AS "Nullable",
       t.typdefault AS "Default",
       pg_catalog.array_to_string(ARRAY(
         SELECT pg_catalog.pg_get_constraintdef(r.oid, true) FROM pg_catalog.pg_constraint r
          WHERE t.oid = r.contypid), ' ') AS "Check"]] .. (verbose and [[,
       ]] .. acl("t.typacl") .. [[ AS "Access privileges",
       d.description AS "Description"]] or "") .. [[

  FROM pg_catalog.pg_type t
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace]] .. (verbose and [[

  LEFT JOIN pg_catalog.pg_description d
    ON d.classoid = t.tableoid AND d.objoid = t.oid AND d.objsubid = 0]] or "") .. where(conds) ..
      "\n ORDER BY 1, 2"
  return listing(sql, params, "List of domains", nil)
end

---\do: operators (the pattern names the operator); `verbose` (\do+) adds Function; `system`
---(\doS) the built-in ones too.
function M.operators(pattern, verbose, system)
  local params = {}
  local conds = list_conditions({}, pattern, "n.nspname", "o.oprname",
                                "pg_catalog.pg_operator_is_visible(o.oid)", params, system, true)
  for i, c in ipairs(conds) do -- operators live in no TOAST schema: psql leaves that test out
    conds[i] = c:gsub(" AND n%.nspname !~ '%^pg_toast'", "")
  end
  local sql = [[
SELECT n.nspname AS "Schema",
       o.oprname AS "Name",
       CASE WHEN o.oprkind = 'l' THEN NULL ELSE pg_catalog.format_type(o.oprleft, NULL) END AS "Left arg type",
       CASE WHEN o.oprkind = 'r' THEN NULL ELSE pg_catalog.format_type(o.oprright, NULL) END AS "Right arg type",
       pg_catalog.format_type(o.oprresult, NULL) AS "Result type",]] ..
      (verbose and '\n       o.oprcode AS "Function",' or "") .. [[

       coalesce(pg_catalog.obj_description(o.oid, 'pg_operator'),
                pg_catalog.obj_description(o.oprcode, 'pg_proc')) AS "Description"
  FROM pg_catalog.pg_operator o
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace]] .. where(conds) .. "\n ORDER BY 1, 2, 3, 4"
  return listing(sql, params, "List of operators", nil)
end

---\dy: event triggers; `verbose` (\dy+) adds Description.
function M.event_triggers(pattern, verbose)
  local params = {}
  local conds = pattern_filter(pattern, "NULL", "e.evtname", nil, params)
  local sql = [[
SELECT e.evtname AS "Name", e.evtevent AS "Event", pg_catalog.pg_get_userbyid(e.evtowner) AS "Owner",
       CASE e.evtenabled WHEN 'O' THEN 'enabled' WHEN 'R' THEN 'replica' WHEN 'A' THEN 'always'
            WHEN 'D' THEN 'disabled' END AS "Enabled",
       e.evtfoid::pg_catalog.regproc AS "Function",
       pg_catalog.array_to_string(ARRAY(SELECT x FROM pg_catalog.unnest(e.evttags) AS t(x)), ', ') AS "Tags"]] ..
      (verbose and [[,
       pg_catalog.obj_description(e.oid, 'pg_event_trigger') AS "Description"]] or "") .. [[

  FROM pg_catalog.pg_event_trigger e]] .. where(conds) .. "\n ORDER BY 1"
  return listing(sql, params, "List of event triggers", nil)
end

---\sf: a function's CREATE OR REPLACE FUNCTION statement (pg_get_functiondef), named as psql
---takes it: `name` (which must be unique) or `name(argtypes)`. `numbered` (\sf+) numbers the
---lines of its body, as psql does.
function M.function_source(name, numbered)
  local cast = name:find("(", 1, true) and "regprocedure" or "regproc"
  local ok, def = pcall(db.value, db, "SELECT pg_catalog.pg_get_functiondef(" .. db:quote_literal(name) ..
                       "::pg_catalog." .. cast .. "::pg_catalog.oid)")
  if not ok then -- the server's message alone, as psql shows it: the query is not the user's
    if type(def) == "table" then def.position, def.context = nil, nil end
    error(def, 0)
  end
  if not numbered then return def end
  local out, header, n = {}, true, 0
  for line in def:gsub("\n$", ""):gmatch("([^\n]*)\n?") do
    if header and (line:find("^AS ") or line:find("^BEGIN ") or line:find("^RETURN ")) then header = false end
    if header then
      out[#out + 1] = "        " .. line
    else
      n = n + 1
      out[#out + 1] = string.format("%-7d %s", n, line)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

M.pattern_regexes = pattern_regexes
M.pattern_filter = pattern_filter
M.list_conditions = list_conditions
M.where = where
M.server_version = server_version
M.not_found = not_found
M.acl = acl
M.RELKIND_NAME = RELKIND_NAME

return M
