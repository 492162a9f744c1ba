--- ddl: safe DDL helpers over a `db` connection (the `ddl` global).
---
--- Contract, for every helper:
---   * Idempotent: it first reads the catalogs (bound parameters only) and does nothing when the
---     change is already there, so a phase re-run after a crash is safe. Each returns `true`
---     when it ran DDL and `false` when there was nothing to do.
---   * Identifiers are quoted with db:quote_ident; tables, indexes, views and enums may be given
---     as "schema.name". Expressions (defaults, CHECKs, WHERE, view bodies) are SQL text.
---   * Never COMMITs: it works inside a transactional phase. Only the concurrent index helpers
---     must run outside a transaction, and they say so when called inside one.
---   * Misuse and refusals raise one line, `ddl.NAME: what is wrong`, at the caller's FILE:LINE;
---     SQL errors raise the usual weir.Error, with `where` set to the caller's line too.
--- docs/ddl.md says which SQL each helper runs, the locks it takes and why it is safe.
local M = {}

local MAX_NAME = 63  -- PostgreSQL identifiers: NAMEDATALEN - 1 bytes; longer ones are truncated

local KINDS = { r = "a table", p = "a partitioned table", i = "an index", I = "a partitioned index",
  S = "a sequence", v = "a view", m = "a materialized view", c = "a composite type",
  f = "a foreign table", t = "a TOAST table" }

local function kind_of(r) return KINDS[r.kind] or ("relkind " .. r.kind) end

-- ---------------------------------------------------------------------------------------------
-- Errors: a refusal raised anywhere inside a helper becomes "ddl.NAME: text" at the caller's line.

local Refusal = {}

local function refuse(fmt, ...)
  error(setmetatable({ text = fmt:format(...) }, Refusal), 0)
end

-- Registers M[name] = impl, wrapped so that refusals and SQL errors name the caller's line.
local function public(name, impl)
  M[name] = function(...)
    local r = table.pack(pcall(impl, ...))
    if r[1] then return table.unpack(r, 2, r.n) end
    local e = r[2]
    if getmetatable(e) == Refusal then error("ddl." .. name .. ": " .. e.text, 2) end
    if type(e) == "table" and e.sqlstate and e.where then
      -- level 1 is pcall, 2 this function, 3 the script that called ddl.NAME
      local _, at = pcall(error, "", 3)
      e.where = at
    end
    error(e, 0)
  end
end

-- ---------------------------------------------------------------------------------------------
-- Arguments

local function check_db(v)
  local mt = getmetatable(v)
  if type(v) ~= "userdata" or type(mt) ~= "table" or mt.__name ~= "weir.Connection" then
    refuse("argument #1 must be a connection (db), got %s", type(v))
  end
end

local function check_string(v, what)
  if type(v) ~= "string" or v == "" then
    refuse("%s must be a non-empty string, got %s", what, type(v) == "string" and '""' or type(v))
  end
  return v
end

-- A name weir will create: PostgreSQL would silently truncate a longer one, and the next run
-- would then not find it under the name it was given.
local function check_new_name(v, what)
  check_string(v, what)
  if #v > MAX_NAME then
    refuse("%s %q is %d bytes; PostgreSQL names are at most %d (it would truncate it)", what, v, #v, MAX_NAME)
  end
  return v
end

-- A string, or a non-empty array of strings → an array of strings.
local function check_list(v, what)
  if type(v) == "string" then v = { v } end
  if type(v) ~= "table" or #v == 0 then
    refuse("%s must be a string or a non-empty list of strings, got %s", what,
      type(v) == "table" and "an empty table" or type(v))
  end
  for i, s in ipairs(v) do
    if type(s) ~= "string" or s == "" then refuse("%s[%d] must be a non-empty string, got %s", what, i, type(s)) end
  end
  return v
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

-- opts must be nil or a table whose keys are in `allowed` (key → Lua type name).
local function check_opts(opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then refuse("options must be a table, got %s", type(opts)) end
  for k, v in pairs(opts) do
    local want = allowed[k]
    if not want then
      refuse("unknown option %s (expected %s)", tostring(k), table.concat(sorted_keys(allowed), ", "))
    end
    if not want:find(type(v), 1, true) then
      refuse("option %s must be a %s, got %s", k, want, type(v))
    end
  end
  return opts
end

-- "schema.name" → "schema", "name"; "name" → nil, "name".
local function split(s, what)
  local schema, name = s:match("^([^.]+)%.([^.]+)$")
  if schema then return schema, name end
  if s:find(".", 1, true) then refuse("%s %q: expected NAME or SCHEMA.NAME", what, s) end
  return nil, s
end

local function bare(s, what)
  if s:find(".", 1, true) then
    refuse("%s %q must be a bare name (it stays in the schema of its table)", what, s)
  end
  return s
end

local function qualified(db, schema, name)
  if schema then return db:quote_ident(schema) .. "." .. db:quote_ident(name) end
  return db:quote_ident(name)
end

local quote_all = require("weir_util").list_of

-- ---------------------------------------------------------------------------------------------
-- Generated names

-- s cut to at most n bytes, never inside a UTF-8 sequence.
local function clip(s, n)
  if #s <= n then return s end
  while n > 0 and (s:byte(n + 1) & 0xC0) == 0x80 do n = n - 1 end
  return s:sub(1, n)
end

local function fnv1a(s)
  local h = 0x811c9dc5
  for i = 1, #s do h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff end
  return h
end

-- PARTS joined by "_", then "_SUFFIX". Past 63 bytes the joined part is clipped and a hash of
-- the full name is added, so two long names that share a prefix stay distinct.
local function generated_name(parts, suffix)
  local base = table.concat(parts, "_")
  local full = base .. "_" .. suffix
  if #full <= MAX_NAME then return full end
  local tail = ("_%08x_%s"):format(fnv1a(full), suffix)
  return clip(base, MAX_NAME - #tail) .. tail
end

-- ---------------------------------------------------------------------------------------------
-- Catalog lookups (psql describe.c style: one query per object kind, pg_catalog-qualified)

-- The relation a DDL statement would act on: resolved through search_path when unqualified.
local function find_relation(db, schema, name)
  return db:one([[
    SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.oid = pg_catalog.to_regclass($1)]], qualified(db, schema, name))
end

-- The relation `name` in exactly `schema`, or nil.
local function relation_in(db, schema, name)
  return db:one([[
    SELECT c.oid, n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = $2]], schema, name)
end

local function is_table(r) return r.kind == "r" or r.kind == "p" end

-- The table `tbl` ("name" or "schema.name"), with .sql its schema-qualified quoted name;
-- refuses when it does not exist or is not a table.
local function table_of(db, tbl, what)
  check_string(tbl, what or "table")
  local r = find_relation(db, split(tbl, what or "table"))
  if not r then refuse("table %s does not exist", tbl) end
  if not is_table(r) then refuse("%s is %s, not a table", tbl, kind_of(r)) end
  r.sql = qualified(db, r.schema, r.name)
  return r
end

local function find_column(db, rel, column)
  return db:one([[
    SELECT a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = $1::pg_catalog.oid AND a.attname = $2 AND a.attnum > 0 AND NOT a.attisdropped]],
    rel.oid, column)
end

local function find_constraint(db, rel, name)
  return db:one([[
    SELECT k.contype::text AS type, k.convalidated AS validated
      FROM pg_catalog.pg_constraint k
     WHERE k.conrelid = $1::pg_catalog.oid AND k.conname = $2]], rel.oid, name)
end

local CONSTRAINT_KINDS = { c = "a CHECK constraint", f = "a foreign key", p = "a primary key",
  u = "a unique constraint", x = "an exclusion constraint", t = "a constraint trigger", n = "a NOT NULL constraint" }

-- The index `name` in `schema`: {oid, table_oid, valid, kind} or nil.
local function find_index(db, schema, name)
  return db:one([[
    SELECT c.oid, c.relkind::text AS kind, x.indrelid AS table_oid, x.indisvalid AS valid
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_catalog.pg_index x ON x.indexrelid = c.oid
     WHERE n.nspname = $1 AND c.relname = $2]], schema, name)
end

-- A type with its enum labels (empty for other kinds): {oid, schema, name, kind, labels}.
local ENUM_SELECT = [[
    SELECT t.oid, n.nspname::text AS schema, t.typname::text AS name, t.typtype::text AS kind,
           ARRAY(SELECT e.enumlabel::text FROM pg_catalog.pg_enum e
                  WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder) AS labels
      FROM pg_catalog.pg_type t
      JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
]]

-- The type DDL on an existing type would act on (search_path when unqualified), or nil.
local function find_type(db, schema, name)
  return db:one(ENUM_SELECT .. "     WHERE t.oid = pg_catalog.to_regtype($1)", qualified(db, schema, name))
end

-- The type `name` in exactly `schema`, or nil.
local function type_in(db, schema, name)
  return db:one(ENUM_SELECT .. "     WHERE n.nspname = $1 AND t.typname = $2", schema, name)
end

-- The schema an unqualified CREATE would use.
local function creation_schema(db, schema)
  if schema then return schema end
  local s = db:value "SELECT pg_catalog.current_schema()::text"
  if s == nil or db.isnull(s) then refuse("no schema to create it in: search_path names no existing schema") end
  return s
end

local function schema_exists(db, schema)
  return db:value("SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1", schema) > 0
end

-- ---------------------------------------------------------------------------------------------
-- Transactions

local NOT_IN_TX = "CONCURRENTLY cannot run inside a transaction: call it from a phase with "
  .. "transaction = false (outside db:tx), or pass concurrently = false to build it under a lock"

-- opts.concurrently, defaulting to "not inside a transaction"; refuses true inside one.
local function concurrently(db, opts)
  local in_tx = db:in_transaction()
  if opts.concurrently == nil then return not in_tx end
  if opts.concurrently and in_tx then refuse(NOT_IN_TX) end
  return opts.concurrently
end

-- ---------------------------------------------------------------------------------------------
-- Columns

-- The column as the server would make it, read back from an empty temporary copy of the
-- table's columns (so a generated expression may name them): its canonical type, whether it
-- is NOT NULL, has a default, is an identity or generated column, the volatile functions its
-- default calls, and the constraints of its domain. Volatility is read from the stored
-- expression's tree, the same test PostgreSQL's rewrite decision makes (built-in functions
-- are not in pg_depend).
local PROBE_COLUMN = "weir_ddl_probe_column"

local function probe_column(db, rel, type_sql, default)
  db:exec(("CREATE TEMPORARY TABLE weir_ddl_probe (LIKE %s, %s %s%s)"):format(rel.sql, PROBE_COLUMN,
    type_sql, default and (" DEFAULT " .. default) or ""))
  local ok, r = pcall(db.one, db, [[
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
           a.atthasdef AS has_default, a.attidentity <> '' AS identity, a.attgenerated <> '' AS generated,
           (SELECT pg_catalog.string_agg(DISTINCT p.proname::text || '()', ', ')
              FROM pg_catalog.pg_attrdef d
             CROSS JOIN pg_catalog.regexp_matches(d.adbin::text, ':(funcid|opfuncid|opno) (\d+)', 'g') AS m
              JOIN pg_catalog.pg_proc p ON p.oid = CASE WHEN m[1] = 'opno'
                     THEN (SELECT o.oprcode::pg_catalog.oid FROM pg_catalog.pg_operator o
                            WHERE o.oid = m[2]::pg_catalog.oid)
                     ELSE m[2]::pg_catalog.oid END
             WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND p.provolatile = 'v') AS volatile,
           (WITH RECURSIVE dom(oid) AS (
              SELECT a.atttypid
              UNION ALL
              SELECT t.typbasetype FROM pg_catalog.pg_type t JOIN dom ON t.oid = dom.oid WHERE t.typtype = 'd')
            SELECT pg_catalog.string_agg(k.conname::text, ', ')
              FROM pg_catalog.pg_constraint k JOIN dom ON k.contypid = dom.oid) AS domain_checks
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = 'pg_temp.weir_ddl_probe'::pg_catalog.regclass AND a.attname = $1]], PROBE_COLUMN)
  pcall(db.exec, db, "DROP TABLE pg_temp.weir_ddl_probe")
  if not ok then error(r, 0) end
  for _, k in ipairs { "volatile", "domain_checks" } do
    if db.isnull(r[k]) then r[k] = nil end
  end
  return r
end

-- A Lua default as SQL: strings are SQL expressions, numbers and booleans literals.
local function default_sql(v)
  if type(v) == "string" then return v end
  if type(v) == "boolean" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v or v == math.huge or v == -math.huge then
    return ("'%s'::float8"):format(v ~= v and "NaN" or v > 0 and "Infinity" or "-Infinity")
  end
  return ("%.17g"):format(v)
end

local REWRITE = "ADD COLUMN would rewrite all of %s under an ACCESS EXCLUSIVE lock (reads and "
  .. "writes blocked for the whole copy)"

-- Refuses a new column PostgreSQL could not add as a catalog-only change.
local function refuse_rewrite(p, rel, column, type_sql, not_null)
  local where = rel.name .. "." .. column
  if p.identity then
    refuse("%s would be an identity column: " .. REWRITE .. " to number the rows; add a plain "
      .. "column, backfill it, ddl.set_not_null, then ALTER COLUMN ... ADD GENERATED ... AS IDENTITY",
      where, rel.name)
  elseif p.generated then
    refuse("%s would be a stored generated column: " .. REWRITE .. " to compute it; add a plain "
      .. "column kept up to date by a trigger, and backfill it", where, rel.name)
  elseif p.volatile then
    refuse("the default of %s calls volatile %s: " .. REWRITE .. "; add the column without a "
      .. "default, backfill it in batches, then SET DEFAULT (and ddl.set_not_null)", where, p.volatile,
      rel.name)
  elseif p.domain_checks then
    refuse("type %s is a domain with constraints (%s): " .. REWRITE .. " to check them; add the "
      .. "column with the domain's base type, backfill it, then change the type", type_sql,
      p.domain_checks, rel.name)
  elseif not_null and not p.has_default then
    refuse("NOT NULL without a default: PostgreSQL would scan all of %s under an ACCESS EXCLUSIVE "
      .. "lock, and fail if it has any row; give a non-volatile default, or add the column "
      .. "nullable, backfill it, then ddl.set_not_null", rel.name)
  end
end

public("add_column", function(db, tbl, column, type_sql, opts)
  check_db(db)
  check_string(tbl, "table")
  check_new_name(column, "column")
  check_string(type_sql, "type")
  opts = check_opts(opts, { default = "string number boolean", not_null = "boolean", if_not_exists = "boolean" })
  local rel = table_of(db, tbl)
  local default = opts.default ~= nil and default_sql(opts.default) or nil

  if opts.if_not_exists ~= false then
    local col = find_column(db, rel, column)
    if col then
      local want = probe_column(db, rel, type_sql).type
      if col.type ~= want then
        refuse("column %s.%s already exists with type %s, not %s", rel.name, column, col.type, want)
      end
      return false
    end
  end

  local p = probe_column(db, rel, type_sql, default)
  refuse_rewrite(p, rel, column, type_sql, opts.not_null or p.not_null)
  db:exec(("ALTER TABLE %s ADD COLUMN %s %s%s%s"):format(rel.sql, db:quote_ident(column), type_sql,
    default and (" DEFAULT " .. default) or "", opts.not_null and " NOT NULL" or ""))
  return true
end)

public("drop_column", function(db, tbl, column)
  check_db(db)
  check_string(column, "column")
  local rel = table_of(db, tbl)
  if not find_column(db, rel, column) then return false end
  db:exec(("ALTER TABLE %s DROP COLUMN IF EXISTS %s"):format(rel.sql, db:quote_ident(column)))
  return true
end)

public("rename_column", function(db, tbl, from, to)
  check_db(db)
  check_string(from, "from")
  check_new_name(to, "to")
  local rel = table_of(db, tbl)
  local has_from, has_to = find_column(db, rel, from) ~= nil, find_column(db, rel, to) ~= nil
  if has_from and has_to then
    refuse("both %s.%s and %s.%s exist: cannot rename one onto the other", rel.name, from, rel.name, to)
  elseif not has_from and not has_to then
    refuse("neither %s.%s nor %s.%s exists", rel.name, from, rel.name, to)
  elseif not has_from then
    return false  -- renamed already
  end
  db:exec(("ALTER TABLE %s RENAME COLUMN %s TO %s"):format(rel.sql, db:quote_ident(from), db:quote_ident(to)))
  return true
end)

-- ---------------------------------------------------------------------------------------------
-- Indexes

-- columns: names (quoted) or {sql = "expression"} entries (as written). Returns the SQL list
-- and the parts of the default name (nil when an expression makes one up impossible).
local function index_columns(db, columns)
  if type(columns) == "string" or (type(columns) == "table" and columns.sql) then columns = { columns } end
  if type(columns) ~= "table" or #columns == 0 then
    refuse("columns must be a column name or a non-empty list of them, got %s",
      type(columns) == "table" and "an empty table" or type(columns))
  end
  local sql, parts = {}, {}
  for i, c in ipairs(columns) do
    if type(c) == "string" and c ~= "" then
      sql[i] = db:quote_ident(c)
      if parts then parts[#parts + 1] = c end
    elseif type(c) == "table" and type(c.sql) == "string" and c.sql ~= "" then
      sql[i] = c.sql
      parts = nil
    else
      refuse("columns[%d] must be a column name or {sql = \"expression\"}, got %s", i, type(c))
    end
  end
  return table.concat(sql, ", "), parts
end

-- Drops an index left INVALID by a failed concurrent build (when it still is one).
local function drop_invalid(db, schema, name, conc)
  local ix = find_index(db, schema, name)
  if ix and ix.valid == false then
    db:exec(("DROP INDEX %s%s"):format(conc and "CONCURRENTLY " or "", qualified(db, schema, name)))
  end
end

local PLAIN_BUILD = "inside a transaction the index would be built without CONCURRENTLY, under a "
  .. "SHARE lock that blocks every write to %s for the whole build: call it from a phase with "
  .. "transaction = false, or pass concurrently = false when blocking writes is fine (a table "
  .. "created in this migration, or a small one)"

public("create_index", function(db, tbl, columns, opts)
  check_db(db)
  check_string(tbl, "table")
  local cols, parts = index_columns(db, columns)
  opts = check_opts(opts, { name = "string", unique = "boolean", where = "string", using = "string",
    include = "string table", concurrently = "boolean" })
  -- a plain build is never chosen silently: it blocks writes for as long as the build takes
  if opts.concurrently == nil and db:in_transaction() then refuse(PLAIN_BUILD, tbl) end
  local conc = concurrently(db, opts)
  local rel = table_of(db, tbl)
  local name = opts.name and bare(check_new_name(opts.name, "index name"), "index name")
  if not name then
    if not parts then refuse("an index on an expression needs opts.name") end
    name = generated_name({ rel.name, table.unpack(parts) }, "idx")
  end

  local ix = find_index(db, rel.schema, name)
  if ix then
    if ix.kind ~= "i" and ix.kind ~= "I" then
      refuse("%s.%s exists and is %s, not an index", rel.schema, name, kind_of(ix))
    end
    if ix.table_oid ~= rel.oid then
      refuse("index %s.%s exists on another table", rel.schema, name)
    end
    if ix.valid then return false, name end
    -- the leftover of a failed CONCURRENTLY build: unusable for reads, yet maintained on every
    -- write (and enforcing uniqueness when UNIQUE); replace it
    db:exec(("DROP INDEX %s%s"):format(conc and "CONCURRENTLY " or "", qualified(db, rel.schema, name)))
  end

  local include = ""
  if opts.include then include = (" INCLUDE (%s)"):format(quote_all(db, check_list(opts.include, "include"))) end
  local sql = ("CREATE %sINDEX %s%s ON %s%s (%s)%s%s"):format(opts.unique and "UNIQUE " or "",
    conc and "CONCURRENTLY " or "", db:quote_ident(name), rel.sql,
    opts.using and (" USING " .. db:quote_ident(opts.using)) or "", cols, include,
    opts.where and (" WHERE " .. opts.where) or "")
  local ok, err = pcall(db.exec, db, sql)
  if not ok then
    -- a failed concurrent build leaves an INVALID index behind; drop it now rather than leave
    -- it slowing writes (a failure here is left for the next run, which replaces it)
    if conc and type(err) == "table" and err.sqlstate and not err.sqlstate:match("^08") then
      pcall(drop_invalid, db, rel.schema, name, true)
    end
    error(err, 0)
  end
  return true, name
end)

public("drop_index", function(db, name, opts)
  check_db(db)
  check_string(name, "index")
  opts = check_opts(opts, { concurrently = "boolean" })
  local conc = concurrently(db, opts)
  local ix = find_relation(db, split(name, "index"))
  if not ix then return false end
  if ix.kind ~= "i" and ix.kind ~= "I" then refuse("%s is %s, not an index", name, kind_of(ix)) end
  db:exec(("DROP INDEX %sIF EXISTS %s"):format(conc and "CONCURRENTLY " or "", qualified(db, ix.schema, ix.name)))
  return true
end)

-- ---------------------------------------------------------------------------------------------
-- Constraints: added NOT VALID (no scan under the strong lock), then validated (a scan under
-- SHARE UPDATE EXCLUSIVE, which lets reads and writes go on)

-- Adds constraint `name` with `add_sql` (ending in NOT VALID) unless it exists, then validates
-- it unless told not to. `kind` is the pg_constraint.contype it must have.
local function add_validated(db, rel, name, kind, add_sql, validate)
  local k = find_constraint(db, rel, name)
  if k and k.type ~= kind then
    refuse("constraint %s on %s exists and is %s, not %s", name, rel.name, CONSTRAINT_KINDS[k.type] or k.type,
      CONSTRAINT_KINDS[kind])
  end
  local changed = false
  if not k then
    db:exec(("ALTER TABLE %s ADD CONSTRAINT %s %s"):format(rel.sql, db:quote_ident(name), add_sql))
    changed = true
  end
  if validate ~= false and not (k and k.validated) then
    db:exec(("ALTER TABLE %s VALIDATE CONSTRAINT %s"):format(rel.sql, db:quote_ident(name)))
    changed = true
  end
  return changed
end

local ACTIONS = { ["cascade"] = "CASCADE", ["restrict"] = "RESTRICT", ["no action"] = "NO ACTION",
  ["set null"] = "SET NULL", ["set default"] = "SET DEFAULT" }

local function fk_action(v, what)
  if v == nil then return "" end
  local a = ACTIONS[v:lower():gsub("_", " ")]
  if not a then refuse("%s must be one of cascade, restrict, no action, set null, set default; got %q", what, v) end
  return (" ON %s %s"):format(what == "on_delete" and "DELETE" or "UPDATE", a)
end

public("add_foreign_key", function(db, tbl, columns, ref_table, ref_columns, opts)
  check_db(db)
  check_string(tbl, "table")
  columns = check_list(columns, "columns")
  check_string(ref_table, "ref_table")
  if ref_columns ~= nil then
    ref_columns = check_list(ref_columns, "ref_columns")
    if #ref_columns ~= #columns then
      refuse("%d columns reference %d ref_columns", #columns, #ref_columns)
    end
  end
  opts = check_opts(opts, { name = "string", on_delete = "string", on_update = "string", validate = "boolean" })
  local actions = fk_action(opts.on_delete, "on_delete") .. fk_action(opts.on_update, "on_update")
  local rel = table_of(db, tbl)
  local ref = table_of(db, ref_table, "ref_table")
  local name = opts.name and check_new_name(opts.name, "constraint name")
    or generated_name({ rel.name, table.unpack(columns) }, "fkey")
  local add = ("FOREIGN KEY (%s) REFERENCES %s%s%s NOT VALID"):format(quote_all(db, columns), ref.sql,
    ref_columns and (" (" .. quote_all(db, ref_columns) .. ")") or "", actions)
  return add_validated(db, rel, name, "f", add, opts.validate), name
end)

public("add_check", function(db, tbl, name, expression, opts)
  check_db(db)
  check_string(tbl, "table")
  check_new_name(name, "constraint name")
  check_string(expression, "expression")
  opts = check_opts(opts, { validate = "boolean" })
  local rel = table_of(db, tbl)
  return add_validated(db, rel, name, "c", ("CHECK (%s) NOT VALID"):format(expression), opts.validate)
end)

public("set_not_null", function(db, tbl, column)
  check_db(db)
  check_string(tbl, "table")
  check_string(column, "column")
  local rel = table_of(db, tbl)
  local col = find_column(db, rel, column)
  if not col then refuse("column %s.%s does not exist", rel.name, column) end
  local check = generated_name({ "weir_nn", rel.name, column }, "check")
  local k = find_constraint(db, rel, check)
  if k and k.type ~= "c" then refuse("constraint %s on %s exists and is not a CHECK", check, rel.name) end
  if col.not_null then
    if not k then return false end
    -- a crash between SET NOT NULL and dropping the helper check
    db:exec(("ALTER TABLE %s DROP CONSTRAINT %s"):format(rel.sql, db:quote_ident(check)))
    return true
  end
  local quoted_col, quoted_check = db:quote_ident(column), db:quote_ident(check)
  if not k then
    db:exec(("ALTER TABLE %s ADD CONSTRAINT %s CHECK (%s IS NOT NULL) NOT VALID"):format(rel.sql,
      quoted_check, quoted_col))
  end
  if not (k and k.validated) then
    db:exec(("ALTER TABLE %s VALIDATE CONSTRAINT %s"):format(rel.sql, quoted_check))
  end
  -- PostgreSQL 12+ skips the full-table scan here: the validated check already proves it
  db:exec(("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL"):format(rel.sql, quoted_col))
  db:exec(("ALTER TABLE %s DROP CONSTRAINT %s"):format(rel.sql, quoted_check))
  return true
end)

-- ---------------------------------------------------------------------------------------------
-- Enums

local function list_text(t) return "(" .. table.concat(t, ", ") .. ")" end

-- What differs between two label lists, as a phrase.
local function label_difference(have, want)
  local in_have, in_want, missing, extra = {}, {}, {}, {}
  for _, l in ipairs(have) do in_have[l] = true end
  for _, l in ipairs(want) do
    in_want[l] = true
    if not in_have[l] then missing[#missing + 1] = l end
  end
  for _, l in ipairs(have) do if not in_want[l] then extra[#extra + 1] = l end end
  local out = {}
  if #missing > 0 then
    out[#out + 1] = "missing " .. table.concat(missing, ", ") .. " (ddl.add_enum_value adds them)"
  end
  if #extra > 0 then out[#out + 1] = "has extra " .. table.concat(extra, ", ") end
  if #out == 0 then out[1] = "same labels in another order" end
  return table.concat(out, "; ")
end

public("create_enum", function(db, name, values)
  check_db(db)
  check_string(name, "enum")
  if type(values) ~= "table" then refuse("values must be a list of strings, got %s", type(values)) end
  local seen = {}
  for i, v in ipairs(values) do
    check_new_name(v, ("values[%d]"):format(i))
    if seen[v] then refuse("label %q is listed twice", v) end
    seen[v] = true
  end
  local schema, bare_name = split(name, "enum")
  check_new_name(bare_name, "enum name")
  schema = creation_schema(db, schema)
  local t = type_in(db, schema, bare_name)
  if t then
    if t.kind ~= "e" then refuse("type %s.%s exists and is not an enum", schema, bare_name) end
    local same = #t.labels == #values
    for i = 1, #values do same = same and t.labels[i] == values[i] end
    if same then return false end
    refuse("enum %s.%s exists with labels %s, not %s: %s", schema, bare_name, list_text(t.labels),
      list_text(values), label_difference(t.labels, values))
  end
  local labels = {}
  for i, v in ipairs(values) do labels[i] = db:quote_literal(v) end
  db:exec(("CREATE TYPE %s AS ENUM (%s)"):format(qualified(db, schema, bare_name), table.concat(labels, ", ")))
  return true
end)

public("add_enum_value", function(db, enum, value, opts)
  check_db(db)
  check_string(enum, "enum")
  check_new_name(value, "value")
  opts = check_opts(opts, { before = "string", after = "string" })
  if opts.before and opts.after then refuse("give before or after, not both") end
  local t = find_type(db, split(enum, "enum"))
  if not t then refuse("enum %s does not exist", enum) end
  if t.kind ~= "e" then refuse("type %s is not an enum", enum) end
  local neighbour = opts.before or opts.after
  local have = {}
  for _, l in ipairs(t.labels) do have[l] = true end
  if have[value] then return false end
  if neighbour and not have[neighbour] then
    refuse("enum %s has no label %q to put %q %s", enum, neighbour, value, opts.before and "before" or "after")
  end
  db:exec(("ALTER TYPE %s ADD VALUE IF NOT EXISTS %s%s"):format(qualified(db, t.schema, t.name),
    db:quote_literal(value), neighbour and ((" %s %s"):format(opts.before and "BEFORE" or "AFTER",
      db:quote_literal(neighbour))) or ""))
  return true
end)

-- ---------------------------------------------------------------------------------------------
-- Views

public("create_view", function(db, name, select_sql, opts)
  check_db(db)
  check_string(name, "view")
  check_string(select_sql, "select_sql")
  opts = check_opts(opts, { recreate = "boolean" })
  local schema, bare_name = split(name, "view")
  check_new_name(bare_name, "view name")
  local body = select_sql:gsub("[%s;]+$", "")
  local target = qualified(db, schema, bare_name)
  if opts.recreate then
    -- one simple-protocol string: both statements run in one transaction even in autocommit
    db:exec(("DROP VIEW IF EXISTS %s; CREATE VIEW %s AS %s"):format(target, target, body))
  else
    db:exec(("CREATE OR REPLACE VIEW %s AS %s"):format(target, body))
  end
  return true
end)

public("drop_view", function(db, name)
  check_db(db)
  check_string(name, "view")
  local v = find_relation(db, split(name, "view"))
  if not v then return false end
  if v.kind ~= "v" then refuse("%s is %s, not a view", name, kind_of(v)) end
  db:exec(("DROP VIEW IF EXISTS %s"):format(qualified(db, v.schema, v.name)))
  return true
end)

-- ---------------------------------------------------------------------------------------------
-- Tables

public("rename_table", function(db, from, to)
  check_db(db)
  check_string(from, "from")
  check_new_name(to, "to")
  if to:find(".", 1, true) then
    refuse("to %q must be a bare name: a renamed table stays in its schema (ddl.move_to_schema moves it)", to)
  end
  local schema, name = split(from, "from")
  local old = find_relation(db, schema, name)
  if old and not is_table(old) then refuse("%s is %s, not a table", from, kind_of(old)) end
  local new
  if old then
    new = relation_in(db, old.schema, to)
  else
    new = find_relation(db, schema, to)
  end
  if old and new then
    refuse("both %s and %s.%s exist: cannot rename one onto the other", from, old.schema, to)
  elseif not old and not new then
    refuse("neither %s nor %s exists", from, to)
  elseif not old then
    if not is_table(new) then refuse("%s is %s, not a table", to, kind_of(new)) end
    return false  -- renamed already
  end
  db:exec(("ALTER TABLE %s RENAME TO %s"):format(qualified(db, old.schema, old.name), db:quote_ident(to)))
  return true
end)

public("move_to_schema", function(db, objects, schema, opts)
  check_db(db)
  if type(objects) ~= "table" then
    refuse("objects must be a table {tables = {...}, enums = {...}}, got %s", type(objects))
  end
  for k in pairs(objects) do
    if k ~= "tables" and k ~= "enums" then refuse("objects: unknown key %s (expected enums, tables)", tostring(k)) end
  end
  local tables = objects.tables and check_list(objects.tables, "objects.tables") or {}
  local enums = objects.enums and check_list(objects.enums, "objects.enums") or {}
  if #tables + #enums == 0 then refuse("objects names no tables and no enums") end
  check_new_name(schema, "schema")
  opts = check_opts(opts, { from = "string" })
  local from = opts.from or "public"
  if from == schema then refuse("from and to are the same schema %s", schema) end
  for _, n in ipairs(tables) do bare(n, "table") end
  for _, n in ipairs(enums) do bare(n, "enum") end

  -- Where each object is: to move (in `from`), already moved (in `schema`), or nowhere.
  -- lists marked as such: an empty one is [] in JSON, never {}
  local move_tables, move_enums = json.array(), json.array()
  local done = { tables = json.array(), enums = json.array() }
  local function place(kind, name, here, there, list)
    local label = kind == "tables" and "table" or "enum"
    if here and there then
      refuse("%s %s exists in both %s and %s", label, name, from, schema)
    elseif here then
      list[#list + 1] = name
    elseif there then
      done[kind][#done[kind] + 1] = name
    else
      refuse("%s %s is in neither %s nor %s", label, name, from, schema)
    end
  end
  for _, n in ipairs(tables) do
    local here, there = relation_in(db, from, n), relation_in(db, schema, n)
    for _, r in ipairs { here or {}, there or {} } do
      if r.kind and not is_table(r) then refuse("%s.%s is %s, not a table", r.schema, n, kind_of(r)) end
    end
    place("tables", n, here, there, move_tables)
  end
  for _, n in ipairs(enums) do
    local here, there = type_in(db, from, n), type_in(db, schema, n)
    for _, t in ipairs { here or {}, there or {} } do
      if t.kind and t.kind ~= "e" then refuse("type %s.%s is not an enum", t.schema, n) end
    end
    place("enums", n, here, there, move_enums)
  end
  local summary = { tables = move_tables, enums = move_enums, already = done, schema_created = false }
  if #move_tables + #move_enums == 0 then return false, summary end

  local function work()
    if not schema_exists(db, schema) then
      db:exec(("CREATE SCHEMA IF NOT EXISTS %s"):format(db:quote_ident(schema)))
      summary.schema_created = true
    end
    if #move_tables > 0 then
      -- every table at once, before anything moves: wait (under lock_timeout) without holding
      -- some tables while waiting for others, and let no writer in between the moves
      local list = {}
      for i, n in ipairs(move_tables) do list[i] = qualified(db, from, n) end
      db:exec(("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE"):format(table.concat(list, ", ")))
    end
    for _, n in ipairs(move_enums) do
      db:exec(("ALTER TYPE %s SET SCHEMA %s"):format(qualified(db, from, n), db:quote_ident(schema)))
    end
    for _, n in ipairs(move_tables) do
      db:exec(("ALTER TABLE %s SET SCHEMA %s"):format(qualified(db, from, n), db:quote_ident(schema)))
    end
  end
  -- all or nothing: in the caller's transaction, or in one of its own (LOCK TABLE needs one)
  if db:in_transaction() then work() else db:tx(work) end
  return true, summary
end)

return M
