-- psql's \d NAME: each relation matching a pattern described as psql 15 describes it (its
-- describeOneTableDetails): tables and partitioned tables from schema.inspect's model in display
-- form (columns, indexes, constraints, policies), the rest — views, sequences, indexes, foreign
-- tables, composite types, TOAST tables, catalogs — from catalog queries written like psql's;
-- footers from small catalog queries where the model does not hold what psql shows. `verbose`
-- (\d+) adds psql's verbose columns and footers. Returns tables for the REPL's printer.
local fmt = require "repl_format"
local D = require "repl_describe"

local M = {}

local pattern_filter, where, not_found, server_version = D.pattern_filter, D.where, D.not_found, D.server_version

-- A described relation as the printer takes it: no "(N rows)" under it.
local function describe_spec(headers, rows, opts)
  return { headers = headers, rows = rows, title = opts.title, footers = opts.footers, right = opts.right,
           count = false }
end


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
  return describe_spec(headers, rows, {
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
  return describe_spec(headers, rows, {
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
  return describe_spec({ "Type", "Start", "Minimum", "Maximum", "Increment", "Cycles?", "Cache" },
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
  return describe_spec(headers, rows, {
    title = string.format('%s "%s.%s"', kind, rel.schema, rel.name), footers = footers,
  })
end

---\d NAME: every relation matching the pattern, described: a list of tables to print, true; or
---psql's "Did not find …" message, false.
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
  if #rels == 0 then return not_found("relation", pattern), false end
  local out = {}
  models = {}
  for _, rel in ipairs(rels) do
    local spec
    -- the model holds the tables of user schemas; foreign tables and catalogs: describe_other
    local system = rel.schema == "pg_catalog" or rel.schema == "information_schema"
    if (rel.relkind == "r" or rel.relkind == "p") and not system then
      spec = describe_table(rel, verbose)
    elseif rel.relkind == "S" then
      spec = describe_sequence(rel) -- \d+ adds nothing to a sequence
    elseif rel.relkind == "i" or rel.relkind == "I" then
      spec = describe_index(rel, verbose)
    end
    out[#out + 1] = spec or describe_other(rel, verbose)
  end
  models = {}
  return out, true
end


return M
