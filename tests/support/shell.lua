--- Shell helpers for the suites that drive weir as a user would (tests/cli, run with --unsafe).
local S = {}

---Quotes a string for sh.
function S.q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

---A fresh temporary directory, removed by S.cleanup().
function S.tmpdir()
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. S.q(dir)))
  S.dir = dir
  return dir
end

---Runs a shell command; returns its exit code, stdout and stderr.
function S.sh(cmd)
  local errfile = S.dir .. "/stderr"
  local p = io.popen(cmd .. " 2>" .. errfile .. "; echo \"__rc=$?\"")
  local out = p:read("a")
  p:close()
  local f = io.open(errfile)
  local err = f:read("a")
  f:close()
  return tonumber(out:match("__rc=(%d+)\n$")), out:gsub("__rc=%d+\n$", ""), err
end

---The shell words that save the last command's exit code in the file at `path` (for a job run
---in the background): written beside it and renamed into place, so that a test that sees the
---file never reads it before its number is in it.
function S.save_rc(path)
  return "echo $? > " .. S.q(path .. ".tmp") .. " && mv " .. S.q(path .. ".tmp") .. " " .. S.q(path)
end

---Writes `text` to the file at `path`; returns the path.
function S.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

---pg_dump of a whole database (schema and data), to prove that something changed nothing.
function S.pg_dump(url)
  local rc, out, err = S.sh("bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1); " ..
    "\"$bindir/pg_dump\" --no-owner --dbname=" .. S.q(url))
  assert(rc == 0, "pg_dump failed: " .. err)
  -- recent pg_dump releases put a random key in \restrict lines: not part of the database
  return (out:gsub("\n\\u?n?restrict [^\n]*", "\n"))
end

function S.cleanup() os.execute("rm -rf " .. S.q(S.dir)) end

return S
