--- online_model: the operations of an online change (built and checked when the migration
--- script loads, no database) and what a change resolves to against the catalog at start: per
--- table, the old and the new shape, the shadow columns, the pairs of columns the sync trigger
--- keeps in step, and what complete does. The model is plain data, recorded as JSON with the
--- change's state, so complete, rollback and reopen act on exactly what start resolved.
local Q = require "online_sql"

local M = {}

local getinfo = debug.getinfo  -- captured before the sandbox removes `debug`

local MAX_NAME = 63

-- ---------------------------------------------------------------------------------------------
-- Errors

-- The script line of a call: {file, line}, the file as its chunk names it (not shortened).
local function locate(level)
  local info = getinfo(level + 1, "Sl")
  if info and info.currentline and info.currentline > 0 and info.source:sub(1, 1) == "@" then
    return { info.source:sub(2), info.currentline }
  end
  return nil
end

local function where(level)
  local info = getinfo(level + 1, "Sl")
  if info and info.currentline and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline .. ": "
  end
  return ""
end

-- A refusal while a phase runs: one line, prefixed with the change and the script line that
-- declared it (never a stdlib location).
function M.refuse(ch, fmt, ...)
  error(("%sonline change %s: " .. fmt):format(ch.where, ch.name, ...), 0)
end

-- A refusal about one operation: its own script line.
local function refuse_op(op, fmt, ...)
  error(("%sonline.%s: " .. fmt):format(op.where, op.kind, ...), 0)
end

function M.error_line(e)
  if type(e) == "table" and e.sqlstate then
    return e.sqlstate .. " " .. e.message .. (e.detail and (" (" .. e.detail .. ")") or "")
  end
  return (tostring(e):gsub("^[^:]*stdlib/[%w_]+%.lua:%d+: ", ""))
end

-- ---------------------------------------------------------------------------------------------
-- Names

local function clip(s, n)
  if #s <= n then return s end
  while n > 0 and (s:byte(n + 1) & 0xC0) == 0x80 do n = n - 1 end
  return s:sub(1, n)
end

function M.fnv1a(s)
  local h = 0x811c9dc5
  for i = 1, #s do h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff end
  return h
end

-- `s`, or past 63 bytes its start and a hash of the whole (two long names stay distinct).
function M.fit(s)
  if #s <= MAX_NAME then return s end
  local tail = ("_%08x"):format(M.fnv1a(s))
  return clip(s, MAX_NAME - #tail) .. tail
end

---The version schema of a change for tables of `schema`: `<schema>_<change>`.
function M.version_schema(schema, change) return M.fit(schema .. "_" .. change) end

function M.shadow_name(change, column) return M.fit("_weir_" .. change .. "_" .. column) end
function M.synced_name(change) return M.fit("_weir_" .. change .. "$synced") end
-- "!" sorts before letters, digits and "_": PostgreSQL fires a table's BEFORE triggers in the
-- byte order of their names, so weir's sync runs before the user's own triggers.
function M.trigger_name(change) return M.fit("!weir_sync_" .. change) end
function M.retired_name(change, tbl) return M.fit("_weir_" .. change .. "_" .. tbl) end

-- ---------------------------------------------------------------------------------------------
-- Operations: built when the migration script loads (no database), checked then

local OP_MT = { __name = "weir.online.Operation" }

---True when `v` is an operation built by one of the constructors.
function M.is_operation(v) return getmetatable(v) == OP_MT end

M.ops = {}

local SPECS = {
  add_column = { required = { "table", "column", "type" },
    keys = { table = "string", column = "string", type = "string", default = "string|number|boolean",
      not_null = "boolean", up = "string", check = "string", unique = "boolean" } },
  drop_column = { required = { "table", "column" }, keys = { table = "string", column = "string", down = "string" } },
  rename_column = { required = { "table", "from", "to" }, keys = { table = "string", from = "string", to = "string" } },
  alter_column = { required = { "table", "column" },
    keys = { table = "string", column = "string", type = "string", up = "string", down = "string",
      not_null = "boolean", default = "string|number|boolean", check = "string", unique = "boolean" } },
  set_not_null = { required = { "table", "column" },
    keys = { table = "string", column = "string", up = "string", down = "string" } },
  add_check = { required = { "table", "name", "check" }, keys = { table = "string", name = "string", check = "string" } },
  add_unique = { required = { "table", "columns" }, keys = { table = "string", columns = "string|table", name = "string" } },
  add_foreign_key = { required = { "table", "columns", "references" },
    keys = { table = "string", columns = "string|table", references = "string", ref_columns = "string|table",
      name = "string", on_delete = "string", on_update = "string" } },
  create_table = { required = { "table", "columns" }, keys = { table = "string", columns = "string" } },
  drop_table = { required = { "table" }, keys = { table = "string" } },
  rename_table = { required = { "from", "to" }, keys = { from = "string", to = "string" } },
  create_index = { required = { "table", "columns" },
    keys = { table = "string", columns = "string|table", name = "string", unique = "boolean", using = "string" } },
  drop_index = { required = { "index" }, keys = { index = "string" } },
  sql = { required = { "up" }, keys = { up = "string", down = "string", at = "string" } },
}

function M.sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

local function as_list(v)
  if type(v) == "string" then return { v } end
  return v
end

local FK_ACTIONS = { ["cascade"] = "CASCADE", ["restrict"] = "RESTRICT", ["no action"] = "NO ACTION",
  ["set null"] = "SET NULL", ["set default"] = "SET DEFAULT" }

local function operation(kind)
  local spec = SPECS[kind]
  M.ops[kind] = function(o)
    local at = where(2)
    local function bad(fmt, ...) error(("%sonline.%s: " .. fmt):format(at, kind, ...), 0) end
    if type(o) ~= "table" then bad("expected a table of options, got %s", type(o)) end
    for k, v in pairs(o) do
      local want = spec.keys[k]
      if not want then
        bad("unknown key '%s' (expected %s)", tostring(k), table.concat(M.sorted_keys(spec.keys), ", "))
      end
      if not want:find(type(v), 1, true) then bad("%s must be a %s, got %s", k, want:gsub("|", " or "), type(v)) end
      if type(v) == "string" and v == "" then bad("%s must not be empty", k) end
    end
    for _, k in ipairs(spec.required) do
      if o[k] == nil then bad("%s is required", k) end
    end
    local op = { kind = kind, where = at, line = locate(2) }
    for k, v in pairs(o) do op[k] = v end
    for _, k in ipairs { "columns", "ref_columns" } do
      if type(op[k]) == "table" and kind ~= "create_table" then
        if #op[k] == 0 then bad("%s must name at least one column", k) end
        for i, c in ipairs(op[k]) do
          if type(c) ~= "string" or c == "" then bad("%s[%d] must be a column name", k, i) end
        end
      end
    end
    if kind ~= "create_table" then
      op.columns, op.ref_columns = as_list(op.columns), as_list(op.ref_columns)
    end
    for _, k in ipairs { "column", "from", "to", "name" } do
      if type(op[k]) == "string" and #op[k] > MAX_NAME then
        bad("%s %q is %d bytes; PostgreSQL names are at most %d", k, op[k], #op[k], MAX_NAME)
      end
    end
    if type(op.default) == "number" or type(op.default) == "boolean" then
      op.default = Q.literal(op.default)
    end
    if kind == "alter_column" then
      if (op.type or op.up) and not op.up then
        bad("%s.%s: a new type needs up (the new value from the old row) and down (the old value from the new row)",
          op.table, op.column)
      end
      if op.type and not op.down then
        bad("%s.%s: a new type needs down (the old value from the new row) for writes the new shape makes",
          op.table, op.column)
      end
      if op.down and not op.up then bad("%s.%s: down without up (give both, or neither)", op.table, op.column) end
      if op.not_null == false and not op.up then
        bad("%s.%s: not_null = false needs up and down (down gives the old shape a value where the new one is NULL)",
          op.table, op.column)
      end
      if not (op.type or op.up or op.not_null ~= nil or op.default ~= nil or op.check or op.unique) then
        bad("%s.%s: nothing to change (give type, up/down, not_null, default, check or unique)", op.table, op.column)
      end
    elseif kind == "add_column" then
      if op.not_null and not (op.up or op.default) then
        bad("%s.%s is NOT NULL: give up (its value for rows the old shape writes) or a default", op.table, op.column)
      end
    elseif kind == "set_not_null" then
      if op.down and not op.up then bad("%s.%s: down without up", op.table, op.column) end
    elseif kind == "sql" then
      if op.at ~= nil and op.at ~= "start" and op.at ~= "complete" then
        bad("at must be \"start\" or \"complete\", got %q", op.at)
      end
      op.at = op.at or "start"
    elseif kind == "add_foreign_key" then
      for _, k in ipairs { "on_delete", "on_update" } do
        if op[k] then
          local a = FK_ACTIONS[op[k]:lower():gsub("_", " ")]
          if not a then bad("%s must be cascade, restrict, no action, set null or set default; got %q", k, op[k]) end
          op[k] = a
        end
      end
      if op.ref_columns and #op.ref_columns ~= #op.columns then
        bad("%d columns reference %d ref_columns", #op.columns, #op.ref_columns)
      end
    end
    for _, k in ipairs { "up", "down", "check", "columns", "default" } do
      if type(op[k]) == "string" and op[k]:find("$weir$", 1, true) then bad("%s must not contain $weir$", k) end
    end
    return setmetatable(op, OP_MT)
  end
end

for kind in pairs(SPECS) do operation(kind) end

-- ---------------------------------------------------------------------------------------------
-- The model: what a change does to each table, resolved against the catalog at start.

local function split(ref)
  local s, n = ref:match("^([^.]+)%.([^.]+)$")
  if s then return s, n end
  return nil, ref
end

function M.quoted(conn, schema, name) return Q.ident(conn, schema) .. "." .. Q.ident(conn, name) end

local function find_entry(t, name)
  for i, e in ipairs(t.shape) do
    if e.name == name then return e, i end
  end
end

---The model of change `ch` against the catalog of `conn`. Reads only (the probes of up and
---down are SELECTs of no rows); refuses, naming the operation's script line, what cannot work.
function M.resolve(conn, ch)
  local m = { name = ch.name, tables = {}, sql = {}, drop_indexes = {} }
  local current_schema = conn:value(Q.CURRENT_SCHEMA)
  local tables = m.tables

  local function load(op, schema, name)
    local rel = conn:one(Q.TABLE, M.quoted(conn, schema, name))
    if not rel then return nil end
    if rel.kind ~= "r" and rel.kind ~= "p" then refuse_op(op, "%s.%s is not a table", rel.schema, rel.name) end
    for _, t in ipairs(tables) do
      if t.oid == rel.oid then return t end
    end
    local t = { oid = rel.oid, schema = rel.schema, name = rel.name, new_name = rel.name, columns = {},
      shape = {}, old_shape = {}, pairs = {}, constraints = {}, defaults = {}, indexes = {}, ops = {} }
    for _, c in ipairs(conn:query(Q.COLUMNS, rel.oid)) do
      local col = { name = c.name, num = c.num, type = c.type, not_null = c.not_null,
        default_sql = not db.isnull(c.default_sql) and c.default_sql or nil,
        identity = c.identity ~= "" and c.identity or nil, generated = c.generated ~= "" and c.generated or nil,
        sequence = not db.isnull(c.sequence) and c.sequence or nil }
      t.columns[#t.columns + 1] = col
      t.shape[#t.shape + 1] = { name = c.name, phys = c.name, orig = true, type = c.type,
        generated = col.generated ~= nil, identity = col.identity, not_null = col.not_null }
      t.old_shape[#t.old_shape + 1] = { name = c.name, phys = c.name }
    end
    local key = {}
    for _, r in ipairs(conn:query(Q.PRIMARY_KEY, rel.oid)) do key[#key + 1] = r.name end
    t.key = #key > 0 and key or nil
    tables[#tables + 1] = t
    return t
  end

  -- The table an operation names, as the change has left it so far.
  local function lookup(op, ref, what)
    local schema, name = split(ref)
    local found = {}
    for _, t in ipairs(tables) do
      if t.new_name == name and (schema == nil or t.schema == schema) and not t.dropped then found[#found + 1] = t end
    end
    if #found > 1 then
      refuse_op(op, "%s %s is ambiguous (%s.%s and %s.%s): write schema.name", what, ref, found[1].schema, name,
        found[2].schema, name)
    end
    local t = found[1]
    if not t then
      t = load(op, schema or current_schema, name)
      if not t and not schema then
        local rel = conn:one(Q.TABLE, Q.ident(conn, name))
        if rel then t = load(op, rel.schema, rel.name) end
      end
      if not t then refuse_op(op, "%s %s does not exist", what, ref) end
      if t.new_name ~= name or t.dropped then
        refuse_op(op, "%s %s.%s is %s by an earlier operation of this change", what, t.schema, t.name,
          t.dropped and "dropped" or ("renamed to " .. t.new_name))
      end
    end
    if t.created and op.kind ~= "create_index" then
      refuse_op(op, "%s %s is created by this change: give its final definition in create_table", what, ref)
    end
    if t.dropped then refuse_op(op, "%s %s is dropped by an earlier operation of this change", what, ref) end
    t.ops[#t.ops + 1] = op.kind
    return t
  end

  local function entry(op, t, name)
    local e, i = find_entry(t, name)
    if not e then refuse_op(op, "%s.%s has no column %s (in the shape this change has given it so far)", t.schema,
      t.new_name, name) end
    return e, i
  end

  local function is_key(t, e)
    for _, k in ipairs(t.key or {}) do
      if e.orig and e.phys == k then return true end
    end
    return false
  end

  local function free_name(op, t, name)
    if find_entry(t, name) then refuse_op(op, "%s.%s already has a column %s", t.schema, t.new_name, name) end
  end

  local function probe(op, t, expr, shape, type_sql, what)
    local ok, err = pcall(conn.exec, conn, Q.probe_expression(conn, t, expr, shape, type_sql))
    if not ok then refuse_op(op, "%s.%s: %s does not work: %s", t.schema, t.new_name, what, M.error_line(err)) end
  end

  local function check_type(op, type_sql)
    local ok, err = pcall(conn.exec, conn, Q.probe_type(type_sql))
    if not ok then refuse_op(op, "type %s: %s", type_sql, M.error_line(err)) end
  end

  local function copy_shape(shape)
    local out = {}
    for i, e in ipairs(shape) do
      local c = {}
      for k, v in pairs(e) do c[k] = v end
      out[i] = c
    end
    return out
  end

  local function add_constraint(t, c) t.constraints[#t.constraints + 1] = c end

  local function shadow_entry(op, t, name, type_sql, default_sql)
    check_type(op, type_sql)
    local phys = M.shadow_name(ch.name, name)
    return { name = name, phys = phys, shadow = true, type = type_sql, default_sql = default_sql, line = op.line }
  end

  local handlers = {}

  function handlers.add_column(op)
    local t = lookup(op, op.table, "table")
    free_name(op, t, op.column)
    local e = shadow_entry(op, t, op.column, op.type, op.default)
    local up = op.up or op.default
    if up then probe(op, t, up, t.old_shape, op.type, "up") end
    t.shape[#t.shape + 1] = e
    t.pairs[#t.pairs + 1] = { name = op.column, S = e.phys, up = up, entry = e, where = op.where }
    if op.not_null then add_constraint(t, { kind = "not_null", entry = e, where = op.where }) end
    if op.check then add_constraint(t, { kind = "check", check = op.check, name = M.fit(t.new_name .. "_" .. op.column .. "_check"), where = op.where }) end
    if op.unique then add_constraint(t, { kind = "unique", entries = { e }, where = op.where }) end
  end

  function handlers.drop_column(op)
    local t = lookup(op, op.table, "table")
    local e, i = entry(op, t, op.column)
    if not e.orig then refuse_op(op, "%s.%s is added or altered by this change: leave it out instead", t.new_name, op.column) end
    if is_key(t, e) then refuse_op(op, "%s.%s is part of the primary key", t.new_name, op.column) end
    local col
    for _, c in ipairs(t.columns) do if c.name == e.phys then col = c end end
    if col.not_null and not col.default_sql and not col.identity and not col.generated and not op.down then
      refuse_op(op, "%s.%s is NOT NULL without a default: rows the new shape inserts need a value; give down",
        t.new_name, op.column)
    end
    table.remove(t.shape, i)
    if op.down then
      t.pairs[#t.pairs + 1] = { name = op.column, D = e.phys, down = op.down, where = op.where, dropped = true }
      t.pending_down_probes = t.pending_down_probes or {}
      t.pending_down_probes[#t.pending_down_probes + 1] = { op = op, expr = op.down, type = col.type }
    end
  end

  function handlers.rename_column(op)
    local t = lookup(op, op.table, "table")
    local e = entry(op, t, op.from)
    free_name(op, t, op.to)
    e.name = op.to
  end

  local function alter(op, o)
    local t = lookup(op, op.table, "table")
    local e, i = entry(op, t, o.column)
    local target = e
    if o.type or o.up then
      if not e.orig then
        refuse_op(op, "%s.%s is added or altered earlier in this change: give its final definition there",
          t.new_name, o.column)
      end
      if is_key(t, e) then refuse_op(op, "%s.%s is part of the primary key: its type cannot change online",
        t.new_name, o.column) end
      if e.generated then refuse_op(op, "%s.%s is a generated column", t.new_name, o.column) end
      local col
      for _, c in ipairs(t.columns) do if c.name == e.phys then col = c end end
      local type_sql = o.type or col.type
      local default_sql = o.default
      if default_sql == nil and not o.type then default_sql = col.default_sql end
      target = shadow_entry(op, t, e.name, type_sql, default_sql)
      local down = o.down or Q.ident(conn, e.name)
      probe(op, t, o.up, t.old_shape, type_sql, "up")
      t.shape[i] = target
      t.pairs[#t.pairs + 1] = { name = e.name, D = e.phys, S = target.phys, up = o.up, down = down, entry = target,
        where = op.where }
      t.pending_down_probes = t.pending_down_probes or {}
      t.pending_down_probes[#t.pending_down_probes + 1] = { op = op, expr = down, type = col.type }
    elseif o.default ~= nil then
      t.defaults[#t.defaults + 1] = { entry = e, sql = o.default, where = op.where }
      e.default_sql = o.default
      e.default_changed = true
    end
    if o.not_null then
      add_constraint(t, { kind = "not_null", entry = target, where = op.where })
    end
    if o.check then
      add_constraint(t, { kind = "check", check = o.check, name = M.fit(t.new_name .. "_" .. target.name .. "_check"),
        where = op.where })
    end
    if o.unique then add_constraint(t, { kind = "unique", entries = { target }, where = op.where }) end
  end

  function handlers.alter_column(op) alter(op, op) end

  function handlers.set_not_null(op)
    alter(op, { column = op.column, up = op.up, down = op.down, not_null = true })
  end

  function handlers.add_check(op)
    local t = lookup(op, op.table, "table")
    add_constraint(t, { kind = "check", check = op.check, name = op.name, where = op.where })
  end

  local function entries(op, t, names)
    local out = {}
    for i, n in ipairs(names) do out[i] = entry(op, t, n) end
    return out
  end

  function handlers.add_unique(op)
    local t = lookup(op, op.table, "table")
    add_constraint(t, { kind = "unique", entries = entries(op, t, op.columns), name = op.name, where = op.where })
  end

  function handlers.add_foreign_key(op)
    local t = lookup(op, op.table, "table")
    local c = { kind = "foreign_key", entries = entries(op, t, op.columns), name = op.name, where = op.where,
      on_delete = op.on_delete, on_update = op.on_update }
    local rs, rn = split(op.references)
    local ref
    for _, x in ipairs(tables) do
      if x.new_name == rn and (rs == nil or x.schema == rs) and not x.dropped then ref = x end
    end
    if ref and not ref.created then
      c.ref_table = ref
      c.ref_entries = op.ref_columns and entries(op, ref, op.ref_columns) or nil
    else
      local rel = conn:one(Q.TABLE, rs and M.quoted(conn, rs, rn) or Q.ident(conn, rn))
      if not rel and not ref then refuse_op(op, "referenced table %s does not exist", op.references) end
      c.ref_physical = ref and { ref.schema, ref.name } or { rel.schema, rel.name }
      c.ref_columns = op.ref_columns
    end
    add_constraint(t, c)
  end

  function handlers.create_table(op)
    local schema, name = split(op.table)
    schema = schema or current_schema
    if conn:one(Q.RELATION_IN, schema, name) then refuse_op(op, "%s.%s already exists", schema, name) end
    for _, t in ipairs(tables) do
      if t.schema == schema and t.new_name == name then refuse_op(op, "%s.%s is already named by this change", schema, name) end
    end
    tables[#tables + 1] = { schema = schema, name = name, new_name = name, created = true, columns_sql = op.columns, line = op.line,
      shape = {}, old_shape = {}, pairs = {}, constraints = {}, defaults = {}, indexes = {}, ops = { "create_table" } }
  end

  function handlers.drop_table(op)
    local t = lookup(op, op.table, "table")
    if #t.ops > 1 then refuse_op(op, "%s has other operations in this change; dropping it makes them moot", op.table) end
    t.dropped = true
    t.retired = M.retired_name(ch.name, t.name)
  end

  function handlers.rename_table(op)
    local t = lookup(op, op.from, "table")
    if op.to:find(".", 1, true) then refuse_op(op, "to %q must be a bare name (a table keeps its schema)", op.to) end
    if conn:one(Q.RELATION_IN, t.schema, op.to) then refuse_op(op, "%s.%s already exists", t.schema, op.to) end
    t.new_name = op.to
  end

  function handlers.create_index(op)
    local t = lookup(op, op.table, "table")
    if t.created then  -- its columns are as create_table wrote them
      t.indexes[#t.indexes + 1] = { columns = op.columns, phys_columns = op.columns, name = op.name,
        unique = op.unique, using = op.using, where = op.where }
      return
    end
    local es = entries(op, t, op.columns)
    t.indexes[#t.indexes + 1] = { entries = es, name = op.name, unique = op.unique, using = op.using, where = op.where }
  end

  function handlers.drop_index(op)
    local s, n = split(op.index)
    local ix = conn:one(Q.INDEX, s and M.quoted(conn, s, n) or Q.ident(conn, n))
    if not ix then refuse_op(op, "index %s does not exist", op.index) end
    m.drop_indexes[#m.drop_indexes + 1] = { schema = ix.schema, name = ix.name, definition = ix.definition }
  end

  function handlers.sql(op)
    m.sql[#m.sql + 1] = { up = op.up, down = op.down, at = op.at, where = op.where, line = op.line }
  end

  for _, op in ipairs(ch.ops) do handlers[op.kind](op) end

  -- Finish: names as the change leaves them, per-table physical work, JSON-ready.
  local vschemas, seen_v = {}, {}
  for _, t in ipairs(tables) do
    t.ops = nil
    if not t.created and not t.dropped then
      t.vschema = M.version_schema(t.schema, ch.name)
      t.has_view = true
      if not seen_v[t.vschema] then
        seen_v[t.vschema] = true
        vschemas[#vschemas + 1] = t.vschema
      end
      for _, p in ipairs(t.pending_down_probes or {}) do
        local ok, err = pcall(conn.exec, conn, Q.probe_expression(conn, t, p.expr, t.shape, p.type))
        if not ok then refuse_op(p.op, "%s.%s: down does not work: %s", t.schema, t.new_name, M.error_line(err)) end
      end
      t.pending_down_probes = nil
      -- original columns under new names; columns the new shape does not keep
      t.renames, t.drops = {}, {}
      local kept = {}
      for _, e in ipairs(t.shape) do
        if e.orig then
          kept[e.phys] = true
          if e.name ~= e.phys then t.renames[#t.renames + 1] = { from = e.phys, to = e.name } end
        end
        if e.identity == "a" then t.identity_always = true end
      end
      for _, c in ipairs(t.columns) do
        if not kept[c.name] then
          local d = { column = c.name, type = c.type, not_null = c.not_null, default_sql = c.default_sql,
            indexes = conn:query(Q.COLUMN_INDEXES, t.oid, c.num), constraints = conn:query(Q.COLUMN_CONSTRAINTS, t.oid, c.num) }
          t.drops[#t.drops + 1] = d
        end
      end
      t.shadows = {}
      for _, e in ipairs(t.shape) do
        if e.shadow then
          t.shadows[#t.shadows + 1] = { phys = e.phys, final = e.name, type = e.type, default_sql = e.default_sql,
            line = e.line }
        end
      end
      local needs_backfill = false
      for _, p in ipairs(t.pairs) do
        if p.S and p.up then needs_backfill = true end
        p.name = p.entry and p.entry.name or p.name
        p.entry = nil
      end
      if #t.pairs > 0 then t.trigger = M.trigger_name(ch.name) end
      if t.key then
        t.view_key = {}
        for i, k in ipairs(t.key) do
          for _, e in ipairs(t.shape) do if e.orig and e.phys == k then t.view_key[i] = e.name end end
        end
      end
      if needs_backfill or #t.drops > 0 then t.synced = M.synced_name(ch.name) end
      t.backfill_up = needs_backfill
      for _, d in ipairs(t.defaults) do
        d.column, d.entry = d.entry.name, nil
      end
      -- the old default of a column whose default changes, for reopen
      for _, d in ipairs(t.defaults) do
        for _, e in ipairs(t.shape) do
          if e.name == d.column and e.orig then
            for _, c in ipairs(t.columns) do if c.name == e.phys then d.old_sql = c.default_sql end end
          end
        end
      end
    end
    for _, c in ipairs(t.constraints) do
      if c.entry then
        c.column, c.was_not_null, c.entry = c.entry.name, c.entry.orig and c.entry.not_null or false, nil
        c.name = c.name or M.fit(t.new_name .. "_" .. c.column .. "_not_null")
      end
      if c.entries then
        local names, phys = {}, {}
        for i, e in ipairs(c.entries) do names[i], phys[i] = e.name, e.phys end
        c.columns, c.phys_columns, c.entries = names, phys, nil
        local suffix = c.kind == "unique" and "key" or "fkey"
        c.name = c.name or M.fit(t.new_name .. "_" .. table.concat(names, "_") .. "_" .. suffix)
      end
      if c.ref_table then
        local r = c.ref_table
        c.ref_final = { r.schema, r.new_name }
        c.ref_view = r.vschema and { r.vschema, r.new_name } or nil
        if c.ref_entries then
          local names = {}
          for i, e in ipairs(c.ref_entries) do names[i] = e.name end
          c.ref_columns = names
        end
        c.ref_table, c.ref_entries = nil, nil
      elseif c.ref_physical then
        c.ref_final = c.ref_physical
        c.ref_physical = nil
      end
    end
    for _, ix in ipairs(t.indexes) do
      if ix.entries then
        local names, phys = {}, {}
        for i, e in ipairs(ix.entries) do names[i], phys[i] = e.name, e.phys end
        ix.columns, ix.phys_columns, ix.entries = names, phys, nil
      end
      ix.name = ix.name or M.fit(t.new_name .. "_" .. table.concat(ix.columns, "_") .. "_idx")
    end
    -- view defaults: shadow columns, changed defaults; with copy_into every column's default
    t.copy_into = ch.copy_into == true or (type(ch.copy_into) == "table" and ch.copy_into[t.new_name]) or nil
    if t.has_view then
      t.view_defaults = {}
      for _, e in ipairs(t.shape) do
        local sql = nil
        if e.shadow or e.default_changed then
          sql = e.default_sql
        elseif t.copy_into then
          for _, c in ipairs(t.columns) do
            if c.name == e.phys then
              sql = c.default_sql
              if c.identity and c.sequence then sql = "nextval(" .. Q.literal(c.sequence) .. "::regclass)" end
            end
          end
        end
        if sql then t.view_defaults[#t.view_defaults + 1] = { column = e.name, sql = sql } end
      end
    end
    for _, e in ipairs(t.shape) do e.orig, e.not_null, e.identity, e.default_changed = nil, nil, nil, nil end
  end
  m.version_schemas = vschemas
  return m
end

return M
