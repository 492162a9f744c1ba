-- `weir repl` on a real terminal (tmux): tab completion at pgcli's level — SQL keywords where
-- they fit, columns through a table's alias, functions (with "("), types after `::`, an enum
-- column's labels after `=`, Lua fields of expressions that need no call, only methods after
-- `:` — and \watch, which Ctrl-C stops. The older completion cases (table names, quoting, files)
-- are repl_pty_test.lua's.
local T = require "testing"
local shell = require "shell"

local tmp = shell.tmpdir()
local DB = db:info().database
local PROMPT = DB .. ">"             -- capture-pane strips the prompt's trailing space
local term = require("tmux").new {
  server = "weir-repl-complete-" .. tmp:match("[^/]+$"):gsub("[^%w]", ""),
  weir = assert(os.getenv "WEIR"), url = assert(os.getenv "WEIR_TEST_URL"), tmp = tmp, prompt = PROMPT,
}
local screen, wait_for, wait_last_line, last_line = term.screen, term.wait_for, term.wait_last_line, term.last_line
local type_text, key, enter, stop = term.type_text, term.key, term.enter, term.stop

T.case("tmux is installed (scripts/setup.sh) — every case below needs it", function()
  T.ok(term.have_tmux, "tmux not found")
end)
if not term.have_tmux then T.done() end

db:exec [[
CREATE TYPE pty_mood AS ENUM ('grumpy', 'happy');
CREATE TABLE pty_people (id int, full_name text, mood pty_mood, born date);
CREATE TABLE pty_pets (id int, owner_id int, pet_name text);
CREATE FUNCTION pty_double_it(x int) RETURNS int LANGUAGE sql AS 'SELECT x * 2';
CREATE TYPE pty_point3 AS (x int, y int, z int);
]]

-- Types `text`, presses Tab and waits for the line to read `expected` (prompt and space added).
local function completes(s, text, expected)
  type_text(s, text)
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " " .. expected)
  key(s, "C-u")
  wait_last_line(s, PROMPT)
end

T.case("SQL keywords complete where they fit, in the case typed (upper when nothing says otherwise)", function()
  local s = term.start()
  completes(s, "SEL", "SELECT")
  completes(s, "sel", "select")
  completes(s, "select * from pty_people whe", "select * from pty_people where")
  completes(s, "select * from pty_people ORD", "select * from pty_people ORDER BY")
  completes(s, "alter table pty_people ADD COL", "alter table pty_people ADD COLUMN")
  completes(s, "select * from pty_people where born is not nul", "select * from pty_people where born is not null")
  stop(s)
end)

T.case("columns complete through a table's alias, after JOIN … ON too, and in INSERT INTO t (", function()
  local s = term.start()
  completes(s, "select * from pty_people m where m.full", "select * from pty_people m where m.full_name")
  -- the alias comes later in the statement: the cursor goes back to `p.pet`
  type_text(s, "select p.pet from pty_pets p")
  for _ = 1, #" from pty_pets p" do key(s, "Left") end
  key(s, "Tab")
  wait_last_line(s, PROMPT .. " select p.pet_name from pty_pets p")
  key(s, "End")
  key(s, "C-u")
  wait_last_line(s, PROMPT)
  completes(s, "select * from pty_people m join pty_pets p on p.own", "select * from pty_people m join pty_pets p on p.owner_id")
  completes(s, "select * from pty_people where bor", "select * from pty_people where born")
  completes(s, "insert into pty_pets (pet", "insert into pty_pets (pet_name")
  -- on a later line of the statement, the FROM of an earlier one counts
  enter(s, "select m.")
  wait_last_line(s, DB .. "-#")
  type_text(s, "from pty_people m where m.mo")
  key(s, "Tab")
  wait_last_line(s, DB .. "-# from pty_people m where m.mood")
  key(s, "C-c")
  wait_last_line(s, PROMPT)
  stop(s)
end)

T.case("functions complete with their '(', types after '::', an enum column's labels after '='", function()
  local s = term.start()
  completes(s, "select pty_double", "select pty_double_it(")
  completes(s, "select 1::pty_poi", "select 1::pty_point3")
  completes(s, "select '1'::timestamp", "select '1'::timestamp") -- several: the common part
  completes(s, "select now()::timestamptz", "select now()::timestamptz")
  completes(s, "select * from pty_people where mood = 'ha", "select * from pty_people where mood = 'happy'")
  -- nothing typed after `=`: the labels are listed
  type_text(s, "select * from pty_people p where p.mood = ")
  key(s, "Tab")
  key(s, "Tab")
  wait_for(s, "'grumpy'")
  wait_for(s, "'happy'")
  key(s, "C-u")
  stop(s)
end)

T.case("Lua: fields of a value reached without a call, methods only after ':' (not db's value helpers)", function()
  local s = term.start()
  enter(s, "pty_t = { alpha = 1, nested = { beta = 2 }, run = function() end }")
  wait_last_line(s, PROMPT)
  completes(s, "pty_t.nested.be", "pty_t.nested.beta")
  completes(s, "pty_t['nested'].be", "pty_t['nested'].beta")
  completes(s, "pty_t:r", "pty_t:run")
  -- after ':' only functions: alpha is no method
  type_text(s, "pty_t:al")
  key(s, "Tab")
  weir.sleep(0.3)
  T.eq(last_line(s), PROMPT .. " pty_t:al", "a field is no method")
  key(s, "C-u")
  -- db:js would be db.json called with db: not offered; db.js is
  type_text(s, "db:js")
  key(s, "Tab")
  weir.sleep(0.3)
  T.eq(last_line(s), PROMPT .. " db:js", "db.json is no method")
  key(s, "C-u")
  completes(s, "db.js", "db.json")
  -- the result of a call is never evaluated to complete it: nothing, rather than globals
  type_text(s, "schema.inspect(db).tables[1].")
  key(s, "Tab")
  weir.sleep(0.3)
  T.eq(last_line(s), PROMPT .. " schema.inspect(db).tables[1].", "nothing offered after a call")
  key(s, "C-u")
  completes(s, "\\wat", "\\watch")
  stop(s)
end)

T.case("\\watch repeats the query until Ctrl-C, then the prompt returns and the session goes on", function()
  local s = term.start()
  enter(s, "select 'tick_' || 1 as t")
  wait_last_line(s, DB .. "-#")
  enter(s, "\\watch 0.2")
  -- two runs at least: the title line with the interval shows twice
  wait_for(s, function(text) return select(2, text:gsub("%(every 0%.2s%)", "")) >= 2 end, 10, "two runs")
  key(s, "C-c")
  wait_last_line(s, PROMPT, 5)
  local runs = select(2, screen(s):gsub("%(every 0%.2s%)", ""))
  weir.sleep(0.6)
  T.eq(select(2, screen(s):gsub("%(every 0%.2s%)", "")), runs, "no run after Ctrl-C")
  enter(s, "'after_watch_' .. 1")
  wait_for(s, "\nafter_watch_1\n")
  stop(s)
end)

term.cleanup()
db:exec "DROP TABLE pty_people, pty_pets; DROP TYPE pty_mood, pty_point3; DROP FUNCTION pty_double_it(int)"
shell.cleanup()
T.done()
