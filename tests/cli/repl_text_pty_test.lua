-- `weir repl` in a real terminal (a UTF-8 tmux pane, 150x50) with text beyond ASCII: what is
-- typed (é, 日本語, 😀) reaches the line, the screen and the database intact, under a UTF-8
-- locale and under LANG=C; the cursor and Backspace move by characters, not bytes; the
-- history keeps such lines; tables line up by display width and \x auto measures it.
-- Piped output compared with psql is repl_text_test.lua.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local weir_bin = assert(os.getenv "WEIR")
local test_url = assert(os.getenv "WEIR_TEST_URL")
local tmp = shell.tmpdir()
local DB = db:info().database
local PROMPT = DB .. ">"             -- capture-pane strips the prompt's trailing space
local SERVER = "weir-repl-text-" .. tmp:match("[^/]+$"):gsub("[^%w]", "")
local TMUX = "tmux -u -L " .. SERVER .. " -f /dev/null" -- -u: the client speaks UTF-8

local function tmux(args) return sh(TMUX .. " " .. args) end
local socket_path -- tmux leaves its socket behind after kill-server: removed at the end

local function screen(s)
  local _, out = tmux("capture-pane -p -t " .. s)
  return out
end

local function screen_lines(s)
  local ls = {}
  for l in (screen(s) .. "\n"):gmatch("(.-)\n") do ls[#ls + 1] = l end
  while #ls > 0 and ls[#ls] == "" do ls[#ls] = nil end
  return ls
end

-- Polls until `test(screen)` is true (a plain string: the screen contains it); returns the
-- screen. Fails with the screen after `timeout` seconds.
local function wait_for(s, test, timeout, what)
  local deadline = weir.clock() + (timeout or 5)
  local pred = type(test) == "function" and test or function(text) return text:find(test, 1, true) ~= nil end
  while true do
    local text = screen(s)
    if pred(text) then return text end
    if weir.clock() > deadline then
      error(("timed out waiting for %s; the screen:\n%s"):format(what or T.show(test), text), 2)
    end
    weir.sleep(0.03)
  end
end

local function last_line(s)
  local ls = screen_lines(s)
  return ls[#ls] or ""
end

local function wait_last_line(s, expected, timeout)
  local deadline = weir.clock() + (timeout or 5)
  while last_line(s) ~= expected do
    if weir.clock() > deadline then
      error(("timed out waiting for the line %q; the screen:\n%s"):format(expected, screen(s)), 2)
    end
    weir.sleep(0.03)
  end
end

-- Types text literally (a trailing `;` escaped so tmux does not take it as a separator).
local function type_text(s, text)
  local arg = text:gsub(";$", "\\;")
  local rc, _, err = tmux("send-keys -t " .. s .. " -l " .. q(arg))
  assert(rc == 0, "send-keys: " .. err)
end

local function key(s, ...)
  local rc, _, err = tmux("send-keys -t " .. s .. " " .. table.concat({ ... }, " "))
  assert(rc == 0, "send-keys: " .. err)
end

local function enter(s, text)
  type_text(s, text)
  key(s, "Enter")
end

-- Starts `weir repl` in a new session under `locale` ("LANG=C.UTF-8" unless given), its history
-- under `state`; waits for the first prompt. After weir ends the pane shows `__exit=STATUS`.
local sessions = 0
local function start(opts)
  opts = opts or {}
  sessions = sessions + 1
  local s = "s" .. sessions
  local state = opts.state or (tmp .. "/state" .. sessions)
  local cmd = ("trap : INT; env LC_ALL= LC_CTYPE= %s XDG_STATE_HOME=%s PAGER=cat %s repl --db %s; echo __exit=$?; sleep 3600"):format(
    opts.locale or "LANG=C.UTF-8", q(state), q(weir_bin), q(test_url))
  local rc, _, err = tmux("new-session -d -s " .. s .. " -x 150 -y 50 " .. q(cmd))
  assert(rc == 0, "tmux new-session: " .. err)
  if not socket_path then
    local _, out = tmux("display-message -p '#{socket_path}'")
    socket_path = out:match("[^\n]+")
  end
  wait_for(s, function(text) return text:find("\n" .. PROMPT:gsub("%p", "%%%0") .. "\n") ~= nil end, 10,
           "the first prompt")
  return s, state
end

local function stop(s) tmux("kill-session -t " .. s) end

local have_tmux = os.execute("command -v tmux >/dev/null 2>&1")
-- One idle session for the whole suite: tmux's server exits with its last session.
if have_tmux then
  local rc, _, err = tmux("new-session -d -s keep " .. q("sleep 3600"))
  assert(rc == 0, "tmux new-session: " .. err)
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
  -- characters are not); 70 take 140 and fit
  enter(s, "\\x auto")
  wait_for(s, "Expanded display is used automatically.")
  wait_last_line(s, PROMPT)
  enter(s, "select repeat('日', 76) as wide;")
  wait_for(s, "\n-[ RECORD 1 ]")
  wait_for(s, "\nwide | " .. string.rep("日", 60)) -- the line wraps on the screen
  wait_last_line(s, PROMPT)
  enter(s, "select repeat('日', 70) as fits;")
  wait_for(s, "\n " .. string.rep("日", 70) .. "\n(1 row)\n")
  stop(s)
end)

tmux("kill-server")
if socket_path then os.remove(socket_path) end
shell.cleanup()
T.done()
