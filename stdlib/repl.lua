-- `weir repl`: what a line means and where its result goes. interpreter/cli/cmd_repl.cpp owns
-- the terminal and the loop and calls start, prompt, feed, reset, finish and complete.
--
-- A line starting with a backslash is a meta-command (stdlib/repl_meta.lua). Anything else is
-- Lua: an expression prints its values (`return` is tried first, as lua.c does), an incomplete
-- chunk continues on the next line. Text that is not Lua but starts with an SQL keyword (or a
-- close misspelling of one) is SQL (stdlib/repl_sql.lua), read up to a `;` ending a line and
-- printed in psql's formats by C++ (interpreter/cli/repl_print.cpp) straight from the result.
-- A .sql file run with \i is read as psql reads one: SQL and meta-commands, no Lua.
-- Errors print and the session goes on; feed says "error" so a piped session can exit 1.
local fmt = require "repl_format"
local rsql = require "repl_sql"
local complete = require "repl_complete"
local util = require "weir_util"

local M = {}

local state = {
  interactive = false,
  terminal = nil,     -- page, edit, size, width, traceback, query, table, emit, output …
  unsafe = false,     -- --unsafe: \! and \o |command may run shell commands
  no_db = false,      -- --no-db, until \c connects
  pending = nil,      -- the chunk read so far
  sql = false,        -- the pending chunk is SQL
  mode = "mixed",     -- "sql" while a .sql file runs: no Lua
  last = nil,         -- the last complete chunk (for \e)
  last_sql = nil,     -- the last SQL run (\g with nothing read runs it again)
  timing = false,
  copy = nil,         -- a COPY … FROM STDIN reading its data: { sql, lines, rest }
  files = {},         -- the \i files running, innermost last (for \ir)
  -- \pset: psql's defaults
  pset = {
    format = "aligned", border = 1, expanded = "off", tuples_only = false, footer = true,
    null = "", fieldsep = "|", fieldsep_zero = false, recordsep = "\n", recordsep_zero = false,
    csv_fieldsep = ",", title = nil, tableattr = nil, pager = 1, numericlocale = false,
  },
  vars = {},          -- \set variables
  output = nil,       -- \o's target (nil: stdout)
}
M.state = state

-- ---- output --------------------------------------------------------------------------------

---The settings C++ prints a table with (repl_print.hpp): \pset's, the terminal's width for
---\x auto and whether a pager may be used. `extra` overrides fields.
function M.settings(extra)
  local s = {}
  for k, v in pairs(state.pset) do s[k] = v end
  local to_terminal = state.interactive and state.output == nil
  s.pager = to_terminal and state.pset.pager ~= 0
  if to_terminal and state.terminal.size then
    local _, cols = state.terminal.size()
    s.columns = cols
  end
  for k, v in pairs(extra or {}) do s[k] = v end
  return s
end

---Results (tables, values, command tags, COPY data) go where \o says, through the pager when
---long; messages (say) go to stdout, as psql's do.
local function emit(text)
  if text == "" then return end
  if state.terminal.emit then
    state.terminal.emit(text, M.settings())
  else
    io.write(text)
    io.flush()
  end
end
M.emit = emit

local function say(line)
  io.write(line, "\n")
  io.flush()
end
M.say = say

---Prints a table a describe command built ({headers, rows, title, footers, right, count}):
---NULL shows as nothing whatever \pset null says, as in psql's describe commands.
function M.print_table(spec)
  state.terminal.table(spec, M.settings({ null = "", title = spec.title }))
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

-- os.exit(n) unwinds with a sentinel (lua/error.hpp), which pcall and xpcall pass on: the
-- session ends with n (cmd_repl.cpp reads the code).
local function is_exit(e)
  return type(e) == "table" and tostring(e):match("^os%.exit%(%-?%d+%)$") ~= nil
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
M.handler = handler

local function report(e)
  io.stdout:flush()
  if is_sql_error(e) then
    io.stderr:write(sql_error_text(e), "\n")
    state.vars.LAST_ERROR_MESSAGE, state.vars.LAST_ERROR_SQLSTATE = e.message, e.sqlstate
  else
    io.stderr:write(tostring(e), "\n")
  end
  io.stderr:flush()
end
M.report = report

-- ---- showing Lua values ----------------------------------------------------------------------

local function is_columns(t)
  if type(t) ~= "table" or t == json.null or #t == 0 then return false end
  for _, c in ipairs(t) do
    if type(c) ~= "table" or type(c.name) ~= "string" or type(c.type) ~= "string" then return false end
  end
  return true
end

-- Prints what a chunk returned: a query result (rows, columns[, tag]) as psql prints a table,
-- anything else value by value.
local function show(values)
  if values.n == 0 then return end
  if type(values[1]) == "table" and is_columns(values[2]) then
    state.terminal.table(fmt.result(values[1], values[2]), M.settings())
    local tag = values[3]
    if type(tag) == "string" and (tag:match("^INSERT ") or tag:match("^UPDATE ") or tag:match("^DELETE ")) then
      emit(tag .. "\n")
    end
    return
  end
  local parts = {}
  for i = 1, values.n do parts[i] = fmt.value(values[i]) end
  emit(table.concat(parts, "\t") .. "\n")
end

-- Calls fn under the message handler; returns xpcall's results and the time it took.
local function timed(fn, ...)
  local t0 = weir.clock()
  local results = table.pack(xpcall(fn, handler, ...))
  return results, weir.clock() - t0
end
M.timed = timed

-- After the result, as psql does.
local function show_time(seconds)
  if state.timing then say(string.format("Time: %.3f ms", seconds * 1000)) end
end
M.show_time = show_time

-- Runs a compiled chunk and prints its values; returns "ok", "error" or "quit".
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

-- COPY … FROM STDIN: the lines that follow are its data, up to `\.` on a line by itself (or
-- the end of input), as in psql. `rest`: statements of the same chunk to run after it.
local function start_copy_in(sql, rest)
  state.copy = { sql = sql, lines = {}, rest = rest or {} }
  if state.interactive and state.mode ~= "sql" then
    say("Enter data to be copied followed by a newline.\n" ..
        "End with a backslash and a period on a line by itself, or an EOF signal.")
  end
  return "more"
end
M.start_copy_in = start_copy_in

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
  emit("COPY " .. results[2] .. "\n")
  show_time(took)
  return run_statements(copy.rest, 1)
end

-- A COPY to or from the client (no file name): its data comes from the input or goes to stdout.
local function client_copy(st)
  if st.kind ~= "CopyStmt" or type(st.tree) ~= "table" or st.tree.filename then return nil end
  return st.tree.is_from and "in" or "out"
end

-- How a statement is read: through a cursor `batch` rows at a time with \set FETCH_COUNT n
-- (SELECT and VALUES, as psql), and always for the formats whose text does not depend on the
-- whole result (unaligned, csv, json, html), so their memory stays bounded.
local STREAMED = { unaligned = true, csv = true, json = true, html = true }
local function batch_for(st)
  local fetch = math.tointeger(tonumber(state.vars.FETCH_COUNT or "")) or 0
  if not rsql.cursor_safe(st) then return 0 end
  if fetch > 0 and rsql.is_select_command(st.text) then return fetch end
  if STREAMED[state.pset.format] and state.pset.expanded ~= "auto" then
    return fetch > 0 and fetch or 1000
  end
  return 0
end

local function after_statement(ok, e, rows)
  state.vars.ERROR = ok and "false" or "true"
  if ok then
    state.vars.SQLSTATE = "00000"
    state.vars.ROW_COUNT = tostring(rows or 0)
  else
    state.vars.SQLSTATE = is_sql_error(e) and e.sqlstate or nil
    state.vars.ROW_COUNT = "0"
  end
end

-- Runs statements[first…] one by one, each result printed as psql would; a COPY … FROM STDIN
-- stops here and reads its data first. `extra`: settings for these results (\gx, \watch).
run_statements = function(statements, first, extra)
  local status = "ok"
  for i = first, #statements do
    local st = statements[i]
    if client_copy(st) == "in" then return start_copy_in(st.text, { table.unpack(statements, i + 1) }) end
    local settings = M.settings(extra)
    settings.batch = batch_for(st)
    local results, took = timed(state.terminal.query, db, st.text, settings)
    local ok, e = results[1], results[2]
    after_statement(ok, e, results[4])
    show_time(took)
    if not ok then -- reported; the next statements still run, as in psql
      if is_exit(e) then return "quit" end
      report(e)
      status = "error"
    end
  end
  return status
end

-- The statements of SQL text (PostgreSQL's parser splits them), each sent with the `;` that
-- ended it, as psql sends it (the error's LINE shows it); text the parser cannot split goes to
-- the server whole, which says what is wrong with it.
local function statements_of(text)
  local ok, statements = pcall(require("sql").parse, text)
  if not ok or (#statements == 0 and not text:match("^%s*$")) then return { { text = text } } end
  local pos = 1
  for _, st in ipairs(statements) do
    local s, e = text:find(st.text, pos, true)
    if s then
      pos = e + 1
      local semi = text:match("^%s*;()", pos)
      if semi then
        st.text, pos = st.text .. ";", semi
      end
    end
  end
  return statements
end

local quote = {
  literal = function(v) return db:quote_literal(v) end,
  ident = function(v) return db:quote_ident(v) end,
}
M.quote = quote

---SQL text with psql's :variables replaced.
function M.interpolate(text)
  if next(state.vars) == nil then return text end
  return rsql.interpolate(text, state.vars, quote)
end

---Runs SQL text: each statement on its own; returns "ok", "error", "more" (COPY data follows)
---or "quit".
function M.run_sql(text, extra)
  if state.no_db then
    report("no database to run SQL on: this session started with --no-db (\\c URL connects one)")
    return "error"
  end
  return run_statements(statements_of(M.interpolate(text)), 1, extra)
end

-- ---- meta-commands and files -----------------------------------------------------------------

local meta -- stdlib/repl_meta.lua, loaded by start (it needs this module)

-- What is left unfinished when a file ends: SQL runs (as psql does at the end of its input),
-- COPY data ends, Lua is an error.
local function end_of_input()
  if state.copy then return finish_copy_in() end
  if not state.pending then return "ok" end
  local chunk = state.pending
  local sql = state.sql or state.mode == "sql"
  state.pending, state.sql = nil, false
  if sql and not chunk:match("^%s*$") then
    state.last, state.last_sql = chunk, chunk
    return M.run_sql(chunk)
  end
  if sql then return "ok" end
  io.stderr:write("weir repl: input ended inside an unfinished chunk: ", chunk:match("^[^\n]*"), "\n")
  return "error"
end

-- Lua text, or SQL text read the way psql reads a file: a file named .sql or .lua is that; any
-- other is SQL when it is not Lua and starts (after comments) with an SQL keyword or a backslash.
local function file_kind(path, text)
  local ext = path:match("%.(%w+)$")
  ext = ext and ext:lower()
  if ext == "sql" or ext == "psql" then return "sql" end
  if ext == "lua" then return "lua" end
  if load(text:gsub("^#![^\n]*", ""), "=file", "t") then return "lua" end
  local body = text
  repeat
    local before = body
    body = body:gsub("^%s+", ""):gsub("^%-%-[^\n]*", ""):gsub("^/%*.-%*/", "")
  until body == before
  if body:sub(1, 1) == "\\" or rsql.not_lua_is_sql(body) then return "sql" end
  return "lua"
end

---Runs a file in the session: Lua (its return values print) or SQL (statements and
---meta-commands, psql's way; what is left unfinished at its end runs). Returns true when
---everything in it succeeded, and "quit" when it ran \q.
function M.run_file(path)
  local text = util.read_file(path)
  state.files[#state.files + 1] = path
  local ok, status = pcall(function()
    if file_kind(path, text) == "lua" then
      local fn, cerr = load(text:gsub("^#![^\n]*", ""), "@" .. path, "t")
      if not fn then error(cerr, 0) end
      return execute(fn)
    end
    local saved = { pending = state.pending, sql = state.sql, mode = state.mode }
    state.pending, state.sql, state.mode = nil, false, "sql"
    local status = "ok"
    for _, line in ipairs(util.lines(text:gsub("\n$", ""))) do
      local s = M.feed(line)
      if s == "error" then status = "error" end
      if s == "quit" then
        status = "quit"
        break
      end
    end
    if status ~= "quit" and end_of_input() == "error" then status = "error" end
    state.pending, state.sql, state.mode = saved.pending, saved.sql, saved.mode
    return status
  end)
  table.remove(state.files)
  if not ok then error(status, 0) end
  if status == "quit" then return true, "quit" end
  return status ~= "error"
end

---The directory \ir resolves a relative path against: the running file's, else ".".
function M.current_dir()
  local f = state.files[#state.files]
  return f and (f:match("^(.*)/[^/]*$") or ".") or "."
end

-- ---- no database -----------------------------------------------------------------------------

-- `db` in a --no-db session until \c connects: any use says how to get one.
local function no_database()
  local function refuse()
    error("no database: this session started with --no-db (\\c URL connects one)", 3)
  end
  return setmetatable({}, {
    __index = function() refuse() end,
    __newindex = function() refuse() end,
    __tostring = function() return "weir.Connection (none: --no-db)" end,
  })
end

local function connection_vars()
  for _, k in ipairs { "DBNAME", "USER", "HOST", "PORT", "SERVER_VERSION_NAME", "SERVER_VERSION_NUM" } do
    state.vars[k] = nil
  end
  if state.no_db then return end
  local ok, i = pcall(db.info, db)
  if not ok then return end
  state.vars.DBNAME, state.vars.USER, state.vars.HOST, state.vars.PORT = i.database, i.user, i.host, i.port
  state.vars.SERVER_VERSION_NAME = i.server_version
  local ok2, num = pcall(db.value, db, "SELECT pg_catalog.current_setting('server_version_num')")
  if ok2 then state.vars.SERVER_VERSION_NUM = num end
end

---Makes `conn` the session's `db` (\c); closes the one it replaces.
function M.use_connection(conn)
  local old = db
  rawset(_G, "db", conn)
  state.no_db = false
  complete.names(false)
  if old ~= conn and not getmetatable(old).__newindex then pcall(old.close, old) end
  connection_vars()
end

function M.has_db() return not state.no_db end

-- ---- the entry points cmd_repl.cpp calls ---------------------------------------------------------

---@param opts {interactive: boolean, terminal: table, no_db?: boolean, unsafe?: boolean}
function M.start(opts)
  state.interactive = opts.interactive
  state.terminal = opts.terminal
  state.unsafe = opts.unsafe == true
  state.no_db = opts.no_db == true
  meta = require "repl_meta"
  meta.attach(M)
  local help = require "repl_help"
  help.use(opts.terminal) -- grammar/*.lua as built into weir
  rawset(_G, "help", help.help)
  if state.no_db then rawset(_G, "db", no_database()) end
  fmt.set_width(opts.terminal.width) -- tables align by the terminal's wcwidth()
  connection_vars()
  if state.interactive then
    if state.no_db then
      say(string.format("weir %s: no database (\\c URL connects one)", weir.version))
    else
      local i = db:info()
      local where = (i.host or ""):sub(1, 1) == "/" and ("socket " .. i.host) or (i.host or "")
      say(string.format("weir %s: database %s on %s:%s, PostgreSQL %s", weir.version, i.database,
                        where, i.port, i.server_version))
    end
    say('Type Lua, SQL ending in ";", \\? for meta-commands, help for the toolkit, \\q to quit.')
  end
end

-- The database's name, then `*` inside a transaction or `!` in a failed one (psql's %x).
function M.prompt(more)
  if state.copy then return ">> " end
  local name = "weir"
  if not state.no_db then
    local ok, tx = pcall(db.transaction_status, db)
    local okn, info = pcall(db.info, db)
    name = (okn and info.database or "weir") .. ((ok and tx == "open") and "*" or (ok and tx == "failed") and "!" or "")
  end
  if more then return name .. (state.sql and "-# " or ">> ") end
  return name .. "> "
end

-- The chunk read so far is complete Lua, Lua still open, or SQL (to read up to its `;`).
local function classify(chunk)
  local fn = load("return " .. chunk, "=stdin", "t")
  local err
  if not fn then fn, err = load(chunk, "=stdin", "t") end
  if fn then return "lua", fn end
  local open = err:match("<eof>$") ~= nil
  -- not Lua: SQL when it starts with an SQL keyword, or with a close misspelling of one when
  -- it is not merely unfinished Lua (`selct 1;` goes to the server, which shows the error)
  if rsql.looks_like_sql(chunk) or (not open and rsql.not_lua_is_sql(chunk)) then return "sql" end
  return open and "open" or "bad", err
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
      local status = meta.run(trimmed)
      if status == "ok" and state.pending then return "more", trimmed end -- \e left a chunk open
      return status, trimmed
    end
    if state.mode ~= "sql" then
      if trimmed == "help" then
        emit(require("repl_help").overview())
        return "ok", trimmed
      end
      if trimmed == "quit" or trimmed == "exit" then return "quit", trimmed end
    end
    state.pending, state.sql = line, state.mode == "sql" or rsql.prefers_sql(line)
  elseif trimmed:sub(1, 1) == "\\" then
    -- a meta-command inside a chunk runs on its own and the chunk stays (\g runs it)
    local status = meta.run(trimmed)
    if status == "ok" and state.pending then return "more" end
    return status
  else
    state.pending = state.pending .. "\n" .. line
  end
  local chunk = state.pending
  if not state.sql then
    local kind, fn = classify(chunk)
    if kind == "lua" then
      state.pending, state.last = nil, chunk
      return execute(fn), chunk
    elseif kind == "open" then
      return "more"
    elseif kind == "bad" then
      state.pending, state.last = nil, chunk
      report(fn)
      return "error", chunk
    end
    state.sql = true
  end
  -- SQL may end in a meta-command on the same line: `select 1 \gx`, as in psql
  local inside, last, backslash = rsql.scan(chunk)
  if backslash and not inside then
    state.pending = chunk:sub(1, backslash - 1)
    local status = meta.run(chunk:sub(backslash):match("^(.-)%s*$"))
    if status == "ok" and state.pending then return "more", chunk end
    return status, chunk
  end
  if inside or last ~= ";" then return "more" end -- not complete yet (see rsql.complete)
  state.pending, state.sql, state.last, state.last_sql = nil, false, chunk, chunk
  return M.run_sql(chunk), chunk
end

---Ctrl-C at the prompt: forget the chunk read so far.
function M.reset()
  state.pending, state.sql, state.copy = nil, false, nil
end

---End of input: SQL left without its `;` runs, as psql runs it; an unfinished Lua chunk is an
---error. During COPY data it ends the data, as in psql, and says "continue": a terminal's
---Ctrl-D does not end the session then.
function M.finish()
  if state.copy then return finish_copy_in(), "continue" end
  if state.interactive and state.pending and state.sql then -- Ctrl-D: psql drops the buffer too
    state.pending, state.sql = nil, false
    return "ok"
  end
  return end_of_input()
end

-- ---- tab completion (stdlib/repl_complete.lua) ---------------------------------------------

---The names tab completion offers (cached; `true` reloads).
function M.names(reload) return complete.names(reload) end

function M.complete(line, start, stop)
  return complete.complete(line, start, stop, {
    meta = M.meta_commands(), sql = state.sql or state.mode == "sql", pending = state.pending ~= nil,
    pending_text = state.pending, looks_like_sql = rsql.looks_like_sql,
  })
end

---The names of the meta-commands, without their backslash.
function M.meta_commands()
  return require("repl_meta").names()
end

return M
