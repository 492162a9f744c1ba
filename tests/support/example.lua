--- Helpers for the suites of examples/* (tests/cli, run with --unsafe): fresh databases in the
--- test cluster, weir and the example's scripts run against them, and schema comparison.
local shell = require "shell"
local q, sh = shell.q, shell.sh

local E = {}

local weir_bin = assert(os.getenv "WEIR")
local base_url = assert(os.getenv "WEIR_TEST_BASE_URL")
local source = assert(os.getenv "WEIR_SOURCE_DIR")

---The example in examples/NAME: { dir, migrations, fresh_db, script, eval, weir, drop_databases }.
function E.new(name, prefix)
  local ex = { dir = source .. "/examples/" .. name, made = {} }
  ex.migrations = ex.dir .. "/migrations"

  ---A fresh database `PREFIX_N`: its URL and a connection to it (dropped by drop_databases).
  function ex.fresh_db(db_prefix)
    local db_name = ("%s_%d"):format(db_prefix or prefix, #ex.made + 1)
    db:exec("DROP DATABASE IF EXISTS " .. db_name .. " WITH (FORCE)")
    db:exec("CREATE DATABASE " .. db_name)
    ex.made[#ex.made + 1] = db_name
    local url = base_url:gsub("/postgres%?", "/" .. db_name .. "?")
    return url, weir.connect(url)
  end

  ---`weir run --db URL examples/NAME/SCRIPT [ARGS]`: exit code, stdout, stderr.
  function ex.script(url, script, args)
    return sh(q(weir_bin) .. " run --db " .. q(url) .. " " .. q(ex.dir .. "/" .. script) .. (args and (" " .. args) or ""))
  end

  ---`weir run --db URL -e CODE`.
  function ex.eval(url, code)
    return sh(q(weir_bin) .. " run --db " .. q(url) .. " -e " .. q(code))
  end

  ---`weir ARGS --dir DIR --db URL` (DIR: the example's migrations).
  function ex.weir(url, args, dir)
    return sh(q(weir_bin) .. " " .. args .. " --dir " .. q(dir or ex.migrations) .. " --db " .. q(url))
  end

  function ex.drop_databases()
    for _, n in ipairs(ex.made) do pcall(db.exec, db, "DROP DATABASE IF EXISTS " .. n .. " WITH (FORCE)") end
  end
  return ex
end

---The schema as weir's inspector sees it, without weir's own state.
function E.inspect(conn) return schema.inspect(conn, { exclude_schemas = { "weir" } }) end

return E
