--- lint: `weir lint FILE.sql|MIGRATION.lua... [--json]` (the rules are C++'s, behind sql.lint).
---
--- A .sql file is linted as written. A .lua migration is run on a throwaway cluster — empty,
--- or a schema-only copy of --db's database — after the migrations before it in its directory
--- (those the database has not applied): each phase's `up` in order (transactional ones
--- inside a transaction, the others in autocommit) with the SQL it sends traced, and that SQL
--- is linted as one sequence, so tables created by an earlier phase are new for later ones.
--- Findings are reported at the Lua line that ran the statement; `-- weir:ignore RULE` Lua
--- comments on that line or directly above it suppress like SQL ones do.
local history = require "history"
local runner = require "runner"
local sql = require "sql"

local M = {}

local function say(fmt, ...) io.stderr:write("weir: lint: ", string.format(fmt, ...), "\n") end

local read = require("weir_util").read_file
local lines_of = require("weir_util").lines

-- ---------------------------------------------------------------------------------------------
-- .sql files

local function lint_sql_file(path, out)
  for _, v in ipairs(sql.lint(read(path))) do
    out[#out + 1] = { file = path, line = v.line, rule = v.rule, message = v.message, statement = v.statement }
  end
end

-- ---------------------------------------------------------------------------------------------
-- Lua comments: `-- weir:ignore ...` on the line that ran a statement, or directly above it

local sources = {}  -- path -> lines (false when unreadable)

local function source_lines(path)
  if sources[path] == nil then
    local ok, text = pcall(read, path)
    sources[path] = ok and lines_of(text) or false
  end
  return sources[path]
end

-- The valid ignore comments that apply at FILE:LINE; malformed ones are reported into `out`
-- (once per comment line) and left out.
local reported_bad = {}
local function lua_ignores(file, line, out)
  local lines = source_lines(file)
  if not lines or not lines[line] then return {} end
  local found = {}
  local trailing = lines[line]:match("(%-%-%s*weir:ignore.*)$")
  if trailing then found[#found + 1] = { line = line, text = trailing } end
  local i = line - 1
  while i >= 1 and lines[i]:match("^%s*%-%-") do
    local c = lines[i]:match("^%s*(%-%-%s*weir:ignore.*)$")
    if c then found[#found + 1] = { line = i, text = c } end
    i = i - 1
  end
  local valid = {}
  for _, c in ipairs(found) do
    local bad = sql.lint("", { ignore = { c.text } })[1]
    if not bad then
      valid[#valid + 1] = c.text
    elseif not reported_bad[file .. ":" .. c.line] then
      reported_bad[file .. ":" .. c.line] = true
      out[#out + 1] = { file = file, line = c.line, rule = bad.rule, message = bad.message,
        statement = c.text }
    end
  end
  return valid
end

-- ---------------------------------------------------------------------------------------------
-- Migrations

local function load_migration(path)
  local chunk, err = load(read(path), "@" .. path, "t")
  if not chunk then error(err, 0) end
  local ok, m = pcall(chunk)
  if not ok then error(type(m) == "string" and m or tostring(m), 0) end
  if not require("migration").is_migration(m) then
    error(path .. ": the script must return migration \"ID\" { ... }", 0)
  end
  return m
end

-- Runs `up` of phase `p` on `conn` the way `weir up` would: transactional phases inside a
-- transaction, the others in autocommit. With `trace`, returns the SQL sent and where each
-- statement came from. Returns ok, err, traced, wheres.
local function run_phase(conn, m, p, trace)
  runner.set_current { db = conn, schema = "weir", migration = m.id, phase = p.name, store = {},
    emit = function() end }
  local traced, wheres = {}, {}
  local function body()
    if trace then conn:trace(true) end
    local ok, err = pcall(p.up, conn)
    if trace then traced, wheres = conn:trace(false) end
    if not ok then error(err, 0) end
  end
  local ok, err
  if p.transaction then
    ok, err = pcall(conn.tx, conn, body)
  else
    ok, err = pcall(body)
    if conn:in_transaction() then pcall(conn.exec, conn, "ROLLBACK") end
  end
  runner.set_current(nil)
  return ok, err, traced, wheres
end

local function error_where(err)
  local where = type(err) == "table" and err.where or ""
  return where .. runner.error_text(err)
end

-- The migrations that sort before `m` in its directory (none when the directory cannot be
-- loaded as a migrations directory: it is linted on its own then).
local function earlier_migrations(path, m)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local ok, list = pcall(runner.load_all, dir)
  if not ok then
    say("not applying the other scripts of %s first (%s); linting %s on an empty cluster", dir,
      tostring(list), path)
    return {}
  end
  local before, found = {}, false
  for _, other in ipairs(list) do
    if other.id == m.id then found = true break end
    before[#before + 1] = other
  end
  return found and before or {}
end

-- The phases the --db database has applied (per weir's state there; read only): id -> name -> true.
local function applied_phases(url, schema)
  local conn <close> = weir.connect(url)
  local done = {}
  if history.has_table(conn, schema, "phases") then
    local _, phases = history.load(conn, schema)
    for id, ps in pairs(phases) do
      done[id] = {}
      for name, r in pairs(ps) do done[id][name] = r.state == "done" or nil end
    end
  end
  return done
end

local function lint_migration(path, opts, out)
  local m = load_migration(path)
  local earlier = earlier_migrations(path, m)
  local applied = {}
  if opts.url then
    applied = applied_phases(opts.url, opts.schema or "weir")
    say("copying the schema of the --db database into a throwaway cluster")
  end
  local cluster <close> = weir.cluster(opts.url and { schema_from = opts.url } or nil)
  local shadow <close> = weir.connect(cluster:url())
  rawset(_G, "db", shadow)  -- scripts that use the global `db` must reach the throwaway cluster

  -- The migrations before it build the schema it starts from.
  for _, e in ipairs(earlier) do
    for _, p in ipairs(e.phases) do
      local ok, err = true, nil
      if not (applied[e.id] and applied[e.id][p.name]) then ok, err = run_phase(shadow, e, p, false) end
      if not ok then
        say("could not build the schema %s starts from: %s:%s failed on the throwaway cluster: %s%s",
          path, e.id, p.name, runner.full_paths(error_where(err), e.path),
          opts.url and "" or " (lint it against a copy of a database that has what it needs with --db URL)")
        return false
      end
    end
  end

  local texts, where_of = {}, {}
  local failure
  for _, p in ipairs(m.phases) do
    local ok, err, traced, wheres = run_phase(shadow, m, p, true)
    for i, text in ipairs(traced) do
      local where = wheres[i] or ""
      local file, line = where:match("^(.*):(%d+)$")
      line = tonumber(line)
      texts[#texts + 1] = { sql = text, transaction = p.transaction, one_query = true,
        ignore = file and lua_ignores(file, line, out) or {} }
      where_of[#texts] = { file = file or path, line = line or 0 }
    end
    if not ok then
      failure = string.format("%s:%s failed on the throwaway cluster: %s; the phases after it were not linted",
        m.id, p.name, runner.full_paths(error_where(err), path))
      break
    end
  end

  for _, v in ipairs(sql.lint(texts)) do
    local w = where_of[v.chunk]
    out[#out + 1] = { file = w.file, line = w.line, rule = v.rule, message = v.message, statement = v.statement }
  end
  if failure then say("%s", failure) end
  return failure == nil
end

-- ---------------------------------------------------------------------------------------------
-- The command

local function dedupe(list)
  local seen, out = {}, {}
  for _, v in ipairs(list) do
    local key = table.concat({ v.file, v.line, v.rule, v.message, v.statement }, "\0")
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = v
    end
  end
  return out
end

---`weir lint`: opts.files (newline-separated paths), opts.json, opts.url (--db). Returns the
---exit code: 0 clean, 1 findings or errors.
function M.main(opts)
  local out, ok = {}, true
  -- What migration scripts print goes to stderr: stdout is the report.
  local script_print = print
  rawset(_G, "print", function(...)
    local parts = table.pack(...)
    for i = 1, parts.n do parts[i] = tostring(parts[i]) end
    io.stderr:write(table.concat(parts, "\t", 1, parts.n), "\n")
  end)
  local global_db = db
  local done, err = pcall(function()
    for path in (opts.files or ""):gmatch("[^\n]+") do
      if path:match("%.lua$") then
        ok = lint_migration(path, opts, out) and ok
      else
        lint_sql_file(path, out)
      end
    end
  end)
  rawset(_G, "print", script_print)
  rawset(_G, "db", global_db)
  if not done then error(err, 0) end

  -- By file, in the order the files were given; within a file by line.
  local rank = {}
  for i, v in ipairs(out) do
    v.order = i
    if not rank[v.file] then rank[v.file] = i end
  end
  table.sort(out, function(a, b)
    if a.file ~= b.file then return rank[a.file] < rank[b.file] end
    if a.line ~= b.line then return a.line < b.line end
    return a.order < b.order
  end)
  for _, v in ipairs(out) do v.order = nil end
  out = dedupe(out)
  if opts.json then
    io.stdout:write(json.encode(json.array(out)), "\n")
  else
    for _, v in ipairs(out) do
      local rule = v.rule == "syntax-error" and "syntax error" or v.rule
      io.stdout:write(string.format("%s:%d: %s: %s\n", v.file, v.line, rule, v.message))
    end
  end
  return (#out > 0 or not ok) and 1 or 0
end

return M
