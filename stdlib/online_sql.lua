--- online_sql: every SQL statement the `online` module runs, as readable templates, and the one
--- function that fills them (stdlib/online.lua says what runs when; docs/online.md explains it).
---
--- A reviewer reads here the views, triggers, backfill batches and checks weir will run. In a
--- template:
---   {name}    an identifier, quoted when SQL needs it; a list {"schema", "table"} is qualified
---   {=name}   a literal: strings quoted, numbers and booleans as SQL spells them, nil as NULL
---   {!name}   SQL text as it is: user expressions (up, down, check …) and fragments this file
---             rendered itself
--- Nothing else builds SQL text; online.lua passes values and never concatenates SQL.
--- The sync trigger (Q.sync_function) is what online's guarantee rests on: no write through
--- either shape is lost (stated in stdlib/online.lua, proved by tests/lua/online_test.lua).
local Q = {}

-- ---------------------------------------------------------------------------------------------
-- Quoting

-- Words that must be quoted as identifiers (reserved, and those that cannot name a column or
-- table): read once per connection from the server's own list.
local keywords = setmetatable({}, { __mode = "k" })

local function keyword_set(conn)
  local set = keywords[conn]
  if not set then
    set = {}
    for _, r in ipairs(conn:query("SELECT word FROM pg_catalog.pg_get_keywords() WHERE catcode <> 'U'")) do
      set[r.word] = true
    end
    keywords[conn] = set
  end
  return set
end

---An identifier as SQL needs it: bare when it is a lower-case name that is not a keyword,
---else in double quotes (inner quotes doubled).
function Q.ident(conn, name)
  if name:match("^[a-z_][a-z0-9_$]*$") and not keyword_set(conn)[name] then return name end
  return '"' .. name:gsub('"', '""') .. '"'
end

---A literal: 'text' (E'…' when it holds a backslash), numbers, booleans; nil is NULL.
function Q.literal(v)
  if v == nil then return "NULL" end
  if type(v) == "boolean" then return tostring(v) end
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return ("%.17g"):format(v)
  end
  v = tostring(v)
  if v:find("\\", 1, true) then return "E'" .. v:gsub("\\", "\\\\"):gsub("'", "''") .. "'" end
  return "'" .. v:gsub("'", "''") .. "'"
end

---Fills `template` with `values` (see the top of this file).
function Q.fill(conn, template, values)
  return (template:gsub("{([=!]?)([%w_]+)}", function(kind, key)
    local v = values[key]
    if kind == "=" then return Q.literal(v) end
    if v == nil then error("online_sql: template value '" .. key .. "' is missing", 2) end
    if kind == "!" then return v end
    if type(v) == "table" then
      local parts = {}
      for i, p in ipairs(v) do parts[i] = Q.ident(conn, p) end
      return table.concat(parts, ".")
    end
    return Q.ident(conn, v)
  end))
end

---Each of `items` through `template` (fields of the item are the values), joined by `sep`.
function Q.each(conn, template, items, sep)
  local out = {}
  for i, item in ipairs(items) do out[i] = Q.fill(conn, template, item) end
  return table.concat(out, sep or ", ")
end

local fill, each = Q.fill, Q.each

-- ---------------------------------------------------------------------------------------------
-- Catalog: what a change acts on (pg_catalog-qualified, one query per kind of object)

Q.TABLE = [[
SELECT c.oid::bigint AS oid, n.nspname::text AS schema, c.relname::text AS name, c.relkind::text AS kind
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid = pg_catalog.to_regclass($1)]]

Q.COLUMNS = [[
SELECT a.attname::text AS name, a.attnum AS num,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default_sql,
       a.attidentity::text AS identity, a.attgenerated::text AS generated,
       pg_catalog.pg_get_serial_sequence(pg_catalog.quote_ident(n.nspname) || '.' ||
                                         pg_catalog.quote_ident(c.relname), a.attname) AS sequence
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE a.attrelid = $1::bigint::pg_catalog.oid AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY a.attnum]]

Q.PRIMARY_KEY = [[
SELECT a.attname::text AS name
  FROM pg_catalog.pg_index i
  CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos)
  JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
 WHERE i.indrelid = $1::bigint::pg_catalog.oid AND i.indisprimary
 ORDER BY k.pos]]

-- Row-level BEFORE triggers of a table, with whether PostgreSQL fires them before `$2` (it
-- fires triggers of one event in the byte order of their names).
Q.BEFORE_TRIGGERS = [[
SELECT t.tgname::text AS name, t.tgname::text COLLATE "C" < $2::text COLLATE "C" AS fires_first
  FROM pg_catalog.pg_trigger t
 WHERE t.tgrelid = $1::bigint::pg_catalog.oid AND NOT t.tgisinternal
   AND (t.tgtype & 1) = 1 AND (t.tgtype & 2) = 2]]

-- Indexes and constraints that use a column (dropped with it at complete, restored by reopen).
Q.COLUMN_INDEXES = [[
SELECT ci.relname::text AS name, pg_catalog.pg_get_indexdef(i.indexrelid) AS definition
  FROM pg_catalog.pg_index i
  JOIN pg_catalog.pg_class ci ON ci.oid = i.indexrelid
 WHERE i.indrelid = $1::bigint::pg_catalog.oid
   AND $2::int2 = ANY (i.indkey::int2[])
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid)
 ORDER BY 1]]

Q.COLUMN_CONSTRAINTS = [[
SELECT k.conname::text AS name, pg_catalog.pg_get_constraintdef(k.oid) AS definition
  FROM pg_catalog.pg_constraint k
 WHERE k.conrelid = $1::bigint::pg_catalog.oid AND $2::int2 = ANY (k.conkey) AND k.contype <> 'n'
 ORDER BY 1]]

-- Objects outside weir's own that depend on a column complete drops (DROP COLUMN would fail):
-- views, other tables' foreign keys; not the table's own constraints and indexes, which go
-- with the column.
Q.COLUMN_DEPENDENTS = [[
SELECT DISTINCT CASE WHEN r.oid IS NOT NULL  -- a view's rule: name the view
                    THEN pg_catalog.pg_describe_object('pg_catalog.pg_class'::pg_catalog.regclass, r.ev_class, 0)
                    ELSE pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) END AS object
  FROM pg_catalog.pg_depend d
  LEFT JOIN pg_catalog.pg_rewrite r ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND r.oid = d.objid
  LEFT JOIN pg_catalog.pg_class v ON v.oid = r.ev_class
  LEFT JOIN pg_catalog.pg_namespace vn ON vn.oid = v.relnamespace
 WHERE d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
   AND d.refobjid = $1::bigint::pg_catalog.oid AND d.refobjsubid = $2::int
   AND d.deptype = 'n'
   AND NOT (d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND vn.nspname = ANY ($3::text[]))
   AND NOT (d.classid = 'pg_catalog.pg_constraint'::pg_catalog.regclass AND d.objid IN
            (SELECT k.oid FROM pg_catalog.pg_constraint k WHERE k.conrelid = $1::bigint::pg_catalog.oid))
   AND NOT (d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid IN
            (SELECT x.indexrelid FROM pg_catalog.pg_index x WHERE x.indrelid = $1::bigint::pg_catalog.oid))
 ORDER BY 1]]

Q.INDEX = [[
SELECT c.oid::bigint AS oid, n.nspname::text AS schema, c.relname::text AS name,
       pg_catalog.pg_get_indexdef(c.oid) AS definition, x.indisvalid AS valid
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_index x ON x.indexrelid = c.oid
 WHERE c.oid = pg_catalog.to_regclass($1)]]

Q.INDEX_IN = [[
SELECT x.indisvalid AS valid
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_index x ON x.indexrelid = c.oid
 WHERE n.nspname = $1 AND c.relname = $2]]

Q.CONSTRAINT = [[
SELECT k.contype::text AS type, k.convalidated AS validated
  FROM pg_catalog.pg_constraint k
  JOIN pg_catalog.pg_class c ON c.oid = k.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relname = $2 AND k.conname = $3]]

Q.COLUMN_NOT_NULL = [[
SELECT a.attnotnull AS not_null
  FROM pg_catalog.pg_attribute a
  JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relname = $2 AND a.attname = $3 AND NOT a.attisdropped]]

-- Who may use a table: its grants, to be given on the view that stands for it.
Q.TABLE_GRANTS = [[
SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END AS grantee,
       pg_catalog.string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privileges
  FROM pg_catalog.pg_class c
  CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) AS a
 WHERE c.oid = $1::bigint::pg_catalog.oid
   AND a.privilege_type IN ('SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER')
   AND a.grantee <> c.relowner
 GROUP BY a.grantee
 ORDER BY 1]]

Q.SCHEMA_EXISTS = "SELECT count(*) > 0 FROM pg_catalog.pg_namespace WHERE nspname = $1"
Q.CURRENT_SCHEMA = "SELECT pg_catalog.current_schema()::text"
Q.RELATION_IN = [[
SELECT c.relkind::text AS kind
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relname = $2]]

-- ---------------------------------------------------------------------------------------------
-- Engine state (the state schema's online_changes table, history.lua's upgrade 4); times
-- are RFC 3339 UTC text, as everywhere weir reports them.

local RFC3339 = require("history").rfc3339

Q.STATE_TABLE_EXISTS = "SELECT pg_catalog.to_regclass($1) IS NOT NULL"

function Q.state_row(conn, schema)
  return fill(conn, [[
SELECT name, state, direction, version_schemas, definition, fingerprint,
       ]] .. RFC3339("started_at") .. [[ AS started_at, ]] .. RFC3339("completed_at") .. [[ AS completed_at
  FROM {schema}.online_changes WHERE name = $1]], { schema = schema })
end

function Q.state_rows(conn, schema)
  return fill(conn, [[
SELECT name, state, direction, version_schemas, tables, fingerprint,
       ]] .. RFC3339("started_at") .. [[ AS started_at, ]] .. RFC3339("completed_at") .. [[ AS completed_at,
       ]] .. RFC3339("updated_at") .. [[ AS updated_at
  FROM {schema}.online_changes ORDER BY online_changes.started_at, name]], { schema = schema })
end

function Q.state_tables_busy(conn, schema)
  return fill(conn, [[
SELECT name, t AS table_name
  FROM {schema}.online_changes CROSS JOIN LATERAL pg_catalog.unnest(tables) AS t
 WHERE name <> $1 AND state <> 'completed' AND t = ANY ($2::text[])]], { schema = schema })
end

-- The backfill of a change so far, over its tables: rows done, and whether every table is.
function Q.backfill_summary(conn, schema)
  return fill(conn, [[
SELECT coalesce(sum((value->>'rows')::bigint), 0)::bigint AS rows,
       coalesce(bool_and((value->>'done')::boolean), true) AS done
  FROM {schema}.checkpoints WHERE pg_catalog.left(key, pg_catalog.length($1)) = $1]], { schema = schema })
end

function Q.state_insert(conn, schema)
  return fill(conn, [[
INSERT INTO {schema}.online_changes (name, state, direction, version_schemas, tables, definition, fingerprint)
VALUES ($1, 'active', 'up', $2::text[], $3::text[], $4::jsonb, $5)]], { schema = schema })
end

function Q.state_set(conn, schema)
  return fill(conn, [[
UPDATE {schema}.online_changes
   SET state = $2, direction = $3, updated_at = pg_catalog.now(),
       completed_at = CASE WHEN $2 = 'completed' THEN pg_catalog.now() WHEN $2 = 'contracted' THEN completed_at END
 WHERE name = $1]], { schema = schema })
end

function Q.state_delete(conn, schema)
  return fill(conn, "DELETE FROM {schema}.online_changes WHERE name = $1", { schema = schema })
end

function Q.checkpoint_get(conn, schema)
  return fill(conn, "SELECT value FROM {schema}.checkpoints WHERE key = $1", { schema = schema })
end

function Q.checkpoint_put(conn, schema)
  return fill(conn, [[
INSERT INTO {schema}.checkpoints (key, value, updated_at) VALUES ($1, $2::jsonb, pg_catalog.now())
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = pg_catalog.now()]], { schema = schema })
end

function Q.checkpoints_clear(conn, schema)
  return fill(conn, "DELETE FROM {schema}.checkpoints WHERE pg_catalog.left(key, pg_catalog.length($1)) = $1",
    { schema = schema })
end

-- ---------------------------------------------------------------------------------------------
-- Short-lock transactions

---Takes every table of a step at once (waiting under lock_timeout, never holding some tables
---while waiting for others).
function Q.lock_tables(conn, tables, mode)
  local items = {}
  for i, t in ipairs(tables) do items[i] = { name = t } end
  return fill(conn, "LOCK TABLE {!list} IN {!mode} MODE",
    { list = each(conn, "{name}", items), mode = mode or "ACCESS EXCLUSIVE" })
end

function Q.set_lock_timeout(ms) return ("SET LOCAL lock_timeout = %d"):format(ms) end

-- ---------------------------------------------------------------------------------------------
-- The version schema: one view per changed table, in the new shape

function Q.create_schema(conn, vschema)
  return fill(conn, "CREATE SCHEMA {vschema}", { vschema = vschema })
end

function Q.drop_schema(conn, vschema)
  return fill(conn, "DROP SCHEMA IF EXISTS {vschema} CASCADE", { vschema = vschema })
end

function Q.grant_schema_usage(conn, vschema, grantee)
  return fill(conn, "GRANT USAGE ON SCHEMA {vschema} TO {!grantee}",
    { vschema = vschema, grantee = grantee == "PUBLIC" and "PUBLIC" or Q.ident(conn, grantee) })
end

---The view of one table in the new shape: each new-shape column from the physical column that
---holds it (renamed columns and shadow columns under their new names). A plain column list
---over one table, so PostgreSQL keeps it insertable and updatable, ON CONFLICT and RETURNING
---included; security_invoker, so the table's RLS policies and grants apply to whoever reads.
---@param t table the model of the table (see online.lua)
function Q.create_view(conn, t)
  local cols = {}
  for i, c in ipairs(t.shape) do
    cols[i] = c.phys == c.name and Q.ident(conn, c.name)
      or (Q.ident(conn, c.phys) .. " AS " .. Q.ident(conn, c.name))
  end
  return fill(conn, [[
CREATE VIEW {vschema}.{view} WITH (security_invoker = true) AS
SELECT {!columns}
  FROM {schema}.{table}]], { vschema = t.vschema, view = t.new_name, schema = t.schema, table = t.name,
    columns = table.concat(cols, ",\n       ") })
end

function Q.view_default(conn, t, column, default_sql)
  return fill(conn, "ALTER VIEW {vschema}.{view} ALTER COLUMN {column} SET DEFAULT {!default}",
    { vschema = t.vschema, view = t.new_name, column = column, default = default_sql })
end

function Q.grant_view(conn, t, grant)
  return fill(conn, "GRANT {!privileges} ON {vschema}.{view} TO {!grantee}", { privileges = grant.privileges,
    vschema = t.vschema, view = t.new_name,
    grantee = grant.grantee == "PUBLIC" and "PUBLIC" or Q.ident(conn, grant.grantee) })
end

-- ---------------------------------------------------------------------------------------------
-- Shadow columns

function Q.add_column(conn, t, column, type_sql, default_sql)
  return fill(conn, "ALTER TABLE {schema}.{table} ADD COLUMN {column} {!type}{!default}",
    { schema = t.schema, table = t.name, column = column, type = type_sql,
      default = default_sql and (" DEFAULT " .. default_sql) or "" })
end

-- A `weir lint` suppression with its reason, for DDL that is safe because of where it runs.
local function lint_ok(rule, why)
  if not why then return "" end
  return ("-- weir:ignore %s -- %s\n"):format(rule, why:gsub("[\r\n]+", " "))
end

function Q.drop_column(conn, t, column, why)
  return fill(conn, "{!lint}ALTER TABLE {schema}.{table} DROP COLUMN IF EXISTS {column}",
    { lint = lint_ok("drop-column", why), schema = t.schema, table = t.name, column = column })
end

function Q.rename_column(conn, schema, table_name, from, to, why)
  return fill(conn, "{!lint}ALTER TABLE {schema}.{table} RENAME COLUMN {from} TO {to}",
    { lint = lint_ok("rename-column", why), schema = schema, table = table_name, from = from, to = to })
end

function Q.set_default(conn, schema, table_name, column, default_sql)
  if default_sql == nil then
    return fill(conn, "ALTER TABLE {schema}.{table} ALTER COLUMN {column} DROP DEFAULT",
      { schema = schema, table = table_name, column = column })
  end
  return fill(conn, "ALTER TABLE {schema}.{table} ALTER COLUMN {column} SET DEFAULT {!default}",
    { schema = schema, table = table_name, column = column, default = default_sql })
end

function Q.drop_not_null(conn, schema, table_name, column)
  return fill(conn, "ALTER TABLE {schema}.{table} ALTER COLUMN {column} DROP NOT NULL",
    { schema = schema, table = table_name, column = column })
end

function Q.set_not_null(conn, schema, table_name, column)
  return fill(conn, "ALTER TABLE {schema}.{table} ALTER COLUMN {column} SET NOT NULL",
    { schema = schema, table = table_name, column = column })
end

function Q.rename_table(conn, schema, from, to, why)
  return fill(conn, "{!lint}ALTER TABLE {schema}.{from} RENAME TO {to}",
    { lint = lint_ok("rename-table", why), schema = schema, from = from, to = to })
end

function Q.create_table(conn, schema, name, columns_sql)
  return fill(conn, "CREATE TABLE {schema}.{name} (\n{!columns}\n)",
    { schema = schema, name = name, columns = columns_sql })
end

function Q.drop_table(conn, schema, name)
  return fill(conn, "DROP TABLE IF EXISTS {schema}.{name}", { schema = schema, name = name })
end

-- ---------------------------------------------------------------------------------------------
-- Sync: the trigger that keeps the two shapes of a table's rows in step
--
-- Direction (docs/online.md, "Which shape a write is in"): a write is in the new shape when the
-- writing session has the version schema on its search_path (how a new application opts in)
-- or comes through the version view's INSTEAD OF INSERT trigger (COPY); any other write is in
-- the old shape. An INSERT that fills a shadow column is in the new shape too (the old shape
-- cannot name it).
--   INSERT in the new shape:  old-shape columns ← down(new shape of the row)
--   INSERT in the old shape:  shadow columns    ← up(old shape of the row)
--   UPDATE: per pair of columns, the side the writer changed is kept and the other side is
--           derived from it; when a statement changed both, the writer's shape wins.
-- A row the backfill has not reached yet (its synced column is NULL) gets the side the backfill
-- fills derived in full on any write, so no write can leave it half done.

-- Text for a `--` comment: on one line, so nothing after a newline becomes code.
local function one_line(text) return (text:gsub("[\r\n]+", " ")) end

-- The row of one shape as a one-row subquery over NEW or OLD, for up/down to read by name.
local function shape_row(conn, columns, rec)
  local out = {}
  for i, c in ipairs(columns) do
    out[i] = rec .. "." .. Q.ident(conn, c.phys) .. " AS " .. Q.ident(conn, c.name)
  end
  return "SELECT " .. table.concat(out, ", ")
end

-- up(row) or down(row): the user's expression over one shape of NEW or OLD.
local function derive(conn, expr, columns, rec, alias)
  return fill(conn, "(SELECT ({!expr}) FROM ({!row}) AS {alias})",
    { expr = expr, row = shape_row(conn, columns, rec), alias = alias })
end

---The sync trigger function of one table, and the trigger that runs it first among the
---table's BEFORE triggers. `direction` is the side an unbackfilled row is missing: "up" (after
---start, the new side) or "down" (after reopen, the old side).
function Q.sync_function(conn, t, change, direction)
  local old_cols, new_cols = t.old_shape, t.shape
  local decl, insert_new, insert_old, update = {}, {}, {}, {}
  local shadow_filled = {}
  for i, p in ipairs(t.pairs) do
    local v = { schema = t.schema, table = t.name, i = tostring(i), D = p.D, S = p.S,
      down_new = p.down and derive(conn, p.down, new_cols, "NEW", "new_shape"),
      down_old = p.down and derive(conn, p.down, new_cols, "OLD", "new_shape"),
      up_new = p.up and derive(conn, p.up, old_cols, "NEW", "old_shape"),
      up_old = p.up and derive(conn, p.up, old_cols, "OLD", "old_shape"),
      label = p.D and (p.D .. " ← down(" .. one_line(p.down) .. ")") or "",
      forced_down = direction == "down" and "unsynced" or "false",
      forced_up = direction == "up" and "unsynced" or "false" }
    decl[#decl + 1] = fill(conn, "  handled_{!i} boolean := false;", v)
    if p.S then
      decl[#decl + 1] = fill(conn, "  new_{!i} {schema}.{table}.{S}%TYPE;", v)
      shadow_filled[#shadow_filled + 1] = fill(conn, "NEW.{S} IS NOT NULL", v)
    end
    if p.D and p.down then
      decl[#decl + 1] = fill(conn, "  old_{!i} {schema}.{table}.{D}%TYPE;", v)
      insert_new[#insert_new + 1] = fill(conn, "      NEW.{D} := {!down_new};", v)
      -- pass 1: the new side was written → the old side from it
      local shadow_clause = p.S and fill(conn, [[

        OR (NOT from_new AND NEW.{S} IS DISTINCT FROM OLD.{S} AND NEW.{D} IS NOT DISTINCT FROM OLD.{D})]], v) or ""
      v.shadow_clause = shadow_clause
      update[#update + 1] = fill(conn, [[
    -- {!label}, when the new side was written
    IF ({!forced_down} AND NEW.{D} IS NOT DISTINCT FROM OLD.{D}){!shadow_clause} THEN
      NEW.{D} := {!down_new};
      handled_{!i} := true;
    ELSIF from_new THEN
      old_{!i} := {!down_new};
      IF old_{!i} IS DISTINCT FROM {!down_old} THEN
        NEW.{D} := old_{!i};
        handled_{!i} := true;
      END IF;
    END IF;]], v)
    end
    if p.S and p.up then
      insert_old[#insert_old + 1] = fill(conn, "      NEW.{S} := {!up_new};", v)
    end
  end
  -- pass 2, after every pass-1 assignment: the old side was written → the new side from it
  for i, p in ipairs(t.pairs) do
    if p.S and p.up then
      local v = { i = tostring(i), S = p.S, label = p.name .. " ← up(" .. one_line(p.up) .. ")",
        up_new = derive(conn, p.up, old_cols, "NEW", "old_shape"),
        up_old = derive(conn, p.up, old_cols, "OLD", "old_shape"),
        forced_up = direction == "up" and "unsynced" or "false" }
      update[#update + 1] = fill(conn, [[
    -- {!label}, when the old side was written
    IF NOT handled_{!i} THEN
      IF {!forced_up} AND NEW.{S} IS NOT DISTINCT FROM OLD.{S} THEN
        NEW.{S} := {!up_new};
      ELSIF NOT from_new THEN
        new_{!i} := {!up_new};
        IF new_{!i} IS DISTINCT FROM {!up_old} THEN
          NEW.{S} := new_{!i};
        END IF;
      END IF;
    END IF;]], v)
    end
  end
  local unsynced = t.synced and fill(conn, "TG_OP = 'UPDATE' AND OLD.{synced} IS NULL", t) or "false"
  local mark = t.synced and fill(conn, "  NEW.{synced} := true;\n", t) or ""
  return fill(conn, [[
CREATE OR REPLACE FUNCTION {vschema}.{func}() RETURNS trigger
LANGUAGE plpgsql AS $weir$
#variable_conflict use_column
-- weir online change {!change_comment}: keeps the old shape ({schema}.{table}) and the new
-- shape ({vschema}.{view}) of each row in step. Generated from stdlib/online_sql.lua.
DECLARE
  from_new boolean := {=vschema_text} = ANY (pg_catalog.current_schemas(false))
                      OR pg_catalog.current_setting('weir.online_writer', true) IS NOT DISTINCT FROM {=vschema_text};
  unsynced boolean := {!unsynced};
{!decl}
BEGIN
  IF pg_catalog.current_setting('weir.online_backfill', true) IS NOT DISTINCT FROM {=change} THEN
    RETURN NEW;  -- weir's backfill batch: it computes both sides itself
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF from_new OR {!shadow_filled} THEN
{!insert_new}
    ELSE
{!insert_old}
    END IF;
  ELSE
{!update}
  END IF;
{!mark}  RETURN NEW;
END
$weir$]], { vschema = t.vschema, func = "sync_" .. t.name, change_comment = change:gsub("\n", " "), change = change,
    schema = t.schema, table = t.name, view = t.new_name, vschema_text = t.vschema, unsynced = unsynced,
    decl = table.concat(decl, "\n"), shadow_filled = #shadow_filled > 0 and table.concat(shadow_filled, " OR ") or "false",
    insert_new = #insert_new > 0 and table.concat(insert_new, "\n") or "      NULL;",
    insert_old = #insert_old > 0 and table.concat(insert_old, "\n") or "      NULL;",
    update = #update > 0 and table.concat(update, "\n") or "    NULL;", mark = mark })
end

function Q.sync_trigger(conn, t)
  return fill(conn, [[
CREATE TRIGGER {trigger} BEFORE INSERT OR UPDATE ON {schema}.{table}
FOR EACH ROW EXECUTE FUNCTION {vschema}.{func}()]], { trigger = t.trigger, schema = t.schema, table = t.name,
    vschema = t.vschema, func = "sync_" .. t.name })
end

---INSTEAD OF INSERT on a view, so that COPY … FROM works through it (PostgreSQL copies into a
---view only through such a trigger). The insert reaches the table as a new-shape write
---whatever the session's search_path. Defaults come from the view's columns (set from the
---table's), identity columns take their sequence's next value.
function Q.insert_function(conn, t)
  local phys, values, returning = {}, {}, {}
  for _, c in ipairs(t.shape) do
    if not c.generated then
      phys[#phys + 1] = Q.ident(conn, c.phys)
      values[#values + 1] = "NEW." .. Q.ident(conn, c.name)
    end
    returning[#returning + 1] = Q.ident(conn, c.phys)
  end
  return fill(conn, [[
CREATE OR REPLACE FUNCTION {vschema}.{func}() RETURNS trigger
LANGUAGE plpgsql AS $weir$
DECLARE
  writer text := pg_catalog.current_setting('weir.online_writer', true);
BEGIN
  PERFORM pg_catalog.set_config('weir.online_writer', {=vschema_text}, true);
  INSERT INTO {schema}.{table} ({!phys}){!overriding}
  VALUES ({!values})
  RETURNING {!returning} INTO NEW;
  PERFORM pg_catalog.set_config('weir.online_writer', coalesce(writer, ''), true);
  RETURN NEW;
END
$weir$]], { vschema = t.vschema, func = "insert_" .. t.name, vschema_text = t.vschema, schema = t.schema,
    table = t.name, phys = table.concat(phys, ", "), values = table.concat(values, ", "),
    returning = table.concat(returning, ", "),
    overriding = t.identity_always and " OVERRIDING SYSTEM VALUE" or "" })
end

function Q.insert_trigger(conn, t)
  return fill(conn, [[
CREATE TRIGGER insert_through_view INSTEAD OF INSERT ON {vschema}.{view}
FOR EACH ROW EXECUTE FUNCTION {vschema}.{func}()]], { vschema = t.vschema, view = t.new_name,
    func = "insert_" .. t.name })
end

-- ---------------------------------------------------------------------------------------------
-- Checking up and down before anything is created: the expression over an empty row of the
-- shape it reads, cast to the column it fills.

function Q.probe_expression(conn, t, expr, shape, target_type)
  local cols = {}
  for i, c in ipairs(shape) do
    cols[i] = (c.type and ("NULL::" .. c.type) or Q.ident(conn, c.phys)) .. " AS " .. Q.ident(conn, c.name)
  end
  return fill(conn, "SELECT ({!expr})::{!type} FROM (SELECT {!cols} FROM {schema}.{table} LIMIT 0) AS probe",
    { expr = expr, type = target_type, cols = table.concat(cols, ", "), schema = t.schema, table = t.name })
end

function Q.probe_type(type_sql) return ("SELECT NULL::%s"):format(type_sql) end

-- ---------------------------------------------------------------------------------------------
-- Backfill: keyset batches over the rows that existed when the triggers went in, each an
-- UPDATE of the rows not yet synced that lets the sync trigger derive the missing side.

local function key_tuple(conn, keys)
  local out = {}
  for i, k in ipairs(keys) do out[i] = Q.ident(conn, k) end
  return "(" .. table.concat(out, ", ") .. ")"
end

local function literal_tuple(values)
  local out = {}
  for i, v in ipairs(values) do out[i] = Q.literal(v) end
  return "(" .. table.concat(out, ", ") .. ")"
end

---The last key of the table (the backfill's bound), as text.
function Q.max_key(conn, t)
  local text, cols, desc = {}, {}, {}
  for i, k in ipairs(t.key) do
    text[i] = "s." .. Q.ident(conn, k) .. "::text AS " .. Q.ident(conn, k)
    cols[i] = Q.ident(conn, k)
    desc[i] = Q.ident(conn, k) .. " DESC"
  end
  -- sorted in the subquery, on the columns themselves (not their text)
  return fill(conn, "SELECT {!text} FROM (SELECT {!cols} FROM {schema}.{table} ORDER BY {!desc} LIMIT 1) AS s",
    { text = table.concat(text, ", "), cols = table.concat(cols, ", "), desc = table.concat(desc, ", "),
      schema = t.schema, table = t.name })
end

---Tables without a primary key are walked by block: the bound is the table's size in blocks.
function Q.block_count(conn, t)
  return fill(conn, [[
SELECT (pg_catalog.pg_relation_size('{!rel}') / pg_catalog.current_setting('block_size')::bigint)::bigint]],
    { rel = (Q.ident(conn, t.schema) .. "." .. Q.ident(conn, t.name)):gsub("'", "''") })
end

---The last key of the next batch after `last` (nil: from the start), up to the bound.
function Q.next_batch_end(conn, t, last, bound, batch)
  local keys = key_tuple(conn, t.key)
  local text, desc = {}, {}
  for i, k in ipairs(t.key) do
    text[i] = "s." .. Q.ident(conn, k) .. "::text AS " .. Q.ident(conn, k)
    desc[i] = "s." .. Q.ident(conn, k) .. " DESC"
  end
  local where = { keys .. " <= " .. literal_tuple(bound) }
  if last then where[#where + 1] = keys .. " > " .. literal_tuple(last) end
  return fill(conn, [[
SELECT {!text}
  FROM (SELECT {!cols} FROM {schema}.{table}
         WHERE {!where} ORDER BY {!keys} LIMIT {!batch}) AS s
 ORDER BY {!desc} LIMIT 1]], { text = table.concat(text, ", "), cols = keys:sub(2, -2), schema = t.schema,
    table = t.name, where = table.concat(where, " AND "), keys = keys:sub(2, -2), batch = tostring(batch),
    desc = table.concat(desc, ", ") })
end

function Q.backfill_marker(conn, change)
  return fill(conn, "SELECT pg_catalog.set_config('weir.online_backfill', {=change}, true)", { change = change })
end

-- One batch, set-based: the missing side of the batch's rows not synced yet, computed by up (after
-- start) or down (after reopen) over the shape the row has, in one UPDATE … FROM. The sync
-- trigger steps aside for it (weir.online_backfill). A row an application writes meanwhile is
-- synced by its own trigger, and this UPDATE skips it: PostgreSQL re-checks `$synced IS NULL` on
-- the row's latest version before updating it.
local function batch_update(conn, t, direction, range)
  local keyed = t.key ~= nil
  local keys = {}
  if keyed then
    for i, k in ipairs(t.key) do keys[i] = { phys = k, alias = "weir_key_" .. i } end
  else
    keys[1] = { phys = "ctid", alias = "weir_key_1" }
  end
  local shape = direction == "up" and t.old_shape or t.shape
  local inner, outer, sets, match = {}, {}, {}, {}
  for _, k in ipairs(keys) do
    inner[#inner + 1] = "r." .. (k.phys == "ctid" and "ctid" or Q.ident(conn, k.phys)) .. " AS " .. k.alias
    outer[#outer + 1] = k.alias
    match[#match + 1] = "t." .. (k.phys == "ctid" and "ctid" or Q.ident(conn, k.phys)) .. " = b." .. k.alias
  end
  for _, c in ipairs(shape) do inner[#inner + 1] = "r." .. Q.ident(conn, c.phys) .. " AS " .. Q.ident(conn, c.name) end
  for i, p in ipairs(t.pairs) do
    local target, expr = nil, nil
    if direction == "up" and p.S and p.up then target, expr = p.S, p.up end
    if direction == "down" and p.D and p.down then target, expr = p.D, p.down end
    if target then
      outer[#outer + 1] = "(" .. expr .. ") AS weir_value_" .. i
      sets[#sets + 1] = Q.ident(conn, target) .. " = b.weir_value_" .. i
    end
  end
  sets[#sets + 1] = Q.ident(conn, t.synced) .. " = true"
  return fill(conn, [[
UPDATE {schema}.{table} AS t
   SET {!sets}
  FROM (SELECT {!outer}
          FROM (SELECT {!inner}
                  FROM {schema}.{table} AS r
                 WHERE {!range} AND r.{synced} IS NULL) AS {shape}) AS b
 WHERE {!match} AND t.{synced} IS NULL]], { schema = t.schema, table = t.name, sets = table.concat(sets, ",\n       "),
    outer = table.concat(outer, ", "), inner = table.concat(inner, ", "), range = range, synced = t.synced,
    shape = direction == "up" and "old_shape" or "new_shape", match = table.concat(match, " AND ") })
end

---One batch: the rows of (last, hi] by primary key.
function Q.backfill_batch(conn, t, direction, last, hi)
  local keys = {}
  for i, k in ipairs(t.key) do keys[i] = "r." .. Q.ident(conn, k) end
  local tuple = "(" .. table.concat(keys, ", ") .. ")"
  local where = { tuple .. " <= " .. literal_tuple(hi) }
  if last then table.insert(where, 1, tuple .. " > " .. literal_tuple(last)) end
  return batch_update(conn, t, direction, table.concat(where, " AND "))
end

---One batch of a table without a primary key: blocks [lo, hi).
function Q.backfill_blocks(conn, t, direction, lo, hi)
  return batch_update(conn, t, direction, fill(conn, "r.ctid >= {=lo}::tid AND r.ctid < {=hi}::tid",
    { lo = ("(%d,0)"):format(lo), hi = ("(%d,0)"):format(hi) }))
end

-- ---------------------------------------------------------------------------------------------
-- Checks complete and rollback make before they change anything: counts and example keys

local function key_text(conn, t, alias, names)
  if not t.key then return alias .. ".ctid::text" end
  local parts = {}
  for i, k in ipairs(names or t.key) do parts[i] = alias .. "." .. Q.ident(conn, k) .. "::text" end
  if #parts == 1 then return parts[1] end
  return "pg_catalog.concat_ws(',', " .. table.concat(parts, ", ") .. ")"
end

-- `SELECT key, count(*) OVER ()` of the rows matching a condition, five at most.
local function offenders(conn, from_sql, alias, keytext, cond)
  return fill(conn, [[
SELECT {!key} AS key, pg_catalog.count(*) OVER () AS total
  FROM {!from} AS {alias}
 WHERE {!cond}
 LIMIT 5]], { key = keytext, from = from_sql, alias = alias, cond = cond })
end

local function physical(conn, t) return Q.ident(conn, t.schema) .. "." .. Q.ident(conn, t.name) end

---Rows the backfill has not reached.
function Q.unsynced_rows(conn, t)
  return offenders(conn, physical(conn, t), "r", key_text(conn, t, "r"), "r." .. Q.ident(conn, t.synced) .. " IS NULL")
end

---Rows of a pair whose sides disagree: the new side is neither up(old) nor is the old side
---down(new) (the latter covers rows the new shape wrote).
function Q.pair_mismatch(conn, t, p)
  local function over(expr, columns)
    local out = {}
    for i, c in ipairs(columns) do out[i] = "r." .. Q.ident(conn, c.phys) .. " AS " .. Q.ident(conn, c.name) end
    return "(SELECT (" .. expr .. ") FROM (SELECT " .. table.concat(out, ", ") .. ") AS shape)"
  end
  local cond = fill(conn, "r.{S} IS DISTINCT FROM {!up} AND r.{D} IS DISTINCT FROM {!down}",
    { S = p.S, D = p.D, up = over(p.up, t.old_shape), down = over(p.down, t.shape) })
  if t.synced then cond = "r." .. Q.ident(conn, t.synced) .. " AND " .. cond end
  return offenders(conn, physical(conn, t), "r", key_text(conn, t, "r"), cond)
end

-- Where the new shape of a table can be read: its view while the change is active.
local function new_shape_from(conn, t)
  if t.vschema and t.has_view then return Q.ident(conn, t.vschema) .. "." .. Q.ident(conn, t.new_name) end
  return physical(conn, t)
end

function Q.null_rows(conn, t, column)
  local key = t.key and key_text(conn, t, "r", t.has_view and t.view_key or nil) or "'?'"
  return offenders(conn, new_shape_from(conn, t), "r", key, "r." .. Q.ident(conn, column) .. " IS NULL")
end

function Q.check_violations(conn, t, check_sql)
  local key = t.key and key_text(conn, t, "r", t.has_view and t.view_key or nil) or "'?'"
  return offenders(conn, "(SELECT * FROM " .. new_shape_from(conn, t) .. ")", "r", key,
    "NOT coalesce((" .. check_sql .. "), true)")
end

function Q.duplicates(conn, t, columns)
  local cols, notnull = {}, {}
  for i, c in ipairs(columns) do
    cols[i] = Q.ident(conn, c)
    notnull[i] = Q.ident(conn, c) .. " IS NOT NULL"
  end
  return fill(conn, [[
SELECT pg_catalog.concat_ws(',', {!cols}) AS key, pg_catalog.count(*) OVER () AS total
  FROM {!from}
 WHERE {!notnull}
 GROUP BY {!cols} HAVING pg_catalog.count(*) > 1
 LIMIT 5]], { cols = table.concat(cols, ", "), from = new_shape_from(conn, t), notnull = table.concat(notnull, " AND ") })
end

function Q.orphans(conn, t, columns, ref_from, ref_columns)
  local match, notnull = {}, {}
  for i, c in ipairs(columns) do
    match[i] = "p." .. Q.ident(conn, ref_columns[i]) .. " = r." .. Q.ident(conn, c)
    notnull[i] = "r." .. Q.ident(conn, c) .. " IS NOT NULL"
  end
  local key = t.key and key_text(conn, t, "r", t.has_view and t.view_key or nil) or "'?'"
  return offenders(conn, new_shape_from(conn, t), "r", key, table.concat(notnull, " AND ") ..
    " AND NOT EXISTS (SELECT 1 FROM " .. ref_from .. " AS p WHERE " .. table.concat(match, " AND ") .. ")")
end

Q.new_shape_from = new_shape_from

-- ---------------------------------------------------------------------------------------------
-- Constraints at complete: added NOT VALID under the short lock, validated after it (SHARE
-- UPDATE EXCLUSIVE: reads and writes go on)

function Q.add_constraint(conn, schema, table_name, name, definition)
  return fill(conn, "ALTER TABLE {schema}.{table} ADD CONSTRAINT {name} {!definition} NOT VALID",
    { schema = schema, table = table_name, name = name, definition = definition })
end

function Q.add_constraint_valid(conn, schema, table_name, name, definition)
  return fill(conn, "ALTER TABLE {schema}.{table} ADD CONSTRAINT {name} {!definition}",
    { schema = schema, table = table_name, name = name, definition = definition })
end

function Q.add_unique_using_index(conn, schema, table_name, name, index)
  return fill(conn, "ALTER TABLE {schema}.{table} ADD CONSTRAINT {name} UNIQUE USING INDEX {index}",
    { schema = schema, table = table_name, name = name, index = index })
end

function Q.validate_constraint(conn, schema, table_name, name)
  return fill(conn, "ALTER TABLE {schema}.{table} VALIDATE CONSTRAINT {name}",
    { schema = schema, table = table_name, name = name })
end

function Q.drop_constraint(conn, schema, table_name, name)
  return fill(conn, "ALTER TABLE {schema}.{table} DROP CONSTRAINT IF EXISTS {name}",
    { schema = schema, table = table_name, name = name })
end

function Q.check_definition(check_sql) return "CHECK (" .. check_sql .. ")" end

function Q.not_null_check(conn, column) return "CHECK (" .. Q.ident(conn, column) .. " IS NOT NULL)" end

function Q.foreign_key_definition(conn, columns, ref, ref_columns, on_delete, on_update)
  local cols, refs = {}, {}
  for i, c in ipairs(columns) do cols[i] = Q.ident(conn, c) end
  for i, c in ipairs(ref_columns or {}) do refs[i] = Q.ident(conn, c) end
  return fill(conn, "FOREIGN KEY ({!cols}) REFERENCES {ref}{!refcols}{!actions}", { cols = table.concat(cols, ", "),
    ref = ref, refcols = #refs > 0 and (" (" .. table.concat(refs, ", ") .. ")") or "",
    actions = (on_delete and (" ON DELETE " .. on_delete) or "") .. (on_update and (" ON UPDATE " .. on_update) or "") })
end

-- ---------------------------------------------------------------------------------------------
-- Indexes (CONCURRENTLY: never inside a transaction)

function Q.create_index(conn, t, name, columns, opts)
  local cols = {}
  for i, c in ipairs(columns) do cols[i] = Q.ident(conn, c) end
  return fill(conn, "CREATE {!unique}INDEX CONCURRENTLY {name} ON {schema}.{table}{!using} ({!cols})",
    { unique = opts.unique and "UNIQUE " or "", name = name, schema = t.schema, table = t.name,
      using = opts.using and (" USING " .. Q.ident(conn, opts.using)) or "", cols = table.concat(cols, ", ") })
end

function Q.drop_index(conn, schema, name, concurrently)
  return fill(conn, "DROP INDEX {!conc}IF EXISTS {schema}.{name}",
    { conc = concurrently and "CONCURRENTLY " or "", schema = schema, name = name })
end

---A recorded index definition (pg_get_indexdef) built again without blocking writes.
function Q.recreate_index(definition)
  return (definition:gsub("^CREATE (UNIQUE )?INDEX ", "CREATE %1INDEX CONCURRENTLY ", 1))
end

return Q
