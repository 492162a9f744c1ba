-- `weir repl` in a real terminal (a UTF-8 tmux pane, 150x50) with text beyond ASCII: what is
-- typed (é, 日本語, 😀) reaches the line, the screen and the database intact, under a UTF-8
-- locale and under LANG=C; the cursor and Backspace move by characters, not bytes; the
-- history keeps such lines; tables line up by display width and \x auto measures it.
-- Piped output compared with psql is repl_text_test.lua.
local T = require "testing"
local shell = require "shell"

local tmp = shell.tmpdir()
local DB = db:info().database
local PROMPT = DB .. ">"             -- capture-pane strips the prompt's trailing space
local term = require("tmux").new {
  server = "weir-repl-text-" .. tmp:match("[^/]+$"):gsub("[^%w]", ""), utf8 = true, -- the client speaks UTF-8
  weir = assert(os.getenv "WEIR"), url = assert(os.getenv "WEIR_TEST_URL"), tmp = tmp, prompt = PROMPT,
}
local last_line = term.last_line
local wait_for, wait_last_line = term.wait_for, term.wait_last_line
local type_text, key, enter, stop = term.type_text, term.key, term.enter, term.stop
local have_tmux = term.have_tmux

-- Starts `weir repl` in a new session under `locale` ("LANG=C.UTF-8" unless given), its history
-- under `state`; waits for the first prompt. After weir ends the pane shows `__exit=STATUS`.
local function start(opts)
  opts = opts or {}
  return term.start { state = opts.state, env = "env LC_ALL= LC_CTYPE= " .. (opts.locale or "LANG=C.UTF-8") }
end

local TEXT = "café crème 日本語 😀 ü"  -- 2-, 3- and 4-byte characters

-- =============================================================================================

T.case("tmux is installed (scripts/setup.sh) — every case below needs it", function()
  T.ok(have_tmux, "tmux not found")
end)
if not have_tmux then T.done() end

T.case("typed non-ASCII text reaches the screen, the query and the database intact", function()
  db:exec "CREATE TABLE pty_text_t (id int, s text)"
  local s = start()
  -- what libedit echoes is what was typed
  type_text(s, "select '" .. TEXT .. "' as t;")
  wait_last_line(s, PROMPT .. " select '" .. TEXT .. "' as t;")
  key(s, "Enter")
  wait_for(s, "\n " .. TEXT .. "\n(1 row)\n")
  wait_last_line(s, PROMPT)
  enter(s, "insert into pty_text_t values (1, '" .. TEXT .. "');")
  wait_for(s, "\nINSERT 0 1\n")
  wait_last_line(s, PROMPT)
  T.eq(db:value "SELECT s FROM pty_text_t WHERE id = 1", TEXT)
  -- Lua strings too
  enter(s, "db:exec(\"insert into pty_text_t values (2, '日本語')\") return '→' .. db:value('select s from pty_text_t where id = 2')")
  wait_for(s, "\n→日本語\n")
  T.eq(db:value "SELECT s FROM pty_text_t WHERE id = 2", "日本語")
  stop(s)
  db:exec "DROP TABLE pty_text_t"
end)

T.case("under LANG=C the REPL still reads UTF-8 (LC_CTYPE falls back to C.UTF-8)", function()
  db:exec "CREATE TABLE pty_text_c (s text)"
  local s = start { locale = "LANG=C" }
  enter(s, "insert into pty_text_c values ('" .. TEXT .. "');")
  wait_for(s, "\nINSERT 0 1\n")
  T.eq(db:value "SELECT s FROM pty_text_c", TEXT)
  stop(s)
  db:exec "DROP TABLE pty_text_c"
end)

T.case("Left, Right, Home and Backspace move over a wide or multibyte character as one", function()
  local s = start()
  type_text(s, "'日x'")
  wait_last_line(s, PROMPT .. " '日x'")
  key(s, "Left", "Left", "BSpace")          -- the cursor before x: Backspace takes 日
  wait_last_line(s, PROMPT .. " 'x'")
  type_text(s, "y")
  wait_last_line(s, PROMPT .. " 'yx'")
  key(s, "Enter")
  wait_for(s, "\nyx\n")
  wait_last_line(s, PROMPT)
  type_text(s, "'ab😀日本語cd'")
  wait_last_line(s, PROMPT .. " 'ab😀日本語cd'")
  key(s, "Left", "Left", "Left", "Left", "BSpace") -- before 語: Backspace takes 本
  type_text(s, "é")
  wait_last_line(s, PROMPT .. " 'ab😀日é語cd'")
  key(s, "Home", "Right", "Right", "Right", "BSpace") -- after 'ab: Backspace takes b
  wait_last_line(s, PROMPT .. " 'a😀日é語cd'")
  key(s, "End")
  type_text(s, " .. '!'")
  key(s, "Enter")
  wait_for(s, "\na😀日é語cd!\n")
  stop(s)
end)

T.case("a byte that is not UTF-8 passes through as itself and the keys after it still count", function()
  local s = start()
  type_text(s, "#'x")
  -- 0xE6 then 'a' (a sequence cut short), 日, a lone 0xFF, 'b': libedit gets U+00E6 and U+00FF
  key(s, "-H", "e6", "61", "e6", "97", "a5", "ff", "62")
  type_text(s, "'")
  wait_last_line(s, PROMPT .. " #'xæa日ÿb'")
  key(s, "Enter")
  wait_for(s, "\n10\n") -- the bytes of x æ a 日 ÿ b
  stop(s)
end)

T.case("the history keeps a non-ASCII line: Up in the next session recalls it intact", function()
  local s, state = start()
  enter(s, "'履歴_" .. TEXT .. "'")
  wait_for(s, "\n履歴_" .. TEXT .. "\n")
  wait_last_line(s, PROMPT)
  key(s, "C-d")
  wait_for(s, "__exit=0\n", 10)
  local s2 = start { state = state }
  key(s2, "Up")
  wait_last_line(s2, PROMPT .. " '履歴_" .. TEXT .. "'")
  key(s2, "Enter")
  wait_for(s2, "\n履歴_" .. TEXT .. "\n")
  stop(s2)
  stop(s)
end)

T.case("tables line up by display width on the screen; \\x auto measures columns, not characters", function()
  local s = start()
  enter(s, "select '" .. TEXT .. "' as t, 1 as n;")
  -- TEXT is 22 columns wide (日本語 and 😀 take two each), though 18 characters long
  wait_for(s, table.concat({ "", "           t            | n", "------------------------+---",
                             " " .. TEXT .. " | 1", "(1 row)", "" }, "\n"))
  wait_last_line(s, PROMPT)
  -- 76 CJK characters take 152 columns, wider than the 150-column terminal (though 76
  -- characters are not); 70 take 140 and fit beside a second column (psql never expands a
  -- table of one column)
  enter(s, "\\x auto")
  wait_for(s, "Expanded display is used automatically.")
  wait_last_line(s, PROMPT)
  enter(s, "select repeat('日', 76) as wide, 1 as n;")
  wait_for(s, "\n-[ RECORD 1 ]")
  wait_for(s, "\nwide | " .. string.rep("日", 60)) -- the line wraps on the screen
  wait_last_line(s, PROMPT)
  enter(s, "select repeat('日', 70) as fits, 1 as n;")
  wait_for(s, "\n " .. string.rep("日", 70) .. " | 1\n(1 row)\n")
  stop(s)
end)

term.cleanup()
shell.cleanup()
T.done()
