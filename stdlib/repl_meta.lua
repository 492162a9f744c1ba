-- The REPL's meta-commands (\d, \pset, \set, \o, \watch …): psql's, with its messages, and the
-- list \? prints. stdlib/repl.lua reads the input and calls run(line) for a line that starts
-- with a backslash; what a command prints goes through repl.lua's output (results where \o
-- says, messages to stdout). A command's own error is raised at level 0 and prints alone.
local rsql = require "repl_sql"
local describe = require "repl_describe"
local describe_table = require "repl_describe_table"
local complete = require "repl_complete"
local util = require "weir_util"

local M = {}

local R      -- stdlib/repl.lua (attach)
local state  -- its state

---Connects this module to the REPL's core (called by repl.start).
function M.attach(repl)
  R, state = repl, repl.state
end

-- ---- arguments -------------------------------------------------------------------------------

-- psql's booleans: a prefix of true, false, yes, no, on or off (on/off at least two letters), 1, 0.
local function parse_bool(value, name)
  local v = value:lower()
  local function prefix(word, least) return #v >= (least or 1) and word:sub(1, #v) == v end
  if prefix("true") or prefix("yes") or prefix("on", 2) or v == "1" then return true end
  if prefix("false") or prefix("no") or prefix("off", 2) or v == "0" then return false end
  error(string.format('unrecognized value "%s" for "%s": Boolean expected', value, name), 0)
end

-- A boolean setting: the value given, or the opposite of `current`.
local function on_off(value, current, name)
  if value == nil or value == "" then return not current end
  return parse_bool(value, name)
end

-- The arguments of a command as psql splits them (quotes, :variables, `command`).
local function args_of(raw)
  local run
  if state.unsafe and io.popen then
    run = function(command)
      local p = io.popen(command)
      local out = p:read("a")
      p:close()
      return out
    end
  end
  return rsql.meta_args(raw or "", state.vars, R.quote, run)
end

-- A file name as psql takes it: ~/ is the home directory.
local function expand_tilde(path)
  if path:sub(1, 2) == "~/" then return (os.getenv("HOME") or "~") .. path:sub(2) end
  return path
end

-- ---- \pset -----------------------------------------------------------------------------------

local FORMATS = { "aligned", "csv", "html", "json", "unaligned" }

-- A string setting as psql's \pset lists it: quoted, '' for ', \n for a newline.
local function quoted(s)
  if s == nil then return "" end
  return "'" .. s:gsub("'", "''"):gsub("\n", "\\n") .. "'"
end

local function on_text(b) return b and "on" or "off" end

-- psql's \pset options, in its order: how each is listed (\pset alone) and described after a
-- change. Options weir does not change (linestyle …) show psql's default and refuse a value.
local PSET = {
  border = { value = function(p) return tostring(p.border) end,
             says = function(p) return "Border style is " .. p.border .. "." end },
  columns = { fixed = "0", says = function() return "Target width is unset." end },
  csv_fieldsep = { value = function(p) return quoted(p.csv_fieldsep) end,
                   says = function(p) return 'Field separator for CSV is "' .. p.csv_fieldsep .. '".' end },
  expanded = { value = function(p) return p.expanded end,
               says = function(p)
                 if p.expanded == "auto" then return "Expanded display is used automatically." end
                 return "Expanded display is " .. p.expanded .. "."
               end },
  fieldsep = { value = function(p) return quoted(p.fieldsep_zero and "" or p.fieldsep) end,
               says = function(p)
                 if p.fieldsep_zero then return "Field separator is zero byte." end
                 return 'Field separator is "' .. p.fieldsep .. '".'
               end },
  fieldsep_zero = { value = function(p) return on_text(p.fieldsep_zero) end },
  footer = { value = function(p) return on_text(p.footer) end,
             says = function(p) return "Default footer is " .. on_text(p.footer) .. "." end },
  format = { value = function(p) return p.format end,
             says = function(p) return "Output format is " .. p.format .. "." end },
  linestyle = { fixed = "ascii", says = function() return "Line style is ascii." end },
  null = { value = function(p) return quoted(p.null) end,
           says = function(p) return 'Null display is "' .. p.null .. '".' end },
  numericlocale = { value = function(p) return on_text(p.numericlocale) end,
                    says = function(p) return "Locale-adjusted numeric output is " .. on_text(p.numericlocale) .. "." end },
  pager = { value = function(p) return tostring(p.pager) end,
            says = function(p)
              return p.pager == 1 and "Pager is used for long output." or p.pager == 2 and "Pager is always used."
                     or "Pager usage is off."
            end },
  pager_min_lines = { fixed = "0", says = function() return "Pager won't be used for less than 0 lines." end },
  recordsep = { value = function(p) return quoted(p.recordsep_zero and "" or p.recordsep) end,
                says = function(p)
                  if p.recordsep_zero then return "Record separator is zero byte." end
                  if p.recordsep == "\n" then return "Record separator is <newline>." end
                  return 'Record separator is "' .. p.recordsep .. '".'
                end },
  recordsep_zero = { value = function(p) return on_text(p.recordsep_zero) end },
  tableattr = { value = function(p) return quoted(p.tableattr) end,
                says = function(p)
                  return p.tableattr and ('Table attributes are "' .. p.tableattr .. '".') or "Table attributes unset."
                end },
  title = { value = function(p) return quoted(p.title) end,
            says = function(p) return p.title and ('Title is "' .. p.title .. '".') or "Title is unset." end },
  tuples_only = { value = function(p) return on_text(p.tuples_only) end,
                  says = function(p) return "Tuples only is " .. on_text(p.tuples_only) .. "." end },
  unicode_border_linestyle = { fixed = "single", says = function() return 'Unicode border line style is "single".' end },
  unicode_column_linestyle = { fixed = "single", says = function() return 'Unicode column line style is "single".' end },
  unicode_header_linestyle = { fixed = "single", says = function() return 'Unicode header line style is "single".' end },
}
PSET.fieldsep_zero.says = PSET.fieldsep.says
PSET.recordsep_zero.says = PSET.recordsep.says
local PSET_ORDER = {
  "border", "columns", "csv_fieldsep", "expanded", "fieldsep", "fieldsep_zero", "footer", "format", "linestyle",
  "null", "numericlocale", "pager", "pager_min_lines", "recordsep", "recordsep_zero", "tableattr", "title",
  "tuples_only", "unicode_border_linestyle", "unicode_column_linestyle", "unicode_header_linestyle",
}
local PSET_ALIAS = { x = "expanded", t = "tuples_only", C = "title", T = "tableattr" }

-- Sets one \pset option as psql's do_pset does (no value: show, toggle or unset, by option).
local function set_pset(name, value)
  local p = state.pset
  if name == "format" then
    if value then
      local match
      for _, f in ipairs(FORMATS) do
        if f:sub(1, #value) == value:lower() and #value > 0 then
          if match then
            error(string.format('\\pset: ambiguous abbreviation "%s" matches both "%s" and "%s"', value, match, f), 0)
          end
          match = f
        end
      end
      if not match then error("\\pset: allowed formats are " .. table.concat(FORMATS, ", "), 0) end
      p.format = match
    end
  elseif name == "border" then
    if value then p.border = math.tointeger(tonumber(value:match("^%s*([+-]?%d+)") or "0")) or 0 end
  elseif name == "expanded" then
    if value and value:lower() == "auto" then
      p.expanded = "auto"
    elseif value then
      local ok, on = pcall(parse_bool, value, "expanded")
      if not ok then
        error(string.format('unrecognized value "%s" for "expanded"\nAvailable values are: auto, on, off.', value), 0)
      end
      p.expanded = on and "on" or "off"
    else
      p.expanded = p.expanded == "off" and "on" or "off" -- from auto, off (as psql)
    end
  elseif name == "csv_fieldsep" then
    if value then
      if #value ~= 1 or value == '"' or value == "\n" or value == "\r" then
        error("\\pset: csv_fieldsep must be a single one-byte character", 0)
      end
      p.csv_fieldsep = value
    end
  elseif name == "fieldsep" then
    if value then p.fieldsep, p.fieldsep_zero = value, false end
  elseif name == "fieldsep_zero" then
    p.fieldsep_zero = true
  elseif name == "recordsep" then
    if value then p.recordsep, p.recordsep_zero = value, false end
  elseif name == "recordsep_zero" then
    p.recordsep_zero = true
  elseif name == "tuples_only" or name == "footer" or name == "numericlocale" then
    p[name] = on_off(value, p[name], name)
    if value then return true end -- psql says nothing when told a value for these two
  elseif name == "title" then
    p.title = value
  elseif name == "tableattr" then
    p.tableattr = value
  elseif name == "pager" then
    if value and value:lower() == "always" then
      p.pager = 2
    elseif value then
      local ok, on = pcall(parse_bool, value, "pager")
      if not ok then
        error(string.format('unrecognized value "%s" for "pager"\nAvailable values are: on, off, always.', value), 0)
      end
      p.pager = on and 1 or 0
    else
      p.pager = p.pager == 1 and 0 or 1
    end
  elseif name == "null" then
    if value then p.null = value end
  elseif PSET[name] and PSET[name].fixed then
    if value then error("\\pset: " .. name .. " is not supported by weir repl (always " .. PSET[name].fixed .. ")", 0) end
  else
    error("\\pset: unknown option: " .. name, 0)
  end
  R.say(PSET[name].says(p))
  return true
end

local function pset(args)
  if #args == 0 then
    local lines = {}
    for _, name in ipairs(PSET_ORDER) do
      local o = PSET[name]
      lines[#lines + 1] = string.format("%-24s %s", name, o.fixed or o.value(state.pset))
    end
    R.say(table.concat(lines, "\n"))
    return true
  end
  for i = 3, #args do io.stderr:write(string.format('\\pset: extra argument "%s" ignored\n', args[i])) end
  return set_pset(PSET_ALIAS[args[1]] or args[1], args[2])
end

-- ---- \set and friends ------------------------------------------------------------------------

local function list_vars()
  local names = {}
  for k in pairs(state.vars) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do R.say(k .. " = '" .. state.vars[k] .. "'") end
end

local function set_var(args)
  if #args == 0 then
    list_vars()
    return true
  end
  local name = args[1]
  if not name:match("^[%w_\128-\255]+$") then error(string.format('\\set: invalid variable name: "%s"', name), 0) end
  local value = table.concat(args, "", 2)
  if name == "FETCH_COUNT" and value ~= "" and not value:match("^%s*[+-]?%d+%s*$") then
    error(string.format('invalid value "%s" for "FETCH_COUNT": integer expected', value), 0)
  end
  state.vars[name] = value
  return true
end

-- ---- describe commands -----------------------------------------------------------------------

-- What a describe function found is printed; its "Did not find …" goes to stderr, as psql's.
local function shown(spec, found)
  if found then
    if spec.headers then spec = { spec } end
    for _, s in ipairs(spec) do R.print_table(s) end
  else
    io.stdout:flush()
    io.stderr:write(spec, "\n")
    io.stderr:flush()
  end
  return found
end

-- A list: one that matches nothing is not a failure (psql's \dt nosuch succeeds); \d NAME is.
local function listing(fn)
  return function(arg, mods)
    shown(fn(arg, mods.verbose, mods.system))
    return true
  end
end

local function relations(kinds)
  return listing(function(a, v, s) return describe.relations(kinds, a, v, s) end)
end

-- ---- connections -------------------------------------------------------------------------------

local function conninfo()
  if not R.has_db() then return "You are currently not connected to a database." end
  local i = db:info()
  local host = i.host or ""
  if host:sub(1, 1) == "/" then
    return string.format('You are connected to database "%s" as user "%s" via socket in "%s" at port "%s".',
                         i.database, i.user, host, i.port)
  end
  return string.format('You are connected to database "%s" as user "%s" on host "%s" at port "%s".',
                       i.database, i.user, host, i.port)
end

-- A target for \c: a URL or conninfo as given, else a database name on the same server.
local function connect_target(arg)
  if arg:find("://", 1, true) or arg:find("=", 1, true) then return arg end
  local function q(v) return "'" .. tostring(v):gsub("[\\']", "\\%0") .. "'" end
  if not R.has_db() then return "dbname=" .. q(arg) end
  local i = db:info()
  return string.format("dbname=%s user=%s host=%s port=%s", q(arg), q(i.user), q(i.host), q(i.port))
end

local function connect(arg)
  local ok, new
  if arg then
    ok, new = pcall(weir.connect, connect_target(arg))
  elseif R.has_db() then
    ok, new = pcall(db.clone, db) -- psql's \c alone: the same database again
  else
    error("\\c: not connected: give a URL or a database name", 0)
  end
  if not ok then -- as psql: the reason, and `db` stays as it was
    error(tostring(new):gsub("^[^\n]-:%d+: ", "") .. (R.has_db() and "\nPrevious connection kept" or ""), 0)
  end
  R.use_connection(new)
  local i = db:info()
  R.say(string.format('You are now connected to database "%s" as user "%s".', i.database, i.user))
  return true
end

-- ---- \copy -----------------------------------------------------------------------------------

-- \copy WHAT from|to FILE|stdin|stdout [OPTIONS], psql's client-side COPY: WHAT is a table
-- (with an optional column list) or a parenthesized query; FILE is read or written here.
-- Returns the COPY statement, the direction ("from"/"to") and the file (nil: stdin/stdout).
local function parse_copy(arg)
  local usage = "\\copy: expected \\copy TABLE [(COLUMNS)] | (QUERY) from|to FILE|stdin|stdout [OPTIONS]"
  if not arg then error(usage, 0) end
  local what, rest
  if arg:sub(1, 1) == "(" then
    what = arg:match("^%b()")
    if not what then error(usage, 0) end
    rest = arg:sub(#what + 1)
  else
    local i = 1 -- a name, quoted parts kept whole, up to a space or a column list
    while i <= #arg and not arg:sub(i, i):match("[%s(]") do
      if arg:sub(i, i) == '"' then i = (arg:find('"', i + 1, true) or #arg) end
      i = i + 1
    end
    what, rest = arg:sub(1, i - 1), arg:sub(i)
    local columns = rest:match("^%s*(%b())")
    if columns then
      what = what .. " " .. columns
      rest = rest:match("^%s*%b()(.*)$")
    end
  end
  local dir, target = rest:match("^%s+(%a+)%s+(.*)$")
  dir = dir and dir:lower()
  if what == "" or (dir ~= "from" and dir ~= "to") then error(usage, 0) end
  local file, options
  if target:sub(1, 1) == "'" then
    local j = 2
    while true do
      local q = target:find("'", j, true)
      if not q then error("\\copy: unterminated quoted file name", 0) end
      if target:sub(q + 1, q + 1) ~= "'" then
        file, options = target:sub(2, q - 1):gsub("''", "'"), target:sub(q + 1)
        break
      end
      j = q + 2
    end
  else
    file, options = target:match("^(%S+)(.*)$")
    local word = file:lower()
    if word == "program" then error("\\copy: program is not supported", 0) end
    if word == "stdin" or word == "stdout" or word == "pstdin" or word == "pstdout" then file = nil end
  end
  local sql = "COPY " .. what .. (dir == "from" and " FROM STDIN" or " TO STDOUT") .. options
  return sql, dir, file and expand_tilde(file)
end

local function copy(_, _, _, raw)
  local sql, dir, file = parse_copy(raw)
  if dir == "from" and not file then return R.start_copy_in(sql) ~= "error" end
  if dir == "from" then
    R.emit("COPY " .. db:copy_in(sql, util.read_file(file)) .. "\n")
    return true
  end
  local data, n = db:copy_out(sql)
  if not file then
    R.emit(data)
    return true
  end
  local f, err = io.open(file, "wb")
  if not f then error(err, 0) end
  f:write(data)
  f:close()
  R.emit("COPY " .. n .. "\n")
  return true
end

-- ---- the query buffer ----------------------------------------------------------------------------

-- The SQL \g, \gx, \gset and \watch run: what was read so far, else the last SQL (and the buffer
-- is emptied, as psql empties it).
local function take_buffer(cmd)
  if state.pending and not state.sql and state.mode ~= "sql" then
    error("\\" .. cmd .. ": the input read so far is Lua, not SQL", 0)
  end
  local sql = state.pending or state.last_sql
  state.pending, state.sql = nil, false
  if not sql or sql:match("^%s*$") then return nil end
  state.last, state.last_sql = sql, sql
  return sql
end

local function run_buffer(extra)
  local sql = take_buffer(extra and "gx" or "g")
  if not sql then error("\\g: no SQL to run", 0) end
  local status = R.run_sql(sql, extra)
  return status ~= "error", status == "quit"
end

local function gset(arg)
  local sql = take_buffer("gset")
  if not sql then error("\\gset: no SQL to run", 0) end
  local rows, columns = db:query_text(R.interpolate(sql))
  if #columns == 0 then error("\\gset: the statement returned no rows", 0) end
  if #rows == 0 then error("no rows returned for \\gset", 0) end
  if #rows > 1 then error("more than one row returned for \\gset", 0) end
  for c, col in ipairs(columns) do
    local v = rows[1][c]
    state.vars[(arg or "") .. col.name] = v ~= json.null and v or nil
  end
  return true
end

-- \watch [SEC]: runs the buffer (or the last SQL) every SEC seconds (default 2), each result
-- titled with the time, until Ctrl-C or an error.
local function watch(arg)
  local every = arg and tonumber(arg) or 2
  if every <= 0 then every = 1 end
  local sql = take_buffer("watch")
  if not sql then error("\\watch cannot be used with an empty query", 0) end
  -- psql ends a watch with a newline (the terminal may have echoed ^C where the prompt goes)
  local function stop(ok)
    io.write("\n")
    io.flush()
    return ok
  end
  while true do
    local now = os.date("%c") .. string.format(" (every %gs)\n", every)
    local title = state.pset.title and (state.pset.title .. "\t" .. now) or now
    local status = R.run_sql(sql, { title = title, pager = false })
    if status ~= "ok" then return stop(false) end
    -- short sleeps: Ctrl-C stops the wait (an "interrupted" error) within a tenth of a second
    local ok, e = pcall(function()
      local waited = 0
      while waited < every do
        local step = math.min(0.1, every - waited)
        weir.sleep(step)
        waited = waited + step
      end
    end)
    if not ok then
      if tostring(e):match("interrupted$") then return stop(true) end
      error(e, 0)
    end
  end
end

-- ---- files and the editor ------------------------------------------------------------------------

-- Runs edited text as if typed; an unfinished chunk at its end stays to be continued (psql
-- keeps it in the query buffer).
local function feed_text(text)
  local status = "ok"
  for line in (text .. "\n"):gmatch("(.-)\n") do
    local s = R.feed(line)
    if s == "error" then status = "error" end
    if s == "quit" then return "quit" end
  end
  return status
end

local function edit(text, suffix, sql)
  local edited, err = state.terminal.edit(text, suffix)
  if not edited then error(err, 0) end
  if edited:match("^%s*$") then return true end
  local mode = state.mode
  if sql then state.mode = "sql" end
  local ok, status = pcall(feed_text, (edited:gsub("\n$", "")))
  state.mode = mode
  if not ok then error(status, 0) end
  return status ~= "error", status == "quit"
end

local EF_TEMPLATE = "CREATE FUNCTION ( )\n RETURNS \n LANGUAGE \n" ..
  " -- common options:  IMMUTABLE  STABLE  STRICT  SECURITY DEFINER\nAS $function$\n\n$function$\n"

local function run_file(arg, relative)
  if not arg then error("\\" .. (relative and "ir" or "i") .. ": missing required argument", 0) end
  local path = expand_tilde(arg)
  if relative and path:sub(1, 1) ~= "/" then path = R.current_dir() .. "/" .. path end
  local ok, quit = R.run_file(path)
  return ok, quit == "quit"
end

local function set_output(arg)
  local target = arg and expand_tilde(arg) or nil
  if target and target:sub(1, 1) == "|" and not state.unsafe then
    error("\\o " .. target .. ": writing to a command runs a shell: start weir repl with --unsafe to allow it", 0)
  end
  local ok, err = state.terminal.output(target)
  if not ok then error(err, 0) end
  state.output = target
  return true
end

local function shell(_, _, _, raw)
  if not state.unsafe then error("\\!: running shell commands needs weir repl --unsafe", 0) end
  io.stdout:flush()
  local command = (raw and raw ~= "") and raw or (os.getenv("SHELL") or "/bin/sh")
  local ok, how, code = os.execute(command)
  if not ok then
    error(string.format("\\!: %s %s", how == "exit" and "exited with status" or "was killed by signal", code), 0)
  end
  return true
end

-- ---- the list ----------------------------------------------------------------------------------

local META -- filled below; \? prints it

local function help_text()
  local out = {}
  for _, m in ipairs(META) do
    if m.section then
      if #out > 0 then out[#out + 1] = "" end
      out[#out + 1] = m.section
    elseif m.usage then
      out[#out + 1] = string.format("  %-26s %s", m.usage, m.help)
    end
  end
  return table.concat(out, "\n") .. "\n\n"
end

-- \a: aligned unless aligned already (then unaligned); \H: html unless html (then aligned).
local function toggle_format(format)
  return function()
    if format == "unaligned" then return set_pset("format", state.pset.format ~= "aligned" and "aligned" or format) end
    return set_pset("format", state.pset.format ~= format and format or "aligned")
  end
end

-- Each command: name, usage and help for \?, the modifiers it takes (verbose: +, system: S),
-- raw (its argument as typed: no variables replaced), and run(arg, mods, name, raw) -> ok, quit.
META = {
  { section = "Informational (PATTERN: psql's, e.g. app.* or \"Mixed\"*; S: system objects too; + more detail)" },
  { name = "d", usage = "\\d[S+] [PATTERN]", verbose = true, system = true,
    help = "list relations, or describe those matching PATTERN",
    run = function(arg, mods)
      if arg then return shown(describe_table.describe(arg, mods.verbose)) end
      return relations("rpvmSf")(nil, mods)
    end },
  { name = "dt", usage = "\\dt[S+] [PATTERN]", help = "list tables", verbose = true, system = true, run = relations("rp") },
  { name = "dv", usage = "\\dv[S+] [PATTERN]", help = "list views", verbose = true, system = true, run = relations("v") },
  { name = "dm", usage = "\\dm[S+] [PATTERN]", help = "list materialized views", verbose = true, system = true,
    run = relations("m") },
  { name = "di", usage = "\\di[S+] [PATTERN]", help = "list indexes", verbose = true, system = true, run = relations("iI") },
  { name = "ds", usage = "\\ds[S+] [PATTERN]", help = "list sequences", verbose = true, system = true, run = relations("S") },
  { name = "dE", usage = "\\dE[S+] [PATTERN]", help = "list foreign tables", verbose = true, system = true,
    run = relations("f") },
  { name = "dn", usage = "\\dn[S+] [PATTERN]", help = "list schemas", verbose = true, system = true,
    run = listing(describe.schemas) },
  { name = "dT", usage = "\\dT[S+] [PATTERN]", help = "list data types", verbose = true, system = true,
    run = listing(describe.types) },
  { name = "dD", usage = "\\dD[S+] [PATTERN]", help = "list domains", verbose = true, system = true,
    run = listing(describe.domains) },
  { name = "df", usage = "\\df[S+] [PATTERN]", help = "list functions", verbose = true, system = true,
    run = listing(describe.functions) },
  { name = "do", usage = "\\do[S+] [PATTERN]", help = "list operators", verbose = true, system = true,
    run = listing(describe.operators) },
  { name = "du", usage = "\\du[S+] [PATTERN]", help = "list roles", verbose = true, system = true,
    run = listing(describe.roles) },
  { name = "dg", usage = "\\dg[S+] [PATTERN]", help = "the same as \\du", verbose = true, system = true, run = listing(describe.roles) },
  { name = "dp", usage = "\\dp [PATTERN]", help = "list access privileges of tables, views, sequences",
    run = listing(describe.privileges) },
  { name = "z", usage = "\\z [PATTERN]", help = "the same as \\dp", run = listing(describe.privileges) },
  { name = "dx", usage = "\\dx[+] [PATTERN]", help = "list extensions (+: their objects)", verbose = true,
    run = function(arg, mods)
      local spec, found = describe.extensions(arg, mods.verbose)
      shown(spec, found)
      return found or not mods.verbose
    end },
  { name = "dy", usage = "\\dy[+] [PATTERN]", help = "list event triggers", verbose = true,
    run = listing(describe.event_triggers) },
  { name = "l", usage = "\\l[+] [PATTERN]", help = "list databases", verbose = true, run = listing(describe.databases) },
  { name = "sf", usage = "\\sf[+] FUNCNAME", help = "show a function's definition (+: line numbers)", verbose = true,
    raw = true,
    run = function(arg, mods)
      if not arg then error("\\sf: function name is required", 0) end
      R.emit(describe.function_source(arg, mods.verbose))
      return true
    end },
  { section = "Formatting" },
  { name = "a", usage = "\\a", help = "toggle between unaligned and aligned output", run = toggle_format("unaligned") },
  { name = "H", usage = "\\H", help = "toggle HTML output", run = toggle_format("html") },
  { name = "f", usage = "\\f [STRING]", help = "show or set the field separator for unaligned output",
    run = function(arg) return set_pset("fieldsep", arg) end },
  { name = "t", usage = "\\t [on|off]", help = "show only rows", run = function(arg) return set_pset("tuples_only", arg) end },
  { name = "x", usage = "\\x [on|off|auto]", help = "expanded display of query results",
    run = function(arg) return set_pset("expanded", arg) end },
  { name = "pset", usage = "\\pset [NAME [VALUE]]", help = "table output options: format (aligned, unaligned, csv, json, html), border, tuples_only, fieldsep, null, title, footer, pager …",
    raw = true, run = function(_, _, _, raw) return pset(args_of(raw)) end },
  { name = "timing", usage = "\\timing [on|off]", help = "show how long each command takes",
    run = function(arg)
      state.timing = on_off(arg, state.timing, "\\timing")
      R.say("Timing is " .. (state.timing and "on." or "off."))
      return true
    end },
  { section = "Connection" },
  { name = "conninfo", usage = "\\conninfo", help = "the current connection",
    run = function()
      R.say(conninfo())
      return true
    end },
  { name = "c", usage = "\\c [URL|DBNAME]", help = "connect `db` to another database (alone: the same again)",
    run = connect },
  { section = "Input/Output" },
  { name = "copy", usage = "\\copy ... from|to FILE", help = "COPY a table or (query) from or to a file here",
    raw = true, run = copy },
  { name = "i", usage = "\\i FILE", help = "run a file: .sql as SQL and meta-commands, .lua as Lua",
    run = function(arg) return run_file(arg, false) end },
  { name = "ir", usage = "\\ir FILE", help = "the same, relative to the file running it",
    run = function(arg) return run_file(arg, true) end },
  { name = "o", usage = "\\o [FILE|'|'COMMAND]", help = "send results to a file or a command (alone: stdout again)",
    raw = true, run = function(arg)
      if arg and arg:sub(1, 1) == "|" then return set_output(arg) end -- the rest of the line is the command
      return set_output(arg and args_of(arg)[1])
    end },
  { name = "echo", usage = "\\echo [-n] TEXT", help = "write text to stdout (:var, :'var', :\"var\" replaced)", raw = true,
    run = function(_, _, _, raw)
      local args = args_of(raw)
      local newline = true
      if args[1] == "-n" then
        newline = false
        table.remove(args, 1)
      end
      io.write(table.concat(args, " "), newline and "\n" or "")
      io.flush()
      return true
    end },
  { name = "qecho", usage = "\\qecho [-n] TEXT", help = "the same, where results go (\\o)", raw = true,
    run = function(_, _, _, raw)
      local args = args_of(raw)
      local newline = true
      if args[1] == "-n" then
        newline = false
        table.remove(args, 1)
      end
      R.emit(table.concat(args, " ") .. (newline and "\n" or ""))
      return true
    end },
  { name = "!", usage = "\\! [COMMAND]", help = "run a shell command (needs --unsafe)", raw = true, run = shell },
  { section = "Query buffer" },
  { name = "e", usage = "\\e", help = "edit the last input in $EDITOR, then run it",
    run = function()
      local current = state.pending or state.last or ""
      local sql = state.sql or state.mode == "sql" or rsql.looks_like_sql(current)
      state.pending, state.sql = nil, false
      local ok, good, quit = pcall(edit, current, sql and ".sql" or ".lua", false)
      if not ok then error("\\e: " .. tostring(good), 0) end
      return good, quit
    end },
  { name = "ef", usage = "\\ef [FUNCNAME]", help = "edit a function's definition in $EDITOR", raw = true,
    run = function(arg)
      local text = arg and describe.function_source(arg) or EF_TEMPLATE
      state.pending, state.sql = nil, false
      local ok, status, quit = pcall(edit, text, ".sql", true)
      if not ok then error("\\ef: " .. tostring(status), 0) end
      return status, quit
    end },
  { name = "g", usage = "\\g", help = "run the SQL read so far (or the last SQL again)",
    run = function() return run_buffer(nil) end },
  { name = "gx", usage = "\\gx", help = "the same, with expanded display for this result",
    run = function() return run_buffer({ expanded = "on" }) end },
  { name = "gset", usage = "\\gset [PREFIX]", help = "run the SQL read so far; store its one row in variables",
    run = gset },
  { name = "watch", usage = "\\watch [SEC]", help = "run the SQL read so far every SEC seconds (Ctrl-C stops)",
    run = watch },
  { name = "r", usage = "\\r", help = "reset (clear) the input read so far",
    run = function()
      state.pending, state.sql = nil, false
      R.say("Query buffer reset (cleared).")
      return true
    end },
  { section = "Variables" },
  { name = "set", usage = "\\set [NAME [VALUE]]", help = "set a variable (:NAME in SQL), or list them", raw = true,
    run = function(_, _, _, raw) return set_var(args_of(raw)) end },
  { name = "unset", usage = "\\unset NAME", help = "unset a variable",
    run = function(arg)
      if not arg then error("\\unset: missing required argument", 0) end
      state.vars[arg] = nil
      return true
    end },
  { section = "Help" },
  { name = "?", usage = "\\?", help = "this list", run = function()
      R.emit(help_text())
      return true
    end },
  { name = "h", usage = "\\h [COMMAND|NAME]", help = "SQL syntax (from PostgreSQL's docs or psql), or help on a weir function",
    raw = true,
    run = function(arg)
      R.emit(require("repl_help").lookup(arg, state.terminal))
      return true
    end },
  { name = "help", usage = "\\help [COMMAND|NAME]", help = "the same as \\h", raw = true, run = function(arg)
      R.emit(require("repl_help").lookup(arg, state.terminal))
      return true
    end },
  { section = "General" },
  { name = "refresh", usage = "\\refresh", help = "reload the names tab completion offers",
    run = function()
      local n = complete.names(true)
      R.say(string.format("Completion names reloaded: %d schemas, %d relations, %d columns.",
                          #n.schemas, #n.relations, #n.columns))
      return true
    end },
  { name = "q", usage = "\\q", help = "quit (also Ctrl-D)", run = function() return true, true end },
}

local BY_NAME = {}
for _, m in ipairs(META) do
  if m.name then BY_NAME[m.name] = m end
end

---The names of the meta-commands, without their backslash.
function M.names()
  local names = {}
  for _, m in ipairs(META) do
    if m.name then names[#names + 1] = m.name end
  end
  return names
end

-- The command a name means, with its modifiers: \dtS+ is dt with S and +, as in psql.
local function lookup(name)
  if BY_NAME[name] then return BY_NAME[name], {} end
  local plain, mods = name:match("^(.-)([S+]+)$")
  local m = plain and BY_NAME[plain]
  if not m then return nil end
  local seen = { verbose = mods:find("+", 1, true) ~= nil, system = mods:find("S", 1, true) ~= nil }
  if (seen.verbose and not m.verbose) or (seen.system and not m.system) then return nil end
  return m, seen
end

---Runs the meta-command line `line` (it starts with a backslash); returns "ok", "error" or "quit".
function M.run(line)
  local name, raw = line:match("^\\(%S*)%s*(.-)%s*$")
  if name:sub(1, 1) == "!" and #name > 1 then name, raw = "!", name:sub(2) .. (raw ~= "" and (" " .. raw) or "") end
  local m, mods = lookup(name)
  if not m then
    io.stderr:write(string.format('invalid command \\%s\nTry \\? for help.\n', name))
    return "error"
  end
  -- psql's reading of arguments: the first, unquoted, variables replaced; or the line as typed
  local arg = raw ~= "" and raw or nil
  if arg and not m.raw then arg = args_of(raw)[1] end
  -- A meta-command's own errors are messages (raised at level 0): no traceback for them.
  local ok, found, quit = xpcall(m.run, function(e)
    if type(e) == "string" then return e end
    return R.handler(e)
  end, arg, mods, name, raw ~= "" and raw or nil)
  if not ok then
    R.report(found)
    return "error"
  end
  if quit then return "quit" end
  return found == false and "error" or "ok"
end

return M
