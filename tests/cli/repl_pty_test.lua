-- `weir repl` on a real terminal: a pseudo-terminal driven through tmux (a private server, a
-- fixed 150x50 size). The banner, tab completion (meta-commands, table names, Lua fields, inside
-- a string, \refresh), Ctrl-C cancelling a running query on the server within a second, Ctrl-C
-- in a Lua loop and at the prompt, the continuation prompts, Ctrl-D and the history file.
-- Piped stdin (values, tables, meta-commands, \d against psql) is repl_test.lua.
local T = require "testing"
local shell = require "shell"
local q = shell.q

local tmp = shell.tmpdir()
local DB = db:info().database
local PROMPT = DB .. ">"             -- capture-pane strips the prompt's trailing space
local term = require("tmux").new {
  server = "weir-repl-" .. tmp:match("[^/]+$"):gsub("[^%w]", ""),
  weir = assert(os.getenv "WEIR"), url = assert(os.getenv "WEIR_TEST_URL"), tmp = tmp, prompt = PROMPT,
}
local screen, screen_lines, last_line = term.screen, term.screen_lines, term.last_line
local wait_for, wait_last_line = term.wait_for, term.wait_last_line
local type_text, key, enter, stop = term.type_text, term.key, term.enter, term.stop
local have_tmux = term.have_tmux

-- The number of screen lines equal to `line`.
local function count_lines(s, line)
  local n = 0
  for _, l in ipairs(screen_lines(s)) do
    if l == line then n = n + 1 end
  end
  return n
end

-- Starts `weir repl` in a new tmux session, its history under `state` (a fresh XDG_STATE_HOME
-- unless given), PAGER=`pager` ("cat" unless given); waits for the prompt. Returns the session
-- and the state directory; after weir ends the pane shows `__exit=STATUS` and stays.
local function start(state, pager) return term.start { state = state, pager = pager } end

-- The backends of this database running `SELECT pg_sleep(30)` (not this suite's own).
local function sleeping()
  return db:query([[SELECT pid, state FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND state = 'active' AND query LIKE 'SELECT pg_sleep(30)%']])
end

-- =============================================================================================

T.case("tmux is installed (scripts/setup.sh) — every case below needs it", function()
  T.ok(have_tmux, "tmux not found")
end)
if not have_tmux then T.done() end

T.case("the banner names the database, host, port and server version; the prompt is the database's name", function()
  local s = start()
  local info = db:info()
  local text = screen(s)
  local where = info.host:sub(1, 1) == "/" and ("socket " .. info.host) or info.host
  T.contains(text, ("weir %s: database %s on %s:%s, PostgreSQL %s\n"):format(
    weir.version, DB, where, info.port, info.server_version))
  T.contains(text, 'Type Lua, SQL ending in ";", \\? for meta-commands, help for the toolkit, \\q to quit.\n')
  T.eq(last_line(s), PROMPT)
  stop(s)
end)

T.case("tab completion: meta-commands, table names after \\d and inside a string, Lua fields", function()
  db:exec "CREATE TABLE migration_x_unique_events (id int, payload_text text)"
  db:exec "CREATE TABLE migration_y_other (id int)"
  local s = start()
  -- a meta-command
  type_text(s, "\\refr")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\refresh")
  key(s, "C-u")
  wait_last_line(s, PROMPT)
  -- a table name after \d (a space follows a unique match; tmux strips it)
  type_text(s, "\\d migration_x_uni")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\d migration_x_unique_events")
  key(s, "Enter")
  wait_for(s, 'Table "public.migration_x_unique_events"')
  -- inside a Lua string: SQL names
  type_text(s, 'db:query("select * from migration_x_uni')
  key(s, "Tab")
  wait_last_line(s, PROMPT .. ' db:query("select * from migration_x_unique_events')
  type_text(s, ' where payload_t')
  key(s, "Tab")
  wait_last_line(s, PROMPT .. ' db:query("select * from migration_x_unique_events where payload_text')
  key(s, "C-u")
  wait_last_line(s, PROMPT)
  -- a Lua field of a module
  type_text(s, "schema.insp")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " schema.inspect")
  key(s, "C-u")
  -- a connection method
  type_text(s, "db:quer")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " db:query")
  key(s, "C-u")
  wait_last_line(s, PROMPT)
  stop(s)
  db:exec "DROP TABLE migration_x_unique_events, migration_y_other"
end)

T.case("tab completion: \\refresh picks up a table created after the names were loaded", function()
  db:exec "CREATE TABLE migration_x_first (id int)"
  local s = start()
  type_text(s, "\\d migration_x_fi")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\d migration_x_first") -- the names are loaded now
  key(s, "C-u")
  db:exec "CREATE TABLE migration_x_latecomer (id int)"
  type_text(s, "\\d migration_x_lat")
  key(s, "Tab")
  weir.sleep(0.3)
  T.eq(last_line(s), PROMPT .. " \\d migration_x_lat", "the cached names do not have it yet")
  key(s, "C-u")
  enter(s, "\\refresh")
  wait_for(s, "Completion names reloaded: ")
  type_text(s, "\\d migration_x_lat")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\d migration_x_latecomer")
  key(s, "C-u")
  stop(s)
  db:exec "DROP TABLE migration_x_first, migration_x_latecomer"
end)

T.case("tab completion quotes names as SQL needs them, matching what was typed case-sensitively", function()
  db:exec [[CREATE SCHEMA "Odd Schema"]]
  db:exec [[CREATE TABLE "Odd Schema"."Mixed Case" (id int, "Some Col" int)]]
  db:exec [[CREATE TABLE "MyTable" (a int)]]
  db:exec [[CREATE TABLE mytable (b int)]]
  local s = start()
  -- `MyT` is the start of "MyTable" only: unquoted it would name public.mytable
  type_text(s, "\\d MyT")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. ' \\d "MyTable"')
  key(s, "Enter")
  wait_for(s, 'Table "public.MyTable"')
  -- lower case is the folded name, as psql has it
  type_text(s, "\\d myt")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\d mytable")
  key(s, "C-u")
  -- a schema with a space: quoted, then its relations
  type_text(s, "\\d Odd")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. ' \\d "Odd Schema".')
  key(s, "Tab")
  wait_last_line(s, PROMPT .. ' \\d "Odd Schema"."Mixed Case"')
  key(s, "Enter")
  wait_for(s, 'Table "Odd Schema.Mixed Case"')
  -- typed with its opening quote
  type_text(s, '\\d "Odd')
  key(s, "Tab")
  wait_last_line(s, PROMPT .. ' \\d "Odd Schema".')
  type_text(s, '"Mi')
  key(s, "Tab")
  wait_last_line(s, PROMPT .. ' \\d "Odd Schema"."Mixed Case"')
  key(s, "C-u")
  -- in SQL, after a quoted schema typed by hand, and a quoted column
  type_text(s, 'select * from "Odd Schema".')
  key(s, "Tab")
  wait_last_line(s, PROMPT .. ' select * from "Odd Schema"."Mixed Case"')
  type_text(s, " where So")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. ' select * from "Odd Schema"."Mixed Case" where "Some Col"')
  key(s, "C-u")
  -- inside a Lua string
  type_text(s, "db:query('select * from MyT")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. [[ db:query('select * from "MyTable"]])
  key(s, "C-u")
  wait_last_line(s, PROMPT)
  stop(s)
  db:exec [[DROP SCHEMA "Odd Schema" CASCADE; DROP TABLE "MyTable", mytable]]
end)

T.case("tab completion after FROM, JOIN, INTO, UPDATE, TABLE and \\d offers relations and schemas, not columns", function()
  db:exec "CREATE TABLE pty_from_t (pty_from_col int)"
  local s = start()
  for _, prefix in ipairs({ "select * from ", "SELECT 1 FROM x JOIN ", "insert into ", "update ", "table ",
                            "\\d " }) do
    type_text(s, prefix .. "pty_fr")
    key(s, "Tab")
    wait_last_line(s, PROMPT .. " " .. prefix .. "pty_from_t")
    key(s, "C-u")
    wait_last_line(s, PROMPT)
  end
  -- elsewhere in SQL, columns too
  type_text(s, "select * from pty_from_t where pty_from_c")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " select * from pty_from_t where pty_from_col")
  key(s, "C-u")
  wait_last_line(s, PROMPT)
  -- a FROM on an earlier line of the statement counts: only the table, not its column
  enter(s, "select *")
  wait_last_line(s, DB .. "-#")
  enter(s, "from")
  type_text(s, "  pty_fr")
  key(s, "Tab")
  wait_last_line(s, DB .. "-#   pty_from_t")
  key(s, "C-c")
  wait_last_line(s, PROMPT)
  stop(s)
  db:exec "DROP TABLE pty_from_t"
end)

T.case("tab completion of file names after \\i and \\copy … from|to: directories end in /, no space after them", function()
  local dir = tmp .. "/files"
  assert(os.execute("mkdir -p " .. q(dir .. "/scripts")))
  for _, f in ipairs({ dir .. "/setup_one.lua", dir .. "/setup_two.lua", dir .. "/scripts/inner.lua" }) do
    local fh = assert(io.open(f, "w"))
    fh:write("return 1\n")
    fh:close()
  end
  db:exec "CREATE TABLE pty_files_t (setup_col int)"
  local s = start()
  type_text(s, "\\i " .. dir .. "/se")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\i " .. dir .. "/setup_")
  type_text(s, "t")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\i " .. dir .. "/setup_two.lua")
  key(s, "C-u")
  -- a directory: `/`, and the next Tab goes on inside it
  type_text(s, "\\i " .. dir .. "/scr")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\i " .. dir .. "/scripts/")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\i " .. dir .. "/scripts/inner.lua")
  key(s, "C-u")
  -- \copy: the table, then the file after from or to
  type_text(s, "\\copy pty_files")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\copy pty_files_t")
  type_text(s, "from " .. dir .. "/setup_o") -- after the space the completion added
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\copy pty_files_t from " .. dir .. "/setup_one.lua")
  key(s, "C-u")
  type_text(s, "\\copy (select 1) to " .. dir .. "/scr")
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " \\copy (select 1) to " .. dir .. "/scripts/")
  key(s, "C-u")
  wait_last_line(s, PROMPT)
  stop(s)
  db:exec "DROP TABLE pty_files_t"
end)

T.case("Ctrl-C cancels a running query on the server within a second; the session stays usable", function()
  local s = start()
  enter(s, "SELECT pg_sleep(30);")
  -- wait until the server runs it
  local deadline = weir.clock() + 10
  local running = sleeping()
  while #running == 0 do
    T.ok(weir.clock() < deadline, "pg_sleep never showed up in pg_stat_activity; screen:\n" .. screen(s))
    weir.sleep(0.02)
    running = sleeping()
  end
  T.eq(#running, 1)
  local pid = running[1].pid
  local t0 = weir.clock()
  key(s, "C-c")
  wait_for(s, "57014", 5)
  local latency = weir.clock() - t0
  print(("       Ctrl-C to 57014 on screen: %.0f ms"):format(latency * 1000))
  T.ok(latency < 1.0, ("the cancel took %.3f s"):format(latency))
  T.contains(screen(s), "ERROR:  57014 canceling statement due to user request\n")
  -- the backend is no longer running it
  T.eq(db:value([[SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active']], pid), 0)
  T.eq(#sleeping(), 0)
  -- the same session goes on, on the same connection
  wait_last_line(s, PROMPT)
  enter(s, "1+1")
  wait_for(s, "\n" .. PROMPT .. " 1+1\n2\n")
  enter(s, "db:value('SELECT pg_backend_pid()')")
  wait_for(s, "\n" .. pid .. "\n")
  stop(s)
end)

T.case("Ctrl-C in a Lua loop prints `interrupted` and the session goes on", function()
  local s = start()
  enter(s, "while true do end")
  weir.sleep(0.3)
  T.eq(last_line(s), PROMPT .. " while true do end", "the loop is running")
  key(s, "C-c")
  wait_for(s, "interrupted\n", 5)
  wait_last_line(s, PROMPT)
  enter(s, "'still_alive_' .. 42")
  wait_for(s, "\nstill_alive_42\n")
  stop(s)
end)

T.case("Ctrl-C at the prompt clears the typed line: the next Enter does not run it", function()
  local s = start()
  type_text(s, "'should_not_run_' .. 1")
  wait_last_line(s, PROMPT .. " 'should_not_run_' .. 1")
  key(s, "C-c")
  wait_last_line(s, PROMPT)
  key(s, "Enter")
  enter(s, "'after_clear_' .. 2")
  wait_for(s, "\nafter_clear_2\n")
  T.eq(count_lines(s, "should_not_run_1"), 0, "the cleared line ran")
  -- the same in a continued chunk: the whole chunk is dropped
  enter(s, "for i = 1, 3 do")
  wait_last_line(s, DB .. ">>")
  type_text(s, "print('dropped_' .. i)")
  wait_last_line(s, DB .. ">> print('dropped_' .. i)")
  key(s, "C-c")
  wait_last_line(s, PROMPT)
  enter(s, "'fresh_' .. 3")
  wait_for(s, "\nfresh_3\n")
  T.eq(count_lines(s, "dropped_1"), 0)
  stop(s)
end)

T.case("multi-line input shows the continuation prompts (>> for Lua, -# for SQL)", function()
  local s = start()
  enter(s, "for i = 1, 2 do")
  wait_last_line(s, DB .. ">>")
  enter(s, "print('line_' .. i * 10)")
  wait_last_line(s, DB .. ">>")
  enter(s, "end")
  wait_for(s, "\nline_10\nline_20\n")
  wait_last_line(s, PROMPT)
  enter(s, "SELECT 1 AS x,")
  wait_last_line(s, DB .. "-#")
  enter(s, "  2 AS y;")
  wait_for(s, table.concat({ DB .. "> SELECT 1 AS x,", DB .. "-#   2 AS y;", " x | y", "---+---", " 1 | 2",
                             "(1 row)", "" }, "\n"))
  stop(s)
end)

T.case("COPY FROM STDIN in a terminal: psql's message and >> prompt; Ctrl-D ends the data, not the session", function()
  db:exec "CREATE TABLE pty_copy_t (a int)"
  local s = start()
  enter(s, "COPY pty_copy_t FROM STDIN;")
  wait_for(s, "Enter data to be copied followed by a newline.\n" ..
              "End with a backslash and a period on a line by itself, or an EOF signal.\n")
  wait_last_line(s, ">>")
  enter(s, "1")
  enter(s, "2")
  wait_last_line(s, ">>")
  key(s, "C-d")
  wait_for(s, "\nCOPY 2\n")
  wait_last_line(s, PROMPT)
  T.eq(db:value "SELECT count(*) FROM pty_copy_t", 2)
  -- Ctrl-C drops the data read so far: nothing is sent
  enter(s, "COPY pty_copy_t FROM STDIN;")
  wait_last_line(s, ">>")
  enter(s, "3")
  wait_last_line(s, ">>")
  key(s, "C-c")
  wait_last_line(s, PROMPT)
  enter(s, "'copy_session_' .. 1")
  wait_for(s, "\ncopy_session_1\n")
  T.eq(db:value "SELECT count(*) FROM pty_copy_t", 2)
  stop(s)
  db:exec "DROP TABLE pty_copy_t"
end)

T.case("PAGER set but empty means no pager, as in psql: a long result prints and the prompt returns", function()
  local s = start(nil, "")
  enter(s, "SELECT generate_series(1, 120) AS n;")
  wait_for(s, "\n 120\n(120 rows)\n")
  wait_last_line(s, PROMPT)
  stop(s)
end)

T.case("Ctrl-D exits with status 0 and the history file keeps what was typed", function()
  local s, state = start(tmp .. "/no/such/dir/state") -- created, parents and all
  enter(s, "for i = 1, 1 do")
  enter(s, "end")
  enter(s, "'history_marker_1'")
  wait_for(s, "\nhistory_marker_1\n")
  wait_last_line(s, PROMPT) -- keys typed before the prompt would be type-ahead, not this test
  type_text(s, "'never_entered'")
  wait_last_line(s, PROMPT .. " 'never_entered'")
  key(s, "C-c")
  wait_last_line(s, PROMPT)
  key(s, "C-d")
  wait_for(s, "__exit=0\n", 10)
  local f = io.open(state .. "/weir/history")
  T.ok(f, "no history file under XDG_STATE_HOME/weir")
  local text = f:read("a")
  f:close()
  local entries = {}
  for l in text:gmatch("[^\n]+") do entries[#entries + 1] = l end
  local found = {}
  for _, e in ipairs(entries) do found[e] = true end
  T.ok(found["'history_marker_1'"], "history: " .. text)
  -- libedit writes a multi-line chunk as one entry, spaces and newlines escaped
  T.ok(found["for\\040i\\040=\\0401,\\0401\\040do\\012end"], "the chunk as one entry: " .. text)
  T.not_contains(text, "never_entered")
  -- and the next session reads it back: Up recalls the last entry
  local s2 = start(state)
  key(s2, "Up")
  wait_last_line(s2, DB .. "> 'history_marker_1'")
  key(s2, "C-c")
  wait_last_line(s2, PROMPT) -- a Ctrl-D sent before the Ctrl-C is handled would edit the line
  key(s2, "C-d")
  wait_for(s2, "__exit=0\n", 10)
  stop(s2)
  stop(s)
end)

term.cleanup()
shell.cleanup()
T.done()
