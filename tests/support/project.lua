--- A throwaway project for CLI suites: a fresh database and a migrations directory, and weir
--- run against them as a user would (tests/cli, run with --unsafe).
local shell = require "shell"
local q, sh = shell.q, shell.sh

local P = {}

local weir_bin = assert(os.getenv "WEIR")
local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")
local count = 0

---A fresh database `<prefix>_<n>` and directory with `migrations/` holding `files`
---(name → text). Needs shell.tmpdir() first. Returns a project table.
function P.new(prefix, files)
  count = count + 1
  local name = prefix .. "_" .. count
  db:exec("DROP DATABASE IF EXISTS " .. name .. " WITH (FORCE)")
  db:exec("CREATE DATABASE " .. name)
  local url = base_url:gsub("/postgres%?", "/" .. name .. "?")
  local dir = shell.dir .. "/" .. name
  assert(os.execute("mkdir -p " .. dir .. "/migrations"))
  local p = { name = name, url = url, dir = dir, conn = weir.connect(url) }
  function p.write(file, text)
    local f = assert(io.open(dir .. "/migrations/" .. file, "w"))
    f:write(text)
    f:close()
  end
  ---Runs `weir ARGS --db URL` in the project directory: exit code, stdout, stderr.
  function p.weir(args) return sh("cd " .. q(dir) .. " && " .. q(weir_bin) .. " " .. args .. " --db " .. q(url)) end
  function p.value(sql, ...) return p.conn:value(sql, ...) end
  function p.phase_state(mig, ph)
    return p.conn:value("SELECT state FROM weir.phases WHERE migration = $1 AND phase = $2", mig, ph)
  end
  ---pg_dump of the whole database (schema and data).
  function p.dump() return shell.pg_dump(url) end
  ---Closes the project's connection (suites that make many projects call it, so their idle
  ---sessions do not take the server's connections from the suites running beside them).
  function p.close() p.conn:close() end
  for file, text in pairs(files or {}) do p.write(file, text) end
  return p
end

return P
