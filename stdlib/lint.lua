--- lint: `weir lint [FILE.sql|MIGRATION.lua|DIR|-]... [--format F]` (the rules are C++'s,
--- behind sql.lint).
---
--- A .sql file (or stdin) is linted as written. Migrations run on one throwaway cluster for the
--- whole command — empty, or a schema-only copy of --db's database — each in a database of
--- its own made from that cluster's first one, after the migrations before it in its directory
--- (those the --db database has not applied): each phase's `up` in order (transactional ones
--- inside a transaction, the others in autocommit) with the SQL it sends traced, and that SQL is
--- linted as one sequence, so tables created by an earlier phase are new for later ones. The
--- migrations of one directory, given in order, share one database: each finds the ones
--- before it applied already. Findings are reported at the Lua line that ran the statement;
--- `-- weir:ignore RULE` Lua comments on that line or directly above it suppress like SQL ones.
local history = require "history"
local runner = require "runner"
local sql = require "sql"

local M = {}

local function say(fmt, ...) io.stderr:write("weir: lint: ", string.format(fmt, ...), "\n") end

local read = require("weir_util").read_file
local lines_of = require("weir_util").lines

local STDIN_NAME = "<stdin>"

-- ---------------------------------------------------------------------------------------------
-- .sql files

local function lint_sql_file(path, out)
  local text, name = nil, path
  if path == "-" then
    text, name = io.stdin:read("a") or "", STDIN_NAME
  else
    text = read(path)
  end
  for _, v in ipairs(sql.lint(text)) do
    out[#out + 1] = { file = name, line = v.line, rule = v.rule, message = v.message, statement = v.statement }
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
    say("not applying the other scripts of %s first (%s); linting %s on an empty database", dir,
      tostring(list), path)
    return {}, dir
  end
  local before, found = {}, false
  for _, other in ipairs(list) do
    if other.id == m.id then found = true break end
    before[#before + 1] = other
  end
  return found and before or {}, dir
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

-- ---------------------------------------------------------------------------------------------
-- The throwaway cluster of one `weir lint`, and its databases

local Shadow = {}
Shadow.__index = Shadow

local function new_shadow(opts)
  return setmetatable({ opts = opts, count = 0, applied_db = {} }, Shadow)
end

-- The cluster, started the first time a migration needs it: its `postgres` database is the
-- template of every database a migration runs in (with --db, it holds that schema's copy).
function Shadow:start()
  if self.cluster then return end
  if self.opts.url then
    self.applied_db = applied_phases(self.opts.url, self.opts.schema or "weir")
    say("copying the schema of the --db database into a throwaway cluster")
  end
  self.cluster = weir.cluster(self.opts.url and { schema_from = self.opts.url } or nil)
  -- CREATE DATABASE … TEMPLATE postgres needs nobody connected to postgres
  self.admin = weir.connect((self.cluster:url():gsub("/postgres%?", "/template1?")))
end

-- A database for migration `m` of `dir`, with `earlier` (the migrations before it there)
-- applied: the one the last migration of that directory ran in when nothing it applied sorts
-- at or after `m`, else a new one. Returns it ({conn, dir, applied = {id = true}}).
function Shadow:database_for(dir, m, earlier)
  self:start()
  local cur = self.current
  if cur and cur.dir == dir and not cur.broken then
    local before = {}
    for _, e in ipairs(earlier) do before[e.id] = true end
    local reusable = true
    for id in pairs(cur.applied) do reusable = reusable and before[id] == true end
    if reusable then return cur end
  end
  if cur then pcall(cur.conn.close, cur.conn) end
  self.count = self.count + 1
  local name = "weir_lint_" .. self.count
  self.admin:exec("CREATE DATABASE " .. name .. " TEMPLATE postgres")
  local conn = weir.connect((self.cluster:url():gsub("/postgres%?", "/" .. name .. "?")))
  self.current = { conn = conn, dir = dir, applied = {} }
  return self.current
end

function Shadow:close()
  if self.current then pcall(self.current.conn.close, self.current.conn) end
  if self.admin then pcall(self.admin.close, self.admin) end
  if self.cluster then pcall(self.cluster.close, self.cluster) end
end

-- ---------------------------------------------------------------------------------------------
-- Migrations

-- Lints migration `path`; findings into `out`, a migration that fails to run into `failures`.
local function lint_migration(path, shadow, out, failures)
  local m = load_migration(path)
  local earlier, dir = earlier_migrations(path, m)
  local target = shadow:database_for(dir, m, earlier)
  local conn = target.conn
  rawset(_G, "db", conn)  -- scripts that use the global `db` must reach the throwaway cluster
  local function fail(fmt, ...)
    local text = fmt:format(...)
    say("%s", text)
    failures[#failures + 1] = { file = path, message = text }
    target.broken = true
    return false
  end

  -- The migrations before it build the schema it starts from.
  local applied = shadow.applied_db
  for _, e in ipairs(earlier) do
    if not target.applied[e.id] then
      for _, p in ipairs(e.phases) do
        local ok, err = true, nil
        if not (applied[e.id] and applied[e.id][p.name]) then ok, err = run_phase(conn, e, p, false) end
        if not ok then
          return fail("could not build the schema %s starts from: %s:%s failed on the throwaway cluster: %s%s",
            path, e.id, p.name, runner.full_paths(error_where(err), e.path),
            shadow.opts.url and "" or " (lint it against a copy of a database that has what it needs with --db URL)")
        end
      end
      target.applied[e.id] = true
    end
  end

  local texts, where_of = {}, {}
  local failure
  for _, p in ipairs(m.phases) do
    local ok, err, traced, wheres = run_phase(conn, m, p, true)
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
  target.applied[m.id] = true

  for _, v in ipairs(sql.lint(texts)) do
    local w = where_of[v.chunk]
    out[#out + 1] = { file = w.file, line = w.line, rule = v.rule, message = v.message, statement = v.statement }
  end
  if failure then return fail("%s", failure) end
  return true
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

-- The files an argument stands for: a directory's .lua migrations (in the order `weir up`
-- runs them) then its .sql files (by name); a file or "-" itself.
local function expand(arg, into, seen)
  local names = weir.list_dir(arg)
  if not names then
    if not seen[arg] then
      seen[arg] = true
      into[#into + 1] = arg
    end
    return
  end
  local dir = arg:gsub("/+$", "")
  if dir == "" then dir = "/" end
  local lua, sql_files = {}, {}
  for _, n in ipairs(names) do
    if n:match("%.lua$") then lua[#lua + 1] = n:gsub("%.lua$", "") end
    if n:match("%.sql$") then sql_files[#sql_files + 1] = n end
  end
  table.sort(lua, runner.id_less)
  table.sort(sql_files)
  for _, n in ipairs(lua) do
    local path = dir .. "/" .. n .. ".lua"
    if not seen[path] then
      seen[path] = true
      into[#into + 1] = path
    end
  end
  for _, n in ipairs(sql_files) do
    local path = dir .. "/" .. n
    if not seen[path] then
      seen[path] = true
      into[#into + 1] = path
    end
  end
end

-- ---------------------------------------------------------------------------------------------
-- Output formats (docs/lint.md): every format writes its findings on stdout; a migration that
-- could not run is said on stderr as it happens (and is in json, sarif and github output too).

local function text_format(findings)
  for _, v in ipairs(findings) do
    local rule = v.rule == "syntax-error" and "syntax error" or v.rule
    io.stdout:write(string.format("%s:%d: %s: %s\n", v.file, v.line, rule, v.message))
  end
end

-- The form editors read (Vim's errorformat, Emacs' compilation mode): FILE:LINE: error: …
local function gcc_format(findings)
  for _, v in ipairs(findings) do
    io.stdout:write(string.format("%s:%d: error: %s [%s]\n", v.file, math.max(v.line, 1), v.message, v.rule))
  end
end

-- GitHub Actions workflow commands: one annotation per finding on the file and line.
local function github_escape(text, property)
  text = text:gsub("%%", "%%25"):gsub("\r", "%%0D"):gsub("\n", "%%0A")
  if property then text = text:gsub(":", "%%3A"):gsub(",", "%%2C") end
  return text
end

local function github_format(findings, failures)
  for _, v in ipairs(findings) do
    io.stdout:write(string.format("::error file=%s,line=%d,title=%s::%s\n", github_escape(v.file, true),
      math.max(v.line, 1), github_escape("weir lint: " .. v.rule, true), github_escape(v.message)))
  end
  for _, f in ipairs(failures) do
    io.stdout:write(string.format("::error file=%s,title=%s::%s\n", github_escape(f.file, true),
      github_escape("weir lint: could not lint", true), github_escape(f.message)))
  end
end

-- A relative or absolute path as a URI reference (RFC 3986): what is not unreserved or "/"
-- is percent-encoded.
local function uri_of(path)
  return (path:gsub("[^%w%-%._~/]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- SARIF 2.1.0 (OASIS): one run of the tool "weir" with every rule it has, a result per
-- finding, and the migrations that could not run as notifications of a failed invocation.
local function sarif_format(findings, failures, opts)
  local rules, index = json.array(), {}
  local function add_rule(id, summary)
    if index[id] then return end
    rules[#rules + 1] = { id = id, shortDescription = { text = summary } }
    index[id] = #rules - 1
  end
  for line in (opts.rules or ""):gmatch("[^\n]+") do
    local id, summary = line:match("^([^\t]+)\t(.*)$")
    if id then add_rule(id, summary) end
  end
  add_rule("syntax-error", "SQL that PostgreSQL cannot parse")
  local results = json.array()
  for _, v in ipairs(findings) do
    add_rule(v.rule, v.rule)
    local location = v.file == STDIN_NAME and { description = { text = "standard input" } } or { uri = uri_of(v.file) }
    results[#results + 1] = { ruleId = v.rule, ruleIndex = index[v.rule], level = "error",
      message = { text = v.message },
      locations = json.array { { physicalLocation = { artifactLocation = location,
        region = { startLine = math.max(v.line, 1) } } } } }
  end
  local notes = json.array()
  for _, f in ipairs(failures) do
    notes[#notes + 1] = { level = "error", message = { text = f.message },
      locations = json.array { { physicalLocation = { artifactLocation = { uri = uri_of(f.file) } } } } }
  end
  io.stdout:write(json.encode {
    ["$schema"] = "https://json.schemastore.org/sarif-2.1.0.json",
    version = "2.1.0",
    runs = json.array { {
      tool = { driver = { name = "weir", version = opts.version, rules = rules } },
      invocations = json.array { { executionSuccessful = #failures == 0, toolExecutionNotifications = notes } },
      results = results,
    } },
  }, "\n")
end

local function json_format(findings, failures, files)
  local FORMAT_VERSION = runner.FORMAT_VERSION
  local list = json.array()
  for _, v in ipairs(findings) do
    list[#list + 1] = { file = v.file, line = v.line, rule = v.rule, message = v.message, statement = v.statement }
  end
  io.stdout:write(json.encode { format_version = FORMAT_VERSION, files = json.array(files),
    findings = list, failures = json.array(failures) }, "\n")
end

local function plural(n, one, many) return n .. " " .. (n == 1 and one or many) end

---`weir lint`: opts.files (newline-separated: files, directories, "-"), opts.format (text,
---json, gcc, github, sarif), opts.url (--db), opts.rules (name TAB summary lines), opts.version.
---Returns the exit code: 0 clean, 1 findings or errors.
function M.main(opts)
  local files, seen = {}, {}
  for arg in (opts.files or ""):gmatch("[^\n]+") do expand(arg, files, seen) end
  local out, failures = {}, {}
  -- What migration scripts print goes to stderr: stdout is the report.
  local restore_print = runner.print_to_stderr()
  local global_db = db
  local shadow = new_shadow(opts)
  local done, err = pcall(function()
    for _, path in ipairs(files) do
      if path:match("%.lua$") then
        lint_migration(path, shadow, out, failures)
      else
        lint_sql_file(path, out)
      end
    end
  end)
  restore_print()
  rawset(_G, "db", global_db)
  shadow:close()
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
  local names = {}
  for i, f in ipairs(files) do names[i] = f == "-" and STDIN_NAME or f end
  local format = opts.format or "text"
  if format == "json" then
    json_format(out, failures, names)
  elseif format == "sarif" then
    sarif_format(out, failures, opts)
  elseif format == "gcc" then
    gcc_format(out)
  elseif format == "github" then
    github_format(out, failures)
  else
    text_format(out)
  end
  io.stdout:flush()
  io.stderr:write(string.format("weir: lint: %s, %s%s\n", plural(#files, "file", "files"),
    plural(#out, "finding", "findings"),
    #failures > 0 and (", " .. plural(#failures, "migration", "migrations") .. " could not be linted whole") or ""))
  return (#out > 0 or #failures > 0) and 1 or 0
end

return M
