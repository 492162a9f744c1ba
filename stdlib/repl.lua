-- `weir repl`: what a line means and how its result prints. interpreter/cli/cmd_repl.cpp owns
-- the terminal and the loop and calls start, prompt, feed, reset, finish and complete.
--
-- A line starting with a backslash is a meta-command (\d, \x, \timing …). Anything else is Lua:
-- an expression prints its values (`return` is tried first, as lua.c does), an incomplete
-- chunk continues on the next line. Text that is not Lua but starts with an SQL keyword is
-- SQL, read up to a `;` ending a line (outside quotes and comments), and printed as a table.
-- Errors print and the session goes on; feed says "error" so a piped session can exit 1.
local fmt = require "repl_format"
local describe = require "repl_describe"
local complete = require "repl_complete"
local util = require "weir_util"

local M = {}

local state = {
  interactive = false,
  terminal = nil,     -- page, edit, size, traceback (from cmd_repl.cpp)
  pending = nil,      -- the chunk read so far
  sql = false,        -- the pending chunk is SQL
  last = nil,         -- the last complete chunk (for \e)
  expanded = "off",   -- \x: off, on, auto
  timing = false,
  pager = true,
  null = "NULL",
  copy = nil,         -- a COPY … FROM STDIN reading its data: { sql, lines, rest }
  last_sql = nil,     -- the last SQL run (\g with nothing read runs it again)
}

local function emit(text)
  if text == "" then return end
  if state.interactive and state.pager then
    state.terminal.page(text)
  else
    io.write(text)
    io.flush()
  end
end

local function say(line)
  emit(line .. "\n")
end

-- ---- errors --------------------------------------------------------------------------------

local function is_sql_error(e)
  return type(e) == "table" and type(e.sqlstate) == "string" and e.message ~= nil
end

-- libpq's layout as psql prints it: ERROR:  SQLSTATE message, the statement's line with a
-- caret, then DETAIL, HINT and CONTEXT.
local function sql_error_text(e)
  local out = { string.format("ERROR:  %s %s", e.sqlstate, e.message) }
  if e.position and e.query then
    -- the position counts characters, not bytes
    local before = e.query:sub(1, (utf8.offset(e.query, e.position) or #e.query + 1) - 1)
    local line_no = select(2, before:gsub("\n", "")) + 1
    local start = before:match(".*\n()") or 1
    local text = e.query:sub(start):match("^[^\n]*")
    local prefix = "LINE " .. line_no .. ": "
    out[#out + 1] = prefix .. text:gsub("\t", " ") -- libpq shows a tab as one space
    out[#out + 1] = string.rep(" ", #prefix + fmt.caret_width(before:sub(start))) .. "^"
  end
  if e.detail then out[#out + 1] = "DETAIL:  " .. e.detail end
  if e.hint then out[#out + 1] = "HINT:  " .. e.hint end
  if e.context then out[#out + 1] = "CONTEXT:  " .. e.context end
  return table.concat(out, "\n")
end

-- os.exit(n) unwinds with a sentinel (a light userdata): the session ends with n
-- (cmd_repl.cpp reads the code).
local function is_exit(e)
  return type(e) == "userdata" and getmetatable(e) == nil
end

-- The message handler: SQL errors stay objects; Lua errors get a short traceback that stops
-- at the REPL's own frames; an error value that is a table prints as the REPL prints tables.
local function handler(e)
  if is_sql_error(e) or is_exit(e) then return e end
  if type(e) == "table" and not (getmetatable(e) or {}).__tostring then e = fmt.value(e) end
  local msg = type(e) == "string" and e or util.error_line(e)
  local tb = state.terminal.traceback(msg, 2)
  local lines, kept = {}, 0
  for line in tb:gmatch("[^\n]+") do
    if line:find("stdlib/repl", 1, true) or line:find("in function 'xpcall'", 1, true) then break end
    if line:find("^%s") then
      kept = kept + 1
      if kept > 8 then
        lines[#lines + 1] = "\t..."
        break
      end
    end
    lines[#lines + 1] = line
  end
  if #lines == 2 and lines[2] == "stack traceback:" then lines[2] = nil end
  return table.concat(lines, "\n")
end

local function report(e)
  io.stdout:flush()
  if is_sql_error(e) then
    io.stderr:write(sql_error_text(e), "\n")
  else
    io.stderr:write(tostring(e), "\n")
  end
  io.stderr:flush()
end

-- ---- showing values -------------------------------------------------------------------------

local function is_columns(t)
  if type(t) ~= "table" or t == json.null or #t == 0 then return false end
  for _, c in ipairs(t) do
    if type(c) ~= "table" or type(c.name) ~= "string" or type(c.type) ~= "string" then return false end
  end
  return true
end

local function table_text(rows, columns, text)
  local expanded = state.expanded == "on"
  if state.expanded == "auto" and state.terminal.size then
    local _, cols = state.terminal.size()
    if cols then
      local plain = fmt.result(rows, columns, { null = state.null, text = text })
      for line in plain:gmatch("[^\n]+") do
        if fmt.width(line) > cols then expanded = true break end
      end
      if not expanded then return plain end
    end
  end
  return fmt.result(rows, columns, { expanded = expanded, null = state.null, text = text })
end

-- A statement's result as psql prints it: its rows as a table (INSERT/UPDATE/DELETE …
-- RETURNING followed by their tag), a SELECT of no columns as "--" and its count, anything
-- else as its tag.
local function result_text(rows, columns, tag, text)
  tag = tag or ""
  if #columns == 0 then
    if tag:match("^SELECT %d+$") then
      local n = tonumber(tag:match("%d+$"))
      return "--\n" .. (n == 1 and "(1 row)" or ("(" .. n .. " rows)")) .. "\n\n"
    end
    return (tag ~= "" and tag or "OK") .. "\n"
  end
  local out = table_text(rows, columns, text)
  if tag:match("^INSERT ") or tag:match("^UPDATE ") or tag:match("^DELETE ") then out = out .. tag .. "\n" end
  return out
end

-- Prints what a chunk returned: a query result (rows, columns[, tag]) as a table, anything
-- else value by value.
local function show(values)
  if values.n == 0 then return end
  if type(values[1]) == "table" and is_columns(values[2]) then
    emit(result_text(values[1], values[2], values[3]))
    return
  end
  local parts = {}
  for i = 1, values.n do parts[i] = fmt.value(values[i]) end
  emit(table.concat(parts, "\t") .. "\n")
end

-- Calls fn under the message handler; returns xpcall's results and the time it took.
local function timed(fn)
  local t0 = weir.clock()
  local results = table.pack(xpcall(fn, handler))
  return results, weir.clock() - t0
end

-- After the result, as psql does.
local function show_time(seconds)
  if state.timing then emit(string.format("Time: %.3f ms\n", seconds * 1000)) end
end

-- Runs a compiled chunk and prints its values; returns "ok" or "error".
local function execute(fn)
  local results, took = timed(fn)
  if not results[1] and is_exit(results[2]) then return "quit" end
  if not results[1] then
    report(results[2])
    show_time(took)
    return "error"
  end
  table.remove(results, 1)
  results.n = results.n - 1
  local ok, e = xpcall(show, handler, results)
  show_time(took)
  if not ok then
    report(e)
    return "error"
  end
  return "ok"
end

-- ---- SQL -------------------------------------------------------------------------------------

local SQL_START = {}
for w in ([[abort alter analyze begin call checkpoint close cluster comment commit copy create
  deallocate declare delete discard do drop end execute explain fetch grant import insert listen
  load lock merge move notify prepare reassign refresh reindex release reset revoke rollback
  savepoint security select set show start table truncate unlisten update vacuum values with]]):gmatch("%a+") do
  SQL_START[w] = true
end

local function looks_like_sql(chunk)
  local first = chunk:match("^%s*(%a+)")
  return first ~= nil and SQL_START[first:lower()] == true
end

-- Reads SQL text as psql's lexer does, skipping quotes, comments and dollar-quoted bodies:
-- returns whether the text ends inside one of them, the last significant character outside
-- them, and where the first backslash outside them is (a meta-command ending the SQL).
local function sql_scan(chunk)
  local i, n, last, backslash = 1, #chunk, nil, nil
  local depth = 0 -- /* */ comments nest
  while i <= n do
    local c = chunk:sub(i, i)
    if depth > 0 then
      if chunk:sub(i, i + 1) == "*/" then depth, i = depth - 1, i + 1
      elseif chunk:sub(i, i + 1) == "/*" then depth, i = depth + 1, i + 1 end
    elseif chunk:sub(i, i + 1) == "/*" then
      depth, i = 1, i + 1
    elseif chunk:sub(i, i + 1) == "--" then
      i = (chunk:find("\n", i, true) or n + 1) - 1
    elseif c == "'" or c == '"' then
      -- E'…' strings take backslash escapes; every quoted text takes a doubled quote
      local escapes = c == "'" and (" " .. chunk:sub(1, i - 1)):match("[^%w_$][eE]$") ~= nil
      local j = i + 1
      while true do
        local ch = chunk:sub(j, j)
        if ch == "" then return true, last, backslash end
        if escapes and ch == "\\" then
          j = j + 1
        elseif ch == c then
          if chunk:sub(j + 1, j + 1) ~= c then break end
          j = j + 1
        end
        j = j + 1
      end
      i, last = j, c
    elseif c == "$" and chunk:sub(i):match("^%$[%a_]?[%w_]*%$")
           and not chunk:sub(i - 1, i - 1):match("[%w_$]") then -- not inside a name like a$b$
      local tag = chunk:sub(i):match("^(%$[%a_]?[%w_]*%$)")
      local close = chunk:find(tag, i + #tag, true)
      if not close then return true, last, backslash end
      i, last = close + #tag - 1, "$"
    elseif c == "\\" then
      backslash = i -- the rest is a meta-command
      break
    elseif not c:match("%s") then
      last = c
    end
    i = i + 1
  end
  return depth > 0, last, backslash
end

-- Whether SQL text ends with a `;` outside quotes, comments and dollar-quoted bodies (as psql
-- decides when a statement is complete).
local function sql_complete(chunk)
  local inside, last = sql_scan(chunk)
  return not inside and last == ";"
end

-- Whether a new chunk is SQL before trying it as Lua: `begin;`, `select (1);` and `vacuum;`
-- are valid Lua too, but a line starting with an SQL keyword means SQL unless what follows
-- the word is Lua's (a field, a method, an index, an assignment, a string or table call, or a
-- call not ended by `;`, as in `select('#', ...)`); `do` is SQL only with a body ($$ or ').
local function prefers_sql(chunk)
  local first, after = chunk:match("^%s*([%a_][%w_]*)(.*)$")
  if not first or not SQL_START[first:lower()] then return false end
  if first:lower() == "do" then return after:match("^%s*[%$']") ~= nil or after:match("^%s+[Ll][Aa][Nn][Gg]") ~= nil end
  local next_char = after:match("^%s*(.?)")
  if next_char:find("^[.:%[=\"'{]") then return false end
  if next_char == "(" and not sql_complete(chunk) then return false end
  return true
end

-- COPY … FROM STDIN: the lines that follow are its data, up to `\.` on a line by itself (or
-- the end of input), as in psql. `rest`: statements of the same chunk to run after it.
local function start_copy_in(sql, rest)
  state.copy = { sql = sql, lines = {}, rest = rest or {} }
  if state.interactive then
    say("Enter data to be copied followed by a newline.\n" ..
        "End with a backslash and a period on a line by itself, or an EOF signal.")
  end
  return "more"
end

local run_statements

-- Sends the data read for a COPY … FROM STDIN and prints `COPY n`; then the rest of its chunk.
local function finish_copy_in()
  local copy = state.copy
  state.copy = nil
  local data = #copy.lines > 0 and (table.concat(copy.lines, "\n") .. "\n") or ""
  local results, took = timed(function() return db:copy_in(copy.sql, data) end)
  if not results[1] then
    report(results[2])
    show_time(took)
    return "error"
  end
  say("COPY " .. results[2])
  show_time(took)
  return run_statements(copy.rest, 1)
end

-- A COPY to or from the client (no file name): its data comes from the input or goes to stdout.
local function client_copy(st)
  if st.kind ~= "CopyStmt" or type(st.tree) ~= "table" or st.tree.filename then return nil end
  return st.tree.is_from and "in" or "out"
end

-- Runs statements[first…] one by one, each result printed as psql would; a COPY … FROM STDIN
-- stops here and reads its data first.
run_statements = function(statements, first)
  local status = "ok"
  for i = first, #statements do
    local st = statements[i]
    local copy = client_copy(st)
    if copy == "in" then return start_copy_in(st.text, { table.unpack(statements, i + 1) }) end
    local results, took = timed(function()
      if copy == "out" then return db:copy_out(st.text) end
      return db:query_text(st.text)
    end)
    local ok, e = results[1], results[2]
    if ok then -- COPY … TO STDOUT prints its data as it is (no tag, as psql)
      ok, e = xpcall(emit, handler, copy and results[2] or result_text(results[2], results[3], results[4], true))
    end
    show_time(took)
    if not ok then -- reported; the next statements still run, as in psql
      report(e)
      status = "error"
    end
  end
  return status
end

-- Runs SQL text: each statement on its own (PostgreSQL's parser splits them).
local function run_sql(text)
  local ok, statements = pcall(require("sql").parse, text)
  if not ok then statements = { { text = text } } end
  return run_statements(statements, 1)
end

-- ---- meta-commands ----------------------------------------------------------------------------

local function on_off(arg, current, name)
  if arg == nil or arg == "" then return not current end
  local a = arg:lower()
  if a == "on" or a == "true" or a == "1" then return true end
  if a == "off" or a == "false" or a == "0" then return false end
  error(string.format('\\%s: unrecognized value "%s": Boolean expected', name, arg), 0)
end

-- What a describe function found goes to stdout; its "Did not find …" to stderr, as psql's.
local function shown(text, found)
  if found then
    emit(text)
  else
    io.stdout:flush()
    io.stderr:write(text)
    io.stderr:flush()
  end
  return found
end

-- A list that matches nothing is not a failure (psql's \dt nosuch succeeds); \d NAME is.
-- `verbose`: the command ended in "+" (\dt+).
local function listing(fn)
  return function(arg, verbose)
    shown(fn(arg, verbose))
    return true
  end
end

local function conninfo()
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
  local i = db:info()
  local function q(v) return "'" .. tostring(v):gsub("[\\']", "\\%0") .. "'" end
  return string.format("dbname=%s user=%s host=%s port=%s", q(arg), q(i.user), q(i.host), q(i.port))
end

local function run_file(path)
  local text = util.read_file(path)
  local fn, cerr = load(text:gsub("^#![^\n]*", ""), "@" .. path, "t")
  if not fn then error(cerr, 0) end
  return execute(fn) == "ok"
end

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
  return sql, dir, file
end

-- \g and \gx: the SQL read so far (a `;` is not needed), or the last SQL again.
local function run_buffer(expanded)
  if state.pending and not state.sql then error("\\g: the input read so far is Lua, not SQL", 0) end
  local sql = state.pending or state.last_sql
  state.pending, state.sql = nil, false
  if not sql or sql:match("^%s*$") then error("\\g: no SQL to run", 0) end
  state.last, state.last_sql = sql, sql
  local saved = state.expanded
  if expanded then state.expanded = "on" end
  local ok, status = pcall(run_sql, sql)
  state.expanded = saved
  if not ok then error(status, 0) end
  return status ~= "error"
end

local META -- filled below; \? prints it

local function help_text()
  local out = {}
  for _, m in ipairs(META) do
    if m.section then
      if #out > 0 then out[#out + 1] = "" end
      out[#out + 1] = m.section
    else
      out[#out + 1] = string.format("  %-26s %s", m.usage, m.help)
    end
  end
  return table.concat(out, "\n") .. "\n\n"
end

-- Runs edited text as if typed; an unfinished chunk at its end stays to be continued (psql
-- keeps it in the query buffer).
local function feed_text(text)
  local status = "ok"
  for line in (text .. "\n"):gmatch("(.-)\n") do
    local s = M.feed(line)
    if s == "error" then status = "error" end
    if s == "quit" then return "quit" end
  end
  return status
end

META = {
  { section = "Informational (PATTERN: psql's, e.g. app.* or \"Mixed\"*; + shows more detail)" },
  { name = "d", usage = "\\d[+] [PATTERN]", verbose = true,
    help = "list relations, or describe those matching PATTERN",
    run = function(arg, verbose)
      if arg then return shown(describe.describe(arg, verbose)) end
      return listing(function() return describe.relations("rpvmSf", nil, verbose) end)(nil, verbose)
    end },
  { name = "dt", usage = "\\dt[+] [PATTERN]", help = "list tables", verbose = true,
    -- with a pattern, TOAST tables can match too (as in psql)
    run = listing(function(a, v) return describe.relations(a and "rpt" or "rp", a, v) end) },
  { name = "dv", usage = "\\dv[+] [PATTERN]", help = "list views", verbose = true,
    run = listing(function(a, v) return describe.relations("v", a, v) end) },
  { name = "dm", usage = "\\dm[+] [PATTERN]", help = "list materialized views", verbose = true,
    run = listing(function(a, v) return describe.relations("m", a, v) end) },
  { name = "di", usage = "\\di[+] [PATTERN]", help = "list indexes", verbose = true,
    run = listing(function(a, v) return describe.relations("iI", a, v) end) },
  { name = "ds", usage = "\\ds[+] [PATTERN]", help = "list sequences", verbose = true,
    run = listing(function(a, v) return describe.relations("S", a, v) end) },
  { name = "dn", usage = "\\dn[+] [PATTERN]", help = "list schemas", verbose = true,
    run = listing(describe.schemas) },
  { name = "dT", usage = "\\dT[+] [PATTERN]", help = "list data types", verbose = true,
    run = listing(describe.types) },
  { name = "df", usage = "\\df[+] [PATTERN]", help = "list functions", verbose = true,
    run = listing(describe.functions) },
  { name = "du", usage = "\\du[+] [PATTERN]", help = "list roles", verbose = true,
    run = listing(describe.roles) },
  { section = "Formatting" },
  { name = "x", usage = "\\x [on|off|auto]", help = "expanded display of query results",
    run = function(arg)
      if arg == "auto" then
        state.expanded = "auto"
        say("Expanded display is used automatically.")
        return true
      end
      -- with no argument it toggles; from auto that is off, as in psql
      state.expanded = on_off(arg, state.expanded ~= "off", "x") and "on" or "off"
      say("Expanded display is " .. state.expanded .. ".")
      return true
    end },
  { name = "pset", usage = "\\pset pager|null [VALUE]", help = "pager on/off; how NULL is shown",
    run = function(arg)
      local what, value = (arg or ""):match("^(%S+)%s*(.-)$")
      if not what then -- every setting, as psql's \pset alone lists them
        say(string.format("%-24s %s\n%-24s '%s'\n%-24s %d", "expanded", state.expanded, "null",
                          state.null, "pager", state.pager and 1 or 0))
      elseif what == "pager" then
        state.pager = on_off(value ~= "" and value or nil, state.pager, "pset pager")
        say("Pager usage is " .. (state.pager and "on." or "off."))
      elseif what == "null" then
        if value ~= "" then state.null = value:match("^'(.*)'$") or value end -- alone: shows it
        say('Null display is "' .. state.null .. '".')
      else
        error("\\pset: unknown option: " .. tostring(what) .. " (pager and null are supported)", 0)
      end
      return true
    end },
  { name = "timing", usage = "\\timing [on|off]", help = "show how long each command takes",
    run = function(arg)
      state.timing = on_off(arg, state.timing, "timing")
      say("Timing is " .. (state.timing and "on." or "off."))
      return true
    end },
  { section = "Connection" },
  { name = "conninfo", usage = "\\conninfo", help = "the current connection",
    run = function()
      say(conninfo())
      return true
    end },
  { name = "c", usage = "\\c URL|DBNAME", help = "connect `db` to another database",
    run = function(arg)
      if not arg then error("\\c: give a URL or a database name", 0) end
      local ok, new = pcall(weir.connect, connect_target(arg))
      if not ok then -- as psql: the reason, and `db` stays as it was
        error(tostring(new):gsub("^[^\n]-:%d+: ", "") .. "\nPrevious connection kept", 0)
      end
      local old = db
      rawset(_G, "db", new)
      complete.names(false)
      if old ~= new then pcall(old.close, old) end
      local i = db:info()
      say(string.format('You are now connected to database "%s" as user "%s".', i.database, i.user))
      return true
    end },
  { section = "Input" },
  { name = "copy", usage = "\\copy ... from|to FILE", help = "COPY a table or (query) from or to a file here",
    run = function(arg)
      local sql, dir, file = parse_copy(arg)
      if dir == "from" and not file then return start_copy_in(sql) ~= "error" end
      if dir == "from" then
        say("COPY " .. db:copy_in(sql, util.read_file(file)))
        return true
      end
      local data, n = db:copy_out(sql)
      if not file then
        emit(data)
        return true
      end
      local f, err = io.open(file, "wb")
      if not f then error(err, 0) end
      f:write(data)
      f:close()
      say("COPY " .. n)
      return true
    end },
  { name = "i", usage = "\\i FILE.lua", help = "run a Lua file in this session",
    run = function(arg)
      if not arg then error("\\i: give a file", 0) end
      return run_file(arg)
    end },
  { name = "e", usage = "\\e", help = "edit the last input in $EDITOR, then run it",
    run = function()
      local current = state.pending or state.last or ""
      local sql = state.sql or looks_like_sql(current)
      local text, err = state.terminal.edit(current, sql and ".sql" or ".lua")
      state.pending, state.sql = nil, false
      if not text then error("\\e: " .. err, 0) end
      if text:match("^%s*$") then return true end
      local status = feed_text((text:gsub("\n$", "")))
      return status ~= "error", status == "quit"
    end },
  { name = "g", usage = "\\g", help = "run the SQL read so far (or the last SQL again)",
    run = function() return run_buffer(false) end },
  { name = "gx", usage = "\\gx", help = "the same, with expanded display for this result",
    run = function() return run_buffer(true) end },
  { name = "r", usage = "\\r", help = "reset (clear) the input read so far",
    run = function()
      state.pending, state.sql = nil, false
      say("Query buffer reset (cleared).")
      return true
    end },
  { name = "refresh", usage = "\\refresh", help = "reload the names tab completion offers",
    run = function()
      local n = M.names(true)
      say(string.format("Completion names reloaded: %d schemas, %d relations, %d columns.",
                        #n.schemas, #n.relations, #n.columns))
      return true
    end },
  { section = "General" },
  { name = "?", usage = "\\?", help = "this list", run = function()
      emit(help_text())
      return true
    end },
  { name = "q", usage = "\\q", help = "quit (also Ctrl-D)", run = function() return true, true end },
}

local META_BY_NAME = {}
for _, m in ipairs(META) do
  if m.name then META_BY_NAME[m.name] = m end
end

local function meta(line)
  local name, arg = line:match("^\\(%S*)%s*(.-)%s*$")
  if arg == "" then arg = nil end
  -- \d+ and friends: psql's verbose forms, for the commands that have one
  local plain, plus = name:match("^(.-)(%+?)$")
  local m = META_BY_NAME[plain]
  if not m or (plus ~= "" and not m.verbose) then
    io.stderr:write(string.format('invalid command \\%s\nTry \\? for help.\n', name))
    return "error"
  end
  -- A meta-command's own errors are messages (raised at level 0): no traceback for them.
  local ok, found, quit = xpcall(m.run, function(e)
    if type(e) == "string" then return e end
    return handler(e)
  end, arg, plus ~= "")
  if not ok then
    report(found)
    return "error"
  end
  if quit then return "quit" end
  return found == false and "error" or "ok"
end

local HELP = [[
weir %s: Lua with `db` connected and the whole toolkit at hand.

  db:query(sql, ...)       rows (printed as a table), db:one, db:value, db:exec, db:tx(fn)
  schema.inspect(db)       the schema as a model; schema.diff(a, b), schema.script(changes)
  ddl.*  copy.*  ids.*     safe DDL helpers, batch copy and backfill, id mapping
  check.*  flags.*         validation and feature flags
  json.*  weir.*           JSON, connections (weir.connect), throwaway clusters (weir.cluster)
  SELECT ... ;             SQL (not Lua) runs as SQL up to a line ending in ";"

\? lists the meta-commands (\d, \dt, \x, \timing …); \q or Ctrl-D quits.
Docs: docs/repl.md, docs/scripts.md, docs/db.md.
]]

-- ---- the entry points cmd_repl.cpp calls ---------------------------------------------------------

---@param opts {interactive: boolean, terminal: table}
function M.start(opts)
  state.interactive = opts.interactive
  state.terminal = opts.terminal
  fmt.set_width(opts.terminal.width) -- tables align by the terminal's wcwidth()
  if state.interactive then
    local i = db:info()
    local where = (i.host or ""):sub(1, 1) == "/" and ("socket " .. i.host) or (i.host or "")
    say(string.format("weir %s: database %s on %s:%s, PostgreSQL %s", weir.version, i.database,
                      where, i.port, i.server_version))
    say('Type Lua, SQL ending in ";", \\? for meta-commands, help for the toolkit, \\q to quit.')
  end
end

-- The database's name, then `*` inside a transaction or `!` in a failed one (psql's %x).
function M.prompt(more)
  if state.copy then return ">> " end
  local ok, tx = pcall(db.transaction_status, db)
  local name = db:info().database .. ((ok and tx == "open") and "*" or (ok and tx == "failed") and "!" or "")
  if more then return name .. (state.sql and "-# " or ">> ") end
  return name .. "> "
end

---Takes one line; returns "ok", "more" (the chunk goes on), "error" or "quit", and the
---finished chunk (for the history).
function M.feed(line)
  if state.copy then -- data of a COPY … FROM STDIN
    if line == "\\." then return finish_copy_in() end
    state.copy.lines[#state.copy.lines + 1] = line
    return "more"
  end
  local trimmed = line:match("^%s*(.-)%s*$")
  if not state.pending then
    if trimmed == "" then return "ok" end
    if trimmed:sub(1, 1) == "\\" then
      local status = meta(trimmed)
      if status == "ok" and state.pending then return "more", trimmed end -- \e left a chunk open
      return status, trimmed
    end
    if trimmed == "help" then
      emit(string.format(HELP, weir.version))
      return "ok", trimmed
    end
    if trimmed == "quit" or trimmed == "exit" then return "quit", trimmed end
    state.pending, state.sql = line, prefers_sql(line)
  elseif trimmed:sub(1, 1) == "\\" then
    -- a meta-command inside a chunk runs on its own and the chunk stays (\g runs it)
    local status = meta(trimmed)
    if status == "ok" and state.pending then return "more" end
    return status
  else
    state.pending = state.pending .. "\n" .. line
  end
  local chunk = state.pending
  if not state.sql then
    local fn = load("return " .. chunk, "=stdin", "t")
    local err
    if not fn then fn, err = load(chunk, "=stdin", "t") end
    if fn then
      state.pending, state.last = nil, chunk
      return execute(fn), chunk
    end
    if not looks_like_sql(chunk) then
      if err:match("<eof>$") then return "more" end
      state.pending, state.last = nil, chunk
      report(err)
      return "error", chunk
    end
    state.sql = true -- not Lua, but it starts with an SQL keyword
  end
  -- SQL may end in a meta-command on the same line: `select 1 \gx`, as in psql
  local inside, last, backslash = sql_scan(chunk)
  if backslash and not inside then
    state.pending = chunk:sub(1, backslash - 1)
    local status = meta(chunk:sub(backslash):match("^(.-)%s*$"))
    if status == "ok" and state.pending then return "more", chunk end
    return status, chunk
  end
  if inside or last ~= ";" then return "more" end -- not complete yet (see sql_complete)
  state.pending, state.sql, state.last, state.last_sql = nil, false, chunk, chunk
  return run_sql(chunk), chunk
end

---Ctrl-C at the prompt: forget the chunk read so far.
function M.reset()
  state.pending, state.sql, state.copy = nil, false, nil
end

---End of input: a chunk left unfinished is an error. During COPY data it ends the data, as in
---psql, and says "continue": a terminal's Ctrl-D does not end the session then.
function M.finish()
  if state.copy then return finish_copy_in(), "continue" end
  if not state.pending then return "ok" end
  local chunk = state.pending
  state.pending, state.sql = nil, false
  io.stderr:write("weir repl: input ended inside an unfinished chunk: ",
                  chunk:match("^[^\n]*"), "\n")
  return "error"
end

-- ---- tab completion (stdlib/repl_complete.lua) ---------------------------------------------

---The names tab completion offers (cached; `true` reloads).
function M.names(reload) return complete.names(reload) end

function M.complete(line, start, stop)
  return complete.complete(line, start, stop, {
    meta = M.meta_commands(), sql = state.sql, pending = state.pending ~= nil, pending_text = state.pending,
    looks_like_sql = looks_like_sql,
  })
end

M.meta_commands = function()
  local names = {}
  for _, m in ipairs(META) do
    if m.name then names[#names + 1] = m.name end
  end
  return names
end

return M
