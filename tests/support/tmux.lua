--- `weir repl` on a real terminal for the suites that need one (tests/cli/repl_*pty_test.lua):
--- pseudo-terminals driven through a private tmux server, each session a fixed 150x50 size.
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local M = {}

---A private tmux server and its helpers. opts: server (the -L socket name), weir (the binary),
---url (the database `weir repl` connects to), tmp (a directory for history files), prompt (the
---prompt as capture-pane shows it, trailing space stripped), utf8 (true: tmux -u, the client
---speaks UTF-8). Starts an idle session `keep` when tmux is installed (`have_tmux`).
function M.new(opts)
  local X = {}
  local TMUX = "tmux " .. (opts.utf8 and "-u " or "") .. "-L " .. opts.server .. " -f /dev/null"
  local PROMPT = opts.prompt

  local function tmux(args) return sh(TMUX .. " " .. args) end
  X.tmux = tmux
  local socket_path -- tmux leaves its socket behind after kill-server: removed by X.cleanup

  -- The screen of session `s` (trailing spaces stripped by tmux), as text and as lines.
  function X.screen(s)
    local _, out = tmux("capture-pane -p -t " .. s)
    return out
  end

  function X.screen_lines(s)
    local ls = {}
    for l in (X.screen(s) .. "\n"):gmatch("(.-)\n") do ls[#ls + 1] = l end
    while #ls > 0 and ls[#ls] == "" do ls[#ls] = nil end
    return ls
  end

  -- Polls until `test(screen)` is true (a plain string: the screen contains it); returns the
  -- screen. Fails with the screen after `timeout` seconds.
  function X.wait_for(s, test, timeout, what)
    local deadline = weir.clock() + (timeout or 5)
    local pred = type(test) == "function" and test or function(text) return text:find(test, 1, true) ~= nil end
    while true do
      local text = X.screen(s)
      if pred(text) then return text end
      if weir.clock() > deadline then
        error(("timed out waiting for %s; the screen:\n%s"):format(what or T.show(test), text), 2)
      end
      weir.sleep(0.03)
    end
  end

  -- The last non-empty line on the screen (the line being edited, once output has settled).
  function X.last_line(s)
    local ls = X.screen_lines(s)
    return ls[#ls] or ""
  end

  function X.wait_last_line(s, expected, timeout)
    local deadline = weir.clock() + (timeout or 5)
    while X.last_line(s) ~= expected do
      if weir.clock() > deadline then
        error(("timed out waiting for the line %q; the screen:\n%s"):format(expected, X.screen(s)), 2)
      end
      weir.sleep(0.03)
    end
  end

  -- Types text literally (send-keys -l, so `end` is not a key name; a trailing `;` escaped so
  -- tmux does not take it as a command separator).
  function X.type_text(s, text)
    local arg = text:gsub(";$", "\\;")
    local rc, _, err = tmux("send-keys -t " .. s .. " -l " .. q(arg))
    assert(rc == 0, "send-keys: " .. err)
  end

  -- Sends keys by name ("Enter", "C-c", "Left", …), one or more.
  function X.key(s, ...)
    local keys = table.concat({ ... }, " ")
    local rc, _, err = tmux("send-keys -t " .. s .. " " .. keys)
    assert(rc == 0, "send-keys " .. keys .. ": " .. err)
  end

  function X.enter(s, text)
    X.type_text(s, text)
    X.key(s, "Enter")
  end

  -- Starts `weir repl` in a new session `sN`, its history under `o.state` (a fresh
  -- XDG_STATE_HOME unless given), PAGER=`o.pager` ("cat" unless given), `o.env` (words such as
  -- "env LANG=C") before the rest; after weir ends the pane shows `__exit=STATUS` and stays.
  -- Waits for the first prompt; returns the session and its state directory.
  local sessions = 0
  function X.start(o)
    o = o or {}
    sessions = sessions + 1
    local s = "s" .. sessions
    local state = o.state or (opts.tmp .. "/state" .. sessions)
    -- `trap : INT`: the pane's shell (dash for many users) must outlive a Ctrl-C that weir handles
    local cmd = "trap : INT; " .. (o.env and (o.env .. " ") or "") ..
      ("XDG_STATE_HOME=%s PAGER=%s %s repl --db %s; echo __exit=$?; sleep 3600"):format(
        q(state), q(o.pager or "cat"), q(opts.weir), q(opts.url))
    local rc, _, err = tmux("new-session -d -s " .. s .. " -x 150 -y 50 " .. q(cmd))
    assert(rc == 0, "tmux new-session: " .. err)
    if not socket_path then
      local _, out = tmux("display-message -p '#{socket_path}'")
      socket_path = out:match("[^\n]+")
    end
    X.wait_for(s, function(text) return text:find("\n" .. PROMPT:gsub("%p", "%%%0") .. "\n") ~= nil end, 10,
               "the first prompt")
    return s, state
  end

  function X.stop(s) tmux("kill-session -t " .. s) end

  X.have_tmux = os.execute("command -v tmux >/dev/null 2>&1")
  -- One idle session for the whole suite: tmux's server exits with its last session, and a
  -- session started while it is exiting fails ("server exited unexpectedly").
  if X.have_tmux then
    local rc, _, err = tmux("new-session -d -s keep " .. q("sleep 3600"))
    assert(rc == 0, "tmux new-session: " .. err)
  end

  -- Ends the server and removes its socket.
  function X.cleanup()
    tmux("kill-server")
    if socket_path then os.remove(socket_path) end
  end

  return X
end

return M
