--- `weir repl` with stdin piped, for the suites that compare what it prints with psql
--- (tests/cli/repl_test.lua, repl_text_test.lua).
local T = require "testing"
local shell = require "shell"
local q, sh = shell.q, shell.sh

local M = {}

---Lines joined with "\n", ending in "\n".
function M.lines(list) return table.concat(list, "\n") .. "\n" end
local lines = M.lines

-- What goes between the commands of a comparison: the outputs are split into sections on it.
local MARK = "@@@ repl-driver section @@@\n"

-- The sections of `out`: the text after each MARK up to the next (or the end).
local function split(out)
  local secs, pos = {}, 1
  while true do
    local s = out:find(MARK, pos, true)
    if not s then break end
    pos = s + #MARK
    local e = out:find(MARK, pos, true)
    secs[#secs + 1] = out:sub(pos, (e or #out + 1) - 1)
  end
  return secs
end

---The piped REPL and psql against one database. opts: weir (the binary), url (the database
---unless a call names another), tmp (a directory for input files), env (words before weir unless
---a call gives its own, such as "env LANG=C.UTF-8"), psql_env (words before psql, after PAGER=).
function M.new(opts)
  local R = { lines = lines }

  -- `ENV weir repl --no-history --db URL < INPUT`: exit code, stdout, stderr. o.env: words
  -- before weir ("VAR=value …"; opts.env unless given); o.url: opts.url unless given.
  local inputs = 0
  function R.repl(input, o)
    o = o or {}
    inputs = inputs + 1
    local path = shell.write(opts.tmp .. "/input" .. inputs .. ".txt", input)
    return sh((o.env or opts.env or "") .. " " .. q(opts.weir) .. " repl --no-history --db " ..
              q(o.url or opts.url) .. " < " .. q(path))
  end

  -- psql of the server's own major version (psql's \d output changes between releases).
  R.psql_bin = (function()
    local major = db:value("SELECT current_setting('server_version_num')::int / 10000")
    local path = "/usr/lib/postgresql/" .. major .. "/bin/psql"
    local f = io.open(path)
    if f then
      f:close()
      return path
    end
    local _, out = sh("command -v psql")
    return assert(out:match("[^\n]+"), "psql not found")
  end)()

  -- `psql -X ARGS URL`, no pager: exit code, stdout, stderr.
  function R.psql(url, args)
    return sh("PAGER= " .. (opts.psql_env and (opts.psql_env .. " ") or "") .. q(R.psql_bin) .. " -X " ..
              args .. " " .. q(url))
  end

  -- Runs each command in one REPL session and in one psql (-c each), section by section, and
  -- fails listing every command whose output differs (both outputs shown). Returns the REPL's
  -- exit code and stderr. o.url: the database (opts.url unless given); o.env: as for R.repl;
  -- o.what: what the failure message starts with.
  function R.same_as_psql(commands, o)
    o = o or {}
    local url = o.url or opts.url
    -- `cmds` in one REPL session and one psql: the REPL's exit code, its sections, stderr,
    -- and psql's sections (psql must succeed)
    local function both(cmds)
      local input, args = {}, {}
      for _, c in ipairs(cmds) do
        input[#input + 1] = 'local _ = io.write("' .. MARK:gsub("\n", "\\n") .. '")'
        input[#input + 1] = c
        args[#args + 1] = "-c " .. q("\\echo " .. MARK:gsub("\n", "")) .. " -c " .. q(c)
      end
      local rc, mine, err = R.repl(lines(input), { url = url, env = o.env })
      local prc, theirs, perr = R.psql(url, table.concat(args, " "))
      T.eq(prc, 0, "psql: " .. perr)
      return rc, split(mine), err, split(theirs)
    end
    local rc, a, err, b = both(commands)
    T.eq(#b, #commands, "psql printed one section per command")
    -- A command whose output differs is run again on its own, weir and psql back to back, up
    -- to three times: sizes of shared catalogs (\dt+ *.*) move while other suites create and drop
    -- databases on the same server between the two whole sessions. A difference that persists
    -- when nothing else moves fails.
    local function again(c)
      for _ = 1, 3 do
        local _, m, _, t = both { c }
        if m[1] == t[1] then return true end
      end
      return false
    end
    local bad = {}
    for i, c in ipairs(commands) do
      if a[i] ~= b[i] and not again(c) then
        bad[#bad + 1] = ("%s\n----- weir repl:\n%s----- psql:\n%s-----"):format(c, tostring(a[i]), b[i])
      end
    end
    if #bad > 0 then
      error(("%s%d of %d commands print differently from psql:\n%s\nrepl stderr: %s"):format(
        o.what and (o.what .. ": ") or "", #bad, #commands, table.concat(bad, "\n"), err), 2)
    end
    return rc, err
  end

  -- Errors as both print them, to compare: weir's SQLSTATE after "ERROR:  " and psql -f's
  -- "psql:FILE:LINE: " (and "error: ") before a message left out.
  local function plain_errors(text)
    local out = {}
    for l in text:gmatch("([^\n]*)\n") do
      l = l:gsub("^psql:[^:]*:%d+: ", ""):gsub("^error: ", ""):gsub("^ERROR:  %w%w%w%w%w ", "ERROR:  ")
      out[#out + 1] = l
    end
    return table.concat(out, "\n") .. (#out > 0 and "\n" or "")
  end
  R.plain_errors = plain_errors

  -- The same input through `weir repl` and `psql -X -f`: fails unless both print the same on
  -- stdout, and on stderr once plain_errors has evened out how each marks an error. Returns the
  -- REPL's exit code, stdout and stderr. o.url, o.env as for R.repl; o.what names the case.
  function R.same_file_as_psql(input, o)
    o = o or {}
    local url = o.url or opts.url
    local rc, mine, err = R.repl(input, { url = url, env = o.env })
    inputs = inputs + 1
    local path = shell.write(opts.tmp .. "/psql_input" .. inputs .. ".sql", input)
    local _, theirs, perr = R.psql(url, "-f " .. q(path))
    if mine ~= theirs or plain_errors(err) ~= plain_errors(perr) then
      error(("%sweir repl and psql print differently\n----- weir repl:\n%s----- psql:\n%s" ..
             "----- weir repl stderr:\n%s----- psql stderr:\n%s-----"):format(
        o.what and (o.what .. ": ") or "", mine, theirs, err, perr), 2)
    end
    return rc, mine, err
  end

  return R
end

return M
