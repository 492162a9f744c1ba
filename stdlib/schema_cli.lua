--- schema_cli: the `weir inspect` and `weir diff` commands (argument parsing is in
--- interpreter/cli/cmd_inspect.cpp and cmd_diff.cpp).
---
--- A diff source is a database URL, an .sql file (loaded into a throwaway cluster), or a
--- migrations directory (applied with `weir up` to an empty throwaway cluster: the schema the
--- migrations build). weir's own state schema is left out of every model.
local runner = require "runner"

local M = {}

local function say(fmt, ...) io.stderr:write("weir: ", string.format(fmt, ...), "\n") end

local util = require "weir_util"
local read_file = util.read_file

-- Runs the .sql file `path` on `conn`; an error names the file, line and SQLSTATE.
local function load_sql(conn, path)
  local text = read_file(path)
  conn:exec("SET client_min_messages = warning")
  local ok, err = pcall(conn.exec, conn, text)
  if not ok then
    local where = ""
    if type(err) == "table" and err.position and err.position > 0 then
      local line = select(2, text:sub(1, err.position):gsub("\n", "")) + 1
      where = tostring(line) .. ":"
    end
    local msg = string.format("%s:%s %s", path, where, runner.error_text(err)):gsub(" in: .*$", "")
    error(msg, 0)
  end
end

-- The URL to compare for `spec`: the URL itself, or a throwaway cluster (added to `keep`, to
-- be closed by the caller) holding the .sql file or what the migrations directory builds
-- (on top of opts.base, an .sql file of what exists before the first migration).
local function url_of(spec, opts, keep)
  if spec:match("%.sql$") then
    read_file(spec)  -- a missing file is reported before a cluster starts
    local cluster = weir.cluster()
    keep[#keep + 1] = cluster
    local conn <close> = weir.connect(cluster:url())
    load_sql(conn, spec)
    return cluster:url()
  end
  if weir.list_dir(spec) then
    local cluster = weir.cluster()
    keep[#keep + 1] = cluster
    local url = cluster:url()
    local conn <close> = weir.connect(url)
    if opts.base then load_sql(conn, opts.base) end
    local global_db = db
    rawset(_G, "db", conn)  -- the runner's phases use the global `db`
    local restore_print = runner.print_to_stderr()  -- stdout is the diff
    local ok, code = pcall(runner.up, { url = url, dir = spec, schema = opts.state_schema, command = "up" })
    rawset(_G, "db", global_db)
    restore_print()
    if not ok then error(spec .. ": building the schema from its migrations failed: " .. tostring(code), 0) end
    if code ~= 0 then error(spec .. ": building the schema from its migrations failed (see above)", 0) end
    return url
  end
  return spec
end

-- `weir diff`: the script (or JSON) on stdout, a summary on stderr. Exit codes: 0 equal (or
-- no --check), 1 the schemas differ (--check), 3 nothing else differs but some objects are of
-- kinds weir does not model and were not compared (--check): a check never says "equal" about
-- what it could not look at.
function M.diff(opts)
  local keep = {}
  local ok, changes, cmp = pcall(function()
    local from, to = url_of(opts.from, opts, keep), url_of(opts.to, opts, keep)
    local ok2, res, res2 = pcall(schema.diff_urls, from, to,
      { exclude_schemas = { opts.state_schema }, schemas = opts.only, renames = opts.renames ~= nil })
    if not ok2 then error(util.error_line(res), 0) end
    return res, res2
  end)
  for _, c in ipairs(keep) do c:close() end
  if not ok then error(changes, 0) end
  local hazardous = 0
  for _, c in ipairs(changes) do
    if #c.hazards > 0 then hazardous = hazardous + 1 end
  end
  -- Differences of the whole models that no change accounts for (a diff that would leave them).
  local unhandled = #changes == 0 and cmp.differences or {}
  local equal = #changes == 0 and #unhandled == 0 and #cmp.not_compared == 0
  if opts.json then
    io.stdout:write(json.encode {
      format_version = runner.FORMAT_VERSION, equal = equal, changes = json.array(changes),
      differences = json.array(unhandled), not_compared = json.array(cmp.not_compared),
    }, "\n")
  else
    io.stdout:write(schema.script(changes))
  end
  if #changes > 0 then
    say("%d change%s, %d with hazards", #changes, #changes == 1 and "" or "s", hazardous)
  end
  for _, d in ipairs(unhandled) do say("differs, with no change to make it equal: %s", d) end
  for _, o in ipairs(cmp.not_compared) do say("not compared: %s (weir does not model this kind)", o) end
  if equal then say("no differences") end
  if not opts.check then return 0 end
  if #changes > 0 or #unhandled > 0 then return 1 end
  if #cmp.not_compared > 0 then return 3 end
  return 0
end

local function count(t) return t and #t or 0 end

function M.inspect(opts)
  local model = schema.inspect(db, { exclude_schemas = { opts.state_schema }, schemas = opts.only })
  if opts.json then
    model.format_version = runner.FORMAT_VERSION
    io.stdout:write(json.encode(model), "\n")
    return 0
  end
  local out = io.stdout
  local function line(fmt, ...) out:write(string.format(fmt, ...), "\n") end
  for _, s in ipairs(model.schemas) do line("schema %s", s.name) end
  for _, e in ipairs(model.extensions) do line("extension %s %s (in %s)", e.name, e.version, e.schema) end
  for _, c in ipairs(model.collations or {}) do line("collation %s.%s (%s)", c.schema, c.name, c.provider) end
  for _, e in ipairs(model.enums) do line("enum %s.%s (%s)", e.schema, e.name, table.concat(e.values, ", ")) end
  for _, d in ipairs(model.domains) do line("domain %s.%s %s", d.schema, d.name, d.type) end
  for _, c in ipairs(model.composites) do line("type %s.%s (%d attributes)", c.schema, c.name, count(c.attributes)) end
  for _, s in ipairs(model.sequences) do line("sequence %s.%s", s.schema, s.name) end
  for _, t in ipairs(model.tables) do
    local extra = {}
    if t.kind == "partitioned" then extra[#extra + 1] = "partitioned by " .. t.partition_key end
    if t.partition_of ~= json.null then
      extra[#extra + 1] = ("partition of %s.%s"):format(t.partition_of.schema, t.partition_of.name)
    end
    if t.rls then extra[#extra + 1] = "row level security" .. (t.rls_forced and " (forced)" or "") end
    for _, p in ipairs(t.inherits or {}) do extra[#extra + 1] = ("inherits %s.%s"):format(p.schema, p.name) end
    line("table %s.%s: %d columns, %d constraints, %d indexes, %d triggers, %d policies%s", t.schema, t.name,
      count(t.columns), count(t.constraints), count(t.indexes), count(t.triggers), count(t.policies),
      #extra > 0 and ("; " .. table.concat(extra, "; ")) or "")
    for _, c in ipairs(t.columns) do
      local notes = {}
      if c.not_null then notes[#notes + 1] = "not null" end
      if c.identity ~= json.null then notes[#notes + 1] = "identity " .. c.identity end
      if c.generated ~= json.null then notes[#notes + 1] = "generated (" .. c.generated .. ")" end
      if c.default ~= json.null then notes[#notes + 1] = "default " .. c.default end
      line("  %-24s %s%s", c.name, c.type, #notes > 0 and ("  " .. table.concat(notes, ", ")) or "")
    end
    for _, c in ipairs(t.constraints) do line("  constraint %s %s%s", c.name, c.definition, c.validated and "" or " (not validated)") end
    for _, i in ipairs(t.indexes) do
      if i.constraint == json.null then line("  index %s%s", i.definition, i.valid and "" or " (INVALID)") end
    end
    for _, tr in ipairs(t.triggers) do line("  trigger %s", tr.name) end
    for _, p in ipairs(t.policies) do line("  policy %s %s", p.name, p.command) end
  end
  for _, v in ipairs(model.views) do
    line("%s %s.%s", v.materialized and "materialized view" or "view", v.schema, v.name)
  end
  for _, f in ipairs(model.functions) do line("%s %s.%s(%s)", f.kind, f.schema, f.name, f.arguments) end
  for _, g in ipairs(model.aggregates or {}) do line("aggregate %s.%s(%s)", g.schema, g.name, g.arguments) end
  for _, d in ipairs(model.default_privileges or {}) do
    line("default privileges for %s%s on %s: %s", d.role, d.schema ~= json.null and (" in " .. d.schema) or "",
      d.object_type, table.concat(d.grants, ", "))
  end
  for _, o in ipairs(model.other_objects or {}) do line("not modelled: %s", o) end
  return 0
end

function M.main(opts)
  opts.state_schema = opts.state_schema or "weir"
  if type(opts.only) == "string" then
    local names = {}
    for name in opts.only:gmatch("[^,]+") do names[#names + 1] = name end
    opts.only = names
  end
  local fn = M[opts.command]
  if not fn then error("schema_cli: unknown command " .. tostring(opts.command), 0) end
  return fn(opts)
end

return M
